//! Probes in the SSH session's long-lived shell, against real sshd: the
//! login shell and its rc files run once per session, not once per probe;
//! a script there behaves as on a channel of its own; a probe that hangs
//! takes its shell with it and leaves nothing running.

mod common;

use common::lab::SshLab;
use std::time::{Duration, Instant};
use vigie::transport::{CommandRequest, Transport, TransportError};

const USER: &str = "vigie-rc";

/// A login whose `~/.bashrc` counts its runs (a `pyenv init` there is what
/// makes it costly on a real host).
fn ensure_user_with_bashrc() -> std::path::PathBuf {
    let home = common::lab::login_with_bashrc(USER, "echo run >> \"$HOME/rc-runs\"\necho 'Welcome!'\n");
    let _ = std::fs::remove_file(home.join("rc-runs"));
    home
}

fn rc_runs(home: &std::path::Path) -> usize {
    std::fs::read_to_string(home.join("rc-runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn lab_with_rc_files() -> SshLab {
    let mut lab = SshLab::start(1);
    lab.hosts[0].rc_files = true;
    lab.kill_host(0);
    lab.start_host(0);
    lab.allow_other_users();
    lab
}

fn transport_as(lab: &SshLab, user: &str) -> Transport {
    let mut endpoint = lab.endpoint(0);
    endpoint.user = user.to_string();
    Transport::Ssh(vigie::transport::ssh::SshHandle::spawn(endpoint, lab.ssh_options()))
}

fn probe(script: &str, timeout: Duration) -> CommandRequest {
    CommandRequest {
        session_shell: true,
        ..CommandRequest::new(script, timeout)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_pay_the_login_shell_once_per_session() {
    let home = ensure_user_with_bashrc();
    let lab = lab_with_rc_files();
    let transport = transport_as(&lab, USER);
    let mut shells = Vec::new();
    for _ in 0..5 {
        let out = transport.run(probe("echo $$", Duration::from_secs(10))).await.unwrap();
        shells.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert_eq!(rc_runs(&home), 1, "the rc file ran once for five probes");
    assert!(shells.iter().all(|s| s == &shells[0]), "one shell: {shells:?}");
    assert!(
        !shells[0].contains("Welcome"),
        "what the rc file printed is not a probe's output"
    );
    // A command on a channel of its own (a playbook step) pays it each time.
    for _ in 0..3 {
        transport
            .run(CommandRequest::new("true", Duration::from_secs(10)))
            .await
            .unwrap();
    }
    assert_eq!(rc_runs(&home), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_the_shell_behaves_as_on_its_own_channel() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    let script = "name=\"'; rm -rf / #\"\ncat\nprintf '%s|' \"$name\"\necho oops >&2\nexit 7";
    let out = transport.run(probe(script, Duration::from_secs(5))).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "'; rm -rf / #|",
        "stdin is empty, no newline added"
    );
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.exit, Some(7));
    // `exit` ended the script, not the shell: the next probe runs in it.
    let first = transport.run(probe("echo $$", Duration::from_secs(5))).await.unwrap();
    let again = transport
        .run(probe("echo $$; false", Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(first.stdout, again.stdout);
    assert_eq!(again.exit, Some(1));
    // A variable one script sets is not seen by the next.
    transport
        .run(probe("vigie_left=1", Duration::from_secs(5)))
        .await
        .unwrap();
    let out = transport
        .run(probe("echo \"[${vigie_left:-}]\"", Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"[]\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_hangs_takes_its_shell_and_nothing_remains() {
    let lab = SshLab::start(1);
    let transport = lab.transport(0);
    let before = transport.run(probe("echo $$", Duration::from_secs(5))).await.unwrap();
    let started = Instant::now();
    let error = transport
        .run(probe("sleep 86404 & sleep 86405", Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(error, TransportError::Timeout(Duration::from_secs(1)));
    assert!(started.elapsed() < Duration::from_secs(10));
    lab.wait_until_gone(0, "sleep 8640[45]");
    // The next probe gets a new shell.
    let after = transport.run(probe("echo $$", Duration::from_secs(5))).await.unwrap();
    assert_ne!(before.stdout, after.stdout);
    assert_eq!(after.exit, Some(0));
}
