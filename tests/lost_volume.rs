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
    _dir: tempfile::TempDir,
    group: String,
    devices: Vec<String>,
    config: PathBuf,
}

impl Lvm {
    fn start() -> Lvm {
        let dir = tempfile::tempdir().unwrap();
        let group = format!("vigielab{}", std::process::id());
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
    }
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
    let home = tempfile::tempdir().unwrap();
    let config = lab
        .vigie_toml(&lab.known_hosts)
        .replace("[[hosts]]\n", "[[hosts]]\nkind = \"xen\"\n");
    std::fs::write(home.path().join("vigie.toml"), config).unwrap();

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
