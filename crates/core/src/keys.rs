//! The one table of key actions. Dispatch, the hint bar, the `?` overlay and
//! the `[keys]` section of vigie.toml are all derived from [`BINDINGS`], so
//! they can never disagree; `--read-only` removes acting actions here, once.

use crate::config::{Diagnostic, KeyOverride};

/// The keys the table knows, named as terminals report them (the cockpit
/// turns its terminal library's events into these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Char(char),
    Up,
    Down,
    Left,
    Right,
    Enter,
    Esc,
    Tab,
    BackTab,
    Home,
    End,
    PageUp,
    PageDown,
    Backspace,
    Delete,
    Insert,
    F(u8),
    /// A key the table never binds (media keys, a lone modifier...).
    Other,
}

/// Everything a key can ask the cockpit to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    ToggleHelp,
    Palette,
    CloseOverlay,
    SwitchPane,
    SelectNext,
    SelectPrevious,
    SelectFirst,
    SelectLast,
    Note,
    Decision,
    ActionItem,
    ChangeStatus,
    ChangeSeverity,
    OpenPlaybook,
    ShowEvent,
    ToggleFaulty,
    Filter,
    CycleSort,
    RunSuggested,
    DeclareIncident,
    Mark,
    Amend,
    FilterKind,
    FilterHost,
    ToggleFleetEvents,
    Answer,
    Tick,
    Skip,
    Abort,
    Retry,
    CancelCommand,
}

/// Where a binding applies: everywhere, or only in one pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Hosts,
    Timeline,
    Run,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Hosts => "hosts",
            Context::Timeline => "timeline",
            Context::Run => "playbook run",
        }
    }
}

/// A key: a code and whether Ctrl is held (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    const fn plain(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    const fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub fn new(code: KeyCode, ctrl: bool) -> Key {
        Key { code, ctrl }
    }

    /// How the key is written in the hint bar, the help and vigie.toml.
    pub fn label(self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }

    /// Parses `q`, `Q`, `ctrl-r`, `enter`, `esc`, `tab`, `space`, `up`,
    /// `down`, `left`, `right`, `home`, `end`, `pgup`, `pgdn`, `f1`..`f12`.
    pub fn parse(text: &str) -> Option<Key> {
        let (ctrl, rest) = match text.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("ctrl-") => (true, &text[5..]),
            _ => (false, text),
        };
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "space" => KeyCode::Char(' '),
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return None,
                },
                _ => return None,
            },
        };
        Some(Key { code, ctrl })
    }
}

pub struct Binding {
    /// The action's name in `[keys]` and the `:` palette.
    pub name: &'static str,
    pub keys: &'static [Key],
    pub action: Action,
    pub context: Context,
    pub description: &'static str,
    /// Shown in the hint bar (the rest only in `?`).
    pub in_hint_bar: bool,
    /// Changes something (the timeline, a host): removed in read-only mode.
    pub acts: bool,
}

const fn binding(
    name: &'static str,
    keys: &'static [Key],
    action: Action,
    context: Context,
    description: &'static str,
    in_hint_bar: bool,
    acts: bool,
) -> Binding {
    Binding {
        name,
        keys,
        action,
        context,
        description,
        in_hint_bar,
        acts,
    }
}

use Context::{Global, Hosts, Run, Timeline};

pub const BINDINGS: &[Binding] = &[
    binding(
        "help",
        &[Key::char('?')],
        Action::ToggleHelp,
        Global,
        "help",
        true,
        false,
    ),
    binding(
        "palette",
        &[Key::char(':')],
        Action::Palette,
        Global,
        "commands",
        true,
        false,
    ),
    binding(
        "switch_pane",
        &[Key::plain(KeyCode::Tab)],
        Action::SwitchPane,
        Global,
        "next pane",
        true,
        false,
    ),
    binding(
        "down",
        &[Key::plain(KeyCode::Down), Key::char('j')],
        Action::SelectNext,
        Global,
        "next host / event / step / box",
        false,
        false,
    ),
    binding(
        "up",
        &[Key::plain(KeyCode::Up), Key::char('k')],
        Action::SelectPrevious,
        Global,
        "previous host / event / step / box",
        false,
        false,
    ),
    binding(
        "first",
        &[Key::plain(KeyCode::Home), Key::char('g')],
        Action::SelectFirst,
        Global,
        "first",
        false,
        false,
    ),
    binding(
        "last",
        &[Key::plain(KeyCode::End), Key::char('G')],
        Action::SelectLast,
        Global,
        "last",
        false,
        false,
    ),
    binding(
        "close",
        &[Key::plain(KeyCode::Esc)],
        Action::CloseOverlay,
        Global,
        "close · clear the filter",
        false,
        false,
    ),
    binding("note", &[Key::char('n')], Action::Note, Global, "note", true, true),
    binding(
        "decision",
        &[Key::char('d')],
        Action::Decision,
        Global,
        "decision",
        false,
        true,
    ),
    binding(
        "action_item",
        &[Key::char('A')],
        Action::ActionItem,
        Global,
        "action item",
        false,
        true,
    ),
    binding(
        "status",
        &[Key::char('S')],
        Action::ChangeStatus,
        Global,
        "incident status",
        false,
        true,
    ),
    binding(
        "severity",
        &[Key::char('V')],
        Action::ChangeSeverity,
        Global,
        "severity",
        false,
        true,
    ),
    binding(
        "open_playbook",
        &[Key::char('p')],
        Action::OpenPlaybook,
        Global,
        "playbook",
        true,
        true,
    ),
    binding("quit", &[Key::char('q')], Action::Quit, Global, "quit", true, false),
    binding(
        "run_suggested",
        &[Key::char('r')],
        Action::RunSuggested,
        Hosts,
        "run the suggested playbook",
        true,
        true,
    ),
    binding(
        "declare_incident",
        &[Key::char('i')],
        Action::DeclareIncident,
        Hosts,
        "declare an incident",
        true,
        true,
    ),
    binding(
        "faulty_only",
        &[Key::char('f')],
        Action::ToggleFaulty,
        Hosts,
        "faulty only",
        true,
        false,
    ),
    binding(
        "filter",
        &[Key::char('/')],
        Action::Filter,
        Hosts,
        "filter",
        true,
        false,
    ),
    binding(
        "sort",
        &[Key::char('o')],
        Action::CycleSort,
        Hosts,
        "sort",
        false,
        false,
    ),
    binding(
        "show_event",
        &[Key::plain(KeyCode::Enter)],
        Action::ShowEvent,
        Timeline,
        "the whole event",
        true,
        false,
    ),
    binding(
        "mark",
        &[Key::char('m')],
        Action::Mark,
        Timeline,
        "mark a key time (detected … resolved)",
        true,
        true,
    ),
    binding(
        "amend",
        &[Key::char('e')],
        Action::Amend,
        Timeline,
        "amend the event",
        true,
        true,
    ),
    binding(
        "filter_kind",
        &[Key::char('t')],
        Action::FilterKind,
        Timeline,
        "filter by kind",
        true,
        false,
    ),
    binding(
        "filter_host",
        &[Key::char('h')],
        Action::FilterHost,
        Timeline,
        "filter by host",
        false,
        false,
    ),
    binding(
        "toggle_fleet_events",
        &[Key::char('F')],
        Action::ToggleFleetEvents,
        Timeline,
        "hide/show alerts",
        true,
        false,
    ),
    binding(
        "answer",
        &[Key::plain(KeyCode::Enter)],
        Action::Answer,
        Run,
        "answer / run the step",
        true,
        true,
    ),
    binding(
        "tick",
        &[Key::char(' ')],
        Action::Tick,
        Run,
        "tick the checklist item",
        true,
        true,
    ),
    binding(
        "skip",
        &[Key::char('s')],
        Action::Skip,
        Run,
        "skip the step",
        true,
        true,
    ),
    binding(
        "retry",
        &[Key::char('r')],
        Action::Retry,
        Run,
        "retry the step",
        false,
        true,
    ),
    binding(
        "abort",
        &[Key::char('a')],
        Action::Abort,
        Run,
        "abort the run",
        false,
        true,
    ),
    binding(
        "cancel_command",
        &[Key::char('x')],
        Action::CancelCommand,
        Run,
        "cancel the command",
        true,
        true,
    ),
];

/// One action and the keys it answers to (defaults, or vigie.toml's).
pub struct Bound {
    pub binding: &'static Binding,
    pub keys: Vec<Key>,
}

impl Bound {
    pub fn label(&self) -> String {
        self.keys.iter().map(|k| k.label()).collect::<Vec<_>>().join("/")
    }
}

/// The key table in force.
pub struct Keymap {
    bound: Vec<Bound>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            bound: BINDINGS
                .iter()
                .map(|b| Bound {
                    binding: b,
                    keys: b.keys.to_vec(),
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with vigie.toml's `[keys]` applied: each entry replaces
    /// the keys of one action. Unknown actions, unreadable keys and a key
    /// bound twice where both apply are reported at their place in the file.
    pub fn with_overrides(overrides: &[KeyOverride]) -> Result<Keymap, Vec<Diagnostic>> {
        let mut keymap = Keymap::default();
        let mut problems = Vec::new();
        for entry in overrides {
            let Some(bound) = keymap.bound.iter_mut().find(|b| b.binding.name == entry.action) else {
                let names: Vec<&str> = BINDINGS.iter().map(|b| b.name).collect();
                let mut d = entry.diagnostic(format!("unknown action `{}` in [keys]", entry.action));
                d.hint = Some(match crate::config::diagnostic::did_you_mean(&entry.action, &names) {
                    Some(name) => format!("did you mean `{name}`?"),
                    None => format!("actions: {}", names.join(", ")),
                });
                problems.push(d);
                continue;
            };
            let mut keys = Vec::new();
            for text in &entry.keys {
                match Key::parse(text) {
                    Some(key) if key.ctrl && key.code == Key::char('c').code => {
                        problems.push(entry.diagnostic("Ctrl-c always quits; it cannot be bound".into()))
                    }
                    Some(key) => keys.push(key),
                    None => {
                        let mut d = entry.diagnostic(format!("cannot read the key {text:?}"));
                        d.hint = Some("write a character (`x`, `X`), `ctrl-x`, or enter, esc, tab, space, up, down, left, right, home, end, pgup, pgdn, f1..f12".into());
                        problems.push(d);
                    }
                }
            }
            if keys.is_empty() && problems.is_empty() {
                problems.push(entry.diagnostic(format!("`{}` needs at least one key", entry.action)));
            }
            bound.keys = keys;
        }
        for (i, a) in keymap.bound.iter().enumerate() {
            for b in &keymap.bound[i + 1..] {
                let overlap = a.binding.context == b.binding.context
                    || a.binding.context == Context::Global
                    || b.binding.context == Context::Global;
                if let Some(key) = a.keys.iter().find(|k| overlap && b.keys.contains(k)) {
                    // The defaults never clash (a test says so): an entry of [keys] did it.
                    if let Some(entry) = overrides
                        .iter()
                        .find(|o| o.action == b.binding.name || o.action == a.binding.name)
                    {
                        problems.push(entry.diagnostic(format!(
                            "the key {} is bound to both `{}` and `{}`",
                            key.label(),
                            a.binding.name,
                            b.binding.name
                        )));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(keymap)
        } else {
            Err(problems)
        }
    }

    /// The bindings in force in `context`: in read-only mode every acting
    /// one is gone, from dispatch, the hint bar and the help alike.
    pub fn active(&self, context: Context, read_only: bool) -> impl Iterator<Item = &Bound> {
        self.bound.iter().filter(move |b| {
            !(read_only && b.binding.acts) && (b.binding.context == Context::Global || b.binding.context == context)
        })
    }

    /// Every binding in force, whatever the pane (for the help overlay).
    pub fn all(&self, read_only: bool) -> impl Iterator<Item = &Bound> {
        self.bound.iter().filter(move |b| !(read_only && b.binding.acts))
    }

    /// The action bound to `key` in `context`, if any. Ctrl-C always quits.
    pub fn action_for(&self, key: Key, context: Context, read_only: bool) -> Option<Action> {
        if key.ctrl && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        // A pane's own binding wins over a global one on the same key.
        let mut found = None;
        for bound in self.active(context, read_only).filter(|b| b.keys.contains(&key)) {
            if found.is_none() || bound.binding.context != Context::Global {
                found = Some(bound.binding.action);
            }
        }
        found
    }

    /// The binding of `action` (for the palette: its name and keys).
    pub fn bound(&self, action: Action) -> Option<&Bound> {
        self.bound.iter().find(|b| b.binding.action == action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn press(code: KeyCode) -> Key {
        Key::new(code, false)
    }

    #[test]
    fn the_default_table_binds_no_key_twice_where_both_apply() {
        assert!(Keymap::with_overrides(&[]).is_ok());
    }

    #[test]
    fn dispatch_follows_the_table_and_the_pane() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.action_for(press(KeyCode::Char('q')), Context::Hosts, false),
            Some(Action::Quit)
        );
        let ctrl_c = Key::new(KeyCode::Char('c'), true);
        assert_eq!(keymap.action_for(ctrl_c, Context::Run, true), Some(Action::Quit));
        let r = press(KeyCode::Char('r'));
        assert_eq!(keymap.action_for(r, Context::Hosts, false), Some(Action::RunSuggested));
        assert_eq!(keymap.action_for(r, Context::Run, false), Some(Action::Retry));
        assert_eq!(keymap.action_for(r, Context::Timeline, false), None);
        let n = press(KeyCode::Char('n'));
        assert_eq!(keymap.action_for(n, Context::Hosts, false), Some(Action::Note));
        assert_eq!(
            keymap.action_for(n, Context::Hosts, true),
            None,
            "read-only removes acting keys"
        );
        assert!(keymap.all(true).all(|b| !b.binding.acts));
    }

    fn entry(action: &str, keys: &[&str]) -> KeyOverride {
        let text = format!("[keys]\n\n{action} = \"...\"\n");
        let start = text.find(" = ").unwrap() + 3;
        KeyOverride {
            action: action.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            place: Diagnostic::at(&PathBuf::from("vigie.toml"), &text, start..start + 5, ""),
        }
    }

    #[test]
    fn vigie_toml_can_rebind_an_action() {
        let keymap = Keymap::with_overrides(&[entry("note", &["N", "ctrl-n"])]).unwrap();
        assert_eq!(
            keymap.action_for(press(KeyCode::Char('N')), Context::Hosts, false),
            Some(Action::Note)
        );
        let ctrl_n = Key::new(KeyCode::Char('n'), true);
        assert_eq!(keymap.action_for(ctrl_n, Context::Hosts, false), Some(Action::Note));
        assert_eq!(
            keymap.action_for(press(KeyCode::Char('n')), Context::Hosts, false),
            None
        );
        assert_eq!(keymap.bound(Action::Note).unwrap().label(), "N/Ctrl-n");
    }

    #[test]
    fn bad_overrides_are_reported_where_they_are() {
        let problems = Keymap::with_overrides(&[entry("nope", &["x"])]).err().unwrap();
        assert!(
            problems[0].to_string().contains("did you mean `note`"),
            "{}",
            problems[0]
        );
        let problems = Keymap::with_overrides(&[entry("note", &["hyper-x"])]).err().unwrap();
        assert!(problems[0].to_string().contains("cannot read the key"));
        let problems = Keymap::with_overrides(&[entry("note", &["q"])]).err().unwrap();
        assert!(problems[0].to_string().contains("bound to both"), "{}", problems[0]);
        assert!(problems[0].to_string().contains("vigie.toml:3:"), "{}", problems[0]);
    }

    #[test]
    fn keys_read_back_as_written() {
        for text in ["q", "G", "ctrl-r", "enter", "space", "f5", "pgdn"] {
            assert!(Key::parse(text).is_some(), "{text}");
        }
        assert_eq!(
            Key::parse("Ctrl-R"),
            Some(Key {
                code: KeyCode::Char('r'),
                ctrl: true
            })
        );
        assert_eq!(Key::parse("f13"), None);
        assert_eq!(Key::parse(""), None);
    }
}
