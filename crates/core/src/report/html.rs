//! The post-mortem as one self-contained HTML file: inline CSS, an inline
//! SVG time chart, no script, and a Content-Security-Policy that forbids
//! every fetch, so the page opens the same on a laptop with no network.
//! Every piece of text from the timeline is escaped where it is written.

use super::model::{fold_output, Report, Row, Section, SECTIONS};
use super::zone::Zone;
use crate::format::human_age;
use crate::sanitize::{one_line, terminal_safe};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write;

/// Text as HTML: `&<>"'` escaped, escape sequences and control characters gone.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in terminal_safe(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of text for a cell.
fn cell(text: &str) -> String {
    escape(&one_line(text))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}table.meta{width:auto}code,pre{font-family:ui-monospace,monospace;font-size:.85rem}\
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;white-space:pre-wrap}.empty{color:#777;font-style:italic}\
.warn{color:#a15c00}.amended{color:#777;font-size:.8rem}svg{width:100%;height:auto;border:1px solid #ddd}\
details{margin:.5rem 0}summary{cursor:pointer}td,th,li,p,summary{overflow-wrap:break-word}td a,td code{overflow-wrap:anywhere}td:first-child,th:first-child,.events td:nth-child(-n+2),.events th{white-space:nowrap}\
.banner{margin:1rem 0;padding:.6rem 1rem;border-radius:4px;border-left:.5rem solid #777;background:#f4f4f4;font-weight:600}\
.banner.sev-critical{border-color:#b03a2e;background:#fbeceb}.banner.sev-major{border-color:#d35400;background:#fdf0e6}\
.banner.sev-minor{border-color:#b7950b;background:#fbf6e3}.sev,.st{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff}\
.sev-critical .sev,.sev.sev-critical{background:#b03a2e}.sev.sev-major{background:#d35400}.sev.sev-minor{background:#8a6d00}\
.st{background:#555}.st.st-investigating{background:#b03a2e}.st.st-identified{background:#b9770e}\
.st.st-mitigated{background:#1f618d}.st.st-resolved{background:#1e8449}\
@page{size:A4;margin:15mm}\
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}table{width:99%}details::details-content{content-visibility:visible;display:block}h2{break-after:avoid}tr,svg,.banner{break-inside:avoid}\
.banner,.sev,.st{-webkit-print-color-adjust:exact;print-color-adjust:exact}pre{overflow-x:visible}}";

pub fn render(report: &Report, zone: Zone) -> String {
    let mut out = String::new();
    head_and_facts(&mut out, report, zone);
    // The order of the Markdown report (see there why).
    for section in SECTIONS.iter().filter(|s| !s.is_lesson() && !s.is_supporting()) {
        narrative(&mut out, section, &report.narrative, "h2");
        match section.tag {
            "impact" => fleet_impact(&mut out, report, zone),
            "detection" => detection_facts(&mut out, report, zone),
            _ => {}
        }
    }
    key_times(&mut out, report, zone);
    out.push_str("<h2>Lessons learned</h2>\n");
    for section in SECTIONS.iter().filter(|s| s.is_lesson()) {
        narrative(&mut out, section, &report.narrative, "h3");
    }
    action_items(&mut out, report);
    for section in SECTIONS.iter().filter(|s| s.is_supporting()) {
        narrative(&mut out, section, &report.narrative, "h2");
    }
    chart_and_timeline(&mut out, report, zone);
    commands(&mut out, report);
    deviations_alerts_and_notes(&mut out, report);
    mechanics(&mut out, report, zone);
    if !report.ran_nothing() {
        outputs(&mut out, report);
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The document head (CSP, style), the title and the incident's facts.
fn head_and_facts(out: &mut String, report: &Report, zone: Zone) {
    let s = &report.summary;
    let title = cell(&s.title);
    let as_of = report.as_of();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Post-mortem: {title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Post-mortem: {title}</h1>\n"
    );
    let time = |at: &DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let severity = s.severity.as_str();
    let status = s.status.as_str();
    banner(out, report);
    let mut meta = vec![
        ("Incident", format!("<code>{}</code>", cell(&s.id))),
        (
            "Severity",
            format!("<span class=\"sev sev-{severity}\">{severity}</span>"),
        ),
        ("Status", format!("<span class=\"st st-{status}\">{status}</span>")),
        ("Declared", time(&s.started)),
    ];
    if let Some(as_of) = as_of {
        meta.push(("As of", format!("{}, the last of {} events", time(&as_of), s.events)));
    }
    // The incident's length counts from its impact, not its declaration.
    let (began, lasted) = report.impact_span();
    if let Some(began) = began.filter(|b| *b != s.started) {
        meta.push(("Impact began", time(&began)));
    }
    if let Some(resolved) = &report.key_time("resolved") {
        meta.push(("Resolved", time(resolved)));
    }
    if let Some(lasted) = lasted {
        meta.push(("Lasted", human_age(lasted)));
    }
    meta.push((
        "Authors",
        report
            .responders_with_roles()
            .iter()
            .map(|(who, roles)| super::markdown::with_roles(&cell(who), roles, cell))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    let reviewers = report.reviewers();
    meta.push((
        "Reviewers",
        if reviewers.is_empty() {
            "none yet".to_string()
        } else {
            reviewers.iter().map(|r| cell(r)).collect::<Vec<_>>().join(", ")
        },
    ));
    meta.push(("Document", report.document_status().to_string()));
    meta.push(("Times", report.times_read_as(zone)));
    out.push_str("<table class=\"meta\">\n");
    for (name, value) in meta {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    out.push_str("</table>\n");
}

/// What a reader takes in first: severity, status, and the durations.
fn banner(out: &mut String, report: &Report) {
    let s = &report.summary;
    let durations: Vec<String> = report
        .durations()
        .iter()
        .map(|d| format!("{} {}", d.label.to_lowercase(), d.human()))
        .collect();
    let _ = writeln!(
        out,
        "<div class=\"banner sev-{severity}\"><span class=\"sev sev-{severity}\">{}</span> \
         <span class=\"st st-{status}\">{status}</span> · {}</div>",
        s.severity.as_str().to_uppercase(),
        durations.join(" · "),
        severity = s.severity.as_str(),
        status = s.status.as_str(),
    );
}

/// The time chart, then every event, amended, in order.
fn chart_and_timeline(out: &mut String, report: &Report, zone: Zone) {
    out.push_str("<h2>Time chart</h2>\n");
    out.push_str(&chart(report));

    out.push_str("<h2>Timeline</h2>\n");
    let rows: Vec<&Row> = report.key_rows().collect();
    if rows.is_empty() {
        empty(out, "events");
    } else {
        table_of_rows(out, report, &rows, zone);
    }
}

/// How the incident was found, as the timeline has it.
fn detection_facts(out: &mut String, report: &Report, zone: Zone) {
    match report.detection_sentence(zone, cell) {
        Some(sentence) => {
            let _ = writeln!(out, "<p>{sentence}</p>");
        }
        None => out.push_str("<p class=\"empty\">No alert in the timeline: the incident was declared by hand.</p>\n"),
    }
}

/// Each playbook run's steps, commands and ticks (the appendix).
fn mechanics(out: &mut String, report: &Report, zone: Zone) {
    let groups = report.mechanics();
    if groups.is_empty() {
        // "Commands run" already said that nothing ran.
        return;
    }
    out.push_str("<h2>Appendix: step by step</h2>\n");
    for (title, rows) in groups {
        let _ = writeln!(out, "<details><summary>{}</summary>", cell(&title));
        table_of_rows(out, report, &rows, zone);
        out.push_str("</details>\n");
    }
}

/// The local-time column's heading and cells: named by the zone, left
/// out when the zone is UTC (it would only repeat the UTC column).
fn local_header(zone: Zone) -> String {
    if zone.is_utc() {
        String::new()
    } else {
        format!("<th>{}</th>", cell(&zone.name()))
    }
}

fn local_cell(report: &Report, zone: Zone, at: Option<DateTime<Utc>>) -> String {
    match (zone.is_utc(), at) {
        (true, _) => String::new(),
        (false, Some(at)) => format!("<td>{}</td>", in_cell(report.local_clock(zone, at))),
        (false, None) => "<td>—</td>".to_string(),
    }
}

/// Rows as a table: times, who, where, what.
fn table_of_rows(out: &mut String, report: &Report, rows: &[&Row], zone: Zone) {
    {
        let _ = writeln!(
            out,
            "<table class=\"events\">\n<tr><th>UTC</th>{}<th>who</th><th>host</th><th>what</th></tr>",
            local_header(zone)
        );
        for row in rows {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{}{}</td></tr>",
                in_cell(report.clock(row.at)),
                local_cell(report, zone, Some(row.at)),
                cell(&row.actor),
                cell(&row.host),
                cell(&super::model::cell_text(&row.text)),
                if row.amended {
                    " <span class=\"amended\">(amended)</span>"
                } else {
                    ""
                }
            );
        }
        out.push_str("</table>\n");
    }
}

/// Commands run, with their exit and duration.
fn commands(out: &mut String, report: &Report) {
    out.push_str("<h2>Commands run</h2>\n");
    if report.ran_nothing() {
        out.push_str("<p class=\"empty\">No playbook ran and no command was sent.</p>\n");
    } else if report.commands.is_empty() {
        empty(out, "commands");
    } else {
        out.push_str(
            "<table>\n<tr><th>UTC</th><th>host</th><th>step</th><th>command</th><th>exit</th><th>duration</th></tr>\n",
        );
        for c in &report.commands {
            let first_line = c.headline();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                in_cell(report.clock(c.at)),
                cell(&c.host),
                cell(&c.step),
                cell(&first_line),
                cell(&c.outcome()),
                c.duration()
            );
        }
        out.push_str("</table>\n");
    }
}

/// Skipped and failed steps, alerts, decisions and notes.
fn deviations_alerts_and_notes(out: &mut String, report: &Report) {
    if !report.ran_nothing() {
        out.push_str("<h2>Playbook deviations</h2>\n");
        list(
            out,
            "skipped or failed steps",
            report.deviations.iter().map(|d| {
                format!(
                    "{} {} {}: {}",
                    report.clock(d.at),
                    deviation_subject(d, "<code>", "</code>"),
                    d.what,
                    cell(&d.why)
                )
            }),
        );
    }
    out.push_str("<h2>Alerts seen</h2>\n");
    list(
        out,
        "alerts",
        report
            .alerts
            .iter()
            .map(|a| format!("{} {}", report.clock(a.at), cell(&a.text))),
    );
    out.push_str("<h2>Decisions and notes</h2>\n");
    list(
        out,
        "decisions or notes",
        report.decisions_and_notes().map(|r| {
            // A note of several lines keeps them.
            let text = r.text.lines().map(cell).collect::<Vec<_>>().join("<br>");
            format!("{} {}: {}", report.clock(r.at), cell(&r.actor), text)
        }),
    );
}

/// Action items, with owner and due date.
fn action_items(out: &mut String, report: &Report) {
    out.push_str("<h2>Action items</h2>\n");
    if report.action_items.is_empty() {
        return empty(out, "action items");
    }
    // The Markdown's table, column for column.
    out.push_str(
        "<table>\n<tr><th>#</th><th>action</th><th>type</th><th>owner</th><th>due</th><th>priority</th><th>status</th><th>tracked at</th></tr>\n",
    );
    let or_dash = |value: &Option<String>| value.as_deref().map(cell).unwrap_or_else(|| "—".into());
    for a in &report.action_items {
        // A web address is a link (a click, never a fetch of the page's own); anything else is text.
        let link = match a.link.as_deref() {
            Some(l) if crate::format::is_web_address(l) => {
                format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", cell(l))
            }
            Some(l) => format!("<code>{}</code>", cell(l)),
            None => "—".into(),
        };
        let _ = writeln!(
            out,
            "<tr><td>A{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{link}</td></tr>",
            a.number,
            cell(&a.text),
            or_dash(&a.action_type),
            or_dash(&a.owner),
            or_dash(&a.due),
            or_dash(&a.priority),
            cell(&a.status),
        );
    }
    out.push_str("</table>\n");
}

/// Every command: its whole script as sent, how it ended, its output folded.
fn outputs(out: &mut String, report: &Report) {
    out.push_str("<h2>Appendix: commands and their outputs</h2>\n");
    if report.commands.is_empty() {
        empty(out, "commands");
    }
    for c in &report.commands {
        let _ = writeln!(
            out,
            "<details><summary>{} {} — {} — exit {}</summary>\n{}<pre>{}</pre>{}</details>",
            report.clock(c.at),
            cell(&c.host),
            cell(c.step_or_by_hand()),
            cell(&c.outcome()),
            if !c.command.is_empty() {
                format!(
                    "<p>Script as sent (secrets masked):</p><pre>{}</pre>",
                    escape(&c.command)
                )
            } else {
                String::new()
            },
            escape(&fold_output(&c.output)),
            if c.output_truncated {
                "<p class=\"empty\">(output truncated in the timeline)</p>"
            } else {
                ""
            }
        );
    }
}

/// "step `id`", or "a command" for one recorded outside any playbook.
fn deviation_subject(d: &super::model::Deviation, open: &str, close: &str) -> String {
    if d.step.is_empty() {
        "a command".to_string()
    } else {
        format!("step {open}{}{close}", cell(&d.step))
    }
}

/// A time in a table's narrow column: a date, when it has one, above it.
fn in_cell(time: String) -> String {
    time.replacen(' ', "<br>", 1)
}

fn empty(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"empty\">No {what} recorded.</p>");
}

fn list(out: &mut String, what: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return empty(out, what);
    }
    out.push_str("<ul>\n");
    for item in items {
        let _ = writeln!(out, "<li>{item}</li>");
    }
    out.push_str("</ul>\n");
}

fn narrative(out: &mut String, section: &Section, narrative: &super::model::Narrative, level: &str) {
    let (title, tag) = (section.title, section.tag);
    let _ = writeln!(out, "<{level}>{title}</{level}>");
    if let Some(written) = narrative.written(tag) {
        out.push_str(&markdown_to_html(written));
    }
    let paragraphs = narrative.of(tag);
    if narrative.is_empty(tag) {
        let file = if section.takes_file() {
            format!(" or pass <code>--{tag} FILE</code>")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<p class=\"empty\">Not written yet: add a note tagged <code>#{tag}</code>{file}.</p>"
        );
    }
    // Links as a list, each web address a link (a click, never a fetch).
    if section.is_supporting() && !paragraphs.is_empty() {
        out.push_str("<ul>\n");
        for paragraph in paragraphs {
            let words: Vec<String> = paragraph
                .split_whitespace()
                .map(|w| match crate::format::is_web_address(w) {
                    true => format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", cell(w)),
                    false => cell(w),
                })
                .collect();
            let _ = writeln!(out, "<li>{}</li>", words.join(" "));
        }
        out.push_str("</ul>\n");
        return;
    }
    for paragraph in paragraphs {
        let _ = writeln!(out, "<p>{}</p>", cell(paragraph));
    }
}

/// A section's file, written in Markdown, as HTML: lists, emphasis, code
/// and links as written; raw HTML shown as text; a link only to the web
/// or a mail address (never `javascript:`), and headings no larger than
/// the section's own.
fn markdown_to_html(markdown: &str) -> String {
    use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    let mut safe_link = Vec::new();
    let events =
        Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).filter_map(|event| {
            Some(match event {
                Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
                Event::Start(Tag::Link {
                    dest_url,
                    title,
                    link_type,
                    id,
                }) => {
                    let allowed = crate::format::is_web_address(&dest_url) || dest_url.starts_with("mailto:");
                    safe_link.push(allowed);
                    if !allowed {
                        return None;
                    }
                    Event::Start(Tag::Link {
                        dest_url,
                        title,
                        link_type,
                        id,
                    })
                }
                Event::End(TagEnd::Link) => {
                    if !safe_link.pop().unwrap_or(false) {
                        return None;
                    }
                    Event::End(TagEnd::Link)
                }
                // A picture would be fetched: its text instead.
                Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => return None,
                Event::Start(Tag::Heading { id, classes, attrs, .. }) => Event::Start(Tag::Heading {
                    level: HeadingLevel::H4,
                    id,
                    classes,
                    attrs,
                }),
                Event::End(TagEnd::Heading(_)) => Event::End(TagEnd::Heading(HeadingLevel::H4)),
                Event::Text(text) => Event::Text(CowStr::from(crate::sanitize::terminal_safe(&text))),
                other => other,
            })
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    // Links open outside, telling the other side nothing of where from.
    html.replace("<a href=", "<a rel=\"noreferrer\" href=")
}

/// What the fleet saw down: hosts, and the VMs of a dead hypervisor.
fn fleet_impact(out: &mut String, report: &Report, zone: Zone) {
    let hosts: Vec<_> = report.hosts_down().collect();
    let vms: Vec<_> = report.vms_down().collect();
    if hosts.is_empty() && vms.is_empty() {
        return;
    }
    out.push_str("<p>Down, as vigie saw it:</p>\n<ul>\n");
    for outage in hosts {
        let _ = writeln!(
            out,
            "<li>host {} ({}): {}</li>",
            cell(&outage.host),
            cell(&outage.code),
            cell(&outage.span_in(report, zone))
        );
    }
    for outage in vms {
        let _ = writeln!(
            out,
            "<li>VM {} (on {}): {}</li>",
            cell(&outage.subject),
            cell(&outage.host),
            cell(&outage.span_in(report, zone))
        );
    }
    out.push_str("</ul>\n");
}

fn key_times(out: &mut String, report: &Report, zone: Zone) {
    let _ = writeln!(
        out,
        "<h2>Key times</h2>\n<table>\n<tr><th></th><th>UTC</th>{}<th>since start</th></tr>",
        local_header(zone)
    );
    for key in &report.key_times {
        match key.at {
            Some(at) => {
                let _ = writeln!(
                    out,
                    "<tr><th>{}</th><td>{}</td>{}<td>{}</td></tr>",
                    key.name,
                    in_cell(report.clock(at)),
                    local_cell(report, zone, Some(at)),
                    report.since_start(key.name).map(human_age).unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<tr><th>{}</th><td>—</td>{}<td class=\"warn\">missing</td></tr>",
                    key.name,
                    local_cell(report, zone, None)
                );
            }
        }
    }
    out.push_str("</table>\n<ul>\n");
    for duration in report.durations() {
        let _ = writeln!(
            out,
            "<li>{}: {} (from {})</li>",
            duration.label,
            duration.human(),
            duration.from
        );
    }
    for problem in &report.key_time_problems {
        let _ = writeln!(out, "<li class=\"warn\">⚠ {}</li>", cell(problem));
    }
    out.push_str("</ul>\n");
}

/// Chart geometry: a label column on the left, then time from left to right.
const WIDTH: f64 = 960.0;
const LABELS: f64 = 110.0;
const LANE_HEIGHT: f64 = 24.0;
const LANES: [&str; 4] = ["status", "alerts", "commands", "notes"];

/// The incident on one time axis: status phases, alerts, commands (green
/// exit 0, red otherwise, width = duration), skipped or failed steps, notes
/// and decisions, and the key times as dashed lines. Every mark has a
/// `<title>` (a tooltip) and every lane a label: colour is never alone.
fn chart(report: &Report) -> String {
    // The night, not the write-up: notes that fill the written sections
    // and the bookkeeping (action items, roles handed out afterwards) are
    // often added the next morning and would stretch the axis.
    let times = report
        .rows
        .iter()
        .filter(|r| !r.narrative && r.mechanics.as_deref() != Some(""))
        .map(|r| r.at)
        .chain(report.commands.iter().map(|c| c.at))
        .chain(report.key_times.iter().filter_map(|k| k.at));
    let (Some(start), Some(last)) = (times.clone().min(), times.max()) else {
        return "<p class=\"empty\">No events to chart.</p>\n".into();
    };
    let scale = Scale::new(start, last.max(start + Duration::minutes(1)));
    let height = scale.axis_y() + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"incident time chart\" font-family=\"sans-serif\" font-size=\"11\">\n"
    );
    lane_labels(&mut svg, &scale);
    status_lane(&mut svg, report, &scale);
    alerts_lane(&mut svg, report, &scale);
    commands_lane(&mut svg, report, &scale);
    notes_lane(&mut svg, report, &scale);
    key_time_lines(&mut svg, report, &scale);
    axis(&mut svg, &scale);
    svg
}

/// Where things go on the chart: time from left to right, lanes top down.
struct Scale {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    span: f64,
}

impl Scale {
    fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Scale {
        let span = (end - start).num_milliseconds().max(1) as f64;
        Scale { start, end, span }
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        LABELS + ((at - self.start).num_milliseconds() as f64 / self.span) * (WIDTH - LABELS - 10.0)
    }

    /// Room above the lanes for the key times' labels, one row each.
    fn lane_y(&self, lane: usize) -> f64 {
        50.0 + lane as f64 * (LANE_HEIGHT + 8.0)
    }

    fn axis_y(&self) -> f64 {
        self.lane_y(LANES.len())
    }
}

/// Each lane's label and base line.
fn lane_labels(svg: &mut String, scale: &Scale) {
    for (i, lane) in LANES.iter().enumerate() {
        let y = scale.lane_y(i);
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\">{lane}</text><line x1=\"{LABELS}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            y + 16.0,
            WIDTH - 10.0,
            y + LANE_HEIGHT,
            y + LANE_HEIGHT
        );
    }
}

/// Status phases, each until the next change (the last until the end);
/// before the declaration, the time nobody had called it an incident.
fn status_lane(svg: &mut String, report: &Report, scale: &Scale) {
    let y = scale.lane_y(0);
    if let Some((declared, _)) = report.status_changes.first().filter(|(at, _)| *at > scale.start) {
        let width = scale.x(*declared) - LABELS;
        let _ = writeln!(
            svg,
            "<rect x=\"{LABELS}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{LANE_HEIGHT}\" fill=\"#eee\"><title>not declared yet</title></rect>",
        );
        if width > label_width("not declared yet") {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">not declared yet</text>",
                LABELS + 4.0,
                y + 16.0
            );
        }
    }
    for (i, (at, status)) in report.status_changes.iter().enumerate() {
        let until = report.status_changes.get(i + 1).map(|(t, _)| *t).unwrap_or(scale.end);
        let (x0, x1) = (scale.x(*at), scale.x(until).max(scale.x(*at) + 2.0));
        let colour = match status.as_str() {
            "investigating" => "#e8a0a0",
            "identified" => "#f3c98b",
            "mitigated" => "#9fd3e6",
            "resolved" => "#a8d8a8",
            _ => "#ddd",
        };
        let label = cell(status);
        let _ = writeln!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{LANE_HEIGHT}\" fill=\"{colour}\"><title>{label} from {}</title></rect>",
            x1 - x0,
            at.format("%H:%M:%S")
        );
        if x1 - x0 > label_width(&label) + 4.0 {
            let _ = writeln!(svg, "<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>", x0 + 4.0, y + 16.0);
        }
    }
}

/// Each alert as a bar from its raise to its clear (to the chart's end
/// when not seen cleared), with a mark where it began; critical ones red,
/// others orange, the severity in the tooltip too.
fn alerts_lane(svg: &mut String, report: &Report, scale: &Scale) {
    let y = scale.lane_y(1);
    for (index, outage) in report.outages.iter().enumerate() {
        // Three thin rows, so that overlapping alerts (a dead host and
        // its guests) stay apart.
        let row = (index % 3) as f64;
        let x0 = scale.x(outage.raised);
        let x1 = scale.x(outage.cleared.unwrap_or(scale.end)).max(x0 + 2.0);
        let colour = if outage.severity == "critical" {
            "#c0392b"
        } else {
            "#e67e22"
        };
        let subject = if outage.subject.is_empty() {
            String::new()
        } else {
            format!(" {}", cell(&outage.subject))
        };
        let _ = writeln!(
            svg,
            "<g><title>{} {}{subject} {}: {} — {}</title>\
             <rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"0.35\"/>\
             <path d=\"M{x0:.1} {:.1} l5 {:.1} l-10 0 z\" fill=\"{colour}\"/></g>",
            cell(&outage.host),
            cell(&outage.code),
            cell(&outage.severity),
            cell(&outage.message),
            cell(&outage.span(report)),
            y + 6.0 + row * 5.0,
            x1 - x0,
            4.0,
            y + 3.0,
            LANE_HEIGHT - 6.0,
        );
    }
}

/// Commands as bars as long as they ran (green exit 0, red otherwise), and deviations.
fn commands_lane(svg: &mut String, report: &Report, scale: &Scale) {
    let y = scale.lane_y(2);
    for c in &report.commands {
        let finished = scale.x(c.at);
        let began =
            c.ms.map(|ms| scale.x(c.at - Duration::milliseconds(ms)))
                .unwrap_or(finished);
        let width = (finished - began).max(2.0);
        let colour = if c.exit == Some(0) { "#27ae60" } else { "#c0392b" };
        let exit = c
            .exit
            .map(|e| format!("exit {e}"))
            .unwrap_or_else(|| cell(&c.outcome()));
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{} {} on {}: {exit}</title></rect>",
            finished - width,
            y + 4.0,
            LANE_HEIGHT - 8.0,
            c.at.format("%H:%M:%S"),
            cell(&c.step),
            cell(&c.host)
        );
    }
    for d in &report.deviations {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#a15c00\" text-anchor=\"middle\">↷<title>{} {}: {}</title></text>",
            scale.x(d.at),
            y + 17.0,
            deviation_subject(d, "", ""),
            d.what,
            cell(&d.why)
        );
    }
}

/// Decisions and notes as dots.
fn notes_lane(svg: &mut String, report: &Report, scale: &Scale) {
    let y = scale.lane_y(3);
    for note in report.decisions.iter().chain(&report.notes).filter(|n| !n.narrative) {
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#7d3c98\"><title>{} {}: {}</title></circle>",
            scale.x(note.at),
            y + LANE_HEIGHT / 2.0,
            note.at.format("%H:%M:%S"),
            cell(&note.actor),
            cell(&note.text)
        );
    }
}

/// The key times as dashed lines, each labelled above the lanes. Key
/// times at one moment share a label ("started, detected"); labels are
/// laid out left to right, each in the first row where it overlaps no
/// other, so that close times stay readable.
fn key_time_lines(svg: &mut String, report: &Report, scale: &Scale) {
    let axis_y = scale.axis_y();
    for (kx, label_y, names) in key_time_labels(report, scale) {
        // Near the right edge the label goes to the left of its line
        // (kx is at most WIDTH - 10: the label ends inside the border).
        let (label_x, anchor) = if kx + label_width(&names) > WIDTH - 4.0 {
            (kx - 2.0, "end")
        } else {
            (kx + 2.0, "start")
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{kx:.1}\" x2=\"{kx:.1}\" y1=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#333\" stroke-dasharray=\"3 3\"/>\
             <text x=\"{label_x:.1}\" y=\"{label_y:.1}\" text-anchor=\"{anchor}\">{names}</text>",
            label_y + 2.0,
        );
    }
}

/// How wide a label of the chart's 11 px sans-serif is, generously.
fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * 6.5 + 4.0
}

/// Rows of key-time labels above the lanes, 12 px apart.
const LABEL_ROWS: usize = 3;

/// (x of the line, y of the label's baseline, the names) of each moment
/// that is a key time.
fn key_time_labels(report: &Report, scale: &Scale) -> Vec<(f64, f64, String)> {
    let mut moments: Vec<(DateTime<Utc>, Vec<&str>)> = Vec::new();
    for key in &report.key_times {
        let Some(at) = key.at else { continue };
        match moments.iter_mut().find(|(t, _)| *t == at) {
            Some((_, names)) => names.push(key.name),
            None => moments.push((at, vec![key.name])),
        }
    }
    moments.sort_by_key(|(at, _)| *at);
    // The right end of the last label in each row.
    let mut row_ends = [f64::NEG_INFINITY; LABEL_ROWS];
    moments
        .into_iter()
        .map(|(at, names)| {
            let kx = scale.x(at);
            let names = names.join(", ");
            let width = label_width(&names);
            let (left, right) = if kx + width > WIDTH - 4.0 {
                (kx - width, kx)
            } else {
                (kx, kx + width)
            };
            // The first row with room; if none, the one that ends first.
            let row = (0..LABEL_ROWS).find(|r| row_ends[*r] < left).unwrap_or_else(|| {
                (0..LABEL_ROWS)
                    .min_by(|a, b| row_ends[*a].total_cmp(&row_ends[*b]))
                    .unwrap_or(0)
            });
            row_ends[row] = right;
            (kx, 13.0 + row as f64 * 12.0, names)
        })
        .collect()
}

/// The time axis: round ticks, at most about ten of them, in UTC.
fn axis(svg: &mut String, scale: &Scale) {
    let axis_y = scale.axis_y();
    let steps = [1, 5, 10, 15, 30, 60, 120, 360, 720, 1440];
    let minutes = (scale.end - scale.start).num_minutes().max(1);
    let step = steps.iter().copied().find(|s| minutes / s <= 10).unwrap_or(1440);
    let _ = writeln!(
        svg,
        "<line x1=\"{LABELS}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" stroke=\"#333\"/>",
        WIDTH - 10.0
    );
    let first = scale.start.timestamp() / 60 / step * step * 60 + step * 60;
    let mut tick = DateTime::from_timestamp(first, 0).unwrap_or(scale.start);
    while tick <= scale.end {
        let tx = scale.x(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{axis_y:.1}\" y2=\"{:.1}\" stroke=\"#333\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            axis_y + 5.0,
            axis_y + 18.0,
            // Midnight says which day begins.
            if tick.format("%H:%M").to_string() == "00:00" {
                tick.format("%b %d").to_string()
            } else {
                tick.format("%H:%M").to_string()
            }
        );
        tick += Duration::minutes(step);
    }
    let _ = writeln!(svg, "<text x=\"4\" y=\"{:.1}\">UTC</text>\n</svg>", axis_y + 18.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_section_is_markdown_made_safe() {
        let html = markdown_to_html(
            "# Big\n\n- one **bold**\n- two [forge](https://forge.example/9)\n\n<script>alert(1)</script>\n\n\
             [click](javascript:alert(1)) ![pic](http://127.0.0.1/x.png)",
        );
        assert!(html.contains("<h4>Big</h4>"), "{html}");
        assert!(html.contains("<li>one <strong>bold</strong></li>"), "{html}");
        assert!(
            html.contains("<a rel=\"noreferrer\" href=\"https://forge.example/9\">forge</a>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("javascript:") && !html.contains("<img"), "{html}");
        assert!(html.contains("click") && html.contains("pic"), "the words stay: {html}");
    }

    #[test]
    fn escaping_makes_hostile_text_inert() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\" \u{1b}[31mred"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; red"
        );
    }
}
