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
pub fn location(timeline: &Path) -> PathBuf {
    let absolute = std::fs::canonicalize(timeline).unwrap_or_else(|_| timeline.to_path_buf());
    let name = super::store::sha256_hex(absolute.as_os_str().as_encoded_bytes());
    crate::config::xdg_dir("XDG_STATE_HOME", ".local/state")
        .join("vigie")
        .join("anchors")
        .join(format!("{}.json", &name[..32]))
}

/// Remembers that this machine appended event `seq` (line hash `hash`)
/// after the file's end was `before` (the event it followed). The anchor
/// never moves past evidence: if the file had fewer events than the anchor
/// (cut off) or its last event was not the anchored one (replaced), the
/// anchor stays, and `verify` keeps saying so. Best effort: a read-only or
/// foreign state directory must not stop a responder from writing.
/// `anchor` is the timeline's [`location`], found once when it is opened.
pub fn remember(anchor: &Path, before: &Anchor, seq: u64, hash: &str) {
    if let Some(kept) = recalled(anchor) {
        let cut = kept.seq > before.seq;
        let replaced = kept.seq == before.seq && kept.hash != before.hash;
        if cut || replaced {
            return;
        }
    }
    keep(
        anchor,
        &Anchor {
            seq,
            hash: hash.to_string(),
        },
    );
}

/// Writes `kept` as the anchor at `anchor` (a timeline's [`location`]),
/// best effort as [`remember`] is: a file moved keeps its evidence.
pub fn keep(anchor: &Path, kept: &Anchor) {
    let path = anchor;
    let Some(dir) = path.parent() else { return };
    if crate::files::create_dir_all(dir).is_err() || !is_mine_and_private(dir) {
        return;
    }
    let Ok(text) = serde_json::to_vec(kept) else { return };
    // An exclusive temporary file, renamed: never written through a link.
    // No fsync: it guards against a cut, not against a power loss.
    let _ = crate::files::replace_without_sync(path, &text);
}

/// The anchors directory must be this user's own, and closed to others:
/// another user's directory would let them choose what verify believes.
fn is_mine_and_private(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    meta.is_dir() && meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o022 == 0
}

/// What this machine last appended to the timeline at `path`, if anything.
/// `anchor` is the timeline's [`location`].
pub fn recalled(anchor: &Path) -> Option<Anchor> {
    let path = anchor;
    if !path.parent().is_some_and(is_mine_and_private) {
        return None;
    }
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}
