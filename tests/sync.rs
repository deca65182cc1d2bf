//! One incident, several machines, no server of vigie's: responders on
//! separate machines (separate HOMEs, each its own incidents directory,
//! known_hosts and identity) share a bare git remote on a real lab sshd.
//! They see each other's events; while the remote is down each keeps
//! recording; when it is back they converge on the same events, once each,
//! in the same order; `verify` passes on every side and the post-mortem is
//! the same from every side.

mod common;

use common::lab::SshLab;
use common::tmux::TmuxSession;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

struct Responder {
    home: tempfile::TempDir,
    config: PathBuf,
}

impl Responder {
    /// A machine of its own: a HOME with a vigie.toml naming the lab host
    /// and the remote on it.
    fn new(lab: &SshLab, name: &str, remote: &str) -> Responder {
        let home = tempfile::Builder::new()
            .prefix(&format!("vigie-{name}-"))
            .tempdir()
            .unwrap();
        let config = home.path().join("vigie.toml");
        let toml = lab.vigie_toml(&lab.known_hosts).replacen(
            "[settings]\n",
            &format!(
                "[settings]\nresponder = \"{name}@{name}-laptop\"\nsync_remotes = [\"{remote}\"]\nsync_interval = \"1s\"\n"
            ),
            1,
        );
        std::fs::write(&config, toml).unwrap();
        Responder { home, config }
    }

    fn vigie(&self, args: &[&str]) -> (i32, String, String) {
        let mut full = vec!["--config", self.config.to_str().unwrap()];
        full.extend_from_slice(args);
        common::lab::vigie(self.home.path(), &full, "")
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.vigie(args);
        assert_eq!(code, 0, "vigie {args:?}: {out}{err}");
        out
    }

    fn note(&self, text: &str) {
        self.ok(&["note", text]);
    }

    fn sync(&self) -> (i32, String) {
        let (code, out, err) = self.vigie(&["sync"]);
        (code, format!("{out}{err}"))
    }

    fn incidents(&self) -> PathBuf {
        self.home.path().join(".local/share/vigie/incidents")
    }

    /// The merged timeline of `incident`, as `timeline show --json` prints it.
    fn events(&self, incident: &str) -> Vec<Value> {
        let out = self.ok(&["--incident", incident, "timeline", "show", "--json"]);
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn texts(&self, incident: &str) -> Vec<String> {
        self.events(incident)
            .iter()
            .filter_map(|e| e["data"]["text"].as_str().map(String::from))
            .collect()
    }

    /// The real cockpit in tmux, on this responder's machine.
    fn cockpit(&self) -> TmuxSession {
        TmuxSession::cockpit(self.home.path(), &self.config, (150, 30), &[])
    }

    fn watcher(&self) -> Child {
        common::lab::start_watch(self.home.path(), &self.config)
    }
}

fn the_incident(responder: &Responder) -> String {
    let dirs: Vec<String> = std::fs::read_dir(responder.incidents())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("events").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn remote_path(lab: &SshLab) -> String {
    lab.dir.path().join("remote/vigie.git").display().to_string()
}

/// A lab host with a remote on it, made by alice, and two responders using it.
fn two_responders() -> (SshLab, Responder, Responder) {
    let lab = SshLab::start(1);
    let remote = format!("lab1:{}", remote_path(&lab));
    let alice = Responder::new(&lab, "alice", &remote);
    let bob = Responder::new(&lab, "bob", &remote);
    alice.ok(&["sync", "init", &remote]);
    (lab, alice, bob)
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn two_responders_and_an_offline_one_converge_through_a_remote_that_went_down() {
    let mut lab = SshLab::start(1);
    let remote = format!("lab1:{}", remote_path(&lab));
    let alice = Responder::new(&lab, "alice", &remote);
    let bob = Responder::new(&lab, "bob", &remote);
    let carol = Responder::new(&lab, "carol", &remote);

    // The remote is made once, by anyone.
    let created = alice.ok(&["sync", "init", &remote]);
    assert!(created.contains("refuses rewrites"), "{created}");
    let config = common::run("git", &["--git-dir", &remote_path(&lab), "config", "--list"]);
    assert!(config.contains("receive.denynonfastforwards=true"), "{config}");

    // Alice declares and writes; bob and carol receive the incident.
    alice.ok(&["incident", "new", "hv1 down"]);
    alice.note("alice: hv1 does not answer");
    let (code, said) = alice.sync();
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("in sync"), "{said}");
    let (code, said) = bob.sync();
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("of alice@alice-laptop"), "{said}");
    let incident = the_incident(&bob);
    assert!(bob.texts(&incident).contains(&"alice: hv1 does not answer".to_string()));
    bob.note("bob: moving the VMs to hv2");
    assert_eq!(bob.sync().0, 0);
    assert_eq!(carol.sync().0, 0);
    assert_eq!(alice.sync().0, 0);
    assert!(alice
        .texts(&incident)
        .contains(&"bob: moving the VMs to hv2".to_string()));

    // The remote goes down: everyone keeps recording, nothing is lost.
    lab.kill_host(0);
    alice.note("alice: hv2 is at 90% RAM");
    bob.note("bob: web1 moved");
    let (code, said) = alice.sync();
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("unreachable"), "{said}");
    assert!(said.contains("kept"), "{said}");
    bob.note("bob: web2 moved");
    carol.note("carol: customers warned by mail");
    assert_eq!(bob.sync().0, 1);
    alice.ok(&["incident", "status", "mitigated"]);

    // It comes back: a round each, and one more to hear of the others.
    lab.start_host(0);
    for responder in [&alice, &bob, &alice, &bob] {
        let (code, said) = responder.sync();
        assert_eq!(code, 0, "{said}");
    }
    let alice_events = alice.events(&incident);
    let bob_events = bob.events(&incident);
    assert_eq!(
        ids(&alice_events),
        ids(&bob_events),
        "the same events, in the same order"
    );
    let unique: std::collections::HashSet<String> = ids(&alice_events).into_iter().collect();
    assert_eq!(unique.len(), alice_events.len(), "every event once");
    for text in [
        "alice: hv1 does not answer",
        "bob: moving the VMs to hv2",
        "alice: hv2 is at 90% RAM",
        "bob: web1 moved",
        "bob: web2 moved",
    ] {
        assert!(alice.texts(&incident).contains(&text.to_string()), "{text} missing");
    }

    // Carol was offline the whole time: she syncs now and loses nothing.
    assert_eq!(carol.sync().0, 0);
    for responder in [&alice, &bob] {
        assert_eq!(responder.sync().0, 0);
    }
    let everyone: Vec<Vec<String>> = [&alice, &bob, &carol]
        .iter()
        .map(|r| ids(&r.events(&incident)))
        .collect();
    assert_eq!(everyone[0], everyone[1]);
    assert_eq!(everyone[0], everyone[2]);
    assert!(alice
        .texts(&incident)
        .contains(&"carol: customers warned by mail".to_string()));

    // Every chain verifies on every machine, and so does what was synced.
    for responder in [&alice, &bob, &carol] {
        let (code, out, err) = responder.vigie(&["--incident", &incident, "timeline", "verify"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("synced event(s) of alice@alice-laptop are all here"),
            "{out}"
        );
    }
    // The post-mortem is the same document from every side.
    let reports: Vec<String> = [&alice, &bob, &carol]
        .iter()
        .map(|r| r.ok(&["--incident", &incident, "report", "--format", "md"]))
        .collect();
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
}

#[test]
fn a_copy_changed_on_one_machine_is_refused_and_verify_names_it() {
    let (_lab, alice, bob) = two_responders();
    alice.ok(&["incident", "new", "db replica lag"]);
    alice.note("alice: replica 3 hours behind");
    assert_eq!(alice.sync().0, 0);
    assert_eq!(bob.sync().0, 0);
    let incident = the_incident(&bob);
    // Someone edits alice's file on bob's machine.
    let copy = bob.incidents().join(&incident).join("events/alice@alice-laptop.jsonl");
    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(&copy, text.replace("3 hours", "3 minutes")).unwrap();
    alice.note("alice: replica restarted");
    assert_eq!(alice.sync().0, 0);
    let (code, said) = bob.sync();
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("disagree"), "{said}");
    // Nothing was written over the edited copy, and verify says what was lost.
    assert!(std::fs::read_to_string(&copy).unwrap().contains("3 minutes"));
    let (code, out, err) = bob.vigie(&["--incident", &incident, "timeline", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("lost or changed synced events"), "{err}");
}

#[test]
fn watchers_share_notes_within_seconds() {
    let (_lab, alice, bob) = two_responders();
    alice.ok(&["incident", "new", "storage full"]);
    let mut watchers = [alice.watcher(), bob.watcher()];
    let seen_within = |reader: &Responder, text: &str| -> Duration {
        let start = Instant::now();
        loop {
            let found = std::fs::read_dir(reader.incidents()).ok().is_some_and(|entries| {
                entries.flatten().any(|e| {
                    e.path().join("events").is_dir()
                        && reader
                            .vigie(&["--incident", e.path().to_str().unwrap(), "timeline", "show", "--json"])
                            .1
                            .contains(text)
                })
            });
            if found {
                return start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{text} never arrived");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    alice.note("alice: datastore at 100%");
    let to_bob = seen_within(&bob, "alice: datastore at 100%");
    bob.note("bob: deleted old snapshots");
    let to_alice = seen_within(&alice, "bob: deleted old snapshots");
    for watcher in &mut watchers {
        unsafe { libc::kill(watcher.id() as i32, libc::SIGTERM) };
        let _ = watcher.wait();
    }
    eprintln!("a note reached the other machine in {to_bob:?} and {to_alice:?}");
    let log = std::fs::read_to_string(bob.home.path().join("watch.log")).unwrap();
    assert!(log.contains("received"), "{log}");
}

#[test]
fn the_cockpit_says_how_the_remote_is_and_shows_what_arrives() {
    let (mut lab, alice, bob) = two_responders();
    bob.ok(&["incident", "new", "mail queue stuck"]);
    assert_eq!(bob.sync().0, 0);
    let cockpit = alice.cockpit();
    // The incident declared on bob's machine arrives and is followed.
    cockpit.wait_for("the incident from bob's machine", Duration::from_secs(60), |s| {
        s.contains("mail queue stuck") && s.contains("synced")
    });
    bob.note("bob: postfix restarted");
    assert_eq!(bob.sync().0, 0);
    let screen = cockpit.wait_for("bob's note, and who sent it from where", Duration::from_secs(60), |s| {
        s.contains("bob: postfix restarted") && s.contains("received")
    });
    assert!(screen.contains("1 event of bob@bob-laptop (via lab1:"), "{screen}");
    eprintln!("{screen}");
    // The remote goes down: the header says the events stay here.
    lab.kill_host(0);
    cockpit.wait_for("the remote unreachable", Duration::from_secs(60), |s| {
        s.contains("events kept here")
    });
    lab.start_host(0);
    cockpit.wait_for("the remote back", Duration::from_secs(60), |s| {
        !s.contains("events kept here") && s.contains("synced")
    });
    cockpit.send(&["q"]);
}

#[test]
fn an_incident_begun_before_sync_was_configured_is_shared_whole() {
    let lab = SshLab::start(1);
    let remote = format!("lab1:{}", remote_path(&lab));
    let alice = Responder::new(&lab, "alice", &remote);
    let bob = Responder::new(&lab, "bob", &remote);
    // Alice's vigie.toml had no sync_remotes when the night began.
    let configured = std::fs::read_to_string(&alice.config).unwrap();
    let without: String = configured
        .lines()
        .filter(|l| !l.starts_with("sync_remotes"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&alice.config, &without).unwrap();
    alice.ok(&["incident", "new", "backup server full"]);
    alice.note("alice: /var/backups at 100%");
    let dir = std::fs::read_dir(alice.incidents())
        .unwrap()
        .flatten()
        .find(|e| e.path().join("timeline.jsonl").is_file())
        .expect("a single-file incident")
        .path();
    // Then she adds the remote: the first round shares the incident.
    std::fs::write(&alice.config, &configured).unwrap();
    alice.ok(&["sync", "init", &remote]);
    let (code, said) = alice.sync();
    assert_eq!(code, 0, "{said}");
    assert!(!dir.join("timeline.jsonl").exists(), "moved into events/");
    alice.note("alice: old snapshots pruned");
    assert_eq!(alice.sync().0, 0);
    assert_eq!(bob.sync().0, 0);
    let incident = dir.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        bob.texts(&incident),
        ["alice: /var/backups at 100%", "alice: old snapshots pruned"]
    );
    // Alice's own evidence of what she wrote followed the file.
    let (code, out, err) = alice.vigie(&["--incident", &incident, "timeline", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alice@alice-laptop--timeline.jsonl: 2 events"), "{out}");
}

#[test]
fn a_remote_is_trusted_like_any_host_and_refused_until_it_is() {
    let lab = SshLab::start(1);
    let remote = format!("lab1:{}", remote_path(&lab));
    let alice = Responder::new(&lab, "alice", &remote);
    // Alice's machine has pinned no key yet.
    let pins = alice.home.path().join("pins");
    std::fs::write(&pins, "").unwrap();
    let configured = std::fs::read_to_string(&alice.config).unwrap();
    let toml = configured.replace(&lab.known_hosts.display().to_string(), &pins.display().to_string());
    std::fs::write(&alice.config, toml).unwrap();
    let (code, out, err) = alice.vigie(&["sync", "init", &remote]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("vigie trust"), "{err}");
    alice.ok(&["trust", "lab1", "--yes"]);
    alice.ok(&["sync", "init", &remote]);
    // A key that changed is refused, as ssh refuses it.
    let line = std::fs::read_to_string(&pins).unwrap();
    let other = SshLab::start(1);
    let forged = line.replace(
        lab.hosts[0].host_public_key.split_whitespace().nth(1).unwrap(),
        other.hosts[0].host_public_key.split_whitespace().nth(1).unwrap(),
    );
    std::fs::write(&pins, forged).unwrap();
    let (code, said) = alice.sync();
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("has changed") && said.contains("vigie trust lab1"),
        "{said}"
    );
    eprintln!("{said}");
}

#[test]
fn two_machines_writing_as_one_responder_are_named_not_merged() {
    let (lab, alice, bob) = two_responders();
    // Bob's laptop was set up by copying alice's vigie.toml.
    let text = std::fs::read_to_string(&bob.config).unwrap();
    std::fs::write(&bob.config, text.replace("bob@bob-laptop", "alice@alice-laptop")).unwrap();
    // Both declare the outage before either syncs: two incidents, never one.
    alice.ok(&["incident", "new", "dns down"]);
    alice.note("the real alice");
    bob.ok(&["incident", "new", "dns down"]);
    bob.note("bob, thinking he is alice");
    assert_eq!(alice.sync().0, 0, "alice's copy goes first");
    let (code, said) = bob.sync();
    assert_eq!(code, 1, "{said}");
    // The remote answered: the problem is the writer, said as such.
    assert!(said.contains("in sync"), "{said}");
    assert!(said.contains("same responder name"), "{said}");
    // Nothing of alice's reached bob's machine under his (her) name.
    let incident = the_incident(&bob);
    assert_eq!(bob.texts(&incident), ["bob, thinking he is alice"]);
    let (code, said) = alice.sync();
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("same responder name"), "{said}");
    let _ = lab;
}

#[test]
fn with_one_remote_down_events_go_through_the_other() {
    let mut lab = SshLab::start(2);
    let first = format!("lab1:{}", remote_path(&lab));
    let second = format!("lab2:{}", lab.dir.path().join("second/vigie.git").display());
    let both = format!("{first}\", \"{second}");
    let alice = Responder::new(&lab, "alice", &both);
    let bob = Responder::new(&lab, "bob", &both);
    alice.ok(&["sync", "init", &first]);
    alice.ok(&["sync", "init", &second]);
    alice.ok(&["incident", "new", "san unreachable"]);
    assert_eq!(alice.sync().0, 0);
    assert_eq!(bob.sync().0, 0);
    let incident = the_incident(&bob);
    // The first remote dies; the second carries everything.
    lab.kill_host(0);
    alice.note("alice: multipath shows one path");
    let (code, said) = alice.sync();
    assert_eq!(code, 1, "one remote away is said in the exit code: {said}");
    assert!(said.contains("lab2:") && said.contains("in sync"), "{said}");
    let (_, said) = bob.sync();
    assert!(said.contains("received 1 event of alice@alice-laptop"), "{said}");
    assert!(bob
        .texts(&incident)
        .contains(&"alice: multipath shows one path".to_string()));
    // Back, the first remote catches up from whichever machine syncs first.
    lab.start_host(0);
    assert_eq!(bob.sync().0, 0);
    let on_first = common::run("git", &["--git-dir", &remote_path(&lab), "log", "--oneline", "--all"]);
    assert!(on_first.contains("alice@alice-laptop: 2 events"), "{on_first}");
}
