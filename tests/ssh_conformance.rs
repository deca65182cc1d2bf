//! vigie reaches exactly the hosts OpenSSH's own `ssh` reaches, and refuses
//! exactly what it refuses, for the same reason: each case below writes one
//! `~/.ssh` (config, known_hosts, keys, an agent), then runs the real `ssh`
//! and `vigie status --json` on those same files against real lab sshd hosts,
//! and compares their verdicts.
//!
//! OpenSSH reads the home directory of the password database, not `$HOME`:
//! each case runs in a private mount namespace where the case's home is bound
//! on that directory (and a case's `/etc/ssh` on the real one), so both tools
//! see the same files and nothing of the machine's own.

mod common;

use common::lab::{keygen_typed, read_public_key, SshLab};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a client made of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Reachable,
    /// No key is known for the host.
    Unknown,
    /// Another key is known for the host.
    Changed,
    Revoked,
    /// A trusted CA signed the host's certificate, but it is not valid.
    CertificateInvalid,
    /// The host key was accepted, no identity was.
    Auth,
    Other,
}

/// OpenSSH's verdict, from its exit status and what it printed.
fn ssh_verdict(exit: i32, stderr: &str) -> Verdict {
    if exit == 0 {
        Verdict::Reachable
    } else if stderr.contains("REVOKED HOST KEY") {
        Verdict::Revoked
    } else if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        Verdict::Changed
    } else if stderr.contains("Certificate invalid") {
        Verdict::CertificateInvalid
    } else if stderr.contains("host key is known") || stderr.contains("Host key verification failed") {
        Verdict::Unknown
    } else if stderr.contains("Permission denied") {
        Verdict::Auth
    } else {
        Verdict::Other
    }
}

/// vigie's verdict, from `vigie status --json`.
fn vigie_verdict(json: &serde_json::Value) -> Verdict {
    let host = &json["hosts"][0];
    if host["reachable"] == true {
        return Verdict::Reachable;
    }
    match host["error_kind"].as_str() {
        Some("host_key_unknown") => Verdict::Unknown,
        Some("host_key_mismatch") => Verdict::Changed,
        Some("host_key_revoked") => Verdict::Revoked,
        Some("host_certificate_invalid") => Verdict::CertificateInvalid,
        Some("auth") => Verdict::Auth,
        _ => Verdict::Other,
    }
}

/// The lab: real sshd hosts with the keys and certificates the cases need.
struct World {
    lab: SshLab,
    /// Holds the strangers' keys and the CAs.
    _dir: tempfile::TempDir,
    /// Keys the lab hosts do not authorize.
    strangers: Vec<PathBuf>,
    /// The authorized key, passphrase-protected (same key pair as the lab's client key).
    encrypted_client: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
}

/// Indexes of the lab hosts.
const PLAIN: usize = 0;
const MULTI: usize = 1;
const CERTIFIED: usize = 2;
const EXPIRED: usize = 3;
const MISNAMED: usize = 4;
const PORT_22: usize = 5;
const WILDCARD: usize = 6;

impl World {
    fn start() -> World {
        let mut lab = SshLab::start(7);
        let dir = tempfile::tempdir().unwrap();
        let key = |name: &str, key_type: &str| {
            let path = dir.path().join(name);
            keygen_typed(&path, key_type, name);
            path
        };
        let strangers = vec![key("stranger1", "ed25519"), key("stranger2", "ecdsa")];
        let ca = key("ca", "ed25519");
        let other_ca = key("other_ca", "ed25519");
        let encrypted_client = dir.path().join("client_encrypted");
        std::fs::copy(&lab.client_key, &encrypted_client).unwrap();
        std::fs::copy(
            lab.client_key.with_extension("pub"),
            dir.path().join("client_encrypted.pub"),
        )
        .unwrap();
        common::run(
            "ssh-keygen",
            &[
                "-q",
                "-p",
                "-N",
                "correct horse",
                "-f",
                encrypted_client.to_str().unwrap(),
            ],
        );

        // MULTI also has ECDSA and RSA host keys.
        let multi_dir = lab.hosts[MULTI].dir.clone();
        keygen_typed(&multi_dir.join("ssh_host_ecdsa_key"), "ecdsa", "multi");
        keygen_typed(&multi_dir.join("ssh_host_rsa_key"), "rsa", "multi");
        let extra = format!(
            "HostKey {0}/ssh_host_ecdsa_key\nHostKey {0}/ssh_host_rsa_key\n",
            multi_dir.display()
        );
        lab.restart_host_with(MULTI, &extra, None);

        // Host certificates signed by `ca`: valid, expired, and for another name.
        for (index, validity, principal) in [
            (CERTIFIED, "-5m:+1d", None),
            (EXPIRED, "20200101:20200102", None),
            (MISNAMED, "-5m:+1d", Some("other.example.org")),
            (WILDCARD, "-5m:+1d", Some("127.0.0.*")),
        ] {
            let host_dir = lab.hosts[index].dir.clone();
            let address = lab.hosts[index].address.to_string();
            let public = host_dir.join("ssh_host_ed25519_key.pub");
            common::run(
                "ssh-keygen",
                &[
                    "-q",
                    "-s",
                    ca.to_str().unwrap(),
                    "-I",
                    "lab host",
                    "-h",
                    "-n",
                    principal.unwrap_or(&address),
                    "-V",
                    validity,
                    public.to_str().unwrap(),
                ],
            );
            let extra = format!("HostCertificate {}/ssh_host_ed25519_key-cert.pub\n", host_dir.display());
            lab.restart_host_with(index, &extra, None);
        }
        lab.restart_host_with(PORT_22, "", Some(22));
        World {
            lab,
            _dir: dir,
            strangers,
            encrypted_client,
            ca,
            other_ca,
        }
    }

    fn address(&self, index: usize) -> String {
        self.lab.hosts[index].address.to_string()
    }

    fn port(&self, index: usize) -> u16 {
        self.lab.hosts[index].port
    }

    /// The `[address]:port` (or bare address on 22) known_hosts name of a host.
    fn name(&self, index: usize) -> String {
        match self.port(index) {
            22 => self.address(index),
            port => format!("[{}]:{port}", self.address(index)),
        }
    }

    /// `type base64` of a host's ed25519 key (or of another key file of its).
    fn host_key(&self, index: usize, file: &str) -> String {
        read_public_key(&self.lab.hosts[index].dir.join(file))
    }

    fn ed25519(&self, index: usize) -> String {
        self.host_key(index, "ssh_host_ed25519_key")
    }

    fn public(&self, key: &Path) -> String {
        read_public_key(key)
    }

    /// A `Host` block reaching host `index` as `alias` with the lab key.
    fn block(&self, alias: &str, index: usize) -> String {
        format!(
            "Host {alias}\n    HostName {}\n    Port {}\n    User {}\n    IdentityFile ~/.ssh/id_lab\n",
            self.address(index),
            self.port(index),
            self.lab.user
        )
    }
}

/// One `~/.ssh` and a destination, and the verdict both tools must reach.
struct Case {
    name: &'static str,
    destination: String,
    config: String,
    known_hosts: String,
    /// `/etc/ssh/ssh_known_hosts`.
    global_known_hosts: String,
    /// More files, relative to the home directory.
    files: Vec<(String, String)>,
    /// Keys loaded into the agent `$SSH_AUTH_SOCK` names.
    agent: Vec<PathBuf>,
    /// Keys loaded into a second agent at `~/agent2.sock`.
    second_agent: Vec<PathBuf>,
    /// A jump given to both: `-J` to ssh, `jump =` in vigie.toml.
    jump: Option<String>,
    /// The lab key is at `~/.ssh/id_lab` (otherwise only agents hold keys).
    lab_key_file: bool,
    expected: Verdict,
}

impl Case {
    fn new(name: &'static str, world: &World, index: usize, known_hosts: String, expected: Verdict) -> Case {
        Case {
            name,
            destination: "target".into(),
            config: world.block("target", index),
            known_hosts,
            global_known_hosts: String::new(),
            files: Vec::new(),
            agent: Vec::new(),
            second_agent: Vec::new(),
            jump: None,
            lab_key_file: true,
            expected,
        }
    }
}

fn cases(w: &World) -> Vec<Case> {
    let line = |index: usize, key: &str| format!("{} {key}\n", w.name(index));
    let other_key = w.public(&w.strangers[0]);
    let other_ecdsa = w.public(&w.strangers[1]);
    let ca = format!("@cert-authority * {}\n", w.public(&w.ca));
    let mut all = vec![
        // Key types, lines, ports.
        Case::new(
            "ed25519 line",
            w,
            PLAIN,
            line(PLAIN, &w.ed25519(PLAIN)),
            Verdict::Reachable,
        ),
        Case::new("nothing known", w, PLAIN, String::new(), Verdict::Unknown),
        Case::new(
            "another ed25519 key",
            w,
            PLAIN,
            line(PLAIN, &other_key),
            Verdict::Changed,
        ),
        Case::new(
            "only a key of a type the host lacks",
            w,
            PLAIN,
            line(PLAIN, &other_ecdsa),
            Verdict::Changed,
        ),
        Case::new(
            "only the ECDSA key of a host with three",
            w,
            MULTI,
            line(MULTI, &w.host_key(MULTI, "ssh_host_ecdsa_key")),
            Verdict::Reachable,
        ),
        Case::new(
            "only the RSA key of a host with three",
            w,
            MULTI,
            line(MULTI, &w.host_key(MULTI, "ssh_host_rsa_key")),
            Verdict::Reachable,
        ),
        Case::new(
            "bare host line for a host on another port",
            w,
            PLAIN,
            format!("{} {}\n", w.address(PLAIN), w.ed25519(PLAIN)),
            Verdict::Reachable,
        ),
        Case::new(
            "bare host line with another key, host on another port",
            w,
            PLAIN,
            format!("{} {other_key}\n", w.address(PLAIN)),
            Verdict::Unknown,
        ),
        Case::new(
            "port 22, bare line",
            w,
            PORT_22,
            line(PORT_22, &w.ed25519(PORT_22)),
            Verdict::Reachable,
        ),
        Case::new(
            "port 22, bracketed :22 line",
            w,
            PORT_22,
            format!("[{}]:22 {}\n", w.address(PORT_22), w.ed25519(PORT_22)),
            Verdict::Unknown,
        ),
        // Patterns.
        Case::new(
            "wildcard pattern",
            w,
            PLAIN,
            format!("[127.0.0.*]:{} {}\n", w.port(PLAIN), w.ed25519(PLAIN)),
            Verdict::Reachable,
        ),
        Case::new(
            "wildcard pattern with another key",
            w,
            PLAIN,
            format!("[127.0.0.?*]:{} {other_key}\n", w.port(PLAIN)),
            Verdict::Changed,
        ),
        Case::new(
            "negated pattern rules the line out",
            w,
            PLAIN,
            format!("[127.0.0.*]:{0},!{1} {other_key}\n", w.port(PLAIN), w.name(PLAIN)),
            Verdict::Unknown,
        ),
        Case::new(
            "several names on a line",
            w,
            PLAIN,
            format!("db.example.org,{},10.9.9.9 {}\n", w.name(PLAIN), w.ed25519(PLAIN)),
            Verdict::Reachable,
        ),
        // Markers.
        Case::new(
            "@revoked beats a valid line",
            w,
            PLAIN,
            format!("{}@revoked * {}\n", line(PLAIN, &w.ed25519(PLAIN)), w.ed25519(PLAIN)),
            Verdict::Revoked,
        ),
        Case::new(
            "certificate from a trusted CA",
            w,
            CERTIFIED,
            ca.clone(),
            Verdict::Reachable,
        ),
        Case::new(
            "certificate from another CA",
            w,
            CERTIFIED,
            format!("@cert-authority * {}\n", w.public(&w.other_ca)),
            Verdict::Unknown,
        ),
        Case::new(
            "expired certificate",
            w,
            EXPIRED,
            ca.clone(),
            Verdict::CertificateInvalid,
        ),
        Case::new(
            "certificate for another name",
            w,
            MISNAMED,
            ca.clone(),
            Verdict::CertificateInvalid,
        ),
        Case::new(
            "expired certificate, plain key known",
            w,
            EXPIRED,
            format!("{ca}{}", line(EXPIRED, &w.ed25519(EXPIRED))),
            Verdict::Reachable,
        ),
        Case::new(
            "revoked CA",
            w,
            CERTIFIED,
            format!("{ca}@revoked * {}\n", w.public(&w.ca)),
            Verdict::Revoked,
        ),
        Case::new(
            "wildcard principal",
            w,
            WILDCARD,
            ca.clone(),
            Verdict::CertificateInvalid,
        ),
        Case::new(
            "a revoked key type is not asked for",
            w,
            MULTI,
            format!(
                "{}{}@revoked * {}\n",
                line(MULTI, &w.ed25519(MULTI)),
                line(MULTI, &w.host_key(MULTI, "ssh_host_ecdsa_key")),
                w.ed25519(MULTI)
            ),
            Verdict::Reachable,
        ),
        Case::new(
            "CA line for other hosts only",
            w,
            CERTIFIED,
            format!("@cert-authority *.example.org {}\n", w.public(&w.ca)),
            Verdict::Unknown,
        ),
    ];

    // Hashed names, as ssh-keygen -H writes them.
    let mut hashed = Case::new("hashed name", w, PLAIN, String::new(), Verdict::Reachable);
    hashed
        .files
        .push((".ssh/to_hash".into(), line(PLAIN, &w.ed25519(PLAIN))));
    hashed.known_hosts = "@hash .ssh/to_hash".into();
    all.push(hashed);

    // HostKeyAlgorithms: a list written out is offered as it is; one
    // adjusted with `-` is still reordered by the known keys.
    let mut written = Case::new(
        "HostKeyAlgorithms written out",
        w,
        MULTI,
        line(MULTI, &w.ed25519(MULTI)),
        Verdict::Changed,
    );
    written
        .config
        .push_str("    HostKeyAlgorithms rsa-sha2-512,ssh-ed25519\n");
    all.push(written);
    let mut in_default_order = Case::new(
        "HostKeyAlgorithms written out in the default's order",
        w,
        MULTI,
        line(MULTI, &w.host_key(MULTI, "ssh_host_ecdsa_key")),
        Verdict::Changed,
    );
    in_default_order
        .config
        .push_str("    HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp256\n");
    all.push(in_default_order);
    let mut adjusted = Case::new(
        "HostKeyAlgorithms adjusted with -",
        w,
        MULTI,
        line(MULTI, &w.host_key(MULTI, "ssh_host_ecdsa_key")),
        Verdict::Reachable,
    );
    adjusted.config.push_str("    HostKeyAlgorithms -rsa-sha2-256\n");
    all.push(adjusted);

    // Files named by the configuration.
    let mut global = Case::new("global known_hosts file", w, PLAIN, String::new(), Verdict::Reachable);
    global.global_known_hosts = line(PLAIN, &w.ed25519(PLAIN));
    all.push(global);
    let mut user_file = Case::new(
        "UserKnownHostsFile with %k",
        w,
        PLAIN,
        String::new(),
        Verdict::Reachable,
    );
    user_file.config.push_str("    UserKnownHostsFile ~/.ssh/hosts.d/%k\n");
    user_file
        .files
        .push((".ssh/hosts.d/target".into(), line(PLAIN, &w.ed25519(PLAIN))));
    all.push(user_file);
    let mut spaced = Case::new(
        "UserKnownHostsFile with a space",
        w,
        PLAIN,
        String::new(),
        Verdict::Reachable,
    );
    spaced
        .config
        .push_str("    UserKnownHostsFile \"~/.ssh/fleet hosts\"\n");
    spaced
        .files
        .push((".ssh/fleet hosts".into(), line(PLAIN, &w.ed25519(PLAIN))));
    all.push(spaced);
    let mut global_option = Case::new("GlobalKnownHostsFile", w, PLAIN, String::new(), Verdict::Reachable);
    global_option.config.push_str("    GlobalKnownHostsFile ~/fleet_keys\n");
    global_option
        .files
        .push(("fleet_keys".into(), line(PLAIN, &w.ed25519(PLAIN))));
    all.push(global_option);
    let mut alias = Case::new(
        "HostKeyAlias",
        w,
        PLAIN,
        format!("pve-miramelle {}\n", w.ed25519(PLAIN)),
        Verdict::Reachable,
    );
    alias.config.push_str("    HostKeyAlias pve-miramelle\n");
    all.push(alias);

    // The configuration itself.
    let known_plain = line(PLAIN, &w.ed25519(PLAIN));
    let mut include = Case::new("Include", w, PLAIN, known_plain.clone(), Verdict::Reachable);
    include
        .files
        .push((".ssh/config.d/lab.conf".into(), include.config.clone()));
    include.config = "Include ~/.ssh/config.d/*.conf\n".into();
    all.push(include);
    let mut matched = Case::new("Match originalhost", w, PLAIN, known_plain.clone(), Verdict::Reachable);
    matched.config = format!(
        "Match originalhost target\n    HostName {}\n    Port {}\n    User {}\n    IdentityFile ~/.ssh/id_lab\n\
         Host *\n    Port 9\n",
        w.address(PLAIN),
        w.port(PLAIN),
        w.lab.user
    );
    all.push(matched);
    let mut tokens = Case::new("IdentityFile tokens", w, PLAIN, known_plain.clone(), Verdict::Reachable);
    tokens.config = tokens.config.replace("~/.ssh/id_lab", "%d/.ssh/keys/%r@%h-%p");
    tokens.lab_key_file = false;
    tokens.files.push((
        format!(".ssh/keys/{}@{}-{}", w.lab.user, w.address(PLAIN), w.port(PLAIN)),
        std::fs::read_to_string(&w.lab.client_key).unwrap(),
    ));
    all.push(tokens);
    let mut environment = Case::new("IdentityFile ${VAR}", w, PLAIN, known_plain.clone(), Verdict::Reachable);
    environment.config = environment
        .config
        .replace("~/.ssh/id_lab", "~/.ssh/${VIGIE_CONFORMANCE_KEY}");
    all.push(environment);

    // Authentication.
    let agent_only = |name, expected| {
        let mut case = Case::new(name, w, PLAIN, known_plain.clone(), expected);
        case.config = case.config.replace("    IdentityFile ~/.ssh/id_lab\n", "");
        case.lab_key_file = false;
        case
    };
    let mut several = agent_only("agent with several keys, the last one accepted", Verdict::Reachable);
    several.agent = vec![w.strangers[0].clone(), w.strangers[1].clone(), w.lab.client_key.clone()];
    all.push(several);
    let mut only = agent_only("IdentitiesOnly with a key file the host refuses", Verdict::Auth);
    only.agent = vec![w.lab.client_key.clone()];
    only.config
        .push_str("    IdentitiesOnly yes\n    IdentityFile ~/.ssh/stranger\n");
    only.files.push((
        ".ssh/stranger".into(),
        std::fs::read_to_string(&w.strangers[0]).unwrap(),
    ));
    all.push(only);
    let mut only_agent = agent_only(
        "IdentitiesOnly, encrypted key file held by the agent",
        Verdict::Reachable,
    );
    only_agent.agent = vec![w.lab.client_key.clone()];
    only_agent
        .config
        .push_str("    IdentitiesOnly yes\n    IdentityFile ~/.ssh/id_locked\n");
    add_encrypted_key(&mut only_agent, w);
    all.push(only_agent);
    let mut locked = agent_only("encrypted key file, no agent", Verdict::Auth);
    locked.config.push_str("    IdentityFile ~/.ssh/id_locked\n");
    add_encrypted_key(&mut locked, w);
    all.push(locked);
    let mut public_only = agent_only(
        "IdentitiesOnly, a public key file whose key is in the agent",
        Verdict::Reachable,
    );
    public_only.agent = vec![w.strangers[0].clone(), w.lab.client_key.clone()];
    public_only
        .config
        .push_str("    IdentitiesOnly yes\n    IdentityFile ~/.ssh/token.pub\n");
    public_only.files.push((
        ".ssh/token.pub".into(),
        std::fs::read_to_string(w.lab.client_key.with_extension("pub")).unwrap(),
    ));
    all.push(public_only);
    let mut private_elsewhere = agent_only(
        "IdentitiesOnly, only FILE.pub next to a missing FILE",
        Verdict::Reachable,
    );
    private_elsewhere.agent = vec![w.strangers[0].clone(), w.lab.client_key.clone()];
    private_elsewhere
        .config
        .push_str("    IdentitiesOnly yes\n    IdentityFile ~/.ssh/token\n");
    private_elsewhere.files.push((
        ".ssh/token.pub".into(),
        std::fs::read_to_string(w.lab.client_key.with_extension("pub")).unwrap(),
    ));
    all.push(private_elsewhere);
    let mut second = agent_only("IdentityAgent names another agent", Verdict::Reachable);
    second.agent = vec![w.strangers[0].clone()];
    second.second_agent = vec![w.lab.client_key.clone()];
    second.config.push_str("    IdentityAgent ~/agent2.sock\n");
    all.push(second);
    let mut no_agent = agent_only("IdentityAgent none", Verdict::Auth);
    no_agent.agent = vec![w.lab.client_key.clone()];
    no_agent.config.push_str("    IdentityAgent none\n");
    all.push(no_agent);
    let mut defaults = agent_only("default identity file ~/.ssh/id_ed25519", Verdict::Reachable);
    defaults.files.push((
        ".ssh/id_ed25519".into(),
        std::fs::read_to_string(&w.lab.client_key).unwrap(),
    ));
    all.push(defaults);

    // Ways there.
    let jump_known = format!("{}{}", line(MULTI, &w.ed25519(MULTI)), line(PLAIN, &w.ed25519(PLAIN)));
    let mut jump = Case::new("ProxyJump", w, MULTI, jump_known.clone(), Verdict::Reachable);
    let jump_config = format!(
        "{}    ProxyJump bastion\n{}",
        w.block("target", MULTI),
        w.block("bastion", PLAIN)
    );
    jump.config = jump_config.clone();
    all.push(jump);
    let mut jump_unknown = Case::new(
        "ProxyJump, the jump host's key unknown",
        w,
        MULTI,
        line(MULTI, &w.ed25519(MULTI)),
        Verdict::Unknown,
    );
    jump_unknown.config = jump_config;
    all.push(jump_unknown);
    let three_known = format!("{jump_known}{}", line(PORT_22, &w.ed25519(PORT_22)));
    let mut two_hops = Case::new("two jumps given to both", w, MULTI, three_known, Verdict::Reachable);
    two_hops.config = format!(
        "{}{}{}",
        w.block("target", MULTI),
        w.block("bastion", PLAIN),
        w.block("inner", PORT_22)
    );
    two_hops.jump = Some("bastion,inner".into());
    all.push(two_hops);
    let mut jump_refused = Case::new(
        "a jump host that refuses the key",
        w,
        MULTI,
        jump_known.clone(),
        Verdict::Auth,
    );
    jump_refused.config = format!(
        "{}{}",
        w.block("target", MULTI),
        w.block("bastion", PLAIN).replace("~/.ssh/id_lab", "~/.ssh/stranger")
    );
    jump_refused.files.push((
        ".ssh/stranger".into(),
        std::fs::read_to_string(&w.strangers[0]).unwrap(),
    ));
    jump_refused.jump = Some("bastion".into());
    all.push(jump_refused);
    let mut proxy = Case::new("ProxyCommand", w, MULTI, jump_known, Verdict::Reachable);
    proxy.config = format!(
        "{}    ProxyCommand ssh -o BatchMode=yes -W %h:%p bastion\n{}",
        w.block("target", MULTI),
        w.block("bastion", PLAIN)
    );
    all.push(proxy);
    all
}

fn add_encrypted_key(case: &mut Case, world: &World) {
    case.files.push((
        ".ssh/id_locked".into(),
        std::fs::read_to_string(&world.encrypted_client).unwrap(),
    ));
    case.files.push((
        ".ssh/id_locked.pub".into(),
        std::fs::read_to_string(world.encrypted_client.with_extension("pub")).unwrap(),
    ));
}

/// The home directory OpenSSH uses: the password database's.
fn passwd_home() -> PathBuf {
    vigie::transport::openssh::LocalUser::current().home
}

struct Outcome {
    ssh: Verdict,
    ssh_said: String,
    vigie: Verdict,
    vigie_said: String,
}

fn run_case(world: &World, case: &Case) -> Outcome {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let etc = root.path().join("etc-ssh");
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(ssh_dir.join("config"), &case.config).unwrap();
    for (path, text) in &case.files {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
    }
    if case.lab_key_file {
        std::fs::copy(&world.lab.client_key, ssh_dir.join("id_lab")).unwrap();
    }
    let known_hosts = ssh_dir.join("known_hosts");
    match case.known_hosts.strip_prefix("@hash ") {
        Some(source) => {
            std::fs::copy(home.join(source), &known_hosts).unwrap();
            common::run("ssh-keygen", &["-q", "-H", "-f", known_hosts.to_str().unwrap()]);
            let hashed = std::fs::read_to_string(&known_hosts).unwrap();
            assert!(hashed.starts_with("|1|"), "ssh-keygen -H hashed the line: {hashed}");
        }
        None => std::fs::write(&known_hosts, &case.known_hosts).unwrap(),
    }
    // The machine's own client defaults, without its include directory.
    let system_config = std::fs::read_to_string("/etc/ssh/ssh_config").unwrap_or_default();
    std::fs::write(etc.join("ssh_config"), system_config.replace("Include", "# Include")).unwrap();
    std::fs::write(etc.join("ssh_known_hosts"), &case.global_known_hosts).unwrap();
    let _agents = [
        Agent::start(&root.path().join("agent.sock"), &case.agent),
        Agent::start(&home.join("agent2.sock"), &case.second_agent),
    ];
    let vigie_toml = root.path().join("vigie.toml");
    std::fs::write(
        &vigie_toml,
        format!(
            "[settings]\nconnect_timeout = \"5s\"\ncommand_timeout = \"10s\"\nknown_hosts = \"{}\"\n\n\
             [[hosts]]\nname = \"target\"\naddress = \"{}\"\n{}",
            root.path().join("vigie_pins").display(),
            case.destination,
            case.jump
                .as_ref()
                .map(|j| format!("jump = \"{j}\"\n"))
                .unwrap_or_default()
        ),
    )
    .unwrap();

    // Both tools, in one private mount namespace where the case's files are
    // the passwd home and /etc/ssh.
    let script = r#"set -e
mount --bind "$CASE_HOME" "$PASSWD_HOME"
mount --bind "$CASE_ETC" /etc/ssh
set +e
ssh -T -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 $JUMP "$DESTINATION" true \
    </dev/null >/dev/null 2>"$OUT/ssh.err"
echo $? > "$OUT/ssh.rc"
"$VIGIE" status --json --config "$VIGIE_TOML" </dev/null >"$OUT/vigie.json" 2>"$OUT/vigie.err"
exit 0
"#;
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c", script])
        .env("CASE_HOME", &home)
        .env("PASSWD_HOME", passwd_home())
        .env("CASE_ETC", &etc)
        .env("DESTINATION", &case.destination)
        .env(
            "JUMP",
            case.jump.as_ref().map(|j| format!("-J {j}")).unwrap_or_default(),
        )
        .env("VIGIE_CONFORMANCE_KEY", "id_lab")
        .env("OUT", root.path())
        .env("VIGIE", env!("CARGO_BIN_EXE_vigie"))
        .env("VIGIE_TOML", &vigie_toml)
        .env("HOME", passwd_home())
        .env("XDG_CONFIG_HOME", root.path().join("xdg-config"))
        .env("XDG_DATA_HOME", root.path().join("xdg-data"))
        .env("SSH_AUTH_SOCK", root.path().join("agent.sock"))
        .env_remove("VIGIE_CONFIG")
        .env_remove("VIGIE_INCIDENT")
        .stdin(Stdio::null())
        .status()
        .expect("unshare (util-linux) runs");
    assert!(
        status.success(),
        "the mount namespace could not be set up (run the tests as root)"
    );
    let read = |name: &str| std::fs::read_to_string(root.path().join(name)).unwrap_or_default();
    let ssh_exit: i32 = read("ssh.rc").trim().parse().unwrap_or(-1);
    let ssh_said = read("ssh.err");
    let json: serde_json::Value = serde_json::from_str(&read("vigie.json"))
        .unwrap_or_else(|e| panic!("{}: vigie printed no JSON ({e}): {}", case.name, read("vigie.err")));
    Outcome {
        ssh: ssh_verdict(ssh_exit, &ssh_said),
        ssh_said,
        vigie: vigie_verdict(&json),
        vigie_said: json["hosts"][0]["error"].as_str().unwrap_or("").to_string(),
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An ssh-agent holding some keys, stopped when dropped.
struct Agent(Option<std::process::Child>);

impl Agent {
    fn start(socket: &Path, keys: &[PathBuf]) -> Agent {
        if keys.is_empty() {
            return Agent(None);
        }
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !socket.exists() {
            assert!(std::time::Instant::now() < deadline, "ssh-agent did not start");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for key in keys {
            let out = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", socket)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ssh-add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Agent(Some(child))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn vigie_and_openssh_agree_on_every_case() {
    let world = World::start();
    let cases = cases(&world);
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut report = String::new();
    let mut disagreements = 0;
    for case in &cases {
        let outcome = run_case(&world, case);
        let agreed = outcome.ssh == outcome.vigie && outcome.ssh == case.expected;
        if !agreed {
            disagreements += 1;
        }
        let _ = writeln!(
            report,
            "{} {:<55} expected {:?}, ssh {:?}, vigie {:?}{}",
            if agreed { "ok  " } else { "FAIL" },
            case.name,
            case.expected,
            outcome.ssh,
            outcome.vigie,
            if agreed && std::env::var_os("CONFORMANCE_VERBOSE").is_none() {
                String::new()
            } else {
                format!(
                    "\n     ssh said: {}\n     vigie said: {}",
                    outcome.ssh_said.trim().replace('\n', "\n               "),
                    outcome.vigie_said
                )
            }
        );
    }
    println!("{report}");
    assert_eq!(disagreements, 0, "\n{report}");
}

/// `vigie trust` on a host: its exit code, stdout and stderr. The host's ssh
/// settings come from `ssh_config` (`settings.ssh_config`, i.e. `ssh -F`).
fn trust(world: &World, dir: &Path, index: usize, ssh_config: &str) -> (i32, String, String) {
    let config_file = dir.join("ssh_config");
    std::fs::write(&config_file, ssh_config).unwrap();
    let vigie_toml = dir.join("vigie.toml");
    std::fs::write(
        &vigie_toml,
        format!(
            "[settings]\nknown_hosts = \"{}\"\nssh_config = \"{}\"\n\n[[hosts]]\nname = \"target\"\naddress = \"{}\"\n\
             port = {}\nuser = \"{}\"\n",
            dir.join("pins").display(),
            config_file.display(),
            world.address(index),
            world.port(index),
            world.lab.user
        ),
    )
    .unwrap();
    common::lab::vigie(
        dir,
        &["--config", vigie_toml.to_str().unwrap(), "trust", "target", "--yes"],
        "",
    )
}

#[test]
fn trust_shows_ssh_keygen_s_fingerprint_pins_what_ssh_accepts_and_refuses_revoked_keys() {
    let world = World::start();
    let no_files = "Host *\n    UserKnownHostsFile /dev/null\n    GlobalKnownHostsFile /dev/null\n";
    for index in [PLAIN, CERTIFIED] {
        let dir = tempfile::tempdir().unwrap();
        let (code, stdout, stderr) = trust(&world, dir.path(), index, no_files);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        // The fingerprint is the one ssh-keygen shows for the host key (a
        // certificate's plain key), not the certificate's.
        let public = world.lab.hosts[index].dir.join("ssh_host_ed25519_key.pub");
        let keygen = common::run("ssh-keygen", &["-l", "-f", public.to_str().unwrap()]);
        let fingerprint = keygen.split_whitespace().nth(1).unwrap();
        assert!(stdout.contains(fingerprint), "{stdout} vs {keygen}");
        assert_eq!(
            index == CERTIFIED,
            stdout.contains("with a host certificate"),
            "{stdout}"
        );
        // The pinned line is one the real ssh accepts, strictly.
        let pins = dir.path().join("pins");
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", pins.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null", "-i"])
            .arg(&world.lab.client_key)
            .arg("-p")
            .arg(world.port(index).to_string())
            .arg(format!("{}@{}", world.lab.user, world.address(index)))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh on the pin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Trusting again says so and adds nothing.
        let (code, stdout, _) = trust(&world, dir.path(), index, no_files);
        assert_eq!(code, 0);
        assert!(stdout.contains("already trusted"), "{stdout}");
        assert_eq!(std::fs::read_to_string(&pins).unwrap().lines().count(), 1);
    }

    // A revoked key is refused, never pinned.
    let dir = tempfile::tempdir().unwrap();
    let revoked = dir.path().join("revoked");
    std::fs::write(&revoked, format!("@revoked * {}\n", world.ed25519(PLAIN))).unwrap();
    let config = format!(
        "Host *\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile /dev/null\n",
        revoked.display()
    );
    let (code, stdout, stderr) = trust(&world, dir.path(), PLAIN, &config);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("@revoked"), "{stderr}");
    assert!(!dir.path().join("pins").exists(), "nothing pinned");

    // So is a key whose certificate from a trusted CA has expired.
    let dir = tempfile::tempdir().unwrap();
    let authorities = dir.path().join("authorities");
    std::fs::write(&authorities, format!("@cert-authority * {}\n", world.public(&world.ca))).unwrap();
    let config = format!(
        "Host *\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile /dev/null\n",
        authorities.display()
    );
    let (code, _, stderr) = trust(&world, dir.path(), EXPIRED, &config);
    assert_eq!(code, 1);
    assert!(stderr.contains("Certificate invalid: expired"), "{stderr}");
    assert!(!dir.path().join("pins").exists(), "nothing pinned");
}
