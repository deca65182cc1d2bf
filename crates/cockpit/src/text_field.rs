//! One line of text being typed (a note, a reason, a title, the filter),
//! with the editing keys a shell has: ← → Home End, Ctrl-A/E, Ctrl-B/F,
//! Alt-B/F, Ctrl-W, Ctrl-U, Ctrl-K, Delete. The editing itself is
//! `tui-input`'s; this keeps the state comparable and the cockpit's own
//! keys (Enter, Esc) out of it.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

#[derive(Debug, Clone, Default)]
pub struct TextField(Input);

impl PartialEq for TextField {
    fn eq(&self, other: &TextField) -> bool {
        self.0.value() == other.0.value() && self.0.cursor() == other.0.cursor()
    }
}

impl Eq for TextField {}

impl From<String> for TextField {
    fn from(text: String) -> TextField {
        TextField(Input::new(text))
    }
}

impl From<&str> for TextField {
    fn from(text: &str) -> TextField {
        TextField::from(text.to_string())
    }
}

impl TextField {
    /// `value` with the cursor at character `cursor` (clamped to its end).
    pub fn with_cursor(value: &str, cursor: usize) -> TextField {
        TextField(Input::new(value.to_string()).with_cursor(cursor))
    }

    pub fn value(&self) -> &str {
        self.0.value()
    }

    /// Where the cursor is, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.0.cursor()
    }

    /// An editing key; `false` when the key is not one (Enter, Esc, Tab...).
    /// In text of several lines, Home/End, Ctrl-A/E/U/K and ↑/↓ act on the
    /// line the cursor is on, as a shell's editor does.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        if self.0.value().contains('\n') && self.edit_line(key) {
            return true;
        }
        self.edit(key)
    }

    /// The line-wise keys of text of several lines; `false` for the others.
    fn edit_line(&mut self, key: KeyEvent) -> bool {
        let chars: Vec<char> = self.0.value().chars().collect();
        let cursor = self.0.cursor().min(chars.len());
        let start = chars[..cursor].iter().rposition(|c| *c == '\n').map_or(0, |i| i + 1);
        let end = chars[cursor..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |i| cursor + i);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let (text, at): (Vec<char>, usize) = match key.code {
            KeyCode::Home => (chars, start),
            KeyCode::Char('a') if ctrl => (chars, start),
            KeyCode::End => (chars, end),
            KeyCode::Char('e') if ctrl => (chars, end),
            KeyCode::Char('u') if ctrl => ([&chars[..start], &chars[cursor..]].concat(), start),
            KeyCode::Char('k') if ctrl => ([&chars[..cursor], &chars[end..]].concat(), cursor),
            KeyCode::Up if start > 0 => {
                let above = chars[..start - 1].iter().rposition(|c| *c == '\n').map_or(0, |i| i + 1);
                let at = (above + (cursor - start)).min(start - 1);
                (chars, at)
            }
            KeyCode::Down if end < chars.len() => {
                let below_end = chars[end + 1..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(chars.len(), |i| end + 1 + i);
                let at = (end + 1 + (cursor - start)).min(below_end);
                (chars, at)
            }
            _ => return false,
        };
        self.0 = Input::new(text.into_iter().collect()).with_cursor(at);
        true
    }

    fn edit(&mut self, key: KeyEvent) -> bool {
        if matches!(
            key.code,
            KeyCode::Enter | KeyCode::Esc | KeyCode::Tab | KeyCode::BackTab
        ) {
            return false;
        }
        // Terminals send Alt-B/F/D as ESC + letter, which crossterm reads
        // as Alt; tui-input knows these words moves as Meta.
        let key = match key.code {
            KeyCode::Char('b' | 'f' | 'd') if key.modifiers == KeyModifiers::ALT => {
                KeyEvent::new(key.code, KeyModifiers::META)
            }
            _ => key,
        };
        match to_input_request(&Event::Key(key)) {
            // Control characters never enter the text (a stray Ctrl-key is not a letter).
            Some(InputRequest::InsertChar(c)) if c.is_control() => true,
            Some(request) => {
                self.0.handle(request);
                true
            }
            None => false,
        }
    }

    /// Pasted text, at the cursor; a pasted line break becomes a space.
    pub fn insert(&mut self, text: &str) {
        self.insert_text(text, false);
    }

    /// Pasted text, at the cursor, its line breaks kept (`\r\n` and `\r`
    /// as `\n`): for a note, where a pasted log stays a log.
    pub fn insert_lines(&mut self, text: &str) {
        self.insert_text(&text.replace("\r\n", "\n").replace('\r', "\n"), true);
    }

    /// A line break at the cursor (Alt-Enter or Ctrl-J in a note).
    pub fn insert_line_break(&mut self) {
        self.0.handle(InputRequest::InsertChar('\n'));
    }

    fn insert_text(&mut self, text: &str, keep_lines: bool) {
        for c in text.chars() {
            let c = match c {
                '\n' if keep_lines => '\n',
                '\n' | '\r' | '\t' => ' ',
                c => c,
            };
            if c == '\n' || !c.is_control() {
                self.0.handle(InputRequest::InsertChar(c));
            }
        }
    }

    /// The text before the cursor, the character under it (a space at the
    /// end), and the rest: what the prompt line draws around its cursor.
    pub fn split_at_cursor(&self) -> (String, String, String) {
        let chars: Vec<char> = self.0.value().chars().collect();
        let at = self.0.cursor().min(chars.len());
        let before: String = chars[..at].iter().collect();
        let under = chars.get(at).map(|c| c.to_string()).unwrap_or_else(|| " ".into());
        let after: String = chars
            .get(at + 1..)
            .map(|rest| rest.iter().collect())
            .unwrap_or_default();
        (before, under, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shell_editing_keys_edit_where_the_cursor_is() {
        let mut field = TextField::default();
        for c in "node is down".chars() {
            field.handle_key(key(KeyCode::Char(c), KeyModifiers::NONE));
        }
        field.handle_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(field.value(), "node is ");
        field.handle_key(key(KeyCode::Char('b'), KeyModifiers::ALT));
        field.handle_key(key(KeyCode::Char('y'), KeyModifiers::NONE));
        assert_eq!(field.value(), "node yis ", "Alt-B: a word back, as terminals send it");
        field.handle_key(key(KeyCode::Backspace, KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Home, KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(field.value(), "xnode is ");
        field.handle_key(key(KeyCode::Delete, KeyModifiers::NONE));
        assert_eq!(field.value(), "xode is ");
        field.handle_key(key(KeyCode::Char('e'), KeyModifiers::CONTROL));
        field.handle_key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(field.value(), "");
        field.insert("two\nlines");
        assert_eq!(field.value(), "two lines");
        field.handle_key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        field.insert_lines("dmesg:\r\nI/O error\rdev sda\x1b");
        assert_eq!(field.value(), "dmesg:\nI/O error\ndev sda");
        // Line-wise in text of several lines: ↑ to the line above, Ctrl-U
        // empties the line before the cursor, End goes to its end.
        field.handle_key(key(KeyCode::Up, KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(field.value(), "dmesg:\nor\ndev sda");
        field.handle_key(key(KeyCode::End, KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Char('!'), KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Down, KeyModifiers::NONE));
        field.handle_key(key(KeyCode::Char('k'), KeyModifiers::CONTROL));
        assert_eq!(field.value(), "dmesg:\nor!\ndev");
        assert!(!field.handle_key(key(KeyCode::Enter, KeyModifiers::NONE)));
    }
}
