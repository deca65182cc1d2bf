//! libvirt/KVM through `virsh -r domstats --raw --backing`: domains with
//! state and reason (a VM paused by an I/O error!), memory, and block
//! devices with their backing chains.

use super::model::Vm;

pub const SCRIPT: &str =
    "echo '@@vigie virsh_domstats'; virsh -r domstats --raw --state --balloon --block --backing 2>&1\n";

const STATES: &[&str] = &[
    "nostate",
    "running",
    "blocked",
    "paused",
    "shutdown",
    "shutoff",
    "crashed",
    "pmsuspended",
];
/// virDomainPausedReason.
const PAUSED_REASONS: &[&str] = &[
    "unknown",
    "user",
    "migration",
    "save",
    "dump",
    "ioerror",
    "watchdog",
    "from snapshot",
    "shutting down",
    "snapshot",
    "crashed",
    "starting up",
    "postcopy",
    "postcopy failed",
];

/// One `block.<n>.*` group: name, capacity, and whether it is a backing image.
type Block = (String, Option<u64>, bool);

/// Sums a domain's disks (backing images are layers of a disk, not disks).
fn finish(vms: &mut [Vm], blocks: &mut Vec<Block>) {
    if let Some(vm) = vms.last_mut() {
        let disks: u64 = blocks
            .iter()
            .filter(|(_, _, backing)| !backing)
            .filter_map(|(_, c, _)| *c)
            .sum();
        vm.disk_bytes = (!blocks.is_empty()).then_some(disks);
        vm.snapshots = blocks.iter().filter(|(_, _, backing)| *backing).count() as u32;
    }
    blocks.clear();
}

pub fn parse(section: &str) -> Vec<Vm> {
    let mut vms: Vec<Vm> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    for line in section.lines() {
        if let Some(name) = line.strip_prefix("Domain: ") {
            finish(&mut vms, &mut blocks);
            let name = name.trim().trim_matches('\'').to_string();
            vms.push(Vm {
                id: name.clone(),
                name,
                state: "unknown".into(),
                ..Vm::default()
            });
            continue;
        }
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let Some(vm) = vms.last_mut() else { continue };
        match key {
            "state.state" => {
                vm.state = value
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| STATES.get(i))
                    .unwrap_or(&"unknown")
                    .to_string()
            }
            "state.reason" if vm.state == "paused" => {
                vm.reason = value
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| PAUSED_REASONS.get(i))
                    .map(|r| r.to_string())
            }
            "balloon.maximum" => vm.memory_bytes = value.parse::<u64>().ok().map(|kib| kib * 1024),
            _ => {
                // block.<n>.capacity, block.<n>.backingIndex
                let mut parts = key.splitn(3, '.');
                if let (Some("block"), Some(index), Some(field)) = (parts.next(), parts.next(), parts.next()) {
                    let Ok(index) = index.parse::<usize>() else {
                        continue;
                    };
                    while blocks.len() <= index {
                        blocks.push((String::new(), None, false));
                    }
                    match field {
                        "name" => blocks[index].0 = value.to_string(),
                        "capacity" => blocks[index].1 = value.parse().ok(),
                        "backingIndex" => blocks[index].2 = true,
                        _ => {}
                    }
                }
            }
        }
    }
    finish(&mut vms, &mut blocks);
    vms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_paused_by_an_io_error_names_with_spaces_and_backing_chains() {
        let text = include_str!("../../../../tests/fixtures/probe/libvirt-domstats.txt");
        let vms = parse(crate::probe::split_sections(text)["virsh_domstats"]);
        assert_eq!(vms.len(), 3);
        assert_eq!((vms[0].name.as_str(), vms[0].state.as_str()), ("nextcloud", "running"));
        assert_eq!(
            vms[0].disk_bytes,
            Some(68719476736),
            "the backing image is not a second disk"
        );
        assert_eq!(vms[0].snapshots, 1);
        assert_eq!(vms[0].memory_bytes, Some(8 * 1024 * 1024 * 1024));
        assert_eq!(
            (vms[1].name.as_str(), vms[1].state.as_str(), vms[1].reason.as_deref()),
            ("mail server", "paused", Some("ioerror"))
        );
        assert_eq!((vms[2].state.as_str(), vms[2].disk_bytes), ("shutoff", None));
    }

    #[test]
    fn virsh_errors_give_no_vms() {
        assert!(parse("error: failed to connect to the hypervisor\n").is_empty());
    }
}
