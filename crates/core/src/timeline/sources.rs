//! The event files an incident's timeline is made of.
//!
//! An incident written on one machine has one file, `timeline.jsonl`, that
//! every responder of that machine appends to under a lock. An incident
//! shared across machines (its directory has an `events/` directory, see
//! `docs/timeline.md`) also has one file per writer, `events/<writer>.jsonl`:
//! each machine appends only to its own, so copying files between machines
//! never merges two writers' lines and can never conflict. The timeline is
//! all of them merged: each file's events in its own order, files
//! interleaved by the time events were recorded, every event once.

use super::event::Event;
use super::store::{DamagedLine, Follower, TimelineError};
use super::TIMELINE_FILE;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The directory of per-writer event files in a shared incident.
pub const EVENTS_DIR: &str = "events";

/// Whether `dir` is an incident: it has an event file.
pub fn is_incident(dir: &Path) -> bool {
    !event_files(dir).is_empty()
}

/// Whether `dir` is shared across machines: writers append to files of their own.
pub fn is_shared(dir: &Path) -> bool {
    dir.join(EVENTS_DIR).is_dir()
}

/// `alice@laptop`: who writes, and on which machine (the actor names its
/// machine, or this machine's name is added), made safe as a file name. A
/// watcher's role comes last: `alice@laptop (watch)` → `alice@laptop--watch`.
pub fn writer_name(actor: &str) -> String {
    let (who, role) = match actor.trim().strip_suffix(')').and_then(|a| a.rsplit_once(" (")) {
        Some((who, role)) => (who, Some(role)),
        None => (actor.trim(), None),
    };
    let who = if who.contains('@') {
        who.to_string()
    } else {
        format!("{who}@{}", crate::config::local_host_name())
    };
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '@' => c,
                _ => '_',
            })
            .collect()
    };
    let full = match role {
        Some(role) => format!("{}--{}", safe(&who), safe(role)),
        None => safe(&who),
    };
    // Never hidden, never a path of its own.
    full.trim_start_matches('.').to_string()
}

/// Where the events written to `timeline.jsonl` before the incident was
/// shared go, when `actor` shares it: a file of this machine's,
/// `events/<writer>--timeline.jsonl`, sent to other machines like any writer's.
pub fn legacy_file_name(actor: &str) -> String {
    format!("{}--timeline.jsonl", writer_name(actor))
}

/// Makes `dir` shared across machines: from now on each writer appends to a
/// file of its own under `events/`, and `timeline.jsonl`, if there is one,
/// becomes this machine's file there ([`legacy_file_name`] of `actor`, who
/// shares it). The move happens under the file's lock: a writer waiting for
/// it appends to the moved file (which is still this machine's), then
/// follows the incident to its own.
pub fn share(dir: &Path, actor: &str) -> Result<(), TimelineError> {
    let events = dir.join(EVENTS_DIR);
    let io = super::store::io_error;
    match crate::files::create_dir(&events) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(&events)(e)),
    }
    let single = dir.join(TIMELINE_FILE);
    let Ok(file) = std::fs::OpenOptions::new().read(true).append(true).open(&single) else {
        return Ok(());
    };
    let _lock = super::store::FileLock::exclusive(&file).map_err(io(&single))?;
    if !single.is_file() {
        // Another process moved it while we waited for the lock.
        return Ok(());
    }
    let moved = events.join(legacy_file_name(actor));
    if moved.exists() {
        return Err(TimelineError::Io {
            path: moved,
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "cannot move timeline.jsonl there: the file exists",
            ),
        });
    }
    // This machine's evidence of what it wrote follows the file.
    let anchor = super::anchor::location(&single);
    std::fs::rename(&single, &moved).map_err(io(&single))?;
    if let Some(kept) = super::anchor::recalled(&anchor) {
        super::anchor::keep(&super::anchor::location(&moved), &kept);
    }
    Ok(())
}

/// The file `actor` appends to in the incident `dir`.
pub fn own_file(dir: &Path, actor: &str) -> PathBuf {
    if is_shared(dir) {
        dir.join(EVENTS_DIR).join(format!("{}.jsonl", writer_name(actor)))
    } else {
        dir.join(TIMELINE_FILE)
    }
}

/// Every event file of `dir`: `timeline.jsonl` if there is one, then the
/// writers' files by name. Anything else in `events/` is not read.
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let single = dir.join(TIMELINE_FILE);
    if single.is_file() {
        files.push(single);
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(EVENTS_DIR)) {
        let mut writers: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "jsonl")
                    && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
                    && p.is_file()
            })
            .collect();
        writers.sort();
        files.extend(writers);
    }
    files
}

/// The events of several files as one timeline, ordered by when they
/// happened (`at`), then when they were recorded, then number, then id: an order that
/// depends on the events only, never on which file or machine they came
/// from, so every machine holding the same events reads the same timeline.
/// An event already taken (a fleet event every watcher recorded, with the
/// same id) is not taken again. A single file keeps its own order, as
/// incidents written on one machine always have.
pub fn merge(per_file: Vec<Vec<Event>>, seen: &mut HashSet<String>) -> Vec<Event> {
    let single = per_file.len() == 1;
    let mut merged: Vec<Event> = per_file
        .into_iter()
        .flatten()
        .filter(|e| seen.insert(e.id.clone()))
        .collect();
    if !single {
        // The number before the id: one writer's events of the same
        // millisecond (a command sent and finished) stay in their order.
        merged.sort_by(|a, b| (a.at, a.recorded_at, a.seq, &a.id).cmp(&(b.at, b.recorded_at, b.seq, &b.id)));
    }
    merged
}

/// Every event of the incident `dir`, merged ([`merge`]).
pub fn read_incident(dir: &Path) -> Result<Vec<Event>, TimelineError> {
    Ok(read_incident_with_damage(dir)?.0)
}

/// [`read_incident`], with the lines that are not events (skipped, named by file).
pub fn read_incident_with_damage(dir: &Path) -> Result<(Vec<Event>, Vec<DamagedLine>), TimelineError> {
    let mut follower = IncidentFollower::from_start(dir);
    let events = follower.poll()?;
    Ok((events, follower.take_damaged()))
}

/// Follows every event file of an incident, including those that appear
/// later (another machine's, arriving by sync): each `poll` returns the
/// events added since the last, each once.
pub struct IncidentFollower {
    dir: PathBuf,
    followers: Vec<Follower>,
    seen: HashSet<String>,
}

impl IncidentFollower {
    pub fn from_start(dir: &Path) -> IncidentFollower {
        IncidentFollower {
            dir: dir.to_path_buf(),
            followers: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The damaged lines met since the last call, each naming its file.
    pub fn take_damaged(&mut self) -> Vec<DamagedLine> {
        self.followers.iter_mut().flat_map(Follower::take_damaged).collect()
    }

    pub fn poll(&mut self) -> Result<Vec<Event>, TimelineError> {
        for file in event_files(&self.dir) {
            if !self.followers.iter().any(|f| f.path() == file) {
                self.followers.push(Follower::from_start(&file));
            }
        }
        let mut per_file = Vec::with_capacity(self.followers.len());
        for follower in &mut self.followers {
            per_file.push(follower.poll()?);
        }
        Ok(merge(per_file, &mut self.seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{NewEvent, Timeline, TimelineOptions};

    fn note(timeline: &mut Timeline, text: &str) -> Event {
        timeline
            .append(NewEvent::new("note", serde_json::json!({ "text": text })))
            .unwrap()
    }

    #[test]
    fn writer_names_are_file_names() {
        assert_eq!(writer_name("alice@laptop"), "alice@laptop");
        assert_eq!(writer_name("../x y@h/"), "_x_y@h_");
        assert!(writer_name("bob").starts_with("bob@"));
        assert_eq!(writer_name("alice@laptop (watch)"), "alice@laptop--watch");
        assert!(writer_name("bob (cockpit)").ends_with("--cockpit"));
        assert!(!writer_name("bob (cockpit)").contains('('));
    }

    #[test]
    fn a_shared_incident_is_every_writer_merged_in_recorded_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(EVENTS_DIR)).unwrap();
        let mut alice = Timeline::open(dir.path(), TimelineOptions::new("alice@a")).unwrap();
        let mut bob = Timeline::open(dir.path(), TimelineOptions::new("bob@b")).unwrap();
        assert!(alice.path().ends_with("events/alice@a.jsonl"));
        let first = note(&mut alice, "one");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = note(&mut bob, "two");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let third = note(&mut alice, "three");
        let events = read_incident(dir.path()).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, [first.id.as_str(), second.id.as_str(), third.id.as_str()]);
        // Numbers count across writers: each event's is one more than any
        // its writer had seen.
        assert_eq!((first.seq, second.seq, third.seq), (1, 2, 3));
        // The same event in two files (a fleet event two watchers wrote) is one.
        let copy = std::fs::read(alice.path()).unwrap();
        std::fs::write(dir.path().join(EVENTS_DIR).join("carol@c.jsonl"), copy).unwrap();
        assert_eq!(read_incident(dir.path()).unwrap().len(), 3);
    }

    #[test]
    fn sharing_moves_the_single_file_and_writers_follow() {
        let dir = tempfile::tempdir().unwrap();
        let mut alice = Timeline::open(dir.path(), TimelineOptions::new("alice@a")).unwrap();
        let first = note(&mut alice, "before");
        share(dir.path(), "alice@a").unwrap();
        assert!(!dir.path().join(TIMELINE_FILE).exists());
        assert!(dir.path().join(EVENTS_DIR).join("alice@a--timeline.jsonl").is_file());
        // The open handle follows the incident to its own file.
        let second = note(&mut alice, "after");
        assert!(alice.path().ends_with("events/alice@a.jsonl"));
        assert!(second.seq > first.seq);
        let ids: Vec<String> = read_incident(dir.path()).unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, [first.id, second.id]);
        // Sharing again is harmless.
        share(dir.path(), "alice@a").unwrap();
    }

    #[test]
    fn a_follower_sees_a_writer_file_that_appears_later() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(EVENTS_DIR)).unwrap();
        let mut follower = IncidentFollower::from_start(dir.path());
        assert!(follower.poll().unwrap().is_empty());
        let mut bob = Timeline::open(dir.path(), TimelineOptions::new("bob@b")).unwrap();
        note(&mut bob, "hello");
        let events = follower.poll().unwrap();
        assert_eq!(events.len(), 1);
        assert!(follower.poll().unwrap().is_empty(), "each event once");
    }
}
