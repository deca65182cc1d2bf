//! What the post-mortem says, computed from the amended timeline. Pure:
//! events in, report out; renderers only format it.

use super::Zone;
use crate::incident::Status;
use crate::incident::Summary;
use crate::timeline::view::{amended, describe_read, describe_whole, Mark, ViewEvent};
use crate::timeline::{Event, Payload};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct KeyTime {
    pub name: &'static str,
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandRun {
    pub at: DateTime<Utc>,
    pub host: String,
    pub step: String,
    pub command: String,
    pub exit: Option<i64>,
    pub ms: Option<i64>,
    pub output: String,
    pub output_truncated: bool,
    /// Why there is no exit code (killed, never started).
    pub error: Option<String>,
}

impl CommandRun {
    /// The command in one line: the first line of the step's own script,
    /// after the values and the strict prelude vigie puts first.
    pub fn headline(&self) -> String {
        crate::playbook::engine::script_summary(&self.command)
    }

    /// Its step, or "outside any playbook" for a command run by hand.
    pub fn step_or_by_hand(&self) -> &str {
        if self.step.is_empty() {
            "outside any playbook"
        } else {
            &self.step
        }
    }

    /// "0", "1", or why there is none: "no exit: timed out after 30s".
    pub fn outcome(&self) -> String {
        match (self.exit, &self.error) {
            (Some(exit), _) => exit.to_string(),
            (None, Some(error)) => format!("no exit: {error}"),
            (None, None) => "no exit: killed".into(),
        }
    }

    /// "1200 ms", or "—" when it never ended in the record.
    pub fn duration(&self) -> String {
        self.ms.map(crate::format::human_ms).unwrap_or_else(|| "—".into())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    pub at: DateTime<Utc>,
    pub step: String,
    /// "skipped", "failed", "aborted its run" or "ran outside any playbook".
    pub what: &'static str,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub host: String,
    pub text: String,
    pub amended: bool,
    /// A step of a playbook's mechanics (a step started or done, a command
    /// sent or finished, a box ticked, an amendment already applied in
    /// place): the run it belongs to (empty: outside any). Such rows go to
    /// the appendix; the timeline section keeps the moments that matter.
    pub mechanics: Option<String>,
    /// A note or decision tagged for a written section (`#root-cause`...):
    /// shown there, not again among the moments and notes.
    pub narrative: bool,
}

/// An action item: what, who, when, how urgent, where it is tracked, and
/// where it stands (`open` until `vigie incident action` says otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionItemRow {
    /// Its number in the report, counted from 1 in the timeline's order:
    /// shown `A1`, and what `vigie incident action A1` takes.
    pub number: usize,
    /// Its event's number in the timeline.
    pub seq: u64,
    pub text: String,
    pub owner: Option<String>,
    pub due: Option<String>,
    pub priority: Option<String>,
    /// investigate, mitigate, repair, detect, prevent or process.
    pub action_type: Option<String>,
    pub status: String,
    pub link: Option<String>,
}

impl ActionItemRow {
    /// Done or dropped: ticked in the report's list.
    pub fn closed(&self) -> bool {
        matches!(self.status.as_str(), "done" | "wont-do")
    }
}

/// A playbook run, for the appendix's grouping of its mechanics.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: String,
    pub playbook: String,
    pub at: DateTime<Utc>,
}

/// One alert from its raise to its clear, as the timeline recorded them.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub host: String,
    pub code: String,
    /// What on the host (a VM's name for `vm_down`), empty for the host.
    pub subject: String,
    pub severity: String,
    pub message: String,
    pub raised: DateTime<Utc>,
    /// `None`: not seen cleared in the timeline.
    pub cleared: Option<DateTime<Utc>>,
}

impl Outage {
    pub fn lasted(&self) -> Option<chrono::Duration> {
        Some(self.cleared? - self.raised)
    }

    /// [`Outage::span`], then the same in the responders' zone when it is
    /// not UTC: "19:30:12 → 21:02:40 (1h32m); 20:30:12 → 22:02:40 Europe/Paris".
    pub fn span_in(&self, report: &Report, zone: Zone) -> String {
        let utc = self.span(report);
        if zone.is_utc() {
            return utc;
        }
        let local = match self.cleared {
            Some(cleared) => format!(
                "{} → {}",
                report.local_clock(zone, self.raised),
                report.local_clock(zone, cleared)
            ),
            None => format!("since {}", report.local_clock(zone, self.raised)),
        };
        format!("{utc}; {local} {}", zone.name())
    }

    /// "19:30:12 → 21:02:40 (1h32m)", or "since 19:30:12, not seen back",
    /// times as the report writes them ([`Report::clock`]).
    pub fn span(&self, report: &Report) -> String {
        match self.cleared {
            Some(cleared) => format!(
                "{} → {} ({})",
                report.clock(self.raised),
                report.clock(cleared),
                crate::format::human_age(cleared - self.raised)
            ),
            None => format!("since {}, not seen back", report.clock(self.raised)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub summary: Summary,
    pub key_times: Vec<KeyTime>,
    /// Problems with the key times (missing, out of order): flagged, never invented.
    pub key_time_problems: Vec<String>,
    pub rows: Vec<Row>,
    pub commands: Vec<CommandRun>,
    pub deviations: Vec<Deviation>,
    pub alerts: Vec<Row>,
    /// Every alert raised during the incident, with its clear: the
    /// alerts lane of the chart, and the impact (hosts and VMs down).
    pub outages: Vec<Outage>,
    pub decisions: Vec<Row>,
    pub notes: Vec<Row>,
    pub action_items: Vec<ActionItemRow>,
    /// The narrative sections, from notes tagged in the timeline (`#summary`,
    /// `#impact`, `#went-well`, `#went-badly`, `#lucky`) or given as files.
    pub narrative: Narrative,
    /// (when, new status), oldest first: the phases of the incident.
    pub status_changes: Vec<(DateTime<Utc>, String)>,
    /// Every playbook run, in the order they started.
    pub runs: Vec<RunSummary>,
    /// The document is final (`vigie report --final`), not a draft.
    pub final_version: bool,
    /// (who, role), the latest assignment of each role.
    pub roles: Vec<(String, String)>,
}

impl Report {
    /// The responders, each with the roles they held: "alice (commander), bob".
    pub fn responders_with_roles(&self) -> Vec<(String, Vec<String>)> {
        // One entry per person: `alice@bastion` and `alice` (as a role names
        // her) are the same responder.
        let person = |name: &str| name.split('@').next().unwrap_or(name).to_string();
        let mut names: Vec<String> = Vec::new();
        for name in &self.summary.responders {
            if !names.iter().any(|n| person(n) == person(name)) {
                names.push(name.clone());
            }
        }
        // A reviewer who did not respond reviews; the authors are the responders.
        for (who, _) in self
            .roles
            .iter()
            .filter(|(_, role)| !role.eq_ignore_ascii_case("reviewer"))
        {
            if !names.iter().any(|n| person(n) == person(who)) {
                names.push(who.clone());
            }
        }
        names
            .into_iter()
            .map(|name| {
                let roles = self
                    .roles
                    .iter()
                    .filter(|(w, _)| person(w) == person(&name))
                    .map(|(_, r)| r.clone())
                    .collect();
                (name, roles)
            })
            .collect()
    }
}

/// A section of the post-mortem that people write (the timeline cannot
/// compute it): filled by notes tagged `#tag`, or by `--tag FILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub tag: &'static str,
    pub title: &'static str,
    /// Its key in the JSON report's `narrative`.
    pub json: &'static str,
}

const fn section(tag: &'static str, title: &'static str, json: &'static str) -> Section {
    Section { tag, title, json }
}

impl Section {
    /// Goes under "Lessons learned" (went well, went badly, lucky).
    pub fn is_lesson(&self) -> bool {
        matches!(self.tag, "went-well" | "went-badly" | "lucky")
    }

    /// Goes after the action items: links to graphs, logs, tickets, chat.
    pub fn is_supporting(&self) -> bool {
        self.tag == "links"
    }

    /// `vigie report` takes it written beforehand: `--summary FILE`,
    /// `--impact FILE`, `--root-cause FILE`.
    pub fn takes_file(&self) -> bool {
        matches!(self.tag, "summary" | "impact" | "root-cause")
    }
}

/// The written sections, in the order of the usual post-mortem templates.
pub const SECTIONS: &[Section] = &[
    section("summary", "Summary", "summary"),
    section("impact", "Impact", "impact"),
    section("root-cause", "Root cause", "root_cause"),
    section("trigger", "Trigger", "trigger"),
    section("contributing", "Contributing factors", "contributing_factors"),
    section("detection", "Detection", "detection"),
    section("response", "Response", "response"),
    section("recovery", "Recovery", "recovery"),
    section("communications", "Communications", "communications"),
    section("went-well", "What went well", "went_well"),
    section("went-badly", "What went badly", "went_badly"),
    section("lucky", "Where we got lucky", "lucky"),
    section("links", "Supporting links", "supporting_links"),
];

/// The tags a note may carry, and the section each fills.
pub const NARRATIVE_TAGS: &[&str] = &[
    "summary",
    "impact",
    "root-cause",
    "trigger",
    "contributing",
    "detection",
    "response",
    "recovery",
    "communications",
    "went-well",
    "went-badly",
    "lucky",
    "links",
];

/// Words of `text` that look like a section tag but are none
/// (`#rootcause`, `#Root-Cause`), with the tag they must have meant.
pub fn near_miss_tags(text: &str) -> Vec<(String, &'static str)> {
    let squash = |t: &str| t.to_lowercase().replace(['-', '_'], "");
    text.split_whitespace()
        .filter(|w| w.starts_with('#') && narrative_tag(w).is_none())
        .filter_map(|w| {
            let typed = squash(w.trim_start_matches('#'));
            NARRATIVE_TAGS
                .iter()
                .find(|tag| squash(tag) == typed || squash(tag) == typed.trim_end_matches('s'))
                .map(|tag| (w.to_string(), *tag))
        })
        .collect()
}

/// The section a word of a note tags it for: `#root-cause` → `root-cause`.
fn narrative_tag(word: &str) -> Option<&str> {
    word.strip_prefix('#').filter(|t| NARRATIVE_TAGS.contains(t))
}

/// Text for the sections a timeline cannot compute, by tag. Each is a
/// list of paragraphs; an empty one says so in the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Narrative {
    paragraphs: std::collections::BTreeMap<&'static str, Vec<String>>,
    /// Written beforehand in a file (`--summary FILE`...): Markdown, as a
    /// document is written (lists, emphasis, links), shown first.
    written: std::collections::BTreeMap<&'static str, String>,
}

impl Narrative {
    /// The paragraphs of the notes tagged `tag`.
    pub fn of(&self, tag: &str) -> &[String] {
        self.paragraphs.get(tag).map(Vec::as_slice).unwrap_or_default()
    }

    /// The Markdown of the section's file, if one was given.
    pub fn written(&self, tag: &str) -> Option<&str> {
        self.written.get(tag).map(String::as_str)
    }

    /// Puts `markdown` (a file's text) first in the section tagged `tag`.
    pub fn set_written(&mut self, tag: &str, markdown: &str) {
        let Some(known) = NARRATIVE_TAGS.iter().find(|t| **t == tag) else {
            return;
        };
        let text = crate::sanitize::terminal_safe(markdown).trim().to_string();
        if !text.is_empty() {
            self.written.insert(known, text);
        }
    }

    /// Nothing written for the section yet: no file, no note.
    pub fn is_empty(&self, tag: &str) -> bool {
        self.written(tag).is_none() && self.of(tag).is_empty()
    }

    /// Every paragraph of the section, the file's first (its lines kept).
    pub fn all_paragraphs(&self, tag: &str) -> Vec<String> {
        let written = self.written(tag).unwrap_or_default();
        written
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .chain(self.of(tag).iter().cloned())
            .collect()
    }

    pub fn section_mut(&mut self, tag: &str) -> Option<&mut Vec<String>> {
        let known = NARRATIVE_TAGS.iter().find(|t| **t == tag)?;
        Some(self.paragraphs.entry(known).or_default())
    }

    /// A note's text goes to every section it is tagged for, the tags
    /// (`#went-well` in the text, or `data.tags`) taken out of it.
    fn take_note(&mut self, text: &str, data_tags: &[String]) {
        let mut tags: Vec<String> = data_tags.to_vec();
        // Paragraphs as the note has them (a blank line between two).
        let mut paragraphs = Vec::new();
        for block in text.split("\n\n") {
            let mut words = Vec::new();
            for word in block.split_whitespace() {
                match narrative_tag(word) {
                    Some(tag) => tags.push(tag.to_string()),
                    None => words.push(word),
                }
            }
            if !words.is_empty() {
                paragraphs.push(words.join(" "));
            }
        }
        for tag in tags {
            if let Some(section) = self.section_mut(&tag) {
                for paragraph in &paragraphs {
                    if !section.contains(paragraph) {
                        section.push(paragraph.clone());
                    }
                }
            }
        }
    }
}

impl Report {
    pub fn new(summary: Summary, events: &[Event]) -> Report {
        let view = amended(events);
        // Every event's payload, read once.
        let read: Vec<(&ViewEvent, Payload)> = view.iter().map(|v| (v, v.event.payload())).collect();
        let key_times = key_times(&read);
        let mut key_time_problems = key_time_problems(&key_times);
        key_time_problems.extend(reopenings(&read));
        // When the incident was over for its responders: mitigated, or resolved.
        let ended = ["mitigated", "resolved"]
            .iter()
            .find_map(|name| key_times.iter().find(|k| k.name == *name).and_then(|k| k.at));
        let of_kind = |wanted: fn(&Payload) -> bool| {
            let mut rows = read
                .iter()
                .filter(|(_, payload)| wanted(payload))
                .map(|(v, payload)| row(v, payload, ended))
                .collect::<Vec<_>>();
            rows.sort_by_key(|r| r.at);
            rows
        };
        // In the order things happened: an outage recorded at the
        // declaration still reads before it. (The sort is stable: events
        // of the same moment keep the order they were recorded in.)
        let mut rows: Vec<Row> = read.iter().map(|(v, payload)| row(v, payload, ended)).collect();
        rows.sort_by_key(|r| r.at);
        let runs = read
            .iter()
            .filter_map(|(v, payload)| match payload {
                Payload::PlaybookStarted(p) => Some(RunSummary {
                    run: p.run.clone(),
                    playbook: p.playbook.clone(),
                    at: v.event.at,
                }),
                _ => None,
            })
            .collect();
        let (outages, echoes) = outages_and_echoes(&read);
        // Each alert once, though several machines' watchers recorded it.
        let mut alerts: Vec<Row> = read
            .iter()
            .filter(|(v, payload)| {
                matches!(payload, Payload::AlertRaised(_) | Payload::HostUnreachable(_))
                    && !echoes.contains(&v.event.id)
            })
            .map(|(v, payload)| row(v, payload, ended))
            .collect();
        alerts.sort_by_key(|r| r.at);
        Report {
            final_version: false,
            runs,
            roles: roles(&read),
            status_changes: status_changes(&read),
            narrative: narrative(&read),
            summary,
            key_times,
            key_time_problems,
            rows,
            outages,
            commands: commands(&read),
            deviations: deviations(&read),
            alerts,
            decisions: of_kind(|p| matches!(p, Payload::Decision(_))),
            notes: of_kind(|p| matches!(p, Payload::Note(_))),
            action_items: action_items(&read),
        }
    }

    /// Time to detect, acknowledge, mitigate and resolve: (label, JSON
    /// name, duration). Detect, mitigate and resolve count from the start;
    /// acknowledge from detection (how long the alert waited for a human).
    /// `None` when a key time is missing.
    pub fn durations(&self) -> Vec<Duration> {
        let at = |name: &str| self.key_times.iter().find(|k| k.name == name).and_then(|k| k.at);
        [
            ("Time to detect", "time_to_detect", "started", "detected"),
            ("Time to acknowledge", "time_to_acknowledge", "detected", "acknowledged"),
            ("Time to mitigate", "time_to_mitigate", "started", "mitigated"),
            ("Time to resolve", "time_to_resolve", "started", "resolved"),
        ]
        .into_iter()
        .map(|(label, name, from, to)| Duration {
            label,
            name,
            from,
            value: at(from).zip(at(to)).map(|(from, to)| to - from),
        })
        .collect()
    }

    /// How the incident was found, as the timeline has it: "First alert,
    /// 19:30:12 UTC: …. Time to detect: 0s." (the alert's text through
    /// `escape`, for the format); `None` when it was declared by hand.
    pub fn detection_sentence(&self, zone: Zone, escape: fn(&str) -> String) -> Option<String> {
        let alert = self.alerts.first()?;
        let detect = self
            .durations()
            .into_iter()
            .find(|d| d.name == "time_to_detect")
            .map(|d| d.human())
            .unwrap_or_else(|| "unknown".into());
        let local = match zone.is_utc() {
            true => String::new(),
            false => format!(" ({} {})", self.local_clock(zone, alert.at), zone.name()),
        };
        Some(format!(
            "First alert, {} UTC{local}: {}. Time to detect: {detect}.",
            self.clock(alert.at),
            escape(&alert.text)
        ))
    }

    /// When the impact began (the first alert, or the declaration), and
    /// how long the incident lasted from then to its resolution (`None`
    /// while it is not resolved).
    pub fn impact_span(&self) -> (Option<DateTime<Utc>>, Option<chrono::Duration>) {
        let began = self.key_time("started");
        let lasted = began
            .zip(self.key_time("resolved"))
            .map(|(began, resolved)| resolved - began);
        (began, lasted)
    }

    /// The key time `name`, if the timeline gives it.
    pub fn key_time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.key_times.iter().find(|k| k.name == name).and_then(|k| k.at)
    }

    /// Who reviews the post-mortem: whoever holds the role `reviewer`.
    pub fn reviewers(&self) -> Vec<&str> {
        self.roles
            .iter()
            .filter(|(_, role)| role.eq_ignore_ascii_case("reviewer"))
            .map(|(who, _)| who.as_str())
            .collect()
    }

    /// "draft" or "final".
    pub fn document_status(&self) -> &'static str {
        if self.final_version {
            "final"
        } else {
            "draft"
        }
    }

    /// The day the report's times are on unless they give another: the
    /// UTC date the impact began.
    pub fn day(&self) -> chrono::NaiveDate {
        self.impact_span().0.unwrap_or(self.summary.started).date_naive()
    }

    /// `19:30:12` (UTC), or `2026-11-24 00:10:00` on another day than
    /// [`Report::day`]: a time past midnight never reads as the first day's.
    pub fn clock(&self, at: DateTime<Utc>) -> String {
        if at.date_naive() == self.day() {
            at.format("%H:%M:%S").to_string()
        } else {
            at.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }

    /// [`Report::clock`] in the responders' zone, against its own first day
    /// (the local date the impact began).
    pub fn local_clock(&self, zone: Zone, at: DateTime<Utc>) -> String {
        let began = self.impact_span().0.unwrap_or(self.summary.started);
        let local = zone.local(at);
        if local.date_naive() == zone.local(began).date_naive() {
            local.format("%H:%M:%S").to_string()
        } else {
            local.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }

    /// How to read the report's bare times: "UTC, on 2026-11-23 unless
    /// dated; Europe/Paris beside them in the tables".
    pub fn times_read_as(&self, zone: Zone) -> String {
        let day = self.day().format("%Y-%m-%d");
        if zone.is_utc() {
            format!("UTC, on {day} unless dated")
        } else {
            format!("UTC, on {day} unless dated; {} beside them in the tables", zone.name())
        }
    }

    /// What a reviewed, final post-mortem cannot lack: a resolved incident,
    /// a reviewer, and the sections every reader starts with.
    pub fn not_ready_to_publish(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.key_time("resolved").is_none() {
            missing.push(format!(
                "the incident is {}, not resolved (`vigie incident status resolved`)",
                self.summary.status.as_str()
            ));
        }
        if self.reviewers().is_empty() {
            missing.push("nobody reviewed it (`vigie incident role NAME reviewer`)".to_string());
        }
        for section in SECTIONS.iter().filter(|s| s.takes_file()) {
            if self.narrative.is_empty(section.tag) {
                missing.push(format!(
                    "{} is not written (a note tagged `#{}`, or `--{} FILE`)",
                    section.title, section.tag, section.tag
                ));
            }
        }
        missing
    }

    /// The time of the last event the report was made from.
    pub fn as_of(&self) -> Option<DateTime<Utc>> {
        self.rows.iter().map(|r| r.at).max()
    }

    /// No playbook ran and no command was sent: the sections about them
    /// say so once.
    pub fn ran_nothing(&self) -> bool {
        self.runs.is_empty() && self.commands.is_empty()
    }

    /// The timeline's moments that matter: every row but the mechanics.
    pub fn key_rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.mechanics.is_none() && !r.narrative)
    }

    /// The mechanics of each run (its playbook and start), then those
    /// outside any run (amendments, commands of a script), for the appendix.
    pub fn mechanics(&self) -> Vec<(String, Vec<&Row>)> {
        let mut groups: Vec<(String, Vec<&Row>)> = self
            .runs
            .iter()
            .map(|r| {
                let rows = self
                    .rows
                    .iter()
                    .filter(|row| row.mechanics.as_deref() == Some(r.run.as_str()));
                (
                    format!("{} (run started {} UTC)", r.playbook, self.clock(r.at)),
                    rows.collect(),
                )
            })
            .collect();
        let known: Vec<&str> = self.runs.iter().map(|r| r.run.as_str()).collect();
        let others: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| row.mechanics.as_deref().is_some_and(|run| !known.contains(&run)))
            .collect();
        if !others.is_empty() {
            groups.push((
                "outside any playbook run: bookkeeping, amendments, commands by hand".to_string(),
                others,
            ));
        }
        groups.retain(|(_, rows)| !rows.is_empty());
        groups
    }

    /// Decisions and notes together, in the order they happened.
    pub fn decisions_and_notes(&self) -> impl Iterator<Item = &Row> {
        let mut rows: Vec<&Row> = self
            .decisions
            .iter()
            .chain(&self.notes)
            .filter(|r| !r.narrative)
            .collect();
        rows.sort_by_key(|r| r.at);
        rows.into_iter()
    }

    /// Hosts that could not be reached, and VMs down with their hypervisor.
    pub fn hosts_down(&self) -> impl Iterator<Item = &Outage> {
        self.outages
            .iter()
            .filter(|o| crate::alerts::REACHABILITY_CODES.contains(&o.code.as_str()))
    }

    pub fn vms_down(&self) -> impl Iterator<Item = &Outage> {
        self.outages.iter().filter(|o| o.code == crate::alerts::VM_DOWN)
    }

    /// A key time's offset from the start, for "time to …".
    pub fn since_start(&self, name: &str) -> Option<chrono::Duration> {
        let start = self.key_times.first()?.at?;
        let at = self.key_times.iter().find(|k| k.name == name)?.at?;
        Some(at - start)
    }
}

/// One of the durations of [`Report::durations`].
#[derive(Debug, Clone, PartialEq)]
pub struct Duration {
    pub label: &'static str,
    /// Its name in the JSON report.
    pub name: &'static str,
    /// The key time it counts from.
    pub from: &'static str,
    pub value: Option<chrono::Duration>,
}

impl Duration {
    /// "4m12s", "-6s" when marks put the times out of order (flagged in
    /// the key time problems), or "unknown" when a key time is missing.
    pub fn human(&self) -> String {
        match self.value {
            Some(value) if value < chrono::Duration::zero() => format!("-{}", crate::format::human_age(-value)),
            Some(value) => crate::format::human_age(value),
            None => "unknown".into(),
        }
    }
}

/// Raises paired with their clears: by the journal's occurrence id, else
/// (an older timeline, a script's event) by host, code and subject. Two
/// machines watching the same host (an incident shared across machines)
/// each record the outage under their own occurrence: raised while the
/// same alert is open from another, it is the same outage, which began at
/// the first raise and ends when the last watcher saw it clear.
/// Also the ids of the raises that were another machine's word for an
/// outage already open (one alert seen, not two).
fn outages_and_echoes(read: &Read) -> (Vec<Outage>, std::collections::HashSet<String>) {
    let mut echoes = std::collections::HashSet::new();
    let mut outages: Vec<Outage> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // host, code and subject → the open outage and how many occurrences hold it open.
    let mut open_alerts: std::collections::HashMap<String, (usize, usize)> = std::collections::HashMap::new();
    let alert = |host: &str, fleet: &crate::timeline::payload::FleetEvent, code: &str| {
        format!("{host}\n{code}\n{}", fleet.subject.as_deref().unwrap_or(""))
    };
    let key = |host: &str, fleet: &crate::timeline::payload::FleetEvent, code: &str| {
        fleet
            .occurrence
            .clone()
            .unwrap_or_else(|| format!("{host}\n{code}\n{}", fleet.subject.as_deref().unwrap_or("")))
    };
    for (v, payload) in read {
        let host = v.event.host.clone().unwrap_or_default();
        match payload {
            Payload::AlertRaised(fleet) | Payload::HostUnreachable(fleet) => {
                let code = fleet.code.clone().unwrap_or_else(|| match payload {
                    Payload::HostUnreachable(_) => "unreachable".to_string(),
                    _ => String::new(),
                });
                let key = key(&host, fleet, &code);
                if open.contains_key(&key) {
                    continue;
                }
                if let Some((index, holders)) = open_alerts.get_mut(&alert(&host, fleet, &code)) {
                    *holders += 1;
                    open.insert(key, *index);
                    echoes.insert(v.event.id.clone());
                    continue;
                }
                open_alerts.insert(alert(&host, fleet, &code), (outages.len(), 1));
                open.insert(key, outages.len());
                outages.push(Outage {
                    host,
                    code,
                    subject: fleet.subject.clone().unwrap_or_default(),
                    severity: fleet.severity.clone().unwrap_or_default(),
                    message: fleet
                        .message
                        .clone()
                        .unwrap_or_else(|| describe_read(&v.event, payload)),
                    raised: v.event.at,
                    cleared: None,
                });
            }
            Payload::AlertCleared(fleet) => {
                let code = fleet.code.clone().unwrap_or_default();
                if let Some(index) = open.remove(&key(&host, fleet, &code)) {
                    let alert = alert(&host, fleet, &code);
                    let holders = open_alerts.get_mut(&alert).map(|(_, holders)| {
                        *holders -= 1;
                        *holders
                    });
                    if holders.unwrap_or(0) == 0 {
                        open_alerts.remove(&alert);
                        outages[index].cleared = Some(v.event.at);
                    }
                }
            }
            _ => {}
        }
    }
    outages.sort_by_key(|o| o.raised);
    (outages, echoes)
}

/// Lines of an output shown before and after the fold.
const FOLD_HEAD: usize = 40;
const FOLD_TAIL: usize = 15;

/// A long output as a report shows it: its first and last lines around a
/// line that says how many were folded (the timeline keeps them all).
pub fn fold_output(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    if lines.len() <= FOLD_HEAD + FOLD_TAIL + 5 {
        return lines.join("\n");
    }
    let folded = lines.len() - FOLD_HEAD - FOLD_TAIL;
    let mut kept: Vec<String> = lines[..FOLD_HEAD].iter().map(|l| l.to_string()).collect();
    kept.push(format!(
        "… {folded} lines folded: the timeline keeps the whole output …"
    ));
    kept.extend(lines[lines.len() - FOLD_TAIL..].iter().map(|l| l.to_string()));
    kept.join("\n")
}

/// Characters of an event's text a timeline table's cell shows.
const CELL_CHARS: usize = 240;

/// An event's text as a timeline table's cell shows it: one line, cut
/// with `…` past a few lines' worth (a pasted log stays whole in
/// "Decisions and notes" and in the JSON).
pub fn cell_text(text: &str) -> String {
    let line = crate::sanitize::one_line(text);
    if line.chars().count() <= CELL_CHARS {
        return line;
    }
    let kept: String = line.chars().take(CELL_CHARS).collect();
    format!("{kept}… (cut: `vigie timeline show` has it whole)")
}

/// Events of the amended view with their payloads.
type Read<'a> = [(&'a ViewEvent, Payload)];

/// The run a mechanical event belongs to; `None` for the events that tell
/// what happened (alerts, declarations, decisions, deviations, notes...).
/// Bookkeeping (action items, which have their own table; roles handed
/// out once the incident was over, for the post-mortem) joins the
/// mechanics outside any run.
fn mechanics_of(payload: &Payload, at: DateTime<Utc>, ended: Option<DateTime<Utc>>) -> Option<String> {
    match payload {
        Payload::ActionItem(_) | Payload::ActionItemUpdated(_) => Some(String::new()),
        Payload::RoleAssigned(_) if ended.is_some_and(|ended| at > ended) => Some(String::new()),
        Payload::StepStarted(p) => Some(p.run.clone()),
        Payload::StepDone(p) => Some(p.run.clone()),
        Payload::CommandSent(p) => Some(p.run.clone()),
        Payload::CommandFinished(p) => Some(p.run.clone().unwrap_or_default()),
        Payload::ChecklistTicked(p) => Some(p.run.clone()),
        // Applied in place to the event it amends (a mark is shown there too).
        Payload::Amendment(_) => Some(String::new()),
        _ => None,
    }
}

fn row(v: &ViewEvent, payload: &Payload, ended: Option<DateTime<Utc>>) -> Row {
    let narrative = match payload {
        Payload::Note(note) | Payload::Decision(note) => {
            note.tags.iter().any(|t| NARRATIVE_TAGS.contains(&t.as_str()))
                || note.text.split_whitespace().any(|w| narrative_tag(w).is_some())
        }
        _ => false,
    };
    Row {
        narrative,
        mechanics: mechanics_of(payload, v.event.at, ended),
        at: v.event.at,
        actor: v.event.actor.clone(),
        host: v.event.host.clone().unwrap_or_default(),
        // Lines kept: each format makes it one line where it must (a table
        // cell) and keeps a note's lines where it can.
        text: describe_whole(&v.event, payload),
        amended: !v.amended_by.is_empty(),
    }
}

/// Started, detected, acknowledged, mitigated, resolved: a mark wins, then
/// the events that imply the moment.
fn key_times(read: &Read) -> Vec<KeyTime> {
    let marked = |mark: Mark| {
        read.iter()
            .find(|(v, _)| v.marks.contains(&mark))
            .map(|(v, _)| v.event.at)
    };
    // The earliest by time, not by line: the alerts already firing are
    // recorded after the declaration, at the times they began.
    let first = |wanted: fn(&Payload) -> bool| read.iter().filter(|(_, p)| wanted(p)).map(|(v, _)| v.event.at).min();
    let alert = first(|p| matches!(p, Payload::AlertRaised(_) | Payload::HostUnreachable(_)));
    let declared = first(|p| matches!(p, Payload::IncidentDeclared(_)));
    let status_at = |status: Status| {
        read.iter()
            .find(|(_, p)| matches!(p, Payload::StatusChanged(change) if change.to == status))
            .map(|(v, _)| v.event.at)
    };
    // The impact began with the first alert; without one, when declared.
    let began = [alert, declared].into_iter().flatten().min();
    vec![
        KeyTime {
            name: "started",
            at: began,
        },
        KeyTime {
            name: "detected",
            // Whoever saw it first: the fleet's alert, or a responder who
            // declared before any alert fired.
            at: marked(Mark::Detected).or(began),
        },
        KeyTime {
            name: "acknowledged",
            at: marked(Mark::Acknowledged).or(declared),
        },
        KeyTime {
            name: "mitigated",
            at: marked(Mark::Mitigated).or(status_at(Status::Mitigated)),
        },
        KeyTime {
            name: "resolved",
            // The resolution that stands: after a reopening, the last one.
            at: marked(Mark::Resolved).or(resolved_at(read)),
        },
    ]
}

/// When the incident was last resolved, if it still is: a reopened
/// incident is not resolved, and one resolved again counts from then.
fn resolved_at(read: &Read) -> Option<DateTime<Utc>> {
    status_history(read)
        .last()
        .filter(|(_, _, to)| *to == Status::Resolved)
        .map(|(at, _, _)| *at)
}

/// Every status change (when, from, to), in the order they happened.
fn status_history(read: &Read) -> Vec<(DateTime<Utc>, Status, Status)> {
    let mut changes: Vec<(DateTime<Utc>, Status, Status)> = read
        .iter()
        .filter_map(|(v, p)| match p {
            Payload::StatusChanged(change) => Some((v.event.at, change.from, change.to)),
            _ => None,
        })
        .collect();
    changes.sort_by_key(|(at, _, _)| *at);
    changes
}

/// "reopened at 07:40 after it was resolved at 01:05", for each reopening.
fn reopenings(read: &Read) -> Vec<String> {
    let mut resolved: Option<DateTime<Utc>> = None;
    let mut said = Vec::new();
    for (at, from, to) in status_history(read) {
        if to == Status::Resolved {
            resolved = Some(at);
        } else if from == Status::Resolved {
            let when = resolved
                .map(|r| format!(" after it was resolved at {}", r.format("%Y-%m-%d %H:%M:%S")))
                .unwrap_or_default();
            said.push(format!(
                "the incident was reopened ({}) at {}{when}: the durations count to its last resolution",
                to.as_str(),
                at.format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    said
}

/// Key times out of order, and key times the timeline does not give.
fn key_time_problems(key_times: &[KeyTime]) -> Vec<String> {
    let mut problems = Vec::new();
    for pair in key_times.windows(2) {
        if let (Some(a), Some(b)) = (pair[0].at, pair[1].at) {
            if b < a {
                problems.push(format!(
                    "{} ({}) is before {} ({})",
                    pair[1].name,
                    b.format("%H:%M:%S"),
                    pair[0].name,
                    a.format("%H:%M:%S")
                ));
            }
        }
    }
    for key in key_times {
        if key.at.is_none() {
            problems.push(format!("no {} time in the timeline", key.name));
        }
    }
    problems
}

/// One pass in order: each finished command meets the command sent for its
/// run, step and item (a map, so 100 000 events stay linear), and is listed
/// at the time it was sent. A command sent that never finished in the record
/// (vigie was killed, or quit, while it ran) is listed too, its outcome unknown.
fn commands(read: &Read) -> Vec<CommandRun> {
    type Key = (Option<String>, Option<String>, Option<String>);
    let mut commands: Vec<CommandRun> = Vec::new();
    // Where each sent command waits for its end: an index into `commands`.
    let mut waiting: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for (v, payload) in read {
        match payload {
            Payload::CommandSent(sent) => {
                let key = (Some(sent.run.clone()), Some(sent.step.clone()), sent.item.clone());
                waiting.insert(key, commands.len());
                commands.push(CommandRun {
                    at: v.event.at,
                    host: v.event.host.clone().unwrap_or_default(),
                    step: sent.step.clone(),
                    command: sent.command.clone(),
                    exit: None,
                    ms: None,
                    output: String::new(),
                    output_truncated: false,
                    error: Some(NO_OUTCOME.to_string()),
                });
            }
            Payload::CommandFinished(finished) => {
                let key = (finished.run.clone(), finished.step.clone(), finished.item.clone());
                let ended = CommandRun {
                    at: v.event.at,
                    host: v.event.host.clone().unwrap_or_default(),
                    step: finished.step.clone().unwrap_or_default(),
                    command: finished.command.clone().unwrap_or_default(),
                    exit: finished.exit.map(i64::from),
                    ms: finished.ms.and_then(|ms| i64::try_from(ms).ok()),
                    output: finished.output.clone(),
                    output_truncated: finished.output_truncated.unwrap_or(false),
                    error: finished.error.clone(),
                };
                match waiting.remove(&key).and_then(|index| commands.get_mut(index)) {
                    // Sent by a run: listed where it was sent, with its end.
                    Some(sent) => {
                        sent.exit = ended.exit;
                        sent.ms = ended.ms;
                        sent.output = ended.output;
                        sent.output_truncated = ended.output_truncated;
                        sent.error = ended.error;
                    }
                    None => commands.push(ended),
                }
            }
            _ => {}
        }
    }
    commands
}

/// What the report says of a command whose end the timeline does not have.
pub const NO_OUTCOME: &str = "no outcome recorded: vigie stopped while it ran (check the host)";

/// The incident's status over time, for the chart's phases.
fn status_changes(read: &Read) -> Vec<(DateTime<Utc>, String)> {
    read.iter()
        .filter_map(|(v, payload)| match payload {
            Payload::IncidentDeclared(declared) => Some((v.event.at, declared.status.as_str().to_string())),
            Payload::StatusChanged(change) => Some((v.event.at, change.to.as_str().to_string())),
            _ => None,
        })
        .collect()
}

/// Skipped and failed steps, and commands run outside any playbook.
fn deviations(read: &Read) -> Vec<Deviation> {
    read.iter()
        .filter_map(|(v, payload)| {
            let (step, what, why) = match payload {
                Payload::StepSkipped(skipped) => (skipped.step.clone(), "skipped", skipped.reason.clone()),
                Payload::StepFailed(failed) => (failed.step.clone(), "failed", failed.error.clone()),
                // A run given up, with why (or "not taken up" for one restarted anew).
                Payload::PlaybookFinished(finished) if finished.outcome == "aborted" => (
                    finished.step.clone().unwrap_or_default(),
                    "aborted its run",
                    format!(
                        "{}: {}",
                        finished.playbook,
                        finished.reason.as_deref().unwrap_or("no reason recorded")
                    ),
                ),
                // A command recorded by hand or a script, not by a playbook run.
                Payload::CommandFinished(finished) if finished.run.is_none() => (
                    finished.step.clone().unwrap_or_default(),
                    "ran outside any playbook",
                    format!(
                        "{} on {}",
                        finished.command.as_deref().unwrap_or("a command"),
                        v.event.host.as_deref().unwrap_or("?")
                    ),
                ),
                _ => return None,
            };
            Some(Deviation {
                at: v.event.at,
                step,
                what,
                why,
            })
        })
        .collect()
}

/// Each action item as its later updates left it.
fn action_items(read: &Read) -> Vec<ActionItemRow> {
    let mut items: Vec<(String, ActionItemRow)> = Vec::new();
    for (v, payload) in read {
        match payload {
            Payload::ActionItem(item) => items.push((
                v.event.id.clone(),
                ActionItemRow {
                    number: items.len() + 1,
                    seq: v.event.seq,
                    text: item.text.clone(),
                    owner: item.owner.clone(),
                    due: item.due.clone(),
                    priority: item.priority.clone(),
                    action_type: item.action_type.clone(),
                    status: "open".to_string(),
                    link: item.link.clone(),
                },
            )),
            Payload::ActionItemUpdated(update) => {
                if let Some((_, row)) = items.iter_mut().find(|(id, _)| *id == update.target) {
                    if let Some(status) = &update.status {
                        row.status = status.clone();
                    }
                    if let Some(priority) = &update.priority {
                        row.priority = Some(priority.clone());
                    }
                    if let Some(link) = &update.link {
                        row.link = Some(link.clone());
                    }
                }
            }
            _ => {}
        }
    }
    items.into_iter().map(|(_, row)| row).collect()
}

/// The narrative sections, from notes and decisions tagged `#summary`...
fn narrative(read: &Read) -> Narrative {
    let mut narrative = Narrative::default();
    for (_, payload) in read {
        if let Payload::Note(note) | Payload::Decision(note) = payload {
            narrative.take_note(&note.text, &note.tags);
        }
    }
    narrative
}

/// A role goes to whoever was named for it last.
fn roles(read: &Read) -> Vec<(String, String)> {
    let mut roles: Vec<(String, String)> = Vec::new();
    for (_, payload) in read {
        if let Payload::RoleAssigned(assigned) = payload {
            roles.retain(|(_, r)| *r != assigned.role);
            roles.push((assigned.who.clone(), assigned.role.clone()));
        }
    }
    roles
}

#[cfg(test)]
mod fold_tests {
    use super::{cell_text, fold_output};

    #[test]
    fn a_long_text_is_cut_in_a_table_cell() {
        let log: String = (0..40).map(|i| format!("kernel: I/O error sector {i}\n")).collect();
        let cell = cell_text(&log);
        assert!(cell.chars().count() < 300 && cell.contains("… (cut"), "{cell}");
        assert!(!cell.contains('\n'));
        assert_eq!(cell_text("short"), "short");
    }

    #[test]
    fn long_outputs_keep_their_head_and_tail() {
        let long: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let folded = fold_output(&long);
        assert!(folded.starts_with("line 0\n"));
        assert!(folded.contains("… 945 lines folded"));
        assert!(folded.ends_with("line 999"));
        assert_eq!(fold_output("a\nb\n"), "a\nb");
    }
}

#[cfg(test)]
mod key_time_tests {
    use super::*;
    use crate::incident::{Severity, Status};
    use chrono::TimeZone;

    fn event(seq: u64, second: u32, kind: &str, data: serde_json::Value) -> Event {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, second).unwrap();
        Event {
            seq,
            id: format!("E{seq}"),
            at,
            recorded_at: at,
            actor: "alice".into(),
            kind: kind.into(),
            host: Some("beta".into()),
            data,
            prev: String::new(),
        }
    }

    fn report(events: &[Event]) -> Report {
        let summary = Summary {
            dir: "x".into(),
            id: "x".into(),
            title: "beta flaky".into(),
            severity: Severity::Major,
            status: Status::Investigating,
            started: events[0].at,
            impact_started: events[0].at,
            resolved: None,
            events: events.len(),
            responders: vec![],
        };
        Report::new(summary, events)
    }

    fn at(report: &Report, name: &str) -> Option<u32> {
        use chrono::Timelike;
        report.key_times.iter().find(|k| k.name == name)?.at.map(|t| t.second())
    }

    #[test]
    fn a_declaration_before_any_alert_is_the_detection() {
        let declared = event(
            1,
            10,
            "incident.declared",
            serde_json::json!({"title": "beta flaky", "severity": "major"}),
        );
        let raised = event(
            2,
            20,
            "alert.raised",
            serde_json::json!({"code": "unreachable", "occurrence": "o"}),
        );
        let report = report(&[declared, raised]);
        assert_eq!(
            (
                at(&report, "started"),
                at(&report, "detected"),
                at(&report, "acknowledged")
            ),
            (Some(10), Some(10), Some(10))
        );
        assert!(
            report.key_time_problems.iter().all(|p| !p.contains("before")),
            "{:?}",
            report.key_time_problems
        );
        let acknowledge = &report.durations()[1];
        assert_eq!(
            (acknowledge.name, acknowledge.human()),
            ("time_to_acknowledge", "0s".to_string())
        );
    }

    #[test]
    fn marks_out_of_order_give_a_negative_duration_in_words() {
        let declared = event(
            1,
            40,
            "incident.declared",
            serde_json::json!({"title": "x", "severity": "major"}),
        );
        let raised = event(
            2,
            15,
            "alert.raised",
            serde_json::json!({"code": "unreachable", "occurrence": "o"}),
        );
        let ack = event(
            3,
            50,
            "amendment",
            serde_json::json!({"target": "E2", "target_seq": 2, "mark": "acknowledged"}),
        );
        let detect = event(
            4,
            51,
            "amendment",
            serde_json::json!({"target": "E1", "target_seq": 1, "mark": "detected"}),
        );
        let report = report(&[declared, raised, ack, detect]);
        let acknowledge = &report.durations()[1];
        assert_eq!(acknowledge.value.map(|v| v.num_seconds()), Some(-25));
        assert_eq!(acknowledge.human(), "-25s");
        let markdown = crate::report::markdown::render(&report, crate::report::Zone::named("UTC").unwrap());
        assert!(markdown.contains("Time to acknowledge: -25s"), "{markdown}");
    }

    #[test]
    fn a_reopened_incident_counts_to_its_last_resolution_and_says_so() {
        let declared = event(
            1,
            0,
            "incident.declared",
            serde_json::json!({"title": "t", "severity": "minor", "status": "investigating"}),
        );
        let status = |seq, second, from: &str, to: &str| {
            event(
                seq,
                second,
                "status.changed",
                serde_json::json!({"from": from, "to": to}),
            )
        };
        let report = report(&[
            declared,
            status(2, 10, "investigating", "resolved"),
            status(3, 20, "resolved", "investigating"),
            status(4, 30, "investigating", "resolved"),
        ]);
        assert_eq!(at(&report, "resolved"), Some(30));
        assert_eq!(
            report.impact_span().1.map(|d| d.num_seconds()),
            Some(30),
            "the header's length agrees"
        );
        assert!(
            report
                .key_time_problems
                .iter()
                .any(|p| p.contains("was reopened (investigating)")),
            "{:?}",
            report.key_time_problems
        );
    }

    #[test]
    fn an_outage_before_the_declaration_starts_and_detects_the_incident() {
        let declared = event(
            1,
            40,
            "incident.declared",
            serde_json::json!({"title": "beta down", "severity": "major"}),
        );
        // Recorded after the declaration, at the time it began.
        let raised = event(
            2,
            12,
            "alert.raised",
            serde_json::json!({"code": "unreachable", "occurrence": "o"}),
        );
        let cleared = event(
            3,
            50,
            "alert.cleared",
            serde_json::json!({"code": "unreachable", "occurrence": "o"}),
        );
        let report = report(&[declared, raised, cleared]);
        assert_eq!(
            (
                at(&report, "started"),
                at(&report, "detected"),
                at(&report, "acknowledged")
            ),
            (Some(12), Some(12), Some(40))
        );
        let seconds: Vec<Option<i64>> = report
            .durations()
            .iter()
            .map(|d| d.value.map(|v| v.num_seconds()))
            .collect();
        assert_eq!(seconds, vec![Some(0), Some(28), None, None]);
        let down: Vec<_> = report.hosts_down().map(|o| o.span(&report)).collect();
        assert_eq!(down, vec!["19:30:12 → 19:30:50 (38s)".to_string()]);
        assert_eq!(
            report.rows[0].text.split(':').next(),
            Some("alert"),
            "the table reads in time order"
        );
    }

    #[test]
    fn one_outage_seen_by_two_machines_is_one_outage() {
        let declared = event(
            1,
            0,
            "incident.declared",
            serde_json::json!({"title": "beta down", "severity": "major"}),
        );
        let fleet = |seq, second, kind: &str, occurrence: &str| {
            event(
                seq,
                second,
                kind,
                serde_json::json!({"code": "unreachable", "occurrence": occurrence}),
            )
        };
        // Alice's watcher and bob's, each with its own journal.
        let report = report(&[
            declared,
            fleet(2, 10, "alert.raised", "alice-1"),
            fleet(3, 12, "alert.raised", "bob-1"),
            fleet(4, 40, "alert.cleared", "alice-1"),
            fleet(5, 43, "alert.cleared", "bob-1"),
        ]);
        let down: Vec<_> = report.hosts_down().map(|o| o.span(&report)).collect();
        assert_eq!(down, vec!["19:30:10 → 19:30:43 (33s)".to_string()]);
        assert_eq!(report.alerts.len(), 1, "one alert seen");
    }
}
