//! Rendering only: every function here reads [`App`] and draws; none changes
//! state. `layout` is shared with mouse handling so a click lands where the
//! row was drawn.

mod dashboard;
mod overlays;

pub use dashboard::host_rows;
pub use overlays::event_scroll_limit;
mod run;
mod timeline;

use super::app::{App, Focus, Prompt};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use vigie_core::config::ConfigSource;
use vigie_core::format::human_age;
use vigie_core::sanitize::one_line;

/// Where each pane is on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    pub header: Rect,
    pub hosts: Rect,
    pub detail: Rect,
    pub timeline: Rect,
    /// The playbook run, when it has the focus (it then replaces detail and timeline).
    pub run: Rect,
    pub footer: Rect,
}

pub fn layout(area: Rect, app: &App) -> Areas {
    // A prompt grows with what is typed (a note may be several lines), up
    // to a third of the screen; its rows then scroll with the cursor.
    let footer_rows = match &app.prompt {
        Some(prompt) => (prompt_rows(prompt, area.width as usize).0.len() as u16).clamp(1, (area.height / 3).max(1)),
        None => 1,
    };
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(footer_rows),
    ])
    .areas(area);
    let mut areas = Areas {
        header,
        footer,
        ..Areas::default()
    };
    if app.focus == Focus::Run && app.run.is_some() {
        let timeline_rows = if body.height > 30 { 8 } else { 5 };
        let [run, timeline] = Layout::vertical([Constraint::Min(8), Constraint::Length(timeline_rows)]).areas(body);
        areas.run = run;
        areas.timeline = if app.incident.is_some() {
            timeline
        } else {
            Rect::default()
        };
        if app.incident.is_none() {
            areas.run = body;
        }
        return areas;
    }
    let list_width = (body.width / 3).clamp(24, 44);
    let [hosts, right] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(20)]).areas(body);
    areas.hosts = hosts;
    if app.incident.is_some() {
        let [detail, timeline] = Layout::vertical([Constraint::Percentage(60), Constraint::Min(4)]).areas(right);
        areas.detail = detail;
        areas.timeline = timeline;
    } else {
        areas.detail = right;
    }
    areas
}

pub fn render(frame: &mut Frame, app: &App) {
    let areas = layout(frame.area(), app);
    render_header(frame, areas.header, app);
    if areas.run.height > 0 {
        run::render(frame, areas.run, app);
    } else {
        dashboard::render_host_list(frame, areas.hosts, app);
        dashboard::render_detail(frame, areas.detail, app);
    }
    if areas.timeline.height > 0 {
        timeline::render(frame, areas.timeline, app);
    }
    match &app.prompt {
        Some(prompt) => render_prompt(frame, areas.footer, prompt),
        None => render_hint_bar(frame, areas.footer, app),
    }
    if let Some(overlay) = &app.overlay {
        overlays::render(frame, frame.area(), app, overlay);
    }
    if app.no_color {
        // Meaning never rides on colour alone, so dropping it loses nothing.
        for cell in frame.buffer_mut().content.iter_mut() {
            cell.set_fg(Color::Reset);
            cell.set_bg(Color::Reset);
        }
    }
}

/// `text` in at most `width` columns: cut with `…` when it does not fit, so
/// that a cut is always seen as one.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A row of spans in at most `width` columns: the span that does not fit
/// is cut and ends in `…`, the ones after it are left out.
pub(super) fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    use unicode_width::UnicodeWidthChar;
    let total: usize = spans.iter().map(|s| s.width()).sum();
    if total <= width {
        return Line::from(spans);
    }
    let mut room = width.saturating_sub(1);
    let mut kept = Vec::new();
    for span in spans {
        if span.width() <= room {
            room -= span.width();
            kept.push(span);
            continue;
        }
        let mut cut = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if w > room {
                break;
            }
            room -= w;
            cut.push(c);
        }
        cut.push('…');
        kept.push(Span::styled(cut, span.style));
        break;
    }
    Line::from(kept)
}

/// `text` broken into rows of at most `width` characters at its spaces; a
/// word longer than a row is cut where the row ends.
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let row_len = row.chars().count();
        if row_len > 0 && row_len + 1 + word.len() <= width {
            row.push(' ');
            row.extend(word.iter());
            continue;
        }
        if row_len > 0 {
            rows.push(std::mem::take(&mut row));
        }
        while word.len() > width {
            rows.push(word.drain(..width).collect());
        }
        row = word.into_iter().collect();
    }
    rows.push(row);
    rows
}

/// A pane's frame of `width` columns; the focused one has a bold title and
/// a thick border. A title longer than the frame ends in `…`.
pub(super) fn pane(title: String, focused: bool, width: u16) -> Block<'static> {
    let title = match fit(title.trim_end(), (width as usize).saturating_sub(4)) {
        cut if cut.ends_with('…') => cut,
        whole => format!("{whole} "),
    };
    let block = Block::default().borders(Borders::ALL);
    if focused {
        block
            .border_type(ratatui::widgets::BorderType::Thick)
            .title(Span::styled(
                format!("▸{title}"),
                Style::new().add_modifier(Modifier::BOLD),
            ))
    } else {
        block.title(title)
    }
}

/// Where the incident's title goes in the header, once its room is known.
const TITLE_SLOT: &str = "\u{0}";

fn render_header(frame: &mut Frame, area: Rect, app: &App) {
    let incident = match &app.incident {
        Some(header) => {
            // A resolved incident's clock stopped when it was resolved.
            let (end, word) = match header.resolved {
                Some(resolved) => (resolved, "lasted"),
                None => (app.now, "elapsed"),
            };
            format!(
                "INC {TITLE_SLOT} ─ {} ─ {} ─ {} {word}",
                header.severity.as_str().to_uppercase(),
                header.status.as_str(),
                // From when the impact began, as the report counts.
                human_age(end - header.impact_started)
            )
        }
        None => "no incident".to_string(),
    };
    let source = match &app.config_source {
        ConfigSource::EmbeddedDefault => " (no vigie.toml: this machine only)".to_string(),
        ConfigSource::File(_) => String::new(),
    };
    let run = app
        .run
        .as_ref()
        .map(|r| format!(" ─ {}", r.summary()))
        .unwrap_or_default();
    // The run comes before the host count: on a narrow screen it matters more.
    let hosts = match app.fleet.hosts.len() {
        1 => "1 host".to_string(),
        n => format!("{n} hosts"),
    };
    // Before the host count too: nobody must believe outages are recorded when they are not.
    let recording = if app.recording_problem.is_some() {
        " ─ ⚠ outages NOT recorded (see the fleet journal)"
    } else {
        ""
    };
    let damage = match app.timeline_damage.as_slice() {
        [] => String::new(),
        [only] => format!(" ─ ⚠ timeline line {} unreadable (vigie timeline verify)", only.line),
        many => format!(" ─ ⚠ {} timeline lines unreadable (vigie timeline verify)", many.len()),
    };
    // Whether the others see what is written here, and since when not:
    // in words where they fit, in a few otherwise (`vigie sync` says more).
    let with_sync = |compact: bool| match &app.sync {
        Some(sync) => format!("{recording} ─ {}", sync.summary(app.now, compact)),
        None => recording.to_string(),
    };
    let recording = with_sync(false);
    let clock = format!(" {} UTC ", app.now.format("%H:%M:%S"));
    // The clock always shows. What does not fit gives way: the host count
    // first, then the incident's title (cut with `…`: severity, status,
    // time and the run say more at a glance), then the end of the line.
    let room = (area.width as usize).saturating_sub(clock.chars().count());
    let title = app.incident.as_ref().map(|h| one_line(&h.title)).unwrap_or_default();
    let essential = format!(" vigie ─ {incident}{run}{recording}{damage}");
    let with_title = |text: &str, title_room: usize| text.replacen(TITLE_SLOT, &fit(&title, title_room), 1);
    let whole = with_title(&format!("{essential} ─ {hosts}{source}"), usize::MAX);
    // Everything but the title (its slot is one character).
    let others = |text: &str| {
        text.chars()
            .count()
            .saturating_sub(usize::from(text.contains(TITLE_SLOT)))
    };
    let compact_recording = with_sync(true);
    let left = if whole.chars().count() <= room {
        whole
    } else {
        let recording = compact_recording;
        let essential = format!(" vigie ─ {incident}{run}{recording}{damage}");
        // The program's name gives way too when even a short title would not fit.
        let short = format!(" {incident}{run}{recording}{damage}");
        let essential = if others(&essential) + 8 > room {
            short
        } else {
            essential
        };
        fit(
            &with_title(&essential, room.saturating_sub(others(&essential)).max(8)),
            room,
        )
    };
    let padding = room.saturating_sub(left.chars().count());
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

fn render_prompt(frame: &mut Frame, area: Rect, prompt: &Prompt) {
    let (rows, cursor_row) = prompt_rows(prompt, area.width as usize);
    // The rows around the cursor when they do not all fit.
    let first = (cursor_row + 1).saturating_sub(area.height as usize);
    let shown: Vec<Line> = rows.into_iter().skip(first).take(area.height as usize).collect();
    frame.render_widget(Paragraph::new(shown), area);
}

/// The prompt as rows of `width` columns: its label, the text broken at
/// its line breaks and wherever a row is full (never cut), the cursor
/// where it is (a block at the end, the character under it reversed),
/// then the keys that finish it if they fit whole. Also the cursor's row.
fn prompt_rows(prompt: &Prompt, width: usize) -> (Vec<Line<'static>>, usize) {
    use unicode_width::UnicodeWidthChar;
    let width = width.max(8);
    let label = Span::styled(
        format!(" {}> ", prompt.kind.label()),
        Style::new().add_modifier(Modifier::BOLD),
    );
    // Every row after the first starts under the text, not under the label.
    let indent = label.width().min(width / 2);
    let mut used = label.width();
    let mut row: Vec<Span<'static>> = vec![label];
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut cursor_row = 0;
    let text: Vec<char> = vigie_core::sanitize::terminal_safe(prompt.text.value())
        .chars()
        .collect();
    let cursor = prompt.text.cursor();
    // One more cell than characters: the block after the last one.
    for i in 0..=text.len() {
        let c = text.get(i).copied();
        let shown = match c {
            Some('\n') | None => ' ',
            Some(c) => c,
        };
        let w = shown.width().unwrap_or(1);
        if used + w > width {
            rows.push(Line::from(std::mem::replace(
                &mut row,
                vec![Span::raw(" ".repeat(indent))],
            )));
            used = indent;
        }
        if i == cursor {
            cursor_row = rows.len();
            row.push(match c {
                None => Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                Some(_) => Span::styled(shown.to_string(), Style::new().add_modifier(Modifier::REVERSED)),
            });
            used += w;
        } else if c.is_some_and(|c| c != '\n') {
            row.push(Span::raw(shown.to_string()));
            used += w;
        }
        if c == Some('\n') {
            rows.push(Line::from(std::mem::replace(
                &mut row,
                vec![Span::raw(" ".repeat(indent))],
            )));
            used = indent;
        }
    }
    let help = format!("   {}", prompt.kind.help());
    if used + help.chars().count() <= width {
        row.push(Span::styled(help, Style::new().fg(Color::DarkGray)));
    }
    rows.push(Line::from(row));
    (rows, cursor_row)
}

/// The keys of the focused pane, from the key table; then the last message.
fn render_hint_bar(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    let flash_style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    if let Some(flash) = app.flash.as_deref().map(one_line) {
        // A message as long as the line takes it all (ending in `…` if
        // longer): the keys give way, they come back with the next key.
        let width = area.width as usize;
        if flash.chars().count() + 4 > width.saturating_sub(12) {
            let line = Line::styled(format!(" {}", fit(&flash, width.saturating_sub(1))), flash_style);
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        spans.push(Span::styled(format!(" {flash} ·"), flash_style));
    }
    // An overlay says its own keys; under it, these would only mislead.
    if app.overlay.is_some() {
        spans.push(Span::styled(" Esc ", Style::new().add_modifier(Modifier::BOLD)));
        spans.push(Span::raw("closes"));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // `?` and `:` first (the ways to every other key and command), then the
    // keys of the pane in focus that would do something now, then the
    // global ones, and `q` kept at the end; a hint that does not fit whole
    // is left out, never cut in the middle.
    let read_only = if app.read_only { " READ-ONLY".len() } else { 0 };
    let mut room = (area.width as usize).saturating_sub(read_only);
    room = room.saturating_sub(spans.iter().map(|s| s.width()).sum::<usize>());
    let context = app.context();
    let active: Vec<_> = app
        .keymap
        .active(context, app.read_only)
        .filter(|b| b.binding.in_hint_bar && app.hint_applies(b.binding.name))
        .collect();
    let first = ["help", "palette"];
    let (leading, others): (Vec<_>, Vec<_>) = active.into_iter().partition(|b| first.contains(&b.binding.name));
    let (quit, others): (Vec<_>, Vec<_>) = others.into_iter().partition(|b| b.binding.name == "quit");
    let (own, global): (Vec<_>, Vec<_>) = others.into_iter().partition(|b| b.binding.context == context);
    let hint = |bound: &vigie_core::keys::Bound| {
        (
            format!(" {} ", bound.label()),
            format!("{} ", bound.binding.description),
        )
    };
    let quit_width: usize = quit
        .iter()
        .map(|b| hint(b).0.chars().count() + hint(b).1.chars().count())
        .sum();
    room = room.saturating_sub(quit_width);
    for bound in leading.iter().chain(&own).chain(&global) {
        let (key, what) = hint(bound);
        let needed = key.chars().count() + what.chars().count();
        if needed > room {
            continue;
        }
        room -= needed;
        spans.push(Span::styled(key, Style::new().add_modifier(Modifier::BOLD)));
        spans.push(Span::raw(what));
    }
    for bound in &quit {
        let (key, what) = hint(bound);
        spans.push(Span::styled(key, Style::new().add_modifier(Modifier::BOLD)));
        spans.push(Span::raw(what));
    }
    if app.read_only {
        spans.push(Span::styled(" READ-ONLY", Style::new().fg(Color::Magenta)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A text sparkline of `values` (missing samples as spaces), scaled to its maximum.
pub(super) fn sparkline(values: &[Option<f64>], floor_max: f64) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().fold(floor_max, |m, v| m.max(*v));
    values
        .iter()
        .map(|v| match v {
            Some(v) if max > 0.0 => LEVELS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize],
            Some(_) => LEVELS[0],
            None => ' ',
        })
        .collect()
}

/// Where a list scrolls so that `selected` stays visible: the view and the
/// mouse both use it.
pub fn scroll_offset(selected: usize, rows: usize) -> usize {
    (selected + 1).saturating_sub(rows.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_their_maximum() {
        assert_eq!(sparkline(&[Some(0.0), Some(1.0), None, Some(2.0)], 0.0), "▁▅ █");
        assert_eq!(sparkline(&[Some(0.5)], 4.0), "▂", "a floor keeps calm hosts calm");
    }

    #[test]
    fn a_row_too_long_ends_in_an_ellipsis() {
        let line = fit_spans(
            vec![Span::raw("12 "), Span::raw("alice "), Span::raw("note: a long one")],
            14,
        );
        assert_eq!(line.to_string(), "12 alice note…");
        assert_eq!(line.width(), 14);
        assert_eq!(fit_spans(vec![Span::raw("short")], 14).to_string(), "short");
    }

    #[test]
    fn long_text_wraps_at_spaces() {
        assert_eq!(
            wrap_words("chat, wiki and mail are down", 12),
            vec!["chat, wiki", "and mail are", "down"]
        );
        assert_eq!(wrap_words("abcdefghij xy", 4), vec!["abcd", "efgh", "ij", "xy"]);
        assert_eq!(wrap_words("", 4), vec![""]);
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        assert_eq!(scroll_offset(3, 10), 0);
        assert_eq!(scroll_offset(12, 10), 3);
    }
}
