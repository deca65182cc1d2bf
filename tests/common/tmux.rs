//! Driving the real binary in a tmux pane: send keys, read the screen.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server (own socket) with one pane; killed on drop.
pub struct TmuxSession {
    socket: String,
    pub name: String,
}

impl TmuxSession {
    /// Starts `bash` (no rc files) in a `width`x`height` pane, in `dir`, with `env` set.
    pub fn start(width: u16, height: u16, dir: &Path, env: &[(&str, &str)]) -> TmuxSession {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is missing: install tmux (./scripts/test does it with apt-get)"
        );
        let socket = format!("vigie-test-{}-{}", std::process::id(), unique());
        let session = TmuxSession {
            socket,
            name: "vigie".to_string(),
        };
        let mut command = session.tmux();
        command
            .args([
                "new-session",
                "-d",
                "-s",
                &session.name,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg("-c")
            .arg(dir);
        for (key, value) in env {
            command.args(["-e", &format!("{key}={value}")]);
        }
        command.args(["bash", "--norc", "--noprofile"]);
        let status = command.status().expect("start tmux");
        assert!(status.success(), "tmux new-session failed");
        session
    }

    /// The real cockpit, `vigie --config CONFIG`, in a `width`x`height` pane,
    /// in a clean environment under `home` (as `vigie_command` gives it),
    /// plus `env`. Returns once the command is typed.
    pub fn cockpit(home: &Path, config: &Path, (width, height): (u16, u16), env: &[(&str, &str)]) -> TmuxSession {
        let home_text = home.to_str().expect("a UTF-8 home");
        let data = format!("{home_text}/.local/share");
        let config_home = format!("{home_text}/.config");
        let mut all = vec![
            ("HOME", home_text),
            ("XDG_DATA_HOME", data.as_str()),
            ("XDG_CONFIG_HOME", config_home.as_str()),
            ("SSH_AUTH_SOCK", ""),
            ("VIGIE_INCIDENT", ""),
            ("PS1", "$ "),
        ];
        all.extend_from_slice(env);
        let tmux = TmuxSession::start(width, height, home, &all);
        tmux.type_line(&format!(
            "'{}' --config '{}'",
            env!("CARGO_BIN_EXE_vigie"),
            config.display()
        ));
        tmux
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.send(&["-l", text]);
        self.send(&["Enter"]);
    }

    /// Sends tmux key names (`q`, `Enter`, `Down`...) or `-l TEXT`.
    pub fn send(&self, keys: &[&str]) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format value for the pane, e.g. `#{alternate_on}`.
    pub fn format(&self, format: &str) -> String {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", &self.name, format])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen satisfies `predicate`, or panics with the screen.
    pub fn wait_for(&self, what: &str, timeout: Duration, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if predicate(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::SeqCst)
}
