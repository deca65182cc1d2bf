//! How vigie creates the files an incident lives in, whatever the umask:
//! private (directories 0700, files 0600) unless the incidents directory is
//! shared with a group (`settings.incidents_group`: setgid, 2770), in which
//! case everything under it is 2770/0660 for that group, so that several
//! responders on one bastion, each under their own login, write the same
//! timeline. A file is never opened through a symlink, and a rewritten file
//! goes through an exclusive temporary file in its own directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;
const SHARED_DIR: u32 = 0o2770;
const SHARED_FILE: u32 = 0o660;

/// Whether `dir` is shared with its group the way `incidents_group` makes it
/// (setgid and group-writable): what is created in it is shared too.
pub fn is_group_shared(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .map(|m| m.mode() & 0o2070 == 0o2070)
        .unwrap_or(false)
}

fn modes_under(parent: &Path) -> (u32, u32) {
    if is_group_shared(parent) {
        (SHARED_DIR, SHARED_FILE)
    } else {
        (PRIVATE_DIR, PRIVATE_FILE)
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates directory `path` (failing if it exists: two responders get two),
/// with the mode its parent calls for.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    let (dir_mode, _) = modes_under(parent_of(path));
    std::fs::DirBuilder::new().mode(dir_mode).create(path)?;
    // The umask may have taken bits the mode needs (a shared group's).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode))
}

/// Creates `path` and its missing parents; those created get the mode their
/// own parent calls for.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if path.exists() {
        return Err(std::io::Error::other(format!("{} is not a directory", path.display())));
    }
    create_dir_all(parent_of(path))?;
    match create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Opens `path` to read and append, creating it with the mode its directory
/// calls for; a symlink there is refused (`ELOOP`), not followed.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    let (_, file_mode) = modes_under(parent_of(path));
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(file_mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| explain_symlink(path, e))?;
    let meta = file.metadata()?;
    // Only the owner sets the mode of a file that another responder made.
    // SAFETY: geteuid has no preconditions.
    if meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o7777 != file_mode {
        file.set_permissions(std::fs::Permissions::from_mode(file_mode))?;
    }
    Ok(file)
}

/// Refuses a file of another user in a directory that is not shared with a
/// group on purpose (`incidents_group`): it is theirs, not a shared record.
pub fn check_owner(path: &Path, file: &File) -> std::io::Result<()> {
    let owner = file.metadata()?.uid();
    // SAFETY: geteuid has no preconditions.
    if owner != unsafe { libc::geteuid() } && !is_group_shared(parent_of(path)) {
        return Err(std::io::Error::other(format!(
            "{} belongs to uid {owner} and its directory is not shared with an incidents_group: vigie will not write in it",
            path.display()
        )));
    }
    Ok(())
}

/// Opens `path` (which must exist) to read and append, never through a symlink.
pub fn open_existing_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| explain_symlink(path, e))
}

fn explain_symlink(path: &Path, e: std::io::Error) -> std::io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        std::io::Error::other(format!(
            "{} is a symlink: vigie does not write through one (it could point at any file)",
            path.display()
        ))
    } else {
        e
    }
}

/// Replaces `path` with `bytes` as a whole: an exclusive temporary file in
/// the same directory (never a fixed name another user could plant a link
/// at), written, fsynced, renamed over `path`, and the directory fsynced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, Durability::Synced)
}

/// [`write_atomically`] without the fsyncs, for a file that may be lost
/// with the power but must never be written through a link or half-read.
pub fn replace_without_sync(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, Durability::BestEffort)
}

#[derive(PartialEq)]
enum Durability {
    Synced,
    BestEffort,
}

fn replace(path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    let dir = parent_of(path);
    let (_, file_mode) = modes_under(dir);
    let mut temporary = tempfile::Builder::new()
        .prefix(".vigie-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(file_mode))
        .tempfile_in(dir)?;
    temporary.write_all(bytes)?;
    // The umask may have taken bits a shared group's mode needs.
    temporary
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(file_mode))?;
    if durability == Durability::Synced {
        temporary.as_file().sync_all()?;
    }
    temporary.persist(path).map_err(|e| e.error)?;
    if durability == Durability::Synced {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes the incidents directory ready before anything is written in it:
/// created private (or shared with `group`), a symlink to it refused unless
/// this user made it, and a `group` applied (setgid 2770) when this user
/// owns it. Returns what is wrong, in words for the responder.
pub fn prepare_incidents_dir(dir: &Path, group: Option<&str>) -> Result<(), String> {
    let shown = dir.display();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if let Ok(link) = std::fs::symlink_metadata(dir) {
        if link.file_type().is_symlink() && link.uid() != me {
            return Err(format!(
                "{shown} is a symlink made by uid {}, not by you: vigie will not write through it",
                link.uid()
            ));
        }
    }
    // A group that does not exist is said before anything is made.
    if let Some(group) = group.filter(|g| !group_exists(g)) {
        return Err(format!("incidents_group = {group:?}: no such group on this machine"));
    }
    create_dir_all(dir).map_err(|e| format!("{shown}: {e}"))?;
    let owner = std::fs::metadata(dir).map_err(|e| format!("{shown}: {e}"))?.uid();
    if owner != me && !is_group_shared(dir) {
        // Another user's directory, not shared on purpose: what vigie wrote
        // there (notes, commands) would be theirs to read and rewrite.
        return Err(format!(
            "{shown} belongs to uid {owner} and is not shared with an incidents_group: \
             vigie writes only in your own incidents directory, or one shared on purpose"
        ));
    }
    let Some(group) = group else {
        return Ok(());
    };
    let gid = group_id(group).ok_or_else(|| format!("incidents_group = {group:?}: no such group on this machine"))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("{shown}: {e}"))?;
    if meta.gid() == gid && meta.mode() & 0o7777 == SHARED_DIR {
        return Ok(());
    }
    if meta.uid() != me {
        return Err(format!(
            "{shown} is not shared with group {group} yet and belongs to uid {}: its owner runs vigie once to share it",
            meta.uid()
        ));
    }
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: path is a valid C string; -1 keeps the owner.
    if unsafe { libc::chown(path.as_ptr(), u32::MAX, gid) } != 0 {
        return Err(format!(
            "{shown}: cannot give it to group {group}: {} (are you a member?)",
            std::io::Error::last_os_error()
        ));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(SHARED_DIR)).map_err(|e| format!("{shown}: {e}"))
}

/// Whether a unix group of that name exists on this machine.
pub fn group_exists(name: &str) -> bool {
    group_id(name).is_some()
}

/// What is unsafe about the incidents directory, for `vigie check`.
pub fn incidents_dir_warnings(dir: &Path, group: Option<&str>) -> Vec<String> {
    let shown = dir.display();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if let Ok(link) = std::fs::symlink_metadata(dir) {
        if link.file_type().is_symlink() && link.uid() != me {
            return vec![format!(
                "{shown} is a symlink made by uid {}, not by you: vigie refuses to write through it",
                link.uid()
            )];
        }
    }
    let Ok(meta) = std::fs::metadata(dir) else {
        return Vec::new(); // made, private, at the first declaration
    };
    let mut warnings = Vec::new();
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        warnings.push(format!(
            "{shown} is writable by every user (mode {mode:04o}): anyone could forge or remove incidents; chmod o-w it"
        ));
    }
    match group {
        None if mode & 0o020 != 0 => warnings.push(format!(
            "{shown} is group-writable (mode {mode:04o}) without incidents_group: set incidents_group to share it on purpose, or chmod g-w it"
        )),
        Some(group) if group_id(group) != Some(meta.gid()) || mode != SHARED_DIR => warnings.push(format!(
            "{shown} is not yet shared with group {group} (mode {mode:04o}): the next vigie that writes there shares it"
        )),
        _ => {}
    }
    if meta.uid() != me && group.is_none() {
        warnings.push(format!("{shown} belongs to uid {}, not to you", meta.uid()));
    }
    warnings
}

fn group_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: name is a valid C string; getgrnam's result is read at once,
    // before any other call could reuse its buffer.
    let entry = unsafe { libc::getgrnam(name.as_ptr()) };
    if entry.is_null() {
        None
    } else {
        // SAFETY: entry is non-null and points at a group record.
        Some(unsafe { (*entry).gr_gid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_whatever_the_umask_and_never_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: umask has no preconditions; the test restores it.
        let old = unsafe { libc::umask(0) };
        let incident = dir.path().join("incident");
        create_dir(&incident).unwrap();
        let file = incident.join("timeline.jsonl");
        open_append(&file).unwrap();
        unsafe { libc::umask(old) };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!((mode(&incident), mode(&file)), (0o700, 0o600));

        let target = dir.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let link = incident.join("report.md");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_append(&link).unwrap_err().to_string().contains("symlink"));
        // Replacing the link's name replaces the link, never its target.
        write_atomically(&link, b"report").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "report");
        assert_eq!(mode(&link), 0o600);
    }
}
