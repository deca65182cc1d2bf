//! Alerts derived from status, never typed by hand. Pure: status in, alerts out.

use crate::status::{FailureKind, HostStatus, Reachability};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn glyph(self) -> &'static str {
        match self {
            Severity::Info => "ℹ",
            Severity::Warning => "⚠",
            Severity::Critical => "✖",
        }
    }

    /// `vigie status` exit code: 0 ok, 1 warning, 2 critical.
    pub fn exit_code(worst: Option<Severity>) -> i32 {
        match worst {
            Some(Severity::Critical) => 2,
            Some(Severity::Warning) => 1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    /// Stable identifier (`unreachable`, `disk_full`...): documented, used by playbooks.
    pub code: &'static str,
    /// What a tired human needs to read.
    pub message: String,
}

/// Thresholds, in percent.
pub const DISK_WARNING: f64 = 90.0;
pub const DISK_CRITICAL: f64 = 97.0;
pub const MEMORY_WARNING: f64 = 90.0;
pub const MEMORY_CRITICAL: f64 = 97.0;
/// PSI `full avg10`: share of time every task was stalled on I/O.
pub const IO_PRESSURE_WARNING: f64 = 10.0;
pub const IO_PRESSURE_CRITICAL: f64 = 30.0;

pub fn for_host(status: &HostStatus) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if let Reachability::Unreachable {
        kind,
        reason,
        since,
    } = &status.reachability
    {
        let (severity, code) = match kind {
            FailureKind::HostKeyMismatch => (Severity::Critical, "host_key_mismatch"),
            FailureKind::HostKeyUnknown => (Severity::Warning, "host_key_unknown"),
            FailureKind::Auth => (Severity::Critical, "auth_failed"),
            _ => (Severity::Critical, "unreachable"),
        };
        let message = format!(
            "{} unreachable since {}: {reason}",
            status.name,
            since.format("%H:%M:%S")
        );
        alerts.push(Alert {
            severity,
            code,
            message,
        });
        // Data from before the failure is stale: alerts on it would mislead.
        return alerts;
    }
    let Some(health) = &status.health else {
        return alerts;
    };
    for fs in &health.filesystems {
        let used = fs.used_percent();
        let severity = threshold(used, DISK_WARNING, DISK_CRITICAL);
        if let Some(severity) = severity {
            alerts.push(Alert {
                severity,
                code: "disk_full",
                message: format!(
                    "{}: {} is {used:.0}% full, {} free",
                    status.name,
                    fs.mount,
                    crate::format::human_kib(fs.available_kib)
                ),
            });
        }
    }
    if let Some(memory) = health.memory {
        let used = memory.used_percent();
        if let Some(severity) = threshold(used, MEMORY_WARNING, MEMORY_CRITICAL) {
            alerts.push(Alert {
                severity,
                code: "memory",
                message: format!("{}: memory {used:.0}% used", status.name),
            });
        }
    }
    if let Some(pressure) = health.io_pressure {
        if let Some(severity) = threshold(
            pressure.full_avg10,
            IO_PRESSURE_WARNING,
            IO_PRESSURE_CRITICAL,
        ) {
            alerts.push(Alert {
                severity,
                code: "io_pressure",
                message: format!(
                    "{}: every task stalled on I/O {:.0}% of the last 10 s",
                    status.name, pressure.full_avg10
                ),
            });
        }
    }
    alerts
}

fn threshold(value: f64, warning: f64, critical: f64) -> Option<Severity> {
    if value >= critical {
        Some(Severity::Critical)
    } else if value >= warning {
        Some(Severity::Warning)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::probe::linux::{Filesystem, LinuxHealth, Memory, Pressure};
    use crate::status::{PollOutcome, PollResult};
    use crate::transport::TransportError;
    use chrono::Utc;
    use std::time::Duration;

    fn status_with(health: LinuxHealth) -> HostStatus {
        let mut status = HostStatus::new(&Config::embedded_default().hosts[0]);
        status.name = "locuste".into();
        status.apply(&PollResult {
            host_index: 0,
            at: Utc::now(),
            outcome: PollOutcome::Health {
                health: Box::new(health),
                round_trip: Duration::ZERO,
            },
        });
        status
    }

    fn fs(used: u64, available: u64) -> Filesystem {
        Filesystem {
            device: "/dev/sda1".into(),
            mount: "/".into(),
            size_kib: used + available,
            used_kib: used,
            available_kib: available,
        }
    }

    #[test]
    fn disk_thresholds() {
        let codes = |used, avail| {
            for_host(&status_with(LinuxHealth {
                filesystems: vec![fs(used, avail)],
                ..Default::default()
            }))
            .iter()
            .map(|a| a.severity)
            .collect::<Vec<_>>()
        };
        assert_eq!(codes(89, 11), vec![]);
        assert_eq!(codes(90, 10), vec![Severity::Warning]);
        assert_eq!(codes(97, 3), vec![Severity::Critical]);
    }

    #[test]
    fn memory_and_io_pressure() {
        let health = LinuxHealth {
            memory: Some(Memory {
                total_kib: 100,
                available_kib: 2,
                swap_total_kib: 0,
                swap_free_kib: 0,
            }),
            io_pressure: Some(Pressure {
                full_avg10: 12.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let alerts = for_host(&status_with(health));
        assert_eq!(alerts.len(), 2);
        assert_eq!(
            (alerts[0].code, alerts[0].severity),
            ("memory", Severity::Critical)
        );
        assert_eq!(
            (alerts[1].code, alerts[1].severity),
            ("io_pressure", Severity::Warning)
        );
        assert!(alerts[1].message.contains("stalled on I/O 12%"));
    }

    #[test]
    fn unreachable_and_key_mismatch() {
        let mut status = status_with(LinuxHealth {
            filesystems: vec![fs(99, 1)],
            ..Default::default()
        });
        status.apply(&PollResult {
            host_index: 0,
            at: Utc::now(),
            outcome: PollOutcome::Failed(TransportError::HostKeyMismatch {
                host: "locuste".into(),
                fingerprint: "SHA256:x".into(),
            }),
        });
        let alerts = for_host(&status);
        assert_eq!(
            alerts.len(),
            1,
            "stale disk data raises nothing: {alerts:?}"
        );
        assert_eq!(
            (alerts[0].code, alerts[0].severity),
            ("host_key_mismatch", Severity::Critical)
        );
        assert_eq!(
            Severity::exit_code(alerts.iter().map(|a| a.severity).max()),
            2
        );
    }
}
