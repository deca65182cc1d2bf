//! `vigie timeline verify`: every line an event, sequence without gaps (in
//! a writer's own file of a shared incident, always growing: the numbers
//! count across writers), and an unbroken hash chain. Names the first bad line.

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
    /// Each complete line's event number, in order.
    pub seqs: Vec<u64>,
    /// Numbered 1, 2, 3... (`timeline.jsonl`), not only growing (a writer's file).
    pub consecutive: bool,
}

impl Verification {
    /// What an anchor kept outside the file says of it: lines cut off its
    /// end, or a last event that is not the one this machine wrote.
    pub fn against(&self, anchor: &super::anchor::Anchor) -> Option<Problem> {
        let last = self.seqs.last().copied().unwrap_or(0);
        if anchor.seq > last {
            // In a writer's file the numbers between are often others'.
            let cut = match self.consecutive {
                true => format!("{} event(s)", anchor.seq - last),
                false => "event(s)".to_string(),
            };
            return Some(Problem {
                line: self.events + 1,
                message: format!(
                    "the file ends at event {last} but this machine appended event {}: {cut} were cut off its end",
                    anchor.seq
                ),
            });
        }
        let index = self.seqs.iter().position(|s| *s == anchor.seq);
        let line = index.map(|i| i as u64 + 1).unwrap_or(self.events);
        (index.and_then(|i| self.hashes.get(i)) != Some(&anchor.hash)).then(|| Problem {
            line,
            message: "this is not the event this machine appended here (it was replaced)".into(),
        })
    }
}

/// Verifies the event file at `path`: a writer's own file of a shared
/// incident (under `events/`) by its rules, any other as `timeline.jsonl`.
pub fn verify(path: &Path) -> std::io::Result<Verification> {
    let bytes = std::fs::read(path)?;
    let own_file = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == super::sources::EVENTS_DIR);
    Ok(if own_file {
        verify_writer_bytes(&bytes)
    } else {
        verify_bytes(&bytes)
    })
}

/// The lines of `timeline.jsonl`: numbered 1, 2, 3... without a gap.
pub fn verify_bytes(bytes: &[u8]) -> Verification {
    verify_lines(bytes, Numbering::Consecutive)
}

/// The lines of one writer's file: numbers that only grow (the others'
/// events take the numbers between).
pub fn verify_writer_bytes(bytes: &[u8]) -> Verification {
    verify_lines(bytes, Numbering::Growing)
}

#[derive(Clone, Copy, PartialEq)]
enum Numbering {
    Consecutive,
    Growing,
}

fn verify_lines(bytes: &[u8], numbering: Numbering) -> Verification {
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
        if numbering == Numbering::Growing && event.seq <= last_seq {
            problem = Some(Problem {
                line: number,
                message: format!("event number {} after {last_seq}: numbers only grow", event.seq),
            });
            break;
        }
        if numbering == Numbering::Consecutive && event.seq > last_seq + 1 {
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
        if numbering == Numbering::Consecutive && event.seq != number {
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
    let seqs = lines
        .iter()
        .map(|l| serde_json::from_slice::<Event>(l).map(|e| e.seq).unwrap_or(0))
        .collect();
    Verification {
        events: lines.len() as u64,
        problem,
        torn_tail,
        hashes,
        seqs,
        consecutive: numbering == Numbering::Consecutive,
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
    fn a_writers_file_has_gaps_where_the_others_wrote() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(crate::timeline::sources::EVENTS_DIR)).unwrap();
        let mut alice = Timeline::open(dir.path(), TimelineOptions::new("alice@a")).unwrap();
        let mut bob = Timeline::open(dir.path(), TimelineOptions::new("bob@b")).unwrap();
        for i in 0..3 {
            let text = serde_json::json!({ "text": format!("note {i}") });
            alice.append(NewEvent::new("note", text.clone())).unwrap();
            bob.append(NewEvent::new("note", text)).unwrap();
        }
        let v = verify(alice.path()).unwrap();
        assert_eq!((v.seqs.clone(), v.problem), (vec![1, 3, 5], None));
        assert!(
            verify_bytes(&std::fs::read(alice.path()).unwrap()).problem.is_some(),
            "not a timeline.jsonl"
        );
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
