//! The amended view of a timeline: what the report and the cockpit show.
//! `amendment` events correct an earlier event (time, text, kind) or mark it
//! as a key moment; the file keeps both, the view shows the corrected one.

use super::event::{kinds, Event};
use super::payload::Payload;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Key moments of an incident, used for time-to-detect/mitigate/resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Detected,
    Acknowledged,
    Mitigated,
    Resolved,
    Key,
}

impl Mark {
    pub fn parse(text: &str) -> Option<Mark> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    pub const NAMES: &'static str = "detected, acknowledged, mitigated, resolved, key";

    /// The mark as written in an amendment.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Detected => "detected",
            Mark::Acknowledged => "acknowledged",
            Mark::Mitigated => "mitigated",
            Mark::Resolved => "resolved",
            Mark::Key => "key",
        }
    }
}

/// One event as shown, with its corrections applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewEvent {
    pub event: Event,
    pub marks: Vec<Mark>,
    /// Ids of the amendments applied, oldest first.
    pub amended_by: Vec<String>,
    /// The event as first written, when an amendment changed it.
    pub original: Option<Event>,
}

/// What an amendment may change (the `data` of an `amendment` event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Amendment {
    pub target: String,
    /// The target's sequence number, for humans reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_millis")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Applies every amendment to its target; amendments themselves stay in the
/// view (they are part of the story), in their own place.
pub fn amended(events: &[Event]) -> Vec<ViewEvent> {
    let mut view: Vec<ViewEvent> = events
        .iter()
        .map(|e| ViewEvent {
            event: e.clone(),
            marks: vec![],
            amended_by: vec![],
            original: None,
        })
        .collect();
    let position: std::collections::HashMap<String, usize> =
        events.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect();
    for event in events.iter().filter(|e| e.kind == kinds::AMENDMENT) {
        let Ok(amendment) = serde_json::from_value::<Amendment>(event.data.clone()) else {
            continue;
        };
        let Some(&index) = position.get(&amendment.target) else {
            continue;
        };
        let target = &mut view[index];
        if target.original.is_none() && (amendment.at.is_some() || amendment.text.is_some() || amendment.kind.is_some())
        {
            target.original = Some(target.event.clone());
        }
        let mark = amendment.mark;
        apply_correction(&mut target.event, amendment);
        if let Some(mark) = mark {
            if !target.marks.contains(&mark) {
                target.marks.push(mark);
            }
        }
        target.amended_by.push(event.id.clone());
    }
    // Corrected times may reorder events; the sequence breaks ties.
    view.sort_by(|a, b| a.event.at.cmp(&b.event.at).then(a.event.seq.cmp(&b.event.seq)));
    view
}

/// The corrections of `amendment` (time, text, kind) made to `event`, as
/// every reader shows it: the cockpit, `timeline show`, the report.
impl Amendment {
    /// It changes what the event says (its time, text or kind), not only
    /// marks it as a key moment.
    pub fn corrects(&self) -> bool {
        self.at.is_some() || self.text.is_some() || self.kind.is_some()
    }
}

pub fn apply_correction(event: &mut Event, amendment: Amendment) {
    if let Some(at) = amendment.at {
        event.at = at;
    }
    if let Some(text) = amendment.text {
        if let Some(map) = event.data.as_object_mut() {
            map.insert("text".into(), serde_json::Value::String(text));
        }
    }
    if let Some(kind) = amendment.kind.filter(|k| kinds::is_valid(k) && k != kinds::AMENDMENT) {
        event.kind = kind;
    }
}

/// The amendment an event carries, if it is one.
pub fn amendment_of(event: &Event) -> Option<Amendment> {
    (event.kind == kinds::AMENDMENT)
        .then(|| serde_json::from_value::<Amendment>(event.data.clone()).ok())
        .flatten()
}

/// One line describing an event for humans (the cockpit's timeline pane,
/// `vigie timeline show`). Untrusted text is made single-line and inert.
pub fn describe(event: &Event) -> String {
    describe_read(event, &event.payload())
}

/// [`describe`], for an event whose payload is already read.
pub fn describe_read(event: &Event, payload: &Payload) -> String {
    crate::sanitize::one_line(&describe_whole(event, payload))
}

/// [`describe_read`] with the line breaks a note or decision was typed
/// with (the event overlay, the report's notes); inert for a terminal.
pub fn describe_whole(event: &Event, payload: &Payload) -> String {
    let described = match payload {
        Payload::IncidentDeclared(p) => format!("declared incident \"{}\" ({})", p.title, p.severity.as_str()),
        Payload::SeverityChanged(p) => format!("severity {} → {}", p.from.as_str(), p.to.as_str()),
        Payload::StatusChanged(p) => format!("status {} → {}", p.from.as_str(), p.to.as_str()),
        Payload::RoleAssigned(p) => format!("{} is {}", p.who, p.role),
        Payload::Note(p) => format!("note: {}", p.text),
        Payload::Decision(p) => format!("decision: {}", p.text),
        Payload::ActionItem(p) => {
            let mut line = format!("action item: {}", p.text);
            if let Some(owner) = &p.owner {
                line.push_str(&format!(" (owner {owner})"));
            }
            if let Some(due) = &p.due {
                line.push_str(&format!(" (due {due})"));
            }
            if let Some(priority) = &p.priority {
                line.push_str(&format!(" ({priority})"));
            }
            if let Some(kind) = &p.action_type {
                line.push_str(&format!(" ({kind})"));
            }
            if let Some(link) = &p.link {
                line.push_str(&format!(" ({link})"));
            }
            line
        }
        Payload::ActionItemUpdated(p) => {
            let target = p
                .target_seq
                .map(|seq| format!("#{seq}"))
                .unwrap_or_else(|| p.target.clone());
            let changes: Vec<String> = [("status", &p.status), ("priority", &p.priority), ("link", &p.link)]
                .iter()
                .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
                .collect();
            format!("action item {target}: {}", changes.join(", "))
        }
        Payload::Amendment(p) => describe_amendment(event, p),
        Payload::PlaybookStarted(p) => format!("started playbook {}", p.playbook),
        Payload::PlaybookResumed(p) => format!("resumed playbook {}", p.playbook),
        Payload::PlaybookFinished(p) => match &p.reason {
            Some(reason) => format!("playbook {} {}: {reason}", p.playbook, p.outcome),
            None => format!("playbook {} {}", p.playbook, p.outcome),
        },
        Payload::StepStarted(p) => format!("step {} started", or_id(&p.title, &p.step)),
        Payload::StepDone(p) => format!("step {} done", or_id(&p.title, &p.step)),
        Payload::StepSkipped(p) => format!("skipped step {}: {}", or_id(&p.title, &p.step), p.reason),
        Payload::StepFailed(p) => format!("step {} failed: {}", or_id(&p.title, &p.step), p.error),
        Payload::CommandSent(p) => format!("sent: {}", crate::playbook::engine::script_summary(&p.command)),
        Payload::CommandFinished(p) => match (p.exit, &p.error) {
            (Some(exit), _) => format!(
                "command finished: exit {exit}{}",
                p.ms.map(|ms| format!(" in {}", crate::format::human_ms(ms as i64)))
                    .unwrap_or_default()
            ),
            (None, Some(error)) => format!("command ended without an exit: {error}"),
            (None, None) => "command ended without an exit".to_string(),
        },
        Payload::ChecklistTicked(p) => format!(
            "{} \"{}\" (step {}){}",
            if p.ticked { "ticked" } else { "unticked" },
            p.item,
            p.step,
            if p.automatic { ", by --yes" } else { "" }
        ),
        // What the fleet said, in words (the kind's name is for machines);
        // an event appended by a script says it in `text`.
        Payload::AlertRaised(p) => {
            let message = p.message.clone().or_else(|| data_field(event, "text"));
            let message = message.as_deref().unwrap_or("raised");
            match &p.severity {
                Some(severity) => format!("alert ({severity}): {message}"),
                None => format!("alert: {message}"),
            }
        }
        Payload::AlertCleared(p) => match p.message.clone().or_else(|| data_field(event, "text")) {
            // The fleet's own words already say "cleared after 13m08s: ...".
            Some(message) if message.starts_with("cleared") => format!("alert {message}"),
            Some(message) => format!("alert cleared: {message}"),
            None => "alert cleared".to_string(),
        },
        Payload::HostUnreachable(p) => {
            let message = p.message.clone().or_else(|| data_field(event, "text"));
            format!("unreachable: {}", message.as_deref().unwrap_or("no answer"))
        }
        // Kinds without a description of their own say their kind, and
        // their `text` (or `message`) when they have one.
        Payload::Unknown { .. } => kind_and_text(event),
    };
    crate::sanitize::terminal_safe(&described)
}

/// A step's heading, or its id in a timeline from before headings were recorded.
fn or_id<'a>(title: &'a str, id: &'a str) -> &'a str {
    if title.is_empty() {
        id
    } else {
        title
    }
}

fn kind_and_text(event: &Event) -> String {
    match ["text", "message"].iter().find_map(|name| data_field(event, name)) {
        Some(text) if !text.is_empty() => format!("{}: {text}", event.kind),
        _ => event.kind.clone(),
    }
}

/// A field of `data` as text, as stored (amendments and unknown kinds).
fn data_field(event: &Event, name: &str) -> Option<String> {
    event.data.get(name).map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn describe_amendment(event: &Event, amendment: &Amendment) -> String {
    let target = match amendment.target_seq {
        Some(seq) => format!("#{seq}"),
        None => amendment.target.clone(),
    };
    // The changed fields as written in the file (a corrected time as stored).
    let changes: Vec<String> = ["at", "text", "kind", "mark"]
        .iter()
        .filter_map(|name| data_field(event, name).map(|value| format!("{name}={value}")))
        .collect();
    let reason = amendment.reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default();
    format!("amended {target}: {}{reason}", changes.join(", "))
}

mod optional_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => crate::timeline::event::millis::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{NewEvent, Timeline, TimelineOptions};
    use serde_json::json;

    #[test]
    fn amendments_correct_time_text_kind_and_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Timeline::open(dir.path(), TimelineOptions::new("alice")).unwrap();
        let first = t
            .append(NewEvent::new("note", json!({"text": "miramelle dwon"})))
            .unwrap();
        let second = t.append(NewEvent::new("note", json!({"text": "second"}))).unwrap();
        let earlier = first.at - chrono::Duration::minutes(10);
        let amendment = Amendment {
            target: second.id.clone(),
            target_seq: Some(second.seq),
            at: Some(earlier),
            text: Some("we decided to evacuate".into()),
            kind: Some("decision".into()),
            mark: Some(Mark::Key),
            reason: Some("logged late".into()),
        };
        t.append(NewEvent::new("amendment", serde_json::to_value(&amendment).unwrap()))
            .unwrap();
        let fix = Amendment {
            target: first.id.clone(),
            text: Some("miramelle down".into()),
            mark: Some(Mark::Detected),
            ..Default::default()
        };
        t.append(NewEvent::new("amendment", serde_json::to_value(&fix).unwrap()))
            .unwrap();

        let events = crate::timeline::store::read_all(t.path()).unwrap();
        let view = amended(&events);
        assert_eq!(view[0].event.id, second.id, "moved earlier by its amendment");
        assert_eq!(view[0].event.kind, "decision");
        assert_eq!(view[0].event.text("text"), Some("we decided to evacuate"));
        assert_eq!(view[0].marks, vec![Mark::Key]);
        assert_eq!(view[0].original.as_ref().unwrap().text("text"), Some("second"));
        assert_eq!(view[1].event.text("text"), Some("miramelle down"));
        assert_eq!(view[1].marks, vec![Mark::Detected]);
        // The file still holds the originals.
        assert_eq!(events[0].text("text"), Some("miramelle dwon"));
    }
}
