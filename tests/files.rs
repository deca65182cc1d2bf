//! The files an incident lives in, through the real binary: private
//! whatever the umask, shared on purpose with a group for responders on one
//! bastion under their own logins, and never a way for another user to make
//! vigie write where they want.

mod common;

use common::lab::vigie_command;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn vigie_with_umask(home: &Path, umask: &str, args: &[&str]) -> Output {
    let command = vigie_command(home);
    // The umask is the shell's: vigie is started the way a login starts it.
    let program = command.get_program().to_owned();
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(program)
        .args(args)
        .current_dir(home);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    shell.output().unwrap()
}

#[test]
fn incident_files_are_private_whatever_the_umask() {
    let home = tempfile::tempdir().unwrap();
    let out = vigie_with_umask(home.path(), "000", &["incident", "new", "umask zero"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = vigie_with_umask(home.path(), "000", &["note", "still private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = home.path().join(".local/share");
    let dir = common::only_incident_dir(&data);
    assert_eq!(mode(&data.join("vigie/incidents")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("timeline.jsonl")), 0o600);
    let out = vigie_with_umask(
        home.path(),
        "000",
        &["report", "--output", dir.join("report.md").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&dir.join("report.md")), 0o600);
}

#[test]
fn a_symlink_planted_where_the_report_goes_never_redirects_the_write() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = common::lab::vigie(home.path(), &["incident", "new", "planted"], "");
    assert_eq!(code, 0, "{stderr}");
    let out_dir = home.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let victim = home.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    // Where an older vigie put its temporary file, and the report itself.
    std::os::unix::fs::symlink(&victim, out_dir.join(".report.md.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, out_dir.join("report.md")).unwrap();
    let report = out_dir.join("report.md");
    let (code, _, stderr) = common::lab::vigie(home.path(), &["report", "--output", report.to_str().unwrap()], "");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let written = std::fs::symlink_metadata(&report).unwrap();
    assert!(written.file_type().is_file(), "the link was replaced by the report");
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .starts_with("# Post-mortem: planted"));
}

/// A vigie.toml in `home` for this machine only, its incidents in `incidents`.
fn write_local_config(home: &Path, incidents: &Path) {
    std::fs::write(
        home.join("vigie.toml"),
        format!(
            "[settings]\nincidents_dir = \"{}\"\n\n[[hosts]]\nname = \"local\"\naddress = \"localhost\"\ntransport = \"local\"\n",
            incidents.display()
        ),
    )
    .unwrap();
}

const GROUP: &str = "vigie-oncall";
const RESPONDERS: [&str; 2] = ["vigie-resp-a", "vigie-resp-b"];

fn ensure_responders() {
    // Tests run in parallel: on a fresh machine two of them would both find
    // the users missing and the second useradd would fail.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    let _ = Command::new("groupadd").args(["-f", GROUP]).status();
    let exists = |user: &str| Command::new("id").arg(user).output().unwrap().status.success();
    for user in RESPONDERS {
        if !exists(user) {
            let status = Command::new("useradd")
                .args(["--create-home", "--shell", "/bin/sh", "-G", GROUP, user])
                .status()
                .expect("useradd");
            assert!(
                status.success() || exists(user),
                "useradd {user}: the tests must run as root"
            );
        }
        common::run("usermod", &["-aG", GROUP, user]);
    }
}

/// vigie as `user`, with `config`, at the usual umask.
fn vigie_as(user: &str, config: &Path, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", user, "--", "env", "-u", "XDG_DATA_HOME", "-u", "XDG_CONFIG_HOME"])
        .arg(format!("HOME=/home/{user}"))
        .arg(format!("USER={user}"))
        .arg(format!("VIGIE_CONFIG={}", config.display()))
        .arg("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir("/")
        .output()
        .expect("runuser")
}

#[test]
fn responders_under_their_own_logins_share_an_incident_through_incidents_group() {
    ensure_responders();
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let incidents = shared.path().join("incidents");
    let config = shared.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nincidents_dir = \"{}\"\nincidents_group = \"{GROUP}\"\n\n[[hosts]]\nname = \"local\"\naddress = \"localhost\"\ntransport = \"local\"\n",
            incidents.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The first responder makes the directory; it is theirs, shared with the group.
    std::fs::create_dir(&incidents).unwrap();
    common::run("chown", &[RESPONDERS[0], incidents.to_str().unwrap()]);
    let out = vigie_as(RESPONDERS[0], &config, &["incident", "new", "shared bastion"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = vigie_as(RESPONDERS[1], &config, &["note", "bob was here too"]);
    assert!(
        out.status.success(),
        "the second responder adds a note: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = vigie_as(RESPONDERS[0], &config, &["timeline", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("bob was here too") && shown.contains("vigie-resp-b"),
        "{shown}"
    );

    let dir = std::fs::read_dir(&incidents)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let gid = std::fs::metadata(&incidents).unwrap().gid();
    assert_eq!((mode(&incidents), mode(&dir)), (0o2770, 0o2770));
    assert_eq!(mode(&dir.join("timeline.jsonl")), 0o660);
    assert_eq!(std::fs::metadata(dir.join("timeline.jsonl")).unwrap().gid(), gid);
    // Anyone else on the machine sees nothing.
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", "ls", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "nobody could list the incident");
}

#[test]
fn an_incidents_dir_symlinked_by_another_user_is_refused() {
    ensure_responders();
    let home = tempfile::tempdir().unwrap();
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let incidents = home.path().join("incidents");
    std::os::unix::fs::symlink(&elsewhere, &incidents).unwrap();
    common::run("chown", &["-h", RESPONDERS[1], incidents.to_str().unwrap()]);
    write_local_config(home.path(), &incidents);
    let (code, _, stderr) = common::lab::vigie(home.path(), &["incident", "new", "through a link"], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is a symlink made by uid"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through it"
    );
}

#[test]
fn vigie_check_warns_of_an_incidents_dir_anyone_can_write() {
    let home = tempfile::tempdir().unwrap();
    let incidents = home.path().join("incidents");
    std::fs::create_dir(&incidents).unwrap();
    std::fs::set_permissions(&incidents, std::fs::Permissions::from_mode(0o777)).unwrap();
    write_local_config(home.path(), &incidents);
    let (_, _, stderr) = common::lab::vigie(home.path(), &["check"], "");
    assert!(stderr.contains("writable by every user"), "{stderr}");
}

#[test]
fn another_users_incidents_dir_not_shared_on_purpose_is_refused() {
    ensure_responders();
    let home = tempfile::tempdir().unwrap();
    let incidents = home.path().join("incidents");
    std::fs::create_dir(&incidents).unwrap();
    std::fs::set_permissions(&incidents, std::fs::Permissions::from_mode(0o777)).unwrap();
    common::run("chown", &[RESPONDERS[1], incidents.to_str().unwrap()]);
    write_local_config(home.path(), &incidents);
    let (code, _, stderr) = common::lab::vigie(home.path(), &["incident", "new", "in their dir"], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not shared with an incidents_group"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&incidents).unwrap().count(),
        0,
        "nothing written there"
    );
}

#[test]
fn a_report_never_replaces_the_timeline() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = common::lab::vigie(home.path(), &["incident", "new", "keep the record"], "");
    assert_eq!(code, 0, "{stderr}");
    let timeline = common::only_incident_dir(&home.path().join(".local/share")).join("timeline.jsonl");
    let before = std::fs::read(&timeline).unwrap();
    let (code, _, stderr) = common::lab::vigie(home.path(), &["report", "--output", timeline.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("one of vigie's own files"), "{stderr}");
    assert_eq!(std::fs::read(&timeline).unwrap(), before);
}
