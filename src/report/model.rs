//! What the post-mortem says, computed from the amended timeline. Pure:
//! events in, report out; renderers only format it.

use crate::incident::Summary;
use crate::timeline::event::kinds;
use crate::timeline::view::{amended, describe, Mark, ViewEvent};
use crate::timeline::Event;
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    pub at: DateTime<Utc>,
    pub step: String,
    /// "skipped", "failed" or "ran outside any playbook".
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
    pub decisions: Vec<Row>,
    pub notes: Vec<Row>,
    pub action_items: Vec<(String, Option<String>, Option<String>)>,
    /// The narrative sections, from notes tagged in the timeline (`#summary`,
    /// `#impact`, `#went-well`, `#went-badly`, `#lucky`) or given as files.
    pub narrative: Narrative,
    /// (when, new status), oldest first: the phases of the incident.
    pub status_changes: Vec<(DateTime<Utc>, String)>,
    /// (who, role), the latest assignment of each role.
    pub roles: Vec<(String, String)>,
}

impl Report {
    /// The responders, each with the roles they held: "alice (commander), bob".
    pub fn responders_with_roles(&self) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<String> = self.summary.responders.clone();
        for (who, _) in &self.roles {
            if !names.contains(who) {
                names.push(who.clone());
            }
        }
        names
            .into_iter()
            .map(|name| {
                let roles = self
                    .roles
                    .iter()
                    .filter(|(w, _)| *w == name)
                    .map(|(_, r)| r.clone())
                    .collect();
                (name, roles)
            })
            .collect()
    }
}

/// Text for the sections a timeline cannot compute. Each is a list of
/// paragraphs; an empty one says so in the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Narrative {
    pub summary: Vec<String>,
    pub impact: Vec<String>,
    pub went_well: Vec<String>,
    pub went_badly: Vec<String>,
    pub lucky: Vec<String>,
}

/// The tags a note may carry, and the section each fills.
pub const NARRATIVE_TAGS: &[&str] = &["summary", "impact", "went-well", "went-badly", "lucky"];

impl Narrative {
    fn section_mut(&mut self, tag: &str) -> Option<&mut Vec<String>> {
        match tag {
            "summary" => Some(&mut self.summary),
            "impact" => Some(&mut self.impact),
            "went-well" => Some(&mut self.went_well),
            "went-badly" => Some(&mut self.went_badly),
            "lucky" => Some(&mut self.lucky),
            _ => None,
        }
    }

    /// A note's text goes to every section it is tagged for, the tags
    /// (`#went-well` in the text, or `data.tags`) taken out of it.
    fn take_note(&mut self, text: &str, data_tags: &[String]) {
        let mut tags: Vec<String> = data_tags.to_vec();
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            match word.strip_prefix('#').filter(|t| NARRATIVE_TAGS.contains(t)) {
                Some(tag) => tags.push(tag.to_string()),
                None => words.push(word),
            }
        }
        let clean = words.join(" ");
        for tag in tags {
            if let Some(section) = self.section_mut(&tag) {
                if !clean.is_empty() && !section.contains(&clean) {
                    section.push(clean.clone());
                }
            }
        }
    }
}

impl Report {
    pub fn new(summary: Summary, events: &[Event]) -> Report {
        let view = amended(events);
        let text = |e: &Event, f: &str| {
            e.data
                .get(f)
                .map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
        };
        let marked = |mark: Mark| view.iter().find(|v| v.marks.contains(&mark)).map(|v| v.event.at);
        let first_kind = |kind: &str| view.iter().find(|v| v.event.kind == kind).map(|v| v.event.at);
        let status_at = |status: &str| {
            view.iter()
                .find(|v| v.event.kind == kinds::STATUS_CHANGED && text(&v.event, "to").as_deref() == Some(status))
                .map(|v| v.event.at)
        };
        let began = [
            first_kind(kinds::ALERT_RAISED),
            first_kind(kinds::HOST_UNREACHABLE),
            first_kind(kinds::INCIDENT_DECLARED),
        ]
        .into_iter()
        .flatten()
        .min();
        let key_times = vec![
            KeyTime {
                name: "started",
                at: began,
            },
            KeyTime {
                name: "detected",
                at: marked(Mark::Detected)
                    .or(first_kind(kinds::ALERT_RAISED))
                    .or(first_kind(kinds::INCIDENT_DECLARED)),
            },
            KeyTime {
                name: "acknowledged",
                at: marked(Mark::Acknowledged).or(first_kind(kinds::INCIDENT_DECLARED)),
            },
            KeyTime {
                name: "mitigated",
                at: marked(Mark::Mitigated).or(status_at("mitigated")),
            },
            KeyTime {
                name: "resolved",
                at: marked(Mark::Resolved).or(status_at("resolved")),
            },
        ];
        let mut key_time_problems = Vec::new();
        for pair in key_times.windows(2) {
            if let (Some(a), Some(b)) = (pair[0].at, pair[1].at) {
                if b < a {
                    key_time_problems.push(format!(
                        "{} ({}) is before {} ({})",
                        pair[1].name,
                        b.format("%H:%M:%S"),
                        pair[0].name,
                        a.format("%H:%M:%S")
                    ));
                }
            }
        }
        for key in &key_times {
            if key.at.is_none() {
                key_time_problems.push(format!("no {} time in the timeline", key.name));
            }
        }
        let row = |v: &ViewEvent| Row {
            at: v.event.at,
            actor: v.event.actor.clone(),
            host: v.event.host.clone().unwrap_or_default(),
            text: describe(&v.event),
            amended: !v.amended_by.is_empty(),
        };
        // One pass in order: each finished command meets the command sent
        // last for its run and step (a map, so 100 000 events stay linear).
        let mut commands = Vec::new();
        let mut last_sent: std::collections::HashMap<(Option<String>, Option<String>), String> =
            std::collections::HashMap::new();
        for v in &view {
            let e = &v.event;
            let key = (text(e, "run"), text(e, "step"));
            match e.kind.as_str() {
                kinds::COMMAND_SENT => {
                    last_sent.insert(key, text(e, "command").unwrap_or_default());
                }
                kinds::COMMAND_FINISHED => commands.push(CommandRun {
                    at: e.at,
                    host: e.host.clone().unwrap_or_default(),
                    step: key.1.clone().unwrap_or_default(),
                    command: last_sent.get(&key).cloned().unwrap_or_default(),
                    exit: e.data.get("exit").and_then(|x| x.as_i64()),
                    ms: e.data.get("ms").and_then(|x| x.as_i64()),
                    output: text(e, "output").unwrap_or_default(),
                    output_truncated: e
                        .data
                        .get("output_truncated")
                        .and_then(|x| x.as_bool())
                        .unwrap_or(false),
                }),
                _ => {}
            }
        }
        // The incident's status over time, for the chart's phases.
        let status_changes = view
            .iter()
            .filter_map(|v| match v.event.kind.as_str() {
                kinds::INCIDENT_DECLARED => Some((
                    v.event.at,
                    text(&v.event, "status").unwrap_or_else(|| "investigating".into()),
                )),
                kinds::STATUS_CHANGED => Some((v.event.at, text(&v.event, "to")?)),
                _ => None,
            })
            .collect();
        let deviations = view
            .iter()
            .filter_map(|v| {
                let (what, why) = match v.event.kind.as_str() {
                    kinds::STEP_SKIPPED => ("skipped", text(&v.event, "reason")),
                    kinds::STEP_FAILED => ("failed", text(&v.event, "error")),
                    // A command recorded by hand or a script, not by a playbook run.
                    kinds::COMMAND_FINISHED if v.event.data.get("run").is_none() => (
                        "ran outside any playbook",
                        Some(format!(
                            "{} on {}",
                            text(&v.event, "command").unwrap_or_else(|| "a command".into()),
                            v.event.host.as_deref().unwrap_or("?")
                        )),
                    ),
                    _ => return None,
                };
                Some(Deviation {
                    at: v.event.at,
                    step: text(&v.event, "step").unwrap_or_default(),
                    what,
                    why: why.unwrap_or_default(),
                })
            })
            .collect();
        let of_kind = |kind: &str| {
            view.iter()
                .filter(|v| v.event.kind == kind)
                .map(row)
                .collect::<Vec<_>>()
        };
        let action_items = view
            .iter()
            .filter(|v| v.event.kind == kinds::ACTION_ITEM)
            .map(|v| {
                (
                    text(&v.event, "text").unwrap_or_default(),
                    text(&v.event, "owner"),
                    text(&v.event, "due"),
                )
            })
            .collect();
        let mut narrative = Narrative::default();
        for v in view
            .iter()
            .filter(|v| matches!(v.event.kind.as_str(), kinds::NOTE | kinds::DECISION))
        {
            let tags: Vec<String> = v
                .event
                .data
                .get("tags")
                .and_then(|t| t.as_array())
                .map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect())
                .unwrap_or_default();
            narrative.take_note(&text(&v.event, "text").unwrap_or_default(), &tags);
        }
        // A role goes to whoever was named for it last.
        let mut roles: Vec<(String, String)> = Vec::new();
        for v in view.iter().filter(|v| v.event.kind == kinds::ROLE_ASSIGNED) {
            if let (Some(who), Some(role)) = (text(&v.event, "who"), text(&v.event, "role")) {
                roles.retain(|(_, r)| *r != role);
                roles.push((who, role));
            }
        }
        Report {
            roles,
            status_changes,
            narrative,
            summary,
            key_times,
            key_time_problems,
            rows: view.iter().map(row).collect(),
            commands,
            deviations,
            alerts: of_kind(kinds::ALERT_RAISED),
            decisions: of_kind(kinds::DECISION),
            notes: of_kind(kinds::NOTE),
            action_items,
        }
    }

    /// "Time to detect / mitigate / resolve" and their values ("unknown"
    /// when the key time is missing), for every format alike.
    pub fn durations(&self) -> Vec<(&'static str, String)> {
        [
            ("Time to detect", "detected"),
            ("Time to mitigate", "mitigated"),
            ("Time to resolve", "resolved"),
        ]
        .into_iter()
        .map(|(label, name)| {
            let value = self
                .since_start(name)
                .map(crate::format::human_age)
                .unwrap_or_else(|| "unknown".into());
            (label, value)
        })
        .collect()
    }

    /// A key time's offset from the start, for "time to …".
    pub fn since_start(&self, name: &str) -> Option<chrono::Duration> {
        let start = self.key_times.first()?.at?;
        let at = self.key_times.iter().find(|k| k.name == name)?.at?;
        Some(at - start)
    }
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

#[cfg(test)]
mod fold_tests {
    use super::fold_output;

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
