//! The cockpit's state and how actions change it. No IO, no terminal: the
//! event loop feeds it, the views read it.

use super::keys::Action;
use crate::config::{Config, ConfigSource};
use crate::status::{HostStatus, PollResult};
use chrono::{DateTime, Utc};

pub struct App {
    pub hosts: Vec<HostStatus>,
    pub selected: usize,
    pub show_help: bool,
    pub should_quit: bool,
    /// Title of the current incident, if one is open.
    pub incident: Option<String>,
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
            show_help: false,
            should_quit: false,
            incident: None,
            config_source: config.source.clone(),
            now,
        }
    }

    pub fn apply_action(&mut self, action: Action) {
        let last = self.hosts.len().saturating_sub(1);
        match action {
            Action::Quit => self.should_quit = true,
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::CloseOverlay => self.show_help = false,
            Action::SelectNext => self.selected = (self.selected + 1).min(last),
            Action::SelectPrevious => self.selected = self.selected.saturating_sub(1),
            Action::SelectFirst => self.selected = 0,
            Action::SelectLast => self.selected = last,
        }
    }

    pub fn apply_poll(&mut self, result: &PollResult) {
        if let Some(host) = self.hosts.get_mut(result.host_index) {
            host.apply(result);
        }
    }

    pub fn selected_host(&self) -> Option<&HostStatus> {
        self.hosts.get(self.selected)
    }
}
