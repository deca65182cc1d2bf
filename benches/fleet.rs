//! vigie's benchmark suite, run by `./scripts/bench` (`cargo bench --bench
//! fleet`). Everything is measured side by side in one run on this machine
//! and printed as one Markdown report (also written to
//! `target/bench-report.md`); BENCHMARKS.md keeps a run and explains it.
//!
//! - poll round: 100 real sshd on loopback, one status probe each: vigie
//!   (persistent sessions) against parallel-ssh -p 100, OpenSSH with
//!   ControlMaster connections in parallel, and ansible -m raw -f 100;
//!   cold (first connections) and steady (connections kept);
//! - render: a frame of 500 hosts, 2 000 VMs and 100 000 timeline events in
//!   a TestBackend, and the cost of folding one status update;
//! - timeline: append latency with fsync, 8 writers at once, opening and
//!   verifying 100 000 events, exporting their report;
//! - footprint: the real cockpit watching 100 hosts at a 5 s interval;
//! - host cost: the CPU a poll round costs the watched host (sshd included)
//!   with a costly `~/.bashrc`, per way of running the probe;
//! - a fleet of 1000: real sshd on 1000 loopback addresses, cold and steady
//!   rounds, and the cockpit's CPU, RSS and threads watching them all.
//!
//! `VIGIE_BENCH_QUICK=1` shortens every part (for a smoke run);
//! `VIGIE_BENCH_ONLY=host_cost,render` runs only the parts named.

#[allow(dead_code)]
#[path = "../tests/common/lab.rs"]
mod lab;

#[path = "support/big_lab.rs"]
mod big_lab;

use chrono::Utc;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigie::config::Config;
use vigie::status::{PollOutcome, PollResult};

fn quick() -> bool {
    std::env::var_os("VIGIE_BENCH_QUICK").is_some()
}

/// Median and 99th percentile of `samples`.
fn p50_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// One part of the benchmark: it adds its section to the report.
type Part = fn(&mut Report);

struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: impl AsRef<str>) {
        println!("{}", line.as_ref());
        let _ = writeln!(self.text, "{}", line.as_ref());
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and must not start a 3-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("fleet: a benchmark; run it with ./scripts/bench (cargo bench --bench fleet)");
        return;
    }
    let mut report = Report { text: String::new() };
    report.line("# vigie benchmarks");
    report.line("");
    machine(&mut report);
    let parts: [(&str, Part); 7] = [
        ("host_cost", host_cost),
        ("poll_rounds", poll_rounds),
        ("big_fleet", big_fleet),
        ("render", render),
        ("timeline", timeline),
        ("playbook_check", playbook_check),
        ("footprint", footprint),
    ];
    // `VIGIE_BENCH_ONLY=host_cost,render` runs those parts alone.
    let only = std::env::var("VIGIE_BENCH_ONLY").unwrap_or_default();
    for (name, part) in parts {
        if only.is_empty() || only.split(',').any(|o| o.trim() == name) {
            part(&mut report);
        }
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../bench-report.md");
    if std::fs::write(&path, &report.text).is_ok() {
        println!("\n(written to {})", path.display());
    }
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|_| "not found".into())
}

fn machine(report: &mut Report) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse::<u64>().ok())
        .map(|k| format!("{:.0} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    report.line("## Machine");
    report.line("");
    report.line(format!("- {model}, {cores} cores, {memory}"));
    report.line(format!("- {}", first_line("uname", &["-sr"])));
    report.line(format!("- {}", first_line("ssh", &["-V"])));
    report.line(format!("- parallel-ssh {}", first_line("parallel-ssh", &["--version"])));
    report.line(format!("- {}", first_line("ansible", &["--version"])));
    report.line(format!("- vigie {}", env!("CARGO_PKG_VERSION")));
    report.line("");
}

/// The probe every tool runs: vigie's own status probe for a Linux host.
fn probe_file(dir: &Path, config: &Config) -> PathBuf {
    let path = dir.join("probe.sh");
    std::fs::write(&path, vigie::probe::probe_script(&config.hosts[0])).expect("probe script");
    path
}

fn timed(mut command: Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the tool");
    let elapsed = started.elapsed();
    assert!(status.success(), "{command:?} failed: {status}");
    elapsed
}

fn poll_rounds(report: &mut Report) {
    let hosts = if quick() { 10 } else { 100 };
    let rounds = if quick() { 2 } else { 5 };
    let lab = lab::SshLab::start(hosts);
    let config = Config::parse(Path::new("bench.toml"), &lab.vigie_toml(&lab.known_hosts)).expect("lab config");
    let work = tempfile::tempdir().expect("temp dir");
    let probe = probe_file(work.path(), &config);
    let probe_command = format!("sh {}", probe.display());

    // vigie: the library's own poller, sessions kept between rounds.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let targets = vigie::poller::targets(&config);
    let round = |targets: &[vigie::poller::PollTarget]| {
        runtime.block_on(async {
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for target in targets {
                let transport = target.transport.clone();
                let host = target.host.clone();
                tasks.spawn(async move { vigie::poller::poll_once(&transport, &host, Duration::from_secs(30)).await });
            }
            let outcomes = tasks.join_all().await;
            let failed = outcomes.iter().filter(|o| matches!(o, PollOutcome::Failed(_))).count();
            assert_eq!(failed, 0, "every host answers");
            started.elapsed()
        })
    };
    let vigie_cold = round(&targets);
    let vigie_steady = median((0..rounds).map(|_| round(&targets)).collect());

    // parallel-ssh: a new connection per host, every round.
    let hosts_file = work.path().join("hosts");
    let lines: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| format!("{}@{}:{}", lab.user, h.address, h.port))
        .collect();
    std::fs::write(&hosts_file, lines.join("\n") + "\n").expect("hosts file");
    let ssh_options = [
        "-F".to_string(),
        "/dev/null".into(),
        "-i".into(),
        lab.client_key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", lab.known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
    ];
    let pssh = || {
        let mut command = Command::new("parallel-ssh");
        command
            .args(["-p", &hosts.to_string(), "-t", "60", "-h"])
            .arg(&hosts_file)
            .arg("-x")
            .arg(ssh_options.join(" "))
            .arg(&probe_command);
        timed(command)
    };
    let pssh_cold = pssh();
    let pssh_steady = median((0..rounds).map(|_| pssh()).collect());

    // OpenSSH multiplexed: one master per host, then a session on it per round.
    let sockets = work.path().join("cm");
    std::fs::create_dir(&sockets).expect("socket dir");
    let ssh_to = |index: usize, extra: &[String]| {
        let host = &lab.hosts[index];
        let mut command = Command::new("ssh");
        command
            .args(&ssh_options)
            .arg("-o")
            .arg(format!("ControlPath={}/%C", sockets.display()))
            .args(extra)
            .args(["-p", &host.port.to_string()])
            .arg(format!("{}@{}", lab.user, host.address))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let parallel = |extra: Vec<String>, command: Option<String>| {
        let started = Instant::now();
        let children: Vec<_> = (0..hosts)
            .map(|i| {
                let mut c = ssh_to(i, &extra);
                if let Some(command) = &command {
                    c.arg(command);
                }
                c.spawn().expect("ssh")
            })
            .collect();
        for mut child in children {
            assert!(child.wait().expect("ssh").success());
        }
        started.elapsed()
    };
    let mux_cold = parallel(
        vec![
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            "ControlPersist=120".into(),
        ],
        Some(probe_command.clone()),
    );
    let mux_steady = median(
        (0..rounds)
            .map(|_| {
                parallel(
                    vec!["-o".into(), "ControlMaster=no".into()],
                    Some(probe_command.clone()),
                )
            })
            .collect(),
    );
    parallel(vec!["-O".into(), "exit".into()], None);

    // ansible: ad-hoc raw module; its ssh connection plugin keeps
    // ControlPersist connections between runs by default.
    let inventory = work.path().join("inventory.ini");
    let mut ini = String::from("[lab]\n");
    for h in &lab.hosts {
        let _ = writeln!(
            ini,
            "{} ansible_host={} ansible_port={} ansible_user={}",
            h.name, h.address, h.port, lab.user
        );
    }
    std::fs::write(&inventory, ini).expect("inventory");
    let ansible = || {
        let mut command = Command::new("ansible");
        command
            .args(["lab", "-m", "raw", "-f", &hosts.to_string(), "-i"])
            .arg(&inventory)
            .args(["-a", &probe_command])
            .arg(format!("--private-key={}", lab.client_key.display()))
            .env("ANSIBLE_SSH_ARGS", format!(
                "-F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=120s",
                lab.known_hosts.display()
            ))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", work.path().join("ansible-cp"))
            .env("ANSIBLE_LOCAL_TEMP", work.path().join("ansible-tmp"))
            .env("ANSIBLE_HOME", work.path().join("ansible-home"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("LC_ALL", "C.UTF-8");
        timed(command)
    };
    let ansible_cold = ansible();
    let ansible_steady = median((0..rounds).map(|_| ansible()).collect());

    report.line(format!(
        "## Poll round: {hosts} hosts, one status probe each ({rounds} steady rounds, median)"
    ));
    report.line("");
    report.line("| tool | cold round | steady round | steady vs vigie |");
    report.line("|---|---|---|---|");
    for (tool, cold, steady) in [
        ("vigie (persistent sessions)", vigie_cold, vigie_steady),
        ("parallel-ssh -p N", pssh_cold, pssh_steady),
        ("OpenSSH ControlMaster, N in parallel", mux_cold, mux_steady),
        ("ansible -m raw -f N", ansible_cold, ansible_steady),
    ] {
        report.line(format!(
            "| {tool} | {} | {} | {:.1}× |",
            ms(cold),
            ms(steady),
            steady.as_secs_f64() / vigie_steady.as_secs_f64()
        ));
    }
    report.line("");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    p50_p99(&mut samples).0
}

/// A scripted fleet for the render benchmark: `hosts` Proxmox nodes, each
/// with `vms_per_host` VMs, a Linux reading and an incident timeline.
fn fleet(hosts: usize, vms_per_host: usize, events: usize) -> vigie::tui::app::App {
    let mut toml = String::new();
    for i in 0..hosts {
        let _ = writeln!(
            toml,
            "[[hosts]]\nname = \"pve{i:03}\"\naddress = \"10.0.{}.{}\"\nkind = \"proxmox\"",
            i / 200,
            i % 200 + 1
        );
    }
    let config = Config::parse(Path::new("fleet.toml"), &toml).expect("fleet config");
    let mut app = vigie::tui::app::App::new(&config, Utc::now());
    let health = vigie::probe::linux::parse(include_str!("../tests/fixtures/probe/linux-debian12-container.txt"));
    for i in 0..hosts {
        let vms = (0..vms_per_host)
            .map(|v| vigie::probe::model::Vm {
                id: format!("{}", 100 + i * vms_per_host + v),
                name: format!("vm-{i}-{v}"),
                state: if v % 7 == 0 { "stopped".into() } else { "running".into() },
                ..Default::default()
            })
            .collect();
        app.apply_poll(&PollResult {
            host_index: i,
            at: Utc::now(),
            outcome: PollOutcome::Reading {
                reading: Box::new(vigie::probe::Reading {
                    health: health.clone(),
                    vms,
                    ..Default::default()
                }),
                round_trip: Duration::from_millis(20),
            },
        });
    }
    let t0 = Utc::now();
    let mut batch = Vec::new();
    for seq in 1..=events as u64 {
        batch.push(vigie::timeline::Event {
            seq,
            id: format!("E{seq}"),
            at: t0,
            recorded_at: t0,
            actor: "alice".into(),
            kind: if seq == 1 {
                "incident.declared".into()
            } else {
                "note".into()
            },
            host: None,
            data: serde_json::json!({"title": "fleet", "severity": "major", "text": format!("note {seq}")}),
            prev: String::new(),
        });
    }
    app.apply_timeline(batch);
    app
}

fn render(report: &mut Report) {
    render_fleet(report, 500, 4);
    render_fleet(report, 1000, 5);
}

fn render_fleet(report: &mut Report, hosts: usize, vms_per_host: usize) {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let frames = if quick() { 20 } else { 300 };
    let mut app = fleet(hosts, vms_per_host, 100_000);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut frame_times = Vec::new();
    for _ in 0..frames {
        let started = Instant::now();
        terminal
            .draw(|frame| vigie::tui::views::render(frame, &app))
            .expect("draw");
        frame_times.push(started.elapsed());
    }
    let (p50, p99) = p50_p99(&mut frame_times);
    let mut updates = Vec::new();
    for i in 0..frames {
        let result = PollResult {
            host_index: i % hosts,
            at: Utc::now(),
            outcome: PollOutcome::Failed(vigie::transport::TransportError::Refused),
        };
        let started = Instant::now();
        app.apply_poll(&result);
        updates.push(started.elapsed());
    }
    let (u50, u99) = p50_p99(&mut updates);
    report.line(format!(
        "## Render: {hosts} hosts, {} VMs, 100 000 timeline events, 200×60",
        hosts * vms_per_host
    ));
    report.line("");
    report.line("| | p50 | p99 | target |");
    report.line("|---|---|---|---|");
    report.line(format!("| one frame | {} | {} | < 5 ms |", us(p50), us(p99)));
    report.line(format!(
        "| one status update folded (a host turning unreachable: its VMs re-placed) | {} | {} | |",
        us(u50),
        us(u99)
    ));
    report.line("");
}

/// `vigie check` of a playbook whose expect block has N lines, for N and
/// 4N: linear means the second takes about four times the first.
fn playbook_check(report: &mut Report) {
    let lines = if quick() { 2_000 } else { 10_000 };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut timings = Vec::new();
    for count in [lines, 4 * lines] {
        let mut text = String::from(
            "+++\nid = \"big\"\ntitle = \"Big\"\n+++\n\n## Many\n\n```sh {on=local}\necho x\n```\n\n```expect\n",
        );
        for i in 0..count {
            let _ = writeln!(text, "line{i}");
        }
        text.push_str("```\n");
        let path = dir.path().join(format!("big-{count}.md"));
        std::fs::write(&path, text).expect("playbook");
        let mut command = Command::new(env!("CARGO_BIN_EXE_vigie"));
        command.arg("check").arg(&path).current_dir(dir.path());
        timings.push((count, timed(command)));
    }
    report.line("## Playbook check");
    report.line("");
    report.line("| expect lines | `vigie check` |");
    report.line("| --- | --- |");
    for (count, took) in &timings {
        report.line(format!("| {count} | {} |", ms(*took)));
    }
    report.line("");
}

fn timeline(report: &mut Report) {
    let disk = tempfile::Builder::new()
        .prefix("vigie-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let options = || vigie::timeline::TimelineOptions::new("bench");
    let appends = if quick() { 50 } else { 1000 };
    let mut timeline = vigie::timeline::Timeline::open(disk.path(), options()).expect("timeline");
    let mut latencies = Vec::new();
    for i in 0..appends {
        let event = vigie::timeline::NewEvent::new("note", serde_json::json!({"text": format!("note {i}")}));
        let started = Instant::now();
        timeline.append(event).expect("append");
        latencies.push(started.elapsed());
    }
    let (a50, a99) = p50_p99(&mut latencies);

    // 8 writers at once, each with its own handle (as 8 responders would).
    let shared = tempfile::Builder::new()
        .prefix("vigie-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let per_writer = if quick() { 20 } else { 250 };
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..8 {
            let dir = shared.path();
            scope.spawn(move || {
                let mut timeline =
                    vigie::timeline::Timeline::open(dir, vigie::timeline::TimelineOptions::new(format!("w{w}")))
                        .expect("timeline");
                for i in 0..per_writer {
                    let event = vigie::timeline::NewEvent::new("note", serde_json::json!({"text": format!("{w}/{i}")}));
                    timeline.append(event).expect("append");
                }
            });
        }
    });
    let eight = started.elapsed();
    let throughput = (8 * per_writer) as f64 / eight.as_secs_f64();

    // 100 000 events, written on tmpfs (fsync is free there), read from disk.
    let events = if quick() { 5_000 } else { 100_000 };
    let memory = tempfile::Builder::new()
        .prefix("vigie-bench-")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm");
    let mut big = vigie::timeline::Timeline::open(memory.path(), options()).expect("timeline");
    big.append(vigie::timeline::NewEvent::new(
        "incident.declared",
        serde_json::json!({"title": "big", "severity": "major", "status": "investigating"}),
    ))
    .expect("append");
    for i in 1..events {
        let (kind, data) = match i % 3 {
            0 => ("note", serde_json::json!({"text": format!("note {i}")})),
            1 => (
                "command.sent",
                serde_json::json!({"run": "r", "step": "s", "command": "qm list"}),
            ),
            _ => (
                "command.finished",
                serde_json::json!({"run": "r", "step": "s", "exit": 0, "ms": 12, "output": "101 vm running\n"}),
            ),
        };
        big.append(vigie::timeline::NewEvent::new(kind, data)).expect("append");
    }
    drop(big);
    let on_disk = tempfile::Builder::new()
        .prefix("vigie-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let file = on_disk.path().join(vigie::timeline::TIMELINE_FILE);
    std::fs::copy(memory.path().join(vigie::timeline::TIMELINE_FILE), &file).expect("copy");
    let started = Instant::now();
    let read = vigie::timeline::store::read_all(&file).expect("read");
    let verification = vigie::timeline::verify::verify(&file).expect("verify");
    let open_verify = started.elapsed();
    assert_eq!(read.len(), events);
    assert!(verification.problem.is_none(), "the generated timeline verifies");
    let started = Instant::now();
    let summary = vigie::incident::summarize(on_disk.path()).expect("summary");
    let report_model = vigie::report::Report::new(summary, &read);
    let mut sizes = Vec::new();
    for format in ["md", "html", "json"] {
        sizes.push(
            vigie::report::render(&report_model, format, vigie::report::Zone::machine())
                .expect("render")
                .len(),
        );
    }
    let export = started.elapsed();

    report.line("## Timeline");
    report.line("");
    report.line("| | measured | target |");
    report.line("|---|---|---|");
    report.line(format!(
        "| append with fsync, p50 / p99 ({appends} appends) | {} / {} | |",
        us(a50),
        us(a99)
    ));
    report.line(format!(
        "| 8 writers at once, {} events | {:.0} events/s ({}) | |",
        8 * per_writer,
        throughput,
        ms(eight)
    ));
    report.line(format!(
        "| open + verify {events} events | {} | < 1 s |",
        ms(open_verify)
    ));
    report.line(format!(
        "| report of {events} events, md + html + json ({:.0} MB) | {} | |",
        sizes.iter().sum::<usize>() as f64 / 1e6,
        ms(export)
    ));
    report.line("");
}

/// The Linux section of the probe as it was before it read /proc with the
/// shell's own `read` (a program per file: cat, uname, nproc...), to
/// measure what that change saves.
const LINUX_PROBE_BEFORE: &str = "export LC_ALL=C
echo '@@vigie uname'; uname -n -r 2>/dev/null
echo '@@vigie uptime'; cat /proc/uptime 2>/dev/null
echo '@@vigie loadavg'; cat /proc/loadavg 2>/dev/null
echo '@@vigie nproc'; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
echo '@@vigie meminfo'; cat /proc/meminfo 2>/dev/null
echo '@@vigie df'; df -P -k -x tmpfs -x devtmpfs -x squashfs -x efivarfs -x overlay 2>/dev/null
echo '@@vigie pressure_io'; cat /proc/pressure/io 2>/dev/null
echo '@@vigie diskstats'; cat /proc/diskstats 2>/dev/null
";

/// A `~/.bashrc` that costs about what `pyenv init` costs (150 ms of CPU
/// on the machine of BENCHMARKS.md): pyenv itself cannot be installed
/// without the network, a loop of the shell's own stands in for it.
const COSTLY_BASHRC: &str = "vigie_i=0; while [ $vigie_i -lt 75000 ]; do vigie_i=$((vigie_i + 1)); done\n";

/// CPU ticks (user + system, children reaped included) of every process
/// under `root` (itself included): for sshd, its sessions and all they ran.
fn tree_ticks(root: u32) -> u64 {
    let mut all = lab::descendants(root as i32);
    all.push(root as i32);
    // utime, stime, cutime, cstime: fields 14-17 of stat, here 11-14.
    all.into_iter()
        .map(|pid| stat_fields(pid as u32)[11..15].iter().sum::<u64>())
        .sum()
}

/// The numeric fields of `/proc/PID/stat` after the command name (which
/// may hold spaces), zeros where unreadable: field 3 of stat(5) is index 0.
fn stat_fields(pid: u32) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let mut fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    fields.resize(fields.len().max(20), 0);
    fields
}

/// vigie's cost on the host it watches: the CPU of sshd's sessions and of
/// everything they run, per poll round, on a host whose `~/.bashrc` is
/// costly. Channel per probe (as before) against the session's shell, with
/// the probe as it was and as it is, beside the floor (an empty script in
/// the session's shell).
fn host_cost(report: &mut Report) {
    let rounds: u32 = if quick() { 10 } else { 60 };
    let user = "vigie-bench";
    lab::login_with_bashrc(user, COSTLY_BASHRC);
    let mut lab = lab::SshLab::start(1);
    lab.hosts[0].rc_files = true;
    lab.kill_host(0);
    lab.start_host(0);
    lab.allow_other_users();
    let sshd = lab.hosts[0].pid().expect("sshd's pid");
    let config = Config::parse(Path::new("bench.toml"), &lab.vigie_toml(&lab.known_hosts)).expect("lab config");
    let host = config.hosts[0].clone();
    let current = vigie::probe::probe_script(&host);
    let before = current.replace(vigie::probe::linux::SCRIPT, LINUX_PROBE_BEFORE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut endpoint = lab.endpoint(0);
    endpoint.user = user.to_string();
    let transport =
        vigie::transport::Transport::Ssh(vigie::transport::ssh::SshHandle::spawn(endpoint, lab.ssh_options()));
    // Per round, in ms of host CPU: `rounds` runs of `script`, one every 200 ms.
    let measure = |script: &str, session_shell: bool| -> f64 {
        let request = || vigie::transport::CommandRequest {
            session_shell,
            ..vigie::transport::CommandRequest::new(script, Duration::from_secs(30))
        };
        // Warm: connected, the shell started, the script defined.
        runtime.block_on(transport.run(request())).expect("probe");
        let start = tree_ticks(sshd);
        for _ in 0..rounds {
            runtime.block_on(transport.run(request())).expect("probe");
            std::thread::sleep(Duration::from_millis(200));
        }
        let ticks = tree_ticks(sshd) - start;
        ticks as f64 * 10.0 / f64::from(rounds)
    };
    let channel_before = measure(&before, false);
    let channel_now = measure(&current, false);
    let shell_before = measure(&before, true);
    let shell_now = measure(&current, true);
    let floor = measure(":", true);
    report.line(format!(
        "## vigie's cost on the watched host: CPU per poll round, sshd included ({rounds} rounds)"
    ));
    report.line("");
    report.line("The host's `~/.bashrc` costs about what `pyenv init` does (a shell loop stands in for it).");
    report.line("");
    report.line(
        "| how the probe runs | probe as before (a program per /proc file) | probe now (shell's `read`, one df) |",
    );
    report.line("|---|---|---|");
    report.line(format!(
        "| a channel per probe (login shell each time) | {channel_before:.1} ms | {channel_now:.1} ms |"
    ));
    report.line(format!(
        "| the session's shell (login shell once) | {shell_before:.1} ms | {shell_now:.1} ms |"
    ));
    report.line(format!(
        "| floor: an empty script in the session's shell | | {floor:.1} ms |"
    ));
    report.line("");
    report.line("Target: ≤ 4 ms per round with the probe now in the session's shell.");
    report.line("");
}

/// Proportional set size of `pids` together, in MiB (shared pages split
/// between the processes that share them).
fn pss_mib(pids: &[i32]) -> f64 {
    let kib: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|text| {
            text.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .sum();
    kib as f64 / 1024.0
}

/// A thousand real sshd hosts on loopback: vigie's cold and steady poll
/// rounds, then the real cockpit watching them (RSS, CPU, threads).
fn big_fleet(report: &mut Report) {
    let hosts = if quick() { 100 } else { 1000 };
    let rounds = if quick() { 2 } else { 3 };
    vigie::transport::raise_open_file_limit();
    let started = Instant::now();
    let lab = big_lab::BigLab::start(hosts);
    let lab_start = started.elapsed();
    let idle_lab = pss_mib(&lab.processes());
    let toml = lab.vigie_toml("5s");
    let config = Config::parse(Path::new("big.toml"), &toml).expect("big config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let own_rss = || sample(std::process::id()).1 as f64 / 1024.0;
    let rss_before_sessions = own_rss();
    let (cold, steady, connected_lab, rss_sessions) = {
        let targets = vigie::poller::targets(&config);
        let round = || {
            runtime.block_on(async {
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for target in &targets {
                    let transport = target.transport.clone();
                    let host = target.host.clone();
                    tasks.spawn(
                        async move { vigie::poller::poll_once(&transport, &host, Duration::from_secs(120)).await },
                    );
                }
                let outcomes = tasks.join_all().await;
                let failed: Vec<String> = outcomes
                    .iter()
                    .filter_map(|o| match o {
                        PollOutcome::Failed(e) => Some(e.to_string()),
                        _ => None,
                    })
                    .collect();
                assert!(
                    failed.is_empty(),
                    "{} hosts failed, first: {:?}",
                    failed.len(),
                    failed.first()
                );
                started.elapsed()
            })
        };
        let cold = round();
        let steady = median((0..rounds).map(|_| round()).collect());
        (cold, steady, pss_mib(&lab.processes()), own_rss())
        // The sessions close here, before the cockpit opens its own.
    };
    std::thread::sleep(Duration::from_secs(2));

    // The real cockpit, polling every 5 s.
    let dir = tempfile::tempdir().expect("config dir");
    let config_path = dir.path().join("vigie.toml");
    std::fs::write(&config_path, &toml).expect("config");
    let warm_up = Duration::from_secs(if quick() { 20 } else { 60 });
    let window = Duration::from_secs(if quick() { 20 } else { 60 });
    let cockpit = sample_cockpit(&config_path, (200, 60), warm_up, window);
    let live = cockpit.screen.lines().filter(|l| l.contains("load ")).count();
    report.line(format!("## A fleet of {hosts}: real sshd on loopback"));
    report.line("");
    report.line(format!(
        "The lab: {} sshd listening on 16 addresses each (127.1.x.y), started in {:.1} s; \
         {idle_lab:.0} MiB (PSS) idle, {connected_lab:.0} MiB with vigie's {hosts} sessions open \
         (two sshd processes and one shell per session).",
        hosts.div_ceil(16),
        lab_start.as_secs_f64()
    ));
    report.line("");
    report.line("| | measured | target |");
    report.line("|---|---|---|");
    report.line(format!("| cold round (every session opened) | {} | |", ms(cold)));
    report.line(format!(
        "| memory of {hosts} open sessions in the polling process (RSS growth) | {:.0} MB | |",
        rss_sessions - rss_before_sessions
    ));
    report.line(format!(
        "| steady round (median of {rounds}, sessions kept) | {} | |",
        ms(steady)
    ));
    report.line(format!(
        "| the cockpit, polling every 5 s: CPU, share of one core ({} s) | {:.2} % | < 5 % |",
        window.as_secs(),
        cockpit.cpu
    ));
    report.line(format!("| the cockpit's RSS | {:.0} MB | < 150 MB |", cockpit.rss_mb));
    report.line(format!("| the cockpit's threads | {} | |", cockpit.threads));
    report.line(format!("| host rows live on its screen at the sample | {live} | |"));
    report.line("");
}

/// CPU ticks (utime + stime) and RSS of `pid`.
fn sample(pid: u32) -> (u64, u64) {
    let fields = stat_fields(pid);
    let ticks = fields[11] + fields[12];
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0);
    (ticks, rss_kib)
}

/// The real cockpit (release binary, in a tmux pane of `size`) on `config`:
/// after `warm_up`, its CPU over `window`, RSS, threads and screen.
struct CockpitSample {
    /// Share of one core, in percent.
    cpu: f64,
    rss_mb: f64,
    threads: String,
    screen: String,
}

fn sample_cockpit(config: &Path, (width, height): (u16, u16), warm_up: Duration, window: Duration) -> CockpitSample {
    let home = tempfile::tempdir().expect("home");
    let session = format!("vigie-bench-{}-{width}", std::process::id());
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ])
        .arg(format!(
            "env HOME={} SSH_AUTH_SOCK= {} --config {}",
            home.path().display(),
            env!("CARGO_BIN_EXE_vigie"),
            config.display()
        ))
        .status()
        .expect("tmux");
    assert!(started.success(), "tmux");
    // Warm-up: every session connected, a few rounds done.
    std::thread::sleep(warm_up);
    let pid = Command::new("tmux")
        .args(["list-panes", "-t", &session, "-F", "#{pane_pid}"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().ok())
        .expect("the cockpit's pid");
    let screen = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", &session])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let (before, _) = sample(pid);
    // `VIGIE_BENCH_PERF=FILE`: a perf profile of the cockpit over the window.
    let profiler = std::env::var("VIGIE_BENCH_PERF").ok().and_then(|file| {
        Command::new("perf")
            .args([
                "record",
                "--call-graph",
                "dwarf,16384",
                "-F",
                "499",
                "-o",
                &file,
                "-p",
                &pid.to_string(),
                "--",
                "sleep",
            ])
            .arg(window.as_secs().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    });
    std::thread::sleep(window);
    let (after, rss) = sample(pid);
    if let Some(mut profiler) = profiler {
        let _ = profiler.wait();
    }
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        .unwrap_or_default();
    if let Ok(file) = std::env::var("VIGIE_BENCH_SMAPS") {
        let _ = std::fs::copy(format!("/proc/{pid}/smaps"), file);
    }
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    CockpitSample {
        cpu: (after - before) as f64 / ticks_per_second / window.as_secs_f64() * 100.0,
        rss_mb: rss as f64 / 1024.0,
        threads,
        screen,
    }
}

fn footprint(report: &mut Report) {
    let hosts = if quick() { 10 } else { 100 };
    let window = Duration::from_secs(if quick() { 10 } else { 60 });
    let lab = lab::SshLab::start(hosts);
    let dir = tempfile::tempdir().expect("config dir");
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        lab.vigie_toml(&lab.known_hosts)
            .replace("poll_interval = \"1s\"", "poll_interval = \"5s\""),
    )
    .expect("config");
    let cockpit = sample_cockpit(&config, (160, 50), Duration::from_secs(12), window);
    report.line(format!(
        "## Footprint: the cockpit watching {hosts} hosts at a 5 s interval, {} s",
        window.as_secs()
    ));
    report.line("");
    report.line("| | measured | target |");
    report.line("|---|---|---|");
    report.line(format!("| CPU, share of one core | {:.2} % | < 5 % |", cockpit.cpu));
    report.line(format!("| RSS | {:.0} MB | < 100 MB |", cockpit.rss_mb));
    report.line(format!("| threads | {} | |", cockpit.threads));
    report.line("");
}
