//! Bundled playbooks run end to end by `vigie run` through the SSH lab,
//! against real software: a MariaDB replica broken by a corrupt relay log,
//! an account locked by faillock; hostile values never executed.

mod common;

use common::lab::{vigie_command, SshLab};
use common::mariadb::{MariaDbPair, REPL_PASSWORD};
use common::pam::{ensure_lockout_user, PamService, LOCKOUT_USER};
use common::{qcow2_chain, run};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A home with a vigie.toml for the lab and a declared incident.
fn prepared_home(lab: &SshLab) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml(&lab.known_hosts)).unwrap();
    let (code, _, stderr) = vigie(
        home.path(),
        &["incident", "new", "replica broken", "--severity", "major"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    home
}

fn vigie(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    common::lab::vigie_with_env(home, args, env)
}

/// `vigie run PLAYBOOK --input target=lab1 --yes` started in the background,
/// returned once the timeline shows `needle` sent (its slow step running).
fn run_until_sent(home: &Path, playbook: &str, needle: &str) -> std::process::Child {
    let child = vigie_command(home)
        .args(["run", playbook, "--input", "target=lab1", "--yes"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !timeline_text(home).contains(needle) {
        assert!(std::time::Instant::now() < deadline, "the slow step never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

fn timeline_text(home: &Path) -> String {
    common::incident_timeline(&home.join(".local/share"))
}

/// Watches every process's command line for `needle` until stopped.
fn watch_command_lines(needle: &'static str) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<String>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    if text.contains(needle) {
                        seen.push(text);
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        seen
    });
    (stop, handle)
}

#[test]
fn repair_replication_brings_a_corrupted_replica_back_without_leaking_the_password() {
    let pair = MariaDbPair::start();
    pair.corrupt_relay_log();
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    // The replica's credentials are only in vigie.toml's db_defaults_file:
    // the playbook takes them from there, nobody types them.
    let config = home.path().join("vigie.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[[hosts]]\n",
        &format!(
            "[[hosts]]\ndb_defaults_file = \"{}\"\n",
            pair.replica.defaults_file.display()
        ),
    );
    std::fs::write(&config, text).unwrap();

    // A dry run shows the exact scripts, the password redacted, and runs nothing.
    let (code, stdout, _) = vigie(
        home.path(),
        &[
            "run",
            "repair-replication",
            "--input",
            "replica=lab1",
            "--input",
            "connection=pessicart",
            "--dry-run",
        ],
        &[("VIGIE_SECRET_REPL_PASSWORD", REPL_PASSWORD)],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("repl_password=[redacted]"), "{stdout}");
    assert!(
        stdout.contains(&format!("mysql_options='{}'", pair.replica.defaults_file.display())),
        "the option file from vigie.toml: {stdout}"
    );
    assert!(!stdout.contains(REPL_PASSWORD));
    assert_eq!(
        pair.replica.slave_field("Last_SQL_Errno"),
        "1594",
        "a dry run changes nothing"
    );

    let (stop, watcher) = watch_command_lines(REPL_PASSWORD);
    let (code, stdout, stderr) = vigie(
        home.path(),
        &[
            "run",
            "repair-replication",
            "--input",
            "replica=lab1",
            "--input",
            "connection=pessicart",
            "--yes",
            "--confirm",
            "lab1",
        ],
        &[("VIGIE_SECRET_REPL_PASSWORD", REPL_PASSWORD)],
    );
    stop.store(true, Ordering::Relaxed);
    let leaked = watcher.join().unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(leaked.is_empty(), "the password was on a command line: {leaked:?}");
    assert!(
        stdout.contains("captured: log_file = mysql-bin.") && stdout.contains("captured: log_pos = "),
        "the captured position is shown as it is taken: {stdout}"
    );

    // Every row written on the primary is on the replica, replication runs.
    pair.wait_for_rows(6);
    assert_eq!(pair.replica.slave_field("Slave_SQL_Running"), "Yes");
    assert_eq!(pair.replica.slave_field("Last_SQL_Errno"), "0");
    pair.primary.sql("INSERT INTO meteo.obs (v) VALUES (7)");
    pair.wait_for_rows(7);

    let timeline = timeline_text(home.path());
    assert!(!timeline.contains(REPL_PASSWORD), "the password is in the timeline");
    for kind in [
        "playbook.started",
        "command.sent",
        "command.finished",
        "step.done",
        "playbook.finished",
    ] {
        assert!(
            timeline.contains(&format!("\"kind\":\"{kind}\"")),
            "no {kind} in the timeline"
        );
    }
    assert_eq!(
        timeline.matches("\"kind\":\"step.done\"").count(),
        4,
        "three commands and the checklist"
    );
    assert!(timeline.contains("replication restarted at mysql-bin.000001:"));
}

#[test]
fn reset_login_lockout_unlocks_a_real_faillock_account() {
    ensure_lockout_user();
    let tallies = tempfile::tempdir().unwrap();
    let service = PamService::install(tallies.path());
    for _ in 0..3 {
        assert!(!service.authenticate(LOCKOUT_USER, "wrong"));
    }
    assert!(!service.authenticate(LOCKOUT_USER, "Right-Pass-42"), "locked");
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let dir = format!("faillock_dir={}", tallies.path().display());
    let user = format!("user={LOCKOUT_USER}");
    let (code, stdout, stderr) = vigie(
        home.path(),
        &[
            "run",
            "reset-login-lockout",
            "--input",
            "host=lab1",
            "--input",
            &user,
            "--input",
            &dir,
            "--yes",
            "--confirm",
            "lab1",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        service.authenticate(LOCKOUT_USER, "Right-Pass-42"),
        "unlocked: the right password works again"
    );
}

#[test]
fn a_high_risk_step_is_not_run_unless_its_target_is_named() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    ensure_lockout_user();
    let user = format!("user={LOCKOUT_USER}");
    let (code, _, stderr) = vigie(
        home.path(),
        &[
            "run",
            "reset-login-lockout",
            "--input",
            "host=lab1",
            "--input",
            &user,
            "--yes",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("needs --confirm lab1"), "{stderr}");
    let timeline = timeline_text(home.path());
    assert!(!timeline.contains("reset done"));
    // The refusal is recorded: the run was aborted, not left in the middle.
    let finished = timeline
        .lines()
        .find(|l| l.contains("\"kind\":\"playbook.finished\""))
        .unwrap_or_else(|| panic!("no playbook.finished: {timeline}"));
    assert!(
        finished.contains("\"outcome\":\"aborted\"") && finished.contains("needs --confirm lab1"),
        "{finished}"
    );
}

#[test]
fn hostile_inputs_are_refused_or_passed_literally_never_executed() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let marker = home.path().join("pwned");
    // Refused: the pattern is checked before anything runs.
    let (code, _, stderr) = vigie(
        home.path(),
        &[
            "run",
            "reset-login-lockout",
            "--input",
            "host=lab1",
            "--input",
            "user='; rm -rf / #",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("does not match"), "{stderr}");

    // Passed literally: an input without a pattern reaches the script as data.
    let playbook = home.path().join("echo.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"echo-it\"\ntitle = \"Echo a value\"\n[inputs.target]\nkind = \"host\"\n[inputs.value]\nkind = \"string\"\n+++\n\n## Echo\n\n```sh {on=target}\nprintf 'value=[%s]\\n' \"$value\"\n```\n\n```expect\nvalue=\\[(?<echoed>.*)\\]\n```\n",
    )
    .unwrap();
    let hostile = format!(
        "'; touch {} #$(touch {})`touch {}`",
        marker.display(),
        marker.display(),
        marker.display()
    );
    let value = format!("value={hostile}");
    let (code, stdout, stderr) = vigie(
        home.path(),
        &[
            "run",
            playbook.to_str().unwrap(),
            "--input",
            "target=lab1",
            "--input",
            &value,
            "--yes",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("value=[{hostile}]")), "{stdout}");
    assert!(!marker.exists(), "the value was executed");
}

#[test]
fn killing_vigie_during_a_step_and_rerunning_resumes_where_it_stopped() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("three.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"three-steps\"\ntitle = \"Three steps\"\n[inputs.target]\nkind = \"host\"\n+++\n\n\
         ## First\n\n```sh {on=target}\necho first-ran\n```\n\n```expect\n(?<word>first)-ran\n```\n\n\
         ## Slow\n\n```sh {on=target}\nsleep 8642\n```\n\n\
         ## Last\n\n```sh {on=target}\necho \"last saw $word\"\n```\n",
    )
    .unwrap();
    let mut first = run_until_sent(home.path(), playbook.to_str().unwrap(), "sleep 8642");
    first.kill().unwrap();
    first.wait().unwrap();
    // The orphaned remote sleep is the host's business now; clean it up for the test.
    lab.ssh(0, "pkill -f 'sleep 864[2]' || true");

    // Rerun, interactively: continue, the interrupted step is reported with an
    // unknown outcome, the responder skips it with a reason.
    let mut second = vigie_command(home.path())
        .args(["run", playbook.to_str().unwrap(), "--input", "target=lab1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    second
        .stdin
        .take()
        .unwrap()
        .write_all(b"y\ns\nslept long enough, checked by hand\n")
        .unwrap();
    let out = second.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("stopped in the middle: 1 step(s) done, step \"slow\" was running"),
        "{stdout}"
    );
    assert!(stdout.contains("outcome unknown"), "{stdout}");
    assert!(stdout.contains("last saw first"), "the capture came back: {stdout}");

    let timeline = timeline_text(home.path());
    assert_eq!(
        timeline.matches("echo first-ran").count(),
        1,
        "the finished step was not run again"
    );
    assert!(timeline.contains("\"kind\":\"playbook.resumed\""));
    assert!(timeline.contains("slept long enough, checked by hand"));
    assert!(timeline.contains("\"outcome\":\"completed\""));
}

/// A first step that captures, a slow second step, a third.
const THREE_STEPS: &str =
    "+++\nid = \"three-steps\"\ntitle = \"Three steps\"\n[inputs.target]\nkind = \"host\"\n+++\n\n\
     ## First\n\n```sh {on=target}\necho first-ran\n```\n\n\
     ## Slow\n\n```sh {on=target}\nsleep 8646\n```\n\n\
     ## Last\n\n```sh {on=target}\necho last-ran\n```\n";

#[test]
fn a_run_is_taken_up_only_when_stopped_unchanged_and_with_its_own_inputs() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("three.md");
    std::fs::write(&playbook, THREE_STEPS).unwrap();
    let path = playbook.to_str().unwrap();
    let mut first = run_until_sent(home.path(), path, "sleep 8646");
    // While the first vigie drives it, the run is not "stopped in the middle".
    let (code, stdout, stderr) = vigie(home.path(), &["run", path, "--input", "target=lab1", "--yes"], &[]);
    assert_eq!(code, 1, "{stdout}");
    // It says who drives it, and which process.
    let driver = format!("pid {}", first.id());
    assert!(
        stderr.contains("going on right now, driven by") && stderr.contains(&driver),
        "{stderr}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    lab.ssh(0, "pkill -f 'sleep 864[6]' || true");

    // No answer on standard input: nothing is run, nothing taken up.
    let (code, _, stderr) = vigie(home.path(), &["run", path, "--input", "target=lab1"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no answer on standard input: nothing was run"),
        "{stderr}"
    );
    // Other inputs than the run's: refused, the run stays as it was.
    let (code, _, stderr) = vigie(home.path(), &["run", path, "--input", "target=lab2", "--yes"], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the run was started with target=lab1"), "{stderr}");
    // The playbook changed since: its steps are not the ones that ran.
    std::fs::write(&playbook, THREE_STEPS.replace("## First", "## Renamed first")).unwrap();
    let (code, stdout, stderr) = vigie(home.path(), &["run", path, "--input", "target=lab1"], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("the playbook changed since that run began"), "{stdout}");
    assert_eq!(
        timeline_text(home.path()).matches("echo first-ran").count(),
        1,
        "nothing ran again"
    );
    // Starting anew closes the old run in the timeline.
    std::fs::write(&playbook, THREE_STEPS.replace("sleep 8646", "true")).unwrap();
    let mut anew = vigie_command(home.path())
        .args(["run", path, "--input", "target=lab1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    anew.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = anew.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let timeline = timeline_text(home.path());
    assert!(
        timeline.contains("not taken up: a new run was started instead"),
        "{timeline}"
    );
    let (_, stdout, _) = vigie(home.path(), &["run", path, "--input", "target=lab1", "--dry-run"], &[]);
    assert!(!stdout.contains("stopped in the middle"), "{stdout}");
}

#[test]
fn consolidate_snapshots_commits_a_real_qcow2_chain_into_its_base() {
    let store = tempfile::tempdir().unwrap();
    let base = store.path().join("wiki.qcow2");
    let overlay = store.path().join("wiki-snap1.qcow2");
    qcow2_chain(store.path(), "wiki.qcow2", "wiki-snap1.qcow2", "64M");
    // Data written after the snapshot lives only in the overlay.
    run("qemu-io", &["-c", "write -P 0xab 0 1M", overlay.to_str().unwrap()]);
    let before = Command::new("qemu-io")
        .args(["-r", "-c", "read -P 0xab 0 1M", base.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&before.stdout).contains("Pattern verification failed"),
        "not in the base yet"
    );

    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let image = format!("image={}", overlay.display());
    let (code, stdout, stderr) = vigie(
        home.path(),
        &[
            "run",
            "consolidate-snapshots",
            "--input",
            "host=lab1",
            "--input",
            "platform=qcow2-offline",
            "--input",
            &image,
            "--yes",
            "--confirm",
            "lab1",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("room: ok"), "{stdout}");
    assert!(stdout.contains("Images are identical."), "{stdout}");
    let after = run("qemu-io", &["-r", "-c", "read -P 0xab 0 1M", base.to_str().unwrap()]);
    assert!(
        !after.contains("Pattern verification failed"),
        "the overlay's data is in the base: {after}"
    );
    assert!(timeline_text(home.path()).contains("merge finished"));
}

#[test]
fn ctrl_c_cancels_the_running_command_on_the_host_not_vigie() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("slow.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"slow\"\ntitle = \"Slow\"\n[inputs.target]\nkind = \"host\"\n+++\n\n## Wait\n\n```sh {on=target}\nsleep 8643\n```\n",
    )
    .unwrap();
    let mut child = vigie_command(home.path())
        .args(["run", playbook.to_str().unwrap(), "--input", "target=lab1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let running = lab.ssh(0, "pgrep -f 'sleep 864[3]' || true");
        if !String::from_utf8_lossy(&running.stdout).trim().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: SIGINT to our own child, as a responder's Ctrl-C would.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a\ncancelled on purpose\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("cancelling"), "{stdout}");
    assert!(stdout.contains("failed: cancelled"), "{stdout}");
    let left = lab.ssh(0, "pgrep -af 'sleep 864[3]' || echo NONE");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "NONE",
        "the remote command was killed"
    );
    assert!(timeline_text(home.path()).contains("cancelled on purpose"));
}

#[test]
fn vm_inputs_are_checked_against_the_live_status_of_their_host() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("per-vm.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"per-vm\"\ntitle = \"Per VM\"\n[inputs.hv]\nkind = \"host\"\n[inputs.vms]\nkind = \"vms\"\nfrom = \"hv\"\n+++\n\n## Each\n\n```sh {on=hv each=vms}\necho \"vm $vm\"\n```\n",
    )
    .unwrap();
    let path = playbook.to_str().unwrap();
    // lab1 is a plain Linux host: it has no VMs, so no VM can be picked on it.
    let (code, _, stderr) = vigie(
        home.path(),
        &["run", path, "--input", "hv=lab1", "--input", "vms=101,102", "--yes"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("vms: no VM \"101\" on lab1 now (its VMs: none)"),
        "{stderr}"
    );
    assert!(!timeline_text(home.path()).contains("playbook.started"), "nothing ran");
}

#[test]
fn the_evacuation_target_must_answer_now() {
    let mut lab = SshLab::start(2);
    let home = prepared_home(&lab);
    lab.kill_host(1);
    let (code, _, stderr) = vigie(
        home.path(),
        &[
            "run",
            "evacuate-hypervisor",
            "--input",
            "dead=lab1",
            "--input",
            "target=lab2",
            "--input",
            "platform=libvirt",
            "--yes",
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("target: lab2 must answer now and does not ("),
        "{stderr}"
    );
    assert!(!timeline_text(home.path()).contains("playbook.started"), "nothing ran");
}

/// A backup of `etc` and `www` under `root` that forgot `nextcloud`, in a
/// real repository of `tool`; returns the repository and its password file.
fn backup_forgetting_nextcloud(root: &Path, tool: &str) -> (String, String) {
    for (dir, file) in [("etc", "hosts"), ("www", "index.html"), ("nextcloud", "config.php")] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(file), format!("{dir} data")).unwrap();
    }
    let password = root.join("repo-password");
    std::fs::write(&password, "repo-secret-value\n").unwrap();
    let repo = root.join("repo").to_str().unwrap().to_string();
    let (etc, www) = (root.join("etc"), root.join("www"));
    let tool_run = |args: &[&str]| {
        let out = Command::new(tool)
            .args(args)
            .env("RESTIC_PASSWORD_FILE", &password)
            .env("BORG_PASSPHRASE", "repo-secret-value")
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}: ./scripts/test installs it"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if tool == "restic" {
        tool_run(&["--quiet", "-r", &repo, "init"]);
        tool_run(&[
            "--quiet",
            "-r",
            &repo,
            "backup",
            etc.to_str().unwrap(),
            www.to_str().unwrap(),
        ]);
    } else {
        tool_run(&["init", "--encryption=repokey", &repo]);
        tool_run(&[
            "create",
            &format!("{repo}::first"),
            etc.to_str().unwrap(),
            www.to_str().unwrap(),
        ]);
    }
    (repo, password.to_str().unwrap().to_string())
}

#[test]
fn verify_backups_finds_the_path_a_real_restic_or_borg_backup_forgot() {
    let lab = SshLab::start(1);
    for tool in ["restic", "borg"] {
        let home = prepared_home(&lab);
        let store = tempfile::tempdir().unwrap();
        let (repo, password_file) = backup_forgetting_nextcloud(store.path(), tool);
        let verify = |path: &Path| {
            let inputs = [
                "host=lab1".to_string(),
                format!("tool={tool}"),
                format!("repo={repo}"),
                format!("password_file={password_file}"),
                format!("path={}", path.display()),
            ];
            let mut args = vec!["run", "verify-backups", "--yes"];
            for input in &inputs {
                args.extend(["--input", input.as_str()]);
            }
            vigie(home.path(), &args, &[])
        };
        // What was backed up is there, restored and equal to the live files.
        let (code, stdout, stderr) = verify(&store.path().join("www"));
        assert_eq!(code, 0, "{tool}: {stdout}\n{stderr}");
        for expected in ["path present", "restored files: 1", "differ from the live files: 0"] {
            assert!(stdout.contains(expected), "{tool}: {expected:?} in {stdout}");
        }
        // A live file changed since the backup is named.
        std::fs::write(store.path().join("www/index.html"), "defaced").unwrap();
        let (code, stdout, _) = verify(&store.path().join("www"));
        assert_eq!(code, 0, "{tool}: {stdout}");
        assert!(stdout.contains("differ from the live files: 1"), "{tool}: {stdout}");
        assert!(stdout.contains("index.html"), "{tool}: {stdout}");
        // The forgotten path fails its step: the run stops there.
        let (code, stdout, _) = verify(&store.path().join("nextcloud"));
        assert_eq!(code, 1, "{tool}: {stdout}");
        assert!(
            stdout.contains("entries under") && stdout.contains(": 0"),
            "{tool}: {stdout}"
        );
        assert!(stdout.contains("step 2 failed"), "{tool}: {stdout}");
        assert!(!stdout.contains("restored files"), "{tool}: {stdout}");
        let timeline = timeline_text(home.path());
        assert!(
            !timeline.contains("repo-secret-value"),
            "{tool}: the password stays on the host"
        );
    }
}

#[test]
fn a_command_on_a_group_runs_on_every_member() {
    let lab = SshLab::start(2);
    let home = prepared_home(&lab);
    let config = home.path().join("vigie.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[groups]\nlabs = [\"lab1\", \"lab2\"]\n");
    // lab2 alone carries the tag rack-b.
    let lab2 = "name = \"lab2\"\n";
    assert!(text.contains(lab2), "{text}");
    text = text.replace(lab2, &format!("{lab2}tags = [\"rack-b\"]\n"));
    std::fs::write(&config, text).unwrap();
    let playbook = home.path().join("everywhere.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"everywhere\"\ntitle = \"Everywhere\"\n+++\n\n## Say where\n\n```sh {on=labs}\necho \"server $(echo $SSH_CONNECTION | cut -d' ' -f3)\"\n```\n",
    )
    .unwrap();
    let (code, stdout, stderr) = vigie(home.path(), &["run", playbook.to_str().unwrap(), "--yes"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("running on lab1…") && stdout.contains("running on lab2…"),
        "{stdout}"
    );
    let timeline = timeline_text(home.path());
    for host in &lab.hosts {
        assert!(
            timeline.contains(&format!("server {}", host.address)),
            "{} did not run it:\n{timeline}",
            host.name
        );
        assert!(timeline.contains(&format!("\"host\":\"{}\"", host.name)));
    }

    // A tag names its hosts as a group does; a tag no host has is refused
    // by the check, before anything runs.
    let tagged = home.path().join("rack.md");
    std::fs::write(
        &tagged,
        "+++\nid = \"rack\"\ntitle = \"Rack\"\n+++\n\n## Say where\n\n```sh {on=tag:rack-b}\necho \"rack-b member $(hostname)\"\n```\n",
    )
    .unwrap();
    let (code, stdout, stderr) = vigie(home.path(), &["run", tagged.to_str().unwrap(), "--yes"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("running on lab2…") && !stdout.contains("running on lab1…"),
        "{stdout}"
    );
    std::fs::write(
        &tagged,
        "+++\nid = \"rack\"\ntitle = \"Rack\"\n+++\n\n## Say where\n\n```sh {on=tag:rack-z}\necho never\n```\n",
    )
    .unwrap();
    let (code, stdout, stderr) = vigie(home.path(), &["check", tagged.to_str().unwrap()], &[]);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("no host of vigie.toml has the tag \"rack-z\""),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_command_that_fails_on_the_host_fails_its_step() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("fails.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"fails\"\ntitle = \"Fails\"\n[inputs.target]\nkind = \"host\"\n+++\n\n## Look for a file that is not there\n\n```sh {on=target}\necho looking\ntest -e /nonexistent/vigie\n```\n\n## Never reached\n\n```sh {on=target}\necho reached\n```\n",
    )
    .unwrap();
    let (code, stdout, _) = vigie(
        home.path(),
        &["run", playbook.to_str().unwrap(), "--input", "target=lab1", "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("step 1 failed: exit 1"), "{stdout}");
    assert!(!stdout.contains("reached"), "{stdout}");
    let timeline = timeline_text(home.path());
    assert!(timeline.contains("\"kind\":\"step.failed\""), "{timeline}");
    assert!(timeline.contains("\"outcome\":\"aborted\""), "{timeline}");
}

#[test]
fn a_command_failing_in_the_middle_of_a_step_fails_it_though_the_last_succeeds() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let playbook = home.path().join("middle.md");
    // As evacuate-hypervisor's first step on a host without pvecm; and a
    // failing command inside a pipe fails it too.
    std::fs::write(
        &playbook,
        "+++\nid = \"middle\"\ntitle = \"Middle\"\n[inputs.target]\nkind = \"host\"\n+++\n\n\
         ## Check the cluster\n\n```sh {on=target}\nno-such-cluster-tool status\necho checked\n```\n\n\
         ```expect\nchecked\n```\n",
    )
    .unwrap();
    let (code, stdout, _) = vigie(
        home.path(),
        &["run", playbook.to_str().unwrap(), "--input", "target=lab1", "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("step 1 failed: exit 127"), "{stdout}");
    assert!(stdout.contains("not found"), "the failure says why: {stdout}");
    let piped = home.path().join("piped.md");
    std::fs::write(
        &piped,
        "+++\nid = \"piped\"\ntitle = \"Piped\"\n[inputs.target]\nkind = \"host\"\n+++\n\n\
         ## Count\n\n```sh {on=target}\nfalse | cat\necho counted\n```\n",
    )
    .unwrap();
    let (code, stdout, _) = vigie(
        home.path(),
        &["run", piped.to_str().unwrap(), "--input", "target=lab1", "--yes"],
        &[],
    );
    // pipefail where the host's sh has it: the real shell decides (Debian
    // 12's dash does not; bash, busybox and dash 0.5.13+ do).
    let has_pipefail = std::process::Command::new("sh")
        .args(["-c", "set -o pipefail"])
        .status()
        .is_ok_and(|s| s.success());
    assert_eq!(code, if has_pipefail { 1 } else { 0 }, "{stdout}");
}

#[test]
fn command_timeout_is_the_timeout_of_a_step_that_sets_none() {
    let lab = SshLab::start(1);
    let home = prepared_home(&lab);
    let config = home.path().join("vigie.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("command_timeout = \"10s\"", "command_timeout = \"1s\"");
    std::fs::write(&config, text).unwrap();
    let playbook = home.path().join("slow.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"slow\"\ntitle = \"Slow\"\n[inputs.target]\nkind = \"host\"\n+++\n\n\
         ## Wait\n\n```sh {on=target}\nsleep 4\necho waited\n```\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, stdout, _) = vigie(
        home.path(),
        &["run", playbook.to_str().unwrap(), "--input", "target=lab1", "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("timed out"), "{stdout}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "killed at 1 s, not after the sleep"
    );
    // The killed command ends in the timeline: no exit code, and why.
    let timeline = timeline_text(home.path());
    let finished = timeline
        .lines()
        .find(|l| l.contains("\"kind\":\"command.finished\""))
        .unwrap_or_else(|| panic!("no command.finished: {timeline}"));
    assert!(
        finished.contains("\"exit\":null") && finished.contains("timed out"),
        "{finished}"
    );
}

const CHECKLIST_PLAYBOOK: &str = r#"+++
id = "by-hand"
title = "Done by hand"
+++

# Done by hand

## Tell the owners

- [ ] Mailed the VM owners
- [ ] Posted in the fallback channel
"#;

#[test]
fn vigie_run_asks_box_by_box_waits_when_told_and_records_each_tick() {
    let home = tempfile::tempdir().unwrap();
    let playbook = home.path().join("by-hand.md");
    std::fs::write(&playbook, CHECKLIST_PLAYBOOK).unwrap();
    let (code, _, stderr) = vigie(
        home.path(),
        &["incident", "new", "rehearsal", "--severity", "minor"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    // Box 1 done; box 2 not yet, wait, then done: the step is done with its last box.
    let (code, stdout, stderr) = common::lab::vigie(home.path(), &["run", playbook.to_str().unwrap()], "y\nn\nw\ny\n");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("[ ] Posted in the fallback channel"), "{stdout}");
    assert!(stdout.contains("completed"), "{stdout}");
    assert!(!stdout.contains("done? [y/N]\n  done?"), "no third question: {stdout}");
    let timeline = timeline_text(home.path());
    assert_eq!(timeline.matches("\"checklist.ticked\"").count(), 2, "{timeline}");
    assert!(!timeline.contains("\"automatic\""), "a responder ticked them");

    // With --yes the boxes are ticked, and the timeline says nobody looked.
    let (code, stdout, stderr) = common::lab::vigie(home.path(), &["run", playbook.to_str().unwrap(), "--yes"], "");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let timeline = timeline_text(home.path());
    assert_eq!(timeline.matches("\"automatic\":true").count(), 2, "{timeline}");
}
