//! The timeline pane: the incident's events as they arrive (from every
//! responder), filtered by kind or host, with a cursor to mark or amend one.

use super::{fit, fit_spans, pane, scroll_offset};
use crate::app::{App, Focus, KindFilter};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use vigie_core::sanitize::one_line;
use vigie_core::timeline::payload::Kind;
use vigie_core::timeline::view::Amendment;
use vigie_core::timeline::Payload;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let events = app.visible_timeline();
    // Marks are amendments: gather them so each event shows its own.
    let marks = marks_by_target(app);
    let rows = area.height.saturating_sub(2) as usize;
    let selected = app.timeline_cursor.unwrap_or(events.len().saturating_sub(1));
    let offset = scroll_offset(selected, rows);
    let width = area.width.saturating_sub(2) as usize;
    // Only the events on screen are described and styled.
    let items: Vec<ListItem> = events
        .iter()
        .skip(offset)
        .take(rows.max(1))
        .map(|event| {
            let kind_style = match event.kind_of() {
                Kind::Decision | Kind::ActionItem => Style::new().fg(Color::Magenta),
                Kind::StepFailed | Kind::AlertRaised | Kind::HostUnreachable => Style::new().fg(Color::Red),
                Kind::StepDone => Style::new().fg(Color::Green),
                _ => Style::new(),
            };
            let mut spans = vec![
                Span::styled(
                    format!("{:>4} {} ", event.seq, event.at.format("%H:%M:%S")),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::styled(
                    format!("{:<10} ", one_line(&event.actor)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ];
            if let Some(host) = &event.host {
                spans.push(Span::styled(
                    format!("[{}] ", one_line(host)),
                    Style::new().fg(Color::Cyan),
                ));
            }
            let mut after = Vec::new();
            if app.amended.contains(&event.id) {
                after.push(Span::styled("  ✎ amended", Style::new().fg(Color::Magenta)));
            }
            if let Some(marks) = marks.get(&event.id) {
                after.push(Span::styled(
                    format!("  ★ {}", marks.join(", ")),
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ));
            }
            // The description gives way (ending in `…`, Enter shows it
            // whole) so that the amended and marked flags stay in view.
            let around: usize = spans.iter().chain(&after).map(|s| s.width()).sum();
            let room = width.saturating_sub(around).max(12);
            spans.push(Span::styled(
                fit(&vigie_core::timeline::view::describe(event), room),
                kind_style,
            ));
            spans.extend(after);
            ListItem::new(fit_spans(spans, width))
        })
        .collect();
    // Filtered down to nothing: say so, and how to see more.
    let filtered = app.kind_filter != KindFilter::All || app.host_filter.is_some() || app.hide_fleet_events;
    let items = if items.is_empty() && filtered && !app.timeline.is_empty() {
        vec![ListItem::new(Span::styled(
            " nothing matches the filters (t kind, h host, F alerts)",
            Style::new().fg(Color::DarkGray),
        ))]
    } else {
        items
    };
    let mut title = String::from(" TIMELINE ");
    if app.kind_filter != KindFilter::All {
        title.push_str(&format!("· {} ", app.kind_filter.as_str()));
    }
    if let Some(host) = &app.host_filter {
        title.push_str(&format!("· host {} ", one_line(host)));
    }
    if app.hide_fleet_events {
        title.push_str("· alerts hidden ");
    }
    if app.timeline_cursor.is_none() && app.focus == Focus::Timeline {
        title.push_str("· following ");
    }
    let focused = app.focus == Focus::Timeline;
    let list = List::new(items)
        .block(pane(title, focused, area.width))
        .highlight_style(if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        });
    let mut state = ListState::default().with_selected((!events.is_empty()).then_some(selected - offset));
    frame.render_stateful_widget(list, area, &mut state);
}

fn marks_by_target(app: &App) -> std::collections::HashMap<String, Vec<String>> {
    let mut marks: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for event in app.timeline.iter().filter(|e| e.kind_of() == Kind::Amendment) {
        if let Payload::Amendment(Amendment {
            target,
            mark: Some(mark),
            ..
        }) = event.payload()
        {
            marks.entry(target).or_default().push(mark.as_str().to_string());
        }
    }
    marks
}
