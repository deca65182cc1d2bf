//! A real libvirt/QEMU lab of two hypervisors: two unix users, each with
//! its own `qemu:///session` daemon (started by libvirt itself on first
//! use), reached over SSH through its own lab sshd, sharing one disk
//! directory. Guests are tiny real QEMU machines with no OS (SeaBIOS finds
//! nothing to boot and waits), KVM where /dev/kvm exists, TCG otherwise,
//! on qcow2 chains made with qemu-img.

use super::lab::SshLab;
use super::run;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The unix users the hypervisors run as.
const USERS: [&str; 2] = ["vigie-hv-a", "vigie-hv-b"];

/// The hypervisor users are shared by every test: one lab at a time.
static ONE_LAB_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct HypervisorLab {
    pub ssh: SshLab,
    /// Shared by both hypervisors, as a SAN or an NFS export would be.
    pub disks: tempfile::TempDir,
    pub users: [&'static str; 2],
    /// Small filesystems mounted for the lab, unmounted when it ends.
    mounts: Vec<PathBuf>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// A boot sector that writes 20 × 127 sectors (1.3 MB of whatever is in
/// memory) from sector 1 on with the BIOS's extended write (int 13h, AH=43h),
/// then halts: a guest that fills its disk, with no OS.
///
/// ```text
/// 00 FA           cli                      ; 1E FF 0E 40 7C  dec word [count]
/// 01 31 C0        xor ax,ax                ; 22 75 E7        jnz write
/// 03 8E D8 8E D0  mov ds,ax / mov ss,ax    ; 24 F4 EB FD     hang: hlt / jmp hang
/// 07 BC 00 7C FB  mov sp,0x7c00 / sti      ; 30 disk address packet: 16 bytes,
/// 0B BE 30 7C     write: mov si,dap        ;    127 sectors, buffer 1000:0000, LBA 1
/// 0E B4 43 B0 00  mov ah,0x43 / mov al,0   ; 40 count: 20
/// 12 CD 13        int 0x13                 ; 1FE 55 AA
/// 14 83 06 38 7C 7F  add word [dap+8],127
/// 19 83 16 3A 7C 00  adc word [dap+10],0
/// ```
fn disk_filler_boot_sector() -> [u8; 512] {
    let code: [u8; 0x27] = [
        0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, 0xFB, 0xBE, 0x30, 0x7C, 0xB4, 0x43, 0xB0, 0x00,
        0xCD, 0x13, 0x83, 0x06, 0x38, 0x7C, 0x7F, 0x83, 0x16, 0x3A, 0x7C, 0x00, 0xFF, 0x0E, 0x40, 0x7C, 0x75, 0xE7,
        0xF4, 0xEB, 0xFD,
    ];
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[0x30..0x40].copy_from_slice(&[0x10, 0, 0x7F, 0, 0, 0, 0, 0x10, 1, 0, 0, 0, 0, 0, 0, 0]);
    sector[0x40] = 20;
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

impl HypervisorLab {
    /// Two hypervisors, lab1 (user vigie-hv-a) and lab2 (vigie-hv-b), no guests yet.
    pub fn start() -> HypervisorLab {
        // A test that failed holding it poisons nothing of the next one's.
        let turn = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        for tool in ["virsh", "qemu-system-x86_64", "qemu-img", "runuser"] {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(found, "{tool} is missing: ./scripts/test installs the hypervisor lab");
        }
        let kvm = Path::new("/dev/kvm").exists();
        for user in USERS {
            ensure_user(user, kvm);
            // A daemon from an earlier run that died uncleanly holds nothing of ours.
            let _ = Command::new("pkill").args(["-KILL", "-u", user]).status();
        }
        let ssh = SshLab::start(2);
        ssh.allow_other_users();
        let disks = tempfile::Builder::new()
            .prefix("vigie-disks-")
            .tempdir()
            .expect("disk dir");
        chmod(disks.path(), "1777");
        let lab = HypervisorLab {
            ssh,
            disks,
            users: USERS,
            mounts: Vec::new(),
            _turn: turn,
        };
        for (index, user) in USERS.iter().enumerate() {
            let out = lab.virsh(index, &["list", "--all", "--name"]);
            assert!(
                out.status.success(),
                "no libvirt session for {user}: {}",
                text(&out.stderr)
            );
        }
        lab
    }

    /// The dead-hypervisor night's start: lab1 runs web (on a chain of one
    /// snapshot) and mail, their XML copied beside the shared disks;
    /// returns where the copies are.
    pub fn with_web_and_mail(&mut self) -> PathBuf {
        let web = self.chain("web", 1, "64M");
        let mail = self.chain("mail", 0, "32M");
        self.define(0, "web", 64, &web);
        self.define(0, "mail", 48, &mail);
        self.start_guest(0, "web");
        self.start_guest(0, "mail");
        self.replicate_configs(0, &["web", "mail"])
    }

    /// The admins' copy of each domain's XML beside the shared disks, as
    /// the libvirt variant of evacuate-hypervisor expects them.
    pub fn replicate_configs(&self, index: usize, names: &[&str]) -> PathBuf {
        let configs = self.disks.path().join("configs");
        std::fs::create_dir_all(&configs).unwrap();
        for name in names {
            let xml = self.virsh(index, &["dumpxml", name]);
            assert!(xml.status.success(), "{}", text(&xml.stderr));
            std::fs::write(configs.join(format!("{name}.xml")), &xml.stdout).unwrap();
        }
        configs
    }

    /// `virsh` on hypervisor `index`, as its user, on its session daemon.
    pub fn virsh(&self, index: usize, args: &[&str]) -> Output {
        as_user(USERS[index], "virsh", &[&["-c", "qemu:///session"], args].concat())
    }

    /// A chain of `depth` overlays over a base of `size`, in the shared
    /// directory; returns the top image.
    pub fn chain(&self, name: &str, depth: usize, size: &str) -> PathBuf {
        let base = self.disks.path().join(format!("{name}-0.qcow2"));
        run(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", base.to_str().unwrap(), size],
        );
        let mut top = base;
        for layer in 1..=depth {
            let next = self.disks.path().join(format!("{name}-{layer}.qcow2"));
            overlay(&top, &next);
            top = next;
        }
        for entry in std::fs::read_dir(self.disks.path()).unwrap().flatten() {
            chmod(&entry.path(), "0666");
        }
        top
    }

    /// A tmpfs of `kib` KiB in the shared directory: a datastore that fills up.
    pub fn small_filesystem(&mut self, name: &str, kib: u64) -> PathBuf {
        let dir = self.disks.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=1777"),
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        self.mounts.push(dir.clone());
        dir
    }

    /// A 64 MiB disk that boots [`disk_filler_boot_sector`]: its base in
    /// the shared directory, its overlay (where the writes land) in `dir`.
    pub fn disk_filler(&self, name: &str, dir: &Path) -> PathBuf {
        let raw = self.disks.path().join(format!("{name}.raw"));
        let file = std::fs::File::create(&raw).unwrap();
        file.set_len(64 << 20).unwrap();
        use std::os::unix::fs::FileExt;
        file.write_all_at(&disk_filler_boot_sector(), 0).unwrap();
        let base = self.disks.path().join(format!("{name}-base.qcow2"));
        run(
            "qemu-img",
            &[
                "convert",
                "-q",
                "-f",
                "raw",
                "-O",
                "qcow2",
                raw.to_str().unwrap(),
                base.to_str().unwrap(),
            ],
        );
        let top = dir.join(format!("{name}.qcow2"));
        overlay(&base, &top);
        chmod(&base, "0666");
        chmod(&top, "0666");
        top
    }

    /// Defines guest `name` on hypervisor `index` with `memory_mib` and `disk`.
    pub fn define(&self, index: usize, name: &str, memory_mib: u64, disk: &Path) {
        self.define_with(index, name, memory_mib, disk, "");
    }

    /// [`define`](Self::define) with the disk's `error_policy` (`enospace`:
    /// pause the guest when its disk cannot grow, as QEMU's own default).
    pub fn define_with(&self, index: usize, name: &str, memory_mib: u64, disk: &Path, error_policy: &str) {
        let kind = if Path::new("/dev/kvm").exists() { "kvm" } else { "qemu" };
        let policy = if error_policy.is_empty() {
            String::new()
        } else {
            format!(" error_policy='{error_policy}'")
        };
        // <acpi/>: without it libvirt passes -no-acpi, which QEMU 10 refuses.
        let xml = format!(
            "<domain type='{kind}'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>\
             <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'{policy}/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            disk.display()
        );
        let file = self.disks.path().join(format!("{name}.xml"));
        std::fs::write(&file, xml).unwrap();
        chmod(&file, "0644");
        let out = self.virsh(index, &["define", file.to_str().unwrap()]);
        assert!(out.status.success(), "define {name}: {}", text(&out.stderr));
    }

    pub fn start_guest(&self, index: usize, name: &str) {
        let out = self.virsh(index, &["start", name]);
        assert!(out.status.success(), "start {name}: {}", text(&out.stderr));
    }

    /// The guest's state and reason, as `virsh domstate --reason` says.
    pub fn domstate(&self, index: usize, name: &str) -> String {
        text(&self.virsh(index, &["domstate", "--reason", name]).stdout)
            .trim()
            .to_string()
    }

    /// Kills the QEMU process of guest `name`, as a crash would.
    pub fn crash_guest(&self, index: usize, name: &str) {
        let status = Command::new("pkill")
            .args(["-KILL", "-u", USERS[index], "-f", &format!("guest={name},")])
            .status()
            .unwrap();
        assert!(status.success(), "no QEMU process for {name}");
    }

    /// A vigie.toml listing both hypervisors (kind libvirt, each as its user).
    pub fn vigie_toml(&self) -> String {
        let mut text = format!(
            "[settings]\npoll_interval = \"1s\"\nconnect_timeout = \"2s\"\ncommand_timeout = \"20s\"\nknown_hosts = \"{}\"\n",
            self.ssh.known_hosts.display()
        );
        for (index, host) in self.ssh.hosts.iter().enumerate() {
            text.push_str(&format!(
                "\n[[hosts]]\nname = \"{}\"\naddress = \"{}\"\nport = {}\nuser = \"{}\"\nidentity_file = \"{}\"\nkind = \"libvirt\"\n",
                host.name,
                host.address,
                host.port,
                USERS[index],
                self.ssh.client_key.display()
            ));
        }
        text
    }
}

impl Drop for HypervisorLab {
    fn drop(&mut self) {
        for (index, user) in USERS.iter().enumerate() {
            let names = self.virsh(index, &["list", "--all", "--name"]);
            for name in text(&names.stdout).lines().filter(|l| !l.trim().is_empty()) {
                let _ = self.virsh(index, &["destroy", name]);
                let _ = self.virsh(index, &["undefine", name]);
            }
            let _ = Command::new("pkill").args(["-KILL", "-u", user]).status();
        }
        for mount in &self.mounts {
            let _ = Command::new("umount").arg(mount).status();
        }
    }
}

/// `program args` as `user`, in its home, without this process's XDG dirs:
/// the same environment an SSH login of that user has.
fn as_user(user: &str, program: &str, args: &[&str]) -> Output {
    Command::new("runuser")
        .args([
            "-u",
            user,
            "--",
            "env",
            "-u",
            "XDG_RUNTIME_DIR",
            "-u",
            "XDG_CONFIG_HOME",
            "-u",
            "XDG_DATA_HOME",
        ])
        .arg(format!("HOME=/home/{user}"))
        .arg(program)
        .args(args)
        .current_dir("/")
        .output()
        .expect("runuser")
}

fn ensure_user(user: &str, kvm: bool) {
    let exists = Command::new("id").arg(user).output().unwrap().status.success();
    if !exists {
        let status = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", user])
            .status()
            .expect("useradd");
        assert!(status.success(), "useradd {user} failed: the tests must run as root");
    }
    // No password, but not locked: sshd without PAM refuses a locked
    // account even a key login.
    run("usermod", &["-p", "*", user]);
    if kvm {
        let _ = Command::new("groupadd").args(["-f", "kvm"]).status();
        run("usermod", &["-aG", "kvm", user]);
        // What udev does on a real host.
        run("chgrp", &["kvm", "/dev/kvm"]);
        chmod(Path::new("/dev/kvm"), "0660");
    }
}

/// A qcow2 overlay `top` over `base`.
fn overlay(base: &Path, top: &Path) {
    let (base, top) = (base.to_str().unwrap(), top.to_str().unwrap());
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top],
    );
}

fn chmod(path: &Path, mode: &str) {
    run("chmod", &[mode, path.to_str().unwrap()]);
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
