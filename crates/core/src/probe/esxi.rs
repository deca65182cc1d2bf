//! VMware ESXi through `vim-cmd` and `esxcli`: VMs (names with spaces),
//! power state, snapshot count, a pending question (the VM frozen on "no
//! more space for the redo log"), and VMFS datastores.

use super::model::{Datastore, Vm};

pub const SCRIPT: &str = "echo '@@vigie esxi_vms'; vigie_err vim-cmd vmsvc/getallvms\n\
for id in $(vim-cmd vmsvc/getallvms 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $1}'); do\n\
echo \"@@vm $id\"; vim-cmd vmsvc/power.getstate \"$id\" 2>/dev/null | tail -n 1\n\
echo \"snapshots=$(vim-cmd vmsvc/snapshot.get \"$id\" 2>/dev/null | grep -c 'Snapshot Name')\"\n\
vigie_err vim-cmd vmsvc/message \"$id\"; done\n\
echo '@@vigie esxi_datastores'; vigie_err esxcli storage filesystem list\n";

pub fn parse_vms(section: &str) -> Vec<Vm> {
    let (section, _) = super::split_stderr(section);
    let section = section.as_str();
    let (listing, details) = section
        .split_once("@@vm ")
        .map(|(l, d)| (l, format!("@@vm {d}")))
        .unwrap_or((section, String::new()));
    let mut vms: Vec<Vm> = listing.lines().skip(1).filter_map(parse_vm_line).collect();
    for chunk in details.split("@@vm ").filter(|c| !c.trim().is_empty()) {
        let mut lines = chunk.lines();
        let id = lines.next().unwrap_or("").trim().to_string();
        let Some(vm) = vms.iter_mut().find(|v| v.id == id) else {
            continue;
        };
        let rest: Vec<&str> = lines.collect();
        vm.state = match rest.first().map(|s| s.trim()) {
            Some("Powered on") => "running",
            Some("Powered off") => "stopped",
            Some("Suspended") => "suspended",
            _ => "unknown",
        }
        .to_string();
        vm.snapshots = rest
            .iter()
            .find_map(|l| l.strip_prefix("snapshots="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        // "Virtual machine message <id>:" then the question text, then the choices.
        if let Some(start) = rest.iter().position(|l| l.starts_with("Virtual machine message")) {
            let question = rest
                .get(start + 1)
                .map(|q| q.split_once(':').map(|(_, t)| t).unwrap_or(q).trim().to_string());
            vm.question = question.filter(|q| !q.is_empty());
        }
    }
    vms
}

/// `1      mail server    [datastore1] mail server/mail server.vmx   debian10_64Guest  vmx-14  notes`:
/// the name runs from after the id to the ` [` that opens the file column.
/// Continuation lines of a multi-line annotation do not start with an id.
fn parse_vm_line(line: &str) -> Option<Vm> {
    let trimmed = line.trim_start();
    let id_end = trimmed.find(char::is_whitespace)?;
    let id = &trimmed[..id_end];
    if !id.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = &trimmed[id_end..];
    let file_start = rest.find(" [")?;
    let name = rest[..file_start].trim().to_string();
    Some(Vm {
        id: id.to_string(),
        name,
        state: "unknown".into(),
        ..Vm::default()
    })
}

/// `esxcli storage filesystem list`: columns located by the dashes line,
/// since volume names may contain spaces.
pub fn parse_datastores(section: &str) -> Vec<Datastore> {
    let (section, _) = super::split_stderr(section);
    let lines: Vec<&str> = section.lines().collect();
    let Some(rule) = lines.iter().position(|l| l.starts_with("---")) else {
        return Vec::new();
    };
    let columns: Vec<(usize, usize)> = {
        let mut spans = Vec::new();
        let mut start = None;
        for (i, c) in lines[rule].char_indices() {
            match (c == '-', start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    spans.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((s, lines[rule].len()));
        }
        spans
    };
    // Text columns are left-aligned under their dashes.
    let field = |line: &str, index: usize| -> String {
        let Some(&(start, end)) = columns.get(index) else {
            return String::new();
        };
        line.get(start.min(line.len())..end.min(line.len()))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    lines[rule + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let free: u64 = words.last()?.parse().ok()?;
            let size: u64 = words.get(words.len().checked_sub(2)?)?.parse().ok()?;
            let kind = words.get(words.len().checked_sub(3)?)?.to_string();
            Some(Datastore {
                name: field(line, 1),
                kind: kind.to_lowercase(),
                capacity_bytes: size,
                free_bytes: free,
                ..Datastore::default()
            })
        })
        .filter(|d| d.kind.starts_with("vmfs") || d.kind.starts_with("nfs"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::split_sections;

    const FIXTURE: &str = include_str!("../../../../tests/fixtures/probe/esxi-synthetic-7.txt");

    #[test]
    fn vms_with_spaces_quotes_annotations_and_a_frozen_question() {
        let vms = parse_vms(split_sections(FIXTURE)["esxi_vms"]);
        let names: Vec<&str> = vms.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["mail server", "meteo-db", "wiki 'v2'"]);
        assert_eq!((vms[0].state.as_str(), vms[0].snapshots), ("running", 1));
        assert!(vms[0]
            .question
            .as_deref()
            .unwrap()
            .starts_with("There is no more space for virtual disk"));
        assert_eq!(vms[1].question, None);
        assert_eq!(vms[2].state, "stopped");
    }

    #[test]
    fn vmfs_datastores_only() {
        let ds = parse_datastores(split_sections(FIXTURE)["esxi_datastores"]);
        assert_eq!(ds.len(), 2, "{ds:?}");
        assert_eq!(
            (ds[0].name.as_str(), ds[0].capacity_bytes, ds[0].free_bytes),
            ("datastore1", 214479929344, 536870912)
        );
        assert_eq!(ds[0].kind, "vmfs-6");
    }

    #[test]
    fn no_vms() {
        assert!(parse_vms("Vmid   Name   File   Guest OS   Version   Annotation\n").is_empty());
    }
}
