//! A lab of a thousand SSH hosts on loopback for the benchmark: real sshd
//! processes, each listening on 16 addresses (127.1.x.y, one port), so a
//! thousand hosts take 63 listeners instead of a thousand. Every host is
//! a distinct address with its own known_hosts line; they share a host
//! key (one ssh-keygen). Sessions read no rc files (`SHLVL=1`), as in the
//! test lab. Dropping the lab kills every sshd and all their sessions.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sshd accepts at most 16 `ListenAddress` lines.
const ADDRESSES_PER_SSHD: usize = 16;

pub struct BigLab {
    /// Keys, configs and pid files; removed with the lab.
    _dir: tempfile::TempDir,
    pub addresses: Vec<Ipv4Addr>,
    pub port: u16,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub user: String,
    sshd: Vec<Child>,
}

impl BigLab {
    pub fn start(hosts: usize) -> BigLab {
        let dir = tempfile::Builder::new()
            .prefix("vigie-biglab-")
            .tempdir()
            .expect("temp dir");
        let key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        for (path, comment) in [(&key, "biglab-host"), (&client_key, "biglab-client")] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen");
            assert!(status.success(), "ssh-keygen");
        }
        std::fs::copy(client_key.with_extension("pub"), dir.path().join("authorized_keys")).expect("authorized_keys");
        let host_public = std::fs::read_to_string(key.with_extension("pub")).expect("host key");
        let host_public: Vec<&str> = host_public.split_whitespace().take(2).collect();
        let addresses: Vec<Ipv4Addr> = (0..hosts)
            .map(|i| Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
            .collect();
        let port = free_port(addresses[0]);
        let mut known = String::new();
        for address in &addresses {
            let _ = writeln!(known, "[{address}]:{port} {}", host_public.join(" "));
        }
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, known).expect("known_hosts");
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut sshd = Vec::new();
        for (index, group) in addresses.chunks(ADDRESSES_PER_SSHD).enumerate() {
            let config = dir.path().join(format!("sshd_config.{index}"));
            let mut text = String::new();
            for address in group {
                let _ = writeln!(text, "ListenAddress {address}:{port}");
            }
            let _ = write!(
                text,
                "HostKey {key}\nPidFile {dir}/sshd.{index}.pid\nAuthorizedKeysFile {dir}/authorized_keys\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nUseDNS no\nPrintMotd no\n\
                 MaxSessions 10\nMaxStartups 1000:30:2000\nLogLevel ERROR\nSetEnv SHLVL=1\n",
                key = key.display(),
                dir = dir.path().display(),
            );
            std::fs::write(&config, text).expect("sshd_config");
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start sshd");
            sshd.push(child);
        }
        let lab = BigLab {
            _dir: dir,
            addresses,
            port,
            client_key,
            known_hosts,
            user: super::lab::current_user(),
            sshd,
        };
        lab.wait_until_listening();
        lab
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for address in &self.addresses {
            while std::net::TcpStream::connect((*address, self.port)).is_err() {
                assert!(Instant::now() < deadline, "{address}:{} never listened", self.port);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// A vigie.toml listing every host, polled every `interval`.
    pub fn vigie_toml(&self, interval: &str) -> String {
        let mut text = format!(
            "[settings]\npoll_interval = \"{interval}\"\nconnect_timeout = \"20s\"\ncommand_timeout = \"60s\"\nknown_hosts = \"{}\"\n",
            self.known_hosts.display()
        );
        for (i, address) in self.addresses.iter().enumerate() {
            let _ = write!(
                text,
                "\n[[hosts]]\nname = \"h{i:04}\"\naddress = \"{address}\"\nport = {}\nuser = \"{}\"\nidentity_file = \"{}\"\n",
                self.port,
                self.user,
                self.client_key.display()
            );
        }
        text
    }

    /// Every process of the lab: the listeners and all their sessions.
    pub fn processes(&self) -> Vec<i32> {
        let mut all = Vec::new();
        for child in &self.sshd {
            all.push(child.id() as i32);
            all.extend(super::lab::descendants(child.id() as i32));
        }
        all
    }
}

impl Drop for BigLab {
    fn drop(&mut self) {
        for pid in self.processes() {
            // SAFETY: kill(2) on processes this lab started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        for child in &mut self.sshd {
            let _ = child.wait();
        }
    }
}

fn free_port(address: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((address, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
