//! vigie: a terminal incident-response cockpit.
//!
//! The code lives in the workspace's layer crates (see `ARCHITECTURE.md`):
//! `vigie-core` (decisions, no IO runtime), `vigie-transport` (reaching hosts),
//! `vigie-runtime` (polling and runs on tokio), `vigie-cockpit` (the TUI).
//! This crate is the command line, and re-exports the layers under the
//! names the rest of the tree uses.

pub use vigie_cockpit as tui;
pub use vigie_core::{
    alerts, capacity, config, files, format, incident, keys, probe, report, sanitize, status, status_json,
    transport_error,
};
pub use vigie_runtime::poller;
pub use vigie_transport as transport;

/// Playbooks: the format and engine (core) with the driver and line runner (runtime).
pub mod playbook {
    pub use vigie_core::playbook::*;
    pub use vigie_runtime::{driver, runner};
}

/// The timeline (core) with its async writer (runtime).
pub mod timeline {
    pub use vigie_core::timeline::*;
    pub use vigie_runtime::writer;
}

pub mod cli;
