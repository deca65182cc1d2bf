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

/// Takes the run's lock, or says that another process drives it. The lock
/// file then says who drives it (`holder`: `alice@bastion, pid 4242`), for
/// the others to tell where the run is going on.
pub fn hold(incident_dir: &Path, run: &str, holder: &str) -> Result<RunLock, String> {
    let path = lock_path(incident_dir, run);
    let dir = path.parent().unwrap_or(incident_dir);
    crate::files::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut file = crate::files::open_append(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor open for the lock's lifetime.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let by = driven_by(incident_dir, run).unwrap_or_else(|| "another vigie".into());
        return Err(format!(
            "{by} is driving this run right now (a cockpit or vigie run on this incident)"
        ));
    }
    // Who holds it, for the others; a failure to say so costs nothing.
    use std::io::Write;
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", crate::sanitize::one_line(holder)));
    Ok(RunLock { _file: file })
}

/// Whether a live process drives `run` now.
pub fn is_driven(incident_dir: &Path, run: &str) -> bool {
    driven_by(incident_dir, run).is_some()
}

/// Who drives `run` now, as its lock file says (`alice@bastion, pid
/// 4242`); `None` when nobody does.
pub fn driven_by(incident_dir: &Path, run: &str) -> Option<String> {
    let path = lock_path(incident_dir, run);
    let file = File::open(&path).ok()?;
    // SAFETY: flock on a descriptor open for this call; released at once.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        return None;
    }
    let said = std::fs::read_to_string(&path).unwrap_or_default();
    let said = crate::sanitize::one_line(said.trim());
    Some(if said.is_empty() { "another vigie".into() } else { said })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_driven_while_its_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_driven(dir.path(), "01RUN"));
        let lock = hold(dir.path(), "01RUN", "alice@bastion, pid 1").unwrap();
        assert_eq!(driven_by(dir.path(), "01RUN").as_deref(), Some("alice@bastion, pid 1"));
        assert!(
            hold(dir.path(), "01RUN", "alice@bastion, pid 1").is_err(),
            "one driver at a time"
        );
        drop(lock);
        assert!(!is_driven(dir.path(), "01RUN"));
    }
}
