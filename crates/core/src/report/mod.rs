//! The post-mortem, derived from the timeline: a format-independent model
//! (`model.rs`) and one renderer per format (`markdown.rs`, `html.rs`,
//! `json.rs`).

pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod zone;

pub use model::Report;
pub use zone::Zone;

use std::path::{Path, PathBuf};

/// Why a post-mortem could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Incident(#[from] crate::incident::IncidentError),
    #[error(transparent)]
    Timeline(#[from] crate::timeline::TimelineError),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("unknown format {0:?}: use one of md, html, json")]
    UnknownFormat(String),
    #[error("not ready to be final: {}; write it as a draft until then (without --final)", .0.join("; "))]
    NotReady(Vec<String>),
}

/// Narrative sections written beforehand, in files (`--summary`,
/// `--impact`, `--root-cause`...): (section tag, file).
#[derive(Debug, Clone, Default)]
pub struct NarrativeFiles {
    pub files: Vec<(&'static str, PathBuf)>,
    /// The post-mortem is final (reviewed), not a draft.
    pub final_version: bool,
}

impl NarrativeFiles {
    /// Puts each file's Markdown before the tagged notes of its section.
    fn apply(&self, narrative: &mut model::Narrative) -> Result<(), ReportError> {
        for (tag, path) in &self.files {
            let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
                path: path.clone(),
                source,
            })?;
            narrative.set_written(tag, &text);
        }
        Ok(())
    }
}

/// The report of the incident in `dir`, as it stands now.
pub fn for_incident(dir: &Path, files: &NarrativeFiles) -> Result<Report, ReportError> {
    let summary = crate::incident::summarize(dir)?;
    let events = crate::timeline::read_incident(dir)?;
    let mut report = Report::new(summary, &events);
    files.apply(&mut report.narrative)?;
    if files.final_version {
        let missing = report.not_ready_to_publish();
        if !missing.is_empty() {
            return Err(ReportError::NotReady(missing));
        }
    }
    report.final_version = files.final_version;
    Ok(report)
}

/// The formats `vigie report --format` knows.
pub const FORMATS: &[&str] = &["md", "html", "json"];

/// `report` in `format` (`md`, `html` or `json`), its local times in `zone`.
pub fn render(report: &Report, format: &str, zone: Zone) -> Result<String, ReportError> {
    match format {
        "md" => Ok(markdown::render(report, zone)),
        "html" => Ok(html::render(report, zone)),
        "json" => Ok(json::render(report, zone)),
        other => Err(ReportError::UnknownFormat(other.to_string())),
    }
}

/// The post-mortem of the incident in `dir` in `format`.
pub fn render_for_incident(
    dir: &Path,
    files: &NarrativeFiles,
    format: &str,
    zone: Zone,
) -> Result<String, ReportError> {
    render(&for_incident(dir, files)?, format, zone)
}

/// Writes `report.md` and `report.html` beside the timeline, each whole or
/// not at all (a temporary file renamed over the old one); returns their paths.
pub fn write_for_incident(dir: &Path, zone: Zone) -> Result<Vec<PathBuf>, ReportError> {
    let report = for_incident(dir, &NarrativeFiles::default())?;
    let mut written = Vec::new();
    for format in ["md", "html"] {
        let path = dir.join(format!("report.{format}"));
        write_whole(&path, &render(&report, format, zone)?)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `text` to `path` through a temporary file: a reader never sees half a report.
pub fn write_whole(path: &Path, text: &str) -> Result<(), ReportError> {
    // Said plainly, rather than through the temporary file's name.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        return Err(ReportError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the directory {} does not exist", parent.display()),
            ),
        });
    }
    crate::files::write_atomically(path, text.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
