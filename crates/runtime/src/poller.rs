//! Polls every host on the configured interval, one probe round trip each.
//!
//! Each host has its own task with at most one probe in flight, so a slow or
//! dead host never delays the others and work never piles up. Results go to
//! whoever holds the receiver (the TUI, `vigie status`).

use chrono::Utc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigie_core::config::{Config, Host};
use vigie_core::probe;
use vigie_core::status::{PollOutcome, PollResult};
use vigie_transport::endpoint::Resolver;
use vigie_transport::ssh::SshOptions;
use vigie_transport::{CommandRequest, Transport, TransportError};

/// A host to poll and how to reach it. A host whose SSH settings cannot be
/// resolved (a jump loop) carries the reason instead of a transport.
pub struct PollTarget {
    pub host: Host,
    pub transport: Transport,
}

/// The poll target of every host, in inventory order.
pub fn targets(config: &Config) -> Vec<PollTarget> {
    let resolver = Resolver::for_config(config);
    let options = SshOptions::from_config(config);
    let shared = std::sync::Arc::new(config.clone());
    config
        .hosts
        .iter()
        .map(|host| PollTarget {
            host: host.clone(),
            transport: Transport::for_host(&shared, &resolver, host, &options),
        })
        .collect()
}

/// Starts one polling task per host. Dropping the receiver stops them at their next send.
pub fn start(config: &Config) -> (mpsc::Receiver<PollResult>, Vec<JoinHandle<()>>) {
    start_with(
        targets(config),
        config.settings.poll_interval,
        config.settings.command_timeout,
    )
}

/// Starts polling the given targets (index = host index).
pub fn start_with(
    targets: Vec<PollTarget>,
    interval: Duration,
    timeout: Duration,
) -> (mpsc::Receiver<PollResult>, Vec<JoinHandle<()>>) {
    let (sender, receiver) = mpsc::channel(targets.len().max(1) * 4);
    let tasks = targets
        .into_iter()
        .enumerate()
        .map(|(index, target)| tokio::spawn(poll_forever(index, target, interval, timeout, sender.clone())))
        .collect();
    (receiver, tasks)
}

async fn poll_forever(
    host_index: usize,
    target: PollTarget,
    interval: Duration,
    timeout: Duration,
    results: mpsc::Sender<PollResult>,
) {
    // The script depends on the host's configuration only: made once.
    let script = probe::probe_script(&target.host);
    let mut ticker = tokio::time::interval(interval);
    // A probe that overran its interval does not trigger a burst of catch-up probes.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // The time a poll began: a host that did not answer was already
        // down then, however long the connect timeout took to say so.
        let at = Utc::now();
        let outcome = run_probe(&target.transport, &target.host, script.clone(), timeout).await;
        let result = PollResult {
            host_index,
            at,
            outcome,
        };
        if results.send(result).await.is_err() {
            return;
        }
    }
}

/// One polling round of every host at once, for `vigie status`.
pub async fn poll_all_once(config: &Config) -> Vec<PollResult> {
    let timeout = config.settings.command_timeout;
    let mut tasks = tokio::task::JoinSet::new();
    for (host_index, target) in targets(config).into_iter().enumerate() {
        tasks.spawn(async move {
            let at = Utc::now();
            let outcome = poll_target(&target, timeout).await;
            PollResult {
                host_index,
                at,
                outcome,
            }
        });
    }
    let mut results: Vec<PollResult> = tasks.join_all().await;
    results.sort_by_key(|r| r.host_index);
    results
}

async fn poll_target(target: &PollTarget, timeout: Duration) -> PollOutcome {
    poll_once(&target.transport, &target.host, timeout).await
}

/// One probe round trip: the host's whole probe script, parsed.
pub async fn poll_once(transport: &Transport, host: &Host, timeout: Duration) -> PollOutcome {
    run_probe(transport, host, probe::probe_script(host), timeout).await
}

/// [`poll_once`] with the host's probe script already made.
async fn run_probe(transport: &Transport, host: &Host, script: String, timeout: Duration) -> PollOutcome {
    match transport
        .run(CommandRequest {
            // Probes run in the session's shell: one login shell per session.
            session_shell: true,
            ..CommandRequest::new(script, timeout)
        })
        .await
    {
        // A probe that ran prints its sections (a failing part still leaves
        // the others); a login that never ran it (`nologin`, a forced
        // command) prints something else or nothing: that host is not fine.
        Ok(output) if probe::printed_sections(&output.stdout) => PollOutcome::Reading {
            reading: Box::new(probe::parse(host, &output.stdout_text())),
            round_trip: output.elapsed,
        },
        Ok(output) => {
            let (stdout, stderr) = (output.stdout_text(), output.stderr_text());
            let said: Vec<&str> = stderr
                .lines()
                .chain(stdout.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(3)
                .collect();
            let exit = match output.exit {
                Some(code) => format!("exit {code}"),
                None => "killed by a signal".to_string(),
            };
            let said = if said.is_empty() {
                "it printed nothing".to_string()
            } else {
                said.join(" / ")
            };
            PollOutcome::Failed(TransportError::Other(format!("the probe did not run ({exit}): {said}")))
        }
        Err(e) => PollOutcome::Failed(e),
    }
}
