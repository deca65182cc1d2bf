//! Running git for the sync: always against the machine's sync repository
//! (`--git-dir`), never a work tree, with the user's and the system's git
//! configuration left out (an `url.insteadOf` or a hook must not redirect
//! or run anything), no prompt, and a deadline: a remote that stops
//! answering costs one round, never a hung thread.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What went wrong running git: its own last words, or why it did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GitError(pub String);

pub struct Git {
    git_dir: PathBuf,
}

/// How long local work (no network) may take.
const LOCAL_DEADLINE: Duration = Duration::from_secs(30);

impl Git {
    /// The bare repository at `git_dir`, created if missing (shared with
    /// the incidents group when `group_shared`).
    pub fn open_or_init(git_dir: &Path, group_shared: bool) -> Result<Git, GitError> {
        let git = Git {
            git_dir: git_dir.to_path_buf(),
        };
        if !git_dir.join("HEAD").is_file() {
            let mut args = vec!["init", "--bare", "--quiet"];
            if group_shared {
                args.push("--shared=group");
            }
            let mut command = base_command();
            command.args(&args).arg(git_dir);
            run(command, None, LOCAL_DEADLINE)?;
        }
        Ok(git)
    }

    /// Runs `git --git-dir=<repo> args...`, with `stdin` if given and extra
    /// environment `env`; its standard output.
    pub fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Vec<u8>, GitError> {
        run(self.command(args, env), stdin, timeout)
    }

    /// The repository that exists at `git_dir`, if one does.
    pub fn existing(git_dir: &Path) -> Option<Git> {
        git_dir.join("HEAD").is_file().then(|| Git {
            git_dir: git_dir.to_path_buf(),
        })
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = base_command();
        command.arg("--git-dir").arg(&self.git_dir).args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    /// [`Git::run`], with the standard output kept when git fails too
    /// (`push --porcelain` says there which branches went through).
    pub fn run_keeping_output(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> (Result<(), GitError>, Vec<u8>) {
        match run_capturing(self.command(args, env), None, timeout) {
            Ok((Ok(()), out)) => (Ok(()), out),
            Ok((Err(e), out)) => (Err(e), out),
            Err(e) => (Err(e), Vec::new()),
        }
    }

    /// [`Git::run`] with no input, no extra environment and a short deadline (local work).
    pub fn local(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        self.run(args, None, &[], LOCAL_DEADLINE)
    }

    /// [`Git::local`], with `input` on git's standard input and extra environment `env`.
    pub fn local_with(&self, args: &[&str], input: Option<&[u8]>, env: &[(&str, &str)]) -> Result<Vec<u8>, GitError> {
        self.run(args, input, env, LOCAL_DEADLINE)
    }

    /// [`Git::local`], as trimmed text.
    pub fn local_text(&self, args: &[&str]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.local(args)?).trim().to_string())
    }
}

fn base_command() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    command
}

fn run(command: Command, stdin: Option<&[u8]>, timeout: Duration) -> Result<Vec<u8>, GitError> {
    let (status, out) = run_capturing(command, stdin, timeout)?;
    status.map(|()| out)
}

/// Runs git to its end or its deadline: whether it succeeded (else its
/// words), and its standard output either way. `Err` when it did not run.
fn run_capturing(
    mut command: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<(Result<(), GitError>, Vec<u8>), GitError> {
    command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        GitError(if e.kind() == std::io::ErrorKind::NotFound {
            "git is not installed (apt-get install git)".to_string()
        } else {
            format!("cannot run git: {e}")
        })
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Small inputs (one event file): written whole before reading.
        let _ = pipe.write_all(input);
    }
    // Read both pipes on threads so that a chatty git never blocks on a full pipe.
    let stdout = child.stdout.take().map(read_on_thread);
    let stderr = child.stderr.take().map(read_on_thread);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(GitError(format!("no answer within {}s: stopped", timeout.as_secs())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(GitError(format!("cannot wait for git: {e}"))),
        }
    };
    let out = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if status.success() {
        Ok((Ok(()), out))
    } else {
        Ok((Err(GitError(last_words("git", &err, status.code()))), out))
    }
}

fn read_on_thread<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The lines of `program`'s standard error worth showing (git's, ssh's), made inert:
/// "Host key verification failed.", "Connection refused"...
pub(super) fn last_words(program: &str, stderr: &[u8], code: Option<i32>) -> String {
    // git's own closing words say nothing ssh did not say better.
    const GENERIC: [&str; 3] = [
        "Could not read from remote repository",
        "Please make sure you have the correct access rights",
        "and the repository exists",
    ];
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .lines()
        .map(|l| vigie_core::sanitize::one_line(l.trim()))
        .filter(|l| !l.is_empty() && !l.starts_with("hint:") && !l.starts_with("@@@"))
        .collect();
    let specific: Vec<&String> = lines
        .iter()
        .filter(|l| !GENERIC.iter().any(|g| l.contains(g)))
        .collect();
    let chosen: Vec<&String> = if specific.is_empty() {
        lines.iter().collect()
    } else {
        specific
    };
    if chosen.is_empty() {
        return format!("{program} failed (exit {})", code.map_or("?".into(), |c| c.to_string()));
    }
    // A changed host key: the lines that say which key, not the whole banner.
    if let Some(changed) = chosen
        .iter()
        .position(|l| l.contains("has changed and you have requested strict checking"))
    {
        return joined(&chosen[changed..]);
    }
    joined(&chosen[chosen.len().saturating_sub(2)..])
}

/// `a.`, `b.` → `a; b`: one sentence per line said, no doubled stops.
fn joined(lines: &[&String]) -> String {
    lines
        .iter()
        .map(|l| l.trim_end_matches('.'))
        .collect::<Vec<_>>()
        .join("; ")
}
