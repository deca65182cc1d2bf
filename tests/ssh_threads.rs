//! Open SSH sessions are polled by a few driver threads, however many hosts
//! there are: connecting takes worker threads, which stop once idle, and
//! steady probes need none. (A test binary of its own: it counts the
//! process's threads, which other tests would add to.)

mod common;

use common::lab::SshLab;
use std::time::{Duration, Instant};
use vigie::transport::{CommandRequest, Transport};

const HOSTS: usize = 24;

/// How many of this process's threads have a name starting with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim_end().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

async fn probe_round(transports: &[Transport]) {
    let mut probes = tokio::task::JoinSet::new();
    for transport in transports {
        let transport = transport.clone();
        probes.spawn(async move {
            let request = CommandRequest {
                session_shell: true,
                ..CommandRequest::new("echo ok", Duration::from_secs(20))
            };
            transport.run(request).await
        });
    }
    for output in probes.join_all().await {
        assert_eq!(output.unwrap().stdout, b"ok\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sessions_are_polled_without_a_thread_each() {
    let lab = SshLab::start(HOSTS);
    let transports: Vec<Transport> = (0..HOSTS).map(|index| lab.transport(index)).collect();
    probe_round(&transports).await;
    // The workers that connected stop once idle.
    let deadline = Instant::now() + Duration::from_secs(40);
    while threads_named("vigie-ssh-work") > 0 {
        assert!(
            Instant::now() < deadline,
            "connecting threads stay after the cold round"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        probe_round(&transports).await;
    }
    assert_eq!(
        threads_named("vigie-ssh-work"),
        0,
        "a steady probe took a worker thread"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let drivers = threads_named("vigie-ssh-");
    assert!(
        (1..=cores.clamp(1, 8)).contains(&drivers),
        "{drivers} driver threads for {HOSTS} sessions on {cores} cores"
    );
}
