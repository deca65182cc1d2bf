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
    // one paused by a user on a 1-deep chain, one shut off on a 1-deep chain
    // (libvirt lists only its top image), one shut off on a plain image.
    let web = lab.chain("web", 2, "256M");
    let mail = lab.chain("mail", 1, "96M");
    let plain = lab.chain("plain", 0, "32M");
    let archive = lab.chain("archive", 1, "48M");
    lab.define(0, "archive", 32, &archive);
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
        (0, "lab1", "archive", &archive),
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

/// `vigie run evacuate-hypervisor` from lab1 to lab2, unattended.
fn evacuate(home: &Path, configs: &Path, vmids: &str) -> (i32, String, String) {
    let config = home.join("vigie.toml");
    let config = config.to_str().unwrap();
    let (code, _, err) = common::lab::vigie(home, &["--config", config, "incident", "new", "lab1 died"], "");
    assert_eq!(code, 0, "{err}");
    let configs = format!("configs={}", configs.display());
    let vmids = format!("vmids={vmids}");
    common::lab::vigie(
        home,
        &[
            "--config",
            config,
            "run",
            "evacuate-hypervisor",
            "--input",
            "dead=lab1",
            "--input",
            "target=lab2",
            "--input",
            "platform=libvirt",
            "--input",
            &configs,
            "--input",
            &vmids,
            "--yes",
            "--confirm",
            "lab2",
        ],
        "",
    )
}

fn running(lab: &HypervisorLab, index: usize) -> Vec<String> {
    let out = lab.virsh(index, &["list", "--state-running", "--name"]);
    text(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn a_dead_hypervisor_s_guests_are_started_on_the_other_one() {
    let mut lab = HypervisorLab::start();
    let configs = lab.with_web_and_mail();
    // lab1 dies: its guests' QEMU processes and its sshd.
    lab.crash_guest(0, "web");
    lab.crash_guest(0, "mail");
    lab.ssh.kill_host(0);

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml()).unwrap();
    let (code, out, err) = evacuate(home.path(), &configs, "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("2 VMs need 117440512 bytes RAM"),
        "the real figures: {out}"
    );
    let mut on_b = running(&lab, 1);
    on_b.sort();
    assert_eq!(on_b, vec!["mail".to_string(), "web".to_string()]);
    // vigie sees them there, from their real disks.
    let status = status(home.path());
    let web_on_b = seen(&status, "lab2", "web");
    assert_eq!(
        (web_on_b.state.as_str(), web_on_b.chain_depth, web_on_b.disk_bytes),
        ("running", 1, 64 << 20)
    );
}

#[test]
fn a_start_refused_by_the_image_lock_is_a_failed_step_that_says_why() {
    let mut lab = HypervisorLab::start();
    let chat = lab.chain("chat", 0, "32M");
    lab.define(0, "chat", 48, &chat);
    lab.start_guest(0, "chat");
    let configs = lab.replicate_configs(0, &["chat"]);
    // lab1 only stops answering: its QEMU still holds the disk.
    lab.ssh.kill_host(0);

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml()).unwrap();
    let (code, out, err) = evacuate(home.path(), &configs, "chat");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Failed to get \"write\" lock"), "{out}\n{err}");
    assert!(running(&lab, 1).is_empty(), "nothing runs twice");
    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    let failed = timeline
        .lines()
        .find(|l| l.contains("\"kind\":\"step.failed\""))
        .unwrap_or_else(|| panic!("no step.failed: {timeline}"));
    assert!(failed.contains("Failed to get \\\"write\\\" lock"), "{failed}");
}

#[test]
fn a_guest_paused_by_a_full_datastore_runs_again_after_datastore_full() {
    let mut lab = HypervisorLab::start();
    // A datastore of 2 MiB, most of it taken by something old; the guest
    // fills the rest and QEMU pauses it (as its own default does).
    let datastore = lab.small_filesystem("datastore", 2048);
    let ballast = datastore.join("old-backup.tar");
    std::fs::write(&ballast, vec![0u8; 1_100_000]).unwrap();
    let disk = lab.disk_filler("writer", &datastore);
    lab.define_with(0, "writer", 64, &disk, "enospace");
    lab.start_guest(0, "writer");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lab.domstate(0, "writer") != "paused (I/O error)" {
        assert!(
            std::time::Instant::now() < deadline,
            "never paused: {}",
            lab.domstate(0, "writer")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml()).unwrap();
    let before = status(home.path());
    assert_eq!(seen(&before, "lab1", "writer").state, "paused");
    let alerts = alerts_of(&before, "lab1");
    assert!(
        alerts.contains(&("vm_paused".into(), "critical".into(), "writer".into())),
        "{alerts:?}"
    );

    // The responder frees room (the playbook's checklist), then the
    // playbook checks it and resumes the guest.
    std::fs::remove_file(&ballast).unwrap();
    let config = home.path().join("vigie.toml");
    let config = config.to_str().unwrap();
    let (code, _, err) = common::lab::vigie(
        home.path(),
        &["--config", config, "incident", "new", "datastore full"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let path = format!("path={}", datastore.display());
    let (code, out, err) = common::lab::vigie(
        home.path(),
        &[
            "--config",
            config,
            "run",
            "datastore-full",
            "--input",
            "host=lab1",
            "--input",
            &path,
            "--yes",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("resumed writer"), "{out}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !lab.domstate(0, "writer").starts_with("running") {
        assert!(std::time::Instant::now() < deadline, "{}", lab.domstate(0, "writer"));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let after = status(home.path());
    assert_eq!(seen(&after, "lab1", "writer").state, "running");
    assert!(!alerts_of(&after, "lab1").iter().any(|(code, _, _)| code == "vm_paused"));
}
