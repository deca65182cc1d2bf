//! OpenSSH's host patterns (match.c): `*` and `?` wildcards, comma-separated
//! lists where one matching `!pattern` rules the whole list out, and
//! known_hosts' hashed names (`|1|salt|hmac`).

use base64::Engine;
use hmac::{Hmac, Mac};

/// Whether `text` matches `pattern`, `*` matching any run of characters and
/// `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a pattern list says of a name (`match_pattern_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A positive pattern matched and no negated one did.
    Yes,
    No,
    /// A negated pattern matched: the list is ruled out, whatever else matches.
    Negated,
}

/// Matches `name` against a list of patterns; `separator` is `,` in
/// known_hosts and whitespace in ssh_config `Host` lines. Case-insensitive,
/// as OpenSSH lowercases both the host name and the patterns.
pub fn match_list<'a>(name: &str, patterns: impl IntoIterator<Item = &'a str>) -> ListMatch {
    let name = name.to_ascii_lowercase();
    let mut positive = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if glob_match(&pattern.to_ascii_lowercase(), &name) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Yes
    } else {
        ListMatch::No
    }
}

/// The host field of a known_hosts line was hashed with a salt that is not
/// 20 bytes of base64: OpenSSH treats the whole line as invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHash;

/// Whether the host field of a known_hosts line (`a,b,!c` or `|1|salt|hash`)
/// names `name` (`match_maybe_hashed` in hostfile.c).
pub fn known_hosts_field_matches(field: &str, name: &str) -> Result<bool, BadHash> {
    match field.strip_prefix("|1|") {
        Some(hashed) => hashed_name_matches(hashed, name),
        None => Ok(match_list(name, field.split(',')) == ListMatch::Yes),
    }
}

fn hashed_name_matches(hashed: &str, name: &str) -> Result<bool, BadHash> {
    let engine = base64::engine::general_purpose::STANDARD;
    let (salt, hash) = hashed.split_once('|').ok_or(BadHash)?;
    let salt = engine.decode(salt).map_err(|_| BadHash)?;
    if salt.len() != 20 {
        return Err(BadHash);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).map_err(|_| BadHash)?;
    // OpenSSH hashes the name as it looks it up (lowercase), not as typed.
    mac.update(name.to_ascii_lowercase().as_bytes());
    let expected = engine.encode(mac.finalize().into_bytes());
    Ok(expected == hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("pve-?", "pve-1"));
        assert!(!glob_match("pve-?", "pve-12"));
        assert!(glob_match("*.example.org", "a.b.example.org"));
        assert!(!glob_match("*.example.org", "example.org"));
        assert!(glob_match("[10.0.0.*]:2222", "[10.0.0.7]:2222"));
    }

    #[test]
    fn a_negated_pattern_rules_the_list_out() {
        let list = "10.0.0.*,!10.0.0.5";
        assert_eq!(match_list("10.0.0.4", list.split(',')), ListMatch::Yes);
        assert_eq!(match_list("10.0.0.5", list.split(',')), ListMatch::Negated);
        assert_eq!(match_list("10.1.0.5", list.split(',')), ListMatch::No);
        assert_eq!(match_list("HOST.Example", ["host.example"]), ListMatch::Yes);
    }

    #[test]
    fn hashed_names_as_ssh_keygen_writes_them() {
        // Built as `ssh-keygen -H` builds it: HMAC-SHA1 of the name, keyed by the salt
        // (the conformance test checks lines hashed by the real ssh-keygen).
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.11]:2222");
        let engine = base64::engine::general_purpose::STANDARD;
        let field = format!(
            "|1|{}|{}",
            engine.encode(salt),
            engine.encode(mac.finalize().into_bytes())
        );
        assert_eq!(known_hosts_field_matches(&field, "[127.0.0.11]:2222"), Ok(true));
        assert_eq!(known_hosts_field_matches(&field, "127.0.0.11"), Ok(false));
        assert_eq!(known_hosts_field_matches("|1|AAAA|BBBB", "x"), Err(BadHash));
    }
}
