//! A real MariaDB primary/replica pair on loopback, for replication tests.
//!
//! Both servers run from private data directories with their own sockets and
//! free ports; the replica replicates the primary over the multi-source
//! connection `pessicart`, by binlog file and position, as in the incident.
//! Dropping the pair stops both servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CONNECTION: &str = "pessicart";
pub const REPL_PASSWORD: &str = "Repl-Secret-9";

pub struct MariaDb {
    pub port: u16,
    pub socket: PathBuf,
    pub datadir: PathBuf,
    /// A client option file: socket and user, as vigie's `db_defaults_file`.
    pub defaults_file: PathBuf,
    child: Child,
}

impl MariaDb {
    /// Runs SQL as root and returns the output (vertical format).
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs SQL as root; the client's error text if it fails.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg(format!("--defaults-file={}", self.defaults_file.display()))
            .args(["-E", "-e", sql])
            .output()
            .expect("run the mariadb client");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// One field of `SHOW SLAVE 'pessicart' STATUS`.
    pub fn slave_field(&self, field: &str) -> String {
        let status = self.sql(&format!("SHOW SLAVE '{CONNECTION}' STATUS"));
        status
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("{field}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

pub struct MariaDbPair {
    pub primary: MariaDb,
    pub replica: MariaDb,
    _dir: tempfile::TempDir,
}

impl MariaDbPair {
    pub fn start() -> MariaDbPair {
        for tool in ["mariadbd", "mariadb-install-db", "mariadb"] {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{tool} is missing: install mariadb-server (./scripts/test does it with apt-get)"
            );
        }
        let dir = tempfile::Builder::new().prefix("vigie-mariadb-").tempdir().unwrap();
        let template = dir.path().join("template");
        let status = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--user={}", whoami()))
            .arg(format!("--datadir={}", template.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "mariadb-install-db failed");
        let primary = start_server(dir.path(), &template, "primary", 1);
        let replica = start_server(dir.path(), &template, "replica", 2);
        primary.sql(&format!(
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '{REPL_PASSWORD}';\
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';\
             CREATE DATABASE meteo; CREATE TABLE meteo.obs (id INT PRIMARY KEY AUTO_INCREMENT, v INT);\
             INSERT INTO meteo.obs (v) VALUES (1),(2),(3);"
        ));
        replica.sql(&format!(
            "CHANGE MASTER '{CONNECTION}' TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
             MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=4, MASTER_USE_GTID=no;\
             START SLAVE '{CONNECTION}';",
            primary.port
        ));
        let pair = MariaDbPair {
            primary,
            replica,
            _dir: dir,
        };
        pair.wait_for_rows(3);
        pair
    }

    /// Waits until the replica has `count` rows in meteo.obs.
    pub fn wait_for_rows(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Until the schema has replicated, the query fails: keep waiting.
            let rows = self
                .replica
                .try_sql("SELECT COUNT(*) AS n FROM meteo.obs")
                .unwrap_or_default();
            if rows.contains(&format!("n: {count}")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never reached {count} rows: {rows}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Breaks the replica as in the incident: events reach the relay log,
    /// then the relay log is corrupted before the SQL thread applies them.
    /// The SQL thread stops with error 1594.
    pub fn corrupt_relay_log(&self) {
        self.replica.sql(&format!("STOP SLAVE '{CONNECTION}' SQL_THREAD"));
        self.primary.sql("INSERT INTO meteo.obs (v) VALUES (4),(5),(6)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = self.primary.sql("SHOW MASTER STATUS");
        let target_pos = target
            .lines()
            .find_map(|l| l.trim().strip_prefix("Position:"))
            .unwrap_or("")
            .trim()
            .to_string();
        while self.replica.slave_field("Read_Master_Log_Pos") != target_pos {
            assert!(Instant::now() < deadline, "the IO thread never fetched the new events");
            std::thread::sleep(Duration::from_millis(50));
        }
        let relay_file = self.replica.slave_field("Relay_Log_File");
        let relay_pos: u64 = self.replica.slave_field("Relay_Log_Pos").parse().unwrap();
        // Overwrite the length field of the next event's header.
        let path = self.replica.datadir.join(relay_file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = relay_pos as usize + 9;
        bytes[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        std::fs::write(&path, bytes).unwrap();
        self.replica.sql(&format!("START SLAVE '{CONNECTION}' SQL_THREAD"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.replica.slave_field("Last_SQL_Errno") != "1594" {
            assert!(Instant::now() < deadline, "the SQL thread did not fail with 1594");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn start_server(root: &Path, template: &Path, name: &str, server_id: u32) -> MariaDb {
    let datadir = root.join(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(&datadir)
        .status()
        .unwrap();
    assert!(status.success());
    let socket = root.join(format!("{name}.sock"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("mariadbd")
        .arg("--no-defaults")
        .arg(format!("--user={}", whoami()))
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--server-id={server_id}"))
        .args(["--log-bin=mysql-bin", "--relay-log=relay-bin", "--skip-name-resolve"])
        .args(["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"])
        .arg(format!("--pid-file={}", root.join(format!("{name}.pid")).display()))
        .arg(format!("--log-error={}", root.join(format!("{name}.err")).display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mariadbd");
    let defaults_file = root.join(format!("{name}.cnf"));
    std::fs::write(
        &defaults_file,
        format!("[client]\nsocket={}\nuser=root\n", socket.display()),
    )
    .unwrap();
    let server = MariaDb {
        port,
        socket,
        datadir,
        defaults_file,
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.socket.exists() {
        assert!(
            Instant::now() < deadline,
            "mariadbd {name} did not start: {}",
            std::fs::read_to_string(root.join(format!("{name}.err"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
