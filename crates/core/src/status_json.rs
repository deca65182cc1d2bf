//! The documented JSON of `vigie status --json` (see `docs/status-json.md`).
//! Field names are a contract for scripts: add fields, never rename them.

use crate::alerts::Alert;
use crate::probe::linux::{Filesystem, LinuxHealth, Memory, Pressure};
use crate::probe::model::{Backup, Cluster, Datastore, Lockout, Replication, ReplicationJob, Vm};
use crate::status::{DiskRate, FailureKind, HostStatus, Reachability};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub kind: &'static str,
    pub address: String,
    pub reachable: bool,
    /// Why the host could not be polled (`null` when reachable).
    pub error: Option<String>,
    pub error_kind: Option<FailureKind>,
    /// When the host was polled (RFC 3339, UTC).
    pub checked_at: Option<String>,
    pub round_trip_ms: Option<u64>,
    pub health: Option<HealthReport>,
    /// Cluster membership and quorum (Proxmox), if the host is in one.
    pub cluster: Option<Cluster>,
    pub vms: Vec<Vm>,
    pub datastores: Vec<Datastore>,
    pub replication: Vec<Replication>,
    /// Storage replication jobs (Proxmox).
    pub replication_jobs: Vec<ReplicationJob>,
    pub lockouts: Vec<Lockout>,
    pub backups: Vec<Backup>,
    /// Parts of the probe that could not be read.
    pub driver_errors: Vec<String>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Serialize)]
pub struct HealthReport {
    pub hostname: Option<String>,
    pub kernel: Option<String>,
    pub uptime_s: Option<f64>,
    pub load: Option<[f64; 3]>,
    pub cpus: Option<u32>,
    pub memory: Option<MemoryReport>,
    pub filesystems: Vec<FilesystemReport>,
    pub io_pressure: Option<Pressure>,
    pub disks: Vec<DiskRate>,
}

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    #[serde(flatten)]
    pub memory: Memory,
    pub used_percent: f64,
}

#[derive(Debug, Serialize)]
pub struct FilesystemReport {
    #[serde(flatten)]
    pub filesystem: Filesystem,
    pub used_percent: f64,
}

impl HostReport {
    pub fn new(status: &HostStatus, alerts: Vec<Alert>) -> HostReport {
        let (error, error_kind) = match &status.reachability {
            Reachability::Unreachable { kind, reason, .. } => (Some(reason.clone()), Some(*kind)),
            Reachability::Unknown => (Some("not polled".to_string()), None),
            Reachability::Reachable => (None, None),
        };
        // Never report stale data as current: an unreachable host has no reading here.
        let reading = status.reading.as_ref().filter(|_| status.is_reachable());
        HostReport {
            name: status.name.clone(),
            kind: status.kind.as_str(),
            address: status.address.clone(),
            reachable: status.is_reachable(),
            error,
            error_kind,
            checked_at: status
                .last_poll
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            round_trip_ms: status.last_round_trip.map(|d| d.as_millis() as u64),
            health: reading.map(|r| health(&r.health, &status.disk_rates)),
            cluster: reading.and_then(|r| r.cluster.clone()),
            vms: reading.map(|r| r.vms.clone()).unwrap_or_default(),
            datastores: reading.map(|r| r.datastores.clone()).unwrap_or_default(),
            replication: reading.map(|r| r.replication.clone()).unwrap_or_default(),
            replication_jobs: reading.map(|r| r.replication_jobs.clone()).unwrap_or_default(),
            lockouts: reading.map(|r| r.lockouts.clone()).unwrap_or_default(),
            backups: reading.map(|r| r.backups.clone()).unwrap_or_default(),
            driver_errors: reading.map(|r| r.driver_errors.clone()).unwrap_or_default(),
            alerts,
        }
    }
}

fn health(health: &LinuxHealth, rates: &[DiskRate]) -> HealthReport {
    HealthReport {
        hostname: health.hostname.clone(),
        kernel: health.kernel.clone(),
        uptime_s: health.uptime_s,
        load: health.load,
        cpus: health.cpus,
        memory: health.memory.map(|memory| MemoryReport {
            memory,
            used_percent: round1(memory.used_percent()),
        }),
        filesystems: health
            .filesystems
            .iter()
            .map(|fs| FilesystemReport {
                filesystem: fs.clone(),
                used_percent: round1(fs.used_percent()),
            })
            .collect(),
        io_pressure: health.io_pressure,
        disks: rates.to_vec(),
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
