//! The status model: what vigie currently knows about each host. Plain data,
//! updated from poll results, read by alerts, the TUI and `vigie status`.

use crate::config::{Host, HostKind};
use crate::probe::linux::LinuxHealth;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Reachability {
    /// Not polled yet.
    Unknown,
    Reachable,
    Unreachable {
        reason: String,
        since: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct HostStatus {
    pub name: String,
    pub kind: HostKind,
    pub address: String,
    pub reachability: Reachability,
    /// Last successful health reading; kept (and shown as stale) while unreachable.
    pub health: Option<LinuxHealth>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_round_trip: Option<Duration>,
}

impl HostStatus {
    pub fn new(host: &Host) -> Self {
        HostStatus {
            name: host.name.clone(),
            kind: host.kind,
            address: host.address.clone(),
            reachability: Reachability::Unknown,
            health: None,
            last_ok: None,
            last_poll: None,
            last_round_trip: None,
        }
    }

    /// Folds one poll result into the status.
    pub fn apply(&mut self, result: &PollResult) {
        self.last_poll = Some(result.at);
        match &result.outcome {
            PollOutcome::Health { health, round_trip } => {
                self.reachability = Reachability::Reachable;
                self.health = Some((**health).clone());
                self.last_ok = Some(result.at);
                self.last_round_trip = Some(*round_trip);
            }
            PollOutcome::Failed(reason) => {
                let since = match &self.reachability {
                    Reachability::Unreachable { since, .. } => *since,
                    _ => result.at,
                };
                self.reachability = Reachability::Unreachable {
                    reason: reason.clone(),
                    since,
                };
            }
        }
    }

    /// Age of the health data if it is not from the latest poll.
    pub fn stale_for(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        match (&self.reachability, self.last_ok) {
            (Reachability::Unreachable { .. }, Some(ok)) => Some(now - ok),
            _ => None,
        }
    }
}

/// One host's poll, as the poller reports it.
#[derive(Debug, Clone)]
pub struct PollResult {
    pub host_index: usize,
    pub at: DateTime<Utc>,
    pub outcome: PollOutcome,
}

#[derive(Debug, Clone)]
pub enum PollOutcome {
    Health {
        health: Box<LinuxHealth>,
        round_trip: Duration,
    },
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn unreachable_keeps_its_first_time_and_the_last_health() {
        let config = Config::embedded_default();
        let mut status = HostStatus::new(&config.hosts[0]);
        let t0 = Utc::now();
        let ok = PollResult {
            host_index: 0,
            at: t0,
            outcome: PollOutcome::Health {
                health: Box::default(),
                round_trip: Duration::from_millis(3),
            },
        };
        status.apply(&ok);
        let t1 = t0 + chrono::Duration::seconds(5);
        let t2 = t0 + chrono::Duration::seconds(10);
        for at in [t1, t2] {
            status.apply(&PollResult {
                host_index: 0,
                at,
                outcome: PollOutcome::Failed("timeout".into()),
            });
        }
        assert_eq!(
            status.reachability,
            Reachability::Unreachable {
                reason: "timeout".into(),
                since: t1
            }
        );
        assert!(status.health.is_some());
        assert_eq!(status.stale_for(t2), Some(chrono::Duration::seconds(10)));
        status.apply(&ok);
        assert_eq!(status.reachability, Reachability::Reachable);
        assert_eq!(status.stale_for(t2), None);
    }
}
