//! Secret inputs through the real binary: never on vigie's command line,
//! never in an error, never on the terminal, and never able to corrupt the
//! events they are masked in.

mod common;

use common::lab::vigie_command;
use std::path::Path;
use std::process::Stdio;

/// A playbook with a secret input whose steps print it, compare it, and
/// exit 0: the timeline must keep every event readable.
const PLAYBOOK: &str = r#"+++
id = "uses-a-secret"
title = "Uses a secret"

[inputs.pw]
kind = "secret"
description = "the database password"
pattern = '^[^ ]+$'
+++

## Print it by mistake

```sh {on=local}
echo "the password is $pw"
echo "exit code follows"
```

## Compare it

```sh {on=local}
[ -n "$pw" ] && echo "length ${#pw}"
```
"#;

/// A home with the playbook and a declared incident, on this machine only.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("secret.md"), PLAYBOOK).unwrap();
    let (code, _, stderr) = run(home.path(), &["incident", "new", "secrets"], &[]);
    assert_eq!(code, 0, "{stderr}");
    home
}

fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = vigie_command(home)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_secret_on_the_command_line_is_refused_with_the_ways_to_give_it() {
    let home = home();
    let (code, stdout, stderr) = run(
        home.path(),
        &["run", "secret.md", "--input", "pw=Hunter2-on-argv", "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("pw is a secret"), "{stderr}");
    for way in ["hidden prompt", "VIGIE_SECRET_PW", "--input-file"] {
        assert!(stderr.contains(way), "{way} in {stderr}");
    }
    assert!(!stderr.contains("Hunter2-on-argv"), "{stderr}");
    // Without a terminal and without a value, the same pointers.
    let (code, _, stderr) = run(home.path(), &["run", "secret.md", "--yes"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("VIGIE_SECRET_PW") && stderr.contains("--input-file"),
        "{stderr}"
    );
}

#[test]
fn a_secret_that_fails_its_pattern_is_not_printed() {
    let home = home();
    let (code, _, stderr) = run(
        home.path(),
        &["run", "secret.md", "--yes"],
        &[("VIGIE_SECRET_PW", "Bad$ecret Value")],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("pw: [redacted] does not match"), "{stderr}");
    assert!(!stderr.contains("Bad$ecret"), "{stderr}");
}

#[test]
fn an_input_file_others_can_read_is_refused_and_a_private_one_works() {
    use std::os::unix::fs::PermissionsExt;
    let home = home();
    let file = home.path().join("inputs");
    std::fs::write(&file, "# the replica's password\npw=From-a-file-42\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file_arg = file.to_str().unwrap();
    let (code, _, stderr) = run(
        home.path(),
        &["run", "secret.md", "--input-file", file_arg, "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("lets others read it") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stdout, stderr) = run(
        home.path(),
        &["run", "secret.md", "--input-file", file_arg, "--yes"],
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("length 14"), "the script had the value: {stdout}");
    // What the step printed is masked on the terminal as in the timeline.
    assert!(stdout.contains("the password is [redacted]"), "{stdout}");
    assert!(!stdout.contains("From-a-file-42"), "{stdout}");
    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    assert!(!timeline.contains("From-a-file-42"), "{timeline}");
}

#[test]
fn short_common_or_json_looking_secrets_leave_every_event_whole() {
    for secret in ["x", "e", "exit", "\"exit\":0", "0", "run", "{"] {
        let home = home();
        let (code, stdout, stderr) = run(
            home.path(),
            &["run", "secret.md", "--yes"],
            &[("VIGIE_SECRET_PW", secret)],
        );
        assert_eq!(code, 0, "{secret}: {stdout}{stderr}");
        let (code, shown, stderr) = run(home.path(), &["timeline", "show"], &[]);
        assert_eq!(code, 0, "{secret}: {stderr}");
        assert_eq!(
            shown.matches("command finished: exit 0").count(),
            2,
            "{secret}: every command.finished reads back whole:\n{shown}"
        );
        let (code, _, stderr) = run(home.path(), &["timeline", "verify"], &[]);
        assert_eq!(code, 0, "{secret}: {stderr}");
        let (code, json, stderr) = run(home.path(), &["report", "--format", "json"], &[]);
        assert_eq!(code, 0, "{secret}: {stderr}");
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let exits: Vec<&serde_json::Value> = report["commands"]
            .as_array()
            .unwrap_or_else(|| panic!("{secret}: {report}"))
            .iter()
            .map(|c| &c["exit"])
            .collect();
        assert_eq!(
            exits,
            [&serde_json::json!(0), &serde_json::json!(0)],
            "{secret}: {report}"
        );
    }
}
