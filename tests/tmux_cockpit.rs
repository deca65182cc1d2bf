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
    // Its number depends on what the fleet recorded meanwhile (this
    // machine's own alerts, on a busy machine).
    alice.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("note #") && s.contains(" recorded")
    });
    bob.wait_for("alice's note, live", Duration::from_secs(5), |s| {
        s.contains("note: mailed the VM owners")
    });
    for cockpit in [&alice, &bob] {
        cockpit.send(&["q"]);
    }
    let timeline = common::incident_timeline(std::path::Path::new(&data));
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

/// A playbook whose first step prints hostile escape sequences from the lab
/// host and whose second is a checklist done by hand.
const LAB_PLAYBOOK: &str = r#"+++
id = "lab-check"
title = "Check a lab host"

[inputs.host]
kind = "host"
description = "the lab host"
+++

# Check a lab host

## Say hello

```sh {on=host}
echo "hello from $(id -un)"
printf 'colour \033[31mRED\033[0m title \033]0;pwned\007 bidi \342\200\256evil cursor \033[2J\033[H moved\n'
```

```expect
hello from
```

## Look by hand

- [ ] the host answers
"#;

/// A home for cockpits on the sshd lab: vigie.toml listing the lab hosts,
/// `playbook` in its playbooks_dir, and an incident declared.
struct LabCockpit {
    lab: common::lab::SshLab,
    home: tempfile::TempDir,
    data: String,
    config: String,
}

impl LabCockpit {
    fn new(hosts: usize, playbook_file: &str, playbook: &str) -> LabCockpit {
        let lab = common::lab::SshLab::start(hosts);
        let home = tempfile::tempdir().unwrap();
        let playbooks = home.path().join("playbooks");
        std::fs::create_dir(&playbooks).unwrap();
        std::fs::write(playbooks.join(playbook_file), playbook).unwrap();
        let config = home.path().join("vigie.toml");
        std::fs::write(
            &config,
            lab.vigie_toml(&lab.known_hosts).replacen(
                "[settings]\n",
                &format!("[settings]\nplaybooks_dir = \"{}\"\n", playbooks.display()),
                1,
            ),
        )
        .unwrap();
        let cockpit = LabCockpit {
            data: format!("{}/data", home.path().display()),
            config: config.display().to_string(),
            lab,
            home,
        };
        vigie_cli(&cockpit.env(), &["incident", "new", "lab check", "--severity", "minor"]);
        cockpit
    }

    fn env(&self) -> Vec<(&str, &str)> {
        let home = self.home.path().to_str().unwrap();
        vec![
            ("HOME", home),
            ("XDG_DATA_HOME", self.data.as_str()),
            ("XDG_CONFIG_HOME", home),
            ("VIGIE_CONFIG", self.config.as_str()),
            ("SSH_AUTH_SOCK", ""),
            ("PS1", "$ "),
        ]
    }

    /// vigie started in `tmux`, its lab hosts live.
    fn start_vigie(&self, tmux: &TmuxSession) {
        tmux.type_line(&format!("'{}'", env!("CARGO_BIN_EXE_vigie")));
        tmux.wait_for("the lab host, live", Duration::from_secs(20), |s| {
            s.lines().any(|l| l.contains("lab1") && l.contains("load "))
        });
    }

    /// `:run ID`, the first host picked in the form, then Enter: the start popup.
    fn open_playbook(&self, tmux: &TmuxSession, id: &str) {
        tmux.send(&[":"]);
        tmux.send(&["-l", &format!("run {id}")]);
        tmux.send(&["Enter"]);
        tmux.wait_for("the inputs form", Duration::from_secs(5), |s| {
            s.contains(&format!("{id} — "))
        });
        tmux.send(&["Right"]);
        tmux.wait_for("lab1 picked", Duration::from_secs(5), |s| {
            s.contains("host          lab1")
        });
        tmux.send(&["Enter"]);
        tmux.wait_for("the start popup", Duration::from_secs(5), |s| s.contains("[>Start<]"));
    }

    /// Enter on a step waiting for the responder, then Run, which has the
    /// focus in its popup. Still on the step before (its output stays on
    /// screen until the responder goes on), the first Enter goes on and
    /// asks at once.
    fn run_step(&self, tmux: &TmuxSession, step: usize) {
        tmux.wait_for("the step waiting", Duration::from_secs(10), |s| {
            s.contains(&format!("step {step} waits for you")) || s.contains(&format!("step {step} “"))
        });
        tmux.send(&["Enter"]);
        tmux.wait_for("the step popup", Duration::from_secs(5), |s| {
            s.contains("run this step?") && s.contains("[>Run<]")
        });
        tmux.send(&["Enter"]);
    }

    fn quit(&self, tmux: &TmuxSession) {
        tmux.send(&["q"]);
        tmux.wait_for("the shell prompt", Duration::from_secs(10), |s| {
            s.trim_end().ends_with('$')
        });
    }

    fn timeline(&self) -> String {
        common::incident_timeline(std::path::Path::new(&self.data))
    }
}

#[test]
fn a_playbook_step_runs_on_a_lab_host_from_the_cockpit_and_its_output_is_inert() {
    let cockpit = LabCockpit::new(1, "lab-check.md", LAB_PLAYBOOK);
    let tmux = TmuxSession::start(120, 40, cockpit.home.path(), &cockpit.env());
    let title_before = tmux.format("#{pane_title}");
    cockpit.start_vigie(&tmux);
    // Open the playbook from the palette; pick the host in its form; Start
    // has the focus in the start popup.
    cockpit.open_playbook(&tmux, "lab-check");
    tmux.send(&["Enter"]);
    cockpit.run_step(&tmux, 1);
    // The run is at step 2; step 1's output stays on screen until the
    // responder goes on. ("hello from" alone is also in the timeline
    // pane's `sent:` line.)
    let screen = tmux.wait_for("step 1's output", Duration::from_secs(20), |s| {
        s.contains("colour RED") && s.contains("exit 0") && s.contains("Enter: on to step 2")
    });
    // The host's escape sequences are shown inert: text kept, effects gone.
    // (The script above shows `pwned` as the playbook's own text; the
    // output line must not, and the bidi override is a visible �.)
    assert!(
        screen.contains("colour RED title  bidi \u{fffd}evil cursor  moved"),
        "{screen}"
    );
    assert!(screen.contains("exit 0"), "{screen}");
    assert_eq!(
        tmux.format("#{pane_title}"),
        title_before,
        "the host retitled the terminal"
    );

    // Enter goes on; then Enter before the box is ticked is refused; space ticks it.
    tmux.send(&["Enter"]);
    tmux.wait_for("the manual step", Duration::from_secs(5), |s| {
        s.contains("step 2: tick its boxes")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the unticked warning", Duration::from_secs(5), |s| {
        s.contains("not ticked")
    });
    tmux.send(&["Space"]);
    tmux.wait_for("the ticked box", Duration::from_secs(5), |s| {
        s.contains("[x] the host answers")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the run completed", Duration::from_secs(10), |s| {
        s.contains("✔ completed")
    });

    tmux.send(&["n"]);
    tmux.wait_for("the note prompt", Duration::from_secs(5), |s| s.contains("note>"));
    tmux.send(&["-l", "lab1 looks fine"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the note recorded", Duration::from_secs(5), |s| s.contains("note #"));
    // The post-mortem, written from the cockpit.
    tmux.send(&[":"]);
    tmux.send(&["-l", "report"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the report written", Duration::from_secs(10), |s| {
        s.contains("report written")
    });
    cockpit.quit(&tmux);

    let dir = common::only_incident_dir(std::path::Path::new(&cockpit.data));
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(markdown.starts_with("# Post-mortem: lab check"), "{markdown}");
    assert!(markdown.contains("lab1 looks fine"), "{markdown}");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("hello from"), "{page}");
    let timeline = cockpit.timeline();
    for needle in [
        "\"kind\":\"playbook.started\"",
        "\"kind\":\"command.finished\"",
        "hello from",
        "\"kind\":\"checklist.ticked\"",
        "\"outcome\":\"completed\"",
        "lab1 looks fine",
    ] {
        assert!(
            timeline.contains(needle),
            "{needle} missing from the timeline:\n{timeline}"
        );
    }
    assert!(
        !timeline.contains("\\u001b"),
        "raw escape sequences reached the timeline"
    );
}

/// A step whose first command fails and whose last succeeds.
const FAILING_PLAYBOOK: &str = r#"+++
id = "lab-fails"
title = "A step failing in the middle"

[inputs.host]
kind = "host"
+++

# A step failing in the middle

## Look for what is not there

```sh {on=host}
echo "before the failure"
test -e /nonexistent/vigie-lab
echo "after the failure"
```

## Never reached

```sh {on=host}
echo "second step ran"
```
"#;

#[test]
fn a_step_failing_in_the_middle_is_failed_in_the_cockpit_and_an_abort_ends_the_run() {
    let cockpit = LabCockpit::new(1, "lab-fails.md", FAILING_PLAYBOOK);
    let tmux = TmuxSession::start(120, 40, cockpit.home.path(), &cockpit.env());
    cockpit.start_vigie(&tmux);
    cockpit.open_playbook(&tmux, "lab-fails");
    tmux.send(&["Enter"]);
    cockpit.run_step(&tmux, 1);
    let screen = tmux.wait_for("the step failed", Duration::from_secs(20), |s| {
        s.contains("step 1/2 FAILED, waiting for")
    });
    assert!(screen.contains("exit 1, last output: before the failure"), "{screen}");
    assert!(screen.contains("✖ 1. Look for what is not there"), "{screen}");
    assert!(screen.contains("before the failure"), "{screen}");
    // (The script itself, shown with `$ `, says it too; the output must not.)
    assert!(
        !screen.contains("│  after the failure"),
        "errexit stopped the script: {screen}"
    );

    tmux.send(&["a"]);
    tmux.wait_for("the abort prompt", Duration::from_secs(5), |s| {
        s.contains("why abort the run>")
    });
    tmux.send(&["-l", "wrong host"]);
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("the run aborted", Duration::from_secs(10), |s| {
        s.contains("✖ lab-fails · aborted")
    });
    assert!(
        !screen.contains("▶ lab-fails"),
        "the header no longer shows a run going on: {screen}"
    );
    assert!(screen.contains("✖ aborted: wrong host"), "the run says why: {screen}");
    cockpit.quit(&tmux);
    let timeline = cockpit.timeline();
    assert!(timeline.contains("\"reason\":\"wrong host\""), "{timeline}");
    assert!(timeline.contains("\"kind\":\"step.failed\""), "{timeline}");
    assert!(!timeline.contains("second step ran"), "{timeline}");
}

/// A first step that runs long, then a second one.
const SLOW_PLAYBOOK: &str = r#"+++
id = "lab-slow"
title = "A slow step on a lab host"

[inputs.host]
kind = "host"
+++

# A slow step

## Wait

```sh {on=host}
sleep 8644
```

## Say done

```sh {on=host}
echo "second step ran"
```
"#;

#[test]
fn a_run_left_when_the_cockpit_quit_is_taken_up_by_the_next_cockpit() {
    let cockpit = LabCockpit::new(1, "lab-slow.md", SLOW_PLAYBOOK);
    let tmux = TmuxSession::start(120, 40, cockpit.home.path(), &cockpit.env());
    cockpit.start_vigie(&tmux);
    cockpit.open_playbook(&tmux, "lab-slow");
    tmux.send(&["Enter"]);
    cockpit.run_step(&tmux, 1);
    tmux.wait_for("the slow step running", Duration::from_secs(10), |s| {
        s.contains("x cancels the command")
    });
    // Quitting during a run asks first (Cancel focused), then leaves it as it is.
    tmux.send(&["q"]);
    tmux.wait_for("the quit popup", Duration::from_secs(5), |s| {
        s.contains("A playbook run is not finished")
    });
    tmux.send(&["Tab"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the shell prompt", Duration::from_secs(10), |s| {
        s.trim_end().ends_with('$')
    });
    let _ = cockpit.lab.ssh(0, "pkill -f 'sleep 864[4]' || true");

    // The next cockpit offers the run again, its input back.
    tmux.type_line("clear");
    cockpit.start_vigie(&tmux);
    tmux.send(&[":"]);
    tmux.send(&["-l", "run lab-slow"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the stopped run offered", Duration::from_secs(5), |s| {
        s.contains("an earlier run stopped in the middle") && s.contains("host          lab1")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the take-up popup", Duration::from_secs(5), |s| {
        s.contains("[>Take it up<]")
    });
    tmux.send(&["Enter"]);
    // Quitting stopped the command and recorded it: the step comes back
    // failed, with why, for the responder to decide.
    tmux.wait_for("the failed step", Duration::from_secs(10), |s| {
        s.contains("step 1 FAILED") && s.contains("cancel")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the recovery popup", Duration::from_secs(5), |s| s.contains("Skip…"));
    tmux.send(&["Tab"]);
    tmux.send(&["Tab"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the reason prompt", Duration::from_secs(5), |s| {
        s.contains("why skip this step>")
    });
    tmux.send(&["-l", "the wait was over, checked by hand"]);
    tmux.send(&["Enter"]);
    cockpit.run_step(&tmux, 2);
    tmux.wait_for("the run completed", Duration::from_secs(10), |s| {
        s.contains("✔ completed")
    });
    cockpit.quit(&tmux);

    let timeline = cockpit.timeline();
    for needle in [
        "\"kind\":\"playbook.resumed\"",
        "\"kind\":\"command.finished\"",
        "the wait was over, checked by hand",
        "second step ran",
        "\"outcome\":\"completed\"",
    ] {
        assert!(
            timeline.contains(needle),
            "{needle} missing from the timeline:\n{timeline}"
        );
    }
    assert_eq!(
        timeline.matches("\"kind\":\"playbook.started\"").count(),
        1,
        "taken up, not started anew"
    );
}

const HELLO_PLAYBOOK: &str = r#"+++
id = "lab-hello"
title = "Say hello on a lab host"

[inputs.host]
kind = "host"
description = "the lab host"
+++

# Say hello on a lab host

## Hello

```sh {on=host}
echo "hello from the lab"
```
"#;

#[test]
fn vigie_run_in_a_terminal_asks_for_a_key_passphrase_without_echo() {
    let lab = common::lab::SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    // The lab key, passphrase-protected, and no agent.
    let locked = home.path().join("id_locked");
    std::fs::copy(&lab.client_key, &locked).unwrap();
    common::run(
        "ssh-keygen",
        &["-q", "-p", "-N", "s3cret words", "-f", locked.to_str().unwrap()],
    );
    let config = home.path().join("vigie.toml");
    let text = lab
        .vigie_toml(&lab.known_hosts)
        .replace(&lab.client_key.display().to_string(), &locked.display().to_string());
    std::fs::write(&config, text).unwrap();
    let playbook = home.path().join("hello.md");
    std::fs::write(&playbook, HELLO_PLAYBOOK).unwrap();
    let home_text = home.path().display().to_string();
    let config_text = config.display().to_string();
    let data = home.path().join(".local/share").display().to_string();
    let env = [
        ("HOME", home_text.as_str()),
        ("XDG_DATA_HOME", data.as_str()),
        ("XDG_CONFIG_HOME", home_text.as_str()),
        ("VIGIE_CONFIG", config_text.as_str()),
        ("SSH_AUTH_SOCK", ""),
        ("USER", "alice"),
    ];
    vigie_cli(&env, &["incident", "new", "lab check", "--severity", "minor"]);

    let tmux = TmuxSession::start(120, 30, home.path(), &env);
    tmux.type_line(&format!(
        "{} run {} --input host=lab1 --yes",
        env!("CARGO_BIN_EXE_vigie"),
        playbook.display()
    ));
    tmux.wait_for("the passphrase prompt", Duration::from_secs(20), |s| {
        s.contains("Enter passphrase for key") && s.contains("id_locked")
    });
    tmux.type_line("s3cret words");
    let screen = tmux.wait_for("the run to complete", Duration::from_secs(20), |s| {
        s.contains("completed")
    });
    assert!(screen.contains("hello from the lab"), "{screen}");
    assert!(!screen.contains("s3cret"), "the passphrase was echoed:\n{screen}");
    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    assert!(!timeline.contains("s3cret"), "the passphrase reached the timeline");
}

#[test]
fn vigie_run_in_a_terminal_asks_for_a_secret_input_without_echo() {
    let home = tempfile::tempdir().unwrap();
    let playbook = home.path().join("secret.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"asks\"\ntitle = \"Asks\"\n[inputs.pw]\nkind = \"secret\"\ndescription = \"the replica's password\"\n+++\n\n## Use it\n\n```sh {on=local}\necho \"length ${#pw}, value $pw\"\n```\n",
    )
    .unwrap();
    let home_text = home.path().display().to_string();
    let data = home.path().join(".local/share").display().to_string();
    let env = [
        ("HOME", home_text.as_str()),
        ("XDG_DATA_HOME", data.as_str()),
        ("XDG_CONFIG_HOME", home_text.as_str()),
        ("SSH_AUTH_SOCK", ""),
        ("USER", "alice"),
    ];
    vigie_cli(&env, &["incident", "new", "secret check", "--severity", "minor"]);
    let tmux = TmuxSession::start(120, 30, home.path(), &env);
    tmux.type_line(&format!(
        "{} run {} --yes",
        env!("CARGO_BIN_EXE_vigie"),
        playbook.display()
    ));
    tmux.wait_for("the secret prompt", Duration::from_secs(20), |s| {
        s.contains("pw (the replica's password, not shown):")
    });
    tmux.type_line("Typed-Secret-9");
    let screen = tmux.wait_for("the run to complete", Duration::from_secs(20), |s| {
        s.contains("completed")
    });
    assert!(screen.contains("length 14, value [redacted]"), "{screen}");
    assert!(!screen.contains("Typed-Secret"), "the secret was shown:\n{screen}");
    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    assert!(!timeline.contains("Typed-Secret"), "the secret reached the timeline");
}

#[test]
fn a_note_edited_with_the_shell_keys_is_recorded_as_edited() {
    let cockpit = LabCockpit::new(1, "lab-check.md", LAB_PLAYBOOK);
    let tmux = TmuxSession::start(120, 40, cockpit.home.path(), &cockpit.env());
    cockpit.start_vigie(&tmux);
    tmux.send(&["n"]);
    tmux.wait_for("the note prompt", Duration::from_secs(5), |s| s.contains("note>"));
    tmux.send(&["-l", "garbage typed first"]);
    tmux.send(&["C-u"]);
    tmux.send(&["-l", "lab1 fan noisy"]);
    tmux.send(&["C-w"]);
    tmux.send(&["-l", "loud"]);
    tmux.send(&["Home"]);
    tmux.send(&["-l", "the "]);
    tmux.send(&["End"]);
    tmux.send(&["-l", " again"]);
    tmux.wait_for("the edited note", Duration::from_secs(5), |s| {
        s.contains("note> the lab1 fan loud again")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the note recorded", Duration::from_secs(5), |s| s.contains("note #"));
    cockpit.quit(&tmux);
    let timeline = cockpit.timeline();
    assert!(timeline.contains("\"text\":\"the lab1 fan loud again\""), "{timeline}");
    assert!(!timeline.contains("garbage"), "{timeline}");
}

#[test]
fn i_declares_an_incident_for_the_dead_host_with_the_severity_chosen() {
    let mut cockpit = LabCockpit::new(1, "lab-check.md", LAB_PLAYBOOK);
    let tmux = TmuxSession::start(120, 40, cockpit.home.path(), &cockpit.env());
    cockpit.start_vigie(&tmux);
    cockpit.lab.kill_host(0);
    tmux.wait_for("lab1 down", Duration::from_secs(30), |s| s.contains("unreachable"));
    tmux.send(&["i"]);
    tmux.wait_for("the drafted title", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.contains("new incident>") && l.contains("lab1"))
    });
    tmux.send(&["C-u"]);
    tmux.send(&["-l", "lab1 is down"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the severity picker", Duration::from_secs(5), |s| {
        s.contains("severity of the new incident")
    });
    tmux.send(&["Down"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("the new incident in the header", Duration::from_secs(10), |s| {
        s.contains("INC lab1 is down ─ CRITICAL")
    });
    cockpit.quit(&tmux);
}
