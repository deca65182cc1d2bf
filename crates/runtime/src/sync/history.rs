//! What the sync repository's history says of an incident's event files:
//! each writer's branch must only ever have grown (every commit's file a
//! prefix of the next), and the file on this machine must still begin with
//! everything that was synced. git's history is the anchor of events that
//! came from other machines, as the anchors directory is for this one's.

use super::git::Git;
use super::round::SYNC_REPO;
use std::path::Path;
use vigie_core::sync as plan;
use vigie_core::timeline::sources::EVENTS_DIR;

/// One writer's file checked against its synced history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterHistory {
    pub writer: String,
    /// Events in the latest synced commit.
    pub synced_events: usize,
    /// Commits in the branch.
    pub commits: usize,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

/// The writers of `incident_dir` that were ever synced on this machine;
/// empty when this incidents directory never synced. `remotes` are the
/// `sync_remotes` entries, to name a remote whose copy disagrees.
pub fn check(incidents_dir: &Path, incident_dir: &Path, remotes: &[String]) -> Vec<WriterHistory> {
    let git_dir = incidents_dir.join(SYNC_REPO);
    let Some(incident) = incident_dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return vec![];
    };
    let Some(git) = Git::existing(&git_dir) else {
        return vec![];
    };
    let prefix = format!("refs/heads/{incident}/");
    let Ok(text) = git.local_text(&["for-each-ref", "--format=%(refname)", &prefix]) else {
        return vec![];
    };
    let mut checked: Vec<WriterHistory> = text
        .lines()
        .filter_map(|refname| plan::parse_branch("refs/heads/", refname).map(|(_, w)| (refname, w.to_string())))
        .map(|(refname, writer)| check_writer(&git, incident_dir, refname, writer))
        .collect();
    // Every remote's copy of each writer must agree with this machine's:
    // one extends the other. Two that do not were never one writer appending.
    for remote in remotes {
        let key = super::remote_key(remote);
        let prefix = format!("refs/remotes/{key}/");
        let Ok(text) = git.local_text(&[
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            &format!("{prefix}{incident}/"),
        ]) else {
            continue;
        };
        for line in text.lines() {
            let Some((commit, refname)) = line.split_once(' ') else {
                continue;
            };
            let Some((_, writer)) = plan::parse_branch(&prefix, refname) else {
                continue;
            };
            let Ok(theirs) = git.local(&["cat-file", "blob", &format!("{commit}:{writer}.jsonl")]) else {
                continue;
            };
            let file = incident_dir.join(EVENTS_DIR).join(format!("{writer}.jsonl"));
            let ours = std::fs::read(&file).unwrap_or_default();
            let ours = plan::complete_lines(&ours);
            if ours.starts_with(&theirs) || theirs.starts_with(ours) {
                continue;
            }
            let problem = format!(
                "events/{writer}.jsonl and the copy at {remote} disagree from their event {} on (neither extends the \
                 other): two machines wrote as {writer}, or a copy was edited; give each machine its own `responder`",
                common_lines(ours, &theirs) + 1
            );
            match checked.iter_mut().find(|w| w.writer == writer) {
                Some(known) if known.problem.is_none() => known.problem = Some(problem),
                Some(_) => {}
                None => checked.push(WriterHistory {
                    writer: writer.to_string(),
                    synced_events: 0,
                    commits: 0,
                    problem: Some(problem),
                }),
            }
        }
    }
    checked
}

fn check_writer(git: &Git, incident_dir: &Path, refname: &str, writer: String) -> WriterHistory {
    let mut history = WriterHistory {
        writer: writer.clone(),
        synced_events: 0,
        commits: 0,
        problem: None,
    };
    let commits = match git.local_text(&["rev-list", "--first-parent", refname]) {
        Ok(text) => text.lines().map(str::to_string).collect::<Vec<_>>(),
        Err(e) => {
            history.problem = Some(format!("its synced history cannot be read: {e}"));
            return history;
        }
    };
    history.commits = commits.len();
    // Oldest first: each must be a prefix of the next.
    let mut previous: Vec<u8> = Vec::new();
    for commit in commits.iter().rev() {
        let content = match git.local(&["cat-file", "blob", &format!("{commit}:{writer}.jsonl")]) {
            Ok(content) => content,
            Err(e) => {
                history.problem = Some(format!("commit {} cannot be read: {e}", short(commit)));
                return history;
            }
        };
        if !content.starts_with(&previous) {
            history.problem = Some(format!(
                "its synced history was rewritten: commit {} does not extend the one before it",
                short(commit)
            ));
            return history;
        }
        previous = content;
    }
    history.synced_events = plan::count_lines(&previous);
    let file = incident_dir.join(EVENTS_DIR).join(format!("{writer}.jsonl"));
    let local = std::fs::read(&file).unwrap_or_default();
    if !local.starts_with(&previous) {
        let kept = common_lines(&local, &previous);
        history.problem = Some(format!(
            "events/{writer}.jsonl lost or changed synced events: it differs from what was synced from event {} of {} on \
             (the full copy is in the sync repository and on the remotes; `vigie sync` restores lost ones)",
            kept + 1,
            history.synced_events
        ));
    }
    history
}

/// How many whole lines `a` and `b` have in common from their start.
fn common_lines(a: &[u8], b: &[u8]) -> usize {
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    plan::count_lines(&a[..same])
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}
