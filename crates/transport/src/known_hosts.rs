//! Strict host-key checking with OpenSSH's rules: the line format of sshd(8)
//! "SSH_KNOWN_HOSTS FILE FORMAT" (patterns, negation, hashed names,
//! `[host]:port`, `@revoked`, `@cert-authority`) and the order in which ssh
//! itself decides (sshconnect.c `check_host_key`):
//!
//! 1. a host certificate is checked against the `@cert-authority` lines first;
//!    if no trusted CA signed it, or it is invalid, the plain key inside it is
//!    checked instead (so is a plain key offered without a certificate);
//! 2. a key listed by a matching `@revoked` line is refused, whatever else says;
//! 3. a matching line with this very key trusts it; a matching line with any
//!    other key (of any type) means the key changed;
//! 4. for a host on a port other than 22 with nothing known, the lines of the
//!    bare host name are tried too, and only a match counts.
//!
//! Files: vigie's own (pins written by `vigie trust`) and the user's files
//! (`UserKnownHostsFile`) are read first, then the global ones
//! (`GlobalKnownHostsFile`), all as one list, as ssh does.

use super::host_pattern::known_hosts_field_matches;
use super::TransportError;
use base64::Engine;
use sha2::Digest;
use ssh2::Session;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHostsFiles {
    /// vigie's own pins, written by `vigie trust`.
    pub own: PathBuf,
    /// `UserKnownHostsFile` of the host's ssh configuration.
    pub user: Vec<PathBuf>,
    /// `GlobalKnownHostsFile` of the host's ssh configuration.
    pub global: Vec<PathBuf>,
}

impl KnownHostsFiles {
    pub fn all(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.own.as_path())
            .chain(self.user.iter().map(PathBuf::as_path))
            .chain(self.global.iter().map(PathBuf::as_path))
    }
}

/// How a host is named in known_hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyLookup {
    /// The host name or address connected to (`HostName`).
    pub host: String,
    pub port: u16,
    /// `HostKeyAlias`: looked up instead of the host name, without a port.
    pub alias: Option<String>,
}

impl HostKeyLookup {
    /// The name known_hosts lines are matched against: the alias, or
    /// `[host]:port` (bare `host` on port 22).
    pub fn name(&self) -> String {
        match &self.alias {
            Some(alias) => alias.to_ascii_lowercase(),
            None => host_pattern(&self.host.to_ascii_lowercase(), self.port),
        }
    }

    /// The name a certificate's principals must list.
    fn principal(&self) -> String {
        self.alias.clone().unwrap_or_else(|| self.host.to_ascii_lowercase())
    }

    /// The bare host name, tried when nothing is known for `[host]:port`.
    fn without_port(&self) -> Option<HostKeyLookup> {
        (self.alias.is_none() && self.port != 22).then(|| HostKeyLookup {
            host: self.host.clone(),
            port: 22,
            alias: None,
        })
    }
}

/// The host field of a known_hosts line, as OpenSSH writes it.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 || port == 0 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

/// One usable line of a known_hosts file that names the host looked up.
#[derive(Debug, Clone)]
struct Entry {
    marker: Marker,
    /// The key blob (RFC 4253 wire format).
    blob: Vec<u8>,
    file: PathBuf,
    line: usize,
}

/// Where a key was found, for messages (`file:line`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What the known_hosts files say of the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line lists this key, or a trusted CA certified it for this host.
    Trusted,
    /// Nothing vouches for the key. `certificate_problem` says why the host's
    /// certificate, signed by a trusted CA, is not valid (expired, another
    /// host's...), when that is why.
    Unknown { certificate_problem: Option<String> },
    /// A line for this host lists another key.
    Changed { offending: Location },
    /// An `@revoked` line lists this key (or the CA that signed its certificate).
    Revoked,
}

/// The server's key as sent in the handshake: a plain key, or a host
/// certificate with the plain key inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    /// The plain key's blob (a certificate's inner key).
    pub blob: Vec<u8>,
    /// `SHA256:...` of the plain key, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// The plain key's type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`...
    pub key_type: String,
    /// The host certificate, when the server presented one.
    pub certificate: Option<Box<ssh_key::Certificate>>,
}

impl ServerKey {
    pub fn from_session(session: &Session) -> Option<ServerKey> {
        let (blob, _) = session.host_key()?;
        match ServerKey::from_blob(blob) {
            Some(key) => Some(key),
            // A blob vigie cannot parse (a key type ssh-key does not know):
            // keep it whole, so that only an exact line can trust it.
            None => Some(ServerKey {
                blob: blob.to_vec(),
                fingerprint: fingerprint(blob),
                key_type: key_type_of(blob).unwrap_or_else(|| "unknown".into()),
                certificate: None,
            }),
        }
    }

    /// A plain key or a certificate, as sent on the wire.
    pub fn from_blob(blob: &[u8]) -> Option<ServerKey> {
        let key_type = key_type_of(blob)?;
        if key_type.contains("-cert-v01@openssh.com") {
            let certificate = ssh_key::Certificate::from_bytes(blob).ok()?;
            let plain = ssh_key::PublicKey::new(certificate.public_key().clone(), "")
                .to_bytes()
                .ok()?;
            Some(ServerKey {
                fingerprint: fingerprint(&plain),
                key_type: key_type_of(&plain)?,
                blob: plain,
                certificate: Some(Box::new(certificate)),
            })
        } else {
            Some(ServerKey {
                fingerprint: fingerprint(blob),
                key_type,
                blob: blob.to_vec(),
                certificate: None,
            })
        }
    }

    /// This key without its certificate.
    fn plain(&self) -> ServerKey {
        ServerKey {
            certificate: None,
            ..self.clone()
        }
    }
}

/// `SHA256:` and the unpadded base64 of the blob's SHA-256, as OpenSSH prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    let hash = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    )
}

/// The key type is the first string of the key blob (RFC 4253 §6.6).
fn key_type_of(blob: &[u8]) -> Option<String> {
    let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(length)?)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Every usable line of `files` whose host field names `name`, in file order.
fn load(files: &KnownHostsFiles, name: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for file in files.all() {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            if let Some((marker, blob)) = parse_line(line, name) {
                entries.push(Entry {
                    marker,
                    blob,
                    file: file.to_path_buf(),
                    line: index + 1,
                });
            }
        }
    }
    entries
}

/// One line: `[@marker] hosts keytype base64 [comment]`. `None` for a
/// comment, a line for other hosts, or a line OpenSSH cannot read either.
fn parse_line(line: &str, name: &str) -> Option<(Marker, Vec<u8>)> {
    let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
    let mut first = fields.next()?;
    if first.starts_with('#') {
        return None;
    }
    let marker = match first {
        "@cert-authority" => Marker::CertAuthority,
        "@revoked" => Marker::Revoked,
        other if other.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    if !known_hosts_field_matches(first, name).ok()? {
        return None;
    }
    let key_type = fields.next()?;
    let blob = base64::engine::general_purpose::STANDARD.decode(fields.next()?).ok()?;
    // A line whose blob is not of its stated type is unreadable to OpenSSH.
    (key_type_of(&blob)?.as_str() == key_type).then_some((marker, blob))
}

/// Checks `key` for `lookup` against every file, as ssh does (see the module
/// documentation); `now` is the Unix time certificates are checked at.
pub fn check(files: &KnownHostsFiles, lookup: &HostKeyLookup, key: &ServerKey, now: u64) -> Verdict {
    check_named(files, lookup, key, now, true)
}

fn check_named(files: &KnownHostsFiles, lookup: &HostKeyLookup, key: &ServerKey, now: u64, loud: bool) -> Verdict {
    let entries = load(files, &lookup.name());
    let mut certificate_problem = None;
    if let Some(certificate) = &key.certificate {
        if revoked(&entries, key) {
            return Verdict::Revoked;
        }
        let signer = signature_key_blob(certificate);
        let trusted_ca = entries
            .iter()
            .any(|e| e.marker == Marker::CertAuthority && Some(&e.blob) == signer.as_ref());
        if trusted_ca {
            match certificate_problem_for(certificate, &lookup.principal(), now) {
                None => return Verdict::Trusted,
                Some(problem) => certificate_problem = Some(problem),
            }
        } else if let Some(bare) = lookup.without_port() {
            if check_named(files, &bare, key, now, false) == Verdict::Trusted {
                return Verdict::Trusted;
            }
        }
    }
    // The plain key (of a certificate that did not help, too).
    let plain = key.plain();
    let verdict = plain_key_verdict(&entries, &plain);
    match verdict {
        Verdict::Unknown { .. } => {
            if let Some(bare) = lookup.without_port() {
                if check_named(files, &bare, &plain, now, false) == Verdict::Trusted {
                    return Verdict::Trusted;
                }
            }
            Verdict::Unknown { certificate_problem }
        }
        // A quiet look at the bare name only ever trusts.
        Verdict::Changed { .. } if !loud => Verdict::Unknown { certificate_problem },
        other => other,
    }
}

fn plain_key_verdict(entries: &[Entry], key: &ServerKey) -> Verdict {
    let mut verdict = Verdict::Unknown {
        certificate_problem: None,
    };
    for entry in entries.iter().filter(|e| e.marker == Marker::None) {
        if entry.blob == key.blob {
            verdict = Verdict::Trusted;
            break;
        }
        verdict = Verdict::Changed {
            offending: Location {
                file: entry.file.clone(),
                line: entry.line,
            },
        };
    }
    if revoked(entries, key) {
        return Verdict::Revoked;
    }
    verdict
}

/// Whether an `@revoked` line lists the key, or the CA of its certificate.
fn revoked(entries: &[Entry], key: &ServerKey) -> bool {
    let signer = key.certificate.as_deref().and_then(signature_key_blob);
    entries
        .iter()
        .filter(|e| e.marker == Marker::Revoked)
        .any(|e| e.blob == key.blob || Some(&e.blob) == signer.as_ref())
}

fn signature_key_blob(certificate: &ssh_key::Certificate) -> Option<Vec<u8>> {
    ssh_key::PublicKey::new(certificate.signature_key().clone(), "")
        .to_bytes()
        .ok()
}

/// Why a certificate signed by a trusted CA is still not valid for
/// `principal` at `now`, in OpenSSH's words; `None` when it is valid.
fn certificate_problem_for(certificate: &ssh_key::Certificate, principal: &str, now: u64) -> Option<String> {
    if certificate.cert_type() != ssh_key::certificate::CertType::Host {
        return Some("Certificate invalid: not a host certificate".into());
    }
    if now < certificate.valid_after() {
        return Some("Certificate invalid: not yet valid".into());
    }
    if now >= certificate.valid_before() {
        return Some("Certificate invalid: expired".into());
    }
    // OpenSSH 9.2 compares host certificate principals literally, no wildcards.
    let principals = certificate.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p == principal) {
        return Some("Certificate invalid: name is not a listed principal".into());
    }
    if !certificate.critical_options().is_empty() {
        return Some("Certificate contains unsupported critical options".into());
    }
    if certificate.verify_signature().is_err() {
        return Some("Certificate invalid: bad signature".into());
    }
    None
}

/// The host-key algorithms to offer, in order: `configured`
/// (`HostKeyAlgorithms`) reordered as ssh does (`order_hostkeyalgs`): kept
/// as it is when its first algorithm's key type is known for the host;
/// otherwise the algorithms of key types already known (and every
/// certificate algorithm, when a `@cert-authority` line names the host)
/// first, the rest after, each group in configured order. A type counts as
/// known when the first line of that type for the host is not revoked.
pub fn preferred_algorithms(files: &KnownHostsFiles, lookup: &HostKeyLookup, configured: &[String]) -> Vec<String> {
    let entries = load(files, &lookup.name());
    let has_ca = entries.iter().any(|e| e.marker == Marker::CertAuthority);
    let known = |algorithm: &str| {
        let wanted = plain_key_type(algorithm);
        entries
            .iter()
            .filter(|e| e.marker == Marker::None)
            .find(|e| key_type_of(&e.blob).as_deref() == Some(wanted))
            .is_some_and(|first| {
                !entries
                    .iter()
                    .any(|e| e.marker == Marker::Revoked && e.blob == first.blob)
            })
    };
    if configured.first().is_some_and(|best| known(best)) {
        return configured.to_vec();
    }
    let (first, last): (Vec<&String>, Vec<&String>) = configured
        .iter()
        .partition(|a| (is_certificate_algorithm(a) && has_ca) || known(a));
    first.into_iter().chain(last).cloned().collect()
}

fn is_certificate_algorithm(algorithm: &str) -> bool {
    algorithm.contains("-cert-v01@openssh.com")
}

/// The type of key an algorithm signs with: `rsa-sha2-512-cert-v01@openssh.com` → `ssh-rsa`.
fn plain_key_type(algorithm: &str) -> &str {
    let plain = algorithm.trim_end_matches("-cert-v01@openssh.com");
    match plain {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

/// Turns a verdict into the error that stops the connection, if any.
pub fn enforce(verdict: Verdict, label: &str, lookup: &HostKeyLookup, key: &ServerKey) -> Result<(), TransportError> {
    let host = label.to_string();
    let known_as = lookup.name();
    let fingerprint = key.fingerprint.clone();
    match verdict {
        Verdict::Trusted => Ok(()),
        Verdict::Unknown {
            certificate_problem: Some(problem),
        } if key.certificate.is_some() => Err(TransportError::HostCertificateInvalid {
            host,
            reason: problem,
            fingerprint,
        }),
        Verdict::Unknown { .. } => Err(TransportError::HostKeyUnknown {
            host,
            known_as,
            key_type: key.key_type.clone(),
            fingerprint,
        }),
        Verdict::Changed { offending } => Err(TransportError::HostKeyMismatch {
            host,
            known_as,
            key_type: key.key_type.clone(),
            fingerprint,
            offending: offending.to_string(),
        }),
        Verdict::Revoked => Err(TransportError::HostKeyRevoked {
            host,
            known_as,
            key_type: key.key_type.clone(),
            fingerprint,
        }),
    }
}

/// Appends a pin of `key`'s plain key for `lookup` to vigie's own file,
/// creating it if needed, and syncs it to disk before returning.
pub fn pin(file: &Path, lookup: &HostKeyLookup, key: &ServerKey) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let line = format!(
        "{} {} {}\n",
        lookup.name(),
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

    fn blob(key_type: &str, material: u8) -> Vec<u8> {
        let mut blob = (key_type.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(key_type.as_bytes());
        blob.extend_from_slice(&[0, 0, 0, 1, material]);
        blob
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        let key_type = key_type_of(key).unwrap();
        format!(
            "{hosts} {key_type} {}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    fn plain(key: Vec<u8>) -> ServerKey {
        ServerKey {
            fingerprint: fingerprint(&key),
            key_type: key_type_of(&key).unwrap(),
            blob: key,
            certificate: None,
        }
    }

    fn verdict(text: &str, host: &str, port: u16, key: &ServerKey) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("known_hosts");
        std::fs::write(&own, text).unwrap();
        let files = KnownHostsFiles {
            own,
            user: vec![],
            global: vec![],
        };
        let lookup = HostKeyLookup {
            host: host.into(),
            port,
            alias: None,
        };
        check(&files, &lookup, key, 0)
    }

    fn unknown() -> Verdict {
        Verdict::Unknown {
            certificate_problem: None,
        }
    }

    #[test]
    fn key_type_comes_from_the_blob() {
        assert_eq!(key_type_of(&blob("ssh-ed25519", 7)).as_deref(), Some("ssh-ed25519"));
        assert_eq!(key_type_of(&[0, 0]), None);
        assert_eq!(key_type_of(&[255, 255, 255, 255, 1]), None);
    }

    #[test]
    fn patterns_follow_openssh() {
        assert_eq!(host_pattern("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(host_pattern("127.0.0.11", 2222), "[127.0.0.11]:2222");
    }

    #[test]
    fn the_order_of_checks_is_ssh_s() {
        let key = plain(blob("ssh-ed25519", 1));
        let other = blob("ssh-ed25519", 2);
        let ecdsa = blob("ecdsa-sha2-nistp256", 3);
        assert_eq!(verdict(&line("h", &key.blob), "h", 22, &key), Verdict::Trusted);
        assert_eq!(verdict("", "h", 22, &key), unknown());
        assert!(
            matches!(verdict(&line("h", &other), "h", 22, &key), Verdict::Changed { offending } if offending.line == 1)
        );
        // A key of another type is a change too, as in ssh (negotiation avoids it).
        assert!(matches!(
            verdict(&line("h", &ecdsa), "h", 22, &key),
            Verdict::Changed { .. }
        ));
        // Any line with the key wins over other lines.
        let both = line("h", &other) + &line("h", &key.blob);
        assert_eq!(verdict(&both, "h", 22, &key), Verdict::Trusted);
        // @revoked wins over everything.
        let revoked = format!(
            "{}@revoked * {}",
            line("h", &key.blob),
            line("", &key.blob).trim_start()
        );
        assert_eq!(verdict(&revoked, "h", 22, &key), Verdict::Revoked);
    }

    #[test]
    fn ports_and_the_bare_name() {
        let key = plain(blob("ssh-ed25519", 1));
        let other = blob("ssh-ed25519", 2);
        // The bare host's line vouches for a host on another port...
        assert_eq!(verdict(&line("h", &key.blob), "h", 2222, &key), Verdict::Trusted);
        // ...but another key there is no change: the port's key is just unknown.
        assert_eq!(verdict(&line("h", &other), "h", 2222, &key), unknown());
        assert!(matches!(
            verdict(&line("[h]:2222", &other), "h", 2222, &key),
            Verdict::Changed { .. }
        ));
        assert_eq!(verdict(&line("[h]:2222", &key.blob), "h", 22, &key), unknown());
    }

    #[test]
    fn wildcards_and_negation() {
        let key = plain(blob("ssh-ed25519", 1));
        let other = blob("ssh-ed25519", 2);
        assert_eq!(
            verdict(&line("10.0.0.*", &key.blob), "10.0.0.5", 22, &key),
            Verdict::Trusted
        );
        assert!(matches!(
            verdict(&line("10.0.0.*", &other), "10.0.0.5", 22, &key),
            Verdict::Changed { .. }
        ));
        assert_eq!(
            verdict(&line("10.0.0.*,!10.0.0.5", &other), "10.0.0.5", 22, &key),
            unknown()
        );
    }

    #[test]
    fn unreadable_lines_are_skipped_as_ssh_skips_them() {
        let key = plain(blob("ssh-ed25519", 1));
        let lying = format!(
            "h ssh-rsa {}\n@bogus h {}",
            base64::engine::general_purpose::STANDARD.encode(&key.blob),
            line("", &key.blob).trim_start()
        );
        assert_eq!(verdict(&lying, "h", 22, &key), unknown());
    }

    #[test]
    fn known_types_are_offered_first() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("kh");
        std::fs::write(&own, line("h", &blob("ecdsa-sha2-nistp256", 1))).unwrap();
        let files = KnownHostsFiles {
            own,
            ..Default::default()
        };
        let lookup = HostKeyLookup {
            host: "h".into(),
            port: 22,
            alias: None,
        };
        let configured: Vec<String> = [
            "ssh-ed25519-cert-v01@openssh.com",
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "rsa-sha2-512",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            preferred_algorithms(&files, &lookup, &configured),
            [
                "ecdsa-sha2-nistp256",
                "ssh-ed25519-cert-v01@openssh.com",
                "ssh-ed25519",
                "rsa-sha2-512"
            ]
        );
        let other = HostKeyLookup {
            host: "x".into(),
            ..lookup
        };
        assert_eq!(preferred_algorithms(&files, &other, &configured), configured);
        assert_eq!(plain_key_type("rsa-sha2-256-cert-v01@openssh.com"), "ssh-rsa");
    }
}
