//! Probes: the shell script sent to a host in one round trip, and pure parsers
//! of its sectioned output. Nothing here does IO, so every parser is tested on
//! captured real output (`tests/fixtures/probe/`).

pub mod backup;
pub mod esxi;
pub mod lenient;
pub mod libvirt;
pub mod linux;
pub mod lockout;
pub mod mariadb;
pub mod model;
pub mod proxmox;
pub mod qcow2;
pub mod shell;
pub mod xen;

use crate::config::{Host, HostKind};
use crate::sanitize;
use chrono::FixedOffset;
use model::{Backup, Cluster, Datastore, Lockout, Replication, ReplicationJob, Vm};
use std::collections::HashMap;

/// Everything one probe round trip told us about a host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub health: linux::LinuxHealth,
    pub cluster: Option<Cluster>,
    pub vms: Vec<Vm>,
    pub datastores: Vec<Datastore>,
    pub replication: Vec<Replication>,
    pub replication_jobs: Vec<ReplicationJob>,
    pub lockouts: Vec<Lockout>,
    pub backups: Vec<Backup>,
    /// Drivers that could not read their part ("replication: access denied").
    pub driver_errors: Vec<String>,
}

/// The host's clock: `date '+%s %z'`, for ages and the local times its
/// tools print (faillock's, a backup's). Only the sections that read such
/// times ask for it (`vigie_clock=1`): a quiet host starts no `date`.
const CLOCK_SECTION: &str = "if [ -n \"$vigie_clock\" ]; then echo '@@vigie clock'; date '+%s %z'; fi\n";

/// The whole probe script for `host`: Linux health, then the sections its
/// kind, role and configuration ask for. Values from vigie.toml enter the
/// script only single-quoted.
pub fn probe_script(host: &Host) -> String {
    let mut script = String::from(SECTION_HELPER);
    script.push_str(STDERR_HELPER);
    script.push_str(if host.backups.is_empty() {
        "vigie_clock=\n"
    } else {
        "vigie_clock=1\n"
    });
    script.push_str(linux::SCRIPT);
    script.push_str(&lockout::script(host.faillock_dir.as_deref()));
    if !host.datastores.is_empty() {
        script.push_str(&qcow2::script(&host.datastores));
    }
    if host.role.as_deref() == Some("db") {
        script.push_str(&mariadb::script(host.db_defaults_file.as_deref()));
    }
    script.push_str(&backup::script(&host.backups));
    script.push_str(match host.kind {
        HostKind::Linux => "",
        HostKind::Proxmox => proxmox::SCRIPT,
        HostKind::Libvirt => libvirt::SCRIPT,
        HostKind::Esxi => esxi::SCRIPT,
        HostKind::Xen => xen::SCRIPT,
    });
    script.push_str(CLOCK_SECTION);
    script.push_str("echo '@@vigie end'\n");
    script
}

/// Parses the output of [`probe_script`] for `host`.
pub fn parse(host: &Host, output: &str) -> Reading {
    let sections = split_sections(output);
    let section = |name: &str| sections.get(name).copied().unwrap_or("");
    let (now, offset) = parse_clock(section("clock"));
    let mut reading = Reading {
        health: linux::parse(output),
        ..Reading::default()
    };
    reading.lockouts = lockout::parse(section("lockouts"), now, offset);
    let (_, lockout_stderr) = split_stderr(section("lockouts"));
    if !lockout_stderr.trim().is_empty() {
        reading
            .driver_errors
            .push(format!("login lockouts: {}", why_unreadable("", &lockout_stderr)));
    }
    for index in 0..host.datastores.len() {
        let datastore = qcow2::parse_dir(section(&format!("datastore_dir/{index}")));
        reading
            .driver_errors
            .extend(datastore.errors.iter().map(|e| format!("datastore {e}")));
        reading.datastores.push(datastore);
    }
    if host.role.as_deref() == Some("db") {
        match mariadb::parse(section("replication")) {
            Ok(rows) => reading.replication = rows,
            Err(e) => reading.driver_errors.push(format!("replication: {e}")),
        }
    }
    for (index, config) in host.backups.iter().enumerate() {
        reading
            .backups
            .push(backup::parse(section(&format!("backup/{index}")), config, offset));
    }
    parse_hypervisor(host.kind, &sections, &mut reading);
    reading
}

fn parse_hypervisor(kind: HostKind, sections: &HashMap<&str, &str>, reading: &mut Reading) {
    let section = |name: &str| sections.get(name).copied().unwrap_or("");
    match kind {
        HostKind::Linux => {}
        HostKind::Proxmox => {
            let pve = proxmox::parse(
                section("pve_status"),
                section("pve_resources"),
                section("pve_replication"),
            );
            reading.cluster = pve.cluster;
            reading.vms = pve.vms;
            reading.datastores.extend(pve.datastores);
            reading.replication_jobs = pve.jobs;
            reading.driver_errors.extend(pve.errors);
        }
        HostKind::Libvirt => {
            let offline = libvirt::parse_offline_chains(section("virsh_offline_disks"));
            reading.vms = libvirt::parse(section("virsh_domstats"), &offline);
            if let Some(error) = stderr_summary(sections, "virsh_domstats") {
                reading.driver_errors.push(format!("libvirt: {error}"));
            }
        }
        HostKind::Esxi => {
            reading.vms = esxi::parse_vms(section("esxi_vms"));
            reading
                .datastores
                .extend(esxi::parse_datastores(section("esxi_datastores")));
        }
        HostKind::Xen => {
            let (vms, datastores, errors) = xen::parse(
                section("xl_list"),
                section("xl_list_long"),
                section("xen_configs"),
                section("lvs"),
                section("vgs"),
            );
            reading.vms = vms;
            reading.datastores.extend(datastores);
            reading.driver_errors.extend(errors);
            for name in ["lvs", "vgs"] {
                if let Some(error) = stderr_summary(sections, name) {
                    reading.driver_errors.push(format!("{name}: {error}"));
                }
            }
        }
    }
}

/// `1795468235 +0100` → (unix time, offset); falls back to our own clock.
fn parse_clock(text: &str) -> (i64, FixedOffset) {
    let mut words = text.split_whitespace();
    let now = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    let offset = words
        .next()
        .and_then(|z| {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits = z.trim_start_matches(['+', '-']);
            let hours: i32 = digits.get(..2)?.parse().ok()?;
            let minutes: i32 = digits.get(2..4)?.parse().ok()?;
            FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
        })
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    (now, offset)
}

/// `vigie_section NAME COMMAND...`: the command's output as section NAME
/// and its stderr as section `NAME.stderr`, never mixed: a tool that warns
/// (LVM with a missing PV, exactly when it matters) must not break the
/// JSON it prints. No temporary file: the host's disk may be full.
const SECTION_HELPER: &str = "vigie_section() { vigie_n=$1; shift; echo \"@@vigie $vigie_n\"; \
{ vigie_e=$(\"$@\" 2>&1 1>&3 3>&-); } 3>&1; echo \"@@vigie $vigie_n.stderr\"; \
if [ -n \"$vigie_e\" ]; then printf '%s\\n' \"$vigie_e\"; fi; return 0; }\n";

/// `vigie_err COMMAND...`: the command's output, then each line of its
/// stderr prefixed `@@stderr `, for commands inside a section of several
/// parts (a backup's listing then its paths). [`split_stderr`] parts them.
const STDERR_HELPER: &str = "vigie_err() { { vigie_e=$(\"$@\" 2>&1 1>&3 3>&-); } 3>&1; vigie_rc=$?; \
if [ -n \"$vigie_e\" ]; then printf '%s\\n' \"$vigie_e\" | sed 's/^/@@stderr /'; fi; return $vigie_rc; }\n";

/// Parts a text printed through `vigie_err`: (its data, its stderr).
pub fn split_stderr(text: &str) -> (String, String) {
    let mut data = String::new();
    let mut stderr = String::new();
    for line in text.split_inclusive('\n') {
        match line.strip_prefix("@@stderr ") {
            Some(error) => stderr.push_str(error),
            None => data.push_str(line),
        }
    }
    (data, stderr)
}

/// What to say when a command's data cannot be read: its stderr's first
/// line, else its output's, on one line.
pub fn why_unreadable(data: &str, stderr: &str) -> String {
    let first = |text: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(sanitize::one_line)
    };
    first(stderr)
        .or_else(|| first(data))
        .unwrap_or_else(|| "no output".into())
}

/// A section's stderr (`NAME.stderr`), in one line for a driver error:
/// its first line and how many more there are. `None` when it was quiet.
pub fn stderr_summary(sections: &HashMap<&str, &str>, name: &str) -> Option<String> {
    let text = sections.get(format!("{name}.stderr").as_str())?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = sanitize::one_line(lines.next()?);
    let more = lines.count();
    Some(if more == 0 {
        first
    } else {
        format!("{first} (and {more} more line{})", if more == 1 { "" } else { "s" })
    })
}

/// Marker that starts a section: `@@vigie <name>`.
const SECTION_MARKER: &str = "@@vigie ";

/// Whether raw probe output holds at least one section: the probe ran.
pub fn printed_sections(stdout: &[u8]) -> bool {
    String::from_utf8_lossy(stdout)
        .lines()
        .any(|line| line.starts_with(SECTION_MARKER))
}

/// Splits probe output into named sections. Text before the first marker is ignored.
pub fn split_sections(output: &str) -> HashMap<&str, &str> {
    let mut sections = HashMap::new();
    let mut current: Option<(&str, usize)> = None;
    let mut offset = 0;
    for line in output.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = trimmed.strip_prefix(SECTION_MARKER) {
            if let Some((previous, start)) = current.take() {
                sections.insert(previous, &output[start..offset]);
            }
            current = Some((name.trim(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((previous, start)) = current {
        sections.insert(previous, &output[start..]);
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offsets() {
        assert_eq!(parse_clock("100 +0130"), (100, FixedOffset::east_opt(5400).unwrap()));
        assert_eq!(parse_clock("100 -0500").1, FixedOffset::west_opt(5 * 3600).unwrap());
    }

    #[test]
    fn script_has_the_sections_the_host_needs_and_quotes_values() {
        let mut host = Host::named("db2", "10.0.0.30");
        assert!(!probe_script(&host).contains("@@vigie replication"));
        host.role = Some("db".into());
        host.datastores = vec!["/srv/it's here".into()];
        let script = probe_script(&host);
        assert!(script.contains("@@vigie replication"));
        assert!(script.contains(r"d='/srv/it'\''s here'"), "{script}");
        assert!(script.trim_end().ends_with("echo '@@vigie end'"));
    }

    /// The helper, run by a real shell: stdout and stderr in their own sections.
    #[test]
    fn a_command_s_stderr_is_kept_apart_from_its_data() {
        let script = format!(
            "{SECTION_HELPER}vigie_section both sh -c 'echo {{\\\"a\\\":1}}; echo WARNING: a PV is missing >&2'\n\
             vigie_section quiet echo fine\nvigie_section absent no-such-command-here\n"
        );
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let sections = split_sections(&text);
        assert_eq!(sections["both"], "{\"a\":1}\n", "{text}");
        assert_eq!(sections["both.stderr"], "WARNING: a PV is missing\n");
        assert_eq!((sections["quiet"], sections["quiet.stderr"]), ("fine\n", ""));
        assert_eq!(stderr_summary(&sections, "quiet"), None);
        assert!(
            stderr_summary(&sections, "absent").is_some_and(|e| e.contains("not found")),
            "{text}"
        );
    }

    /// The inline helper, run by a real shell: the exit status kept, the
    /// stderr after the output, each line marked, and parted again.
    #[test]
    fn vigie_err_marks_stderr_after_the_output() {
        let script = format!(
            "{STDERR_HELPER}vigie_err sh -c 'echo [1]; echo Fatal: no repo >&2; echo again >&2; exit 3'; echo rc=$?\n"
        );
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        assert_eq!(text, "[1]\n@@stderr Fatal: no repo\n@@stderr again\nrc=3\n");
        let (data, stderr) = split_stderr(&text);
        assert_eq!(
            (data.as_str(), stderr.as_str()),
            ("[1]\nrc=3\n", "Fatal: no repo\nagain\n")
        );
        assert_eq!(why_unreadable(&data, &stderr), "Fatal: no repo");
        assert_eq!(why_unreadable("junk\n", ""), "junk");
    }

    #[test]
    fn sections_are_split_by_marker() {
        let out = "junk\n@@vigie a\n1\n2\n@@vigie b\n@@vigie c\nx\n";
        let s = split_sections(out);
        assert_eq!(s["a"], "1\n2\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "x\n");
        assert!(!s.contains_key("junk"));
    }
}
