//! The cockpit's state and how actions change it. No IO, no terminal: the
//! event loop feeds it, the views read it.

use super::keys::Action;
use crate::config::{Config, ConfigSource};
use crate::incident::{Severity, Status};
use crate::status::{HostStatus, PollResult};
use crate::timeline::event::kinds;
use crate::timeline::Event;
use chrono::{DateTime, Utc};

/// Timeline events kept in memory for display; older ones stay on disk.
const TIMELINE_KEPT: usize = 2000;

/// What the header says about the incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentHeader {
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub started: DateTime<Utc>,
}

pub struct App {
    pub hosts: Vec<HostStatus>,
    pub selected: usize,
    pub show_help: bool,
    pub should_quit: bool,
    /// The current incident, as its timeline tells it.
    pub incident: Option<IncidentHeader>,
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
            show_help: false,
            should_quit: false,
            incident: None,
            timeline: Vec::new(),
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

    /// Folds new timeline events (from this or another responder) into the state.
    pub fn apply_timeline(&mut self, events: Vec<Event>) {
        for event in &events {
            let field = |name: &str| event.data.get(name).cloned();
            match event.kind.as_str() {
                kinds::INCIDENT_DECLARED => {
                    self.incident = Some(IncidentHeader {
                        title: event.text("title").unwrap_or("untitled").to_string(),
                        severity: field("severity")
                            .and_then(|v| serde_json::from_value(v).ok())
                            .unwrap_or(Severity::Major),
                        status: Status::Investigating,
                        started: event.at,
                    })
                }
                kinds::SEVERITY_CHANGED => {
                    if let (Some(header), Some(to)) = (
                        &mut self.incident,
                        field("to").and_then(|v| serde_json::from_value(v).ok()),
                    ) {
                        header.severity = to;
                    }
                }
                kinds::STATUS_CHANGED => {
                    if let (Some(header), Some(to)) = (
                        &mut self.incident,
                        field("to").and_then(|v| serde_json::from_value(v).ok()),
                    ) {
                        header.status = to;
                    }
                }
                _ => {}
            }
        }
        self.timeline.extend(events);
        if self.timeline.len() > TIMELINE_KEPT {
            let excess = self.timeline.len() - TIMELINE_KEPT;
            self.timeline.drain(..excess);
        }
    }

    pub fn selected_host(&self) -> Option<&HostStatus> {
        self.hosts.get(self.selected)
    }
}
