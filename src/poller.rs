//! Polls every host on the configured interval, one probe round trip each.
//!
//! Each host has its own task with at most one probe in flight, so a slow or
//! dead host never delays the others and work never piles up. Results go to
//! whoever holds the receiver (the TUI, `vigie status`).

use crate::config::{Config, Host, TransportKind};
use crate::probe;
use crate::status::{PollOutcome, PollResult};
use crate::transport::{local, CommandRequest, TransportError};
use chrono::Utc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Starts one polling task per host. Dropping the receiver stops them at their next send.
pub fn start(config: &Config) -> (mpsc::Receiver<PollResult>, Vec<JoinHandle<()>>) {
    let (sender, receiver) = mpsc::channel(config.hosts.len().max(1) * 4);
    let interval = config.settings.poll_interval;
    let timeout = config.settings.command_timeout;
    let tasks = config
        .hosts
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, host)| {
            tokio::spawn(poll_forever(index, host, interval, timeout, sender.clone()))
        })
        .collect();
    (receiver, tasks)
}

async fn poll_forever(
    host_index: usize,
    host: Host,
    interval: Duration,
    timeout: Duration,
    results: mpsc::Sender<PollResult>,
) {
    let mut ticker = tokio::time::interval(interval);
    // A probe that overran its interval does not trigger a burst of catch-up probes.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = poll_once(&host, timeout).await;
        let result = PollResult {
            host_index,
            at: Utc::now(),
            outcome,
        };
        if results.send(result).await.is_err() {
            return;
        }
    }
}

/// One probe round trip to `host`.
pub async fn poll_once(host: &Host, timeout: Duration) -> PollOutcome {
    let request = CommandRequest::new(probe::probe_script(), timeout);
    let output = match host.transport {
        TransportKind::Local => local::run(&request).await,
        TransportKind::Ssh => Err(TransportError::Other("SSH transport not configured".into())),
    };
    match output {
        Ok(output) => {
            let text = output.stdout_text();
            PollOutcome::Health {
                health: Box::new(probe::linux::parse(&text)),
                round_trip: output.elapsed,
            }
        }
        Err(e) => PollOutcome::Failed(e.to_string()),
    }
}
