//! Login lockouts: `faillock` (pam_faillock) or `pam_tally2`, whichever the
//! host has. Reports accounts with failures, where they came from, and
//! whether the account is locked now.

use super::model::Lockout;
use super::shell::quote;
use chrono::{FixedOffset, NaiveDateTime, TimeZone};

/// The `lockouts` section. `faillock_dir` overrides where tallies live.
/// faillock.conf is read by the shell itself, and `faillock` runs only
/// where there is a tally to read: on a quiet host, no program starts.
pub fn script(faillock_dir: Option<&str>) -> String {
    // pam_faillock makes its tally directory at the first failed login: where
    // it does not exist yet nobody has failed, and faillock's "Error reading
    // tally directory" means no lockouts. A directory vigie.toml names is read
    // even so: a wrong name is an error to see.
    let (named, find_dir) = match faillock_dir {
        Some(dir) => (true, format!("vigie_tallies={}\n", quote(dir))),
        None => (
            false,
            "vigie_tallies=$vigie_conf_dir\n\
             [ -n \"$vigie_tallies\" ] || vigie_tallies=/var/run/faillock\n\
             [ -d \"$vigie_tallies\" ] || vigie_tallies=\n"
                .to_string(),
        ),
    };
    // A named directory that is missing or unreadable goes to faillock, for its error.
    let unreadable = if named {
        " || [ ! -d \"$vigie_tallies\" ] || [ ! -r \"$vigie_tallies\" ]"
    } else {
        " || [ ! -r \"$vigie_tallies\" ]"
    };
    format!(
        "echo '@@vigie lockouts'\n\
         if command -v faillock >/dev/null 2>&1; then echo tool=faillock\n\
         {FAILLOCK_CONF}\
         {find_dir}\
         if [ -n \"$vigie_tallies\" ]; then set -- \"$vigie_tallies\"/*\n\
         if [ -e \"$1\" ]{unreadable}; then vigie_clock=1; vigie_err faillock --dir \"$vigie_tallies\"; fi; fi\n\
         elif command -v pam_tally2 >/dev/null 2>&1; then echo tool=pam_tally2; vigie_clock=1\n\
         grep -rhs pam_tally2 /etc/pam.d 2>/dev/null | grep -o 'deny=[0-9]*' | head -n 1 | sed 's/^/conf=/'\n\
         vigie_err pam_tally2\n\
         else echo tool=none; fi\n"
    )
}

/// faillock.conf read line by line by the shell: `deny`, `unlock_time` and
/// `fail_interval` printed as `conf=deny = 3`, the last `dir` kept in
/// `$vigie_conf_dir`. Comments and other keys are skipped.
const FAILLOCK_CONF: &str = r#"vigie_conf_dir=
while IFS= read -r vigie_line || [ -n "$vigie_line" ]; do
vigie_key=${vigie_line#"${vigie_line%%[![:space:]]*}"}
vigie_name=${vigie_key%%[[:space:]=]*}
vigie_rest=${vigie_key#"$vigie_name"}
vigie_rest=${vigie_rest#"${vigie_rest%%[![:space:]]*}"}
case $vigie_rest in =*) ;; *) continue ;; esac
case $vigie_name in
deny|unlock_time|fail_interval) echo "conf=$vigie_name =${vigie_rest#=}" ;;
dir) vigie_rest=${vigie_rest#=}; vigie_conf_dir=${vigie_rest#"${vigie_rest%%[![:space:]]*}"} ;;
esac
done 2>/dev/null < /etc/security/faillock.conf
"#;

/// faillock's defaults (faillock.conf(5)).
const DEFAULT_DENY: u32 = 3;
const DEFAULT_UNLOCK_TIME: i64 = 600;
const DEFAULT_FAIL_INTERVAL: i64 = 900;

/// Parses the section; `now` and `offset` come from the host's clock.
pub fn parse(section: &str, now: i64, offset: FixedOffset) -> Vec<Lockout> {
    // What faillock says on stderr (a tally it cannot read) is reported
    // apart (`probe::parse`); the tallies are read from its output.
    let (section, _) = super::split_stderr(section);
    let mut lines = section.lines();
    let tool = lines
        .next()
        .and_then(|l| l.strip_prefix("tool="))
        .unwrap_or("none")
        .to_string();
    let rest: Vec<&str> = lines.collect();
    let conf = |key: &str| -> Option<i64> {
        rest.iter().filter_map(|l| l.strip_prefix("conf=")).find_map(|c| {
            let (k, v) = c.split_once('=')?;
            (k.trim() == key).then(|| v.trim().parse().ok()).flatten()
        })
    };
    match tool.as_str() {
        "faillock" => {
            let policy = Policy {
                deny: conf("deny").map(|d| d as u32).unwrap_or(DEFAULT_DENY),
                unlock_time: conf("unlock_time").unwrap_or(DEFAULT_UNLOCK_TIME),
                fail_interval: conf("fail_interval").unwrap_or(DEFAULT_FAIL_INTERVAL),
            };
            parse_faillock(&rest, now, offset, policy)
        }
        "pam_tally2" => parse_pam_tally2(&rest, offset, conf("deny").map(|d| d as u32)),
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    deny: u32,
    unlock_time: i64,
    fail_interval: i64,
}

/// ```text
/// alice:
/// When                Type  Source                                           Valid
/// 2026-11-23 21:10:21 RHOST 192.0.2.7                                            V
/// ```
fn parse_faillock(lines: &[&str], now: i64, offset: FixedOffset, policy: Policy) -> Vec<Lockout> {
    struct Failure {
        at: Option<i64>,
        source: String,
        valid: bool,
    }
    let mut users: Vec<(String, Vec<Failure>)> = Vec::new();
    for line in lines.iter().filter(|l| !l.starts_with("conf=")) {
        if let Some(user) = line.strip_suffix(':').filter(|u| !u.contains(' ')) {
            users.push((user.to_string(), Vec::new()));
            continue;
        }
        if line.starts_with("When") || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let at = NaiveDateTime::parse_from_str(&format!("{} {}", fields[0], fields[1]), "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|t| offset.from_local_datetime(&t).single())
            .map(|t| t.timestamp());
        let valid = fields.last() == Some(&"V");
        let source = fields[3..fields.len() - usize::from(fields.len() > 4)].join(" ");
        if let Some((_, failures)) = users.last_mut() {
            failures.push(Failure { at, source, valid });
        }
    }
    users
        .into_iter()
        .filter(|(_, failures)| !failures.is_empty())
        .map(|(user, failures)| {
            let latest = failures.iter().filter_map(|f| f.at).max();
            // Valid failures inside the fail interval count towards the lock.
            let recent = failures
                .iter()
                .filter(|f| f.valid && f.at.is_some_and(|at| now - at <= policy.fail_interval))
                .count() as u32;
            let still_locked = policy.unlock_time == 0 || latest.is_some_and(|l| now - l < policy.unlock_time);
            Lockout {
                user,
                tool: "faillock".into(),
                failures: failures.len() as u32,
                locked: recent >= policy.deny && still_locked,
                sources: by_frequency(failures.iter().map(|f| f.source.clone())),
                latest,
            }
        })
        .collect()
}

/// ```text
/// Login           Failures Latest failure     From
/// root              139    11/23/26 19:30:01  192.0.2.7
/// ```
fn parse_pam_tally2(lines: &[&str], offset: FixedOffset, deny: Option<u32>) -> Vec<Lockout> {
    lines
        .iter()
        .filter(|l| !l.starts_with("conf=") && !l.starts_with("Login"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let failures: u32 = fields.get(1)?.parse().ok()?;
            let latest = match (fields.get(2), fields.get(3)) {
                (Some(date), Some(time)) => {
                    NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%m/%d/%y %H:%M:%S")
                        .ok()
                        .and_then(|t| offset.from_local_datetime(&t).single())
                        .map(|t| t.timestamp())
                }
                _ => None,
            };
            Some(Lockout {
                user: fields[0].to_string(),
                tool: "pam_tally2".into(),
                failures,
                // Without a deny= in the PAM config pam_tally2 never locks.
                locked: deny.is_some_and(|d| d > 0 && failures >= d),
                sources: fields.get(4).map(|s| vec![s.to_string()]).unwrap_or_default(),
                latest,
            })
        })
        .filter(|l| l.failures > 0)
        .collect()
}

fn by_frequency(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(s, _)| *s == item) {
            Some((_, n)) => *n += 1,
            None => counts.push((item, 1)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts.into_iter().map(|(s, _)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::split_sections;

    /// The shell's own reading of faillock.conf against the `sed` lines
    /// it replaced, on the same file: the same lines, the same `dir`.
    #[test]
    fn faillock_conf_is_read_as_sed_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("faillock.conf");
        std::fs::write(
            &conf,
            "# deny = 9\n  deny = 3\nunlock_time=600\n\tfail_interval   =  900  \ndenyx = 4\n\
             dir = /var/lib/faillock  \ndir=/run/fl2\nsilent\n# dir = /nope\n",
        )
        .unwrap();
        let path = conf.display().to_string();
        let ours = FAILLOCK_CONF.replace("/etc/security/faillock.conf", &path) + "echo \"dir=[$vigie_conf_dir]\"\n";
        let sed = format!(
            "sed -n 's/^[[:space:]]*\\(deny\\|unlock_time\\|fail_interval\\)[[:space:]]*=/conf=\\1 =/p' {path}; \
             echo \"dir=[$(sed -n 's/^[[:space:]]*dir[[:space:]]*=[[:space:]]*//p' {path} | tail -n 1)]\""
        );
        let run = |script: &str| {
            let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(run(&ours), run(&sed));
        assert!(run(&ours).contains("conf=deny = 3"), "{}", run(&ours));
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    #[test]
    fn real_faillock_output_shows_a_locked_account() {
        let text = include_str!("../../../../tests/fixtures/probe/faillock-debian12.txt");
        let sections = split_sections(text);
        let now = 1795468235;
        let lockouts = parse(sections["lockouts"], now, utc());
        assert_eq!(lockouts.len(), 1);
        let l = &lockouts[0];
        assert_eq!((l.user.as_str(), l.failures, l.locked), ("vigie-lockout", 3, true));
        assert_eq!(l.sources, vec!["vigie-lockout-test".to_string()]);
        // Ten minutes after the last failure the lock has expired.
        let later = parse(sections["lockouts"], l.latest.unwrap() + 601, utc());
        assert!(!later[0].locked);
    }

    #[test]
    fn pam_tally2_counts_against_deny() {
        let text = include_str!("../../../../tests/fixtures/probe/pam_tally2-synthetic-esxi.txt");
        let sections = split_sections(text);
        let lockouts = parse(sections["lockouts"], 1795468235, utc());
        assert_eq!(lockouts.len(), 2);
        assert_eq!(
            (lockouts[0].user.as_str(), lockouts[0].failures, lockouts[0].locked),
            ("root", 139, true)
        );
        assert_eq!(lockouts[0].sources, vec!["192.0.2.7".to_string()]);
        assert!(!lockouts[1].locked);
    }

    #[test]
    fn no_tool_or_no_failures_means_no_lockouts() {
        assert!(parse("tool=none\n", 0, utc()).is_empty());
        assert!(parse(
            "tool=faillock\nalice:\nWhen                Type  Source   Valid\n",
            0,
            utc()
        )
        .is_empty());
    }
}
