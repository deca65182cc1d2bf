//! How commands reach hosts: the local machine, or SSH.
//!
//! Every transport runs a *script*: the script's text is sent on the command's
//! standard input and read whole by a small fixed wrapper before it runs, so
//! values never appear on a command line and the script's own commands cannot
//! swallow the rest of it (they get `/dev/null` as stdin).

pub mod auth;
mod blocking_pool;
pub mod endpoint;
pub mod host_pattern;
pub mod known_hosts;
pub mod local;
pub mod openssh;
pub mod proxy_command;
pub mod ssh;
pub mod ssh_command;
pub mod ssh_config;
mod ssh_driver;
mod ssh_shell;

use std::sync::Arc;
use std::time::Duration;
use vigie_core::config::{Config, Host, TransportKind};

/// The fixed command line every transport starts. It reads the whole script
/// from stdin into memory (never a file), refuses to run it unless it ends
/// with the end marker (a connection cut mid-script must not run half a
/// script), detaches stdin, and runs it without the marker, so that the
/// script's exit status is its own last command's, not the marker's.
pub const STDIN_SCRIPT_RUNNER: &str = "script=$(cat) && case \"$script\" in *\": vigie-end-of-script\") ;; \
     *) echo \"vigie: incomplete script, not run\" >&2; exit 125;; esac && exec </dev/null && \
     eval \"${script%: vigie-end-of-script}\"";

/// The last line of every script sent, checked by [`STDIN_SCRIPT_RUNNER`].
const END_OF_SCRIPT: &str = ": vigie-end-of-script";

/// `script` as sent on stdin: followed by the end marker.
pub fn framed_script(script: &str) -> String {
    format!("{script}\n{END_OF_SCRIPT}\n")
}

/// Raises this process's limit of open files to what the system allows:
/// one SSH session per host is a socket per host, and a fleet of a
/// thousand does not fit the default soft limit of 1024. Best effort.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Keeps glibc's allocator from giving each of the threads that connect a
/// thousand sessions an arena of its own, which holds memory freed long
/// ago: two arenas are plenty for threads that mostly wait on a socket.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt with a documented parameter, before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Gives back to the system the memory the allocator holds free: after a
/// thousand sessions' handshakes, most of what they allocated is free but
/// still mapped. Cheap; called now and then by long-running processes.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Default in-memory cap for one stream of a command's output.
pub const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct CommandRequest {
    pub script: String,
    pub timeout: Duration,
    /// Bytes kept per stream; the rest is counted, not stored.
    pub output_cap: usize,
    /// Set to true to stop the command (and its whole process group).
    pub cancel: CancelFlag,
    /// Receives every chunk of output (both streams) as it arrives, for
    /// showing a long command live; the capped copy is still returned.
    pub live: Option<LiveOutput>,
    /// Run in the SSH session's long-lived shell (`ssh_shell.rs`) rather than
    /// on a channel of its own: the login shell and its rc files are paid
    /// once per session, not once per run. For probes: such a script sees no
    /// stdin, and a timeout restarts the shell rather than killing the
    /// script alone. Ignored by the local transport.
    pub session_shell: bool,
}

/// Where a running command's output chunks go, raw: the receiver sanitizes.
/// Bounded ([`LIVE_CHUNKS`]): when the receiver falls behind, reading from
/// the host waits, so memory stays flat whatever the output's size.
pub type LiveOutput = tokio::sync::mpsc::Sender<Vec<u8>>;

/// Chunks in flight between a command's reader and whoever shows it.
pub const LIVE_CHUNKS: usize = 64;

/// Shared flag a caller sets to cancel a running command.
pub type CancelFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

impl CommandRequest {
    pub fn new(script: impl Into<String>, timeout: Duration) -> Self {
        CommandRequest {
            script: script.into(),
            timeout,
            output_cap: DEFAULT_OUTPUT_CAP,
            cancel: CancelFlag::default(),
            live: None,
            session_shell: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit status; `None` if killed by a signal.
    pub exit: Option<i32>,
    /// Bytes received beyond the cap (both streams), dropped.
    pub dropped_bytes: u64,
    pub elapsed: Duration,
}

impl CommandOutput {
    pub fn stdout_text(&self) -> String {
        vigie_core::sanitize::from_host_bytes(&self.stdout)
    }

    pub fn stderr_text(&self) -> String {
        vigie_core::sanitize::from_host_bytes(&self.stderr)
    }
}

pub use vigie_core::transport_error::TransportError;

/// A way to run scripts on one host.
#[derive(Clone)]
pub enum Transport {
    Local,
    Ssh(ssh::SshHandle),
}

impl Transport {
    /// The transport for `host`; an SSH host's session resolves its ssh
    /// settings itself when it first connects (on a worker thread).
    /// `config` is shared: a thousand hosts waiting to be resolved must
    /// not hold a thousand copies of an inventory of a thousand.
    pub fn for_host(
        config: &Arc<Config>,
        resolver: &endpoint::Resolver,
        host: &Host,
        options: &ssh::SshOptions,
    ) -> Transport {
        match host.transport {
            TransportKind::Local => Transport::Local,
            TransportKind::Ssh => {
                let (config, resolver, inventory_host) = (Arc::clone(config), resolver.clone(), host.clone());
                let target = ssh::Target::Resolve {
                    label: host.name.clone(),
                    resolve: Box::new(move || resolver.resolve(&config, &inventory_host)),
                };
                Transport::Ssh(ssh::SshHandle::spawn_target(target, options.clone()))
            }
        }
    }

    pub async fn run(&self, request: CommandRequest) -> Result<CommandOutput, TransportError> {
        match self {
            Transport::Local => local::run(&request).await,
            Transport::Ssh(handle) => handle.run(request).await,
        }
    }
}

impl ssh::SshOptions {
    /// Options from `[settings]`: vigie's own known_hosts under
    /// `$XDG_DATA_HOME/vigie/` unless set; the other known_hosts files come
    /// from each host's ssh configuration.
    pub fn from_config(config: &Config) -> ssh::SshOptions {
        let settings = &config.settings;
        ssh::SshOptions {
            connect_timeout: settings.connect_timeout,
            keepalive: Duration::from_secs(15),
            max_backoff: settings
                .poll_interval
                .clamp(Duration::from_secs(1), Duration::from_secs(30)),
            own_known_hosts: config.own_known_hosts(),
            passphrase: None,
        }
    }
}

/// Hands `chunk` to the live listener, if any (a listener gone away is not an error).
/// Sends a chunk from a session's own thread (never from async code),
/// waiting while the receiver is behind.
pub fn send_live(live: Option<&LiveOutput>, chunk: &[u8]) {
    if let Some(live) = live {
        if !chunk.is_empty() {
            let _ = live.blocking_send(chunk.to_vec());
        }
    }
}

/// [`send_live`], from async code.
pub async fn send_live_async(live: Option<&LiveOutput>, chunk: &[u8]) {
    if let Some(live) = live {
        if !chunk.is_empty() {
            let _ = live.send(chunk.to_vec()).await;
        }
    }
}

/// Appends `chunk` to `buffer` up to `cap` bytes, counting the rest in `dropped`.
pub fn append_capped(buffer: &mut Vec<u8>, chunk: &[u8], cap: usize, dropped: &mut u64) {
    let room = cap.saturating_sub(buffer.len());
    let kept = room.min(chunk.len());
    buffer.extend_from_slice(&chunk[..kept]);
    *dropped += (chunk.len() - kept) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_truncated_script_is_not_run() {
        let request = CommandRequest::new("echo ran", Duration::from_secs(5));
        let full = framed_script(&request.script);
        let truncated = &full[..full.len() - 4];
        // Send the truncated text as if it were complete (bypassing framing).
        let out = local::run_raw(truncated, &request).await.unwrap();
        assert_eq!(out.exit, Some(125));
        assert!(out.stdout.is_empty(), "nothing of it ran");
        let out = local::run(&request).await.unwrap();
        assert_eq!(out.stdout, b"ran\n");
    }

    #[tokio::test]
    async fn the_exit_status_is_the_scripts_own() {
        for (script, exit) in [("true", 0), ("echo out; false", 1), ("exit 7", 7), ("true\nfalse", 1)] {
            let out = local::run(&CommandRequest::new(script, Duration::from_secs(5)))
                .await
                .unwrap();
            assert_eq!(out.exit, Some(exit), "{script:?}");
        }
    }

    #[test]
    fn capped_append_counts_the_rest() {
        let mut buffer = Vec::new();
        let mut dropped = 0;
        append_capped(&mut buffer, b"hello", 3, &mut dropped);
        append_capped(&mut buffer, b"world", 3, &mut dropped);
        assert_eq!(buffer, b"hel");
        assert_eq!(dropped, 7);
    }
}
