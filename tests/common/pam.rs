//! A PAM service with pam_faillock and a private tally directory, and the
//! test user it locks. Needs root (the tests run as root).

use std::path::Path;
use std::process::{Command, Stdio};

/// A PAM service using pam_faillock with a private tally directory, removed on drop.
pub struct PamService {
    path: std::path::PathBuf,
    name: String,
}

impl PamService {
    pub fn install(tally_dir: &Path) -> PamService {
        let name = format!("vigie-test-{}", std::process::id());
        let dir = tally_dir.display();
        let text = format!(
            "auth     required                pam_faillock.so preauth dir={dir} deny=3 unlock_time=600\n\
             auth     [success=1 default=bad] pam_unix.so nodelay\n\
             auth     [default=die]           pam_faillock.so authfail dir={dir} deny=3 unlock_time=600\n\
             auth     sufficient              pam_faillock.so authsucc dir={dir} deny=3 unlock_time=600\n\
             auth     required                pam_deny.so\n\
             account  required                pam_faillock.so dir={dir}\n"
        );
        let path = Path::new("/etc/pam.d").join(&name);
        std::fs::write(&path, text).expect("write a PAM service (the tests run as root)");
        PamService { path, name }
    }

    /// Tries to log in with `password`; true on success.
    pub fn authenticate(&self, user: &str, password: &str) -> bool {
        let mut child = Command::new("pamtester")
            .args([&self.name, user, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pamtester is missing: ./scripts/test installs it");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub const LOCKOUT_USER: &str = "vigie-lockout";

pub fn ensure_lockout_user() {
    let exists = Command::new("id").arg(LOCKOUT_USER).output().unwrap().status.success();
    if !exists {
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", LOCKOUT_USER])
            .status()
            .expect("useradd (passwd package)");
        assert!(status.success(), "useradd failed: the tests must run as root");
    }
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{LOCKOUT_USER}:Right-Pass-42\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success());
}
