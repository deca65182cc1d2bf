//! `vigie status [--json]`: one polling round, a table or JSON, exit code by
//! the worst alert (0 ok, 1 warning, 2 critical).

use crate::alerts::{self, Alert, Severity};
use crate::config::Config;
use crate::poller;
use crate::sanitize::one_line;
use crate::status::{HostStatus, Reachability};
use crate::status_json::{HostReport, StatusReport};

/// One polling round of every host, folded into statuses.
fn poll_round(config: &Config) -> Result<Vec<HostStatus>, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let results = runtime.block_on(poller::poll_all_once(config));
    // Sessions still connecting (a slow host) do not keep the process alive.
    runtime.shutdown_background();
    let mut hosts: Vec<HostStatus> = config.hosts.iter().map(HostStatus::new).collect();
    for result in &results {
        if let Some(host) = hosts.get_mut(result.host_index) {
            host.apply(result);
        }
    }
    Ok(hosts)
}

/// `vigie capacity DEAD TARGET`: can TARGET take DEAD's VMs?
pub fn capacity(config: &Config, dead: &str, target: &str, json: bool) -> i32 {
    let hosts = match poll_round(config) {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!("vigie capacity: {e}");
            return 2;
        }
    };
    let evacuation = match crate::capacity::evacuation(&hosts, dead, target) {
        Ok(evacuation) => evacuation,
        Err(e) => {
            eprintln!("vigie capacity: {e}");
            return 2;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&evacuation).unwrap_or_default());
    } else {
        let size = |v: Option<u64>| v.map(crate::format::human_bytes).unwrap_or_else(|| "?".into());
        println!("{}", evacuation.summary());
        println!("VMs of {} ({}):", evacuation.dead, evacuation.source);
        for vm in &evacuation.vms {
            println!(
                "  {:<8} {:<24} {:>10} RAM {:>10} disk  {}",
                vm.id,
                one_line(&vm.name),
                size(vm.memory_bytes),
                size(vm.disk_bytes),
                vm.state
            );
        }
        if let Some(at) = evacuation
            .last_replication
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        {
            println!(
                "last replication to {}: {} UTC — writes since then are lost",
                evacuation.target,
                at.format("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    if evacuation.fits() {
        0
    } else {
        1
    }
}

pub fn run(config: &Config, json: bool) -> i32 {
    let hosts = match poll_round(config) {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!("vigie status: {e}");
            return 2;
        }
    };
    let host_alerts: Vec<Vec<Alert>> = alerts::for_fleet(&hosts);
    let worst = host_alerts.iter().flatten().map(|a| a.severity).max();

    if json {
        let report = StatusReport {
            hosts: hosts
                .iter()
                .zip(host_alerts)
                .map(|(h, a)| HostReport::new(h, a))
                .collect(),
        };
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("vigie status: cannot write JSON: {e}");
                return 2;
            }
        }
    } else {
        print_table(&hosts, &host_alerts);
    }
    Severity::exit_code(worst)
}

fn print_table(hosts: &[HostStatus], host_alerts: &[Vec<Alert>]) {
    let name_width = hosts.iter().map(|h| h.name.chars().count()).max().unwrap_or(4).max(4);
    println!(
        "{:<name_width$}  {:<13} {:>6} {:>5} {:>5} {:>8}  ALERTS",
        "HOST", "STATE", "LOAD", "MEM", "DISK", "IO FULL"
    );
    for (host, alerts) in hosts.iter().zip(host_alerts) {
        let state = match &host.reachability {
            Reachability::Reachable => "● ok",
            Reachability::Unreachable { .. } => "✖ unreachable",
            Reachability::Unknown => "? unknown",
        };
        let health = host.health().filter(|_| host.is_reachable());
        let load = health.and_then(|h| h.load).map(|l| format!("{:.2}", l[0]));
        let memory = health
            .and_then(|h| h.memory)
            .map(|m| format!("{:.0}%", m.used_percent()));
        let disk = health
            .and_then(|h| h.filesystems.iter().map(|f| f.used_percent()).reduce(f64::max))
            .map(|p| format!("{p:.0}%"));
        let io = health
            .and_then(|h| h.io_pressure)
            .map(|p| format!("{:.1}%", p.full_avg10));
        let alert_text: Vec<String> = alerts
            .iter()
            .map(|a| format!("{} {}", a.severity.glyph(), one_line(&a.message)))
            .collect();
        let dash = || "—".to_string();
        println!(
            "{:<name_width$}  {:<13} {:>6} {:>5} {:>5} {:>8}  {}",
            host.name,
            state,
            load.unwrap_or_else(dash),
            memory.unwrap_or_else(dash),
            disk.unwrap_or_else(dash),
            io.unwrap_or_else(dash),
            alert_text.join("; ")
        );
    }
}
