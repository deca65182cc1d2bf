//! vigie's core: everything that decides, with no network, no terminal and
//! no async runtime. The inventory (`config`), the status model and its
//! alerts, the probe script and its parsers, the timeline and its typed
//! events, playbooks (format and the pure engine), the post-mortem. The
//! crate depends on neither ssh2, tokio, ratatui nor crossterm: the build
//! refuses it (see `scripts/test`).

pub mod alerts;
pub mod capacity;
pub mod config;
pub mod files;
pub mod fleet;
pub mod format;
pub mod incident;
pub mod keys;
pub mod playbook;
pub mod probe;
pub mod report;
pub mod sanitize;
pub mod secret;
pub mod status;
pub mod status_json;
pub mod sync;
pub mod timeline;
pub mod transport_error;
