//! `vigie watch`: the cockpit without a screen. Polls every host, keeps
//! the fleet journal and writes the fleet's events into every open
//! incident; logs one line per change on stderr. Meant to run on the
//! bastion as a service (`docs/watch.md`), so outages are recorded at the
//! time they begin even when nobody has a cockpit open.

use crate::config::Config;
use crate::poller;
use std::collections::HashMap;
use vigie_core::fleet::{FleetStatus, Occurrence};
use vigie_core::timeline::Payload;
use vigie_runtime::fleet::{self, FleetNews};

pub fn run(config: &Config, explicit: Option<&std::path::Path>) -> i32 {
    if config.hosts.is_empty() {
        eprintln!("vigie watch: the inventory lists no hosts: nothing to watch");
        return 2;
    }
    let incidents = config.incidents_dir();
    // A named incident must exist; it is written to wherever it is.
    let followed = match explicit {
        Some(explicit) => match crate::incident::current(Some(explicit), &incidents) {
            Ok(dir) => Some(dir),
            Err(e) => {
                eprintln!("vigie watch: {e}");
                return 2;
            }
        },
        None => None,
    };
    // A journal that cannot be written is said at once, with a failure
    // code (a service manager restarts and reports it), not discovered
    // after the outage it did not record.
    if let Err(e) = vigie_core::fleet::FleetRecorder::open(&incidents, fleet::options_for(config, "watch")) {
        eprintln!("vigie watch: {e}");
        return 1;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vigie watch: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(watch(config, followed));
    runtime.shutdown_background();
    code
}

async fn watch(config: &Config, followed: Option<std::path::PathBuf>) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        eprintln!("vigie watch: cannot listen for signals");
        return 1;
    };
    let incidents = config.incidents_dir();
    log(&format!(
        "watching {} host(s) every {}; fleet journal {}",
        config.hosts.len(),
        crate::format::human_age(chrono::Duration::from_std(config.settings.poll_interval).unwrap_or_default()),
        incidents.join(vigie_core::fleet::JOURNAL_FILE).display()
    ));
    let (mut polls, poll_tasks) = poller::start(config);
    let (recorder, mut news) = fleet::spawn_for(config, "watch");
    if let Some(dir) = followed {
        match crate::incident::summarize(&dir) {
            Ok(summary) if !summary.is_open() => log(&format!(
                "{} is resolved: nothing is recorded there (reopen it with `vigie incident status investigating`)",
                dir.display()
            )),
            _ => log(&format!("recording into {} too", dir.display())),
        }
        recorder.incident(dir);
    }
    // Incidents shared with other machines: a round every few seconds.
    let (sync_handle, mut sync_news) = match vigie_runtime::sync::spawn(config) {
        Some((handle, news)) => {
            log(&format!(
                "sharing incidents through {}",
                config
                    .settings
                    .sync_remotes
                    .iter()
                    .map(|r| r.get_ref().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            (Some(handle), Some(news))
        }
        None => (None, None),
    };
    let mut sync_state = vigie_runtime::sync::SyncState::default();
    let mut fleet_status = FleetStatus::new(config);
    // Each host's open occurrences as last heard, to log what changed.
    let mut known: HashMap<String, Vec<Occurrence>> = HashMap::new();
    let stopped_by = loop {
        tokio::select! {
            Some(result) = polls.recv() => {
                let mut observations = fleet_status.apply_poll(&result);
                while let Ok(more) = polls.try_recv() {
                    observations.extend(fleet_status.apply_poll(&more));
                }
                recorder.observe(observations);
            }
            Some(item) = news.recv() => match item {
                FleetNews::Open { host, open, closed } => {
                    log_changes(&mut known, &host, &open, &closed);
                    fleet_status.adopt(&host, &open);
                }
                FleetNews::Recorded { incident, event } => {
                    let (what, code, subject) = match event.payload() {
                        Payload::AlertRaised(f) => ("raise", f.code, f.subject),
                        Payload::AlertCleared(f) => ("clear", f.code, f.subject),
                        _ => ("event", None, None),
                    };
                    let subject = subject.map(|s| format!(" ({s})")).unwrap_or_default();
                    log(&format!(
                        "recorded the {what} of {} {}{subject} as #{} in {}",
                        event.host.as_deref().unwrap_or("?"),
                        code.as_deref().unwrap_or("?"),
                        event.seq,
                        incident.display()
                    ));
                }
                FleetNews::OpenIncidents(open) => log(&format!(
                    "open incidents: {}",
                    if open.is_empty() {
                        "none".to_string()
                    } else {
                        open.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                    }
                )),
                FleetNews::Problem(problem) => log(&format!("problem: {problem}")),
            },
            Some(news) = vigie_runtime::sync::next_news(&mut sync_news) => log_sync(&mut sync_state, &news),
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
        }
    };
    for task in poll_tasks {
        task.abort();
    }
    // What was observed before the signal is written before we exit.
    recorder.finish();
    drop(sync_handle);
    log(&format!("stopped ({stopped_by})"));
    0
}

/// Logs what a sync round changed: a remote lost or back, events received,
/// a new problem. A quiet round logs nothing.
fn log_sync(state: &mut vigie_runtime::sync::SyncState, news: &vigie_runtime::sync::SyncNews) {
    let before = state.clone();
    state.apply(news);
    for remote in &state.remotes {
        let was = before.remotes.iter().find(|r| r.label == remote.label);
        match (&remote.error, was.map(|w| &w.error)) {
            (Some(error), None | Some(None)) => log(&format!(
                "sync: {} {} ({}); events are kept here and sent when it answers",
                remote.label,
                error.why.short(),
                error.said
            )),
            (None, Some(Some(_))) => log(&format!("sync: {} answers again", remote.label)),
            (None, None) => log(&format!("sync: {} in sync", remote.label)),
            _ => {}
        }
    }
    for arrival in &news.report.arrivals {
        log(&format!(
            "sync: received {} of {} in {} (from {})",
            vigie_core::format::events(arrival.events),
            arrival.writer,
            arrival.incident,
            arrival.via
        ));
    }
    for problem in news.report.problems.iter().filter(|p| !before.problems.contains(p)) {
        log(&format!("sync: problem: {problem}"));
    }
}

/// Logs the alerts of `host` that opened or closed since we last heard,
/// whichever watcher saw them first.
fn log_changes(known: &mut HashMap<String, Vec<Occurrence>>, host: &str, open: &[Occurrence], closed: &[Occurrence]) {
    // The first news of a host says what is open, not what just happened.
    let first_news = !known.contains_key(host);
    let before = known.remove(host).unwrap_or_default();
    let name = |o: &Occurrence| {
        if o.key.subject.is_empty() {
            format!("{} {}", o.key.host, o.key.code)
        } else {
            format!("{} {} ({})", o.key.host, o.key.code, o.key.subject)
        }
    };
    for o in open.iter().filter(|o| !before.iter().any(|b| b.id == o.id)) {
        let verb = if first_news { "open since" } else { "raised at" };
        log(&format!(
            "{} {verb} {} (seen first by {}): {}",
            name(o),
            o.raised.format("%H:%M:%S"),
            o.observer,
            o.message
        ));
    }
    // Gone since we last heard, or closed by this very poll (at start,
    // an outage that ended while nobody watched).
    let mut gone: Vec<&Occurrence> = before.iter().filter(|b| !open.iter().any(|o| o.id == b.id)).collect();
    for o in closed {
        if !gone.iter().any(|g| g.id == o.id) {
            gone.push(o);
        }
    }
    for o in gone {
        log(&format!(
            "{} cleared (raised at {})",
            name(o),
            o.raised.format("%H:%M:%S")
        ));
    }
    known.insert(host.to_string(), open.to_vec());
}

/// One line on stderr, with the time: journald and a terminal read it alike.
fn log(line: &str) {
    eprintln!(
        "{} vigie watch: {}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        crate::sanitize::one_line(line)
    );
}
