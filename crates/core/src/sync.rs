//! What sharing incidents across machines decides, without touching git or
//! the network (the runtime's `sync` does that): where a remote is, how an
//! incident's writer is named in a git repository, and what to do when this
//! machine's copy of a writer's file and the copies found elsewhere differ.
//!
//! The model (`docs/timeline.md`): every writer appends to a file of its
//! own, so every copy of that file anywhere is a prefix of the writer's
//! latest. Two copies where neither is a prefix of the other cannot come
//! from one writer appending: that is reported and nothing is written.

/// One `sync_remotes` entry: a bare git repository reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// An inventory host name, or an ssh destination (`[user@]host[:port]`, a Host alias).
    pub host: String,
    /// The repository's path on that host (`~/` and relative paths are from the login's home).
    pub path: String,
}

impl RemoteSpec {
    /// `HOST:PATH`, or `ssh://[user@]host[:port]/path`.
    pub fn parse(text: &str) -> Result<RemoteSpec, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("ssh://") {
            let (host, path) = rest
                .split_once('/')
                .ok_or_else(|| format!("{text:?} names no path: ssh://HOST/PATH"))?;
            return RemoteSpec::checked(host, &format!("/{path}"), text);
        }
        // `[::1]:path`: the address is bracketed, the path follows it.
        let split = if text.starts_with('[') {
            text.find("]:").map(|i| (&text[..=i], &text[i + 2..]))
        } else {
            text.split_once(':')
        };
        let (host, path) = split.ok_or_else(|| format!("{text:?} is not HOST:PATH (e.g. backup:/srv/vigie.git)"))?;
        RemoteSpec::checked(host, path, text)
    }

    fn checked(host: &str, path: &str, text: &str) -> Result<RemoteSpec, String> {
        if host.is_empty() {
            return Err(format!("{text:?} names no host: HOST:PATH"));
        }
        if path.is_empty() || path == "/" {
            return Err(format!("{text:?} names no path: HOST:PATH"));
        }
        if host.starts_with('-') || path.starts_with('-') {
            return Err(format!("{text:?}: a host or path may not begin with '-'"));
        }
        if host.chars().chain(path.chars()).any(|c| c.is_control()) {
            return Err(format!("{text:?} holds a control character"));
        }
        Ok(RemoteSpec {
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// As written in vigie.toml.
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.path)
    }
}

/// The branch that holds one writer's file of one incident:
/// `refs/heads/<incident>/<writer>`. Both names must be plain file names
/// that git accepts in a ref; `None` otherwise (the name is not shared).
pub fn branch(incident: &str, writer: &str) -> Option<String> {
    (is_ref_safe(incident) && is_ref_safe(writer)).then(|| format!("refs/heads/{incident}/{writer}"))
}

/// The incident and writer of a branch found in a repository (under
/// `prefix`, e.g. `refs/remotes/backup/`): refs of any other shape, or
/// with names that could be paths, are not ours and are skipped.
pub fn parse_branch<'a>(prefix: &str, refname: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = refname.strip_prefix(prefix)?;
    let (incident, writer) = rest.split_once('/')?;
    (is_ref_safe(incident) && is_ref_safe(writer)).then_some((incident, writer))
}

/// A name that is one safe path component and one valid git ref component:
/// letters, digits, `.`, `_`, `-`, `@`; not hidden, no `..`, no `.lock` or
/// `.` at its end, no `@{`.
pub fn is_ref_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && !name.starts_with('.')
        && !name.starts_with('-')
        && !name.contains("..")
        && !name.ends_with('.')
        && !name.ends_with(".lock")
        && name != "@"
}

/// The bytes of `content` up to its last newline: a line still being
/// written (or cut by a crash) is not part of the file yet.
pub fn complete_lines(content: &[u8]) -> &[u8] {
    match content.iter().rposition(|&b| b == b'\n') {
        Some(last) => &content[..=last],
        None => &[],
    }
}

/// The lines (events) in `bytes`: its newlines.
pub fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// What one writer's file needs on this machine, given its copy here and
/// the copies elsewhere (this machine's last commit and each remote's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconcile {
    /// Every copy is the same, or a prefix of this machine's, which is committed
    /// when it is longer than every other copy.
    Publish { longer_than_all: bool },
    /// Candidate `from` (an index into the candidates) has lines this machine
    /// lacks; these bytes (whole lines) are to be appended here.
    Append { from: usize, lines: Vec<u8> },
    /// Two copies that no appending writer could have made: candidate `with`
    /// disagrees with this machine's copy (or with the longest candidate).
    Diverged { with: usize },
}

/// Decides what [`Reconcile`] the local copy `local` (complete lines only)
/// needs against `candidates`.
pub fn reconcile(local: &[u8], candidates: &[&[u8]]) -> Reconcile {
    let local = complete_lines(local);
    // The longest copy anywhere; every other must be its prefix.
    let mut longest: Option<usize> = None;
    for (index, candidate) in candidates.iter().enumerate() {
        if longest.is_none_or(|l| candidate.len() > candidates[l].len()) {
            longest = Some(index);
        }
    }
    let Some(longest) = longest.filter(|&l| candidates[l].len() > local.len()) else {
        // This machine's copy is the longest: every other copy is its prefix.
        return match candidates.iter().position(|c| !local.starts_with(c)) {
            Some(with) => Reconcile::Diverged { with },
            None => Reconcile::Publish {
                longer_than_all: !local.is_empty() && candidates.iter().all(|c| c.len() < local.len()),
            },
        };
    };
    let top = candidates[longest];
    if !top.starts_with(local) {
        return Reconcile::Diverged { with: longest };
    }
    if let Some(with) = candidates.iter().position(|c| !top.starts_with(c)) {
        return Reconcile::Diverged { with };
    }
    Reconcile::Append {
        from: longest,
        lines: top[local.len()..].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_are_host_and_path() {
        let spec = RemoteSpec::parse("backup:/srv/vigie.git").unwrap();
        assert_eq!((spec.host.as_str(), spec.path.as_str()), ("backup", "/srv/vigie.git"));
        let spec = RemoteSpec::parse("ops@10.0.0.5:vigie.git").unwrap();
        assert_eq!((spec.host.as_str(), spec.path.as_str()), ("ops@10.0.0.5", "vigie.git"));
        let spec = RemoteSpec::parse("[::1]:/r.git").unwrap();
        assert_eq!(spec.host, "[::1]");
        let spec = RemoteSpec::parse("ssh://ops@vps:2222/srv/r.git").unwrap();
        assert_eq!((spec.host.as_str(), spec.path.as_str()), ("ops@vps:2222", "/srv/r.git"));
        assert!(RemoteSpec::parse("backup").is_err());
        assert!(RemoteSpec::parse("backup:").is_err());
        assert!(RemoteSpec::parse(":/srv").is_err());
        assert!(RemoteSpec::parse("-oProxyCommand=x:/r").is_err());
    }

    #[test]
    fn branch_names_are_plain_components() {
        assert_eq!(
            branch("2026-12-01-hv1-down", "alice@laptop").as_deref(),
            Some("refs/heads/2026-12-01-hv1-down/alice@laptop")
        );
        assert_eq!(branch("..", "a"), None);
        assert_eq!(branch("x", "a.lock"), None);
        assert_eq!(branch("x", "a/b"), None);
        assert_eq!(branch("x", ".hidden"), None);
        assert_eq!(
            parse_branch("refs/remotes/r/", "refs/remotes/r/inc/bob@b"),
            Some(("inc", "bob@b"))
        );
        assert_eq!(parse_branch("refs/remotes/r/", "refs/remotes/r/inc/x/y"), None);
        assert_eq!(parse_branch("refs/remotes/r/", "refs/remotes/r/main"), None);
    }

    #[test]
    fn copies_that_extend_each_other_converge_on_the_longest() {
        let a = b"1\n".as_slice();
        let ab = b"1\n2\n".as_slice();
        let abc = b"1\n2\n3\n".as_slice();
        assert_eq!(
            reconcile(ab, &[a, abc]),
            Reconcile::Append {
                from: 1,
                lines: b"3\n".to_vec()
            }
        );
        assert_eq!(reconcile(abc, &[a, ab]), Reconcile::Publish { longer_than_all: true });
        assert_eq!(reconcile(ab, &[ab]), Reconcile::Publish { longer_than_all: false });
        assert_eq!(reconcile(b"", &[]), Reconcile::Publish { longer_than_all: false });
        // A line being written is not the file's yet.
        assert_eq!(
            reconcile(b"1\n2\n3", &[ab]),
            Reconcile::Publish { longer_than_all: false }
        );
    }

    #[test]
    fn copies_no_writer_could_have_made_are_divergent() {
        let ab = b"1\n2\n".as_slice();
        let ax = b"1\nX\n".as_slice();
        assert_eq!(reconcile(ab, &[ax]), Reconcile::Diverged { with: 0 });
        assert_eq!(reconcile(b"1\n", &[ab, ax]), Reconcile::Diverged { with: 1 });
        // A remote that lost lines this machine synced is a prefix: nothing lost here.
        assert_eq!(reconcile(ab, &[b"1\n"]), Reconcile::Publish { longer_than_all: true });
    }
}
