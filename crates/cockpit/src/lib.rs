//! The cockpit. `run` wires the pieces: the terminal guard, the poller, an
//! input thread, the timeline follower and writer, the playbook driver, and
//! a loop that folds their news into [`app::App`] and redraws only when
//! something changed. Nothing in the loop waits on SSH or the disk: every
//! request is carried out on another task and reports back on a channel.

mod actions;
pub mod app;
pub mod form;
pub mod keys;
mod mouse;
pub mod palette;
pub mod run_view;
pub mod terminal;
pub mod text_field;
pub mod views;

use chrono::Utc;
use crossterm::event::{self, Event, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigie_core::config::Config;
use vigie_core::playbook::engine::Engine;
use vigie_core::timeline::Event as TimelineEvent;
use vigie_runtime::driver::{self, RunHandle, RunUpdate, Targets};
use vigie_runtime::fleet::{self, FleetNews};
use vigie_runtime::poller;
use vigie_runtime::writer::TimelineWriter;

/// Shortest time between two frames: a burst of events costs one redraw.
const FRAME_INTERVAL: Duration = Duration::from_millis(30);
/// Polls alone redraw at most this often: a thousand hosts answer all the
/// time, and a screen redrawn for each would cost the cockpit a core.
const POLL_FRAME_INTERVAL: Duration = Duration::from_millis(250);

pub struct Options {
    pub read_only: bool,
    /// Take the mouse (click to select, wheel to scroll).
    pub mouse: bool,
    /// No incident was named: follow the newest open one, and move to the
    /// next one declared once the current one is resolved.
    pub follow_newest: bool,
}

/// How long a message stays in the status bar.
const FLASH_KEPT: Duration = Duration::from_secs(15);

/// Why the cockpit could not run: the terminal or the runtime failed.
#[derive(Debug, thiserror::Error)]
pub enum CockpitError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot open the terminal: {0}")]
    Terminal(std::io::Error),
    #[error("cannot draw the screen: {0}")]
    Draw(std::io::Error),
}

/// Opens the cockpit and returns when the responder quits. `incident` is the
/// incident directory to show, if one is current.
pub fn run(config: Config, incident: Option<PathBuf>, options: Options) -> Result<(), CockpitError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CockpitError::Runtime)?;
    let result = runtime.block_on(run_loop(config, incident, options));
    // A run's SSH sessions and a blocked stdin read must not hold the exit.
    runtime.shutdown_background();
    result
}

/// What the loop hears from the tasks it started.
enum Notice {
    Flash(String),
    /// A new incident was declared: follow and write to it from now on.
    IncidentDeclared(PathBuf),
    /// The playbooks as they are on disk now (`playbooks_dir` re-read).
    Catalog(Vec<vigie_core::playbook::Playbook>),
    /// Who drives the stopped run the open form offers (`None`: nobody).
    RunDriver {
        run: String,
        by: Option<String>,
    },
}

/// How often `playbooks_dir` is read again: a playbook written during the
/// night is in the picker without a restart.
const CATALOG_RESCAN: Duration = Duration::from_secs(10);

/// The incident the cockpit writes to and follows.
struct IncidentLink {
    dir: PathBuf,
    writer: Option<TimelineWriter>,
    events: mpsc::Receiver<TimelineBatch>,
}

impl IncidentLink {
    fn open(config: &Config, dir: PathBuf, read_only: bool) -> IncidentLink {
        // Appends go through a writer thread: fsync never runs on the render path.
        let writer = match vigie_core::incident::timeline_options(config) {
            Ok(options) if !read_only => vigie_core::timeline::Timeline::open(&dir, options)
                .ok()
                .map(TimelineWriter::spawn),
            _ => None,
        };
        let events = follow_timeline(dir.clone());
        IncidentLink { dir, writer, events }
    }
}

// Longer than 80 lines on purpose: the event loop, one `select!` over every source
// (keys, polls, timeline, run updates, clock); its arms only hand over to the app.
async fn run_loop(config: Config, incident: Option<PathBuf>, options: Options) -> Result<(), CockpitError> {
    let mut guard = terminal::TerminalGuard::enter(options.mouse).map_err(CockpitError::Terminal)?;
    let (mut polls, poll_tasks) = poller::start(&config);
    // The fleet journal: outages and alerts, at the time they began, into
    // every open incident.
    let (fleet, mut fleet_news) = fleet::spawn_for(&config, "cockpit");
    if let Some(dir) = &incident {
        fleet.incident(dir.clone());
    }
    let mut link = incident.map(|dir| IncidentLink::open(&config, dir, options.read_only));
    // Incidents shared with other machines: rounds in the background, and
    // one at once after each event written here.
    let (sync, mut sync_news) = match vigie_runtime::sync::spawn(&config) {
        Some((handle, news)) => (Some(handle), Some(news)),
        None => (None, None),
    };
    let own_actor = vigie_core::incident::actor(&config);
    let (notice_sender, mut notices) = mpsc::unbounded_channel::<Notice>();
    let mut inputs = spawn_input_thread();
    let mut app = app::App::new(&config, Utc::now());
    app.read_only = options.read_only;
    app.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    app.catalog = vigie_core::playbook::bundled::catalog(&config);
    let mut run: Option<RunHandle> = None;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut last_scan = Instant::now();
    let mut dirty = true;
    let mut flash_seen: Option<(String, Instant)> = None;
    let mut last_frame = Instant::now() - FRAME_INTERVAL;

    // Polls folded in since the last frame, not drawn yet.
    let mut polled = false;
    while !app.should_quit {
        if polled && last_frame.elapsed() >= POLL_FRAME_INTERVAL {
            dirty = true;
        }
        if dirty {
            polled = false;
            // Throttle: wait out the rest of the frame interval, folding in what arrives.
            let since = last_frame.elapsed();
            if since < FRAME_INTERVAL {
                tokio::time::sleep(FRAME_INTERVAL - since).await;
            }
            draw(&mut guard.terminal, &app)?;
            last_frame = Instant::now();
            dirty = false;
        }
        tokio::select! {
            Some(input) = inputs.recv() => {
                let size = guard.terminal.size().map(|s| ratatui::layout::Rect::new(0, 0, s.width, s.height))
                    .unwrap_or_default();
                // Every key already typed is handled before the next frame:
                // fast typing is never held back by the frame throttle.
                let mut next = Some(input);
                while let Some(input) = next.take() {
                    let (changed, request) = handle_input(&mut app, input, size);
                    dirty |= changed;
                    if let Some(request) = request {
                        let context = Requests { config: &config, link: link.as_ref(), notices: &notice_sender };
                        if let Some(started) = context.carry_out(request, &mut app, run.as_ref()) {
                            run = Some(started);
                        }
                        dirty = true;
                    }
                    ask_who_drives(&mut app, link.as_ref(), &notice_sender);
                    if app.should_quit {
                        break;
                    }
                    next = inputs.try_recv().ok();
                }
            }
            Some(notice) = notices.recv() => {
                match notice {
                    Notice::Flash(text) => app.flash = Some(text),
                    Notice::Catalog(catalog) => app.set_catalog(catalog),
                    Notice::RunDriver { run, by } => app.apply_run_driver(&run, by),
                    Notice::IncidentDeclared(dir) => {
                        fleet.incident(dir.clone());
                        app.switch_incident();
                        app.flash = Some(format!("incident declared: {}", home_relative(&dir)));
                        link = Some(IncidentLink::open(&config, dir, options.read_only));
                    }
                }
                ask_who_drives(&mut app, link.as_ref(), &notice_sender);
                dirty = true;
            }
            Some(result) = polls.recv() => {
                let mut observations = app.apply_poll(&result);
                // Fold every result already waiting into this one frame.
                while let Ok(more) = polls.try_recv() {
                    observations.extend(app.apply_poll(&more));
                }
                // A read-only cockpit looks: what it sees is not recorded.
                if !options.read_only {
                    fleet.observe(observations);
                }
                polled = true;
            }
            Some(news) = fleet_news.recv() => {
                match news {
                    FleetNews::Open { host, open, .. } => {
                        // The journal answered; a timeline that refused a
                        // write stays flagged until one is written.
                        if app.recording_problem.as_deref().is_some_and(|p| p.starts_with("fleet journal")) {
                            app.recording_problem = None;
                        }
                        app.adopt_alert_times(&host, &open);
                    }
                    // Said in the status bar, and kept in the header until
                    // the journal answers again: outages are not recorded.
                    FleetNews::Problem(problem) => {
                        app.recording_problem = Some(problem.clone());
                        app.flash = Some(problem);
                    }
                    // The timeline follower shows what was recorded.
                    // An incident declared elsewhere (`vigie incident new`,
                    // another cockpit) is followed as soon as it exists.
                    FleetNews::OpenIncidents(open) => {
                        let current_is_over = app
                            .incident
                            .as_ref()
                            .is_some_and(|i| i.status == vigie_core::incident::Status::Resolved);
                        let switch = match (&link, open.first()) {
                            (None, Some(_)) => true,
                            (Some(linked), Some(newest)) => {
                                options.follow_newest && current_is_over && linked.dir != *newest
                            }
                            _ => false,
                        };
                        if let (true, Some(newest)) = (switch, open.first()) {
                            app.switch_incident();
                            app.flash = Some(format!("following incident {}", home_relative(newest)));
                            link = Some(IncidentLink::open(&config, newest.clone(), options.read_only));
                        }
                    }
                    FleetNews::Recorded { .. } => app.recording_problem = None,
                }
                dirty = true;
            }
            Some((events, damaged)) = next_events(&mut link) => {
                if let Some(sync) = sync.as_ref().filter(|_| events.iter().any(|e| e.actor.starts_with(&own_actor))) {
                    sync.nudge();
                }
                app.apply_timeline(events);
                app.timeline_damage.extend(damaged);
                dirty = true;
            }
            Some(news) = vigie_runtime::sync::next_news(&mut sync_news) => {
                app.apply_sync(&news);
                dirty = true;
            }
            Some(update) = next_update(&mut run) => {
                app.apply_run_update(update);
                while let Some(more) = run.as_mut().and_then(|r| r.updates.try_recv().ok()) {
                    app.apply_run_update(more);
                }
                dirty = true;
            }
            _ = clock.tick() => {
                app.now = Utc::now();
                expire_flash(&mut app, &mut flash_seen);
                if last_scan.elapsed() >= CATALOG_RESCAN {
                    last_scan = Instant::now();
                    read_catalog(&config, &notice_sender);
                    // What the sessions' handshakes freed goes back to the system.
                    vigie_transport::release_freed_memory();
                }
                dirty = true;
            }
        }
    }
    for task in poll_tasks {
        task.abort();
    }
    if let (Some(handle), true) = (run.as_mut(), app.run.as_ref().is_some_and(|r| r.command_running())) {
        stop_the_running_command(handle).await;
    }
    Ok(())
}

/// Quitting while a command runs: it is stopped (its whole process group on
/// the host) and its end recorded, so that the timeline never keeps a
/// command that nobody knows ended; the run can be taken up later.
async fn stop_the_running_command(handle: &mut RunHandle) {
    handle.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    let recorded = async {
        while let Some(update) = handle.updates.recv().await {
            // The command's end is recorded before the run asks what to do next.
            if matches!(update, RunUpdate::Question(_) | RunUpdate::Finished(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), recorded).await;
}

/// A status-bar message goes away once it has been shown for a while: a
/// problem that is over must not look current.
fn expire_flash(app: &mut app::App, seen: &mut Option<(String, Instant)>) {
    let Some(flash) = app.flash.clone() else {
        *seen = None;
        return;
    };
    match seen {
        Some((text, since)) if *text == flash => {
            if since.elapsed() > FLASH_KEPT {
                app.flash = None;
                *seen = None;
            }
        }
        _ => *seen = Some((flash, Instant::now())),
    }
}

async fn next_events(link: &mut Option<IncidentLink>) -> Option<TimelineBatch> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_update(run: &mut Option<RunHandle>) -> Option<RunUpdate> {
    match run {
        Some(handle) => match handle.updates.recv().await {
            Some(update) => Some(update),
            // The driver is done and gone: stop listening to it.
            None => {
                *run = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Returns whether the screen needs a redraw, and work to do for the app.
fn handle_input(app: &mut app::App, input: Event, screen: ratatui::layout::Rect) -> (bool, Option<app::Request>) {
    match input {
        Event::Key(key) if key.kind == KeyEventKind::Press => {
            let request = app.handle_key(key);
            // An event scrolled past its end stops at its last line, so
            // that ↑ moves it at once.
            if let Some(app::Overlay::Event { id, scroll }) = &app.overlay {
                let limit = views::event_scroll_limit(app, screen, id);
                if *scroll > limit {
                    let id = id.clone();
                    app.overlay = Some(app::Overlay::Event { id, scroll: limit });
                }
            }
            (true, request)
        }
        Event::Paste(text) => (true, app.paste(&text)),
        Event::Mouse(mouse) => {
            let areas = views::layout(screen, app);
            (app.handle_mouse(mouse, &areas), None)
        }
        Event::Resize(..) => (true, None),
        _ => (false, None),
    }
}

/// What carrying out a request needs from the loop.
struct Requests<'a> {
    config: &'a Config,
    link: Option<&'a IncidentLink>,
    notices: &'a mpsc::UnboundedSender<Notice>,
}

impl Requests<'_> {
    fn flash(&self, text: impl Into<String>) {
        let _ = self.notices.send(Notice::Flash(text.into()));
    }

    /// Does a request's IO off the render path; the outcome comes back as a
    /// notice. Returns the handle of a run it started.
    // Longer than 80 lines on purpose: one arm per `Request` the app can make, each
    // a few lines of IO; apart, they would hide which requests exist.
    fn carry_out(&self, request: app::Request, app: &mut app::App, run: Option<&RunHandle>) -> Option<RunHandle> {
        let writer = self.link.and_then(|l| l.writer.clone());
        match request {
            app::Request::Append(event) => {
                let Some(writer) = writer else {
                    self.flash("no incident to write to");
                    return None;
                };
                let notices = self.notices.clone();
                tokio::spawn(async move {
                    let kind = event.kind.clone();
                    let message = match writer.append(event).await {
                        Ok(event) => {
                            use vigie_core::timeline::payload::Kind;
                            let what = match Kind::of(&kind) {
                                Kind::Amendment => "correction".to_string(),
                                Kind::ChecklistTicked => "tick".to_string(),
                                _ => kind.replace(['_', '.'], " "),
                            };
                            format!("{what} #{} recorded", event.seq)
                        }
                        Err(e) => format!("NOT recorded: {e}"),
                    };
                    let _ = notices.send(Notice::Flash(message));
                });
            }
            app::Request::StartRun {
                playbook,
                inputs,
                resume,
                abandoned,
            } => {
                let Some(writer) = writer else {
                    self.flash("no incident to record the run in: nothing was started");
                    return None;
                };
                // Taken up only if nobody drives it now, the playbook still
                // fits it, and its inputs are the ones it was started with.
                if let Some(progress) = &resume {
                    let refused = if vigie_core::playbook::run_lock::is_driven(writer.incident_dir(), &progress.run) {
                        Err("another vigie is driving that run right now: follow it there".to_string())
                    } else {
                        progress
                            .fits(&playbook)
                            .and_then(|()| progress.check_inputs(&playbook, &inputs))
                    };
                    if let Err(why) = refused {
                        self.flash(format!("not taken up: {why}"));
                        return None;
                    }
                }
                // A run another vigie drives now is neither closed nor doubled.
                if abandoned
                    .as_ref()
                    .is_some_and(|old| vigie_core::playbook::run_lock::is_driven(writer.incident_dir(), &old.run))
                {
                    self.flash(format!(
                        "a run of {} is going on right now in another vigie: follow it there; nothing was started",
                        playbook.id
                    ));
                    return None;
                }
                if let Some(old) = abandoned {
                    // The old run ends in the record before the new one begins.
                    let closed = old.abandoned(&playbook.id, "not taken up: a new run was started instead");
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        let _ = writer.append(closed).await;
                    });
                }
                let resume = resume.map(|progress| *progress);
                let restored = resume.clone().unwrap_or_default();
                let engine = match resume {
                    Some(progress) => Engine::resume((*playbook).clone(), inputs, progress),
                    None => Engine::new((*playbook).clone(), inputs, ulid::Ulid::new().to_string()),
                }
                .with_groups(self.config.target_groups())
                .with_default_timeout(self.config.settings.command_timeout)
                .confirming_each_step();
                // Shown as the timeline records them: secrets replaced.
                let public = engine.public_inputs();
                let handle = driver::spawn(engine, writer, Targets::new(self.config));
                let mut view = run_view::RunView::new(*playbook, handle.run_id.clone(), public);
                view.restore(&restored);
                app.run = Some(view);
                app.focus = app::Focus::Run;
                return Some(handle);
            }
            app::Request::Answer(answer) => {
                // A tick leaves the checklist open (the next space may come
                // before the run asks again); any other answer closes it.
                let closes = !matches!(answer, vigie_core::playbook::engine::RunEvent::Tick { .. });
                match run {
                    Some(handle) if handle.answers.send(answer).is_ok() => {
                        if let Some(view) = app.run.as_mut().filter(|_| closes) {
                            // Answered: the question is gone until the run asks again.
                            view.question = None;
                        }
                    }
                    _ => self.flash("the run is not listening any more"),
                }
            }
            app::Request::CancelCommand => {
                if let Some(handle) = run {
                    handle.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            app::Request::DeclareIncident { title, severity } => {
                let notices = self.notices.clone();
                let incidents = self.config.incidents_dir();
                let options = vigie_core::incident::timeline_options(self.config);
                tokio::task::spawn_blocking(move || {
                    let declared = options.map_err(|e| e.to_string()).and_then(|options| {
                        vigie_core::incident::declare(&incidents, &title, severity, options).map_err(|e| e.to_string())
                    });
                    let _ = notices.send(match declared {
                        Ok((dir, _)) => Notice::IncidentDeclared(dir),
                        Err(e) => Notice::Flash(format!("no incident declared: {e}")),
                    });
                });
            }
            app::Request::RescanPlaybooks => read_catalog(self.config, self.notices),
            app::Request::WriteReport => {
                let Some(dir) = self.link.map(|l| l.dir.clone()) else {
                    self.flash("no incident to report on");
                    return None;
                };
                let notices = self.notices.clone();
                let zone = self.config.report_zone();
                tokio::task::spawn_blocking(move || {
                    let message = match vigie_core::report::write_for_incident(&dir, zone) {
                        // The names first, then where: what fits of the line says the most.
                        Ok(paths) => format!(
                            "report written: {} in {}",
                            paths
                                .iter()
                                .filter_map(|p| p.file_name())
                                .map(|n| n.to_string_lossy().into_owned())
                                .collect::<Vec<_>>()
                                .join(" and "),
                            home_relative(&dir)
                        ),
                        Err(e) => format!("no report: {e}"),
                    };
                    let _ = notices.send(Notice::Flash(message));
                });
            }
        }
        None
    }
}

/// `path` with the home directory as `~`: shorter on the one line it has.
fn home_relative(path: &std::path::Path) -> String {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if !home.as_os_str().is_empty() => match path.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// A stopped run offered in an open form: is it driven elsewhere now? The
/// lock is looked at off the render path; the answer comes as a notice.
fn ask_who_drives(app: &mut app::App, link: Option<&IncidentLink>, notices: &mpsc::UnboundedSender<Notice>) {
    let (Some(run), Some(link)) = (app.run_to_ask_about(), link) else {
        return;
    };
    let (dir, notices) = (link.dir.clone(), notices.clone());
    tokio::task::spawn_blocking(move || {
        let by = vigie_core::playbook::run_lock::driven_by(&dir, &run);
        let _ = notices.send(Notice::RunDriver { run, by });
    });
}

/// The playbooks (bundled and `playbooks_dir`) read again, off the render
/// path; the catalog arrives as a notice.
fn read_catalog(config: &Config, notices: &mpsc::UnboundedSender<Notice>) {
    let (config, notices) = (config.clone(), notices.clone());
    tokio::task::spawn_blocking(move || {
        let _ = notices.send(Notice::Catalog(vigie_core::playbook::bundled::catalog(&config)));
    });
}

fn draw(terminal: &mut terminal::Screen, app: &app::App) -> Result<(), CockpitError> {
    // Synchronized updates: the terminal shows the whole frame at once, no flicker.
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate).map_err(CockpitError::Draw)?;
    let drawn = terminal.draw(|frame| views::render(frame, app));
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate).map_err(CockpitError::Draw)?;
    drawn.map_err(CockpitError::Draw)?;
    Ok(())
}

/// How often the timeline file is checked for other responders' events.
const TIMELINE_POLL: Duration = Duration::from_millis(250);

/// Follows the incident's timeline off the render path: new events (from
/// this process or any other responder) arrive in batches.
/// New events, and the lines met that are not events (skipped, kept in view).
type TimelineBatch = (Vec<TimelineEvent>, Vec<vigie_core::timeline::store::DamagedLine>);

fn follow_timeline(dir: PathBuf) -> mpsc::Receiver<TimelineBatch> {
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        // Every writer's file, those arriving later by sync too.
        let mut follower = vigie_core::timeline::IncidentFollower::from_start(&dir);
        let mut ticker = tokio::time::interval(TIMELINE_POLL);
        loop {
            ticker.tick().await;
            if sender.is_closed() {
                // The cockpit moved to another incident.
                return;
            }
            let polled = tokio::task::spawn_blocking(move || {
                let events = follower.poll();
                let damaged = follower.take_damaged();
                (follower, events, damaged)
            })
            .await;
            let Ok((returned, events, damaged)) = polled else {
                return;
            };
            follower = returned;
            // A damaged line is skipped (and shown); the cockpit keeps everything else.
            let events = events.unwrap_or_default();
            if !(events.is_empty() && damaged.is_empty()) && sender.send((events, damaged)).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// Terminal input is read on its own thread: `event::read` blocks.
fn spawn_input_thread() -> mpsc::UnboundedReceiver<Event> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("vigie-input".into())
        .spawn(move || {
            while let Ok(event) = event::read() {
                if sender.send(event).is_err() {
                    break;
                }
            }
        })
        .ok();
    receiver
}
