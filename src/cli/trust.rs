//! `vigie trust HOST`: show the key a host presents and pin it in vigie's own
//! known_hosts after the responder confirms. A changed key is never pinned
//! over the old one: the old entry must be removed on purpose first.

use crate::config::Config;
use crate::transport::endpoint;
use crate::transport::known_hosts::{self, Verdict};
use crate::transport::ssh::{SshHandle, SshOptions};
use crate::transport::ssh_config::SshConfig;
use std::io::BufRead;

pub fn run(config: &Config, name: &str, assume_yes: bool) -> i32 {
    let Some(host) = config.host(name) else {
        let names: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
        eprintln!(
            "vigie trust: no host {name:?} in the inventory (hosts: {})",
            names.join(", ")
        );
        return 1;
    };
    let endpoint = match endpoint::resolve(config, &SshConfig::load_user_config(), host) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("vigie trust: {e}");
            return 1;
        }
    };
    let options = SshOptions::from_config(config);
    let own_file = options.known_hosts.own.clone();
    let (host_name, port) = (endpoint.host.clone(), endpoint.port);
    let handle = SshHandle::spawn(endpoint, options);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vigie trust: {e}");
            return 1;
        }
    };
    let (key, verdict) = match runtime.block_on(handle.host_key()) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("vigie trust: cannot reach {name}: {e}");
            return 1;
        }
    };
    let pattern = known_hosts::host_pattern(&host_name, port);
    println!("{name} ({pattern}) presents this {} key:", key.key_type);
    println!("  {}", key.fingerprint);
    match verdict {
        Verdict::Trusted => {
            println!("It is already trusted.");
            0
        }
        Verdict::Mismatch { file } => {
            eprintln!();
            eprintln!("WARNING: THIS IS NOT THE KEY PINNED FOR {name} in {}.", file.display());
            eprintln!("Someone may be impersonating the host, or it was reinstalled.");
            eprintln!("Check the new fingerprint out of band (console, another admin). If the change is");
            eprintln!("expected, remove the old key, then run `vigie trust {name}` again:");
            eprintln!("  ssh-keygen -R '{pattern}' -f '{}'", file.display());
            1
        }
        Verdict::Unknown => {
            if !assume_yes && !confirm(&format!("Check it out of band. Pin this key for {name}? Type yes: ")) {
                eprintln!("Not pinned.");
                return 1;
            }
            match known_hosts::pin(&own_file, &host_name, port, &key) {
                Ok(()) => {
                    println!("Pinned in {}.", own_file.display());
                    0
                }
                Err(e) => {
                    eprintln!("vigie trust: cannot write {}: {e}", own_file.display());
                    1
                }
            }
        }
    }
}

fn confirm(prompt: &str) -> bool {
    eprint!("{prompt}");
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(_) => matches!(answer.trim(), "yes" | "y" | "YES"),
        Err(_) => false,
    }
}
