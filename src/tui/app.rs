//! The cockpit's state and how actions change it. No IO, no terminal: the
//! event loop feeds it, the views read it.

use super::keys::Action;
use crate::config::{Config, ConfigSource};
use crate::incident::IncidentState;
use crate::status::{HostStatus, PollResult};
use crate::timeline::Event;
use chrono::{DateTime, Utc};

/// Timeline events kept in memory for display; older ones stay on disk.
const TIMELINE_KEPT: usize = 2000;

/// A line the responder is typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Note(String),
    Filter(String),
}

/// Work the event loop must do for the app (IO the app itself never does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    AppendNote(String),
}

pub struct App {
    pub hosts: Vec<HostStatus>,
    /// Index into [`App::visible_hosts`].
    pub selected: usize,
    /// Show only hosts with a problem.
    pub faulty_only: bool,
    /// Show only hosts whose name contains this (case-insensitive).
    pub filter: String,
    pub prompt: Option<Prompt>,
    /// `--read-only`: look, never act.
    pub read_only: bool,
    /// `NO_COLOR`: glyphs and text carry every meaning, colours are dropped.
    pub no_color: bool,
    /// The last message for the responder ("note recorded", an error).
    pub flash: Option<String>,
    pub show_help: bool,
    pub should_quit: bool,
    /// The current incident, as its timeline tells it.
    pub incident: Option<IncidentState>,
    /// The latest timeline events (oldest first), for the timeline pane.
    pub timeline: Vec<Event>,
    /// Where the inventory came from, shown when it is the embedded default.
    pub config_source: ConfigSource,
    /// The clock the views use; set by the event loop, fixed in tests.
    pub now: DateTime<Utc>,
}

impl App {
    pub fn new(config: &Config, now: DateTime<Utc>) -> Self {
        App {
            hosts: config.hosts.iter().map(HostStatus::new).collect(),
            selected: 0,
            faulty_only: false,
            filter: String::new(),
            prompt: None,
            read_only: false,
            no_color: false,
            flash: None,
            show_help: false,
            should_quit: false,
            incident: None,
            timeline: Vec::new(),
            config_source: config.source.clone(),
            now,
        }
    }

    pub fn apply_action(&mut self, action: Action) -> Option<Request> {
        let last = self.visible_hosts().len().saturating_sub(1);
        match action {
            Action::Quit => self.should_quit = true,
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::CloseOverlay => self.show_help = false,
            Action::SelectNext => self.selected = (self.selected + 1).min(last),
            Action::SelectPrevious => self.selected = self.selected.saturating_sub(1),
            Action::SelectFirst => self.selected = 0,
            Action::SelectLast => self.selected = last,
            Action::ToggleFaulty => {
                self.faulty_only = !self.faulty_only;
                self.selected = 0;
            }
            Action::Filter => self.prompt = Some(Prompt::Filter(self.filter.clone())),
            Action::Note => {
                if self.incident.is_some() {
                    self.prompt = Some(Prompt::Note(String::new()));
                } else {
                    self.flash = Some("no incident: declare one with `vigie incident new TITLE`".into());
                }
            }
        }
        None
    }

    /// A key while a prompt is open: edit, Enter to finish, Esc to cancel.
    pub fn type_key(&mut self, key: crossterm::event::KeyEvent) -> Option<Request> {
        use crossterm::event::KeyCode;
        let prompt = self.prompt.as_mut()?;
        let text = match prompt {
            Prompt::Note(text) | Prompt::Filter(text) => text,
        };
        match key.code {
            KeyCode::Char(c) if !c.is_control() => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Esc => self.prompt = None,
            KeyCode::Enter => {
                return match self.prompt.take() {
                    Some(Prompt::Filter(text)) => {
                        self.filter = text.trim().to_string();
                        self.selected = 0;
                        None
                    }
                    Some(Prompt::Note(text)) if !text.trim().is_empty() => {
                        Some(Request::AppendNote(text.trim().to_string()))
                    }
                    _ => None,
                };
            }
            _ => {}
        }
        if let Some(Prompt::Filter(text)) = &self.prompt {
            // The list follows the filter as it is typed.
            self.filter = text.trim().to_string();
            self.selected = 0;
        }
        None
    }

    /// Indices of the hosts shown, after the faulty-only toggle and the filter.
    pub fn visible_hosts(&self) -> Vec<usize> {
        let filter = self.filter.to_lowercase();
        self.hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| filter.is_empty() || h.name.to_lowercase().contains(&filter))
            .filter(|(_, h)| !self.faulty_only || !h.is_reachable() || !crate::alerts::for_host(h).is_empty())
            .map(|(i, _)| i)
            .collect()
    }

    pub fn apply_poll(&mut self, result: &PollResult) {
        if let Some(host) = self.hosts.get_mut(result.host_index) {
            host.apply(result);
        }
    }

    /// Folds new timeline events (from this or another responder) into the state.
    pub fn apply_timeline(&mut self, events: Vec<Event>) {
        for event in &events {
            self.incident = IncidentState::fold(self.incident.take(), event);
        }
        self.timeline.extend(events);
        if self.timeline.len() > TIMELINE_KEPT {
            let excess = self.timeline.len() - TIMELINE_KEPT;
            self.timeline.drain(..excess);
        }
    }

    /// The VMs that belong to `host`: those any live cluster view places on
    /// it, else those of its own last reading.
    pub fn vms_of<'a>(&'a self, host: &'a HostStatus) -> Vec<&'a crate::probe::model::Vm> {
        let mut vms: Vec<&crate::probe::model::Vm> = Vec::new();
        for other in self.hosts.iter().filter(|h| h.is_reachable()) {
            for vm in other.reading.iter().flat_map(|r| r.vms.iter()) {
                if vm.node.as_deref() == Some(host.name.as_str()) && !vms.iter().any(|v| v.id == vm.id) {
                    vms.push(vm);
                }
            }
        }
        if vms.is_empty() {
            vms = host
                .reading
                .iter()
                .flat_map(|r| r.vms.iter())
                .filter(|vm| vm.node.is_none())
                .collect();
        }
        vms
    }

    pub fn selected_host(&self) -> Option<&HostStatus> {
        self.visible_hosts().get(self.selected).and_then(|i| self.hosts.get(*i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app() -> App {
        let config = Config::parse(
            std::path::Path::new("v.toml"),
            "[[hosts]]\nname = \"miramelle\"\n[[hosts]]\nname = \"locuste\"\n[[hosts]]\nname = \"backup\"\n",
        )
        .unwrap();
        App::new(&config, Utc::now())
    }

    #[test]
    fn filter_narrows_the_list_as_it_is_typed() {
        let mut app = app();
        app.apply_action(Action::Filter);
        for c in "LOC".chars() {
            app.type_key(key(KeyCode::Char(c)));
        }
        assert_eq!(app.visible_hosts(), vec![1]);
        assert_eq!(app.selected_host().unwrap().name, "locuste");
        app.type_key(key(KeyCode::Enter));
        assert_eq!((app.prompt.clone(), app.filter.as_str()), (None, "LOC"));
    }

    #[test]
    fn faulty_only_hides_healthy_hosts() {
        let mut app = app();
        app.apply_action(Action::ToggleFaulty);
        // Not polled yet counts as faulty: nobody knows they are fine.
        assert_eq!(app.visible_hosts().len(), 3);
    }

    #[test]
    fn a_note_needs_an_incident_and_text() {
        let mut app = app();
        app.apply_action(Action::Note);
        assert!(app.prompt.is_none());
        assert!(app.flash.as_deref().unwrap().starts_with("no incident"));
        app.incident = Some(IncidentState {
            title: "t".into(),
            severity: crate::incident::Severity::Major,
            status: crate::incident::Status::Investigating,
            started: Utc::now(),
            resolved: None,
        });
        app.apply_action(Action::Note);
        assert_eq!(app.type_key(key(KeyCode::Enter)), None, "an empty note is not recorded");
        app.apply_action(Action::Note);
        for c in "hi".chars() {
            app.type_key(key(KeyCode::Char(c)));
        }
        app.type_key(key(KeyCode::Backspace));
        assert_eq!(app.type_key(key(KeyCode::Enter)), Some(Request::AppendNote("h".into())));
    }
}
