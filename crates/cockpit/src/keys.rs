//! The key table lives below the cockpit (`vigie_core::keys`, so that
//! `vigie check` can validate `[keys]`); here terminal events become its keys.

pub use vigie_core::keys::*;

use crossterm::event::{KeyCode as TermCode, KeyEvent, KeyModifiers};

/// The table's key for a terminal key event.
pub fn key_of(event: KeyEvent) -> Key {
    let code = match event.code {
        TermCode::Char(c) => KeyCode::Char(c),
        TermCode::Up => KeyCode::Up,
        TermCode::Down => KeyCode::Down,
        TermCode::Left => KeyCode::Left,
        TermCode::Right => KeyCode::Right,
        TermCode::Enter => KeyCode::Enter,
        TermCode::Esc => KeyCode::Esc,
        TermCode::Tab => KeyCode::Tab,
        TermCode::BackTab => KeyCode::BackTab,
        TermCode::Home => KeyCode::Home,
        TermCode::End => KeyCode::End,
        TermCode::PageUp => KeyCode::PageUp,
        TermCode::PageDown => KeyCode::PageDown,
        TermCode::Backspace => KeyCode::Backspace,
        TermCode::Delete => KeyCode::Delete,
        TermCode::Insert => KeyCode::Insert,
        TermCode::F(n) => KeyCode::F(n),
        _ => KeyCode::Other,
    };
    Key::new(code, event.modifiers.contains(KeyModifiers::CONTROL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_events_become_table_keys() {
        let ctrl_c = KeyEvent::new(TermCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(key_of(ctrl_c), Key::new(KeyCode::Char('c'), true));
        let f5 = KeyEvent::new(TermCode::F(5), KeyModifiers::NONE);
        assert_eq!(key_of(f5), Key::parse("f5").unwrap());
        let page = KeyEvent::new(TermCode::PageDown, KeyModifiers::SHIFT);
        assert_eq!(key_of(page), Key::parse("pgdn").unwrap());
    }
}
