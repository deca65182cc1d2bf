//! 50 MB of output from a host must not grow vigie's memory past the cap.
//! Alone in its test binary so that the memory measured is this test's.

mod common;

use common::lab::SshLab;
use std::time::Duration;
use vigie::transport::CommandRequest;

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_of_output_stay_under_the_cap() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    // Warm up: connection, buffers, runtime.
    transport
        .run(CommandRequest::new("echo warm", Duration::from_secs(10)))
        .await
        .unwrap();
    let before = peak_rss_kib();

    let cap = 1024 * 1024;
    let mut request = CommandRequest::new(
        "head -c 50000000 /dev/zero | tr '\\0' x; head -c 5000000 /dev/zero | tr '\\0' y >&2",
        Duration::from_secs(120),
    );
    request.output_cap = cap;
    let out = transport.run(request).await.unwrap();
    assert_eq!(out.exit, Some(0));
    assert_eq!(out.stdout.len(), cap);
    assert_eq!(out.stderr.len(), cap);
    assert_eq!(out.dropped_bytes, (50_000_000 - cap + 5_000_000 - cap) as u64);

    let growth_kib = peak_rss_kib().saturating_sub(before);
    // Two capped buffers (2 MiB) plus read buffers; 50 MB would show clearly.
    assert!(growth_kib < 12 * 1024, "peak memory grew by {growth_kib} KiB");
}
