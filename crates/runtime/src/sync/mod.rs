//! Incidents shared across machines through git remotes (`sync_remotes`):
//! the setup (where each remote is and the ssh command that reaches it),
//! the rounds (`round.rs`) on a thread of their own, and what git's history
//! says about the event files (`history.rs`, for `vigie timeline verify`).
//! See `docs/timeline.md` for the model.

mod git;
pub mod history;
pub mod round;

pub use round::{
    last_round, round, Arrival, BlobCache, Failure, Published, RemoteOutcome, RoundReport, Why, SYNC_REPO,
};

use std::path::PathBuf;
use std::sync::mpsc as blocking;
use std::time::Duration;
use tokio::sync::mpsc;
use vigie_core::config::{Config, TransportKind};
use vigie_core::sync::RemoteSpec;
use vigie_transport::endpoint::Resolver;

/// One remote, ready to be reached.
#[derive(Debug, Clone)]
pub struct Remote {
    /// As written in vigie.toml.
    pub label: String,
    /// Its namespace in the sync repository: `refs/remotes/<key>/...`.
    pub key: String,
    /// What git is given: `host:path`.
    pub url: String,
    /// The path on the remote host.
    pub path: String,
    /// The host as ssh is given it, after the options of `ssh_command`.
    pub destination: String,
    /// `GIT_SSH_COMMAND`, or why the host cannot be reached as configured.
    pub ssh_command: Result<String, String>,
}

/// Everything a round needs, resolved once.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    pub incidents_dir: PathBuf,
    pub remotes: Vec<Remote>,
    /// The longest a fetch or a push may take.
    pub network_timeout: Duration,
    /// Between rounds while an incident is open.
    pub interval: Duration,
    /// The writers this machine appends as (`alice@laptop`, its cockpit's
    /// and watcher's, its `timeline.jsonl` moved): their files grow here
    /// only, never from a remote.
    pub own_writer: String,
    /// Who this machine's responder is (`settings.responder`, else user@host).
    pub own_actor: String,
}

impl SyncSetup {
    /// Whether `writer` is one this machine appends as (see `own_writer`).
    pub fn is_own_writer(&self, writer: &str) -> bool {
        writer == self.own_writer
            || writer
                .strip_prefix(self.own_writer.as_str())
                .is_some_and(|rest| rest.starts_with("--"))
    }

    /// Resolves every `sync_remotes` entry as vigie reaches any host (`ssh -G`,
    /// vigie.toml's own settings for an inventory host). Blocking.
    pub fn from_config(config: &Config) -> SyncSetup {
        let resolver = Resolver::for_config(config);
        let remotes = config
            .settings
            .sync_remotes
            .iter()
            .map(|text| remote(config, &resolver, text.get_ref()))
            .collect();
        let connect = config.settings.connect_timeout.max(Duration::from_secs(1));
        let own_actor = vigie_core::incident::actor(config);
        SyncSetup {
            incidents_dir: config.incidents_dir(),
            remotes,
            network_timeout: connect * 3 + Duration::from_secs(20),
            interval: config.settings.sync_interval.max(Duration::from_secs(1)),
            own_writer: vigie_core::timeline::sources::writer_name(&own_actor),
            own_actor,
        }
    }
}

/// The namespace of a `sync_remotes` entry in the sync repository.
pub fn remote_key(text: &str) -> String {
    format!("r{}", &vigie_core::timeline::store::sha256_hex(text.as_bytes())[..12])
}

impl Remote {
    /// A remote that cannot be reached as configured, and why (said at each round).
    fn unusable(label: String, key: String, why: String) -> Remote {
        Remote {
            label,
            key,
            url: String::new(),
            path: String::new(),
            destination: String::new(),
            ssh_command: Err(why),
        }
    }
}

/// The ssh destination and the GIT_SSH_COMMAND for one `sync_remotes` entry.
fn remote(config: &Config, resolver: &Resolver, text: &str) -> Remote {
    let key = remote_key(text);
    let spec = match RemoteSpec::parse(text) {
        Ok(spec) => spec,
        Err(why) => return Remote::unusable(text.to_string(), key, why),
    };
    let endpoint = match config.host(&spec.host) {
        Some(host) if host.transport == TransportKind::Ssh => resolver.resolve(config, host),
        Some(_) => {
            let why = format!("{} is not reached over ssh in the inventory", spec.host);
            return Remote::unusable(spec.label(), key, why);
        }
        None => resolver.resolve_destination(config, &spec.host),
    };
    match endpoint {
        Ok(endpoint) => {
            let host = if endpoint.host.contains(':') {
                format!("[{}]", endpoint.host)
            } else {
                endpoint.host.clone()
            };
            let connect = config.settings.connect_timeout.as_secs().max(1);
            let extra = [
                format!("ConnectTimeout={connect}"),
                // A remote that dies mid-transfer is given up in seconds.
                "ServerAliveInterval=5".to_string(),
                "ServerAliveCountMax=2".to_string(),
            ];
            Remote {
                label: spec.label(),
                key,
                url: format!("{host}:{}", spec.path),
                path: spec.path.clone(),
                destination: endpoint.host.clone(),
                ssh_command: Ok(vigie_transport::ssh_command::command_prefix(
                    &endpoint,
                    &config.own_known_hosts(),
                    &extra,
                )),
            }
        }
        Err(e) => Remote::unusable(spec.label(), key, e.to_string()),
    }
}

/// Creates the bare repository a `sync_remotes` entry names (`vigie sync
/// init`): refusing rewrites and deletions, so that no push, however it is
/// made, can take events away from the others. Harmless when it exists.
pub fn create_remote(config: &Config, text: &str) -> Result<Remote, String> {
    let remote = remote(config, &Resolver::for_config(config), text);
    let ssh = remote.ssh_command.clone()?;
    let quote = vigie_core::probe::shell::quote;
    // `~/x` is the login's home on the remote: left for its shell to expand.
    let path = match remote.path.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
        None => quote(&remote.path),
    };
    // An existing bare repository is kept (its settings made sure of), an
    // empty directory is used; anything else is someone's data: refused.
    let script = format!(
        "set -e; command -v git >/dev/null || {{ echo 'git is not installed on this host' >&2; exit 1; }}; \
         p={path}; if [ -e \"$p\" ] && [ ! -d \"$p\" ]; then echo \"$p exists and is a file: name a new directory\" >&2; exit 1; \
         elif [ -e \"$p\" ]; then \
         if [ \"$(git --git-dir=\"$p\" rev-parse --is-bare-repository 2>/dev/null)\" = true ]; then \
         if [ -n \"$(git --git-dir=\"$p\" for-each-ref --count=1)\" ] && \
         [ \"$(git --git-dir=\"$p\" config --get receive.denyNonFastForwards)\" != true ]; then \
         echo \"$p is another project's repository: name a new directory for vigie's, such as $p-vigie.git\" >&2; exit 1; fi; \
         elif [ -z \"$(ls -A \"$p\")\" ]; then :; \
         else echo \"$p exists and is not a bare git repository: name a new directory, such as $p/vigie.git\" >&2; exit 1; fi; fi; \
         git init --bare --quiet \"$p\"; git --git-dir=\"$p\" config receive.denyNonFastForwards true; \
         git --git-dir=\"$p\" config receive.denyDeletes true"
    );
    let line = format!("{ssh} {} {}", quote(&remote.destination), quote(&script));
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if output.status.success() {
        Ok(remote)
    } else {
        Err(git::last_words("ssh", &output.stderr, output.status.code()))
    }
}

/// How long the sync thread uses the ssh settings it read before reading them again.
const RESOLVE_AGAIN: Duration = Duration::from_secs(10);

/// What the sync thread tells the cockpit or `vigie watch`.
#[derive(Debug, Clone)]
pub struct SyncNews {
    pub at: chrono::DateTime<chrono::Utc>,
    pub report: RoundReport,
}

/// The sync thread. Dropping the handle stops it after its round.
pub struct SyncHandle {
    nudges: blocking::Sender<()>,
}

impl SyncHandle {
    /// Sync now rather than at the next round (an event was just written here).
    pub fn nudge(&self) {
        let _ = self.nudges.send(());
    }
}

/// Starts syncing in the background, when `sync_remotes` names any remote:
/// every `sync_interval` while an incident is open here, five times less
/// often otherwise (an incident declared elsewhere still arrives).
pub fn spawn(config: &Config) -> Option<(SyncHandle, mpsc::UnboundedReceiver<SyncNews>)> {
    if config.settings.sync_remotes.is_empty() {
        return None;
    }
    let config = config.clone();
    let (nudges, nudged) = blocking::channel();
    let (news, news_receiver) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new().name("vigie-sync".into()).spawn(move || {
        let mut setup = SyncSetup::from_config(&config);
        let mut resolved_at = std::time::Instant::now();
        let mut cache = BlobCache::new();
        loop {
            let report = round(&setup, &mut cache);
            // The ssh configuration may have changed (a port, a Host alias):
            // read again after a failed round, and every few rounds anyway
            // (`ssh -G` costs milliseconds).
            let failed = report.remotes.iter().any(|r| r.result.is_err());
            if failed || resolved_at.elapsed() > RESOLVE_AGAIN {
                setup = SyncSetup::from_config(&config);
                resolved_at = std::time::Instant::now();
            }
            let open = report.open_here;
            if news
                .send(SyncNews {
                    at: chrono::Utc::now(),
                    report,
                })
                .is_err()
            {
                return;
            }
            let wait = if open { setup.interval } else { setup.interval * 5 };
            match nudged.recv_timeout(wait) {
                Ok(()) => {
                    // Several nudges at once are one round.
                    while nudged.try_recv().is_ok() {}
                }
                Err(blocking::RecvTimeoutError::Timeout) => {}
                Err(blocking::RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    spawned.ok().map(|_| (SyncHandle { nudges }, news_receiver))
}

/// The next news of the sync thread, if there is one (else never): for a
/// `select!` arm that is idle on a machine that shares nothing.
pub async fn next_news(news: &mut Option<mpsc::UnboundedReceiver<SyncNews>>) -> Option<SyncNews> {
    match news {
        Some(news) => news.recv().await,
        None => std::future::pending().await,
    }
}

/// The state of each remote as the last rounds left it, for the cockpit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub remotes: Vec<RemoteState>,
    /// The last round's problems.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteState {
    pub label: String,
    pub last_ok: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the last round could not sync it.
    pub error: Option<Failure>,
}

impl SyncState {
    /// Every remote of `config`, before the first round answers.
    pub fn waiting(config: &Config) -> SyncState {
        SyncState {
            remotes: config
                .settings
                .sync_remotes
                .iter()
                .map(|r| RemoteState {
                    label: RemoteSpec::parse(r.get_ref()).map_or_else(|_| r.get_ref().clone(), |s| s.label()),
                    last_ok: None,
                    error: None,
                })
                .collect(),
            ..SyncState::default()
        }
    }

    /// One line for a header: the freshest sync, or which remote is away
    /// and why. `compact` for a narrow screen: a few words only.
    pub fn summary(&self, now: chrono::DateTime<chrono::Utc>, compact: bool) -> String {
        let freshest = self
            .remotes
            .iter()
            .filter(|r| r.error.is_none())
            .filter_map(|r| r.last_ok)
            .max();
        let down: Vec<&RemoteState> = self.remotes.iter().filter(|r| r.error.is_some()).collect();
        let age = |at: chrono::DateTime<chrono::Utc>| vigie_core::format::human_age(now - at);
        // `backup` of `backup:/srv/vigie.git`: the path says little in a header.
        let host = |r: &RemoteState| r.label.split(':').next().unwrap_or(&r.label).to_string();
        let why = |r: &RemoteState| r.error.as_ref().map_or("", |e| e.why.short());
        let last = self.remotes.iter().filter_map(|r| r.last_ok).max();
        let problems = self.problems.len();
        if compact {
            return match (freshest, last) {
                (Some(at), _) if down.is_empty() && problems == 0 => format!("synced {}", age(at)),
                (Some(at), _) => format!("⚠ synced {}", age(at)),
                (None, Some(at)) => format!("⚠ unsynced {}", age(at)),
                (None, None) if down.is_empty() => "sync…".to_string(),
                (None, None) => "⚠ unsynced".to_string(),
            };
        }
        // Problems with some writers are said even while remotes answer.
        let problems = match problems {
            0 => String::new(),
            1 => " ⚠ 1 sync problem (vigie sync)".to_string(),
            n => format!(" ⚠ {n} sync problems (vigie sync)"),
        };
        let state = match (freshest, down.as_slice()) {
            (Some(at), []) => format!("synced {} ago", age(at)),
            (Some(at), [one]) => format!("synced {} ago, ⚠ {} {}", age(at), host(one), why(one)),
            (Some(at), many) => format!("synced {} ago, ⚠ {} remotes down", age(at), many.len()),
            (None, []) => "sync starting".to_string(),
            (None, [one]) => match last {
                Some(at) => format!(
                    "⚠ not synced for {}: {} {}, events kept here",
                    age(at),
                    host(one),
                    why(one)
                ),
                None => format!("⚠ never synced: {} {}, events kept here", host(one), why(one)),
            },
            (None, many) => match last {
                Some(at) => format!(
                    "⚠ not synced for {}: {} remotes down, events kept here",
                    age(at),
                    many.len()
                ),
                None => format!("⚠ never synced: {} remotes down, events kept here", many.len()),
            },
        };
        format!("{state}{problems}")
    }

    pub fn apply(&mut self, news: &SyncNews) {
        for outcome in &news.report.remotes {
            let index = match self.remotes.iter().position(|r| r.label == outcome.label) {
                Some(index) => index,
                None => {
                    self.remotes.push(RemoteState {
                        label: outcome.label.clone(),
                        last_ok: None,
                        error: None,
                    });
                    self.remotes.len() - 1
                }
            };
            let state = &mut self.remotes[index];
            match &outcome.result {
                Ok(_) => {
                    state.last_ok = Some(news.at);
                    state.error = None;
                }
                Err(e) => state.error = Some(e.clone()),
            }
        }
        self.problems = news.report.problems.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(error: Option<Why>, last_ok_seconds_ago: Option<i64>) -> (SyncState, chrono::DateTime<chrono::Utc>) {
        let now = chrono::Utc::now();
        let state = SyncState {
            remotes: vec![RemoteState {
                label: "backup:/srv/vigie.git".into(),
                last_ok: last_ok_seconds_ago.map(|s| now - chrono::Duration::seconds(s)),
                error: error.map(|why| Failure {
                    why,
                    said: "ssh: connect to host backup port 22: Connection refused".into(),
                }),
            }],
            ..SyncState::default()
        };
        (state, now)
    }

    #[test]
    fn the_header_names_the_remote_away_and_why() {
        let (ok, now) = state(None, Some(2));
        assert_eq!(ok.summary(now, false), "synced 2s ago");
        assert_eq!(ok.summary(now, true), "synced 2s");
        let (down, now) = state(Some(Why::Unreachable), Some(120));
        assert_eq!(
            down.summary(now, false),
            "⚠ not synced for 2m00s: backup unreachable, events kept here"
        );
        assert_eq!(down.summary(now, true), "⚠ unsynced 2m00s");
        let (refused, now) = state(Some(Why::HostKey), None);
        assert_eq!(
            refused.summary(now, false),
            "⚠ never synced: backup host key refused, events kept here"
        );
    }
}
