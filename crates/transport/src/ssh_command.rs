//! The OpenSSH command line that reaches an endpoint the way vigie's own
//! connections do, for programs that speak SSH through `ssh` (git, when
//! incidents are synced): the resolved address, port, user and keys, the
//! jump hosts, and the same host-key rules: vigie's own pins, then the
//! host's known_hosts files, strict (an unknown or changed key is refused,
//! never learned), no password prompt.
//!
//! Everything comes from the resolved [`Endpoint`], so ssh is started with
//! `-F none`: it must not resolve the host a second time, differently.

use super::endpoint::{Agent, Endpoint, Via};
use std::path::{Path, PathBuf};

/// `ssh` and its arguments, ending with the destination: append the remote
/// command (or let git append it).
pub fn argv(endpoint: &Endpoint, own_known_hosts: &Path) -> Vec<String> {
    let mut args = vec!["ssh".to_string()];
    args.extend(options(endpoint, own_known_hosts));
    args.push(endpoint.host.clone());
    args
}

/// [`argv`] as one shell command line.
pub fn command_line(endpoint: &Endpoint, own_known_hosts: &Path) -> String {
    join(&argv(endpoint, own_known_hosts))
}

/// `ssh` and its options without the destination, as one shell command
/// line, followed by `extra` options: what `GIT_SSH_COMMAND` holds (git
/// adds the destination and the command, and runs it through a shell).
pub fn command_prefix(endpoint: &Endpoint, own_known_hosts: &Path, extra: &[String]) -> String {
    let mut words = vec!["ssh".to_string()];
    words.extend(options(endpoint, own_known_hosts));
    for option in extra {
        words.push("-o".into());
        words.push(option.clone());
    }
    join(&words)
}

fn options(endpoint: &Endpoint, own_known_hosts: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["-F".into(), "none".into()];
    let mut option = |name: &str, value: String| {
        args.push("-o".into());
        args.push(format!("{name}={value}"));
    };
    option("BatchMode", "yes".into());
    option("StrictHostKeyChecking", "yes".into());
    option("UpdateHostKeys", "no".into());
    option("Port", endpoint.port.to_string());
    option("User", endpoint.user.clone());
    let mut known: Vec<PathBuf> = vec![own_known_hosts.to_path_buf()];
    known.extend(endpoint.user_known_hosts.iter().cloned());
    option("UserKnownHostsFile", path_list(&known));
    option(
        "GlobalKnownHostsFile",
        if endpoint.global_known_hosts.is_empty() {
            "none".into()
        } else {
            path_list(&endpoint.global_known_hosts)
        },
    );
    if let Some(alias) = &endpoint.host_key_alias {
        option("HostKeyAlias", alias.clone());
    }
    if !endpoint.host_key_algorithms.is_empty() {
        option("HostKeyAlgorithms", endpoint.host_key_algorithms.join(","));
    }
    for identity in &endpoint.identity_files {
        option("IdentityFile", quoted_path(identity));
    }
    if endpoint.identities_only {
        option("IdentitiesOnly", "yes".into());
    }
    match &endpoint.agent {
        Agent::FromEnvironment => {}
        Agent::Socket(socket) => option("IdentityAgent", quoted_path(socket)),
        Agent::Disabled => option("IdentityAgent", "none".into()),
    }
    if let Some(timeout) = endpoint.connect_timeout {
        option("ConnectTimeout", timeout.as_secs().max(1).to_string());
    }
    if let Some(interval) = endpoint.server_alive_interval {
        option("ServerAliveInterval", interval.as_secs().max(1).to_string());
    }
    match &endpoint.via {
        Via::Direct => {}
        // The hop is reached with its own settings and the same rules; ssh
        // runs ProxyCommand through a shell, with `%` tokens expanded.
        Via::Jump(hop) => {
            let mut hop_argv = argv(hop, own_known_hosts);
            hop_argv.insert(1, "-W".into());
            let target = if endpoint.host.contains(':') {
                format!("[{}]:{}", endpoint.host, endpoint.port)
            } else {
                format!("{}:{}", endpoint.host, endpoint.port)
            };
            hop_argv.insert(2, target);
            option("ProxyCommand", join(&hop_argv).replace('%', "%%"));
        }
        Via::Command(command) => option("ProxyCommand", command.replace('%', "%%")),
    }
    args
}

/// ssh splits these options' values on spaces, honouring double quotes.
fn quoted_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

fn path_list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| quoted_path(p)).collect::<Vec<_>>().join(" ")
}

/// Words joined into a POSIX shell command line, each single-quoted.
fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| vigie_core::probe::shell::quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_explicit_and_strict() {
        let mut endpoint = Endpoint::direct("backup", "10.0.0.5", 2222, "ops");
        endpoint.identity_files = vec![PathBuf::from("/home/a/key one")];
        endpoint.user_known_hosts = vec![PathBuf::from("/home/a/.ssh/known_hosts")];
        endpoint.agent = Agent::Disabled;
        let args = argv(&endpoint, Path::new("/pins"));
        let has = |word: &str| args.iter().any(|a| a == word);
        assert_eq!(args.last().map(String::as_str), Some("10.0.0.5"));
        assert!(has("StrictHostKeyChecking=yes") && has("BatchMode=yes") && has("Port=2222") && has("User=ops"));
        assert!(has("UserKnownHostsFile=\"/pins\" \"/home/a/.ssh/known_hosts\""));
        assert!(has("IdentityFile=\"/home/a/key one\""));
        assert!(has("IdentityAgent=none"));
    }

    #[test]
    fn a_jump_host_is_reached_with_its_own_settings() {
        let mut endpoint = Endpoint::direct("inner", "192.168.1.2", 22, "root");
        endpoint.via = Via::Jump(Box::new(Endpoint::direct("bastion", "bastion.example", 22, "ops")));
        let line = command_line(&endpoint, Path::new("/pins"));
        assert!(line.contains("ProxyCommand="), "{line}");
        assert!(line.contains("-W"), "{line}");
        assert!(line.contains("192.168.1.2:22"), "{line}");
        assert!(line.contains("bastion.example"), "{line}");
    }
}
