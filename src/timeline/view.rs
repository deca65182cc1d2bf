//! The amended view of a timeline: what the report and the cockpit show.
//! `amendment` events correct an earlier event (time, text, kind) or mark it
//! as a key moment; the file keeps both, the view shows the corrected one.

use super::event::{kinds, Event};
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
        if let Some(at) = amendment.at {
            target.event.at = at;
        }
        if let Some(text) = amendment.text {
            if let Some(map) = target.event.data.as_object_mut() {
                map.insert("text".into(), serde_json::Value::String(text));
            }
        }
        if let Some(kind) = amendment.kind.filter(|k| kinds::is_valid(k) && k != kinds::AMENDMENT) {
            target.event.kind = kind;
        }
        if let Some(mark) = amendment.mark {
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

/// One line describing an event for humans (the cockpit's timeline pane,
/// `vigie timeline show`). Untrusted text is made single-line and inert.
pub fn describe(event: &Event) -> String {
    use crate::sanitize::one_line;
    let field = |name: &str| {
        event.data.get(name).map(|v| match v {
            serde_json::Value::String(s) => one_line(s),
            other => one_line(&other.to_string()),
        })
    };
    let text = field("text").or_else(|| field("message")).unwrap_or_default();
    let described = match event.kind.as_str() {
        kinds::INCIDENT_DECLARED => format!(
            "declared incident \"{}\" ({})",
            field("title").unwrap_or_default(),
            field("severity").unwrap_or_default()
        ),
        kinds::SEVERITY_CHANGED | kinds::STATUS_CHANGED => format!(
            "{} {} → {}",
            if event.kind == kinds::STATUS_CHANGED {
                "status"
            } else {
                "severity"
            },
            field("from").unwrap_or_else(|| "?".into()),
            field("to").unwrap_or_else(|| "?".into())
        ),
        kinds::ROLE_ASSIGNED => format!(
            "{} is {}",
            field("who").unwrap_or_else(|| "?".into()),
            field("role").unwrap_or_else(|| "?".into())
        ),
        kinds::NOTE => format!("note: {text}"),
        kinds::DECISION => format!("decision: {text}"),
        kinds::ACTION_ITEM => {
            let mut line = format!("action item: {text}");
            if let Some(owner) = field("owner") {
                line.push_str(&format!(" (owner {owner})"));
            }
            if let Some(due) = field("due") {
                line.push_str(&format!(" (due {due})"));
            }
            line
        }
        kinds::AMENDMENT => {
            let target = match field("target_seq") {
                Some(seq) => format!("#{seq}"),
                None => field("target").unwrap_or_default(),
            };
            let mut changes = Vec::new();
            for name in ["at", "text", "kind", "mark"] {
                if let Some(value) = field(name) {
                    changes.push(format!("{name}={value}"));
                }
            }
            let reason = field("reason").map(|r| format!(" — {r}")).unwrap_or_default();
            format!("amended {target}: {}{reason}", changes.join(", "))
        }
        kinds::PLAYBOOK_STARTED => format!("started playbook {}", field("playbook").unwrap_or_default()),
        kinds::PLAYBOOK_RESUMED => format!("resumed playbook {}", field("playbook").unwrap_or_default()),
        kinds::PLAYBOOK_FINISHED => format!(
            "playbook {} {}",
            field("playbook").unwrap_or_default(),
            field("outcome").unwrap_or_default()
        ),
        kinds::STEP_STARTED => format!(
            "step {} started",
            field("title").or_else(|| field("step")).unwrap_or_default()
        ),
        kinds::STEP_DONE => format!("step {} done", field("step").unwrap_or_default()),
        kinds::STEP_SKIPPED => format!(
            "skipped step {}: {}",
            field("step").unwrap_or_default(),
            field("reason").unwrap_or_default()
        ),
        kinds::STEP_FAILED => format!(
            "step {} failed: {}",
            field("step").unwrap_or_default(),
            field("error").unwrap_or_default()
        ),
        kinds::COMMAND_SENT => {
            let command = event.data.get("command").and_then(|c| c.as_str()).unwrap_or("");
            let first = command.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("sent: {}", one_line(first))
        }
        kinds::COMMAND_FINISHED => format!(
            "command finished: exit {} in {} ms",
            field("exit").unwrap_or_else(|| "?".into()),
            field("ms").unwrap_or_else(|| "?".into())
        ),
        _ if text.is_empty() => event.kind.clone(),
        _ => format!("{}: {text}", event.kind),
    };
    one_line(&described)
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
