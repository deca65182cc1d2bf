//! Which fleet events an incident's timeline must hold: each occurrence
//! that overlaps the incident becomes one `alert.raised` at the time it
//! began and, if it ended while the incident was open, one `alert.cleared`.
//! Their ids derive from the occurrence, so every watcher that records them
//! writes the same ids and `Timeline::append_once` keeps one of each.

use super::Occurrence;
use crate::timeline::payload::FleetEvent;
use crate::timeline::{NewEvent, Payload};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The actor of fleet events: nobody typed them.
pub const FLEET_ACTOR: &str = "alert";

/// How long before a declaration an alert may have begun and still be
/// part of the incident. An older one (a backup stale for a month) is the
/// fleet's chronic state, not this outage: it would put the incident's
/// start weeks early.
pub const LOOKBACK: chrono::Duration = chrono::Duration::hours(24);

/// The part of an incident's life the fleet's events belong to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub declared: DateTime<Utc>,
    /// Until it is resolved; nothing is recorded after that.
    pub resolved: Option<DateTime<Utc>>,
}

impl Window {
    fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        at >= self.declared && self.resolved.is_none_or(|end| at <= end)
    }
}

/// The events `window` needs for these occurrences, raises before clears.
pub fn events_for<'a>(window: &Window, occurrences: impl IntoIterator<Item = &'a Occurrence>) -> Vec<NewEvent> {
    let mut events = Vec::new();
    for occurrence in occurrences {
        // A host this machine has not pinned yet is this machine's setup,
        // not the state of the fleet: the cockpit shows it, no incident
        // (which other machines share) records it as an outage.
        if occurrence.key.code == "host_key_unknown" {
            continue;
        }
        let raised = occurrence.raised;
        let firing_at_declaration = raised < window.declared
            && occurrence.cleared.is_none_or(|c| c >= window.declared)
            && raised >= window.declared - LOOKBACK
            && occurrence.severity != "info";
        if !(firing_at_declaration || window.is_open_at(raised)) {
            continue;
        }
        events.push(raise(occurrence));
        if let Some(cleared) = occurrence.cleared.filter(|c| window.is_open_at(*c)) {
            events.push(clear(occurrence, cleared));
        }
    }
    // Oldest first, so the timeline reads in the order things happened.
    events.sort_by_key(|e| (e.at, e.kind != crate::timeline::event::kinds::ALERT_RAISED));
    events
}

fn raise(occurrence: &Occurrence) -> NewEvent {
    let payload = Payload::AlertRaised(FleetEvent {
        code: Some(occurrence.key.code.clone()),
        severity: Some(occurrence.severity.clone()),
        message: Some(occurrence.message.clone()),
        subject: Some(occurrence.key.subject.clone()).filter(|s| !s.is_empty()),
        occurrence: Some(occurrence.id.clone()),
        raised: None,
        seen_by: Some(occurrence.observer.clone()),
    });
    fleet_event(payload, occurrence, occurrence.raised)
}

fn clear(occurrence: &Occurrence, cleared: DateTime<Utc>) -> NewEvent {
    let lasted = crate::format::human_age(cleared - occurrence.raised);
    let payload = Payload::AlertCleared(FleetEvent {
        code: Some(occurrence.key.code.clone()),
        severity: Some(occurrence.severity.clone()),
        message: Some(format!("cleared after {lasted}: {}", occurrence.message)),
        subject: Some(occurrence.key.subject.clone()).filter(|s| !s.is_empty()),
        occurrence: Some(occurrence.id.clone()),
        raised: Some(occurrence.raised),
        seen_by: None,
    });
    fleet_event(payload, occurrence, cleared)
}

fn fleet_event(payload: Payload, occurrence: &Occurrence, at: DateTime<Utc>) -> NewEvent {
    let id = event_id(&occurrence.id, payload.kind(), at);
    NewEvent::from(payload)
        .on_host(&occurrence.key.host)
        .at(at)
        .by(FLEET_ACTOR)
        .with_id(id)
}

/// A ULID whose time is the event's and whose other 80 bits come from
/// the occurrence and the kind: the same for every watcher, unique per event.
pub fn event_id(occurrence: &str, kind: &str, at: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!("{occurrence}\n{kind}").as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::AlertKey;
    use crate::timeline::event::kinds;
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0).unwrap()
    }

    fn occurrence(id: &str, severity: &str, raised: DateTime<Utc>, cleared: Option<DateTime<Utc>>) -> Occurrence {
        Occurrence {
            id: id.into(),
            key: AlertKey {
                host: "miramelle".into(),
                code: "unreachable".into(),
                subject: String::new(),
            },
            severity: severity.into(),
            message: "miramelle unreachable".into(),
            raised,
            cleared,
            observer: "alice@bastion".into(),
        }
    }

    #[test]
    fn an_outage_before_the_declaration_starts_the_timeline() {
        let window = Window {
            declared: at(19, 41),
            resolved: None,
        };
        let occurrences = [
            occurrence("dead", "critical", at(19, 30), Some(at(20, 10))),
            occurrence("over-before", "critical", at(19, 0), Some(at(19, 5))),
            occurrence("chronic", "warning", at(19, 41) - chrono::Duration::days(3), None),
            occurrence("info", "info", at(19, 20), None),
            occurrence("during", "info", at(19, 50), None),
        ];
        let events = events_for(&window, &occurrences);
        let summary: Vec<(&str, DateTime<Utc>)> = events.iter().map(|e| (e.kind.as_str(), e.at.unwrap())).collect();
        assert_eq!(
            summary,
            vec![
                (kinds::ALERT_RAISED, at(19, 30)),
                (kinds::ALERT_RAISED, at(19, 50)),
                (kinds::ALERT_CLEARED, at(20, 10)),
            ]
        );
        // Every watcher computes the same ids; raise and clear differ.
        let again = events_for(&window, &occurrences);
        assert_eq!(events[0].id, again[0].id);
        assert_ne!(events[0].id, events[2].id);
        assert_eq!(events[0].id.as_deref().map(|id| id.len()), Some(26));
    }

    #[test]
    fn nothing_after_resolution() {
        let window = Window {
            declared: at(19, 41),
            resolved: Some(at(21, 0)),
        };
        let late = [occurrence("late", "critical", at(21, 30), None)];
        assert!(events_for(&window, &late).is_empty());
        let cleared_late = [occurrence("x", "critical", at(20, 0), Some(at(22, 0)))];
        assert_eq!(events_for(&window, &cleared_late).len(), 1);
    }
}
