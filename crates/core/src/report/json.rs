//! The post-mortem as JSON, for other tools (a wiki importer, a dashboard).
//! The shape is spelled out here field by field, not derived, so that it
//! only changes on purpose; `docs/report-json.md` documents it.

use super::{Report, Zone};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Bumped when a field changes meaning or disappears (adding one does not).
pub const SCHEMA_VERSION: u32 = 1;

fn time(at: &DateTime<Utc>) -> Value {
    json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn outage(o: &super::model::Outage) -> Value {
    json!({
        "host": o.host,
        "code": o.code,
        "subject": o.subject,
        "severity": o.severity,
        "message": o.message,
        "raised": time(&o.raised),
        "cleared": o.cleared.as_ref().map(time),
        "seconds": o.lasted().map(|d| d.num_seconds()),
    })
}

/// `at` in the responders' zone, with its offset: `2026-11-23T20:30:12.000+01:00`.
fn local(zone: Zone, at: &DateTime<Utc>) -> Value {
    json!(zone.local(*at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn render(report: &Report, zone: Zone) -> String {
    let s = &report.summary;
    let rows = |rows: &[super::model::Row]| -> Vec<Value> {
        rows.iter()
            .map(|r| json!({"at": time(&r.at), "local": local(zone, &r.at), "actor": r.actor, "host": r.host, "text": r.text, "amended": r.amended, "run": r.mechanics, "narrative": r.narrative}))
            .collect()
    };
    let n = &report.narrative;
    let value = json!({
        "schema_version": SCHEMA_VERSION,
        // The responders' zone, which every "local" time is in.
        "time_zone": zone.name(),
        "incident": {
            "id": s.id,
            "title": s.title,
            "severity": s.severity.as_str(),
            "status": s.status.as_str(),
            // When it was declared ("started" is the same, kept for
            // readers of the first schema); the impact began at the key
            // time "started", often before.
            "declared": time(&s.started),
            "started": time(&s.started),
            "impact_began": report.impact_span().0.as_ref().map(time),
            "resolved": report.key_time("resolved").as_ref().map(time),
            "responders": s.responders,
            "roles": report.roles.iter().map(|(who, role)| json!({"who": who, "role": role})).collect::<Vec<_>>(),
            "events": s.events,
        },
        "document": {
            "status": report.document_status(),
            "authors": report.responders_with_roles().iter().map(|(who, roles)| json!({"who": who, "roles": roles})).collect::<Vec<_>>(),
            "reviewers": report.reviewers(),
        },
        "narrative": super::model::SECTIONS
            .iter()
            .map(|section| (section.json.to_string(), json!(n.all_paragraphs(section.tag))))
            .collect::<serde_json::Map<String, Value>>(),
        "key_times": report.key_times.iter().map(|k| json!({
            "name": k.name,
            "at": k.at.as_ref().map(time),
            "local": k.at.as_ref().map(|at| local(zone, at)),
            "since_start_s": report.since_start(k.name).map(|d| d.num_seconds()),
        })).collect::<Vec<_>>(),
        "key_time_problems": report.key_time_problems,
        "durations": report.durations().iter().map(|d| json!({
            "name": d.name,
            "from": d.from,
            "seconds": d.value.map(|v| v.num_seconds()),
        })).collect::<Vec<_>>(),
        "outages": report.outages.iter().map(outage).collect::<Vec<_>>(),
        "impact": {
            "hosts_down": report.hosts_down().map(outage).collect::<Vec<_>>(),
            "vms_down": report.vms_down().map(outage).collect::<Vec<_>>(),
        },
        "timeline": rows(&report.rows),
        "commands": report.commands.iter().map(|c| json!({
            "at": time(&c.at),
            "host": c.host,
            "step": c.step,
            "command": c.command,
            "exit": c.exit,
            "ms": c.ms,
            "output": c.output,
            "output_truncated": c.output_truncated,
            "error": c.error,
        })).collect::<Vec<_>>(),
        "deviations": report.deviations.iter().map(|d| json!({
            "at": time(&d.at), "step": d.step, "what": d.what, "why": d.why,
        })).collect::<Vec<_>>(),
        "alerts": rows(&report.alerts),
        "decisions": rows(&report.decisions),
        "notes": rows(&report.notes),
        "action_items": report.action_items.iter().map(|a| json!({
            "number": format!("A{}", a.number), "seq": a.seq, "text": a.text, "type": a.action_type,
            "owner": a.owner, "due": a.due, "priority": a.priority, "status": a.status, "link": a.link,
        })).collect::<Vec<_>>(),
    });
    // serde_json escapes every control character; bidi controls it keeps as
    // they are, and a viewer would reorder the text around them: escaped too
    // (they can only be inside strings, where \uXXXX means the same).
    let pretty = serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let mut text = crate::sanitize::json_without_bidi(&pretty);
    text.push('\n');
    text
}
