//! The command line: parses arguments and wires the components for each command.

mod incident;
mod passphrase;
mod run;
mod status;
mod sync;
mod trust;
mod watch;

use crate::config::{self, Config, ConfigSource, Diagnostic};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "vigie", version, about = "Terminal incident-response cockpit", long_about = None)]
pub struct Cli {
    /// The config file (else $VIGIE_CONFIG, ./vigie.toml, $XDG_CONFIG_HOME/vigie/vigie.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The incident directory (else $VIGIE_INCIDENT, else the most recent open incident)
    #[arg(long, global = true, value_name = "DIR")]
    pub incident: Option<PathBuf>,
    /// Cockpit: watch only; every acting key (notes, playbooks) is removed
    #[arg(long)]
    pub read_only: bool,
    /// Cockpit: click to select, wheel to scroll (also `mouse = true` in [settings])
    #[arg(long)]
    pub mouse: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented example vigie.toml
    Init {
        /// Where to write it
        #[arg(default_value = "vigie.toml")]
        path: PathBuf,
    },
    /// Validate the config and playbooks; exit 1 on error
    Check {
        /// Playbook files to validate
        playbooks: Vec<PathBuf>,
    },
    /// One polling round; exit 0 ok, 1 warning, 2 critical
    Status {
        /// Print the documented JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Can TARGET take the VMs of DEAD? RAM, disk, and the data-loss window
    Capacity {
        /// The hypervisor that died
        dead: String,
        /// The hypervisor that would take its VMs
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a host's key fingerprint and pin it
    Trust {
        /// Host name from the inventory, or an ssh destination (`[user@]host[:port]`,
        /// a Host alias), such as a jump host an error names
        host: String,
        /// Pin without asking (for provisioning scripts that checked the key otherwise)
        #[arg(long)]
        yes: bool,
    },
    /// Declare, list or close incidents
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Append a note, decision or action item to the current incident
    Note {
        #[arg(long, default_value = "note", value_parser = ["note", "decision", "action"])]
        kind: String,
        /// The text
        text: String,
        /// The host it is about
        #[arg(long)]
        host: Option<String>,
        /// Who owns the action item
        #[arg(long)]
        owner: Option<String>,
        /// When the action item is due
        #[arg(long)]
        due: Option<String>,
        /// The action item's priority
        #[arg(long, value_parser = ["p1", "p2", "p3", "p4"])]
        priority: Option<String>,
        /// Where the action item is tracked (an issue's URL)
        #[arg(long)]
        link: Option<String>,
        /// What the action item does: investigate, mitigate, repair, detect, prevent or process
        #[arg(long = "type", value_parser = ["investigate", "mitigate", "repair", "detect", "prevent", "process"])]
        action_type: Option<String>,
        /// When it happened, if not now: 19:30 (the last 19:30 in the responders' zone), 2026-11-23 19:30, or RFC 3339
        #[arg(long)]
        at: Option<String>,
    },
    /// Run a playbook in line mode (prompts on stdin)
    Run {
        /// Playbook id or file
        playbook: String,
        /// An input value, as name=value (repeatable)
        #[arg(long = "input", value_name = "K=V")]
        inputs: Vec<String>,
        /// Input values from a file of name=value lines (# comments); the way to give
        /// a secret input without a terminal. It must not be readable by group or others
        #[arg(long = "input-file", value_name = "FILE")]
        input_file: Option<std::path::PathBuf>,
        /// Answer yes to manual steps; a failure aborts (for automation)
        #[arg(long)]
        yes: bool,
        /// Allow high-risk steps on this target without typing its name (repeatable)
        #[arg(long = "confirm", value_name = "TARGET")]
        confirm: Vec<String>,
        /// Print each target's exact script and run nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Headless: poll, keep the fleet journal, record fleet events into every open
    /// incident (and into --incident); run it on the bastion as a service; stops
    /// cleanly on SIGTERM
    Watch,
    /// Show or verify the current incident's timeline
    #[command(subcommand)]
    Timeline(TimelineCommand),
    /// Share incidents with other machines through the sync_remotes (one round:
    /// fetch, merge each writer's file, push); `vigie sync init HOST:PATH` creates a remote
    Sync {
        #[command(subcommand)]
        command: Option<SyncCommand>,
    },
    /// Write the post-mortem from the timeline
    Report {
        #[arg(long, default_value = "md", value_parser = ["md", "html", "json"])]
        format: String,
        /// Output file (default: standard output)
        #[arg(long)]
        output: Option<PathBuf>,
        /// The summary, written beforehand (paragraphs separated by blank lines);
        /// notes tagged #summary follow it
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
        /// The impact, written beforehand; notes tagged #impact follow it
        #[arg(long, value_name = "FILE")]
        impact: Option<PathBuf>,
        /// The root cause, written beforehand; notes tagged #root-cause follow it
        #[arg(long, value_name = "FILE")]
        root_cause: Option<PathBuf>,
        /// Mark the document final (reviewed) instead of a draft
        #[arg(long = "final")]
        final_version: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// Create a remote: a bare git repository on a host reached over ssh
    Init {
        /// HOST:PATH; HOST an inventory name or an ssh destination ([user@]host, a Host alias)
        remote: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Declare a new incident
    New {
        title: String,
        #[arg(long, value_enum, default_value = "major")]
        severity: crate::incident::Severity,
    },
    /// List open and closed incidents
    List,
    /// Close the current incident (status resolved)
    Close {
        /// When it happened, if not now: 19:30 (the last 19:30 in the responders' zone), 2026-11-23 19:30, or RFC 3339
        #[arg(long)]
        at: Option<String>,
    },
    /// Change the current incident's status
    Status {
        #[arg(value_enum)]
        status: crate::incident::Status,
        /// When it happened, if not now: 19:30 (the last 19:30 in the responders' zone), 2026-11-23 19:30, or RFC 3339
        #[arg(long)]
        at: Option<String>,
    },
    /// Change the current incident's severity
    Severity {
        #[arg(value_enum)]
        severity: crate::incident::Severity,
        /// When it happened, if not now: 19:30 (the last 19:30 in the responders' zone), 2026-11-23 19:30, or RFC 3339
        #[arg(long)]
        at: Option<String>,
    },
    /// Update an action item: its status, priority or link
    Action {
        /// The action item: its number in the report (A1, A2...) or in the timeline (#13)
        item: String,
        #[arg(long, value_parser = ["open", "in-progress", "done", "wont-do"])]
        status: Option<String>,
        #[arg(long, value_parser = ["p1", "p2", "p3", "p4"])]
        priority: Option<String>,
        /// Where it is tracked (an issue's URL)
        #[arg(long)]
        link: Option<String>,
    },
    /// Say who holds a role (commander, scribe, comms...): the report lists it
    Role {
        who: String,
        role: String,
        /// When it happened, if not now: 19:30 (the last 19:30 in the responders' zone), 2026-11-23 19:30, or RFC 3339
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TimelineCommand {
    /// Print the timeline (local time and UTC)
    Show {
        /// Keep printing new events as they arrive
        #[arg(long)]
        follow: bool,
        /// One JSON event per line, as stored
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain, sequence and every line
    Verify,
    /// Append an event (for scripts and monitoring hooks)
    Append {
        /// Event kind: alert.raised, note, ... or custom.<name>
        kind: String,
        #[arg(long)]
        host: Option<String>,
        /// Sets data.text
        #[arg(long)]
        text: Option<String>,
        /// The event's data, as a JSON object
        #[arg(long)]
        data: Option<String>,
        /// When it happened (RFC 3339 or HH:MM), if not now
        #[arg(long)]
        at: Option<String>,
        /// Who appends, if not you (e.g. "alert" for a monitoring hook)
        #[arg(long)]
        actor: Option<String>,
    },
    /// Correct an earlier event (by id or #seq) without rewriting it
    Amend {
        target: String,
        /// Corrected time (RFC 3339 or HH:MM)
        #[arg(long)]
        at: Option<String>,
        /// Corrected text
        #[arg(long)]
        text: Option<String>,
        /// Corrected kind (e.g. note -> decision)
        #[arg(long)]
        kind: Option<String>,
        /// Mark it: detected, acknowledged, mitigated, resolved, key
        #[arg(long)]
        mark: Option<String>,
        /// Why
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Runs the command line; the exit code says how it went.
pub fn main() -> std::process::ExitCode {
    // Before any thread starts: secrets leave the environment, so that no
    // step's process inherits them.
    run::take_secrets_from_environment();
    crate::transport::raise_open_file_limit();
    crate::transport::limit_allocator_arenas();
    let cli = Cli::parse();
    // A command whose reader went away (`vigie status | head`) ends quietly,
    // as Unix tools do; a run and the long-running commands handle it themselves.
    if !matches!(cli.command, None | Some(Command::Run { .. }) | Some(Command::Watch)) {
        // SAFETY: restoring the default disposition of SIGPIPE, before any thread.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = dispatch(cli);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn dispatch(cli: Cli) -> i32 {
    let Cli {
        config: explicit,
        incident,
        read_only,
        mouse,
        command,
    } = cli;
    // $VIGIE_INCIDENT set but empty (`VIGIE_INCIDENT= vigie`) means unset.
    let incident = incident.or_else(|| {
        std::env::var_os("VIGIE_INCIDENT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let (explicit, incident) = (explicit.as_deref(), incident.as_deref());
    // The commands that need no configuration, or read it their own way.
    let command = match command {
        None => return run_cockpit(explicit, incident, read_only, mouse),
        Some(Command::Init { path }) => return init(&path),
        Some(Command::Check { playbooks }) => return check(explicit, &playbooks),
        Some(command) => command,
    };
    let config = match load_config(explicit) {
        Ok(config) => config,
        // For a monitoring hook, a bad config is as bad as it gets.
        Err(_) if matches!(command, Command::Status { .. } | Command::Capacity { .. }) => return 2,
        Err(code) => return code,
    };
    let writes_incidents = matches!(
        command,
        Command::Incident(_)
            | Command::Note { .. }
            | Command::Run { .. }
            | Command::Watch
            | Command::Sync { command: None }
    );
    if writes_incidents && !incidents_dir_ready(&config) {
        return 1;
    }
    // What a command wrote here reaches the other machines through a syncing
    // cockpit or watcher: said when none is running.
    let records = matches!(
        command,
        Command::Incident(_) | Command::Note { .. } | Command::Run { .. } | Command::Timeline(_)
    );
    let code = run_command(&config, incident, command);
    if records && code == 0 {
        sync::hint_when_nothing_syncs(&config);
    }
    code
}

fn run_command(config: &Config, incident: Option<&Path>, command: Command) -> i32 {
    match command {
        Command::Init { .. } | Command::Check { .. } => 0, // handled above
        Command::Status { json } => status::run(config, json),
        Command::Capacity { dead, target, json } => status::capacity(config, &dead, &target, json),
        Command::Run {
            playbook,
            inputs,
            input_file,
            yes,
            confirm,
            dry_run,
        } => {
            let args = run::RunArgs {
                playbook: &playbook,
                inputs: &inputs,
                input_file: input_file.as_deref(),
                yes,
                confirm: &confirm,
                dry_run,
            };
            run::run(config, incident, args)
        }
        Command::Report {
            format,
            output,
            summary,
            impact,
            root_cause,
            final_version,
        } => {
            let files = crate::report::NarrativeFiles {
                files: [("summary", summary), ("impact", impact), ("root-cause", root_cause)]
                    .into_iter()
                    .filter_map(|(tag, file)| Some((tag, file?)))
                    .collect(),
                final_version,
            };
            report(config, incident, &format, output.as_deref(), &files)
        }
        Command::Trust { host, yes } => trust::run(config, &host, yes),
        Command::Watch => watch::run(config, incident),
        Command::Incident(command) => incident_command(config, incident, command),
        Command::Note {
            kind,
            text,
            host,
            owner,
            due,
            priority,
            link,
            action_type,
            at,
        } => {
            let args = incident::NoteArgs {
                kind: &kind,
                text: &text,
                host: host.as_deref(),
                owner: owner.as_deref(),
                due: due.as_deref(),
                priority: priority.as_deref(),
                link: link.as_deref(),
                action_type: action_type.as_deref(),
                at: at.as_deref(),
            };
            incident::note(config, incident, args)
        }
        Command::Timeline(command) => timeline_command(config, incident, command),
        Command::Sync { command: None } => {
            if incident.is_some() {
                eprintln!("vigie sync: every incident is shared; --incident (or $VIGIE_INCIDENT) is not needed");
            }
            sync::run_once(config)
        }
        Command::Sync {
            command: Some(SyncCommand::Init { remote }),
        } => sync::init(config, &remote),
    }
}

fn report(
    config: &Config,
    explicit: Option<&Path>,
    format: &str,
    output: Option<&Path>,
    files: &crate::report::NarrativeFiles,
) -> i32 {
    let result = crate::incident::current_or_latest(explicit, &config.incidents_dir())
        .map_err(|e| e.to_string())
        .and_then(|dir| {
            // A damaged line is left out of the report: say which, so that it is looked at.
            if let Ok((_, damaged)) = crate::timeline::sources::read_incident_with_damage(&dir) {
                for line in damaged {
                    eprintln!("vigie report: warning: {line}");
                }
            }
            crate::report::render_for_incident(&dir, files, format, config.report_zone()).map_err(|e| e.to_string())
        });
    match (result, output) {
        (Ok(text), None) => {
            print!("{text}");
            0
        }
        (Ok(_), Some(path)) if is_vigie_file(path) => {
            eprintln!(
                "vigie report: {} is one of vigie's own files (the timeline, the fleet journal...): write the report elsewhere",
                crate::sanitize::one_line(&path.display().to_string())
            );
            1
        }
        (Ok(text), Some(path)) => match crate::report::write_whole(path, &text) {
            Ok(()) => {
                println!("wrote {}", path.display());
                0
            }
            Err(e) => {
                eprintln!("vigie report: {e}");
                1
            }
        },
        (Err(e), _) => {
            eprintln!("vigie report: {e}");
            1
        }
    }
}

/// A file vigie keeps (never to be replaced by a report).
fn is_vigie_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [
        crate::timeline::TIMELINE_FILE,
        crate::timeline::TORN_FILE,
        "fleet-journal.jsonl",
        "fleet-journal.lock",
    ]
    .contains(&name)
        || name.ends_with(".lock")
}

fn incident_command(config: &Config, explicit: Option<&Path>, command: IncidentCommand) -> i32 {
    use crate::incident::Status;
    match command {
        IncidentCommand::New { title, severity } => incident::new(config, &title, severity),
        IncidentCommand::List => incident::list(config),
        IncidentCommand::Close { at } => incident::set_status(config, explicit, Status::Resolved, at.as_deref()),
        IncidentCommand::Status { status, at } => incident::set_status(config, explicit, status, at.as_deref()),
        IncidentCommand::Severity { severity, at } => incident::set_severity(config, explicit, severity, at.as_deref()),
        IncidentCommand::Role { who, role, at } => incident::assign_role(config, explicit, &who, &role, at.as_deref()),
        IncidentCommand::Action {
            item,
            status,
            priority,
            link,
        } => incident::update_action(
            config,
            explicit,
            &item,
            crate::timeline::payload::ActionItemUpdated {
                status,
                priority,
                link,
                ..Default::default()
            },
        ),
    }
}

fn timeline_command(config: &Config, explicit: Option<&Path>, command: TimelineCommand) -> i32 {
    match command {
        TimelineCommand::Show { follow, json } => incident::show(config, explicit, follow, json),
        TimelineCommand::Verify => incident::verify_current(config, explicit),
        TimelineCommand::Append {
            kind,
            host,
            text,
            data,
            at,
            actor,
        } => {
            let args = incident::AppendArgs {
                kind: &kind,
                host: host.as_deref(),
                text: text.as_deref(),
                data: data.as_deref(),
                at: at.as_deref(),
                actor: actor.as_deref(),
            };
            incident::append(config, explicit, args)
        }
        TimelineCommand::Amend {
            target,
            at,
            text,
            kind,
            mark,
            reason,
        } => {
            let args = incident::AmendArgs {
                target: &target,
                at: at.as_deref(),
                text: text.as_deref(),
                kind: kind.as_deref(),
                mark: mark.as_deref(),
                reason: reason.as_deref(),
            };
            incident::amend(config, explicit, args)
        }
    }
}

fn load_config(explicit: Option<&Path>) -> Result<Config, i32> {
    Config::discover(explicit).map_err(|diagnostics| {
        print_diagnostics(&diagnostics);
        1
    })
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprint!("{diagnostic}");
    }
    let count = diagnostics.len();
    eprintln!("{count} error{} in the config", if count == 1 { "" } else { "s" });
}

/// The incidents directory made (private, or shared with `incidents_group`)
/// and safe to write in; says why not on stderr.
fn incidents_dir_ready(config: &Config) -> bool {
    let group = config.settings.incidents_group.as_deref();
    match crate::files::prepare_incidents_dir(&config.incidents_dir(), group) {
        Ok(()) => true,
        Err(why) => {
            eprintln!("vigie: {why}");
            false
        }
    }
}

fn run_cockpit(explicit: Option<&Path>, incident: Option<&Path>, read_only: bool, mouse: bool) -> i32 {
    let config = match load_config(explicit) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if !read_only && !incidents_dir_ready(&config) {
        return 1;
    }
    let incident_dir = match crate::incident::current(incident, &config.incidents_dir()) {
        Ok(dir) => Some(dir),
        // An explicitly named incident must exist; without one, no incident is fine.
        Err(e) if incident.is_some() => {
            eprintln!("vigie: {e}");
            return 1;
        }
        Err(_) => None,
    };
    let options = crate::tui::Options {
        read_only,
        mouse: mouse || config.settings.mouse,
        follow_newest: incident.is_none(),
    };
    match crate::tui::run(config, incident_dir, options) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vigie: {e:#}");
            1
        }
    }
}

fn init(path: &Path) -> i32 {
    // create_new: never overwrite someone's inventory.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path);
    let result = file.and_then(|mut f| {
        use std::io::Write;
        f.write_all(config::EXAMPLE_CONFIG.as_bytes())?;
        f.sync_all()
    });
    match result {
        Ok(()) => {
            println!("wrote {}: edit the hosts, then run `vigie check`", path.display());
            0
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("vigie init: {} already exists; not overwriting it", path.display());
            1
        }
        Err(e) => {
            eprintln!("vigie init: cannot write {}: {e}", path.display());
            1
        }
    }
}

/// Resolves every SSH host as a connection would (`ssh -G`), so that a broken
/// ssh configuration is named now, with ssh's own `file:line`, not at 19:30.
fn check_ssh_settings(config: &Config) -> bool {
    let ssh_hosts: Vec<_> = config
        .hosts
        .iter()
        .filter(|h| h.transport == crate::config::TransportKind::Ssh)
        .collect();
    if ssh_hosts.is_empty() {
        return true;
    }
    let resolver = crate::transport::endpoint::Resolver::for_config(config);
    println!("{}", resolver.describe());
    let mut ok = true;
    for host in ssh_hosts {
        if let Err(e) = resolver.resolve(config, host) {
            eprintln!("host {:?}: {e}", host.name);
            ok = false;
        }
    }
    ok
}

fn check(explicit: Option<&Path>, playbooks: &[PathBuf]) -> i32 {
    let config = match load_config(explicit) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // The file is valid; its hosts must also be usable by ssh before it is "ok".
    let ssh_ok = check_ssh_settings(&config);
    match &config.source {
        ConfigSource::File(path) if ssh_ok => println!(
            "{}: ok ({} hosts, {} groups)",
            path.display(),
            config.hosts.len(),
            config.groups.len()
        ),
        ConfigSource::File(path) => eprintln!(
            "{}: valid, but ssh cannot use the hosts above as they are configured",
            path.display()
        ),
        ConfigSource::EmbeddedDefault => {
            println!("no vigie.toml found: using the built-in default (this machine only)")
        }
    }
    let mut failed = !ssh_ok;
    let group = config.settings.incidents_group.as_deref();
    if let Some(group) = group.filter(|g| !crate::files::group_exists(g)) {
        eprintln!("error: incidents_group = {group:?}: no such group on this machine (groupadd {group}, then add the responders to it)");
        failed = true;
    }
    for warning in crate::files::incidents_dir_warnings(&config.incidents_dir(), group) {
        eprintln!("warning: {warning}");
    }
    // Without paths: the playbooks the cockpit and `vigie run` would load.
    let from_dir: Vec<PathBuf> = match (playbooks.is_empty(), &config.settings.playbooks_dir) {
        (true, Some(dir)) => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "md"))
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found
        }
        _ => Vec::new(),
    };
    for path in playbooks.iter().chain(&from_dir) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprint!(
                    "{}",
                    Diagnostic::whole_file(path, format!("cannot read the playbook: {e}"))
                );
                failed = true;
                continue;
            }
        };
        let (playbook, mut problems) = crate::playbook::parse(path, &text);
        if let Some(playbook) = &playbook {
            problems.extend(crate::playbook::format::lint(playbook, &config, &text));
        }
        problems.sort_by_key(|d| (d.line, d.column));
        if problems.is_empty() {
            let steps = match playbook.map(|p| p.steps.len()).unwrap_or(0) {
                1 => "1 step".to_string(),
                n => format!("{n} steps"),
            };
            println!(
                "{}: ok ({steps})",
                crate::sanitize::one_line(&path.display().to_string())
            );
        } else {
            failed = true;
            for problem in &problems {
                eprint!("{problem}");
            }
        }
    }
    if failed {
        return 1;
    }
    0
}
