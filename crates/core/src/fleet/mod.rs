//! The fleet journal: what the fleet did, kept on disk by whatever watches
//! it (a cockpit, `vigie watch`), shared by every watcher of the same
//! incidents directory.
//!
//! A watcher turns each poll into an [`Observation`] (the host's alerts at
//! that moment). The journal turns observations into [`Occurrence`]s: one
//! per alert, from the first poll that saw it to the first that did not,
//! whoever saw it. So "unreachable since 19:30:12" survives a restart and
//! reads the same in every cockpit, and every open incident can be given
//! each occurrence exactly once (`record`), at the time it began.

pub mod journal;
pub mod occurrences;
pub mod record;
pub mod recorder;
pub mod watched;

use crate::alerts::{Alert, REACHABILITY_CODES, VM_DOWN};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use journal::{Journal, JournalError, JOURNAL_FILE};
pub use occurrences::{Occurrences, Record};
pub use recorder::{record_firing, FleetRecorder, Synced};
pub use watched::FleetStatus;

/// One alert across polls: the host, the code, what on the host it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlertKey {
    pub host: String,
    pub code: String,
    #[serde(default)]
    pub subject: String,
}

impl AlertKey {
    pub fn of(host: &str, alert: &Alert) -> AlertKey {
        AlertKey {
            host: host.to_string(),
            code: alert.code.to_string(),
            subject: alert.subject.clone(),
        }
    }
}

/// One alert from the first poll that saw it to the first that did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Given when the journal opened it; the timeline events of this
    /// occurrence derive their ids from it.
    pub id: String,
    #[serde(flatten)]
    pub key: AlertKey,
    pub severity: String,
    /// The alert's message when first seen.
    pub message: String,
    pub raised: DateTime<Utc>,
    pub cleared: Option<DateTime<Utc>>,
    /// Who saw it first (`alice@bastion`, `vigie-watch@bastion`).
    pub observer: String,
}

impl Occurrence {
    pub fn is_open(&self) -> bool {
        self.cleared.is_none()
    }
}

/// Which alerts of a host one poll can speak for. A host that answered
/// speaks for all of them; one that did not, only for its reachability
/// (and, while its last reading is known, for its guests): its disk alert
/// neither cleared nor fired, nobody knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    Everything,
    Reachability { guests: bool },
}

impl Coverage {
    pub fn covers(self, code: &str) -> bool {
        match self {
            Coverage::Everything => true,
            Coverage::Reachability { guests } => REACHABILITY_CODES.contains(&code) || (guests && code == VM_DOWN),
        }
    }
}

/// One host's alerts as one poll saw them.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub host: String,
    /// When the poll began.
    pub at: DateTime<Utc>,
    pub alerts: Vec<Alert>,
    pub coverage: Coverage,
}

/// A host's observations, for the tests of the journal and the recorder.
#[cfg(test)]
pub(crate) fn observed(host: &str, at: DateTime<Utc>, down: bool) -> Observation {
    let alerts = if down {
        vec![Alert {
            severity: crate::alerts::Severity::Critical,
            code: "unreachable",
            message: format!("{host} unreachable"),
            subject: String::new(),
            playbook: None,
            inputs: vec![],
        }]
    } else {
        vec![]
    };
    let coverage = if down {
        Coverage::Reachability { guests: false }
    } else {
        Coverage::Everything
    };
    Observation {
        host: host.into(),
        at,
        alerts,
        coverage,
    }
}
