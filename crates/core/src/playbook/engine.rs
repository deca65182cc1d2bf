//! The playbook engine: a pure state machine. `handle(event)` returns the
//! effects to carry out (run a command, ask for confirmation, record a
//! timeline event) as data; it does no IO, so every path through a playbook
//! is tested without a network, a terminal or a clock. The runner carries
//! out the effects and feeds the results back as events.

use super::format::{Command, InputKind, Playbook, Risk};
use crate::probe::shell::quote;
use crate::secret::{mask_all, Secret};
use crate::timeline::payload::{
    ChecklistTicked, CommandFinished, CommandSent, PlaybookFinished, PlaybookResumed, PlaybookStarted, StepDone,
    StepFailed, StepSkipped, StepStarted,
};
use crate::timeline::{NewEvent, Payload};
use std::collections::BTreeMap;
use std::time::Duration;

/// Command timeout of a step that sets none, unless the front-end gives
/// the inventory's `command_timeout` ([`Engine::with_default_timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What every step script starts with: a failing command fails the step,
/// as in a CI runner, and so does a failing command inside a pipe where
/// the remote shell knows `pipefail`. A step that means to go on after a
/// failure says so (`|| true`, `set +e`).
pub const STRICT_PRELUDE: &str = "(set -o pipefail) 2>/dev/null && set -o pipefail\nset -e\n";

/// A sent script in one line: the first line of the step's own script, after
/// the values and the strict prelude vigie puts first.
pub fn script_headline(script: &str) -> &str {
    let own = match script.find(STRICT_PRELUDE) {
        Some(at) => &script[at + STRICT_PRELUDE.len()..],
        None => script,
    };
    let is_assignment = |line: &str| {
        line.split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    own.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !is_assignment(l))
        .unwrap_or(own.trim())
}

/// [`script_headline`], saying when the script has more lines than that
/// one: `systemctl restart web … (+3 lines)`.
pub fn script_summary(script: &str) -> String {
    let headline = script_headline(script);
    let own = match script.find(STRICT_PRELUDE) {
        Some(at) => &script[at + STRICT_PRELUDE.len()..],
        None => script,
    };
    let lines = own.lines().filter(|l| !l.trim().is_empty()).count();
    match lines.saturating_sub(1) {
        0 => headline.to_string(),
        more => format!("{headline} … (+{more} line{})", if more == 1 { "" } else { "s" }),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// Inputs have been validated; start at the first step.
    Start,
    /// The responder confirmed a risky step by typing `typed`.
    Confirmed {
        typed: String,
    },
    /// The responder did a manual step (refused while a checklist box is unticked).
    ManualDone,
    /// The responder ticked (or unticked) checklist box `item` of the manual
    /// step; `automatic` when nobody looked (`vigie run --yes`).
    Tick {
        item: usize,
        ticked: bool,
        automatic: bool,
    },
    /// One command of the current step ended (`item` is the VM for `each=`).
    CommandFinished {
        item: Option<String>,
        exit: Option<i32>,
        /// What the transport kept of the output (its beginning, up to its cap).
        output: String,
        ms: u64,
        /// Every byte the command wrote, kept or not (0: as long as `output`).
        output_bytes: u64,
    },
    /// One command could not run or finish (unreachable, timeout...).
    CommandFailed {
        item: Option<String>,
        error: String,
    },
    Retry,
    Skip {
        reason: String,
    },
    Abort {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Run `script` on `target` (a host name or `local`).
    Run {
        step: usize,
        target: String,
        item: Option<String>,
        script: String,
        timeout: Duration,
    },
    /// Wait for the responder's answer to `Question`.
    Ask(Question),
    /// Append this to the timeline.
    Record(NewEvent),
    Finished {
        outcome: Outcome,
    },
}

/// What the run needs the responder to decide: the engine asks, every
/// front-end (`vigie run`, the cockpit's popups) answers with a [`RunEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Go on with the step's command (`Confirmed`). `expected` is the name to
    /// type for a high-risk step, empty for the others.
    Confirm { step: usize, expected: String },
    /// A step done by hand: tick its checklist (`Tick`), then say it is done
    /// (`ManualDone`). `unticked` lists the boxes still open, with their text.
    Manual {
        step: usize,
        /// How many boxes the step has.
        boxes: usize,
        unticked: Vec<(usize, String)>,
    },
    /// The step failed: retry, skip (with a reason) or abort.
    Recovery { step: usize, error: String },
}

impl Question {
    pub fn step(&self) -> usize {
        match self {
            Question::Confirm { step, .. } | Question::Manual { step, .. } | Question::Recovery { step, .. } => *step,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    NotStarted,
    Confirming,
    Manual,
    Running {
        pending: Vec<Option<String>>,
        failures: Vec<String>,
    },
    Failed,
    Done,
}

/// What a stopped run had done, rebuilt from the timeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The run being taken up again.
    pub run: String,
    /// Steps done or skipped.
    pub finished_steps: Vec<String>,
    /// Of those, the ones skipped: they stay skipped, not shown as done.
    pub skipped_steps: Vec<String>,
    /// A step that had failed and was waiting for retry, skip or abort,
    /// with its error: it is put to the responder again, not run again.
    pub failed: Option<FailedStep>,
    /// Values captured by those steps.
    pub captures: BTreeMap<String, String>,
    /// The step that had started and never ended: its outcome is unknown.
    pub interrupted: Option<String>,
    /// The run's recorded inputs (secrets are never recorded).
    pub inputs: BTreeMap<String, String>,
    /// Why each skipped step was skipped, by step id.
    pub skip_reasons: BTreeMap<String, String>,
    /// What each done step captured, by step id.
    pub captured: BTreeMap<String, BTreeMap<String, String>>,
    /// The boxes ticked in the checklist the run stopped at (its step, the items).
    pub ticked: Option<(String, Vec<String>)>,
}

/// A failed step of a stopped run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedStep {
    pub step: String,
    pub error: String,
}

impl Progress {
    /// Whether this progress can be taken up by `playbook` as it is now: a
    /// step it names that the playbook no longer has (renamed, removed)
    /// means the file changed, and steps done could be run again.
    pub fn fits(&self, playbook: &Playbook) -> Result<(), String> {
        let named = self
            .finished_steps
            .iter()
            .chain(self.interrupted.iter())
            .chain(self.failed.iter().map(|f| &f.step));
        let missing: Vec<&String> = named
            .filter(|id| !playbook.steps.iter().any(|s| s.id == **id))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            steps => Err(format!(
                "the playbook changed since that run began (no step {} any more): it cannot be taken up safely",
                steps.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// A run goes on with the inputs it was started with: a value given now
    /// that differs is refused (the responder starts anew to change it).
    pub fn check_inputs(&self, playbook: &Playbook, given: &BTreeMap<String, String>) -> Result<(), String> {
        for (name, recorded) in &self.inputs {
            // Secrets are never recorded: they are given again, not compared.
            if playbook.inputs.get(name).is_some_and(|i| i.kind == InputKind::Secret) {
                continue;
            }
            match given.get(name) {
                Some(new) if new != recorded => {
                    return Err(format!(
                        "{name}={}: the run was started with {name}={}; a run goes on with its inputs (start anew to change them)",
                        crate::sanitize::one_line(new),
                        crate::sanitize::one_line(recorded)
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The "playbook.finished" that closes this run for good when the
    /// responder starts anew instead of taking it up.
    pub fn abandoned(&self, playbook: &str, why: &str) -> NewEvent {
        NewEvent::from(Payload::PlaybookFinished(PlaybookFinished {
            playbook: playbook.to_string(),
            outcome: "aborted".into(),
            reason: Some(why.to_string()),
            step: None,
            run: self.run.clone(),
        }))
    }

    /// Where the run stood, in a few words: "2 step(s) done, 1 skipped, step "x" had failed".
    pub fn describe(&self) -> String {
        let skipped = self.skipped_steps.len();
        let mut words = format!("{} step(s) done", self.finished_steps.len() - skipped);
        if skipped > 0 {
            words += &format!(", {skipped} skipped");
        }
        if let Some(step) = &self.interrupted {
            words += &format!(", step {step:?} was running");
        }
        if let Some(failed) = &self.failed {
            words += &format!(", step {:?} had failed", failed.step);
        }
        words
    }

    /// How `step` stood when the run stopped (`None`: not reached yet).
    pub fn state_of(&self, step: &str) -> Option<StepOutcome> {
        if self.skipped_steps.iter().any(|s| s == step) {
            Some(StepOutcome::Skipped)
        } else if self.finished_steps.iter().any(|s| s == step) {
            Some(StepOutcome::Done)
        } else if self.failed.as_ref().is_some_and(|f| f.step == step) {
            Some(StepOutcome::Failed)
        } else {
            None
        }
    }
}

/// How a step of a stopped run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    Skipped,
    Failed,
}

pub struct Engine {
    /// Identifies this run in the timeline (`data.run` of every event).
    run: String,
    resume: Option<Progress>,
    /// Captures of the current step, recorded with its `step.done`.
    step_captures: BTreeMap<String, String>,
    playbook: Playbook,
    /// Input values and captures, as the scripts see them.
    vars: BTreeMap<String, String>,
    secrets: Vec<Secret>,
    step: usize,
    phase: Phase,
    /// Ask before every command step, not only high-risk ones (the cockpit
    /// walks the responder through the playbook step by step).
    confirm_each_step: bool,
    /// Groups of vigie.toml: a command `on=` a group runs on each member.
    groups: BTreeMap<String, Vec<String>>,
    /// The current manual step's checklist boxes.
    ticked: Vec<bool>,
    /// The timeout of a step that sets none.
    default_timeout: Duration,
    /// A resumed run's ticked boxes, for the checklist it stopped at.
    ticked_before: Option<(String, Vec<String>)>,
}

impl Engine {
    /// `inputs` must be validated (see [`validate_inputs`]); `run` is the new
    /// run's id (the front-end makes it: the engine has no clock and no
    /// randomness of its own).
    pub fn new(playbook: Playbook, inputs: BTreeMap<String, String>, run: String) -> Engine {
        let secrets = playbook
            .inputs
            .iter()
            .filter(|(_, i)| i.kind == InputKind::Secret)
            .filter_map(|(name, _)| inputs.get(name).map(Secret::new))
            .collect();
        Engine {
            run,
            resume: None,
            step_captures: BTreeMap::new(),
            playbook,
            vars: inputs,
            secrets,
            step: 0,
            phase: Phase::NotStarted,
            confirm_each_step: false,
            groups: BTreeMap::new(),
            ticked: Vec::new(),
            default_timeout: DEFAULT_TIMEOUT,
            ticked_before: None,
        }
    }

    /// The timeout of steps without `timeout=` (vigie.toml's `command_timeout`).
    pub fn with_default_timeout(mut self, timeout: Duration) -> Engine {
        self.default_timeout = timeout;
        self
    }

    /// Takes up a run that vigie left in the middle: finished steps are not
    /// run again, their captures are restored, and the interrupted step is
    /// put to the responder (its outcome is unknown).
    pub fn resume(playbook: Playbook, inputs: BTreeMap<String, String>, progress: Progress) -> Engine {
        let mut engine = Engine::new(playbook, inputs, progress.run.clone());
        engine.vars.extend(progress.captures.clone());
        engine.ticked_before = progress.ticked.clone();
        engine.resume = Some(progress);
        engine
    }

    /// Every command step waits for [`RunEvent::Confirmed`]; only high-risk
    /// ones need the target's name typed.
    pub fn confirming_each_step(mut self) -> Engine {
        self.confirm_each_step = true;
        self
    }

    /// The inventory's groups: a command whose target is a group runs on
    /// every member (one result each, named after the host).
    pub fn with_groups(mut self, groups: BTreeMap<String, Vec<String>>) -> Engine {
        self.groups = groups;
        self
    }

    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Values of `secret` inputs: the runner registers them with the timeline's redactor.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    pub fn current_step(&self) -> usize {
        self.step
    }

    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    // Longer than 80 lines on purpose: one arm per (phase, event) pair keeps the whole
    // state machine in one place, where every transition can be read against the others.
    pub fn handle(&mut self, event: RunEvent) -> Vec<Effect> {
        match (std::mem::replace(&mut self.phase, Phase::Done), event) {
            (Phase::NotStarted, RunEvent::Start) => match self.resume.take() {
                None => {
                    let mut effects = vec![Effect::Record(self.record(Payload::PlaybookStarted(PlaybookStarted {
                        playbook: self.playbook.id.clone(),
                        title: self.playbook.title.clone(),
                        inputs: self.public_inputs(),
                        run: self.run.clone(),
                    })))];
                    effects.extend(self.enter_step());
                    effects
                }
                Some(progress) => self.take_up(progress),
            },
            (Phase::Confirming, RunEvent::Confirmed { typed }) => {
                let expected = self.expected_confirmation();
                if typed.trim() == expected {
                    self.run_step()
                } else {
                    self.phase = Phase::Confirming;
                    vec![Effect::Ask(Question::Confirm {
                        step: self.step,
                        expected,
                    })]
                }
            }
            // The checklist is the step: it is done only when every box is ticked.
            (Phase::Manual, RunEvent::ManualDone) if self.unticked().is_empty() => {
                // Done by hand: a step with no command (one with a command
                // ran it, then had its checklist ticked).
                let by_hand = self.playbook.steps[self.step].command.is_none();
                self.step_done(StepDone {
                    manual: by_hand.then_some(true),
                    ..StepDone::default()
                })
            }
            (Phase::Manual, RunEvent::ManualDone) => {
                self.phase = Phase::Manual;
                vec![self.ask_manual()]
            }
            (
                Phase::Manual,
                RunEvent::Tick {
                    item,
                    ticked,
                    automatic,
                },
            ) if item < self.ticked.len() => {
                self.phase = Phase::Manual;
                self.ticked[item] = ticked;
                let text = self.playbook.steps[self.step].checklist[item].clone();
                let tick = self.record(Payload::ChecklistTicked(ChecklistTicked {
                    run: self.run.clone(),
                    step: self.step_id(),
                    item: text,
                    ticked,
                    automatic,
                }));
                vec![Effect::Record(tick), self.ask_manual()]
            }
            (
                Phase::Running {
                    mut pending,
                    mut failures,
                },
                RunEvent::CommandFinished {
                    item,
                    exit,
                    output,
                    ms,
                    output_bytes,
                },
            ) => {
                pending.retain(|p| *p != item);
                // The true size, even when the transport kept only the beginning.
                let truncated = output_bytes > output.len() as u64;
                let finished = self.finished_event(
                    &item,
                    CommandFinished {
                        exit,
                        ms: Some(ms),
                        output: output.clone(),
                        output_bytes: truncated.then_some(output_bytes),
                        output_truncated: truncated.then_some(true),
                        ..CommandFinished::default()
                    },
                );
                let mut effects = vec![Effect::Record(finished)];
                match self.check_expectations(exit, &output) {
                    Ok(captures) => {
                        self.step_captures.extend(captures.clone());
                        self.vars.extend(captures);
                    }
                    Err(why) => failures.push(named_failure(&item, why)),
                }
                effects.extend(self.after_command(pending, failures));
                effects
            }
            (
                Phase::Running {
                    mut pending,
                    mut failures,
                },
                RunEvent::CommandFailed { item, error },
            ) => {
                pending.retain(|p| *p != item);
                // Every command sent ends in the timeline, with why it has no exit code.
                let finished = self.finished_event(
                    &item,
                    CommandFinished {
                        exit: None,
                        error: Some(error.clone()),
                        ..CommandFinished::default()
                    },
                );
                failures.push(named_failure(&item, error));
                let mut effects = vec![Effect::Record(finished)];
                effects.extend(self.after_command(pending, failures));
                effects
            }
            (Phase::Failed, RunEvent::Retry) => self.enter_step(),
            (Phase::Failed | Phase::Manual | Phase::Confirming, RunEvent::Skip { reason })
                if !reason.trim().is_empty() =>
            {
                let mut effects = vec![Effect::Record(self.record(Payload::StepSkipped(StepSkipped {
                    step: self.step_id(),
                    title: self.step_title(),
                    reason,
                    run: self.run.clone(),
                })))];
                effects.extend(self.next_step());
                effects
            }
            (phase, RunEvent::Abort { reason }) if phase != Phase::Done => {
                self.phase = Phase::Done;
                vec![
                    Effect::Record(self.record(Payload::PlaybookFinished(PlaybookFinished {
                        playbook: self.playbook.id.clone(),
                        outcome: "aborted".into(),
                        reason: Some(reason),
                        step: Some(self.step_id()),
                        run: self.run.clone(),
                    }))),
                    Effect::Finished {
                        outcome: Outcome::Aborted,
                    },
                ]
            }
            // Anything else is out of order: ignore it, keep the phase.
            (phase, _) => {
                self.phase = phase;
                vec![]
            }
        }
    }

    /// The current step's command runs on a group (its items are hosts).
    fn targets_a_group(&self) -> bool {
        self.playbook
            .steps
            .get(self.step)
            .and_then(|s| s.command.as_ref())
            .and_then(|c| self.resolve_target(c))
            .is_some_and(|t| self.groups.contains_key(&t))
    }

    fn step_title(&self) -> String {
        self.playbook
            .steps
            .get(self.step)
            .map(|s| s.title.clone())
            .unwrap_or_default()
    }

    fn step_id(&self) -> String {
        self.playbook
            .steps
            .get(self.step)
            .map(|s| s.id.clone())
            .unwrap_or_default()
    }

    fn take_up(&mut self, progress: Progress) -> Vec<Effect> {
        let mut effects = vec![Effect::Record(self.record(Payload::PlaybookResumed(PlaybookResumed {
            playbook: self.playbook.id.clone(),
            finished_steps: progress.finished_steps.clone(),
            interrupted: progress.interrupted.clone(),
            run: self.run.clone(),
        })))];
        while self
            .playbook
            .steps
            .get(self.step)
            .is_some_and(|s| progress.finished_steps.contains(&s.id))
        {
            self.step += 1;
        }
        let here = self.playbook.steps.get(self.step).map(|s| s.id.as_str());
        let interrupted = progress.interrupted.as_deref() == here;
        let failed = progress.failed.as_ref().filter(|f| Some(f.step.as_str()) == here);
        if let Some(failed) = failed.filter(|_| self.playbook.steps[self.step].command.is_some()) {
            // Already recorded as failed: the responder decides again, nothing reruns.
            self.phase = Phase::Failed;
            effects.push(Effect::Ask(Question::Recovery {
                step: self.step,
                error: failed.error.clone(),
            }));
        } else if interrupted && self.playbook.steps[self.step].command.is_some() {
            let error =
                "outcome unknown: vigie stopped while this step ran; check its effect on the host, then retry or skip"
                    .to_string();
            self.phase = Phase::Failed;
            effects.push(Effect::Record(self.step_failed(&error)));
            effects.push(Effect::Ask(Question::Recovery { step: self.step, error }));
        } else {
            effects.extend(self.enter_step());
        }
        effects
    }

    /// A variable of `script` that an `expect` of this playbook captures and
    /// that no step has captured in this run.
    fn missing_capture(&self, script: &str) -> Option<String> {
        let captured_by_some_step = |name: &str| {
            self.playbook
                .steps
                .iter()
                .any(|s| s.expect.iter().any(|e| e.captures.iter().any(|c| c == name)))
        };
        super::format::variables_in(script)
            .into_iter()
            .find(|name| !self.vars.contains_key(name) && captured_by_some_step(name))
    }

    /// The event for `payload` (which carries this run's id), on the host
    /// the current step's command targets.
    fn record(&self, payload: Payload) -> NewEvent {
        let mut event = NewEvent::from(payload);
        if let Some(command) = self.playbook.steps.get(self.step).and_then(|s| s.command.as_ref()) {
            event.host = self.resolve_target(command);
        }
        event
    }

    /// Inputs as they may be recorded or shown: secrets replaced.
    pub fn public_inputs(&self) -> BTreeMap<String, String> {
        self.vars
            .iter()
            .filter(|(name, _)| self.playbook.inputs.contains_key(*name))
            .map(|(name, value)| {
                let secret = self
                    .playbook
                    .inputs
                    .get(name)
                    .is_some_and(|i| i.kind == InputKind::Secret);
                (
                    name.clone(),
                    if secret {
                        "[redacted]".to_string()
                    } else {
                        value.clone()
                    },
                )
            })
            .collect()
    }

    fn enter_step(&mut self) -> Vec<Effect> {
        let Some(step) = self.playbook.steps.get(self.step) else {
            return self.finish();
        };
        let mut effects = vec![Effect::Record(self.record(Payload::StepStarted(StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            run: self.run.clone(),
        })))];
        match &step.command {
            None => effects.push(self.open_checklist()),
            Some(command) if command.risk == Risk::High || self.confirm_each_step => {
                self.phase = Phase::Confirming;
                effects.push(Effect::Ask(Question::Confirm {
                    step: self.step,
                    expected: self.expected_confirmation(),
                }));
            }
            Some(_) => effects.extend(self.run_step()),
        }
        effects
    }

    /// What the responder must type: the target's name for a high-risk
    /// step, nothing for the others.
    fn expected_confirmation(&self) -> String {
        self.playbook.steps[self.step]
            .command
            .as_ref()
            .filter(|c| c.risk == Risk::High)
            .and_then(|c| self.resolve_target(c))
            .unwrap_or_default()
    }

    fn resolve_target(&self, command: &Command) -> Option<String> {
        command_target(&self.playbook, &self.vars, command)
    }

    fn run_step(&mut self) -> Vec<Effect> {
        let step = &self.playbook.steps[self.step];
        let Some(command) = step.command.clone() else {
            return vec![];
        };
        if let Some(missing) = self.missing_capture(&command.script) {
            // No command on a guess: an empty value where a captured one belongs
            // (a position, a file name) could do harm.
            let error = format!(
                "${missing} was never captured (the step that captures it was skipped or failed): \
                 nothing was sent; skip this step or abort"
            );
            self.phase = Phase::Failed;
            return vec![
                Effect::Record(self.step_failed(&error)),
                Effect::Ask(Question::Recovery { step: self.step, error }),
            ];
        }
        let step = &self.playbook.steps[self.step];
        let target = self.resolve_target(&command).unwrap_or_default();
        if let Some(members) = self.groups.get(&target).cloned() {
            return self.run_on_group(&command, members);
        }
        let items: Vec<Option<String>> = match &command.each {
            Some(list) => self
                .vars
                .get(list)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Some(s.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            None => vec![None],
        };
        let timeout = command.timeout.unwrap_or(self.default_timeout);
        let mut effects = Vec::new();
        for item in &items {
            let script = self.script(&command.script, item.as_deref());
            // The whole script as sent, secrets masked: a reader can replay it.
            let shown = self.render_script(&command.script, item.as_deref(), true);
            effects.push(Effect::Record(self.record(Payload::CommandSent(CommandSent {
                step: step.id.clone(),
                item: item.clone(),
                command: shown,
                run: self.run.clone(),
            }))));
            effects.push(Effect::Run {
                step: self.step,
                target: target.clone(),
                item: item.clone(),
                script,
                timeout,
            });
        }
        self.await_commands(items, effects)
    }

    /// A command on a group: the same script on every member, each run
    /// tracked by the member's name (its `item`), each recorded on its host.
    fn run_on_group(&mut self, command: &Command, members: Vec<String>) -> Vec<Effect> {
        let step_id = self.step_id();
        let timeout = command.timeout.unwrap_or(self.default_timeout);
        let script = self.script(&command.script, None);
        let shown = self.render_script(&command.script, None, true);
        let mut effects = Vec::new();
        for host in &members {
            let mut sent = self.record(Payload::CommandSent(CommandSent {
                step: step_id.clone(),
                item: Some(host.clone()),
                command: shown.clone(),
                run: self.run.clone(),
            }));
            sent.host = Some(host.clone());
            effects.push(Effect::Record(sent));
            effects.push(Effect::Run {
                step: self.step,
                target: host.clone(),
                item: Some(host.clone()),
                script: script.clone(),
                timeout,
            });
        }
        self.await_commands(members.into_iter().map(Some).collect(), effects)
    }

    /// Waits for the commands just sent (`effects`), one per pending item;
    /// with none (an `each=` over an empty selection), the step is done.
    fn await_commands(&mut self, pending: Vec<Option<String>>, effects: Vec<Effect>) -> Vec<Effect> {
        self.phase = Phase::Running {
            pending,
            failures: vec![],
        };
        if effects.is_empty() {
            return self.step_done(StepDone {
                items: Some(0),
                ..StepDone::default()
            });
        }
        effects
    }

    /// Variables first, each value single-quoted, then the command. The whole
    /// text travels on stdin; nothing of it is on a command line.
    fn script(&self, command: &str, item: Option<&str>) -> String {
        self.render_script(command, item, false)
    }

    /// The script step `step` sends (for `item`), with secrets shown as
    /// `[redacted]`: exactly what `vigie run --dry-run` prints.
    pub fn shown_script(&self, step: usize, item: Option<&str>) -> Option<String> {
        let command = self.playbook.steps.get(step)?.command.as_ref()?;
        Some(self.render_script(&command.script, item, true))
    }

    /// Every variable as a single-quoted assignment, then the command.
    fn render_script(&self, command: &str, item: Option<&str>, mask_secrets: bool) -> String {
        let mut script = String::new();
        for (name, value) in &self.vars {
            if is_shell_name(name) {
                let secret = self
                    .playbook
                    .inputs
                    .get(name)
                    .is_some_and(|i| i.kind == InputKind::Secret);
                let shown = if mask_secrets && secret {
                    "[redacted]".to_string()
                } else {
                    quote(value)
                };
                script.push_str(&format!("{name}={shown}\n"));
            }
        }
        if let Some(vm) = item {
            script.push_str(&format!("vm={}\n", quote(vm)));
        }
        script.push_str(STRICT_PRELUDE);
        script.push_str(command);
        script
    }

    /// What the step's command had to show: exit 0, and each `expect`
    /// regex found (its named groups captured). The script runs with
    /// errexit, so exit 0 means every command of it succeeded.
    fn check_expectations(&self, exit: Option<i32>, output: &str) -> Result<BTreeMap<String, String>, Unmet> {
        let step = &self.playbook.steps[self.step];
        match exit {
            Some(0) => {}
            Some(code) => {
                return Err(Unmet::Exit {
                    code,
                    // Shown on the terminal and in questions: a secret the step printed stays hidden.
                    last_line: last_line(output).map(|line| mask_all(&self.secrets, &line)),
                });
            }
            None => return Err(Unmet::Signal),
        }
        let mut captures = BTreeMap::new();
        for expect in &step.expect {
            let found = expect
                .regex
                .0
                .captures(output)
                .ok_or_else(|| Unmet::OutputNotFound(expect.pattern.clone()))?;
            for name in &expect.captures {
                if let Some(value) = found.name(name) {
                    captures.insert(name.clone(), value.as_str().to_string());
                }
            }
        }
        Ok(captures)
    }

    /// The `command.finished` of one run (`item`) of the current step;
    /// on a group, recorded on the member's host.
    fn finished_event(&self, item: &Option<String>, finished: CommandFinished) -> NewEvent {
        let mut event = self.record(Payload::CommandFinished(CommandFinished {
            step: Some(self.step_id()),
            run: Some(self.run.clone()),
            item: item.clone(),
            ..finished
        }));
        if let Some(host) = item.as_ref().filter(|_| self.targets_a_group()) {
            event.host = Some(host.clone());
        }
        event
    }

    fn after_command(&mut self, pending: Vec<Option<String>>, failures: Vec<String>) -> Vec<Effect> {
        if !pending.is_empty() {
            self.phase = Phase::Running { pending, failures };
            return vec![];
        }
        if failures.is_empty() {
            // A checklist after the command: the boxes are checked against
            // what it showed, by hand, before the step is done.
            if !self.playbook.steps[self.step].checklist.is_empty() {
                return vec![self.open_checklist()];
            }
            return self.step_done(StepDone::default());
        }
        let error = failures.join("; ");
        self.phase = Phase::Failed;
        vec![
            Effect::Record(self.step_failed(&error)),
            Effect::Ask(Question::Recovery { step: self.step, error }),
        ]
    }

    /// The current step's checklist waits for the responder: its boxes
    /// (a resumed run keeps those ticked before it stopped), and the question.
    fn open_checklist(&mut self) -> Effect {
        self.phase = Phase::Manual;
        let step = &self.playbook.steps[self.step];
        let before = self.ticked_before.take().filter(|(id, _)| *id == step.id);
        self.ticked = step
            .checklist
            .iter()
            .map(|item| before.as_ref().is_some_and(|(_, items)| items.contains(item)))
            .collect();
        self.ask_manual()
    }

    /// The manual step's question, with the boxes still unticked.
    fn ask_manual(&self) -> Effect {
        Effect::Ask(Question::Manual {
            step: self.step,
            boxes: self.ticked.len(),
            unticked: self.unticked(),
        })
    }

    fn unticked(&self) -> Vec<(usize, String)> {
        let checklist = self
            .playbook
            .steps
            .get(self.step)
            .map(|s| s.checklist.as_slice())
            .unwrap_or(&[]);
        self.ticked
            .iter()
            .zip(checklist)
            .enumerate()
            .filter(|(_, (ticked, _))| !**ticked)
            .map(|(index, (_, text))| (index, text.clone()))
            .collect()
    }

    fn step_failed(&self, error: &str) -> NewEvent {
        self.record(Payload::StepFailed(StepFailed {
            step: self.step_id(),
            title: self.step_title(),
            error: error.to_string(),
            run: self.run.clone(),
        }))
    }

    /// Records the current step done (`done` says how) and moves on.
    fn step_done(&mut self, done: StepDone) -> Vec<Effect> {
        let done = StepDone {
            step: self.step_id(),
            title: self.step_title(),
            run: self.run.clone(),
            // Captures go with the step, so that a resumed run gets them back.
            captures: std::mem::take(&mut self.step_captures),
            ..done
        };
        let mut effects = vec![Effect::Record(self.record(Payload::StepDone(done)))];
        effects.extend(self.next_step());
        effects
    }

    fn next_step(&mut self) -> Vec<Effect> {
        self.step += 1;
        self.enter_step()
    }

    fn finish(&mut self) -> Vec<Effect> {
        self.phase = Phase::Done;
        vec![
            Effect::Record(NewEvent::from(Payload::PlaybookFinished(PlaybookFinished {
                playbook: self.playbook.id.clone(),
                outcome: "completed".into(),
                run: self.run.clone(),
                ..PlaybookFinished::default()
            }))),
            Effect::Finished {
                outcome: Outcome::Completed,
            },
        ]
    }
}

/// Why a command's result does not let its step succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    /// The exit code, and the output's last line: what the command said
    /// last is most often why it failed ("Failed to get write lock").
    #[error("exit {code}{}", last_line.as_deref().map(|l| format!(", last output: {l}")).unwrap_or_default())]
    Exit { code: i32, last_line: Option<String> },
    #[error("exit by signal")]
    Signal,
    #[error("expected output not found: {0}")]
    OutputNotFound(String),
}

/// A failure of one run, named after its VM or member when there are several.
fn named_failure(item: &Option<String>, why: impl std::fmt::Display) -> String {
    match item {
        Some(vm) => format!("{vm}: {why}"),
        None => why.to_string(),
    }
}

/// The last non-empty line of an output, on one line, at most 200 characters.
fn last_line(output: &str) -> Option<String> {
    let line = output.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let line = crate::sanitize::one_line(line);
    Some(match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    })
}

/// Where `command` runs: `on=` names an input (then its value, if given), a
/// host or group of the inventory, or `local`. The one place this is decided,
/// for the engine, `vigie run --dry-run` and the cockpit's popups.
pub fn command_target(playbook: &Playbook, values: &BTreeMap<String, String>, command: &Command) -> Option<String> {
    match playbook.inputs.get(&command.on) {
        Some(_) => values.get(&command.on).cloned(),
        None => Some(command.on.clone()),
    }
}

/// The last run of `playbook_id` in `events` that never finished, if any,
/// with its recorded (non-secret) inputs.
pub fn unfinished_run(
    events: &[crate::timeline::Event],
    playbook_id: &str,
) -> Option<(Progress, BTreeMap<String, String>)> {
    let read: Vec<Payload> = events.iter().map(|e| e.payload()).collect();
    let started = read.iter().rev().find_map(|payload| match payload {
        Payload::PlaybookStarted(started) if started.playbook == playbook_id => Some(started),
        _ => None,
    })?;
    let of_run: Vec<&Payload> = read.iter().filter(|p| p.run() == Some(started.run.as_str())).collect();
    if of_run.iter().any(|p| matches!(p, Payload::PlaybookFinished(_))) {
        return None;
    }
    let mut progress = Progress {
        run: started.run.clone(),
        ..Progress::default()
    };
    let mut open_step: Option<String> = None;
    // A step whose command was never sent (it waited for a confirmation)
    // did nothing: it is started again, not put to the responder as unknown.
    let mut command_sent = false;
    for payload in of_run {
        match payload {
            Payload::StepStarted(step) => {
                open_step = Some(step.step.clone());
                command_sent = false;
                progress.failed = None;
                progress.ticked = Some((step.step.clone(), Vec::new()));
            }
            Payload::ChecklistTicked(tick) => {
                if let Some((_, items)) = progress.ticked.as_mut().filter(|(s, _)| *s == tick.step) {
                    items.retain(|i| *i != tick.item);
                    if tick.ticked {
                        items.push(tick.item.clone());
                    }
                }
            }
            Payload::CommandSent(_) => command_sent = true,
            Payload::StepDone(done) => {
                progress.finished_steps.push(done.step.clone());
                progress
                    .captures
                    .extend(done.captures.iter().map(|(k, v)| (k.clone(), v.clone())));
                if !done.captures.is_empty() {
                    progress.captured.insert(done.step.clone(), done.captures.clone());
                }
                open_step = None;
            }
            Payload::StepSkipped(skipped) => {
                progress.finished_steps.push(skipped.step.clone());
                progress.skipped_steps.push(skipped.step.clone());
                progress
                    .skip_reasons
                    .insert(skipped.step.clone(), skipped.reason.clone());
                progress.failed = None;
                open_step = None;
            }
            Payload::StepFailed(failed) => {
                progress.failed = Some(FailedStep {
                    step: failed.step.clone(),
                    error: failed.error.clone(),
                });
                open_step = None;
            }
            _ => {}
        }
    }
    progress.interrupted = open_step.filter(|_| command_sent);
    progress.inputs = started.inputs.clone();
    Some((progress, started.inputs.clone()))
}

fn is_shell_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks the given inputs against the playbook before anything runs:
/// every input present (or defaulted), patterns, choices, hosts of the inventory.
pub fn validate_inputs(
    playbook: &Playbook,
    given: &BTreeMap<String, String>,
    hosts: &[String],
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for name in given.keys().filter(|n| !playbook.inputs.contains_key(*n)) {
        problems.push(format!("{name}: this playbook has no such input"));
    }
    for (name, input) in &playbook.inputs {
        let Some(value) = given.get(name).or(input.default.as_ref()) else {
            // Where a default would have come from, so the responder knows what to fix.
            let inventory = input
                .default_from
                .as_deref()
                .map(|from| format!("; it defaults to {from} in vigie.toml, which is not set"))
                .unwrap_or_default();
            problems.push(format!(
                "{name}: missing (a {} input{}){inventory}",
                format!("{:?}", input.kind).to_lowercase(),
                input
                    .description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
            continue;
        };
        if let Some(pattern) = &input.pattern {
            let anchored = regex::Regex::new(pattern).map(|r| r.is_match(value)).unwrap_or(false);
            if !anchored {
                // A secret's value is never printed, even when it is wrong.
                let shown = match input.kind {
                    InputKind::Secret => Secret::new(value.as_str()).to_string(),
                    _ => format!("{value:?}"),
                };
                problems.push(format!("{name}: {shown} does not match {pattern}"));
                continue;
            }
        }
        match input.kind {
            InputKind::Host if !hosts.contains(value) => {
                problems.push(format!("{name}: no host {value:?} in the inventory"))
            }
            InputKind::Choice if !input.choices.contains(value) => {
                problems.push(format!("{name}: {value:?} is not one of {}", input.choices.join(", ")))
            }
            _ => {
                values.insert(name.clone(), value.clone());
            }
        }
    }
    for (name, input) in &playbook.inputs {
        let Some(other) = &input.not else { continue };
        if let (Some(value), Some(forbidden)) = (values.get(name), values.get(other)) {
            if value == forbidden {
                problems.push(format!("{name}: must not be {other} ({value:?})"));
            }
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// `reachable` host inputs must name a host that answers now: `answers`
/// says whether one does (connected now by `vigie run`, the latest poll in
/// the cockpit), or why not.
pub fn check_reachable_inputs(
    playbook: &Playbook,
    values: &BTreeMap<String, String>,
    mut answers: impl FnMut(&str) -> Result<(), String>,
) -> Vec<String> {
    playbook
        .inputs
        .iter()
        .filter(|(_, input)| input.reachable)
        .filter_map(|(name, _)| {
            let host = values.get(name)?;
            let why = answers(host).err()?;
            Some(format!("{name}: {host} must answer now and does not ({why})"))
        })
        .collect()
}

/// `vm`/`vms` inputs name VMs of their `from` host (an input's value, or a
/// host named as is): each must be one of that host's VMs, by id or name.
/// `vms_of` gives a host's VMs as its live status knows them: polled now
/// by `vigie run`, the cockpit's latest reading in the cockpit.
pub fn check_vm_inputs(
    playbook: &Playbook,
    values: &BTreeMap<String, String>,
    mut vms_of: impl FnMut(&str) -> Result<Vec<crate::probe::model::Vm>, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, input) in &playbook.inputs {
        if !matches!(input.kind, InputKind::Vm | InputKind::Vms) {
            continue;
        }
        let wanted: Vec<&str> = values
            .get(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if wanted.is_empty() {
            continue;
        }
        if input.kind == InputKind::Vm && wanted.len() > 1 {
            problems.push(format!("{name}: one VM only"));
            continue;
        }
        let Some(from) = input
            .from
            .as_deref()
            .map(|f| values.get(f).map(String::as_str).unwrap_or(f))
        else {
            problems.push(format!(
                "{name}: the playbook does not say which host's VMs (from = ...)"
            ));
            continue;
        };
        match vms_of(from) {
            Ok(vms) => {
                for vm in wanted {
                    if !vms.iter().any(|v| v.id == vm || v.name == vm) {
                        let known: Vec<String> = vms.iter().map(|v| format!("{} ({})", v.id, v.name)).collect();
                        let known = if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        };
                        problems.push(format!("{name}: no VM {vm:?} on {from} now (its VMs: {known})"));
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: cannot read the VMs of {from}: {e}")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::event::kinds;
    use serde_json::json;
    use std::path::Path;

    const PLAYBOOK: &str = include_str!("../../../../tests/fixtures/playbooks/good.md");

    fn engine(inputs: &[(&str, &str)]) -> Engine {
        let (playbook, problems) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        assert!(problems.is_empty());
        let inputs = inputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Engine::new(playbook.unwrap(), inputs, "RUN".into())
    }

    fn kinds_of(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .map(|e| match e {
                Effect::Record(event) => event.kind.clone(),
                Effect::Run { target, .. } => format!("run@{target}"),
                Effect::Ask(Question::Confirm { expected, .. }) => format!("confirm:{expected}"),
                Effect::Ask(Question::Manual { .. }) => "manual".into(),
                Effect::Ask(Question::Recovery { .. }) => "recovery".into(),
                Effect::Finished { outcome } => format!("finished:{outcome:?}"),
            })
            .collect()
    }

    const BROKEN: &str = "Last_SQL_Errno: 1594\nRelay_Master_Log_File: mysql-bin.000001\nExec_Master_Log_Pos: 1188\n";

    #[test]
    fn a_whole_run_captures_confirms_and_records_every_transition() {
        let mut e = engine(&[("replica", "db2"), ("connection", "pessicart"), ("vms", "")]);
        let effects = e.handle(RunEvent::Start);
        assert_eq!(
            kinds_of(&effects),
            ["playbook.started", "step.started", "command.sent", "run@db2"]
        );
        let Effect::Run { script, .. } = &effects[3] else {
            panic!()
        };
        assert!(
            script.starts_with(&format!(
                "connection='pessicart'\nreplica='db2'\nvms=''\n{STRICT_PRELUDE}mariadb -E"
            )),
            "{script}"
        );

        let effects = e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: BROKEN.into(),
            ms: 40,
            output_bytes: 0,
        });
        assert_eq!(
            kinds_of(&effects),
            ["command.finished", "step.done", "step.started", "confirm:db2"]
        );
        assert_eq!(e.variables()["log_pos"], "1188");

        assert!(
            kinds_of(&e.handle(RunEvent::Confirmed { typed: "db3".into() })) == ["confirm:db2"],
            "a wrong name asks again"
        );
        let effects = e.handle(RunEvent::Confirmed { typed: "db2".into() });
        let Effect::Run { script, .. } = &effects[1] else {
            panic!("{effects:?}")
        };
        assert!(
            script.contains("log_file='mysql-bin.000001'\nlog_pos='1188'\n"),
            "{script}"
        );

        let effects = e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: String::new(),
            ms: 5,
            output_bytes: 0,
        });
        assert_eq!(
            kinds_of(&effects),
            ["command.finished", "step.done", "step.started", "manual"]
        );
        // The checklist is the step: done is refused until every box is ticked,
        // whichever front-end answers.
        assert_eq!(kinds_of(&e.handle(RunEvent::ManualDone)), ["manual"], "two boxes open");
        let effects = e.handle(RunEvent::Tick {
            item: 1,
            ticked: true,
            automatic: false,
        });
        assert_eq!(kinds_of(&effects), ["checklist.ticked", "manual"]);
        let Effect::Record(tick) = &effects[0] else { panic!() };
        let Payload::ChecklistTicked(tick) = tick.payload() else {
            panic!()
        };
        assert_eq!((tick.item.as_str(), tick.ticked), ("Tell the team", true));
        let Effect::Ask(Question::Manual { unticked, .. }) = &effects[1] else {
            panic!()
        };
        assert_eq!(
            unticked,
            &[(0, "Check the weather-station pages show fresh data".to_string())]
        );
        assert_eq!(kinds_of(&e.handle(RunEvent::ManualDone)), ["manual"], "one box open");
        e.handle(RunEvent::Tick {
            item: 0,
            ticked: true,
            automatic: true,
        });
        let effects = e.handle(RunEvent::ManualDone);
        assert_eq!(
            kinds_of(&effects),
            ["step.done", "playbook.finished", "finished:Completed"]
        );
    }

    #[test]
    fn vm_inputs_must_name_vms_of_their_host() {
        let (playbook, problems) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        assert!(problems.is_empty());
        let playbook = playbook.unwrap();
        let values = |vms: &str| -> BTreeMap<String, String> {
            [("replica", "db2"), ("vms", vms)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let live = |host: &str| {
            assert_eq!(host, "db2", "the VMs of the input named by from=");
            Ok(vec![crate::probe::model::Vm {
                id: "101".into(),
                name: "mail".into(),
                ..Default::default()
            }])
        };
        assert!(check_vm_inputs(&playbook, &values("101, mail"), live).is_empty());
        assert_eq!(
            check_vm_inputs(&playbook, &values("102"), live),
            ["vms: no VM \"102\" on db2 now (its VMs: 101 (mail))"]
        );
        assert_eq!(
            check_vm_inputs(&playbook, &values("101"), |_| Err("refused".into())),
            ["vms: cannot read the VMs of db2: refused"]
        );
    }

    #[test]
    fn a_checklist_after_a_command_is_ticked_before_the_step_is_done() {
        let text = "+++\nid = \"v\"\ntitle = \"V\"\n+++\n# V\n\n## Verify\n\n```sh {on=local}\nvirsh list\n```\n\n- [ ] web answers\n- [ ] mail answers\n";
        let (playbook, problems) = super::super::parse(Path::new("v.md"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut e = Engine::new(playbook.unwrap(), BTreeMap::new(), "RUN".into());
        e.handle(RunEvent::Start);
        let effects = e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: "web running".into(),
            ms: 5,
            output_bytes: 11,
        });
        assert_eq!(
            kinds_of(&effects),
            ["command.finished", "manual"],
            "the boxes, not done yet"
        );
        assert_eq!(kinds_of(&e.handle(RunEvent::ManualDone)), ["manual"], "two boxes open");
        for item in [0, 1] {
            e.handle(RunEvent::Tick {
                item,
                ticked: true,
                automatic: false,
            });
        }
        let effects = e.handle(RunEvent::ManualDone);
        assert_eq!(
            kinds_of(&effects),
            ["step.done", "playbook.finished", "finished:Completed"]
        );
        let Effect::Record(done) = &effects[0] else { panic!() };
        assert_eq!(
            done.data.get("manual"),
            None,
            "it ran a command: not a step done by hand"
        );
    }

    #[test]
    fn a_command_on_a_group_runs_on_every_member_and_fails_by_name() {
        let text = "+++\nid = \"g\"\ntitle = \"G\"\n+++\n# G\n\n## Everywhere\n\n```sh {on=hypervisors}\nuptime\n```\n";
        let (playbook, problems) = super::super::parse(Path::new("g.md"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let groups = [(
            "hypervisors".to_string(),
            vec!["miramelle".to_string(), "locuste".to_string()],
        )]
        .into_iter()
        .collect();
        let mut e = Engine::new(playbook.unwrap(), BTreeMap::new(), "RUN".into()).with_groups(groups);
        let effects = e.handle(RunEvent::Start);
        assert_eq!(
            kinds_of(&effects),
            [
                "playbook.started",
                "step.started",
                "command.sent",
                "run@miramelle",
                "command.sent",
                "run@locuste"
            ]
        );
        let Effect::Record(sent) = &effects[4] else { panic!() };
        assert_eq!(
            sent.host.as_deref(),
            Some("locuste"),
            "each send is recorded on its host"
        );
        let finished = |host: &str, exit| RunEvent::CommandFinished {
            item: Some(host.into()),
            exit: Some(exit),
            output: String::new(),
            ms: 3,
            output_bytes: 0,
        };
        assert_eq!(kinds_of(&e.handle(finished("miramelle", 0))), ["command.finished"]);
        let effects = e.handle(finished("locuste", 1));
        assert_eq!(kinds_of(&effects), ["command.finished", "step.failed", "recovery"]);
        let Effect::Record(done) = &effects[0] else { panic!() };
        assert_eq!(done.host.as_deref(), Some("locuste"));
        let Effect::Ask(Question::Recovery { error, .. }) = &effects[2] else {
            panic!()
        };
        assert_eq!(error, "locuste: exit 1");
    }

    #[test]
    fn a_step_that_only_waited_for_confirmation_is_not_an_unknown_outcome() {
        let event = |seq: u64, kind: &str, data: serde_json::Value| crate::timeline::Event {
            seq,
            id: format!("e{seq}"),
            at: chrono::Utc::now(),
            recorded_at: chrono::Utc::now(),
            actor: "a".into(),
            kind: kind.into(),
            host: None,
            data,
            prev: String::new(),
        };
        let mut events = vec![
            event(
                1,
                kinds::PLAYBOOK_STARTED,
                json!({"playbook": "p", "run": "R", "inputs": {}}),
            ),
            event(2, kinds::STEP_STARTED, json!({"run": "R", "step": "risky"})),
        ];
        let (progress, _) = unfinished_run(&events, "p").unwrap();
        assert_eq!(
            progress.interrupted, None,
            "nothing was sent: the step just starts again"
        );
        events.push(event(3, kinds::COMMAND_SENT, json!({"run": "R", "step": "risky"})));
        let (progress, _) = unfinished_run(&events, "p").unwrap();
        assert_eq!(progress.interrupted.as_deref(), Some("risky"));
    }

    /// What the timeline would hold once these events were appended.
    fn stored(recorded: Vec<NewEvent>) -> Vec<crate::timeline::Event> {
        recorded
            .into_iter()
            .enumerate()
            .map(|(i, n)| crate::timeline::Event {
                seq: i as u64 + 1,
                id: format!("e{i}"),
                at: chrono::Utc::now(),
                recorded_at: chrono::Utc::now(),
                actor: "alice".into(),
                kind: n.kind,
                host: n.host,
                data: n.data,
                prev: String::new(),
            })
            .collect()
    }

    fn records(effects: Vec<Effect>) -> impl Iterator<Item = NewEvent> {
        effects.into_iter().filter_map(|effect| match effect {
            Effect::Record(event) => Some(event),
            _ => None,
        })
    }

    #[test]
    fn a_resumed_run_keeps_skipped_steps_skipped_and_a_failed_step_failed() {
        let mut e = engine(&[("replica", "db2"), ("connection", "pessicart"), ("vms", "")]);
        let mut recorded: Vec<NewEvent> = records(e.handle(RunEvent::Start)).collect();
        recorded.extend(records(e.handle(RunEvent::CommandFailed {
            item: None,
            error: "exit 1: ERROR 2002".into(),
        })));
        recorded.extend(records(e.handle(RunEvent::Skip {
            reason: "position read by hand".into(),
        })));
        // Step 2 needs what step 1 would have captured: it fails, nothing is sent.
        let effects = e.handle(RunEvent::Confirmed { typed: "db2".into() });
        assert_eq!(kinds_of(&effects), ["step.failed", "recovery"]);
        recorded.extend(records(effects));
        // vigie dies here, while the responder was deciding what to do with step 2.
        let (progress, inputs) = unfinished_run(&stored(recorded), "repair-replication").unwrap();
        assert_eq!(
            progress.state_of("read-the-broken-position"),
            Some(StepOutcome::Skipped)
        );
        assert_eq!(
            progress.state_of("reset-the-connection-at-that-position"),
            Some(StepOutcome::Failed)
        );
        assert_eq!(progress.state_of("check"), None);
        assert_eq!(progress.interrupted, None);

        let (playbook, _) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        let mut resumed = Engine::resume(playbook.unwrap(), inputs, progress);
        let effects = resumed.handle(RunEvent::Start);
        assert_eq!(
            kinds_of(&effects),
            ["playbook.resumed", "recovery"],
            "the failed step is put to the responder again, not run again"
        );
        let Effect::Ask(Question::Recovery { step, error }) = &effects[1] else {
            panic!()
        };
        assert_eq!(*step, 1);
        assert!(error.starts_with("$log_file was never captured"), "{error}");
        let effects = resumed.handle(RunEvent::Skip {
            reason: "reset by hand".into(),
        });
        assert_eq!(kinds_of(&effects), ["step.skipped", "step.started", "manual"]);
    }

    #[test]
    fn a_resumed_run_keeps_the_boxes_ticked_before_it_stopped() {
        let mut e = engine(&[("replica", "db2"), ("connection", "pessicart"), ("vms", "")]);
        let mut recorded: Vec<NewEvent> = records(e.handle(RunEvent::Start)).collect();
        recorded.extend(records(e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: BROKEN.into(),
            ms: 40,
            output_bytes: 0,
        })));
        recorded.extend(records(e.handle(RunEvent::Confirmed { typed: "db2".into() })));
        recorded.extend(records(e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: "mysql-bin.000001:1188".into(),
            ms: 40,
            output_bytes: 0,
        })));
        recorded.extend(records(e.handle(RunEvent::Tick {
            item: 0,
            ticked: true,
            automatic: false,
        })));
        // vigie dies with one box of two ticked.
        let (progress, inputs) = unfinished_run(&stored(recorded), "repair-replication").unwrap();
        assert_eq!(progress.captured["read-the-broken-position"]["log_pos"], "1188");
        let (playbook, _) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        let mut resumed = Engine::resume(playbook.unwrap(), inputs, progress);
        let effects = resumed.handle(RunEvent::Start);
        let Some(Effect::Ask(Question::Manual { unticked, .. })) = effects.last() else {
            panic!("{:?}", kinds_of(&effects))
        };
        assert_eq!(unticked, &[(1, "Tell the team".to_string())], "only the box left");
    }

    #[test]
    fn a_resumed_run_skips_finished_steps_restores_captures_and_asks_about_the_interrupted_one() {
        let mut e = engine(&[("replica", "db2"), ("connection", "pessicart"), ("vms", "")]);
        let mut recorded = Vec::new();
        let mut keep = |effects: Vec<Effect>| {
            for effect in effects {
                if let Effect::Record(event) = effect {
                    recorded.push(event);
                }
            }
        };
        keep(e.handle(RunEvent::Start));
        keep(e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: BROKEN.into(),
            ms: 40,
            output_bytes: 0,
        }));
        keep(e.handle(RunEvent::Confirmed { typed: "db2".into() }));
        // vigie dies here, during step 2.
        let (progress, inputs) = unfinished_run(&stored(recorded), "repair-replication").unwrap();
        assert_eq!(progress.finished_steps, vec!["read-the-broken-position".to_string()]);
        assert_eq!(
            progress.interrupted.as_deref(),
            Some("reset-the-connection-at-that-position")
        );
        assert_eq!(progress.captures["log_pos"], "1188");
        assert_eq!(inputs["connection"], "pessicart");

        let (playbook, _) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        let mut resumed = Engine::resume(playbook.unwrap(), inputs, progress);
        let effects = resumed.handle(RunEvent::Start);
        assert_eq!(kinds_of(&effects), ["playbook.resumed", "step.failed", "recovery"]);
        let effects = resumed.handle(RunEvent::Retry);
        assert_eq!(kinds_of(&effects), ["step.started", "confirm:db2"]);
        let effects = resumed.handle(RunEvent::Confirmed { typed: "db2".into() });
        let Effect::Run { script, .. } = &effects[1] else {
            panic!()
        };
        assert!(script.contains("log_pos='1188'"), "captures came back: {script}");
    }

    #[test]
    fn each_fans_out_per_vm_with_a_result_per_vm() {
        let text = "+++\nid = \"per-vm\"\ntitle = \"Per VM\"\n[inputs.hv]\nkind = \"host\"\n[inputs.vms]\nkind = \"vms\"\nfrom = \"hv\"\n+++\n\n## Start each\n\n```sh {on=hv each=vms}\nqm start \"$vm\"\n```\n";
        let (playbook, problems) = super::super::parse(Path::new("per-vm.md"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let inputs = [("hv", "locuste"), ("vms", "101, 102,103")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut e = Engine::new(playbook.unwrap(), inputs, "RUN".into());
        let effects = e.handle(RunEvent::Start);
        let runs: Vec<(Option<String>, String)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Run { item, script, .. } => Some((item.clone(), script.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[1].0.as_deref(), Some("102"));
        assert!(
            runs[1].1.contains(&format!("vm='102'\n{STRICT_PRELUDE}qm start")),
            "{}",
            runs[1].1
        );
        let ok = |vm: &str| RunEvent::CommandFinished {
            item: Some(vm.into()),
            exit: Some(0),
            output: String::new(),
            ms: 1,
            output_bytes: 0,
        };
        assert_eq!(
            kinds_of(&e.handle(ok("101"))),
            ["command.finished"],
            "waits for the others"
        );
        let failed = e.handle(RunEvent::CommandFinished {
            item: Some("102".into()),
            exit: Some(1),
            output: "locked".into(),
            ms: 1,
            output_bytes: 0,
        });
        assert_eq!(kinds_of(&failed), ["command.finished"]);
        let last = e.handle(ok("103"));
        assert_eq!(kinds_of(&last), ["command.finished", "step.failed", "recovery"]);
        let Effect::Ask(Question::Recovery { error, .. }) = &last[2] else {
            panic!()
        };
        assert_eq!(
            error, "102: exit 1, last output: locked",
            "the failure names its VM and says why"
        );
    }

    #[test]
    fn failure_then_retry_skip_with_reason_and_abort() {
        let mut e = engine(&[("replica", "db2"), ("connection", "pessicart"), ("vms", "")]);
        e.handle(RunEvent::Start);
        let effects = e.handle(RunEvent::CommandFinished {
            item: None,
            exit: Some(0),
            output: "nothing useful".into(),
            ms: 1,
            output_bytes: 0,
        });
        assert_eq!(kinds_of(&effects), ["command.finished", "step.failed", "recovery"]);
        assert_eq!(
            kinds_of(&e.handle(RunEvent::Retry)),
            ["step.started", "command.sent", "run@db2"]
        );
        e.handle(RunEvent::CommandFailed {
            item: None,
            error: "timed out after 300s".into(),
        });
        assert!(
            e.handle(RunEvent::Skip { reason: "  ".into() }).is_empty(),
            "a skip needs a reason"
        );
        let effects = e.handle(RunEvent::Skip {
            reason: "position read by hand".into(),
        });
        assert_eq!(kinds_of(&effects), ["step.skipped", "step.started", "confirm:db2"]);
        let effects = e.handle(RunEvent::Abort {
            reason: "primary is down too".into(),
        });
        assert_eq!(kinds_of(&effects), ["playbook.finished", "finished:Aborted"]);
        assert!(e.handle(RunEvent::Retry).is_empty(), "nothing after the end");
    }

    #[test]
    fn hostile_values_stay_data() {
        let mut e = engine(&[("replica", "db2"), ("connection", "'; rm -rf / #$(id)"), ("vms", "")]);
        let effects = e.handle(RunEvent::Start);
        let Effect::Run { script, .. } = &effects[3] else {
            panic!()
        };
        assert!(script.starts_with("connection=''\\''; rm -rf / #$(id)'\n"), "{script}");
    }

    #[test]
    fn inputs_are_validated_before_anything_runs() {
        let (playbook, _) = super::super::parse(Path::new("good.md"), PLAYBOOK);
        let playbook = playbook.unwrap();
        let hosts = vec!["db2".to_string()];
        let given: BTreeMap<String, String> = [("replica", "db9"), ("connection", "bad name;"), ("bogus", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let problems = validate_inputs(&playbook, &given, &hosts).unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.starts_with("bogus: this playbook has no such input")));
        assert!(problems.iter().any(|p| p.starts_with("replica: no host \"db9\"")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("connection: \"bad name;\" does not match")));
        assert!(problems.iter().any(|p| p.starts_with("vms: missing")));
    }

    #[test]
    fn the_dead_host_is_never_accepted_as_the_evacuation_target() {
        let playbook = crate::playbook::bundled::catalog(&crate::config::Config::embedded_default())
            .into_iter()
            .find(|p| p.id == "evacuate-hypervisor")
            .expect("bundled");
        let hosts = vec!["miramelle".to_string(), "locuste".to_string()];
        let given = |target: &str| -> BTreeMap<String, String> {
            [("dead", "miramelle"), ("target", target), ("platform", "libvirt")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let problems = validate_inputs(&playbook, &given("miramelle"), &hosts).unwrap_err();
        assert_eq!(problems, vec!["target: must not be dead (\"miramelle\")".to_string()]);
        assert!(validate_inputs(&playbook, &given("locuste"), &hosts).is_ok());
    }
}
