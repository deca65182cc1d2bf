//! The mouse, when `--mouse` or `settings.mouse` turns it on: a click
//! selects the host, event or step under it and focuses its pane; the wheel
//! moves the selection. Rows are found with the same layout the views draw.

use super::app::{App, Focus};
use super::keys::Action;
use super::views::{self, Areas};
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

impl App {
    /// Returns whether anything changed.
    pub fn handle_mouse(&mut self, event: MouseEvent, areas: &Areas) -> bool {
        if self.overlay.is_some() || self.prompt.is_some() {
            return false;
        }
        let at = Position::new(event.column, event.row);
        let pane = [
            (areas.hosts, Focus::Hosts),
            (areas.timeline, Focus::Timeline),
            (areas.run, Focus::Run),
        ]
        .into_iter()
        .find(|(area, _)| area.contains(at));
        let Some((area, focus)) = pane else {
            return false;
        };
        match event.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                self.focus = focus;
                let action = if event.kind == MouseEventKind::ScrollDown {
                    Action::SelectNext
                } else {
                    Action::SelectPrevious
                };
                self.apply_action(action);
                true
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = focus;
                if let Some(row) = row_in(area, at) {
                    self.click_row(focus, area, row);
                }
                true
            }
            _ => false,
        }
    }

    fn click_row(&mut self, focus: Focus, area: Rect, row: usize) {
        let rows = area.height.saturating_sub(2) as usize;
        match focus {
            Focus::Hosts => {
                let host_rows = views::host_rows(self);
                let selected_row = host_rows.iter().position(|p| *p == self.selected).unwrap_or(0);
                let offset = views::scroll_offset(selected_row, rows);
                if let Some(position) = host_rows.get(offset + row) {
                    self.selected = *position;
                }
            }
            Focus::Timeline => {
                let count = self.visible_timeline().len();
                let selected = self.timeline_cursor.unwrap_or(count.saturating_sub(1));
                let index = views::scroll_offset(selected, rows) + row;
                if index < count {
                    self.timeline_cursor = (index + 1 < count).then_some(index);
                }
            }
            Focus::Run => {
                if let Some(run) = self.run.as_mut() {
                    if row < run.steps.len() {
                        run.view_step(row);
                    }
                }
            }
        }
    }
}

/// The list row under `at`, inside the pane's border.
fn row_in(area: Rect, at: Position) -> Option<usize> {
    let top = area.y + 1;
    (at.y >= top && at.y < area.y + area.height.saturating_sub(1)).then(|| (at.y - top) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn click(app: &mut App, column: u16, row: u16, kind: MouseEventKind) -> bool {
        let areas = views::layout(Rect::new(0, 0, 100, 30), app);
        let event = MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        };
        app.handle_mouse(event, &areas)
    }

    #[test]
    fn a_click_selects_the_host_under_it_and_the_wheel_moves() {
        let config = vigie_core::config::Config::parse(
            std::path::Path::new("v.toml"),
            "[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"b\"\n[[hosts]]\nname = \"c\"\n",
        )
        .unwrap();
        let mut app = App::new(&config, chrono::Utc::now());
        // Row 0 is the header, row 1 the pane's border: the third host is on row 4.
        assert!(click(&mut app, 3, 4, MouseEventKind::Down(MouseButton::Left)));
        assert_eq!(app.selected, 2);
        assert!(click(&mut app, 3, 4, MouseEventKind::ScrollUp));
        assert_eq!(app.selected, 1);
        assert!(
            !click(&mut app, 3, 29, MouseEventKind::Down(MouseButton::Left)),
            "the hint bar is no pane"
        );
    }
}
