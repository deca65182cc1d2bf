//! Appending to and following `timeline.jsonl`, safely across processes.
//!
//! Every append: take an exclusive `flock` on the file, catch up with what
//! other processes appended (reading only the last line), set aside a torn
//! last line if a writer died mid-write, write the new line in one write,
//! `fdatasync`, release. The caller learns of the event only once it is durable.

use super::event::{kinds, Event, NewEvent};
use super::redact::Redactor;
use super::TORN_FILE;
use chrono::{SubsecRound, Utc};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `prev` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Default cap for command output stored in one event.
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;

/// Fields of `data` holding command output, capped on append.
const OUTPUT_FIELDS: &[&str] = &["output", "stdout", "stderr"];

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}:{line}: {message}", path.display())]
    Corrupt { path: PathBuf, line: u64, message: String },
    #[error("invalid event kind {0:?}: use a known kind or custom.<name>")]
    InvalidKind(String),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TimelineError + '_ {
    move |source| TimelineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct TimelineOptions {
    /// Who appends: `alice` or `alice@bastion`.
    pub actor: String,
    pub redactor: Redactor,
    pub output_cap: usize,
    /// This machine shares its incidents with others (`sync_remotes`): an
    /// incident written to is made shared first ([`super::sources::share`]).
    pub share: bool,
}

impl TimelineOptions {
    pub fn new(actor: impl Into<String>) -> TimelineOptions {
        TimelineOptions {
            actor: actor.into(),
            redactor: Redactor::default(),
            output_cap: DEFAULT_OUTPUT_CAP,
            share: false,
        }
    }
}

/// What we know of the end of the file, as of our last look.
#[derive(Debug, Clone, Default)]
struct Tail {
    len: u64,
    last_seq: u64,
    last_hash: String,
    known: bool,
}

/// The ids of every event in the file, read incrementally, for appends
/// that must happen once (`append_once`).
#[derive(Debug, Default)]
struct IdIndex {
    scanned: u64,
    ids: std::collections::HashSet<String>,
}

/// What is known of the incident's other event files (other writers',
/// in a shared incident), read as they grow: the highest event number in
/// them, for this writer's next, and their ids, for `append_once`.
#[derive(Debug, Default)]
struct OtherFiles {
    followers: Vec<Follower>,
    max_seq: u64,
    ids: std::collections::HashSet<String>,
}

impl OtherFiles {
    /// Reads what the other files gained since the last look.
    fn refresh(&mut self, dir: &Path, own: &Path) -> Result<(), TimelineError> {
        for file in super::sources::event_files(dir) {
            if file != own && !self.followers.iter().any(|f| f.path() == file) {
                self.followers.push(Follower::from_start(&file));
            }
        }
        for follower in &mut self.followers {
            for event in follower.poll()? {
                self.max_seq = self.max_seq.max(event.seq);
                self.ids.insert(event.id);
            }
            // Damage in another writer's file is theirs to see (verify names it).
            follower.take_damaged();
        }
        Ok(())
    }
}

/// An open timeline, for appending. One per process is plenty.
pub struct Timeline {
    /// The incident directory.
    dir: PathBuf,
    /// The file this writer appends to: `timeline.jsonl`, or its own
    /// `events/<writer>.jsonl` once the incident is shared.
    path: PathBuf,
    others: OtherFiles,
    file: File,
    options: TimelineOptions,
    tail: Tail,
    ids: Option<IdIndex>,
    /// Where this machine's anchor for the timeline is kept (found once).
    anchor: PathBuf,
}

impl Timeline {
    /// Opens (creating if needed) the timeline of incident directory `dir`,
    /// setting aside a torn last line.
    pub fn open(dir: &Path, options: TimelineOptions) -> Result<Timeline, TimelineError> {
        share_if_asked(dir, &options)?;
        let path = super::sources::own_file(dir, &options.actor);
        let file = open_event_file(&path)?;
        let anchor = super::anchor::location(&path);
        let mut timeline = Timeline {
            dir: dir.to_path_buf(),
            path,
            others: OtherFiles::default(),
            file,
            options,
            tail: Tail::default(),
            ids: None,
            anchor,
        };
        {
            let _lock = FileLock::exclusive(&timeline.file).map_err(io_error(&timeline.path))?;
            timeline.catch_up()?;
        }
        Ok(timeline)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The incident directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn redactor_mut(&mut self) -> &mut Redactor {
        &mut self.options.redactor
    }

    pub fn actor(&self) -> &str {
        &self.options.actor
    }

    /// Appends `new` and returns the stored event once it is on disk.
    pub fn append(&mut self, new: NewEvent) -> Result<Event, TimelineError> {
        if !kinds::is_valid(&new.kind) {
            return Err(TimelineError::InvalidKind(new.kind));
        }
        let _lock = self.lock_for_append()?;
        self.write(new)
    }

    /// Takes the lock and learns everything the next event depends on:
    /// which file is this writer's, its end, and the other writers' files.
    fn lock_for_append(&mut self) -> Result<FileLock, TimelineError> {
        self.follow_sharing()?;
        let lock = FileLock::exclusive(&self.file).map_err(io_error(&self.path))?;
        self.catch_up()?;
        self.others.refresh(&self.dir, &self.path)?;
        Ok(lock)
    }

    /// The incident became shared since it was opened (`vigie sync`): from
    /// now on this writer appends to a file of its own.
    fn follow_sharing(&mut self) -> Result<(), TimelineError> {
        share_if_asked(&self.dir, &self.options)?;
        let own = super::sources::own_file(&self.dir, &self.options.actor);
        if own != self.path {
            self.file = open_event_file(&own)?;
            self.anchor = super::anchor::location(&own);
            self.path = own;
            self.tail = Tail::default();
            self.ids = None;
            self.others = OtherFiles::default();
        }
        Ok(())
    }

    /// Appends `new`, whose id is fixed, unless an event with that id is
    /// already in the file: several processes recording the same thing
    /// (every watcher sees the same alert) record it once. The check and
    /// the write happen under the same lock. `None` when it was there.
    pub fn append_once(&mut self, new: NewEvent) -> Result<Option<Event>, TimelineError> {
        if !kinds::is_valid(&new.kind) {
            return Err(TimelineError::InvalidKind(new.kind));
        }
        let Some(id) = new.id.clone() else {
            return self.append(new).map(Some);
        };
        let _lock = self.lock_for_append()?;
        if self.others.ids.contains(&id) || self.scan_ids()?.contains(&id) {
            return Ok(None);
        }
        let event = self.write(new)?;
        if let Some(index) = self.ids.as_mut() {
            index.ids.insert(id);
        }
        Ok(Some(event))
    }

    /// Reads the ids of the lines appended since the last scan (every line,
    /// the first time). Must be called with the lock held, after `catch_up`.
    fn scan_ids(&mut self) -> Result<&std::collections::HashSet<String>, TimelineError> {
        let index = self.ids.get_or_insert_with(IdIndex::default);
        if index.scanned > self.tail.len {
            // The file was cut (a torn line set aside): read it all again.
            *index = IdIndex::default();
        }
        if index.scanned < self.tail.len {
            #[derive(serde::Deserialize)]
            struct JustTheId {
                id: String,
            }
            let mut bytes = vec![0u8; (self.tail.len - index.scanned) as usize];
            self.file
                .seek(SeekFrom::Start(index.scanned))
                .and_then(|_| self.file.read_exact(&mut bytes))
                .map_err(io_error(&self.path))?;
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(event) = serde_json::from_slice::<JustTheId>(line) {
                    index.ids.insert(event.id);
                }
            }
            index.scanned = self.tail.len;
        }
        Ok(&index.ids)
    }

    /// Builds and writes the event. Must be called with the lock held, after `catch_up`.
    fn write(&mut self, new: NewEvent) -> Result<Event, TimelineError> {
        let event = self.build(new);
        let mut line = serde_json::to_vec(&event).map_err(|e| TimelineError::Corrupt {
            path: self.path.clone(),
            line: event.seq,
            message: format!("cannot serialize the event: {e}"),
        })?;
        let hash = sha256_hex(&line);
        line.push(b'\n');
        // One write on an O_APPEND file, under the lock, then fdatasync.
        self.file.write_all(&line).map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        self.tail.len += line.len() as u64;
        let before = super::anchor::Anchor {
            seq: self.tail.last_seq,
            hash: self.tail.last_hash.clone(),
        };
        super::anchor::remember(&self.anchor, &before, event.seq, &hash);
        self.tail.last_seq = event.seq;
        self.tail.last_hash = hash;
        Ok(event)
    }

    fn build(&self, new: NewEvent) -> Event {
        let redactor = &self.options.redactor;
        let mut data = new.data;
        redactor.redact_data(&mut data);
        cap_outputs(&mut data, self.options.output_cap);
        // Stored with millisecond precision: the returned event equals the stored one.
        let recorded_at = Utc::now().trunc_subsecs(3);
        Event {
            // One more than any number this writer has seen, in its file or
            // another's: numbers grow along the timeline on every machine.
            seq: self.tail.last_seq.max(self.others.max_seq) + 1,
            id: new.id.unwrap_or_else(|| ulid::Ulid::new().to_string()),
            at: new.at.map(|at| at.trunc_subsecs(3)).unwrap_or(recorded_at),
            recorded_at,
            // Names, not free text: a secret that happens to be part of a
            // host's name must not hide which host it was.
            actor: new.actor.unwrap_or_else(|| self.options.actor.clone()),
            kind: new.kind,
            host: new.host,
            data,
            prev: self.tail.last_hash.clone(),
        }
    }

    /// Brings `tail` up to date with the file (other writers, torn lines).
    /// Must be called with the lock held.
    fn catch_up(&mut self) -> Result<(), TimelineError> {
        let len = self.file.metadata().map_err(io_error(&self.path))?.len();
        if self.tail.known && len == self.tail.len {
            return Ok(());
        }
        let (complete_len, last_line) = read_last_line(&mut self.file, len).map_err(io_error(&self.path))?;
        if complete_len < len {
            self.set_aside_torn(complete_len, len)?;
        }
        self.tail = match last_line {
            None => Tail {
                len: complete_len,
                last_seq: 0,
                last_hash: GENESIS.to_string(),
                known: true,
            },
            Some(line) => {
                let event: Event = serde_json::from_slice(&line).map_err(|e| TimelineError::Corrupt {
                    path: self.path.clone(),
                    // Counted only here, on the way to an error: the last line's number.
                    line: count_lines(&self.path, complete_len),
                    message: format!(
                        "the last line is not a valid event ({e}); nothing was appended: run `vigie timeline verify`"
                    ),
                })?;
                Tail {
                    len: complete_len,
                    last_seq: event.seq,
                    last_hash: sha256_hex(&line),
                    known: true,
                }
            }
        };
        Ok(())
    }

    /// Moves the bytes after the last newline to `timeline.jsonl.torn`.
    fn set_aside_torn(&mut self, complete_len: u64, len: u64) -> Result<(), TimelineError> {
        set_aside_torn(&mut self.file, &self.path, complete_len, len)
    }
}

/// Moves the bytes of the event file `file` (at `path`, locked by the
/// caller) after its last complete line (`complete_len` of `len`) to
/// `<file>.torn` beside it, then cuts the file back to its complete lines.
pub fn set_aside_torn(file: &mut File, path: &Path, complete_len: u64, len: u64) -> Result<(), TimelineError> {
    let mut torn = vec![0u8; (len - complete_len) as usize];
    file.seek(SeekFrom::Start(complete_len)).map_err(io_error(path))?;
    file.read_exact(&mut torn).map_err(io_error(path))?;
    // `timeline.jsonl.torn`, `events/alice@laptop.jsonl.torn`: beside its file.
    let torn_name = match path.file_name() {
        Some(name) => format!("{}.torn", name.to_string_lossy()),
        None => TORN_FILE.to_string(),
    };
    let torn_path = path.with_file_name(torn_name);
    let mut aside = crate::files::open_append(&torn_path).map_err(io_error(&torn_path))?;
    torn.push(b'\n');
    aside
        .write_all(&torn)
        .and_then(|_| aside.sync_data())
        .map_err(io_error(&torn_path))?;
    // Only once the bytes are safe elsewhere is the main file cut back.
    file.set_len(complete_len)
        .and_then(|_| file.sync_data())
        .map_err(io_error(path))?;
    Ok(())
}

/// Makes `dir` shared first when this machine shares its incidents
/// (`options.share`) and it is not yet.
fn share_if_asked(dir: &Path, options: &TimelineOptions) -> Result<(), TimelineError> {
    if options.share && !super::sources::is_shared(dir) {
        super::sources::share(dir, &options.actor)?;
    }
    Ok(())
}

/// Opens (creating if needed) an event file for appending: private (or
/// shared with the incidents group), never through a symlink.
fn open_event_file(path: &Path) -> Result<File, TimelineError> {
    let created = !path.exists();
    if let Some(parent) = path.parent().filter(|p| !p.exists()) {
        crate::files::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let file = crate::files::open_append(path).map_err(io_error(path))?;
    crate::files::check_owner(path, &file).map_err(io_error(path))?;
    if created {
        // The new directory entry must survive a power cut too.
        if let Some(parent) = path.parent() {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io_error(parent))?;
        }
    }
    Ok(file)
}

/// The number of lines in the first `len` bytes of the file at `path`.
fn count_lines(path: &Path, len: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut bytes = Vec::new();
    if file.take(len).read_to_end(&mut bytes).is_err() {
        return 0;
    }
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Caps long output fields, recording their full length.
fn cap_outputs(data: &mut serde_json::Value, cap: usize) {
    let Some(map) = data.as_object_mut() else {
        return;
    };
    for field in OUTPUT_FIELDS {
        let Some(serde_json::Value::String(text)) = map.get_mut(*field) else {
            continue;
        };
        if text.len() <= cap {
            continue;
        }
        // A size recorded already (what the host wrote beyond what the transport kept) stays.
        let recorded = map.get(&format!("{field}_bytes")).and_then(|v| v.as_u64()).unwrap_or(0);
        let Some(serde_json::Value::String(text)) = map.get_mut(*field) else {
            continue;
        };
        let full = (text.len() as u64).max(recorded);
        let mut cut = cap;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        map.insert(format!("{field}_bytes"), serde_json::json!(full));
        map.insert(format!("{field}_truncated"), serde_json::json!(true));
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Returns the length up to and including the last newline, and the last
/// complete line (without its newline), reading backwards from the end only.
fn read_last_line(file: &mut File, len: u64) -> io::Result<(u64, Option<Vec<u8>>)> {
    const CHUNK: u64 = 64 * 1024;
    // `window` holds the bytes from `start` to the end of the file.
    let mut window: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        match window.iter().rposition(|b| *b == b'\n') {
            Some(last_newline) => {
                let complete_len = start + last_newline as u64 + 1;
                if let Some(previous) = window[..last_newline].iter().rposition(|b| *b == b'\n') {
                    return Ok((complete_len, Some(window[previous + 1..last_newline].to_vec())));
                }
                if start == 0 {
                    return Ok((complete_len, Some(window[..last_newline].to_vec())));
                }
            }
            None if start == 0 => return Ok((0, None)),
            None => {}
        }
        let new_start = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - new_start) as usize];
        file.seek(SeekFrom::Start(new_start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&window);
        window = chunk;
        start = new_start;
    }
}

/// An exclusive `flock` held until dropped. Holds the raw descriptor so
/// the file stays usable while locked; the guard never outlives the file.
pub struct FileLock {
    fd: std::os::fd::RawFd,
}

impl FileLock {
    pub fn exclusive(file: &File) -> io::Result<FileLock> {
        FileLock::take(file, libc::LOCK_EX)
    }

    /// Readers share it; a writer waits for them to finish.
    pub(crate) fn shared(file: &File) -> io::Result<FileLock> {
        FileLock::take(file, libc::LOCK_SH)
    }

    fn take(file: &File, operation: libc::c_int) -> io::Result<FileLock> {
        let fd = file.as_raw_fd();
        loop {
            // SAFETY: flock on a descriptor that is open for the guard's lifetime.
            let rc = unsafe { libc::flock(fd, operation) };
            if rc == 0 {
                return Ok(FileLock { fd });
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor locked in `exclusive`, still open.
        unsafe {
            libc::flock(self.fd, libc::LOCK_UN);
        }
    }
}

/// Reads every complete event of a timeline file. A torn last line (no
/// newline yet) is not an event and is left out.
pub fn read_all(path: &Path) -> Result<Vec<Event>, TimelineError> {
    Ok(read_all_with_damage(path)?.0)
}

/// [`read_all`], with the lines that are not events (skipped, everything else kept).
pub fn read_all_with_damage(path: &Path) -> Result<(Vec<Event>, Vec<DamagedLine>), TimelineError> {
    let mut follower = Follower::from_start(path);
    let events = follower.poll()?;
    Ok((events, follower.take_damaged()))
}

/// A line of the timeline that is not an event: skipped by every reader
/// (the rest of the incident stays readable), named for `vigie timeline verify`.
#[derive(Debug, Clone, PartialEq)]
pub struct DamagedLine {
    /// The event file, as named in the incident directory
    /// (`timeline.jsonl`, `events/alice@laptop.jsonl`).
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for DamagedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: skipped, {}", self.file, self.line, self.message)
    }
}

/// `timeline.jsonl`, or `events/alice@laptop.jsonl`: a file as the incident names it.
pub fn incident_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.parent().and_then(|p| p.file_name()) {
        Some(parent) if parent == super::sources::EVENTS_DIR => format!("{}/{name}", super::sources::EVENTS_DIR),
        _ => name,
    }
}

/// Follows a timeline: each `poll` returns the events appended since the
/// last one, reading only the new bytes.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    /// Its name in the incident, for damage reports.
    file: String,
    offset: u64,
    line: u64,
    damaged: Vec<DamagedLine>,
    /// The last sequence number read: a line that repeats an earlier event
    /// (a copy, an edit) is damage, not a second event.
    last_seq: u64,
}

impl Follower {
    pub fn from_start(path: &Path) -> Follower {
        Follower {
            file: incident_file_name(path),
            path: path.to_path_buf(),
            offset: 0,
            line: 0,
            damaged: Vec::new(),
            last_seq: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The damaged lines met since the last call.
    pub fn take_damaged(&mut self) -> Vec<DamagedLine> {
        std::mem::take(&mut self.damaged)
    }

    pub fn poll(&mut self) -> Result<Vec<Event>, TimelineError> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_error(&self.path)(e)),
        };
        let len = file.metadata().map_err(io_error(&self.path))?.len();
        if len < self.offset {
            // Only a torn partial line is ever cut; we never consumed it.
            self.offset = len;
        }
        if len == self.offset {
            return Ok(vec![]);
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io_error(&self.path))?;
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        file.take(len - self.offset)
            .read_to_end(&mut bytes)
            .map_err(io_error(&self.path))?;
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(vec![]),
        };
        let mut events = Vec::new();
        for raw in bytes[..complete - 1].split(|b| *b == b'\n') {
            self.line += 1;
            match serde_json::from_slice::<Event>(raw) {
                Ok(event) if event.seq <= self.last_seq => self.damaged.push(DamagedLine {
                    file: self.file.clone(),
                    line: self.line,
                    message: format!(
                        "event #{} again, after #{}: a copied or edited line (run `vigie timeline verify`)",
                        event.seq, self.last_seq
                    ),
                }),
                Ok(event) => {
                    self.last_seq = event.seq;
                    events.push(event);
                }
                // One damaged line does not take the incident with it.
                Err(e) => self.damaged.push(DamagedLine {
                    file: self.file.clone(),
                    line: self.line,
                    message: format!("not a valid event ({e}): run `vigie timeline verify`"),
                }),
            }
        }
        self.offset += complete as u64;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TIMELINE_FILE;
    use serde_json::json;

    fn open(dir: &Path) -> Timeline {
        Timeline::open(dir, TimelineOptions::new("alice@bastion")).unwrap()
    }

    #[test]
    fn appends_chain_and_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        let first = timeline.append(NewEvent::new("note", json!({"text": "one"}))).unwrap();
        let second = timeline
            .append(NewEvent::new("note", json!({"text": "two"})).on_host("locuste"))
            .unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev, GENESIS);
        let text = std::fs::read_to_string(timeline.path()).unwrap();
        let first_line = text.lines().next().unwrap();
        assert_eq!(second.prev, sha256_hex(first_line.as_bytes()));
        assert!(first_line.starts_with(r#"{"seq":1,"id":""#), "{first_line}");
        assert_eq!(read_all(timeline.path()).unwrap(), vec![first, second]);
    }

    #[test]
    fn two_handles_interleave_without_losing_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = open(dir.path());
        let mut b = open(dir.path());
        for i in 0..10 {
            let t = if i % 3 == 0 { &mut a } else { &mut b };
            t.append(NewEvent::new("note", json!({"text": i}))).unwrap();
        }
        let events = read_all(a.path()).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_torn_last_line_is_set_aside_and_the_chain_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        let first = timeline.append(NewEvent::new("note", json!({"text": "kept"}))).unwrap();
        let path = timeline.path().to_path_buf();
        drop(timeline);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":2,"id":"01J","at":"2026-"#).unwrap();
        drop(f);
        assert_eq!(read_all(&path).unwrap().len(), 1, "readers ignore the torn tail");

        let mut timeline = open(dir.path());
        let torn = std::fs::read_to_string(dir.path().join(TORN_FILE)).unwrap();
        assert!(torn.starts_with(r#"{"seq":2,"id":"01J""#));
        let next = timeline
            .append(NewEvent::new("note", json!({"text": "after"})))
            .unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(next.prev, sha256_hex(serde_json::to_string(&first).unwrap().as_bytes()));
    }

    #[test]
    fn last_line_is_found_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        let big = "x".repeat(200_000);
        timeline.options.output_cap = 1_000_000;
        timeline.append(NewEvent::new("note", json!({"output": big}))).unwrap();
        let second = timeline.append(NewEvent::new("note", json!({"output": big}))).unwrap();
        let mut reopened = open(dir.path());
        assert_eq!(reopened.append(NewEvent::new("note", json!({}))).unwrap().prev, {
            let text = std::fs::read_to_string(reopened.path()).unwrap();
            let line = text.lines().nth(1).unwrap().to_string();
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap().id, second.id);
            sha256_hex(line.as_bytes())
        });
    }

    #[test]
    fn outputs_are_capped_with_their_full_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        timeline.options.output_cap = 10;
        let event = timeline
            .append(NewEvent::new(
                "command.finished",
                json!({"output": "é".repeat(20), "exit": 0}),
            ))
            .unwrap();
        assert_eq!(event.data["output"].as_str().unwrap().len(), 10);
        assert_eq!(event.data["output_bytes"], 40);
        assert_eq!(event.data["output_truncated"], true);
    }

    #[test]
    fn an_event_with_a_fixed_id_is_appended_once_across_handles() {
        let dir = tempfile::tempdir().unwrap();
        let mut alice = open(dir.path());
        let mut bob = open(dir.path());
        let event =
            || NewEvent::new(kinds::ALERT_RAISED, serde_json::json!({"code": "unreachable"})).with_id("01FIXED");
        assert!(alice.append_once(event()).unwrap().is_some());
        assert!(
            bob.append_once(event()).unwrap().is_none(),
            "bob sees alice's line under the lock"
        );
        alice
            .append(NewEvent::new(kinds::NOTE, serde_json::json!({"text": "x"})))
            .unwrap();
        assert!(alice.append_once(event()).unwrap().is_none());
        let events = read_all(&dir.path().join(TIMELINE_FILE)).unwrap();
        assert_eq!(events.iter().filter(|e| e.id == "01FIXED").count(), 1);
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        assert!(matches!(
            timeline.append(NewEvent::new("bogus", json!({}))),
            Err(TimelineError::InvalidKind(_))
        ));
        assert_eq!(std::fs::metadata(timeline.path()).unwrap().len(), 0);
    }

    #[test]
    fn follower_reads_only_new_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = open(dir.path());
        let mut follower = Follower::from_start(timeline.path());
        assert!(follower.poll().unwrap().is_empty());
        timeline.append(NewEvent::new("note", json!({"text": "a"}))).unwrap();
        assert_eq!(follower.poll().unwrap().len(), 1);
        assert!(follower.poll().unwrap().is_empty());
        timeline.append(NewEvent::new("note", json!({"text": "b"}))).unwrap();
        timeline.append(NewEvent::new("note", json!({"text": "c"}))).unwrap();
        let events = follower.poll().unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    }
}
