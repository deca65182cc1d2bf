//! The inputs form a playbook opens with: one field per input, pickers fed
//! by the live status (hosts of the inventory, VMs of the chosen host,
//! choices), free text for the rest. State only; `views::form` draws it.

use crossterm::event::{KeyCode, KeyEvent};
use std::collections::BTreeMap;
use vigie_core::playbook::format::InputKind;
use vigie_core::playbook::Playbook;

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub kind: InputKind,
    pub description: Option<String>,
    pub value: String,
    /// Values to pick from with ←/→ (hosts, live VMs, choices); typing is
    /// still allowed, the run checks every value anyway.
    pub options: Vec<String>,
    /// For `vms`: the option under the cursor, toggled with space.
    pub cursor: usize,
    /// The input whose value says which host's VMs to offer (`from =`).
    pub from: Option<String>,
    /// The input this one must differ from: its value is skipped.
    pub not: Option<String>,
    /// Where the text cursor is in a free-text field, in characters.
    pub text_cursor: usize,
    /// A host that must answer now: only those that do are offered.
    pub reachable: bool,
}

impl Field {
    pub fn is_secret(&self) -> bool {
        self.kind == InputKind::Secret
    }

    pub fn is_multi(&self) -> bool {
        self.kind == InputKind::Vms
    }

    /// The values picked in a `vms` field.
    pub fn picked(&self) -> Vec<&str> {
        self.value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputForm {
    pub playbook: Playbook,
    pub fields: Vec<Field>,
    pub focused: usize,
    /// What the last submit found wrong, shown under the fields.
    pub problems: Vec<String>,
    /// Where the pre-filled values came from (the alert), shown as the subtitle.
    pub origin: Option<String>,
    /// A run of this playbook that stopped in the middle, found in the
    /// timeline: the responder may take it up instead of starting anew.
    pub unfinished: Option<vigie_core::playbook::engine::Progress>,
    /// Whether that run is driven right now by another vigie: not asked
    /// yet (`None`: the event loop asks, off the render path), nobody
    /// (`Some(None)`), or who (`Some(Some("alice@bastion, pid 4242"))`).
    pub driven_by: Option<Option<String>>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    Editing,
    Cancelled,
    Submitted,
}

impl InputForm {
    /// A form for `playbook`: defaults first, then `prefill` (from an alert).
    pub fn new(playbook: Playbook, hosts: &[String], prefill: &[(&str, String)]) -> InputForm {
        // Fields in the order the playbook declares its inputs.
        let fields = playbook
            .input_order
            .iter()
            .filter_map(|name| Some((name, playbook.inputs.get(name)?)))
            .map(|(name, input)| {
                let prefilled = prefill.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                let options = match input.kind {
                    InputKind::Host => hosts.to_vec(),
                    InputKind::Choice => input.choices.clone(),
                    _ => Vec::new(),
                };
                let value = prefilled
                    .or_else(|| input.default.clone())
                    .or_else(|| {
                        (input.kind == InputKind::Choice)
                            .then(|| options.first().cloned())
                            .flatten()
                    })
                    .unwrap_or_default();
                Field {
                    name: name.clone(),
                    kind: input.kind,
                    description: input.description.clone(),
                    value,
                    options,
                    cursor: 0,
                    from: input.from.clone(),
                    not: input.not.clone(),
                    text_cursor: usize::MAX,
                    reachable: input.reachable,
                }
            })
            .collect();
        let mut form = InputForm {
            playbook,
            fields,
            focused: 0,
            problems: Vec::new(),
            origin: None,
            unfinished: None,
            driven_by: None,
        };
        // Start on the first field that still needs an answer.
        form.focused = form.fields.iter().position(|f| f.value.is_empty()).unwrap_or(0);
        form
    }

    /// The values as typed, for validation.
    pub fn values(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .filter(|f| !f.value.trim().is_empty())
            .map(|f| (f.name.clone(), f.value.trim().to_string()))
            .collect()
    }

    /// The host a `vm`/`vms` field takes its VMs from: the value of the
    /// input named by `from`, or `from` itself when it names a host.
    pub fn vm_source(&self, field: &Field) -> Option<String> {
        let from = field.from.as_deref()?;
        match self.fields.iter().find(|f| f.name == from) {
            Some(source) if !source.value.trim().is_empty() => Some(source.value.trim().to_string()),
            Some(_) => None,
            None => Some(from.to_string()),
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> FormOutcome {
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Enter => return FormOutcome::Submitted,
            KeyCode::Down | KeyCode::Tab => self.focused = (self.focused + 1).min(last),
            KeyCode::Up | KeyCode::BackTab => self.focused = self.focused.saturating_sub(1),
            KeyCode::Left if self.focused_has_options() => self.pick(-1),
            KeyCode::Right if self.focused_has_options() => self.pick(1),
            KeyCode::Char(' ') if self.fields.get(self.focused).is_some_and(Field::is_multi) => self.toggle(),
            // Free text edits like the prompt: cursor, Home/End, Ctrl-W/U/K...
            _ => {
                if let Some(field) = self.fields.get_mut(self.focused) {
                    let cursor = if field.options.is_empty() {
                        field.text_cursor
                    } else {
                        field.value.chars().count()
                    };
                    let mut text = crate::text_field::TextField::with_cursor(&field.value, cursor);
                    if text.handle_key(key) {
                        field.value = text.value().to_string();
                        field.text_cursor = text.cursor();
                    }
                }
            }
        }
        FormOutcome::Editing
    }

    /// A host field left empty with a single host it may take (the only
    /// other one that answers): that host, and the cursor on the next field
    /// still to fill.
    pub fn fill_lone_choices(&mut self) {
        for i in 0..self.fields.len() {
            let field = &self.fields[i];
            if field.kind != InputKind::Host || !field.value.trim().is_empty() || self.pickable(i) != 1 {
                continue;
            }
            let forbidden = field
                .not
                .as_ref()
                .and_then(|other| self.fields.iter().find(|f| f.name == *other))
                .map(|f| f.value.trim().to_string());
            if let Some(only) = field
                .options
                .iter()
                .find(|o| forbidden.as_deref() != Some(o.as_str()))
                .cloned()
            {
                self.fields[i].value = only;
            }
        }
        self.focused = self.fields.iter().position(|f| f.value.is_empty()).unwrap_or(0);
    }

    fn focused_has_options(&self) -> bool {
        self.fields.get(self.focused).is_some_and(|f| !f.options.is_empty())
    }

    /// The options ←/→ can reach on field `index`: the value of the input it
    /// must differ from is skipped, so it is not counted either.
    pub fn pickable(&self, index: usize) -> usize {
        let Some(field) = self.fields.get(index) else {
            return 0;
        };
        let forbidden = field
            .not
            .as_ref()
            .and_then(|other| self.fields.iter().find(|f| f.name == *other))
            .map(|f| f.value.trim().to_string());
        field
            .options
            .iter()
            .filter(|o| forbidden.as_deref() != Some(o.as_str()))
            .count()
    }

    /// ←/→ on a picker: the previous or next option (for `vms`, moves the
    /// cursor), skipping the value of the input it must differ from.
    fn pick(&mut self, step: isize) {
        let forbidden = self
            .fields
            .get(self.focused)
            .and_then(|f| f.not.as_ref())
            .and_then(|other| self.fields.iter().find(|f| f.name == *other))
            .map(|f| f.value.clone());
        let Some(field) = self.fields.get_mut(self.focused) else {
            return;
        };
        if field.options.is_empty() {
            return;
        }
        let count = field.options.len() as isize;
        if field.is_multi() {
            field.cursor = (field.cursor as isize + step).rem_euclid(count) as usize;
            return;
        }
        let current = field.options.iter().position(|o| *o == field.value);
        let mut next = match current {
            Some(i) => (i as isize + step).rem_euclid(count) as usize,
            None if step > 0 => 0,
            None => (count - 1) as usize,
        };
        if forbidden.as_deref() == Some(field.options[next].as_str()) {
            if count == 1 {
                return;
            }
            next = (next as isize + step.signum()).rem_euclid(count) as usize;
        }
        field.value = field.options[next].clone();
    }

    /// Space on a `vms` field: adds or removes the option under the cursor.
    fn toggle(&mut self) {
        let Some(field) = self.fields.get_mut(self.focused) else {
            return;
        };
        let Some(option) = field.options.get(field.cursor).cloned() else {
            return;
        };
        let mut picked: Vec<String> = field.picked().into_iter().map(String::from).collect();
        match picked.iter().position(|p| *p == option) {
            Some(i) => {
                picked.remove(i);
            }
            None => picked.push(option),
        }
        field.value = picked.join(",");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    const PLAYBOOK: &str = "+++\nid = \"p\"\ntitle = \"P\"\n[inputs.host]\nkind = \"host\"\n[inputs.vms]\nkind = \"vms\"\nfrom = \"host\"\n[inputs.mode]\nkind = \"choice\"\nchoices = [\"fast\", \"safe\"]\n[inputs.user]\nkind = \"string\"\n+++\n# P\n\n## One\n\nDo it.\n";

    fn form() -> InputForm {
        let (playbook, problems) = vigie_core::playbook::parse(std::path::Path::new("p.md"), PLAYBOOK);
        assert!(problems.is_empty(), "{problems:?}");
        let hosts = vec!["miramelle".to_string(), "locuste".to_string()];
        InputForm::new(playbook.unwrap(), &hosts, &[("user", "root".to_string())])
    }

    #[test]
    fn a_free_text_field_edits_like_the_prompt() {
        let mut form = form();
        form.focused = form.fields.iter().position(|f| f.name == "user").unwrap();
        press(&mut form, KeyCode::Home);
        for c in "the ".chars() {
            press(&mut form, KeyCode::Char(c));
        }
        press(&mut form, KeyCode::End);
        form.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        for c in "admin".chars() {
            press(&mut form, KeyCode::Char(c));
        }
        assert_eq!(form.fields[form.focused].value, "the admin");
    }

    fn press(form: &mut InputForm, code: KeyCode) -> FormOutcome {
        form.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn the_target_picker_skips_the_dead_host() {
        let playbook = vigie_core::playbook::bundled::catalog(&vigie_core::config::Config::embedded_default())
            .into_iter()
            .find(|p| p.id == "evacuate-hypervisor")
            .expect("bundled");
        let hosts = vec!["miramelle".to_string(), "locuste".to_string(), "backup".to_string()];
        let mut form = InputForm::new(playbook, &hosts, &[("dead", "miramelle".to_string())]);
        form.focused = form.fields.iter().position(|f| f.name == "target").unwrap();
        let mut offered = Vec::new();
        for _ in 0..4 {
            press(&mut form, KeyCode::Right);
            offered.push(form.fields[form.focused].value.clone());
        }
        assert_eq!(
            offered,
            ["locuste", "backup", "locuste", "backup"],
            "never the dead host"
        );
        press(&mut form, KeyCode::Left);
        assert_eq!(form.fields[form.focused].value, "locuste");
    }

    #[test]
    fn pickers_cycle_and_prefill_is_kept() {
        let mut form = form();
        assert_eq!(form.fields[0].name, "host");
        assert_eq!(form.focused, 0, "the first empty field has the focus");
        press(&mut form, KeyCode::Right);
        assert_eq!(form.fields[0].value, "miramelle");
        press(&mut form, KeyCode::Right);
        assert_eq!(form.fields[0].value, "locuste");
        press(&mut form, KeyCode::Right);
        assert_eq!(form.fields[0].value, "miramelle", "wraps around");
        let mode = form.fields.iter().find(|f| f.name == "mode").unwrap();
        assert_eq!(mode.value, "fast", "a choice starts on its first option");
        assert_eq!(form.values().get("user").map(String::as_str), Some("root"));
        let vms = form.fields.iter().find(|f| f.name == "vms").unwrap().clone();
        assert_eq!(form.vm_source(&vms).as_deref(), Some("miramelle"));
    }

    #[test]
    fn several_vms_are_picked_with_space() {
        let mut form = form();
        let index = form.fields.iter().position(|f| f.name == "vms").unwrap();
        form.fields[index].options = vec!["101".into(), "102".into(), "103".into()];
        form.focused = index;
        press(&mut form, KeyCode::Char(' '));
        press(&mut form, KeyCode::Right);
        press(&mut form, KeyCode::Right);
        press(&mut form, KeyCode::Char(' '));
        assert_eq!(form.fields[index].value, "101,103");
        press(&mut form, KeyCode::Left);
        press(&mut form, KeyCode::Left);
        press(&mut form, KeyCode::Char(' '));
        assert_eq!(form.fields[index].value, "103");
        assert_eq!(press(&mut form, KeyCode::Enter), FormOutcome::Submitted);
        assert_eq!(press(&mut form, KeyCode::Esc), FormOutcome::Cancelled);
    }
}
