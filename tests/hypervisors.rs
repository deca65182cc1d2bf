//! Hypervisors on real software: two libvirt/QEMU hypervisors of the lab
//! (tests/common/hypervisor.rs), seen through SSH and `vigie status
//! --json`. The oracle is the real tools: each guest's disk size and chain
//! depth are what `qemu-img info --backing-chain` says, its memory and
//! state what `virsh dominfo` says.

mod common;

use common::hypervisor::{text, HypervisorLab};
use serde_json::Value;
use std::path::Path;

/// What the real tools say of one guest.
#[derive(Debug, PartialEq)]
struct Truth {
    name: String,
    state: String,
    memory_bytes: u64,
    disk_bytes: u64,
    chain_depth: u64,
}

fn truth(lab: &HypervisorLab, index: usize, name: &str, disk: &Path) -> Truth {
    let info = lab.virsh(index, &["dominfo", name]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let info = text(&info.stdout);
    let field = |label: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {info}"))
    };
    let memory_kib: u64 = field("Max memory:").trim_end_matches("KiB").trim().parse().unwrap();
    let state = match field("State:").as_str() {
        "shut off" => "shutoff".to_string(),
        other => other.to_string(),
    };
    // -U: the image is in use by a running guest.
    let chain = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--backing-chain", "--output=json"])
        .arg(disk)
        .output()
        .unwrap();
    assert!(chain.status.success(), "{}", text(&chain.stderr));
    let chain: Value = serde_json::from_slice(&chain.stdout).unwrap();
    let layers = chain.as_array().unwrap();
    Truth {
        name: name.to_string(),
        state,
        memory_bytes: memory_kib * 1024,
        disk_bytes: layers[0]["virtual-size"].as_u64().unwrap(),
        chain_depth: layers.len() as u64 - 1,
    }
}

/// What vigie says of the same guest.
fn seen(status: &Value, host: &str, name: &str) -> Truth {
    let host = status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap_or_else(|| panic!("no host {host}: {status}"));
    let vm = host["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no VM {name} on {}: {host}", host["name"]));
    Truth {
        name: name.to_string(),
        state: vm["state"].as_str().unwrap().to_string(),
        memory_bytes: vm["memory_bytes"].as_u64().unwrap_or(0),
        disk_bytes: vm["disk_bytes"].as_u64().unwrap_or(0),
        chain_depth: vm["snapshots"].as_u64().unwrap_or(0),
    }
}

fn status(home: &Path) -> Value {
    let config = home.join("vigie.toml");
    let (_, out, err) = common::lab::vigie(home, &["--config", config.to_str().unwrap(), "status", "--json"], "");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

fn alerts_of(status: &Value, host: &str) -> Vec<(String, String, String)> {
    let host = status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap();
    host["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["code"].as_str().unwrap_or("").to_string(),
                a["severity"].as_str().unwrap_or("").to_string(),
                a["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_guest_is_what_qemu_img_and_virsh_say() {
    let lab = HypervisorLab::start();
    // Hypervisor A: a running guest on a 2-deep chain (a name with a space),
    // one paused by a user on a 1-deep chain, one shut off on a plain image.
    let web = lab.chain("web", 2, "256M");
    let mail = lab.chain("mail", 1, "96M");
    let plain = lab.chain("plain", 0, "32M");
    lab.define(0, "web 1", 64, &web);
    lab.define(0, "mail", 96, &mail);
    lab.define(0, "plain", 48, &plain);
    lab.start_guest(0, "web 1");
    lab.start_guest(0, "mail");
    assert!(lab.virsh(0, &["suspend", "mail"]).status.success());
    // Hypervisor B: one guest of its own.
    let db = lab.chain("db", 1, "128M");
    lab.define(1, "db", 80, &db);
    lab.start_guest(1, "db");

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml()).unwrap();
    let seen_now = status(home.path());
    let guests = [
        (0, "lab1", "web 1", &web),
        (0, "lab1", "mail", &mail),
        (0, "lab1", "plain", &plain),
        (1, "lab2", "db", &db),
    ];
    for (index, host, name, disk) in guests {
        assert_eq!(
            seen(&seen_now, host, name),
            truth(&lab, index, name, disk),
            "{name} on {host}"
        );
    }
    let alerts = alerts_of(&seen_now, "lab1");
    assert!(
        alerts.contains(&("vm_paused".into(), "info".into(), "mail".into())),
        "a guest paused by a user is not an outage: {alerts:?}"
    );

    // web 1's QEMU dies: vigie says crashed, critically.
    lab.crash_guest(0, "web 1");
    let after = status(home.path());
    assert_eq!(seen(&after, "lab1", "web 1").state, "crashed");
    let alerts = alerts_of(&after, "lab1");
    assert!(
        alerts.contains(&("vm_crashed".into(), "critical".into(), "web 1".into())),
        "{alerts:?}"
    );
}
