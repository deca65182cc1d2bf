//! What keys do to the cockpit's state: the action of the key table, or
//! editing the open prompt, form, picker, palette or popup. Still no IO:
//! anything that touches a file or a host is returned as a [`Request`].

use super::app::{App, Focus, Overlay, PickPurpose, Picker, Popup, PopupKind, Prompt, PromptKind, Request, SortBy};
use super::form::{FormOutcome, InputForm};
use super::keys::Action;
use super::palette::Palette;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use vigie_core::incident::{Severity, Status};
use vigie_core::playbook::engine::{check_reachable_inputs, check_vm_inputs, validate_inputs, RunEvent};
use vigie_core::playbook::format::InputKind;
use vigie_core::playbook::Playbook;
use vigie_core::status::Reachability;
use vigie_core::timeline::payload::{ActionItem, Note};
use vigie_core::timeline::view::{Amendment, Mark};
use vigie_core::timeline::{NewEvent, Payload};
use vigie_runtime::driver::Question;

const NO_INCIDENT: &str = "no incident: `i` declares one for the selected host (or `:incident TITLE`)";

impl App {
    /// Every key press: the open overlay or prompt takes it, else the key table.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Request> {
        let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if ctrl_c {
            return self.apply_action(Action::Quit);
        }
        if self.prompt.is_some() {
            return self.type_in_prompt(key);
        }
        if let Some(overlay) = self.overlay.take() {
            return self.key_in_overlay(overlay, key);
        }
        let action = self
            .keymap
            .action_for(super::keys::key_of(key), self.context(), self.read_only)?;
        self.apply_action(action)
    }

    /// Pasted text goes to whatever is being typed; with nothing open it is
    /// ignored (a paste must never turn into a burst of key actions).
    pub fn paste(&mut self, text: &str) -> Option<Request> {
        let typing = self.prompt.is_some()
            || matches!(
                self.overlay,
                Some(Overlay::Palette(_)) | Some(Overlay::Form(_)) | Some(Overlay::Popup(_))
            );
        if !typing {
            return None;
        }
        if let Some(prompt) = self.prompt.as_mut() {
            // At the cursor; a note keeps the pasted lines, a one-line
            // answer (a reason, a filter) gets them as spaces.
            if prompt.kind.multi_line() {
                prompt.text.insert_lines(text);
            } else {
                prompt.text.insert(text);
            }
            // A pasted filter narrows the list at once, as a typed one does.
            if prompt.kind == PromptKind::Filter {
                let filter = prompt.text.value().trim().to_string();
                self.keep_selection(|app| app.filter = filter);
            }
            return None;
        }
        for c in text.chars().filter(|c| !c.is_control()) {
            let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            // Enter never comes from a paste, so nothing is submitted by it.
            let _ = self.handle_key(key);
        }
        None
    }

    // Longer than 80 lines on purpose: one arm per key action of the table in `keys`.
    pub fn apply_action(&mut self, action: Action) -> Option<Request> {
        self.flash = None;
        match action {
            Action::Quit => {
                if self.run.as_ref().is_some_and(|r| !r.is_finished()) && !self.should_quit {
                    self.overlay = Some(Overlay::Popup(Popup::new(PopupKind::QuitDuringRun)));
                } else {
                    self.should_quit = true;
                }
            }
            Action::ToggleHelp => self.overlay = Some(Overlay::Help),
            Action::Palette => self.overlay = Some(Overlay::Palette(Palette::default())),
            // Esc undoes what narrows the view: the timeline's cursor (back
            // to following), the host filter.
            Action::CloseOverlay => {
                self.overlay = None;
                if self.focus == Focus::Timeline {
                    self.timeline_cursor = None;
                } else if self.focus == Focus::Hosts && !self.filter.is_empty() {
                    self.keep_selection(|app| app.filter.clear());
                    self.flash = Some("filter cleared".into());
                }
            }
            Action::SwitchPane => self.focus = self.next_pane(),
            Action::SelectNext => self.move_selection(1),
            Action::SelectPrevious => self.move_selection(-1),
            Action::SelectFirst => self.move_selection(isize::MIN),
            Action::SelectLast => self.move_selection(isize::MAX),
            Action::Note => self.open_prompt(PromptKind::Note),
            Action::Decision => self.open_prompt(PromptKind::Decision),
            Action::ActionItem => self.open_prompt(PromptKind::ActionItem),
            Action::ChangeStatus => self.open_incident_picker(PickPurpose::Status),
            Action::ChangeSeverity => self.open_incident_picker(PickPurpose::Severity),
            Action::OpenPlaybook => return self.open_playbook_picker(),
            Action::ToggleFaulty => {
                self.keep_selection(|app| app.faulty_only = !app.faulty_only);
            }
            Action::Filter => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter.as_str().into(),
                })
            }
            Action::CycleSort => {
                self.keep_selection(|app| app.sort = app.sort.next());
                self.flash = Some(format!("sorted by {}", self.sort.as_str()));
            }
            Action::RunSuggested => self.run_suggested(),
            Action::DeclareIncident => self.declare_for_selected_host(),
            Action::Mark => self.open_mark_picker(),
            Action::ShowEvent => match self.selected_event() {
                Some(event) => {
                    self.overlay = Some(Overlay::Event {
                        id: event.id.clone(),
                        scroll: 0,
                    })
                }
                None => self.flash = Some("no event to show".into()),
            },
            Action::Amend => self.open_amend_prompt(),
            Action::FilterKind => {
                self.kind_filter = self.kind_filter.next();
                self.timeline_cursor = None;
            }
            Action::ToggleFleetEvents => {
                self.hide_fleet_events = !self.hide_fleet_events;
                self.timeline_cursor = None;
                self.flash = Some(
                    if self.hide_fleet_events {
                        "alerts hidden from the timeline pane (F shows them)"
                    } else {
                        "alerts shown in the timeline pane"
                    }
                    .into(),
                );
            }
            Action::FilterHost => {
                self.host_filter = match self.host_filter {
                    Some(_) => None,
                    None => self
                        .selected_event()
                        .and_then(|e| e.host.clone())
                        .or_else(|| self.selected_host().map(|h| h.name.clone())),
                };
                self.timeline_cursor = None;
            }
            Action::Answer => return self.answer_run(),
            Action::Tick => return self.tick_checklist(),
            Action::Skip => return self.ask_reason(PromptKind::SkipReason),
            Action::Abort => return self.ask_reason(PromptKind::AbortReason),
            Action::Retry => {
                if matches!(self.question(), Some(Question::Recovery { .. })) {
                    return Some(Request::Answer(RunEvent::Retry));
                }
                self.flash = Some("nothing to retry: no step has failed".into());
            }
            Action::CancelCommand => {
                if self.run.as_ref().is_some_and(|r| r.command_running()) {
                    self.flash = Some("cancelling the command…".into());
                    return Some(Request::CancelCommand);
                }
                self.flash = Some("no command is running".into());
            }
        }
        None
    }

    /// Changes what the host list shows (`change`: its filter, sort...)
    /// keeping the selected host selected, wherever the list now has it;
    /// the first one if it is no longer listed.
    fn keep_selection(&mut self, change: impl FnOnce(&mut App)) {
        let previous = self.selected_index();
        change(self);
        self.selected = previous
            .and_then(|index| self.visible_hosts().iter().position(|i| *i == index))
            .unwrap_or(0);
    }

    fn next_pane(&self) -> Focus {
        let order = [Focus::Hosts, Focus::Timeline, Focus::Run];
        let available = |f: &Focus| match f {
            Focus::Hosts => true,
            Focus::Timeline => self.incident.is_some(),
            Focus::Run => self.run.is_some(),
        };
        let position = order.iter().position(|f| *f == self.focus).unwrap_or(0);
        (1..=order.len())
            .map(|i| order[(position + i) % order.len()])
            .find(available)
            .unwrap_or(Focus::Hosts)
    }

    fn move_selection(&mut self, step: isize) {
        let moved = |current: usize, count: usize| -> usize {
            let last = count.saturating_sub(1) as isize;
            (current as isize).saturating_add(step).clamp(0, last.max(0)) as usize
        };
        match self.focus {
            Focus::Hosts => self.selected = moved(self.selected, self.visible_hosts().len()),
            Focus::Timeline => {
                let count = self.visible_timeline().len();
                let current = self.timeline_cursor.unwrap_or(count.saturating_sub(1));
                let next = moved(current, count);
                // Back on the newest event: follow new ones again.
                self.timeline_cursor = (next + 1 < count).then_some(next);
            }
            Focus::Run => {
                if let Some(run) = self.run.as_mut() {
                    // On the checklist being done, ↑↓ go from box to box first.
                    if run.move_in_checklist(step) {
                        return;
                    }
                    let next = moved(run.viewed, run.steps.len());
                    run.view_step(next);
                }
            }
        }
    }

    fn needs_incident(&mut self) -> bool {
        if self.incident.is_none() {
            self.flash = Some(NO_INCIDENT.into());
            return false;
        }
        true
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        if self.needs_incident() {
            self.prompt = Some(Prompt {
                kind,
                text: Default::default(),
            });
        }
    }

    fn open_incident_picker(&mut self, purpose: PickPurpose) {
        let Some(incident) = &self.incident else {
            self.flash = Some(NO_INCIDENT.into());
            return;
        };
        let (title, options, current) = match purpose {
            PickPurpose::Status => (
                "incident status",
                Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                incident.status.as_str(),
            ),
            _ => (
                "severity",
                Severity::ALL.iter().map(|s| s.as_str()).collect(),
                incident.severity.as_str(),
            ),
        };
        let selected = options.iter().position(|o| *o == current).unwrap_or(0);
        self.overlay = Some(Overlay::Picker(Picker {
            title: title.into(),
            options: options
                .iter()
                .map(|o| {
                    let label = if *o == current {
                        format!("{o} (now)")
                    } else {
                        o.to_string()
                    };
                    (o.to_string(), label)
                })
                .collect(),
            keywords: Vec::new(),
            filter: String::new(),
            selected,
            purpose,
        }));
    }

    /// The picker shows the catalog as it is, and asks for it to be read
    /// again: a playbook written a moment ago appears in it.
    fn open_playbook_picker(&mut self) -> Option<Request> {
        if !self.can_start_a_run() {
            return None;
        }
        self.overlay = Some(Overlay::Picker(self.playbook_picker()));
        Some(Request::RescanPlaybooks)
    }

    pub(crate) fn playbook_picker(&self) -> Picker {
        Picker {
            title: "open a playbook".into(),
            options: self
                .catalog
                .iter()
                .map(|p| {
                    (
                        p.id.clone(),
                        format!("{:<24} {}", p.id, vigie_core::sanitize::one_line(&p.title)),
                    )
                })
                .collect(),
            keywords: self.catalog.iter().map(|p| p.tags.join(" ")).collect(),
            filter: String::new(),
            selected: 0,
            purpose: PickPurpose::Playbook,
        }
    }

    fn can_start_a_run(&mut self) -> bool {
        if !self.needs_incident() {
            return false;
        }
        if self.run.as_ref().is_some_and(|r| !r.is_finished()) {
            self.flash = Some("a playbook is running: finish or abort it first (Tab shows it)".into());
            return false;
        }
        true
    }

    /// `i`: an incident for the selected host, its title drafted from the
    /// host's worst alert (edited before Enter), its severity chosen, then
    /// the alert's playbook offered.
    fn declare_for_selected_host(&mut self) {
        if self.read_only {
            self.flash = Some("read-only: nothing is declared here".into());
            return;
        }
        let Some(index) = self.selected_index() else {
            return;
        };
        let host = self.fleet.hosts[index].name.clone();
        let worst = self.fleet.alerts[index]
            .iter()
            .max_by_key(|a| a.severity)
            .map(|a| a.message.clone());
        let draft = match worst {
            Some(message) => vigie_core::sanitize::one_line(&message),
            None => format!("{host}: "),
        };
        self.offer_after_declaration = Some(host);
        self.prompt = Some(Prompt {
            kind: PromptKind::IncidentTitle,
            text: draft.into(),
        });
        if let Some(open) = &self.incident {
            self.flash = Some(format!(
                "\"{}\" is open: this declares another incident (Esc to keep to that one)",
                vigie_core::sanitize::one_line(&open.title)
            ));
        }
    }

    /// The severity of the incident about to be declared: chosen, never assumed.
    fn ask_severity(&mut self, title: String) {
        if title.trim().is_empty() {
            self.flash = Some("an incident needs a title: nothing was declared".into());
            return;
        }
        self.overlay = Some(Overlay::Picker(Picker {
            title: "severity of the new incident".into(),
            options: Severity::ALL
                .iter()
                .rev()
                .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
                .collect(),
            keywords: Vec::new(),
            filter: String::new(),
            // Nothing chosen: the severity is the responder's call, never a default.
            selected: usize::MAX,
            purpose: PickPurpose::DeclareWith { title },
        }));
    }

    /// The playbook the host's alert suggests, its inputs filled in; why
    /// not, when it cannot.
    pub fn offer_playbook_for(&mut self, host: &str) -> Result<(), String> {
        let index = self
            .fleet
            .hosts
            .iter()
            .position(|h| h.name == host)
            .ok_or_else(|| format!("no host {host}"))?;
        let alert = self.fleet.alerts[index]
            .iter()
            .find(|a| a.playbook.is_some())
            .cloned()
            .ok_or_else(|| "no alert on this host suggests a playbook".to_string())?;
        let id = alert.playbook.unwrap_or_default();
        let playbook = self
            .catalog
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| format!("playbook {id} is not available"))?;
        self.open_form(
            playbook,
            &alert.inputs,
            Some(format!("suggested by: {}", alert.message)),
        );
        Ok(())
    }

    /// The selected host's first alert that names a playbook: its form,
    /// with what the alert knows already filled in.
    fn run_suggested(&mut self) {
        let Some(index) = self.selected_index() else {
            return;
        };
        let host = self.fleet.hosts[index].name.clone();
        if !self.fleet.alerts[index].iter().any(|a| a.playbook.is_some()) {
            self.flash = Some("no alert on this host suggests a playbook".into());
            return;
        }
        if !self.can_start_a_run() {
            return;
        }
        if let Err(why) = self.offer_playbook_for(&host) {
            self.flash = Some(why);
        }
    }

    /// What a form starts from when no alert fills it: the inputs of this
    /// playbook's last run in the incident, and for its first host input
    /// the host selected in the list.
    fn usual_inputs(&self, playbook: &Playbook) -> Vec<(String, String)> {
        let last_run = self.timeline.iter().rev().find_map(|event| match event.payload() {
            vigie_core::timeline::Payload::PlaybookStarted(started) if started.playbook == playbook.id => {
                Some(started.inputs)
            }
            _ => None,
        });
        let mut prefill: Vec<(String, String)> = Vec::new();
        for (name, input) in &playbook.inputs {
            let recorded = last_run.as_ref().and_then(|inputs| inputs.get(name)).cloned();
            match recorded {
                Some(value) if input.kind != InputKind::Secret => prefill.push((name.clone(), value)),
                _ => {}
            }
        }
        let first_host = playbook
            .input_order
            .iter()
            .find(|n| playbook.inputs.get(*n).is_some_and(|i| i.kind == InputKind::Host));
        if let (Some(name), Some(host)) = (first_host, self.selected_host()) {
            // Only a host the input would take: one that answers when it
            // must, other than the one it must differ from.
            let refused = playbook.inputs.get(name).is_some_and(|input| {
                (input.reachable && !host.is_reachable())
                    || input
                        .not
                        .as_ref()
                        .is_some_and(|other| prefill.iter().any(|(n, v)| n == other && *v == host.name))
            });
            // The host selected in the list wins over the last run's.
            if !refused {
                prefill.retain(|(n, _)| n != name);
                prefill.push((name.clone(), host.name.clone()));
            }
        }
        prefill
    }

    pub fn open_form(&mut self, playbook: Playbook, prefill: &[(&str, String)], origin: Option<String>) {
        // A run of it that stopped in the middle: its recorded inputs come
        // back (secrets are never recorded) and the start popup offers it.
        let unfinished = vigie_core::playbook::engine::unfinished_run(&self.timeline, &playbook.id);
        let mut prefill: Vec<(&str, String)> = prefill.to_vec();
        if let Some((_, recorded)) = &unfinished {
            for (name, value) in recorded {
                let secret = playbook.inputs.get(name).is_some_and(|i| i.kind == InputKind::Secret);
                if !secret && !prefill.iter().any(|(n, _)| n == name) {
                    if let Some((known, _)) = playbook.inputs.get_key_value(name) {
                        prefill.push((known.as_str(), value.clone()));
                    }
                }
            }
        }
        let origin = match &unfinished {
            Some((progress, _)) => Some(format!(
                "an earlier run stopped in the middle ({}): its inputs are back",
                progress.describe()
            )),
            None => origin,
        };
        let mut form = InputForm::new(playbook.clone(), &self.host_names(), &prefill);
        form.unfinished = unfinished.map(|(progress, _)| progress);
        form.origin = origin;
        self.refresh_live_options(&mut form);
        form.fill_lone_choices();
        self.overlay = Some(Overlay::Form(Box::new(form)));
    }

    /// `vm`/`vms` pickers offer the live VMs of the host their `from` names.
    fn refresh_live_options(&self, form: &mut InputForm) {
        for field in form.fields.iter_mut().filter(|f| f.reachable) {
            field.options = self
                .fleet
                .hosts
                .iter()
                .filter(|h| h.is_reachable())
                .map(|h| h.name.clone())
                .collect();
        }
        for i in 0..form.fields.len() {
            if matches!(form.fields[i].kind, InputKind::Vm | InputKind::Vms) {
                let options = form
                    .vm_source(&form.fields[i])
                    .map(|host| self.vm_ids_of(&host))
                    .unwrap_or_default();
                let field = &mut form.fields[i];
                field.cursor = field.cursor.min(options.len().saturating_sub(1));
                field.options = options;
            }
        }
    }

    fn open_mark_picker(&mut self) {
        let Some(event) = self.selected_event() else {
            self.flash = Some("no event to mark".into());
            return;
        };
        let (target, seq) = (event.id.clone(), event.seq);
        let marks = ["detected", "acknowledged", "mitigated", "resolved", "key"];
        self.overlay = Some(Overlay::Picker(Picker {
            title: format!("mark #{seq} as"),
            options: marks.iter().map(|m| (m.to_string(), m.to_string())).collect(),
            keywords: Vec::new(),
            filter: String::new(),
            selected: 0,
            purpose: PickPurpose::Mark { target, seq },
        }));
    }

    fn open_amend_prompt(&mut self) {
        let Some(event) = self.selected_event() else {
            self.flash = Some("no event to amend".into());
            return;
        };
        // A note's own text is what gets corrected; other events start from their description.
        let payload = event.payload();
        let text = match payload.text() {
            Some(text) => text.to_string(),
            None => vigie_core::timeline::view::describe(event),
        };
        self.prompt = Some(Prompt {
            kind: PromptKind::Amend {
                target: event.id.clone(),
                seq: event.seq,
            },
            text: vigie_core::sanitize::terminal_safe(&text).into(),
        });
    }

    fn question(&self) -> Option<&Question> {
        self.run.as_ref()?.question.as_ref()
    }

    /// Enter in the run: the popup for the question the run waits on.
    fn answer_run(&mut self) -> Option<Request> {
        // On a step that ended, or another one looked at: Enter goes on to
        // the step the run waits on (asking to run it, if it has a command).
        if let Some(run) = self
            .run
            .as_mut()
            .filter(|r| r.question.is_some() && r.viewed != r.current)
        {
            run.view_step(run.current);
            if !matches!(run.question, Some(Question::Confirm { .. })) {
                return None;
            }
        }
        let Some(question) = self.question().cloned() else {
            self.flash = Some(match &self.run {
                Some(run) if run.is_finished() => "the run is over: `p` opens another playbook".into(),
                Some(_) => "the step is running; x cancels its command".into(),
                None => "no playbook run: `p` opens one".into(),
            });
            return None;
        };
        match question {
            Question::Manual { .. } => {
                let unticked = self.run.as_ref().map(|r| r.unticked()).unwrap_or(0);
                if unticked > 0 {
                    self.flash = Some(format!(
                        "{unticked} checklist item(s) not ticked: space ticks, s skips with a reason"
                    ));
                    return None;
                }
                return Some(Request::Answer(RunEvent::ManualDone));
            }
            Question::Confirm { .. } | Question::Recovery { .. } => {
                self.overlay = Some(Overlay::Popup(Popup::new(PopupKind::Answer(question))));
            }
        }
        None
    }

    fn tick_checklist(&mut self) -> Option<Request> {
        if !matches!(self.question(), Some(Question::Manual { .. })) {
            self.flash = Some("no checklist waits for you".into());
            return None;
        }
        // The boxes ticked are the ones on screen: first show them.
        if let Some(run) = self.run.as_mut().filter(|r| r.viewed != r.current) {
            run.view_step(run.current);
            self.flash = Some("the checklist waiting for you: space ticks the box under the cursor".into());
            return None;
        }
        let (item, ticked) = self.run.as_mut()?.tick()?;
        Some(Request::Answer(RunEvent::Tick {
            item,
            ticked,
            automatic: false,
        }))
    }

    fn ask_reason(&mut self, kind: PromptKind) -> Option<Request> {
        let Some(run) = &self.run else {
            self.flash = Some("no playbook run".into());
            return None;
        };
        if run.is_finished() {
            self.flash = Some("the run is over".into());
        } else if run.question.is_none() {
            // The driver reads answers only when it asks; cancelling comes first.
            self.flash = Some("a command is running: x cancels it first".into());
        } else {
            self.prompt = Some(Prompt {
                kind,
                text: Default::default(),
            });
        }
        None
    }

    /// A key while a prompt is open: edit, Enter to finish, Esc to cancel.
    fn type_in_prompt(&mut self, key: KeyEvent) -> Option<Request> {
        let prompt = self.prompt.as_mut()?;
        match key.code {
            KeyCode::Esc => {
                if prompt.kind == PromptKind::Filter {
                    self.filter.clear();
                }
                self.prompt = None;
                return None;
            }
            // (Ctrl-J is a line feed: in raw mode it arrives as Ctrl+j.)
            KeyCode::Enter if key.modifiers.contains(KeyModifiers::ALT) && prompt.kind.multi_line() => {
                prompt.text.insert_line_break()
            }
            KeyCode::Char('j') if key.modifiers.contains(KeyModifiers::CONTROL) && prompt.kind.multi_line() => {
                prompt.text.insert_line_break()
            }
            KeyCode::Enter => {
                let prompt = self.prompt.take()?;
                return self.finish_prompt(prompt);
            }
            _ => {
                prompt.text.handle_key(key);
            }
        }
        if let Some(Prompt {
            kind: PromptKind::Filter,
            text,
        }) = &self.prompt
        {
            // The list follows the filter as it is typed.
            let filter = text.value().trim().to_string();
            self.keep_selection(|app| app.filter = filter);
        }
        None
    }

    fn finish_prompt(&mut self, prompt: Prompt) -> Option<Request> {
        let text = prompt.text.value().trim().to_string();
        if prompt.kind == PromptKind::Filter {
            self.keep_selection(|app| app.filter = text);
            return None;
        }
        if text.is_empty() {
            if matches!(prompt.kind, PromptKind::SkipReason | PromptKind::AbortReason) {
                self.flash = Some("a reason is required: nothing was done".into());
            }
            return None;
        }
        let note = |text: String| Note { text, tags: Vec::new() };
        match prompt.kind {
            PromptKind::Filter => None,
            PromptKind::Note => Some(append(Payload::Note(note(text)))),
            PromptKind::Decision => Some(append(Payload::Decision(note(text)))),
            PromptKind::ActionItem => Some(append(Payload::ActionItem(ActionItem::parse(&text)))),
            PromptKind::Amend { target, seq } => amendment(Amendment {
                target,
                target_seq: Some(seq),
                text: Some(text),
                ..Amendment::default()
            }),
            PromptKind::SkipReason => Some(Request::Answer(RunEvent::Skip { reason: text })),
            PromptKind::AbortReason => {
                if let Some(run) = self.run.as_mut() {
                    run.abort_reason = Some(text.clone());
                }
                Some(Request::Answer(RunEvent::Abort { reason: text }))
            }
            PromptKind::IncidentTitle => {
                self.ask_severity(text);
                None
            }
        }
    }

    fn key_in_overlay(&mut self, overlay: Overlay, key: KeyEvent) -> Option<Request> {
        match overlay {
            // The arrows and pages scroll a long event (a command's
            // output); any other key closes it: it was for reading.
            Overlay::Event { id, scroll } => {
                // A page is nearly a screen (the view stops at the last line).
                let page = 15;
                let scroll = match key.code {
                    KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
                    KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                    KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(page),
                    KeyCode::PageUp => scroll.saturating_sub(page),
                    KeyCode::Home | KeyCode::Char('g') => 0,
                    KeyCode::End | KeyCode::Char('G') => usize::MAX,
                    _ => return None,
                };
                self.overlay = Some(Overlay::Event { id, scroll });
                None
            }
            Overlay::Help => {
                // Any key closes the help; `?` and Esc do nothing else.
                if !matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                    return self.handle_key(key);
                }
                None
            }
            Overlay::Palette(palette) => self.key_in_palette(palette, key),
            Overlay::Form(form) => self.key_in_form(*form, key),
            Overlay::Picker(picker) => self.key_in_picker(picker, key),
            Overlay::Popup(popup) => self.key_in_popup(popup, key),
        }
    }

    fn key_in_palette(&mut self, mut palette: Palette, key: KeyEvent) -> Option<Request> {
        let count = palette.suggestions(self.read_only).len();
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Enter => return self.run_palette_command(&palette),
            KeyCode::Tab => palette.complete(self.read_only),
            KeyCode::Down => palette.selected = (palette.selected + 1).min(count.saturating_sub(1)),
            KeyCode::Up => palette.selected = palette.selected.saturating_sub(1),
            // A command line is edited at its end: Backspace, Ctrl-W, Ctrl-U.
            _ => {
                let mut text = crate::text_field::TextField::with_cursor(&palette.text, usize::MAX);
                let before = text.value().to_string();
                if text.handle_key(key) && text.cursor() == text.value().chars().count() {
                    palette.text = text.value().to_string();
                    if palette.text != before {
                        palette.selected = 0;
                    }
                }
            }
        }
        self.overlay = Some(Overlay::Palette(palette));
        None
    }

    // Longer than 80 lines on purpose: one arm per `:` command of the palette, the same
    // list `palette::COMMANDS` documents, so the two are read side by side.
    fn run_palette_command(&mut self, palette: &Palette) -> Option<Request> {
        let Some((command, argument)) = palette.parse(self.read_only) else {
            let word = palette.text.split_whitespace().next().unwrap_or("");
            let known = super::palette::COMMANDS.iter().any(|c| c.name == word);
            self.flash = Some(if known && self.read_only {
                format!("read-only: `{word}` is not available")
            } else {
                format!("unknown command `{}`", vigie_core::sanitize::one_line(word))
            });
            return None;
        };
        let with_text = |app: &mut App, kind: PromptKind| {
            if argument.is_empty() {
                app.open_prompt(kind);
                None
            } else if app.needs_incident() {
                app.finish_prompt(Prompt {
                    kind,
                    text: argument.as_str().into(),
                })
            } else {
                None
            }
        };
        match command {
            "run" if argument.is_empty() => return self.open_playbook_picker(),
            "run" if self.can_start_a_run() => match self.catalog.iter().find(|p| p.id == argument).cloned() {
                Some(playbook) => self.open_form(playbook, &[], None),
                None => {
                    // Perhaps written a moment ago: read the playbooks again.
                    self.flash = Some(format!(
                        "no playbook {} (playbooks_dir is being read again: p lists them)",
                        vigie_core::sanitize::one_line(&argument)
                    ));
                    return Some(Request::RescanPlaybooks);
                }
            },
            "incident" if argument.is_empty() => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::IncidentTitle,
                    text: Default::default(),
                })
            }
            "incident" => self.ask_severity(argument),
            "note" => return with_text(self, PromptKind::Note),
            "decision" => return with_text(self, PromptKind::Decision),
            "action" => return with_text(self, PromptKind::ActionItem),
            "status" | "severity" => {
                let purpose = if command == "status" {
                    PickPurpose::Status
                } else {
                    PickPurpose::Severity
                };
                if argument.is_empty() {
                    self.open_incident_picker(purpose);
                } else {
                    return self.change_incident(&purpose, &argument);
                }
            }
            "report" if self.needs_incident() => return Some(Request::WriteReport),
            // The post-mortem's narrative, written during the incident: tagged notes.
            "summary" | "impact" if self.needs_incident() => {
                if argument.is_empty() {
                    self.prompt = Some(Prompt {
                        kind: PromptKind::Note,
                        text: format!("#{command} ").into(),
                    });
                } else {
                    return Some(append(Payload::Note(Note {
                        text: argument.to_string(),
                        tags: vec![command.to_string()],
                    })));
                }
            }
            "role" if self.needs_incident() => match argument.split_once(' ') {
                Some((who, role)) if !role.trim().is_empty() => {
                    return Some(Request::Append(vigie_core::incident::role_assignment(who, role)))
                }
                _ => self.flash = Some("write `:role WHO ROLE`, e.g. `:role alice commander`".into()),
            },
            "filter" => self.keep_selection(|app| app.filter = argument),
            "faulty" => return self.apply_action(Action::ToggleFaulty),
            "sort" => match SortBy::parse(&argument) {
                Some(sort) => self.keep_selection(|app| app.sort = sort),
                // Alone it goes to the next order, as `o` does; a word it
                // does not know is said so, not guessed at.
                None if argument.is_empty() => return self.apply_action(Action::CycleSort),
                None => {
                    self.flash = Some(format!(
                        "no sort {}: inventory, name, health or load",
                        vigie_core::sanitize::one_line(&argument)
                    ))
                }
            },
            "run-view" => {
                if self.run.is_some() {
                    self.focus = Focus::Run;
                } else {
                    self.flash = Some("no playbook run".into());
                }
            }
            "help" => self.overlay = Some(Overlay::Help),
            "quit" => return self.apply_action(Action::Quit),
            _ => {}
        }
        None
    }

    fn change_incident(&mut self, purpose: &PickPurpose, value: &str) -> Option<Request> {
        let incident = self.incident.clone()?;
        let parsed = match purpose {
            PickPurpose::Status => Status::ALL
                .into_iter()
                .find(|s| s.as_str() == value)
                .filter(|s| *s != incident.status)
                .map(|to| vigie_core::incident::status_change(incident.status, to)),
            _ => Severity::ALL
                .into_iter()
                .find(|s| s.as_str() == value)
                .filter(|s| *s != incident.severity)
                .map(|to| vigie_core::incident::severity_change(incident.severity, to)),
        };
        if parsed.is_none() {
            self.flash = Some(format!("{} is not a change", vigie_core::sanitize::one_line(value)));
        }
        parsed.map(Request::Append)
    }

    fn key_in_picker(&mut self, mut picker: Picker, key: KeyEvent) -> Option<Request> {
        let last = picker.visible().len().saturating_sub(1);
        // (A picker may open with nothing chosen yet: `selected` past the end.)
        let none_yet = picker.selected > last;
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Down if none_yet => picker.selected = 0,
            KeyCode::Down => picker.selected = (picker.selected + 1).min(last),
            KeyCode::Up if none_yet => picker.selected = last,
            KeyCode::Up => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::PageUp => picker.selected = 0,
            KeyCode::End | KeyCode::PageDown => picker.selected = last,
            KeyCode::Enter => {
                let Some((value, _)) = picker.chosen().cloned() else {
                    if none_yet && !picker.options.is_empty() {
                        self.flash = Some(format!("choose the {}: ↑↓ then Enter", picker.title));
                    }
                    self.overlay = Some(Overlay::Picker(picker));
                    return None;
                };
                return match picker.purpose {
                    PickPurpose::DeclareWith { title } => {
                        let severity = Severity::ALL.into_iter().find(|s| s.as_str() == value)?;
                        Some(Request::DeclareIncident { title, severity })
                    }
                    PickPurpose::Playbook => {
                        if let Some(playbook) = self.catalog.iter().find(|p| p.id == value).cloned() {
                            let usual = self.usual_inputs(&playbook);
                            let prefill: Vec<(&str, String)> = usual
                                .iter()
                                .map(|(name, value)| (name.as_str(), value.clone()))
                                .collect();
                            self.open_form(playbook, &prefill, None);
                        }
                        None
                    }
                    PickPurpose::Status | PickPurpose::Severity => self.change_incident(&picker.purpose, &value),
                    PickPurpose::Mark { target, seq } => amendment(Amendment {
                        target,
                        target_seq: Some(seq),
                        mark: Mark::parse(&value),
                        ..Amendment::default()
                    }),
                };
            }
            // Typing narrows the list (id, title, tags), edited like a prompt.
            _ => {
                let mut text = crate::text_field::TextField::with_cursor(&picker.filter, usize::MAX);
                if text.handle_key(key) && text.value() != picker.filter {
                    picker.filter = text.value().to_string();
                    picker.selected = 0;
                }
            }
        }
        self.overlay = Some(Overlay::Picker(picker));
        None
    }

    fn key_in_form(&mut self, mut form: InputForm, key: KeyEvent) -> Option<Request> {
        match form.handle_key(key) {
            FormOutcome::Cancelled => return None,
            FormOutcome::Editing => self.refresh_live_options(&mut form),
            FormOutcome::Submitted if matches!(&form.driven_by, Some(Some(_))) => {
                self.flash = Some("that run is driven in another vigie right now: nothing was started".into());
            }
            FormOutcome::Submitted => match self.check_form(&form) {
                Ok(values) => {
                    form.problems.clear();
                    let popup = Popup::new(PopupKind::StartRun {
                        values,
                        resumable: form.unfinished.is_some(),
                    });
                    // The form stays behind the popup: Cancel goes back to it.
                    self.overlay = Some(Overlay::Popup(popup));
                    self.pending_form = Some(Box::new(form));
                    return None;
                }
                Err(problems) => form.problems = problems,
            },
        }
        self.overlay = Some(Overlay::Form(Box::new(form)));
        None
    }

    /// The same checks as `vigie run`: the engine's, then VMs against the
    /// live status this cockpit already has.
    fn check_form(&self, form: &InputForm) -> Result<BTreeMap<String, String>, Vec<String>> {
        let given =
            vigie_core::playbook::format::with_inventory_defaults(&form.playbook, &form.values(), &self.inventory);
        let values = validate_inputs(&form.playbook, &given, &self.host_names())?;
        let mut problems = check_reachable_inputs(&form.playbook, &values, |host| {
            let status = self.fleet.hosts.iter().find(|h| h.name == host);
            match status.map(|h| &h.reachability) {
                Some(Reachability::Reachable) => Ok(()),
                Some(Reachability::Unreachable { reason, .. }) => Err(reason.clone()),
                Some(Reachability::Unknown) => Err("not polled yet: wait for its first poll".into()),
                None => Err("not in the inventory".into()),
            }
        });
        problems.extend(check_vm_inputs(&form.playbook, &values, |host| {
            let index = self
                .fleet
                .hosts
                .iter()
                .position(|h| h.name == host)
                .ok_or_else(|| format!("no host {host:?} in the inventory"))?;
            Ok(self.vms_of(index).into_iter().cloned().collect())
        }));
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    }

    fn key_in_popup(&mut self, mut popup: Popup, key: KeyEvent) -> Option<Request> {
        let buttons = popup.kind.buttons().len();
        let typing =
            matches!(&popup.kind, PopupKind::Answer(Question::Confirm { expected, .. }) if !expected.is_empty());
        match key.code {
            KeyCode::Esc => return self.close_popup(popup),
            KeyCode::Tab | KeyCode::Right => popup.focus = (popup.focus + 1) % buttons,
            KeyCode::BackTab | KeyCode::Left => popup.focus = (popup.focus + buttons - 1) % buttons,
            KeyCode::Backspace if typing => {
                popup.typed.pop();
            }
            KeyCode::Char(c) if typing && !c.is_control() => popup.typed.push(c),
            KeyCode::Enter => return self.press_button(popup),
            _ => {}
        }
        // A high-risk step: the target's name typed whole is the
        // confirmation, so Run takes the focus then (and gives it back to
        // Cancel if the name is spoiled).
        if let PopupKind::Answer(Question::Confirm { expected, .. }) = &popup.kind {
            if typing && matches!(key.code, KeyCode::Char(_) | KeyCode::Backspace) {
                popup.focus = usize::from(popup.typed.trim() == expected);
            }
        }
        self.overlay = Some(Overlay::Popup(popup));
        None
    }

    /// Esc or the first button: nothing happens.
    fn close_popup(&mut self, popup: Popup) -> Option<Request> {
        if let PopupKind::StartRun { .. } = popup.kind {
            // Back to the form, as it was.
            self.overlay = self.pending_form.take().map(Overlay::Form);
        }
        None
    }

    fn press_button(&mut self, mut popup: Popup) -> Option<Request> {
        if popup.focus == 0 {
            return self.close_popup(popup);
        }
        match popup.kind.clone() {
            PopupKind::StartRun { values, resumable } => {
                let form = self.pending_form.take()?;
                self.focus = Focus::Run;
                // With a stopped run: button 1 takes it up, button 2 starts anew.
                let (resume, abandoned) = match (resumable, popup.focus) {
                    (true, 1) => (form.unfinished.map(Box::new), None),
                    (true, _) => (None, form.unfinished.map(Box::new)),
                    (false, _) => (None, None),
                };
                Some(Request::StartRun {
                    playbook: Box::new(form.playbook),
                    inputs: values,
                    resume,
                    abandoned,
                })
            }
            PopupKind::Answer(Question::Confirm { expected, .. }) => {
                if popup.typed.trim() != expected {
                    popup.error = Some(format!("type {expected} exactly to run this step"));
                    popup.focus = 1;
                    self.overlay = Some(Overlay::Popup(popup));
                    return None;
                }
                Some(Request::Answer(RunEvent::Confirmed { typed: popup.typed }))
            }
            PopupKind::Answer(Question::Manual { .. }) => Some(Request::Answer(RunEvent::ManualDone)),
            PopupKind::Answer(Question::Recovery { .. }) => match popup.focus {
                1 => Some(Request::Answer(RunEvent::Retry)),
                2 => self.ask_reason(PromptKind::SkipReason),
                _ => self.ask_reason(PromptKind::AbortReason),
            },
            PopupKind::QuitDuringRun => {
                self.should_quit = true;
                None
            }
        }
    }
}

fn amendment(amendment: Amendment) -> Option<Request> {
    Some(append(Payload::Amendment(amendment)))
}

/// Appending `payload` to the incident's timeline.
fn append(payload: Payload) -> Request {
    Request::Append(NewEvent::from(payload))
}
