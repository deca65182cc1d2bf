//! The fleet as one watcher sees it: every host's status and alerts, what
//! its last observations told the journal, and when each open alert began
//! as the journal says. The cockpit and `vigie watch` both hold one.

use super::{AlertKey, Coverage, Observation, Occurrence};
use crate::alerts::{self, Alert, VM_DOWN};
use crate::config::Config;
use crate::status::{HostStatus, PollResult, Reachability};
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;

pub struct FleetStatus {
    pub hosts: Vec<HostStatus>,
    /// Alerts of each host, computed when its status changes (not per frame).
    pub alerts: Vec<Vec<Alert>>,
    /// The alert keys each host's last observation reported: only a change
    /// goes to the journal again.
    observed: Vec<Option<Vec<AlertKey>>>,
    /// When each open alert of a host began, by (code, subject).
    since: Vec<HashMap<(String, String), DateTime<Utc>>>,
    /// Hosts that have `vm_down` alerts now.
    guest_hosts: Vec<usize>,
}

impl FleetStatus {
    pub fn new(config: &Config) -> FleetStatus {
        let hosts: Vec<HostStatus> = config.hosts.iter().map(HostStatus::new).collect();
        FleetStatus {
            alerts: hosts.iter().map(alerts::for_host).collect(),
            observed: vec![None; hosts.len()],
            since: vec![HashMap::new(); hosts.len()],
            guest_hosts: Vec::new(),
            hosts,
        }
    }

    /// Folds a poll into the status; returns the observations the journal
    /// must hear: this host's, and any other whose guests it changed (a
    /// VM started elsewhere is no longer down with its dead hypervisor).
    pub fn apply_poll(&mut self, result: &PollResult) -> Vec<Observation> {
        let index = result.host_index;
        let Some(host) = self.hosts.get_mut(index) else {
            return Vec::new();
        };
        host.apply(result);
        self.alerts[index] = alerts::for_host_after(host, &self.alerts[index]);
        let mut changed = self.refresh_guests();
        if !changed.contains(&index) {
            changed.push(index);
        }
        let at = result.at.trunc_subsecs(3);
        changed.into_iter().filter_map(|i| self.observation(i, at)).collect()
    }

    /// Recomputes the `vm_down` alerts; returns the hosts that had or have some.
    fn refresh_guests(&mut self) -> Vec<usize> {
        let down = alerts::guests_down(&self.hosts);
        let mut touched = std::mem::take(&mut self.guest_hosts);
        for index in &touched {
            self.alerts[*index].retain(|a| a.code != VM_DOWN);
        }
        for (index, alert) in down {
            self.alerts[index].push(alert);
            if !self.guest_hosts.contains(&index) {
                self.guest_hosts.push(index);
            }
        }
        for index in &self.guest_hosts {
            if !touched.contains(index) {
                touched.push(*index);
            }
        }
        touched
    }

    /// The observation of host `index` if its alerts changed since the last one.
    fn observation(&mut self, index: usize, at: DateTime<Utc>) -> Option<Observation> {
        let host = &self.hosts[index];
        if host.reachability == Reachability::Unknown {
            return None;
        }
        let mut keys: Vec<AlertKey> = self.alerts[index].iter().map(|a| AlertKey::of(&host.name, a)).collect();
        keys.sort();
        if self.observed[index].as_ref() == Some(&keys) {
            return None;
        }
        self.observed[index] = Some(keys);
        let coverage = if host.is_reachable() {
            Coverage::Everything
        } else {
            Coverage::Reachability {
                guests: host.reading.is_some(),
            }
        };
        Some(Observation {
            host: host.name.clone(),
            at,
            alerts: self.alerts[index].clone(),
            coverage,
        })
    }

    /// Takes the journal's word for when the open alerts of `host` began:
    /// another watcher may have seen them first, or this one before a
    /// restart. An unreachable host is unreachable since the journal's time.
    pub fn adopt(&mut self, host: &str, open: &[Occurrence]) {
        let Some(index) = self.hosts.iter().position(|h| h.name == host) else {
            return;
        };
        self.since[index] = open
            .iter()
            .map(|o| ((o.key.code.clone(), o.key.subject.clone()), o.raised))
            .collect();
        let reachability_code = self.alerts[index]
            .iter()
            .find(|a| alerts::REACHABILITY_CODES.contains(&a.code))
            .map(|a| a.code);
        let journal_since =
            reachability_code.and_then(|code| self.since[index].get(&(code.to_string(), String::new())));
        if let (Some(first), Reachability::Unreachable { since, .. }) =
            (journal_since, &mut self.hosts[index].reachability)
        {
            if *first != *since {
                *since = *first;
                let previous = std::mem::take(&mut self.alerts[index]);
                // The history says when the host went down, not when this
                // watcher first looked.
                if let Some((at, what)) = self.hosts[index].changes.back_mut() {
                    if what.starts_with("down") && *at > *first {
                        *at = *first;
                    }
                }
                self.alerts[index] = alerts::for_host_after(&self.hosts[index], &previous);
                self.refresh_guests();
            }
        }
    }

    /// When this alert of host `index` began, if the journal knows.
    pub fn since(&self, index: usize, alert: &Alert) -> Option<DateTime<Utc>> {
        self.since
            .get(index)?
            .get(&(alert.code.to_string(), alert.subject.clone()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::model::Vm;
    use crate::probe::Reading;
    use crate::status::PollOutcome;
    use crate::transport_error::TransportError;
    use chrono::TimeZone;

    fn config() -> Config {
        let text = r#"
[[hosts]]
name = "miramelle"
kind = "libvirt"
address = "10.0.0.11"

[[hosts]]
name = "locuste"
kind = "libvirt"
address = "10.0.0.12"
"#;
        Config::parse(std::path::Path::new("vigie.toml"), text).expect("config")
    }

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, second).unwrap()
    }

    fn reading(host_index: usize, second: u32, vms: &[&str]) -> PollResult {
        PollResult {
            host_index,
            at: at(second),
            outcome: PollOutcome::Reading {
                reading: Box::new(Reading {
                    vms: vms
                        .iter()
                        .map(|name| Vm {
                            name: name.to_string(),
                            state: "running".into(),
                            ..Vm::default()
                        })
                        .collect(),
                    ..Reading::default()
                }),
                round_trip: std::time::Duration::ZERO,
            },
        }
    }

    fn failed(host_index: usize, second: u32) -> PollResult {
        PollResult {
            host_index,
            at: at(second),
            outcome: PollOutcome::Failed(TransportError::Refused),
        }
    }

    fn codes(observations: &[Observation]) -> Vec<(String, Vec<String>)> {
        observations
            .iter()
            .map(|o| {
                let codes = o.alerts.iter().map(|a| format!("{}:{}", a.code, a.subject)).collect();
                (o.host.clone(), codes)
            })
            .collect()
    }

    #[test]
    fn a_dead_hypervisor_takes_its_guests_down_until_they_run_elsewhere() {
        let mut fleet = FleetStatus::new(&config());
        assert_eq!(
            codes(&fleet.apply_poll(&reading(0, 0, &["mail", "wiki"]))),
            vec![("miramelle".into(), vec![])]
        );
        fleet.apply_poll(&reading(1, 1, &[]));
        let down = fleet.apply_poll(&failed(0, 5));
        assert_eq!(
            codes(&down),
            vec![(
                "miramelle".into(),
                vec!["unreachable:".into(), "vm_down:mail".into(), "vm_down:wiki".into()]
            )]
        );
        assert_eq!(down[0].coverage, Coverage::Reachability { guests: true });
        assert!(
            fleet.apply_poll(&failed(0, 10)).is_empty(),
            "no change, nothing to tell"
        );
        // mail starts on locuste: its vm_down clears, seen by locuste's poll.
        let moved = fleet.apply_poll(&reading(1, 12, &["mail"]));
        assert_eq!(
            codes(&moved),
            vec![("miramelle".into(), vec!["unreachable:".into(), "vm_down:wiki".into()])],
            "locuste's own alerts did not change"
        );
        assert_eq!(moved[0].at, at(12));
    }

    #[test]
    fn the_journal_time_wins() {
        let mut fleet = FleetStatus::new(&config());
        fleet.apply_poll(&failed(0, 20));
        let first = Occurrence {
            id: "x".into(),
            key: AlertKey {
                host: "miramelle".into(),
                code: "unreachable".into(),
                subject: String::new(),
            },
            severity: "critical".into(),
            message: String::new(),
            raised: at(3),
            cleared: None,
            observer: "bob".into(),
        };
        fleet.adopt("miramelle", &[first]);
        assert!(matches!(fleet.hosts[0].reachability, Reachability::Unreachable { since, .. } if since == at(3)));
        assert!(
            fleet.alerts[0][0].message.contains("since 19:30:03"),
            "{:?}",
            fleet.alerts[0]
        );
        assert_eq!(fleet.since(0, &fleet.alerts[0][0].clone()), Some(at(3)));
    }
}
