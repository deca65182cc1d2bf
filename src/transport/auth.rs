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
    /// The public key blob, from `FILE.pub` or the private key file itself.
    public: Option<Vec<u8>>,
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
    let mut files: Vec<Option<KeyFile>> = endpoint
        .identity_files
        .iter()
        .filter(|path| path.is_file())
        .map(|path| Some(read_key_file(path)))
        .collect();
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    let agent = connect_agent(session, &endpoint.agent, &mut tried);
    if let Some((_, identities)) = &agent {
        for (index, identity) in identities.iter().enumerate() {
            let listed = files
                .iter_mut()
                .find(|f| f.as_ref().and_then(|f| f.public.as_deref()) == Some(identity.blob()));
            match listed {
                // An agent key that is also a key file takes the file's turn.
                Some(slot) => {
                    slot.take();
                    candidates.push(Candidate::Agent(index));
                }
                None if !endpoint.identities_only => candidates.push(Candidate::Agent(index)),
                None => {}
            }
        }
    }
    candidates.extend(files.into_iter().flatten().map(Candidate::File));

    for candidate in candidates {
        match candidate {
            Candidate::Agent(index) => {
                let Some((agent, identities)) = &agent else { continue };
                let identity = &identities[index];
                let name = format!("agent key {}", fingerprint(identity.blob()));
                match agent.userauth(&endpoint.user, identity) {
                    Ok(()) if session.authenticated() => return Ok(()),
                    _ => tried.push(name),
                }
            }
            Candidate::File(file) => {
                let passphrase = if file.encrypted {
                    match prompt.and_then(|p| (p.0)(&file.path)) {
                        Some(passphrase) => Some(passphrase),
                        None => {
                            tried.push(format!(
                                "{} (passphrase-protected: load it with ssh-add)",
                                file.path.display()
                            ));
                            continue;
                        }
                    }
                } else {
                    None
                };
                match session.userauth_pubkey_file(&endpoint.user, None, &file.path, passphrase.as_deref()) {
                    Ok(()) if session.authenticated() => return Ok(()),
                    Ok(()) => tried.push(file.path.display().to_string()),
                    Err(e) => tried.push(format!("{} ({})", file.path.display(), e.message())),
                }
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
    let parsed = ssh_key::PrivateKey::from_openssh(&text).ok();
    let encrypted = match &parsed {
        Some(key) => key.is_encrypted(),
        // PEM keys say so in their headers.
        None => text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY"),
    };
    let public = read_public_file(&path.with_file_name(format!(
        "{}.pub",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    )))
    .or_else(|| parsed.and_then(|key| key.public_key().to_bytes().ok()));
    KeyFile {
        path: path.to_path_buf(),
        public,
        encrypted,
    }
}

/// The blob of a `type base64 [comment]` public key file.
fn read_public_file(path: &Path) -> Option<Vec<u8>> {
    let text = std::fs::read_to_string(path).ok()?;
    let encoded = text.split_whitespace().nth(1)?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}
