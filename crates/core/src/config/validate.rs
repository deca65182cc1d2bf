//! Turning `vigie.toml` text into a checked [`Config`], collecting every
//! problem with its position instead of stopping at the first.

use super::diagnostic::did_you_mean;
use super::{Config, ConfigSource, Diagnostic, Host, RawConfig};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use toml_edit::{ImDocument, Item, Table, Value};

/// Keys each table accepts, for unknown-key hints. A unit test keeps them in
/// step with the structs.
pub(super) const TOP_KEYS: &[&str] = &["settings", "hosts", "groups", "keys"];
pub(super) const HOST_KEYS: &[&str] = &[
    "name",
    "address",
    "transport",
    "user",
    "port",
    "jump",
    "identity_file",
    "kind",
    "role",
    "tags",
    "datastores",
    "backups",
    "db_defaults_file",
    "faillock_dir",
];
pub(super) const SETTINGS_KEYS: &[&str] = &[
    "poll_interval",
    "connect_timeout",
    "command_timeout",
    "incidents_dir",
    "incidents_group",
    "playbooks_dir",
    "responder",
    "known_hosts",
    "ssh_config",
    "redact_patterns",
    "timeline_output_cap",
    "mouse",
    "timezone",
    "sync_remotes",
    "sync_interval",
];

/// Syntax, unknown keys and types. Unknown keys are all reported, not just the first.
pub(super) fn deserialize(path: &Path, text: &str) -> Result<RawConfig, Vec<Diagnostic>> {
    let document = ImDocument::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        vec![Diagnostic::at(path, text, span, first_line(e.message()))]
    })?;

    let mut unknown = Vec::new();
    let result: Result<RawConfig, _> = serde_ignored::deserialize(toml::Deserializer::new(text), |ignored| {
        unknown.push(path_segments(&ignored))
    });
    let mut diagnostics: Vec<Diagnostic> = unknown
        .iter()
        .map(|segments| unknown_key(path, text, &document, segments))
        .collect();
    match result {
        Ok(raw) if diagnostics.is_empty() => Ok(raw),
        Ok(_) => Err(diagnostics),
        Err(e) => {
            let message = first_line(e.message());
            diagnostics.push(Diagnostic::at(path, text, e.span().unwrap_or(0..0), message));
            Err(diagnostics)
        }
    }
}

/// Semantic checks over the typed file: names, addresses, references. Every
/// problem is collected, so one run of `vigie check` names them all.
pub(super) fn check(path: &Path, text: &str, raw: RawConfig) -> Result<Config, Vec<Diagnostic>> {
    let at = |span: std::ops::Range<usize>, message: String| Diagnostic::at(path, text, span, message);
    let mut problems = Vec::new();
    check_hosts(&raw, text, &at, &mut problems);
    check_redact_patterns(&raw, &at, &mut problems);
    check_timezone(&raw, &at, &mut problems);
    check_sync_remotes(&raw, &at, &mut problems);
    check_groups(&raw, &at, &mut problems);
    let keys = key_overrides(&raw, &at);
    // The key table lives below the cockpit; checking it here means a bad
    // `[keys]` is reported by every command, `vigie check` included.
    if let Err(key_problems) = crate::keys::Keymap::with_overrides(&keys) {
        problems.extend(key_problems);
    }
    if !problems.is_empty() {
        problems.sort_by_key(|d| (d.line, d.column));
        return Err(problems);
    }
    Ok(build(path, raw, keys))
}

/// Where a problem is and what it is.
type At<'a> = dyn Fn(std::ops::Range<usize>, String) -> Diagnostic + 'a;

/// Names (valid, unique), addresses and jump hosts of every `[[hosts]]` entry.
fn check_hosts(raw: &RawConfig, text: &str, at: &At, problems: &mut Vec<Diagnostic>) {
    let mut first_definition: HashMap<String, usize> = HashMap::new();
    for entry in &raw.hosts {
        let name = entry.name.get_ref();
        if !is_valid_name(name) {
            problems.push(
                at(entry.name.span(), format!("invalid host name {name:?}")).with_hint(
                    "use letters, digits, '.', '-' and '_' (it names the host in commands and the timeline)",
                ),
            );
        } else if let Some(first) = first_definition.get(name) {
            let (line, _) = super::line_column(text, *first);
            problems.push(
                at(entry.name.span(), format!("duplicate host {name:?}")).with_hint(format!(
                    "it is already defined on line {line}; host names must be unique"
                )),
            );
        } else {
            first_definition.insert(name.clone(), entry.name.span().start);
        }
        if let Some(address) = &entry.address {
            if let Err(why) = check_address(address.get_ref()) {
                problems.push(
                    at(address.span(), format!("bad address {:?}: {why}", address.get_ref()))
                        .with_hint("write an IP address, a DNS name, or a Host alias of ~/.ssh/config"),
                );
            }
        }
        if let Some(jump) = &entry.jump {
            let value = jump.get_ref();
            if value.split(',').any(|hop| hop.trim() == name) {
                problems.push(at(jump.span(), format!("host {name:?} cannot be its own jump host")));
            } else if let Err(why) = check_jump(value) {
                problems.push(at(jump.span(), format!("bad jump host {value:?}: {why}")).with_hint(
                    "name a host of this file, or write [user@]host[:port]; several hops are \
                         separated by commas, first hop first",
                ));
            }
        }
    }
}

fn check_timezone(raw: &RawConfig, at: &At, problems: &mut Vec<Diagnostic>) {
    if let Some(name) = &raw.settings.timezone {
        if crate::report::Zone::named(name.get_ref()).is_none() {
            problems.push(
                at(name.span(), format!("unknown time zone {:?}", name.get_ref()))
                    .with_hint("an IANA name, as in /usr/share/zoneinfo: Europe/Paris, America/Montreal, UTC"),
            );
        }
    }
}

fn check_sync_remotes(raw: &RawConfig, at: &At, problems: &mut Vec<Diagnostic>) {
    for (index, remote) in raw.settings.sync_remotes.iter().enumerate() {
        if raw.settings.sync_remotes[..index]
            .iter()
            .any(|r| r.get_ref().trim() == remote.get_ref().trim())
        {
            problems.push(at(
                remote.span(),
                format!("sync remote {:?} is listed twice", remote.get_ref()),
            ));
        }
        if let Err(why) = crate::sync::RemoteSpec::parse(remote.get_ref()) {
            problems.push(at(remote.span(), format!("bad sync remote: {why}")).with_hint(
                "HOST:PATH of a bare git repository, HOST an inventory name or an ssh destination: \"backup:/srv/vigie.git\" (`vigie sync init HOST:PATH` creates it)",
            ));
        }
    }
}

fn check_redact_patterns(raw: &RawConfig, at: &At, problems: &mut Vec<Diagnostic>) {
    for pattern in &raw.settings.redact_patterns {
        if let Err(e) = regex::Regex::new(pattern.get_ref()) {
            let first = e.to_string().lines().last().unwrap_or("").trim().to_string();
            problems.push(
                at(pattern.span(), format!("invalid redaction pattern: {first}")).with_hint(
                    "write a regular expression (Rust regex syntax); single quotes avoid escaping: '\\btoken=\\S+'",
                ),
            );
        }
    }
}

/// Groups list hosts of the file, and are not named like one.
fn check_groups(raw: &RawConfig, at: &At, problems: &mut Vec<Diagnostic>) {
    let host_names: Vec<&str> = raw.hosts.iter().map(|h| h.name.get_ref().as_str()).collect();
    for (group, members) in &raw.groups {
        if host_names.contains(&group.as_str()) {
            problems.push(
                at(members.span(), format!("group {group:?} has the name of a host"))
                    .with_hint("a playbook target must name one or the other: rename the group"),
            );
        }
        for member in members.get_ref() {
            let value = member.get_ref();
            if !host_names.contains(&value.as_str()) {
                let mut diagnostic = at(member.span(), format!("unknown host {value:?} in group {group:?}"));
                diagnostic = match did_you_mean(value, &host_names) {
                    Some(close) => diagnostic.with_hint(format!("did you mean {close:?}?")),
                    None => diagnostic.with_hint("groups list host names defined in [[hosts]]"),
                };
                problems.push(diagnostic);
            }
        }
    }
}

/// `[keys]` as overrides of the key table, each with its place in the file.
fn key_overrides(raw: &RawConfig, at: &At) -> Vec<super::KeyOverride> {
    raw.keys
        .iter()
        .map(|(action, keys)| super::KeyOverride {
            action: action.clone(),
            keys: match keys.get_ref() {
                super::KeyList::One(key) => vec![key.clone()],
                super::KeyList::Many(list) => list.clone(),
            },
            place: at(keys.span(), String::new()),
        })
        .collect()
}

/// The checked file as the program uses it.
fn build(path: &Path, raw: RawConfig, keys: Vec<super::KeyOverride>) -> Config {
    let hosts = raw
        .hosts
        .into_iter()
        .map(|entry| {
            let name = entry.name.into_inner();
            Host {
                address: entry.address.map(|a| a.into_inner()).unwrap_or_else(|| name.clone()),
                name,
                transport: entry.transport,
                user: entry.user,
                port: entry.port,
                jump: entry.jump.map(|j| j.into_inner()),
                identity_file: entry.identity_file,
                kind: entry.kind,
                role: entry.role,
                tags: entry.tags,
                datastores: entry.datastores,
                backups: entry.backups,
                db_defaults_file: entry.db_defaults_file,
                faillock_dir: entry.faillock_dir,
            }
        })
        .collect();
    let groups: BTreeMap<String, Vec<String>> = raw
        .groups
        .into_iter()
        .map(|(group, members)| {
            let members = members.into_inner().into_iter().map(|m| m.into_inner()).collect();
            (group, members)
        })
        .collect();
    Config {
        source: ConfigSource::File(path.to_path_buf()),
        settings: raw.settings,
        hosts,
        groups,
        keys,
    }
}

/// Host and group names: they appear in commands, targets and file names.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// An address is an IPv4/IPv6 literal, a DNS name or an ssh alias. It must not
/// be able to pass as an option to ssh or carry spaces, ports or users.
fn check_address(address: &str) -> Result<(), &'static str> {
    if address.is_empty() {
        return Err("it is empty");
    }
    if address.starts_with('-') {
        return Err("it starts with '-'");
    }
    if address.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if address.contains(':') {
        return Err("put the port in `port = ...`, not in the address");
    }
    if address.contains('@') {
        return Err("put the user in `user = ...`, not in the address");
    }
    if !address
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("only letters, digits, '.', '-' and '_' are allowed");
    }
    let labels_ok = address.split('.').all(|l| !l.is_empty() && l.len() <= 63);
    if !labels_ok || address.len() > 253 {
        return Err("it is not a valid DNS name");
    }
    if address.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Err("it looks like an IPv4 address but is not one");
    }
    Ok(())
}

/// Hops separated by commas (as in `ProxyJump`), each `[user@]host[:port]`
/// (or `ssh://[user@]host[:port]`) or a host name of the inventory.
fn check_jump(jump: &str) -> Result<(), &'static str> {
    jump.split(',').try_for_each(|hop| check_hop(hop.trim()))
}

fn check_hop(hop: &str) -> Result<(), &'static str> {
    let jump = hop.strip_prefix("ssh://").unwrap_or(hop);
    let without_user = match jump.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() && is_valid_name(user) => rest,
        Some(_) => return Err("the user part is not valid"),
        None => jump,
    };
    let host = match without_user.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            port.parse::<u16>()
                .map_err(|_| "the port is not a number from 1 to 65535")?;
            host
        }
        _ => without_user,
    };
    check_address(host.trim_start_matches('[').trim_end_matches(']'))
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// A path inside the document, as serde_ignored reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn path_segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    use serde_ignored::Path as P;
    let mut segments = Vec::new();
    let mut current = path;
    loop {
        match current {
            P::Root => break,
            P::Map { parent, key } => {
                // Spanned<T> goes through an internal map whose keys start with `$__`.
                if !key.starts_with("$__") {
                    segments.push(Segment::Key(key.clone()));
                }
                current = parent;
            }
            P::Seq { parent, index } => {
                segments.push(Segment::Index(*index));
                current = parent;
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                current = parent;
            }
        }
    }
    segments.reverse();
    segments
}

/// Diagnostic for an unknown key found by serde_ignored, located in the document.
fn unknown_key(path: &Path, text: &str, document: &ImDocument<&str>, segments: &[Segment]) -> Diagnostic {
    let key = match segments.last() {
        Some(Segment::Key(k)) => k.clone(),
        _ => String::from("?"),
    };
    let (context, candidates) = context_of(segments);
    let span = key_span(document.as_table(), segments).unwrap_or(0..0);
    let diagnostic = Diagnostic::at(path, text, span, format!("unknown key `{key}` {context}"));
    match did_you_mean(&key, candidates) {
        Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
        None => diagnostic.with_hint(format!("known keys here: {}", candidates.join(", "))),
    }
}

fn context_of(segments: &[Segment]) -> (String, &'static [&'static str]) {
    match segments.first() {
        Some(Segment::Key(k)) if k == "hosts" && segments.len() > 2 => {
            let index = match segments.get(1) {
                Some(Segment::Index(i)) => *i + 1,
                _ => 0,
            };
            (format!("in host #{index} ([[hosts]])"), HOST_KEYS)
        }
        Some(Segment::Key(k)) if k == "settings" && segments.len() > 1 => ("in [settings]".to_string(), SETTINGS_KEYS),
        _ => ("at the top level".to_string(), TOP_KEYS),
    }
}

/// Byte span of the key at `segments` in the parsed document.
fn key_span(table: &Table, segments: &[Segment]) -> Option<std::ops::Range<usize>> {
    let (first, rest) = segments.split_first()?;
    let Segment::Key(key) = first else {
        return None;
    };
    if rest.is_empty() {
        return table.key(key).and_then(|k| k.span());
    }
    item_key_span(table.get(key)?, rest)
}

fn item_key_span(item: &Item, segments: &[Segment]) -> Option<std::ops::Range<usize>> {
    match (item, segments.first()?) {
        (Item::Table(t), _) => key_span(t, segments),
        (Item::ArrayOfTables(array), Segment::Index(i)) => key_span(array.get(*i)?, &segments[1..]),
        (Item::Value(value), _) => value_key_span(value, segments),
        _ => None,
    }
}

fn value_key_span(value: &Value, segments: &[Segment]) -> Option<std::ops::Range<usize>> {
    match (value, segments.split_first()?) {
        (Value::InlineTable(t), (Segment::Key(key), rest)) => {
            if rest.is_empty() {
                t.key(key).and_then(|k| k.span())
            } else {
                value_key_span(t.get(key)?, rest)
            }
        }
        (Value::Array(a), (Segment::Index(i), rest)) => value_key_span(a.get(*i)?, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(check_address("10.0.0.1").is_ok());
        assert!(check_address("::1").is_ok());
        assert!(check_address("pve-1.example.org").is_ok());
        assert!(check_address("miramelle").is_ok());
        assert!(check_address("10.0.0.300").is_err());
        assert!(check_address("-oProxyCommand=x").is_err());
        assert!(check_address("host name").is_err());
        assert!(check_address("host:22").is_err());
        assert!(check_address("root@host").is_err());
    }

    #[test]
    fn jumps() {
        assert!(check_jump("bastion").is_ok());
        assert!(check_jump("admin@bastion.example.org:2222").is_ok());
        assert!(check_jump("bastion:http").is_err());
        assert!(check_jump("@bastion").is_err());
        assert!(check_jump("ops@127.0.0.50:22,[127.0.0.57]:2200,bastion").is_ok());
        assert!(check_jump("ssh://ops@bastion:2222").is_ok());
        assert!(check_jump("bastion,").is_err());
    }

    #[test]
    fn known_key_lists_match_the_structs() {
        // Every listed key must be accepted, and the example must set every key.
        let example = super::super::EXAMPLE_CONFIG;
        for key in HOST_KEYS.iter().chain(SETTINGS_KEYS) {
            let documented = example.contains(&format!("{key} =")) || example.contains(&format!("[[hosts.{key}]]"));
            assert!(documented, "example config lacks `{key}`");
        }
    }
}
