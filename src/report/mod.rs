//! The post-mortem, derived from the timeline: a format-independent model
//! (`model.rs`) and one renderer per format (`markdown.rs`).

pub mod markdown;
pub mod model;

pub use model::Report;

use std::path::{Path, PathBuf};

/// The Markdown post-mortem of the incident in `dir`, as it stands now.
pub fn markdown_for_incident(dir: &Path) -> Result<String, String> {
    let summary = crate::incident::summarize(dir).map_err(|e| e.to_string())?;
    let events =
        crate::timeline::store::read_all(&dir.join(crate::timeline::TIMELINE_FILE)).map_err(|e| e.to_string())?;
    let report = Report::new(summary, &events);
    Ok(markdown::render(&report, *chrono::Local::now().offset()))
}

/// Writes `report.md` beside the timeline, whole or not at all (a temporary
/// file renamed over the old report), and returns its path.
pub fn write_for_incident(dir: &Path) -> Result<PathBuf, String> {
    let text = markdown_for_incident(dir)?;
    let path = dir.join("report.md");
    let temporary = dir.join(".report.md.tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
