//! The fleet writes into the timeline, end to end: real lab hosts killed
//! and restarted, two cockpits in tmux and a `vigie watch` all watching
//! them. Each outage is recorded once, at the time it began (not when an
//! incident was declared, not when a cockpit restarted), cleared once, and
//! the post-mortem's key times and durations come from it.

mod common;

use chrono::{DateTime, Duration as Span, Utc};
use common::lab::SshLab;
use common::tmux::TmuxSession;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// The lab's poll interval (`SshLab::vigie_toml`).
const POLL: Span = Span::seconds(1);
/// Scheduling slack on top of it: the ticker, a busy two-core machine.
const SLACK: Span = Span::milliseconds(750);

struct Fleet {
    home: tempfile::TempDir,
    config: PathBuf,
}

impl Fleet {
    fn incidents(&self) -> PathBuf {
        self.home.path().join(".local/share/vigie/incidents")
    }

    fn vigie(&self, args: &[&str]) -> (i32, String, String) {
        let mut full = vec!["--config", self.config.to_str().unwrap()];
        full.extend_from_slice(args);
        common::lab::vigie(self.home.path(), &full, "")
    }

    fn cockpit(&self, name: &str) -> TmuxSession {
        let tmux = TmuxSession::cockpit(self.home.path(), &self.config, (120, 32), &[("USER", name)]);
        tmux.wait_for("both lab hosts live", Duration::from_secs(30), |s| {
            ["lab1", "lab2"]
                .iter()
                .all(|h| s.lines().any(|l| l.contains(h) && l.contains("load ")))
        });
        tmux
    }

    fn watcher(&self) -> Child {
        common::lab::start_watch(self.home.path(), &self.config)
    }

    fn timeline(&self) -> Vec<Value> {
        let dir = common::only_incident_dir(&self.home.path().join(".local/share"));
        read_lines(&dir.join("timeline.jsonl"))
    }

    /// The timeline's events of `kind` about `host` being unreachable.
    /// (The lab hosts are this machine: on a busy one, its real I/O
    /// pressure is recorded too, rightly, beside the outages.)
    fn events(&self, kind: &str, host: &str) -> Vec<Value> {
        self.timeline()
            .into_iter()
            .filter(|e| e["kind"] == kind && e["host"] == host && e["data"]["code"] == "unreachable")
            .collect()
    }

    /// Waits until the timeline holds an event of `kind` about `host`, then
    /// a while longer (two sync passes of every watcher), and returns them all.
    fn wait_for_event(&self, kind: &str, host: &str) -> Vec<Value> {
        wait_until(
            &format!("{kind} of {host} in the timeline"),
            Duration::from_secs(20),
            || !self.events(kind, host).is_empty(),
        );
        std::thread::sleep(Duration::from_secs(5));
        self.events(kind, host)
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// `at` is within one poll interval of `moment`: the first poll that began
/// after it (or the one it interrupted).
fn assert_within_a_poll(event: &Value, moment: DateTime<Utc>, what: &str) {
    let at = time(&event["at"]);
    assert!(
        at >= moment - POLL - SLACK && at <= moment + POLL + SLACK,
        "{what}: recorded at {at}, {} ms from {moment}: {event}",
        (at - moment).num_milliseconds()
    );
}

#[test]
fn every_outage_is_recorded_once_at_its_real_time_by_two_cockpits_and_a_watcher() {
    let mut lab = SshLab::start(2);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&lab.known_hosts)).unwrap();
    let fleet = Fleet { home, config };
    let mut watcher = fleet.watcher();
    let alice = fleet.cockpit("alice");
    let bob = fleet.cockpit("bob");

    // lab1 dies before anyone declares anything.
    let first_death = Utc::now();
    lab.kill_host(0);
    let journal = fleet.incidents().join("fleet-journal.jsonl");
    wait_until("lab1's outage in the fleet journal", Duration::from_secs(20), || {
        read_lines(&journal)
            .iter()
            .any(|r| r["op"] == "raised" && r["host"] == "lab1")
    });
    // Noticed later: the incident is declared some seconds after the death.
    std::thread::sleep(Duration::from_secs(3));
    let (code, _, err) = fleet.vigie(&["incident", "new", "lab1 down", "--severity", "critical"]);
    assert_eq!(code, 0, "{err}");
    let raised = fleet.wait_for_event("alert.raised", "lab1");
    assert_eq!(raised.len(), 1, "one raise however many watchers: {raised:?}");
    assert_within_a_poll(&raised[0], first_death, "lab1's raise");
    assert_eq!(raised[0]["data"]["code"], "unreachable");
    assert_eq!(raised[0]["actor"], "alert");
    let declared = time(&fleet.timeline()[0]["at"]);
    assert!(
        time(&raised[0]["at"]) < declared,
        "the timeline starts where the outage started"
    );

    lab.start_host(0);
    let first_return = Utc::now();
    let cleared = fleet.wait_for_event("alert.cleared", "lab1");
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_within_a_poll(&cleared[0], first_return, "lab1's clear");
    assert_eq!(cleared[0]["data"]["occurrence"], raised[0]["data"]["occurrence"]);

    // lab2 dies during the incident.
    let second_death = Utc::now();
    lab.kill_host(1);
    let raised_2 = fleet.wait_for_event("alert.raised", "lab2");
    assert_eq!(raised_2.len(), 1, "{raised_2:?}");
    assert_within_a_poll(&raised_2[0], second_death, "lab2's raise");

    // A cockpit restarted while lab2 is down says since when it has been
    // down, not since the restart.
    bob.send(&["q"]);
    bob.wait_for("bob's shell", Duration::from_secs(10), |s| s.trim_end().ends_with('$'));
    std::thread::sleep(Duration::from_secs(2));
    bob.type_line(&format!(
        "'{}' --config '{}'",
        env!("CARGO_BIN_EXE_vigie"),
        fleet.config.display()
    ));
    bob.wait_for("bob's cockpit again", Duration::from_secs(20), |s| s.contains("lab2"));
    bob.send(&["j"]);
    let since = time(&raised_2[0]["at"])
        .format("unreachable since %H:%M:%S")
        .to_string();
    bob.wait_for("lab2 down since the journal's time", Duration::from_secs(20), |s| {
        s.contains(&since)
    });

    lab.start_host(1);
    let second_return = Utc::now();
    let cleared_2 = fleet.wait_for_event("alert.cleared", "lab2");
    assert_eq!(cleared_2.len(), 1, "{cleared_2:?}");
    assert_within_a_poll(&cleared_2[0], second_return, "lab2's clear");
    // Both cockpits show the fleet's events in their timeline pane.
    for cockpit in [&alice, &bob] {
        cockpit.wait_for("the fleet's events in the pane", Duration::from_secs(10), |s| {
            s.contains("alert (") && s.contains("alert cleared")
        });
    }

    // Mitigated, resolved; then the post-mortem's times and durations.
    assert_eq!(fleet.vigie(&["incident", "status", "mitigated"]).0, 0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(fleet.vigie(&["incident", "close"]).0, 0);
    let (code, report, err) = fleet.vigie(&["report", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let key = |name: &str| {
        let found = report["key_times"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name);
        time(&found.unwrap_or_else(|| panic!("no {name}"))["at"])
    };
    let events = fleet.timeline();
    let status_at = |to: &str| {
        let event = events
            .iter()
            .find(|e| e["kind"] == "status.changed" && e["data"]["to"] == to)
            .unwrap_or_else(|| panic!("no status change to {to}"));
        time(&event["at"])
    };
    // The first alert of the incident: lab1's outage, unless this busy
    // machine's own I/O pressure (the lab hosts are it) fired before.
    let first_outage = time(&raised[0]["at"]);
    let first_alert = events
        .iter()
        .filter(|e| e["kind"] == "alert.raised")
        .map(|e| time(&e["at"]))
        .min()
        .unwrap();
    assert!(first_alert <= first_outage);
    assert_eq!(key("started"), first_alert, "the impact began with the first alert");
    assert_eq!(key("detected"), first_alert, "detected when the fleet first saw it");
    assert_eq!(key("acknowledged"), declared);
    assert_eq!(key("mitigated"), status_at("mitigated"));
    assert_eq!(key("resolved"), status_at("resolved"));
    let seconds = |name: &str| {
        let found = report["durations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name);
        found.unwrap_or_else(|| panic!("no {name}"))["seconds"].as_i64()
    };
    assert_eq!(seconds("time_to_detect"), Some(0));
    assert_eq!(
        seconds("time_to_acknowledge"),
        Some((declared - first_alert).num_seconds())
    );
    assert_eq!(
        seconds("time_to_mitigate"),
        Some((status_at("mitigated") - first_alert).num_seconds())
    );
    assert_eq!(
        seconds("time_to_resolve"),
        Some((status_at("resolved") - first_alert).num_seconds())
    );
    let hosts_down: Vec<(String, i64)> = report["impact"]["hosts_down"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["host"].as_str().unwrap().to_string(), o["seconds"].as_i64().unwrap()))
        .collect();
    let lasted = |raise: &Value, clear: &Value| (time(&clear["at"]) - time(&raise["at"])).num_seconds();
    assert_eq!(
        hosts_down,
        vec![
            ("lab1".to_string(), lasted(&raised[0], &cleared[0])),
            ("lab2".to_string(), lasted(&raised_2[0], &cleared_2[0]))
        ]
    );

    // The watcher stops cleanly on SIGTERM and said what it saw.
    unsafe {
        libc::kill(watcher.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = watcher.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "vigie watch did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(fleet.home.path().join("watch.log")).unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("stopped (SIGTERM)"), "{log}");
    assert!(log.contains("lab1 unreachable raised at"), "{log}");
    assert!(log.contains("lab2 unreachable cleared"), "{log}");
    assert!(!log.contains("problem"), "{log}");
    for cockpit in [&alice, &bob] {
        cockpit.send(&["q"]);
    }
}

#[test]
fn vigie_watch_refuses_to_run_for_nothing() {
    let home = tempfile::tempdir().unwrap();
    let write = |text: &str| {
        let path = home.path().join("vigie.toml");
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let watch = |config: &str, extra: &[&str]| {
        let mut args = vec!["--config", config, "watch"];
        args.extend_from_slice(extra);
        common::lab::vigie(home.path(), &args, "")
    };
    let no_hosts = write("[settings]\npoll_interval = \"1s\"\n");
    let (code, _, err) = watch(&no_hosts, &[]);
    assert_eq!(
        (code, err.trim()),
        (2, "vigie watch: the inventory lists no hosts: nothing to watch")
    );

    let one_host = "[[hosts]]\nname = \"here\"\naddress = \"localhost\"\ntransport = \"local\"\n";
    let config = write(one_host);
    let (code, _, err) = watch(&config, &["--incident", "nonexistent"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nonexistent is not an incident directory"), "{err}");

    // An incidents directory that cannot exist (under a file): said at once.
    std::fs::write(home.path().join("a-file"), "").unwrap();
    let blocked = write(&format!(
        "[settings]\nincidents_dir = \"{}/a-file/incidents\"\n\n{one_host}",
        home.path().display()
    ));
    let (code, _, err) = watch(&blocked, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a-file is not a directory"), "{err}");
}
