//! The whole night, in two real terminals: a hypervisor dies, alice declares
//! the incident from its row (`i`), runs the playbook its alert suggests to
//! restart its guests on the survivor, ticks the last step's checklist by
//! cursor, types a note with the shell's editing keys and amends it; bob's
//! cockpit shows the amendment; the post-mortem is written. Real libvirt and
//! QEMU guests, real sshd hosts, the real binary in tmux, each screen waited
//! for by what it must show; once with alice at 120×40 and bob at 80×24, once
//! the other way round.

mod common;

use common::hypervisor::HypervisorLab;
use common::tmux::TmuxSession;
use std::path::Path;
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(10);
/// A poll (1 s), a connect timeout (2 s) and a busy machine.
const POLLS: Duration = Duration::from_secs(30);

#[test]
fn the_whole_night_at_120x40_with_a_second_cockpit_at_80x24() {
    whole_night((120, 40), (80, 24));
}

#[test]
fn the_whole_night_at_80x24_with_a_second_cockpit_at_120x40() {
    whole_night((80, 24), (120, 40));
}

/// The environment of one responder's terminal: one shared home, data and
/// config (a bastion), their own login name.
fn responder<'a>(home: &'a str, data: &'a str, config: &'a str, user: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("HOME", home),
        ("XDG_DATA_HOME", data),
        ("XDG_CONFIG_HOME", home),
        ("VIGIE_CONFIG", config),
        ("USER", user),
        ("LOGNAME", user),
        ("SSH_AUTH_SOCK", ""),
        ("PS1", "$ "),
    ]
}

fn start_cockpit(tmux: &TmuxSession) {
    tmux.type_line(&format!("'{}'", env!("CARGO_BIN_EXE_vigie")));
    tmux.wait_for("both hypervisors live", POLLS, |s| {
        ["lab1", "lab2"]
            .iter()
            .all(|name| s.lines().any(|l| l.contains(name) && l.contains("load ")))
    });
}

/// Enter on the step the run waits for (going on from the step before,
/// whose output stayed on screen), then Run in its popup; for a high-risk
/// step, the target's name typed first.
fn run_step(alice: &TmuxSession, step: usize, high_risk: bool) {
    alice.wait_for(&format!("step {step} waiting"), POLLS, |s| {
        s.contains(&format!("step {step} waits for you")) || s.contains(&format!("step {step} “"))
    });
    alice.send(&["Enter"]);
    if high_risk {
        let screen = alice.wait_for("the high-risk popup", SHORT, |s| {
            s.contains("HIGH RISK: it acts on lab2") && s.contains("[>Cancel<]")
        });
        assert!(screen.contains("Type lab2 to run it"), "{screen}");
        alice.send(&["-l", "lab2"]);
        alice.wait_for("Run focused by the name", SHORT, |s| s.contains("[>Run<]"));
    } else {
        alice.wait_for("the step popup", SHORT, |s| {
            s.contains("run this step?") && s.contains("on lab2") && s.contains("[>Run<]")
        });
    }
    alice.send(&["Enter"]);
}

fn whole_night(alice_size: (u16, u16), bob_size: (u16, u16)) {
    let mut lab = HypervisorLab::start();
    let configs = lab.with_web_and_mail();

    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let data = format!("{home_path}/data");
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml()).unwrap();
    let config = config.to_str().unwrap();
    let alice = TmuxSession::start(
        alice_size.0,
        alice_size.1,
        home.path(),
        &responder(home_path, &data, config, "alice"),
    );
    let bob = TmuxSession::start(
        bob_size.0,
        bob_size.1,
        home.path(),
        &responder(home_path, &data, config, "bob"),
    );
    start_cockpit(&alice);
    start_cockpit(&bob);

    // 19:30: lab1 dies, its guests with it.
    lab.crash_guest(0, "web");
    lab.crash_guest(0, "mail");
    lab.ssh.kill_host(0);
    let screen = alice.wait_for("lab1 down, its playbook suggested", POLLS, |s| {
        s.lines().any(|l| l.contains("lab1") && l.contains("down")) && s.contains("evacuate-hypervisor")
    });
    assert!(screen.contains("unreachable since"), "{screen}");

    // `i` on its row: the title drafted from the alert, the severity chosen.
    alice.send(&["i"]);
    alice.wait_for("the drafted title", SHORT, |s| {
        s.lines().any(|l| l.contains("new incident>") && l.contains("lab1"))
    });
    alice.send(&["C-u"]);
    alice.send(&["-l", "lab1 died"]);
    alice.wait_for("the title typed", SHORT, |s| s.contains("new incident> lab1 died"));
    alice.send(&["Enter"]);
    let screen = alice.wait_for("the severity picker", SHORT, |s| {
        s.contains("severity of the new incident")
    });
    assert!(screen.contains("critical") && screen.contains("minor"), "{screen}");
    alice.send(&["Down"]);
    alice.send(&["Enter"]);

    // Declared, the alert's playbook is offered with what vigie knows.
    let screen = alice.wait_for("the playbook's form", SHORT, |s| {
        s.contains("evacuate-hypervisor — ") && s.contains("suggested by:")
    });
    assert!(
        screen.contains("INC lab1 died") && screen.contains("CRITICAL"),
        "{screen}"
    );
    assert!(
        screen.lines().any(|l| l.contains("dead") && l.contains("lab1")),
        "{screen}"
    );
    assert!(
        screen.lines().any(|l| l.contains("platform") && l.contains("libvirt")),
        "the platform is the dead node's: {screen}"
    );
    bob.wait_for("the incident, followed by bob", POLLS, |s| {
        s.contains("INC lab1 died") && s.contains("declared incident")
    });
    // The survivor: the only other host that answers, already chosen; the
    // cursor on the first field left to fill. Where the configs are, typed.
    assert!(
        screen.lines().any(|l| l.contains("target") && l.contains("lab2")),
        "{screen}"
    );
    assert!(screen.lines().any(|l| l.contains("▸ vmids")), "{screen}");
    alice.send(&["Down"]);
    alice.send(&["-l", configs.to_str().unwrap()]);
    alice.send(&["Enter"]);
    let screen = alice.wait_for("the start popup", SHORT, |s| {
        s.contains("start the playbook?") && s.contains("[>Start<]")
    });
    assert!(
        screen.contains("dead = lab1") && screen.contains("target = lab2"),
        "{screen}"
    );
    alice.send(&["Enter"]);

    // Each step: Enter, Enter; the output stays until the next Enter.
    run_step(&alice, 1, false);
    let screen = alice.wait_for("step 1's output kept", POLLS, |s| {
        s.contains("checked") && s.contains("step 2 “")
    });
    assert!(screen.contains("exit 0"), "{screen}");
    run_step(&alice, 2, false);
    alice.wait_for("the capacity", POLLS, |s| {
        s.contains("capacity: ok") && s.contains("step 3 “")
    });
    run_step(&alice, 3, true);
    alice.wait_for("quorum", POLLS, |s| {
        s.contains("quorum handled") && s.contains("step 4 “")
    });
    run_step(&alice, 4, true);
    alice.wait_for("the configs", POLLS, |s| {
        s.contains("configs moved") && s.contains("step 5 “")
    });
    run_step(&alice, 5, false);
    alice.wait_for("the guests started", POLLS, |s| {
        s.contains("started web") && s.contains("started mail") && s.contains("step 6 “")
    });
    run_step(&alice, 6, false);

    // The checklist, by cursor: the second box first, then the one left.
    alice.wait_for("the checklist", POLLS, |s| {
        s.contains("step 6: tick its boxes") && s.contains("[ ] Each service answers")
    });
    alice.send(&["j"]);
    alice.send(&["Space"]);
    alice.wait_for("the second box ticked", SHORT, |s| {
        s.contains("[x] Watch I/O pressure") && s.contains("[ ] Each service answers")
    });
    alice.send(&["Space"]);
    alice.wait_for("both boxes ticked", SHORT, |s| s.contains("[x] Each service answers"));
    alice.send(&["Enter"]);
    alice.wait_for("the run completed", POLLS, |s| s.contains("✔ completed"));
    // (At 80 columns the row of the run's end is cut: its step's is not.)
    bob.wait_for("the run's end, live in bob's timeline", POLLS, |s| {
        s.contains("step Verify done")
    });

    // A note, typed with mistakes and fixed with Ctrl-U and Ctrl-W.
    alice.send(&["n"]);
    alice.wait_for("the note prompt", SHORT, |s| s.contains("note>"));
    alice.send(&["-l", "garbage typed first"]);
    alice.send(&["C-u"]);
    alice.send(&["-l", "web and mail run on lab2 typo"]);
    alice.send(&["C-w"]);
    alice.send(&["-l", "again"]);
    alice.wait_for("the edited note", SHORT, |s| {
        s.contains("note> web and mail run on lab2 again")
    });
    alice.send(&["Enter"]);
    alice.wait_for("the note recorded", SHORT, |s| s.contains("note #"));

    // Amended from the timeline pane (notes only, the newest under the cursor).
    alice.send(&["Tab"]);
    alice.send(&["Tab"]);
    alice.send(&["t"]);
    alice.wait_for("the note in the timeline pane", SHORT, |s| {
        s.contains("TIMELINE · notes") && s.contains("note: web and mail run on")
    });
    alice.send(&["e"]);
    alice.wait_for("the amend prompt", SHORT, |s| {
        s.lines()
            .any(|l| l.contains("amend #") && l.contains("web and mail run on lab2 again"))
    });
    alice.send(&["C-u"]);
    alice.send(&["-l", "web and mail run on lab2, chat stays down"]);
    alice.send(&["Enter"]);
    alice.wait_for("the amendment in alice's pane", SHORT, |s| s.contains("✎ amended"));

    // Bob sees it amended in place, and whole when he opens it.
    bob.wait_for("the amendment in bob's pane", POLLS, |s| s.contains("✎ amended"));
    bob.send(&["Tab"]);
    bob.send(&["t"]);
    bob.send(&["Enter"]);
    let screen = bob.wait_for("the note whole", SHORT, |s| s.contains("AMENDED"));
    assert!(
        screen.contains("note: web and mail run on lab2, chat stays down"),
        "{screen}"
    );
    assert!(screen.contains("alice"), "{screen}");
    bob.send(&["Escape"]);

    // The post-mortem.
    alice.send(&[":"]);
    alice.send(&["-l", "report"]);
    alice.send(&["Enter"]);
    alice.wait_for("the report written", SHORT, |s| s.contains("report written"));
    for cockpit in [&alice, &bob] {
        cockpit.send(&["q"]);
        cockpit.wait_for("the shell prompt", SHORT, |s| s.trim_end().ends_with('$'));
    }

    let dir = common::only_incident_dir(Path::new(&data));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.starts_with("# Post-mortem: lab1 died"), "{report}");
    assert!(report.contains("web and mail run on lab2, chat stays down"), "{report}");
    assert!(report.contains("evacuate-hypervisor"), "{report}");
    let timeline = common::incident_timeline(Path::new(&data));
    for needle in [
        "\"severity\":\"critical\"",
        "\"kind\":\"checklist.ticked\"",
        "\"outcome\":\"completed\"",
        "\"text\":\"web and mail run on lab2 again\"",
        "\"kind\":\"amendment\"",
        "\"actor\":\"alice",
    ] {
        assert!(timeline.contains(needle), "{needle} missing:\n{timeline}");
    }
    assert!(!timeline.contains("garbage"), "{timeline}");
    assert_eq!(timeline.matches("\"kind\":\"checklist.ticked\"").count(), 2);
    let out = lab.virsh(1, &["list", "--state-running", "--name"]);
    let running = common::hypervisor::text(&out.stdout);
    assert!(running.contains("web") && running.contains("mail"), "{running}");
}
