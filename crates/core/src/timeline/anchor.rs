//! What this machine's vigie last wrote to a timeline, kept outside it (in
//! `$XDG_STATE_HOME/vigie/anchors`): a hash chain shows an edited line but
//! not lines cut off its end; the anchor does. `vigie timeline verify`
//! compares the file with it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    /// The sequence number of the last event this machine appended.
    pub seq: u64,
    /// Its line's hash, as the next event's `prev` records it.
    pub hash: String,
}

/// Where the anchor of the timeline at `path` is kept: one file per
/// timeline, named after its absolute path.
fn anchor_path(timeline: &Path) -> PathBuf {
    let absolute = std::fs::canonicalize(timeline).unwrap_or_else(|_| timeline.to_path_buf());
    let name = super::store::sha256_hex(absolute.as_os_str().as_encoded_bytes());
    crate::config::xdg_dir("XDG_STATE_HOME", ".local/state")
        .join("vigie")
        .join("anchors")
        .join(format!("{}.json", &name[..32]))
}

/// Remembers that this machine appended event `seq` (line hash `hash`).
/// Best effort: a read-only home must not stop a responder from writing.
pub fn remember(timeline: &Path, seq: u64, hash: &str) {
    let path = anchor_path(timeline);
    let Some(dir) = path.parent() else { return };
    if crate::files::create_dir_all(dir).is_err() {
        return;
    }
    let anchor = Anchor {
        seq,
        hash: hash.to_string(),
    };
    let Ok(text) = serde_json::to_vec(&anchor) else { return };
    // In a private directory of this user: a fixed temporary name is safe.
    // No fsync: it guards against a cut, not against a power loss.
    let temporary = path.with_extension("json.tmp");
    if std::fs::write(&temporary, text).is_ok() {
        let _ = std::fs::rename(&temporary, &path);
    }
}

/// What this machine last appended to the timeline at `path`, if anything.
pub fn recalled(timeline: &Path) -> Option<Anchor> {
    let text = std::fs::read(anchor_path(timeline)).ok()?;
    serde_json::from_slice(&text).ok()
}
