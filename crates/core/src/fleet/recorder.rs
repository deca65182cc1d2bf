//! The fleet journal and the incidents it writes into, together: what a
//! watcher (cockpit or `vigie watch`) runs on a thread of its own. Every
//! observation goes to the journal; every open incident then gets the
//! fleet events it lacks, each exactly once.

use super::journal::{Journal, JournalError};
use super::occurrences::Record;
use super::record::{events_for, Window};
use super::{Observation, Occurrence};
use crate::incident::{IncidentState, Status};
use crate::timeline::{Event, IncidentFollower, Timeline, TimelineError, TimelineOptions};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// One incident directory, read as it grows.
struct Tracked {
    follower: IncidentFollower,
    state: Option<IncidentState>,
    /// Ids of the events read so far: what is surely there needs no lock.
    ids: HashSet<String>,
    /// Opened the first time something must be written.
    timeline: Option<Timeline>,
    /// A timeline that cannot be read is left alone (and said once): a
    /// human must look at it (`vigie timeline verify`).
    broken: bool,
}

impl Tracked {
    fn new(dir: &Path) -> Tracked {
        Tracked {
            follower: IncidentFollower::from_start(dir),
            state: None,
            ids: HashSet::new(),
            timeline: None,
            broken: false,
        }
    }

    fn read_new(&mut self) -> Result<(), TimelineError> {
        for event in self.follower.poll()? {
            self.state = IncidentState::fold(self.state.take(), &event);
            self.ids.insert(event.id);
        }
        Ok(())
    }

    fn window(&self) -> Option<Window> {
        let state = self.state.as_ref()?;
        Some(Window {
            declared: state.started,
            resolved: state.resolved.filter(|_| state.status == Status::Resolved),
        })
    }
}

/// What one pass over the incidents did.
#[derive(Debug, Default)]
pub struct Synced {
    /// Events written, with their incident.
    pub recorded: Vec<(PathBuf, Event)>,
    /// Incidents that could not be read or written, and why.
    pub problems: Vec<String>,
}

pub struct FleetRecorder {
    incidents_dir: PathBuf,
    options: TimelineOptions,
    journal: Journal,
    /// Incidents outside `incidents_dir` to write into too (`--incident DIR`).
    extra: Vec<PathBuf>,
    tracked: BTreeMap<PathBuf, Tracked>,
}

impl FleetRecorder {
    /// The journal of `incidents_dir`, read; `options.actor` signs the
    /// journal's records (the timeline events are the fleet's own).
    pub fn open(incidents_dir: &Path, options: TimelineOptions) -> Result<FleetRecorder, JournalError> {
        let journal = Journal::open(incidents_dir, &options.actor)?;
        Ok(FleetRecorder {
            incidents_dir: incidents_dir.to_path_buf(),
            options,
            journal,
            extra: Vec::new(),
            tracked: BTreeMap::new(),
        })
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Writes into this incident too, wherever it is.
    pub fn follow(&mut self, dir: &Path) {
        if !self.extra.iter().any(|d| d == dir) {
            self.extra.push(dir.to_path_buf());
        }
    }

    /// Records an observation; returns what it changed and the journal's
    /// open occurrences of that host (whoever saw them first).
    pub fn observe(&mut self, observation: &Observation) -> Result<(Vec<Record>, Vec<Occurrence>), JournalError> {
        let records = self.journal.observe(observation)?;
        let open = self.journal.occurrences().open_on(&observation.host).cloned().collect();
        Ok((records, open))
    }

    /// Reads what other watchers recorded.
    pub fn refresh(&mut self) -> Result<(), JournalError> {
        self.journal.refresh()
    }

    /// The open incidents among those seen by the last `sync`, the most
    /// recently declared first.
    pub fn open_incidents(&self) -> Vec<PathBuf> {
        let mut open: Vec<(&PathBuf, chrono::DateTime<chrono::Utc>)> = self
            .tracked
            .iter()
            .filter_map(|(dir, t)| t.state.as_ref().map(|s| (dir, s)))
            .filter(|(_, state)| state.status != Status::Resolved)
            .map(|(dir, state)| (dir, state.started))
            .collect();
        open.sort_by_key(|(_, started)| std::cmp::Reverse(*started));
        open.into_iter().map(|(dir, _)| dir.clone()).collect()
    }

    /// Gives every incident the fleet events it lacks.
    pub fn sync(&mut self) -> Synced {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.incidents_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| crate::timeline::sources::is_incident(p))
                    .collect()
            })
            .unwrap_or_default();
        dirs.extend(self.extra.iter().cloned());
        let mut synced = Synced::default();
        for dir in dirs {
            self.sync_one(&dir, &mut synced);
        }
        synced
    }

    /// Gives one incident the fleet events it lacks.
    pub fn sync_one(&mut self, dir: &Path, synced: &mut Synced) {
        let tracked = self
            .tracked
            .entry(dir.to_path_buf())
            .or_insert_with(|| Tracked::new(dir));
        if tracked.broken {
            return;
        }
        if let Err(e) = tracked.read_new() {
            tracked.broken = true;
            synced.problems.push(format!(
                "{e}: no fleet events are recorded there until `vigie timeline verify` is satisfied"
            ));
            return;
        }
        let Some(window) = tracked.window() else {
            return;
        };
        let missing: Vec<_> = events_for(&window, self.journal.occurrences().all())
            .into_iter()
            .filter(|e| e.id.as_ref().is_some_and(|id| !tracked.ids.contains(id)))
            .collect();
        if missing.is_empty() {
            return;
        }
        if tracked.timeline.is_none() {
            match Timeline::open(dir, self.options.clone()) {
                Ok(timeline) => tracked.timeline = Some(timeline),
                // Tried again at the next pass: the events are not lost.
                Err(e) => {
                    synced
                        .problems
                        .push(format!("{e}: fleet events wait to be recorded there"));
                    return;
                }
            }
        }
        let Some(timeline) = tracked.timeline.as_mut() else {
            return;
        };
        for new in missing {
            let id = new.id.clone().unwrap_or_default();
            match timeline.append_once(new) {
                Ok(Some(event)) => synced.recorded.push((dir.to_path_buf(), event)),
                // Another watcher wrote it first.
                Ok(None) => {}
                Err(e) => {
                    synced
                        .problems
                        .push(format!("{e}: fleet events wait to be recorded there"));
                    return;
                }
            }
            tracked.ids.insert(id);
        }
    }
}

/// Right after a declaration: the alerts already firing go into the new
/// incident with their real start times, so its timeline begins where the
/// outage began. A journal that cannot be read records nothing (the
/// watchers will, at their next pass).
pub fn record_firing(incidents_dir: &Path, dir: &Path, options: TimelineOptions) -> Synced {
    let mut synced = Synced::default();
    match FleetRecorder::open(incidents_dir, options) {
        Ok(mut recorder) => recorder.sync_one(dir, &mut synced),
        Err(e) => synced.problems.push(e.to_string()),
    }
    synced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{declare, Severity as IncidentSeverity};
    use crate::timeline::store::read_all;
    use crate::timeline::TIMELINE_FILE;
    use chrono::Utc;

    fn observation(host: &str, at: chrono::DateTime<Utc>, down: bool) -> Observation {
        crate::fleet::observed(host, at, down)
    }

    #[test]
    fn two_watchers_write_each_event_once() {
        let root = tempfile::tempdir().unwrap();
        let mut alice = FleetRecorder::open(root.path(), TimelineOptions::new("alice")).unwrap();
        let mut bob = FleetRecorder::open(root.path(), TimelineOptions::new("bob")).unwrap();
        let died = Utc::now() - chrono::Duration::minutes(10);
        alice.observe(&observation("miramelle", died, true)).unwrap();
        let (dir, _) = declare(
            root.path(),
            "miramelle down",
            IncidentSeverity::Critical,
            TimelineOptions::new("alice"),
        )
        .unwrap();
        // The declaration itself recorded the outage already firing.
        let events = read_all(&dir.join(TIMELINE_FILE)).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["incident.declared", "alert.raised"]);
        assert_eq!(events[1].at, died.trunc_subsecs(3));
        assert_eq!(events[1].actor, "alert");
        // Both watchers pass; nothing is written twice.
        bob.refresh().unwrap();
        assert!(alice.sync().recorded.is_empty());
        assert!(bob.sync().recorded.is_empty());
        let back = Utc::now();
        bob.observe(&observation("miramelle", back, false)).unwrap();
        alice.refresh().unwrap();
        let (a, b) = (alice.sync(), bob.sync());
        assert_eq!(a.recorded.len() + b.recorded.len(), 1, "{a:?} {b:?}");
        let events = read_all(&dir.join(TIMELINE_FILE)).unwrap();
        assert_eq!(events.last().map(|e| e.kind.as_str()), Some("alert.cleared"));
    }

    use chrono::SubsecRound;
}
