//! The one table of key bindings. Dispatch, the hint bar and the `?` overlay
//! are all derived from [`BINDINGS`], so they can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can ask the cockpit to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ToggleHelp,
    SelectNext,
    SelectPrevious,
    SelectFirst,
    SelectLast,
    CloseOverlay,
    ToggleFaulty,
    Filter,
    Note,
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the key is written in the hint bar and the help overlay.
    pub label: &'static str,
    pub action: Action,
    pub description: &'static str,
    /// Shown in the hint bar (the rest only in `?`).
    pub in_hint_bar: bool,
    /// Changes something (the timeline, a host): removed in read-only mode.
    pub acts: bool,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('?')],
        label: "?",
        action: Action::ToggleHelp,
        description: "help",
        in_hint_bar: true,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('j')],
        label: "↓/j",
        action: Action::SelectNext,
        description: "next host",
        in_hint_bar: true,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('k')],
        label: "↑/k",
        action: Action::SelectPrevious,
        description: "previous host",
        in_hint_bar: true,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Home, KeyCode::Char('g')],
        label: "g",
        action: Action::SelectFirst,
        description: "first host",
        in_hint_bar: false,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::End, KeyCode::Char('G')],
        label: "G",
        action: Action::SelectLast,
        description: "last host",
        in_hint_bar: false,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Esc],
        label: "Esc",
        action: Action::CloseOverlay,
        description: "close the overlay",
        in_hint_bar: false,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        label: "n",
        action: Action::Note,
        description: "note",
        in_hint_bar: true,
        acts: true,
    },
    Binding {
        keys: &[KeyCode::Char('f')],
        label: "f",
        action: Action::ToggleFaulty,
        description: "faulty only",
        in_hint_bar: true,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        label: "/",
        action: Action::Filter,
        description: "filter",
        in_hint_bar: true,
        acts: false,
    },
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        action: Action::Quit,
        description: "quit",
        in_hint_bar: true,
        acts: false,
    },
];

/// The bindings in force: in read-only mode every acting one is gone, from
/// dispatch, the hint bar and the help alike (this is the one place).
pub fn active_bindings(read_only: bool) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| !(read_only && b.acts))
}

/// The action bound to `key`, if any. Ctrl-C always quits.
pub fn action_for(key: KeyEvent, read_only: bool) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    active_bindings(read_only)
        .find(|b| b.keys.contains(&key.code))
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for binding in BINDINGS {
            for key in binding.keys {
                assert!(!seen.contains(key), "{key:?} bound twice");
                seen.push(*key);
            }
        }
    }

    #[test]
    fn dispatch_follows_the_table() {
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(action_for(q, false), Some(Action::Quit));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c, false), Some(Action::Quit));
        let x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(action_for(x, false), None);
        let n = KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE);
        assert_eq!(action_for(n, false), Some(Action::Note));
        assert_eq!(action_for(n, true), None, "read-only removes acting keys");
        assert!(active_bindings(true).all(|b| !b.acts));
    }
}
