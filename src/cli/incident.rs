//! `vigie incident …`, `vigie note`, `vigie timeline …`: the timeline from
//! the terminal and from scripts (a monitoring hook can append `alert.raised`).

use crate::config::Config;
use crate::incident::{self, IncidentError, Severity, Status};
use crate::report::Zone;
use crate::timeline::event::kinds;
use crate::timeline::payload::{ActionItem, Note};
use crate::timeline::verify::verify;
use crate::timeline::view::{describe, Amendment, Mark};
use crate::timeline::{Event, NewEvent, Payload, Timeline};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Prints the error and returns the exit code for it.
fn fail(command: &str, error: impl std::fmt::Display) -> i32 {
    eprintln!("vigie {command}: {error}");
    1
}

fn open_current(config: &Config, explicit: Option<&Path>) -> Result<Timeline, IncidentError> {
    let dir = current_saying_which(config, explicit)?;
    Ok(Timeline::open(&dir, incident::timeline_options(config)?)?)
}

/// The incident a command writes to ([`incident::current`]). With several
/// open (one declared on another machine arrived by sync), the newest is
/// written to: said, with how to choose another.
fn current_saying_which(config: &Config, explicit: Option<&Path>) -> Result<PathBuf, IncidentError> {
    if explicit.is_some() {
        return incident::current(explicit, &config.incidents_dir());
    }
    let open = incident::open_incidents(&config.incidents_dir());
    match open.as_slice() {
        // None open: `current` says so, its way.
        [] => incident::current(None, &config.incidents_dir()),
        [only] => Ok(only.dir.clone()),
        [newest, others @ ..] => {
            let others: Vec<&str> = others.iter().rev().map(|s| s.id.as_str()).collect();
            eprintln!(
                "vigie: {} incidents are open: written to the newest, {}; --incident ID (or $VIGIE_INCIDENT) for {}",
                open.len(),
                newest.id,
                others.join(", ")
            );
            Ok(newest.dir.clone())
        }
    }
}

fn append_one(config: &Config, explicit: Option<&Path>, event: NewEvent) -> Result<Event, IncidentError> {
    Ok(open_current(config, explicit)?.append(event)?)
}

/// The incident a post-mortem's notes, roles and action items go to: the
/// open one, or, once none is open (the post-mortem is written after),
/// the latest, said on stderr so that nobody writes to it unknowingly.
fn post_mortem_timeline(config: &Config, explicit: Option<&Path>, command: &str) -> Result<Timeline, IncidentError> {
    let dir = match current_saying_which(config, explicit) {
        Ok(dir) => dir,
        Err(_) if explicit.is_none() => {
            let dir = incident::current_or_latest(None, &config.incidents_dir())?;
            let id = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            eprintln!(
                "vigie {command}: no incident is open: written to the latest one, {id} (--incident ID for another)"
            );
            dir
        }
        Err(e) => return Err(e),
    };
    Ok(Timeline::open(&dir, incident::timeline_options(config)?)?)
}

fn append_for_post_mortem(
    config: &Config,
    explicit: Option<&Path>,
    command: &str,
    event: NewEvent,
) -> Result<Event, IncidentError> {
    Ok(post_mortem_timeline(config, explicit, command)?.append(event)?)
}

pub fn new(config: &Config, title: &str, severity: Severity) -> i32 {
    let options = match incident::timeline_options(config) {
        Ok(options) => options,
        Err(e) => return fail("incident new", e),
    };
    // The same outage declared twice (by two responders, one of whom had not
    // seen the other's): said, so that the second can write to the first.
    // Compared as their directory names are made: case and punctuation aside.
    let wanted = incident::slug(&crate::sanitize::one_line(title.trim()));
    let same_title: Vec<String> = incident::open_incidents(&config.incidents_dir())
        .into_iter()
        .rev()
        .filter(|s| incident::slug(&s.title) == wanted)
        .map(|s| {
            format!(
                "{} (declared by {})",
                s.id,
                s.responders.first().map_or("?", String::as_str)
            )
        })
        .collect();
    match incident::declare(&config.incidents_dir(), title, severity, options) {
        Ok((dir, event)) => {
            if !same_title.is_empty() {
                eprintln!(
                    "vigie incident new: an open incident already has this title: {}; if it is the same outage, \
                     write there (--incident ID) and close this one",
                    same_title.join(", ")
                );
            }
            println!(
                "declared {} ({}) at {}",
                crate::sanitize::one_line(title.trim()),
                severity.as_str(),
                short_time(config.report_zone(), &event.at)
            );
            println!("{}", dir.display());
            0
        }
        Err(e) => fail("incident new", e),
    }
}

pub fn list(config: &Config) -> i32 {
    let incidents = incident::list(&config.incidents_dir());
    if incidents.is_empty() {
        println!("no incidents in {}", config.incidents_dir().display());
        return 0;
    }
    // As wide as the longest id: the columns stay in line.
    let id_width = incidents
        .iter()
        .flatten()
        .map(|s| s.id.chars().count())
        .max()
        .unwrap_or(0)
        .max(2);
    println!(
        "{:<id_width$} {:<21} {:<9} {:<17} {:>9}  TITLE",
        "ID", "STATUS", "SEVERITY", "STARTED (UTC)", "DURATION"
    );
    let mut code = 0;
    for summary in incidents {
        match summary {
            Ok(s) => {
                let end = s.resolved.unwrap_or_else(Utc::now);
                let open = if s.is_open() { "open, " } else { "" };
                println!(
                    "{:<id_width$} {:<21} {:<9} {:<17} {:>9}  {}",
                    s.id,
                    format!("{open}{}", s.status.as_str()),
                    s.severity.as_str(),
                    // From when the impact began, as the report counts.
                    s.impact_started.format("%Y-%m-%d %H:%M"),
                    crate::format::human_age(end - s.impact_started),
                    crate::sanitize::one_line(&s.title)
                );
            }
            Err(e) => {
                eprintln!("vigie incident list: {e}");
                code = 1;
            }
        }
    }
    code
}

pub fn set_status(config: &Config, explicit: Option<&Path>, to: Status, at: Option<&str>) -> i32 {
    change_incident(config, explicit, "incident", at, |summary| {
        if summary.status == to {
            return Err(format!("the incident is already {}", to.as_str()));
        }
        Ok((
            incident::status_change(summary.status, to),
            format!(
                "{}: {} → {}",
                crate::sanitize::one_line(&summary.title),
                summary.status.as_str(),
                to.as_str()
            ),
        ))
    })
}

pub fn set_severity(config: &Config, explicit: Option<&Path>, to: Severity, at: Option<&str>) -> i32 {
    change_incident(config, explicit, "incident severity", at, |summary| {
        if summary.severity == to {
            return Err(format!("the severity is already {}", to.as_str()));
        }
        Ok((
            incident::severity_change(summary.severity, to),
            format!(
                "{}: severity {} → {}",
                crate::sanitize::one_line(&summary.title),
                summary.severity.as_str(),
                to.as_str()
            ),
        ))
    })
}

/// Changes the current incident as `change` says, from its summary: the
/// event to record and the line to print, or why there is nothing to change.
fn change_incident(
    config: &Config,
    explicit: Option<&Path>,
    command: &str,
    at: Option<&str>,
    change: impl FnOnce(&incident::Summary) -> Result<(NewEvent, String), String>,
) -> i32 {
    let result = (|| {
        let dir = incident::current(explicit, &config.incidents_dir())?;
        let summary = incident::summarize(&dir)?;
        let (mut event, done) = change(&summary).map_err(IncidentError::Invalid)?;
        // Written afterwards, for when it happened.
        if let Some(at) = at {
            event.at = Some(parse_time(config.report_zone(), at).map_err(IncidentError::Invalid)?);
        }
        let event = append_one(config, Some(&dir), event)?;
        Ok::<_, IncidentError>(format!("#{} {done}", event.seq))
    })();
    match result {
        Ok(done) => {
            println!("{done}");
            0
        }
        Err(e) => fail(command, e),
    }
}

pub struct NoteArgs<'a> {
    pub kind: &'a str,
    pub text: &'a str,
    pub host: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub due: Option<&'a str>,
    pub priority: Option<&'a str>,
    pub link: Option<&'a str>,
    pub action_type: Option<&'a str>,
    /// When it happened, if not now (`--at`).
    pub at: Option<&'a str>,
}

pub fn note(config: &Config, explicit: Option<&Path>, args: NoteArgs) -> i32 {
    if args.text.trim().is_empty() {
        return fail("note", "the text is empty");
    }
    let note = Note {
        text: args.text.to_string(),
        tags: Vec::new(),
    };
    let payload = match args.kind {
        "decision" => Payload::Decision(note),
        // As the cockpit reads it (`@owner due:… p1 https://…`), the options winning.
        "action" => {
            let typed = ActionItem::parse(&note.text);
            Payload::ActionItem(ActionItem {
                owner: args.owner.map(String::from).or(typed.owner.clone()),
                due: args.due.map(String::from).or(typed.due.clone()),
                priority: args.priority.map(String::from).or(typed.priority.clone()),
                link: args.link.map(String::from).or(typed.link.clone()),
                action_type: args.action_type.map(String::from).or(typed.action_type.clone()),
                ..typed
            })
        }
        _ => Payload::Note(note),
    };
    let mut event = NewEvent::from(payload);
    event.host = args.host.map(String::from);
    if let Some(at) = args.at {
        match parse_time(config.report_zone(), at) {
            Ok(at) => event.at = Some(at),
            Err(e) => return fail("note", e),
        }
    }
    for (typed, meant) in crate::report::model::near_miss_tags(args.text) {
        eprintln!("vigie note: {typed} is not a section tag: did you mean #{meant}? (the note is kept as typed)");
    }
    match append_for_post_mortem(config, explicit, "note", event) {
        Ok(event) => {
            println!("#{} {}", event.seq, describe(&event));
            0
        }
        Err(e) => fail("note", e),
    }
}

/// `vigie incident action A1 --status done [--priority p2] [--link URL]`:
/// a later word on an action item, named as the report numbers it (`A1`,
/// the first action item) or by its event's number (`#13`, `13`).
pub fn update_action(
    config: &Config,
    explicit: Option<&Path>,
    item: &str,
    update: crate::timeline::payload::ActionItemUpdated,
) -> i32 {
    if update.status.is_none() && update.priority.is_none() && update.link.is_none() {
        return fail("incident action", "say what changes: --status, --priority or --link");
    }
    let mut timeline = match post_mortem_timeline(config, explicit, "incident action") {
        Ok(timeline) => timeline,
        Err(e) => return fail("incident action", e),
    };
    let events = match crate::timeline::read_incident(timeline.dir()) {
        Ok(events) => events,
        Err(e) => return fail("incident action", e),
    };
    // As the report reads them: amended in place, in the timeline's order.
    let view = crate::timeline::view::amended(&events);
    let items: Vec<&Event> = view
        .iter()
        .map(|v| &v.event)
        .filter(|e| e.kind == kinds::ACTION_ITEM)
        .collect();
    let wanted = item.trim();
    let target = match wanted.strip_prefix(['A', 'a']) {
        Some(number) => number
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|index| items.get(index).copied()),
        None => match find_event(items.iter().copied(), wanted) {
            Ok(found) => Some(found),
            Err(Some(ambiguous)) => return fail("incident action", ambiguous),
            Err(None) => None,
        },
    };
    let Some(target) = target else {
        let known = (1..=items.len()).map(|n| format!("A{n}")).collect::<Vec<_>>();
        let known = if known.is_empty() {
            "this incident has none yet".to_string()
        } else {
            format!("this incident has {}", known.join(", "))
        };
        return fail(
            "incident action",
            format!("no action item {wanted}: {known} (`vigie report` lists them)"),
        );
    };
    let update = crate::timeline::payload::ActionItemUpdated {
        target: target.id.clone(),
        target_seq: Some(target.seq),
        ..update
    };
    match timeline.append(NewEvent::from(Payload::ActionItemUpdated(update))) {
        Ok(event) => {
            println!("#{} {}", event.seq, describe(&event));
            0
        }
        Err(e) => fail("incident action", e),
    }
}

pub fn assign_role(config: &Config, explicit: Option<&Path>, who: &str, role: &str, at: Option<&str>) -> i32 {
    if who.trim().is_empty() || role.trim().is_empty() {
        return fail("incident role", "give a name and a role");
    }
    let mut event = incident::role_assignment(who, role);
    if let Some(at) = at {
        match parse_time(config.report_zone(), at) {
            Ok(at) => event.at = Some(at),
            Err(e) => return fail("incident role", e),
        }
    }
    match append_for_post_mortem(config, explicit, "incident role", event) {
        Ok(event) => {
            println!("#{} {}", event.seq, describe(&event));
            0
        }
        Err(e) => fail("incident role", e),
    }
}

pub struct AppendArgs<'a> {
    pub kind: &'a str,
    pub host: Option<&'a str>,
    pub text: Option<&'a str>,
    pub data: Option<&'a str>,
    pub at: Option<&'a str>,
    pub actor: Option<&'a str>,
}

pub fn append(config: &Config, explicit: Option<&Path>, args: AppendArgs) -> i32 {
    let data = match args.data.map(serde_json::from_str::<serde_json::Value>) {
        None => serde_json::Map::new(),
        Some(Ok(serde_json::Value::Object(map))) => map,
        Some(Ok(_)) => return fail("timeline append", "--data must be a JSON object"),
        Some(Err(e)) => return fail("timeline append", format!("--data is not valid JSON: {e}")),
    };
    let mut event = NewEvent::from_script(args.kind, data, args.text);
    event.host = args.host.map(String::from);
    event.actor = args.actor.map(String::from);
    if let Some(at) = args.at {
        match parse_time(config.report_zone(), at) {
            Ok(at) => event.at = Some(at),
            Err(e) => return fail("timeline append", e),
        }
    }
    match append_one(config, explicit, event) {
        Ok(event) => {
            println!("#{} {}", event.seq, event.id);
            0
        }
        Err(e) => fail("timeline append", e),
    }
}

pub struct AmendArgs<'a> {
    pub target: &'a str,
    pub at: Option<&'a str>,
    pub text: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub mark: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// The event `wanted` names: its id, or `#12`, its number. Machines that
/// wrote at the same time may have given one number to several events:
/// then `Err(Some(why))` lists them, and the id must be given.
fn find_event<'a>(events: impl Iterator<Item = &'a Event> + Clone, wanted: &str) -> Result<&'a Event, Option<String>> {
    let wanted = wanted.trim();
    if let Some(event) = events.clone().find(|e| e.id == wanted) {
        return Ok(event);
    }
    let Ok(seq) = wanted.trim_start_matches('#').parse::<u64>() else {
        return Err(None);
    };
    let numbered: Vec<&Event> = events.filter(|e| e.seq == seq).collect();
    match numbered.as_slice() {
        [] => Err(None),
        [only] => Ok(only),
        several => Err(Some(format!(
            "#{seq} is the number of {} events (machines that wrote at the same time): give the id of the one meant: {}",
            several.len(),
            several
                .iter()
                .map(|e| format!("{} ({}, {})", e.id, crate::sanitize::one_line(&e.actor), describe(e)))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

pub fn amend(config: &Config, explicit: Option<&Path>, args: AmendArgs) -> i32 {
    let result = (|| {
        let dir = incident::current(explicit, &config.incidents_dir())?;
        let events = crate::timeline::read_incident(&dir)?;
        // The target may be given by id or by sequence number.
        let target = find_event(events.iter(), args.target).map_err(|ambiguous| {
            IncidentError::Invalid(ambiguous.unwrap_or_else(|| format!("no event {} in this timeline", args.target)))
        })?;
        let mark = match args.mark {
            Some(m) => Some(
                Mark::parse(m)
                    .ok_or_else(|| IncidentError::Invalid(format!("unknown mark {m:?}: use one of {}", Mark::NAMES)))?,
            ),
            None => None,
        };
        if let Some(kind) = args.kind.filter(|k| !kinds::is_valid(k)) {
            return Err(IncidentError::Invalid(format!("unknown kind {kind:?}")));
        }
        let at = args
            .at
            .map(|at| parse_time(config.report_zone(), at))
            .transpose()
            .map_err(IncidentError::Invalid)?;
        let amendment = Amendment {
            target: target.id.clone(),
            target_seq: Some(target.seq),
            at,
            text: args.text.map(String::from),
            kind: args.kind.map(String::from),
            mark,
            reason: args.reason.map(String::from),
        };
        if amendment.at.is_none() && amendment.text.is_none() && amendment.kind.is_none() && amendment.mark.is_none() {
            return Err(IncidentError::Invalid(
                "nothing to amend: give --at, --text, --kind or --mark".into(),
            ));
        }
        let data = serde_json::to_value(&amendment).map_err(|e| IncidentError::Invalid(e.to_string()))?;
        append_one(config, Some(&dir), NewEvent::new(kinds::AMENDMENT, data))
    })();
    match result {
        Ok(event) => {
            println!("#{} {}", event.seq, describe(&event));
            0
        }
        Err(e) => fail("timeline amend", e),
    }
}

/// RFC 3339 (`2026-11-23T19:30:12Z`), or `HH:MM[:SS]` today in local time.
/// A time as a responder types it: RFC 3339 (`2026-11-23T19:30:12Z`), a
/// date and time in the responders' zone (`2026-11-23 20:30`), or a bare
/// `20:30` there, meaning the last time the clock read 20:30 (yesterday's,
/// when today's is still to come). Never a time in the future.
fn parse_time(zone: Zone, text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let now = Utc::now();
    let at = if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc)
    } else if let Some(local) = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    {
        zone.at_local(local).ok_or_else(|| {
            format!(
                "{text} is skipped or repeated in {} (daylight saving time): give it in UTC, 2026-11-23T19:30:12Z",
                zone.name()
            )
        })?
    } else {
        let time = chrono::NaiveTime::parse_from_str(text, "%H:%M:%S")
            .or_else(|_| chrono::NaiveTime::parse_from_str(text, "%H:%M"))
            .map_err(|_| {
                format!(
                    "cannot read the time {text:?}: write 19:30 (the last 19:30 in {}), 2026-11-23 19:30 (there), or 2026-11-23T19:30:12Z (UTC)",
                    zone.name()
                )
            })?;
        let today = zone.today_at(time).ok_or_else(|| {
            format!(
                "{text} is skipped or repeated today in {}: give the date and time in UTC",
                zone.name()
            )
        })?;
        // Typed at 08:46, "22:47" is last night's.
        if today > now {
            today - chrono::Duration::days(1)
        } else {
            today
        }
    };
    // A minute of slack for clocks a little apart.
    if at > now + chrono::Duration::minutes(1) {
        return Err(format!(
            "{text} is in the future ({} {}): a timeline records what happened",
            zone.local(at).format("%Y-%m-%d %H:%M:%S"),
            zone.name()
        ));
    }
    Ok(at)
}

/// `20:30:12 Europe/Paris (19:30:12 UTC)`, or `19:30:12 UTC` where the
/// responders' zone is UTC.
fn short_time(zone: Zone, at: &DateTime<Utc>) -> String {
    if zone.is_utc() {
        return format!("{} UTC", at.format("%H:%M:%S"));
    }
    format!("{} {} ({} UTC)", zone.clock(*at), zone.name(), at.format("%H:%M:%S"))
}

/// One event as a line of `vigie timeline show`: its date and time in the
/// responders' zone (`timezone` of vigie.toml), then in UTC (once, when
/// that zone is UTC).
pub fn show_line(zone: Zone, event: &Event) -> String {
    let local = zone.local(event.at);
    let host = event
        .host
        .as_deref()
        .map(|h| format!(" [{}]", crate::sanitize::one_line(h)))
        .unwrap_or_default();
    // No second clock when the responders' zone is UTC.
    let when = if zone.is_utc() {
        format!("{} UTC", event.at.format("%Y-%m-%d %H:%M:%S"))
    } else {
        format!(
            "{} ({} UTC)",
            local.format("%Y-%m-%d %H:%M:%S"),
            event.at.format("%H:%M:%S")
        )
    };
    let line = format!(
        "{when} #{:<4} {:<16}{host} ",
        event.seq,
        crate::sanitize::one_line(&event.actor),
    );
    // A note of several lines keeps them, each under the first.
    let indent = " ".repeat(line.chars().count());
    let payload = event.payload();
    let mut text = crate::timeline::view::describe_whole(event, &payload);
    // Several machines' watchers may each record an outage: who saw it.
    if let Payload::AlertRaised(fleet) = &payload {
        if let Some(seen_by) = &fleet.seen_by {
            text.push_str(&format!(" (seen by {})", crate::sanitize::one_line(seen_by)));
        }
    }
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut shown = format!("{line}{first}");
    for more in lines {
        shown.push('\n');
        shown.push_str(&indent);
        shown.push_str(more);
    }
    shown
}

pub fn show(config: &Config, explicit: Option<&Path>, follow: bool, json: bool) -> i32 {
    let dir: PathBuf = match incident::current(explicit, &config.incidents_dir()) {
        Ok(dir) => dir,
        Err(e) => return fail("timeline show", e),
    };
    let mut follower = crate::timeline::IncidentFollower::from_start(&dir);
    let zone = config.report_zone();
    let mut first = true;
    loop {
        match follower.poll() {
            Ok(mut events) => {
                let mut amended = std::collections::HashSet::new();
                let mut marks = std::collections::HashMap::new();
                if !json && std::mem::take(&mut first) {
                    // What is there already is shown as amended (corrected in
                    // place), with the key moments it was marked as.
                    let view = crate::timeline::view::amended(&events);
                    amended = view
                        .iter()
                        .filter(|v| v.original.is_some())
                        .map(|v| v.event.id.clone())
                        .collect();
                    marks = view
                        .iter()
                        .filter(|v| !v.marks.is_empty())
                        .map(|v| {
                            let names: Vec<&str> = v.marks.iter().map(|m| m.as_str()).collect();
                            (v.event.id.clone(), names.join(", "))
                        })
                        .collect();
                    events = view.into_iter().map(|v| v.event).collect();
                } else if !json {
                    // In the order things happened (`--json` keeps the file's).
                    events.sort_by_key(|e| (e.at, e.seq));
                }
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                for damaged in follower.take_damaged() {
                    eprintln!("vigie: warning: {damaged}");
                }
                for event in events {
                    let line = if json {
                        crate::sanitize::json_without_bidi(&serde_json::to_string(&event).unwrap_or_default())
                    } else {
                        let mut line = show_line(zone, &event);
                        if amended.contains(&event.id) {
                            line.push_str("  (amended)");
                        }
                        if let Some(names) = marks.get(&event.id) {
                            line.push_str(&format!("  ★ {names}"));
                        }
                        line
                    };
                    if writeln!(out, "{line}").is_err() {
                        // The reader went away (`| head`): stop quietly.
                        return 0;
                    }
                }
            }
            Err(e) => return fail("timeline show", e),
        }
        if !follow {
            return 0;
        }
        use std::io::Write;
        if std::io::stdout().flush().is_err() {
            // The reader went away (a closed pipe): stop quietly.
            return 0;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

pub fn verify_current(config: &Config, explicit: Option<&Path>) -> i32 {
    let dir = match incident::current(explicit, &config.incidents_dir()) {
        Ok(dir) => dir,
        Err(e) => return fail("timeline verify", e),
    };
    let files = crate::timeline::sources::event_files(&dir);
    if files.is_empty() {
        return fail("timeline verify", format!("{}: no event file", dir.display()));
    }
    // Every writer's file, each by its own chain; a problem in one does
    // not hide the others'.
    let mut code = 0;
    for path in files {
        if verify_file(&path) != 0 {
            code = 1;
        }
    }
    // Events that came from other machines are anchored by the sync
    // repository's history: nothing synced may be missing or changed.
    let remotes: Vec<String> = config
        .settings
        .sync_remotes
        .iter()
        .map(|r| r.get_ref().clone())
        .collect();
    for writer in vigie_runtime::sync::history::check(&config.incidents_dir(), &dir, &remotes) {
        match &writer.problem {
            Some(problem) => {
                eprintln!("{}: {}: {problem}", dir.display(), writer.writer);
                code = 1;
            }
            None => println!(
                "{}: the {} synced event(s) of {} are all here, unchanged ({} sync(s), each extending the last)",
                dir.display(),
                writer.synced_events,
                writer.writer,
                writer.commits
            ),
        }
    }
    code
}

/// Verifies one event file (and this machine's anchor for it); says what it found.
fn verify_file(path: &Path) -> i32 {
    let verification = match verify(path) {
        Ok(v) => v,
        Err(e) => return fail("timeline verify", format!("{}: {e}", path.display())),
    };
    let cut = crate::timeline::anchor::recalled(&crate::timeline::anchor::location(path))
        .and_then(|anchor| verification.against(&anchor));
    if let Some(problem) = verification.problem.as_ref().or(cut.as_ref()) {
        eprintln!("{}:{}: {}", path.display(), problem.line, problem.message);
        eprintln!(
            "the timeline does not verify: do not edit its files by hand; correct events with `vigie timeline amend`"
        );
        return 1;
    }
    if let Some(line) = verification.torn_tail {
        eprintln!(
            "{}:{line}: torn last line (a write that never completed); it is set aside to {}.torn on the next append",
            path.display(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        return 1;
    }
    println!(
        "{}: {} events, sequence and hash chain intact",
        path.display(),
        verification.events
    );
    0
}
