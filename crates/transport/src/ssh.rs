//! The SSH transport on libssh2 (`ssh2`): one host's session and what runs on it.
//!
//! A host's [`HostSession`] holds its connection, its long-lived shell and
//! its reconnection backoff. It is owned by one thread at a time and never
//! touched from two: it lives on a driver thread of `ssh_driver.rs`, which
//! runs probes in the shell without blocking, and is lent whole to a
//! worker thread for what blocks (connecting, a playbook step on a channel
//! of its own, a kill). A jump host's session lives on a thread of its own,
//! which pumps bytes between a direct-tcpip channel and a socket pair handed
//! to the target's session.

use super::auth;
use super::endpoint::{Endpoint, Via};
use super::known_hosts::{self, KnownHostsFiles, ServerKey, Verdict};
use super::openssh::ResolveError;
use super::proxy_command::ProxyCommand;
use super::ssh_shell::{Progress, SessionShell, ShellCall, ShellError};
use super::{
    append_capped, framed_script, send_live, CommandOutput, CommandRequest, TransportError, STDIN_SCRIPT_RUNNER,
};
use ssh2::{BlockDirections, Channel, MethodType, Session};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Settings shared by every SSH connection.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    /// Idle time after which a keepalive is sent.
    pub keepalive: Duration,
    /// Longest wait between reconnection attempts to an unreachable host.
    pub max_backoff: Duration,
    /// vigie's own known_hosts (pins of `vigie trust`), read before the
    /// files the host's ssh configuration names.
    pub own_known_hosts: PathBuf,
    /// Asks the responder for a key file's passphrase (a terminal front-end
    /// sets it; the cockpit does not, and such keys must be in the agent).
    pub passphrase: Option<auth::PassphrasePrompt>,
}

impl SshOptions {
    /// Every known_hosts file that counts for `endpoint`.
    fn known_hosts_for(&self, endpoint: &Endpoint) -> KnownHostsFiles {
        KnownHostsFiles {
            own: self.own_known_hosts.clone(),
            user: endpoint.user_known_hosts.clone(),
            global: endpoint.global_known_hosts.clone(),
        }
    }

    fn connect_timeout_for(&self, endpoint: &Endpoint) -> Duration {
        endpoint.connect_timeout.unwrap_or(self.connect_timeout)
    }
}

/// Where a host's session gets its endpoint: given, or resolved (by `ssh -G`)
/// when it first connects, on the thread that connects, so that resolving a large
/// inventory never delays the start of the cockpit.
pub enum Target {
    Resolved(Box<Endpoint>),
    Resolve {
        label: String,
        resolve: Box<dyn FnMut() -> Result<Endpoint, ResolveError> + Send>,
    },
}

/// The remote command line. It never changes and carries no values: the
/// shell (a process group leader, as sshd starts it) reports its pid on
/// stderr so that a cancel can kill the whole group, then reads the script
/// from stdin. `exec /bin/sh` makes it independent of the login shell.
fn remote_command() -> String {
    format!("exec /bin/sh -c 'printf \"{PID_MARKER}%s\\n\" \"$$\" >&2; {STDIN_SCRIPT_RUNNER}'")
}

const PID_MARKER: &str = "@@vigie-pid ";

/// What a host's session is asked to do.
pub(crate) enum Job {
    Run {
        request: CommandRequest,
        reply: oneshot::Sender<Result<CommandOutput, TransportError>>,
    },
    HostKey {
        reply: oneshot::Sender<Result<(ServerKey, Verdict), TransportError>>,
    },
}

pub use super::ssh_driver::SshHandle;

/// An authenticated session, and the tunnel it runs over, if any.
struct Connection {
    session: Session,
    /// The long-lived shell probes run in, once started.
    shell: Option<SessionShell>,
    _tunnel: Tunnel,
    /// The key the host proved in the handshake, and the state of the
    /// known_hosts files it was checked against.
    host_key: ServerKey,
    checked_against: FilesStamp,
}

/// When each known_hosts file last changed (or that it is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilesStamp(Vec<Option<(std::time::SystemTime, u64)>>);

impl FilesStamp {
    fn of(files: &KnownHostsFiles) -> FilesStamp {
        FilesStamp(
            files
                .all()
                .map(|file| {
                    let meta = std::fs::metadata(file).ok()?;
                    Some((meta.modified().ok()?, meta.len()))
                })
                .collect(),
        )
    }
}

impl Connection {
    /// A session stays open for hours: when a known_hosts file changes (a
    /// key revoked, a line removed), its key is checked again, as a new
    /// connection would be, before anything else runs on it.
    fn still_trusted(&mut self, endpoint: &Endpoint, options: &SshOptions) -> Result<(), TransportError> {
        let files = options.known_hosts_for(endpoint);
        let stamp = FilesStamp::of(&files);
        if stamp == self.checked_against {
            return Ok(());
        }
        let lookup = endpoint.host_key_lookup();
        let verdict = known_hosts::check(&files, &lookup, &self.host_key, unix_now());
        known_hosts::enforce(verdict, &endpoint.label, &lookup, &self.host_key)?;
        self.checked_against = stamp;
        Ok(())
    }
}

/// One host's SSH state: its connection (with its shell), and how long
/// to wait before connecting again after a failure.
pub(crate) struct HostSession {
    target: Target,
    options: SshOptions,
    connection: Option<Connection>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<TransportError>,
    /// The known_hosts files as they were when a host key was refused: once
    /// a responder fixes them, the next poll tries again without waiting.
    refused_against: Option<FilesStamp>,
}

impl HostSession {
    pub(crate) fn new(target: Target, options: SshOptions) -> Self {
        HostSession {
            target,
            options,
            connection: None,
            failures: 0,
            retry_at: None,
            last_error: None,
            refused_against: None,
        }
    }

    pub(crate) fn keepalive_interval(&self) -> Duration {
        self.options.keepalive
    }

    /// Does `job`, blocking until it is done, and sends its reply.
    pub(crate) fn handle(&mut self, job: Job) {
        match job {
            Job::Run { request, reply } => {
                let result = self.run(&request);
                let _ = reply.send(result);
            }
            Job::HostKey { reply } => {
                let result = self
                    .endpoint()
                    .and_then(|endpoint| handshake_only(&endpoint, &self.options));
                let _ = reply.send(result);
            }
        }
    }

    /// Whether the connection is open (a keepalive has something to keep).
    pub(crate) fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Starts `request` in the session's shell without blocking, if it can
    /// go that way: a probe, on a connection whose shell runs and whose
    /// known_hosts files have not changed since its key was checked.
    /// Anything else (connecting, starting the shell, checking the key
    /// again) is for [`HostSession::handle`]. The session is left
    /// non-blocking for [`HostSession::advance`].
    pub(crate) fn begin_in_shell(&mut self, request: &CommandRequest) -> Option<ShellCall> {
        if !request.session_shell {
            return None;
        }
        let Target::Resolved(endpoint) = &self.target else {
            return None;
        };
        let connection = self.connection.as_mut()?;
        if FilesStamp::of(&self.options.known_hosts_for(endpoint)) != connection.checked_against {
            return None;
        }
        let shell = connection.shell.as_mut()?;
        connection.session.set_blocking(false);
        Some(shell.begin(request))
    }

    /// Moves a call begun by [`HostSession::begin_in_shell`] on.
    pub(crate) fn advance(&mut self, call: &mut ShellCall, buffer: &mut [u8]) -> Progress {
        match self.connection.as_mut() {
            Some(Connection { shell: Some(shell), .. }) => shell.advance(call, buffer),
            _ => Progress::Done(Err(ShellError::NotStarted)),
        }
    }

    /// The socket a call waits on, and for what (poll(2) events).
    pub(crate) fn wait_for(&self) -> Option<(RawFd, i16)> {
        let session = &self.connection.as_ref()?.session;
        Some((session.as_raw_fd(), poll_events(session)))
    }

    /// Ends a call of the shell that went wrong, as [`SessionShell::run`]
    /// would have: a call that never ran goes on a channel of its own (or
    /// a new connection); one that timed out kills the shell. Blocking.
    pub(crate) fn finish_failed_call(&mut self, request: CommandRequest, progress: Progress) -> CallEnd {
        let ended = match progress {
            Progress::Expired(error) => CallEnd::Failed(match self.connection.as_mut() {
                Some(Connection {
                    session,
                    shell: Some(shell),
                    ..
                }) => {
                    session.set_blocking(true);
                    shell.abandon(session, error)
                }
                _ => error,
            }),
            Progress::Done(Err(ShellError::Failed(error))) => CallEnd::Failed(error),
            Progress::Done(Ok(output)) => CallEnd::Ran(output),
            Progress::Done(Err(ShellError::NotStarted)) | Progress::Pending => CallEnd::Retry(request),
        };
        // Whatever went wrong, this shell is done with.
        if let Some(connection) = self.connection.as_mut() {
            connection.session.set_blocking(true);
            connection.shell = None;
        }
        ended
    }

    /// The error to answer at once while waiting to reconnect, without
    /// trying (which may block): `None` if it is time to try.
    pub(crate) fn backing_off(&self) -> Option<TransportError> {
        if self.connection.is_some() {
            return None;
        }
        let (Some(retry_at), Some(error)) = (self.retry_at, &self.last_error) else {
            return None;
        };
        let files_fixed = match (&self.refused_against, &self.target) {
            (Some(refused), Target::Resolved(endpoint)) => {
                *refused != FilesStamp::of(&self.options.known_hosts_for(endpoint))
            }
            _ => false,
        };
        (Instant::now() < retry_at && !files_fixed).then(|| error.clone())
    }

    /// The endpoint, resolving it first if that has not succeeded yet.
    fn endpoint(&mut self) -> Result<Endpoint, TransportError> {
        match &mut self.target {
            Target::Resolved(endpoint) => Ok(endpoint.as_ref().clone()),
            Target::Resolve { resolve, .. } => {
                let endpoint = resolve().map_err(|e| TransportError::Config(e.to_string()))?;
                self.target = Target::Resolved(Box::new(endpoint.clone()));
                Ok(endpoint)
            }
        }
    }

    /// Sends a keepalive on an idle connection (blocking); a connection
    /// that fails it is closed, and the next job connects again.
    pub(crate) fn keepalive(&mut self) {
        if let Some(connection) = &self.connection {
            connection.session.set_blocking(true);
            if connection.session.keepalive_send().is_err() {
                self.connection = None;
            }
        }
    }

    fn run(&mut self, request: &CommandRequest) -> Result<CommandOutput, TransportError> {
        let reused = self.connection.is_some();
        match self.run_once(request) {
            // A kept session may have died since its last use (host rebooted,
            // sshd restarted). The script never ran: reconnect and try once more,
            // so the responder sees the real state, not a stale session's error.
            Err(CommandError::NotStarted(_)) if reused => self.run_once(request).map_err(CommandError::into_transport),
            other => other.map_err(CommandError::into_transport),
        }
    }

    fn run_once(&mut self, request: &CommandRequest) -> Result<CommandOutput, CommandError> {
        self.ensure_connected().map_err(CommandError::Failed)?;
        // Connected, so the endpoint is resolved.
        if let (Some(connection), Target::Resolved(endpoint)) = (&mut self.connection, &self.target) {
            if let Err(refused) = connection.still_trusted(endpoint, &self.options) {
                self.connection = None;
                return Err(CommandError::Failed(refused));
            }
        }
        let Some(connection) = &mut self.connection else {
            return Err(CommandError::Failed(TransportError::Other("not connected".into())));
        };
        if request.session_shell {
            if let Some(result) = run_in_shell(connection, request) {
                return result;
            }
        }
        let result = run_command(&connection.session, request, self.options.connect_timeout);
        match &result {
            Ok(_) => {}
            // The command timed out but the connection answered the kill: keep it.
            Err(CommandError::Failed(TransportError::Timeout(_) | TransportError::Cancelled)) => {}
            Err(_) => self.connection = None,
        }
        result
    }

    /// Connects if needed, with exponential backoff between failed attempts.
    fn ensure_connected(&mut self) -> Result<(), TransportError> {
        if self.connection.is_some() {
            return Ok(());
        }
        if let Some(error) = self.backing_off() {
            return Err(error);
        }
        let connected = self.endpoint().and_then(|endpoint| connect(&endpoint, &self.options));
        match connected {
            Ok(connection) => {
                self.connection = Some(connection);
                self.failures = 0;
                self.retry_at = None;
                self.last_error = None;
                Ok(())
            }
            Err(error) => {
                self.refused_against = match &self.target {
                    Target::Resolved(endpoint) if error.is_host_key_refusal() => {
                        Some(FilesStamp::of(&self.options.known_hosts_for(endpoint)))
                    }
                    _ => None,
                };
                self.failures = self.failures.saturating_add(1);
                let backoff = Duration::from_secs(1u64 << self.failures.min(6).saturating_sub(1));
                self.retry_at = Some(Instant::now() + backoff.min(self.options.max_backoff));
                self.last_error = Some(error.clone());
                Err(error)
            }
        }
    }
}

/// Runs a probe in the session's long-lived shell, starting it if needed.
/// `None` when the shell cannot be had: the probe gets a channel of its own.
fn run_in_shell(connection: &mut Connection, request: &CommandRequest) -> Option<Result<CommandOutput, CommandError>> {
    if connection.shell.is_none() {
        connection.shell = SessionShell::start(&connection.session, request.timeout).ok();
    }
    let shell = connection.shell.as_mut()?;
    match shell.run(&connection.session, request) {
        Ok(output) => Some(Ok(output)),
        Err(ShellError::NotStarted) => {
            // The shell was gone before the probe ran: a channel of its own this time.
            connection.shell = None;
            None
        }
        Err(ShellError::Failed(error)) => {
            connection.shell = None;
            Some(Err(CommandError::Failed(error)))
        }
    }
}

fn timeout_ms(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Maps an error of the handshake or authentication phase.
fn session_error(context: &str, error: ssh2::Error) -> TransportError {
    if error.code() == ssh2::ErrorCode::Session(-9) {
        // LIBSSH2_ERROR_TIMEOUT
        return TransportError::ConnectTimeout;
    }
    TransportError::Unreachable(format!("{context}: {}", error.message()))
}

fn io_connect_error(error: std::io::Error) -> TransportError {
    match error.kind() {
        ErrorKind::ConnectionRefused => TransportError::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportError::ConnectTimeout,
        _ => TransportError::Unreachable(error.to_string()),
    }
}

/// What carries a session's bytes besides a plain TCP socket; dropping it
/// closes the tunnel (and stops a ProxyCommand).
enum Tunnel {
    None,
    Jump { _bridge: JumpBridge },
    Command(ProxyCommand),
}

/// Opens the byte stream to `endpoint`: TCP directly, through its jump host,
/// or through its ProxyCommand.
fn open_stream(endpoint: &Endpoint, options: &SshOptions) -> Result<(Stream, Tunnel), TransportError> {
    match &endpoint.via {
        Via::Direct => {
            let timeout = options.connect_timeout_for(endpoint);
            let addresses = (endpoint.host.as_str(), endpoint.port)
                .to_socket_addrs()
                .map_err(|e| TransportError::Unreachable(format!("cannot resolve {}: {e}", endpoint.host)))?;
            let mut last = TransportError::Unreachable(format!("{} has no address", endpoint.host));
            for address in addresses {
                match TcpStream::connect_timeout(&address, timeout) {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok((Stream::Tcp(stream), Tunnel::None));
                    }
                    Err(e) => last = io_connect_error(e),
                }
            }
            Err(last)
        }
        Via::Jump(hop) => {
            let (stream, bridge) = JumpBridge::open(endpoint, hop, options)?;
            Ok((Stream::Unix(stream), Tunnel::Jump { _bridge: bridge }))
        }
        Via::Command(command) => {
            let (stream, child) = ProxyCommand::spawn(command)
                .map_err(|e| TransportError::Unreachable(format!("cannot start ProxyCommand {command:?}: {e}")))?;
            Ok((Stream::Unix(stream), Tunnel::Command(child)))
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// OpenSSH's default `HostKeyAlgorithms` (ssh_config(5)), for endpoints
/// that name none.
const DEFAULT_HOST_KEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// Offers the host-key algorithms in the order ssh would: the configured
/// list, with the types already known for this host first (so that a host
/// known by its ECDSA key is not asked for its Ed25519 key and called changed).
fn prefer_host_key_algorithms(
    session: &Session,
    endpoint: &Endpoint,
    options: &SshOptions,
) -> Result<(), TransportError> {
    let configured: Vec<String> = if endpoint.host_key_algorithms.is_empty() {
        DEFAULT_HOST_KEY_ALGORITHMS.iter().map(|a| a.to_string()).collect()
    } else {
        endpoint.host_key_algorithms.clone()
    };
    let ordered = if endpoint.order_host_key_algorithms {
        known_hosts::preferred_algorithms(
            &options.known_hosts_for(endpoint),
            &endpoint.host_key_lookup(),
            &configured,
        )
    } else {
        configured.clone()
    };
    let supported = session
        .supported_algs(MethodType::HostKey)
        .map_err(|e| TransportError::Other(e.message().to_string()))?;
    let offered: Vec<String> = ordered
        .into_iter()
        .filter(|a| supported.contains(&a.as_str()))
        .collect();
    if offered.is_empty() {
        return Err(TransportError::Config(format!(
            "none of the HostKeyAlgorithms of {} is supported ({})",
            endpoint.label,
            configured.join(",")
        )));
    }
    session
        .method_pref(MethodType::HostKey, &offered.join(","))
        .map_err(|e| TransportError::Other(format!("host key algorithms: {}", e.message())))
}

/// A session that has completed the handshake (the server's key is known).
fn handshake(endpoint: &Endpoint, options: &SshOptions) -> Result<(Session, Tunnel), TransportError> {
    let (stream, tunnel) = open_stream(endpoint, options)?;
    let mut session = Session::new().map_err(|e| TransportError::Other(e.to_string()))?;
    session.set_timeout(timeout_ms(options.connect_timeout_for(endpoint)));
    prefer_host_key_algorithms(&session, endpoint, options)?;
    match stream {
        Stream::Tcp(s) => session.set_tcp_stream(s),
        Stream::Unix(s) => session.set_tcp_stream(s),
    }
    if let Err(e) = session.handshake() {
        let mut error = session_error("SSH handshake failed", e);
        if let (TransportError::Unreachable(message), Tunnel::Command(command)) = (&mut error, &tunnel) {
            if let Some(said) = command.stderr_tail() {
                message.push_str(&format!(" (ProxyCommand said: {said})"));
            }
        }
        return Err(error);
    }
    Ok((session, tunnel))
}

fn handshake_only(endpoint: &Endpoint, options: &SshOptions) -> Result<(ServerKey, Verdict), TransportError> {
    let (session, _tunnel) = handshake(endpoint, options)?;
    let key =
        ServerKey::from_session(&session).ok_or_else(|| TransportError::Other("the server sent no host key".into()))?;
    let verdict = known_hosts::check(
        &options.known_hosts_for(endpoint),
        &endpoint.host_key_lookup(),
        &key,
        unix_now(),
    );
    let _ = session.disconnect(None, "vigie: key check done", None);
    Ok((key, verdict))
}

/// Handshake, strict host-key check, authentication.
fn connect(endpoint: &Endpoint, options: &SshOptions) -> Result<Connection, TransportError> {
    let (session, tunnel) = handshake(endpoint, options)?;
    let key =
        ServerKey::from_session(&session).ok_or_else(|| TransportError::Other("the server sent no host key".into()))?;
    let files = options.known_hosts_for(endpoint);
    let checked_against = FilesStamp::of(&files);
    let lookup = endpoint.host_key_lookup();
    let verdict = known_hosts::check(&files, &lookup, &key, unix_now());
    known_hosts::enforce(verdict, &endpoint.label, &lookup, &key)?;
    auth::authenticate(&session, endpoint, options.passphrase.as_ref())?;
    let keepalive = endpoint.server_alive_interval.unwrap_or(options.keepalive);
    session.set_keepalive(false, u32::try_from(keepalive.as_secs()).unwrap_or(60).max(1));
    Ok(Connection {
        session,
        shell: None,
        _tunnel: tunnel,
        host_key: key,
        checked_against,
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How a call of the shell that did not simply succeed ended.
pub(crate) enum CallEnd {
    Ran(CommandOutput),
    Failed(TransportError),
    /// Nothing of it ran: do it again the blocking way.
    Retry(CommandRequest),
}

/// How a command failed: before the script could run (safe to retry), or after.
enum CommandError {
    NotStarted(TransportError),
    Failed(TransportError),
}

impl CommandError {
    fn into_transport(self) -> TransportError {
        match self {
            CommandError::NotStarted(e) | CommandError::Failed(e) => e,
        }
    }
}

/// Runs one script on a new channel, streaming stdout and stderr without
/// either blocking the other, until it exits, times out or is cancelled.
fn run_command(
    session: &Session,
    request: &CommandRequest,
    io_timeout: Duration,
) -> Result<CommandOutput, CommandError> {
    let started = Instant::now();
    let mut channel = start_command(session, request, io_timeout).map_err(CommandError::NotStarted)?;
    stream_output(session, &mut channel, request, started).map_err(CommandError::Failed)
}

/// Opens a channel and sends the framed script. Until the end marker has
/// arrived the remote side runs nothing, so a failure here is safe to retry.
fn start_command(session: &Session, request: &CommandRequest, io_timeout: Duration) -> Result<Channel, TransportError> {
    session.set_blocking(true);
    session.set_timeout(timeout_ms(io_timeout));
    let channel_error = |what: &str, e: ssh2::Error| TransportError::Unreachable(format!("{what}: {}", e.message()));
    let mut channel = session
        .channel_session()
        .map_err(|e| channel_error("cannot open a channel", e))?;
    channel
        .exec(&remote_command())
        .map_err(|e| channel_error("cannot start the command", e))?;
    channel
        .write_all(framed_script(&request.script).as_bytes())
        .map_err(|e| TransportError::Unreachable(format!("cannot send the script: {e}")))?;
    channel
        .send_eof()
        .map_err(|e| channel_error("cannot send the script", e))?;
    Ok(channel)
}

/// Streams stdout and stderr (neither blocks the other) until the command
/// exits, times out or is cancelled; a timeout or cancel kills its process group.
fn stream_output(
    session: &Session,
    channel: &mut Channel,
    request: &CommandRequest,
    started: Instant,
) -> Result<CommandOutput, TransportError> {
    let mut read = (CommandOutput::default(), PidReader::default());
    let end = read_until(
        session,
        channel,
        &mut read,
        started + request.timeout,
        Some(&request.cancel),
        |(output, pid), is_stderr, chunk| {
            let chunk = if is_stderr { pid.feed(chunk) } else { chunk };
            send_live(request.live.as_ref(), chunk);
            let stream = if is_stderr {
                &mut output.stderr
            } else {
                &mut output.stdout
            };
            append_capped(stream, chunk, request.output_cap, &mut output.dropped_bytes);
        },
        |_| false,
    );
    let (mut output, mut pid) = read;
    let outcome = match end {
        ReadEnd::Done | ReadEnd::Eof => Ok(()),
        ReadEnd::Cancelled => Err(TransportError::Cancelled),
        ReadEnd::TimedOut => Err(TransportError::Timeout(request.timeout)),
        ReadEnd::Lost(e) => Err(TransportError::Unreachable(format!("connection lost: {e}"))),
    };
    match outcome {
        Ok(()) => {
            let _ = channel.wait_close();
            output.exit = match channel.exit_signal() {
                Ok(signal) if signal.exit_signal.is_some() => None,
                _ => channel.exit_status().ok(),
            };
            output.elapsed = started.elapsed();
            Ok(output)
        }
        Err(error @ (TransportError::Timeout(_) | TransportError::Cancelled)) => {
            // A slow login shell (rc files) may not have reported its pid yet.
            if pid.pid().is_none() {
                wait_for_pid(session, channel, &mut pid, PID_GRACE);
            }
            // Kill the remote process group over a second channel, then close ours.
            let killed = pid.pid().map(|p| kill_remote_group(session, p)).unwrap_or(false);
            let _ = channel.close();
            if killed {
                Err(error)
            } else {
                Err(TransportError::Unreachable(format!(
                    "{error}, and the host did not answer the kill"
                )))
            }
        }
        Err(error) => Err(error),
    }
}

/// How long a cancelled command may take to report its pid before we give up killing it.
const PID_GRACE: Duration = Duration::from_secs(3);

fn wait_for_pid(session: &Session, channel: &mut Channel, pid: &mut PidReader, grace: Duration) {
    session.set_blocking(false);
    let until = Instant::now() + grace;
    let mut buffer = vec![0u8; 4096];
    while pid.pid().is_none() && !pid.done && Instant::now() < until && !channel.eof() {
        // Drain stdout so a full window cannot block the marker on stderr.
        let _ = read_some(channel, &mut buffer, false);
        match read_some(channel, &mut buffer, true) {
            ReadResult::Data(n) => {
                pid.feed(&buffer[..n]);
            }
            ReadResult::Error(_) => break,
            ReadResult::Nothing => wait_for_socket(session, Duration::from_millis(50)),
        }
    }
    session.set_blocking(true);
}

/// How reading a channel ended (see [`read_until`]).
pub(crate) enum ReadEnd {
    /// `done` said so.
    Done,
    /// The channel ended.
    Eof,
    Cancelled,
    TimedOut,
    Lost(std::io::Error),
}

/// Reads both streams of `channel` into `state` (each chunk through `feed`,
/// `true` for stderr) until `done(state)`, the channel's end, `cancel`,
/// `deadline`, or a read error; between reads it waits at most 50 ms for
/// the socket. The session is blocking again on return.
pub(crate) fn read_until<S>(
    session: &Session,
    channel: &mut Channel,
    state: &mut S,
    deadline: Instant,
    cancel: Option<&super::CancelFlag>,
    mut feed: impl FnMut(&mut S, bool, &[u8]),
    done: impl Fn(&S) -> bool,
) -> ReadEnd {
    session.set_blocking(false);
    let mut buffer = vec![0u8; super::ssh_shell::READ_BUFFER];
    let end = loop {
        let progressed = match read_both(channel, &mut buffer, |is_stderr, chunk| feed(state, is_stderr, chunk)) {
            Ok(progressed) => progressed,
            Err(e) => break ReadEnd::Lost(e),
        };
        if done(state) {
            break ReadEnd::Done;
        }
        if !progressed && channel.eof() {
            break ReadEnd::Eof;
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            break ReadEnd::Cancelled;
        }
        if Instant::now() >= deadline {
            break ReadEnd::TimedOut;
        }
        if !progressed {
            wait_for_socket(session, Duration::from_millis(50));
        }
    };
    session.set_blocking(true);
    end
}

/// Reads what is there of stdout, then of stderr, without blocking, handing
/// each chunk to `feed` (`true` for stderr): whether anything came.
pub(crate) fn read_both(
    channel: &mut Channel,
    buffer: &mut [u8],
    mut feed: impl FnMut(bool, &[u8]),
) -> Result<bool, std::io::Error> {
    let mut progressed = false;
    for is_stderr in [false, true] {
        match read_some(channel, buffer, is_stderr) {
            ReadResult::Data(n) => {
                feed(is_stderr, &buffer[..n]);
                progressed = true;
            }
            ReadResult::Error(e) => return Err(e),
            ReadResult::Nothing => {}
        }
    }
    Ok(progressed)
}

pub(crate) enum ReadResult {
    Data(usize),
    Nothing,
    Error(std::io::Error),
}

pub(crate) fn read_some(channel: &mut Channel, buffer: &mut [u8], stderr: bool) -> ReadResult {
    let result = if stderr {
        channel.stderr().read(buffer)
    } else {
        channel.read(buffer)
    };
    match result {
        Ok(0) => ReadResult::Nothing,
        Ok(n) => ReadResult::Data(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => ReadResult::Nothing,
        Err(e) => ReadResult::Error(e),
    }
}

/// Sleeps until the session's socket is ready in the direction libssh2 waits for.
pub(crate) fn wait_for_socket(session: &Session, timeout: Duration) {
    poll_fds(&mut [(session.as_raw_fd(), poll_events(session))], timeout);
}

/// The poll(2) events libssh2 waits for on the session's socket.
fn poll_events(session: &Session) -> i16 {
    match session.block_directions() {
        BlockDirections::Inbound => libc::POLLIN,
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::None => libc::POLLIN,
    }
}

/// poll(2) on a few descriptors; returns the revents of each.
pub(crate) fn poll_fds(fds: &mut [(RawFd, i16)], timeout: Duration) -> Vec<i16> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: *fd,
            events: *events,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: pollfds is a valid, correctly sized array for the duration of the call.
    unsafe {
        libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms);
    }
    pollfds.iter().map(|p| p.revents).collect()
}

/// `kill -KILL` on the remote process group, over a fresh channel.
pub(crate) fn kill_remote_group(session: &Session, pid: u32) -> bool {
    session.set_blocking(true);
    let Ok(mut channel) = session.channel_session() else {
        return false;
    };
    let command = format!("kill -KILL -- -{pid} 2>/dev/null; kill -KILL {pid} 2>/dev/null; true");
    if channel.exec(&command).is_err() {
        return false;
    }
    let _ = channel.send_eof();
    let mut sink = Vec::new();
    let _ = channel.read_to_end(&mut sink);
    channel.wait_close().is_ok()
}

/// Separates the pid line the remote wrapper prints first on stderr.
#[derive(Default)]
pub(crate) struct PidReader {
    line: Vec<u8>,
    done: bool,
    pid: Option<u32>,
}

impl PidReader {
    /// Consumes the pid line from `chunk`; returns what is left for stderr.
    pub(crate) fn feed<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        if self.done {
            return chunk;
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(end) => {
                self.line.extend_from_slice(&chunk[..end]);
                self.done = true;
                let line = String::from_utf8_lossy(&self.line);
                self.pid = line.strip_prefix(PID_MARKER).and_then(|p| p.trim().parse().ok());
                &chunk[end + 1..]
            }
            None => {
                self.line.extend_from_slice(chunk);
                if self.line.len() > 64 {
                    // Not our marker: never swallow more than a line of real stderr.
                    self.done = true;
                }
                &[]
            }
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }
}

/// The jump half of a ProxyJump connection: a thread owning the jump host's
/// session, copying bytes between a direct-tcpip channel and a socket pair.
struct JumpBridge {
    _thread: std::thread::JoinHandle<()>,
}

impl JumpBridge {
    /// Connects to `hop` (through its own way there) and opens a tunnel from
    /// it to `target`; returns our end of the tunnel.
    fn open(
        target: &Endpoint,
        hop: &Endpoint,
        options: &SshOptions,
    ) -> Result<(UnixStream, JumpBridge), TransportError> {
        let hop = hop.clone();
        let (ours, theirs) = UnixStream::pair().map_err(|e| TransportError::Other(e.to_string()))?;
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (host, port, options_for_thread) = (target.host.clone(), target.port, options.clone());
        let label = target.label.clone();
        let hops = target.jumps().len() as u32;
        let thread = std::thread::Builder::new()
            .name(format!("vigie-jump-{}", hop.label))
            .spawn(move || {
                let connection = match connect(&hop, &options_for_thread) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(jump_error(&hop.label, e)));
                        return;
                    }
                };
                let channel = match connection.session.channel_direct_tcpip(&host, port, None) {
                    Ok(c) => c,
                    Err(e) => {
                        let message = format!("jump host {} cannot reach {label}: {}", hop.label, e.message());
                        let _ = ready_tx.send(Err(TransportError::Unreachable(message)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                pump(&connection.session, channel, theirs);
            })
            .map_err(|e| TransportError::Other(e.to_string()))?;
        // The jump may itself be slow: allow one connect timeout per hop, plus the tunnel.
        let wait = options.connect_timeout_for(target) * (hops + 1);
        match ready_rx.recv_timeout(wait) {
            Ok(Ok(())) => Ok((ours, JumpBridge { _thread: thread })),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(TransportError::ConnectTimeout),
        }
    }
}

fn jump_error(jump: &str, error: TransportError) -> TransportError {
    match error {
        // The hop's own refusal, as it is: `vigie trust HOP` mends it.
        _ if error.is_host_key_refusal() => error,
        TransportError::Config(_) => error,
        // Refused by the jump host's sshd is still "refused": say which host.
        TransportError::Auth(why) => TransportError::Auth(format!("on jump host {jump}, {why}")),
        // Already says which jump host (an earlier hop): do not wrap it twice.
        TransportError::Unreachable(why) if why.starts_with("jump host ") => TransportError::Unreachable(why),
        other => TransportError::Unreachable(format!("jump host {jump}: {other}")),
    }
}

/// Copies bytes both ways until either side closes.
fn pump(session: &Session, mut channel: Channel, mut local: UnixStream) {
    session.set_blocking(false);
    if local.set_nonblocking(true).is_err() {
        return;
    }
    let mut to_remote: Vec<u8> = Vec::new();
    let mut to_local: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let mut progressed = false;
        if to_remote.is_empty() {
            match local.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    to_remote.extend_from_slice(&buffer[..n]);
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !to_remote.is_empty() {
            match channel.write(&to_remote) {
                Ok(n) => {
                    to_remote.drain(..n);
                    progressed |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if to_local.is_empty() {
            match channel.read(&mut buffer) {
                Ok(0) if channel.eof() => return,
                Ok(n) => {
                    to_local.extend_from_slice(&buffer[..n]);
                    progressed |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !to_local.is_empty() {
            match local.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                    progressed |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        if !progressed {
            let mut local_events = libc::POLLIN;
            if !to_local.is_empty() {
                local_events |= libc::POLLOUT;
            }
            let remote_events = match session.block_directions() {
                BlockDirections::Outbound => libc::POLLOUT,
                BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
                _ => libc::POLLIN,
            };
            poll_fds(
                &mut [(local.as_raw_fd(), local_events), (session.as_raw_fd(), remote_events)],
                Duration::from_millis(200),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_line_is_split_from_stderr_even_across_chunks() {
        let mut reader = PidReader::default();
        assert_eq!(reader.feed(b"@@vigie-p"), b"");
        assert_eq!(reader.feed(b"id 4242\nreal error\n"), b"real error\n");
        assert_eq!(reader.pid(), Some(4242));
        assert_eq!(reader.feed(b"more"), b"more");
    }

    #[test]
    fn remote_command_carries_no_value() {
        let command = remote_command();
        assert!(command.starts_with("exec /bin/sh -c '"));
        assert_eq!(
            command.matches('\'').count(),
            2,
            "one single-quoted argument: {command}"
        );
    }
}
