//! `ProxyCommand`: a local command whose standard input and output are the
//! connection to the host, as OpenSSH runs it (`sh -c "exec COMMAND"`).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The running command; dropping it stops the command.
pub struct ProxyCommand {
    child: Child,
    /// The end of what the command wrote on stderr, for error messages.
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// How much of the command's stderr is kept.
const STDERR_KEPT: usize = 2048;

impl ProxyCommand {
    /// Starts `command`; returns our end of its stdin/stdout.
    pub fn spawn(command: &str) -> std::io::Result<(UnixStream, ProxyCommand)> {
        let (ours, theirs) = UnixStream::pair()?;
        let their_output = theirs.try_clone()?;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(OwnedFd::from(their_output)))
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C meant for a step must not cut the connection.
            .process_group(0)
            .spawn()?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            let _ = std::thread::Builder::new()
                .name("vigie-proxy-stderr".into())
                .spawn(move || {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n) = pipe.read(&mut buffer) {
                        if n == 0 {
                            break;
                        }
                        if let Ok(mut kept) = kept.lock() {
                            kept.extend_from_slice(&buffer[..n]);
                            let excess = kept.len().saturating_sub(STDERR_KEPT);
                            kept.drain(..excess);
                        }
                    }
                });
        }
        Ok((ours, ProxyCommand { child, stderr }))
    }

    /// The last line the command wrote on stderr, made safe to show.
    pub fn stderr_tail(&self) -> Option<String> {
        // Give a command that just failed a moment to say why.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let kept = self.stderr.lock().ok()?;
        let text = vigie_core::sanitize::from_host_bytes(&kept);
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }
}

impl Drop for ProxyCommand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
