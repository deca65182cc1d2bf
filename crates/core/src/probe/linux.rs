//! Linux health: load, CPUs, memory, filesystems, I/O pressure, disk counters.

use super::split_sections;
use serde::Serialize;

/// The probe sections for Linux health (see `linux_probe.sh`).
pub const SCRIPT: &str = include_str!("linux_probe.sh");

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LinuxHealth {
    pub hostname: Option<String>,
    pub kernel: Option<String>,
    pub uptime_s: Option<f64>,
    /// 1, 5 and 15 minute load averages.
    pub load: Option<[f64; 3]>,
    pub cpus: Option<u32>,
    pub memory: Option<Memory>,
    pub filesystems: Vec<Filesystem>,
    pub io_pressure: Option<Pressure>,
    /// Raw cumulative counters; rates come from two polls (see `status`).
    #[serde(skip)]
    pub disk_counters: Vec<DiskCounters>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Memory {
    pub total_kib: u64,
    /// MemAvailable, or an estimate (free + buffers + cached) on kernels before 3.14.
    pub available_kib: u64,
    pub swap_total_kib: u64,
    pub swap_free_kib: u64,
}

impl Memory {
    pub fn used_percent(&self) -> f64 {
        percent(self.total_kib.saturating_sub(self.available_kib), self.total_kib)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    pub device: String,
    pub mount: String,
    pub size_kib: u64,
    pub used_kib: u64,
    pub available_kib: u64,
}

impl Filesystem {
    /// As `df` computes it: used / (used + available), ignoring reserved blocks.
    pub fn used_percent(&self) -> f64 {
        percent(self.used_kib, self.used_kib + self.available_kib)
    }
}

/// `/proc/pressure/io`: share of time some / all tasks stalled on I/O.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Pressure {
    pub some_avg10: f64,
    pub some_avg60: f64,
    pub full_avg10: f64,
    pub full_avg60: f64,
}

/// Cumulative counters of one block device from `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCounters {
    pub device: String,
    pub sectors_read: u64,
    pub sectors_written: u64,
    /// Milliseconds spent doing I/O (field 10): busy time.
    pub io_ms: u64,
}

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Parses the output of [`SCRIPT`]. Missing or garbled sections leave their field empty.
pub fn parse(output: &str) -> LinuxHealth {
    let sections = split_sections(output);
    let section = |name: &str| sections.get(name).copied().unwrap_or("");
    let (hostname, kernel) = parse_uname(section("uname"));
    LinuxHealth {
        hostname,
        kernel,
        uptime_s: section("uptime").split_whitespace().next().and_then(|v| v.parse().ok()),
        load: parse_loadavg(section("loadavg")),
        cpus: section("nproc").trim().parse().ok(),
        memory: parse_meminfo(section("meminfo")),
        filesystems: parse_df(section("df")),
        io_pressure: parse_pressure(section("pressure_io")),
        disk_counters: parse_diskstats(section("diskstats")),
    }
}

fn parse_uname(text: &str) -> (Option<String>, Option<String>) {
    let mut words = text.split_whitespace();
    (words.next().map(String::from), words.next().map(String::from))
}

pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut values = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([values.next()??, values.next()??, values.next()??])
}

pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let mut total = None;
    let mut available = None;
    let (mut free, mut buffers, mut cached) = (0, 0, 0);
    let (mut swap_total, mut swap_free) = (0, 0);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        match key {
            "MemTotal" => total = Some(value),
            "MemAvailable" => available = Some(value),
            "MemFree" => free = value,
            "Buffers" => buffers = value,
            "Cached" => cached = value,
            "SwapTotal" => swap_total = value,
            "SwapFree" => swap_free = value,
            _ => {}
        }
    }
    let total_kib = total?;
    Some(Memory {
        total_kib,
        available_kib: available.unwrap_or(free + buffers + cached).min(total_kib),
        swap_total_kib: swap_total,
        swap_free_kib: swap_free,
    })
}

/// `df -P -k`: POSIX format, one line per filesystem, mount point last (may hold spaces).
pub fn parse_df(text: &str) -> Vec<Filesystem> {
    let mut filesystems: Vec<Filesystem> = Vec::new();
    for line in text.lines().skip_while(|l| l.starts_with("Filesystem")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        // The capacity column ends with '%'; everything after it is the mount point.
        let Some(capacity_index) = fields.iter().skip(4).position(|f| f.ends_with('%')).map(|i| i + 4) else {
            continue;
        };
        let numbers: Vec<u64> = fields[capacity_index - 3..capacity_index]
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        if numbers.len() != 3 {
            continue;
        }
        let device = fields[..capacity_index - 3].join(" ");
        let mount = fields[capacity_index + 1..].join(" ");
        if mount.is_empty() || filesystems.iter().any(|f| f.mount == mount) {
            continue;
        }
        filesystems.push(Filesystem {
            device,
            mount,
            size_kib: numbers[0],
            used_kib: numbers[1],
            available_kib: numbers[2],
        });
    }
    filesystems
}

pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut pressure = Pressure::default();
    let mut seen = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let which = words.next();
        let mut avg10 = None;
        let mut avg60 = None;
        for word in words {
            match word.split_once('=') {
                Some(("avg10", v)) => avg10 = v.parse().ok(),
                Some(("avg60", v)) => avg60 = v.parse().ok(),
                _ => {}
            }
        }
        let (Some(a10), Some(a60)) = (avg10, avg60) else {
            continue;
        };
        seen = true;
        match which {
            Some("some") => (pressure.some_avg10, pressure.some_avg60) = (a10, a60),
            Some("full") => (pressure.full_avg10, pressure.full_avg60) = (a10, a60),
            _ => {}
        }
    }
    seen.then_some(pressure)
}

/// Whole disks only (no partitions, loop, ram or zram devices), so rates are not counted twice.
pub fn parse_diskstats(text: &str) -> Vec<DiskCounters> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let device = f[2];
            if !is_whole_disk(device) {
                return None;
            }
            Some(DiskCounters {
                device: device.to_string(),
                sectors_read: f[5].parse().ok()?,
                sectors_written: f[9].parse().ok()?,
                io_ms: f[12].parse().ok()?,
            })
        })
        .collect()
}

fn is_whole_disk(device: &str) -> bool {
    const VIRTUAL: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "fd"];
    if VIRTUAL.iter().any(|p| device.starts_with(p)) {
        return false;
    }
    let ends_with_digit = device.chars().last().is_some_and(|c| c.is_ascii_digit());
    if device.starts_with("nvme") || device.starts_with("mmcblk") {
        // nvme0n1 is a disk, nvme0n1p1 a partition.
        return !device.contains('p')
            || !device
                .rsplit('p')
                .next()
                .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()));
    }
    // sda, vda, xvda are disks; sda1, vda2 partitions.
    !ends_with_digit
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN12: &str = include_str!("../../../../tests/fixtures/probe/linux-debian12-container.txt");

    fn run(program: &str, args: &[&str]) -> String {
        let out = std::process::Command::new(program).args(args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The probe reads with the shell's own `read` what programs used to
    /// print: on this machine, it must say what those programs say.
    #[test]
    fn the_probe_says_what_uname_getconf_and_cat_say() {
        let output = run("sh", &["-c", SCRIPT]);
        let sections = crate::probe::split_sections(&output);
        assert_eq!(sections["uname"], run("uname", &["-n", "-r"]));
        assert_eq!(sections["nproc"].trim(), run("getconf", &["_NPROCESSORS_ONLN"]).trim());
        // Keys as cat prints them (values move between two reads).
        let keys = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(keys(sections["meminfo"]), keys(&run("cat", &["/proc/meminfo"])));
        assert_eq!(keys(sections["diskstats"]), keys(&run("cat", &["/proc/diskstats"])));
        assert_eq!(
            sections["loadavg"].split_whitespace().count(),
            run("cat", &["/proc/loadavg"]).split_whitespace().count()
        );
    }

    #[test]
    fn parses_a_real_debian_probe() {
        let h = parse(DEBIAN12);
        assert_eq!(h.hostname.as_deref(), Some("vm"));
        assert_eq!(h.load, Some([1.58, 0.96, 0.39]));
        assert_eq!(h.cpus, Some(2));
        let m = h.memory.unwrap();
        assert_eq!(m.total_kib, 24684092);
        assert_eq!(m.available_kib, 24307748);
        assert_eq!(h.filesystems.len(), 1);
        assert_eq!(h.filesystems[0].mount, "/");
        assert_eq!(h.filesystems[0].used_percent().round(), 13.0);
        let p = h.io_pressure.unwrap();
        assert_eq!(p.full_avg10, 0.29);
        assert_eq!(h.disk_counters.len(), 1);
        assert_eq!(h.disk_counters[0].device, "vda");
        assert_eq!(h.disk_counters[0].sectors_written, 3591512);
        assert_eq!(h.uptime_s, Some(3439.92));
    }

    #[test]
    fn old_kernel_without_memavailable_or_psi() {
        let out = "@@vigie meminfo\nMemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n@@vigie pressure_io\n@@vigie end\n";
        let h = parse(out);
        assert_eq!(h.memory.unwrap().available_kib, 400);
        assert_eq!(h.io_pressure, None);
        assert_eq!(h.load, None);
    }

    #[test]
    fn df_with_spaces_in_mount_and_long_device() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                   /dev/mapper/pve-root 98559220 9013876 84495796 10% /\n\
                   //nas/share with space 1000 900 100 90% /mnt/my share\n";
        let fs = parse_df(out);
        assert_eq!(fs.len(), 2);
        assert_eq!(fs[1].device, "//nas/share with space");
        assert_eq!(fs[1].mount, "/mnt/my share");
        assert_eq!(fs[1].used_percent(), 90.0);
    }

    #[test]
    fn whole_disks_only() {
        for disk in ["sda", "vda", "nvme0n1", "xvda", "mmcblk0"] {
            assert!(is_whole_disk(disk), "{disk}");
        }
        for part in ["sda1", "nvme0n1p2", "loop0", "dm-0", "zram0", "mmcblk0p1"] {
            assert!(!is_whole_disk(part), "{part}");
        }
    }

    #[test]
    fn garbage_gives_empty_health_not_a_panic() {
        let h = parse("@@vigie loadavg\nnot numbers\n@@vigie df\n%%%\n@@vigie meminfo\nMemTotal: x kB\n");
        assert_eq!(h, LinuxHealth::default());
    }
}
