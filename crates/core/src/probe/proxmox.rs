//! Proxmox VE through `pvesh … --output-format json`: cluster membership and
//! quorum, every guest of the cluster with its node, storages of this node,
//! and this node's replication jobs.

use super::model::{Cluster, ClusterNode, Datastore, ReplicationJob, Vm};
use serde::Deserialize;

pub const SCRIPT: &str = "echo '@@vigie pve_status'; vigie_err pvesh get /cluster/status --output-format json; echo\n\
echo '@@vigie pve_resources'; vigie_err pvesh get /cluster/resources --output-format json; echo\n\
echo '@@vigie pve_replication'; vigie_err pvesh get /nodes/\"$(hostname)\"/replication --output-format json; echo\n";

#[derive(Deserialize)]
struct StatusEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    quorate: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    online: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    local: Option<u64>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    vmid: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    maxmem: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    disk: Option<u64>,
    #[serde(default)]
    hastate: Option<String>,
    #[serde(default)]
    lock: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    template: Option<u64>,
    #[serde(default)]
    storage: Option<String>,
}

#[derive(Deserialize)]
struct Job {
    id: String,
    guest: serde_json::Value,
    target: String,
    #[serde(default, deserialize_with = "super::lenient::opt_i64")]
    last_sync: Option<i64>,
    #[serde(default, deserialize_with = "super::lenient::u32_or_zero")]
    fail_count: u32,
    #[serde(default)]
    error: Option<String>,
}

pub struct ProxmoxReading {
    pub cluster: Option<Cluster>,
    pub vms: Vec<Vm>,
    pub datastores: Vec<Datastore>,
    pub jobs: Vec<ReplicationJob>,
    pub errors: Vec<String>,
}

fn json<T: for<'de> Deserialize<'de>>(section: &str, what: &str, errors: &mut Vec<String>) -> Option<T> {
    let (data, stderr) = super::split_stderr(section);
    match serde_json::from_str(data.trim()) {
        Ok(value) => Some(value),
        Err(_) => {
            errors.push(format!("{what}: {}", super::why_unreadable(&data, &stderr)));
            None
        }
    }
}

pub fn parse(status: &str, resources: &str, replication: &str) -> ProxmoxReading {
    let mut errors = Vec::new();
    let entries: Vec<StatusEntry> = json(status, "proxmox cluster status", &mut errors).unwrap_or_default();
    let local = entries
        .iter()
        .find(|e| e.kind == "node" && e.local == Some(1))
        .map(|e| e.name.clone());
    let cluster = entries.iter().find(|e| e.kind == "cluster").map(|c| Cluster {
        name: c.name.clone(),
        quorate: c.quorate == Some(1),
        nodes: entries
            .iter()
            .filter(|e| e.kind == "node")
            .map(|n| ClusterNode {
                name: n.name.clone(),
                online: n.online == Some(1),
            })
            .collect(),
    });
    let resources: Vec<Resource> = json(resources, "proxmox resources", &mut errors).unwrap_or_default();
    let vms = resources
        .iter()
        .filter(|r| (r.kind == "qemu" || r.kind == "lxc") && r.template != Some(1))
        .map(|r| Vm {
            id: r.vmid.map(|v| v.to_string()).unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            state: r.status.clone().unwrap_or_else(|| "unknown".into()),
            node: r.node.clone(),
            memory_bytes: r.maxmem,
            disk_bytes: r.maxdisk,
            ha_state: r.hastate.clone(),
            lock: r.lock.clone(),
            guest_type: Some(r.kind.clone()),
            ..Vm::default()
        })
        .collect();
    let datastores = resources
        .iter()
        .filter(|r| r.kind == "storage" && r.node.is_some() && r.node == local && r.maxdisk.is_some())
        .map(|r| {
            let capacity = r.maxdisk.unwrap_or(0);
            Datastore {
                name: r.storage.clone().unwrap_or_default(),
                kind: "proxmox".into(),
                capacity_bytes: capacity,
                free_bytes: capacity.saturating_sub(r.disk.unwrap_or(0)),
                ..Datastore::default()
            }
        })
        .collect();
    let jobs: Vec<Job> = if replication.trim().is_empty() {
        Vec::new()
    } else {
        json(replication, "proxmox replication", &mut errors).unwrap_or_default()
    };
    let jobs = jobs
        .into_iter()
        .map(|j| ReplicationJob {
            id: j.id,
            guest: j.guest.to_string().trim_matches('"').to_string(),
            target: j.target,
            last_sync: j.last_sync,
            fail_count: j.fail_count,
            error: j.error,
        })
        .collect();
    ProxmoxReading {
        cluster,
        vms,
        datastores,
        jobs,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::split_sections;

    #[test]
    fn a_cluster_that_lost_a_node() {
        let text = include_str!("../../../../tests/fixtures/probe/proxmox-synthetic-8-cluster.txt");
        let s = split_sections(text);
        let r = parse(s["pve_status"], s["pve_resources"], s["pve_replication"]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let cluster = r.cluster.unwrap();
        assert!(!cluster.quorate);
        assert_eq!(
            cluster
                .nodes
                .iter()
                .filter(|n| !n.online)
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            vec!["miramelle"]
        );
        assert_eq!(r.vms.len(), 4, "templates are not VMs");
        let mail = r.vms.iter().find(|v| v.id == "102").unwrap();
        assert_eq!(
            (mail.name.as_str(), mail.node.as_deref(), mail.state.as_str()),
            ("mail server", Some("miramelle"), "unknown")
        );
        assert_eq!(
            r.vms.iter().find(|v| v.id == "201").unwrap().lock.as_deref(),
            Some("backup")
        );
        assert_eq!(
            r.vms.iter().find(|v| v.id == "103").unwrap().guest_type.as_deref(),
            Some("lxc")
        );
        let names: Vec<&str> = r.datastores.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["local-zfs", "local"], "only this node's storages");
        assert_eq!(r.datastores[0].free_bytes, 3959959506944 - 1649267441664);
        assert_eq!(r.jobs.len(), 2);
        assert_eq!((r.jobs[1].guest.as_str(), r.jobs[1].fail_count), ("102", 3));
    }

    #[test]
    fn pvesh_errors_are_reported() {
        let r = parse("ipcc_send_rec[1] failed: Connection refused\n", "[]", "");
        assert_eq!(
            r.errors,
            vec!["proxmox cluster status: ipcc_send_rec[1] failed: Connection refused".to_string()]
        );
        assert!(r.cluster.is_none());
    }
}
