//! Carrying out what the core decides, on the tokio runtime: polling every
//! host (`poller`), driving a playbook run through its own transports
//! (`driver`, with `runner` its line front-end), and appending to the
//! timeline from async code (`writer`).

pub mod driver;
pub mod poller;
pub mod runner;
pub mod writer;
