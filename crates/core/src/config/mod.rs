//! `vigie.toml`: the inventory (hosts, groups) and settings.
//!
//! Loading is strict: every unknown key, duplicate host, bad address or unknown
//! group member is reported with `file:line:column` and a hint, and a config
//! with errors is never used. See `assets/vigie.example.toml` for the format.

pub(crate) mod diagnostic;
mod validate;

pub use diagnostic::{line_column, Diagnostic};
pub use validate::is_valid_name;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The commented example written by `vigie init`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../../assets/vigie.example.toml");

/// Where the config came from, shown in the header and in `vigie check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No file was found: only this machine, through the local transport.
    EmbeddedDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    #[default]
    Linux,
    Proxmox,
    Libvirt,
    Esxi,
    Xen,
}

impl HostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKind::Linux => "linux",
            HostKind::Proxmox => "proxmox",
            HostKind::Libvirt => "libvirt",
            HostKind::Esxi => "esxi",
            HostKind::Xen => "xen",
        }
    }

    /// Hypervisors own VMs; the dashboard nests their VMs under them.
    pub fn is_hypervisor(self) -> bool {
        !matches!(self, HostKind::Linux)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Ssh,
    /// Commands run on the machine vigie runs on, without SSH.
    Local,
}

/// One `[[hosts]]` entry, with source spans kept for later diagnostics.
#[derive(Debug, Clone, Deserialize)]
pub struct HostEntry {
    pub name: Spanned<String>,
    /// IP address, DNS name, or a `Host` alias of `~/.ssh/config`. Defaults to `name`.
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub transport: TransportKind,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Jump host: the name of another host of the inventory, or `[user@]host[:port]`.
    #[serde(default)]
    pub jump: Option<Spanned<String>>,
    #[serde(default)]
    pub identity_file: Option<PathBuf>,
    #[serde(default)]
    pub kind: HostKind,
    /// What the host is for: `db`, `backup`, `web`... Drivers and playbooks use it.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Directories of disk images (qcow2...) to watch as datastores.
    #[serde(default)]
    pub datastores: Vec<String>,
    /// Backup repositories whose freshness and contents to check.
    #[serde(default)]
    pub backups: Vec<BackupConfig>,
    /// MariaDB/MySQL option file on the host with the credentials (role = "db").
    #[serde(default)]
    pub db_defaults_file: Option<String>,
    /// Where pam_faillock keeps its tallies, if not its default.
    #[serde(default)]
    pub faillock_dir: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupTool {
    Restic,
    Borg,
}

impl BackupTool {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupTool::Restic => "restic",
            BackupTool::Borg => "borg",
        }
    }
}

/// One `backups = [{ ... }]` entry of a host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BackupConfig {
    pub tool: BackupTool,
    /// Repository as the tool names it, on the host (path or URL).
    pub repo: String,
    /// File on the host holding the repository password.
    #[serde(default)]
    pub password_file: Option<String>,
    /// Paths that must be in the latest snapshot.
    #[serde(default)]
    pub essential: Vec<String>,
    /// Older than this, the backup is stale (default 26h).
    #[serde(default = "default_backup_age", with = "duration_text")]
    pub max_age: Duration,
}

fn default_backup_age() -> Duration {
    Duration::from_secs(26 * 3600)
}

/// `[settings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    #[serde(with = "duration_text")]
    pub poll_interval: Duration,
    #[serde(with = "duration_text")]
    pub connect_timeout: Duration,
    #[serde(with = "duration_text")]
    pub command_timeout: Duration,
    pub incidents_dir: Option<PathBuf>,
    /// A unix group that shares the incidents directory (setgid 2770, files
    /// 0660), for responders on one bastion under their own logins; without
    /// it everything is private to the user (0700/0600).
    pub incidents_group: Option<String>,
    pub playbooks_dir: Option<PathBuf>,
    /// Name written as `actor` in the timeline; defaults to `user@host`.
    pub responder: Option<String>,
    /// vigie's own known_hosts file, checked before the user's.
    pub known_hosts: Option<PathBuf>,
    /// An OpenSSH client config to use instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// Extra regexes whose matches are redacted from the timeline (group 1 is kept).
    pub redact_patterns: Vec<Spanned<String>>,
    /// Bytes of command output kept per event in the timeline (default 64 KiB).
    pub timeline_output_cap: Option<usize>,
    /// Let the cockpit take the mouse (click to select, wheel to scroll).
    /// Off by default: it takes over the terminal's own text selection.
    pub mouse: bool,
    /// The responders' time zone (an IANA name, `Europe/Paris`) for the
    /// report's local times; default: the machine's.
    pub timezone: Option<Spanned<String>>,
    /// Where incidents are shared with other machines: `HOST:PATH` of a bare
    /// git repository (`vigie sync init`), HOST an inventory name or an ssh
    /// destination; tried in order.
    pub sync_remotes: Vec<Spanned<String>>,
    /// How often the cockpit and `vigie watch` sync while an incident is open.
    #[serde(with = "duration_text")]
    pub sync_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            incidents_dir: None,
            incidents_group: None,
            playbooks_dir: None,
            responder: None,
            known_hosts: None,
            ssh_config: None,
            redact_patterns: Vec::new(),
            timeline_output_cap: None,
            mouse: false,
            timezone: None,
            sync_remotes: Vec::new(),
            sync_interval: Duration::from_secs(3),
        }
    }
}

/// The file as written, before validation.
#[derive(Debug, Clone, Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    hosts: Vec<HostEntry>,
    #[serde(default)]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    /// `[keys]`: action name = key or list of keys.
    #[serde(default)]
    keys: BTreeMap<String, Spanned<KeyList>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// One entry of `[keys]`: the cockpit action it rebinds and its new keys,
/// with its place in the file for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOverride {
    pub action: String,
    pub keys: Vec<String>,
    /// A diagnostic at the entry, message left empty: see [`KeyOverride::diagnostic`].
    pub place: Diagnostic,
}

impl KeyOverride {
    /// A problem with this entry, located at it.
    pub fn diagnostic(&self, message: String) -> Diagnostic {
        Diagnostic {
            message,
            ..self.place.clone()
        }
    }
}

/// A host of the validated inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub transport: TransportKind,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub jump: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub kind: HostKind,
    pub role: Option<String>,
    pub tags: Vec<String>,
    pub datastores: Vec<String>,
    pub backups: Vec<BackupConfig>,
    pub db_defaults_file: Option<String>,
    pub faillock_dir: Option<String>,
}

impl Host {
    /// A host with only a name and an address; the rest defaults.
    pub fn named(name: &str, address: &str) -> Host {
        Host {
            name: name.to_string(),
            address: address.to_string(),
            transport: TransportKind::Ssh,
            user: None,
            port: None,
            jump: None,
            identity_file: None,
            kind: HostKind::Linux,
            role: None,
            tags: vec![],
            datastores: vec![],
            backups: vec![],
            db_defaults_file: None,
            faillock_dir: None,
        }
    }
}

/// How `on=` names the hosts of a tag: `on=tag:rack-a`.
pub const TAG_TARGET: &str = "tag:";

/// A validated configuration: every name is unique and every reference resolves.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: ConfigSource,
    pub settings: Settings,
    pub hosts: Vec<Host>,
    pub groups: BTreeMap<String, Vec<String>>,
    /// `[keys]`, already checked against the cockpit's key table.
    pub keys: Vec<KeyOverride>,
}

impl Config {
    /// Finds the config as the design says: `--config`, `$VIGIE_CONFIG`,
    /// `./vigie.toml`, `$XDG_CONFIG_HOME/vigie/vigie.toml`; else the embedded default.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, Vec<Diagnostic>> {
        match find_config_file(explicit) {
            Some(path) => Config::load(&path),
            None => Ok(Config::embedded_default()),
        }
    }

    pub fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Diagnostic::whole_file(path, format!("cannot read the config: {e}"))])?;
        Config::parse(path, &text)
    }

    /// Parses and validates `text`; `path` is only used to name the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Diagnostic>> {
        let raw = validate::deserialize(path, text)?;
        validate::check(path, text, raw)
    }

    /// Only this machine, watched through the local transport.
    pub fn embedded_default() -> Config {
        Config {
            source: ConfigSource::EmbeddedDefault,
            settings: Settings::default(),
            hosts: vec![Host {
                transport: TransportKind::Local,
                ..Host::named(&local_host_name(), "localhost")
            }],
            groups: BTreeMap::new(),
            keys: Vec::new(),
        }
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The zone of the report's local times: `timezone` (checked when the
    /// config was read), else the machine's.
    pub fn report_zone(&self) -> crate::report::Zone {
        self.settings
            .timezone
            .as_ref()
            .and_then(|name| crate::report::Zone::named(name.get_ref()))
            .unwrap_or_else(crate::report::Zone::machine)
    }

    /// The hosts tagged `tag`, in the inventory's order.
    pub fn hosts_tagged(&self, tag: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.tags.iter().any(|t| t == tag))
            .map(|h| h.name.clone())
            .collect()
    }

    /// What a command's `on=` may name besides a host: each group, and
    /// `tag:<tag>` for every tag a host carries (`on=tag:rack-a` runs on
    /// each host tagged rack-a, as a group does).
    pub fn target_groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut targets = self.groups.clone();
        for tag in self.hosts.iter().flat_map(|h| &h.tags) {
            targets
                .entry(format!("{TAG_TARGET}{tag}"))
                .or_insert_with(|| self.hosts_tagged(tag));
        }
        targets
    }

    /// vigie's own known_hosts (pins written by `vigie trust`).
    pub fn own_known_hosts(&self) -> PathBuf {
        self.settings
            .known_hosts
            .as_ref()
            .map(|p| crate::config::expand_tilde(&p.to_string_lossy()))
            .unwrap_or_else(|| {
                xdg_dir("XDG_DATA_HOME", ".local/share")
                    .join("vigie")
                    .join("known_hosts")
            })
    }

    /// Where incidents live: the setting, else `$XDG_DATA_HOME/vigie/incidents`.
    pub fn incidents_dir(&self) -> PathBuf {
        self.settings
            .incidents_dir
            .clone()
            .unwrap_or_else(|| xdg_dir("XDG_DATA_HOME", ".local/share").join("vigie").join("incidents"))
    }
}

/// The first config file of the lookup order that exists.
pub fn find_config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        // An explicit path is used even if missing, so that the error names it.
        return Some(path.to_path_buf());
    }
    if let Some(env) = std::env::var_os("VIGIE_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(env));
    }
    let local = PathBuf::from("vigie.toml");
    if local.is_file() {
        return Some(local);
    }
    let user = xdg_dir("XDG_CONFIG_HOME", ".config").join("vigie").join("vigie.toml");
    user.is_file().then_some(user)
}

pub(crate) fn xdg_dir(variable: &str, fallback_under_home: &str) -> PathBuf {
    match std::env::var_os(variable).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(fallback_under_home)
        }
    }
}

/// This machine's host name, as `uname -n` gives it.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Durations written as text (`"5s"`, `"500ms"`, `"2m"`), as humans write them.
mod duration_text {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::format::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `$HOME`, if set.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `~/x` → `$HOME/x`.
pub fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}
