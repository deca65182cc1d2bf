//! Untrusted text through the real binary. Secret inputs: never on vigie's
//! command line, never in an error, never on the terminal, and never able to
//! corrupt the events they are masked in. Text from the command line and
//! from playbook files: never an escape sequence on the terminal.

mod common;

use std::path::Path;

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
    common::lab::vigie_with_env(home, args, env)
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
        stderr.contains("lets group or others at it") && stderr.contains("chmod 600"),
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

#[test]
fn escape_sequences_from_argv_and_playbook_files_never_reach_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let hostile = "+++\nid = \"hostile\"\ntitle = \"Evil \\u001b]0;pwned\\u0007 title \\u202e\"\n[inputs.word]\nkind = \"string\"\ndescription = \"say \\u001b[2J\"\n+++\n\n## Step \u{1b}[31mred\u{1b}[0m\n\n```sh {on=local}\necho \"$word\"\n```\n\n## Check\n\n- [ ] box \u{1b}[5mblink\n";
    std::fs::write(home.path().join("hostile.md"), hostile).unwrap();
    let (code, _, stderr) = run(
        home.path(),
        &["incident", "new", "title \u{1b}[31mred \u{202e}reversed"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(home.path(), &["note", "the log says \u{202e}txet desrever"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let runs = [
        run(
            home.path(),
            &["run", "hostile.md", "--input", "word=\u{1b}[2Jcleared", "--dry-run"],
            &[],
        ),
        run(
            home.path(),
            &["run", "hostile.md", "--input", "word=\u{1b}[2Jcleared", "--yes"],
            &[],
        ),
        run(home.path(), &["check", "hostile.md", "no-such-\u{1b}[31m.md"], &[]),
        run(home.path(), &["timeline", "show"], &[]),
        run(home.path(), &["report"], &[]),
    ];
    for (_, stdout, stderr) in &runs {
        for text in [stdout, stderr] {
            assert!(
                !text.contains('\u{1b}'),
                "an escape sequence reached the terminal: {text:?}"
            );
            assert!(
                !text.contains('\u{202e}'),
                "a bidi override reached the terminal: {text:?}"
            );
        }
    }
    assert!(runs[0].1.contains("Step red"), "{}", runs[0].1);
    let (code, json, _) = run(home.path(), &["report", "--format", "json"], &[]);
    assert_eq!(code, 0);
    assert!(!json.contains('\u{202e}'), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(report.to_string().contains("title"), "still valid JSON");
}

#[test]
fn a_secret_from_the_environment_is_not_inherited_by_the_steps() {
    let home = home();
    std::fs::write(
        home.path().join("env.md"),
        "+++\nid = \"env\"\ntitle = \"Env\"\n[inputs.pw]\nkind = \"secret\"\n+++\n\n## Look at the environment\n\n```sh {on=local}\necho \"inherited: $(env | grep -c '^VIGIE_SECRET_' || true)\"\n```\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run(
        home.path(),
        &["run", "env.md", "--yes"],
        &[("VIGIE_SECRET_PW", "Env-Secret-5")],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("inherited: 0"), "{stdout}");
}

#[test]
fn a_run_whose_reader_goes_away_goes_on_without_a_panic() {
    let home = home();
    let vigie = env!("CARGO_BIN_EXE_vigie");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("VIGIE_SECRET_PW=abc '{vigie}' run secret.md --yes | head -c 1"))
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .current_dir(home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    assert!(
        timeline.contains("\"outcome\":\"completed\""),
        "the run went on to its end: {timeline}"
    );
}
