//! The post-mortem, derived from the timeline: a format-independent model
//! (`model.rs`) and one renderer per format (`markdown.rs`, `json.rs`).

pub mod json;
pub mod markdown;
pub mod model;

pub use model::Report;

use std::path::{Path, PathBuf};

/// Narrative sections written beforehand, in files (`--summary`, `--impact`).
#[derive(Debug, Clone, Default)]
pub struct NarrativeFiles {
    pub summary: Option<PathBuf>,
    pub impact: Option<PathBuf>,
}

impl NarrativeFiles {
    /// Puts each file's paragraphs before the tagged notes of its section.
    fn apply(&self, narrative: &mut model::Narrative) -> Result<(), String> {
        for (file, section) in [
            (&self.summary, &mut narrative.summary),
            (&self.impact, &mut narrative.impact),
        ] {
            let Some(path) = file else { continue };
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let paragraphs: Vec<String> = text
                .split("\n\n")
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| !p.is_empty())
                .collect();
            section.splice(0..0, paragraphs);
        }
        Ok(())
    }
}

/// The report of the incident in `dir`, as it stands now.
pub fn for_incident(dir: &Path, files: &NarrativeFiles) -> Result<Report, String> {
    let summary = crate::incident::summarize(dir).map_err(|e| e.to_string())?;
    let events =
        crate::timeline::store::read_all(&dir.join(crate::timeline::TIMELINE_FILE)).map_err(|e| e.to_string())?;
    let mut report = Report::new(summary, &events);
    files.apply(&mut report.narrative)?;
    Ok(report)
}

/// The post-mortem of the incident in `dir` in `format` (`md` or `json`).
pub fn render_for_incident(dir: &Path, files: &NarrativeFiles, format: &str) -> Result<String, String> {
    let report = for_incident(dir, files)?;
    match format {
        "md" => Ok(markdown::render(&report, *chrono::Local::now().offset())),
        "json" => Ok(json::render(&report)),
        other => Err(format!(
            "--format {other} is not available yet in this version (md and json are)"
        )),
    }
}

/// Writes `report.md` beside the timeline, whole or not at all (a temporary
/// file renamed over the old report), and returns its path.
pub fn write_for_incident(dir: &Path) -> Result<PathBuf, String> {
    let text = render_for_incident(dir, &NarrativeFiles::default(), "md")?;
    let path = dir.join("report.md");
    let temporary = dir.join(".report.md.tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
