//! Carrying out what the core decides, on the tokio runtime: polling every
//! host (`poller`), driving a playbook run through its own transports
//! (`driver`, with `runner` its line front-end), and appending to the
//! timeline from async code (`writer`).

pub mod driver;
pub mod fleet;
pub mod poller;
pub mod runner;
pub mod sync;

/// `println!` for a run's own output: a reader that went away (`| head`)
/// must not stop the run (the timeline has everything), so a failed write is
/// ignored instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` of a prompt, flushed, failures ignored as [`say!`] does.
#[macro_export]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, $($arg)*);
        let _ = out.flush();
    }};
}
pub mod writer;

/// Why a playbook run stopped without finishing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the playbook stopped without finishing")]
    Stopped,
    /// Nothing runs unrecorded: the run stops at the first failed append.
    #[error("the timeline could not be written, the run stops: {0}")]
    TimelineWrite(String),
    #[error("no host {0:?} in the inventory")]
    UnknownTarget(String),
    #[error("left at a prompt; `vigie run` offers to take the run up again")]
    LeftAtPrompt,
    #[error("step {step} needs --confirm {target} to run without a human")]
    NeedsConfirm { step: usize, target: String },
    #[error("no answer on standard input")]
    NoAnswer,
    #[error("cannot read the answer: {0}")]
    Input(String),
    /// Another process holds the run (see `playbook::run_lock`).
    #[error("{0}")]
    Driven(String),
}
