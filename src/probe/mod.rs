//! Probes: the shell script sent to a host in one round trip, and pure parsers
//! of its sectioned output. Nothing here does IO, so every parser is tested on
//! captured real output (`tests/fixtures/probe/`).

pub mod linux;

use std::collections::HashMap;

/// The whole probe script for a host. Later drivers append their sections.
pub fn probe_script() -> String {
    linux::SCRIPT.to_string()
}

/// Marker that starts a section: `@@vigie <name>`.
const SECTION_MARKER: &str = "@@vigie ";

/// Splits probe output into named sections. Text before the first marker is ignored.
pub fn split_sections(output: &str) -> HashMap<&str, &str> {
    let mut sections = HashMap::new();
    let mut current: Option<(&str, usize)> = None;
    let mut offset = 0;
    for line in output.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = trimmed.strip_prefix(SECTION_MARKER) {
            if let Some((previous, start)) = current.take() {
                sections.insert(previous, &output[start..offset]);
            }
            current = Some((name.trim(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((previous, start)) = current {
        sections.insert(previous, &output[start..]);
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_split_by_marker() {
        let out = "junk\n@@vigie a\n1\n2\n@@vigie b\n@@vigie c\nx\n";
        let s = split_sections(out);
        assert_eq!(s["a"], "1\n2\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "x\n");
        assert!(!s.contains_key("junk"));
    }
}
