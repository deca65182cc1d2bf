//! Resolving an inventory host into where and how to connect: vigie.toml
//! values first, then `~/.ssh/config`, then OpenSSH's defaults.

use super::ssh_config::{expand_tilde, home_dir, SshConfig};
use crate::config::{Config, Host};
use std::path::PathBuf;

/// Everything needed to open one SSH connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Name shown to humans and used in `vigie trust` (the inventory name).
    pub label: String,
    /// Host name or address to connect to and to look up in known_hosts.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files to try after the agent, in order.
    pub identity_files: Vec<PathBuf>,
    /// Jump hosts, first hop first.
    pub jumps: Vec<Endpoint>,
}

/// The key files OpenSSH tries when none is configured.
const DEFAULT_IDENTITIES: &[&str] = &[".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"];

/// Resolves inventory host `host` of `config`.
pub fn resolve(config: &Config, ssh_config: &SshConfig, host: &Host) -> Result<Endpoint, String> {
    resolve_inner(config, ssh_config, host, 0)
}

fn resolve_inner(config: &Config, ssh_config: &SshConfig, host: &Host, depth: usize) -> Result<Endpoint, String> {
    if depth > 8 {
        return Err(format!("jump hosts of {} form a loop", host.name));
    }
    let from_ssh = ssh_config.lookup(&host.address);
    let mut identity_files: Vec<PathBuf> = host
        .identity_file
        .iter()
        .map(|p| expand_tilde(&p.to_string_lossy()))
        .collect();
    identity_files.extend(from_ssh.identity_files.iter().cloned());
    if identity_files.is_empty() {
        if let Some(home) = home_dir() {
            identity_files.extend(DEFAULT_IDENTITIES.iter().map(|p| home.join(p)));
        }
    }
    let jump_specs: Vec<String> = match (&host.jump, &from_ssh.proxy_jump) {
        (Some(jump), _) => vec![jump.clone()],
        (None, Some(hops)) => hops.clone(),
        (None, None) => vec![],
    };
    let mut jumps = Vec::new();
    for spec in &jump_specs {
        // A hop may itself need hops (an inventory host with `jump`): those come first.
        let hop = resolve_jump(config, ssh_config, spec, depth + 1)?;
        jumps.extend(hop.jumps.iter().cloned());
        jumps.push(Endpoint { jumps: vec![], ..hop });
    }
    Ok(Endpoint {
        label: host.name.clone(),
        host: from_ssh.host_name.clone().unwrap_or_else(|| host.address.clone()),
        port: host.port.or(from_ssh.port).unwrap_or(22),
        user: host.user.clone().or(from_ssh.user.clone()).unwrap_or_else(login_name),
        identity_files,
        jumps,
    })
}

/// A jump given as an inventory host name, or as `[user@]host[:port]`.
fn resolve_jump(config: &Config, ssh_config: &SshConfig, spec: &str, depth: usize) -> Result<Endpoint, String> {
    if let Some(host) = config.host(spec) {
        return resolve_inner(config, ssh_config, host, depth);
    }
    let (user, rest) = match spec.split_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, spec),
    };
    let (address, port) = match rest.rsplit_once(':') {
        Some((address, port)) if !address.contains(':') => (
            address,
            Some(
                port.parse::<u16>()
                    .map_err(|_| format!("bad port in jump host {spec:?}"))?,
            ),
        ),
        _ => (rest, None),
    };
    let pseudo_host = Host {
        user,
        port,
        ..Host::named(address, address)
    };
    resolve_inner(config, ssh_config, &pseudo_host, depth)
}

fn login_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn vigie_toml_wins_then_ssh_config() {
        let config = Config::parse(
            Path::new("v.toml"),
            r#"
[[hosts]]
name = "bastion"
address = "bastion.example.org"
user = "admin"

[[hosts]]
name = "db"
address = "db-alias"
jump = "bastion"
port = 2200
"#,
        )
        .unwrap();
        let ssh =
            SshConfig::parse("Host db-alias\n  HostName 10.1.1.5\n  User dbadmin\n  Port 22\n  IdentityFile /k/db\n");
        let db = resolve(&config, &ssh, config.host("db").unwrap()).unwrap();
        assert_eq!(db.host, "10.1.1.5");
        assert_eq!(db.port, 2200);
        assert_eq!(db.user, "dbadmin");
        assert_eq!(db.identity_files, vec![PathBuf::from("/k/db")]);
        assert_eq!(db.jumps.len(), 1);
        assert_eq!(db.jumps[0].host, "bastion.example.org");
        assert_eq!(db.jumps[0].user, "admin");
    }

    #[test]
    fn proxyjump_chains_and_literal_jumps() {
        let config = Config::parse(Path::new("v.toml"), "[[hosts]]\nname = \"x\"\naddress = \"x\"\n").unwrap();
        let ssh = SshConfig::parse("Host x\n  ProxyJump ops@a:2022,b\n");
        let x = resolve(&config, &ssh, config.host("x").unwrap()).unwrap();
        let hops: Vec<(&str, u16)> = x.jumps.iter().map(|j| (j.host.as_str(), j.port)).collect();
        assert_eq!(hops, vec![("a", 2022), ("b", 22)]);
        assert_eq!(x.jumps[0].user, "ops");
    }
}
