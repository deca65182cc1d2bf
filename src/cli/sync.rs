//! `vigie sync`: one round with every `sync_remotes` entry (what the
//! cockpit and `vigie watch` do every few seconds), and `vigie sync init
//! HOST:PATH`, which creates a remote.

use crate::config::Config;
use vigie_core::format::events;
use vigie_runtime::sync::{self, RoundReport, SyncSetup};

const NO_REMOTES: &str = "no sync_remotes in vigie.toml: create one with `vigie sync init HOST:PATH` \
     (a bare git repository on any host you reach over ssh), then list it under [settings]";

pub fn run_once(config: &Config) -> i32 {
    if config.settings.sync_remotes.is_empty() {
        eprintln!("vigie sync: {NO_REMOTES}");
        return 2;
    }
    let setup = SyncSetup::from_config(config);
    let report = sync::round(&setup, &mut sync::BlobCache::new());
    print_report(&report);
    let reached = report.remotes.iter().any(|r| r.result.is_ok());
    if !reached {
        eprintln!(
            "vigie sync: no remote could be synced; everything written here is kept and is sent when one is \
             (the cockpit and `vigie watch` keep trying)"
        );
        return 1;
    }
    // A remote away is said in the exit code too: a script can tell.
    let all_reached = report.remotes.iter().all(|r| r.result.is_ok());
    i32::from(!report.problems.is_empty() || !all_reached)
}

/// What arrived and what was committed, then each remote's state, then problems.
fn print_report(report: &RoundReport) {
    for arrival in &report.arrivals {
        println!(
            "received {} of {} in {} (from {})",
            events(arrival.events),
            arrival.writer,
            arrival.incident,
            arrival.via
        );
    }
    for published in &report.published {
        println!(
            "committed {} of {} in {}",
            events(published.events),
            published.writer,
            published.incident
        );
    }
    for remote in &report.remotes {
        match &remote.result {
            Ok(0) => println!("{}: in sync", remote.label),
            Ok(1) => println!("{}: in sync, 1 writer's file sent", remote.label),
            Ok(pushed) => println!("{}: in sync, {pushed} writers' files sent", remote.label),
            Err(failure) => println!("{}: {failure}", remote.label),
        }
    }
    for problem in &report.problems {
        eprintln!("vigie sync: {problem}");
    }
}

pub fn init(config: &Config, remote: &str) -> i32 {
    if let Err(why) = vigie_core::sync::RemoteSpec::parse(remote) {
        eprintln!("vigie sync init: {why}");
        return 2;
    }
    match sync::create_remote(config, remote) {
        Ok(created) => {
            println!(
                "{}: a bare git repository that refuses rewrites and deletions",
                created.label
            );
            let listed = config
                .settings
                .sync_remotes
                .iter()
                .any(|r| r.get_ref().trim() == remote.trim());
            if !listed {
                println!(
                    "share incidents through it: add to vigie.toml, under [settings]:\n    sync_remotes = [\"{}\"]",
                    created.label
                );
            }
            0
        }
        Err(why) => {
            eprintln!("vigie sync init: {remote}: {why}");
            if why.contains("Host key verification failed") {
                let host = vigie_core::sync::RemoteSpec::parse(remote)
                    .map(|s| s.host)
                    .unwrap_or_default();
                eprintln!("check the host's key and pin it: vigie trust {host}");
            }
            1
        }
    }
}

/// After a command wrote to an incident on a machine that shares them: if
/// no cockpit or `vigie watch` has synced here lately, the others will not
/// see it until something does; says so, with the command that does.
pub fn hint_when_nothing_syncs(config: &Config) {
    if config.settings.sync_remotes.is_empty() {
        return;
    }
    let idle = (config.settings.sync_interval * 5).max(std::time::Duration::from_secs(15));
    let last = sync::last_round(&config.incidents_dir());
    let syncing = last.is_some_and(|at| (chrono::Utc::now() - at).to_std().is_ok_and(|age| age < idle));
    if !syncing {
        eprintln!(
            "vigie: recorded on this machine; no cockpit or `vigie watch` is syncing here, so the others see it \
             after `vigie sync`"
        );
    }
}
