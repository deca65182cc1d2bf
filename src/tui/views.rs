//! Rendering only: every function here reads [`App`] and draws; none changes state.

use super::app::{App, Prompt};
use super::keys::{active_bindings, BINDINGS};
use crate::alerts::{self, Severity};
use crate::config::ConfigSource;
use crate::format::{human_age, human_bytes, human_kib};
use crate::probe::linux::LinuxHealth;
use crate::probe::Reading;
use crate::sanitize::one_line;
use crate::status::{HostStatus, Reachability};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, app: &App) {
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    render_header(frame, header, app);
    let list_width = (body.width / 3).clamp(24, 40);
    let [hosts, right] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(20)]).areas(body);
    render_host_list(frame, hosts, app);
    if app.incident.is_some() {
        let [detail, timeline] = Layout::vertical([Constraint::Percentage(60), Constraint::Min(4)]).areas(right);
        render_detail(frame, detail, app);
        render_timeline(frame, timeline, app);
    } else {
        render_detail(frame, right, app);
    }
    match &app.prompt {
        Some(prompt) => render_prompt(frame, footer, prompt),
        None => render_hint_bar(frame, footer, app),
    }
    if app.show_help {
        render_help(frame, frame.area(), app);
    }
    if app.no_color {
        // Meaning never rides on colour alone, so dropping it loses nothing.
        for cell in frame.buffer_mut().content.iter_mut() {
            cell.set_fg(Color::Reset);
            cell.set_bg(Color::Reset);
        }
    }
}

fn render_header(frame: &mut Frame, area: Rect, app: &App) {
    let incident = match &app.incident {
        Some(header) => format!(
            "INC {} ─ {} ─ {} ─ {} elapsed",
            one_line(&header.title),
            header.severity.as_str().to_uppercase(),
            header.status.as_str(),
            human_age(app.now - header.started)
        ),
        None => "no incident".to_string(),
    };
    let source = match &app.config_source {
        ConfigSource::EmbeddedDefault => " (no vigie.toml: this machine only)".to_string(),
        ConfigSource::File(path) => format!(" ({})", path.display()),
    };
    let left = format!(" vigie ─ {incident} ─ {} hosts{source}", app.hosts.len());
    let clock = format!("{} UTC ", app.now.format("%H:%M:%S"));
    let padding = (area.width as usize).saturating_sub(left.chars().count() + clock.chars().count());
    let line = Line::from(vec![
        Span::styled(left, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" ".repeat(padding)),
        Span::raw(clock),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// State glyph and colour; the glyph alone must carry the meaning.
fn reachability_glyph(status: &HostStatus) -> (&'static str, Color) {
    match status.reachability {
        Reachability::Unknown => ("?", Color::DarkGray),
        Reachability::Reachable => match worst_alert(status) {
            Some(Severity::Critical) => ("✖", Color::Red),
            Some(Severity::Warning) => ("⚠", Color::Yellow),
            _ => ("●", Color::Green),
        },
        Reachability::Unreachable { .. } => ("✖", Color::Red),
    }
}

fn worst_alert(status: &HostStatus) -> Option<Severity> {
    alerts::for_host(status).iter().map(|a| a.severity).max()
}

fn severity_colour(severity: Severity) -> Color {
    match severity {
        Severity::Critical => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Blue,
    }
}

fn render_host_list(frame: &mut Frame, area: Rect, app: &App) {
    let mut items: Vec<ListItem> = Vec::new();
    let mut selected_row = 0;
    for (position, host) in app
        .visible_hosts()
        .into_iter()
        .filter_map(|i| app.hosts.get(i))
        .enumerate()
    {
        if position == app.selected {
            selected_row = items.len();
        }
        let (glyph, colour) = reachability_glyph(host);
        let summary = match (&host.reachability, host.health()) {
            (Reachability::Unreachable { .. }, _) => "down".to_string(),
            (_, Some(health)) => health
                .load
                .map(|l| format!("load {:.1}", l[0]))
                .unwrap_or_else(|| "ok".to_string()),
            _ => "—".to_string(),
        };
        items.push(ListItem::new(Line::from(vec![
            Span::styled(format!("{glyph} "), Style::new().fg(colour)),
            Span::raw(format!(
                "{:<11} {:<7} {summary}",
                one_line(&host.name),
                host.kind.as_str()
            )),
        ])));
        // Its VMs, nested: a dead node's VMs show as unknown, not as running.
        let down = !host.is_reachable();
        for vm in app.vms_of(host) {
            let (glyph, colour) = match vm.state.as_str() {
                _ if down => ("?", Color::DarkGray),
                "running" => ("●", Color::Green),
                "stopped" | "shutoff" => ("○", Color::DarkGray),
                "paused" | "crashed" => ("✖", Color::Red),
                _ => ("?", Color::DarkGray),
            };
            items.push(ListItem::new(Line::from(vec![
                Span::raw("  "),
                Span::styled(format!("{glyph} "), Style::new().fg(colour)),
                Span::styled(
                    format!("{:<10} vm {}", one_line(&vm.name), one_line(&vm.id)),
                    Style::new().fg(Color::Gray),
                ),
            ])));
        }
    }
    let mut title = String::from(" HOSTS ");
    if app.faulty_only {
        title.push_str("· faulty only ");
    }
    if !app.filter.is_empty() {
        title.push_str(&format!("· /{} ", one_line(&app.filter)));
    }
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(title))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(selected_row));
    frame.render_stateful_widget(list, area, &mut state);
}

fn render_detail(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::default().borders(Borders::ALL);
    let Some(host) = app.selected_host() else {
        frame.render_widget(Paragraph::new("no hosts in the inventory").block(block), area);
        return;
    };
    let block = block.title(format!(" {} ", host.name));
    // Room for the label, the percentage and "368 MiB of 24 GiB" after the bar.
    let bar_width = (area.width as usize).saturating_sub(44).clamp(6, 30);
    let mut lines = vec![status_line(host, app)];
    lines.push(Line::raw(format!(
        "{} · {}",
        host.kind.as_str(),
        one_line(&host.address)
    )));
    lines.push(Line::raw(""));
    let host_alerts = alerts::for_host(host);
    if !host_alerts.is_empty() {
        lines.push(Line::styled("ALERTS", Style::new().add_modifier(Modifier::BOLD)));
        for alert in &host_alerts {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{} ", alert.severity.glyph()),
                    Style::new().fg(severity_colour(alert.severity)),
                ),
                Span::raw(one_line(&alert.message)),
            ]));
        }
        lines.push(Line::raw(""));
    }
    match host.health() {
        Some(health) => lines.extend(health_lines(health, bar_width)),
        None => lines.push(Line::raw("waiting for the first poll…")),
    }
    if let Some(reading) = &host.reading {
        lines.extend(service_lines(reading));
    }
    let mut paragraph = Paragraph::new(lines).block(block).wrap(Wrap { trim: false });
    if host.stale_for(app.now).is_some() {
        paragraph = paragraph.style(Style::new().fg(Color::DarkGray));
    }
    frame.render_widget(paragraph, area);
}

fn status_line(host: &HostStatus, app: &App) -> Line<'static> {
    // The connection itself, whatever the alerts say.
    let (glyph, colour) = match host.reachability {
        Reachability::Reachable => ("●", Color::Green),
        _ => reachability_glyph(host),
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

/// VMs, datastores, replication, lockouts and backups, one line each.
fn service_lines(reading: &Reading) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
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
    if !reading.vms.is_empty() {
        lines.extend(heading("VMS"));
        for vm in &reading.vms {
            let glyph = match vm.state.as_str() {
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
            lines.push(Line::raw(format!(
                "{glyph} {:<6} {}{node} · {}{memory}{note}",
                one_line(&vm.id),
                one_line(&vm.name),
                vm.state
            )));
        }
    }
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
        }
    }
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
    lines
}

fn health_lines(health: &LinuxHealth, bar_width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some([l1, l5, l15]) = health.load {
        let cpus = health.cpus.map(|c| format!(" on {c} CPUs")).unwrap_or_default();
        lines.push(Line::raw(format!("load     {l1:.2} {l5:.2} {l15:.2}{cpus}")));
    }
    if let Some(memory) = health.memory {
        let used = memory.total_kib.saturating_sub(memory.available_kib);
        lines.push(Line::raw(format!(
            "memory   {} {:>3.0}%  {} of {}",
            bar(memory.used_percent(), bar_width),
            memory.used_percent(),
            human_kib(used),
            human_kib(memory.total_kib)
        )));
    }
    if let Some(pressure) = health.io_pressure {
        lines.push(Line::raw(format!(
            "io wait  some {:.1}% · full {:.1}% (avg10)",
            pressure.some_avg10, pressure.full_avg10
        )));
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

/// A text gauge: `[█████░░░░░]`.
fn bar(percent: f64, width: usize) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled.min(width)))
}

/// The latest timeline events that fit, newest at the bottom.
fn render_timeline(frame: &mut Frame, area: Rect, app: &App) {
    let rows = area.height.saturating_sub(2) as usize;
    let start = app.timeline.len().saturating_sub(rows);
    let lines: Vec<Line> = app.timeline[start..]
        .iter()
        .map(|event| {
            Line::from(vec![
                Span::styled(
                    event.at.format("%H:%M:%S ").to_string(),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::styled(
                    format!("{:<10} ", one_line(&event.actor)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(crate::timeline::view::describe(event)),
            ])
        })
        .collect();
    let block = Block::default().borders(Borders::ALL).title(" TIMELINE ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_prompt(frame: &mut Frame, area: Rect, prompt: &Prompt) {
    let (label, text, help) = match prompt {
        Prompt::Note(text) => ("note", text, "Enter records it in the timeline · Esc cancels"),
        Prompt::Filter(text) => ("filter", text, "Enter keeps it · Esc cancels"),
    };
    let line = Line::from(vec![
        Span::styled(format!(" {label}> "), Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(one_line(text)),
        Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
        Span::styled(format!("   {help}"), Style::new().fg(Color::DarkGray)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn render_hint_bar(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    for binding in active_bindings(app.read_only).filter(|b| b.in_hint_bar) {
        spans.push(Span::styled(
            format!(" {} ", binding.label),
            Style::new().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!("{} ", binding.description)));
    }
    if let Some(flash) = &app.flash {
        spans.push(Span::styled(
            format!(" · {}", one_line(flash)),
            Style::new().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(frame: &mut Frame, area: Rect, app: &App) {
    let width = 44.min(area.width);
    let height = (BINDINGS.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = active_bindings(app.read_only)
        .map(|b| Line::raw(format!(" {:<8} {}", b.label, b.description)))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(" Ctrl-C   quit"));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stay_in_width() {
        assert_eq!(bar(50.0, 10), "[█████░░░░░]");
        assert_eq!(bar(150.0, 4), "[████]");
        assert_eq!(bar(-3.0, 4), "[░░░░]");
    }
}
