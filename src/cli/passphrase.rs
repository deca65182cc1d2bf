//! Asking for a key file's passphrase on the terminal, without echo, for the
//! line-mode commands (`vigie run`). The cockpit never asks: its keys must be
//! in the agent, and the error says so.

use crate::config::Config;
use crate::transport::auth::PassphrasePrompt;
use crate::transport::ssh::SshOptions;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// SSH options for a terminal command: with a passphrase prompt when both
/// stdin and stderr are a terminal.
pub fn ssh_options(config: &Config) -> SshOptions {
    let mut options = SshOptions::from_config(config);
    // SAFETY: isatty has no preconditions.
    let interactive = unsafe { libc::isatty(0) == 1 && libc::isatty(2) == 1 };
    if interactive {
        options.passphrase = Some(terminal_prompt());
    }
    options
}

/// One prompt at a time (sessions connecting at once may ask together), each key asked once.
fn terminal_prompt() -> PassphrasePrompt {
    let given: Arc<Mutex<HashMap<PathBuf, String>>> = Arc::default();
    PassphrasePrompt(Arc::new(move |key: &Path| {
        let mut given = given.lock().ok()?;
        if let Some(passphrase) = given.get(key) {
            return Some(passphrase.clone());
        }
        let passphrase = ask_without_echo(&format!("Enter passphrase for key '{}': ", key.display()))?;
        given.insert(key.to_path_buf(), passphrase.clone());
        Some(passphrase)
    }))
}

/// A secret input, asked without echo when vigie runs in a terminal
/// (`None` without one: the caller says how else to give it).
pub fn ask_secret(prompt: &str) -> Option<String> {
    // SAFETY: isatty has no preconditions.
    let interactive = unsafe { libc::isatty(0) == 1 };
    interactive.then(|| ask_without_echo(prompt)).flatten()
}

fn ask_without_echo(prompt: &str) -> Option<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: fd is the open terminal; quiet is a valid termios.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut writer = &tty;
    let _ = writer.write_all(prompt.as_bytes());
    let _ = writer.flush();
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the settings read above on the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.ok()?;
    let passphrase = line.trim_end_matches(['\n', '\r']).to_string();
    (!passphrase.is_empty()).then_some(passphrase)
}
