//! The real binary in a real terminal (tmux): it shows live data, quits on
//! `q`, and leaves the shell exactly as it found it.

mod common;

use common::tmux::TmuxSession;
use std::time::Duration;

#[test]
fn cockpit_shows_this_machine_quits_on_q_and_restores_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let xdg = format!("{home_path}/config");
    let tmux = TmuxSession::start(
        100,
        30,
        home.path(),
        &[
            ("HOME", home_path),
            ("XDG_CONFIG_HOME", &xdg),
            ("VIGIE_CONFIG", ""),
            ("TERM", "xterm-256color"),
            ("PS1", "$ "),
        ],
    );
    // Remember the terminal settings the shell had, to compare after vigie quits.
    tmux.type_line("stty -g > tty.before; clear");
    tmux.type_line(&format!("'{}'", env!("CARGO_BIN_EXE_vigie")));

    let hostname = vigie::config::local_host_name();
    let screen = tmux.wait_for("the host list with live load", Duration::from_secs(20), |s| {
        s.contains("HOSTS") && s.contains(&hostname) && s.contains("load ") && s.contains("DISKS")
    });
    assert!(screen.contains("no vigie.toml: this machine only"), "{screen}");
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "the cockpit uses the alternate screen"
    );

    tmux.send(&["?"]);
    tmux.wait_for("the help overlay", Duration::from_secs(5), |s| {
        s.contains("previous host")
    });
    tmux.send(&["Escape"]);
    tmux.send(&["q"]);
    tmux.wait_for("the shell prompt", Duration::from_secs(10), |s| {
        s.trim_end().ends_with('$')
    });
    assert_eq!(tmux.format("#{alternate_on}"), "0", "alternate screen left");

    tmux.type_line("[ \"$(stty -g)\" = \"$(cat tty.before)\" ] && echo TTY-RESTORED-$((40+2))");
    tmux.wait_for("the terminal settings check", Duration::from_secs(5), |s| {
        s.contains("TTY-RESTORED-42")
    });
}

#[test]
fn cockpit_shows_lab_hosts_live_and_a_dead_one_turns_red_while_keys_still_work() {
    let mut lab = common::lab::SshLab::start(3);
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&lab.known_hosts)).unwrap();
    let tmux = TmuxSession::start(
        100,
        30,
        home.path(),
        &[("HOME", home_path), ("SSH_AUTH_SOCK", ""), ("PS1", "$ ")],
    );
    tmux.type_line(&format!(
        "'{}' --config '{}'",
        env!("CARGO_BIN_EXE_vigie"),
        config.display()
    ));
    tmux.wait_for("three live lab hosts", Duration::from_secs(20), |s| {
        ["lab1", "lab2", "lab3"]
            .iter()
            .all(|h| s.lines().any(|l| l.contains(h) && l.contains("load ")))
    });

    lab.kill_host(1);
    tmux.wait_for("lab2 down", Duration::from_secs(15), |s| {
        s.lines().any(|l| l.contains("✖ lab2") && l.contains("down"))
    });
    // Keys still answer while a host is down: select lab2 and read why.
    tmux.send(&["j"]);
    let screen = tmux.wait_for("lab2's detail", Duration::from_secs(5), |s| {
        s.contains("unreachable since")
    });
    assert!(screen.contains("connection refused"), "{screen}");
    tmux.send(&["q"]);
    tmux.wait_for("the shell prompt", Duration::from_secs(10), |s| {
        s.trim_end().ends_with('$')
    });
}

#[test]
fn cockpit_header_follows_the_incident_as_another_responder_changes_it() {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let data = format!("{home_path}/data");
    let env = [
        ("HOME", home_path),
        ("XDG_DATA_HOME", data.as_str()),
        ("XDG_CONFIG_HOME", home_path),
        ("PS1", "$ "),
    ];
    vigie_cli(&env, &["incident", "new", "miramelle down", "--severity", "critical"]);
    let tmux = TmuxSession::start(120, 30, home.path(), &env);
    tmux.type_line(&format!("'{}'", env!("CARGO_BIN_EXE_vigie")));
    tmux.wait_for("the incident in the header", Duration::from_secs(10), |s| {
        s.contains("INC miramelle down ─ CRITICAL ─ investigating")
    });
    // Another responder, another process.
    vigie_cli(&env, &["incident", "status", "mitigated"]);
    tmux.wait_for("the new status", Duration::from_secs(5), |s| {
        s.contains("CRITICAL ─ mitigated")
    });
    tmux.send(&["q"]);
}

#[test]
fn a_note_typed_in_one_cockpit_appears_live_in_another_and_in_the_timeline() {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let data = format!("{home_path}/data");
    let env = [
        ("HOME", home_path),
        ("XDG_DATA_HOME", data.as_str()),
        ("XDG_CONFIG_HOME", home_path),
        ("PS1", "$ "),
    ];
    vigie_cli(&env, &["incident", "new", "miramelle down", "--severity", "critical"]);
    let alice = TmuxSession::start(120, 30, home.path(), &env);
    let bob = TmuxSession::start(100, 30, home.path(), &env);
    for cockpit in [&alice, &bob] {
        cockpit.type_line(&format!("'{}'", env!("CARGO_BIN_EXE_vigie")));
        cockpit.wait_for("the timeline pane", Duration::from_secs(10), |s| {
            s.contains("TIMELINE") && s.contains("declared incident")
        });
    }
    alice.send(&["n"]);
    alice.wait_for("the note prompt", Duration::from_secs(5), |s| s.contains("note>"));
    alice.send(&["-l", "mailed the VM owners"]);
    alice.send(&["Enter"]);
    alice.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("note #2 recorded")
    });
    bob.wait_for("alice's note, live", Duration::from_secs(5), |s| {
        s.contains("note: mailed the VM owners")
    });
    for cockpit in [&alice, &bob] {
        cockpit.send(&["q"]);
    }
    let incidents = std::path::Path::new(&data).join("vigie/incidents");
    let dir = std::fs::read_dir(incidents).unwrap().next().unwrap().unwrap().path();
    let timeline = std::fs::read_to_string(dir.join("timeline.jsonl")).unwrap();
    assert!(timeline.contains("\"kind\":\"note\"") && timeline.contains("mailed the VM owners"));
}

/// Runs a vigie command (another responder, a script) in the cockpits'
/// environment; it must succeed.
fn vigie_cli(env: &[(&str, &str)], args: &[&str]) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "vigie {args:?} failed");
}
