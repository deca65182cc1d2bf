//! The post-mortem as Markdown that reads well on a forge and in a terminal.
//! Every piece of text from the timeline is escaped: no raw HTML, no table
//! breakage, no escape sequences.

use super::model::{Narrative, Report, Row, Section, SECTIONS};
use super::zone::Zone;
use crate::format::human_age;
use crate::sanitize::one_line;

/// Text for a table cell or a list item: one line, Markdown and HTML inert.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// [`escape`] for a line of its own: one that starts like a list item
/// (`- `, `+ `, `1. `) or a quote stays text.
fn escape_line(line: &str) -> String {
    let escaped = escape(line.trim_start());
    let digits = escaped.chars().take_while(char::is_ascii_digit).count();
    if escaped.starts_with(['-', '+']) {
        format!("\\{escaped}")
    } else if digits > 0 && escaped[digits..].starts_with(['.', ')']) {
        format!("{}\\{}", &escaped[..digits], &escaped[digits..])
    } else {
        escaped
    }
}

/// A fenced block whose fence is longer than any backtick run inside.
/// `text` as a code span in a table cell. Inside a code span nothing is an
/// escape or an entity (a `\[` or `&gt;` would show as such): only the
/// table's `|` is escaped, and the fence is longer than any run of backticks.
fn code_span_in_table(text: &str) -> String {
    let text = one_line(text).replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A tracker's address as a link (a CommonMark autolink) when it is a web
/// address that can be one; else as a code span.
fn link_in_table(link: &str) -> String {
    let plain = |c: char| !c.is_whitespace() && !c.is_control() && !matches!(c, '<' | '>' | '|' | '`');
    if crate::format::is_web_address(link) && link.chars().all(plain) {
        format!("<{link}>")
    } else {
        code_span_in_table(link)
    }
}

fn code_block(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}text\n{}\n{fence}\n",
        crate::sanitize::terminal_safe(text).trim_end()
    )
}

/// "alice (commander, scribe)", each part escaped for its format.
pub fn with_roles(who: &str, roles: &[String], escape: fn(&str) -> String) -> String {
    if roles.is_empty() {
        who.to_string()
    } else {
        let roles: Vec<String> = roles.iter().map(|r| escape(r)).collect();
        format!("{who} ({})", roles.join(", "))
    }
}

/// A written section (`##`, or `###` under "Lessons learned"): its
/// paragraphs, or how to fill it.
fn narrative(out: &mut String, section: &Section, narrative: &Narrative, level: &str) {
    out.push_str(&format!("{level} {}\n\n", section.title));
    // A file is Markdown already: kept as written, raw HTML made text.
    if let Some(written) = narrative.written(section.tag) {
        out.push_str(&format!("{}\n\n", written.replace('<', "&lt;")));
    }
    let paragraphs = narrative.of(section.tag);
    if narrative.is_empty(section.tag) {
        let file = if section.takes_file() {
            format!(" or pass `--{} FILE`", section.tag)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "_Not written yet: add a note tagged `#{}`{file}._\n\n",
            section.tag
        ));
    }
    // Links as a list, each web address a link.
    if section.is_supporting() {
        for paragraph in paragraphs {
            let words: Vec<String> = paragraph
                .split_whitespace()
                .map(|w| match crate::format::is_web_address(w) {
                    true => link_in_table(w),
                    false => escape(w),
                })
                .collect();
            out.push_str(&format!("- {}\n", words.join(" ")));
        }
        out.push('\n');
        return;
    }
    // A paragraph that starts like a list item or a heading stays a paragraph.
    for paragraph in paragraphs {
        out.push_str(&format!("{}\n\n", escape_line(paragraph)));
    }
}

fn empty(out: &mut String, what: &str) {
    out.push_str(&format!("_No {what} recorded._\n\n"));
}

/// Renders `report`; `zone` is the responders' time zone, for the local-time column.
/// In the order of the usual post-mortem templates (Google SRE,
/// PagerDuty): what happened and why, how it was found and handled, what
/// was learned and is to be done; then the record, then the mechanics.
pub fn render(report: &Report, zone: Zone) -> String {
    let mut out = String::new();
    header(&mut out, report, zone);
    for section in SECTIONS.iter().filter(|s| !s.is_lesson() && !s.is_supporting()) {
        narrative(&mut out, section, &report.narrative, "##");
        match section.tag {
            "impact" => fleet_impact(&mut out, report, zone),
            "detection" => detection_facts(&mut out, report, zone),
            _ => {}
        }
    }
    key_times(&mut out, report, zone);
    out.push_str("## Lessons learned\n\n");
    for section in SECTIONS.iter().filter(|s| s.is_lesson()) {
        narrative(&mut out, section, &report.narrative, "###");
    }
    action_items(&mut out, report);
    for section in SECTIONS.iter().filter(|s| s.is_supporting()) {
        narrative(&mut out, section, &report.narrative, "##");
    }
    timeline(&mut out, report, zone);
    commands(&mut out, report);
    if !report.ran_nothing() {
        deviations(&mut out, report);
    }
    alerts(&mut out, report);
    decisions_and_notes(&mut out, report);
    mechanics(&mut out, report, zone);
    if !report.ran_nothing() {
        outputs(&mut out, report);
    }
    out
}

/// How the incident was found, as the timeline has it: the first alert,
/// and how long after the start.
fn detection_facts(out: &mut String, report: &Report, zone: Zone) {
    match report.detection_sentence(zone, escape) {
        Some(sentence) => out.push_str(&format!("{sentence}\n\n")),
        None => out.push_str("_No alert in the timeline: the incident was declared by hand._\n\n"),
    }
}

/// The appendix's first part: each playbook run's steps, commands and
/// ticks, as the timeline recorded them.
fn mechanics(out: &mut String, report: &Report, zone: Zone) {
    let groups = report.mechanics();
    if groups.is_empty() {
        // "Commands run" already said that nothing ran.
        return;
    }
    out.push_str("## Appendix: step by step\n\n");
    for (title, rows) in groups {
        out.push_str(&format!("### {}\n\n", escape(&title)));
        table_of_rows(out, report, &rows, zone);
    }
}

/// The title and the incident's facts.
fn header(out: &mut String, report: &Report, zone: Zone) {
    let s = &report.summary;
    out.push_str(&format!("# Post-mortem: {}\n\n", escape(&s.title)));
    out.push_str(&format!(
        "| | |\n|---|---|\n| Incident | `{}` |\n| Severity | {} |\n| Status | {} |\n",
        escape(&s.id),
        s.severity.as_str(),
        s.status.as_str()
    ));
    out.push_str(&format!(
        "| Declared | {} UTC |\n",
        s.started.format("%Y-%m-%d %H:%M:%S")
    ));
    if let Some(as_of) = report.as_of() {
        out.push_str(&format!(
            "| As of | {} UTC, the last of {} events |\n",
            as_of.format("%Y-%m-%d %H:%M:%S"),
            s.events
        ));
    }
    // The incident's length counts from its impact, not its declaration.
    let (began, lasted) = report.impact_span();
    if let Some(began) = began.filter(|b| *b != s.started) {
        out.push_str(&format!(
            "| Impact began | {} UTC |\n",
            began.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    if let Some(resolved) = report.key_time("resolved") {
        out.push_str(&format!(
            "| Resolved | {} UTC |\n",
            resolved.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    if let Some(lasted) = lasted {
        out.push_str(&format!("| Lasted | {} |\n", human_age(lasted)));
    }
    out.push_str(&format!(
        "| Authors | {} |\n",
        report
            .responders_with_roles()
            .iter()
            .map(|(who, roles)| with_roles(&escape(who), roles, escape))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let reviewers = report.reviewers();
    out.push_str(&format!(
        "| Reviewers | {} |\n| Document | {} |\n",
        if reviewers.is_empty() {
            "none yet (`vigie incident role NAME reviewer`)".to_string()
        } else {
            reviewers.iter().map(|r| escape(r)).collect::<Vec<_>>().join(", ")
        },
        match report.final_version {
            true => "final",
            false => "draft (`vigie report --final` once reviewed)",
        }
    ));
    out.push_str(&format!("| Times | {} |\n\n", report.times_read_as(zone)));
}

/// What the fleet saw down during the incident: hosts, and the VMs of a
/// dead hypervisor, each with how long.
fn fleet_impact(out: &mut String, report: &Report, zone: Zone) {
    let hosts: Vec<_> = report.hosts_down().collect();
    let vms: Vec<_> = report.vms_down().collect();
    if hosts.is_empty() && vms.is_empty() {
        return;
    }
    out.push_str("Down, as vigie saw it:\n\n");
    for outage in hosts {
        out.push_str(&format!(
            "- host {} ({}): {}\n",
            escape(&outage.host),
            escape(&outage.code),
            outage.span_in(report, zone)
        ));
    }
    for outage in vms {
        out.push_str(&format!(
            "- VM {} (on {}): {}\n",
            escape(&outage.subject),
            escape(&outage.host),
            outage.span_in(report, zone)
        ));
    }
    out.push('\n');
}

/// The local-time column's heading, rule and cells: named by the zone,
/// left out when the zone is UTC (it would only repeat the UTC column).
fn local_header(zone: Zone) -> String {
    if zone.is_utc() {
        String::new()
    } else {
        format!(" {} |", zone.name())
    }
}

fn local_rule(zone: Zone) -> &'static str {
    if zone.is_utc() {
        ""
    } else {
        "---|"
    }
}

fn local_cell(report: &Report, zone: Zone, at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match (zone.is_utc(), at) {
        (true, _) => String::new(),
        (false, Some(at)) => format!(" {} |", report.local_clock(zone, at)),
        (false, None) => " — |".to_string(),
    }
}

/// Key times in UTC and local time, the durations between them, and what is wrong with them.
fn key_times(out: &mut String, report: &Report, zone: Zone) {
    out.push_str(&format!(
        "## Key times\n\n| | UTC |{} since start |\n|---|---|{}---|\n",
        local_header(zone),
        local_rule(zone)
    ));
    for key in &report.key_times {
        match key.at {
            Some(at) => out.push_str(&format!(
                "| {} | {} |{} {} |\n",
                key.name,
                report.clock(at),
                local_cell(report, zone, Some(at)),
                report.since_start(key.name).map(human_age).unwrap_or_default()
            )),
            None => out.push_str(&format!(
                "| {} | — |{} missing |\n",
                key.name,
                local_cell(report, zone, None)
            )),
        }
    }
    out.push('\n');
    for duration in report.durations() {
        out.push_str(&format!(
            "- {}: {} (from {})\n",
            duration.label,
            duration.human(),
            duration.from
        ));
    }
    for problem in &report.key_time_problems {
        out.push_str(&format!("- ⚠ {}\n", escape(problem)));
    }
    out.push('\n');
}

/// The moments that matter, amended, in order (the mechanics are in the appendix).
fn timeline(out: &mut String, report: &Report, zone: Zone) {
    out.push_str("## Timeline\n\n");
    let rows: Vec<&Row> = report.key_rows().collect();
    if rows.is_empty() {
        empty(out, "events");
    } else {
        table_of_rows(out, report, &rows, zone);
    }
}

/// Rows as a table: times, who, where, what.
fn table_of_rows(out: &mut String, report: &Report, rows: &[&Row], zone: Zone) {
    {
        out.push_str(&format!(
            "| UTC |{} who | host | what |\n|---|{}---|---|---|\n",
            local_header(zone),
            local_rule(zone)
        ));
        for row in rows {
            out.push_str(&format!(
                "| {} |{} {} | {} | {}{} |\n",
                report.clock(row.at),
                local_cell(report, zone, Some(row.at)),
                escape(&row.actor),
                escape(&row.host),
                escape(&super::model::cell_text(&row.text)),
                if row.amended { " _(amended)_" } else { "" }
            ));
        }
        out.push('\n');
    }
}

/// Commands run, with their exit and duration.
fn commands(out: &mut String, report: &Report) {
    out.push_str("## Commands run\n\n");
    if report.ran_nothing() {
        out.push_str("_No playbook ran and no command was sent._\n\n");
    } else if report.commands.is_empty() {
        empty(out, "commands");
    } else {
        out.push_str("| UTC | host | step | command | exit | duration |\n|---|---|---|---|---|---|\n");
        for c in &report.commands {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                report.clock(c.at),
                escape(&c.host),
                escape(&c.step),
                code_span_in_table(&c.headline()),
                escape(&c.outcome()),
                c.duration()
            ));
        }
        out.push('\n');
    }
}

/// Skipped and failed steps, and commands run outside any playbook.
fn deviations(out: &mut String, report: &Report) {
    out.push_str("## Playbook deviations\n\n");
    if report.deviations.is_empty() {
        empty(out, "skipped or failed steps");
    } else {
        for d in &report.deviations {
            let subject = if d.step.is_empty() {
                "a command".to_string()
            } else {
                format!("step `{}`", escape(&d.step))
            };
            out.push_str(&format!(
                "- {} {subject} {}: {}\n",
                report.clock(d.at),
                d.what,
                escape(&d.why)
            ));
        }
        out.push('\n');
    }
}

/// Alerts recorded during the incident.
fn alerts(out: &mut String, report: &Report) {
    out.push_str("## Alerts seen\n\n");
    if report.alerts.is_empty() {
        empty(out, "alerts");
    } else {
        for a in &report.alerts {
            out.push_str(&format!("- {} {}\n", report.clock(a.at), escape(&a.text)));
        }
        out.push('\n');
    }
}

/// Decisions, then notes.
fn decisions_and_notes(out: &mut String, report: &Report) {
    out.push_str("## Decisions and notes\n\n");
    if report.decisions.is_empty() && report.notes.is_empty() {
        empty(out, "decisions or notes");
    } else {
        for r in report.decisions_and_notes() {
            // A note of several lines keeps them, inside its list item (a
            // backslash at the end of a line is CommonMark's line break).
            let text = r.text.lines().map(escape_line).collect::<Vec<_>>().join("\\\n  ");
            out.push_str(&format!("- {} {}: {}\n", report.clock(r.at), escape(&r.actor), text));
        }
        out.push('\n');
    }
}

/// Action items: what, who, when, how urgent, where they stand and are tracked.
fn action_items(out: &mut String, report: &Report) {
    out.push_str("## Action items\n\n");
    if report.action_items.is_empty() {
        empty(out, "action items");
    } else {
        out.push_str(
            "| # | action | type | owner | due | priority | status | tracked at |\n|---|---|---|---|---|---|---|---|\n",
        );
        let or_dash = |value: &Option<String>| value.as_deref().map(escape).unwrap_or_else(|| "—".into());
        for a in &report.action_items {
            out.push_str(&format!(
                "| A{} | {} | {} | {} | {} | {} | {} | {} |\n",
                a.number,
                escape(&a.text),
                or_dash(&a.action_type),
                or_dash(&a.owner),
                or_dash(&a.due),
                or_dash(&a.priority),
                escape(&a.status),
                a.link.as_deref().map(link_in_table).unwrap_or_else(|| "—".into()),
            ));
        }
        out.push('\n');
        // How to keep it current: for a draft, not in the published document.
        if !report.final_version {
            out.push_str("_Update one with `vigie incident action A1 --status done` (or `--priority`, `--link`)._\n\n");
        }
    }
}

/// Every command: its whole script as sent, how it ended, its output folded.
fn outputs(out: &mut String, report: &Report) {
    out.push_str("## Appendix: commands and their outputs\n\n");
    if report.commands.is_empty() {
        empty(out, "commands");
    } else {
        for c in &report.commands {
            out.push_str(&format!(
                "<details><summary>{} {} — {} — exit {}</summary>\n\n",
                report.clock(c.at),
                escape(&c.host),
                escape(c.step_or_by_hand()),
                escape(&c.outcome())
            ));
            if !c.command.is_empty() {
                out.push_str("Script as sent (secrets masked):\n\n");
                out.push_str(&code_block(&c.command));
                out.push('\n');
            }
            if c.output.trim().is_empty() {
                out.push_str("_(no output)_\n");
            } else {
                out.push_str(&code_block(&super::model::fold_output(&c.output)));
            }
            if c.output_truncated {
                out.push_str("_(output truncated in the timeline)_\n");
            }
            out.push_str("\n</details>\n\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_makes_hostile_text_inert() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a | b\nc"), "a \\| b c");
        assert_eq!(escape("\u{1b}[31mred\u{1b}[0m"), "red");
        assert!(code_block("x ``` y").starts_with("````text"));
        assert_eq!(escape_line("- not a list"), "\\- not a list");
        assert_eq!(escape_line("12. not a list"), "12\\. not a list");
        assert_eq!(escape_line("  > not a quote"), "&gt; not a quote");
    }
}
