//! `vigie trust HOST`: show the key a host presents and pin it in vigie's own
//! known_hosts after the responder confirms. The verdict is OpenSSH's, on the
//! files the host's ssh configuration names: a changed key is never pinned
//! over the line that lists another one, a revoked key is never pinned, and
//! neither is a key whose certificate from a trusted CA is invalid.

use crate::config::Config;
use crate::transport::endpoint::Resolver;
use crate::transport::known_hosts::{self, HostKeyLookup, ServerKey, Verdict};
use crate::transport::ssh::{SshHandle, SshOptions};
use std::io::BufRead;

pub fn run(config: &Config, name: &str, assume_yes: bool) -> i32 {
    let resolver = Resolver::for_config(config);
    let resolved = match config.host(name) {
        Some(host) => resolver.resolve(config, host),
        // A jump host (as an error names it) or any ssh destination.
        None => {
            let names: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
            let hosts = if names.is_empty() {
                "it lists no hosts".to_string()
            } else {
                format!("hosts: {}", names.join(", "))
            };
            eprintln!("{name:?} is not in the inventory ({hosts}): checking it as an ssh destination");
            resolver.resolve_destination(config, name)
        }
    };
    let endpoint = match resolved {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("vigie trust: {e}");
            return 1;
        }
    };
    let options = SshOptions::from_config(config);
    let own_file = options.own_known_hosts.clone();
    let lookup = endpoint.host_key_lookup();
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
    let pattern = lookup.name();
    let certified = if key.certificate.is_some() {
        " (with a host certificate)"
    } else {
        ""
    };
    println!("{name} ({pattern}) presents this {} key{certified}:", key.key_type);
    println!("  {}", key.fingerprint);
    answer(name, verdict, &key, &lookup, &own_file, assume_yes)
}

/// Says what the verdict means for the responder, and pins an unknown key
/// once they confirm it; the exit code says whether the host is trusted now.
fn answer(
    name: &str,
    verdict: Verdict,
    key: &ServerKey,
    lookup: &HostKeyLookup,
    own_file: &std::path::Path,
    assume_yes: bool,
) -> i32 {
    match verdict {
        Verdict::Trusted => {
            println!("It is already trusted.");
            0
        }
        Verdict::Changed { offending } => {
            eprintln!();
            eprintln!("WARNING: THIS IS NOT THE KEY KNOWN FOR {name}: {offending} lists another key.");
            eprintln!("Someone may be impersonating the host, or it was reinstalled.");
            eprintln!("Check the new fingerprint out of band (console, another admin). If the change is");
            eprintln!("expected, remove the old line ({offending}), then run `vigie trust {name}` again.");
            1
        }
        Verdict::Revoked => {
            eprintln!();
            eprintln!(
                "REFUSED: this {} key of {name} is marked @revoked in a known_hosts file.",
                key.key_type
            );
            eprintln!("A stolen key may be impersonating the host. It cannot be pinned.");
            1
        }
        Verdict::Unknown {
            certificate_problem: Some(problem),
        } => {
            eprintln!();
            eprintln!("REFUSED: {name} presents a certificate from a trusted CA, but it is not valid: {problem}.");
            eprintln!("Renew the host's certificate; vigie does not pin around the CA.");
            1
        }
        Verdict::Unknown { .. } => {
            if !assume_yes && !confirm(&format!("Check it out of band. Pin this key for {name}? Type yes: ")) {
                eprintln!("Not pinned.");
                return 1;
            }
            match known_hosts::pin(own_file, lookup, key) {
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
        // The whole word, as ssh asks for it: a stray `y` pins nothing.
        Ok(_) => answer.trim().eq_ignore_ascii_case("yes"),
        Err(_) => false,
    }
}
