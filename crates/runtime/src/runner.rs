//! The line front-end of a run (`vigie run`): prints the driver's updates
//! and answers its questions from stdin. The cockpit is the other front-end
//! of the same driver.

use crate::driver::{self, Question, RunUpdate, StepState, Targets};
use crate::writer::TimelineWriter;
use crate::RunError;
use crate::{say, say_inline};
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use vigie_core::config::Config;
use vigie_core::playbook::engine::{Engine, Outcome, RunEvent};
use vigie_core::timeline::Timeline;

/// Output lines printed per command; the rest is in the timeline.
const PRINTED_LINES: usize = 200;

/// How the responder answers, in line mode.
pub struct Answers {
    /// `--yes`: manual steps are confirmed, failures abort.
    pub assume_yes: bool,
    /// `--confirm TARGET` (repeatable): high-risk steps on these targets go on
    /// without typing; automation must still name them explicitly.
    pub confirmed_targets: Vec<String>,
}

/// Runs the playbook to its end; returns how it ended. Ctrl-C cancels the
/// running command (its whole remote process group); with no command
/// running it leaves, and the run can be resumed.
pub async fn run_in_line_mode(
    config: &Config,
    timeline: Timeline,
    answers: Answers,
    engine: Engine,
    ssh_options: vigie_transport::ssh::SshOptions,
) -> Result<Outcome, RunError> {
    let titles: Vec<String> = engine
        .playbook()
        .steps
        .iter()
        .map(|s| vigie_core::sanitize::one_line(&s.title))
        .collect();
    let targets = Targets::with_options(config, ssh_options);
    let mut handle = driver::spawn(engine, TimelineWriter::spawn(timeline), targets);
    let mut command_running = false;
    let mut skipped = 0usize;
    let mut printed = 0usize;
    let mut hidden = 0usize;
    loop {
        tokio::select! {
            update = handle.updates.recv() => match update {
                None => return Err(RunError::Stopped),
                Some(RunUpdate::CommandStarted { target, item, .. }) => {
                    command_running = true;
                    (printed, hidden) = (0, 0);
                    let target = vigie_core::sanitize::one_line(&target);
                    match item.filter(|item| *item != target) {
                        Some(vm) => say!("  running on {target} ({})…", vigie_core::sanitize::one_line(&vm)),
                        None => say!("  running on {target}…"),
                    }
                }
                Some(RunUpdate::Output { line, .. }) => {
                    if printed < PRINTED_LINES {
                        say!("    {line}");
                        printed += 1;
                    } else {
                        hidden += 1;
                    }
                }
                Some(RunUpdate::CommandEnded { .. }) => {
                    command_running = false;
                    if hidden > 0 {
                        say!("    … {hidden} more line(s), kept in the timeline");
                    }
                }
                Some(RunUpdate::Question(question)) => {
                    let answer = match answer(question, &answers).await {
                        Ok(answer) => answer,
                        // A refusal is part of the record: the run is aborted
                        // (recorded), not left "stopped in the middle".
                        Err(refused @ (RunError::NeedsConfirm { .. } | RunError::NoAnswer)) => {
                            let reason = refused.to_string();
                            if handle.answers.send(RunEvent::Abort { reason }).is_ok() {
                                wait_for_the_end(&mut handle).await;
                            }
                            return Err(refused);
                        }
                        Err(other) => return Err(other),
                    };
                    if handle.answers.send(answer).is_err() {
                        return Err(RunError::Stopped);
                    }
                }
                Some(RunUpdate::Captured { values, .. }) => {
                    for (name, value) in values {
                        say!("  captured: {name} = {}", vigie_core::sanitize::one_line(&value));
                    }
                }
                Some(RunUpdate::Finished(result)) => {
                    // "completed" alone would hide that steps were done by hand or not at all.
                    if matches!(result, Ok(Outcome::Completed)) && skipped > 0 {
                        say!("  {skipped} of {} steps were skipped (their reasons are in the timeline)", titles.len());
                    }
                    return result;
                }
                Some(RunUpdate::Step { step, state: StepState::Running }) => {
                    let title = titles.get(step).map(String::as_str).unwrap_or("");
                    say!("[{}/{}] {title}", step + 1, titles.len());
                }
                Some(RunUpdate::Step { state: StepState::Skipped, .. }) => {
                    skipped += 1;
                    say!("  skipped");
                }
                Some(RunUpdate::Step { .. }) => {}
            },
            _ = tokio::signal::ctrl_c() => {
                if command_running {
                    say!("  cancelling…");
                    handle.cancel.store(true, Ordering::Relaxed);
                } else {
                    return Err(RunError::LeftAtPrompt);
                }
            }
        }
    }
}

/// Lets the driver record the run's end before vigie exits.
async fn wait_for_the_end(handle: &mut driver::RunHandle) {
    while let Some(update) = handle.updates.recv().await {
        if matches!(update, RunUpdate::Finished(_)) {
            return;
        }
    }
}

/// The responder's answer, read from stdin off the async threads.
async fn answer(question: Question, answers: &Answers) -> Result<RunEvent, RunError> {
    let assume_yes = answers.assume_yes;
    let confirmed = answers.confirmed_targets.clone();
    tokio::task::spawn_blocking(move || answer_blocking(question, assume_yes, &confirmed))
        .await
        .map_err(|e| RunError::Input(e.to_string()))?
}

fn answer_blocking(question: Question, assume_yes: bool, confirmed_targets: &[String]) -> Result<RunEvent, RunError> {
    match question {
        Question::Confirm { step, expected } => {
            say!("  step {} is high-risk: it acts on {expected}", step + 1);
            if confirmed_targets.contains(&expected) {
                Ok(RunEvent::Confirmed { typed: expected })
            } else if assume_yes {
                Err(RunError::NeedsConfirm {
                    step: step + 1,
                    target: expected,
                })
            } else {
                loop {
                    let typed = ask(&format!("  type {expected} to go on: "))?;
                    if typed.trim() == expected {
                        return Ok(RunEvent::Confirmed { typed });
                    }
                    say!("  that is not {expected}: type it exactly to run this step, or Ctrl-C to leave");
                }
            }
        }
        // Each box of the checklist, one question at a time: the boxes are
        // the step. A step without boxes is confirmed as a whole.
        Question::Manual { step, boxes, unticked } => match unticked.first() {
            Some((item, text)) => {
                let text = vigie_core::sanitize::one_line(text);
                if assume_yes {
                    return Ok(RunEvent::Tick {
                        item: *item,
                        ticked: true,
                        automatic: true,
                    });
                }
                loop {
                    if ask(&format!("  [ ] {text} — done? [y/N] "))?.eq_ignore_ascii_case("y") {
                        return Ok(RunEvent::Tick {
                            item: *item,
                            ticked: true,
                            automatic: false,
                        });
                    }
                    match ask("  not done: w)ait and ask again, s)kip the step, a)bort the run? ")?.as_str() {
                        "s" => {
                            return Ok(RunEvent::Skip {
                                reason: ask("  why skip it? ")?,
                            })
                        }
                        "a" => {
                            return Ok(RunEvent::Abort {
                                reason: ask("  why abort? ")?,
                            })
                        }
                        _ => {}
                    }
                }
            }
            None if boxes > 0 => Ok(RunEvent::ManualDone),
            None => {
                say!("  step {} is done by hand (see the playbook)", step + 1);
                if assume_yes || ask("  done? [y/N] ")?.eq_ignore_ascii_case("y") {
                    Ok(RunEvent::ManualDone)
                } else {
                    Ok(RunEvent::Abort {
                        reason: "stopped at a manual step".into(),
                    })
                }
            }
        },
        Question::Recovery { step, error } => {
            say!("  step {} failed: {}", step + 1, vigie_core::sanitize::one_line(&error));
            if assume_yes {
                return Ok(RunEvent::Abort {
                    reason: format!("step {} failed: {error}", step + 1),
                });
            }
            match ask("  r)etry, s)kip, a)bort? ")?.as_str() {
                "r" => Ok(RunEvent::Retry),
                "s" => Ok(RunEvent::Skip {
                    reason: ask("  why skip it? ")?,
                }),
                _ => Ok(RunEvent::Abort {
                    reason: ask("  why abort? ")?,
                }),
            }
        }
    }
}

fn ask(prompt: &str) -> Result<String, RunError> {
    say_inline!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Err(RunError::NoAnswer),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(RunError::Input(e.to_string())),
    }
}
