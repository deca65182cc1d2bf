//! The status model: what vigie currently knows about each host. Plain data,
//! updated from poll results, read by alerts, the TUI and `vigie status`.

use crate::config::{Host, HostKind};
use crate::probe::linux::{percent, DiskCounters, LinuxHealth};
use crate::probe::Reading;
use crate::transport_error::TransportError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// Why a host could not be polled, in the few categories responders act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Refused,
    Timeout,
    Auth,
    HostKeyUnknown,
    HostKeyMismatch,
    HostKeyRevoked,
    HostCertificateInvalid,
    Config,
    Other,
}

impl FailureKind {
    /// A refusal of vigie's own making (host key, certificate, ssh config):
    /// the host itself may well be up.
    pub fn is_host_key_or_config(self) -> bool {
        matches!(
            self,
            FailureKind::HostKeyUnknown
                | FailureKind::HostKeyMismatch
                | FailureKind::HostKeyRevoked
                | FailureKind::HostCertificateInvalid
                | FailureKind::Config
        )
    }

    pub fn of(error: &TransportError) -> FailureKind {
        match error {
            TransportError::Refused => FailureKind::Refused,
            TransportError::ConnectTimeout | TransportError::Timeout(_) => FailureKind::Timeout,
            TransportError::Auth(_) => FailureKind::Auth,
            TransportError::HostKeyUnknown { .. } => FailureKind::HostKeyUnknown,
            TransportError::HostKeyMismatch { .. } => FailureKind::HostKeyMismatch,
            TransportError::HostKeyRevoked { .. } => FailureKind::HostKeyRevoked,
            TransportError::HostCertificateInvalid { .. } => FailureKind::HostCertificateInvalid,
            TransportError::Config(_) => FailureKind::Config,
            _ => FailureKind::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reachability {
    /// Not polled yet.
    Unknown,
    Reachable,
    Unreachable {
        kind: FailureKind,
        reason: String,
        since: DateTime<Utc>,
    },
}

/// Throughput and busy time of one disk between two polls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskRate {
    pub device: String,
    pub read_bytes_per_s: f64,
    pub write_bytes_per_s: f64,
    /// Share of the interval the disk was busy (diskstats field 10).
    pub busy_percent: f64,
}

#[derive(Debug, Clone)]
pub struct HostStatus {
    pub name: String,
    pub kind: HostKind,
    pub address: String,
    pub reachability: Reachability,
    /// Last successful reading; kept (and shown as stale) while unreachable.
    pub reading: Option<Reading>,
    pub disk_rates: Vec<DiskRate>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_round_trip: Option<Duration>,
    /// The latest samples, oldest first, for sparklines.
    pub history: std::collections::VecDeque<Sample>,
    /// Reachability changes, oldest first ("up", "down: connection refused").
    pub changes: std::collections::VecDeque<(DateTime<Utc>, String)>,
}

/// One poll's numbers, kept for the sparklines of the host detail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub load1: Option<f64>,
    pub memory_percent: Option<f64>,
    /// Share of time some task waited on I/O (PSI `some avg10`).
    pub io_some: Option<f64>,
}

/// Samples kept per host: at a 5 s interval, the last 10 minutes.
pub const HISTORY_KEPT: usize = 120;
/// Reachability changes kept per host.
const CHANGES_KEPT: usize = 8;

impl HostStatus {
    pub fn new(host: &Host) -> Self {
        HostStatus {
            name: host.name.clone(),
            kind: host.kind,
            address: host.address.clone(),
            reachability: Reachability::Unknown,
            reading: None,
            disk_rates: Vec::new(),
            last_ok: None,
            last_poll: None,
            last_round_trip: None,
            history: std::collections::VecDeque::new(),
            changes: std::collections::VecDeque::new(),
        }
    }

    fn record_change(&mut self, at: DateTime<Utc>, what: String) {
        self.changes.push_back((at, what));
        if self.changes.len() > CHANGES_KEPT {
            self.changes.pop_front();
        }
    }

    /// Folds one poll result into the status.
    pub fn apply(&mut self, result: &PollResult) {
        self.last_poll = Some(result.at);
        match &result.outcome {
            PollOutcome::Reading { reading, round_trip } => {
                if let (Some(previous), Some(previous_at)) = (self.health(), self.last_ok) {
                    let seconds = (result.at - previous_at).num_milliseconds() as f64 / 1000.0;
                    self.disk_rates = disk_rates(&previous.disk_counters, &reading.health.disk_counters, seconds);
                }
                if self.reachability != Reachability::Reachable {
                    self.record_change(result.at, "up".into());
                }
                let health = &reading.health;
                self.history.push_back(Sample {
                    at: result.at,
                    load1: health.load.map(|l| l[0]),
                    memory_percent: health.memory.map(|m| m.used_percent()),
                    io_some: health.io_pressure.map(|p| p.some_avg10),
                });
                if self.history.len() > HISTORY_KEPT {
                    self.history.pop_front();
                }
                self.reachability = Reachability::Reachable;
                self.reading = Some((**reading).clone());
                self.last_ok = Some(result.at);
                self.last_round_trip = Some(*round_trip);
            }
            PollOutcome::Failed(error) => {
                let since = match &self.reachability {
                    Reachability::Unreachable { since, .. } => *since,
                    _ => {
                        self.record_change(result.at, format!("down: {error}"));
                        result.at
                    }
                };
                self.disk_rates.clear();
                let reason = error.to_string();
                // Shown after "unreachable since …": no second "unreachable".
                let reason = reason.strip_prefix("unreachable: ").unwrap_or(&reason).to_string();
                self.reachability = Reachability::Unreachable {
                    kind: FailureKind::of(error),
                    reason,
                    since,
                };
            }
        }
    }

    /// Linux health from the last successful reading.
    pub fn health(&self) -> Option<&LinuxHealth> {
        self.reading.as_ref().map(|r| &r.health)
    }

    pub fn is_reachable(&self) -> bool {
        self.reachability == Reachability::Reachable
    }

    /// Age of the health data if it is not from the latest poll.
    pub fn stale_for(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        match (&self.reachability, self.last_ok) {
            (Reachability::Unreachable { .. }, Some(ok)) => Some(now - ok),
            _ => None,
        }
    }
}

/// Rates from two readings of cumulative counters `seconds` apart.
fn disk_rates(before: &[DiskCounters], after: &[DiskCounters], seconds: f64) -> Vec<DiskRate> {
    if seconds <= 0.0 {
        return Vec::new();
    }
    const SECTOR: f64 = 512.0;
    after
        .iter()
        .filter_map(|now| {
            let then = before.iter().find(|b| b.device == now.device)?;
            // Counters reset on reboot: no rate rather than a negative one.
            let read = now.sectors_read.checked_sub(then.sectors_read)?;
            let written = now.sectors_written.checked_sub(then.sectors_written)?;
            let busy_ms = now.io_ms.checked_sub(then.io_ms)?;
            Some(DiskRate {
                device: now.device.clone(),
                read_bytes_per_s: read as f64 * SECTOR / seconds,
                write_bytes_per_s: written as f64 * SECTOR / seconds,
                busy_percent: percent(busy_ms, (seconds * 1000.0) as u64).min(100.0),
            })
        })
        .collect()
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
    Reading {
        reading: Box<Reading>,
        round_trip: Duration,
    },
    Failed(TransportError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn counters(read: u64, written: u64, io_ms: u64) -> LinuxHealth {
        LinuxHealth {
            disk_counters: vec![DiskCounters {
                device: "vda".into(),
                sectors_read: read,
                sectors_written: written,
                io_ms,
            }],
            ..LinuxHealth::default()
        }
    }

    fn ok(at: DateTime<Utc>, health: LinuxHealth) -> PollResult {
        PollResult {
            host_index: 0,
            at,
            outcome: PollOutcome::Reading {
                reading: Box::new(Reading {
                    health,
                    ..Reading::default()
                }),
                round_trip: Duration::from_millis(3),
            },
        }
    }

    #[test]
    fn unreachable_keeps_its_first_time_and_the_last_health() {
        let config = Config::embedded_default();
        let mut status = HostStatus::new(&config.hosts[0]);
        let t0 = Utc::now();
        status.apply(&ok(t0, LinuxHealth::default()));
        let t1 = t0 + chrono::Duration::seconds(5);
        let t2 = t0 + chrono::Duration::seconds(10);
        for at in [t1, t2] {
            status.apply(&PollResult {
                host_index: 0,
                at,
                outcome: PollOutcome::Failed(TransportError::ConnectTimeout),
            });
        }
        assert_eq!(
            status.reachability,
            Reachability::Unreachable {
                kind: FailureKind::Timeout,
                reason: "connection timed out".into(),
                since: t1
            }
        );
        assert!(status.health().is_some());
        assert_eq!(status.stale_for(t2), Some(chrono::Duration::seconds(10)));
        status.apply(&ok(t2, LinuxHealth::default()));
        assert_eq!(status.reachability, Reachability::Reachable);
        assert_eq!(status.stale_for(t2), None);
    }

    #[test]
    fn disk_rates_come_from_two_polls() {
        let config = Config::embedded_default();
        let mut status = HostStatus::new(&config.hosts[0]);
        let t0 = Utc::now();
        status.apply(&ok(t0, counters(0, 0, 0)));
        assert!(status.disk_rates.is_empty());
        status.apply(&ok(t0 + chrono::Duration::seconds(2), counters(4096, 2048, 500)));
        let rate = &status.disk_rates[0];
        assert_eq!(rate.read_bytes_per_s, 4096.0 * 512.0 / 2.0);
        assert_eq!(rate.write_bytes_per_s, 2048.0 * 512.0 / 2.0);
        assert_eq!(rate.busy_percent, 25.0);
        // A reboot resets counters: no rate, never a negative one.
        status.apply(&ok(t0 + chrono::Duration::seconds(4), counters(1, 1, 1)));
        assert!(status.disk_rates.is_empty());
    }
}
