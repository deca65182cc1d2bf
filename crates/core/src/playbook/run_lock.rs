//! A run is driven by one vigie at a time. The process driving it holds an
//! exclusive lock on `<incident>/runs/<run>.lock` until the run ends; the
//! kernel drops it when the process dies, however it dies. A run is offered
//! to be taken up only when nobody holds its lock: "stopped in the middle"
//! then means stopped, not driven by a cockpit on another terminal.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const RUNS_DIR: &str = "runs";

/// Held while a run is driven; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn lock_path(incident_dir: &Path, run: &str) -> PathBuf {
    // Run ids are ULIDs; anything else is kept to a safe file name.
    let name: String = run
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    incident_dir.join(RUNS_DIR).join(format!("{name}.lock"))
}

/// Takes the run's lock, or says that another process drives it.
pub fn hold(incident_dir: &Path, run: &str) -> Result<RunLock, String> {
    let path = lock_path(incident_dir, run);
    let dir = path.parent().unwrap_or(incident_dir);
    crate::files::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = crate::files::open_append(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor open for the lock's lifetime.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err("another vigie is driving this run right now (a cockpit or vigie run on this incident)".into());
    }
    Ok(RunLock { _file: file })
}

/// Whether a live process drives `run` now.
pub fn is_driven(incident_dir: &Path, run: &str) -> bool {
    let Ok(file) = File::open(lock_path(incident_dir, run)) else {
        return false;
    };
    // SAFETY: flock on a descriptor open for this call; released at once.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    !free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_driven_while_its_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_driven(dir.path(), "01RUN"));
        let lock = hold(dir.path(), "01RUN").unwrap();
        assert!(is_driven(dir.path(), "01RUN"));
        assert!(hold(dir.path(), "01RUN").is_err(), "one driver at a time");
        drop(lock);
        assert!(!is_driven(dir.path(), "01RUN"));
    }
}
