//! 200 MB of output from a playbook step over SSH: vigie's memory stays flat
//! (the output is read as fast as it is shown, never queued whole) and the
//! timeline records its true size. Alone in its test binary: the peak
//! memory of children measured is vigie's.

mod common;

use common::lab::{vigie_command, SshLab};
use std::process::Stdio;

/// The largest peak resident memory of the children waited for, in KiB.
fn children_peak_rss_kib() -> i64 {
    // SAFETY: rusage is plain data that getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss
}

#[test]
fn two_hundred_megabytes_from_a_step_keep_vigie_under_64_mib_and_are_counted() {
    let lab = SshLab::start(1);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("vigie.toml"), lab.vigie_toml(&lab.known_hosts)).unwrap();
    std::fs::write(
        home.path().join("flood.md"),
        "+++\nid = \"flood\"\ntitle = \"Flood\"\n[inputs.host]\nkind = \"host\"\n+++\n\n## Print a lot\n\n```sh {on=host timeout=5m}\nhead -c 200000000 /dev/zero | tr '\\0' x\n```\n",
    )
    .unwrap();
    let status = vigie_command(home.path())
        .args(["incident", "new", "flood"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let before = children_peak_rss_kib();
    let out = vigie_command(home.path())
        .args(["run", "flood.md", "--input", "host=lab1", "--yes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let peak = children_peak_rss_kib();
    assert!(peak > before || before < 64 * 1024, "the run is the largest child");
    eprintln!("vigie peak memory: {peak} KiB");
    assert!(peak < 64 * 1024, "vigie's peak memory: {peak} KiB");

    let timeline = common::incident_timeline(&home.path().join(".local/share"));
    let finished: serde_json::Value = timeline
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "command.finished")
        .unwrap();
    assert_eq!(finished["data"]["exit"], 0);
    assert_eq!(
        finished["data"]["output_bytes"], 200_000_000,
        "{}",
        finished["data"]["output_bytes"]
    );
    assert_eq!(finished["data"]["output_truncated"], true);
}
