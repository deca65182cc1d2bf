//! Xen with LVM: running domains (`xl list`, `xl list -l`), the configured
//! ones (`/etc/xen/*.cfg`, which still list a VM that failed to start), and
//! `lvs`/`vgs` JSON. A configured volume missing from `lvs` is the lost
//! logical volume of the incident.

use super::model::{Datastore, Vm};
use serde::Deserialize;

pub const SCRIPT: &str = "echo '@@vigie xl_list'; vigie_err xl list\n\
echo '@@vigie xl_list_long'; vigie_err xl list -l\n\
echo '@@vigie xen_configs'; for f in /etc/xen/*.cfg; do [ -f \"$f\" ] && printf '@@cfg %s\\n' \"$f\" && grep -E '^[[:space:]]*(name|memory|disk)[[:space:]]*=' \"$f\"; done\n\
vigie_section lvs env LVM_SUPPRESS_FD_WARNINGS=1 lvs --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size,lv_path,lv_attr\n\
vigie_section vgs env LVM_SUPPRESS_FD_WARNINGS=1 vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free\n";

/// LVM writes numbers as strings in `json`, as numbers in `json_std`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(u64),
    Text(String),
}

impl Number {
    fn value(&self) -> u64 {
        match self {
            Number::Int(n) => *n,
            Number::Text(t) => t.trim_end_matches(['B', 'b']).parse().unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<T>,
}

#[derive(Deserialize)]
struct LvReport {
    #[serde(default)]
    lv: Vec<Lv>,
}

#[derive(Deserialize)]
struct VgReport {
    #[serde(default)]
    vg: Vec<Vg>,
}

#[derive(Deserialize)]
struct Lv {
    lv_name: String,
    vg_name: String,
    #[serde(default)]
    lv_path: Option<String>,
    /// `-wi-ao--p-`: the 9th character `p` says partial (a physical volume
    /// of its group is missing: part of its data is gone).
    #[serde(default)]
    lv_attr: Option<String>,
}

impl Lv {
    fn is_partial(&self) -> bool {
        self.lv_attr.as_deref().and_then(|a| a.chars().nth(8)) == Some('p')
    }

    /// `-wi-------`: the 5th character `-` says not active (after a reboot,
    /// a volume group nobody activated): its guest cannot start.
    fn is_inactive(&self) -> bool {
        self.lv_attr.as_deref().and_then(|a| a.chars().nth(4)) == Some('-')
    }

    /// Every path a guest's configuration may name it by.
    fn paths(&self) -> Vec<String> {
        let mut paths = vec![
            format!("/dev/{}/{}", self.vg_name, self.lv_name),
            mapper_path(&self.vg_name, &self.lv_name),
        ];
        paths.extend(self.lv_path.clone());
        paths
    }
}

/// What `lvs` says of the volumes: those whole, and those partial.
struct Volumes {
    whole: Vec<String>,
    partial: Vec<String>,
    inactive: Vec<String>,
}

#[derive(Deserialize)]
struct Vg {
    vg_name: String,
    vg_size: Number,
    vg_free: Number,
}

#[derive(Deserialize)]
struct Domain {
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    domid: Option<u64>,
    config: DomainConfig,
}

#[derive(Deserialize)]
struct DomainConfig {
    c_info: CInfo,
    #[serde(default)]
    b_info: Option<BInfo>,
    #[serde(default)]
    disks: Vec<Disk>,
}

#[derive(Deserialize)]
struct CInfo {
    name: String,
}

#[derive(Deserialize)]
struct BInfo {
    #[serde(default, deserialize_with = "super::lenient::opt_u64")]
    max_memkb: Option<u64>,
}

#[derive(Deserialize)]
struct Disk {
    #[serde(default)]
    pdev_path: Option<String>,
}

/// Parses the Xen sections into VMs (running and configured) and volume groups.
// Longer than 80 lines on purpose: one pass over the sections of `xl list`, the domain
// configurations and `lvs`, which must be joined (a VM lives in both lists).
pub fn parse(
    list: &str,
    list_long: &str,
    configs: &str,
    lvs: &str,
    vgs: &str,
) -> (Vec<Vm>, Vec<Datastore>, Vec<String>) {
    let mut errors = Vec::new();
    let volumes: Option<Volumes> = match serde_json::from_str::<Report<LvReport>>(lvs.trim()) {
        Ok(report) => {
            let lvs: Vec<&Lv> = report.report.iter().flat_map(|r| &r.lv).collect();
            let paths = |wanted: &dyn Fn(&Lv) -> bool| -> Vec<String> {
                lvs.iter().filter(|lv| wanted(lv)).flat_map(|lv| lv.paths()).collect()
            };
            Some(Volumes {
                whole: paths(&|lv| !lv.is_partial() && !lv.is_inactive()),
                partial: paths(&|lv| lv.is_partial()),
                inactive: paths(&|lv| lv.is_inactive() && !lv.is_partial()),
            })
        }
        Err(_) => {
            errors.push(format!("lvs: {}", first_line(lvs)));
            None
        }
    };
    let (list, _) = super::split_stderr(list);
    let states = running_states(&list);
    let (list_long, list_long_stderr) = super::split_stderr(list_long);
    let mut vms: Vec<Vm> = match serde_json::from_str::<Vec<Domain>>(list_long.trim()) {
        Ok(domains) => domains
            .into_iter()
            // Dom0 is the host itself.
            .filter(|d| d.domid != Some(0))
            .map(|d| Vm {
                id: d.domid.map(|id| id.to_string()).unwrap_or_default(),
                state: states
                    .iter()
                    .find(|(n, _)| *n == d.config.c_info.name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| "running".into()),
                name: d.config.c_info.name,
                memory_bytes: d.config.b_info.and_then(|b| b.max_memkb).map(|k| k * 1024),
                missing_volumes: missing(
                    d.config.disks.iter().filter_map(|disk| disk.pdev_path.clone()),
                    volumes.as_ref(),
                ),
                ..Vm::default()
            })
            .collect(),
        Err(_) => {
            errors.push(format!(
                "xl list -l: {}",
                super::why_unreadable(&list_long, &list_long_stderr)
            ));
            Vec::new()
        }
    };
    // Configured guests that are not running: the VM whose volume vanished is one.
    for (name, memory, disks) in parse_configs(configs) {
        if vms.iter().any(|v| v.name == name) {
            continue;
        }
        vms.push(Vm {
            id: name.clone(),
            name,
            state: "stopped".into(),
            memory_bytes: memory,
            missing_volumes: missing(disks.into_iter(), volumes.as_ref()),
            ..Vm::default()
        });
    }
    let datastores = match serde_json::from_str::<Report<VgReport>>(vgs.trim()) {
        Ok(report) => report
            .report
            .iter()
            .flat_map(|r| &r.vg)
            .map(|vg| Datastore {
                name: vg.vg_name.clone(),
                kind: "lvm".into(),
                capacity_bytes: vg.vg_size.value(),
                free_bytes: vg.vg_free.value(),
                ..Datastore::default()
            })
            .collect(),
        Err(_) => {
            errors.push(format!("vgs: {}", first_line(vgs)));
            Vec::new()
        }
    };
    (vms, datastores, errors)
}

/// `/dev/mapper/vg0-forum--disk`: dashes in names are doubled.
fn mapper_path(vg: &str, lv: &str) -> String {
    format!("/dev/mapper/{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// The configured devices that `lvs` does not list, or lists as partial.
/// The volume group and volume of a `missing_volumes` entry that is gone
/// from `lvs` altogether (`/dev/VG/LV`, nothing after it): the case a
/// metadata archive restores. A partial or inactive one is not lost.
pub fn lost_volume(entry: &str) -> Option<(&str, &str)> {
    let path = entry.strip_prefix("/dev/")?;
    let (group, volume) = path.split_once('/')?;
    let plain = |name: &str| !name.is_empty() && !name.contains(['/', ' ']);
    (plain(group) && plain(volume)).then_some((group, volume))
}

fn missing(devices: impl Iterator<Item = String>, volumes: Option<&Volumes>) -> Vec<String> {
    let Some(volumes) = volumes else {
        return Vec::new();
    };
    devices
        .filter(|d| d.starts_with("/dev/") && !volumes.whole.contains(d))
        .map(|d| {
            if volumes.partial.contains(&d) {
                format!("{d} (partial: its volume group lost a physical volume)")
            } else if volumes.inactive.contains(&d) {
                format!("{d} (inactive: `lvchange -ay` it once its group is whole)")
            } else {
                d
            }
        })
        .collect()
}

/// `xl list` states: r running, b blocked (idle), p paused, s shutdown, c crashed, d dying.
fn running_states(list: &str) -> Vec<(String, String)> {
    list.lines()
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let flags = words.get(words.len().checked_sub(2)?)?;
            let state = if flags.contains('p') {
                "paused"
            } else if flags.contains('c') {
                "crashed"
            } else if flags.contains('s') || flags.contains('d') {
                "shutdown"
            } else {
                "running"
            };
            Some((words[..words.len() - 5].join(" "), state.to_string()))
        })
        .collect()
}

/// `name = 'forum'`, `memory = 2048`, `disk = [ 'phy:/dev/vg0/x,xvda,w', ... ]`.
fn parse_configs(text: &str) -> Vec<(String, Option<u64>, Vec<String>)> {
    let mut guests = Vec::new();
    for chunk in text.split("@@cfg ").filter(|c| !c.trim().is_empty()) {
        let mut name = None;
        let mut memory = None;
        let mut disks = Vec::new();
        for line in chunk.lines().skip(1) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "name" => name = Some(value.trim_matches(['\'', '"']).to_string()),
                "memory" => memory = value.parse::<u64>().ok().map(|mib| mib * 1024 * 1024),
                "disk" => {
                    for spec in value
                        .trim_matches(['[', ']'])
                        .split(['\'', '"'])
                        .filter(|s| s.contains(','))
                    {
                        let target = spec.split(',').next().unwrap_or("");
                        let path = target.split_once(':').map(|(_, p)| p).unwrap_or(target);
                        disks.push(path.trim().to_string());
                    }
                }
                _ => {}
            }
        }
        if let Some(name) = name {
            guests.push((name, memory, disks));
        }
    }
    guests
}

fn first_line(text: &str) -> String {
    crate::sanitize::one_line(
        text.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::split_sections;

    #[test]
    fn the_lost_volume_of_a_vm_that_did_not_start() {
        let text = include_str!("../../../../tests/fixtures/probe/xen-synthetic-lvm.txt");
        let s = split_sections(text);
        let (vms, datastores, errors) = parse(s["xl_list"], s["xl_list_long"], s["xen_configs"], s["lvs"], s["vgs"]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(vms.len(), 2, "{vms:?}");
        let cloud = &vms[0];
        assert_eq!(
            (cloud.name.as_str(), cloud.state.as_str(), cloud.memory_bytes),
            ("cloud", "running", Some(4 << 30))
        );
        assert!(cloud.missing_volumes.is_empty());
        let forum = &vms[1];
        assert_eq!((forum.name.as_str(), forum.state.as_str()), ("forum", "stopped"));
        assert_eq!(forum.missing_volumes, vec!["/dev/vg0/forum-disk".to_string()]);
        assert_eq!(
            (datastores[0].name.as_str(), datastores[0].free_bytes),
            ("vg0", 107374182400)
        );
    }

    /// Captured from LVM 2.03.16 (Debian 12) on loop devices, one of the
    /// two PVs detached: `wiki` is listed, partial; the warnings went to
    /// stderr, apart from the JSON.
    #[test]
    fn a_volume_on_a_missing_pv_is_partial_and_its_vm_loses_it() {
        let text = include_str!("../../../../tests/fixtures/probe/lvm-2.03.16-missing-pv.txt");
        let s = split_sections(text);
        let configs = "@@cfg /etc/xen/wiki.cfg\nname = 'wiki'\nmemory = 512\n\
                       disk = [ 'phy:/dev/vglab/wiki,xvda,w', 'phy:/dev/vglab/forum,xvdb,w' ]\n";
        let (vms, datastores, errors) = parse("", "[]", configs, s["lvs"], s["vgs"]);
        assert!(errors.is_empty(), "the JSON parses despite the warnings: {errors:?}");
        assert_eq!(
            vms[0].missing_volumes,
            vec!["/dev/vglab/wiki (partial: its volume group lost a physical volume)".to_string()]
        );
        assert_eq!(
            (datastores[0].name.as_str(), datastores[0].capacity_bytes),
            ("vglab", 125829120)
        );
        let warning = crate::probe::stderr_summary(&s, "lvs").unwrap_or_default();
        assert!(
            warning.starts_with("WARNING: Couldn't find device with uuid") && warning.contains("more lines"),
            "{warning}"
        );
    }

    #[test]
    fn an_inactive_volume_keeps_its_guest_down() {
        let lvs = r#"{"report":[{"lv":[{"lv_name":"forum","vg_name":"vg0","lv_size":"1","lv_attr":"-wi-------"},
            {"lv_name":"wiki","vg_name":"vg0","lv_size":"1","lv_attr":"-wi-a-----"}]}]}"#;
        let configs = "@@cfg /etc/xen/forum.cfg\nname = 'forum'\ndisk = [ 'phy:/dev/vg0/forum,xvda,w', 'phy:/dev/vg0/wiki,xvdb,w' ]\n";
        let (vms, _, _) = parse("", "[]", configs, lvs, "{}");
        assert_eq!(
            vms[0].missing_volumes,
            vec!["/dev/vg0/forum (inactive: `lvchange -ay` it once its group is whole)".to_string()]
        );
    }

    #[test]
    fn json_std_numbers_and_lvm_errors() {
        let lvs = include_str!("../../../../tests/fixtures/probe/lvs-synthetic-json-std.txt");
        let (_, _, errors) = parse(
            "",
            "[]",
            "",
            lvs,
            r#"{"report":[{"vg":[{"vg_name":"vg0","vg_size":10,"vg_free":5}]}]}"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let (_, _, errors) = parse(
            "",
            "[]",
            "",
            "  WARNING: Running as a non-root user. Functionality may be unavailable.\n",
            "{}",
        );
        assert!(errors[0].starts_with("lvs: WARNING"));
        assert_eq!(mapper_path("vg-0", "forum-disk"), "/dev/mapper/vg--0-forum--disk");
    }

    #[test]
    fn only_a_volume_gone_from_the_metadata_is_a_lost_one() {
        assert_eq!(lost_volume("/dev/vg0/forum-disk"), Some(("vg0", "forum-disk")));
        assert_eq!(
            lost_volume("/dev/vg0/forum-disk (partial: its volume group lost a physical volume)"),
            None
        );
        assert_eq!(
            lost_volume("/dev/vg0/forum-disk (inactive: `lvchange -ay` it once its group is whole)"),
            None
        );
        assert_eq!(lost_volume("/dev/sdb1/x/y"), None);
        assert_eq!(lost_volume("/srv/xen/forum.img"), None);
    }
}
