//! What drivers report about a host beyond its Linux health: VMs,
//! datastores, replication, lockouts, backups. Plain data, serializable as
//! the `vigie status --json` schema.

use serde::Serialize;

/// A guest of a hypervisor. VMs belong to the host that reported them.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Vm {
    /// Hypervisor id: Proxmox vmid, ESXi Vmid, Xen domid; the name for libvirt.
    pub id: String,
    pub name: String,
    /// running, stopped, paused, suspended, crashed, unknown...
    pub state: String,
    /// Why it is in that state, when the hypervisor says (`ioerror`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Proxmox node the VM is on (cluster-wide listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub memory_bytes: Option<u64>,
    /// Provisioned disk (sum of virtual sizes).
    pub disk_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha_state: Option<String>,
    /// A Proxmox lock (backup, migrate, snapshot...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    pub snapshots: u32,
    /// A question the VM waits on (ESXi: "no more space for the redo log").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// Volumes the VM is configured with that do not exist (Xen/LVM).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_volumes: Vec<String>,
    /// "qemu" or "lxc" on Proxmox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_type: Option<String>,
}

/// One disk image file of a datastore directory (or a VM disk elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskImage {
    pub name: String,
    pub virtual_bytes: u64,
    pub actual_bytes: u64,
    /// The backing files under it, nearest first.
    pub backing_chain: Vec<String>,
    /// Internal (qcow2) snapshots.
    pub internal_snapshots: u32,
}

/// Anything that stores VM disks: a directory of images, a Proxmox storage,
/// a VMFS datastore, an LVM volume group.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Datastore {
    pub name: String,
    /// qcow2-dir, proxmox, vmfs, lvm...
    pub kind: String,
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    /// Disk space promised to VMs (sum of virtual sizes), if known.
    pub provisioned_bytes: Option<u64>,
    /// The disk with the most room left to grow: (name, virtual − actual).
    pub largest_growth: Option<(String, u64)>,
    /// The biggest snapshot (overlay) that consolidation must absorb.
    pub largest_snapshot: Option<(String, u64)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<DiskImage>,
    /// Problems reading it (a directory that vanished, an unreadable image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One replication channel of a MariaDB/MySQL replica.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Replication {
    /// MariaDB multi-source connection name ("" for the default one).
    pub connection: String,
    pub master_host: Option<String>,
    pub io_running: Option<String>,
    pub sql_running: Option<String>,
    pub last_io_errno: Option<u32>,
    pub last_io_error: Option<String>,
    pub last_sql_errno: Option<u32>,
    pub last_sql_error: Option<String>,
    pub seconds_behind: Option<u64>,
    pub relay_master_log_file: Option<String>,
    pub exec_master_log_pos: Option<u64>,
    /// MariaDB `Using_Gtid` (No, Slave_Pos, Current_Pos) or MySQL auto-position.
    pub using_gtid: Option<String>,
    pub gtid_io_pos: Option<String>,
}

impl Replication {
    pub fn is_running(&self) -> bool {
        self.io_running.as_deref() == Some("Yes") && self.sql_running.as_deref() == Some("Yes")
    }
}

/// A Proxmox storage replication job.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ReplicationJob {
    pub id: String,
    pub guest: String,
    pub target: String,
    /// Unix time of the last successful sync.
    pub last_sync: Option<i64>,
    pub fail_count: u32,
    pub error: Option<String>,
}

/// An account with recorded login failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lockout {
    pub user: String,
    /// faillock or pam_tally2.
    pub tool: String,
    pub failures: u32,
    pub locked: bool,
    /// Where the failures came from (addresses, ttys), most frequent first.
    pub sources: Vec<String>,
    /// Unix time of the latest failure.
    pub latest: Option<i64>,
}

/// The state of one configured backup repository.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Backup {
    pub tool: String,
    pub repo: String,
    /// Where the repository's password is on the host (from vigie.toml; the
    /// path only, never the password), for the playbook that verifies it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Unix time of the latest snapshot/archive.
    pub latest: Option<i64>,
    pub latest_id: Option<String>,
    /// Essential paths missing from the latest snapshot.
    pub missing_paths: Vec<String>,
    pub max_age_s: u64,
    pub error: Option<String>,
}

/// Cluster membership as one node sees it (Proxmox).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Cluster {
    pub name: String,
    pub quorate: bool,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ClusterNode {
    pub name: String,
    pub online: bool,
}
