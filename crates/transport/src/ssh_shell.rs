//! One long-lived shell per SSH session, for probes.
//!
//! sshd runs every command through the user's login shell, and Debian's
//! bash reads `~/.bashrc` for commands sshd runs: a `pyenv init` there costs
//! the host over 100 ms of CPU, once per channel. A probe every second on a
//! channel of its own pays it every second. This shell is started once per
//! session (the rc files are read once) and then reads framed requests on
//! its stdin, the way mitogen keeps one interpreter per host:
//!
//! - `@@vigie-define NAME END`, the script's lines, then `END`: defines the
//!   script as a function. A script is sent once per shell; NAME is its hash.
//! - `@@vigie-call NAME TOKEN`: runs it in a subshell (one fork, stdin
//!   closed), then prints `@@vigie-done TOKEN STATUS` on stdout and stderr.
//!   TOKEN is new for every call, so no output can end a call early.
//!
//! Nothing runs before its definition's terminator has arrived, as with a
//! channel of its own. A call that times out or is cancelled kills the
//! shell's whole process group (its pid is the first line on stderr) and the
//! shell is started again for the next probe; commands that must be
//! cancelled alone (playbook steps) keep a channel of their own.

use super::ssh::{kill_remote_group, read_both, read_until, wait_for_socket, PidReader, ReadEnd};
use super::{CancelFlag, CommandOutput, CommandRequest, TransportError};
use ssh2::{Channel, Session};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The shell's loop. It holds no single quote (it is sent single-quoted)
/// and no value: everything it runs arrives on stdin.
const SHELL_LOOP: &str = r#"printf "@@vigie-pid %s\n" "$$" >&2
vigie_nl="
"
printf "@@vigie-ready\n"
while IFS= read -r vigie_cmd; do
case $vigie_cmd in
"@@vigie-define "*)
set -- ${vigie_cmd#@@vigie-define }
vigie_body=
while IFS= read -r vigie_line; do
[ "$vigie_line" = "$2" ] && break
vigie_body=$vigie_body$vigie_line$vigie_nl
done
eval "vigie_run_$1() {
$vigie_body
}" ;;
"@@vigie-call "*)
set -- ${vigie_cmd#@@vigie-call }
( vigie_run_$1 ) </dev/null
vigie_rc=$?
printf "@@vigie-done %s %s\n" "$2" "$vigie_rc" >&2
printf "@@vigie-done %s %s\n" "$2" "$vigie_rc" ;;
esac
done"#;

fn shell_command() -> String {
    format!("exec /bin/sh -c '{SHELL_LOOP}'")
}

/// How a call in the shell went wrong.
pub(crate) enum ShellError {
    /// Nothing of the call ran (the shell was gone): safe to run it elsewhere.
    NotStarted,
    /// The call was under way; the shell is gone.
    Failed(TransportError),
}

pub(crate) struct SessionShell {
    channel: Channel,
    pid: Option<u32>,
    /// Scripts this shell holds as functions, by name.
    defined: HashSet<String>,
    calls: u64,
    salt: u64,
}

impl SessionShell {
    /// Opens the channel and waits for the shell to be ready: the login
    /// shell's rc files have run, whatever they printed is discarded.
    pub(crate) fn start(session: &Session, timeout: Duration) -> Result<SessionShell, TransportError> {
        session.set_blocking(true);
        let error = |what: &str, e: ssh2::Error| TransportError::Unreachable(format!("{what}: {}", e.message()));
        let mut channel = session
            .channel_session()
            .map_err(|e| error("cannot open a channel", e))?;
        channel
            .exec(&shell_command())
            .map_err(|e| error("cannot start the shell", e))?;
        let mut read = (Stream::new(b"@@vigie-ready\n".to_vec(), 0), PidReader::default());
        let end = read_until(
            session,
            &mut channel,
            &mut read,
            Instant::now() + timeout,
            None,
            |(ready, pid), is_stderr, chunk| {
                if is_stderr {
                    pid.feed(chunk);
                } else {
                    ready.feed(chunk);
                }
            },
            |(ready, _)| ready.found(),
        );
        match end {
            ReadEnd::Done => {}
            ReadEnd::Eof => return Err(TransportError::Unreachable("the shell ended at once".into())),
            ReadEnd::Lost(e) => return Err(TransportError::Unreachable(format!("the shell stopped: {e}"))),
            ReadEnd::Cancelled | ReadEnd::TimedOut => return Err(TransportError::Timeout(timeout)),
        }
        let (_, pid) = read;
        Ok(SessionShell {
            channel,
            pid: pid.pid(),
            defined: HashSet::new(),
            calls: 0,
            salt: salt(),
        })
    }

    /// Runs `request.script` in the shell, blocking until it ends. After an
    /// error the shell is not to be used again.
    pub(crate) fn run(&mut self, session: &Session, request: &CommandRequest) -> Result<CommandOutput, ShellError> {
        let mut call = self.begin(request);
        let mut buffer = vec![0u8; READ_BUFFER];
        session.set_blocking(false);
        let progress = loop {
            match self.advance(&mut call, &mut buffer) {
                Progress::Pending => wait_for_socket(session, Duration::from_millis(50)),
                done => break done,
            }
        };
        session.set_blocking(true);
        match progress {
            Progress::Pending => unreachable!("the loop ends on an outcome"),
            Progress::Done(outcome) => outcome,
            Progress::Expired(error) => Err(ShellError::Failed(self.abandon(session, error))),
        }
    }

    /// Prepares a call of `request.script`; nothing is sent until
    /// [`SessionShell::advance`].
    pub(crate) fn begin(&mut self, request: &CommandRequest) -> ShellCall {
        let started = Instant::now();
        self.calls += 1;
        let token = format!("{:016x}{:x}", self.salt, self.calls);
        let name = vigie_core::timeline::store::sha256_hex(request.script.as_bytes())[..20].to_string();
        let mut framed = String::new();
        let defines = !self.defined.contains(&name);
        if defines {
            let end = format!("@@vigie-end-{token}");
            framed.push_str(&format!("@@vigie-define {name} {end}\n{}\n{end}\n", request.script));
        }
        framed.push_str(&format!("@@vigie-call {name} {token}\n"));
        let marker = format!("@@vigie-done {token} ").into_bytes();
        ShellCall {
            started,
            deadline: started + request.timeout,
            timeout: request.timeout,
            cancel: request.cancel.clone(),
            unsent: framed.into_bytes(),
            defines: defines.then_some(name),
            stdout: Stream::new(marker.clone(), request.output_cap),
            stderr: Stream::new(marker, request.output_cap),
        }
    }

    /// Moves `call` on as far as it goes without waiting: sends what the
    /// socket takes, reads what has come. The session must be non-blocking;
    /// on `Pending`, wait for its socket in `session.block_directions()`.
    pub(crate) fn advance(&mut self, call: &mut ShellCall, buffer: &mut [u8]) -> Progress {
        while !call.unsent.is_empty() {
            match self.channel.write(&call.unsent) {
                Ok(0) => break,
                Ok(sent) => {
                    call.unsent.drain(..sent);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // The shell is gone (its channel closed) before the call was
                // whole: nothing ran, since the shell waits for the newline.
                Err(_) => return Progress::Done(Err(ShellError::NotStarted)),
            }
        }
        if call.unsent.is_empty() {
            if let Some(name) = call.defines.take() {
                self.defined.insert(name);
            }
        }
        let (stdout, stderr) = (&mut call.stdout, &mut call.stderr);
        // Passes that read nothing although libssh2 held data (bounded: data
        // on a stream nobody reads must not spin the driver).
        let mut idle_passes = 0;
        loop {
            let progressed = match read_both(&mut self.channel, buffer, |is_stderr, chunk| {
                if is_stderr {
                    stderr.feed(chunk);
                } else {
                    stdout.feed(chunk);
                }
            }) {
                Ok(progressed) => progressed,
                Err(e) => return Progress::Done(Err(lost(stdout, stderr, format!("connection lost: {e}")))),
            };
            if stdout.found() && stderr.found() {
                return Progress::Done(Ok(call.output()));
            }
            if !progressed && self.channel.eof() {
                return Progress::Done(Err(lost(stdout, stderr, "the shell ended".into())));
            }
            // Reading stderr reads the socket dry and queues what came for
            // stdout meanwhile: the socket then stays quiet although data
            // waits, so look at libssh2's queue before waiting on it.
            if !progressed {
                idle_passes += 1;
                if idle_passes > 2 || self.channel.read_window().available == 0 {
                    break;
                }
            }
        }
        if call.cancel.load(Ordering::Relaxed) {
            return Progress::Expired(TransportError::Cancelled);
        }
        if Instant::now() >= call.deadline {
            return Progress::Expired(TransportError::Timeout(call.timeout));
        }
        Progress::Pending
    }

    /// Ends a call that timed out or was cancelled: the whole shell goes,
    /// with what it was running (its process group is killed over a new
    /// channel). Blocking. The shell is not to be used again.
    pub(crate) fn abandon(&mut self, session: &Session, error: TransportError) -> TransportError {
        let killed = self.pid.is_some_and(|pid| kill_remote_group(session, pid));
        let _ = self.channel.close();
        if killed {
            error
        } else {
            TransportError::Unreachable(format!("{error}, and the host did not answer the kill"))
        }
    }
}

/// Bytes read from the channel at a time.
pub(crate) const READ_BUFFER: usize = 32 * 1024;

/// A call under way in the shell (see [`SessionShell::advance`]).
pub(crate) struct ShellCall {
    started: Instant,
    deadline: Instant,
    timeout: Duration,
    cancel: CancelFlag,
    /// What is left to send of the definition and the call.
    unsent: Vec<u8>,
    /// The script's name, until its definition is sent whole.
    defines: Option<String>,
    stdout: Stream,
    stderr: Stream,
}

impl ShellCall {
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    fn output(&mut self) -> CommandOutput {
        CommandOutput {
            exit: self.stdout.status,
            dropped_bytes: self.stdout.dropped + self.stderr.dropped,
            stdout: std::mem::take(&mut self.stdout.kept),
            stderr: std::mem::take(&mut self.stderr.kept),
            elapsed: self.started.elapsed(),
        }
    }
}

/// Where a call stands after [`SessionShell::advance`].
pub(crate) enum Progress {
    /// Waiting for the socket.
    Pending,
    Done(Result<CommandOutput, ShellError>),
    /// Timed out or cancelled: [`SessionShell::abandon`] ends it.
    Expired(TransportError),
}

/// The shell is gone: safe to run elsewhere if nothing of the call came back.
fn lost(stdout: &Stream, stderr: &Stream, why: String) -> ShellError {
    if stdout.seen == 0 && stderr.seen == 0 {
        ShellError::NotStarted
    } else {
        ShellError::Failed(TransportError::Unreachable(why))
    }
}

/// Differs between shells and runs: with the call counter, a token no
/// earlier output can hold.
fn salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

/// One stream of a call: bytes kept up to the cap, until the marker (and
/// the status that follows it on stdout).
struct Stream {
    marker: Vec<u8>,
    cap: usize,
    kept: Vec<u8>,
    dropped: u64,
    /// Bytes not yet known to be output: may hold the start of the marker.
    pending: Vec<u8>,
    /// Bytes received in all.
    seen: usize,
    /// After the marker: the status digits, until the newline.
    after: Option<Vec<u8>>,
    status: Option<i32>,
    done: bool,
}

impl Stream {
    fn new(marker: Vec<u8>, cap: usize) -> Stream {
        Stream {
            marker,
            cap,
            kept: Vec::new(),
            dropped: 0,
            pending: Vec::new(),
            seen: 0,
            after: None,
            status: None,
            done: false,
        }
    }

    fn found(&self) -> bool {
        self.done
    }

    /// Keeps the first `end` bytes of what is pending as output.
    fn keep_pending(&mut self, end: usize) {
        super::append_capped(&mut self.kept, &self.pending[..end], self.cap, &mut self.dropped);
        self.pending.drain(..end);
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.seen += chunk.len();
        if self.done {
            return;
        }
        if let Some(after) = &mut self.after {
            after.extend_from_slice(chunk);
        } else {
            self.pending.extend_from_slice(chunk);
            match find(&self.pending, &self.marker) {
                Some(at) => {
                    let rest = self.pending.split_off(at + self.marker.len());
                    self.keep_pending(at);
                    self.pending.clear();
                    self.after = Some(rest);
                }
                None => {
                    // All but what could be the marker's beginning is output.
                    let hold = self.marker.len().saturating_sub(1).min(self.pending.len());
                    self.keep_pending(self.pending.len() - hold);
                }
            }
        }
        if let Some(after) = &self.after {
            if let Some(end) = after.iter().position(|&b| b == b'\n') {
                self.status = String::from_utf8_lossy(&after[..end]).trim().parse().ok();
                self.done = true;
            }
        }
        // The readiness marker has no status after it.
        if self.after.is_some() && self.marker.ends_with(b"\n") {
            self.done = true;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    // The marker's first byte is rare in output: compare only where it is.
    (0..=last_start).find(|&at| haystack[at] == first && haystack[at..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_ends_at_the_marker_even_split_across_chunks() {
        let mut stream = Stream::new(b"@@vigie-done T ".to_vec(), 1024);
        for chunk in [&b"hello @@vig"[..], b"ie-done T 3", b"\n"] {
            stream.feed(chunk);
        }
        assert!(stream.found());
        assert_eq!(stream.kept, b"hello ");
        assert_eq!(stream.status, Some(3));
    }

    #[test]
    fn an_output_longer_than_the_cap_is_counted_and_the_marker_still_found() {
        let mut stream = Stream::new(b"@@vigie-done T ".to_vec(), 4);
        stream.feed(b"0123456789");
        stream.feed(b"@@vigie-done T 0\n");
        assert!(stream.found());
        assert_eq!(stream.kept, b"0123");
        assert_eq!(stream.dropped, 6);
    }

    #[test]
    fn the_loop_holds_no_single_quote() {
        assert!(!SHELL_LOOP.contains('\''));
    }

    #[test]
    fn a_real_shell_runs_defined_scripts_and_frames_their_output() {
        use std::io::Read;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(SHELL_LOOP)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                b"@@vigie-define f END\necho one; echo two >&2; exit 4\nEND\n@@vigie-call f T1\n@@vigie-call f T2\n",
            )
            .unwrap();
        drop(stdin);
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(out, "@@vigie-ready\none\n@@vigie-done T1 4\none\n@@vigie-done T2 4\n");
        assert!(
            err.ends_with("two\n@@vigie-done T1 4\ntwo\n@@vigie-done T2 4\n"),
            "{err}"
        );
    }
}
