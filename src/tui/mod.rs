//! The cockpit. `run` wires the pieces: the terminal guard, the poller, an
//! input thread, and a loop that folds events into [`app::App`] and redraws
//! only when something changed.

pub mod app;
pub mod keys;
pub mod terminal;
pub mod views;

use crate::config::Config;
use crate::poller;
use crate::timeline::writer::TimelineWriter;
use crate::timeline::{Event as TimelineEvent, Follower};
use anyhow::Context;
use chrono::Utc;
use crossterm::event::{self, Event, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Opens the cockpit and returns when the responder quits. `incident` is the
/// incident directory to show, if one is current.
pub fn run(config: Config, incident: Option<PathBuf>, read_only: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_loop(config, incident, read_only))
}

async fn run_loop(config: Config, incident: Option<PathBuf>, read_only: bool) -> anyhow::Result<()> {
    let mut guard = terminal::TerminalGuard::enter().context("cannot open the terminal")?;
    let (mut polls, poll_tasks) = poller::start(&config);
    // Appends go through a writer thread: fsync never runs on the render path.
    let writer = match (&incident, crate::incident::timeline_options(&config)) {
        (Some(dir), Ok(options)) if !read_only => crate::timeline::Timeline::open(dir, options)
            .ok()
            .map(TimelineWriter::spawn),
        _ => None,
    };
    let (flash_sender, mut flashes) = mpsc::unbounded_channel::<String>();
    let mut timeline_events = follow_timeline(incident);
    let mut inputs = spawn_input_thread();
    let mut app = app::App::new(&config, Utc::now());
    app.read_only = read_only;
    app.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;

    while !app.should_quit {
        if dirty {
            draw(&mut guard.terminal, &app)?;
            dirty = false;
        }
        tokio::select! {
            Some(input) = inputs.recv() => {
                let (changed, request) = handle_input(&mut app, input);
                dirty |= changed;
                if let Some(request) = request {
                    carry_out(request, writer.clone(), flash_sender.clone());
                }
            }
            Some(flash) = flashes.recv() => {
                app.flash = Some(flash);
                dirty = true;
            }
            Some(result) = polls.recv() => {
                app.apply_poll(&result);
                // Fold every result already waiting into this one frame.
                while let Ok(more) = polls.try_recv() {
                    app.apply_poll(&more);
                }
                dirty = true;
            }
            Some(events) = timeline_events.recv() => {
                app.apply_timeline(events);
                dirty = true;
            }
            _ = clock.tick() => {
                app.now = Utc::now();
                dirty = true;
            }
        }
    }
    for task in poll_tasks {
        task.abort();
    }
    Ok(())
}

/// Returns whether the screen needs a redraw, and work to do for the app.
fn handle_input(app: &mut app::App, input: Event) -> (bool, Option<app::Request>) {
    match input {
        Event::Key(key) if key.kind == KeyEventKind::Press => {
            let quit = key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL)
                && key.code == crossterm::event::KeyCode::Char('c');
            if app.prompt.is_some() && !quit {
                // A prompt takes every key until Enter or Esc.
                return (true, app.type_key(key));
            }
            match keys::action_for(key, app.read_only) {
                Some(action) => (true, app.apply_action(action)),
                None => (false, None),
            }
        }
        Event::Resize(..) => (true, None),
        _ => (false, None),
    }
}

/// Does a request's IO off the render path; the outcome comes back as a flash message.
fn carry_out(request: app::Request, writer: Option<TimelineWriter>, flash: mpsc::UnboundedSender<String>) {
    match request {
        app::Request::AppendNote(text) => {
            let Some(writer) = writer else {
                let _ = flash.send("no incident to write to".into());
                return;
            };
            tokio::spawn(async move {
                let event = crate::timeline::NewEvent::new(
                    crate::timeline::event::kinds::NOTE,
                    serde_json::json!({"text": text}),
                );
                let message = match writer.append(event).await {
                    Ok(event) => format!("note #{} recorded", event.seq),
                    Err(e) => format!("the note was NOT recorded: {e}"),
                };
                let _ = flash.send(message);
            });
        }
    }
}

fn draw(terminal: &mut terminal::Screen, app: &app::App) -> anyhow::Result<()> {
    // Synchronized updates: the terminal shows the whole frame at once, no flicker.
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let drawn = terminal.draw(|frame| views::render(frame, app));
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate)?;
    drawn.context("cannot draw the screen")?;
    Ok(())
}

/// How often the timeline file is checked for other responders' events.
const TIMELINE_POLL: Duration = Duration::from_millis(250);

/// Follows the incident's timeline off the render path: new events (from
/// this process or any other responder) arrive in batches.
fn follow_timeline(incident: Option<PathBuf>) -> mpsc::Receiver<Vec<TimelineEvent>> {
    let (sender, receiver) = mpsc::channel(16);
    let Some(dir) = incident else { return receiver };
    tokio::spawn(async move {
        let mut follower = Follower::from_start(&dir.join(crate::timeline::TIMELINE_FILE));
        let mut ticker = tokio::time::interval(TIMELINE_POLL);
        loop {
            ticker.tick().await;
            let polled = tokio::task::spawn_blocking(move || {
                let events = follower.poll();
                (follower, events)
            })
            .await;
            let Ok((returned, events)) = polled else {
                return;
            };
            follower = returned;
            // A damaged timeline is for `vigie timeline verify`; the cockpit keeps what it has.
            if let Ok(events) = events {
                if !events.is_empty() && sender.send(events).await.is_err() {
                    return;
                }
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
