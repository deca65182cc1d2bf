//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod hypervisor;
pub mod lab;
pub mod mariadb;
pub mod pam;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a program that must succeed (it fails the test, with its stderr,
/// otherwise) and returns its standard output.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real qcow2 chain: `dir/base` of virtual size `size`, and `dir/overlay`
/// backed by it (an external snapshot), made with qemu-img.
pub fn qcow2_chain(dir: &Path, base: &str, overlay: &str, size: &str) {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    run("qemu-img", &["create", "-q", "-f", "qcow2", &path(base), size]);
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", &path(overlay)],
    );
}

/// The incident directory under the XDG data directory `data` (each test
/// declares exactly one incident; the fleet journal's files sit beside it).
pub fn only_incident_dir(data: &Path) -> PathBuf {
    let incidents = data.join("vigie/incidents");
    let mut dirs = std::fs::read_dir(incidents)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir());
    let dir = dirs.next().expect("an incident directory");
    assert!(dirs.next().is_none(), "one incident only");
    dir
}

/// The text of that incident's timeline.
pub fn incident_timeline(data: &Path) -> String {
    std::fs::read_to_string(only_incident_dir(data).join("timeline.jsonl")).unwrap()
}
