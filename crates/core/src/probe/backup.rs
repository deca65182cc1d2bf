//! Backups with restic or borg: the age of the latest snapshot of each
//! configured repository, and whether each essential path is in it. Both
//! tools exit 0 when a path is missing, so presence is judged by the listing:
//! no entry is a missing path, whatever the exit code says.

use super::model::Backup;
use super::shell::quote;
use crate::config::{BackupConfig, BackupTool};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::Deserialize;

/// One `backup/<n>` section per configured repository.
pub fn script(backups: &[BackupConfig]) -> String {
    let mut script = String::new();
    for (index, backup) in backups.iter().enumerate() {
        let repo = quote(&backup.repo);
        script.push_str(&format!(
            "echo '@@vigie backup/{index}'; printf 'tool=%s\\nrepo=%s\\n' {} {repo}\n",
            backup.tool.as_str()
        ));
        match backup.tool {
            BackupTool::Restic => {
                let password = backup
                    .password_file
                    .as_deref()
                    .map(|f| format!("RESTIC_PASSWORD_FILE={} ", quote(f)))
                    .unwrap_or_default();
                script.push_str(&format!(
                    "( vigie_err env {password}restic --no-lock -r {repo} snapshots --json --latest 1; echo\n"
                ));
                for path in &backup.essential {
                    let path = quote(path);
                    script.push_str(&format!(
                        "printf '@@path %s\\n' {path}; {password}restic --no-lock -r {repo} ls --json latest {path} 2>/dev/null | grep -c '\"struct_type\":\"node\"'\n"
                    ));
                }
                script.push_str(")\n");
            }
            BackupTool::Borg => {
                let password = backup
                    .password_file
                    .as_deref()
                    .map(|f| format!("BORG_PASSCOMMAND={} ", quote(&format!("cat {}", quote(f)))))
                    .unwrap_or_default();
                script.push_str(&format!(
                    "( export BORG_RELOCATED_REPO_ACCESS_IS_OK=no BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no\n\
                     vigie_err env {password}borg list --json --last 1 {repo}\n\
                     a=$({password}borg list --short --last 1 {repo} 2>/dev/null)\n"
                ));
                for path in &backup.essential {
                    // borg stores paths without the leading slash.
                    let stored = quote(path.trim_start_matches('/'));
                    script.push_str(&format!(
                        "printf '@@path %s\\n' {}; if [ -n \"$a\" ]; then {password}borg list --short {repo}::\"$a\" {stored} 2>/dev/null | grep -c .; else echo 0; fi\n",
                        quote(path)
                    ));
                }
                script.push_str(")\n");
            }
        }
    }
    script
}

#[derive(Deserialize)]
struct ResticSnapshot {
    time: String,
    #[serde(default)]
    short_id: Option<String>,
}

#[derive(Deserialize)]
struct BorgList {
    archives: Vec<BorgArchive>,
}

#[derive(Deserialize)]
struct BorgArchive {
    name: String,
    time: String,
}

/// Parses one `backup/<n>` section. `offset` is the host's UTC offset (borg
/// writes local times without one).
pub fn parse(section: &str, config: &BackupConfig, offset: FixedOffset) -> Backup {
    let mut backup = Backup {
        tool: config.tool.as_str().to_string(),
        repo: config.repo.clone(),
        password_file: config.password_file.clone(),
        max_age_s: config.max_age.as_secs(),
        ..Backup::default()
    };
    let body: Vec<&str> = section
        .lines()
        .skip_while(|l| l.starts_with("tool=") || l.starts_with("repo="))
        .collect();
    let listing_end = body.iter().position(|l| l.starts_with("@@path ")).unwrap_or(body.len());
    // The tool's warnings and errors came apart from its JSON (`vigie_err`).
    let (listing, listing_stderr) = super::split_stderr(&body[..listing_end].join("\n"));
    let latest = match config.tool {
        BackupTool::Restic => serde_json::from_str::<Vec<ResticSnapshot>>(listing.trim()).map(|snapshots| {
            snapshots
                .into_iter()
                .filter_map(|s| {
                    Some((
                        DateTime::parse_from_rfc3339(&s.time).ok()?.timestamp(),
                        s.short_id.unwrap_or_default(),
                    ))
                })
                .max_by_key(|(t, _)| *t)
        }),
        BackupTool::Borg => serde_json::from_str::<BorgList>(listing.trim()).map(|list| {
            list.archives
                .into_iter()
                .filter_map(|a| {
                    let local = NaiveDateTime::parse_from_str(&a.time, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
                    Some((offset.from_local_datetime(&local).single()?.timestamp(), a.name))
                })
                .max_by_key(|(t, _)| *t)
        }),
    };
    match latest {
        Ok(Some((time, id))) => {
            backup.latest = Some(time);
            backup.latest_id = Some(id);
        }
        Ok(None) => backup.error = Some("the repository has no snapshot".into()),
        Err(_) => backup.error = Some(super::why_unreadable(&listing, &listing_stderr)),
    }
    let mut lines = body[listing_end..].iter();
    while let Some(line) = lines.next() {
        let Some(path) = line.strip_prefix("@@path ") else {
            continue;
        };
        let entries: u64 = lines.next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        if entries == 0 && backup.latest.is_some() {
            backup.missing_paths.push(path.to_string());
        }
    }
    backup
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(tool: BackupTool, repo: &str, essential: &[&str]) -> BackupConfig {
        BackupConfig {
            tool,
            repo: repo.into(),
            password_file: None,
            essential: essential.iter().map(|s| s.to_string()).collect(),
            max_age: Duration::from_secs(26 * 3600),
        }
    }

    fn section(fixture: &str) -> &str {
        fixture.split_once('\n').unwrap().1
    }

    #[test]
    fn restic_latest_snapshot_lacks_an_essential_path() {
        let text = include_str!("../../../../tests/fixtures/probe/restic-0.14-missing-path.txt");
        let c = config(BackupTool::Restic, "/tmp/rst/repo", &["/tmp/bk/etc", "/tmp/bk/www"]);
        let b = parse(section(text), &c, FixedOffset::east_opt(0).unwrap());
        assert_eq!(b.error, None);
        assert_eq!(b.latest_id.as_deref(), Some("9d873a0c"), "the newest of the groups");
        assert_eq!(
            b.latest,
            Some(
                DateTime::parse_from_rfc3339("2026-11-23T21:11:58.603381722Z")
                    .unwrap()
                    .timestamp()
            )
        );
        assert_eq!(b.missing_paths, vec!["/tmp/bk/www".to_string()]);
    }

    #[test]
    fn borg_exits_zero_on_a_missing_path_and_is_not_believed() {
        let text = include_str!("../../../../tests/fixtures/probe/borg-1.2-missing-path.txt");
        let c = config(BackupTool::Borg, "/tmp/brg", &["/tmp/bk/etc", "/tmp/bk/www"]);
        let b = parse(section(text), &c, FixedOffset::east_opt(3600).unwrap());
        assert_eq!(b.latest_id.as_deref(), Some("first"));
        assert_eq!(
            b.latest,
            Some(
                DateTime::parse_from_rfc3339("2026-11-23T20:12:12Z")
                    .unwrap()
                    .timestamp()
            )
        );
        assert_eq!(b.missing_paths, vec!["/tmp/bk/www".to_string()]);
    }

    #[test]
    fn a_broken_repository_is_an_error_not_a_missing_path() {
        let text = "tool=restic\nrepo=/r\nFatal: unable to open config file: stat /r/config: no such file or directory\n\n@@path /etc\n0\n";
        let b = parse(
            text,
            &config(BackupTool::Restic, "/r", &["/etc"]),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert!(b.error.unwrap().starts_with("Fatal: unable to open config file"));
        assert!(b.missing_paths.is_empty());
        // As the probe prints it now: the error on stderr, apart.
        let apart = "tool=restic\nrepo=/r\n@@stderr Fatal: unable to open config file\n\n@@path /etc\n0\n";
        let b = parse(
            apart,
            &config(BackupTool::Restic, "/r", &["/etc"]),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert_eq!(b.error.as_deref(), Some("Fatal: unable to open config file"));
        // A warning beside good JSON changes nothing.
        let warned = "tool=restic\nrepo=/r\n[{\"time\":\"2026-11-23T21:11:57Z\",\"short_id\":\"ab\"}]\n@@stderr warning: cache is old\n";
        let b = parse(
            warned,
            &config(BackupTool::Restic, "/r", &[]),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert_eq!((b.error, b.latest_id.as_deref()), (None, Some("ab")));
        let empty = parse(
            "tool=restic\nrepo=/r\n[]\n",
            &config(BackupTool::Restic, "/r", &[]),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert_eq!(empty.error.as_deref(), Some("the repository has no snapshot"));
    }
}
