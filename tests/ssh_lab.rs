//! The SSH lab itself: real sshd hosts, reached with the system OpenSSH client.

mod common;

use common::lab::{is_alive, SshLab};
use std::time::{Duration, Instant};

#[test]
fn three_lab_hosts_answer_the_system_ssh_client_and_leave_nothing_behind() {
    let mut lab = SshLab::start(3);
    for (index, host) in lab.hosts.iter().enumerate() {
        // SSH_CONNECTION's third field is the server address: proves which host answered.
        let out = lab.ssh(index, "echo \"$SSH_CONNECTION\"; sleep 0.2");
        assert!(
            out.status.success(),
            "{}: {}",
            host.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = stdout.split_whitespace().collect();
        assert_eq!(fields.get(2), Some(&host.address.to_string().as_str()), "{stdout}");
        assert_eq!(fields.get(3), Some(&host.port.to_string().as_str()), "{stdout}");
    }

    // A session still running when the lab stops must not survive it.
    let mut sleeper = lab.ssh_command(0).arg("sleep 600").spawn().expect("spawn ssh");
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab.processes().len() <= 3 {
        assert!(Instant::now() < deadline, "the remote sleep never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = lab.processes();
    assert!(started.len() > 3, "sshd sessions should be running: {started:?}");

    let key_of_lab1 = lab.hosts[0].host_public_key.clone();
    lab.kill_host(1);
    let refused = lab.ssh(1, "true");
    assert!(!refused.status.success(), "a killed host must not answer");
    lab.start_host(1);
    assert!(
        lab.ssh(1, "true").status.success(),
        "a restarted host answers on the same address"
    );
    assert_ne!(key_of_lab1, lab.hosts[1].host_public_key, "each host has its own key");

    let all = lab.processes();
    drop(lab);
    let _ = sleeper.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<i32> = all.iter().copied().filter(|p| is_alive(*p)).collect();
        if alive.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left behind by the lab: {alive:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_lab_known_hosts_is_strict() {
    let lab = SshLab::start(1);
    // Another host's key under this host's name: OpenSSH must refuse.
    let wrong = format!(
        "[{}]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEdUdm0aUNLMZm0gdcXjgOnu5zxTHWJ2fAa6jqHRNWiu\n",
        lab.hosts[0].address, lab.hosts[0].port
    );
    std::fs::write(&lab.known_hosts, wrong).unwrap();
    let out = lab.ssh(0, "true");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HOST IDENTIFICATION HAS CHANGED"), "{stderr}");
}
