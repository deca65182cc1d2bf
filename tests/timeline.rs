//! The shared timeline across real processes: concurrent writers, writers
//! killed mid-append, tampering, secrets, live following.
//!
//! Writer processes are this test binary run again with `child_writer` and
//! an environment telling it what to do.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigie::timeline::store::read_all;
use vigie::timeline::verify::verify;
use vigie::timeline::{NewEvent, Timeline, TimelineOptions, TIMELINE_FILE};

const CHILD_DIR: &str = "VIGIE_TEST_WRITER_DIR";
const CHILD_COUNT: &str = "VIGIE_TEST_WRITER_COUNT";
const CHILD_NAME: &str = "VIGIE_TEST_WRITER_NAME";

/// Not a test of its own: the body of a writer process (does nothing unless
/// the environment says so). Prints `durable <id>` after each append returns.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let count: u64 = std::env::var(CHILD_COUNT)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let name = std::env::var(CHILD_NAME).unwrap_or_default();
    let mut timeline = Timeline::open(Path::new(&dir), TimelineOptions::new(name.clone())).unwrap();
    let stdout = std::io::stdout();
    for i in 0..count {
        let event = timeline
            .append(NewEvent::new(
                "note",
                serde_json::json!({"text": format!("{name} {i}")}),
            ))
            .unwrap();
        use std::io::Write;
        let mut out = stdout.lock();
        writeln!(out, "durable {}", event.id).unwrap();
        out.flush().unwrap();
    }
}

fn spawn_writer(dir: &Path, name: &str, count: Option<u64>) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1", "--quiet"])
        .env(CHILD_DIR, dir)
        .env(CHILD_NAME, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(count) = count {
        command.env(CHILD_COUNT, count.to_string());
    }
    command.spawn().unwrap()
}

/// The id in a complete `durable <ULID>` line (a line cut by the kill is not one).
fn durable_id(line: &str) -> Option<String> {
    line.strip_prefix("durable ")
        .filter(|id| id.len() == 26)
        .map(String::from)
}

fn declared_timeline() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("incident");
    std::fs::create_dir(&dir).unwrap();
    let mut timeline = Timeline::open(&dir, TimelineOptions::new("alice")).unwrap();
    timeline
        .append(NewEvent::new(
            "incident.declared",
            serde_json::json!({"title": "t", "severity": "major"}),
        ))
        .unwrap();
    (root, dir)
}

#[test]
fn eight_processes_append_two_thousand_events_each() {
    let (_root, dir) = declared_timeline();
    let writers: Vec<Child> = (0..8)
        .map(|i| spawn_writer(&dir, &format!("w{i}"), Some(2000)))
        .collect();
    for writer in writers {
        let out = writer.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).matches("durable ").count(), 2000);
    }
    let path = dir.join(TIMELINE_FILE);
    let events = read_all(&path).unwrap();
    assert_eq!(events.len(), 16_001);
    let mut seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs, (1..=16_001).collect::<Vec<_>>(), "no duplicate or missing seq");
    for i in 0..8 {
        let mine: Vec<&str> = events
            .iter()
            .filter(|e| e.actor == format!("w{i}"))
            .filter_map(|e| e.text("text"))
            .collect();
        let expected: Vec<String> = (0..2000).map(|n| format!("w{i} {n}")).collect();
        assert_eq!(mine, expected, "each writer's events are all there, in its order");
    }
    let verification = verify(&path).unwrap();
    assert_eq!((verification.problem, verification.torn_tail), (None, None));
}

#[test]
fn writers_killed_mid_append_never_lose_an_acknowledged_event() {
    let (_root, dir) = declared_timeline();
    let path = dir.join(TIMELINE_FILE);
    let mut acknowledged = Vec::new();
    for round in 0..50u64 {
        let mut writer = spawn_writer(&dir, &format!("k{round}"), None);
        let stdout = writer.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Let it append a varying number of events, then kill it mid-loop.
        let wanted = 5 + (round * 7) % 40;
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(id) = durable_id(&line) {
                        acknowledged.push(id);
                        seen += 1;
                    }
                }
                _ => break,
            }
        }
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(writer.id() as i32, libc::SIGKILL);
        }
        let _ = writer.wait();
        // Whatever it printed before dying was durable.
        acknowledged.extend(lines.map_while(Result::ok).filter_map(|l| durable_id(&l)));
        if round % 10 == 9 {
            // A power cut mid-write leaves half a line: simulate one.
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(br#"{"seq":999999,"id":"torn","at":"2026-11-"#).unwrap();
        }
    }
    // Opening for append sets a torn tail aside; then everything verifies.
    let mut timeline = Timeline::open(&dir, TimelineOptions::new("alice")).unwrap();
    timeline
        .append(NewEvent::new("note", serde_json::json!({"text": "after the crashes"})))
        .unwrap();
    let ids: std::collections::HashSet<String> = read_all(&path).unwrap().into_iter().map(|e| e.id).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");
    assert!(acknowledged.len() >= 50 * 5);
    let verification = verify(&path).unwrap();
    assert_eq!((verification.problem, verification.torn_tail), (None, None));
    assert!(
        dir.join(vigie::timeline::TORN_FILE).exists(),
        "the torn lines were kept aside"
    );
}

fn vigie(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("USER", "alice")
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT")
        .current_dir(home)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn only_incident_dir(home: &Path) -> PathBuf {
    common::only_incident_dir(&home.join("data"))
}

/// An incident with `notes` notes after its declaration; its timeline's path.
fn incident_with_notes(home: &Path, notes: usize) -> PathBuf {
    assert_eq!(vigie(home, &["incident", "new", "router down"]).0, 0);
    // Many notes, written fast: one process appending them like a busy night.
    let dir = only_incident_dir(home);
    let mut timeline = Timeline::open(&dir, TimelineOptions::new("alice")).unwrap();
    drop(timeline.append(NewEvent::new("note", serde_json::json!({"text": "warm up"}))));
    for i in 1..notes {
        timeline
            .append(NewEvent::new("note", serde_json::json!({"text": format!("note {i}")})))
            .unwrap();
    }
    // The last one through the real binary: its vigie remembers it wrote it.
    assert_eq!(vigie(home, &["note", "the last word"]).0, 0);
    dir.join(TIMELINE_FILE)
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

#[test]
fn a_garbage_line_in_the_middle_is_skipped_and_named_everything_else_read() {
    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 20);
    let mut lines = lines_of(&path);
    lines[9] = "{\"seq\": 10, garbage from a bad editor".into();
    write_lines(&path, &lines);
    let (code, shown, stderr) = vigie(home.path(), &["timeline", "show"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("timeline.jsonl:10: skipped"), "{stderr}");
    assert!(
        shown.contains("the last word") && shown.contains("router down"),
        "{shown}"
    );
    let (code, report, stderr) = vigie(home.path(), &["report"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("timeline.jsonl:10: skipped"), "{stderr}");
    assert!(report.contains("the last word"), "{report}");
    // Appending still works: the damage is in the middle, not at the end.
    assert_eq!(vigie(home.path(), &["note", "after the damage"]).0, 0);
    let (code, _, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("timeline.jsonl:10: not a valid event"), "{stderr}");
}

#[test]
fn a_copied_line_and_an_empty_one_are_named_not_shown_twice() {
    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 10);
    let mut lines = lines_of(&path);
    let copy = lines[4].clone();
    lines.insert(5, copy);
    lines.insert(8, String::new());
    write_lines(&path, &lines);
    let (code, shown, stderr) = vigie(home.path(), &["timeline", "show"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("timeline.jsonl:6: skipped, event #5 again"), "{stderr}");
    assert!(stderr.contains("timeline.jsonl:9: skipped"), "{stderr}");
    assert_eq!(shown.matches("note: note 3").count(), 1, "{shown}");
}

#[test]
fn a_deleted_line_is_named_as_the_missing_event() {
    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 300);
    let mut lines = lines_of(&path);
    lines.remove(249);
    write_lines(&path, &lines);
    let (code, _, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("timeline.jsonl:250: event 250 is missing before this line"),
        "{stderr}"
    );
}

#[test]
fn lines_cut_off_the_end_are_detected_against_what_this_machine_wrote() {
    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 300);
    let lines = lines_of(&path);
    let total = lines.len();
    write_lines(&path, &lines[..total - 100]);
    let (code, stdout, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("100 event(s) were cut off its end") && stderr.contains(&format!("appended event {total}")),
        "{stderr}"
    );
}

#[test]
fn appending_after_a_cut_or_a_replaced_last_line_does_not_erase_the_evidence() {
    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 12);
    let lines = lines_of(&path);
    write_lines(&path, &lines[..lines.len() - 3]);
    assert_eq!(vigie(home.path(), &["note", "after the cut"]).0, 0);
    let (code, _, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1, "the cut is still seen: {stderr}");
    assert!(stderr.contains("cut off its end"), "{stderr}");

    let home = tempfile::tempdir().unwrap();
    let path = incident_with_notes(home.path(), 5);
    let mut lines = lines_of(&path);
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("the last word", "the forged word");
    write_lines(&path, &lines);
    assert_eq!(vigie(home.path(), &["note", "after the forgery"]).0, 0);
    let (code, _, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1, "the replaced line is still seen: {stderr}");
    assert!(stderr.contains("not the event this machine appended"), "{stderr}");
}

#[test]
fn editing_one_byte_makes_verify_name_that_line() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(vigie(home.path(), &["incident", "new", "disk full on datastore1"]).0, 0);
    for i in 0..20 {
        assert_eq!(
            vigie(home.path(), &["note", &format!("observation number {i:02}")]).0,
            0
        );
    }
    let (code, stdout, _) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("21 events"));

    let path = only_incident_dir(home.path()).join(TIMELINE_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    // Line 12 holds "observation number 10": change one digit.
    let at = bytes.windows(21).position(|w| w == b"observation number 10").unwrap();
    bytes[at + 20] = b'7';
    std::fs::write(&path, &bytes).unwrap();
    let (code, _, stderr) = vigie(home.path(), &["timeline", "verify"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("timeline.jsonl:12: this line was changed"), "{stderr}");
}

#[test]
fn secrets_never_reach_the_file() {
    let (_root, dir) = declared_timeline();
    let mut options = TimelineOptions::new("alice");
    options.redactor.add_secret("correct-horse-battery");
    let mut timeline = Timeline::open(&dir, options).unwrap();
    timeline
        .append(NewEvent::new(
            "playbook.started",
            serde_json::json!({"inputs": {"repl_password": "correct-horse-battery"}}),
        ))
        .unwrap();
    let output = "mariadb> CHANGE MASTER 'pessicart' TO MASTER_PASSWORD='Tr0ub4dor&3', MASTER_LOG_POS=4;\n\
                  echo correct-horse-battery\n";
    timeline
        .append(
            NewEvent::new(
                "command.finished",
                serde_json::json!({"exit": 0, "ms": 12, "output": output}),
            )
            .on_host("db2"),
        )
        .unwrap();
    let file = std::fs::read_to_string(dir.join(TIMELINE_FILE)).unwrap();
    assert!(!file.contains("correct-horse-battery"), "{file}");
    assert!(!file.contains("Tr0ub4dor"), "{file}");
    assert!(file.contains("MASTER_PASSWORD=[redacted]"));

    // The same through the command line, with a pattern from vigie.toml.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("vigie.toml"),
        "[settings]\nredact_patterns = ['(?i)(api_key=)\\S+']\n",
    )
    .unwrap();
    vigie(home.path(), &["incident", "new", "secrets"]);
    vigie(
        home.path(),
        &[
            "note",
            "GRANT ALL ON *.* TO 'x'@'%' IDENTIFIED BY 'pa55word'; curl ?api_key=ABCDEF",
        ],
    );
    let file = std::fs::read_to_string(only_incident_dir(home.path()).join(TIMELINE_FILE)).unwrap();
    assert!(!file.contains("pa55word") && !file.contains("ABCDEF"), "{file}");
    assert!(file.contains("api_key=[redacted]"));
}

#[test]
fn a_second_process_following_sees_a_new_event_within_a_second() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(vigie(home.path(), &["incident", "new", "follow me"]).0, 0);
    let mut follower = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["timeline", "show", "--follow"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT")
        .current_dir(home.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let (_, first) = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.contains("declared incident \"follow me\""), "{first}");

    let (code, _, _) = vigie(home.path(), &["note", "mailed the VM owners"]);
    let appended = Instant::now();
    assert_eq!(code, 0);
    let (seen, line) = receiver
        .recv_timeout(Duration::from_secs(5))
        .expect("the follower never saw the note");
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(line.contains("note: mailed the VM owners"), "{line}");
    let latency = seen.saturating_duration_since(appended);
    assert!(latency < Duration::from_secs(1), "seen after {latency:?}");
}

#[test]
fn without_user_in_the_environment_the_actor_is_the_account_not_a_placeholder() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["incident", "new", "who am i"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("SUDO_USER")
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT")
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, shown, _) = vigie(home.path(), &["timeline", "show"]);
    let account = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    assert!(shown.contains(&format!("{}@", account.trim())), "{shown}");
    assert!(!shown.contains("someone@"), "{shown}");
}

#[test]
fn an_amended_event_is_shown_corrected_by_timeline_show() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(vigie(home.path(), &["incident", "new", "psu"]).0, 0);
    assert_eq!(vigie(home.path(), &["note", "rebooted via the cosnole"]).0, 0);
    let (code, _, stderr) = vigie(
        home.path(),
        &[
            "timeline",
            "amend",
            "#2",
            "--text",
            "rebooted via the IPMI console",
            "--reason",
            "typo",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (_, shown, _) = vigie(home.path(), &["timeline", "show"]);
    assert!(
        shown.contains("note: rebooted via the IPMI console  (amended)"),
        "{shown}"
    );
    assert!(
        !shown.contains("cosnole"),
        "the original text is not shown as current: {shown}"
    );
}

#[test]
fn with_several_incidents_open_a_note_says_which_it_went_to() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(vigie(home.path(), &["incident", "new", "dns down"]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(vigie(home.path(), &["incident", "new", "mail down"]).0, 0);
    let (code, _, err) = vigie(home.path(), &["note", "which one?"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2 incidents are open: written to the newest")
            && err.contains("mail-down;")
            && err.contains("dns-down"),
        "{err}"
    );
    // One incident open: nothing to say.
    assert_eq!(vigie(home.path(), &["incident", "close"]).0, 0);
    let (code, _, err) = vigie(home.path(), &["note", "and now?"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("incidents are open"), "{err}");
}
