//! Markdown playbooks: the format (`format.rs`: parse and lint, with
//! positions for every problem). See `docs/playbook-format.md`.

pub mod bundled;
pub mod engine;
pub mod format;
pub mod run_lock;

pub use format::{parse, Playbook};
