//! The cockpit's state and how it changes. No IO, no terminal: the event
//! loop feeds it (polls, timeline events, run updates, keys) and carries out
//! the [`Request`]s it returns; the views read it. What keys do is in
//! `actions.rs`.

use super::form::InputForm;
use super::keys::{Context, Keymap};
use super::palette::Palette;
use super::run_view::RunView;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use vigie_core::config::{Config, ConfigSource};
use vigie_core::fleet::{FleetStatus, Observation};
use vigie_core::incident::IncidentState;
use vigie_core::playbook::engine::RunEvent;
use vigie_core::playbook::Playbook;
use vigie_core::status::{HostStatus, PollResult};
use vigie_core::timeline::payload::Kind;
use vigie_core::timeline::{Event, NewEvent};
use vigie_runtime::driver::{Question, RunUpdate};

/// Timeline events kept in memory for display; older ones stay on disk.
const TIMELINE_KEPT: usize = 2000;

/// Which pane the keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Hosts,
    Timeline,
    /// The playbook run fills the body.
    Run,
}

impl Focus {
    pub fn context(self) -> Context {
        match self {
            Focus::Hosts => Context::Hosts,
            Focus::Timeline => Context::Timeline,
            Focus::Run => Context::Run,
        }
    }
}

/// What a line typed at the bottom of the screen is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    Note,
    Decision,
    ActionItem,
    Filter,
    /// New text for an event of the timeline.
    Amend {
        target: String,
        seq: u64,
    },
    SkipReason,
    AbortReason,
    IncidentTitle,
}

impl PromptKind {
    pub fn label(&self) -> String {
        match self {
            PromptKind::Note => "note".into(),
            PromptKind::Decision => "decision".into(),
            PromptKind::ActionItem => "action item".into(),
            PromptKind::Filter => "filter".into(),
            PromptKind::Amend { seq, .. } => format!("amend #{seq}"),
            PromptKind::SkipReason => "why skip this step".into(),
            PromptKind::AbortReason => "why abort the run".into(),
            PromptKind::IncidentTitle => "new incident".into(),
        }
    }

    /// Notes and decisions (and their amendments) may hold several lines:
    /// Alt-Enter or Ctrl-J breaks the line, a paste keeps its lines.
    pub fn multi_line(&self) -> bool {
        matches!(self, PromptKind::Note | PromptKind::Decision | PromptKind::Amend { .. })
    }

    pub fn help(&self) -> &'static str {
        match self {
            PromptKind::Filter => "a name, tag:… or role:… · Enter keeps it · Esc cancels",
            PromptKind::ActionItem => "text @owner due:YYYY-MM-DD p1..p4 https://tracker… · Enter · Esc cancels",
            PromptKind::SkipReason | PromptKind::AbortReason => "a reason is required · Enter · Esc cancels",
            PromptKind::IncidentTitle => "Enter, then its severity · Esc cancels",
            _ => "Enter records it · Alt-Enter new line · Esc cancels",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: crate::text_field::TextField,
}

/// The host filter (`/`): every word must match. `tag:rack-a` keeps the
/// hosts with that tag (as `on=tag:rack-a` does), `role:db` those whose
/// role starts so; any other
/// word is looked for in the name and the address. Case does not matter.
pub fn host_matches(filter: &str, name: &str, host: Option<&vigie_core::config::Host>) -> bool {
    filter.to_lowercase().split_whitespace().all(|word| {
        let tags = host.map(|h| h.tags.as_slice()).unwrap_or_default();
        let role = host.and_then(|h| h.role.as_deref()).unwrap_or_default();
        if let Some(tag) = word.strip_prefix(vigie_core::config::TAG_TARGET) {
            tags.iter().any(|t| t.to_lowercase() == tag)
        } else if let Some(wanted) = word.strip_prefix("role:") {
            role.to_lowercase().starts_with(wanted)
        } else {
            name.to_lowercase().contains(word) || host.is_some_and(|h| h.address.to_lowercase().contains(word))
        }
    })
}

/// What a choice in a picker is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickPurpose {
    Playbook,
    /// The severity of an incident about to be declared with this title.
    DeclareWith {
        title: String,
    },
    Mark {
        target: String,
        seq: u64,
    },
    Status,
    Severity,
}

/// A short list to choose one entry from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub title: String,
    /// (value, label)
    pub options: Vec<(String, String)>,
    /// Extra words each option is found by (a playbook's tags), in order.
    pub keywords: Vec<String>,
    /// Typed to narrow the list: options whose label or keywords contain it.
    pub filter: String,
    /// Index into [`Picker::visible`].
    pub selected: usize,
    pub purpose: PickPurpose,
}

impl Picker {
    /// The options the filter lets through, as indices into `options`.
    pub fn visible(&self) -> Vec<usize> {
        let wanted = self.filter.trim().to_lowercase();
        (0..self.options.len())
            .filter(|&i| {
                let (value, label) = &self.options[i];
                let keywords = self.keywords.get(i).map(String::as_str).unwrap_or("");
                wanted.is_empty()
                    || [value.as_str(), label.as_str(), keywords]
                        .iter()
                        .any(|text| text.to_lowercase().contains(&wanted))
            })
            .collect()
    }

    /// The value under the cursor, if the filter left any.
    pub fn chosen(&self) -> Option<&(String, String)> {
        let index = *self.visible().get(self.selected)?;
        self.options.get(index)
    }
}

/// A question that must be answered before anything happens. Its first
/// button (Cancel, Later) has the focus, so a stray Enter does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopupKind {
    /// `resumable`: a run of this playbook stopped in the middle; it can be
    /// taken up (finished steps are not run again) or started anew.
    StartRun {
        values: BTreeMap<String, String>,
        resumable: bool,
    },
    /// The engine's question about a step: run it (`Confirm`, with the name
    /// to type for a high-risk one) or recover from its failure (`Recovery`).
    Answer(Question),
    QuitDuringRun,
}

impl PopupKind {
    pub fn buttons(&self) -> &'static [&'static str] {
        match self {
            PopupKind::StartRun { resumable: false, .. } => &["Cancel", "Start"],
            PopupKind::StartRun { resumable: true, .. } => &["Cancel", "Take it up", "Start anew"],
            PopupKind::Answer(Question::Confirm { .. }) => &["Cancel", "Run"],
            PopupKind::Answer(Question::Manual { .. }) => &["Cancel", "Done"],
            PopupKind::Answer(Question::Recovery { .. }) => &["Later", "Retry", "Skip…", "Abort…"],
            PopupKind::QuitDuringRun => &["Cancel", "Quit"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    pub kind: PopupKind,
    /// The target's name as typed, for a high-risk step.
    pub typed: String,
    pub focus: usize,
    pub error: Option<String>,
}

impl Popup {
    /// Enter does the expected thing at once (start, run the step), except
    /// where a slip costs: a high-risk step, a failure to recover from,
    /// quitting during a run; there Enter cancels until the responder moves.
    pub fn new(kind: PopupKind) -> Popup {
        let focus = match &kind {
            PopupKind::StartRun { .. } => 1,
            PopupKind::Answer(Question::Confirm { expected, .. }) if expected.is_empty() => 1,
            PopupKind::Answer(Question::Manual { .. }) => 1,
            PopupKind::Answer(_) | PopupKind::QuitDuringRun => 0,
        };
        Popup {
            kind,
            typed: String::new(),
            focus,
            error: None,
        }
    }
}

/// At most one at a time, drawn over the panes; it takes every key.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    /// One timeline event whole: its text, data, output, amendments.
    Event {
        id: String,
        scroll: usize,
    },
    Palette(Palette),
    Form(Box<InputForm>),
    Picker(Picker),
    Popup(Popup),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// As in vigie.toml.
    Inventory,
    Name,
    /// Worst first: unreachable, critical, warning, then the rest.
    Health,
    Load,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Inventory => SortBy::Name,
            SortBy::Name => SortBy::Health,
            SortBy::Health => SortBy::Load,
            SortBy::Load => SortBy::Inventory,
        }
    }

    pub fn parse(text: &str) -> Option<SortBy> {
        match text {
            "inventory" => Some(SortBy::Inventory),
            "name" => Some(SortBy::Name),
            "health" => Some(SortBy::Health),
            "load" => Some(SortBy::Load),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Inventory => "inventory",
            SortBy::Name => "name",
            SortBy::Health => "health",
            SortBy::Load => "load",
        }
    }
}

/// Which timeline events the pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    All,
    /// Notes, decisions, action items.
    Notes,
    /// Playbooks, steps and commands.
    Actions,
    /// Alerts and unreachable hosts.
    Alerts,
    /// Declaration, status, severity, roles, amendments.
    Incident,
}

impl KindFilter {
    pub fn next(self) -> KindFilter {
        match self {
            KindFilter::All => KindFilter::Notes,
            KindFilter::Notes => KindFilter::Actions,
            KindFilter::Actions => KindFilter::Alerts,
            KindFilter::Alerts => KindFilter::Incident,
            KindFilter::Incident => KindFilter::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KindFilter::All => "all",
            KindFilter::Notes => "notes",
            KindFilter::Actions => "actions",
            KindFilter::Alerts => "alerts",
            KindFilter::Incident => "incident",
        }
    }

    /// Which filter an event kind belongs to (every kind has one).
    fn of(kind: Kind) -> KindFilter {
        match kind {
            Kind::Note | Kind::Decision | Kind::ActionItem | Kind::ActionItemUpdated => KindFilter::Notes,
            Kind::PlaybookStarted
            | Kind::PlaybookResumed
            | Kind::PlaybookFinished
            | Kind::StepStarted
            | Kind::StepDone
            | Kind::StepSkipped
            | Kind::StepFailed
            | Kind::ChecklistTicked
            | Kind::CommandSent
            | Kind::CommandFinished => KindFilter::Actions,
            Kind::AlertRaised | Kind::AlertCleared | Kind::HostUnreachable => KindFilter::Alerts,
            Kind::IncidentDeclared
            | Kind::StatusChanged
            | Kind::SeverityChanged
            | Kind::RoleAssigned
            | Kind::Amendment => KindFilter::Incident,
            // Site-specific kinds show under "all" only.
            Kind::Other => KindFilter::All,
        }
    }

    pub fn accepts(self, kind: &str) -> bool {
        self == KindFilter::All || KindFilter::of(Kind::of(kind)) == self
    }
}

/// Work the event loop must do for the app (IO the app itself never does).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Append to the incident's timeline (notes, decisions, marks...).
    Append(NewEvent),
    StartRun {
        playbook: Box<Playbook>,
        inputs: BTreeMap<String, String>,
        /// Take up this stopped run instead of starting anew.
        resume: Option<Box<vigie_core::playbook::engine::Progress>>,
        /// A stopped run the responder chose not to take up: closed in the
        /// timeline before the new one starts.
        abandoned: Option<Box<vigie_core::playbook::engine::Progress>>,
    },
    /// The responder's answer to the run's question.
    Answer(RunEvent),
    /// Stop the command running now.
    CancelCommand,
    DeclareIncident {
        title: String,
        severity: vigie_core::incident::Severity,
    },
    WriteReport,
    /// Read the playbooks again (`playbooks_dir` may have new ones): the
    /// catalog comes back as a notice, into the picker if it is open.
    RescanPlaybooks,
}

/// A host's reachability and its guests (id, node): what the VM index reads of it.
type VmPlacement = (bool, Vec<(String, Option<String>)>);

pub struct App {
    /// Every host's status and alerts, and when each alert began.
    pub fleet: FleetStatus,
    /// The inventory's hosts as vigie.toml gives them (inputs default from them).
    pub inventory: Vec<vigie_core::config::Host>,
    /// For each host, its VMs as (reporting host, index in its reading).
    vm_index: Vec<Vec<(usize, usize)>>,
    /// Index into [`App::visible_hosts`].
    pub selected: usize,
    /// Show only hosts with a problem.
    pub faulty_only: bool,
    /// Show only hosts whose name contains this (case-insensitive).
    pub filter: String,
    pub sort: SortBy,
    pub focus: Focus,
    pub prompt: Option<Prompt>,
    pub overlay: Option<Overlay>,
    /// The inputs form while its "start?" popup is open (Cancel returns to it).
    pub pending_form: Option<Box<InputForm>>,
    /// `--read-only`: look, never act.
    pub read_only: bool,
    /// `NO_COLOR`: glyphs and text carry every meaning, colours are dropped.
    pub no_color: bool,
    /// The last message for the responder ("note recorded", an error).
    pub flash: Option<String>,
    pub should_quit: bool,
    pub keymap: Keymap,
    /// The current incident, as its timeline tells it.
    pub incident: Option<IncidentState>,
    /// The latest timeline events (oldest first), for the timeline pane.
    pub timeline: Vec<Event>,
    /// Position in the filtered timeline; `None` follows the newest event.
    pub timeline_cursor: Option<usize>,
    pub kind_filter: KindFilter,
    /// Hide what the fleet recorded (alerts raised and cleared).
    pub hide_fleet_events: bool,
    /// Why the fleet journal is not being written, while it is not.
    pub recording_problem: Option<String>,
    /// The remotes incidents are shared through (`sync_remotes`), as the
    /// last rounds left them; `None` when this machine shares nothing.
    pub sync: Option<vigie_runtime::sync::SyncState>,
    /// Lines of the incident's timeline that are not events: skipped, and
    /// said in the header until someone looks (`vigie timeline verify`).
    pub timeline_damage: Vec<vigie_core::timeline::store::DamagedLine>,
    /// The host an incident was just declared for from the host list: once
    /// the incident is current, its alert's playbook is offered.
    pub offer_after_declaration: Option<String>,
    /// Events corrected by an amendment (shown corrected, marked as such).
    pub amended: std::collections::HashSet<String>,
    pub host_filter: Option<String>,
    /// Playbooks that can be opened (bundled and `playbooks_dir`).
    pub catalog: Vec<Playbook>,
    /// The playbook run, running or finished (one at a time).
    pub run: Option<RunView>,
    /// Where the inventory came from, shown when it is the embedded default.
    pub config_source: ConfigSource,
    /// The clock the views use; set by the event loop, fixed in tests.
    pub now: DateTime<Utc>,
}

impl App {
    pub fn new(config: &Config, now: DateTime<Utc>) -> Self {
        App {
            vm_index: vec![Vec::new(); config.hosts.len()],
            fleet: FleetStatus::new(config),
            inventory: config.hosts.clone(),
            selected: 0,
            faulty_only: false,
            filter: String::new(),
            sort: SortBy::Inventory,
            focus: Focus::Hosts,
            prompt: None,
            overlay: None,
            pending_form: None,
            read_only: false,
            no_color: false,
            flash: None,
            should_quit: false,
            // A bad [keys] never gets this far: loading the config checks it.
            keymap: Keymap::with_overrides(&config.keys).unwrap_or_default(),
            incident: None,
            timeline: Vec::new(),
            timeline_cursor: None,
            kind_filter: KindFilter::All,
            hide_fleet_events: false,
            recording_problem: None,
            sync: (!config.settings.sync_remotes.is_empty()).then(|| vigie_runtime::sync::SyncState::waiting(config)),
            timeline_damage: Vec::new(),
            offer_after_declaration: None,
            amended: Default::default(),
            host_filter: None,
            catalog: Vec::new(),
            run: None,
            config_source: config.source.clone(),
            now,
        }
    }

    /// The key context: the focused pane.
    pub fn context(&self) -> Context {
        self.focus.context()
    }

    /// Indices of the hosts shown, after the faulty-only toggle, the filter and the sort.
    pub fn visible_hosts(&self) -> Vec<usize> {
        let mut visible: Vec<usize> = self
            .fleet
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, h)| host_matches(&self.filter, &h.name, self.inventory.get(*i)))
            .filter(|(i, h)| !self.faulty_only || !h.is_reachable() || !self.fleet.alerts[*i].is_empty())
            .map(|(i, _)| i)
            .collect();
        match self.sort {
            SortBy::Inventory => {}
            SortBy::Name => visible.sort_by(|a, b| self.fleet.hosts[*a].name.cmp(&self.fleet.hosts[*b].name)),
            SortBy::Health => visible.sort_by_key(|i| std::cmp::Reverse(self.badness(*i))),
            SortBy::Load => visible.sort_by(|a, b| {
                let load = |i: usize| {
                    self.fleet.hosts[i]
                        .health()
                        .and_then(|h| h.load)
                        .map(|l| l[0])
                        .unwrap_or(-1.0)
                };
                load(*b).total_cmp(&load(*a))
            }),
        }
        visible
    }

    /// How bad a host looks, for the health sort.
    fn badness(&self, index: usize) -> u8 {
        let host = &self.fleet.hosts[index];
        if matches!(host.reachability, vigie_core::status::Reachability::Unreachable { .. }) {
            return 4;
        }
        match self.worst_alert(index) {
            Some(vigie_core::alerts::Severity::Critical) => 3,
            Some(vigie_core::alerts::Severity::Warning) => 2,
            Some(vigie_core::alerts::Severity::Info) => 1,
            None => 0,
        }
    }

    pub fn worst_alert(&self, index: usize) -> Option<vigie_core::alerts::Severity> {
        self.fleet.alerts.get(index)?.iter().map(|a| a.severity).max()
    }

    /// Folds a poll in; returns what the fleet journal must hear of it.
    pub fn apply_poll(&mut self, result: &PollResult) -> Vec<Observation> {
        let before = self.vm_placement(result.host_index);
        let observations = self.fleet.apply_poll(result);
        // The index of every VM is rebuilt only when this host's guests or
        // its reachability changed: at a thousand hosts, rebuilding it for
        // every poll would cost the cockpit a core.
        if self.vm_index.len() != self.fleet.hosts.len() || before != self.vm_placement(result.host_index) {
            self.rebuild_vm_index();
        }
        observations
    }

    /// What the VM index depends on for one host: whether it is reachable,
    /// and its guests with the node each runs on.
    fn vm_placement(&self, index: usize) -> Option<VmPlacement> {
        let host = self.fleet.hosts.get(index)?;
        let guests = host
            .reading
            .iter()
            .flat_map(|r| r.vms.iter().map(|vm| (vm.id.clone(), vm.node.clone())))
            .collect();
        Some((host.is_reachable(), guests))
    }

    /// The journal's news: when a host's open alerts began.
    pub fn adopt_alert_times(&mut self, host: &str, open: &[vigie_core::fleet::Occurrence]) {
        self.fleet.adopt(host, open);
    }

    /// A sync round's news: the remotes' state, and who sent what from where.
    pub fn apply_sync(&mut self, news: &vigie_runtime::sync::SyncNews) {
        let state = self.sync.get_or_insert_with(Default::default);
        state.apply(news);
        let arrivals: Vec<String> = news
            .report
            .arrivals
            .iter()
            .map(|a| {
                format!(
                    "{} of {} (via {})",
                    vigie_core::format::events(a.events),
                    a.writer,
                    a.via
                )
            })
            .collect();
        if !arrivals.is_empty() {
            self.flash = Some(format!("received {}", arrivals.join(", ")));
        } else if let Some(problem) = news.report.problems.first() {
            self.flash = Some(format!("sync: {problem}"));
        }
    }

    /// Folds new timeline events (from this or another responder) into the state.
    pub fn apply_timeline(&mut self, events: Vec<Event>) {
        for event in &events {
            self.incident = IncidentState::fold(self.incident.take(), event);
        }
        let corrections: Vec<_> = events
            .iter()
            .filter_map(vigie_core::timeline::view::amendment_of)
            .collect();
        // In the order things happened: an outage recorded with the
        // declaration, at the time it began, goes before it.
        for event in events {
            let key = (event.at, event.seq);
            let position = self.timeline.partition_point(|e| (e.at, e.seq) <= key);
            self.timeline.insert(position, event);
        }
        // An amendment corrects its event in place, here as in the report.
        if !corrections.is_empty() {
            for amendment in corrections {
                let target = amendment.target.clone();
                if let Some(event) = self.timeline.iter_mut().find(|e| e.id == target) {
                    // A mark alone is shown as its ★, not as an amendment.
                    let corrects = amendment.corrects();
                    vigie_core::timeline::view::apply_correction(event, amendment);
                    if corrects {
                        self.amended.insert(target);
                    }
                }
            }
            self.timeline.sort_by_key(|e| (e.at, e.seq));
        }
        if self.timeline.len() > TIMELINE_KEPT {
            let excess = self.timeline.len() - TIMELINE_KEPT;
            self.timeline.drain(..excess);
            self.timeline_cursor = self.timeline_cursor.map(|c| c.saturating_sub(excess));
        }
        // Declared for a host with `i`: now that it is current, its alert's playbook.
        if self.incident.is_some() {
            if let Some(host) = self.offer_after_declaration.take() {
                // A host without a suggesting alert: the declaration was the point.
                let _ = self.offer_playbook_for(&host);
            }
        }
    }

    /// A new incident replaces the one shown: its timeline starts empty.
    pub fn switch_incident(&mut self) {
        self.incident = None;
        self.timeline.clear();
        self.timeline_cursor = None;
        self.timeline_damage.clear();
        self.amended.clear();
    }

    pub fn apply_run_update(&mut self, update: RunUpdate) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let finished = matches!(update, RunUpdate::Finished(_));
        let stopped = matches!(update, RunUpdate::CommandEnded { exit: None, .. });
        run.apply(update);
        if stopped && self.flash.as_deref() == Some("cancelling the command…") {
            self.flash = Some("the command was stopped".into());
        }
        if finished {
            self.flash = Some(run.summary());
            // A question about the run is moot now; starting another run,
            // or quitting, is still the responder's to answer.
            if let Some(Overlay::Popup(popup)) = &self.overlay {
                if matches!(popup.kind, PopupKind::Answer(_)) {
                    self.overlay = None;
                }
            }
        }
    }

    /// A catalog read again: an open playbook picker shows it at once,
    /// its filter and choice kept.
    pub fn set_catalog(&mut self, catalog: Vec<Playbook>) {
        self.catalog = catalog;
        if let Some(Overlay::Picker(picker)) = &self.overlay {
            if picker.purpose == PickPurpose::Playbook {
                let (filter, chosen) = (picker.filter.clone(), picker.chosen().map(|(id, _)| id.clone()));
                let mut fresh = self.playbook_picker();
                fresh.filter = filter;
                if let Some(position) =
                    chosen.and_then(|id| fresh.visible().iter().position(|i| fresh.options[*i].0 == id))
                {
                    fresh.selected = position;
                }
                self.overlay = Some(Overlay::Picker(fresh));
            }
        }
    }

    /// The stopped run an open form offers to take up, when nobody asked
    /// yet whether another vigie drives it now.
    pub fn run_to_ask_about(&mut self) -> Option<String> {
        let Some(Overlay::Form(form)) = &mut self.overlay else {
            return None;
        };
        let run = form
            .unfinished
            .as_ref()
            .filter(|_| form.driven_by.is_none())?
            .run
            .clone();
        form.driven_by = Some(None);
        Some(run)
    }

    /// The answer: a run driven elsewhere is said so in the form, which
    /// then starts nothing (neither taking it up nor starting beside it).
    pub fn apply_run_driver(&mut self, run: &str, by: Option<String>) {
        if let Some(Overlay::Form(form)) = &mut self.overlay {
            if form.unfinished.as_ref().is_some_and(|p| p.run == run) {
                if let Some(by) = &by {
                    form.origin = Some(format!(
                        "a run of {} is going on right now, driven by {}: follow it there (its timeline is here)",
                        form.playbook.id,
                        vigie_core::sanitize::one_line(by)
                    ));
                }
                form.driven_by = Some(by);
            }
        }
    }

    /// Whether the key named `binding` would do something now: the hint
    /// bar leaves out the others (`r` on a host no alert suggests a
    /// playbook for, the run's keys once it is over...).
    pub fn hint_applies(&self, binding: &str) -> bool {
        let question = self.run.as_ref().and_then(|r| r.question.as_ref());
        match binding {
            "run_suggested" => self
                .selected_index()
                .is_some_and(|i| self.fleet.alerts[i].iter().any(|a| a.playbook.is_some())),
            "declare_incident" => self.incident.is_none(),
            "answer" | "skip" | "abort" => question.is_some(),
            "tick" => matches!(question, Some(Question::Manual { .. })),
            "retry" => matches!(question, Some(Question::Recovery { .. })),
            "cancel_command" => self.run.as_ref().is_some_and(|r| r.command_running()),
            "show_event" | "mark" | "amend" => self.selected_event().is_some(),
            _ => true,
        }
    }

    /// The timeline events the pane shows, oldest first.
    pub fn visible_timeline(&self) -> Vec<&Event> {
        self.timeline
            .iter()
            .filter(|e| self.kind_filter.accepts(&e.kind))
            .filter(|e| !(self.hide_fleet_events && KindFilter::of(Kind::of(&e.kind)) == KindFilter::Alerts))
            .filter(|e| match &self.host_filter {
                Some(host) => e.host.as_deref() == Some(host.as_str()),
                None => true,
            })
            .collect()
    }

    /// The event under the timeline cursor (the newest when following).
    pub fn selected_event(&self) -> Option<&Event> {
        let visible = self.visible_timeline();
        let index = self.timeline_cursor.unwrap_or(visible.len().saturating_sub(1));
        visible.get(index).copied()
    }

    /// The VMs that belong to host `index`: those any live cluster view
    /// places on it, else those of its own last reading. Read from an index
    /// rebuilt when a poll arrives, not searched per frame.
    pub fn vms_of(&self, index: usize) -> Vec<&vigie_core::probe::model::Vm> {
        self.vm_index
            .get(index)
            .into_iter()
            .flatten()
            .filter_map(|(reporter, vm)| self.fleet.hosts.get(*reporter)?.reading.as_ref()?.vms.get(*vm))
            .collect()
    }

    /// How many VMs host `index` has, without gathering them (list layout).
    pub fn vm_count(&self, index: usize) -> usize {
        self.vm_index.get(index).map_or(0, Vec::len)
    }

    /// Which VMs sit on which host, from every reading: a cluster view
    /// (`node` set, reporter reachable) wins over a host's own list.
    fn rebuild_vm_index(&mut self) {
        let position: std::collections::HashMap<&str, usize> = self
            .fleet
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        let mut placed: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.fleet.hosts.len()];
        let mut seen: Vec<std::collections::HashSet<&str>> = vec![Default::default(); self.fleet.hosts.len()];
        for (reporter, host) in self.fleet.hosts.iter().enumerate().filter(|(_, h)| h.is_reachable()) {
            for (v, vm) in host.reading.iter().flat_map(|r| r.vms.iter().enumerate()) {
                let Some(&owner) = vm.node.as_deref().and_then(|n| position.get(n)) else {
                    continue;
                };
                if seen[owner].insert(vm.id.as_str()) {
                    placed[owner].push((reporter, v));
                }
            }
        }
        for (index, host) in self.fleet.hosts.iter().enumerate() {
            if placed[index].is_empty() {
                placed[index] = host
                    .reading
                    .iter()
                    .flat_map(|r| r.vms.iter().enumerate())
                    .filter(|(_, vm)| vm.node.is_none())
                    .map(|(v, _)| (index, v))
                    .collect();
            }
        }
        self.vm_index = placed;
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.visible_hosts().get(self.selected).copied()
    }

    pub fn selected_host(&self) -> Option<&HostStatus> {
        self.selected_index().and_then(|i| self.fleet.hosts.get(i))
    }

    pub fn host_names(&self) -> Vec<String> {
        self.fleet.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// VM ids of `host` as the live status knows them, for pickers.
    pub fn vm_ids_of(&self, host: &str) -> Vec<String> {
        self.fleet
            .hosts
            .iter()
            .find(|h| h.name == host)
            .and_then(|h| self.fleet.hosts.iter().position(|x| x.name == h.name))
            .map(|i| self.vms_of(i).iter().map(|vm| vm.id.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Action;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use vigie_core::timeline::event::kinds;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    pub(crate) fn app() -> App {
        let config = Config::parse(
            std::path::Path::new("v.toml"),
            "[[hosts]]\nname = \"miramelle\"\n[[hosts]]\nname = \"locuste\"\n[[hosts]]\nname = \"backup\"\n",
        )
        .unwrap();
        App::new(&config, Utc::now())
    }

    fn with_incident(mut app: App) -> App {
        app.incident = Some(IncidentState {
            title: "t".into(),
            severity: vigie_core::incident::Severity::Major,
            status: vigie_core::incident::Status::Investigating,
            started: Utc::now(),
            impact_started: Utc::now(),
            resolved: None,
        });
        app
    }

    /// A stored event `e<seq>` of `kind`, by alice, now.
    fn event(seq: u64, kind: &str, data: serde_json::Value) -> Event {
        Event {
            seq,
            id: format!("e{seq}"),
            at: Utc::now(),
            recorded_at: Utc::now(),
            actor: "alice".into(),
            kind: kind.into(),
            host: None,
            data,
            prev: String::new(),
        }
    }

    fn type_text(app: &mut App, text: &str) -> Option<Request> {
        for c in text.chars() {
            app.handle_key(key(KeyCode::Char(c)));
        }
        app.handle_key(key(KeyCode::Enter))
    }

    #[test]
    fn filter_narrows_the_list_as_it_is_typed() {
        let mut app = app();
        app.apply_action(Action::Filter);
        for c in "LOC".chars() {
            app.handle_key(key(KeyCode::Char(c)));
        }
        assert_eq!(app.visible_hosts(), vec![1]);
        assert_eq!(app.selected_host().unwrap().name, "locuste");
        app.handle_key(key(KeyCode::Enter));
        assert_eq!((app.prompt.clone(), app.filter.as_str()), (None, "LOC"));
    }

    #[test]
    fn faulty_only_hides_healthy_hosts_and_sort_orders_them() {
        let mut app = app();
        app.apply_action(Action::ToggleFaulty);
        // Not polled yet counts as faulty: nobody knows they are fine.
        assert_eq!(app.visible_hosts().len(), 3);
        app.apply_action(Action::CycleSort);
        assert_eq!(app.sort, SortBy::Name);
        assert_eq!(app.visible_hosts(), vec![2, 1, 0]);
    }

    #[test]
    fn a_playbook_written_while_the_picker_is_open_appears_in_it() {
        let mut app = with_incident(app());
        let playbook = |id: &str| {
            let text = format!("+++\nid = \"{id}\"\ntitle = \"T\"\n+++\n# T\n\n## One\n\n- [ ] done\n");
            vigie_core::playbook::parse(std::path::Path::new("p.md"), &text)
                .0
                .unwrap()
        };
        app.catalog = vec![playbook("restart-web")];
        assert_eq!(app.apply_action(Action::OpenPlaybook), Some(Request::RescanPlaybooks));
        for c in "fix".chars() {
            app.handle_key(key(KeyCode::Char(c)));
        }
        app.set_catalog(vec![playbook("restart-web"), playbook("fix-dns")]);
        let Some(Overlay::Picker(picker)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(picker.filter, "fix", "what was typed is kept");
        assert_eq!(picker.chosen().map(|(id, _)| id.as_str()), Some("fix-dns"));
    }

    #[test]
    fn the_selected_host_stays_selected_when_the_list_is_sorted_or_filtered() {
        let mut app = app();
        app.apply_action(Action::SelectNext);
        assert_eq!(app.selected_host().map(|h| h.name.as_str()), Some("locuste"));
        app.apply_action(Action::CycleSort);
        assert_eq!(app.sort, SortBy::Name);
        assert_eq!(
            app.selected_host().map(|h| h.name.as_str()),
            Some("locuste"),
            "by name it is second"
        );
        app.apply_action(Action::Filter);
        type_text(&mut app, "o");
        assert_eq!(app.selected_host().map(|h| h.name.as_str()), Some("locuste"));
        app.apply_action(Action::CloseOverlay);
        assert!(app.filter.is_empty());
        assert_eq!(app.selected_host().map(|h| h.name.as_str()), Some("locuste"));
    }

    #[test]
    fn the_filter_knows_tags_and_roles() {
        let mut host = vigie_core::config::Host::named("node-3", "10.0.3.7");
        host.tags = vec!["rack-a".into(), "Proxmox".into()];
        host.role = Some("hypervisor".into());
        let matches = |filter: &str| host_matches(filter, &host.name, Some(&host));
        assert!(matches(""));
        assert!(matches("tag:rack-a"));
        assert!(matches("tag:proxmox node"), "tags and words together, any case");
        assert!(matches("role:hyper"));
        assert!(matches("10.0.3"), "the address");
        assert!(!matches("tag:rack-b"));
        assert!(!matches("tag:rack-a web"), "every word must match");
        assert!(!matches("role:db"));
    }

    #[test]
    fn a_note_keeps_its_lines_and_a_reason_is_one_line() {
        use crossterm::event::KeyModifiers;
        let mut app = with_incident(app());
        let type_only =
            |app: &mut App, text: &str| text.chars().for_each(|c| drop(app.handle_key(key(KeyCode::Char(c)))));
        app.apply_action(Action::Note);
        type_only(&mut app, "dmesg:");
        app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        app.paste("ata1: link down\r\nI/O error");
        app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL));
        match type_text(&mut app, "sda gone") {
            Some(Request::Append(event)) => {
                assert_eq!(event.data["text"], "dmesg:\nata1: link down\nI/O error\nsda gone")
            }
            other => panic!("{other:?}"),
        }
        app.apply_action(Action::Filter);
        app.paste("web\n01");
        app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        assert_eq!(app.filter, "web 01", "one line");
        assert!(app.prompt.is_none(), "Alt-Enter finishes a one-line prompt");
    }

    #[test]
    fn a_note_needs_an_incident_and_text() {
        let mut app = app();
        app.apply_action(Action::Note);
        assert!(app.prompt.is_none());
        assert!(app.flash.as_deref().unwrap().starts_with("no incident"));
        let mut app = with_incident(app);
        app.apply_action(Action::Note);
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            None,
            "an empty note is not recorded"
        );
        app.apply_action(Action::Note);
        app.handle_key(key(KeyCode::Char('h')));
        app.handle_key(key(KeyCode::Char('i')));
        app.handle_key(key(KeyCode::Backspace));
        match app.handle_key(key(KeyCode::Enter)) {
            Some(Request::Append(event)) => {
                assert_eq!(event.kind, kinds::NOTE);
                assert_eq!(event.data["text"], "h");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn action_items_and_decisions_are_their_own_kinds() {
        let mut app = with_incident(app());
        app.apply_action(Action::ActionItem);
        match type_text(&mut app, "add an alert @alice due:2026-12-01") {
            Some(Request::Append(event)) => {
                assert_eq!(event.kind, kinds::ACTION_ITEM);
                assert_eq!(event.data["owner"], "alice");
                assert_eq!(event.data["due"], "2026-12-01");
            }
            other => panic!("{other:?}"),
        }
        app.apply_action(Action::Decision);
        match type_text(&mut app, "fail over to locuste") {
            Some(Request::Append(event)) => assert_eq!(event.kind, kinds::DECISION),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_is_changed_through_a_picker() {
        let mut app = with_incident(app());
        app.apply_action(Action::ChangeStatus);
        assert!(matches!(app.overlay, Some(Overlay::Picker(_))));
        app.handle_key(key(KeyCode::Down));
        match app.handle_key(key(KeyCode::Enter)) {
            Some(Request::Append(event)) => {
                assert_eq!(event.kind, kinds::STATUS_CHANGED);
                assert_eq!(event.data["to"], "identified");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_post_mortem_is_written_from_the_palette() {
        let mut app = with_incident(app());
        app.apply_action(Action::Palette);
        match type_text(&mut app, "summary miramelle's PSU died") {
            Some(Request::Append(event)) => {
                assert_eq!(event.kind, kinds::NOTE);
                assert_eq!(event.data["tags"][0], "summary");
            }
            other => panic!("{other:?}"),
        }
        app.apply_action(Action::Palette);
        match type_text(&mut app, "role alice commander") {
            Some(Request::Append(event)) => {
                assert_eq!(event.kind, kinds::ROLE_ASSIGNED);
                assert_eq!(
                    (event.data["who"].as_str(), event.data["role"].as_str()),
                    (Some("alice"), Some("commander"))
                );
            }
            other => panic!("{other:?}"),
        }
        app.apply_action(Action::Palette);
        assert_eq!(type_text(&mut app, "report"), Some(Request::WriteReport));
    }

    #[test]
    fn a_run_that_stopped_in_the_middle_is_offered_again() {
        let text = "+++\nid = \"p\"\ntitle = \"P\"\n[inputs.host]\nkind = \"host\"\n+++\n# P\n\n## One\n\n```sh {on=host}\ntrue\n```\n\n## Two\n\n```sh {on=host}\ntrue\n```\n";
        let (playbook, problems) = vigie_core::playbook::parse(std::path::Path::new("p.md"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut app = with_incident(app());
        app.catalog = vec![playbook.unwrap()];
        app.apply_timeline(vec![
            event(
                1,
                kinds::PLAYBOOK_STARTED,
                serde_json::json!({"playbook": "p", "run": "R", "inputs": {"host": "locuste"}}),
            ),
            event(2, kinds::STEP_STARTED, serde_json::json!({"run": "R", "step": "one"})),
            event(3, kinds::STEP_DONE, serde_json::json!({"run": "R", "step": "one"})),
            event(4, kinds::STEP_STARTED, serde_json::json!({"run": "R", "step": "two"})),
            event(
                5,
                kinds::COMMAND_SENT,
                serde_json::json!({"run": "R", "step": "two", "command": "true"}),
            ),
        ]);
        app.apply_action(Action::Palette);
        type_text(&mut app, "run p");
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(form.fields[0].value, "locuste", "the recorded input is back");
        assert!(form.unfinished.is_some());
        // Is another vigie driving it now? Asked once; here, nobody is.
        assert_eq!(app.run_to_ask_about().as_deref(), Some("R"));
        assert_eq!(app.run_to_ask_about(), None, "asked once");
        app.apply_run_driver("R", None);
        app.handle_key(key(KeyCode::Enter));
        let Some(Overlay::Popup(popup)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(popup.kind.buttons(), &["Cancel", "Take it up", "Start anew"]);
        assert_eq!(popup.focus, 1, "Enter takes it up");
        match app.handle_key(key(KeyCode::Enter)) {
            Some(Request::StartRun {
                resume: Some(progress), ..
            }) => {
                assert_eq!(progress.finished_steps, vec!["one".to_string()]);
                assert_eq!(progress.interrupted.as_deref(), Some("two"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_run_driven_in_another_vigie_is_neither_taken_up_nor_doubled() {
        let text = "+++\nid = \"p\"\ntitle = \"P\"\n+++\n# P\n\n## One\n\n```sh {on=local}\ntrue\n```\n";
        let (playbook, _) = vigie_core::playbook::parse(std::path::Path::new("p.md"), text);
        let mut app = with_incident(app());
        app.catalog = vec![playbook.unwrap()];
        app.apply_timeline(vec![
            event(
                1,
                kinds::PLAYBOOK_STARTED,
                serde_json::json!({"playbook": "p", "run": "R"}),
            ),
            event(2, kinds::STEP_STARTED, serde_json::json!({"run": "R", "step": "one"})),
        ]);
        app.apply_action(Action::Palette);
        type_text(&mut app, "run p");
        let run = app.run_to_ask_about();
        app.apply_run_driver(run.as_deref().unwrap_or_default(), Some("alice@bastion, pid 42".into()));
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert!(
            form.origin
                .as_deref()
                .unwrap_or_default()
                .contains("driven by alice@bastion, pid 42"),
            "{:?}",
            form.origin
        );
        assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
        assert!(
            matches!(app.overlay, Some(Overlay::Form(_))),
            "no start popup: {:?}",
            app.overlay
        );
        assert!(app.flash.as_deref().unwrap_or_default().contains("nothing was started"));
    }

    #[test]
    fn a_host_that_must_answer_is_picked_among_those_that_do() {
        use vigie_core::status::{FailureKind, Reachability};
        let text = "+++\nid = \"p\"\ntitle = \"P\"\n[inputs.target]\nkind = \"host\"\nreachable = true\n+++\n# P\n\n## One\n\n```sh {on=target}\ntrue\n```\n";
        let (playbook, problems) = vigie_core::playbook::parse(std::path::Path::new("p.md"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut app = with_incident(app());
        app.catalog = vec![playbook.unwrap()];
        app.fleet.hosts[0].reachability = Reachability::Unreachable {
            kind: FailureKind::Other,
            reason: "connection refused".into(),
            since: Utc::now(),
        };
        app.fleet.hosts[1].reachability = Reachability::Reachable;
        app.apply_action(Action::Palette);
        type_text(&mut app, "run p");
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(form.fields[0].options, ["locuste"], "only the host that answers");
        // Typed by hand, the dead one is refused, and so is one not polled yet.
        for (host, why) in [("miramelle", "connection refused"), ("backup", "not polled yet")] {
            let Some(Overlay::Form(form)) = &mut app.overlay else {
                panic!("{:?}", app.overlay)
            };
            form.fields[0].value = host.into();
            app.handle_key(key(KeyCode::Enter));
            let Some(Overlay::Form(form)) = &app.overlay else {
                panic!("{:?}", app.overlay)
            };
            let problems = form.problems.join("\n");
            assert!(
                problems.contains("must answer now") && problems.contains(why),
                "{problems}"
            );
        }
    }

    #[test]
    fn the_playbook_picker_filters_as_it_is_typed_by_id_title_and_tags() {
        let parse = |text: &str| {
            vigie_core::playbook::parse(std::path::Path::new("p.md"), text)
                .0
                .unwrap()
        };
        let mut app = with_incident(app());
        app.catalog = vec![
            parse("+++\nid = \"alpha\"\ntitle = \"First\"\ntags = [\"restic\"]\n+++\n## One\n\n- [ ] x\n"),
            parse("+++\nid = \"beta\"\ntitle = \"Second\"\n+++\n## One\n\n- [ ] x\n"),
            parse("+++\nid = \"gamma\"\ntitle = \"Third\"\n+++\n## One\n\n- [ ] x\n"),
        ];
        app.apply_action(Action::OpenPlaybook);
        app.handle_key(key(KeyCode::End));
        let Some(Overlay::Picker(picker)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(
            picker.chosen().map(|(v, _)| v.as_str()),
            Some("gamma"),
            "End is the last"
        );
        for c in "rest".chars() {
            app.handle_key(key(KeyCode::Char(c)));
        }
        let Some(Overlay::Picker(picker)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(picker.visible(), vec![0], "found by its tag");
        app.handle_key(key(KeyCode::Enter));
        assert!(matches!(&app.overlay, Some(Overlay::Form(form)) if form.playbook.id == "alpha"));
    }

    #[test]
    fn i_declares_for_the_host_with_a_chosen_severity() {
        let mut app = app();
        app.apply_action(Action::DeclareIncident);
        let Some(prompt) = &app.prompt else {
            panic!("no title prompt")
        };
        assert_eq!(prompt.text.value(), "miramelle: ", "drafted from the host");
        type_text(&mut app, "PSU died");
        let Some(Overlay::Picker(picker)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(picker.chosen(), None, "no severity assumed");
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            None,
            "Enter alone declares nothing"
        );
        assert!(app
            .flash
            .as_deref()
            .unwrap_or_default()
            .starts_with("choose the severity"));
        app.handle_key(key(KeyCode::Down));
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            Some(Request::DeclareIncident {
                title: "miramelle: PSU died".into(),
                severity: vigie_core::incident::Severity::Critical,
            })
        );
        assert_eq!(app.offer_after_declaration.as_deref(), Some("miramelle"));
    }

    #[test]
    fn an_amendment_corrects_its_event_in_the_cockpit_timeline() {
        let mut app = with_incident(app());
        app.apply_timeline(vec![event(
            1,
            kinds::NOTE,
            serde_json::json!({"text": "via the cosnole"}),
        )]);
        app.apply_timeline(vec![event(
            2,
            kinds::AMENDMENT,
            serde_json::json!({"target": "e1", "text": "via the IPMI console", "reason": "typo"}),
        )]);
        let corrected = app.timeline.iter().find(|e| e.id == "e1").unwrap();
        assert_eq!(corrected.data["text"], "via the IPMI console");
        assert!(app.amended.contains("e1"));
    }

    #[test]
    fn a_playbook_opened_by_hand_starts_from_the_selected_host() {
        let text = "+++\nid = \"p\"\ntitle = \"P\"\n[inputs.host]\nkind = \"host\"\n+++\n# P\n\n## One\n\n```sh {on=host}\ntrue\n```\n";
        let (playbook, _) = vigie_core::playbook::parse(std::path::Path::new("p.md"), text);
        let mut app = with_incident(app());
        app.catalog = vec![playbook.unwrap()];
        app.selected = 1;
        app.apply_action(Action::OpenPlaybook);
        app.handle_key(key(KeyCode::Enter));
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(form.fields[0].value, "locuste");
    }

    #[test]
    fn enter_on_a_timeline_event_opens_it_whole() {
        let mut app = with_incident(app());
        app.apply_timeline(vec![event(
            1,
            kinds::NOTE,
            serde_json::json!({"text": "a long note that a row of the pane would cut"}),
        )]);
        app.focus = Focus::Timeline;
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(
            app.overlay,
            Some(Overlay::Event {
                id: "e1".into(),
                scroll: 0
            })
        );
        let backend = ratatui::backend::TestBackend::new(80, 24);
        let mut terminal = ratatui::Terminal::new(backend).unwrap();
        terminal.draw(|frame| crate::views::render(frame, &app)).unwrap();
        let screen: String = terminal.backend().buffer().content.iter().map(|c| c.symbol()).collect();
        assert!(
            screen.contains("a long note that a row of the pane would cut"),
            "{screen}"
        );
        app.handle_key(key(KeyCode::Char('x')));
        assert_eq!(app.overlay, None, "any key closes it");
    }

    #[test]
    fn read_only_offers_no_acting_command_in_the_palette() {
        let mut app = with_incident(app());
        app.read_only = true;
        app.apply_action(Action::Palette);
        assert_eq!(type_text(&mut app, "note hello"), None);
        assert!(
            app.flash.as_deref().unwrap_or("").contains("read-only"),
            "{:?}",
            app.flash
        );
    }
}
