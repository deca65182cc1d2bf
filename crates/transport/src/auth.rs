//! Public-key authentication in OpenSSH's order (sshconnect2.c
//! `pubkey_prepare`): the agent's keys in the agent's order, those that are
//! also `IdentityFile`s included, others only without `IdentitiesOnly`; then
//! the remaining key files. A passphrase-protected file is tried only when a
//! front-end can ask for its passphrase; otherwise the responder is told to
//! load it into the agent.

use super::endpoint::{Agent, Endpoint};
use super::known_hosts::fingerprint;
use super::TransportError;
use base64::Engine;
use ssh2::Session;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Asks for the passphrase of a key file; `None` when the responder gives none.
pub type AskPassphrase = dyn Fn(&Path) -> Option<String> + Send + Sync;

#[derive(Clone)]
pub struct PassphrasePrompt(pub Arc<AskPassphrase>);

impl std::fmt::Debug for PassphrasePrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphrasePrompt")
    }
}

/// One key file of the endpoint, as far as it can be read without its passphrase.
struct KeyFile {
    path: PathBuf,
    /// The public key blob, from `FILE.pub`, the file itself if it is a
    /// public key, or the private key file.
    public: Option<Vec<u8>>,
    /// The file holds a private key (not just a public key whose private
    /// half lives in the agent, a token or a password manager).
    private: bool,
    encrypted: bool,
}

enum Candidate {
    /// The index of one of the agent's keys.
    Agent(usize),
    File(KeyFile),
}

/// Tries every identity in turn until the server accepts one.
pub fn authenticate(
    session: &Session,
    endpoint: &Endpoint,
    prompt: Option<&PassphrasePrompt>,
) -> Result<(), TransportError> {
    let mut tried = Vec::new();
    let agent = connect_agent(session, &endpoint.agent, &mut tried);
    let identities = agent.as_ref().map(|(_, ids)| ids.as_slice()).unwrap_or(&[]);
    for candidate in candidates(endpoint, identities, &mut tried) {
        let attempt = match candidate {
            Candidate::Agent(index) => match &agent {
                Some((agent, identities)) => try_agent_key(session, endpoint, agent, &identities[index]),
                None => continue,
            },
            Candidate::File(file) => try_key_file(session, endpoint, &file, prompt),
        };
        match attempt {
            Attempt::Accepted => return Ok(()),
            Attempt::Refused(what) => tried.push(what),
            Attempt::ServerClosed(what) => {
                tried.push(format!("{what}, then {SERVER_CLOSED}"));
                break;
            }
        }
    }
    let tried = if tried.is_empty() {
        "no key found (no agent key, no key file)".to_string()
    } else {
        format!("tried {}", tried.join(", "))
    };
    Err(TransportError::Auth(format!("as {}: {tried}", endpoint.user)))
}

/// How one identity fared; the text names it (and why it was refused).
enum Attempt {
    Accepted,
    Refused(String),
    ServerClosed(String),
}

/// The identities in OpenSSH's order: agent keys (those that are also key
/// files take the file's turn; others only without `IdentitiesOnly`), then
/// the remaining key files. Missing key files that were asked for are noted.
fn candidates(endpoint: &Endpoint, identities: &[ssh2::PublicKey], tried: &mut Vec<String>) -> Vec<Candidate> {
    let mut files: Vec<Option<KeyFile>> = Vec::new();
    for path in &endpoint.identity_files {
        if path.is_file() || public_file_of(path).is_file() {
            files.push(Some(read_key_file(path)));
        } else if !is_default_identity(path) {
            // As ssh says "no such identity" for a key file it was told to use.
            tried.push(format!("{} (no such file)", path.display()));
        }
    }
    let mut candidates = Vec::new();
    for (index, identity) in identities.iter().enumerate() {
        let listed = files
            .iter_mut()
            .find(|f| f.as_ref().and_then(|f| f.public.as_deref()) == Some(identity.blob()));
        match listed {
            Some(slot) => {
                slot.take();
                candidates.push(Candidate::Agent(index));
            }
            None if !endpoint.identities_only => candidates.push(Candidate::Agent(index)),
            None => {}
        }
    }
    candidates.extend(files.into_iter().flatten().map(Candidate::File));
    candidates
}

fn try_agent_key(session: &Session, endpoint: &Endpoint, agent: &ssh2::Agent, identity: &ssh2::PublicKey) -> Attempt {
    let name = format!("agent key {}", fingerprint(identity.blob()));
    match agent.userauth(&endpoint.user, identity) {
        Ok(()) if session.authenticated() => Attempt::Accepted,
        Err(e) if closed_by_server(&e) => Attempt::ServerClosed(name),
        _ => Attempt::Refused(name),
    }
}

/// A key file: a public key alone is skipped, a passphrase-protected one
/// needs a prompt (else the responder is told to load it into the agent).
fn try_key_file(session: &Session, endpoint: &Endpoint, file: &KeyFile, prompt: Option<&PassphrasePrompt>) -> Attempt {
    let shown = file.path.display();
    if !file.private {
        return Attempt::Refused(format!(
            "{shown} (a public key only, and its private key is not in the agent)"
        ));
    }
    // Only a protected key asks for its passphrase.
    let passphrase = if file.encrypted {
        match prompt.and_then(|p| (p.0)(&file.path)) {
            Some(passphrase) => Some(passphrase),
            None => return Attempt::Refused(format!("{shown} (passphrase-protected: load it with ssh-add)")),
        }
    } else {
        None
    };
    match session.userauth_pubkey_file(&endpoint.user, None, &file.path, passphrase.as_deref()) {
        Ok(()) if session.authenticated() => Attempt::Accepted,
        Ok(()) => Attempt::Refused(shown.to_string()),
        Err(e) if closed_by_server(&e) => Attempt::ServerClosed(shown.to_string()),
        Err(e) => Attempt::Refused(format!("{shown} ({})", e.message())),
    }
}

const SERVER_CLOSED: &str = "the server closed the connection (too many authentication failures: \
     set IdentitiesOnly and IdentityFile for this host)";

/// Whether an attempt failed because the server hung up, as sshd does after
/// `MaxAuthTries` refused keys: trying more keys is pointless.
fn closed_by_server(error: &ssh2::Error) -> bool {
    matches!(error.code(), ssh2::ErrorCode::Session(-13 | -43 | -7))
        || error.message().contains("Waiting for USERAUTH response")
}

/// The key files ssh tries when none is configured: a missing one is normal.
fn is_default_identity(path: &Path) -> bool {
    const DEFAULTS: &[&str] = &[
        "id_rsa",
        "id_ecdsa",
        "id_ecdsa_sk",
        "id_ed25519",
        "id_ed25519_sk",
        "id_xmss",
        "id_dsa",
    ];
    let ssh_dir = super::openssh::LocalUser::current().home.join(".ssh");
    path.parent() == Some(ssh_dir.as_path()) && path.file_name().is_some_and(|name| DEFAULTS.iter().any(|d| name == *d))
}

fn public_file_of(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        "{}.pub",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ))
}

/// The agent and its keys, when one is configured and answers.
fn connect_agent(
    session: &Session,
    agent: &Agent,
    tried: &mut Vec<String>,
) -> Option<(ssh2::Agent, Vec<ssh2::PublicKey>)> {
    let socket = match agent {
        Agent::Disabled => return None,
        Agent::FromEnvironment => std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)?,
        Agent::Socket(path) => path.clone(),
    };
    let mut handle = session.agent().ok()?;
    if handle.set_identity_path(&socket).is_err() {
        return None;
    }
    if let Err(e) = handle.connect() {
        tried.push(format!("ssh-agent at {} ({})", socket.display(), e.message()));
        return None;
    }
    if handle.list_identities().is_err() {
        return None;
    }
    let identities = handle.identities().ok()?;
    Some((handle, identities))
}

fn read_key_file(path: &Path) -> KeyFile {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // `IdentityFile` may name a public key (`id.pub`) whose private half is elsewhere.
    if let Some(public) = public_key_in(&text) {
        return KeyFile {
            path: path.to_path_buf(),
            public: Some(public),
            private: false,
            encrypted: false,
        };
    }
    let parsed = ssh_key::PrivateKey::from_openssh(&text).ok();
    let encrypted = match &parsed {
        Some(key) => key.is_encrypted(),
        // PEM keys say so in their headers.
        None => text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY"),
    };
    let public = std::fs::read_to_string(public_file_of(path))
        .ok()
        .and_then(|text| public_key_in(&text))
        .or_else(|| parsed.and_then(|key| key.public_key().to_bytes().ok()));
    KeyFile {
        path: path.to_path_buf(),
        public,
        private: path.is_file(),
        encrypted,
    }
}

/// The blob of a `type base64 [comment]` public key, if `text` is one.
fn public_key_in(text: &str) -> Option<Vec<u8>> {
    let mut words = text.split_whitespace();
    let key_type = words.next()?;
    if key_type.starts_with("-----") {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD.decode(words.next()?).ok()?;
    // The blob starts with its own type: a public key, not some other text.
    let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    (blob.get(4..4 + length)? == key_type.as_bytes()).then_some(blob)
}
