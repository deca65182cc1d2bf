//! What is drawn over the panes: the help, the `:` palette, a playbook's
//! inputs form, a picker, and the popups that ask before anything happens.

use crate::app::{App, Overlay, Picker, Popup, PopupKind};
use crate::form::InputForm;
use crate::keys::Context;
use crate::palette::Palette;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::collections::BTreeMap;
use vigie_core::playbook::engine::{command_target, Question};
use vigie_core::sanitize::one_line;
use vigie_core::timeline::payload::Kind;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, overlay: &Overlay) {
    match overlay {
        Overlay::Help => render_help(frame, area, app),
        Overlay::Event { id, scroll } => render_event(frame, area, app, id, *scroll),
        Overlay::Palette(palette) => render_palette(frame, area, app, palette),
        Overlay::Form(form) => render_form(frame, area, form),
        Overlay::Picker(picker) => render_picker(frame, area, picker),
        Overlay::Popup(popup) => render_popup(frame, area, app, popup),
    }
}

/// A box of `width`×`height` centred in `area`, cleared.
fn centred(frame: &mut Frame, area: Rect, width: u16, height: u16) -> Rect {
    let popup = centred_rect(area, width, height);
    frame.render_widget(Clear, popup);
    popup
}

/// Where a box of `width`×`height` sits centred in `area` (nothing drawn).
fn centred_rect(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn boxed(title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .title(Span::styled(title, Style::new().add_modifier(Modifier::BOLD)))
}

const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);

fn render_help(frame: &mut Frame, area: Rect, app: &App) {
    // Each action's name (what `[keys]` rebinds) after it when the screen is
    // wide enough for it; without them everything fits on 80x24.
    let with_names = render_help_columns(app, true);
    let fits = |(left, right): &(Vec<Line<'static>>, Vec<Line<'static>>)| {
        let widest = |lines: &[Line]| lines.iter().map(|l| l.width()).max().unwrap_or(0);
        widest(left) + widest(right) + 7 <= area.width as usize
    };
    let (left, right) = if fits(&with_names) {
        with_names
    } else {
        render_help_columns(app, false)
    };
    render_help_box(frame, area, left, right);
}

/// The help's two columns: the global keys, then each pane's.
fn render_help_columns(app: &App, names: bool) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    // The names line up in a column after the longest description.
    let described = app
        .keymap
        .all(app.read_only)
        .map(|b| b.binding.description.chars().count())
        .max()
        .unwrap_or(0);
    let section = |contexts: &[Context]| {
        let mut lines = Vec::new();
        for context in contexts {
            let bound: Vec<_> = app
                .keymap
                .all(app.read_only)
                .filter(|b| b.binding.context == *context)
                .collect();
            if bound.is_empty() {
                continue;
            }
            lines.push(Line::styled(context.title().to_uppercase(), BOLD));
            for b in bound {
                let mut spans = vec![Span::styled(format!(" {:<8}", b.label()), BOLD)];
                if names {
                    spans.push(Span::raw(format!("{:<described$}", b.binding.description)));
                    spans.push(Span::styled(format!("  {}", b.binding.name), DIM));
                } else {
                    spans.push(Span::raw(b.binding.description));
                }
                lines.push(Line::from(spans));
            }
        }
        lines
    };
    let mut left = section(&[Context::Global]);
    left.push(Line::from(vec![
        Span::styled(format!(" {:<8}", "Ctrl-C"), BOLD),
        Span::raw("quit"),
    ]));
    let mut right = section(&[Context::Hosts, Context::Timeline, Context::Run]);
    if app.read_only {
        right.push(Line::styled("read-only: acting keys are off", DIM));
    }
    (left, right)
}

fn render_help_box(frame: &mut Frame, area: Rect, left: Vec<Line<'static>>, right: Vec<Line<'static>>) {
    let height = left.len().max(right.len()) as u16 + 2;
    // Each column as wide as its longest line, two spaces between them: a
    // description never runs into the other column.
    let widest = |lines: &[Line]| lines.iter().map(|l| l.width()).max().unwrap_or(0) as u16;
    let left_width = widest(&left) + 2;
    let width = (left_width + widest(&right) + 3).max(50);
    let popup = centred(frame, area, width, height);
    let block = boxed(" keys · rename them in [keys] of vigie.toml ".into());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [first, second] = ratatui::layout::Layout::horizontal([
        ratatui::layout::Constraint::Length(left_width),
        ratatui::layout::Constraint::Min(10),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(left), first);
    frame.render_widget(Paragraph::new(right), second);
}

/// The event overlay's width, and the rows of text it shows at once.
fn event_geometry(area: Rect) -> (u16, usize) {
    let width = area.width.saturating_sub(8).clamp(40, 110);
    // Borders, the position line and the keys line.
    (width, area.height.saturating_sub(6).max(1) as usize)
}

/// How far the event overlay may scroll on a screen of `area`: its last
/// line at the bottom.
pub fn event_scroll_limit(app: &App, area: Rect, id: &str) -> usize {
    let (width, room) = event_geometry(area);
    event_lines(app, id, width.saturating_sub(4) as usize)
        .len()
        .saturating_sub(room)
}

/// A timeline event whole: what a row cuts, every field of its data (the
/// output of a command included), and the amendments made to it; the
/// arrows scroll what does not fit.
fn render_event(frame: &mut Frame, area: Rect, app: &App, id: &str, scroll: usize) {
    let (width, room) = event_geometry(area);
    let all = event_lines(app, id, width.saturating_sub(4) as usize);
    if all.is_empty() {
        return;
    }
    let first = scroll.min(all.len().saturating_sub(room));
    let count = all.len();
    let mut lines: Vec<Line> = all.into_iter().skip(first).take(room).collect();
    let shown = lines.len();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        if shown < count {
            format!(
                "lines {}–{} of {count} · ↑↓ PgUp PgDn Home End scroll · Esc closes",
                first + 1,
                first + shown
            )
        } else {
            "Esc closes".to_string()
        },
        DIM,
    ));
    let popup = centred(frame, area, width, lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines).block(boxed(" event ".into())), popup);
}

/// Every line of the event overlay, in `text_width` columns.
fn event_lines(app: &App, id: &str, text_width: usize) -> Vec<Line<'static>> {
    let Some(event) = app.timeline.iter().find(|e| e.id == id) else {
        return Vec::new();
    };
    let mut lines = vec![
        Line::styled(
            format!(
                "#{} {} · {} · {}",
                event.seq,
                event.at.format("%H:%M:%S"),
                one_line(&event.actor),
                event.kind
            ),
            BOLD,
        ),
        Line::raw(""),
    ];
    // A note of several lines keeps them.
    for line in vigie_core::timeline::view::describe_whole(event, &event.payload()).lines() {
        lines.extend(super::wrap_words(line, text_width).into_iter().map(Line::raw));
    }
    if let Some(map) = event.data.as_object() {
        lines.push(Line::raw(""));
        // The fields, but not again the text just shown whole, nor the empty ones.
        let shown_above = matches!(event.kind_of(), Kind::Note | Kind::Decision | Kind::ActionItem);
        for (key, value) in map {
            if value.is_null() || (shown_above && key == "text") {
                continue;
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut first = true;
            for line in vigie_core::sanitize::terminal_safe(&text).lines() {
                for piece in super::wrap_words(line, text_width.saturating_sub(12)) {
                    let label = if first { format!("{key:<11} ") } else { " ".repeat(12) };
                    first = false;
                    lines.push(Line::from(vec![Span::styled(label, DIM), Span::raw(piece)]));
                }
            }
        }
    }
    let amendments: Vec<&vigie_core::timeline::Event> = app
        .timeline
        .iter()
        .filter(|e| vigie_core::timeline::view::amendment_of(e).is_some_and(|a| a.target == event.id))
        .collect();
    if !amendments.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("AMENDED", BOLD));
        for amendment in amendments {
            let text = format!(
                "#{} {} {}",
                amendment.seq,
                one_line(&amendment.actor),
                vigie_core::timeline::view::describe(amendment)
            );
            lines.extend(super::wrap_words(&text, text_width).into_iter().map(Line::raw));
        }
    }
    lines
}

fn render_palette(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let suggestions = palette.suggestions(app.read_only);
    let inner_width = area.width.min(90).saturating_sub(2) as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(":", BOLD),
            Span::raw(one_line(&palette.text)),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
        ]),
        Line::raw(""),
    ];
    // As many suggestions as fit under the line typed (its box starts two
    // rows down; the line, two blank rows, the keys and the borders take
    // six), the one chosen among them; their descriptions line up after
    // the longest argument shown.
    let rows = area.height.saturating_sub(8).max(1) as usize;
    let first = (palette.selected + 1).saturating_sub(rows);
    let argument_width = suggestions
        .iter()
        .skip(first)
        .take(rows)
        .map(|c| c.argument.chars().count())
        .max()
        .unwrap_or(0);
    for (i, command) in suggestions.iter().enumerate().skip(first).take(rows) {
        let style = if i == palette.selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(super::fit_spans(
            vec![
                Span::styled(format!(" {:<10}", command.name), style.add_modifier(Modifier::BOLD)),
                Span::styled(format!("{:<argument_width$} ", one_line(command.argument)), style),
                Span::styled(command.description, DIM),
            ],
            inner_width,
        ));
    }
    if suggestions.is_empty() {
        lines.push(Line::styled(" no such command", DIM));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        " Tab completes · ↑↓ choose · Enter runs · Esc closes",
        DIM,
    ));
    // Near the top, where the eye is after `:`; only its own cells are
    // cleared (the panes around it stay drawn).
    let popup = Rect {
        y: area.y + 2,
        ..centred_rect(area, 90, lines.len() as u16 + 2)
    };
    let popup = popup.intersection(area);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(boxed(" commands ".into())), popup);
}

fn render_form(frame: &mut Frame, area: Rect, form: &InputForm) {
    // Rows are broken here, at words, so that the box is as tall as they are.
    let inner = area.width.min(96).saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if let Some(origin) = &form.origin {
        lines.extend(
            super::wrap_words(&one_line(origin), inner)
                .into_iter()
                .map(|l| Line::styled(l, DIM)),
        );
        lines.push(Line::raw(""));
    }
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.focused;
        let value = if field.is_secret() {
            "•".repeat(field.value.chars().count())
        } else {
            one_line(&field.value)
        };
        let marker = if focused { "▸" } else { " " };
        let mut spans = vec![Span::styled(format!("{marker} {:<14}", one_line(&field.name)), BOLD)];
        let underlined = Style::new().add_modifier(Modifier::UNDERLINED);
        if focused && !field.is_secret() && field.options.is_empty() {
            // Free text: the cursor where it is.
            let text = crate::text_field::TextField::with_cursor(&field.value, field.text_cursor);
            let (before, under, after) = text.split_at_cursor();
            spans.push(Span::styled(one_line(&before), underlined));
            spans.push(match (under.as_str(), after.is_empty()) {
                (" ", true) => Span::styled("█", underlined),
                _ => Span::styled(one_line(&under), underlined.add_modifier(Modifier::REVERSED)),
            });
            spans.push(Span::styled(one_line(&after), underlined));
        } else {
            spans.push(Span::styled(
                format!("{value}{}", if focused { "█" } else { "" }),
                if focused { underlined } else { Style::new() },
            ));
        }
        if !field.options.is_empty() {
            let hint = if field.is_multi() {
                let cursor = field.options.get(field.cursor).map(|o| one_line(o)).unwrap_or_default();
                format!("   ←→ {cursor} · space picks ({} VMs)", field.options.len())
            } else {
                match form.pickable(i) {
                    0 => "   no option left".to_string(),
                    1 => "   ←→ 1 option".to_string(),
                    n => format!("   ←→ {n} options"),
                }
            };
            spans.push(Span::styled(hint, DIM));
        }
        lines.push(super::fit_spans(spans, inner));
        if focused {
            // What the field is, and the pattern it must match, under its value.
            let kind = format!("{:?}", field.kind).to_lowercase();
            let mut about = field
                .description
                .as_deref()
                .map(|d| format!("{kind}: {}", one_line(d)))
                .unwrap_or(kind);
            if let Some(pattern) = form.playbook.inputs.get(&field.name).and_then(|i| i.pattern.as_ref()) {
                about.push_str(&format!(" · must match {}", one_line(pattern)));
            }
            let indent = " ".repeat(16);
            for row in super::wrap_words(&about, inner.saturating_sub(16)) {
                lines.push(Line::styled(format!("{indent}{row}"), DIM));
            }
        }
    }
    for problem in &form.problems {
        for row in super::wrap_words(&format!("✖ {}", one_line(problem)), inner) {
            lines.push(Line::styled(row, Style::new().fg(Color::Red)));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "↑↓ field · type or ←→ pick · Enter checks and starts · Esc cancels",
        DIM,
    ));
    let popup = centred(frame, area, 96, lines.len() as u16 + 2);
    let title = super::fit(
        &format!("{} — {}", form.playbook.id, one_line(&form.playbook.title)),
        inner.saturating_sub(2),
    );
    frame.render_widget(Paragraph::new(lines).block(boxed(format!(" {title} "))), popup);
}

fn render_picker(frame: &mut Frame, area: Rect, picker: &Picker) {
    let visible = picker.visible();
    let mut lines: Vec<Line> = visible
        .iter()
        .enumerate()
        .map(|(row, &index)| {
            let style = if row == picker.selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            // Within the screen, a long title ending in `…`.
            let room = area.width.saturating_sub(4) as usize;
            Line::styled(
                super::fit(&format!(" {} ", one_line(&picker.options[index].1)), room),
                style,
            )
        })
        .collect();
    if visible.is_empty() {
        lines.push(Line::styled(" nothing matches", DIM));
    }
    lines.push(Line::raw(""));
    if !picker.filter.is_empty() {
        lines.push(Line::raw(format!(" filter: {}█", one_line(&picker.filter))));
    }
    lines.push(Line::styled(
        " type to filter · ↑↓ Home End choose · Enter · Esc cancels",
        DIM,
    ));
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 4;
    let popup = centred(frame, area, width.max(40), lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines).block(boxed(format!(" {} ", picker.title))), popup);
}

fn render_popup(frame: &mut Frame, area: Rect, app: &App, popup: &Popup) {
    let step_title = |step: usize| {
        app.run
            .as_ref()
            .and_then(|r| r.playbook.steps.get(step))
            .or_else(|| app.pending_form.as_ref().and_then(|f| f.playbook.steps.get(step)))
            .map(|s| one_line(&s.title))
            .unwrap_or_default()
    };
    let (title, mut lines) = match &popup.kind {
        PopupKind::StartRun { values, resumable } => (
            " start the playbook? ".to_string(),
            start_run_lines(app, values, *resumable),
        ),
        PopupKind::Answer(Question::Confirm { step, expected }) => (
            " run this step? ".to_string(),
            confirm_lines(app, popup, *step, expected, &step_title(*step), area),
        ),
        PopupKind::Answer(Question::Manual { step, .. }) => (
            " done by hand? ".to_string(),
            vec![Line::styled(format!("Step {}: {}", step + 1, step_title(*step)), BOLD)],
        ),
        PopupKind::Answer(Question::Recovery { step, error }) => (
            " the step failed ".to_string(),
            vec![
                Line::styled(format!("Step {}: {}", step + 1, step_title(*step)), BOLD),
                Line::styled(one_line(error), Style::new().fg(Color::Red)),
                Line::raw("Retry it, skip it (with a reason), or abort the run?"),
            ],
        ),
        PopupKind::QuitDuringRun => (
            " quit? ".to_string(),
            vec![
                Line::raw("A playbook run is not finished."),
                Line::raw("Quitting stops a command that is running (its end is"),
                Line::raw("recorded) and leaves the run where it is: opening the"),
                Line::raw("playbook again (here or with `vigie run`) offers to take it up."),
            ],
        ),
    };
    push_error_and_buttons(&mut lines, popup);
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(30) as u16 + 4;
    let popup_area = centred(frame, area, width.clamp(40, 90), lines.len() as u16 + 2);
    frame.render_widget(
        Paragraph::new(lines).block(boxed(title)).wrap(Wrap { trim: false }),
        popup_area,
    );
}

/// The inputs a run is about to start with, in the form's order, secrets hidden.
fn start_run_lines(app: &App, values: &BTreeMap<String, String>, resumable: bool) -> Vec<Line<'static>> {
    let playbook = app
        .pending_form
        .as_ref()
        .map(|f| f.playbook.id.clone())
        .unwrap_or_default();
    let mut lines = vec![Line::raw(format!("Start {playbook} with:"))];
    let secret = |name: &str| {
        app.pending_form
            .as_ref()
            .and_then(|f| f.fields.iter().find(|x| x.name == name))
            .is_some_and(|f| f.is_secret())
    };
    // In the form's order (the playbook's), not by name.
    let order: Vec<&str> = app
        .pending_form
        .as_ref()
        .map(|f| f.fields.iter().map(|x| x.name.as_str()).collect())
        .unwrap_or_default();
    let mut values: Vec<(&String, &String)> = values.iter().collect();
    values.sort_by_key(|(name, _)| order.iter().position(|o| o == name).unwrap_or(usize::MAX));
    for (name, value) in values {
        let shown = if secret(name) {
            "[secret]".to_string()
        } else {
            one_line(value)
        };
        lines.push(Line::raw(format!("  {name} = {shown}")));
    }
    if resumable {
        lines.push(Line::raw("An earlier run stopped in the middle: take it up (finished"));
        lines.push(Line::raw("steps are not run again), or start anew from step 1?"));
    }
    lines.push(Line::raw("Each step waits for you before it runs."));
    lines
}

/// The script the step sends, as the popup shows it: its first lines (the
/// run pane behind has the whole of it).
fn script_lines(lines: &mut Vec<Line<'static>>, app: &App, step: usize, room: ScriptRoom) {
    let Some(command) = app
        .run
        .as_ref()
        .and_then(|r| r.playbook.steps.get(step))
        .and_then(|s| s.command.as_ref())
    else {
        return;
    };
    let script: Vec<&str> = command.script.lines().collect();
    // All of it, or as many as fit and a line saying how many more.
    let shown = if script.len() <= room.rows {
        script.len()
    } else {
        room.rows.saturating_sub(1)
    };
    for line in script.iter().take(shown) {
        // One row each (the box is as tall as its lines): a long one ends in `…`.
        lines.push(Line::styled(
            super::fit(&format!("  $ {}", vigie_core::sanitize::one_line(line)), room.width),
            Style::new().fg(Color::Cyan),
        ));
    }
    if script.len() > shown && room.rows > 0 {
        lines.push(Line::styled(
            format!("  … {} more line(s), in the run pane", script.len() - shown),
            DIM,
        ));
    }
}

/// Where a popup shows a script: how many rows, how wide.
#[derive(Clone, Copy)]
struct ScriptRoom {
    rows: usize,
    width: usize,
}

/// What running the step does: where it runs, or the name to type for a high-risk one.
fn confirm_lines(app: &App, popup: &Popup, step: usize, expected: &str, title: &str, area: Rect) -> Vec<Line<'static>> {
    // The script's lines get what the screen leaves after the popup's other
    // rows (title, warning, typed name, error, buttons, keys, borders: 10),
    // each in the popup's width.
    let script = ScriptRoom {
        rows: (area.height as usize).saturating_sub(12).min(8),
        width: (area.width.min(90) as usize).saturating_sub(4),
    };
    let run = app.run.as_ref();
    let mut lines = vec![Line::styled(format!("Step {}: {}", step + 1, title), BOLD)];
    if expected.is_empty() {
        // Where it will run: the input's value, or the host or group named.
        let target = run
            .and_then(|r| {
                let command = r.playbook.steps.get(step)?.command.as_ref()?;
                command_target(&r.playbook, &r.inputs, command)
            })
            .map(|t| format!(" on {}", one_line(&t)))
            .unwrap_or_default();
        lines.push(Line::raw(format!("Run its command{target} now?")));
        script_lines(&mut lines, app, step, script);
    } else {
        lines.push(Line::styled(
            format!("HIGH RISK: it acts on {}.", one_line(expected)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
        script_lines(&mut lines, app, step, script);
        lines.push(Line::raw(format!("Type {} to run it:", one_line(expected))));
        lines.push(Line::from(vec![
            Span::raw("> "),
            Span::styled(
                format!("{}█", one_line(&popup.typed)),
                Style::new().add_modifier(Modifier::UNDERLINED),
            ),
        ]));
    }
    lines
}

/// The popup's error, if any, and its buttons (the focused one marked in text too).
fn push_error_and_buttons(lines: &mut Vec<Line<'static>>, popup: &Popup) {
    if let Some(error) = &popup.error {
        lines.push(Line::styled(one_line(error), Style::new().fg(Color::Red)));
    }
    lines.push(Line::raw(""));
    let mut buttons = Vec::new();
    for (i, label) in popup.kind.buttons().iter().enumerate() {
        let style = if i == popup.focus {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
        };
        // The focused button is also marked in text, for NO_COLOR and screen readers.
        let text = if i == popup.focus {
            format!("[>{label}<]")
        } else {
            format!("[ {label} ]")
        };
        buttons.push(Span::styled(text, style));
        buttons.push(Span::raw("  "));
    }
    lines.push(Line::from(buttons));
    lines.push(Line::styled("Tab/←→ move · Enter presses · Esc cancels", DIM));
}
