//! The fleet journal on disk: `fleet-journal.jsonl` in the incidents
//! directory, one [`Record`] a line, shared by every watcher.
//!
//! Every change is made under an exclusive `flock` of a lock file beside
//! it: catch up with what others wrote, decide, append in one write,
//! `fdatasync`. The lock lives in its own file because compaction replaces
//! the journal (written aside, fsynced, renamed over it) and a lock on the
//! replaced file would lock nothing.

use super::occurrences::{Occurrences, Record};
use super::Observation;
use crate::timeline::store::FileLock;
use chrono::Utc;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const JOURNAL_FILE: &str = "fleet-journal.jsonl";
const LOCK_FILE: &str = "fleet-journal.lock";

/// Past this size the journal is rewritten with only what still matters.
const COMPACT_ABOVE: u64 = 4 * 1024 * 1024;
/// Closed occurrences kept by a compaction: long enough for any incident
/// still open to have recorded them.
const KEEP_CLOSED: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, thiserror::Error)]
#[error("fleet journal {}: {source}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    pub source: io::Error,
}

fn at_path(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError {
        path: path.to_path_buf(),
        source,
    }
}

/// Where our reading of the file stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ReadPosition {
    inode: u64,
    offset: u64,
}

pub struct Journal {
    path: PathBuf,
    lock: File,
    observer: String,
    state: Occurrences,
    position: ReadPosition,
    /// Complete lines that are not records (a newer vigie's, damage): skipped.
    skipped_lines: u64,
}

impl Journal {
    /// Opens the journal of incidents directory `dir` (creating both) and
    /// reads it. `observer` signs what this process records.
    pub fn open(dir: &Path, observer: &str) -> Result<Journal, JournalError> {
        crate::files::create_dir_all(dir).map_err(at_path(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = crate::files::open_append(&lock_path).map_err(at_path(&lock_path))?;
        let mut journal = Journal {
            path: dir.join(JOURNAL_FILE),
            lock,
            observer: observer.to_string(),
            state: Occurrences::default(),
            position: ReadPosition::default(),
            skipped_lines: 0,
        };
        journal.refresh()?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn occurrences(&self) -> &Occurrences {
        &self.state
    }

    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }

    /// Reads what other watchers recorded since our last look.
    pub fn refresh(&mut self) -> Result<(), JournalError> {
        let _lock = FileLock::shared(&self.lock).map_err(at_path(&self.path))?;
        self.catch_up().map(|_| ())
    }

    /// Records what `observation` changes and returns those records (none
    /// when another watcher already recorded the same change).
    pub fn observe(&mut self, observation: &Observation) -> Result<Vec<Record>, JournalError> {
        let _lock = FileLock::exclusive(&self.lock).map_err(at_path(&self.path))?;
        let mut file = self.catch_up()?;
        let records = self
            .state
            .reconcile(observation, &self.observer, || ulid::Ulid::new().to_string());
        if records.is_empty() {
            return Ok(records);
        }
        let file = match file.take() {
            Some(file) => file,
            None => self.create()?,
        };
        self.append(&file, &records)?;
        for record in records.clone() {
            self.state.apply(record);
        }
        if self.position.offset > COMPACT_ABOVE {
            self.compact()?;
        }
        Ok(records)
    }

    fn create(&mut self) -> Result<File, JournalError> {
        let file = crate::files::open_append(&self.path).map_err(at_path(&self.path))?;
        let inode = file.metadata().map_err(at_path(&self.path))?.ino();
        self.position = ReadPosition { inode, offset: 0 };
        Ok(file)
    }

    /// One write of whole lines, then fdatasync: a record is either all
    /// there or, if the writer died mid-write, a torn line `catch_up` cuts.
    fn append(&mut self, file: &File, records: &[Record]) -> Result<(), JournalError> {
        // A writer that died mid-line left a torn tail: cut it, or our
        // first line would be glued to it.
        let len = file.metadata().map_err(at_path(&self.path))?.len();
        if len > self.position.offset {
            file.set_len(self.position.offset).map_err(at_path(&self.path))?;
        }
        let bytes = lines(records);
        let mut writer = file;
        writer.write_all(&bytes).map_err(at_path(&self.path))?;
        file.sync_data().map_err(at_path(&self.path))?;
        self.position.offset += bytes.len() as u64;
        Ok(())
    }

    /// Brings the state up to date with the file; returns it open for
    /// appending when it exists. Must be called with the lock held.
    fn catch_up(&mut self) -> Result<Option<File>, JournalError> {
        let mut file = match crate::files::open_existing_append(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at_path(&self.path)(e)),
        };
        let metadata = file.metadata().map_err(at_path(&self.path))?;
        if metadata.ino() != self.position.inode || metadata.len() < self.position.offset {
            // Compacted (or replaced) by another watcher: read it anew.
            self.state = Occurrences::default();
            self.position = ReadPosition {
                inode: metadata.ino(),
                offset: 0,
            };
        }
        if metadata.len() == self.position.offset {
            return Ok(Some(file));
        }
        file.seek(SeekFrom::Start(self.position.offset))
            .map_err(at_path(&self.path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(at_path(&self.path))?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for line in bytes[..complete].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Record>(line) {
                Ok(record) => self.state.apply(record),
                Err(_) => self.skipped_lines += 1,
            }
        }
        self.position.offset += complete as u64;
        Ok(Some(file))
    }

    /// Rewrites the journal with the open occurrences and the recently
    /// closed ones: written aside, fsynced, renamed over, directory fsynced.
    fn compact(&mut self) -> Result<(), JournalError> {
        let records = self.state.compacted(Utc::now() - KEEP_CLOSED);
        let bytes = lines(&records);
        crate::files::write_atomically(&self.path, &bytes).map_err(at_path(&self.path))?;
        let inode = std::fs::metadata(&self.path).map_err(at_path(&self.path))?.ino();
        self.state = Occurrences::default();
        for record in records {
            self.state.apply(record);
        }
        self.position = ReadPosition {
            inode,
            offset: bytes.len() as u64,
        };
        Ok(())
    }
}

/// Records as the journal stores them: one JSON object a line.
fn lines(records: &[Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for record in records {
        // Plain data: serializing cannot fail.
        if let Ok(line) = serde_json::to_vec(record) {
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(host: &str, at: chrono::DateTime<Utc>) -> Observation {
        crate::fleet::observed(host, at, true)
    }

    #[test]
    fn two_watchers_share_one_occurrence_and_its_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut alice = Journal::open(dir.path(), "alice").unwrap();
        let mut bob = Journal::open(dir.path(), "bob").unwrap();
        let t0 = Utc::now();
        assert_eq!(alice.observe(&down("miramelle", t0)).unwrap().len(), 1);
        let later = t0 + chrono::Duration::seconds(3);
        assert!(bob.observe(&down("miramelle", later)).unwrap().is_empty());
        let open: Vec<_> = bob.occurrences().open_on("miramelle").collect();
        assert_eq!((open[0].raised, open[0].observer.as_str()), (t0, "alice"));
        // A restarted watcher reads the same.
        let carol = Journal::open(dir.path(), "carol").unwrap();
        assert_eq!(carol.occurrences().open_on("miramelle").count(), 1);
    }

    #[test]
    fn torn_and_foreign_lines_are_skipped_and_compaction_is_seen_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut alice = Journal::open(dir.path(), "alice").unwrap();
        let t0 = Utc::now();
        alice.observe(&down("a", t0)).unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"op\":\"from_the_future\"}\n{\"op\":\"rai").unwrap();
        let mut bob = Journal::open(dir.path(), "bob").unwrap();
        assert_eq!(bob.skipped_lines(), 1);
        assert_eq!(bob.occurrences().open().count(), 1);
        // The torn tail is cut before the next record.
        bob.observe(&down("b", t0)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().last().unwrap().starts_with("{\"op\":\"raised\""), "{text}");
        // Alice compacts; Bob notices the new file and reads it whole.
        alice.refresh().unwrap();
        alice.compact().unwrap();
        bob.refresh().unwrap();
        assert_eq!(bob.occurrences().open().count(), 2);
        assert!(bob
            .observe(&down("a", t0 + chrono::Duration::seconds(5)))
            .unwrap()
            .is_empty());
    }
}
