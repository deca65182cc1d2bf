//! Asking the system's OpenSSH how it would connect to a host: `ssh -G`
//! evaluates `~/.ssh/config` and `/etc/ssh/ssh_config` exactly as `ssh` does
//! (`Include`, `Match`, `Host` patterns, first value wins, defaults) and
//! prints the result. vigie reads that instead of re-implementing the rules;
//! it expands only the `%` tokens `ssh -G` leaves as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a host's ssh settings cannot be used; shown to responders as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot run {ssh}: {reason}")]
    CannotRunSsh { ssh: String, reason: String },
    /// `ssh -G` refused the configuration; `said` is its own message (`file: line N: ...`).
    #[error("`ssh -G {destination}` failed: {said}")]
    SshRefused { destination: String, said: String },
    #[error("{text:?}: {problem}")]
    Expansion { text: String, problem: String },
    #[error("ssh -G printed a bad port {0:?}")]
    BadPort(String),
    #[error("bad port in jump host {0:?}")]
    BadJumpPort(String),
    #[error("the jump hosts form a loop: more than 8 hops deep at {0}")]
    JumpLoop(String),
    #[error(
        "the ssh configuration of {destination} sets {option}, which vigie does not read: refusing the host rather \
         than accepting keys ssh would refuse"
    )]
    UnsupportedOption { destination: String, option: String },
}

/// What `ssh -G` printed for one destination: keyword (lowercase) → values,
/// in order (a keyword such as `identityfile` may come several times).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    values: HashMap<String, Vec<String>>,
}

impl Resolved {
    pub fn parse(text: &str) -> Resolved {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for line in text.lines() {
            if let Some((keyword, value)) = line.split_once(' ') {
                values
                    .entry(keyword.to_ascii_lowercase())
                    .or_default()
                    .push(value.trim().to_string());
            }
        }
        Resolved { values }
    }

    /// The first value of `keyword`.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.values.get(keyword)?.first().map(String::as_str)
    }

    /// Every value of a keyword that may repeat (`identityfile`).
    pub fn all(&self, keyword: &str) -> &[String] {
        self.values.get(keyword).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A keyword whose one value is a space-separated list of file names
    /// (`userknownhostsfile`). `ssh -G` prints a name holding a space
    /// unquoted, so a word that does not start a path (`/` or `~`) belongs
    /// to the name before it. `none` is no file.
    pub fn path_list(&self, keyword: &str) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        for word in self
            .get(keyword)
            .unwrap_or_default()
            .split(' ')
            .filter(|w| !w.is_empty())
        {
            match paths.last_mut() {
                Some(last) if !word.starts_with('/') && !word.starts_with('~') => {
                    last.push(' ');
                    last.push_str(word);
                }
                _ => paths.push(word.to_string()),
            }
        }
        if paths == ["none"] {
            paths.clear();
        }
        paths
    }

    pub fn flag(&self, keyword: &str) -> bool {
        matches!(self.get(keyword), Some("yes" | "true"))
    }

    /// A duration in seconds; `none` and `0` are unset.
    pub fn seconds(&self, keyword: &str) -> Option<Duration> {
        let seconds: u64 = self.get(keyword)?.parse().ok()?;
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }
}

/// What vigie passes to `ssh -G` from vigie.toml (its values win, as
/// command-line options win over the config file in OpenSSH).
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub destination: &'a str,
    pub user: Option<&'a str>,
    pub port: Option<u16>,
    pub identity_file: Option<&'a Path>,
    /// `-F`: a config file instead of `~/.ssh/config`.
    pub config_file: Option<&'a Path>,
}

/// The `ssh` program on `PATH`, if there is one.
pub fn find_ssh() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("ssh"))
        .find(|candidate| candidate.is_file())
}

/// Longest `ssh -G` may take (a `Match exec` runs a command of the user's).
const SSH_G_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `ssh -G` for `query`.
pub fn resolve(ssh: &Path, query: &Query) -> Result<Resolved, ResolveError> {
    let mut command = Command::new(ssh);
    command.args(["-G", "-T"]);
    if let Some(file) = query.config_file {
        command.arg("-F").arg(file);
    }
    if let Some(user) = query.user {
        command.arg("-l").arg(user);
    }
    if let Some(port) = query.port {
        command.arg("-p").arg(port.to_string());
    }
    if let Some(identity) = query.identity_file {
        command.arg("-i").arg(identity);
    }
    command
        .arg("--")
        .arg(query.destination)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = run_with_timeout(command, SSH_G_TIMEOUT).map_err(|e| ResolveError::CannotRunSsh {
        ssh: ssh.display().to_string(),
        reason: e.to_string(),
    })?;
    if !output.status.success() {
        let stderr = vigie_core::sanitize::from_host_bytes(&output.stderr);
        let reason = stderr
            .lines()
            .filter(|l| !l.starts_with("Pseudo-terminal"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ResolveError::SshRefused {
            destination: query.destination.to_string(),
            said: reason.trim().to_string(),
        });
    }
    Ok(Resolved::parse(&String::from_utf8_lossy(&output.stdout)))
}

/// What `ssh -G` prints with no configuration file at all (`-F /dev/null`):
/// OpenSSH's built-in defaults, to tell a configured value from a default one.
pub fn built_in_defaults(ssh: &Path) -> Resolved {
    resolve(
        ssh,
        &Query {
            destination: "vigie-defaults.invalid",
            config_file: Some(Path::new("/dev/null")),
            ..Query::default()
        },
    )
    .unwrap_or_default()
}

fn run_with_timeout(mut command: Command, timeout: Duration) -> std::io::Result<std::process::Output> {
    let mut child = command.spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return child.wait_with_output();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}s", timeout.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What is wrong with a text to expand, for [`ResolveError::Expansion`].
type Problem = String;

/// The values `%` tokens stand for (ssh_config(5) "TOKENS").
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// `%h`: the host name connected to.
    pub host: String,
    /// `%n`: the name as given (the inventory's address).
    pub original_host: String,
    pub port: u16,
    /// `%r`: the remote user.
    pub user: String,
    /// `%j`: the ProxyJump value, or empty.
    pub proxy_jump: String,
    /// `%k`: the HostKeyAlias, or the original host.
    pub host_key_alias: Option<String>,
}

/// Expands `~/`, `${VAR}` environment variables and the `%` tokens of
/// `text` as ssh does for file names and ProxyCommand. An unknown token or
/// an unset variable is an error, as in ssh.
pub fn expand(text: &str, tokens: &Tokens) -> Result<String, ResolveError> {
    expand_text(text, tokens).map_err(|problem| ResolveError::Expansion {
        text: text.to_string(),
        problem,
    })
}

/// The expansion itself; the error says what is wrong with the text.
fn expand_text(text: &str, tokens: &Tokens) -> Result<String, Problem> {
    let local = LocalUser::current();
    let text = expand_environment(text)?;
    let text = match text.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", local.home.display()),
        None if text == "~" => local.home.display().to_string(),
        None => text.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let token = chars.next().ok_or_else(|| "it ends with a lone %".to_string())?;
        match token {
            '%' => out.push('%'),
            'h' => out.push_str(&tokens.host),
            'n' => out.push_str(&tokens.original_host),
            'p' => out.push_str(&tokens.port.to_string()),
            'r' => out.push_str(&tokens.user),
            'j' => out.push_str(&tokens.proxy_jump),
            'k' => out.push_str(tokens.host_key_alias.as_deref().unwrap_or(&tokens.original_host)),
            'd' => out.push_str(&local.home.display().to_string()),
            'u' => out.push_str(&local.name),
            'i' => out.push_str(&local.uid.to_string()),
            'l' => out.push_str(&local_host_name()),
            'L' => out.push_str(local_host_name().split('.').next().unwrap_or_default()),
            'C' => out.push_str(&connection_hash(tokens)),
            other => return Err(format!("unknown token %{other}")),
        }
    }
    Ok(out)
}

/// `${NAME}` → the value of environment variable NAME (ssh's `dollar_expand`).
fn expand_environment(text: &str) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| "an unterminated ${".to_string())?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `%C`: SHA-1 of `%l%h%p%r%j` in hex, as ssh computes it.
fn connection_hash(tokens: &Tokens) -> String {
    use sha1::Digest;
    let text = format!(
        "{}{}{}{}{}",
        local_host_name(),
        tokens.host,
        tokens.port,
        tokens.user,
        tokens.proxy_jump
    );
    sha1::Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn local_host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most buffer.len() bytes into the buffer.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    if !ok {
        return String::new();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The local account, from the password database: OpenSSH takes the home
/// directory from there, not from `$HOME`, and so does vigie for ssh files.
#[derive(Debug, Clone)]
pub struct LocalUser {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
}

impl LocalUser {
    pub fn current() -> LocalUser {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let mut record: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buffer = vec![0u8; 16 * 1024];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings the record
        // points to live in `buffer`, which outlives their use below.
        let status =
            unsafe { libc::getpwuid_r(uid, &mut record, buffer.as_mut_ptr().cast(), buffer.len(), &mut found) };
        let fallback_home = || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/".into())
        };
        if status != 0 || found.is_null() {
            return LocalUser {
                name: std::env::var("USER").unwrap_or_default(),
                uid,
                home: fallback_home(),
            };
        }
        // SAFETY: getpwuid_r succeeded, so both fields are NUL-terminated strings in `buffer`.
        let (name, home) = unsafe {
            (
                std::ffi::CStr::from_ptr(record.pw_name).to_string_lossy().into_owned(),
                std::ffi::CStr::from_ptr(record.pw_dir).to_string_lossy().into_owned(),
            )
        };
        LocalUser {
            name,
            uid,
            home: PathBuf::from(home),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_ssh_g_prints() {
        let resolved = Resolved::parse(
            "user bob\nhostname 10.0.0.11\nport 2200\nidentityfile ~/.ssh/id_a\nidentityfile %d/k\n\
             userknownhostsfile /a /b\nconnecttimeout none\nserveraliveinterval 0\nidentitiesonly yes\n",
        );
        assert_eq!(resolved.get("user"), Some("bob"));
        assert_eq!(resolved.all("identityfile"), ["~/.ssh/id_a", "%d/k"]);
        assert_eq!(resolved.path_list("userknownhostsfile"), ["/a", "/b"]);
        assert_eq!(resolved.seconds("connecttimeout"), None);
        assert_eq!(resolved.seconds("serveraliveinterval"), None);
        assert!(resolved.flag("identitiesonly"));
        let spaced = Resolved::parse("userknownhostsfile /h/.ssh/kh/with space /h/other\nglobalknownhostsfile none\n");
        assert_eq!(
            spaced.path_list("userknownhostsfile"),
            ["/h/.ssh/kh/with space", "/h/other"]
        );
        assert!(spaced.path_list("globalknownhostsfile").is_empty());
    }

    #[test]
    fn tokens_expand_as_in_ssh() {
        let tokens = Tokens {
            host: "10.0.0.11".into(),
            original_host: "miramelle".into(),
            port: 2200,
            user: "root".into(),
            ..Default::default()
        };
        let home = LocalUser::current().home;
        assert_eq!(
            expand("~/.ssh/%r@%n:%p_%h%%", &tokens).unwrap(),
            format!("{}/.ssh/root@miramelle:2200_10.0.0.11%", home.display())
        );
        assert_eq!(expand("%k", &tokens).unwrap(), "miramelle");
        assert_eq!(expand("%C", &tokens).unwrap().len(), 40);
        assert!(expand("%z", &tokens).is_err());
        assert!(expand("50%", &tokens).is_err());
        std::env::set_var("VIGIE_TEST_KEY_NAME", "ops");
        assert_eq!(expand("/k/${VIGIE_TEST_KEY_NAME}-%r", &tokens).unwrap(), "/k/ops-root");
        assert!(expand("/k/${VIGIE_SURELY_UNSET_VARIABLE}", &tokens).is_err());
    }
}
