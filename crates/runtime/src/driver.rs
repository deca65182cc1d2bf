//! Drives one run: carries out the engine's effects (commands through the
//! transports, events through the timeline writer) and talks to whoever
//! follows the run — the line front-end or the cockpit — through two
//! channels: [`RunUpdate`]s out, answers ([`RunEvent`]s) in. Both front-ends
//! share this loop, so a run behaves the same in a script and in the cockpit.

use crate::writer::TimelineWriter;
use crate::RunError;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use vigie_core::config::Config;
use vigie_core::playbook::engine::{Effect, Engine, Outcome, RunEvent};
use vigie_core::playbook::Playbook;
use vigie_core::timeline::NewEvent;
use vigie_core::timeline::Payload;
use vigie_transport::endpoint::Resolver;
use vigie_transport::ssh::SshOptions;
use vigie_transport::{CancelFlag, CommandRequest, Transport};

/// The engine's questions, which every front-end answers.
pub use vigie_core::playbook::engine::Question;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

/// News of a run, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum RunUpdate {
    Step {
        step: usize,
        state: StepState,
    },
    CommandStarted {
        step: usize,
        target: String,
        item: Option<String>,
    },
    /// One line of a running command's output, already made terminal-safe.
    Output {
        step: usize,
        item: Option<String>,
        line: String,
    },
    CommandEnded {
        step: usize,
        item: Option<String>,
        exit: Option<i32>,
        error: Option<String>,
        ms: u64,
    },
    Question(Question),
    /// Values the step's `expect` captured, as the step is done.
    Captured {
        step: usize,
        values: std::collections::BTreeMap<String, String>,
    },
    Finished(Result<Outcome, RunError>),
}

/// The front-end's side of a running playbook.
pub struct RunHandle {
    pub run_id: String,
    pub updates: mpsc::UnboundedReceiver<RunUpdate>,
    pub answers: mpsc::UnboundedSender<RunEvent>,
    /// Set to stop the command running now (its whole remote process group).
    pub cancel: CancelFlag,
}

/// The transports a run uses, opened on first use; a run has its own SSH
/// sessions, so a long command never delays the status polls.
pub struct Targets {
    config: std::sync::Arc<Config>,
    resolver: Resolver,
    options: SshOptions,
    transports: HashMap<String, Transport>,
}

impl Targets {
    pub fn new(config: &Config) -> Targets {
        Targets::with_options(config, SshOptions::from_config(config))
    }

    /// With SSH options of the front-end's own (a terminal one can ask for passphrases).
    pub fn with_options(config: &Config, options: SshOptions) -> Targets {
        Targets {
            config: std::sync::Arc::new(config.clone()),
            resolver: Resolver::for_config(config),
            options,
            transports: HashMap::new(),
        }
    }

    fn transport(&mut self, target: &str) -> Result<Transport, RunError> {
        if let Some(t) = self.transports.get(target) {
            return Ok(t.clone());
        }
        let transport = if target == "local" {
            Transport::Local
        } else {
            let host = self
                .config
                .host(target)
                .ok_or_else(|| RunError::UnknownTarget(target.to_string()))?;
            Transport::for_host(&self.config, &self.resolver, host, &self.options)
        };
        self.transports.insert(target.to_string(), transport.clone());
        Ok(transport)
    }
}

/// Starts the run on the async runtime and returns the front-end's handle.
pub fn spawn(engine: Engine, writer: TimelineWriter, targets: Targets) -> RunHandle {
    let (update_sender, updates) = mpsc::unbounded_channel();
    let (answers, answer_receiver) = mpsc::unbounded_channel();
    let cancel = CancelFlag::default();
    let run_id = engine.run_id().to_string();
    // One driver per run, across processes: held until the drive ends.
    let holder = format!("{}, pid {}", writer.actor(), std::process::id());
    let lock = vigie_core::playbook::run_lock::hold(writer.incident_dir(), &run_id, &holder);
    let driver = Driver {
        writer,
        targets,
        updates: update_sender,
        answers: answer_receiver,
        cancel: cancel.clone(),
        secrets: Vec::new(),
    };
    match lock {
        Ok(lock) => {
            tokio::spawn(async move {
                driver.drive(engine).await;
                drop(lock);
            });
        }
        Err(why) => driver.send(RunUpdate::Finished(Err(RunError::Driven(why)))),
    }
    RunHandle {
        run_id,
        updates,
        answers,
        cancel,
    }
}

struct Driver {
    writer: TimelineWriter,
    targets: Targets,
    updates: mpsc::UnboundedSender<RunUpdate>,
    answers: mpsc::UnboundedReceiver<RunEvent>,
    cancel: CancelFlag,
    /// Masked in what the front-ends show as it streams (the timeline's
    /// writer masks its own copy).
    secrets: Vec<vigie_core::secret::Secret>,
}

impl Driver {
    async fn drive(mut self, mut engine: Engine) {
        for secret in engine.secrets() {
            self.writer.add_secret(secret.expose());
        }
        self.secrets = engine.secrets().to_vec();
        let mut queue: VecDeque<Effect> = engine.handle(RunEvent::Start).into();
        while let Some(effect) = queue.pop_front() {
            let event = match effect {
                Effect::Record(event) => {
                    let state = step_state(engine.playbook(), &event);
                    let captured = match event.payload() {
                        vigie_core::timeline::Payload::StepDone(done) if !done.captures.is_empty() => {
                            state.as_ref().map(|(step, _)| (*step, done.captures.clone()))
                        }
                        _ => None,
                    };
                    if let Err(e) = self.writer.append(event).await {
                        // Nothing runs unrecorded: the run stops here.
                        self.send(RunUpdate::Finished(Err(RunError::TimelineWrite(e.to_string()))));
                        return;
                    }
                    if let Some((step, state)) = state {
                        self.send(RunUpdate::Step { step, state });
                    }
                    if let Some((step, values)) = captured {
                        let values = values
                            .into_iter()
                            .map(|(name, value)| (name, vigie_core::secret::mask_all(&self.secrets, &value)))
                            .collect();
                        self.send(RunUpdate::Captured { step, values });
                    }
                    None
                }
                Effect::Run {
                    step,
                    target,
                    item,
                    script,
                    timeout,
                } => Some(self.run_command(step, &target, item, script, timeout).await),
                Effect::Ask(question) => self.ask(question).await,
                Effect::Finished { outcome } => {
                    self.send(RunUpdate::Finished(Ok(outcome)));
                    return;
                }
            };
            if let Some(event) = event {
                queue.extend(engine.handle(event));
            }
        }
        self.send(RunUpdate::Finished(Err(RunError::Stopped)));
    }

    fn send(&self, update: RunUpdate) {
        // A front-end that went away cannot be told; the timeline still is.
        let _ = self.updates.send(update);
    }

    async fn ask(&mut self, question: Question) -> Option<RunEvent> {
        self.send(RunUpdate::Question(question));
        // A front-end that went away (vigie quit) answers nothing: the run
        // stays where it is, to be taken up later, and is not aborted.
        self.answers.recv().await
    }

    async fn run_command(
        &mut self,
        step: usize,
        target: &str,
        item: Option<String>,
        script: String,
        timeout: Duration,
    ) -> RunEvent {
        self.send(RunUpdate::CommandStarted {
            step,
            target: target.to_string(),
            item: item.clone(),
        });
        let ended = |exit, error: Option<String>, ms| RunUpdate::CommandEnded {
            step,
            item: item.clone(),
            exit,
            error,
            ms,
        };
        let transport = match self.targets.transport(target) {
            Ok(t) => t,
            Err(error) => {
                let error = error.to_string();
                self.send(ended(None, Some(error.clone()), 0));
                return RunEvent::CommandFailed { item, error };
            }
        };
        self.cancel.store(false, Ordering::Relaxed);
        let (live, mut chunks) = mpsc::channel(vigie_transport::LIVE_CHUNKS);
        let mut request = CommandRequest::new(script, timeout);
        request.cancel = self.cancel.clone();
        request.live = Some(live);
        let running = transport.run(request);
        tokio::pin!(running);
        let mut lines = LineSplitter::default();
        let result = loop {
            tokio::select! {
                result = &mut running => break result,
                Some(chunk) = chunks.recv() => self.send_lines(step, &item, lines.push(&chunk)),
            }
        };
        while let Ok(chunk) = chunks.try_recv() {
            self.send_lines(step, &item, lines.push(&chunk));
        }
        self.send_lines(step, &item, lines.finish());
        match result {
            Ok(output) => {
                let ms = output.elapsed.as_millis() as u64;
                self.send(ended(output.exit, None, ms));
                let mut text = output.stdout_text();
                let stderr = output.stderr_text();
                if !stderr.trim().is_empty() {
                    text.push_str(&stderr);
                }
                let output_bytes = (output.stdout.len() + output.stderr.len()) as u64 + output.dropped_bytes;
                RunEvent::CommandFinished {
                    item,
                    exit: output.exit,
                    output: text,
                    ms,
                    output_bytes,
                }
            }
            Err(e) => {
                self.send(ended(None, Some(e.to_string()), 0));
                RunEvent::CommandFailed {
                    item,
                    error: e.to_string(),
                }
            }
        }
    }

    fn send_lines(&self, step: usize, item: &Option<String>, lines: Vec<String>) {
        for line in lines {
            self.send(RunUpdate::Output {
                step,
                item: item.clone(),
                line: vigie_core::secret::mask_all(&self.secrets, &line),
            });
        }
    }
}

/// The step state a recorded event announces, by the step id in its data.
fn step_state(playbook: &Playbook, event: &NewEvent) -> Option<(usize, StepState)> {
    let (id, state) = match event.payload() {
        Payload::StepStarted(p) => (p.step, StepState::Running),
        Payload::StepDone(p) => (p.step, StepState::Done),
        Payload::StepSkipped(p) => (p.step, StepState::Skipped),
        Payload::StepFailed(p) => (p.step, StepState::Failed),
        _ => return None,
    };
    let step = playbook.steps.iter().position(|s| s.id == id)?;
    Some((step, state))
}

/// Longest line kept whole; a longer one (a progress bar without newlines)
/// is shown in pieces.
const MAX_LINE_BYTES: usize = 4096;

/// Cuts a byte stream into terminal-safe lines; a multi-byte character or an
/// escape sequence split across chunks is kept for the next chunk.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            lines.push(clean_line(&line[..line.len() - 1]));
        }
        if self.pending.len() > MAX_LINE_BYTES {
            let line: Vec<u8> = std::mem::take(&mut self.pending);
            lines.push(clean_line(&line));
        }
        lines
    }

    pub fn finish(&mut self) -> Vec<String> {
        if self.pending.is_empty() {
            return vec![];
        }
        let line = std::mem::take(&mut self.pending);
        vec![clean_line(&line)]
    }
}

fn clean_line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    vigie_core::sanitize::one_line(&vigie_core::sanitize::from_host_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_across_chunks_and_made_inert() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"one\ntw"), vec!["one"]);
        assert_eq!(splitter.push(b"o\r\n\x1b[31mred\x1b"), vec!["two"]);
        assert_eq!(splitter.push(b"]0;title\x07\n"), vec!["red"]);
        assert_eq!(splitter.push(&"caf\u{e9}".as_bytes()[..4]), Vec::<String>::new());
        assert_eq!(splitter.push(&"caf\u{e9}".as_bytes()[4..]), Vec::<String>::new());
        assert_eq!(splitter.finish(), vec!["caf\u{e9}"]);
        assert!(splitter.finish().is_empty());
    }

    #[test]
    fn an_endless_line_comes_in_pieces() {
        let mut splitter = LineSplitter::default();
        let lines = splitter.push(&vec![b'x'; MAX_LINE_BYTES + 10]);
        assert_eq!(lines.len(), 1);
        assert!(splitter.finish().is_empty());
    }
}
