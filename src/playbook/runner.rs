//! Carries out the engine's effects: runs commands through the transports,
//! appends to the timeline, and asks the responder (line mode: stdin).

use super::engine::{Effect, Engine, Outcome, RunEvent};
use crate::config::Config;
use crate::timeline::Timeline;
use crate::transport::ssh::SshOptions;
use crate::transport::ssh_config::SshConfig;
use crate::transport::{CommandRequest, Transport};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};

/// How the responder answers, in line mode.
pub struct Answers {
    /// `--yes`: manual steps are confirmed, failures abort.
    pub assume_yes: bool,
    /// `--confirm TARGET` (repeatable): high-risk steps on these targets go on
    /// without typing; automation must still name them explicitly.
    pub confirmed_targets: Vec<String>,
}

pub struct LineRunner<'a> {
    config: &'a Config,
    timeline: Timeline,
    answers: Answers,
    transports: HashMap<String, Transport>,
    ssh_config: SshConfig,
    options: SshOptions,
}

impl<'a> LineRunner<'a> {
    pub fn new(config: &'a Config, timeline: Timeline, answers: Answers) -> LineRunner<'a> {
        LineRunner {
            config,
            timeline,
            answers,
            transports: HashMap::new(),
            ssh_config: SshConfig::load_user_config(),
            options: SshOptions::from_config(config),
        }
    }

    /// Runs the playbook to its end; returns how it ended.
    pub async fn run(&mut self, mut engine: Engine) -> Result<Outcome, String> {
        for secret in engine.secrets().to_vec() {
            self.timeline.redactor_mut().add_secret(&secret);
        }
        let mut queue: VecDeque<Effect> = engine.handle(RunEvent::Start).into();
        while let Some(effect) = queue.pop_front() {
            let event = match effect {
                Effect::Record(event) => {
                    self.timeline.append(event).map_err(|e| e.to_string())?;
                    None
                }
                Effect::Run {
                    target,
                    item,
                    script,
                    timeout,
                    ..
                } => {
                    let label = item
                        .as_deref()
                        .map(|vm| format!("{target} ({vm})"))
                        .unwrap_or_else(|| target.clone());
                    println!("  running on {label}…");
                    Some(self.run_command(&target, item, script, timeout).await)
                }
                Effect::AskConfirmation { expected, step } => {
                    println!("  step {} is high-risk: it acts on {expected}", step + 1);
                    if self.answers.confirmed_targets.contains(&expected) {
                        Some(RunEvent::Confirmed { typed: expected })
                    } else if self.answers.assume_yes {
                        return Err(format!(
                            "step {} needs --confirm {expected} to run without a human",
                            step + 1
                        ));
                    } else {
                        Some(RunEvent::Confirmed {
                            typed: ask(&format!("  type {expected} to go on: "))?,
                        })
                    }
                }
                Effect::AskManual { step } => {
                    println!("  step {} is done by hand (see the playbook)", step + 1);
                    if self.answers.assume_yes || ask("  done? [y/N] ")?.eq_ignore_ascii_case("y") {
                        Some(RunEvent::ManualDone)
                    } else {
                        Some(RunEvent::Abort {
                            reason: "stopped at a manual step".into(),
                        })
                    }
                }
                Effect::AskRecovery { step, error } => {
                    println!("  step {} failed: {}", step + 1, crate::sanitize::one_line(&error));
                    if self.answers.assume_yes {
                        Some(RunEvent::Abort {
                            reason: format!("step {} failed: {error}", step + 1),
                        })
                    } else {
                        match ask("  r)etry, s)kip, a)bort? ")?.as_str() {
                            "r" => Some(RunEvent::Retry),
                            "s" => Some(RunEvent::Skip {
                                reason: ask("  why skip it? ")?,
                            }),
                            _ => Some(RunEvent::Abort {
                                reason: ask("  why abort? ")?,
                            }),
                        }
                    }
                }
                Effect::Finished { outcome } => return Ok(outcome),
            };
            if let Some(event) = event {
                queue.extend(engine.handle(event));
            }
        }
        Err("the playbook stopped without finishing".into())
    }

    async fn run_command(
        &mut self,
        target: &str,
        item: Option<String>,
        script: String,
        timeout: std::time::Duration,
    ) -> RunEvent {
        let transport = match self.transport(target) {
            Ok(t) => t,
            Err(error) => return RunEvent::CommandFailed { item, error },
        };
        let request = CommandRequest::new(script, timeout);
        let cancel = request.cancel.clone();
        let running = transport.run(request);
        tokio::pin!(running);
        // Ctrl-C cancels the command (its whole remote process group), not vigie.
        let result = tokio::select! {
            result = &mut running => result,
            _ = tokio::signal::ctrl_c() => {
                println!("  cancelling…");
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                running.await
            }
        };
        match result {
            Ok(output) => {
                let mut text = output.stdout_text();
                let stderr = output.stderr_text();
                if !stderr.trim().is_empty() {
                    text.push_str(&stderr);
                }
                for line in text.lines().take(40) {
                    println!("    {line}");
                }
                RunEvent::CommandFinished {
                    item,
                    exit: output.exit,
                    output: text,
                    ms: output.elapsed.as_millis() as u64,
                }
            }
            Err(e) => RunEvent::CommandFailed {
                item,
                error: e.to_string(),
            },
        }
    }

    fn transport(&mut self, target: &str) -> Result<Transport, String> {
        if let Some(t) = self.transports.get(target) {
            return Ok(t.clone());
        }
        let transport = if target == "local" {
            Transport::Local
        } else {
            let host = self
                .config
                .host(target)
                .ok_or_else(|| format!("no host {target:?} in the inventory"))?;
            Transport::for_host(self.config, &self.ssh_config, host, &self.options)?
        };
        self.transports.insert(target.to_string(), transport.clone());
        Ok(transport)
    }
}

fn ask(prompt: &str) -> Result<String, String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Err("no answer on standard input".into()),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}
