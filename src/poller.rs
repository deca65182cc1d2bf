//! Polls every host on the configured interval, one probe round trip each.
//!
//! Each host has its own task with at most one probe in flight, so a slow or
//! dead host never delays the others and work never piles up. Results go to
//! whoever holds the receiver (the TUI, `vigie status`).

use crate::config::Config;
use crate::probe;
use crate::status::{PollOutcome, PollResult};
use crate::transport::ssh::SshOptions;
use crate::transport::ssh_config::SshConfig;
use crate::transport::{CommandRequest, Transport, TransportError};
use chrono::Utc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The transport of every host, in inventory order. A host whose SSH
/// settings cannot be resolved (a jump loop) gets the reason instead.
pub fn transports(config: &Config) -> Vec<Result<Transport, String>> {
    let ssh_config = SshConfig::load_user_config();
    let options = SshOptions::from_config(config);
    config
        .hosts
        .iter()
        .map(|host| Transport::for_host(config, &ssh_config, host, &options))
        .collect()
}

/// Starts one polling task per host. Dropping the receiver stops them at their next send.
pub fn start(config: &Config) -> (mpsc::Receiver<PollResult>, Vec<JoinHandle<()>>) {
    start_with(
        transports(config),
        config.settings.poll_interval,
        config.settings.command_timeout,
    )
}

/// Starts polling the given transports (index = host index).
pub fn start_with(
    transports: Vec<Result<Transport, String>>,
    interval: Duration,
    timeout: Duration,
) -> (mpsc::Receiver<PollResult>, Vec<JoinHandle<()>>) {
    let (sender, receiver) = mpsc::channel(transports.len().max(1) * 4);
    let tasks = transports
        .into_iter()
        .enumerate()
        .map(|(index, transport)| {
            tokio::spawn(poll_forever(
                index,
                transport,
                interval,
                timeout,
                sender.clone(),
            ))
        })
        .collect();
    (receiver, tasks)
}

async fn poll_forever(
    host_index: usize,
    transport: Result<Transport, String>,
    interval: Duration,
    timeout: Duration,
    results: mpsc::Sender<PollResult>,
) {
    let mut ticker = tokio::time::interval(interval);
    // A probe that overran its interval does not trigger a burst of catch-up probes.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = match &transport {
            Ok(transport) => poll_once(transport, timeout).await,
            Err(reason) => PollOutcome::Failed(TransportError::Other(reason.clone())),
        };
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

/// One polling round of every host at once, for `vigie status`.
pub async fn poll_all_once(config: &Config) -> Vec<PollResult> {
    let timeout = config.settings.command_timeout;
    let mut tasks = tokio::task::JoinSet::new();
    for (host_index, transport) in transports(config).into_iter().enumerate() {
        tasks.spawn(async move {
            let outcome = match transport {
                Ok(transport) => poll_once(&transport, timeout).await,
                Err(reason) => PollOutcome::Failed(TransportError::Other(reason)),
            };
            PollResult {
                host_index,
                at: Utc::now(),
                outcome,
            }
        });
    }
    let mut results: Vec<PollResult> = tasks.join_all().await;
    results.sort_by_key(|r| r.host_index);
    results
}

/// One probe round trip.
pub async fn poll_once(transport: &Transport, timeout: Duration) -> PollOutcome {
    match transport
        .run(CommandRequest::new(probe::probe_script(), timeout))
        .await
    {
        Ok(output) if output.exit == Some(0) || !output.stdout.is_empty() => PollOutcome::Health {
            health: Box::new(probe::linux::parse(&output.stdout_text())),
            round_trip: output.elapsed,
        },
        Ok(output) => PollOutcome::Failed(TransportError::Other(format!(
            "the probe failed (exit {:?}): {}",
            output.exit,
            output.stderr_text().lines().next().unwrap_or("")
        ))),
        Err(e) => PollOutcome::Failed(e),
    }
}
