//! The journal's state in memory, and the rule that turns an observation
//! into journal records. Pure: no file, no clock.

use super::{AlertKey, Observation, Occurrence};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Record {
    /// An alert seen for the first time (its occurrence, still open).
    Raised(Occurrence),
    /// The first poll that no longer saw it.
    Cleared {
        id: String,
        at: DateTime<Utc>,
        observer: String,
    },
}

/// Every occurrence the journal holds: the open ones, and the closed ones
/// it still keeps (oldest first).
#[derive(Debug, Clone, Default)]
pub struct Occurrences {
    open: HashMap<AlertKey, Occurrence>,
    key_of_open: HashMap<String, AlertKey>,
    closed: Vec<Occurrence>,
    last_cleared: HashMap<AlertKey, DateTime<Utc>>,
}

impl Occurrences {
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Raised(occurrence) => {
                if let Some(cleared) = occurrence.cleared {
                    // A closed occurrence, as a compacted journal keeps it.
                    self.note_cleared(&occurrence.key, cleared);
                    self.closed.push(occurrence);
                    return;
                }
                if let Some(previous) = self.open.remove(&occurrence.key) {
                    // Two watchers raced past the lock: the first one stands.
                    self.open.insert(previous.key.clone(), previous);
                    return;
                }
                self.key_of_open.insert(occurrence.id.clone(), occurrence.key.clone());
                self.open.insert(occurrence.key.clone(), occurrence);
            }
            Record::Cleared { id, at, .. } => {
                let Some(key) = self.key_of_open.remove(&id) else {
                    return;
                };
                if let Some(mut occurrence) = self.open.remove(&key) {
                    occurrence.cleared = Some(at);
                    self.note_cleared(&key, at);
                    self.closed.push(occurrence);
                }
            }
        }
    }

    fn note_cleared(&mut self, key: &AlertKey, at: DateTime<Utc>) {
        let last = self.last_cleared.entry(key.clone()).or_insert(at);
        *last = (*last).max(at);
    }

    /// What `observation` changes: alerts not open yet are raised, open
    /// ones of the host it speaks for and no longer sees are cleared. An
    /// observation older than the change another watcher already recorded
    /// changes nothing (its poll began before the host came back, or went).
    pub fn reconcile(
        &self,
        observation: &Observation,
        observer: &str,
        mut new_id: impl FnMut() -> String,
    ) -> Vec<Record> {
        let at = observation.at;
        let mut records = Vec::new();
        let mut seen = Vec::new();
        for alert in &observation.alerts {
            let key = AlertKey::of(&observation.host, alert);
            let stale = self.last_cleared.get(&key).is_some_and(|cleared| *cleared >= at);
            if !self.open.contains_key(&key) && !stale && !seen.contains(&key) {
                records.push(Record::Raised(Occurrence {
                    id: new_id(),
                    key: key.clone(),
                    severity: alert.severity.as_str().to_string(),
                    message: alert.message.clone(),
                    raised: at,
                    cleared: None,
                    observer: observer.to_string(),
                }));
            }
            seen.push(key);
        }
        for occurrence in self.open_on(&observation.host) {
            let gone = !seen.contains(&occurrence.key);
            if gone && observation.coverage.covers(&occurrence.key.code) && occurrence.raised < at {
                records.push(Record::Cleared {
                    id: occurrence.id.clone(),
                    at,
                    observer: observer.to_string(),
                });
            }
        }
        records
    }

    /// The open occurrences of one host.
    pub fn open_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.open.values().filter(move |o| o.key.host == host)
    }

    pub fn open(&self) -> impl Iterator<Item = &Occurrence> {
        self.open.values()
    }

    /// Open and kept closed occurrences.
    pub fn all(&self) -> impl Iterator<Item = &Occurrence> {
        self.closed.iter().chain(self.open.values())
    }

    pub fn len(&self) -> usize {
        self.open.len() + self.closed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records of a compacted journal: every open occurrence, and the
    /// closed ones cleared after `keep_after`.
    pub fn compacted(&self, keep_after: DateTime<Utc>) -> Vec<Record> {
        let mut kept: Vec<Occurrence> = self
            .closed
            .iter()
            .filter(|o| o.cleared.is_some_and(|c| c > keep_after))
            .chain(self.open.values())
            .cloned()
            .collect();
        kept.sort_by(|a, b| (a.raised, &a.id).cmp(&(b.raised, &b.id)));
        kept.into_iter().map(Record::Raised).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Alert, Severity};
    use crate::fleet::Coverage;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, second).unwrap()
    }

    fn alert(code: &'static str, subject: &str) -> Alert {
        Alert {
            severity: Severity::Critical,
            code,
            message: format!("{code} {subject}"),
            subject: subject.into(),
            playbook: None,
            inputs: vec![],
        }
    }

    fn observe(host: &str, second: u32, alerts: Vec<Alert>, coverage: Coverage) -> Observation {
        Observation {
            host: host.into(),
            at: at(second),
            alerts,
            coverage,
        }
    }

    /// Applies what the observation changes and returns it.
    fn step(state: &mut Occurrences, observation: Observation, ids: &mut u32) -> Vec<Record> {
        let records = state.reconcile(&observation, "alice", || {
            *ids += 1;
            format!("occ{ids}")
        });
        for record in records.clone() {
            state.apply(record);
        }
        records
    }

    #[test]
    fn an_alert_is_raised_once_and_cleared_once() {
        let mut state = Occurrences::default();
        let mut ids = 0;
        let down = || vec![alert("unreachable", "")];
        let unreachable = Coverage::Reachability { guests: false };
        assert_eq!(
            step(&mut state, observe("miramelle", 12, down(), unreachable), &mut ids).len(),
            1
        );
        assert!(step(&mut state, observe("miramelle", 17, down(), unreachable), &mut ids).is_empty());
        let open: Vec<_> = state.open_on("miramelle").collect();
        assert_eq!(open[0].raised, at(12), "the first poll that saw it");
        let cleared = step(
            &mut state,
            observe("miramelle", 40, vec![], Coverage::Everything),
            &mut ids,
        );
        assert!(matches!(&cleared[..], [Record::Cleared { id, at: when, .. }] if id == "occ1" && *when == at(40)));
        assert_eq!(state.open().count(), 0);
        assert_eq!(state.all().count(), 1);
    }

    #[test]
    fn an_unreachable_host_clears_nothing_but_its_reachability() {
        let mut state = Occurrences::default();
        let mut ids = 0;
        step(
            &mut state,
            observe("locuste", 1, vec![alert("disk_full", "/")], Coverage::Everything),
            &mut ids,
        );
        step(
            &mut state,
            observe(
                "locuste",
                6,
                vec![alert("unreachable", "")],
                Coverage::Reachability { guests: false },
            ),
            &mut ids,
        );
        let codes: Vec<_> = state.open_on("locuste").map(|o| o.key.code.clone()).collect();
        assert_eq!(codes.len(), 2, "{codes:?}");
    }

    #[test]
    fn a_late_observation_of_another_watcher_changes_nothing() {
        let mut state = Occurrences::default();
        let mut ids = 0;
        let coverage = Coverage::Reachability { guests: false };
        step(
            &mut state,
            observe("miramelle", 10, vec![alert("unreachable", "")], coverage),
            &mut ids,
        );
        step(
            &mut state,
            observe("miramelle", 30, vec![], Coverage::Everything),
            &mut ids,
        );
        // Bob's poll began at :25, before Alice's poll saw the host back.
        assert!(step(
            &mut state,
            observe("miramelle", 25, vec![alert("unreachable", "")], coverage),
            &mut ids
        )
        .is_empty());
        // A poll that began before the occurrence does not clear it.
        step(
            &mut state,
            observe("miramelle", 50, vec![alert("unreachable", "")], coverage),
            &mut ids,
        );
        assert!(step(
            &mut state,
            observe("miramelle", 45, vec![], Coverage::Everything),
            &mut ids
        )
        .is_empty());
        assert_eq!(state.open().count(), 1);
    }

    #[test]
    fn compaction_keeps_open_and_recent_occurrences() {
        let mut state = Occurrences::default();
        let mut ids = 0;
        let everything = Coverage::Everything;
        step(
            &mut state,
            observe("a", 1, vec![alert("memory", "")], everything),
            &mut ids,
        );
        step(&mut state, observe("a", 2, vec![], everything), &mut ids);
        step(
            &mut state,
            observe("a", 20, vec![alert("memory", "")], everything),
            &mut ids,
        );
        step(&mut state, observe("a", 30, vec![], everything), &mut ids);
        step(
            &mut state,
            observe("b", 40, vec![alert("memory", "")], everything),
            &mut ids,
        );
        let kept = state.compacted(at(10));
        assert_eq!(kept.len(), 2);
        let mut again = Occurrences::default();
        for record in kept {
            again.apply(record);
        }
        assert_eq!(again.open().count(), 1);
        assert_eq!(again.all().count(), 2);
        // The closed one still makes older observations stale.
        let late = observe("a", 25, vec![alert("memory", "")], everything);
        assert!(again.reconcile(&late, "bob", || "x".into()).is_empty());
    }
}
