//! The post-mortem from a scripted incident: the design's dead-hypervisor
//! night, with hostile text in outputs and names. Golden files (insta).

use chrono::{TimeZone, Utc};
use serde_json::json;
use vigie::incident::{Severity, Status, Summary};
use vigie::report::{html, json as report_json, markdown, Report};
use vigie::timeline::Event;

/// The responders' zone in these reports: in November, UTC+1.
fn paris() -> vigie::report::Zone {
    vigie::report::Zone::named("Europe/Paris").unwrap()
}

fn story() -> (Summary, Vec<Event>) {
    let t = |h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap();
    let mut seq = 0;
    let mut event = |at, actor: &str, kind: &str, host: Option<&str>, data: serde_json::Value| {
        seq += 1;
        Event {
            seq,
            id: format!("01EVENT{seq:03}"),
            at,
            recorded_at: at,
            actor: actor.into(),
            kind: kind.into(),
            host: host.map(String::from),
            data,
            prev: String::new(),
        }
    };
    let run = "01RUN";
    let events = vec![
        event(
            t(19, 41, 2),
            "alice",
            "incident.declared",
            None,
            json!({"title": "miramelle down", "severity": "critical", "status": "investigating"}),
        ),
        // The outage already firing, recorded with the declaration at the
        // time it began (as the fleet journal writes it), and a guest of
        // the dead hypervisor with a hostile name.
        event(
            t(19, 30, 12),
            "alert",
            "alert.raised",
            Some("miramelle"),
            json!({"code": "unreachable", "severity": "critical", "occurrence": "01OCCDEAD",
                   "message": "miramelle unreachable since 19:30:12: connection timed out", "seen_by": "alice@bastion"}),
        ),
        event(
            t(19, 30, 12),
            "alert",
            "alert.raised",
            Some("miramelle"),
            json!({"code": "vm_down", "severity": "warning", "occurrence": "01OCCCHAT", "subject": "chat<b>\u{1b}]0;pwned\u{7}",
                   "message": "VM chat<b> is down: its hypervisor miramelle is unreachable since 19:30:12"}),
        ),
        event(
            t(19, 43, 20),
            "alert",
            "alert.cleared",
            Some("miramelle"),
            json!({"code": "vm_down", "severity": "warning", "occurrence": "01OCCCHAT", "subject": "chat<b>\u{1b}]0;pwned\u{7}",
                   "message": "cleared after 13m08s: VM chat<b> is down", "raised": "2026-11-23T19:30:12.000Z"}),
        ),
        event(
            t(21, 30, 0),
            "alert",
            "alert.cleared",
            Some("miramelle"),
            json!({"code": "unreachable", "severity": "critical", "occurrence": "01OCCDEAD",
                   "message": "cleared after 1h59m: miramelle unreachable", "raised": "2026-11-23T19:30:12.000Z"}),
        ),
        event(
            t(19, 43, 0),
            "alice",
            "playbook.started",
            Some("locuste"),
            json!({"playbook": "evacuate-hypervisor", "run": run, "inputs": {"dead": "miramelle", "target": "locuste"}}),
        ),
        event(
            t(19, 43, 1),
            "alice",
            "command.sent",
            Some("locuste"),
            json!({"step": "start-the-vms", "run": run, "command": "qm start 101"}),
        ),
        event(
            t(19, 43, 9),
            "alice",
            "command.finished",
            Some("locuste"),
            json!({"step": "start-the-vms", "run": run, "exit": 0, "ms": 8123,
            "output": "started 101\n<script>alert('x')</script> | pipe \u{1b}[31mred\u{1b}[0m ```fence```"}),
        ),
        event(
            t(19, 44, 57),
            "bob",
            "note",
            None,
            json!({"text": "mailed the VM owners"}),
        ),
        event(
            t(19, 50, 0),
            "alice",
            "step.skipped",
            Some("locuste"),
            json!({"step": "start-mail", "run": run, "reason": "mail VM disk | corrupt, restoring from backup"}),
        ),
        event(
            t(20, 5, 0),
            "alice",
            "decision",
            None,
            json!({"text": "keep chat on locuste until the new disks arrive\nthen move it back | <b>"}),
        ),
        event(
            t(23, 50, 0),
            "alice",
            "status.changed",
            None,
            json!({"from": "investigating", "to": "mitigated"}),
        ),
        event(
            t(23, 51, 0),
            "alice",
            "action_item",
            None,
            json!({"text": "replace locuste's disks", "owner": "bob", "due": "2026-12-15", "priority": "p1", "link": "https://forge.example/ops/9"}),
        ),
        event(
            t(23, 52, 0),
            "alice",
            "amendment",
            None,
            json!({"target": "01EVENT009", "target_seq": 9, "text": "mailed the VM owners <b>and</b> the board"}),
        ),
        // Tagged notes fill the narrative sections.
        event(
            t(23, 53, 0),
            "alice",
            "note",
            None,
            json!({"text": "#went-well the capacity check said locuste could take all 20 VMs"}),
        ),
        event(
            t(23, 54, 0),
            "bob",
            "note",
            None,
            json!({"text": "nobody had the IPMI password | <b>vault</b> #went-badly"}),
        ),
        event(
            t(23, 55, 0),
            "bob",
            "note",
            None,
            json!({"text": "the 19:00 backup of the mail VM was complete", "tags": ["lucky"]}),
        ),
        // Every written section, from tagged notes.
        event(
            t(23, 56, 0),
            "alice",
            "note",
            None,
            json!({"text": "#root-cause miramelle's power supply failed; the node had no second one\n\nIts twin in rack B was ordered in 2024 and never installed"}),
        ),
        event(
            t(23, 56, 10),
            "alice",
            "note",
            None,
            json!({"text": "#trigger a power cut in rack A at 19:30"}),
        ),
        event(
            t(23, 56, 20),
            "bob",
            "note",
            None,
            json!({"text": "#contributing replication of the mail VM had been paused since the migration"}),
        ),
        event(
            t(23, 56, 30),
            "bob",
            "note",
            None,
            json!({"text": "#detection vigie raised unreachable at once; nobody was watching before 19:41"}),
        ),
        event(
            t(23, 56, 40),
            "alice",
            "note",
            None,
            json!({"text": "#response alice evacuated the guests to locuste with the playbook\n\n- then bob mailed the owners\n\n2. and nobody slept"}),
        ),
        event(
            t(23, 56, 50),
            "alice",
            "note",
            None,
            json!({"text": "#recovery mail restored from the 19:00 backup; chat stays on locuste"}),
        ),
        event(
            t(21, 10, 0),
            "bob",
            "command.finished",
            Some("locuste"),
            json!({"command": "zpool scrub tank", "exit": 0, "ms": 300}),
        ),
        // Command taken during the night: a moment of the timeline.
        event(
            t(19, 42, 0),
            "alice",
            "role.assigned",
            None,
            json!({"who": "alice", "role": "commander <i>"}),
        ),
        event(
            t(23, 57, 0),
            "bob",
            "note",
            None,
            json!({"text": "#communications 19:45 mail to the VM owners; 20:30 status on the association's page"}),
        ),
        event(
            t(23, 57, 30),
            "bob",
            "note",
            None,
            json!({"text": "#links graphs of the night https://grafana.example/d/miramelle?from=1930 and javascript:alert(1)"}),
        ),
        // Past midnight UTC: its time says its date.
        event(
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 20, 0).unwrap(),
            "bob",
            "action_item",
            None,
            json!({"text": "fit a second power supply to miramelle", "priority": "p2", "type": "prevent"}),
        ),
        event(
            t(20, 10, 0),
            "alice",
            "playbook.finished",
            Some("locuste"),
            json!({"playbook": "evacuate-hypervisor", "run": run, "outcome": "aborted",
                   "reason": "chat moved by hand instead", "step": "start-chat"}),
        ),
        // A reviewer who was not there that night: not an author.
        event(
            t(23, 58, 0),
            "alice",
            "role.assigned",
            None,
            json!({"who": "dave", "role": "reviewer"}),
        ),
    ];
    let summary = Summary {
        dir: "incidents/2026-11-23-miramelle-down".into(),
        id: "2026-11-23-miramelle-down".into(),
        title: "miramelle down | <img src=x>".into(),
        severity: Severity::Critical,
        status: Status::Mitigated,
        started: t(19, 41, 2),
        impact_started: t(19, 30, 12),
        resolved: None,
        events: events.len(),
        responders: vec!["alice".into(), "bob".into()],
    };
    (summary, events)
}

#[test]
fn markdown_post_mortem_of_the_dead_hypervisor_night() {
    let (summary, events) = story();
    let report = Report::new(summary, &events);
    assert_eq!(report.since_start("detected"), Some(chrono::Duration::zero()));
    assert!(
        report
            .key_time_problems
            .iter()
            .any(|p| p == "no resolved time in the timeline"),
        "missing times are flagged, not invented"
    );
    let text = markdown::render(&report, paris());
    let (body, appendix) = text.split_once("## Appendix").unwrap();
    assert!(
        !body.contains("<script>") && !body.contains("<img") && !text.contains('\u{1b}'),
        "{text}"
    );
    // Outputs are kept verbatim, but only inside a fence longer than any backtick run.
    assert!(
        appendix.contains("````text\nstarted 101\n<script>alert('x')</script> | pipe red ```fence```\n````"),
        "{appendix}"
    );
    assert!(
        text.contains("mail VM disk \\| corrupt"),
        "pipes cannot break the table"
    );
    assert!(text.contains("mailed the VM owners &lt;b&gt;and&lt;/b&gt; the board _(amended)_"));
    assert!(
        text.contains("| Authors | alice (commander &lt;i&gt;), bob |"),
        "{text}"
    );
    assert!(text.contains("| Reviewers | dave |"), "{text}");
    assert!(text.contains("| Impact began | 2026-11-23 19:30:12 UTC |"), "{text}");
    assert!(
        text.contains("## Root cause\n\nmiramelle's power supply failed; the node had no second one\n\nIts twin"),
        "a note's paragraphs stay paragraphs: {text}"
    );
    assert!(text.contains("| p1 | open | <https://forge.example/ops/9> |"), "{text}");
    let timeline_section = body.split_once("## Timeline").unwrap().1.split_once("\n## ").unwrap().0;
    assert!(
        !timeline_section.contains("root-cause"),
        "a note written into its section is not repeated: {timeline_section}"
    );
    assert!(
        text.contains("step `start-chat` aborted its run: evacuate-hypervisor: chat moved by hand instead"),
        "the abort and its reason: {text}"
    );
    // A decision of two lines stays one list item, broken where it was.
    let decisions = body.split_once("## Decisions and notes").unwrap().1;
    let decisions = decisions.split_once("\n## ").map_or(decisions, |(d, _)| d);
    let mut items = 0;
    let mut breaks = 0;
    for event in pulldown_cmark::Parser::new(decisions) {
        match event {
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Item) => items += 1,
            pulldown_cmark::Event::HardBreak => breaks += 1,
            _ => {}
        }
    }
    assert_eq!(
        (items, breaks),
        (2, 1),
        "the notes not written into a section: {decisions}"
    );
    assert!(
        decisions.contains("arrive\\\n  then move it back \\| &lt;b&gt;"),
        "{decisions}"
    );
    insta::assert_snapshot!(text);
}

/// Nothing but a declaration: every section says what is missing, and
/// nothing is invented (no time, no impact, no cause).
#[test]
fn a_post_mortem_of_nothing_but_a_declaration() {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 19, 41, 2).unwrap();
    let events = vec![Event {
        seq: 1,
        id: "01EVENT001".into(),
        at,
        recorded_at: at,
        actor: "alice".into(),
        kind: "incident.declared".into(),
        host: None,
        data: json!({"title": "something is off", "severity": "minor", "status": "investigating"}),
        prev: String::new(),
    }];
    let summary = Summary {
        dir: "2026-11-23-something-is-off".into(),
        id: "2026-11-23-something-is-off".into(),
        title: "something is off".into(),
        severity: Severity::Minor,
        status: Status::Investigating,
        started: at,
        impact_started: at,
        resolved: None,
        responders: vec!["alice".into()],
        events: 1,
    };
    let report = Report::new(summary, &events);
    let text = markdown::render(&report, vigie::report::Zone::named("UTC").unwrap());
    for section in vigie::report::model::SECTIONS {
        assert!(
            text.contains(&format!("add a note tagged `#{}`", section.tag)),
            "{} says how to fill it:\n{text}",
            section.title
        );
    }
    assert!(text.contains("the incident was declared by hand"), "{text}");
    assert!(!text.contains("Down, as vigie saw it"), "no impact invented: {text}");
    insta::assert_snapshot!("markdown_nothing_but_a_declaration", text);
    insta::assert_snapshot!(
        "html_nothing_but_a_declaration",
        html::render(&report, vigie::report::Zone::named("UTC").unwrap())
    );
    insta::assert_snapshot!("json_nothing_but_a_declaration", report_json::render(&report, paris()));
}

#[test]
fn json_post_mortem_of_the_dead_hypervisor_night() {
    let (summary, events) = story();
    let report = Report::new(summary, &events);
    let text = report_json::render(&report, paris());
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(value["schema_version"], 1);
    assert_eq!(
        value["narrative"]["lucky"][0],
        "the 19:00 backup of the mail VM was complete"
    );
    assert_eq!(
        value["key_times"][4]["at"],
        serde_json::Value::Null,
        "missing, not invented"
    );
    assert!(!text.contains('\u{1b}'), "control characters are escaped");
    insta::assert_snapshot!(text);
}

#[test]
fn html_post_mortem_of_the_dead_hypervisor_night() {
    let (summary, events) = story();
    let report = Report::new(summary, &events);
    let text = html::render(&report, paris());
    assert!(
        !text.contains("<script") && !text.contains("<img") && !text.contains("<b>"),
        "{text}"
    );
    assert!(
        text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | pipe red"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("<svg"), "the time chart is inline");
    assert!(text.contains("alice (commander &lt;i&gt;), bob"), "roles in the header");
    assert!(!text.contains("http://") || !text.replace("http://www.w3.org/2000/svg", "").contains("http://"));
    insta::assert_snapshot!(text);
}

/// Chromium, headless, with its own background traffic switched off as far
/// as it goes; what is left of it is the browser's own ("not an origin"),
/// never the page's.
fn render_in_chromium(page: &std::path::Path, dir: &std::path::Path) -> (String, serde_json::Value, usize) {
    let net_log = dir.join("net.json");
    let screenshot = dir.join("report.png");
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is installed by scripts/test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a screenshot was taken");
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(net_log).unwrap()).unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), log, png.len())
}

/// What overflows its box when `page` is laid out `width` pixels wide:
/// the page is copied with a script (the report itself has none, and its
/// CSP forbids one) that lists every element whose text is wider than
/// its box, and the page if wider than the window; Chromium's DOM dump
/// carries the list back.
fn overflows_at(page: &str, width: u32, dir: &std::path::Path) -> Vec<String> {
    const PROBE: &str = "<script>\
        const bad = [];\
        for (const el of document.querySelectorAll('td,th,li,p,h1,h2,h3,summary,div,table,code')) {\
          const style = getComputedStyle(el);\
          if (style.overflowX === 'auto' || style.overflowX === 'scroll') continue;\
          if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) bad.push(el.tagName + ': ' + el.textContent.slice(0, 80));\
        }\
        if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('the page: ' + document.documentElement.scrollWidth + 'px');\
        document.body.setAttribute('data-overflow', JSON.stringify(bad));\
        </script>";
    let csp_end = page.find("<meta name=\"viewport\"").expect("the report's head");
    let csp_start = page
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("its CSP");
    let probed = format!("{}{}", &page[..csp_start], &page[csp_end..]).replace("</body>", &format!("{PROBE}</body>"));
    let file = dir.join(format!("probe-{width}.html"));
    std::fs::write(&file, probed).unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--window-size={width},2000"))
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("profile-{width}")).display()
        ))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = dom.find("data-overflow=\"").expect("the probe ran") + "data-overflow=\"".len();
    let list = &dom[at..at + dom[at..].find('"').unwrap()];
    let list = list
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    serde_json::from_str(&list).unwrap()
}

/// `markdown` as GitHub renders it: cmark-gfm with GitHub's extensions,
/// raw HTML let through so that any that would reach a forge shows.
fn as_github_renders(markdown: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("cmark-gfm")
        .args([
            "--unsafe",
            "-e",
            "table",
            "-e",
            "autolink",
            "-e",
            "strikethrough",
            "-e",
            "tagfilter",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cmark-gfm is installed by scripts/test");
    child.stdin.take().unwrap().write_all(markdown.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The names of the HTML tags in `html`, once each.
fn tag_names(html: &str) -> std::collections::BTreeSet<String> {
    html.split('<')
        .skip(1)
        .map(|tag| {
            tag.trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        })
        .collect()
}

/// What `html` says between `<open>` and the next `</close>`, tags removed.
fn texts_of(html: &str, open: &str, close: &str) -> Vec<String> {
    html.split(open)
        .skip(1)
        .map(|part| {
            let inner = &part[..part.find(close).unwrap_or(part.len())];
            let mut text = String::new();
            let mut in_tag = false;
            for c in inner.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' if in_tag => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
        })
        .collect()
}

#[test]
fn the_markdown_renders_on_a_forge_as_written() {
    let (summary, events) = story();
    let report = Report::new(summary, &events);
    let html = as_github_renders(&markdown::render(&report, paris()));
    // Only the tags the report means: nothing from the timeline's text
    // (a VM called `chat<b>`, an `<img>` title) became markup.
    let expected: std::collections::BTreeSet<String> = [
        "h1", "h2", "h3", "p", "em", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "a", "br",
        "details", "summary",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    assert_eq!(tag_names(&html), expected, "{html}");
    // Every section in the templates' order.
    let headings = texts_of(&html, "<h2>", "</h2>");
    assert_eq!(
        headings,
        [
            "Summary",
            "Impact",
            "Root cause",
            "Trigger",
            "Contributing factors",
            "Detection",
            "Response",
            "Recovery",
            "Communications",
            "Key times",
            "Lessons learned",
            "Action items",
            "Supporting links",
            "Timeline",
            "Commands run",
            "Playbook deviations",
            "Alerts seen",
            "Decisions and notes",
            "Appendix: step by step",
            "Appendix: commands and their outputs",
        ]
    );
    // A paragraph that begins like a list stays a paragraph.
    let paragraphs = texts_of(&html, "<p>", "</p>");
    assert!(
        paragraphs.iter().any(|p| p == "- then bob mailed the owners"),
        "{paragraphs:?}"
    );
    assert!(paragraphs.iter().any(|p| p == "2. and nobody slept"), "{paragraphs:?}");
    // Table cells keep their pipes, and the table its columns.
    let cells = texts_of(&html, "<td>", "</td>");
    assert!(cells
        .iter()
        .any(|c| c == "skipped step start-mail: mail VM disk | corrupt, restoring from backup"));
    assert!(cells
        .iter()
        .any(|c| c == "alert (warning): VM chat<b> is down: its hypervisor miramelle is unreachable since 19:30:12"));
    for table in html.split("<table>").skip(1) {
        let table = &table[..table.find("</table>").unwrap()];
        let columns = table.matches("<th>").count() + table.matches("<th ").count();
        let rows = table.matches("<tr>").count() - 1;
        assert_eq!(table.matches("<td").count(), rows * columns, "{table}");
    }
    // Links are the report's own: the trackers and the supporting links,
    // never a script's.
    let links: Vec<&str> = html
        .split("<a href=\"")
        .skip(1)
        .map(|a| &a[..a.find('"').unwrap()])
        .collect();
    assert!(
        links.contains(&"https://grafana.example/d/miramelle?from=1930"),
        "{links:?}"
    );
    assert!(
        links.iter().all(|l| [
            "https://forge.example/ops/9",
            "https://grafana.example/d/miramelle?from=1930"
        ]
        .contains(l)),
        "{links:?}"
    );
    // A note's second line is a line of its own, in its list item.
    let items = texts_of(&html, "<li>", "</li>");
    assert!(
        items.iter().any(|i| i
            == "20:05:00 alice: decision: keep chat on locuste until the new disks arrive\nthen move it back | <b>"),
        "{items:?}"
    );
    // A command's output is shown as it was, in a code block.
    let code = texts_of(&html, "<pre>", "</pre>");
    assert!(
        code.iter()
            .any(|c| c.contains("<script>alert('x')</script> | pipe red ```fence```")),
        "{code:?}"
    );
}

/// `page` printed by Chromium as Chromium's print dialog would, on A4
/// (the page's own `@page` rule), without the browser's header and footer.
fn print_to_pdf(page: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let pdf = page.with_extension("pdf");
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile-pdf").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is installed by scripts/test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    pdf
}

/// A word of a PDF page and its box, in points from the page's top left.
#[derive(Debug)]
struct PrintedWord {
    page: usize,
    text: String,
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

/// Every word of `pdf` with its box, as poppler's `pdftotext -bbox` lays
/// them out, and each page's size.
fn printed_words(pdf: &std::path::Path) -> (Vec<(f64, f64)>, Vec<PrintedWord>) {
    let out = std::process::Command::new("pdftotext")
        .arg("-bbox")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext is installed by scripts/test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let xml = String::from_utf8_lossy(&out.stdout).into_owned();
    let number = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
    };
    let (mut pages, mut words) = (Vec::new(), Vec::new());
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<page ") {
            pages.push((number(line, "width"), number(line, "height")));
        } else if line.starts_with("<word ") {
            let text = &line[line.find('>').unwrap() + 1..line.rfind("</word>").unwrap()];
            words.push(PrintedWord {
                page: pages.len(),
                text: text.to_string(),
                x0: number(line, "xMin"),
                y0: number(line, "yMin"),
                x1: number(line, "xMax"),
                y1: number(line, "yMax"),
            });
        }
    }
    (pages, words)
}

/// Words printed outside their page, and pairs of words printed over each
/// other (their boxes share more than a third of the smaller one): text
/// a reader of the paper copy could not read.
fn misprinted(pdf: &std::path::Path) -> Vec<String> {
    let (pages, words) = printed_words(pdf);
    let mut problems = Vec::new();
    for w in &words {
        let (width, height) = pages[w.page - 1];
        if w.x0 < 0.0 || w.y0 < 0.0 || w.x1 > width || w.y1 > height {
            problems.push(format!("page {}: {:?} outside the page", w.page, w.text));
        }
    }
    for (i, a) in words.iter().enumerate() {
        for b in words[i + 1..].iter().filter(|b| b.page == a.page) {
            let across = a.x1.min(b.x1) - a.x0.max(b.x0);
            let down = a.y1.min(b.y1) - a.y0.max(b.y0);
            if across <= 0.0 || down <= 0.0 {
                continue;
            }
            let smaller = ((a.x1 - a.x0) * (a.y1 - a.y0)).min((b.x1 - b.x0) * (b.y1 - b.y0));
            if across * down > smaller / 3.0 {
                problems.push(format!("page {}: {:?} over {:?}", a.page, a.text, b.text));
            }
        }
    }
    problems
}

/// URLs the page itself asked for (the browser's own requests have no origin).
fn page_requests(log: &serde_json::Value) -> Vec<String> {
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64();
    log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"].as_u64() == start_job)
        .filter(|e| e["params"]["url"].is_string() && e["params"]["initiator"] != "not an origin")
        .map(|e| e["params"]["url"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The night's story, but nobody noticed for nine hours: the outage
/// began at 10:30, the declaration came at 19:41.
fn story_noticed_late() -> (Summary, Vec<Event>) {
    let (mut summary, mut events) = story();
    let early = Utc.with_ymd_and_hms(2026, 11, 23, 10, 30, 12).unwrap();
    for event in events.iter_mut().filter(|e| e.kind == "alert.raised") {
        event.at = early;
        event.recorded_at = early;
    }
    summary.impact_started = early;
    (summary, events)
}

#[test]
fn a_chart_of_an_outage_noticed_late_prints_every_label_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, events) = story_noticed_late();
    let page = dir.path().join("late.html");
    let text = html::render(&Report::new(summary, &events), paris());
    assert!(text.contains(">not declared yet</text>"), "the long wait is labelled");
    assert!(
        text.contains(">started, detected</text>"),
        "two key times of one moment share a label"
    );
    std::fs::write(&page, &text).unwrap();
    assert_eq!(overflows_at(&text, 680, dir.path()), Vec::<String>::new());
    let pdf = print_to_pdf(&page, dir.path());
    assert_eq!(misprinted(&pdf), Vec::<String>::new());

    // The check can fail: two words printed over each other are caught.
    let stacked = dir.path().join("stacked.html");
    std::fs::write(
        &stacked,
        "<!DOCTYPE html><body><div style=\"position:absolute;top:40px;left:40px\">overlapping</div>\
         <div style=\"position:absolute;top:44px;left:46px\">labels</div></body>",
    )
    .unwrap();
    let caught = misprinted(&print_to_pdf(&stacked, dir.path()));
    assert!(
        caught.iter().any(|c| c.contains("\"overlapping\" over \"labels\"")),
        "{caught:?}"
    );
}

#[test]
fn the_html_report_renders_in_headless_chromium_without_errors_or_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, events) = story();
    let page = dir.path().join("report.html");
    std::fs::write(
        &page,
        html::render(
            &Report::new(summary, &events),
            vigie::report::Zone::named("UTC").unwrap(),
        ),
    )
    .unwrap();
    let (console, log, png_bytes) = render_in_chromium(&page, dir.path());
    assert!(png_bytes > 50_000, "a whole report was drawn: {png_bytes} bytes of PNG");
    // No text outside its box: on a screen 1200 px wide, and as wide as an
    // A4 page's text (210 mm less 2 × 15 mm margins, at 96 dpi: 680 px).
    let text = std::fs::read_to_string(&page).unwrap();
    for width in [1200, 680] {
        assert_eq!(
            overflows_at(&text, width, dir.path()),
            Vec::<String>::new(),
            "at {width} px"
        );
    }
    // The check can fail: a cell too narrow for its text is caught.
    let cramped = "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"x\">\
        <meta name=\"viewport\" content=\"width=device-width\"></head><body>\
        <div style=\"width:60px;white-space:nowrap\">a line far too long for its box</div></body></html>";
    let caught = overflows_at(cramped, 1200, dir.path());
    assert!(caught.iter().any(|o| o.contains("far too long")), "{caught:?}");
    // The A4 PDF: its pages as images, and every section's title in its text.
    let pdf = print_to_pdf(&page, dir.path());
    assert_eq!(misprinted(&pdf), Vec::<String>::new(), "every word readable on paper");
    let pages = dir.path().join("page");
    let out = std::process::Command::new("pdftoppm")
        .args(["-r", "50", "-png"])
        .arg(&pdf)
        .arg(&pages)
        .output()
        .expect("pdftoppm is installed by scripts/test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let images = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("page"))
        })
        .count();
    assert!(images >= 2, "a report of several A4 pages: {images}");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    for section in vigie::report::model::SECTIONS {
        assert!(
            printed.contains(section.title),
            "{} is printed:\n{printed}",
            section.title
        );
    }
    assert!(printed.contains("CRITICAL"), "the banner is printed");
    assert!(
        printed.contains("started 101"),
        "the appendix, folded on screen, is printed whole"
    );
    assert!(!console.contains("CONSOLE"), "console messages:\n{console}");
    assert_eq!(page_requests(&log), Vec::<String>::new());

    // The checks can fail: a page that fetches and logs is caught by both.
    let control_dir = tempfile::tempdir().unwrap();
    let control = control_dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><p>control</p><img src=\"http://127.0.0.1:9/x.png\"><script>console.error('boom')</script>",
    )
    .unwrap();
    let (console, log, _) = render_in_chromium(&control, control_dir.path());
    assert!(console.contains("CONSOLE") && console.contains("boom"), "{console}");
    assert_eq!(page_requests(&log), vec!["http://127.0.0.1:9/x.png".to_string()]);
}

#[test]
fn a_100_000_event_timeline_still_exports_in_every_format() {
    let (summary, mut events) = story();
    let at = events.last().unwrap().at;
    let run = "01BIGRUN";
    let mut seq = events.len() as u64;
    while events.len() < 100_000 {
        seq += 1;
        let (kind, data) = match seq % 4 {
            0 => (
                "command.sent",
                json!({"run": run, "step": format!("s{}", seq / 4 % 50), "command": "qm list"}),
            ),
            1 => (
                "command.finished",
                json!({"run": run, "step": format!("s{}", seq / 4 % 50), "exit": 0, "ms": 12, "output": "101 nextcloud running\n"}),
            ),
            2 => ("note", json!({"text": format!("note {seq} | <i>")})),
            _ => ("alert.raised", json!({"text": format!("alert {seq}")})),
        };
        events.push(Event {
            seq,
            id: format!("01BIG{seq:08}"),
            at: at + chrono::Duration::milliseconds(seq as i64),
            recorded_at: at,
            actor: "loadgen".into(),
            kind: kind.into(),
            host: Some("locuste".into()),
            data,
            prev: String::new(),
        });
    }
    let report = Report::new(summary, &events);
    assert_eq!(report.rows.len(), 100_000);
    for format in ["md", "html", "json"] {
        let text = vigie::report::render(&report, format, vigie::report::Zone::named("Europe/Paris").unwrap()).unwrap();
        assert!(text.len() > 1_000_000, "{format}: {} bytes", text.len());
    }
}

#[test]
fn vigie_report_writes_the_markdown_of_the_current_incident() {
    let home = tempfile::tempdir().unwrap();
    let vigie = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env_remove("VIGIE_CONFIG")
            .env_remove("VIGIE_INCIDENT")
            .output()
            .unwrap()
    };
    let run = |args: &[&str]| {
        let out = vigie(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The responders' zone, as vigie.toml says it.
    let config_dir = home.path().join("config/vigie");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("vigie.toml"), "[settings]\ntimezone = \"Asia/Tokyo\"\n").unwrap();
    run(&["incident", "new", "datastore1 full", "--severity", "major"]);
    run(&[
        "note",
        "--kind",
        "action",
        "add a snapshot age check",
        "--owner",
        "carol",
    ]);
    // Typed as in the cockpit: priority and tracker in the text.
    let recorded = run(&[
        "note",
        "--kind",
        "action",
        "alert on datastore growth p1 https://forge.example/ops/7",
    ]);
    assert!(
        recorded.contains("action item: alert on datastore growth (p1)"),
        "{recorded}"
    );
    // Named as the report numbers it: A2, the second action item.
    run(&["incident", "action", "A2", "--status", "done"]);
    let unknown = vigie(&["incident", "action", "A9", "--status", "done"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no action item A9: this incident has A1, A2"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    // The timeline in the responders' zone, then UTC.
    let shown = run(&["timeline", "show"]);
    let first = shown.lines().next().unwrap_or_default();
    let utc = first
        .split('(')
        .nth(1)
        .unwrap_or_default()
        .get(..8)
        .unwrap_or_default()
        .to_string();
    let utc = chrono::NaiveTime::parse_from_str(&utc, "%H:%M:%S").expect(first);
    let tokyo = (utc + chrono::Duration::hours(9)).format("%H:%M:%S").to_string();
    assert!(first.contains(&format!(" {tokyo} (")), "Tokyo's time first: {first}");
    run(&["incident", "close"]);
    // Written the next morning: with no incident open, a note goes to the
    // latest, and says so; a tag typed wrong is pointed out.
    let late = vigie(&["note", "#rootcause the datastore had no quota"]);
    assert!(late.status.success());
    let said = String::from_utf8_lossy(&late.stderr);
    assert!(
        said.contains("no incident is open: written to the latest one"),
        "{said}"
    );
    assert!(
        said.contains("#rootcause is not a section tag: did you mean #root-cause?"),
        "{said}"
    );
    let future = vigie(&["note", "later", "--at", "2099-01-01T00:00:00Z"]);
    assert!(!future.status.success());
    assert!(String::from_utf8_lossy(&future.stderr).contains("is in the future"));
    let path = home.path().join("pm.md");
    let summary = home.path().join("summary.md");
    std::fs::write(
        &summary,
        "datastore1 filled up\nwith snapshots.\n\nNo data was lost:\n\n- the backups were whole\n- <b>nothing</b> to restore\n",
    )
    .unwrap();
    let root_cause = home.path().join("cause.md");
    std::fs::write(&root_cause, "A backup job left a snapshot every night.\n").unwrap();
    run(&[
        "report",
        "--output",
        path.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--root-cause",
        root_cause.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(
            "## Summary\n\ndatastore1 filled up\nwith snapshots.\n\nNo data was lost:\n\n- the backups were whole\n- &lt;b>nothing&lt;/b> to restore\n\n## Impact\n\n_Not written yet"
        ),
        "{text}"
    );
    assert!(text.starts_with("# Post-mortem: datastore1 full"), "{text}");
    assert!(
        text.contains("## Root cause\n\nA backup job left a snapshot every night.\n\n## Trigger"),
        "{text}"
    );
    assert!(text.contains("| Status | resolved |"));
    assert!(
        text.lines()
            .any(|l| l.contains("| A1 | add a snapshot age check | — | carol | — | — | open | — |")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l
            .contains("| A2 | alert on datastore growth | — | — | — | p1 | done | <https://forge.example/ops/7> |")),
        "{text}"
    );
    assert!(text.contains("| | UTC | Asia/Tokyo | since start |"), "{text}");
    assert!(text.contains("| Document | draft"), "{text}");
    // Final only once reviewed and written.
    let final_md = home.path().join("final.md");
    let refused = vigie(&["report", "--final", "--output", final_md.to_str().unwrap()]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("not ready to be final: nobody reviewed it") && said.contains("Impact is not written"),
        "{said}"
    );
    assert!(!final_md.exists(), "nothing written");
    run(&["incident", "role", "dave", "reviewer"]);
    let impact = home.path().join("impact.md");
    std::fs::write(&impact, "Nobody could start a VM for an hour.\n").unwrap();
    run(&[
        "report",
        "--final",
        "--output",
        final_md.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--impact",
        impact.to_str().unwrap(),
        "--root-cause",
        root_cause.to_str().unwrap(),
    ]);
    let final_text = std::fs::read_to_string(final_md).unwrap();
    assert!(final_text.contains("| Document | final |"), "{final_text}");
    assert!(
        !final_text.contains("vigie incident action A1"),
        "no tool hint in a final document"
    );
    let html_path = home.path().join("pm.html");
    run(&["report", "--format", "html", "--output", html_path.to_str().unwrap()]);
    let page = std::fs::read_to_string(html_path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"), "{page}");
}
