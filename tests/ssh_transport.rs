//! The SSH transport against the real sshd lab: a dead host never stalls the
//! others, commands are cancelled without leftovers, jump hosts, output caps.

mod common;

use common::lab::SshLab;
use std::time::{Duration, Instant};
use vigie::poller;
use vigie::status::{HostStatus, PollOutcome, PollResult};
use vigie::transport::{CommandRequest, TransportError};

fn lab_host_statuses(lab: &SshLab) -> Vec<HostStatus> {
    let config =
        vigie::config::Config::parse(std::path::Path::new("lab.toml"), &lab.vigie_toml(&lab.known_hosts)).unwrap();
    config.hosts.iter().map(HostStatus::new).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_turns_unreachable_others_keep_updating_and_it_recovers() {
    let mut lab = SshLab::start(3);
    let interval = Duration::from_secs(1);
    let timeout = Duration::from_secs(2);
    let config =
        vigie::config::Config::parse(std::path::Path::new("lab.toml"), &lab.vigie_toml(&lab.known_hosts)).unwrap();
    let transports = (0..3)
        .map(|i| poller::PollTarget {
            host: config.hosts[i].clone(),
            transport: lab.transport(i),
        })
        .collect();
    let (mut results, tasks) = poller::start_with(transports, interval, timeout);
    let mut hosts = lab_host_statuses(&lab);

    let mut next = |hosts: &mut Vec<HostStatus>| -> PollResult {
        let result = futures_lite_recv(&mut results);
        hosts[result.host_index].apply(&result);
        result
    };
    // All three live.
    while !hosts.iter().all(|h| h.is_reachable()) {
        next(&mut hosts);
    }

    lab.kill_host(1);
    let killed_at = Instant::now();
    let mut polls_of_others = 0;
    while hosts[1].is_reachable() {
        let result = next(&mut hosts);
        if result.host_index != 1 {
            assert!(
                matches!(result.outcome, PollOutcome::Reading { .. }),
                "other hosts stay live"
            );
            polls_of_others += 1;
        }
    }
    let detected_after = killed_at.elapsed();
    // The bound the design promises, with room for a slow CI machine's scheduling.
    assert!(
        detected_after <= interval + timeout + Duration::from_secs(3),
        "took {detected_after:?}"
    );

    // Others keep updating while lab2 is down.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let result = next(&mut hosts);
        if result.host_index != 1 {
            polls_of_others += 1;
        } else {
            assert!(
                matches!(result.outcome, PollOutcome::Failed(TransportError::Refused)),
                "{:?}",
                result.outcome
            );
        }
    }
    assert!(polls_of_others >= 4, "others polled {polls_of_others} times");
    assert!(hosts[0].is_reachable() && hosts[2].is_reachable());

    lab.start_host(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !hosts[1].is_reachable() {
        assert!(Instant::now() < deadline, "lab2 did not recover by itself");
        next(&mut hosts);
    }
    for task in tasks {
        task.abort();
    }
}

/// Blocking receive usable from the test body (the runtime's other thread polls).
fn futures_lite_recv(receiver: &mut tokio::sync::mpsc::Receiver<PollResult>) -> PollResult {
    tokio::task::block_in_place(|| receiver.blocking_recv()).expect("poller stopped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_sleeps_forever_is_cancelled_and_nothing_of_it_remains() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    // A child in the background and one in the foreground: the whole group must go.
    let script = "sleep 86401 & sleep 86402; echo never";
    let started = Instant::now();
    let error = transport
        .run(CommandRequest::new(script, Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(error, TransportError::Timeout(Duration::from_secs(1)));
    assert!(started.elapsed() < Duration::from_secs(10));

    lab.wait_until_gone(0, "sleep 8640[12]");

    // The same session still runs commands after a timeout.
    let out = transport
        .run(CommandRequest::new("echo still here", Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_command_kills_it() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    let request = CommandRequest::new("sleep 86403", Duration::from_secs(60));
    let cancel = request.cancel.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(transport.run(request).await.unwrap_err(), TransportError::Cancelled);
    canceller.await.unwrap();
    let out = lab.ssh(0, "pgrep -af 'sleep 8640[3]' || echo NONE");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "NONE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_get_stdin_from_dev_null_values_stay_literal_and_exit_codes_come_back() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    let script = "name=\"'; rm -rf / #\"; evil='$(touch /tmp/vigie-pwned)'\ncat\nprintf '%s|%s\\n' \"$name\" \"$evil\"\necho oops >&2\nexit 7";
    let out = transport
        .run(CommandRequest::new(script, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "'; rm -rf / #|$(touch /tmp/vigie-pwned)\n"
    );
    assert_eq!(out.stderr, b"oops\n", "the pid marker is not part of stderr");
    assert_eq!(out.exit, Some(7));
    assert!(!std::path::Path::new("/tmp/vigie-pwned").exists());
    // Without an explicit exit, the status is the last command's.
    for (script, exit) in [("echo fine", 0), ("echo almost; false", 1), ("test -e /nonexistent", 1)] {
        let out = transport
            .run(CommandRequest::new(script, Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(out.exit, Some(exit), "{script}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_behind_a_jump_host_is_reached_through_it() {
    let mut lab = SshLab::start(2);
    let mut target = lab.endpoint(1);
    target.via = vigie::transport::endpoint::Via::Jump(Box::new(lab.endpoint(0)));
    let options = lab.ssh_options();
    let transport = vigie::transport::Transport::Ssh(vigie::transport::ssh::SshHandle::spawn(target, options));

    // Which process opened the connection lab2 sees? Its client port belongs to a
    // process of lab1's sshd: the tunnel, not vigie.
    let out = transport
        .run(CommandRequest::new("echo \"$SSH_CONNECTION\"", Duration::from_secs(10)))
        .await
        .unwrap();
    let connection = String::from_utf8_lossy(&out.stdout).to_string();
    let client_port: u16 = connection.split_whitespace().nth(1).unwrap().parse().unwrap();
    let owner = socket_owner(client_port).unwrap_or_else(|| panic!("no process owns port {client_port}"));
    let lab1_processes = lab.processes_of(0);
    assert!(
        lab1_processes.contains(&owner),
        "port {client_port} is owned by {owner}, not lab1's sshd"
    );
    assert_ne!(owner as u32, std::process::id());

    // With the jump host down, the target is unreachable although its sshd runs.
    lab.kill_host(0);
    let error = transport
        .run(CommandRequest::new("true", Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::Unreachable(_) | TransportError::Refused),
        "{error:?}"
    );
    assert!(lab.ssh(1, "true").status.success(), "lab2 itself is up");
}

/// The pid of the process holding a local TCP socket bound to `port`.
fn socket_owner(port: u16) -> Option<i32> {
    let inode = std::fs::read_to_string("/proc/net/tcp")
        .ok()?
        .lines()
        .skip(1)
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            let inode = fields.get(9)?;
            // A closed connection that used the same port lingers in
            // TIME_WAIT with inode 0: it is nobody's socket.
            (local_port == port && *inode != "0").then(|| inode.to_string())
        })?;
    let needle = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == needle) {
                return Some(pid);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_the_session_is_open_stops_it_at_once() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    let out = transport
        .run(CommandRequest::new("echo before", Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"before\n");
    // The session stays open; the key is revoked in a known_hosts file meanwhile.
    let mut known_hosts = std::fs::read_to_string(&lab.known_hosts).unwrap();
    known_hosts.push_str(&format!("@revoked * {}\n", lab.hosts[0].host_public_key));
    std::fs::write(&lab.known_hosts, known_hosts).unwrap();
    let refused = transport
        .run(CommandRequest::new("echo after", Duration::from_secs(5)))
        .await;
    assert!(
        matches!(refused, Err(TransportError::HostKeyRevoked { .. })),
        "{refused:?}"
    );
}
