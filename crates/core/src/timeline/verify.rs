//! `vigie timeline verify`: every line an event, sequence without gaps, and
//! an unbroken hash chain. Names the first bad line.

use super::event::Event;
use super::store::{sha256_hex, GENESIS};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: u64,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
    /// Bytes after the last newline: a write that never completed.
    pub torn_tail: Option<u64>,
    /// Each complete line's hash, in order (to check an anchor against).
    pub hashes: Vec<String>,
}

impl Verification {
    /// What an anchor kept outside the file says of it: lines cut off its
    /// end, or a last event that is not the one this machine wrote.
    pub fn against(&self, anchor: &super::anchor::Anchor) -> Option<Problem> {
        if anchor.seq > self.events {
            let cut = anchor.seq - self.events;
            return Some(Problem {
                line: self.events + 1,
                message: format!(
                    "the timeline ends at event {} but this machine appended event {}: {cut} event(s) were cut off its end",
                    self.events, anchor.seq
                ),
            });
        }
        let index = anchor.seq.checked_sub(1)? as usize;
        (self.hashes.get(index) != Some(&anchor.hash)).then(|| Problem {
            line: anchor.seq,
            message: "this is not the event this machine appended here (it was replaced)".into(),
        })
    }
}

pub fn verify(path: &Path) -> std::io::Result<Verification> {
    let bytes = std::fs::read(path)?;
    Ok(verify_bytes(&bytes))
}

pub fn verify_bytes(bytes: &[u8]) -> Verification {
    let complete = bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let lines: Vec<&[u8]> = if complete == 0 {
        vec![]
    } else {
        bytes[..complete - 1].split(|b| *b == b'\n').collect()
    };
    let torn_tail = (complete < bytes.len()).then_some(lines.len() as u64 + 1);
    let hashes: Vec<String> = lines.iter().map(|l| sha256_hex(l)).collect();
    let mut ids = std::collections::HashSet::new();
    let mut problem = None;
    let mut last_seq = 0;

    for (index, raw) in lines.iter().enumerate() {
        let number = index as u64 + 1;
        let event: Event = match serde_json::from_slice(raw) {
            Ok(event) => event,
            Err(e) => {
                problem = Some(Problem {
                    line: number,
                    message: format!("not a valid event: {e}"),
                });
                break;
            }
        };
        // A deleted line leaves a gap in the sequence (and breaks the chain):
        // the gap says exactly which events are gone.
        if event.seq > last_seq + 1 {
            let missing = if event.seq == last_seq + 2 {
                format!("event {} is missing", last_seq + 1)
            } else {
                format!("events {} to {} are missing", last_seq + 1, event.seq - 1)
            };
            problem = Some(Problem {
                line: number,
                message: format!("{missing} before this line (deleted after they were written)"),
            });
            break;
        }
        last_seq = event.seq;
        let expected_prev = if index == 0 {
            GENESIS
        } else {
            hashes[index - 1].as_str()
        };
        if event.prev != expected_prev {
            problem = Some(chain_problem(&lines, &hashes, index));
            break;
        }
        if event.seq != number {
            problem = Some(Problem {
                line: number,
                message: format!("sequence number {} where {number} was expected", event.seq),
            });
            break;
        }
        if !ids.insert(event.id.clone()) {
            problem = Some(Problem {
                line: number,
                message: format!("duplicate event id {}", event.id),
            });
            break;
        }
    }
    Verification {
        events: lines.len() as u64,
        problem,
        torn_tail,
        hashes,
    }
}

/// Line `index`'s `prev` does not match the line before it. Either the line
/// before was edited (then only this link breaks), or this line was (then
/// its own hash changed too and the next link breaks as well).
fn chain_problem(lines: &[&[u8]], hashes: &[String], index: usize) -> Problem {
    let number = index as u64 + 1;
    let next_link_breaks = lines.get(index + 1).is_some_and(|next| {
        serde_json::from_slice::<Event>(next)
            .map(|e| e.prev != hashes[index])
            .unwrap_or(true)
    });
    if index == 0 || next_link_breaks {
        Problem {
            line: number,
            message: "this line was changed after it was written (hash chain broken)".into(),
        }
    } else {
        Problem {
            line: number - 1,
            message: format!("this line was changed after it was written: line {number} recorded another hash for it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{NewEvent, Timeline, TimelineOptions};

    fn sample(count: usize) -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut timeline = Timeline::open(dir.path(), TimelineOptions::new("t")).unwrap();
        for i in 0..count {
            timeline
                .append(NewEvent::new("note", serde_json::json!({"text": format!("note {i}")})))
                .unwrap();
        }
        let bytes = std::fs::read(timeline.path()).unwrap();
        (dir, bytes)
    }

    fn line_start(bytes: &[u8], line: usize) -> usize {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)
            .unwrap()
    }

    #[test]
    fn a_clean_timeline_verifies() {
        let (_dir, bytes) = sample(20);
        let v = verify_bytes(&bytes);
        assert_eq!((v.events, v.problem, v.torn_tail), (20, None, None));
    }

    #[test]
    fn an_edited_text_names_its_line() {
        let (_dir, mut bytes) = sample(20);
        let start = line_start(&bytes, 7);
        let note = start + bytes[start..].windows(6).position(|w| w == b"note 6").unwrap();
        bytes[note + 5] = b'9';
        assert_eq!(verify_bytes(&bytes).problem.unwrap().line, 7);
    }

    #[test]
    fn an_edited_prev_names_its_line() {
        let (_dir, mut bytes) = sample(20);
        let start = line_start(&bytes, 12);
        let prev = start + bytes[start..].windows(8).position(|w| w == b"\"prev\":\"").unwrap() + 8;
        bytes[prev] = if bytes[prev] == b'a' { b'b' } else { b'a' };
        assert_eq!(verify_bytes(&bytes).problem.unwrap().line, 12);
    }

    #[test]
    fn broken_json_and_torn_tails() {
        let (_dir, mut bytes) = sample(5);
        let start = line_start(&bytes, 3);
        bytes[start] = b'[';
        let v = verify_bytes(&bytes);
        assert_eq!(v.problem.as_ref().unwrap().line, 3);
        assert!(v.problem.unwrap().message.starts_with("not a valid event"));

        let (_dir, mut bytes) = sample(5);
        bytes.extend_from_slice(b"{\"seq\":6,");
        let v = verify_bytes(&bytes);
        assert_eq!((v.problem, v.torn_tail), (None, Some(6)));
    }
}
