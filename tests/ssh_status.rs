//! `vigie status` and `vigie trust` through the real binary against the sshd lab.

mod common;

use common::lab::{vigie, SshLab};
use serde_json::Value;

fn status_json(home: &std::path::Path, config: &std::path::Path) -> (i32, Value, String) {
    let (code, stdout, stderr) = vigie(home, &["--config", config.to_str().unwrap(), "status", "--json"], "");
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stdout}\n{stderr}"));
    (code, json, stderr)
}

fn host<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap()
}

#[test]
fn three_lab_hosts_report_live_health_in_the_documented_schema() {
    let lab = SshLab::start(3);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&lab.known_hosts)).unwrap();

    let (code, json, stderr) = status_json(home.path(), &config);
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{json}");
    for host in hosts {
        assert_eq!(host["reachable"], true, "{host}\n{stderr}");
        assert!(host["error"].is_null());
        for key in [
            "name",
            "kind",
            "address",
            "checked_at",
            "round_trip_ms",
            "vms",
            "datastores",
            "replication",
            "lockouts",
            "alerts",
        ] {
            assert!(host.get(key).is_some(), "missing {key}: {host}");
        }
        let health = &host["health"];
        assert_eq!(health["load"].as_array().unwrap().len(), 3);
        assert!(health["cpus"].as_u64().unwrap() >= 1);
        assert!(health["memory"]["total_kib"].as_u64().unwrap() > 0);
        assert!(health["memory"]["used_percent"].is_number());
        let fs = &health["filesystems"][0];
        for key in [
            "device",
            "mount",
            "size_kib",
            "used_kib",
            "available_kib",
            "used_percent",
        ] {
            assert!(fs.get(key).is_some(), "missing filesystem.{key}: {fs}");
        }
        for alert in host["alerts"].as_array().unwrap() {
            assert!(["info", "warning", "critical"].contains(&alert["severity"].as_str().unwrap()));
            assert!(alert["code"].is_string() && alert["message"].is_string());
        }
    }
    let worst = hosts
        .iter()
        .flat_map(|h| h["alerts"].as_array().unwrap())
        .map(|a| a["severity"].as_str().unwrap())
        .max_by_key(|s| ["info", "warning", "critical"].iter().position(|x| x == s));
    let expected = match worst {
        Some("critical") => 2,
        Some("warning") => 1,
        _ => 0,
    };
    assert_eq!(code, expected, "exit code follows the worst alert");

    // The table names every host.
    let (_, table, _) = vigie(home.path(), &["--config", config.to_str().unwrap(), "status"], "");
    for name in ["lab1", "lab2", "lab3"] {
        assert!(table.contains(name), "{table}");
    }
}

#[test]
fn an_unknown_host_is_refused_until_trusted() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let pins = home.path().join("pins");
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&pins)).unwrap();
    let config_arg = config.to_str().unwrap();

    let (code, json, _) = status_json(home.path(), &config);
    let lab1 = host(&json, "lab1");
    assert_eq!(lab1["reachable"], false);
    assert_eq!(lab1["error_kind"], "host_key_unknown");
    assert!(lab1["error"].as_str().unwrap().contains("SHA256:"), "{lab1}");
    assert!(lab1["error"].as_str().unwrap().contains("vigie trust lab1"), "{lab1}");
    assert_eq!(lab1["alerts"][0]["code"], "host_key_unknown");
    assert_eq!(code, 1);

    // Declining pins nothing.
    let (code, stdout, _) = vigie(home.path(), &["--config", config_arg, "trust", "lab1"], "no\n");
    assert_eq!(code, 1);
    assert!(stdout.contains("ssh-ed25519 key"), "{stdout}");
    assert!(!pins.exists());

    // The fingerprint shown is the one ssh-keygen computes for the host key.
    let expected = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f"])
        .arg(lab.hosts[0].dir.join("ssh_host_ed25519_key.pub"))
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&expected.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let (code, stdout, stderr) = vigie(home.path(), &["--config", config_arg, "trust", "lab1"], "yes\n");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&expected), "{stdout} should show {expected}");
    let pinned = std::fs::read_to_string(&pins).unwrap();
    assert!(
        pinned.starts_with(&format!(
            "[{}]:{} ssh-ed25519 ",
            lab.hosts[0].address, lab.hosts[0].port
        )),
        "{pinned}"
    );

    let (code, json, _) = status_json(home.path(), &config);
    assert_eq!(host(&json, "lab1")["reachable"], true, "{json}");
    assert!(code <= 1);
    let (code, stdout, _) = vigie(home.path(), &["--config", config_arg, "trust", "lab1"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("already trusted"));
}

#[test]
fn a_changed_host_key_is_refused_with_a_critical_alert() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let pins = home.path().join("pins");
    // The key pinned for lab1 is another machine's.
    let other = home.path().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let other_public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_public: Vec<&str> = other_public.split_whitespace().take(2).collect();
    let line = format!(
        "[{}]:{} {}\n",
        lab.hosts[0].address,
        lab.hosts[0].port,
        other_public.join(" ")
    );
    std::fs::write(&pins, line).unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&pins)).unwrap();

    let (code, json, _) = status_json(home.path(), &config);
    let lab1 = host(&json, "lab1");
    assert_eq!(lab1["reachable"], false);
    assert_eq!(lab1["error_kind"], "host_key_mismatch");
    assert_eq!(lab1["alerts"][0]["code"], "host_key_mismatch");
    assert_eq!(lab1["alerts"][0]["severity"], "critical");
    assert_eq!(code, 2);

    // trust refuses to pin over a changed key, and says how to fix it on purpose.
    let (code, _, stderr) = vigie(
        home.path(),
        &["--config", config.to_str().unwrap(), "trust", "lab1", "--yes"],
        "yes\n",
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("NOT THE KEY KNOWN"), "{stderr}");
    // It names the line with the old key, as ssh's "Offending key" does.
    assert!(stderr.contains(&format!("{}:1", pins.display())), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&pins).unwrap().lines().count(),
        1,
        "nothing was pinned"
    );
}

#[test]
fn a_jump_host_from_vigie_toml_is_used() {
    let lab = SshLab::start(2);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("vigie.toml");
    // lab2 is reached through lab1 (ProxyJump), as `jump = "lab1"` asks.
    let text = lab
        .vigie_toml(&lab.known_hosts)
        .replacen("name = \"lab2\"\n", "name = \"lab2\"\njump = \"lab1\"\n", 1);
    std::fs::write(&config, text).unwrap();
    let (_, json, stderr) = status_json(home.path(), &config);
    assert_eq!(host(&json, "lab2")["reachable"], true, "{json}\n{stderr}");
}

#[test]
fn an_ssh_config_named_by_vigie_toml_and_the_agent_are_honoured() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let lab1 = &lab.hosts[0];
    // The inventory names only an alias; the ssh config vigie.toml names
    // (`ssh -F`) says where it is and which known_hosts to read.
    let ssh_dir = home.path().join("fleet-ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host lab-alias\n    HostName {}\n    Port {}\n    User {}\n    IdentityFile {}\n    \
             UserKnownHostsFile {}\n",
            lab1.address,
            lab1.port,
            lab.user,
            lab.client_key.display(),
            ssh_dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    std::fs::copy(&lab.known_hosts, ssh_dir.join("known_hosts")).unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nssh_config = \"{}\"\n\n[[hosts]]\nname = \"db\"\naddress = \"lab-alias\"\n",
            ssh_dir.join("config").display()
        ),
    )
    .unwrap();
    let (_, json, stderr) = status_json(home.path(), &config);
    assert_eq!(host(&json, "db")["reachable"], true, "{json}\n{stderr}");
    // vigie check says how ssh settings are read.
    let (code, stdout, _) = vigie(home.path(), &["--config", config.to_str().unwrap(), "check"], "");
    assert_eq!(code, 0);
    assert!(
        stdout.contains("ssh settings: as OpenSSH resolves them") && stdout.contains("-G -F"),
        "{stdout}"
    );

    // Without the IdentityFile, only the agent holds the key.
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host lab-alias\n    HostName {}\n    Port {}\n    User {}\n    UserKnownHostsFile {}\n",
            lab1.address,
            lab1.port,
            lab.user,
            ssh_dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    let (_, json, _) = status_json(home.path(), &config);
    assert_eq!(host(&json, "db")["error_kind"], "auth", "no key, no agent: {json}");

    let socket = home.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(&lab.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["--config", config.to_str().unwrap(), "status", "--json"])
        .env("HOME", home.path())
        .env("SSH_AUTH_SOCK", &socket)
        .env("XDG_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(host(&json, "db")["reachable"], true, "{json}");
}

#[test]
fn a_login_that_never_runs_the_probe_is_not_healthy() {
    let mut lab = SshLab::start(1);
    // As with a `nologin` shell: the login works, the probe never runs.
    lab.restart_host_with(
        0,
        "ForceCommand echo 'This account is currently not available.'; exit 1\n",
        None,
    );
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&lab.known_hosts)).unwrap();
    let (code, json, _) = status_json(home.path(), &config);
    let lab1 = host(&json, "lab1");
    assert_eq!(lab1["reachable"], false, "{json}");
    let error = lab1["error"].as_str().unwrap();
    assert!(
        error.contains("the probe did not run") && error.contains("currently not available"),
        "{error}"
    );
    assert_eq!(code, 2, "an unreachable host is critical");
}

#[test]
fn vigie_check_names_a_broken_ssh_config_with_ssh_s_own_line() {
    let home = tempfile::tempdir().unwrap();
    let ssh_config = home.path().join("ssh_config");
    std::fs::write(&ssh_config, "Host db\n    HostNmae 10.0.0.5\n").unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nssh_config = \"{}\"\n\n[[hosts]]\nname = \"db\"\n",
            ssh_config.display()
        ),
    )
    .unwrap();
    let (code, _, stderr) = vigie(home.path(), &["--config", config.to_str().unwrap(), "check"], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("host \"db\"") && stderr.contains("line 2") && stderr.contains("hostnmae"),
        "{stderr}"
    );
}

#[test]
fn without_the_ssh_program_vigie_reads_ssh_config_itself_and_says_so() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("vigie.toml");
    std::fs::write(&config, lab.vigie_toml(&lab.known_hosts)).unwrap();
    // A PATH with the usual tools but no `ssh`.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "cat", "date"] {
        let found = common::run("sh", &["-c", &format!("command -v {tool}")]);
        std::os::unix::fs::symlink(found.trim(), bin.join(tool)).unwrap();
    }
    let path = bin.display().to_string();
    let run = |args: &[&str]| {
        let out = common::lab::vigie_command(home.path())
            .args(["--config", config.to_str().unwrap()])
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, _) = run(&["check"]);
    assert!(stdout.contains("`ssh` is not installed"), "{stdout}");
    let (stdout, stderr) = run(&["status", "--json"]);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(host(&json, "lab1")["reachable"], true, "{json}");
}
