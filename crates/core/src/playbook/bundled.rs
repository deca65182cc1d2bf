//! Playbooks compiled into the binary, and finding a playbook by id or path.
//! A user playbook (in `playbooks_dir`) with the id of a bundled one wins.

use super::format::{parse, Playbook};
use crate::config::{Config, Diagnostic};
use std::path::{Path, PathBuf};

/// (file name, text) of every bundled playbook.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "evacuate-hypervisor.md",
        include_str!("../../../../playbooks/evacuate-hypervisor.md"),
    ),
    (
        "consolidate-snapshots.md",
        include_str!("../../../../playbooks/consolidate-snapshots.md"),
    ),
    (
        "reset-login-lockout.md",
        include_str!("../../../../playbooks/reset-login-lockout.md"),
    ),
    (
        "repair-replication.md",
        include_str!("../../../../playbooks/repair-replication.md"),
    ),
    (
        "datastore-full.md",
        include_str!("../../../../playbooks/datastore-full.md"),
    ),
    (
        "restore-lost-lvm-volume.md",
        include_str!("../../../../playbooks/restore-lost-lvm-volume.md"),
    ),
    (
        "verify-backups.md",
        include_str!("../../../../playbooks/verify-backups.md"),
    ),
];

/// A playbook and the text it was parsed from.
pub struct Loaded {
    pub playbook: Playbook,
    pub text: String,
}

/// `name` is a file path (contains '/' or ends in .md) or a playbook id.
pub fn find(config: &Config, name: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let path = Path::new(name);
    if name.contains('/') || name.ends_with(".md") {
        return load_file(path);
    }
    if let Some(dir) = &config.settings.playbooks_dir {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect();
            files.sort();
            for file in files {
                if let Ok(loaded) = load_file(&file) {
                    if loaded.playbook.id == name {
                        return Ok(loaded);
                    }
                }
            }
        }
    }
    for (file, text) in BUNDLED {
        let (playbook, problems) = parse(Path::new(&format!("playbooks/{file}")), text);
        if let Some(playbook) = playbook.filter(|p| p.id == name) {
            if !problems.is_empty() {
                return Err(problems);
            }
            return Ok(Loaded {
                playbook,
                text: text.to_string(),
            });
        }
    }
    let known: Vec<&str> = BUNDLED.iter().map(|(f, _)| f.trim_end_matches(".md")).collect();
    Err(vec![Diagnostic::whole_file(
        path,
        format!("no playbook {name:?} (bundled: {})", known.join(", ")),
    )])
}

/// Every playbook that can be opened: the bundled ones, then those of
/// `playbooks_dir` (one with a bundled id replaces it). Files that do not
/// parse are left out here; `vigie check` names their problems.
pub fn catalog(config: &Config) -> Vec<Playbook> {
    let mut playbooks: Vec<Playbook> = BUNDLED
        .iter()
        .filter_map(|(file, text)| parse(Path::new(&format!("playbooks/{file}")), text).0)
        .collect();
    if let Some(dir) = &config.settings.playbooks_dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        files.sort();
        for loaded in files.iter().filter_map(|f| load_file(f).ok()) {
            playbooks.retain(|p| p.id != loaded.playbook.id);
            playbooks.push(loaded.playbook);
        }
    }
    playbooks.sort_by(|a, b| a.id.cmp(&b.id));
    playbooks
}

fn load_file(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Diagnostic::whole_file(path, format!("cannot read the playbook: {e}"))])?;
    let (playbook, problems) = parse(path, &text);
    match playbook {
        Some(playbook) if problems.is_empty() => Ok(Loaded { playbook, text }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_playbooks_is_bundled() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut bundled: Vec<String> = BUNDLED.iter().map(|(f, _)| f.to_string()).collect();
        bundled.sort();
        assert_eq!(files, bundled);
    }

    #[test]
    fn every_bundled_playbook_passes_the_linter() {
        // An inventory where the host inputs resolve; targets are inputs.
        let config = Config::embedded_default();
        for (file, text) in BUNDLED {
            let path = PathBuf::from(format!("playbooks/{file}"));
            let (playbook, mut problems) = parse(&path, text);
            let playbook = playbook.unwrap_or_else(|| panic!("{file}: {problems:?}"));
            problems.extend(super::super::format::lint(&playbook, &config, text));
            assert!(
                problems.is_empty(),
                "{file}:\n{}",
                problems.iter().map(|p| p.to_string()).collect::<String>()
            );
            assert_eq!(format!("{}.md", playbook.id), *file, "the file is named after the id");
        }
    }
}
