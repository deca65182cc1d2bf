//! Whole-screen snapshots of the cockpit, rendered into ratatui's TestBackend
//! from a scripted state (fixed clock, captured probe output).

use chrono::{TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::Path;
use std::time::Duration;
use vigie::config::Config;
use vigie::probe::linux;
use vigie::status::{PollOutcome, PollResult};
use vigie::tui::app::App;
use vigie::tui::keys::Action;
use vigie::tui::views;

const INVENTORY: &str = r#"
[[hosts]]
name = "miramelle"
address = "10.0.0.11"
kind = "proxmox"

[[hosts]]
name = "locuste"
address = "10.0.0.12"
kind = "proxmox"
role = "hypervisor"
tags = ["rack-a", "pve8"]

[[hosts]]
name = "backup"
address = "10.0.0.20"
"#;

fn scripted_app() -> App {
    let config = Config::parse(Path::new("vigie.toml"), INVENTORY).expect("inventory");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, 0).unwrap();
    let mut app = App::new(&config, t0 + chrono::Duration::seconds(42));
    let health = linux::parse(include_str!("fixtures/probe/linux-debian12-container.txt"));
    let ok = |host_index| PollResult {
        host_index,
        at: t0,
        outcome: PollOutcome::Reading {
            reading: Box::new(vigie::probe::Reading {
                health: health.clone(),
                ..Default::default()
            }),
            round_trip: Duration::from_millis(12),
        },
    };
    app.apply_poll(&ok(0));
    app.apply_poll(&ok(1));
    app.apply_poll(&PollResult {
        host_index: 0,
        at: t0 + chrono::Duration::seconds(12),
        outcome: PollOutcome::Failed(vigie::transport::TransportError::ConnectTimeout),
    });
    app
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| views::render(frame, app)).unwrap();
    terminal
}

#[test]
fn shell_with_an_unreachable_host_selected() {
    let app = scripted_app();
    assert_every_size("shell_unreachable_host", &app);
}

#[test]
fn shell_with_a_healthy_host_selected() {
    let mut app = scripted_app();
    app.apply_action(Action::SelectNext);
    assert_every_size("shell_healthy_host", &app);
}

#[test]
fn hosts_filtered_by_tag() {
    let mut app = scripted_app();
    app.apply_action(Action::Filter);
    type_text(&mut app, "tag:rack-a");
    assert_eq!(app.visible_hosts(), vec![1], "only locuste carries rack-a");
    app.handle_key(key(crossterm::event::KeyCode::Enter));
    assert_every_size("hosts_filtered_by_tag", &app);
}

#[test]
fn help_overlay() {
    let mut app = scripted_app();
    app.apply_action(Action::ToggleHelp);
    assert_every_size("help_overlay", &app);
}

#[test]
fn a_full_sparkline_never_wraps_the_memory_line_at_120_columns() {
    let mut app = scripted_app();
    let health = linux::parse(include_str!("fixtures/probe/linux-debian12-container.txt"));
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 19, 31, 0).unwrap();
    for i in 0..40 {
        app.apply_poll(&PollResult {
            host_index: 1,
            at: t0 + chrono::Duration::seconds(5 * i),
            outcome: PollOutcome::Reading {
                reading: Box::new(vigie::probe::Reading {
                    health: health.clone(),
                    ..Default::default()
                }),
                round_trip: Duration::from_millis(12),
            },
        });
    }
    app.selected = 1;
    for (width, height) in [(120, 32), (80, 24), (200, 60)] {
        let terminal = render(&app, width, height);
        let buffer = terminal.backend().buffer();
        let rows: Vec<String> = (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol().to_string()).collect())
            .collect();
        let memory = rows.iter().position(|r| r.contains("memory ")).expect("a memory line");
        assert!(
            rows[memory].contains('▁') || rows[memory].contains('█'),
            "{}",
            rows[memory]
        );
        let next = rows[memory + 1]
            .trim_start_matches(|c: char| c != '│')
            .trim_start_matches('│');
        assert!(
            !next.starts_with(['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']),
            "{width}x{height}: the sparkline wrapped:\n{}\n{}",
            rows[memory],
            rows[memory + 1]
        );
    }
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut app = scripted_app();
    app.apply_action(Action::ToggleHelp);
    for (w, h) in [(1, 1), (10, 3), (30, 5), (200, 60)] {
        render(&app, w, h);
    }
}

#[test]
fn proxmox_node_with_cluster_vms_and_storages() {
    let config = Config::parse(Path::new("vigie.toml"), INVENTORY).expect("inventory");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, 0).unwrap();
    let mut app = App::new(&config, t0 + chrono::Duration::seconds(5));
    let output = format!(
        "{}{}",
        include_str!("fixtures/probe/linux-debian12-container.txt"),
        include_str!("fixtures/probe/proxmox-synthetic-8-cluster.txt")
    );
    let reading = vigie::probe::parse(&config.hosts[1], &output);
    app.apply_poll(&PollResult {
        host_index: 1,
        at: t0,
        outcome: PollOutcome::Reading {
            reading: Box::new(reading),
            round_trip: Duration::from_millis(40),
        },
    });
    app.apply_action(Action::SelectNext);
    assert_every_size("proxmox_node", &app);
}

fn with_incident(app: &mut App) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, 0).unwrap();
    let event = |seq: u64, minutes: i64, actor: &str, kind: &str, data: serde_json::Value| vigie::timeline::Event {
        seq,
        id: format!("e{seq}"),
        at: t0 + chrono::Duration::minutes(minutes),
        recorded_at: t0 + chrono::Duration::minutes(minutes),
        actor: actor.into(),
        kind: kind.into(),
        host: None,
        data,
        prev: String::new(),
    };
    app.apply_timeline(vec![
        event(
            1,
            0,
            "alert",
            "alert.raised",
            serde_json::json!({"text": "miramelle unreachable"}),
        ),
        event(
            2,
            11,
            "alice",
            "incident.declared",
            serde_json::json!({"title": "miramelle down", "severity": "critical"}),
        ),
        event(
            3,
            14,
            "bob",
            "note",
            serde_json::json!({"text": "mailed the VM owners \u{1b}]0;pwned\u{7}\u{1b}[31m"}),
        ),
    ]);
    app.now = t0 + chrono::Duration::minutes(42);
}

#[test]
fn incident_with_timeline_pane() {
    let mut app = scripted_app();
    with_incident(&mut app);
    assert_every_size("incident", &app);
}

/// The README shows the cockpit at 80×24: it must be this very screen.
#[test]
fn the_readme_shows_the_screen_as_it_is() {
    let mut app = scripted_app();
    with_incident(&mut app);
    let terminal = render(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let screen: Vec<String> = (0..24)
        .map(|y| {
            let row: String = (0..80).map(|x| buffer[(x, y)].symbol().to_string()).collect();
            row.trim_end().to_string()
        })
        .collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```\n")
        .nth(1)
        .expect("the README's first code block: the cockpit");
    let shown: Vec<&str> = block.lines().collect();
    assert_eq!(
        shown,
        screen,
        "the README's screen is not the cockpit's; paste this one:\n{}",
        screen.join("\n")
    );
}

#[test]
fn declaring_from_a_dead_host_asks_its_severity() {
    let mut app = scripted_app();
    app.apply_action(Action::DeclareIncident);
    assert_every_size("declare_title_drafted", &app);
    app.handle_key(key(crossterm::event::KeyCode::Enter));
    assert_every_size("declare_severity_picker", &app);
}

#[test]
fn an_event_opened_whole_with_its_amendment() {
    let mut app = scripted_app();
    with_incident(&mut app);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap();
    app.apply_timeline(vec![vigie::timeline::Event {
        seq: 4,
        id: "e4".into(),
        at: t0,
        recorded_at: t0,
        actor: "bob".into(),
        kind: "amendment".into(),
        host: None,
        data: serde_json::json!({"target": "e3", "target_seq": 3,
            "text": "mailed the VM owners and the board: chat, wiki and mail are down until locuste takes them", "reason": "forgot the board"}),
        prev: String::new(),
    }]);
    app.apply_action(Action::SwitchPane);
    app.apply_action(Action::SelectPrevious);
    app.apply_action(Action::ShowEvent);
    assert!(
        matches!(&app.overlay, Some(vigie::tui::app::Overlay::Event { id, .. }) if id == "e3"),
        "{:?}",
        app.overlay
    );
    assert_every_size("event_whole", &app);
}

#[test]
fn a_long_output_scrolls_in_its_event() {
    let mut app = scripted_app();
    with_incident(&mut app);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap();
    let output: Vec<String> = (1..=80).map(|n| format!("restored file {n}")).collect();
    app.apply_timeline(vec![vigie::timeline::Event {
        seq: 4,
        id: "e4".into(),
        at: t0,
        recorded_at: t0,
        actor: "alice".into(),
        kind: "command.finished".into(),
        host: Some("backup".into()),
        data: serde_json::json!({"run": "r1", "step": "restore", "exit": 0, "ms": 5400, "output": output.join("\n")}),
        prev: String::new(),
    }]);
    app.apply_action(Action::SwitchPane);
    app.apply_action(Action::ShowEvent);
    for _ in 0..5 {
        app.handle_key(key(crossterm::event::KeyCode::Down));
    }
    app.handle_key(key(crossterm::event::KeyCode::PageDown));
    assert_every_size("event_scrolled", &app);
    let screen = format!("{:?}", render(&app, 80, 24).backend());
    assert!(screen.contains("lines 21–"), "{screen}");
    app.handle_key(key(crossterm::event::KeyCode::Esc));
    assert!(app.overlay.is_none());
}

#[test]
fn the_playbook_picker_filters_as_typed() {
    let mut app = scripted_app();
    with_incident(&mut app);
    with_catalog(&mut app);
    app.apply_action(Action::OpenPlaybook);
    type_text(&mut app, "repl");
    assert_every_size("playbook_picker_filtered", &app);
}

#[test]
fn quitting_during_a_run_asks_first() {
    let mut app = scripted_run_app();
    app.apply_action(Action::Quit);
    assert!(!app.should_quit);
    assert_every_size("quit_during_run", &app);
}

#[test]
fn faulty_only_and_a_note_being_typed() {
    let mut app = scripted_app();
    with_incident(&mut app);
    app.apply_action(Action::ToggleFaulty);
    app.apply_action(Action::Note);
    for c in "evacuating to locuste".chars() {
        app.handle_key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        ));
    }
    assert_every_size("faulty_only_note_typed", &app);
}

#[test]
fn a_note_of_several_lines_grows_the_prompt() {
    let mut app = scripted_app();
    with_incident(&mut app);
    app.apply_action(Action::Note);
    type_text(&mut app, "dmesg on miramelle before it died:");
    app.paste(
        "ata1: SATA link down\nI/O error, dev sda, sector 2048\nEXT4-fs error (device sda1): remounting read-only",
    );
    app.handle_key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Home,
        crossterm::event::KeyModifiers::NONE,
    ));
    assert_every_size("note_of_several_lines", &app);
}

#[test]
fn read_only_and_no_color() {
    let mut app = scripted_app();
    with_incident(&mut app);
    app.read_only = true;
    app.no_color = true;
    let terminal = render(&app, 120, 40);
    let buffer = terminal.backend().buffer();
    assert!(buffer
        .content
        .iter()
        .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset));
    let hint_bar: String = (0..120).map(|x| buffer[(x, 39)].symbol().to_string()).collect();
    assert!(!hint_bar.contains("note"), "{hint_bar}");
    assert!(hint_bar.contains("faulty only"), "{hint_bar}");
    // Meaning survives without colour: the glyphs are still there.
    let list: String = (0..40).map(|x| buffer[(x, 2)].symbol().to_string()).collect();
    assert!(list.contains('✖'), "{list}");
}

fn key(code: crossterm::event::KeyCode) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE)
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_key(key(crossterm::event::KeyCode::Char(c)));
    }
}

/// The sizes the cockpit must read well at: a small terminal, a laptop's,
/// a large screen's.
fn assert_every_size(name: &str, app: &App) {
    for (width, height) in [(80, 24), (120, 40), (200, 60)] {
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), render(app, width, height).backend());
    }
}

fn with_catalog(app: &mut App) {
    app.catalog = vigie::playbook::bundled::catalog(&Config::embedded_default());
}

#[test]
fn playbook_form_prefilled_from_an_alert() {
    let mut app = scripted_app();
    with_incident(&mut app);
    with_catalog(&mut app);
    let playbook = app
        .catalog
        .iter()
        .find(|p| p.id == "reset-login-lockout")
        .cloned()
        .unwrap();
    app.open_form(
        playbook,
        &[("host", "locuste".to_string()), ("user", "alice".to_string())],
        Some("suggested by: locuste: account alice locked after 12 failed logins (faillock)".into()),
    );
    assert_every_size("playbook_form", &app);
    app.handle_key(key(crossterm::event::KeyCode::Enter));
    assert!(
        matches!(&app.overlay, Some(vigie::tui::app::Overlay::Popup(_))),
        "{:?}",
        app.overlay
    );
    assert_every_size("start_popup", &app);
}

/// A run of repair-replication: step 1 done with its output (escape
/// sequences from the host made inert), step 2 high-risk, its popup open.
fn scripted_run(app: &mut App) {
    use vigie::playbook::driver::{Question, RunUpdate, StepState};
    with_incident(app);
    with_catalog(app);
    let playbook = app
        .catalog
        .iter()
        .find(|p| p.id == "repair-replication")
        .cloned()
        .unwrap();
    let inputs = [("replica", "locuste"), ("connection", ""), ("variant", "file-position")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    app.run = Some(vigie::tui::run_view::RunView::new(playbook, "run1".into(), inputs));
    app.focus = vigie::tui::app::Focus::Run;
    let updates = vec![
        RunUpdate::Step {
            step: 0,
            state: StepState::Running,
        },
        RunUpdate::CommandStarted {
            step: 0,
            target: "locuste".into(),
            item: None,
        },
        RunUpdate::Output {
            step: 0,
            item: None,
            line: "Last_SQL_Errno: 1594".into(),
        },
        RunUpdate::Output {
            step: 0,
            item: None,
            line: vigie::sanitize::one_line(
                "Relay_Master_Log_File: \u{1b}[31mmysql-bin.000001\u{1b}]0;pwned\u{7}\u{202e}",
            ),
        },
        RunUpdate::Output {
            step: 0,
            item: None,
            line: "Exec_Master_Log_Pos: 1234".into(),
        },
        RunUpdate::CommandEnded {
            step: 0,
            item: None,
            exit: Some(0),
            error: None,
            ms: 38,
        },
        RunUpdate::Step {
            step: 0,
            state: StepState::Done,
        },
        RunUpdate::Step {
            step: 1,
            state: StepState::Running,
        },
        RunUpdate::Question(Question::Confirm {
            step: 1,
            expected: "locuste".into(),
        }),
    ];
    for update in updates {
        app.apply_run_update(update);
    }
}

#[test]
fn playbook_run_waiting_for_a_high_risk_step() {
    let mut app = scripted_run_app();
    // Step 1 ended: its output stays until Enter goes on to step 2.
    assert_every_size("run_step_ended_output_kept", &app);
    app.apply_action(Action::Answer);
    type_text(&mut app, "locu");
    assert_every_size("run_high_risk_popup", &app);
    let focus = |app: &App| match &app.overlay {
        Some(vigie::tui::app::Overlay::Popup(popup)) => popup.focus,
        other => panic!("{other:?}"),
    };
    assert_eq!(focus(&app), 0, "Cancel, until the name is typed whole");
    type_text(&mut app, "ste");
    assert_eq!(focus(&app), 1, "the name typed: Run");
    app.handle_key(key(crossterm::event::KeyCode::Backspace));
    assert_eq!(focus(&app), 0, "spoiled: Cancel again");
    type_text(&mut app, "e");
    assert!(matches!(
        app.handle_key(key(crossterm::event::KeyCode::Enter)),
        Some(vigie::tui::app::Request::Answer(
            vigie::playbook::engine::RunEvent::Confirmed { .. }
        ))
    ));
}

fn scripted_run_app() -> App {
    let mut app = scripted_app();
    scripted_run(&mut app);
    app
}

#[test]
fn playbook_step_failed_offers_retry_skip_abort() {
    use vigie::playbook::driver::{Question, RunUpdate, StepState};
    let mut app = scripted_run_app();
    // The responder went on to step 2 (and ran it).
    app.run.as_mut().unwrap().view_step(1);
    for update in [
        RunUpdate::CommandStarted {
            step: 1,
            target: "locuste".into(),
            item: None,
        },
        RunUpdate::Output {
            step: 1,
            item: None,
            line: "ERROR 1200 (HY000): Misconfigured slave".into(),
        },
        RunUpdate::CommandEnded {
            step: 1,
            item: None,
            exit: Some(1),
            error: None,
            ms: 12,
        },
        RunUpdate::Step {
            step: 1,
            state: StepState::Failed,
        },
        RunUpdate::Question(Question::Recovery {
            step: 1,
            error: "exit 1".into(),
        }),
    ] {
        app.apply_run_update(update);
    }
    app.apply_action(Action::Answer);
    assert_every_size("run_recovery_popup", &app);
}

#[test]
fn command_palette_and_timeline_focus() {
    let mut app = scripted_app();
    with_incident(&mut app);
    app.apply_action(Action::Palette);
    type_text(&mut app, "s");
    assert_every_size("palette", &app);
    app.handle_key(key(crossterm::event::KeyCode::Esc));
    app.apply_action(Action::SwitchPane);
    app.apply_action(Action::SelectPrevious);
    assert_every_size("timeline_focused", &app);
}
