//! A lab of real OpenSSH servers on loopback addresses, for integration tests.
//!
//! `SshLab::start(3)` starts three `sshd` processes on 127.0.0.x (distinct
//! addresses, free ports), each with its own generated host key; the lab has
//! one client key and an isolated known_hosts listing every host. Dropping
//! the lab (also during a panic) kills every sshd and every process started
//! through it, found by walking the process tree; sshd also gets SIGTERM if
//! the test process dies (PR_SET_PDEATHSIG).
//!
//! Sessions get `SHLVL=1`, so that bash (which sources `~/.bashrc` for
//! sshd sessions at the first shell level) skips the test machine's rc files:
//! the lab behaves the same on every machine.
//!
//! The lab needs `sshd` and `ssh-keygen` (openssh-server, openssh-client):
//! it fails loudly, never skips, when they are missing.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// Next last octet to hand out in this process: 127.0.0.11, .12, ...
static NEXT_OCTET: AtomicU8 = AtomicU8::new(11);

pub struct LabHost {
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub dir: PathBuf,
    /// `ssh-ed25519 AAAA...` of this host.
    pub host_public_key: String,
    /// More sshd_config lines (other host keys, a host certificate...).
    pub extra_config: String,
    /// Let bash read the login's rc files, as on a real host (the lab skips them).
    pub rc_files: bool,
    child: Option<Child>,
}

impl LabHost {
    pub fn socket_address(&self) -> SocketAddr {
        SocketAddr::from((self.address, self.port))
    }

    /// The known_hosts line for this host.
    pub fn known_hosts_line(&self) -> String {
        format!("[{}]:{} {}", self.address, self.port, self.host_public_key)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

pub struct SshLab {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<LabHost>,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    /// The login name on every lab host (the user running the tests).
    pub user: String,
}

impl SshLab {
    /// Starts `count` sshd hosts named lab1, lab2, ...
    pub fn start(count: usize) -> SshLab {
        require_tool(SSHD, "openssh-server");
        require_tool("ssh-keygen", "openssh-client");
        ensure_privilege_separation_dir();
        let dir = tempfile::Builder::new()
            .prefix("vigie-lab-")
            .tempdir()
            .expect("lab temp dir");
        let client_key = dir.path().join("client_ed25519");
        keygen(&client_key, "vigie-lab-client");
        let authorized_keys = dir.path().join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized_keys).expect("authorized_keys");
        let user = current_user();
        let mut lab = SshLab {
            known_hosts: dir.path().join("known_hosts"),
            dir,
            hosts: Vec::new(),
            client_key,
            user,
        };
        for i in 0..count {
            let octet = NEXT_OCTET.fetch_add(1, Ordering::SeqCst);
            assert!(octet < 250, "the lab ran out of loopback addresses");
            let address = Ipv4Addr::new(127, 0, 0, octet);
            let host = lab.prepare_host(&format!("lab{}", i + 1), address);
            lab.hosts.push(host);
        }
        for i in 0..count {
            lab.start_host(i);
        }
        lab.write_known_hosts();
        lab
    }

    fn prepare_host(&self, name: &str, address: Ipv4Addr) -> LabHost {
        let dir = self.dir.path().join(name);
        fs::create_dir_all(&dir).expect("host dir");
        let host_key = dir.join("ssh_host_ed25519_key");
        keygen(&host_key, name);
        let host_public_key = read_public_key(&host_key);
        LabHost {
            name: name.to_string(),
            address,
            port: 0,
            dir,
            host_public_key,
            extra_config: String::new(),
            rc_files: false,
            child: None,
        }
    }

    /// (Re)starts host `index`'s sshd, on a new free port the first time and on
    /// the same port afterwards (a restarted host keeps its address).
    pub fn start_host(&mut self, index: usize) {
        let authorized_keys = self.dir.path().join("authorized_keys");
        let host = &mut self.hosts[index];
        assert!(host.child.is_none(), "{} is already running", host.name);
        if host.port == 0 {
            host.port = free_port(host.address);
        }
        let config = host.dir.join("sshd_config");
        fs::write(&config, sshd_config(host, &authorized_keys)).expect("sshd_config");
        let log = fs::File::create(host.dir.join("sshd.log")).expect("sshd.log");
        let mut command = Command::new(SSHD);
        command
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal
        // sshd if the process that started it dies.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn().expect("start sshd");
        host.child = Some(child);
        wait_until_listening(host);
    }

    /// Restarts host `index` with `extra` added to its sshd_config and, if
    /// given, on another port (a restarted host otherwise keeps its port).
    pub fn restart_host_with(&mut self, index: usize, extra: &str, port: Option<u16>) {
        self.kill_host(index);
        self.hosts[index].extra_config = extra.to_string();
        if let Some(port) = port {
            self.hosts[index].port = port;
        }
        self.start_host(index);
    }

    /// Lets users other than the one running the tests log in: sshd reads
    /// `authorized_keys` as the user logging in.
    pub fn allow_other_users(&self) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod lab dir");
        let keys = self.dir.path().join("authorized_keys");
        fs::set_permissions(keys, fs::Permissions::from_mode(0o644)).expect("chmod authorized_keys");
    }

    /// Kills host `index`'s sshd and every session it started, as a crash would.
    pub fn kill_host(&mut self, index: usize) {
        let host = &mut self.hosts[index];
        if let Some(mut child) = host.child.take() {
            kill_tree(child.id() as i32);
            let _ = child.wait();
        }
    }

    /// Runs `command` on host `index` with the system OpenSSH client.
    pub fn ssh(&self, index: usize, command: &str) -> std::process::Output {
        self.ssh_command(index).arg(command).output().expect("run ssh")
    }

    /// Waits (up to 5 s) until no process on host `index` matches
    /// `pattern` (a `pgrep -f` pattern; write one character as `[x]` so that
    /// it does not match pgrep's own command line). Checked over a
    /// connection of its own, with the system ssh client.
    pub fn wait_until_gone(&self, index: usize, pattern: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.ssh(index, &format!("pgrep -af '{pattern}' || echo NONE"));
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.trim() == "NONE" {
                return;
            }
            assert!(Instant::now() < deadline, "left running on the host:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A system `ssh` invocation for host `index`, strict about host keys.
    pub fn ssh_command(&self, index: usize) -> Command {
        let host = &self.hosts[index];
        let mut command = Command::new("ssh");
        command
            .args(["-F", "/dev/null", "-T", "-i"])
            .arg(&self.client_key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args(["-o", "ConnectTimeout=5", "-p"])
            .arg(host.port.to_string())
            .arg(format!("{}@{}", self.user, host.address))
            .stdin(Stdio::null());
        command
    }

    fn write_known_hosts(&self) {
        let lines: Vec<String> = self.hosts.iter().map(LabHost::known_hosts_line).collect();
        fs::write(&self.known_hosts, lines.join("\n") + "\n").expect("known_hosts");
    }

    /// Every process the lab started that is still alive (sshd and sessions).
    pub fn processes(&self) -> Vec<i32> {
        (0..self.hosts.len()).flat_map(|i| self.processes_of(i)).collect()
    }

    /// Host `index`'s sshd and its sessions.
    pub fn processes_of(&self, index: usize) -> Vec<i32> {
        match self.hosts[index].pid() {
            Some(pid) => {
                let mut all = vec![pid as i32];
                all.extend(descendants(pid as i32));
                all
            }
            None => vec![],
        }
    }
}

impl Drop for SshLab {
    fn drop(&mut self) {
        for index in 0..self.hosts.len() {
            self.kill_host(index);
        }
    }
}

fn sshd_config(host: &LabHost, authorized_keys: &Path) -> String {
    format!(
        "ListenAddress {address}:{port}\n\
         HostKey {dir}/ssh_host_ed25519_key\n\
         PidFile {dir}/sshd.pid\n\
         AuthorizedKeysFile {authorized_keys}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         StrictModes no\n\
         UsePAM no\n\
         UseDNS no\n\
         PrintMotd no\n\
         MaxSessions 10\n\
         MaxStartups 200:30:400\n\
         LogLevel ERROR\n\
         AllowTcpForwarding yes\n\
         {shlvl}\
         Subsystem sftp internal-sftp\n\
         {extra}",
        shlvl = if host.rc_files { "" } else { "SetEnv SHLVL=1\n" },
        extra = host.extra_config,
        address = host.address,
        port = host.port,
        dir = host.dir.display(),
        authorized_keys = authorized_keys.display(),
    )
}

fn require_tool(tool: &str, package: &str) {
    let found = if tool.contains('/') {
        Path::new(tool).exists()
    } else {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        found,
        "{tool} is missing: install {package} (./scripts/test does it with apt-get)"
    );
}

/// sshd running as root refuses to start without its privilege separation directory.
fn ensure_privilege_separation_dir() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let _ = fs::create_dir_all("/run/sshd");
    }
}

fn keygen(path: &Path, comment: &str) {
    keygen_typed(path, "ed25519", comment);
}

/// A new key pair of `key_type` (`ed25519`, `ecdsa`, `rsa`) at `path` and `path.pub`.
pub fn keygen_typed(path: &Path, key_type: &str, comment: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", key_type, "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

pub fn read_public_key(private_key: &Path) -> String {
    let text = fs::read_to_string(private_key.with_extension("pub")).expect("read public key");
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port(address: Ipv4Addr) -> u16 {
    let listener = TcpListener::bind((address, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn wait_until_listening(host: &mut LabHost) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&host.socket_address(), Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(Ok(Some(status))) = host.child.as_mut().map(|c| c.try_wait()) {
            let log = fs::read_to_string(host.dir.join("sshd.log")).unwrap_or_default();
            panic!("sshd for {} exited with {status}:\n{log}", host.name);
        }
        assert!(
            Instant::now() < deadline,
            "sshd for {} did not listen within 10 s",
            host.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// All descendants of `pid`, children first found by walking /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut parents = std::collections::HashMap::<i32, Vec<i32>>::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Some(parent) = parent_of(child) {
                parents.entry(parent).or_default().push(child);
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for &child in parents.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: parse after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Kills `pid` and all its descendants (collected first, so orphans are not missed).
fn kill_tree(pid: i32) {
    let mut all = descendants(pid);
    all.push(pid);
    for p in &all {
        // SAFETY: plain kill(2) on processes this lab started.
        unsafe {
            libc::kill(*p, libc::SIGKILL);
        }
    }
}

/// Whether a process exists (and is not a zombie).
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3)) != Some("Z"),
        Err(_) => false,
    }
}

/// A login `user` (created once) whose shell is bash and whose `~/.bashrc`
/// is `bashrc`, as on a real host; with `rc_files` set on a lab host, its
/// sessions run it. Returns the user's home. Needs root.
pub fn login_with_bashrc(user: &str, bashrc: &str) -> PathBuf {
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    let exists = || Command::new("id").arg(user).output().is_ok_and(|o| o.status.success());
    if !exists() {
        let status = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/bash", user])
            .status()
            .expect("useradd");
        assert!(status.success() || exists(), "useradd {user}: the lab must run as root");
    }
    // No password, but not locked: sshd without PAM refuses a locked account.
    let status = Command::new("usermod")
        .args(["-p", "*", user])
        .status()
        .expect("usermod");
    assert!(status.success(), "usermod {user}");
    let home = PathBuf::from(format!("/home/{user}"));
    fs::write(home.join(".bashrc"), bashrc).expect(".bashrc");
    home
}

/// Wiring the lab into vigie: inventories and transport settings.
impl SshLab {
    /// A vigie.toml listing every lab host, pinned keys in `known_hosts`.
    pub fn vigie_toml(&self, known_hosts: &Path) -> String {
        let mut text = format!(
            "[settings]\npoll_interval = \"1s\"\nconnect_timeout = \"2s\"\ncommand_timeout = \"10s\"\nknown_hosts = \"{}\"\n",
            known_hosts.display()
        );
        for host in &self.hosts {
            text.push_str(&format!(
                "\n[[hosts]]\nname = \"{}\"\naddress = \"{}\"\nport = {}\nuser = \"{}\"\nidentity_file = \"{}\"\n",
                host.name,
                host.address,
                host.port,
                self.user,
                self.client_key.display()
            ));
        }
        text
    }

    pub fn endpoint(&self, index: usize) -> vigie::transport::endpoint::Endpoint {
        let host = &self.hosts[index];
        vigie::transport::endpoint::Endpoint {
            identity_files: vec![self.client_key.clone()],
            agent: vigie::transport::endpoint::Agent::Disabled,
            ..vigie::transport::endpoint::Endpoint::direct(&host.name, &host.address.to_string(), host.port, &self.user)
        }
    }

    pub fn ssh_options(&self) -> vigie::transport::ssh::SshOptions {
        vigie::transport::ssh::SshOptions {
            connect_timeout: Duration::from_secs(2),
            keepalive: Duration::from_secs(15),
            max_backoff: Duration::from_secs(1),
            own_known_hosts: self.known_hosts.clone(),
            passphrase: None,
        }
    }

    pub fn transport(&self, index: usize) -> vigie::transport::Transport {
        vigie::transport::Transport::Ssh(vigie::transport::ssh::SshHandle::spawn(
            self.endpoint(index),
            self.ssh_options(),
        ))
    }
}

/// The real vigie binary with a clean environment: HOME in `home` (no
/// ~/.ssh of the developer), XDG dirs under it, no ssh-agent, no VIGIE_*.
pub fn vigie_command(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigie"));
    command
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT");
    command
}

/// `vigie --config CONFIG watch` under `home`, logging to `home/watch.log`.
pub fn start_watch(home: &Path, config: &Path) -> Child {
    vigie_command(home)
        .arg("--config")
        .arg(config)
        .arg("watch")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(home.join("watch.log")).expect("watch.log"))
        .spawn()
        .expect("start vigie watch")
}

/// Runs vigie (see [`vigie_command`]) with `env` added and no standard input.
pub fn vigie_with_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = vigie_command(home)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run vigie");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs vigie (see [`vigie_command`]) with `stdin` as its input.
pub fn vigie(home: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = vigie_command(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vigie");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait for vigie");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
