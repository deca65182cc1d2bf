//! "Which VMs ran on the dead node, how much RAM and disk do they need, and
//! does the surviving node have it?" — the evacuation capacity check, from
//! the fleet's status. Pure: statuses in, an answer out.

use crate::format::human_bytes;
use crate::probe::model::Vm;
use crate::status::HostStatus;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evacuation {
    pub dead: String,
    pub target: String,
    /// The guests to restart on the target (templates excluded).
    pub vms: Vec<Vm>,
    pub memory_needed: u64,
    pub disk_needed: u64,
    pub memory_free: Option<u64>,
    pub disk_free: Option<u64>,
    /// Last successful replication of those guests to the target (unix
    /// time, the oldest of them): writes since then are lost.
    pub last_replication: Option<i64>,
    /// Where the VM list came from: the cluster view or the dead host's last reading.
    pub source: String,
}

impl Evacuation {
    pub fn memory_fits(&self) -> Option<bool> {
        self.memory_free.map(|free| self.memory_needed <= free)
    }

    pub fn disk_fits(&self) -> Option<bool> {
        self.disk_free.map(|free| self.disk_needed <= free)
    }

    pub fn fits(&self) -> bool {
        self.memory_fits() == Some(true) && self.disk_fits() == Some(true)
    }

    /// "20 VMs need 96 GB RAM and 1.4 TB disk; locuste has 110 GB and 2.1 TB free ✔"
    pub fn summary(&self) -> String {
        let free = |v: Option<u64>| v.map(human_bytes).unwrap_or_else(|| "unknown".into());
        let verdict = match (self.memory_fits(), self.disk_fits()) {
            (Some(true), Some(true)) => "✔".to_string(),
            (Some(false), _) | (_, Some(false)) => {
                let mut short = Vec::new();
                if self.memory_fits() == Some(false) {
                    short.push("RAM");
                }
                if self.disk_fits() == Some(false) {
                    short.push("disk");
                }
                format!("✖ not enough {}", short.join(" and "))
            }
            _ => "? cannot tell".to_string(),
        };
        format!(
            "{} VMs need {} RAM and {} disk; {} has {} and {} free {verdict}",
            self.vms.len(),
            human_bytes(self.memory_needed),
            human_bytes(self.disk_needed),
            self.target,
            free(self.memory_free),
            free(self.disk_free)
        )
    }
}

/// Why an evacuation cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error("no host {0:?} in the inventory")]
    UnknownHost(String),
    #[error("{0} is not reachable: its free capacity is unknown")]
    TargetUnreachable(String),
}

/// Computes the evacuation of `dead` onto `target`.
pub fn evacuation(fleet: &[HostStatus], dead: &str, target: &str) -> Result<Evacuation, CapacityError> {
    let find = |name: &str| {
        fleet
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| CapacityError::UnknownHost(name.to_string()))
    };
    let target_status = find(target)?;
    let dead_status = find(dead)?;
    if !target_status.is_reachable() {
        return Err(CapacityError::TargetUnreachable(target.to_string()));
    }
    // Prefer a live cluster view (a Proxmox node lists the whole cluster's
    // guests with their node); else the dead host's last reading.
    let from_cluster: Vec<Vm> = fleet
        .iter()
        .filter(|h| h.is_reachable())
        .filter_map(|h| h.reading.as_ref())
        .flat_map(|r| r.vms.iter())
        .filter(|vm| vm.node.as_deref() == Some(dead))
        .cloned()
        .collect();
    let (mut vms, source) = if !from_cluster.is_empty() {
        (from_cluster, "cluster view".to_string())
    } else {
        let last = dead_status.reading.as_ref().map(|r| r.vms.clone()).unwrap_or_default();
        let age = dead_status
            .last_ok
            .map(|t| format!(" of {}", t.format("%H:%M:%S")))
            .unwrap_or_default();
        (last, format!("{dead}'s last reading{age}"))
    };
    vms.dedup_by(|a, b| a.id == b.id);
    let memory_needed = vms.iter().filter_map(|v| v.memory_bytes).sum();
    let disk_needed = vms.iter().filter_map(|v| v.disk_bytes).sum();
    let target_reading = target_status.reading.as_ref();
    let memory_free = target_status
        .health()
        .and_then(|h| h.memory)
        .map(|m| m.available_kib * 1024);
    // Disks land on one datastore: the roomiest one is what the target offers.
    let disk_free = target_reading.and_then(|r| r.datastores.iter().map(|d| d.free_bytes).max());
    let ids: Vec<&str> = vms.iter().map(|v| v.id.as_str()).collect();
    let last_replication = fleet
        .iter()
        .filter_map(|h| h.reading.as_ref())
        .flat_map(|r| r.replication_jobs.iter())
        .filter(|j| j.target == target && ids.contains(&j.guest.as_str()))
        .filter_map(|j| j.last_sync)
        .min();
    Ok(Evacuation {
        dead: dead.to_string(),
        target: target.to_string(),
        vms,
        memory_needed,
        disk_needed,
        memory_free,
        disk_free,
        last_replication,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, HostKind};
    use crate::probe::linux::{LinuxHealth, Memory};
    use crate::probe::Reading;
    use crate::status::{PollOutcome, PollResult};
    use crate::transport_error::TransportError;
    use chrono::Utc;
    use std::time::Duration;

    fn host(name: &str, reading: Option<Reading>) -> HostStatus {
        let mut status = HostStatus::new(&Host {
            kind: HostKind::Proxmox,
            ..Host::named(name, name)
        });
        let outcome = match reading {
            Some(r) => PollOutcome::Reading {
                reading: Box::new(r),
                round_trip: Duration::ZERO,
            },
            None => PollOutcome::Failed(TransportError::ConnectTimeout),
        };
        status.apply(&PollResult {
            host_index: 0,
            at: Utc::now(),
            outcome,
        });
        status
    }

    #[test]
    fn the_surviving_node_of_the_proxmox_fixture() {
        let text = include_str!("../../../tests/fixtures/probe/proxmox-synthetic-8-cluster.txt");
        let s = crate::probe::split_sections(text);
        let pve = crate::probe::proxmox::parse(s["pve_status"], s["pve_resources"], s["pve_replication"]);
        let locuste = Reading {
            health: LinuxHealth {
                memory: Some(Memory {
                    total_kib: 128 << 20,
                    available_kib: 100 << 20,
                    swap_total_kib: 0,
                    swap_free_kib: 0,
                }),
                ..LinuxHealth::default()
            },
            vms: pve.vms,
            datastores: pve.datastores,
            replication_jobs: pve.jobs,
            cluster: pve.cluster,
            ..Reading::default()
        };
        let fleet = vec![host("miramelle", None), host("locuste", Some(locuste))];
        let e = evacuation(&fleet, "miramelle", "locuste").unwrap();
        assert_eq!(e.vms.len(), 3);
        assert_eq!(e.memory_needed, (8 + 4 + 1) << 30);
        assert_eq!(e.disk_needed, (64 + 32 + 8) << 30);
        assert_eq!(e.source, "cluster view");
        assert!(e.fits());
        assert_eq!(
            e.last_replication,
            Some(1795440303),
            "the oldest sync of the guests is the loss window"
        );
        assert_eq!(
            e.summary(),
            "3 VMs need 14 GB RAM and 112 GB disk; locuste has 107 GB and 2.3 TB free ✔"
        );
    }

    #[test]
    fn not_enough_room_and_unknown_hosts() {
        let small = Reading {
            health: LinuxHealth {
                memory: Some(Memory {
                    total_kib: 4 << 20,
                    available_kib: 1 << 20,
                    swap_total_kib: 0,
                    swap_free_kib: 0,
                }),
                ..LinuxHealth::default()
            },
            ..Reading::default()
        };
        let dead = Reading {
            vms: vec![Vm {
                id: "101".into(),
                name: "nextcloud".into(),
                memory_bytes: Some(8 << 30),
                disk_bytes: Some(1 << 30),
                ..Vm::default()
            }],
            ..Reading::default()
        };
        let mut dead_host = host("miramelle", Some(dead));
        dead_host.apply(&PollResult {
            host_index: 0,
            at: Utc::now(),
            outcome: PollOutcome::Failed(TransportError::Refused),
        });
        let fleet = vec![dead_host, host("locuste", Some(small))];
        let e = evacuation(&fleet, "miramelle", "locuste").unwrap();
        assert!(e.source.starts_with("miramelle's last reading"));
        assert_eq!(e.memory_fits(), Some(false));
        assert!(e.summary().contains("✖ not enough RAM"), "{}", e.summary());
        assert!(evacuation(&fleet, "miramelle", "nowhere").is_err());
    }
}
