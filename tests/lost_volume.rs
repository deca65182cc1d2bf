//! The lost logical volume, on real LVM: a volume group on two loop
//! devices, a guest's volume on the second one, then that device gone.
//! `vigie status` on a lab host of kind xen reads the real `lvs` (whose
//! warnings go to stderr, apart from its JSON) and names the lost volume
//! critically. No device-mapper is needed: the volumes are created with
//! `--driverloaded n` (metadata only), as the lost-volume check needs.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (./scripts/test installs lvm2)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A volume group on two loop devices, removed (with its devices and the
/// guest's configuration) when dropped.
struct Lvm {
    /// One lab at a time: `losetup -f` run side by side can hand out the same device.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    group: String,
    devices: Vec<String>,
    config: PathBuf,
}

impl Lvm {
    fn start() -> Lvm {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let one_at_a_time = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().unwrap();
        // Unique per lab: a group of an earlier lab may still be going away.
        static LABS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let lab = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let group = format!("vigielab{}x{lab}", std::process::id());
        let devices: Vec<String> = (0..2)
            .map(|i| {
                let image = dir.path().join(format!("pv{i}.img"));
                std::fs::File::create(&image).unwrap().set_len(64 << 20).unwrap();
                run("losetup", &["-f", "--show", image.to_str().unwrap()])
            })
            .collect();
        run("pvcreate", &["-q", &devices[0], &devices[1]]);
        run("vgcreate", &["-q", &group, &devices[0], &devices[1]]);
        for (name, device) in [("forum-disk", &devices[1]), ("wiki-disk", &devices[0])] {
            run(
                "lvcreate",
                &[
                    "-q",
                    "--driverloaded",
                    "n",
                    "-an",
                    "-Zn",
                    "-L",
                    "16M",
                    "-n",
                    name,
                    &group,
                    device,
                ],
            );
        }
        // The guest's configuration, where Xen keeps it.
        std::fs::create_dir_all("/etc/xen").unwrap();
        let config = PathBuf::from(format!("/etc/xen/{group}-forum.cfg"));
        std::fs::write(
            &config,
            format!("name = 'forum'\nmemory = 512\ndisk = [ 'phy:/dev/{group}/forum-disk,xvda,w', 'phy:/dev/{group}/wiki-disk,xvdb,w' ]\n"),
        )
        .unwrap();
        Lvm {
            _one_at_a_time: one_at_a_time,
            _dir: dir,
            group,
            devices,
            config,
        }
    }

    /// The second device goes away, as a disk that died with the reboot.
    fn lose_second_device(&self) {
        run("losetup", &["-d", &self.devices[1]]);
    }

    /// The guest's volume vanishes from the metadata (a wrong `lvremove`, a
    /// repair gone bad), its data still on the device.
    fn lose_forum_volume(&self) {
        run("lvremove", &["-f", &format!("{}/forum-disk", self.group)]);
    }

    fn volumes(&self) -> String {
        run("lvs", &["--noheadings", "-o", "lv_name", &self.group])
    }
}

impl Drop for Lvm {
    fn drop(&mut self) {
        let quiet = |program: &str, args: &[&str]| {
            let _ = Command::new(program)
                .args(args)
                .env("LVM_SUPPRESS_FD_WARNINGS", "1")
                .output();
        };
        quiet("vgreduce", &["--removemissing", "--force", &self.group]);
        quiet("vgremove", &["-f", &self.group]);
        for device in &self.devices {
            quiet("losetup", &["-d", device]);
        }
        let _ = std::fs::remove_file(&self.config);
        // LVM keeps every group's metadata history: this lab's goes with it.
        for dir in ["/etc/lvm/archive", "/etc/lvm/backup"] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == self.group || name.starts_with(&format!("{}_", self.group)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// A home whose vigie.toml makes the lab's host a Xen host.
fn xen_home(lab: &common::lab::SshLab) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let config = lab
        .vigie_toml(&lab.known_hosts)
        .replace("[[hosts]]\n", "[[hosts]]\nkind = \"xen\"\n");
    std::fs::write(home.path().join("vigie.toml"), config).unwrap();
    home
}

fn forum_alerts(home: &Path) -> Vec<Value> {
    let config = home.join("vigie.toml");
    let (_, out, err) = common::lab::vigie(home, &["--config", config.to_str().unwrap(), "status", "--json"], "");
    let status: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    status["hosts"][0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["code"] == "volume_missing")
        .cloned()
        .collect()
}

#[test]
fn a_volume_on_a_lost_physical_volume_is_named_critically() {
    let lab = common::lab::SshLab::start(1);
    let lvm = Lvm::start();
    let home = xen_home(&lab);

    assert!(forum_alerts(home.path()).is_empty(), "both volumes are there");
    lvm.lose_second_device();
    let alerts = forum_alerts(home.path());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["severity"], "critical");
    let message = alerts[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("/dev/{}/forum-disk (partial", lvm.group)),
        "the volume on the lost device, named: {message}"
    );
    assert!(!message.contains("wiki-disk"), "{message}");
}

#[test]
fn restore_lost_lvm_volume_brings_a_removed_volume_back_from_the_real_archive() {
    let lab = common::lab::SshLab::start(1);
    let lvm = Lvm::start();
    let home = xen_home(&lab);
    let (code, _, stderr) = common::lab::vigie(home.path(), &["incident", "new", "forum disk gone"], "");
    assert_eq!(code, 0, "{stderr}");

    // While the volume is there, the playbook refuses to restore anything.
    let run_playbook = |stdin: &str| {
        common::lab::vigie(
            home.path(),
            &[
                "run",
                "restore-lost-lvm-volume",
                "--input",
                "host=lab1",
                "--input",
                &format!("vg={}", lvm.group),
                "--input",
                "lv=forum-disk",
                "--confirm",
                "lab1",
            ],
            stdin,
        )
    };
    let (code, stdout, _) = run_playbook("a\nnothing lost\n");
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("forum-disk is listed"), "{stdout}");
    assert!(!stdout.contains("[2/"), "stopped at the first step: {stdout}");

    lvm.lose_forum_volume();
    let alerts = forum_alerts(home.path());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["playbook"], "restore-lost-lvm-volume");

    // This lab's kernel has no device-mapper: the activation step fails
    // there and is skipped; the metadata restore is LVM's own.
    let (code, stdout, stderr) = run_playbook("s\nno device-mapper in this lab\ny\ny\n");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("volume missing"), "{stdout}");
    assert!(
        stdout.contains("Created *before* executing 'lvremove"),
        "the archive from just before: {stdout}"
    );
    assert!(stdout.contains("captured: restored = forum-disk"), "{stdout}");
    assert!(
        lvm.volumes().contains("forum-disk"),
        "LVM lists it again: {}",
        lvm.volumes()
    );
    assert!(forum_alerts(home.path()).is_empty(), "vigie sees it back");
}
