//! The incident timeline: the single source of truth for an incident.
//!
//! `timeline.jsonl` holds one JSON event per line, appended under an exclusive
//! lock, written in one write and fsynced before the append returns. Each line
//! carries the SHA-256 of the previous line (`prev`), so any later edit breaks
//! the chain and `verify` names the line.

pub mod anchor;
pub mod event;
pub mod payload;
pub mod redact;
pub mod sources;
pub mod store;
pub mod verify;
pub mod view;

pub use event::{Event, NewEvent};
pub use payload::Payload;
pub use sources::{read_incident, IncidentFollower};
pub use store::{Follower, Timeline, TimelineError, TimelineOptions};

/// File name of the timeline inside an incident directory.
pub const TIMELINE_FILE: &str = "timeline.jsonl";
/// Where torn (incomplete) last lines are set aside.
pub const TORN_FILE: &str = "timeline.jsonl.torn";
