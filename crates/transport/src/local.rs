//! The local transport: scripts run by `sh` on the machine vigie runs on.

use super::{
    append_capped, framed_script, send_live_async, CommandOutput, CommandRequest, LiveOutput, TransportError,
    STDIN_SCRIPT_RUNNER,
};
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Runs `request.script` locally in its own process group, so that a timeout
/// kills the script and everything it started.
pub async fn run(request: &CommandRequest) -> Result<CommandOutput, TransportError> {
    run_raw(&framed_script(&request.script), request).await
}

/// Sends `stdin_text` as it is (tests use it to send a truncated script).
pub(super) async fn run_raw(stdin_text: &str, request: &CommandRequest) -> Result<CommandOutput, TransportError> {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(STDIN_SCRIPT_RUNNER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TransportError::Other(format!("cannot start sh: {e}")))?;
    let pid = child.id();

    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| TransportError::Other("no stdin".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| TransportError::Other("no stdout".into()))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| TransportError::Other("no stderr".into()))?;
    let script = stdin_text.as_bytes().to_vec();
    let cap = request.output_cap;
    let live = request.live.clone();

    let work = async move {
        let write = async move {
            // A script that exits early closes its stdin: that is not an error.
            let _ = stdin.write_all(&script).await;
            drop(stdin);
        };
        let (_, out, err) = tokio::join!(
            write,
            read_capped(stdout, cap, live.clone()),
            read_capped(stderr, cap, live)
        );
        let status = child.wait().await;
        (out, err, status)
    };

    let cancel = request.cancel.clone();
    let cancelled = async move {
        while !cancel.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let finished = tokio::select! {
        finished = tokio::time::timeout(request.timeout, work) => finished.map_err(|_| TransportError::Timeout(request.timeout)),
        () = cancelled => Err(TransportError::Cancelled),
    };
    match finished {
        Ok(((stdout, dropped_out), (stderr, dropped_err), status)) => {
            let status = status.map_err(|e| TransportError::Other(format!("wait failed: {e}")))?;
            Ok(CommandOutput {
                stdout,
                stderr,
                exit: status.code(),
                dropped_bytes: dropped_out + dropped_err,
                elapsed: started.elapsed(),
            })
        }
        Err(error) => {
            if let Some(pid) = pid {
                kill_process_group(pid);
            }
            Err(error)
        }
    }
}

/// Reads a stream to its end, keeping at most `cap` bytes.
async fn read_capped(mut stream: impl AsyncRead + Unpin, cap: usize, live: Option<LiveOutput>) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                send_live_async(live.as_ref(), &chunk[..n]).await;
                append_capped(&mut kept, &chunk[..n], cap, &mut dropped)
            }
        }
    }
    (kept, dropped)
}

fn kill_process_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_a_script_from_stdin() {
        let out = run(&CommandRequest::new(
            "x='a b'; echo \"$x\"; echo err >&2; exit 3",
            Duration::from_secs(5),
        ))
        .await
        .unwrap();
        assert_eq!(out.stdout, b"a b\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.exit, Some(3));
    }

    #[tokio::test]
    async fn commands_in_the_script_cannot_read_the_rest_of_it() {
        let out = run(&CommandRequest::new("cat\necho after", Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"after\n");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let marker = format!("vigie-local-timeout-{}", std::process::id());
        let script = format!("sh -c 'sleep 300; : {marker}' & sleep 300");
        let err = run(&CommandRequest::new(script, Duration::from_millis(300)))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Timeout(Duration::from_millis(300)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        assert!(
            left.stdout.is_empty(),
            "left running: {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }

    #[tokio::test]
    async fn output_is_capped() {
        let mut request = CommandRequest::new("head -c 100000 /dev/zero", Duration::from_secs(5));
        request.output_cap = 1000;
        let out = run(&request).await.unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.dropped_bytes, 99000);
    }

    #[tokio::test]
    async fn quoted_values_stay_literal_in_a_real_shell() {
        use vigie_core::probe::shell::quote;
        for value in [
            "plain",
            "with space",
            "it's",
            "$(touch /tmp/x)",
            "`id`",
            "a\nb",
            "'; rm -rf / #",
        ] {
            let script = format!("printf '%s' {}", quote(value));
            let request = crate::CommandRequest::new(script, std::time::Duration::from_secs(5));
            let out = run(&request).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        }
    }
}
