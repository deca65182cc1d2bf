//! `vigie check` and `vigie init` through the real binary.

use std::path::Path;
use std::process::Command;

fn vigie(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGIE_CONFIG")
        .env("XDG_CONFIG_HOME", dir.join("no-xdg"))
        .output()
        .expect("run vigie");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_fixture(name: &str) -> (i32, String) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let (code, _, stderr) = vigie(&["--config", name, "check"], &fixtures);
    (code, stderr)
}

#[test]
fn broken_configs_name_file_line_and_column() {
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown-key.toml",
            &[
                "unknown-key.toml:3:1: error: unknown key `pol_timeout` in [settings]",
                "unknown-key.toml:7:1: error: unknown key `adress` in host #1",
                "hint: did you mean `address`?",
            ],
        ),
        (
            "duplicate-host.toml",
            &[
                "duplicate-host.toml:9:8: error: duplicate host \"miramelle\"",
                "already defined on line 2",
            ],
        ),
        (
            "bad-address.toml",
            &[
                "bad-address.toml:3:11: error: bad address \"10.0.0.300\"",
                "bad-address.toml:7:11: error: bad address \"-oProxyCommand=touch /tmp/x\"",
            ],
        ),
        (
            "unknown-group.toml",
            &[
                "unknown-group.toml:8:29: error: unknown host \"locust\" in group \"hypervisors\"",
                "did you mean \"locuste\"?",
            ],
        ),
        ("syntax-error.toml", &["syntax-error.toml:2:18: error:"]),
        (
            "bad-timezone.toml",
            &[
                "bad-timezone.toml:2:12: error: unknown time zone \"Europe/Pariss\"",
                "Europe/Paris",
            ],
        ),
        (
            "bad-type.toml",
            &["bad-type.toml:2:17: error: invalid duration \"five seconds\""],
        ),
        ("bad-kind.toml", &["bad-kind.toml:3:8: error: unknown variant `vmware`"]),
        (
            "huge-duration.toml",
            &["huge-duration.toml:3:19: error: \"18446744073709551615s\" is longer than a year"],
        ),
        (
            "bad-keys.toml",
            &[
                "bad-keys.toml:5:8: error: the key q is bound to both `note` and `quit`",
                "bad-keys.toml:6:16: error: unknown action `run_sugested` in [keys]",
                "did you mean `run_suggested`?",
                "bad-keys.toml:7:12: error: cannot read the key \"hyper-d\"",
                "bad-keys.toml:8:8: error: Ctrl-c always quits; it cannot be bound",
            ],
        ),
    ];
    for (file, expected) in cases {
        let (code, stderr) = check_fixture(file);
        assert_eq!(code, 1, "{file} should fail:\n{stderr}");
        for line in *expected {
            assert!(stderr.contains(line), "{file}: expected {line:?} in:\n{stderr}");
        }
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = vigie(&["--config", "nope.toml", "check"], dir.path());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("nope.toml:1:1: error: cannot read the config"),
        "{stderr}"
    );
}

#[test]
fn init_writes_an_example_that_checks_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = vigie(&["init"], dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("wrote vigie.toml"));
    // ./vigie.toml is found without --config.
    let (code, stdout, stderr) = vigie(&["check"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("vigie.toml: ok (6 hosts, 1 groups)"), "{stdout}");

    std::fs::write(dir.path().join("vigie.toml"), "# mine\n").unwrap();
    let (code, _, stderr) = vigie(&["init"], dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("vigie.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn without_any_config_the_embedded_default_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = vigie(&["check"], dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("built-in default"), "{stdout}");
}

#[test]
fn every_command_has_its_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "init", "check", "status", "trust", "incident", "note", "run", "timeline", "report",
    ] {
        let (code, stdout, _) = vigie(&[command, "--help"], dir.path());
        assert_eq!(code, 0, "{command} --help");
        assert!(stdout.contains("Usage"), "{command}");
    }
}

#[test]
fn check_names_every_playbook_mistake_with_its_position() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/playbooks");
    let (code, stdout, stderr) = vigie(&["check", "good.md"], &fixtures);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("good.md: ok (3 steps)"), "{stdout}");
    let (code, _, stderr) = vigie(&["check", "good.md", "broken.md"], &fixtures);
    assert_eq!(code, 1);
    for expected in [
        "broken.md:11:8: error: unknown target \"bd\"",
        "broken.md:11:14: error: unknown risk \"extreme\"",
        "broken.md:22:1: error: invalid regex",
    ] {
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_step_timeout_of_zero_or_beyond_a_year_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("bounds.md");
    std::fs::write(
        &playbook,
        "+++\nid = \"bounds\"\ntitle = \"Bounds\"\n+++\n\n## Zero\n\n```sh {on=local timeout=0s}\ntrue\n```\n\n## Huge\n\n```sh {on=local timeout=18446744073709551615s}\ntrue\n```\n",
    )
    .unwrap();
    let (code, _, stderr) = vigie(&["check", playbook.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("bounds.md:8:") && stderr.contains("a duration of zero"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bounds.md:14:") && stderr.contains("longer than a year"),
        "{stderr}"
    );
    // And `vigie run` refuses it the same way, before anything runs (no panic).
    let (code, _, stderr) = vigie(&["run", playbook.to_str().unwrap(), "--yes"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("longer than a year"), "{stderr}");
}

#[test]
fn check_without_paths_checks_the_playbooks_dir() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    std::fs::write(
        playbooks.join("broken.md"),
        "+++\nid = \"broken\"\ntitle = \"Broken\"\n+++\n\n## One\n\n```sh {on=nowhere}\ntrue\n```\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vigie.toml"),
        format!(
            "[settings]\nplaybooks_dir = \"{}\"\n\n[[hosts]]\nname = \"local\"\naddress = \"localhost\"\ntransport = \"local\"\n",
            playbooks.display()
        ),
    )
    .unwrap();
    let (code, _, stderr) = vigie(&["--config", "vigie.toml", "check"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("broken.md:8:") && stderr.contains("unknown target \"nowhere\""),
        "{stderr}"
    );
}
