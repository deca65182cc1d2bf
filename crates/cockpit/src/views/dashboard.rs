//! The dashboard: hosts (hypervisors with their VMs nested), and the
//! detail of the selected host.

use super::{pane, scroll_offset, sparkline};
use crate::app::{App, Focus};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;
use vigie_core::alerts::Severity;
use vigie_core::format::{human_age, human_bytes, human_kib};
use vigie_core::probe::linux::LinuxHealth;
use vigie_core::probe::model::Datastore;
use vigie_core::probe::Reading;
use vigie_core::sanitize::one_line;
use vigie_core::status::{HostStatus, Reachability};

/// Samples in the host list's load sparkline.
const LIST_SPARK: usize = 8;
/// Samples in the detail's sparklines.
const DETAIL_SPARK: usize = 30;

/// State glyph and colour; the glyph alone must carry the meaning.
fn reachability_glyph(app: &App, index: usize) -> (&'static str, Color) {
    match app.fleet.hosts[index].reachability {
        Reachability::Unknown => ("?", Color::DarkGray),
        Reachability::Reachable => match app.worst_alert(index) {
            Some(Severity::Critical) => ("✖", Color::Red),
            Some(Severity::Warning) => ("⚠", Color::Yellow),
            _ => ("●", Color::Green),
        },
        Reachability::Unreachable { .. } => ("✖", Color::Red),
    }
}

fn severity_colour(severity: Severity) -> Color {
    match severity {
        Severity::Critical => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Blue,
    }
}

/// One host list row per host and per VM, with the host each row selects:
/// the view draws them, the mouse maps a click back to a host.
pub fn host_rows(app: &App) -> Vec<usize> {
    let mut rows = Vec::new();
    for (position, index) in app.visible_hosts().into_iter().enumerate() {
        rows.push(position);
        rows.extend(std::iter::repeat_n(position, app.vm_count(index)));
    }
    rows
}

pub(super) fn render_host_list(frame: &mut Frame, area: Rect, app: &App) {
    // Lay out every row (cheap), but build only the rows on screen: a
    // fleet of 500 hosts and 2 000 VMs draws as fast as a small one.
    let mut layout: Vec<(usize, Option<usize>)> = Vec::new();
    let mut selected_row = 0;
    for (position, index) in app.visible_hosts().into_iter().enumerate() {
        if position == app.selected {
            selected_row = layout.len();
        }
        layout.push((index, None));
        layout.extend((0..app.vm_count(index)).map(|vm| (index, Some(vm))));
    }
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let offset = scroll_offset(selected_row, rows);
    let items: Vec<ListItem> = layout
        .iter()
        .skip(offset)
        .take(rows.max(1))
        .map(|(index, vm)| match vm {
            None => host_row(app, *index, width),
            Some(vm) => vm_row(app, *index, *vm, width),
        })
        .collect();
    let mut title = String::from(" HOSTS ");
    if app.faulty_only {
        title.push_str("· faulty only ");
    }
    if !app.filter.is_empty() {
        title.push_str(&format!("· /{} ", one_line(&app.filter)));
    }
    if app.sort != crate::app::SortBy::Inventory {
        title.push_str(&format!("· by {} ", app.sort.as_str()));
    }
    let list = List::new(items)
        .block(pane(title, app.focus == Focus::Hosts, area.width))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(selected_row - offset));
    frame.render_stateful_widget(list, area, &mut state);
}

/// How long a host has been down, as short as the list needs: seconds
/// only in its first minute.
fn list_age(age: chrono::Duration) -> String {
    match age.num_seconds() {
        60..3600 => format!("{}m", age.num_minutes()),
        _ => human_age(age),
    }
}

/// A host's row in `width` columns: glyph, name, state and alert badge;
/// the load sparkline only where it fits beside them.
fn host_row(app: &App, index: usize, width: usize) -> ListItem<'static> {
    let host = &app.fleet.hosts[index];
    let (glyph, colour) = reachability_glyph(app, index);
    let summary = match (&host.reachability, host.health()) {
        // Down since the fleet journal says, whoever saw it first.
        (Reachability::Unreachable { since, .. }, _) => format!("down {}", list_age(app.now - *since)),
        (_, Some(health)) => health
            .load
            .map(|l| format!("load {:.2}", l[0]))
            .unwrap_or_else(|| "ok".to_string()),
        _ => "—".to_string(),
    };
    let loads: Vec<Option<f64>> = host
        .history
        .iter()
        .rev()
        .take(LIST_SPARK)
        .rev()
        .map(|s| s.load1)
        .collect();
    let badge = match app.fleet.alerts[index].len() {
        0 => String::new(),
        n => format!(" {}{n}", app.worst_alert(index).map(|s| s.glyph()).unwrap_or("")),
    };
    let text_style = if host.is_reachable() {
        Style::new()
    } else {
        Style::new().fg(Color::DarkGray)
    };
    let badge = Span::styled(badge, Style::new().fg(colour).add_modifier(Modifier::BOLD));
    let mut spans = vec![
        Span::styled(format!("{glyph} "), Style::new().fg(colour)),
        Span::styled(format!("{:<11} {summary}", one_line(&host.name)), text_style),
    ];
    let spark = Span::styled(format!(" {}", sparkline(&loads, 1.0)), Style::new().fg(Color::Cyan));
    let used: usize = spans.iter().map(|s| s.width()).sum::<usize>() + badge.width();
    if used + spark.width() <= width {
        spans.push(spark);
    }
    // The badge is what a glance looks for: the names' alignment, then
    // the end of the name and state give way first.
    if used > width {
        let name_room = width.saturating_sub(2 + badge.width());
        spans.truncate(1);
        spans.push(Span::styled(
            super::fit(&format!("{} {summary}", one_line(&host.name)), name_room),
            text_style,
        ));
    }
    spans.push(badge);
    ListItem::new(super::fit_spans(spans, width))
}

/// A VM nested under its host: a dead node's VMs show as unknown, not as running.
fn vm_row(app: &App, index: usize, vm: usize, width: usize) -> ListItem<'static> {
    let vms = app.vms_of(index);
    let Some(vm) = vms.get(vm) else {
        return ListItem::new("");
    };
    let (glyph, colour) = match vm.state.as_str() {
        _ if !app.fleet.hosts[index].is_reachable() => ("?", Color::DarkGray),
        "running" => ("●", Color::Green),
        "stopped" | "shutoff" => ("○", Color::DarkGray),
        "paused" | "crashed" => ("✖", Color::Red),
        _ => ("?", Color::DarkGray),
    };
    ListItem::new(super::fit_spans(
        vec![
            Span::raw("  "),
            Span::styled(format!("{glyph} "), Style::new().fg(colour)),
            Span::styled(
                format!("{:<10} vm {}", one_line(&vm.name), one_line(&vm.id)),
                Style::new().fg(Color::Gray),
            ),
        ],
        width,
    ))
}

pub(super) fn render_detail(frame: &mut Frame, area: Rect, app: &App) {
    let Some(index) = app.selected_index() else {
        frame.render_widget(
            Paragraph::new("no hosts match").block(pane(" DETAIL ".into(), false, area.width)),
            area,
        );
        return;
    };
    let host = &app.fleet.hosts[index];
    let block = pane(format!(" {} ", one_line(&host.name)), false, area.width);
    // Room for the label, the percentage and "368 MiB of 24 GiB" after the bar.
    let bar_width = (area.width as usize).saturating_sub(44).clamp(6, 30);
    let mut lines = vec![status_line(host, app)];
    // What it is and where, then its role and tags (what `/tag:` filters on).
    let mut about = format!("{} · {}", host.kind.as_str(), one_line(&host.address));
    if let Some(configured) = app.inventory.get(index) {
        if let Some(role) = &configured.role {
            about.push_str(&format!(" · role {}", one_line(role)));
        }
        if !configured.tags.is_empty() {
            about.push_str(&format!(" · tags {}", one_line(&configured.tags.join(", "))));
        }
    }
    lines.push(Line::raw(super::fit(&about, area.width.saturating_sub(2) as usize)));
    let host_alerts = &app.fleet.alerts[index];
    if !host_alerts.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("ALERTS", Style::new().add_modifier(Modifier::BOLD)));
        let mut suggested = false;
        for alert in host_alerts {
            let mut spans = vec![
                Span::styled(
                    format!("{} ", alert.severity.glyph()),
                    Style::new().fg(severity_colour(alert.severity)),
                ),
                Span::raw(one_line(&alert.message)),
            ];
            // An unreachable host's message says since when already.
            let says_since = vigie_core::alerts::REACHABILITY_CODES.contains(&alert.code)
                || alert.code == vigie_core::alerts::VM_DOWN;
            if let Some(since) = app.fleet.since(index, alert).filter(|_| !says_since) {
                spans.push(Span::styled(
                    format!(" · since {}", since.format("%H:%M:%S")),
                    Style::new().fg(Color::DarkGray),
                ));
            }
            if let Some(playbook) = alert.playbook {
                let key = if suggested || app.read_only { "" } else { " (r runs it)" };
                suggested = true;
                spans.push(Span::styled(
                    format!(" → playbook {playbook}{key}"),
                    Style::new().fg(Color::Cyan),
                ));
            }
            lines.push(Line::from(spans));
        }
    }
    lines.push(Line::raw(""));
    match host.health() {
        Some(health) => lines.extend(health_lines(
            host,
            health,
            bar_width,
            area.width.saturating_sub(2) as usize,
        )),
        None => lines.push(Line::raw(match host.reachability {
            Reachability::Unknown => "waiting for the first poll…",
            _ => "no health data yet: the host has not answered a probe",
        })),
    }
    if let Some(reading) = &host.reading {
        lines.extend(service_lines(reading, bar_width, host.is_reachable()));
    }
    lines.extend(history_lines(host));
    let mut paragraph = Paragraph::new(lines).block(block).wrap(Wrap { trim: false });
    if host.stale_for(app.now).is_some() {
        paragraph = paragraph.style(Style::new().fg(Color::DarkGray));
    }
    frame.render_widget(paragraph, area);
}

/// When the host went down and came back.
fn history_lines(host: &HostStatus) -> Vec<Line<'static>> {
    if host.changes.is_empty() {
        return vec![];
    }
    let mut lines = heading("HISTORY").to_vec();
    for (at, what) in host.changes.iter().rev() {
        lines.push(Line::raw(format!("{} {}", at.format("%H:%M:%S"), one_line(what))));
    }
    lines
}

fn status_line(host: &HostStatus, app: &App) -> Line<'static> {
    // The connection itself, whatever the alerts say.
    let (glyph, colour) = match host.reachability {
        Reachability::Reachable => ("●", Color::Green),
        Reachability::Unknown => ("?", Color::DarkGray),
        Reachability::Unreachable { .. } => ("✖", Color::Red),
    };
    let text = match &host.reachability {
        Reachability::Unknown => "not polled yet".to_string(),
        Reachability::Reachable => match host.last_round_trip {
            Some(rtt) => format!("reachable · probe {} ms", rtt.as_millis()),
            None => "reachable".to_string(),
        },
        Reachability::Unreachable { reason, since, .. } => {
            let mut text = format!("unreachable since {} ({})", since.format("%H:%M:%S"), one_line(reason));
            if let Some(age) = host.stale_for(app.now) {
                text.push_str(&format!(" · data below is {} old", human_age(age)));
            }
            text
        }
    };
    Line::from(vec![
        Span::styled(format!("{glyph} "), Style::new().fg(colour)),
        Span::raw(text),
    ])
}

fn heading(text: &'static str) -> [Line<'static>; 2] {
    [
        Line::raw(""),
        Line::styled(text, Style::new().add_modifier(Modifier::BOLD)),
    ]
}

/// What the drivers found (cluster, VMs, datastores, replication, lockouts,
/// backups), one section each, only those the host has.
fn service_lines(reading: &Reading, bar_width: usize, reachable: bool) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    cluster_lines(&mut lines, reading);
    vm_lines(&mut lines, reading, reachable);
    datastore_lines(&mut lines, reading, bar_width);
    replication_lines(&mut lines, reading);
    lockout_lines(&mut lines, reading);
    backup_lines(&mut lines, reading);
    lines
}

/// The cluster: its quorum and offline nodes.
fn cluster_lines(lines: &mut Vec<Line<'static>>, reading: &Reading) {
    if let Some(cluster) = &reading.cluster {
        let offline: Vec<&str> = cluster
            .nodes
            .iter()
            .filter(|n| !n.online)
            .map(|n| n.name.as_str())
            .collect();
        lines.extend(heading("CLUSTER"));
        lines.push(Line::raw(format!(
            "{} · {} · {} nodes{}",
            one_line(&cluster.name),
            if cluster.quorate { "quorate" } else { "NO QUORUM" },
            cluster.nodes.len(),
            if offline.is_empty() {
                String::new()
            } else {
                format!(" · offline: {}", offline.join(", "))
            }
        )));
    }
}

/// Every VM with its state, node and memory. A host that stopped
/// answering says nothing of its VMs now: their state is the last seen.
fn vm_lines(lines: &mut Vec<Line<'static>>, reading: &Reading, reachable: bool) {
    if !reading.vms.is_empty() {
        lines.extend(heading(if reachable { "VMS" } else { "VMS (as last seen)" }));
        for vm in &reading.vms {
            let glyph = match vm.state.as_str() {
                _ if !reachable => "?",
                "running" => "●",
                "stopped" | "shutoff" => "○",
                "paused" | "crashed" => "✖",
                _ => "?",
            };
            let node = vm
                .node
                .as_deref()
                .map(|n| format!(" on {}", one_line(n)))
                .unwrap_or_default();
            let memory = vm
                .memory_bytes
                .map(|m| format!(" · {} RAM", human_bytes(m)))
                .unwrap_or_default();
            let note = vm
                .question
                .as_deref()
                .map(|_| " · waiting for an answer".to_string())
                .or_else(|| vm.reason.as_deref().map(|r| format!(" ({r})")))
                .unwrap_or_default();
            let state = if reachable {
                vm.state.clone()
            } else {
                format!("was {}", vm.state)
            };
            lines.push(Line::raw(format!(
                "{glyph} {:<6} {}{node} · {state}{memory}{note}",
                one_line(&vm.id),
                one_line(&vm.name),
            )));
        }
    }
}

/// Datastores with their gauges.
fn datastore_lines(lines: &mut Vec<Line<'static>>, reading: &Reading, bar_width: usize) {
    if !reading.datastores.is_empty() {
        lines.extend(heading("DATASTORES"));
        for ds in &reading.datastores {
            let promised = ds
                .provisioned_bytes
                .map(|p| format!(" · {} promised", human_bytes(p)))
                .unwrap_or_default();
            lines.push(Line::raw(format!(
                "{} ({}) · {} free of {}{promised}",
                one_line(&ds.name),
                ds.kind,
                human_bytes(ds.free_bytes),
                human_bytes(ds.capacity_bytes)
            )));
            lines.push(Line::raw(format!("  {}", datastore_gauge(ds, bar_width))));
        }
    }
}

/// Replication connections: running, and how far behind.
fn replication_lines(lines: &mut Vec<Line<'static>>, reading: &Reading) {
    if !reading.replication.is_empty() {
        lines.extend(heading("REPLICATION"));
        for r in &reading.replication {
            let state = if r.is_running() {
                "running".to_string()
            } else {
                "STOPPED".to_string()
            };
            let lag = r.seconds_behind.map(|s| format!(" · {s} s behind")).unwrap_or_default();
            lines.push(Line::raw(format!("'{}' {state}{lag}", one_line(&r.connection))));
        }
    }
}

/// Accounts with failed logins, and which are locked.
fn lockout_lines(lines: &mut Vec<Line<'static>>, reading: &Reading) {
    if !reading.lockouts.is_empty() {
        lines.extend(heading("LOGIN FAILURES"));
        for l in &reading.lockouts {
            let locked = if l.locked { " · LOCKED" } else { "" };
            lines.push(Line::raw(format!(
                "{} · {} failures{locked}",
                one_line(&l.user),
                l.failures
            )));
        }
    }
}

/// Backup repositories: the latest snapshot, and paths it lacks.
fn backup_lines(lines: &mut Vec<Line<'static>>, reading: &Reading) {
    if !reading.backups.is_empty() {
        lines.extend(heading("BACKUPS"));
        for b in &reading.backups {
            let latest = b
                .latest
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| format!("latest {}", t.format("%Y-%m-%d %H:%M")))
                .unwrap_or_else(|| "no snapshot".into());
            let missing = if b.missing_paths.is_empty() {
                String::new()
            } else {
                format!(" · MISSING {}", b.missing_paths.join(", "))
            };
            lines.push(Line::raw(format!(
                "{} {} · {latest}{missing}",
                b.tool,
                one_line(&b.repo)
            )));
        }
    }
}

fn health_lines(host: &HostStatus, health: &LinuxHealth, bar_width: usize, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let recent: Vec<&vigie_core::status::Sample> = host.history.iter().rev().take(DETAIL_SPARK).rev().collect();
    // A line with its sparkline: as many of the latest samples as fit after
    // the text, so that the line never wraps.
    let with_spark = |text: String, values: Vec<Option<f64>>, floor: f64| {
        let room = width.saturating_sub(text.chars().count() + 1);
        let latest = &values[values.len().saturating_sub(room)..];
        Line::from(vec![
            Span::raw(text),
            Span::styled(format!(" {}", sparkline(latest, floor)), Style::new().fg(Color::Cyan)),
        ])
    };
    if let Some([l1, l5, l15]) = health.load {
        let cpus = health.cpus.map(|c| format!(" on {c} CPUs")).unwrap_or_default();
        lines.push(with_spark(
            format!("load     {l1:.2} {l5:.2} {l15:.2}{cpus}"),
            recent.iter().map(|s| s.load1).collect(),
            health.cpus.unwrap_or(1) as f64,
        ));
    }
    if let Some(memory) = health.memory {
        let used = memory.total_kib.saturating_sub(memory.available_kib);
        lines.push(with_spark(
            format!(
                "memory   {} {:>3.0}%  {} of {}",
                bar(memory.used_percent(), bar_width),
                memory.used_percent(),
                human_kib(used),
                human_kib(memory.total_kib)
            ),
            recent.iter().map(|s| s.memory_percent).collect(),
            100.0,
        ));
    }
    if let Some(pressure) = health.io_pressure {
        lines.push(with_spark(
            format!(
                "io wait  some {:.1}% · full {:.1}% (avg10)",
                pressure.some_avg10, pressure.full_avg10
            ),
            recent.iter().map(|s| s.io_some).collect(),
            10.0,
        ));
    }
    if let Some(uptime) = health.uptime_s {
        lines.push(Line::raw(format!(
            "uptime   {}",
            human_age(chrono::Duration::seconds(uptime as i64))
        )));
    }
    if !health.filesystems.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("DISKS", Style::new().add_modifier(Modifier::BOLD)));
    }
    for fs in &health.filesystems {
        lines.push(Line::raw(format!(
            "{:<8} {} {:>3.0}%  {} free of {}",
            one_line(&fs.mount),
            bar(fs.used_percent(), bar_width),
            fs.used_percent(),
            human_kib(fs.available_kib),
            human_kib(fs.size_kib)
        )));
    }
    lines
}

/// Used, promised and capacity in one gauge: `█` used, `▒` promised to VMs
/// but not written yet, `░` free and unpromised; `!` marks promises beyond
/// the capacity (thin provisioning that cannot all be kept).
fn datastore_gauge(ds: &Datastore, width: usize) -> String {
    let capacity = ds.capacity_bytes.max(1) as f64;
    let used = ds.capacity_bytes.saturating_sub(ds.free_bytes) as f64;
    let cells = |bytes: f64| ((bytes / capacity) * width as f64).round().clamp(0.0, width as f64) as usize;
    let used_cells = cells(used);
    let promised = ds.provisioned_bytes.map(|p| p as f64).unwrap_or(used).max(used);
    let promised_cells = cells(promised).max(used_cells) - used_cells;
    let free_cells = width.saturating_sub(used_cells + promised_cells);
    let over = if promised > capacity {
        format!("! {:.0}% promised", 100.0 * promised / capacity)
    } else {
        String::new()
    };
    format!(
        "[{}{}{}]{over}",
        "█".repeat(used_cells),
        "▒".repeat(promised_cells),
        "░".repeat(free_cells)
    )
}

/// A text gauge: `[█████░░░░░]`.
fn bar(percent: f64, width: usize) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled.min(width)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_gauges_show_used_promised_and_overcommit() {
        let ds = Datastore {
            name: "local".into(),
            kind: "dir".into(),
            capacity_bytes: 100,
            free_bytes: 60,
            provisioned_bytes: Some(130),
            ..Default::default()
        };
        assert_eq!(datastore_gauge(&ds, 10), "[████▒▒▒▒▒▒]! 130% promised");
        let plain = Datastore {
            provisioned_bytes: None,
            ..ds
        };
        assert_eq!(datastore_gauge(&plain, 10), "[████░░░░░░]");
    }

    #[test]
    fn bars_stay_in_width() {
        assert_eq!(bar(50.0, 10), "[█████░░░░░]");
        assert_eq!(bar(150.0, 4), "[████]");
        assert_eq!(bar(-3.0, 4), "[░░░░]");
    }
}
