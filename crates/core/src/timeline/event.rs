//! One timeline event, exactly as it is stored on one line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Event kinds with a meaning to vigie. Scripts may append others (`custom.*`).
pub mod kinds {
    pub const INCIDENT_DECLARED: &str = "incident.declared";
    pub const SEVERITY_CHANGED: &str = "severity.changed";
    pub const STATUS_CHANGED: &str = "status.changed";
    pub const ROLE_ASSIGNED: &str = "role.assigned";
    pub const NOTE: &str = "note";
    pub const DECISION: &str = "decision";
    pub const ACTION_ITEM: &str = "action_item";
    /// A later word on an action item: its status, priority or tracker link.
    pub const ACTION_ITEM_UPDATED: &str = "action_item.updated";
    pub const ALERT_RAISED: &str = "alert.raised";
    pub const ALERT_CLEARED: &str = "alert.cleared";
    pub const HOST_UNREACHABLE: &str = "host.unreachable";
    pub const PLAYBOOK_STARTED: &str = "playbook.started";
    pub const STEP_STARTED: &str = "step.started";
    pub const COMMAND_SENT: &str = "command.sent";
    pub const COMMAND_FINISHED: &str = "command.finished";
    pub const STEP_DONE: &str = "step.done";
    pub const STEP_SKIPPED: &str = "step.skipped";
    pub const STEP_FAILED: &str = "step.failed";
    pub const CHECKLIST_TICKED: &str = "checklist.ticked";
    pub const PLAYBOOK_FINISHED: &str = "playbook.finished";
    /// A run taken up again after vigie stopped in the middle of it.
    pub const PLAYBOOK_RESUMED: &str = "playbook.resumed";
    pub const AMENDMENT: &str = "amendment";

    pub const ALL: &[&str] = &[
        INCIDENT_DECLARED,
        SEVERITY_CHANGED,
        STATUS_CHANGED,
        ROLE_ASSIGNED,
        NOTE,
        DECISION,
        ACTION_ITEM,
        ACTION_ITEM_UPDATED,
        ALERT_RAISED,
        ALERT_CLEARED,
        HOST_UNREACHABLE,
        PLAYBOOK_STARTED,
        STEP_STARTED,
        COMMAND_SENT,
        COMMAND_FINISHED,
        STEP_DONE,
        STEP_SKIPPED,
        STEP_FAILED,
        CHECKLIST_TICKED,
        PLAYBOOK_FINISHED,
        PLAYBOOK_RESUMED,
        AMENDMENT,
    ];

    /// Known kinds, or `custom.<name>` for site-specific events.
    pub fn is_valid(kind: &str) -> bool {
        ALL.contains(&kind)
            || kind.strip_prefix("custom.").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            })
    }
}

/// A stored event. Field order is the on-disk order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub id: String,
    /// When it happened (an amendment may correct it).
    #[serde(with = "millis")]
    pub at: DateTime<Utc>,
    /// When it was written.
    #[serde(with = "millis")]
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
    /// SHA-256 (hex) of the previous line; 64 zeros for the first.
    pub prev: String,
}

impl Event {
    /// A string field of `data`, if present.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(|v| v.as_str())
    }
}

/// What a caller asks to append; the store fills in seq, id, times, chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub host: Option<String>,
    pub data: serde_json::Value,
    /// When it happened, if not now (e.g. an alert seen earlier).
    pub at: Option<DateTime<Utc>>,
    /// Overrides the timeline's actor (e.g. `alert` for derived events).
    pub actor: Option<String>,
    /// A fixed id, for an event that must be recorded once however many
    /// processes record it (`Timeline::append_once`); else a new ULID.
    pub id: Option<String>,
}

impl NewEvent {
    /// An event a script hands over as JSON (`vigie timeline append`): its
    /// `data` object as given, with `text` set when one is given too.
    pub fn from_script(kind: &str, data: serde_json::Map<String, serde_json::Value>, text: Option<&str>) -> NewEvent {
        let mut data = data;
        if let Some(text) = text {
            data.insert("text".into(), serde_json::Value::String(text.to_string()));
        }
        NewEvent::new(kind, serde_json::Value::Object(data))
    }

    pub fn new(kind: &str, data: serde_json::Value) -> NewEvent {
        NewEvent {
            kind: kind.to_string(),
            host: None,
            data,
            at: None,
            actor: None,
            id: None,
        }
    }

    pub fn on_host(mut self, host: impl Into<String>) -> NewEvent {
        self.host = Some(host.into());
        self
    }

    pub fn at(mut self, at: DateTime<Utc>) -> NewEvent {
        self.at = Some(at);
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> NewEvent {
        self.id = Some(id.into());
        self
    }

    pub fn by(mut self, actor: impl Into<String>) -> NewEvent {
        self.actor = Some(actor.into());
        self
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-23T19:31:02.114Z`.
pub mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_checked() {
        assert!(kinds::is_valid("alert.raised"));
        assert!(kinds::is_valid("custom.backup_hook"));
        assert!(!kinds::is_valid("custom."));
        assert!(!kinds::is_valid("alert raised"));
        assert!(!kinds::is_valid("custom.x;rm"));
    }
}
