//! Strict host-key checking against OpenSSH `known_hosts` files: vigie's own
//! file (where `vigie trust` pins keys) and the user's `~/.ssh/known_hosts`.
//! An unknown key is refused; a changed key is refused loudly.

use super::TransportError;
use base64::Engine;
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsFiles {
    /// vigie's own pins, written by `vigie trust`, checked first.
    pub own: PathBuf,
    /// The user's OpenSSH file, if any.
    pub user: Option<PathBuf>,
}

impl KnownHostsFiles {
    fn all(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.own.as_path()).chain(self.user.as_deref())
    }
}

/// What the known_hosts files say of the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Trusted,
    Unknown,
    /// Another key is pinned for this host in `file`.
    Mismatch {
        file: PathBuf,
    },
}

/// The server's key as sent in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    pub blob: Vec<u8>,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`...
    pub key_type: String,
}

impl ServerKey {
    pub fn from_session(session: &Session) -> Option<ServerKey> {
        let (blob, _) = session.host_key()?;
        let hash = session.host_key_hash(HashType::Sha256)?;
        Some(ServerKey {
            blob: blob.to_vec(),
            fingerprint: format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
            ),
            key_type: key_type_of(blob).unwrap_or_else(|| "unknown".into()),
        })
    }
}

/// The key type is the first string of the key blob (RFC 4253 §6.6).
fn key_type_of(blob: &[u8]) -> Option<String> {
    let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + length)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Checks `key` for `host`:`port` against every file. A mismatch in any file wins.
pub fn check(session: &Session, files: &KnownHostsFiles, host: &str, port: u16, key: &ServerKey) -> Verdict {
    let mut trusted = false;
    for file in files.all() {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(mut known) = session.known_hosts() else {
            continue;
        };
        // Line by line: libssh2 rejects a whole file for one line it cannot
        // read (a certificate authority, a key type it does not know).
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let _ = known.read_str(line, KnownHostFileKind::OpenSSH);
        }
        match known.check_port(host, port, &key.blob) {
            CheckResult::Match => trusted = true,
            CheckResult::Mismatch => {
                return Verdict::Mismatch {
                    file: file.to_path_buf(),
                }
            }
            CheckResult::NotFound | CheckResult::Failure => {}
        }
    }
    if trusted {
        Verdict::Trusted
    } else {
        Verdict::Unknown
    }
}

/// Turns a verdict into the error that stops the connection, if any.
pub fn enforce(verdict: Verdict, label: &str, key: &ServerKey) -> Result<(), TransportError> {
    match verdict {
        Verdict::Trusted => Ok(()),
        Verdict::Unknown => Err(TransportError::HostKeyUnknown {
            host: label.to_string(),
            fingerprint: key.fingerprint.clone(),
        }),
        Verdict::Mismatch { .. } => Err(TransportError::HostKeyMismatch {
            host: label.to_string(),
            fingerprint: key.fingerprint.clone(),
        }),
    }
}

/// The host field of a known_hosts line, as OpenSSH writes it.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Appends a pin for `host`:`port` to vigie's own file, creating it if needed,
/// and syncs it to disk before returning.
pub fn pin(file: &Path, host: &str, port: u16, key: &ServerKey) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let line = format!(
        "{} {} {}\n",
        host_pattern(host, port),
        key.key_type,
        base64::engine::general_purpose::STANDARD.encode(&key.blob)
    );
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_comes_from_the_blob() {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 1, 7]);
        assert_eq!(key_type_of(&blob).as_deref(), Some("ssh-ed25519"));
        assert_eq!(key_type_of(&[0, 0]), None);
    }

    #[test]
    fn patterns_follow_openssh() {
        assert_eq!(host_pattern("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(host_pattern("127.0.0.11", 2222), "[127.0.0.11]:2222");
    }
}
