//! One sync round: fetch every remote, bring each writer's file up to the
//! longest copy anywhere, commit what this machine has that no remote has,
//! push it to every remote that answered.
//!
//! The machine's sync repository (`<incidents_dir>/.sync.git`, bare) holds
//! one branch per incident and writer, `refs/heads/<incident>/<writer>`: a
//! chain of commits whose tree is that writer's file, each commit the file
//! grown. Remotes' branches are fetched to `refs/remotes/<remote>/...`.
//! Since only a writer's own machine commits to its branch, every branch
//! only ever moves forward, and pushes are never forced.

use super::git::{Git, GitError};
use super::{Remote, SyncSetup};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use vigie_core::sync::{self as plan, count_lines, Reconcile};
use vigie_core::timeline::sources::{self, EVENTS_DIR};

/// The name of the sync repository in the incidents directory.
pub const SYNC_REPO: &str = ".sync.git";

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Each remote, in the order tried.
    pub remotes: Vec<RemoteOutcome>,
    /// Events that reached this machine.
    pub arrivals: Vec<Arrival>,
    /// Writers whose new events this machine committed for the remotes.
    pub published: Vec<Published>,
    /// What could not be done (a divergent copy, a name git refuses...).
    pub problems: Vec<String>,
    /// Whether an incident is open on this machine (rounds come faster then).
    pub open_here: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutcome {
    pub label: String,
    /// Branches pushed, or why the remote could not be synced.
    pub result: Result<usize, Failure>,
}

/// Why a remote could not be synced: what kind of trouble, and what git
/// and ssh said (with what to do, where vigie knows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub why: Why,
    pub said: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No answer: the host is down, or the network between.
    Unreachable,
    /// The host's key is unknown or changed: refused, as ssh refuses it.
    HostKey,
    /// The host refused the login.
    Login,
    /// The host answered but holds no repository at that path.
    NoRepository,
}

impl Why {
    /// A few words for a header.
    pub fn short(self) -> &'static str {
        match self {
            Why::Unreachable => "unreachable",
            Why::HostKey => "host key refused",
            Why::Login => "login refused",
            Why::NoRepository => "no repository",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.why {
            Why::Unreachable => write!(f, "unreachable: {}", self.said),
            _ => f.write_str(&self.said),
        }
    }
}

/// `events` new events of `writer` in `incident`, from remote `via`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub incident: String,
    pub writer: String,
    pub events: usize,
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub incident: String,
    pub writer: String,
    pub events: usize,
}

/// Where a copy of a writer's file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    /// This machine's last commit.
    Committed,
    Remote(usize),
}

/// Blob contents by commit, kept across rounds: a commit never changes.
pub type BlobCache = HashMap<String, Vec<u8>>;

pub fn round(setup: &SyncSetup, cache: &mut BlobCache) -> RoundReport {
    let mut report = RoundReport::default();
    let git = match open_repo(&setup.incidents_dir) {
        Ok(git) => git,
        Err(e) => {
            report.problems.push(format!("sync repository: {e}"));
            return report;
        }
    };
    // One round at a time on this machine (a cockpit and `vigie watch`).
    let _round_lock = match RoundLock::take(&setup.incidents_dir.join(SYNC_REPO)) {
        Ok(lock) => lock,
        Err(e) => {
            report.problems.push(format!("sync repository: {e}"));
            return report;
        }
    };
    mark_round(&setup.incidents_dir);
    report.open_here = share_open_incidents(setup, &mut report);
    let reached: Vec<bool> = setup
        .remotes
        .iter()
        .map(|remote| match fetch(&git, remote, setup) {
            Ok(()) => {
                report.remotes.push(RemoteOutcome {
                    label: remote.label.clone(),
                    result: Ok(0),
                });
                true
            }
            Err(e) => {
                report.remotes.push(RemoteOutcome {
                    label: remote.label.clone(),
                    result: Err(explain(&remote.label, &e.0)),
                });
                false
            }
        })
        .collect();
    let branches = match list_branches(&git, setup) {
        Ok(branches) => branches,
        Err(e) => {
            report.problems.push(format!("sync repository: {e}"));
            return report;
        }
    };
    let mut writers: BTreeSet<(String, String)> = branches.keys().cloned().collect();
    writers.extend(local_writers(&setup.incidents_dir));
    for (incident, writer) in writers {
        let found = branches
            .get(&(incident.clone(), writer.clone()))
            .cloned()
            .unwrap_or_default();
        if let Err(problem) = reconcile_writer(&git, setup, cache, &incident, &writer, &found, &mut report) {
            report.problems.push(format!("{incident}, {writer}: {problem}"));
        }
    }
    // Push what each answering remote lacks.
    let branches = list_branches(&git, setup).unwrap_or_default();
    for (index, remote) in setup.remotes.iter().enumerate() {
        if !reached[index] {
            continue;
        }
        let behind: Vec<(String, String)> = branches
            .iter()
            .filter_map(|((incident, writer), found)| {
                let local = found.get(&Source::Committed)?;
                let theirs = found.get(&Source::Remote(index));
                if theirs == Some(local) {
                    return None;
                }
                Some((plan::branch(incident, writer)?, local.clone()))
            })
            .collect();
        if behind.is_empty() {
            continue;
        }
        // The remote answered the fetch: a refused push is a problem with
        // some branches, not the remote being away.
        let (pushed, refused) = push(&git, remote, setup, &behind);
        report.remotes[index].result = Ok(pushed);
        if let Some(why) = refused {
            report.problems.push(format!("{}: {why}", remote.label));
        }
    }
    report
}

fn open_repo(incidents_dir: &Path) -> Result<Git, GitError> {
    vigie_core::files::create_dir_all(incidents_dir)
        .map_err(|e| GitError(format!("{}: {e}", incidents_dir.display())))?;
    Git::open_or_init(
        &incidents_dir.join(SYNC_REPO),
        vigie_core::files::is_group_shared(incidents_dir),
    )
}

/// Where the time of this machine's latest round is kept.
const LAST_ROUND: &str = "vigie-last-round";

/// Notes that a round is happening now (for [`last_round`]).
fn mark_round(incidents_dir: &Path) {
    let path = incidents_dir.join(SYNC_REPO).join(LAST_ROUND);
    let _ = vigie_core::files::replace_without_sync(&path, chrono::Utc::now().to_rfc3339().as_bytes());
}

/// When this machine last synced (any process), if it ever did.
pub fn last_round(incidents_dir: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = std::fs::read_to_string(incidents_dir.join(SYNC_REPO).join(LAST_ROUND)).ok()?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Open incidents are shared from the first round: their events go to a
/// file of this machine's own that the remotes receive. Whether any is open.
fn share_open_incidents(setup: &SyncSetup, report: &mut RoundReport) -> bool {
    let open = vigie_core::incident::open_incidents(&setup.incidents_dir);
    for summary in open.iter().filter(|s| !sources::is_shared(&s.dir)) {
        if let Err(e) = sources::share(&summary.dir, &setup.own_actor) {
            report.problems.push(format!("{}: cannot share it: {e}", summary.id));
        }
    }
    !open.is_empty()
}

fn fetch(git: &Git, remote: &Remote, setup: &SyncSetup) -> Result<(), GitError> {
    let ssh = remote.ssh_command.as_ref().map_err(|e| GitError(e.clone()))?;
    // Forced into the remote's own namespace: what a remote says is only
    // ever a candidate, checked against every other copy before use.
    let refspec = format!("+refs/heads/*:refs/remotes/{}/*", remote.key);
    git.run(
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-gc",
            &remote.url,
            &refspec,
        ],
        None,
        &[("GIT_SSH_COMMAND", ssh)],
        setup.network_timeout,
    )
    .map(|_| ())
}

/// git's and ssh's words, with what to do where vigie knows it.
fn explain(label: &str, said: &str) -> Failure {
    let host = label.rsplit_once(':').map_or(label, |(host, _)| host);
    let (why, said) = if said.contains("does not appear to be a git repository")
        || said.contains("not a git repository")
    {
        (
            Why::NoRepository,
            format!("no repository there ({said}): create it with `vigie sync init {label}`"),
        )
    } else if said.contains("has changed and you have requested strict checking") {
        (
            Why::HostKey,
            format!("{said}: the host's key is not the one pinned; `vigie trust {host}` shows both (a reinstalled host, or someone in between)"),
        )
    } else if said.contains("Host key verification failed") {
        (
            Why::HostKey,
            format!("{said}: check the host's key and pin it with `vigie trust {host}`"),
        )
    } else if said.contains("Permission denied") {
        (
            Why::Login,
            format!(
                "{said}: no key was accepted (a passphrase-protected key must be loaded with ssh-add: nothing prompts during a sync)"
            ),
        )
    } else {
        (Why::Unreachable, said.to_string())
    };
    Failure { why, said }
}

/// Pushes `behind` to `remote`: how many branches went through, and why
/// the others did not.
fn push(git: &Git, remote: &Remote, setup: &SyncSetup, behind: &[(String, String)]) -> (usize, Option<String>) {
    let Ok(ssh) = remote.ssh_command.as_ref() else {
        return (0, None);
    };
    let mut args = vec![
        "push".to_string(),
        "--porcelain".into(),
        "--quiet".into(),
        remote.url.clone(),
    ];
    args.extend(behind.iter().map(|(branch, _)| format!("{branch}:{branch}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (pushed, output) = git.run_keeping_output(&args, &[("GIT_SSH_COMMAND", ssh)], setup.network_timeout);
    // Whatever git says, the next fetch tells what the remote holds; record
    // what went through now so that it is not pushed again.
    let output = String::from_utf8_lossy(&output).into_owned();
    // `--porcelain` says of each branch, by its first character, how it went: `!` refused.
    let flag = |branch: &str| {
        output
            .lines()
            .find(|l| l.contains(&format!(":{branch}\t")))
            .and_then(|l| l.chars().next())
    };
    let mut count = 0;
    let mut refused = Vec::new();
    for (branch, commit) in behind {
        let said = flag(branch);
        if pushed.is_ok() || said.is_some_and(|f| f != '!') {
            count += 1;
            let tracking = branch.replacen("refs/heads/", &format!("refs/remotes/{}/", remote.key), 1);
            let _ = git.local(&["update-ref", &tracking, commit]);
        } else if said == Some('!') {
            refused.push(branch.strip_prefix("refs/heads/").unwrap_or(branch));
        }
    }
    match pushed {
        Ok(_) => (count, None),
        Err(e) => {
            let which = if refused.is_empty() {
                String::new()
            } else {
                format!(" ({})", refused.join(", "))
            };
            (count, Some(format!("could not send{which}: {}", e.0)))
        }
    }
}

/// Every writer branch, here and at each remote: (incident, writer) → where → commit.
type Branches = BTreeMap<(String, String), HashMap<Source, String>>;

fn list_branches(git: &Git, setup: &SyncSetup) -> Result<Branches, GitError> {
    let text = git.local_text(&[
        "for-each-ref",
        "--format=%(objectname) %(refname)",
        "refs/heads",
        "refs/remotes",
    ])?;
    let mut branches = Branches::new();
    for line in text.lines() {
        let Some((commit, refname)) = line.split_once(' ') else {
            continue;
        };
        let mut place = plan::parse_branch("refs/heads/", refname).map(|found| (found, Source::Committed));
        for (index, remote) in setup.remotes.iter().enumerate() {
            let prefix = format!("refs/remotes/{}/", remote.key);
            if let Some(found) = plan::parse_branch(&prefix, refname) {
                place = Some((found, Source::Remote(index)));
            }
        }
        if let Some(((incident, writer), source)) = place {
            branches
                .entry((incident.to_string(), writer.to_string()))
                .or_default()
                .insert(source, commit.to_string());
        }
    }
    Ok(branches)
}

/// The writers' files of the shared incidents on this machine.
fn local_writers(incidents_dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(incidents_dir) else {
        return vec![];
    };
    let mut found = Vec::new();
    for dir in entries.flatten().map(|e| e.path()).filter(|d| sources::is_shared(d)) {
        let Some(incident) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        for file in sources::event_files(&dir) {
            let in_events = file.parent().is_some_and(|p| p.ends_with(EVENTS_DIR));
            if let (true, Some(stem)) = (in_events, file.file_stem()) {
                found.push((incident.clone(), stem.to_string_lossy().into_owned()));
            }
        }
    }
    found
}

/// The file of `writer` in `incident` on this machine.
fn writer_file(incidents_dir: &Path, incident: &str, writer: &str) -> PathBuf {
    incidents_dir
        .join(incident)
        .join(EVENTS_DIR)
        .join(format!("{writer}.jsonl"))
}

fn blob<'a>(git: &Git, cache: &'a mut BlobCache, commit: &str, writer: &str) -> Result<&'a [u8], GitError> {
    if !cache.contains_key(commit) {
        let content = git.local(&["cat-file", "blob", &format!("{commit}:{writer}.jsonl")])?;
        cache.insert(commit.to_string(), content);
    }
    Ok(cache.get(commit).map(Vec::as_slice).unwrap_or_default())
}

fn reconcile_writer(
    git: &Git,
    setup: &SyncSetup,
    cache: &mut BlobCache,
    incident: &str,
    writer: &str,
    found: &HashMap<Source, String>,
    report: &mut RoundReport,
) -> Result<(), String> {
    let branch = plan::branch(incident, writer).ok_or("a name git cannot hold: not shared")?;
    let path = writer_file(&setup.incidents_dir, incident, writer);
    let local = read_or_empty(&path)?;
    // The distinct copies: this machine's last commit first, then each remote's.
    let mut sources_found: Vec<(Source, String)> = found.iter().map(|(s, c)| (*s, c.clone())).collect();
    sources_found.sort_by_key(|(s, _)| match s {
        Source::Committed => 0,
        Source::Remote(i) => i + 1,
    });
    let mut contents = Vec::with_capacity(sources_found.len());
    for (_, commit) in &sources_found {
        contents.push(blob(git, cache, commit, writer).map_err(|e| e.0)?.to_vec());
    }
    let candidates: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let name_of = |index: usize| match sources_found[index].0 {
        Source::Committed => "this machine's last sync".to_string(),
        Source::Remote(r) => setup.remotes[r].label.clone(),
    };
    match plan::reconcile(&local, &candidates) {
        Reconcile::Diverged { with } => Err(format!(
            "the copy at {} and this machine's disagree (neither extends the other): nothing is written for this writer; \
             compare them before going on",
            name_of(with)
        )),
        Reconcile::Append { from, .. }
            if setup.is_own_writer(writer) && sources_found[from].0 != Source::Committed =>
        {
            Err(format!(
                "{} has events of this machine's own writer that this machine never wrote: refused \
                 (does another machine use the same responder name? set `responder` in its vigie.toml)",
                name_of(from)
            ))
        }
        Reconcile::Append { from, lines } => {
            append_lines(&path, &local, &lines)?;
            set_branch(git, &branch, &sources_found[from].1)?;
            if sources_found[from].0 == Source::Committed {
                // Synced once, missing since: said, and exit 1, though repaired.
                report.problems.push(format!(
                    "{incident}, {writer}: events/{writer}.jsonl had lost {} that were synced: restored from the \
                     sync repository (was the file cut or restored from a backup?)",
                    vigie_core::format::events(count_lines(&lines))
                ));
            }
            if let Source::Remote(r) = sources_found[from].0 {
                report.arrivals.push(Arrival {
                    incident: incident.to_string(),
                    writer: writer.to_string(),
                    events: count_lines(&lines),
                    via: setup.remotes[r].label.clone(),
                });
            }
            Ok(())
        }
        Reconcile::Publish { longer_than_all: true } => {
            let complete = plan::complete_lines(&local);
            // The parent: the longest copy known, which this one extends.
            let parent = (0..candidates.len()).max_by_key(|&i| candidates[i].len());
            let commit = commit_file(git, writer, complete, parent.map(|i| sources_found[i].1.as_str()))?;
            set_branch(git, &branch, &commit)?;
            report.published.push(Published {
                incident: incident.to_string(),
                writer: writer.to_string(),
                events: count_lines(complete) - parent.map_or(0, |i| count_lines(candidates[i])),
            });
            Ok(())
        }
        Reconcile::Publish { longer_than_all: false } => {
            // The same file somewhere already: this machine's branch points to it.
            let same = candidates.iter().position(|c| c.len() == plan::complete_lines(&local).len());
            match (same, found.get(&Source::Committed)) {
                (Some(index), committed) if committed != Some(&sources_found[index].1) => {
                    set_branch(git, &branch, &sources_found[index].1)
                }
                _ => Ok(()),
            }
        }
    }
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn set_branch(git: &Git, branch: &str, commit: &str) -> Result<(), String> {
    git.local(&["update-ref", branch, commit]).map(|_| ()).map_err(|e| e.0)
}

/// A commit of `content` as `<writer>.jsonl`, after `parent`.
fn commit_file(git: &Git, writer: &str, content: &[u8], parent: Option<&str>) -> Result<String, String> {
    let blob = git.local_with(&["hash-object", "-w", "--stdin"], Some(content), &[]);
    let blob = String::from_utf8_lossy(&blob.map_err(|e| e.0)?).trim().to_string();
    let entry = format!("100644 blob {blob}\t{writer}.jsonl\n");
    let tree = git.local_with(&["mktree"], Some(entry.as_bytes()), &[]);
    let tree = String::from_utf8_lossy(&tree.map_err(|e| e.0)?).trim().to_string();
    let message = format!("{writer}: {} events", count_lines(content));
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message.as_str()];
    if let Some(parent) = parent {
        args.extend(["-p", parent]);
    }
    let email = format!("{writer}.vigie");
    let identity = [
        ("GIT_AUTHOR_NAME", writer),
        ("GIT_AUTHOR_EMAIL", email.as_str()),
        ("GIT_COMMITTER_NAME", writer),
        ("GIT_COMMITTER_EMAIL", email.as_str()),
    ];
    let commit = git.local_with(&args, None, &identity);
    Ok(String::from_utf8_lossy(&commit.map_err(|e| e.0)?).trim().to_string())
}

/// Appends `lines` to the writer's file at `path`, whose content was
/// `before`, under the lock every appender takes: the file must still be
/// what the decision was made on, else nothing is written this round.
fn append_lines(path: &Path, before: &[u8], lines: &[u8]) -> Result<(), String> {
    let at = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(events) = path.parent() {
        vigie_core::files::create_dir_all(events).map_err(at)?;
    }
    let mut file = vigie_core::files::open_append(path).map_err(at)?;
    let _lock = vigie_core::timeline::store::FileLock::exclusive(&file).map_err(at)?;
    let now = read_or_empty(path)?;
    if now != before {
        return Err("the file changed while it was being synced: tried again next round".into());
    }
    let complete = plan::complete_lines(&now).len();
    if complete < now.len() {
        // A line cut by a crash during an earlier sync: the copy coming in
        // has it whole. The piece is kept beside the file, as appenders do.
        vigie_core::timeline::store::set_aside_torn(&mut file, path, complete as u64, now.len() as u64)
            .map_err(|e| e.to_string())?;
    }
    file.seek(SeekFrom::End(0)).map_err(at)?;
    file.write_all(lines).and_then(|_| file.sync_data()).map_err(at)
}

/// An exclusive lock on the sync repository for one round.
struct RoundLock {
    // Unlocked before the file closes: fields drop in this order.
    _lock: vigie_core::timeline::store::FileLock,
    _file: std::fs::File,
}

impl RoundLock {
    fn take(git_dir: &Path) -> Result<RoundLock, String> {
        let path = git_dir.join("vigie-round.lock");
        let file = vigie_core::files::open_append(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lock =
            vigie_core::timeline::store::FileLock::exclusive(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(RoundLock {
            _lock: lock,
            _file: file,
        })
    }
}
