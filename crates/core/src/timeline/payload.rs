//! The timeline's vocabulary: one type per event kind, one enum over them.
//!
//! On disk an event is `kind` plus a JSON object `data` (see `event.rs`);
//! these types are how the rest of vigie writes and reads that object, so
//! that a field is named in one place and a reader `match`es every kind. A
//! payload becomes `data` through `serde_json::Value`, whose objects keep
//! their keys sorted: the bytes are those vigie always wrote. Reading is
//! lenient, as the events of a file written by hand (`vigie timeline
//! append`) or by a newer vigie must still read: a missing field is empty,
//! and data that does not fit its kind is [`Payload::Unknown`].

use super::event::{kinds, Event, NewEvent};
use super::view::Amendment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Minor,
    Major,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Investigating,
    Identified,
    Mitigated,
    Resolved,
}

/// `incident.declared`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDeclared {
    #[serde(default = "untitled")]
    pub title: String,
    #[serde(default = "major")]
    pub severity: Severity,
    /// Always `investigating` when vigie declares; older files may omit it.
    #[serde(default = "investigating")]
    pub status: Status,
}

fn investigating() -> Status {
    Status::Investigating
}

fn untitled() -> String {
    "untitled".into()
}

fn major() -> Severity {
    Severity::Major
}

/// An event's kind, known from its name alone (no need to read its data):
/// what filters and styles match on, exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IncidentDeclared,
    SeverityChanged,
    StatusChanged,
    RoleAssigned,
    Note,
    Decision,
    ActionItem,
    ActionItemUpdated,
    AlertRaised,
    AlertCleared,
    HostUnreachable,
    PlaybookStarted,
    PlaybookResumed,
    PlaybookFinished,
    StepStarted,
    StepDone,
    StepSkipped,
    StepFailed,
    ChecklistTicked,
    CommandSent,
    CommandFinished,
    Amendment,
    /// `custom.*`, or a kind of a newer vigie.
    Other,
}

impl Kind {
    pub fn of(kind: &str) -> Kind {
        match kind {
            kinds::INCIDENT_DECLARED => Kind::IncidentDeclared,
            kinds::SEVERITY_CHANGED => Kind::SeverityChanged,
            kinds::STATUS_CHANGED => Kind::StatusChanged,
            kinds::ROLE_ASSIGNED => Kind::RoleAssigned,
            kinds::NOTE => Kind::Note,
            kinds::DECISION => Kind::Decision,
            kinds::ACTION_ITEM => Kind::ActionItem,
            kinds::ACTION_ITEM_UPDATED => Kind::ActionItemUpdated,
            kinds::ALERT_RAISED => Kind::AlertRaised,
            kinds::ALERT_CLEARED => Kind::AlertCleared,
            kinds::HOST_UNREACHABLE => Kind::HostUnreachable,
            kinds::PLAYBOOK_STARTED => Kind::PlaybookStarted,
            kinds::PLAYBOOK_RESUMED => Kind::PlaybookResumed,
            kinds::PLAYBOOK_FINISHED => Kind::PlaybookFinished,
            kinds::STEP_STARTED => Kind::StepStarted,
            kinds::STEP_DONE => Kind::StepDone,
            kinds::STEP_SKIPPED => Kind::StepSkipped,
            kinds::STEP_FAILED => Kind::StepFailed,
            kinds::CHECKLIST_TICKED => Kind::ChecklistTicked,
            kinds::COMMAND_SENT => Kind::CommandSent,
            kinds::COMMAND_FINISHED => Kind::CommandFinished,
            kinds::AMENDMENT => Kind::Amendment,
            _ => Kind::Other,
        }
    }
}

/// `severity.changed` and `status.changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// `role.assigned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssigned {
    pub who: String,
    pub role: String,
}

/// `note` and `decision`: free text, with report tags (`summary`, `impact`...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Note {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `action_item`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// `p1` (most urgent) to `p4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Where it is tracked (an issue's URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// What it does for the next incident: one of [`ACTION_TYPES`].
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
}

/// What an action item does, as the post-mortem templates sort them:
/// find out more, lessen the harm, fix what broke, see it sooner, keep it
/// from happening, change how the team works.
pub const ACTION_TYPES: &[&str] = &["investigate", "mitigate", "repair", "detect", "prevent", "process"];

impl ActionItem {
    /// An action item as typed: `restore backups @alice due:2026-12-01 p1
    /// type:prevent https://tracker/42` — its owner (`@`), due date
    /// (`due:`), priority (`p1`..`p4`), type (`type:`, one of
    /// [`ACTION_TYPES`]) and tracker link (`http(s)://`, or `link:`) taken
    /// out of the text. An unknown `type:` stays in the text, as typed.
    pub fn parse(text: &str) -> ActionItem {
        let mut item = ActionItem::default();
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            if let Some(name) = word.strip_prefix('@').filter(|n| !n.is_empty()) {
                item.owner = Some(name.to_string());
            } else if let Some(date) = word.strip_prefix("due:").filter(|d| !d.is_empty()) {
                item.due = Some(date.to_string());
            } else if matches!(word.to_ascii_lowercase().as_str(), "p1" | "p2" | "p3" | "p4") {
                item.priority = Some(word.to_ascii_lowercase());
            } else if let Some(kind) = word
                .strip_prefix("type:")
                .map(str::to_ascii_lowercase)
                .filter(|t| ACTION_TYPES.contains(&t.as_str()))
            {
                item.action_type = Some(kind);
            } else if let Some(link) = word.strip_prefix("link:").filter(|l| !l.is_empty()) {
                item.link = Some(link.to_string());
            } else if crate::format::is_web_address(word) {
                item.link = Some(word.to_string());
            } else {
                words.push(word);
            }
        }
        item.text = words.join(" ");
        item
    }
}

/// The statuses an action item goes through.
pub const ACTION_STATUSES: &[&str] = &["open", "in-progress", "done", "wont-do"];

/// `action_item.updated`: the action item `target` (its event id) has a new
/// status, priority or link; what is not given stays as it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionItemUpdated {
    #[serde(default)]
    pub target: String,
    /// The target's sequence number, for humans reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `alert.raised`, `alert.cleared`, `host.unreachable`: what the fleet said.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What on the host the alert is about (a mount, a VM...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The fleet journal's occurrence this event belongs to: a raise and
    /// its clear share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
    /// On a clear: when the alert was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised: Option<chrono::DateTime<chrono::Utc>>,
    /// Who saw it first (a raise) or saw it gone (a clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<String>,
}

/// `playbook.started`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybookStarted {
    #[serde(default)]
    pub playbook: String,
    #[serde(default)]
    pub title: String,
    /// Input values, secrets masked.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    #[serde(default)]
    pub run: String,
}

/// `playbook.resumed`: a run taken up after vigie stopped in the middle of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybookResumed {
    #[serde(default)]
    pub playbook: String,
    #[serde(default)]
    pub finished_steps: Vec<String>,
    /// The step that was running when vigie stopped (written as `null` when none).
    #[serde(default)]
    pub interrupted: Option<String>,
    #[serde(default)]
    pub run: String,
}

/// `playbook.finished`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybookFinished {
    #[serde(default)]
    pub playbook: String,
    /// `completed` or `aborted`.
    #[serde(default)]
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The step an aborted run stopped at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default)]
    pub run: String,
}

/// `step.started`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStarted {
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub run: String,
}

/// `step.done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepDone {
    #[serde(default)]
    pub step: String,
    /// The step's heading, for humans (older timelines have only the id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default)]
    pub run: String,
    /// A step without a command, done by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<bool>,
    /// A step over a list (`each=`) that was empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// Values the step's `expect` captured, restored when a run is resumed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captures: BTreeMap<String, String>,
}

/// `step.skipped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepSkipped {
    #[serde(default)]
    pub step: String,
    /// The step's heading, for humans (older timelines have only the id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub run: String,
}

/// `step.failed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepFailed {
    #[serde(default)]
    pub step: String,
    /// The step's heading, for humans (older timelines have only the id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub run: String,
}

/// `checklist.ticked`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChecklistTicked {
    #[serde(default)]
    pub run: String,
    #[serde(default)]
    pub step: String,
    /// The box's text.
    #[serde(default)]
    pub item: String,
    #[serde(default)]
    pub ticked: bool,
    /// Ticked by `vigie run --yes`, not by a responder who looked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

/// `command.sent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandSent {
    #[serde(default)]
    pub step: String,
    /// The VM or group member it runs for (written as `null` when none).
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub run: String,
}

/// `command.finished`. Written by a playbook run, or by a script outside any
/// (then without `run` or `step`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandFinished {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What ran, when a script outside any playbook records it (a playbook
    /// run records it in `command.sent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Written as `null` when none.
    #[serde(default)]
    pub item: Option<String>,
    /// `null` when killed (a timeout, a cancel).
    #[serde(default)]
    pub exit: Option<i32>,
    #[serde(default)]
    pub ms: Option<u64>,
    #[serde(default)]
    pub output: String,
    /// The output's full size, when the timeline kept only its beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_truncated: Option<bool>,
    /// Why there is no exit code: killed (a timeout, a cancel) or never
    /// started (the host could not be reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one event says, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    IncidentDeclared(IncidentDeclared),
    SeverityChanged(Change<Severity>),
    StatusChanged(Change<Status>),
    RoleAssigned(RoleAssigned),
    Note(Note),
    Decision(Note),
    ActionItem(ActionItem),
    ActionItemUpdated(ActionItemUpdated),
    AlertRaised(FleetEvent),
    AlertCleared(FleetEvent),
    HostUnreachable(FleetEvent),
    PlaybookStarted(PlaybookStarted),
    PlaybookResumed(PlaybookResumed),
    PlaybookFinished(PlaybookFinished),
    StepStarted(StepStarted),
    StepDone(StepDone),
    StepSkipped(StepSkipped),
    StepFailed(StepFailed),
    ChecklistTicked(ChecklistTicked),
    CommandSent(CommandSent),
    CommandFinished(CommandFinished),
    Amendment(Amendment),
    /// A kind vigie does not know (`custom.*`, a newer vigie's), or data that
    /// does not fit its kind: kept as it is.
    Unknown {
        kind: String,
        data: serde_json::Value,
    },
}

impl Payload {
    /// Reads `data` as the payload of `kind`.
    pub fn read(kind: &str, data: &serde_json::Value) -> Payload {
        fn parse<T: DeserializeOwned>(data: &serde_json::Value) -> Option<T> {
            // From the borrowed value: no copy of the whole object first.
            T::deserialize(data).ok()
        }
        // Every kind has its arm: a new `Kind` does not compile until it reads.
        let known = match Kind::of(kind) {
            Kind::IncidentDeclared => parse(data).map(Payload::IncidentDeclared),
            Kind::SeverityChanged => parse(data).map(Payload::SeverityChanged),
            Kind::StatusChanged => parse(data).map(Payload::StatusChanged),
            Kind::RoleAssigned => parse(data).map(Payload::RoleAssigned),
            Kind::Note => parse(data).map(Payload::Note),
            Kind::Decision => parse(data).map(Payload::Decision),
            Kind::ActionItem => parse(data).map(Payload::ActionItem),
            Kind::ActionItemUpdated => parse(data).map(Payload::ActionItemUpdated),
            Kind::AlertRaised => parse(data).map(Payload::AlertRaised),
            Kind::AlertCleared => parse(data).map(Payload::AlertCleared),
            Kind::HostUnreachable => parse(data).map(Payload::HostUnreachable),
            Kind::PlaybookStarted => parse(data).map(Payload::PlaybookStarted),
            Kind::PlaybookResumed => parse(data).map(Payload::PlaybookResumed),
            Kind::PlaybookFinished => parse(data).map(Payload::PlaybookFinished),
            Kind::StepStarted => parse(data).map(Payload::StepStarted),
            Kind::StepDone => parse(data).map(Payload::StepDone),
            Kind::StepSkipped => parse(data).map(Payload::StepSkipped),
            Kind::StepFailed => parse(data).map(Payload::StepFailed),
            Kind::ChecklistTicked => parse(data).map(Payload::ChecklistTicked),
            Kind::CommandSent => parse(data).map(Payload::CommandSent),
            Kind::CommandFinished => parse(data).map(Payload::CommandFinished),
            Kind::Amendment => parse(data).map(Payload::Amendment),
            Kind::Other => None,
        };
        known.unwrap_or_else(|| Payload::Unknown {
            kind: kind.to_string(),
            data: data.clone(),
        })
    }

    pub fn kind(&self) -> &str {
        match self {
            Payload::IncidentDeclared(_) => kinds::INCIDENT_DECLARED,
            Payload::SeverityChanged(_) => kinds::SEVERITY_CHANGED,
            Payload::StatusChanged(_) => kinds::STATUS_CHANGED,
            Payload::RoleAssigned(_) => kinds::ROLE_ASSIGNED,
            Payload::Note(_) => kinds::NOTE,
            Payload::Decision(_) => kinds::DECISION,
            Payload::ActionItem(_) => kinds::ACTION_ITEM,
            Payload::ActionItemUpdated(_) => kinds::ACTION_ITEM_UPDATED,
            Payload::AlertRaised(_) => kinds::ALERT_RAISED,
            Payload::AlertCleared(_) => kinds::ALERT_CLEARED,
            Payload::HostUnreachable(_) => kinds::HOST_UNREACHABLE,
            Payload::PlaybookStarted(_) => kinds::PLAYBOOK_STARTED,
            Payload::PlaybookResumed(_) => kinds::PLAYBOOK_RESUMED,
            Payload::PlaybookFinished(_) => kinds::PLAYBOOK_FINISHED,
            Payload::StepStarted(_) => kinds::STEP_STARTED,
            Payload::StepDone(_) => kinds::STEP_DONE,
            Payload::StepSkipped(_) => kinds::STEP_SKIPPED,
            Payload::StepFailed(_) => kinds::STEP_FAILED,
            Payload::ChecklistTicked(_) => kinds::CHECKLIST_TICKED,
            Payload::CommandSent(_) => kinds::COMMAND_SENT,
            Payload::CommandFinished(_) => kinds::COMMAND_FINISHED,
            Payload::Amendment(_) => kinds::AMENDMENT,
            Payload::Unknown { kind, .. } => kind,
        }
    }

    /// The `data` object as stored.
    pub fn data(&self) -> serde_json::Value {
        fn value<T: Serialize>(payload: &T) -> serde_json::Value {
            // Plain data structs: serializing to a Value cannot fail.
            serde_json::to_value(payload).unwrap_or_default()
        }
        match self {
            Payload::IncidentDeclared(p) => value(p),
            Payload::SeverityChanged(p) => value(p),
            Payload::StatusChanged(p) => value(p),
            Payload::RoleAssigned(p) => value(p),
            Payload::Note(p) | Payload::Decision(p) => value(p),
            Payload::ActionItem(p) => value(p),
            Payload::ActionItemUpdated(p) => value(p),
            Payload::AlertRaised(p) | Payload::AlertCleared(p) | Payload::HostUnreachable(p) => value(p),
            Payload::PlaybookStarted(p) => value(p),
            Payload::PlaybookResumed(p) => value(p),
            Payload::PlaybookFinished(p) => value(p),
            Payload::StepStarted(p) => value(p),
            Payload::StepDone(p) => value(p),
            Payload::StepSkipped(p) => value(p),
            Payload::StepFailed(p) => value(p),
            Payload::ChecklistTicked(p) => value(p),
            Payload::CommandSent(p) => value(p),
            Payload::CommandFinished(p) => value(p),
            Payload::Amendment(p) => value(p),
            Payload::Unknown { data, .. } => data.clone(),
        }
    }

    /// The free text a responder wrote, which an amendment corrects: a
    /// note's, a decision's, an action item's, or the `text` of any other
    /// kind that has one (`vigie timeline append --text`).
    pub fn text(&self) -> Option<&str> {
        match self {
            Payload::Note(note) | Payload::Decision(note) => Some(&note.text),
            Payload::ActionItem(item) => Some(&item.text),
            Payload::Unknown { data, .. } => data.get("text").and_then(|t| t.as_str()),
            _ => None,
        }
    }

    /// The run a playbook event belongs to, if it is one.
    pub fn run(&self) -> Option<&str> {
        match self {
            Payload::PlaybookStarted(p) => Some(&p.run),
            Payload::PlaybookResumed(p) => Some(&p.run),
            Payload::PlaybookFinished(p) => Some(&p.run),
            Payload::StepStarted(p) => Some(&p.run),
            Payload::StepDone(p) => Some(&p.run),
            Payload::StepSkipped(p) => Some(&p.run),
            Payload::StepFailed(p) => Some(&p.run),
            Payload::ChecklistTicked(p) => Some(&p.run),
            Payload::CommandSent(p) => Some(&p.run),
            Payload::CommandFinished(p) => p.run.as_deref(),
            _ => None,
        }
    }
}

impl Event {
    /// What this event says.
    pub fn payload(&self) -> Payload {
        Payload::read(&self.kind, &self.data)
    }

    /// Its kind, without reading its data.
    pub fn kind_of(&self) -> Kind {
        Kind::of(&self.kind)
    }
}

impl NewEvent {
    /// What this event will say.
    pub fn payload(&self) -> Payload {
        Payload::read(&self.kind, &self.data)
    }
}

impl From<Payload> for NewEvent {
    fn from(payload: Payload) -> NewEvent {
        NewEvent::new(payload.kind(), payload.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every kind with the data vigie has always written for it: the typed
    /// payload reads it and writes the very same bytes back.
    #[test]
    fn every_kind_round_trips_byte_for_byte() {
        let written = [
            (
                kinds::INCIDENT_DECLARED,
                json!({"title": "miramelle down", "severity": "critical", "status": "investigating"}),
            ),
            (kinds::SEVERITY_CHANGED, json!({"from": "major", "to": "critical"})),
            (
                kinds::STATUS_CHANGED,
                json!({"from": "investigating", "to": "resolved"}),
            ),
            (kinds::ROLE_ASSIGNED, json!({"who": "alice", "role": "lead"})),
            (kinds::NOTE, json!({"text": "mailed the owners"})),
            (kinds::NOTE, json!({"text": "lost 2 h of mail", "tags": ["impact"]})),
            (kinds::DECISION, json!({"text": "evacuate to locuste"})),
            (
                kinds::ACTION_ITEM,
                json!({"text": "add a second PSU", "owner": "bob", "due": "2026-12-15"}),
            ),
            (kinds::ACTION_ITEM, json!({"text": "write it down"})),
            (
                kinds::ALERT_RAISED,
                json!({"code": "unreachable", "severity": "critical", "message": "m unreachable"}),
            ),
            (
                kinds::PLAYBOOK_STARTED,
                json!({"playbook": "p", "title": "P", "inputs": {"host": "locuste"}, "run": "R"}),
            ),
            (
                kinds::PLAYBOOK_RESUMED,
                json!({"playbook": "p", "finished_steps": ["one"], "interrupted": null, "run": "R"}),
            ),
            (
                kinds::PLAYBOOK_RESUMED,
                json!({"playbook": "p", "finished_steps": [], "interrupted": "two", "run": "R"}),
            ),
            (
                kinds::PLAYBOOK_FINISHED,
                json!({"playbook": "p", "outcome": "completed", "run": "R"}),
            ),
            (
                kinds::PLAYBOOK_FINISHED,
                json!({"playbook": "p", "outcome": "aborted", "reason": "wrong host", "step": "two", "run": "R"}),
            ),
            (kinds::STEP_STARTED, json!({"step": "one", "title": "One", "run": "R"})),
            (kinds::STEP_DONE, json!({"step": "one", "run": "R"})),
            (kinds::STEP_DONE, json!({"step": "one", "manual": true, "run": "R"})),
            (
                kinds::STEP_DONE,
                json!({"step": "one", "items": 0, "run": "R", "captures": {"load1": "2.18"}}),
            ),
            (
                kinds::STEP_SKIPPED,
                json!({"step": "one", "reason": "done by hand", "run": "R"}),
            ),
            (
                kinds::STEP_FAILED,
                json!({"step": "one", "error": "exit 1", "run": "R"}),
            ),
            (
                kinds::CHECKLIST_TICKED,
                json!({"run": "R", "step": "two", "item": "the host answers", "ticked": true}),
            ),
            (
                kinds::CHECKLIST_TICKED,
                json!({"run": "R", "step": "two", "item": "x", "ticked": true, "automatic": true}),
            ),
            (
                kinds::COMMAND_SENT,
                json!({"step": "one", "item": null, "command": "uptime", "run": "R"}),
            ),
            (
                kinds::COMMAND_FINISHED,
                json!({"step": "one", "item": "vm1", "exit": 0, "ms": 12, "output": "ok\n", "run": "R"}),
            ),
            (
                kinds::COMMAND_FINISHED,
                json!({"step": "one", "item": null, "exit": null, "ms": 300000, "output": "", "run": "R"}),
            ),
            (
                kinds::COMMAND_FINISHED,
                json!({"exit": 1, "ms": 5, "output": "big", "output_bytes": 70000, "output_truncated": true, "item": null}),
            ),
            (
                kinds::AMENDMENT,
                json!({"target": "01J", "target_seq": 3, "text": "miramelle down", "reason": "typo"}),
            ),
            ("custom.deploy", json!({"anything": [1, 2]})),
        ];
        for (kind, data) in written {
            let payload = Payload::read(kind, &data);
            assert_eq!(payload.kind(), kind);
            assert!(
                kind.starts_with("custom.") || !matches!(payload, Payload::Unknown { .. }),
                "{kind} {data} reads as its type"
            );
            assert_eq!(
                serde_json::to_string(&payload.data()).unwrap(),
                serde_json::to_string(&data).unwrap(),
                "{kind}"
            );
        }
    }

    #[test]
    fn data_that_does_not_fit_its_kind_is_kept_as_it_is() {
        let data = json!({"title": "x", "severity": "apocalyptic"});
        let payload = Payload::read(kinds::INCIDENT_DECLARED, &data);
        assert_eq!(
            payload,
            Payload::Unknown {
                kind: kinds::INCIDENT_DECLARED.into(),
                data: data.clone()
            }
        );
        assert_eq!(payload.data(), data);
    }
}
