//! libvirt/KVM through `virsh -r domstats --raw --backing`: domains with
//! state and reason (a VM paused by an I/O error!), memory, and block
//! devices with their backing chains.

use super::model::Vm;

/// `virsh domstats` shows a shut-off domain's top images only: their
/// chains come from `qemu-img info` (`-U`: another may hold the image).
pub const SCRIPT: &str = "vigie_section virsh_domstats virsh -r domstats --raw --state --balloon --block --backing\n\
echo '@@vigie virsh_offline_disks'; virsh -r domstats --raw --list-inactive --block 2>/dev/null \
| sed -n 's/^ *block\\.[0-9]*\\.path=//p' | while IFS= read -r p; do printf '@@disk %s\\n' \"$p\"; \
qemu-img info --output=json -U --backing-chain \"$p\" 2>/dev/null; done\n";

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

/// virDomainShutoffReason.
const SHUTOFF_REASONS: &[&str] = &[
    "unknown",
    "shutdown",
    "destroyed",
    "crashed",
    "migrated",
    "saved",
    "failed",
    "from snapshot",
    "daemon",
];

/// One `block.<n>.*` group: the guest's device name, the layer's capacity and path.
type Block = (String, Option<u64>, String);

/// The backing chains of the shut-off domains' images: path → layers
/// below the top, from `qemu-img info --backing-chain`.
pub type OfflineChains = std::collections::HashMap<String, u32>;

/// Reads the `virsh_offline_disks` section: `@@disk PATH` then the JSON array.
pub fn parse_offline_chains(section: &str) -> OfflineChains {
    let mut chains = OfflineChains::new();
    let mut current: Option<(String, String)> = None;
    let flush = |entry: Option<(String, String)>, chains: &mut OfflineChains| {
        if let Some((path, json)) = entry {
            if let Ok(serde_json::Value::Array(layers)) = serde_json::from_str::<serde_json::Value>(&json) {
                chains.insert(path, layers.len().saturating_sub(1) as u32);
            }
        }
    };
    for line in section.lines() {
        if let Some(path) = line.strip_prefix("@@disk ") {
            flush(current.take(), &mut chains);
            current = Some((path.to_string(), String::new()));
        } else if let Some((_, json)) = current.as_mut() {
            json.push_str(line);
            json.push('\n');
        }
    }
    flush(current, &mut chains);
    chains
}

/// Sums a domain's disks. With `--backing`, a running domain lists every
/// layer of a disk's chain (top image first), each under the same device
/// name, and libvirt 9+ (with `-blockdev`) prints `backingIndex` on every
/// layer, top included, as a node number: it says nothing of depth. So a
/// layer is a backing image when its name repeats the entry before it.
/// A shut-off domain lists only each disk's top image.
fn finish(vms: &mut [Vm], blocks: &mut Vec<Block>, offline: &OfflineChains) {
    if let Some(vm) = vms.last_mut() {
        let mut disks = 0u64;
        let mut backing = 0u32;
        let mut previous: Option<&str> = None;
        for (name, capacity, path) in blocks.iter() {
            if previous == Some(name.as_str()) {
                backing += 1;
            } else {
                disks += capacity.unwrap_or(0);
                // A shut-off domain lists no backing layers: qemu-img does.
                let listed_alone = blocks.iter().filter(|(n, _, _)| n == name).count() == 1;
                if listed_alone {
                    backing += offline.get(path).copied().unwrap_or(0);
                }
            }
            previous = Some(name);
        }
        vm.disk_bytes = (!blocks.is_empty()).then_some(disks);
        vm.snapshots = backing;
    }
    blocks.clear();
}

/// A reason number of `state`, in words.
fn reason(state: &str, value: &str) -> Option<String> {
    let table = match state {
        "paused" => PAUSED_REASONS,
        "shutoff" => SHUTOFF_REASONS,
        _ => return None,
    };
    value
        .parse::<usize>()
        .ok()
        .and_then(|i| table.get(i))
        .map(|r| r.to_string())
}

/// Parses `virsh domstats`; `offline` gives the chains of shut-off domains' images.
pub fn parse(section: &str, offline: &OfflineChains) -> Vec<Vm> {
    let mut vms: Vec<Vm> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    for line in section.lines() {
        if let Some(name) = line.strip_prefix("Domain: ") {
            finish(&mut vms, &mut blocks, offline);
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
            "state.reason" => {
                vm.reason = reason(&vm.state, value);
                // QEMU died under the guest: libvirt says "shut off
                // (crashed)"; for a responder the guest crashed.
                if vm.state == "shutoff" && vm.reason.as_deref() == Some("crashed") {
                    vm.state = "crashed".into();
                }
            }
            "balloon.maximum" => vm.memory_bytes = value.parse::<u64>().ok().map(|kib| kib * 1024),
            _ => {
                // block.<n>.name, block.<n>.capacity
                let mut parts = key.splitn(3, '.');
                if let (Some("block"), Some(index), Some(field)) = (parts.next(), parts.next(), parts.next()) {
                    let Ok(index) = index.parse::<usize>() else {
                        continue;
                    };
                    while blocks.len() <= index {
                        blocks.push((String::new(), None, String::new()));
                    }
                    match field {
                        "name" => blocks[index].0 = value.to_string(),
                        "capacity" => blocks[index].1 = value.parse().ok(),
                        "path" => blocks[index].2 = value.to_string(),
                        _ => {}
                    }
                }
            }
        }
    }
    finish(&mut vms, &mut blocks, offline);
    vms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vms_of(text: &str) -> Vec<Vm> {
        parse(
            crate::probe::split_sections(text)["virsh_domstats"],
            &OfflineChains::new(),
        )
    }

    #[test]
    fn a_shut_off_domain_s_chain_comes_from_qemu_img() {
        let mut text = include_str!("../../../../tests/fixtures/probe/libvirt-11.3-domstats.txt").to_string();
        // What qemu-img 10 prints for a 1-deep chain (its two layers).
        text.push_str(
            "@@vigie virsh_offline_disks\n@@disk /tmp/hvlab/disks/plain.qcow2\n\
             [{\"virtual-size\": 33554432, \"filename\": \"/tmp/hvlab/disks/plain.qcow2\"},\n\
             {\"virtual-size\": 33554432, \"filename\": \"/tmp/hvlab/disks/plain-base.qcow2\"}]\n",
        );
        let sections = crate::probe::split_sections(&text);
        let chains = parse_offline_chains(sections["virsh_offline_disks"]);
        let vms = parse(sections["virsh_domstats"], &chains);
        let plain = vms.iter().find(|v| v.name == "plain").unwrap();
        assert_eq!((plain.state.as_str(), plain.snapshots), ("shutoff", 1));
        let web = vms.iter().find(|v| v.name == "web 1").unwrap();
        assert_eq!(web.snapshots, 2, "a running domain's layers are counted once");
    }

    /// Captured from libvirt 11.3 and QEMU 10 (Debian 12 backports), KVM:
    /// `mail` running on a 2-layer chain, `plain` shut off, `web 1` paused
    /// by a user on a 3-layer chain (`qemu-img info --backing-chain`: depth 2).
    #[test]
    fn real_domains_with_their_chains_sizes_and_states() {
        let vms = vms_of(include_str!(
            "../../../../tests/fixtures/probe/libvirt-11.3-domstats.txt"
        ));
        // name, state, reason, disk, backing layers, memory
        type Seen<'a> = (&'a str, &'a str, Option<&'a str>, Option<u64>, u32, Option<u64>);
        let summary: Vec<Seen> = vms
            .iter()
            .map(|v| {
                (
                    v.name.as_str(),
                    v.state.as_str(),
                    v.reason.as_deref(),
                    v.disk_bytes,
                    v.snapshots,
                    v.memory_bytes,
                )
            })
            .collect();
        let mib = 1024 * 1024;
        assert_eq!(
            summary,
            vec![
                ("mail", "running", None, Some(64 * mib), 1, Some(64 * mib)),
                ("plain", "shutoff", Some("unknown"), Some(32 * mib), 0, Some(64 * mib)),
                ("web 1", "paused", Some("user"), Some(256 * mib), 2, Some(64 * mib)),
            ]
        );
    }

    /// Captured: the QEMU process of a running guest killed.
    #[test]
    fn a_guest_whose_qemu_died_is_crashed() {
        let vms = vms_of(include_str!(
            "../../../../tests/fixtures/probe/libvirt-11.3-domstats-crashed.txt"
        ));
        assert_eq!(
            (vms[0].state.as_str(), vms[0].reason.as_deref()),
            ("crashed", Some("crashed"))
        );
    }

    /// Captured: a guest writing to an overlay on a full filesystem
    /// (`error_policy='enospace'`) is paused on an I/O error.
    #[test]
    fn a_guest_paused_by_an_io_error() {
        let vms = vms_of(include_str!(
            "../../../../tests/fixtures/probe/libvirt-11.3-domstats-paused-ioerror.txt"
        ));
        assert_eq!(
            (vms[0].name.as_str(), vms[0].state.as_str(), vms[0].reason.as_deref()),
            ("writer", "paused", Some("ioerror"))
        );
    }

    #[test]
    fn virsh_errors_give_no_vms() {
        assert!(parse("error: failed to connect to the hypervisor\n", &OfflineChains::new()).is_empty());
    }
}
