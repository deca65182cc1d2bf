//! `vigie run PLAYBOOK`: the line-mode runner, for rehearsals, scripts and
//! tests. Same engine as the cockpit; prompts on stdin.

use crate::config::Config;
use crate::incident;
use crate::playbook::bundled;
use crate::playbook::engine::{
    check_reachable_inputs, check_vm_inputs, command_target, unfinished_run, validate_inputs, Engine, Outcome, Progress,
};
use crate::playbook::format::InputKind;
use crate::playbook::runner::{run_in_line_mode, Answers};
use crate::playbook::Playbook;
use crate::sanitize::one_line;
use crate::timeline::Timeline;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigie_runtime::{say, say_inline};

pub struct RunArgs<'a> {
    pub playbook: &'a str,
    pub inputs: &'a [String],
    pub input_file: Option<&'a Path>,
    pub yes: bool,
    pub confirm: &'a [String],
    pub dry_run: bool,
}

pub fn run(config: &Config, explicit_incident: Option<&Path>, args: RunArgs) -> i32 {
    let playbook = match bundled::find(config, args.playbook) {
        Ok(loaded) => loaded.playbook,
        Err(problems) => {
            for p in problems {
                eprint!("{p}");
            }
            return 1;
        }
    };
    let mut given = match given_inputs(&playbook, args.inputs, args.input_file) {
        Ok(given) => given,
        Err(why) => {
            eprintln!("vigie run: {why}");
            return 1;
        }
    };
    // A run of this playbook that vigie left in the middle is offered first.
    let incident_dir = incident::current(explicit_incident, &config.incidents_dir());
    let earlier = match incident_dir.as_ref() {
        Ok(dir) => match offer_unfinished(dir, &playbook, &mut given, &args) {
            Ok(earlier) => earlier,
            Err(why) => {
                eprintln!("vigie run {}: {why}", playbook.id);
                return 1;
            }
        },
        Err(_) => Earlier::None,
    };
    let Some(values) = checked_values(config, &playbook, given) else {
        return 1;
    };
    if args.dry_run {
        print_dry_run(&Engine::new(playbook, values, String::new()));
        return 0;
    }
    let mut timeline = match open_timeline(config, incident_dir) {
        Ok(timeline) => timeline,
        Err(e) => {
            eprintln!("vigie run: {e}");
            eprintln!(
                "every step is recorded: declare the incident (or the rehearsal) first with `vigie incident new TITLE`"
            );
            return 1;
        }
    };
    let progress = match earlier {
        Earlier::TakeUp(progress) => Some(progress),
        Earlier::Abandoned(old) => {
            // The old run ends in the record: no "stopped in the middle" forever.
            let closed = old.abandoned(&playbook.id, "not taken up: a new run was started instead");
            if let Err(e) = timeline.append(closed) {
                eprintln!("vigie run: {e}");
                return 1;
            }
            None
        }
        Earlier::None => None,
    };
    say!("{} — {}", playbook.id, playbook.title);
    if let Some(progress) = &progress {
        print_restored_steps(&playbook, progress);
    }
    let engine = match progress {
        Some(progress) => Engine::resume(playbook, values, progress),
        None => Engine::new(playbook, values, ulid::Ulid::new().to_string()),
    }
    .with_groups(config.target_groups())
    .with_default_timeout(config.settings.command_timeout);
    execute(config, timeline, engine, &args)
}

/// A resumed run's steps that had ended, as they ended: a skipped step stays skipped.
fn print_restored_steps(playbook: &Playbook, progress: &Progress) {
    use crate::playbook::engine::StepOutcome;
    for (index, step) in playbook.steps.iter().enumerate() {
        let word = match progress.state_of(&step.id) {
            Some(StepOutcome::Done) => "done",
            Some(StepOutcome::Skipped) => "skipped",
            Some(StepOutcome::Failed) => "failed",
            None => continue,
        };
        let why = progress
            .skip_reasons
            .get(&step.id)
            .map(|reason| format!(": {}", one_line(reason)))
            .unwrap_or_default();
        say!(
            "[{}/{}] {} — {word} earlier{why}",
            index + 1,
            playbook.steps.len(),
            one_line(&step.title)
        );
        for (name, value) in progress.captured.get(&step.id).into_iter().flatten() {
            say!("  captured: {name} = {}", one_line(value));
        }
    }
}

/// The inputs given: `--input name=value` pairs, then `--input-file`, then
/// secrets from `VIGIE_SECRET_NAME`, then the hidden prompt on a terminal.
/// A secret never goes on vigie's own command line, where `ps` shows it.
fn given_inputs(
    playbook: &Playbook,
    pairs: &[String],
    input_file: Option<&Path>,
) -> Result<BTreeMap<String, String>, String> {
    let is_secret = |name: &str| playbook.inputs.get(name).is_some_and(|i| i.kind == InputKind::Secret);
    let mut given = BTreeMap::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--input {:?}: write name=value", one_line(pair)))?;
        if is_secret(key) {
            return Err(format!(
                "--input {key}=…: {key} is a secret, and vigie's command line is visible to every user (ps); \
                 give it at the hidden prompt (run in a terminal), in VIGIE_SECRET_{}, or with --input-file FILE",
                key.to_uppercase()
            ));
        }
        given.insert(key.to_string(), value.to_string());
    }
    if let Some(file) = input_file {
        for (key, value) in read_input_file(file)? {
            given.entry(key).or_insert(value);
        }
    }
    for (name, input) in &playbook.inputs {
        if input.kind != InputKind::Secret || given.contains_key(name) {
            continue;
        }
        if let Some(value) = secret_from_environment(name) {
            given.insert(name.clone(), value);
        } else if let Some(value) = super::passphrase::ask_secret(&secret_prompt(name, input)) {
            given.insert(name.clone(), value);
        } else if input.default.is_none() {
            return Err(format!(
                "{name} is a secret input and none was given: run in a terminal to be asked for it \
                 (not shown), or set VIGIE_SECRET_{}, or use --input-file FILE",
                name.to_uppercase()
            ));
        }
    }
    Ok(given)
}

/// `VIGIE_SECRET_*`, taken out of the environment when vigie starts.
static SECRETS_FROM_ENVIRONMENT: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();

/// Moves every `VIGIE_SECRET_<NAME>` out of the environment (to be called
/// first in `main`, before any thread): a step's local process, started with
/// vigie's environment, must not receive it.
pub fn take_secrets_from_environment() {
    let taken: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let key = key.into_string().ok()?;
            key.starts_with("VIGIE_SECRET_")
                .then(|| (key, value.to_string_lossy().into_owned()))
        })
        .collect();
    for key in taken.keys() {
        std::env::remove_var(key);
    }
    let _ = SECRETS_FROM_ENVIRONMENT.set(taken);
}

fn secret_from_environment(input: &str) -> Option<String> {
    let key = format!("VIGIE_SECRET_{}", input.to_uppercase());
    SECRETS_FROM_ENVIRONMENT.get()?.get(&key).cloned()
}

fn secret_prompt(name: &str, input: &crate::playbook::format::Input) -> String {
    match &input.description {
        Some(description) => format!("{name} ({}, not shown): ", one_line(description)),
        None => format!("{name} (not shown): "),
    }
}

/// `--input-file`: `name=value` lines, blank lines and `#` comments skipped.
/// Refused if group or others may read it, or another user owns it: it may
/// hold secrets.
fn read_input_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = one_line(&path.display().to_string());
    let file = std::fs::File::open(path).map_err(|e| format!("--input-file {shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("--input-file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("--input-file {shown}: not a file"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "--input-file {shown}: mode {:04o} lets group or others at it; `chmod 600 {shown}` first",
            meta.mode() & 0o7777
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("--input-file {shown}: owned by uid {}, not by you", meta.uid()));
    }
    let text = std::io::read_to_string(file).map_err(|e| format!("--input-file {shown}: {e}"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = |message: &str| format!("{shown}:{}:1: {message}", index + 1);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        // The value is everything after the first `=`, as written: no quotes,
        // no comments, spaces kept (a password may have them).
        let (key, value) = line.split_once('=').ok_or_else(|| at("write name=value"))?;
        let key = key.trim();
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(at(&format!("{key} is given twice")));
        }
        pairs.push((key.to_string(), value.strip_suffix('\r').unwrap_or(value).to_string()));
    }
    Ok(pairs)
}

/// What the responder chose about a run left in the middle.
enum Earlier {
    /// No such run.
    None,
    TakeUp(Progress),
    /// Started anew: the earlier run is closed in the timeline.
    Abandoned(Progress),
}

/// Offers to take up a run of `playbook` left in the middle in the incident
/// at `dir`; if taken up, its recorded (non-secret) inputs fill the gaps.
/// Refuses (the reason as the error) a run another vigie drives now, one the
/// playbook no longer fits, inputs that differ from the run's, and a missing
/// answer.
fn offer_unfinished(
    dir: &Path,
    playbook: &Playbook,
    given: &mut BTreeMap<String, String>,
    args: &RunArgs,
) -> Result<Earlier, String> {
    let Ok(events) = crate::timeline::read_incident(dir) else {
        return Ok(Earlier::None);
    };
    let Some((found, recorded_inputs)) = unfinished_run(&events, &playbook.id) else {
        return Ok(Earlier::None);
    };
    if let Some(by) = crate::playbook::run_lock::driven_by(dir, &found.run) {
        return Err(format!(
            "a run of {} is going on right now, driven by {by} (a cockpit or vigie run on this incident): \
             follow it there; nothing was started",
            playbook.id
        ));
    }
    say!(
        "an earlier run of {} stopped in the middle: {}",
        playbook.id,
        found.describe()
    );
    if let Err(why) = found.fits(playbook) {
        say!("{why}");
        return offer_a_new_run(found, args);
    }
    let answer = if args.yes || args.dry_run {
        Some(args.yes)
    } else {
        ask_yes_no("continue it? [Y/n] ", true)
    };
    match answer {
        None => Err("no answer on standard input: nothing was run (answer in a terminal, or use --yes)".into()),
        Some(false) if args.dry_run => Ok(Earlier::None),
        Some(false) => Ok(Earlier::Abandoned(found)),
        Some(true) => {
            found.check_inputs(playbook, given)?;
            for (name, value) in recorded_inputs {
                let secret = playbook.inputs.get(&name).is_some_and(|i| i.kind == InputKind::Secret);
                if !secret {
                    given.entry(name).or_insert(value);
                }
            }
            Ok(Earlier::TakeUp(found))
        }
    }
}

/// The earlier run cannot be taken up: a new one, if the responder wants it.
fn offer_a_new_run(found: Progress, args: &RunArgs) -> Result<Earlier, String> {
    let answer = if args.yes || args.dry_run {
        Some(args.yes)
    } else {
        ask_yes_no("start a new run? [y/N] ", false)
    };
    match answer {
        Some(true) => Ok(Earlier::Abandoned(found)),
        Some(false) if args.dry_run => Ok(Earlier::None),
        _ => Err("nothing was run".into()),
    }
}

/// The engine's checks first, then VMs against their host's status, polled
/// now; `None` (the problems printed) when the inputs are not valid.
fn checked_values(
    config: &Config,
    playbook: &Playbook,
    given: BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let hosts: Vec<String> = config.hosts.iter().map(|h| h.name.clone()).collect();
    // What vigie.toml already says of the target (its option file...) is not asked again.
    let given = crate::playbook::format::with_inventory_defaults(playbook, &given, &config.hosts);
    let checked = validate_inputs(playbook, &given, &hosts).and_then(|values| {
        // Each host is polled once, whatever the number of inputs naming it.
        let mut live = LivePolls::new(config);
        let mut problems = check_reachable_inputs(playbook, &values, |host| live.reading(host).map(|_| ()));
        problems.extend(check_vm_inputs(playbook, &values, |host| {
            live.reading(host).map(|r| r.vms.clone())
        }));
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    });
    match checked {
        Ok(values) => Some(values),
        Err(problems) => {
            eprintln!("vigie run {}: the inputs are not valid, nothing was run:", playbook.id);
            for p in problems {
                eprintln!("  {p}");
            }
            None
        }
    }
}

fn open_timeline(config: &Config, incident_dir: Result<PathBuf, incident::IncidentError>) -> Result<Timeline, String> {
    let options = incident::timeline_options(config).map_err(|e| e.to_string())?;
    let dir = incident_dir.map_err(|e| e.to_string())?;
    Timeline::open(&dir, options).map_err(|e| e.to_string())
}

/// Runs `engine` to its end in line mode; the exit code says how it ended.
fn execute(config: &Config, timeline: Timeline, engine: Engine, args: &RunArgs) -> i32 {
    let answers = Answers {
        assume_yes: args.yes,
        confirmed_targets: args.confirm.to_vec(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigie run: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(run_in_line_mode(
        config,
        timeline,
        answers,
        engine,
        super::passphrase::ssh_options(config),
    ));
    runtime.shutdown_background();
    match result {
        Ok(Outcome::Completed) => {
            say!("completed");
            0
        }
        Ok(Outcome::Aborted) => {
            say!("aborted");
            1
        }
        Err(e) => {
            eprintln!("vigie run: {e}");
            1
        }
    }
}

/// Hosts' readings, polled now and once each (`vigie run` has no standing status).
struct LivePolls<'a> {
    config: &'a Config,
    polled: BTreeMap<String, Result<crate::probe::Reading, String>>,
}

impl<'a> LivePolls<'a> {
    fn new(config: &'a Config) -> LivePolls<'a> {
        LivePolls {
            config,
            polled: BTreeMap::new(),
        }
    }

    fn reading(&mut self, host_name: &str) -> Result<&crate::probe::Reading, String> {
        if !self.polled.contains_key(host_name) {
            let outcome = poll_now(self.config, host_name);
            self.polled.insert(host_name.to_string(), outcome);
        }
        match &self.polled[host_name] {
            Ok(reading) => Ok(reading),
            Err(why) => Err(why.clone()),
        }
    }
}

fn poll_now(config: &Config, host_name: &str) -> Result<crate::probe::Reading, String> {
    let host = config
        .host(host_name)
        .ok_or_else(|| format!("no host {host_name:?} in the inventory"))?;
    let transport = crate::transport::Transport::for_host(
        &std::sync::Arc::new(config.clone()),
        &crate::transport::endpoint::Resolver::for_config(config),
        host,
        &super::passphrase::ssh_options(config),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(crate::poller::poll_once(
        &transport,
        host,
        config.settings.command_timeout,
    ));
    runtime.shutdown_background();
    match outcome {
        crate::status::PollOutcome::Reading { reading, .. } => Ok(*reading),
        crate::status::PollOutcome::Failed(e) => Err(e.to_string()),
    }
}

/// `None` when standard input has no answer (closed, or an error).
fn ask_yes_no(prompt: &str, default: bool) -> Option<bool> {
    use std::io::{BufRead, Write};
    say_inline!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(match line.trim().to_lowercase().as_str() {
            "" => default,
            answer => answer.starts_with('y'),
        }),
    }
}

/// Each step's exact script, as the engine would send it, secrets shown as
/// [redacted]; nothing runs.
fn print_dry_run(engine: &Engine) {
    let playbook = engine.playbook();
    say!("{} — {} (dry run: nothing is executed)", playbook.id, playbook.title);
    for (index, step) in playbook.steps.iter().enumerate() {
        say!("\n## {}. {}", index + 1, step.title);
        let Some(command) = &step.command else {
            say!("(manual step)");
            for item in &step.checklist {
                say!("- [ ] {item}");
            }
            continue;
        };
        let target = command_target(playbook, engine.variables(), command).unwrap_or_default();
        let risk = if command.risk == crate::playbook::format::Risk::High {
            " (high risk)"
        } else {
            ""
        };
        // Values come from the command line, scripts from a file: shown inert.
        say!("on {}{risk}", one_line(&target));
        if let Some(script) = engine.shown_script(index, None) {
            say!("{}", crate::sanitize::terminal_safe(script.trim_end()));
        }
    }
}
