//! The fallback reader of `~/.ssh/config`, used only where the `ssh` program
//! is not installed (otherwise `ssh -G` resolves hosts, see `openssh.rs`):
//! `Host` blocks with patterns, and `HostName`, `User`, `Port`,
//! `IdentityFile`, `ProxyJump`. As in OpenSSH, the first value found for a
//! keyword wins. `Match` blocks and `Include` are skipped, and `vigie check`
//! says so.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshHostConfig {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, first hop first; `none` gives an empty list.
    pub proxy_jump: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
struct Block {
    /// `None` for a `Match` block, which never applies.
    patterns: Option<Vec<String>>,
    entries: Vec<(String, String)>,
}

impl SshConfig {
    /// Reads `~/.ssh/config`; a missing or unreadable file is an empty config.
    pub fn load_user_config() -> SshConfig {
        match home_dir() {
            Some(home) => SshConfig::load(&home.join(".ssh/config")),
            None => SshConfig::default(),
        }
    }

    pub fn load(path: &Path) -> SshConfig {
        std::fs::read_to_string(path)
            .map(|t| SshConfig::parse(&t))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> SshConfig {
        // Lines before any Host apply to every host.
        let mut blocks = vec![Block {
            patterns: Some(vec!["*".into()]),
            entries: vec![],
        }];
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((keyword, value)) = split_keyword(line) else {
                continue;
            };
            match keyword.as_str() {
                "host" => blocks.push(Block {
                    patterns: Some(value.split_whitespace().map(unquote).collect()),
                    entries: vec![],
                }),
                "match" => blocks.push(Block {
                    patterns: None,
                    entries: vec![],
                }),
                _ => {
                    if let Some(block) = blocks.last_mut() {
                        block.entries.push((keyword, unquote(&value)));
                    }
                }
            }
        }
        SshConfig { blocks }
    }

    /// The settings that apply to `alias`, as OpenSSH would compute them.
    pub fn lookup(&self, alias: &str) -> SshHostConfig {
        let mut config = SshHostConfig::default();
        for block in &self.blocks {
            let Some(patterns) = &block.patterns else {
                continue;
            };
            if !patterns_match(patterns, alias) {
                continue;
            }
            for (keyword, value) in &block.entries {
                match keyword.as_str() {
                    "hostname" if config.host_name.is_none() => config.host_name = Some(value.replace("%h", alias)),
                    "user" if config.user.is_none() => config.user = Some(value.clone()),
                    "port" if config.port.is_none() => config.port = value.parse().ok(),
                    // IdentityFile accumulates, as in OpenSSH.
                    "identityfile" => config.identity_files.push(expand_tilde(value)),
                    "proxyjump" if config.proxy_jump.is_none() => {
                        config.proxy_jump = Some(if value.eq_ignore_ascii_case("none") {
                            vec![]
                        } else {
                            value.split(',').map(|h| h.trim().to_string()).collect()
                        })
                    }
                    _ => {}
                }
            }
        }
        config
    }
}

/// `Keyword value` or `Keyword=value`; keywords are case-insensitive.
fn split_keyword(line: &str) -> Option<(String, String)> {
    let split_at = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let keyword = line[..split_at].to_ascii_lowercase();
    let rest = line[split_at..].trim_start_matches(|c: char| c.is_whitespace() || c == '=');
    Some((keyword, rest.trim().to_string()))
}

fn unquote(value: &str) -> String {
    value.trim_matches('"').to_string()
}

/// A host matches if any pattern matches and no negated (`!`) pattern does.
fn patterns_match(patterns: &[String], host: &str) -> bool {
    super::host_pattern::match_list(host, patterns.iter().map(String::as_str)) == super::host_pattern::ListMatch::Yes
}

pub use vigie_core::config::{expand_tilde, home_dir};

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# global
IdentityFile ~/.ssh/id_global

Host pve-* !pve-old
    User root
    Port=2222
    ProxyJump bastion

Host miramelle
    HostName 10.0.0.11
    User admin
    IdentityFile \"/keys/mira key\"

Match host *.example.org
    User nobody

Host *
    User fallback
    ProxyJump none
";

    #[test]
    fn first_value_wins_and_patterns_apply() {
        let config = SshConfig::parse(CONFIG);
        let pve = config.lookup("pve-1");
        assert_eq!(pve.user.as_deref(), Some("root"));
        assert_eq!(pve.port, Some(2222));
        assert_eq!(pve.proxy_jump, Some(vec!["bastion".to_string()]));
        assert_eq!(pve.host_name, None);

        let old = config.lookup("pve-old");
        assert_eq!(old.user.as_deref(), Some("fallback"));
        assert_eq!(old.proxy_jump, Some(vec![]));

        let mira = config.lookup("miramelle");
        assert_eq!(mira.host_name.as_deref(), Some("10.0.0.11"));
        assert_eq!(mira.user.as_deref(), Some("admin"));
        assert_eq!(mira.identity_files.len(), 2);
        assert_eq!(mira.identity_files[1], PathBuf::from("/keys/mira key"));

        // Match blocks never apply.
        assert_eq!(config.lookup("www.example.org").user.as_deref(), Some("fallback"));
    }
}
