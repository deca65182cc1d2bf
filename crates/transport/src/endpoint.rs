//! Resolving an inventory host into where and how to connect, as OpenSSH's
//! `ssh` would: vigie.toml's `user`, `port`, `identity_file` and `jump` are
//! passed like command-line options, the rest comes from `ssh -G` (see
//! `openssh.rs`). Where `ssh` is not installed, a built-in reader of
//! `~/.ssh/config` (`ssh_config.rs`, a subset) stands in, and `vigie check`
//! says so.

use super::known_hosts::HostKeyLookup;
use super::openssh::{self, Query, ResolveError, Resolved, Tokens};
use super::ssh_config::{expand_tilde, home_dir, SshConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigie_core::config::{Config, Host};

/// Everything needed to open one SSH connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Name shown to humans and used in `vigie trust` (the inventory name).
    pub label: String,
    /// Host name or address to connect to (`HostName`).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files, in the order ssh tries them (`IdentityFile`).
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`: only agent keys that are also key files are offered.
    pub identities_only: bool,
    pub agent: Agent,
    /// How the bytes get to the host.
    pub via: Via,
    /// `UserKnownHostsFile`, read after vigie's own pins.
    pub user_known_hosts: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`.
    pub global_known_hosts: Vec<PathBuf>,
    /// `HostKeyAlias`.
    pub host_key_alias: Option<String>,
    /// `HostKeyAlgorithms`, in preference order (empty: OpenSSH's default).
    pub host_key_algorithms: Vec<String>,
    /// Whether the known key types of the host go first, as ssh does for its
    /// default list (or one changed with `+` or `-`), but not for a list
    /// written out in full or with `^`.
    pub order_host_key_algorithms: bool,
    /// `ConnectTimeout`, when the ssh configuration sets one.
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval`, when set.
    pub server_alive_interval: Option<Duration>,
}

/// Where agent keys come from (`IdentityAgent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// `$SSH_AUTH_SOCK`, if set.
    FromEnvironment,
    Socket(PathBuf),
    /// `IdentityAgent none`.
    Disabled,
}

/// How the connection reaches the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// TCP to `host:port`.
    Direct,
    /// A tunnel through this jump host (`ProxyJump`; the hop has its own `via`).
    Jump(Box<Endpoint>),
    /// `ProxyCommand`, tokens expanded: its stdin and stdout are the connection.
    Command(String),
}

impl Endpoint {
    /// A direct connection with no ssh configuration: used by tests and as
    /// the base every resolution fills in.
    pub fn direct(label: &str, host: &str, port: u16, user: &str) -> Endpoint {
        Endpoint {
            label: label.to_string(),
            host: host.to_string(),
            port,
            user: user.to_string(),
            identity_files: Vec::new(),
            identities_only: false,
            agent: Agent::FromEnvironment,
            via: Via::Direct,
            user_known_hosts: Vec::new(),
            global_known_hosts: Vec::new(),
            host_key_alias: None,
            host_key_algorithms: Vec::new(),
            order_host_key_algorithms: true,
            connect_timeout: None,
            server_alive_interval: None,
        }
    }

    /// How this host is named in known_hosts.
    pub fn host_key_lookup(&self) -> HostKeyLookup {
        HostKeyLookup {
            host: self.host.clone(),
            port: self.port,
            alias: self.host_key_alias.clone(),
        }
    }

    /// The jump hosts, first hop first.
    pub fn jumps(&self) -> Vec<&Endpoint> {
        let mut hops = Vec::new();
        let mut via = &self.via;
        while let Via::Jump(hop) = via {
            hops.push(hop.as_ref());
            via = &hop.via;
        }
        hops.reverse();
        hops
    }
}

/// How hosts are resolved: by the system's `ssh -G`, or by the built-in
/// reader where `ssh` is missing.
#[derive(Debug, Clone)]
pub enum Resolver {
    OpenSsh {
        ssh: PathBuf,
        /// `settings.ssh_config`: passed as `-F`.
        config_file: Option<PathBuf>,
        /// What `ssh -G` prints with no configuration at all: its built-in defaults.
        defaults: std::sync::Arc<std::sync::OnceLock<Resolved>>,
    },
    BuiltIn(SshConfig),
}

impl Resolver {
    pub fn for_config(config: &Config) -> Resolver {
        let config_file = config
            .settings
            .ssh_config
            .as_ref()
            .map(|p| expand_tilde(&p.to_string_lossy()));
        match openssh::find_ssh() {
            Some(ssh) => Resolver::OpenSsh {
                ssh,
                config_file,
                defaults: Default::default(),
            },
            None => Resolver::BuiltIn(match &config_file {
                Some(file) => SshConfig::load(file),
                None => SshConfig::load_user_config(),
            }),
        }
    }

    /// One line for `vigie check`: how ssh settings are read.
    pub fn describe(&self) -> String {
        match self {
            Resolver::OpenSsh { ssh, config_file, .. } => format!(
                "ssh settings: as OpenSSH resolves them ({} -G{})",
                ssh.display(),
                config_file
                    .as_ref()
                    .map(|f| format!(" -F {}", f.display()))
                    .unwrap_or_default()
            ),
            Resolver::BuiltIn(_) => "ssh settings: `ssh` is not installed, so vigie reads ~/.ssh/config itself \
                 (Host blocks with HostName, User, Port, IdentityFile, ProxyJump only: no Include, no Match); \
                 install openssh-client for full OpenSSH behaviour"
                .to_string(),
        }
    }

    /// Resolves inventory host `host` of `config`.
    pub fn resolve(&self, config: &Config, host: &Host) -> Result<Endpoint, ResolveError> {
        self.resolve_host(config, host, 0)
    }

    /// Resolves a destination that is not in the inventory, written as a
    /// jump host is (`[user@]host[:port]`): a jump host's name in an error.
    pub fn resolve_destination(&self, config: &Config, destination: &str) -> Result<Endpoint, ResolveError> {
        self.resolve_spec(config, destination, 0)
    }

    fn resolve_host(&self, config: &Config, host: &Host, depth: usize) -> Result<Endpoint, ResolveError> {
        if depth > 8 {
            return Err(ResolveError::JumpLoop(host.name.clone()));
        }
        let query = HostQuery {
            label: &host.name,
            destination: &host.address,
            user: host.user.as_deref(),
            port: host.port,
            identity_file: host.identity_file.as_deref(),
        };
        let (mut endpoint, configured_jump) = self.resolve_query(&query)?;
        // vigie.toml's `jump` wins over the ssh configuration, as `-J` does.
        let jump = host.jump.clone().or(configured_jump);
        if let Some(jump) = jump {
            endpoint.via = self.jump_chain(config, &jump, depth)?;
        }
        Ok(endpoint)
    }

    /// `ProxyJump a,b`: the connection goes through `b`, and `b` is reached
    /// through `a` (which keeps its own ssh settings, as `ssh -J` does).
    fn jump_chain(&self, config: &Config, spec: &str, depth: usize) -> Result<Via, ResolveError> {
        let mut via = Via::Direct;
        for (index, hop) in spec.split(',').map(str::trim).enumerate() {
            let mut endpoint = match config.host(hop) {
                Some(inventory_host) => self.resolve_host(config, inventory_host, depth + 1)?,
                None => self.resolve_spec(config, hop, depth + 1)?,
            };
            if index > 0 {
                endpoint.via = via;
            }
            via = Via::Jump(Box::new(endpoint));
        }
        Ok(via)
    }

    /// A hop given as `[user@]host[:port]` or `ssh://[user@]host[:port]`.
    fn resolve_spec(&self, config: &Config, spec: &str, depth: usize) -> Result<Endpoint, ResolveError> {
        let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
        let (user, rest) = match rest.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, rest),
        };
        let (address, port) = split_port(rest).map_err(|_| ResolveError::BadJumpPort(spec.to_string()))?;
        // Named as written, so that an error's `vigie trust HOP` reaches it again.
        let pseudo_host = Host {
            user: user.map(String::from),
            port,
            ..Host::named(spec, address)
        };
        self.resolve_host(config, &pseudo_host, depth)
    }

    /// The endpoint for one destination, and the ProxyJump its settings name.
    fn resolve_query(&self, query: &HostQuery) -> Result<(Endpoint, Option<String>), ResolveError> {
        match self {
            Resolver::OpenSsh {
                ssh,
                config_file,
                defaults,
            } => {
                let defaults = defaults.get_or_init(|| openssh::built_in_defaults(ssh));
                let resolved = openssh::resolve(
                    ssh,
                    &Query {
                        destination: query.destination,
                        user: query.user,
                        port: query.port,
                        identity_file: query.identity_file,
                        config_file: config_file.as_deref(),
                    },
                )?;
                from_openssh(query, &resolved, defaults)
            }
            Resolver::BuiltIn(ssh_config) => Ok(from_built_in(query, ssh_config)),
        }
    }
}

struct HostQuery<'a> {
    label: &'a str,
    destination: &'a str,
    user: Option<&'a str>,
    port: Option<u16>,
    identity_file: Option<&'a Path>,
}

/// `host:port` → (host, port); a bracketed or bare IPv6 address keeps its colons.
fn split_port(text: &str) -> Result<(&str, Option<u16>), std::num::ParseIntError> {
    if let Some(inner) = text.strip_prefix('[') {
        if let Some((address, port)) = inner.split_once("]:") {
            return Ok((address, Some(port.parse()?)));
        }
        return Ok((inner.trim_end_matches(']'), None));
    }
    match text.rsplit_once(':') {
        Some((address, port)) if !address.contains(':') => Ok((address, Some(port.parse()?))),
        _ => Ok((text, None)),
    }
}

/// OpenSSH options vigie does not implement and cannot ignore safely: with
/// one of them set, ssh would refuse hosts that vigie would accept.
const UNSUPPORTED_REFUSING_OPTIONS: &[(&str, &str)] = &[
    ("revokedhostkeys", "RevokedHostKeys"),
    ("knownhostscommand", "KnownHostsCommand"),
];

fn from_openssh(
    query: &HostQuery,
    resolved: &Resolved,
    defaults: &Resolved,
) -> Result<(Endpoint, Option<String>), ResolveError> {
    for (keyword, option) in UNSUPPORTED_REFUSING_OPTIONS {
        if resolved.get(keyword).is_some_and(|v| v != "none") {
            return Err(ResolveError::UnsupportedOption {
                destination: query.destination.to_string(),
                option: option.to_string(),
            });
        }
    }
    let host = resolved.get("hostname").unwrap_or(query.destination).to_string();
    let port = match resolved.get("port") {
        Some(port) => port.parse().map_err(|_| ResolveError::BadPort(port.to_string()))?,
        None => 22,
    };
    let user = resolved
        .get("user")
        .map(String::from)
        .unwrap_or_else(|| openssh::LocalUser::current().name);
    let proxy_jump = resolved.get("proxyjump").filter(|v| *v != "none").map(String::from);
    let tokens = Tokens {
        host: host.clone(),
        original_host: query.destination.to_string(),
        port,
        user: user.clone(),
        proxy_jump: proxy_jump.clone().unwrap_or_default(),
        host_key_alias: resolved.get("hostkeyalias").map(String::from),
    };
    let expand_all = |values: &[String]| -> Result<Vec<PathBuf>, ResolveError> {
        values
            .iter()
            .map(|v| openssh::expand(v, &tokens).map(PathBuf::from))
            .collect()
    };
    let agent = match resolved.get("identityagent") {
        None | Some("SSH_AUTH_SOCK") => Agent::FromEnvironment,
        Some("none") => Agent::Disabled,
        Some(variable) if variable.starts_with('$') => match std::env::var_os(&variable[1..]) {
            Some(value) => Agent::Socket(PathBuf::from(value)),
            None => Agent::Disabled,
        },
        Some(path) => Agent::Socket(PathBuf::from(openssh::expand(path, &tokens)?)),
    };
    let via = match resolved.get("proxycommand") {
        Some(command) if command != "none" && proxy_jump.is_none() => Via::Command(openssh::expand(command, &tokens)?),
        _ => Via::Direct,
    };
    let host_key_algorithms = algorithms(resolved);
    let endpoint = Endpoint {
        identity_files: expand_all(resolved.all("identityfile"))?,
        identities_only: resolved.flag("identitiesonly"),
        agent,
        via,
        user_known_hosts: expand_all(&resolved.path_list("userknownhostsfile"))?,
        global_known_hosts: expand_all(&resolved.path_list("globalknownhostsfile"))?,
        host_key_alias: tokens.host_key_alias.clone(),
        order_host_key_algorithms: is_default_or_adjusted(&host_key_algorithms, &algorithms(defaults)),
        host_key_algorithms,
        connect_timeout: resolved.seconds("connecttimeout"),
        server_alive_interval: resolved.seconds("serveraliveinterval"),
        ..Endpoint::direct(query.label, &host, port, &user)
    };
    Ok((endpoint, proxy_jump))
}

fn algorithms(resolved: &Resolved) -> Vec<String> {
    resolved
        .get("hostkeyalgorithms")
        .map(|v| v.split(',').map(String::from).collect())
        .unwrap_or_default()
}

/// Whether `list` looks like OpenSSH's default `HostKeyAlgorithms` with
/// some removed (`-`) and others appended (`+`): the lists ssh reorders by
/// the known keys. A list written in full, or with `^`, is used as it is.
/// `ssh -G` prints only the result, so a list written out in the default's
/// own order is told from a `-` list by its length: a `-` list keeps at
/// least half of the default.
fn is_default_or_adjusted(list: &[String], default: &[String]) -> bool {
    if default.is_empty() {
        return true;
    }
    let kept = list.iter().take_while(|a| default.contains(a)).count();
    let mut remaining = default.iter();
    let in_default_order = list[..kept].iter().all(|a| remaining.any(|d| d == a));
    in_default_order && list[kept..].iter().all(|a| !default.contains(a)) && kept * 2 >= default.len()
}

/// The key files OpenSSH tries when none is configured.
const DEFAULT_IDENTITIES: &[&str] = &[".ssh/id_rsa", ".ssh/id_ecdsa", ".ssh/id_ed25519"];

fn from_built_in(query: &HostQuery, ssh_config: &SshConfig) -> (Endpoint, Option<String>) {
    let from_ssh = ssh_config.lookup(query.destination);
    let mut identity_files: Vec<PathBuf> = query
        .identity_file
        .iter()
        .map(|p| expand_tilde(&p.to_string_lossy()))
        .collect();
    identity_files.extend(from_ssh.identity_files.iter().cloned());
    let home = home_dir();
    if identity_files.is_empty() {
        if let Some(home) = &home {
            identity_files.extend(DEFAULT_IDENTITIES.iter().map(|p| home.join(p)));
        }
    }
    let host = from_ssh
        .host_name
        .clone()
        .unwrap_or_else(|| query.destination.to_string());
    let port = query.port.or(from_ssh.port).unwrap_or(22);
    let user = query
        .user
        .map(String::from)
        .or(from_ssh.user.clone())
        .unwrap_or_else(|| openssh::LocalUser::current().name);
    let endpoint = Endpoint {
        identity_files,
        user_known_hosts: home.iter().map(|h| h.join(".ssh/known_hosts")).collect(),
        global_known_hosts: vec![PathBuf::from("/etc/ssh/ssh_known_hosts")],
        ..Endpoint::direct(query.label, &host, port, &user)
    };
    let jump = from_ssh
        .proxy_jump
        .filter(|hops| !hops.is_empty())
        .map(|hops| hops.join(","));
    (endpoint, jump)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in(ssh: &str) -> Resolver {
        Resolver::BuiltIn(SshConfig::parse(ssh))
    }

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
        let resolver =
            built_in("Host db-alias\n  HostName 10.1.1.5\n  User dbadmin\n  Port 22\n  IdentityFile /k/db\n");
        let db = resolver.resolve(&config, config.host("db").unwrap()).unwrap();
        assert_eq!(db.host, "10.1.1.5");
        assert_eq!(db.port, 2200);
        assert_eq!(db.user, "dbadmin");
        assert_eq!(db.identity_files, vec![PathBuf::from("/k/db")]);
        let jumps = db.jumps();
        assert_eq!(jumps.len(), 1);
        assert_eq!(jumps[0].host, "bastion.example.org");
        assert_eq!(jumps[0].user, "admin");
    }

    #[test]
    fn proxyjump_chains_and_literal_jumps() {
        let config = Config::parse(Path::new("v.toml"), "[[hosts]]\nname = \"x\"\naddress = \"x\"\n").unwrap();
        let resolver = built_in("Host x\n  ProxyJump ops@a:2022,b\n");
        let x = resolver.resolve(&config, config.host("x").unwrap()).unwrap();
        let hops: Vec<(&str, u16)> = x.jumps().iter().map(|j| (j.host.as_str(), j.port)).collect();
        assert_eq!(hops, vec![("a", 2022), ("b", 22)]);
        assert_eq!(x.jumps()[0].user, "ops");
    }

    #[test]
    fn ports_split_like_ssh() {
        assert_eq!(split_port("a:2022"), Ok(("a", Some(2022))));
        assert_eq!(split_port("[::1]:2022"), Ok(("::1", Some(2022))));
        assert_eq!(split_port("::1"), Ok(("::1", None)));
        assert!(split_port("a:x").is_err());
    }

    #[test]
    fn what_ssh_g_prints_becomes_the_endpoint() {
        let resolved = Resolved::parse(
            "hostname 10.0.0.11\nuser root\nport 2200\nidentityfile /k/%r_%p\nidentitiesonly yes\n\
             identityagent none\nproxycommand nc %h %p\nuserknownhostsfile /kh/%h\nglobalknownhostsfile /g\n\
             hostkeyalgorithms ssh-ed25519,rsa-sha2-512\nconnecttimeout 7\nhostkeyalias mira\n",
        );
        let query = HostQuery {
            label: "miramelle",
            destination: "miramelle",
            user: None,
            port: None,
            identity_file: None,
        };
        let (endpoint, jump) = from_openssh(&query, &resolved, &Resolved::default()).unwrap();
        assert_eq!(jump, None);
        assert_eq!(endpoint.identity_files, [PathBuf::from("/k/root_2200")]);
        assert!(endpoint.identities_only);
        assert_eq!(endpoint.agent, Agent::Disabled);
        assert_eq!(endpoint.via, Via::Command("nc 10.0.0.11 2200".into()));
        assert_eq!(endpoint.user_known_hosts, [PathBuf::from("/kh/10.0.0.11")]);
        assert_eq!(endpoint.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(endpoint.host_key_lookup().name(), "mira");

        let refusing = Resolved::parse("hostname h\nrevokedhostkeys /etc/ssh/krl\n");
        assert!(matches!(
            from_openssh(&query, &refusing, &Resolved::default()),
            Err(ResolveError::UnsupportedOption { option, .. }) if option == "RevokedHostKeys"
        ));
    }

    #[test]
    fn only_default_lists_are_reordered() {
        let list = |text: &str| text.split(',').map(String::from).collect::<Vec<_>>();
        let default = list("a-cert,b-cert,a,b,c");
        assert!(is_default_or_adjusted(&default, &default));
        assert!(is_default_or_adjusted(&list("a-cert,a,c"), &default), "- removes");
        assert!(
            is_default_or_adjusted(&list("a-cert,b-cert,a,b,c,x"), &default),
            "+ appends"
        );
        assert!(
            !is_default_or_adjusted(&list("x,a-cert,b-cert,a,b,c"), &default),
            "^ prepends"
        );
        assert!(!is_default_or_adjusted(&list("c,a"), &default), "written out");
        assert!(
            !is_default_or_adjusted(&list("a-cert,a"), &default),
            "a short list in the default's order"
        );
    }
}
