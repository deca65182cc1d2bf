//! The playbook run: the steps with their state on the left, the viewed
//! step on the right (what it does, its command, checklist and live output),
//! and what the run waits for.

use super::pane;
use crate::app::{App, Focus};
use crate::run_view::{RunView, StepView};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;
use vigie_core::format::human_ms;
use vigie_core::playbook::engine::Outcome;
use vigie_core::playbook::format::{Risk, Step};
use vigie_core::sanitize::one_line;
use vigie_runtime::driver::{Question, StepState};

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(run) = &app.run else { return };
    let steps_width = (area.width / 3).clamp(24, 40);
    let [steps, detail] = Layout::horizontal([Constraint::Length(steps_width), Constraint::Min(20)]).areas(area);
    render_steps(frame, steps, run, app.focus == Focus::Run);
    render_step(frame, detail, run);
}

fn step_glyph(state: StepState) -> (&'static str, Color) {
    match state {
        StepState::Pending => ("○", Color::DarkGray),
        StepState::Running => ("▶", Color::Cyan),
        StepState::Done => ("✔", Color::Green),
        StepState::Skipped => ("↷", Color::Yellow),
        StepState::Failed => ("✖", Color::Red),
    }
}

fn render_steps(frame: &mut Frame, area: Rect, run: &RunView, focused: bool) {
    let items: Vec<ListItem> = run
        .playbook
        .steps
        .iter()
        .zip(&run.steps)
        .enumerate()
        .map(|(i, (step, view))| {
            let (glyph, colour) = step_glyph(view.state);
            let current = if i == run.current {
                Modifier::BOLD
            } else {
                Modifier::empty()
            };
            let risk = match step.command.as_ref().map(|c| c.risk) {
                Some(Risk::High) => " !",
                _ => "",
            };
            // Borders and the glyph take four columns; a long title ends in
            // `…`, the high-risk mark kept after it.
            let room = (area.width as usize).saturating_sub(4 + risk.len());
            ListItem::new(Line::from(vec![
                Span::styled(format!("{glyph} "), Style::new().fg(colour)),
                Span::styled(
                    format!(
                        "{}{risk}",
                        super::fit(&format!("{}. {}", i + 1, one_line(&step.title)), room)
                    ),
                    Style::new().add_modifier(current),
                ),
            ]))
        })
        .collect();
    let title = format!(" {} ", one_line(&run.playbook.id));
    let list = List::new(items)
        .block(pane(title, focused, area.width))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(run.viewed));
    frame.render_stateful_widget(list, area, &mut state);
}

fn render_step(frame: &mut Frame, area: Rect, run: &RunView) {
    let Some(step) = run.playbook.steps.get(run.viewed) else {
        return;
    };
    let view = &run.steps[run.viewed];
    let mut lines = vec![Line::styled(
        format!("{}. {}", run.viewed + 1, one_line(&step.title)),
        BOLD_STYLE,
    )];
    for text in step.description.lines() {
        lines.push(Line::raw(vigie_core::sanitize::terminal_safe(text)));
    }
    command_lines(&mut lines, run, step);
    expect_lines(&mut lines, step);
    // The detail's text width (the right column, inside its borders).
    let text_width = area.width.saturating_sub(2) as usize;
    // The output, then the boxes to tick against it: what the pane keeps
    // in view at its bottom while the run waits on them.
    output_lines(&mut lines, view);
    checklist_lines(&mut lines, run, step, view, text_width);
    let [body, banner] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    // Once a command has output, keep its newest lines in view; before, the
    // step's explanation from its first line.
    let inner_height = body.height.saturating_sub(2) as usize;
    let width = body.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    let scroll = if view.commands.is_empty() {
        0
    } else {
        rows.saturating_sub(inner_height) as u16
    };
    let inputs = run
        .inputs
        .iter()
        .map(|(k, v)| format!("{k}={}", one_line(v)))
        .collect::<Vec<_>>()
        .join(" ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(format!(" {} ", one_line(&inputs)), false, body.width))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        body,
    );
    render_banner(frame, banner, run);
}

/// The step's command: where it runs, its risk, its script.
fn command_lines(lines: &mut Vec<Line<'static>>, run: &RunView, step: &Step) {
    let bold = BOLD_STYLE;
    if let Some(command) = &step.command {
        let risk = if command.risk == Risk::High {
            " · HIGH RISK"
        } else {
            ""
        };
        let target = match run.inputs.get(&command.on) {
            Some(value) => format!("{} = {}", command.on, one_line(value)),
            None => command.on.clone(),
        };
        lines.push(Line::raw(""));
        lines.push(Line::styled(format!("on {target}{risk}"), bold));
        for script_line in command.script.lines() {
            lines.push(Line::styled(
                format!("  $ {}", vigie_core::sanitize::terminal_safe(script_line)),
                Style::new().fg(Color::Cyan),
            ));
        }
    }
}

/// What the command's output must show.
fn expect_lines(lines: &mut Vec<Line<'static>>, step: &Step) {
    let bold = BOLD_STYLE;
    if !step.expect.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("expects", bold));
        for expect in &step.expect {
            for pattern in expect.pattern.lines() {
                lines.push(Line::raw(format!("  {}", one_line(pattern))));
            }
        }
    }
}

/// The values the step captured for later steps: `log_pos = 1188`.
fn captured_lines(lines: &mut Vec<Line<'static>>, view: &StepView) {
    if view.captured.is_empty() {
        return;
    }
    lines.push(Line::raw(""));
    for (name, value) in &view.captured {
        lines.push(Line::from(vec![
            Span::styled("captured ", Style::new().fg(Color::Cyan)),
            Span::raw(format!("{} = {}", one_line(name), one_line(value))),
        ]));
    }
}

/// The checklist, its cursor on the current step.
fn checklist_lines(lines: &mut Vec<Line<'static>>, run: &RunView, step: &Step, view: &StepView, width: usize) {
    if !step.checklist.is_empty() {
        lines.push(Line::raw(""));
        for (i, (item, ticked)) in step.checklist.iter().zip(&view.ticked).enumerate() {
            let cursor = run.viewed == run.current && i == run.checklist_cursor;
            let style = if cursor {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            // A long item wraps under its text, not under its box.
            let rows = super::wrap_words(&one_line(item), width.saturating_sub(4).max(8));
            for (n, row) in rows.into_iter().enumerate() {
                let lead = match n {
                    0 => format!("[{}] ", if *ticked { "x" } else { " " }),
                    _ => "    ".to_string(),
                };
                lines.push(Line::styled(format!("{lead}{row}"), style));
            }
        }
    }
}

/// Each command's state and its live output, then what the step captured.
fn output_lines(lines: &mut Vec<Line<'static>>, view: &StepView) {
    let bold = BOLD_STYLE;
    captured_lines(lines, view);
    for command in &view.commands {
        // A group's runs are named by their host, already the target.
        let label = match command.item.as_ref().filter(|item| **item != command.target) {
            Some(item) => format!("{} ({})", one_line(&command.target), one_line(item)),
            None => one_line(&command.target),
        };
        let (state, colour) = match (&command.error, command.exit, command.running) {
            (_, _, true) => ("running…".to_string(), Color::Cyan),
            (Some(error), _, _) => (one_line(error), Color::Red),
            (None, Some(0), _) => (format!("exit 0 · {}", human_ms(command.ms as i64)), Color::Green),
            (None, Some(code), _) => (format!("exit {code} · {}", human_ms(command.ms as i64)), Color::Red),
            (None, None, _) => ("killed".to_string(), Color::Red),
        };
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(format!("▶ {label} "), bold),
            Span::styled(state, Style::new().fg(colour)),
        ]));
        if command.dropped_lines > 0 {
            lines.push(Line::styled(
                format!("  … {} earlier line(s), all in the timeline", command.dropped_lines),
                Style::new().fg(Color::DarkGray),
            ));
        }
        for line in &command.lines {
            lines.push(Line::raw(format!("  {line}")));
        }
    }
}

const BOLD_STYLE: Style = Style::new().add_modifier(Modifier::BOLD);

/// What the run waits for, in words, with the keys that answer.
fn render_banner(frame: &mut Frame, area: Rect, run: &RunView) {
    let (text, colour) = match (&run.outcome, &run.question) {
        (Some(Ok(Outcome::Completed)), _) => ("✔ completed: every step is in the timeline".to_string(), Color::Green),
        (Some(Ok(Outcome::Aborted)), _) => (
            match &run.abort_reason {
                Some(reason) => format!("✖ aborted: {}", one_line(reason)),
                None => "✖ aborted: the reason is in the timeline".to_string(),
            },
            Color::Yellow,
        ),
        (Some(Err(e)), _) => (format!("✖ stopped: {}", one_line(&e.to_string())), Color::Red),
        (None, Some(question)) if run.viewed != run.current => (
            format!(
                "Enter: on to step {} “{}”",
                question.step() + 1,
                run.playbook
                    .steps
                    .get(question.step())
                    .map(|s| one_line(&s.title))
                    .unwrap_or_default(),
            ),
            Color::Yellow,
        ),
        (None, Some(Question::Confirm { step, expected })) if expected.is_empty() => (
            format!("step {} waits for you: Enter to run it · s skip · a abort", step + 1),
            Color::Yellow,
        ),
        (None, Some(Question::Confirm { step, expected })) => (
            format!(
                "step {} is HIGH RISK on {}: Enter, then type its name · s skip · a abort",
                step + 1,
                one_line(expected)
            ),
            Color::Red,
        ),
        (None, Some(Question::Manual { step, .. })) => (
            format!(
                "step {}: tick its boxes (↑↓ choose, space ticks), then Enter · s skip",
                step + 1
            ),
            Color::Yellow,
        ),
        (None, Some(Question::Recovery { step, error })) => (
            format!(
                "step {} FAILED: {} · Enter for retry/skip/abort",
                step + 1,
                one_line(error)
            ),
            Color::Red,
        ),
        (None, None) if run.command_running() => ("running… x cancels the command".to_string(), Color::Cyan),
        (None, None) => ("working…".to_string(), Color::Cyan),
    };
    frame.render_widget(
        Paragraph::new(
            banner_rows(&text, area.width.saturating_sub(2) as usize)
                .into_iter()
                .map(|row| Line::styled(row, Style::new().fg(colour).add_modifier(Modifier::BOLD)))
                .collect::<Vec<_>>(),
        )
        .block(ratatui::widgets::Block::default().borders(ratatui::widgets::Borders::ALL)),
        area,
    );
}

/// The banner's text in rows of `width`, broken between its ` · ` parts
/// (a key never apart from what it does), a part too long for a row at
/// its words.
fn banner_rows(text: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for part in text.split(" · ") {
        match rows.last_mut() {
            Some(row) if row.chars().count() + 3 + part.chars().count() <= width => {
                row.push_str(" · ");
                row.push_str(part);
            }
            _ => rows.extend(super::wrap_words(part, width.max(1))),
        }
    }
    rows
}
