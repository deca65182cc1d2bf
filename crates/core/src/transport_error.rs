//! Why a command could not reach or run on a host: plain data, shared by the
//! transports that produce it and the status model and alerts that read it.

use std::time::Duration;

/// Why a command could not run or finish. The text is shown to responders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("connection refused")]
    Refused,
    #[error("connection timed out")]
    ConnectTimeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error(
        "no {key_type} host key is known for {host} ({known_as}), which presents {fingerprint}: check it, then run \
         `vigie trust {host}`"
    )]
    HostKeyUnknown {
        /// The inventory name (or, for a jump host, the hop as written).
        host: String,
        /// The name looked up in known_hosts: `[host]:port`, or the alias.
        known_as: String,
        key_type: String,
        fingerprint: String,
    },
    #[error(
        "HOST KEY CHANGED for {host} ({known_as}): its {key_type} key is now {fingerprint}, and {offending} lists \
         another key — refusing to connect"
    )]
    HostKeyMismatch {
        host: String,
        known_as: String,
        key_type: String,
        fingerprint: String,
        /// `file:line` of the line with the other key.
        offending: String,
    },
    #[error(
        "REVOKED HOST KEY for {host} ({known_as}): its {key_type} key {fingerprint}, or the CA that signed its \
         certificate, is marked @revoked — refusing to connect"
    )]
    HostKeyRevoked {
        host: String,
        known_as: String,
        key_type: String,
        fingerprint: String,
    },
    #[error("host certificate of {host} refused ({reason}), and its key {fingerprint} is not known otherwise")]
    HostCertificateInvalid {
        host: String,
        reason: String,
        fingerprint: String,
    },
    #[error("ssh configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// The host's key was refused (unknown, changed, revoked, or its
    /// certificate invalid): nothing a retry fixes until known_hosts changes.
    pub fn is_host_key_refusal(&self) -> bool {
        matches!(
            self,
            TransportError::HostKeyUnknown { .. }
                | TransportError::HostKeyMismatch { .. }
                | TransportError::HostKeyRevoked { .. }
                | TransportError::HostCertificateInvalid { .. }
        )
    }
}
