//! Incidents: a directory `<incidents_dir>/<YYYY-MM-DD>-<slug>/` holding the
//! timeline. Title, severity and status are derived from the timeline's
//! events, so there is no second file to drift out of sync.

use crate::config::Config;
use crate::timeline::payload::{Change, IncidentDeclared, RoleAssigned};
use crate::timeline::redact::Redactor;
use crate::timeline::store::DEFAULT_OUTPUT_CAP;
use crate::timeline::view::{amended, Mark};
use crate::timeline::{Event, NewEvent, Payload, Timeline, TimelineError, TimelineOptions, TIMELINE_FILE};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

// The incident's severity and status are timeline vocabulary (they are
// recorded in events), so they live with the other payloads.
pub use crate::timeline::payload::{Severity, Status};

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Minor, Severity::Major, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Investigating,
        Status::Identified,
        Status::Mitigated,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
        }
    }
}

/// What the timeline says about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub dir: PathBuf,
    /// The directory name: `2026-11-23-miramelle-down`.
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub started: DateTime<Utc>,
    /// When the impact began (see [`IncidentState::impact_started`]).
    pub impact_started: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
    pub events: usize,
    pub responders: Vec<String>,
}

impl Summary {
    pub fn is_open(&self) -> bool {
        self.status != Status::Resolved
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error(transparent)]
    Timeline(#[from] TimelineError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// The timeline options for this config: actor, redaction, output cap.
pub fn timeline_options(config: &Config) -> Result<TimelineOptions, IncidentError> {
    let patterns: Vec<String> = config
        .settings
        .redact_patterns
        .iter()
        .map(|p| p.get_ref().clone())
        .collect();
    let redactor = Redactor::new(&patterns).map_err(|e| IncidentError::Invalid(format!("redact_patterns: {e}")))?;
    Ok(TimelineOptions {
        actor: actor(config),
        redactor,
        output_cap: config.settings.timeline_output_cap.unwrap_or(DEFAULT_OUTPUT_CAP),
        share: !config.settings.sync_remotes.is_empty(),
    })
}

/// `settings.responder`, else `user@host`.
pub fn actor(config: &Config) -> String {
    if let Some(name) = config.settings.responder.as_ref().filter(|n| !n.trim().is_empty()) {
        return name.trim().to_string();
    }
    // Who is at the keyboard: under sudo the person, not root; else the
    // environment's name, else the account this process runs as.
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|u| !u.trim().is_empty() && u != "root")
        .or_else(account_name)
        .unwrap_or_else(|| format!("uid{}", current_uid()));
    format!(
        "{}@{}",
        crate::sanitize::one_line(&user),
        crate::config::local_host_name()
    )
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The name of the account this process runs as (the password database).
fn account_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer to static storage or null; the name
    // is copied out at once, before any other call could reuse it.
    let entry = unsafe { libc::getpwuid(current_uid()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: entry is non-null; pw_name is a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*entry).pw_name) };
    name.to_str().ok().map(String::from).filter(|n| !n.is_empty())
}

/// `Miramelle down (again)!` → `miramelle-down-again`.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "incident".to_string()
    } else {
        slug
    }
}

/// The event that moves the incident from one status to another.
pub fn status_change(from: Status, to: Status) -> NewEvent {
    NewEvent::from(Payload::StatusChanged(Change { from, to }))
}

/// The event that changes the incident's severity.
pub fn severity_change(from: Severity, to: Severity) -> NewEvent {
    NewEvent::from(Payload::SeverityChanged(Change { from, to }))
}

/// The event that says `who` holds `role` from now on.
pub fn role_assignment(who: &str, role: &str) -> NewEvent {
    NewEvent::from(Payload::RoleAssigned(RoleAssigned {
        who: who.trim().to_string(),
        role: role.trim().to_string(),
    }))
}

/// Creates the incident directory and records `incident.declared`.
pub fn declare(
    incidents_dir: &Path,
    title: &str,
    severity: Severity,
    options: TimelineOptions,
) -> Result<(PathBuf, Event), IncidentError> {
    if title.trim().is_empty() {
        return Err(IncidentError::Invalid("an incident needs a title".into()));
    }
    crate::files::create_dir_all(incidents_dir).map_err(|source| IncidentError::Io {
        path: incidents_dir.to_path_buf(),
        source,
    })?;
    let mut base = format!(
        "{}-{}",
        Utc::now().format("%Y-%m-%d"),
        slug(&crate::sanitize::one_line(title))
    );
    // Shared across machines, two responders who have not synced yet may
    // declare the same title the same day: a few random characters keep
    // their incidents apart (and away from an old one of that name).
    if options.share {
        let random = ulid::Ulid::new().to_string().to_lowercase();
        base.push('-');
        base.push_str(&random[random.len() - 4..]);
    }
    // create_dir is atomic: two responders declaring at once get two
    // directories. Any failure but "exists" is the answer (permissions, a full disk).
    let mut dir = None;
    for n in 1..1000 {
        let candidate = if n == 1 {
            incidents_dir.join(&base)
        } else {
            incidents_dir.join(format!("{base}-{n}"))
        };
        match crate::files::create_dir(&candidate) {
            Ok(()) => {
                dir = Some(candidate);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(IncidentError::Io {
                    path: candidate,
                    source,
                })
            }
        }
    }
    let dir = dir.ok_or_else(|| {
        IncidentError::Invalid(format!(
            "cannot create an incident directory in {}: 999 incidents named {base} already",
            incidents_dir.display()
        ))
    })?;
    let mut timeline = Timeline::open(&dir, options.clone())?;
    let event = timeline.append(NewEvent::from(Payload::IncidentDeclared(IncidentDeclared {
        // From the command line or a form: made inert where it enters.
        title: crate::sanitize::one_line(title.trim()),
        severity,
        status: Status::Investigating,
    })))?;
    drop(timeline);
    // The alerts already firing, at the times they began: the incident
    // starts where the outage started, not when someone noticed.
    crate::fleet::record_firing(incidents_dir, &dir, options);
    Ok((dir, event))
}

/// What the timeline says the incident is so far. Folded one event at a
/// time, by the summary (over the amended view) and by the cockpit (as events
/// arrive), so both read the same events the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentState {
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    /// When it was declared.
    pub started: DateTime<Utc>,
    /// When the impact began: the first alert recorded, if it came before
    /// the declaration (the outage of 19:30 declared at 19:41).
    pub impact_started: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
}

impl IncidentState {
    /// `None` until `incident.declared`; then severity and status changes apply.
    pub fn fold(state: Option<IncidentState>, event: &Event) -> Option<IncidentState> {
        let payload = event.payload();
        let Some(mut state) = state else {
            return match payload {
                Payload::IncidentDeclared(declared) => Some(IncidentState {
                    title: declared.title,
                    severity: declared.severity,
                    status: Status::Investigating,
                    started: event.at,
                    impact_started: event.at,
                    resolved: None,
                }),
                _ => None,
            };
        };
        match payload {
            Payload::SeverityChanged(change) => state.severity = change.to,
            Payload::StatusChanged(change) => {
                state.status = change.to;
                state.resolved = (state.status == Status::Resolved).then_some(event.at);
            }
            Payload::AlertRaised(_) | Payload::HostUnreachable(_) => {
                state.impact_started = state.impact_started.min(event.at);
            }
            _ => {}
        }
        Some(state)
    }
}

/// Reads an incident's timeline and derives its summary.
pub fn summarize(dir: &Path) -> Result<Summary, IncidentError> {
    let events = crate::timeline::read_incident(dir)?;
    let view = amended(&events);
    let mut state = None;
    let mut responders: Vec<String> = Vec::new();
    for item in &view {
        let event = &item.event;
        state = IncidentState::fold(state, event);
        if !responders.contains(&event.actor) && event.actor != "alert" {
            responders.push(event.actor.clone());
        }
        // An event marked "resolved" stands in for a status change, until the next one.
        if let Some(state) = state.as_mut().filter(|_| item.marks.contains(&Mark::Resolved)) {
            state.resolved = state.resolved.or(Some(event.at));
        }
    }
    let mut state =
        state.ok_or_else(|| IncidentError::Invalid(format!("{}: no incident.declared event", dir.display())))?;
    // The view reads in the order things happened: an alert amended to
    // before the declaration came before the fold knew of an incident.
    let first_alert = view
        .iter()
        .filter(|v| matches!(v.event.payload(), Payload::AlertRaised(_) | Payload::HostUnreachable(_)))
        .map(|v| v.event.at)
        .min();
    if let Some(first_alert) = first_alert {
        state.impact_started = state.impact_started.min(first_alert);
    }
    let summary = Summary {
        dir: dir.to_path_buf(),
        id: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        title: state.title,
        severity: state.severity,
        status: state.status,
        started: state.started,
        impact_started: state.impact_started,
        resolved: state.resolved,
        events: events.len(),
        responders,
    };
    Ok(summary)
}

/// Every incident under `incidents_dir`, oldest first. Unreadable ones are
/// reported, not hidden.
pub fn list(incidents_dir: &Path) -> Vec<Result<Summary, IncidentError>> {
    let Ok(entries) = std::fs::read_dir(incidents_dir) else {
        return vec![];
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| crate::timeline::sources::is_incident(p))
        .collect();
    dirs.sort();
    let mut summaries: Vec<Result<Summary, IncidentError>> = dirs.iter().map(|d| summarize(d)).collect();
    summaries.sort_by_key(|s| s.as_ref().map(|s| s.started).ok());
    summaries
}

/// The open incidents under `incidents_dir`, the most recently declared first.
pub fn open_incidents(incidents_dir: &Path) -> Vec<Summary> {
    let mut open: Vec<Summary> = list(incidents_dir)
        .into_iter()
        .flatten()
        .filter(Summary::is_open)
        .collect();
    // `list` is oldest first (ties in directory order): the newest is the last.
    open.reverse();
    open
}

/// The incident commands act on: `explicit` (`--incident` / `$VIGIE_INCIDENT`),
/// else the most recently declared open incident.
pub fn current(explicit: Option<&Path>, incidents_dir: &Path) -> Result<PathBuf, IncidentError> {
    if let Some(dir) = explicit {
        if crate::timeline::sources::is_incident(dir) {
            return Ok(dir.to_path_buf());
        }
        // A bare id is looked up in incidents_dir.
        let by_id = incidents_dir.join(dir);
        if crate::timeline::sources::is_incident(&by_id) {
            return Ok(by_id);
        }
        return Err(IncidentError::Invalid(format!(
            "{} is not an incident directory (no {TIMELINE_FILE}, no events/)",
            dir.display()
        )));
    }
    open_incidents(incidents_dir)
        .into_iter()
        .next()
        .map(|s| s.dir)
        .ok_or_else(|| {
            IncidentError::Invalid(format!(
                "no open incident in {}: declare one with `vigie incident new TITLE`, or name a closed one with `--incident ID` (`vigie incident list`)",
                incidents_dir.display()
            ))
        })
}

/// For reports: the current incident, else the most recently declared one,
/// open or not (a post-mortem is written once the incident is resolved).
pub fn current_or_latest(explicit: Option<&Path>, incidents_dir: &Path) -> Result<PathBuf, IncidentError> {
    if explicit.is_some() {
        return current(explicit, incidents_dir);
    }
    current(None, incidents_dir).or_else(|_| {
        list(incidents_dir)
            .into_iter()
            .flatten()
            .max_by_key(|s| s.started)
            .map(|s| s.dir)
            .ok_or_else(|| {
                IncidentError::Invalid(format!(
                    "no incident in {}: declare one with `vigie incident new TITLE`, or name one with `--incident DIR`",
                    incidents_dir.display()
                ))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::event::kinds;

    #[test]
    fn slugs_are_safe_and_readable() {
        assert_eq!(slug("Miramelle down (again)!"), "miramelle-down-again");
        assert_eq!(slug("Réplication cassée"), "replication-cassee");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("!!!"), "incident");
    }

    #[test]
    fn declare_summarize_and_find_the_current_incident() {
        let root = tempfile::tempdir().unwrap();
        let (dir, _) = declare(
            root.path(),
            "miramelle down",
            Severity::Critical,
            TimelineOptions::new("alice"),
        )
        .unwrap();
        let (second, _) = declare(
            root.path(),
            "miramelle down",
            Severity::Minor,
            TimelineOptions::new("bob"),
        )
        .unwrap();
        assert_ne!(dir, second, "same title, same day: two directories");
        assert_eq!(current(None, root.path()).unwrap(), second);

        let mut timeline = Timeline::open(&second, TimelineOptions::new("bob")).unwrap();
        timeline
            .append(NewEvent::new(
                kinds::STATUS_CHANGED,
                serde_json::json!({"from": "investigating", "to": "resolved"}),
            ))
            .unwrap();
        let summary = summarize(&second).unwrap();
        assert_eq!(summary.status, Status::Resolved);
        assert!(summary.resolved.is_some());
        assert_eq!(
            current(None, root.path()).unwrap(),
            dir,
            "resolved incidents are not current"
        );

        let first = summarize(&dir).unwrap();
        assert_eq!(
            (first.title.as_str(), first.severity, first.status),
            ("miramelle down", Severity::Critical, Status::Investigating)
        );
        assert_eq!(first.responders, vec!["alice".to_string()]);
    }
}
