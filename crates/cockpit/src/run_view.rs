//! A playbook run as the cockpit shows it: each step's state, the output of
//! its commands as it streams in, the question the run waits on, and the
//! checklist boxes. Folded from the driver's [`RunUpdate`]s; no IO.

use std::collections::{BTreeMap, VecDeque};
use vigie_core::playbook::engine::{Outcome, Progress, StepOutcome};
use vigie_core::playbook::Playbook;
use vigie_runtime::driver::{Question, RunUpdate, StepState};

/// Output lines kept per command on screen (the timeline keeps the output).
const LINES_KEPT: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct CommandView {
    pub target: String,
    pub item: Option<String>,
    pub lines: VecDeque<String>,
    /// Lines that scrolled out of [`CommandView::lines`].
    pub dropped_lines: usize,
    pub running: bool,
    pub exit: Option<i32>,
    pub error: Option<String>,
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub state: StepState,
    /// Every command sent for this step, retries included, oldest first.
    pub commands: Vec<CommandView>,
    pub ticked: Vec<bool>,
    /// What the step's `expect` captured, for later steps.
    pub captured: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub playbook: Playbook,
    pub run_id: String,
    /// Inputs as they may be shown: secrets masked.
    pub inputs: BTreeMap<String, String>,
    pub steps: Vec<StepView>,
    /// The step the run is at.
    pub current: usize,
    /// The step shown in detail; follows `current` until the responder moves.
    pub viewed: usize,
    pub follow: bool,
    /// The checklist item under the cursor, in the viewed step.
    pub checklist_cursor: usize,
    pub question: Option<Question>,
    pub outcome: Option<Result<Outcome, vigie_runtime::RunError>>,
    /// Why the responder aborted it, as typed here.
    pub abort_reason: Option<String>,
}

impl RunView {
    pub fn new(playbook: Playbook, run_id: String, inputs: BTreeMap<String, String>) -> RunView {
        let steps = playbook
            .steps
            .iter()
            .map(|s| StepView {
                state: StepState::Pending,
                commands: Vec::new(),
                ticked: vec![false; s.checklist.len()],
                captured: Default::default(),
            })
            .collect();
        RunView {
            playbook,
            run_id,
            inputs,
            steps,
            current: 0,
            viewed: 0,
            follow: true,
            checklist_cursor: 0,
            question: None,
            outcome: None,
            abort_reason: None,
        }
    }

    /// Steps a resumed run finished before it stopped (by id): shown done.
    /// A resumed run's steps as they stood when it stopped: done, skipped or failed.
    pub fn restore(&mut self, progress: &Progress) {
        for (step, view) in self.playbook.steps.iter().zip(self.steps.iter_mut()) {
            if let Some(values) = progress.captured.get(&step.id) {
                view.captured.extend(values.clone());
            }
            if let Some((_, items)) = progress.ticked.as_ref().filter(|(id, _)| *id == step.id) {
                for (tick, item) in view.ticked.iter_mut().zip(&step.checklist) {
                    *tick = items.contains(item);
                }
            }
            view.state = match progress.state_of(&step.id) {
                Some(StepOutcome::Done) => StepState::Done,
                Some(StepOutcome::Skipped) => StepState::Skipped,
                Some(StepOutcome::Failed) => StepState::Failed,
                None => continue,
            };
        }
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// A command is running now.
    pub fn command_running(&self) -> bool {
        self.steps.iter().any(|s| s.commands.iter().any(|c| c.running))
    }

    pub fn apply(&mut self, update: RunUpdate) {
        match update {
            RunUpdate::Step { step, state } => {
                if let Some(view) = self.steps.get_mut(step) {
                    view.state = state;
                }
                if state == StepState::Running {
                    self.move_to(step);
                }
            }
            RunUpdate::CommandStarted { step, target, item } => {
                self.question = None;
                if let Some(view) = self.steps.get_mut(step) {
                    view.commands.push(CommandView {
                        target,
                        item,
                        lines: VecDeque::new(),
                        dropped_lines: 0,
                        running: true,
                        exit: None,
                        error: None,
                        ms: 0,
                    });
                }
            }
            RunUpdate::Output { step, item, line } => {
                if let Some(command) = self.command_mut(step, &item) {
                    command.lines.push_back(line);
                    if command.lines.len() > LINES_KEPT {
                        command.lines.pop_front();
                        command.dropped_lines += 1;
                    }
                }
            }
            RunUpdate::CommandEnded {
                step,
                item,
                exit,
                error,
                ms,
            } => {
                if let Some(command) = self.command_mut(step, &item) {
                    command.running = false;
                    command.exit = exit;
                    command.error = error;
                    command.ms = ms;
                }
            }
            RunUpdate::Captured { step, values } => {
                if let Some(view) = self.steps.get_mut(step) {
                    view.captured.extend(values);
                }
            }
            RunUpdate::Question(question) => {
                self.move_to(question.step());
                self.question = Some(question);
            }
            RunUpdate::Finished(outcome) => {
                self.question = None;
                self.outcome = Some(outcome);
                // Nothing runs any more: a step left waiting was never run,
                // one whose command was stopped with the run did not finish.
                for view in self.steps.iter_mut().filter(|v| v.state == StepState::Running) {
                    view.state = if view.commands.is_empty() {
                        StepState::Pending
                    } else {
                        StepState::Failed
                    };
                }
            }
        }
    }

    fn move_to(&mut self, step: usize) {
        if self.current != step {
            self.checklist_cursor = 0;
            // The output a step just produced stays on screen until the
            // responder moves on (Enter goes to the next step).
            if self.follow && self.viewed == self.current && self.ended_with_output(self.current) {
                self.follow = false;
            }
        }
        self.current = step;
        if self.follow {
            self.viewed = step;
        }
    }

    /// `step` has run its commands and ended: its output is worth reading.
    fn ended_with_output(&self, step: usize) -> bool {
        self.steps
            .get(step)
            .is_some_and(|s| !s.commands.is_empty() && s.state != StepState::Running && s.state != StepState::Pending)
    }

    /// The latest command of `step` for `item` (each `each=` VM has its own).
    fn command_mut(&mut self, step: usize, item: &Option<String>) -> Option<&mut CommandView> {
        self.steps
            .get_mut(step)?
            .commands
            .iter_mut()
            .rev()
            .find(|c| c.item == *item)
    }

    /// Moves the viewed step; coming back to the current one follows it again.
    pub fn view_step(&mut self, step: usize) {
        self.viewed = step.min(self.steps.len().saturating_sub(1));
        self.follow = self.viewed == self.current;
        self.checklist_cursor = 0;
    }

    /// Ticks or unticks the checklist item under the cursor of the current
    /// step; returns the item's index and its new state (the engine records it).
    /// Moves the checklist cursor by `step` when the step on screen is the
    /// checklist the run waits on; `false` at its ends (the move goes to the
    /// steps then) or on any other step.
    pub fn move_in_checklist(&mut self, step: isize) -> bool {
        let waiting = matches!(self.question, Some(Question::Manual { step, .. }) if step == self.viewed);
        let boxes = self.steps.get(self.viewed).map(|s| s.ticked.len()).unwrap_or(0);
        if !waiting || self.viewed != self.current || boxes == 0 {
            return false;
        }
        let next = self.checklist_cursor as isize + step;
        if next < 0 || next >= boxes as isize {
            return false;
        }
        self.checklist_cursor = next as usize;
        true
    }

    pub fn tick(&mut self) -> Option<(usize, bool)> {
        let step = self.current;
        let item = self.checklist_cursor;
        let ticked = self.steps.get_mut(step)?.ticked.get_mut(self.checklist_cursor)?;
        *ticked = !*ticked;
        let now = *ticked;
        // The next unticked item comes under the cursor.
        let boxes = &self.steps[step].ticked;
        if let Some(next) = (0..boxes.len())
            .map(|i| (self.checklist_cursor + i) % boxes.len())
            .find(|i| !boxes[*i])
        {
            self.checklist_cursor = next;
        }
        Some((item, now))
    }

    /// Checklist items of the current step still unticked.
    pub fn unticked(&self) -> usize {
        self.steps
            .get(self.current)
            .map(|s| s.ticked.iter().filter(|t| !**t).count())
            .unwrap_or(0)
    }

    /// One line for the header: where the run is.
    pub fn summary(&self) -> String {
        let position = format!("step {}/{}", self.current + 1, self.steps.len());
        let state = match (&self.outcome, &self.question) {
            (Some(Ok(Outcome::Completed)), _) => {
                let skipped = self.steps.iter().filter(|s| s.state == StepState::Skipped).count();
                match skipped {
                    0 => "completed".to_string(),
                    n => format!("completed, {n} of {} skipped", self.steps.len()),
                }
            }
            (Some(Ok(Outcome::Aborted)), _) => "aborted".to_string(),
            (Some(Err(_)), _) => "stopped".to_string(),
            (None, Some(Question::Recovery { .. })) => format!("{position} FAILED, waiting for you"),
            (None, Some(_)) => format!("{position} waiting for you"),
            (None, None) if self.command_running() => format!("{position} running"),
            (None, None) => position,
        };
        let glyph = match &self.outcome {
            None => "▶",
            Some(Ok(Outcome::Completed)) => "✔",
            Some(_) => "✖",
        };
        format!("{glyph} {} · {state}", self.playbook.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYBOOK: &str = "+++\nid = \"p\"\ntitle = \"P\"\n+++\n# P\n\n## Look\n\n```sh {on=local}\necho hi\n```\n\n## Check by hand\n\n- [ ] the VM answers ping\n- [ ] mail flows\n";

    fn view() -> RunView {
        let (playbook, problems) = vigie_core::playbook::parse(std::path::Path::new("p.md"), PLAYBOOK);
        assert!(problems.is_empty(), "{problems:?}");
        RunView::new(playbook.unwrap(), "run".into(), BTreeMap::new())
    }

    #[test]
    fn updates_fold_into_steps_and_output() {
        let mut view = view();
        view.apply(RunUpdate::Step {
            step: 0,
            state: StepState::Running,
        });
        view.apply(RunUpdate::CommandStarted {
            step: 0,
            target: "local".into(),
            item: None,
        });
        assert!(view.summary().ends_with("step 1/2 running"), "{}", view.summary());
        for n in 0..(LINES_KEPT + 3) {
            view.apply(RunUpdate::Output {
                step: 0,
                item: None,
                line: format!("line {n}"),
            });
        }
        view.apply(RunUpdate::CommandEnded {
            step: 0,
            item: None,
            exit: Some(0),
            error: None,
            ms: 7,
        });
        let command = &view.steps[0].commands[0];
        assert_eq!(
            (command.lines.len(), command.dropped_lines, command.running),
            (LINES_KEPT, 3, false)
        );
        view.apply(RunUpdate::Step {
            step: 0,
            state: StepState::Done,
        });
        view.apply(RunUpdate::Step {
            step: 1,
            state: StepState::Running,
        });
        view.apply(RunUpdate::Question(Question::Manual {
            step: 1,
            boxes: 2,
            unticked: vec![],
        }));
        assert_eq!(
            (view.current, view.viewed),
            (1, 0),
            "the output just produced stays on screen"
        );
        view.view_step(1);
        assert!(view.follow);
        assert_eq!(view.unticked(), 2);
        assert_eq!(view.tick(), Some((0, true)));
        assert_eq!(view.checklist_cursor, 1);
        view.tick();
        assert_eq!(view.unticked(), 0);
    }

    #[test]
    fn the_cursor_moves_from_box_to_box_and_space_ticks_the_one_under_it() {
        let mut view = view();
        view.apply(RunUpdate::Step {
            step: 1,
            state: StepState::Running,
        });
        view.apply(RunUpdate::Question(Question::Manual {
            step: 1,
            boxes: 2,
            unticked: vec![],
        }));
        assert!(view.move_in_checklist(1));
        assert_eq!(view.tick(), Some((1, true)), "the second box, not the first");
        assert_eq!(view.checklist_cursor, 0, "then the box still to tick");
        assert!(!view.move_in_checklist(-1), "past the first box: the steps");
    }

    #[test]
    fn a_resumed_run_shows_its_skipped_step_as_skipped() {
        let mut view = view();
        view.restore(&Progress {
            finished_steps: vec!["look".into()],
            skipped_steps: vec!["look".into()],
            ..Progress::default()
        });
        assert_eq!(view.steps[0].state, StepState::Skipped);
        assert_eq!(view.steps[1].state, StepState::Pending);
    }

    #[test]
    fn an_aborted_run_says_so_and_leaves_no_step_running() {
        let mut view = view();
        view.apply(RunUpdate::Step {
            step: 0,
            state: StepState::Running,
        });
        assert!(view.summary().starts_with("▶ p"), "{}", view.summary());
        view.apply(RunUpdate::Finished(Ok(Outcome::Aborted)));
        assert_eq!(view.summary(), "✖ p · aborted");
        assert_eq!(view.steps[0].state, StepState::Pending, "it never ran");
    }

    #[test]
    fn captured_values_are_kept_with_their_step() {
        let mut view = view();
        let values: BTreeMap<String, String> = [("log_pos".to_string(), "1188".to_string())].into();
        view.apply(RunUpdate::Captured { step: 0, values });
        assert_eq!(view.steps[0].captured.get("log_pos").map(String::as_str), Some("1188"));
        assert!(view.steps[1].captured.is_empty());
    }

    #[test]
    fn looking_at_another_step_stops_following_until_coming_back() {
        let mut view = view();
        view.view_step(1);
        assert!(!view.follow);
        view.apply(RunUpdate::Step {
            step: 0,
            state: StepState::Running,
        });
        assert_eq!(view.viewed, 1);
        view.view_step(0);
        assert!(view.follow);
    }
}
