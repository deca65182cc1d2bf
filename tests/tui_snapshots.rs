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
    insta::assert_snapshot!(render(&app, 100, 30).backend());
}

#[test]
fn shell_with_a_healthy_host_selected() {
    let mut app = scripted_app();
    app.apply_action(Action::SelectNext);
    insta::assert_snapshot!(render(&app, 100, 30).backend());
}

#[test]
fn help_overlay() {
    let mut app = scripted_app();
    app.apply_action(Action::ToggleHelp);
    insta::assert_snapshot!(render(&app, 100, 30).backend());
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
        include_str!("fixtures/probe/proxmox-8-cluster.txt")
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
    insta::assert_snapshot!(render(&app, 120, 40).backend());
}
