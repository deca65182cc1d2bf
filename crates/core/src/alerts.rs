//! Alerts derived from status, never typed by hand. Pure: status in, alerts
//! out. Messages are written for a tired human; codes are stable (see
//! `docs/status-json.md`) and each alert names the playbook that addresses it.

use crate::format::human_bytes;
use crate::probe::model::{Backup, Datastore, Lockout, Replication, Vm};
use crate::probe::Reading;
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
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

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
    /// What on the host it is about (a mount, a VM, a connection, a user...),
    /// empty for the host itself. With the host and the code it names one
    /// alert across polls, so the fleet journal can tell how long it lasted.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The bundled playbook that addresses it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playbook: Option<&'static str>,
    /// Values for that playbook's inputs that the alert already knows (the
    /// host, the locked user, the replication connection...): the cockpit
    /// pre-fills its form with them.
    #[serde(skip)]
    pub inputs: Vec<(&'static str, String)>,
}

impl Alert {
    fn new(severity: Severity, code: &'static str, message: String) -> Alert {
        Alert {
            severity,
            code,
            message,
            subject: String::new(),
            playbook: None,
            inputs: Vec::new(),
        }
    }

    /// What the alert is about; host text, so made one inert line here.
    fn about(mut self, subject: impl AsRef<str>) -> Alert {
        self.subject = crate::sanitize::one_line(subject.as_ref());
        self
    }

    fn playbook(mut self, id: &'static str) -> Alert {
        self.playbook = Some(id);
        self
    }

    fn input(mut self, name: &'static str, value: impl Into<String>) -> Alert {
        if !self.inputs.iter().any(|(n, _)| *n == name) {
            self.inputs.push((name, value.into()));
        }
        self
    }

    /// The input that names the host the alert is about, for each bundled playbook.
    fn with_host_input(self, host: &str) -> Alert {
        match self.playbook {
            Some("evacuate-hypervisor") => self.input("dead", host),
            Some("repair-replication") => self.input("replica", host),
            Some(_) => self.input("host", host),
            None => self,
        }
    }
}

/// Thresholds, in percent.
pub const DISK_WARNING: f64 = 90.0;
pub const DISK_CRITICAL: f64 = 97.0;
pub const MEMORY_WARNING: f64 = 90.0;
pub const MEMORY_CRITICAL: f64 = 97.0;
/// PSI `full avg10`: share of time every task was stalled on I/O.
pub const IO_PRESSURE_WARNING: f64 = 10.0;
pub const IO_PRESSURE_CRITICAL: f64 = 30.0;
/// A replica further behind than this, in seconds, is lagging.
pub const REPLICATION_LAG_WARNING: u64 = 300;
/// This many failed logins without a lock look like brute force.
pub const LOGIN_FAILURES_INFO: u32 = 10;

/// The levels of the alerts that measure something (disk, memory, I/O
/// pressure, replication lag): [`Thresholds::RAISE`] to start one,
/// [`Thresholds::HOLD`] to keep one that fires already. The gap between
/// them keeps a value hovering at 90 % from raising and clearing the same
/// alert at every poll (and writing each flap into the timeline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub disk: (f64, f64),
    pub memory: (f64, f64),
    pub io_pressure: (f64, f64),
    pub replication_lag: u64,
}

impl Thresholds {
    pub const RAISE: Thresholds = Thresholds {
        disk: (DISK_WARNING, DISK_CRITICAL),
        memory: (MEMORY_WARNING, MEMORY_CRITICAL),
        io_pressure: (IO_PRESSURE_WARNING, IO_PRESSURE_CRITICAL),
        replication_lag: REPLICATION_LAG_WARNING,
    };
    pub const HOLD: Thresholds = Thresholds {
        disk: (DISK_WARNING - 2.0, DISK_CRITICAL - 2.0),
        memory: (MEMORY_WARNING - 3.0, MEMORY_CRITICAL - 3.0),
        io_pressure: (IO_PRESSURE_WARNING - 4.0, IO_PRESSURE_CRITICAL - 10.0),
        replication_lag: REPLICATION_LAG_WARNING - 60,
    };
}

/// The host's alerts given those it had at the previous poll: a measuring
/// alert that fires stays until its value drops below the hold level (at
/// most at the severity it had), so only a real change raises or clears.
pub fn for_host_after(status: &HostStatus, previous: &[Alert]) -> Vec<Alert> {
    let mut alerts = for_host_with(status, &Thresholds::RAISE);
    if previous.is_empty() {
        return alerts;
    }
    let same = |a: &Alert, b: &Alert| a.code == b.code && a.subject == b.subject;
    for held in for_host_with(status, &Thresholds::HOLD) {
        let Some(before) = previous.iter().find(|p| same(p, &held)) else {
            continue;
        };
        let severity = held.severity.min(before.severity);
        match alerts.iter_mut().find(|a| same(a, &held)) {
            Some(now) => now.severity = now.severity.max(severity),
            None => alerts.push(Alert { severity, ..held }),
        }
    }
    alerts
}

/// The codes of a host that cannot be polled: while one fires, the host's
/// other alerts are neither raised nor cleared (nothing is known of them).
pub const REACHABILITY_CODES: &[&str] = &[
    "unreachable",
    "host_key_mismatch",
    "host_key_unknown",
    "host_key_revoked",
    "host_certificate_invalid",
    "ssh_config",
    "auth_failed",
];

/// A guest of an unreachable hypervisor that runs nowhere else.
pub const VM_DOWN: &str = "vm_down";

/// Every host's alerts, with the fleet's own: the guests of a dead
/// hypervisor that no other host runs ([`guests_down`]).
pub fn for_fleet(statuses: &[HostStatus]) -> Vec<Vec<Alert>> {
    let mut alerts: Vec<Vec<Alert>> = statuses.iter().map(for_host).collect();
    for (index, alert) in guests_down(statuses) {
        alerts[index].push(alert);
    }
    alerts
}

/// The VMs that were running on a hypervisor when it stopped answering
/// and that no reachable host runs now, as alerts of that hypervisor
/// (`vm_down`, subject the VM's name). Only the fleet knows this: which
/// services are down, and for how long, is the impact of the outage.
/// Cheap when every hypervisor answers: nothing else is looked at.
pub fn guests_down(statuses: &[HostStatus]) -> Vec<(usize, Alert)> {
    let dead: Vec<(usize, &HostStatus, &Reading)> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind.is_hypervisor())
        .filter(|(_, s)| {
            matches!(
                &s.reachability,
                Reachability::Unreachable { kind, .. } if !kind.is_host_key_or_config()
            )
        })
        .filter_map(|(i, s)| s.reading.as_ref().map(|r| (i, s, r)))
        .collect();
    if dead.is_empty() {
        return Vec::new();
    }
    // Each running guest of a reachable host, with the node a cluster says it is on.
    let mut running: std::collections::HashMap<&str, Vec<Option<&str>>> = std::collections::HashMap::new();
    for reading in statuses
        .iter()
        .filter(|s| s.is_reachable())
        .filter_map(|s| s.reading.as_ref())
    {
        for vm in reading.vms.iter().filter(|vm| vm.state == "running") {
            running.entry(vm.name.as_str()).or_default().push(vm.node.as_deref());
        }
    }
    let running_elsewhere = |name: &str, dead_host: &str| {
        running
            .get(name)
            .is_some_and(|nodes| nodes.iter().any(|node| *node != Some(dead_host)))
    };
    let mut alerts = Vec::new();
    for (index, host, reading) in dead {
        let since = match &host.reachability {
            Reachability::Unreachable { since, .. } => since.format("%H:%M:%S").to_string(),
            _ => String::new(),
        };
        for vm in reading.vms.iter().filter(|vm| vm.state == "running") {
            // A cluster-wide listing names the node each guest is on.
            if vm.node.as_deref().is_some_and(|node| node != host.name) || running_elsewhere(&vm.name, &host.name) {
                continue;
            }
            let name = crate::sanitize::one_line(&vm.name);
            let alert = Alert::new(
                Severity::Warning,
                VM_DOWN,
                format!(
                    "VM {name} is down: its hypervisor {} is unreachable since {since}",
                    host.name
                ),
            )
            .about(&vm.name)
            .playbook("evacuate-hypervisor")
            .with_host_input(&host.name);
            alerts.push((index, alert));
        }
    }
    alerts
}

/// The host's alerts at the raise levels (one poll, no history).
pub fn for_host(status: &HostStatus) -> Vec<Alert> {
    for_host_with(status, &Thresholds::RAISE)
}

fn for_host_with(status: &HostStatus, levels: &Thresholds) -> Vec<Alert> {
    if let Reachability::Unreachable { kind, reason, since } = &status.reachability {
        let (severity, code) = match kind {
            FailureKind::HostKeyMismatch => (Severity::Critical, "host_key_mismatch"),
            FailureKind::HostKeyUnknown => (Severity::Warning, "host_key_unknown"),
            FailureKind::HostKeyRevoked => (Severity::Critical, "host_key_revoked"),
            FailureKind::HostCertificateInvalid => (Severity::Critical, "host_certificate_invalid"),
            FailureKind::Config => (Severity::Critical, "ssh_config"),
            FailureKind::Auth => (Severity::Critical, "auth_failed"),
            _ => (Severity::Critical, "unreachable"),
        };
        let message = format!(
            "{} unreachable since {}: {reason}",
            status.name,
            since.format("%H:%M:%S")
        );
        let alert = Alert::new(severity, code, message);
        // Data from before the failure is stale: alerts on it would mislead.
        return vec![if code == "unreachable" && status.kind.is_hypervisor() {
            let alert = alert.playbook("evacuate-hypervisor").with_host_input(&status.name);
            // The playbook's platform is the dead node's, when it has a variant for it.
            match status.kind.as_str() {
                platform @ ("proxmox" | "libvirt") => alert.input("platform", platform),
                _ => alert,
            }
        } else {
            alert
        }];
    }
    let Some(reading) = &status.reading else {
        return Vec::new();
    };
    let name = status.name.as_str();
    let mut alerts = health_alerts(name, reading, levels);
    if let Some(cluster) = &reading.cluster {
        if !cluster.quorate {
            alerts.push(
                Alert::new(
                    Severity::Critical,
                    "no_quorum",
                    format!("{name}: cluster {} has lost quorum", cluster.name),
                )
                .about(&cluster.name)
                .playbook("evacuate-hypervisor"),
            );
        }
        for node in cluster.nodes.iter().filter(|n| !n.online) {
            alerts.push(
                Alert::new(
                    Severity::Critical,
                    "node_offline",
                    format!("{name}: cluster node {} is offline", node.name),
                )
                .about(&node.name)
                .playbook("evacuate-hypervisor")
                .input("dead", &node.name),
            );
        }
    }
    alerts.extend(reading.vms.iter().flat_map(|vm| vm_alerts(name, vm)));
    alerts.extend(
        reading
            .datastores
            .iter()
            .flat_map(|ds| datastore_alerts(name, ds, levels)),
    );
    alerts.extend(
        reading
            .replication
            .iter()
            .flat_map(|r| replication_alerts(name, r, levels)),
    );
    for job in reading.replication_jobs.iter().filter(|j| j.fail_count > 0) {
        alerts.push(
            Alert::new(
                Severity::Warning,
                "replication_job_failed",
                format!(
                    "{name}: replication {} of guest {} to {} failed {} times{}",
                    job.id,
                    job.guest,
                    job.target,
                    job.fail_count,
                    job.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ),
            )
            .about(&job.id),
        );
    }
    alerts.extend(reading.lockouts.iter().filter_map(|l| lockout_alert(name, l)));
    alerts.extend(reading.backups.iter().flat_map(|b| backup_alerts(name, b)));
    for error in &reading.driver_errors {
        // The part before the first colon names the driver: a new wording
        // of the same failure is the same alert.
        let driver = error.split(':').next().unwrap_or(error);
        alerts.push(
            Alert::new(
                Severity::Warning,
                "probe_error",
                format!("{name}: could not read {error}"),
            )
            .about(driver.trim()),
        );
    }
    alerts.into_iter().map(|a| a.with_host_input(name)).collect()
}

fn health_alerts(name: &str, reading: &Reading, levels: &Thresholds) -> Vec<Alert> {
    let health = &reading.health;
    let mut alerts = Vec::new();
    for fs in &health.filesystems {
        let used = fs.used_percent();
        if let Some(severity) = threshold(used, levels.disk) {
            alerts.push(
                Alert::new(
                    severity,
                    "disk_full",
                    format!(
                        "{name}: {} is {used:.0}% full, {} free",
                        fs.mount,
                        human_bytes(fs.available_kib * 1024)
                    ),
                )
                .about(&fs.mount)
                .playbook("datastore-full")
                .input("path", &fs.mount),
            );
        }
    }
    if let Some(memory) = health.memory {
        let used = memory.used_percent();
        if let Some(severity) = threshold(used, levels.memory) {
            alerts.push(Alert::new(
                severity,
                "memory",
                format!("{name}: memory {used:.0}% used"),
            ));
        }
    }
    if let Some(pressure) = health.io_pressure {
        if let Some(severity) = threshold(pressure.full_avg10, levels.io_pressure) {
            alerts.push(Alert::new(
                severity,
                "io_pressure",
                format!(
                    "{name}: every task stalled on I/O {:.0}% of the last 10 s",
                    pressure.full_avg10
                ),
            ));
        }
    }
    alerts
}

fn vm_alerts(host: &str, vm: &Vm) -> Vec<Alert> {
    let label = format!("{host}: VM {}", crate::sanitize::one_line(&vm.name));
    about(vm_alert_list(&label, vm), &vm.name)
}

/// Alerts about one thing on the host (a VM, a datastore, a repository):
/// each is about it, unless it names a part of it already (a VM's volume).
fn about(mut alerts: Vec<Alert>, subject: &str) -> Vec<Alert> {
    for alert in &mut alerts {
        if alert.subject.is_empty() {
            alert.subject = crate::sanitize::one_line(subject);
        }
    }
    alerts
}

fn vm_alert_list(label: &str, vm: &Vm) -> Vec<Alert> {
    let mut alerts = Vec::new();
    match vm.state.as_str() {
        "paused" | "blocked" => {
            let why = vm.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            // Paused by an I/O error (a full datastore) is an outage; by a
            // user, someone meant it; by a migration or a snapshot, it
            // should pass: look if it does not.
            let (severity, playbook) = match vm.reason.as_deref() {
                Some("user") => (Severity::Info, None),
                Some("ioerror") | None | Some("unknown") => (Severity::Critical, Some("datastore-full")),
                Some(_) => (Severity::Warning, None),
            };
            let alert = Alert::new(severity, "vm_paused", format!("{label} is {}{why}", vm.state));
            alerts.push(match playbook {
                Some(id) => alert.playbook(id),
                None => alert,
            });
        }
        "crashed" => {
            alerts.push(Alert::new(
                Severity::Critical,
                "vm_crashed",
                format!("{label} crashed (its QEMU process died): start it again, or on another host"),
            ));
        }
        _ => {}
    }
    if let Some(question) = &vm.question {
        alerts.push(
            Alert::new(
                Severity::Critical,
                "vm_question",
                format!(
                    "{label} is frozen, waiting for an answer: {}",
                    crate::sanitize::one_line(question)
                ),
            )
            .playbook("consolidate-snapshots"),
        );
    }
    for volume in &vm.missing_volumes {
        let alert = Alert::new(
            Severity::Critical,
            "volume_missing",
            format!("{label}: its volume {volume} is missing"),
        )
        .about(format!("{}/{volume}", vm.name));
        // Only a volume gone from the metadata is restored from its archive.
        alerts.push(match crate::probe::xen::lost_volume(volume) {
            Some((group, name)) => alert
                .playbook("restore-lost-lvm-volume")
                .input("vg", group)
                .input("lv", name),
            None => alert,
        });
    }
    if let Some(lock) = &vm.lock {
        alerts.push(Alert::new(
            Severity::Info,
            "vm_locked",
            format!("{label} is locked ({lock})"),
        ));
    }
    alerts
}

/// Thin provisioning, in words: what was promised, on what, with what left.
fn datastore_alerts(host: &str, ds: &Datastore, levels: &Thresholds) -> Vec<Alert> {
    about(datastore_alert_list(host, ds, levels), &ds.name)
}

fn datastore_alert_list(host: &str, ds: &Datastore, levels: &Thresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let name = crate::sanitize::one_line(&ds.name);
    if ds.capacity_bytes == 0 {
        return alerts;
    }
    let provisioned = ds.provisioned_bytes.unwrap_or(0);
    let overcommitted = provisioned > ds.capacity_bytes;
    let growth_too_big = ds.largest_growth.as_ref().filter(|(_, growth)| *growth > ds.free_bytes);
    if overcommitted || growth_too_big.is_some() {
        let mut message = format!(
            "{host}: {name}: {} disks promised on {}, {} free",
            human_bytes(provisioned),
            human_bytes(ds.capacity_bytes),
            human_bytes(ds.free_bytes)
        );
        if let Some((disk, growth)) = growth_too_big {
            message.push_str(&format!("; {disk} alone could still grow by {}", human_bytes(*growth)));
        }
        alerts.push(Alert::new(Severity::Warning, "thin_overcommit", message).playbook("datastore-full"));
    }
    if let Some((snapshot, size)) = &ds.largest_snapshot {
        if *size > 0 && ds.free_bytes < *size {
            alerts.push(
                Alert::new(
                    Severity::Critical,
                    "snapshot_space",
                    format!(
                        "{host}: {name}: {} free, less than snapshot {snapshot} ({}) that consolidation must absorb",
                        human_bytes(ds.free_bytes),
                        human_bytes(*size)
                    ),
                )
                .playbook("consolidate-snapshots"),
            );
        }
    }
    let used = 100.0 * (ds.capacity_bytes - ds.free_bytes.min(ds.capacity_bytes)) as f64 / ds.capacity_bytes as f64;
    if ds.kind != "qcow2-dir" {
        // A directory's filesystem is already covered by disk_full.
        if let Some(severity) = threshold(used, levels.disk) {
            alerts.push(
                Alert::new(
                    severity,
                    "datastore_full",
                    format!("{host}: {name} is {used:.0}% full, {} free", human_bytes(ds.free_bytes)),
                )
                .playbook("datastore-full"),
            );
        }
    }
    alerts
}

fn replication_alerts(host: &str, r: &Replication, levels: &Thresholds) -> Vec<Alert> {
    let connection = if r.connection.is_empty() {
        "default".to_string()
    } else {
        format!("'{}'", r.connection)
    };
    let position = match (&r.relay_master_log_file, r.exec_master_log_pos) {
        (Some(file), Some(pos)) => format!(" at {file}:{pos}"),
        _ => String::new(),
    };
    let error = r
        .last_sql_errno
        .map(|n| (n, r.last_sql_error.clone().unwrap_or_default(), "SQL"))
        .or_else(|| {
            r.last_io_errno
                .map(|n| (n, r.last_io_error.clone().unwrap_or_default(), "IO"))
        });
    if !r.is_running() || error.is_some() {
        let why = match error {
            Some((errno, text, thread)) => {
                let first = text.split(". ").next().unwrap_or(&text).to_string();
                format!("{thread} thread error {errno} ({})", crate::sanitize::one_line(&first))
            }
            None => format!(
                "IO thread {}, SQL thread {}",
                r.io_running.as_deref().unwrap_or("?"),
                r.sql_running.as_deref().unwrap_or("?")
            ),
        };
        return vec![Alert::new(
            Severity::Critical,
            "replication_stopped",
            format!("{host}: replication {connection} stopped: {why}{position}"),
        )
        .about(&r.connection)
        .playbook("repair-replication")
        .input("connection", &r.connection)];
    }
    match r.seconds_behind {
        Some(lag) if lag > levels.replication_lag => vec![Alert::new(
            Severity::Warning,
            "replication_lag",
            format!("{host}: replication {connection} is {lag} s behind"),
        )
        .about(&r.connection)],
        _ => vec![],
    }
}

fn lockout_alert(host: &str, l: &Lockout) -> Option<Alert> {
    let sources = if l.sources.is_empty() {
        String::new()
    } else {
        format!(", from {}", l.sources.join(", "))
    };
    if l.locked {
        let severity = if l.user == "root" {
            Severity::Critical
        } else {
            Severity::Warning
        };
        return Some(
            Alert::new(
                severity,
                "account_locked",
                format!(
                    "{host}: account {} locked after {} failed logins ({}){sources}",
                    l.user, l.failures, l.tool
                ),
            )
            .about(&l.user)
            .playbook("reset-login-lockout")
            .input("user", &l.user),
        );
    }
    (l.failures >= LOGIN_FAILURES_INFO).then(|| {
        Alert::new(
            Severity::Info,
            "login_failures",
            format!("{host}: {} failed logins for {}{sources}", l.failures, l.user),
        )
        .about(&l.user)
    })
}

fn backup_alerts(host: &str, b: &Backup) -> Vec<Alert> {
    let alerts = backup_alert_list(host, b).into_iter().map(|alert| {
        // What vigie.toml says of the repository, so verify-backups asks nothing again.
        let alert = alert.input("tool", &b.tool).input("repo", &b.repo);
        let alert = match &b.password_file {
            Some(file) => alert.input("password_file", file),
            None => alert,
        };
        match b.missing_paths.first() {
            Some(path) => alert.input("path", path),
            None => alert,
        }
    });
    about(alerts.collect(), &format!("{} {}", b.tool, b.repo))
}

fn backup_alert_list(host: &str, b: &Backup) -> Vec<Alert> {
    let repo = format!("{} {}", b.tool, crate::sanitize::one_line(&b.repo));
    let mut alerts = Vec::new();
    if let Some(error) = &b.error {
        alerts.push(
            Alert::new(
                Severity::Critical,
                "backup_unreadable",
                format!("{host}: {repo}: {error}"),
            )
            .playbook("verify-backups"),
        );
        return alerts;
    }
    if let Some(latest) = b.latest {
        let age = chrono::Utc::now().timestamp() - latest;
        if age > b.max_age_s as i64 {
            alerts.push(
                Alert::new(
                    Severity::Warning,
                    "backup_stale",
                    format!(
                        "{host}: {repo}: latest snapshot is {} old",
                        crate::format::human_age(chrono::Duration::seconds(age))
                    ),
                )
                .playbook("verify-backups"),
            );
        }
    }
    if !b.missing_paths.is_empty() {
        alerts.push(
            Alert::new(
                Severity::Critical,
                "backup_incomplete",
                format!("{host}: {repo}: latest snapshot lacks {}", b.missing_paths.join(", ")),
            )
            .playbook("verify-backups"),
        );
    }
    alerts
}

fn threshold(value: f64, (warning, critical): (f64, f64)) -> Option<Severity> {
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
    use crate::transport_error::TransportError;
    use chrono::Utc;
    use std::time::Duration;

    fn status_with_reading(reading: Reading) -> HostStatus {
        let mut status = HostStatus::new(&Config::embedded_default().hosts[0]);
        status.name = "locuste".into();
        status.apply(&PollResult {
            host_index: 0,
            at: Utc::now(),
            outcome: PollOutcome::Reading {
                reading: Box::new(reading),
                round_trip: Duration::ZERO,
            },
        });
        status
    }

    fn status_with(health: LinuxHealth) -> HostStatus {
        status_with_reading(Reading {
            health,
            ..Reading::default()
        })
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
    fn a_firing_disk_alert_holds_until_its_value_really_drops() {
        let disk = |used: u64| {
            status_with(LinuxHealth {
                filesystems: vec![fs(used, 100 - used)],
                ..Default::default()
            })
        };
        let step = |used: u64, previous: &[Alert]| for_host_after(&disk(used), previous);
        let severities = |alerts: &[Alert]| alerts.iter().map(|a| a.severity).collect::<Vec<_>>();
        assert!(step(89, &[]).is_empty(), "below the raise level, nothing");
        let raised = step(91, &[]);
        assert_eq!(severities(&raised), vec![Severity::Warning]);
        let held = step(89, &raised);
        assert_eq!(
            severities(&held),
            vec![Severity::Warning],
            "hovering under 90 % keeps it"
        );
        assert!(held[0].message.contains("89% full"), "{}", held[0].message);
        assert!(step(87, &held).is_empty(), "below the hold level, cleared");
        let critical = step(98, &raised);
        assert_eq!(severities(&step(96, &critical)), vec![Severity::Critical]);
        assert_eq!(severities(&step(94, &critical)), vec![Severity::Warning]);
        // Holding never raises the severity it had.
        assert_eq!(severities(&step(96, &held)), vec![Severity::Warning]);
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
        assert_eq!((alerts[0].code, alerts[0].severity), ("memory", Severity::Critical));
        assert_eq!((alerts[1].code, alerts[1].severity), ("io_pressure", Severity::Warning));
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
                known_as: "10.0.0.12".into(),
                key_type: "ssh-ed25519".into(),
                fingerprint: "SHA256:x".into(),
                offending: "/root/.ssh/known_hosts:3".into(),
            }),
        });
        let alerts = for_host(&status);
        assert_eq!(alerts.len(), 1, "stale disk data raises nothing: {alerts:?}");
        assert_eq!(
            (alerts[0].code, alerts[0].severity),
            ("host_key_mismatch", Severity::Critical)
        );
        assert_eq!(Severity::exit_code(alerts.iter().map(|a| a.severity).max()), 2);
    }

    const GB: u64 = 1_000_000_000;

    #[test]
    fn thin_overcommit_in_words() {
        let ds = Datastore {
            name: "datastore1".into(),
            kind: "vmfs".into(),
            capacity_bytes: 200 * GB,
            free_bytes: 9 * GB,
            provisioned_bytes: Some(230 * GB),
            largest_growth: Some(("mail.vmdk".into(), 40 * GB)),
            largest_snapshot: Some(("mail-000001.vmdk".into(), 12 * GB)),
            ..Datastore::default()
        };
        let alerts = for_host(&status_with_reading(Reading {
            datastores: vec![ds],
            ..Reading::default()
        }));
        let codes: Vec<_> = alerts.iter().map(|a| (a.code, a.severity)).collect();
        assert_eq!(
            codes,
            vec![
                ("thin_overcommit", Severity::Warning),
                ("snapshot_space", Severity::Critical),
                ("datastore_full", Severity::Warning)
            ]
        );
        assert_eq!(alerts[0].message, "locuste: datastore1: 230 GB disks promised on 200 GB, 9.0 GB free; mail.vmdk alone could still grow by 40 GB");
        assert_eq!(alerts[1].playbook, Some("consolidate-snapshots"));
    }

    #[test]
    fn replication_lockouts_backups_and_vms() {
        let reading = Reading {
            replication: vec![Replication {
                connection: "pessicart".into(),
                io_running: Some("Yes".into()),
                sql_running: Some("No".into()),
                last_sql_errno: Some(1594),
                last_sql_error: Some(
                    "Relay log read failure: Could not parse relay log event entry. The possible reasons".into(),
                ),
                relay_master_log_file: Some("mysql-bin.000001".into()),
                exec_master_log_pos: Some(1188),
                ..Replication::default()
            }],
            lockouts: vec![Lockout {
                user: "root".into(),
                tool: "pam_tally2".into(),
                failures: 139,
                locked: true,
                sources: vec!["192.0.2.7".into()],
                latest: None,
            }],
            backups: vec![Backup {
                tool: "restic".into(),
                repo: "/srv/restic".into(),
                latest: Some(Utc::now().timestamp() - 3 * 86400),
                max_age_s: 26 * 3600,
                missing_paths: vec!["/var/www".into()],
                password_file: Some("/root/.restic-pw".into()),
                ..Backup::default()
            }],
            vms: vec![Vm {
                name: "mail".into(),
                state: "paused".into(),
                reason: Some("ioerror".into()),
                ..Vm::default()
            }],
            ..Reading::default()
        };
        let alerts = for_host(&status_with_reading(reading));
        let by_code = |code| {
            alerts
                .iter()
                .find(|a| a.code == code)
                .unwrap_or_else(|| panic!("{code}: {alerts:?}"))
        };
        assert_eq!(
            by_code("replication_stopped").message,
            "locuste: replication 'pessicart' stopped: SQL thread error 1594 (Relay log read failure: Could not parse relay log event entry) at mysql-bin.000001:1188"
        );
        assert_eq!(by_code("account_locked").severity, Severity::Critical);
        assert!(by_code("account_locked").message.contains("139 failed logins"));
        assert!(by_code("backup_stale").message.contains("3d00h old"));
        assert_eq!(
            by_code("backup_incomplete").message,
            "locuste: restic /srv/restic: latest snapshot lacks /var/www"
        );
        // verify-backups opens with everything vigie.toml and the reading know.
        assert_eq!(
            by_code("backup_incomplete").inputs,
            [
                ("tool", "restic".to_string()),
                ("repo", "/srv/restic".to_string()),
                ("password_file", "/root/.restic-pw".to_string()),
                ("path", "/var/www".to_string()),
                ("host", "locuste".to_string()),
            ]
        );
        assert_eq!(by_code("vm_paused").message, "locuste: VM mail is paused (ioerror)");
    }
}
