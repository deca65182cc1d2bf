//! vigie: a terminal incident-response cockpit.
//!
//! See `ARCHITECTURE.md` for where things live and how data flows.

pub mod alerts;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod format;
pub mod incident;
pub mod playbook;
pub mod poller;
pub mod probe;
pub mod report;
pub mod sanitize;
pub mod status;
pub mod status_json;
pub mod timeline;
pub mod transport;
pub mod tui;
