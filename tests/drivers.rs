//! The service drivers against real software, through the sshd lab and the
//! real binary: MariaDB replication, faillock, qcow2 datastores, restic.

mod common;

use common::lab::{vigie, SshLab};
use common::mariadb::MariaDbPair;
use common::pam::{ensure_lockout_user, PamService, LOCKOUT_USER};
use common::{qcow2_chain, run};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `vigie status --json` for one lab host configured with `extra` keys.
fn status_of(lab: &SshLab, home: &Path, extra: &str) -> (i32, Value) {
    let mut config = lab.vigie_toml(&lab.known_hosts);
    config.push_str(extra);
    std::fs::write(home.join("vigie.toml"), config).unwrap();
    let config_path = home.join("vigie.toml");
    let (code, stdout, stderr) = vigie(
        home,
        &["--config", config_path.to_str().unwrap(), "status", "--json"],
        "",
    );
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, json["hosts"][0].clone())
}

fn alert<'a>(host: &'a Value, code: &str) -> &'a Value {
    host["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == code)
        .unwrap_or_else(|| panic!("no {code} alert in {host}"))
}

#[test]
fn a_corrupt_relay_log_on_a_real_replica_raises_a_critical_alert_with_errno_file_and_position() {
    let pair = MariaDbPair::start();
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let extra = format!(
        "role = \"db\"\ndb_defaults_file = \"{}\"\n",
        pair.replica.defaults_file.display()
    );

    let (_, healthy) = status_of(&lab, home.path(), &extra);
    let replication = &healthy["replication"][0];
    assert_eq!(replication["connection"], "pessicart", "{healthy}");
    assert_eq!(replication["sql_running"], "Yes");
    assert!(healthy["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["code"] != "replication_stopped"));

    pair.corrupt_relay_log();
    let (code, broken) = status_of(&lab, home.path(), &extra);
    assert_eq!(code, 2);
    let replication = &broken["replication"][0];
    assert_eq!(replication["last_sql_errno"], 1594);
    assert_eq!(replication["relay_master_log_file"], "mysql-bin.000001");
    let exec_pos = replication["exec_master_log_pos"].as_u64().unwrap();
    assert!(exec_pos > 4);
    let stopped = alert(&broken, "replication_stopped");
    assert_eq!(stopped["severity"], "critical");
    let message = stopped["message"].as_str().unwrap();
    assert!(message.contains("error 1594"), "{message}");
    assert!(message.contains(&format!("mysql-bin.000001:{exec_pos}")), "{message}");
    assert_eq!(stopped["playbook"], "repair-replication");
    // The replication password never leaves the database.
    assert!(!broken.to_string().contains(common::mariadb::REPL_PASSWORD));
}

#[test]
fn real_faillock_records_show_a_locked_account() {
    ensure_lockout_user();
    let tallies = tempfile::tempdir().unwrap();
    let service = PamService::install(tallies.path());
    assert!(
        service.authenticate(LOCKOUT_USER, "Right-Pass-42"),
        "PAM works with the right password"
    );
    for _ in 0..3 {
        assert!(!service.authenticate(LOCKOUT_USER, "wrong"));
    }
    assert!(
        !service.authenticate(LOCKOUT_USER, "Right-Pass-42"),
        "locked now, even with the right password"
    );

    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let extra = format!("faillock_dir = \"{}\"\n", tallies.path().display());
    let (code, host) = status_of(&lab, home.path(), &extra);
    let lockout = host["lockouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["user"] == LOCKOUT_USER)
        .expect("the user's tally");
    assert_eq!(lockout["tool"], "faillock");
    assert_eq!(lockout["failures"], 3);
    assert_eq!(lockout["locked"], true);
    let locked = alert(&host, "account_locked");
    assert_eq!(locked["playbook"], "reset-login-lockout");
    assert!(code >= 1);

    // After a reset, vigie sees it unlocked.
    run(
        "faillock",
        &[
            "--dir",
            tallies.path().to_str().unwrap(),
            "--user",
            LOCKOUT_USER,
            "--reset",
        ],
    );
    let (_, host) = status_of(&lab, home.path(), &extra);
    assert!(
        host["lockouts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["user"] != LOCKOUT_USER),
        "{host}"
    );
}

#[test]
fn a_tally_directory_pam_has_not_made_yet_means_no_lockouts_unless_vigie_toml_names_it() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    // No faillock_dir: the system's, which pam_faillock makes at the first
    // failed login; before that, faillock itself calls it an error.
    let (_, host) = status_of(&lab, home.path(), "");
    let errors = host["driver_errors"].to_string();
    assert!(!errors.contains("login lockouts"), "{host}");
    // A directory vigie.toml names that does not exist is a mistake to see.
    let missing = home.path().join("no-such-tallies");
    let (_, host) = status_of(
        &lab,
        home.path(),
        &format!("faillock_dir = \"{}\"\n", missing.display()),
    );
    let errors = host["driver_errors"].to_string();
    assert!(
        errors.contains("login lockouts") && errors.contains("tally directory"),
        "{host}"
    );
}

#[test]
fn qcow2_images_promising_more_than_the_filesystem_raise_thin_overcommit() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    // A 4 TiB disk with a snapshot overlay on it, and a second 2 TiB disk:
    // far more than this filesystem has free.
    qcow2_chain(store.path(), "nextcloud-base.qcow2", "nextcloud-snap1.qcow2", "4T");
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", &format!("{dir}/mail.qcow2"), "2T"],
    );
    std::fs::write(format!("{dir}/notes.txt"), "not an image").unwrap();

    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let (code, host) = status_of(&lab, home.path(), &format!("datastores = [\"{dir}\"]\n"));
    let ds = &host["datastores"][0];
    assert_eq!(ds["kind"], "qcow2-dir");
    assert_eq!(ds["images"].as_array().unwrap().len(), 3, "{ds}");
    let tib = 1u64 << 40;
    assert_eq!(
        ds["provisioned_bytes"].as_u64(),
        Some(6 * tib),
        "the base under the overlay counts once"
    );
    let snap = ds["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "nextcloud-snap1.qcow2")
        .unwrap();
    assert_eq!(snap["backing_chain"][0], "nextcloud-base.qcow2");
    let overcommit = alert(&host, "thin_overcommit");
    assert_eq!(overcommit["severity"], "warning");
    let message = overcommit["message"].as_str().unwrap();
    assert!(message.contains("6.6 TB disks promised on"), "{message}");
    assert!(
        message.contains("nextcloud-snap1.qcow2 alone could still grow by"),
        "{message}"
    );
    assert!(code >= 1);
}

#[test]
fn a_restic_snapshot_missing_an_essential_path_raises_a_backup_alert() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    for (dir, file) in [("etc", "hosts"), ("www", "index.html"), ("nextcloud", "config.php")] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(file), "data").unwrap();
    }
    let password = root.join("restic-password");
    std::fs::write(&password, "restic-repo-secret\n").unwrap();
    let repo = root.join("repo");
    let restic = |args: &[&str]| {
        let out = Command::new("restic")
            .args(["--quiet", "-r", repo.to_str().unwrap()])
            .args(args)
            .env("RESTIC_PASSWORD_FILE", &password)
            .output()
            .expect("restic is missing: ./scripts/test installs it");
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    restic(&["init"]);
    // The backup job forgot nextcloud, as in the incident.
    restic(&[
        "backup",
        root.join("etc").to_str().unwrap(),
        root.join("www").to_str().unwrap(),
    ]);

    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[[hosts.backups]]\ntool = \"restic\"\nrepo = \"{}\"\npassword_file = \"{}\"\nessential = [\"{}\", \"{}\"]\n",
        repo.display(),
        password.display(),
        root.join("etc").display(),
        root.join("nextcloud").display()
    );
    let (code, host) = status_of(&lab, home.path(), &extra);
    let backup = &host["backups"][0];
    assert_eq!(backup["error"], Value::Null, "{backup}");
    assert!(backup["latest"].as_i64().unwrap() > 0);
    assert_eq!(
        backup["missing_paths"],
        serde_json::json!([root.join("nextcloud").to_str().unwrap()])
    );
    let incomplete = alert(&host, "backup_incomplete");
    assert_eq!(incomplete["severity"], "critical");
    assert_eq!(code, 2);
    assert!(!host.to_string().contains("restic-repo-secret"));
}
