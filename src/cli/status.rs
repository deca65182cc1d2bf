//! `vigie status [--json]`: one polling round, a table or JSON, exit code by
//! the worst alert (0 ok, 1 warning, 2 critical).

use crate::alerts::{self, Alert, Severity};
use crate::config::Config;
use crate::poller;
use crate::sanitize::one_line;
use crate::status::{HostStatus, Reachability};
use crate::status_json::{HostReport, StatusReport};

pub fn run(config: &Config, json: bool) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vigie status: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let results = runtime.block_on(poller::poll_all_once(config));
    let mut hosts: Vec<HostStatus> = config.hosts.iter().map(HostStatus::new).collect();
    for result in &results {
        if let Some(host) = hosts.get_mut(result.host_index) {
            host.apply(result);
        }
    }
    let host_alerts: Vec<Vec<Alert>> = hosts.iter().map(alerts::for_host).collect();
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
    // Let SSH threads end with the runtime rather than keep the process alive.
    runtime.shutdown_background();
    Severity::exit_code(worst)
}

fn print_table(hosts: &[HostStatus], host_alerts: &[Vec<Alert>]) {
    let name_width = hosts
        .iter()
        .map(|h| h.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
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
            .and_then(|h| {
                h.filesystems
                    .iter()
                    .map(|f| f.used_percent())
                    .reduce(f64::max)
            })
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
