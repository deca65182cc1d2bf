//! The fleet recorder on a thread of its own: the journal's lock, reads
//! and fsyncs never run on the render path or a tokio worker. Watchers
//! hand it observations; it answers with the journal's times and says
//! what it recorded.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc as blocking;
use std::time::Duration;
use tokio::sync::mpsc;
use vigie_core::fleet::{FleetRecorder, Observation, Occurrence, Record};
use vigie_core::timeline::{Event, TimelineOptions};

/// How often other watchers' records and new incidents are looked for.
const SYNC_EVERY: Duration = Duration::from_secs(2);

/// What the recorder tells its watcher.
#[derive(Debug, Clone)]
pub enum FleetNews {
    /// The journal's open occurrences of a host after an observation of
    /// it, and those this observation closed.
    Open {
        host: String,
        open: Vec<Occurrence>,
        closed: Vec<Occurrence>,
    },
    /// A fleet event written into an incident's timeline.
    Recorded { incident: PathBuf, event: Event },
    /// The open incidents, the most recently declared first (when the set changes).
    OpenIncidents(Vec<PathBuf>),
    /// Something could not be read or written (said once).
    Problem(String),
}

enum Job {
    Observe(Vec<Observation>),
    /// An incident was declared (or opened): sync it now, not at the next pass.
    Incident(PathBuf),
}

/// Where a watcher sends its observations. Dropping it stops the thread
/// once it is done with what it was given.
pub struct FleetHandle {
    jobs: blocking::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FleetHandle {
    /// Stops the recorder after the work already sent, and waits for it:
    /// what was observed before a clean stop is on disk.
    pub fn finish(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    pub fn observe(&self, observations: Vec<Observation>) {
        if !observations.is_empty() {
            let _ = self.jobs.send(Job::Observe(observations));
        }
    }

    /// Records into this incident too, wherever it is, starting now.
    pub fn incident(&self, dir: PathBuf) {
        let _ = self.jobs.send(Job::Incident(dir));
    }
}

/// Starts the recorder of the config's incidents directory. Fleet events
/// are written with the config's redaction and cap; the journal's records
/// are signed by this responder.
/// `role` (`cockpit`, `watch`) tells which of this responder's processes
/// saw an alert first.
pub fn spawn_for(config: &vigie_core::config::Config, role: &str) -> (FleetHandle, mpsc::UnboundedReceiver<FleetNews>) {
    spawn(config.incidents_dir(), options_for(config, role))
}

/// The options a watcher records with: the config's redaction and cap,
/// signed `alice@bastion (watch)`.
pub fn options_for(config: &vigie_core::config::Config, role: &str) -> TimelineOptions {
    let mut options = vigie_core::incident::timeline_options(config)
        .unwrap_or_else(|_| TimelineOptions::new(vigie_core::incident::actor(config)));
    options.actor = format!("{} ({role})", options.actor);
    options
}

/// Starts the recorder of `incidents_dir`'s journal.
pub fn spawn(incidents_dir: PathBuf, options: TimelineOptions) -> (FleetHandle, mpsc::UnboundedReceiver<FleetNews>) {
    let (jobs, job_receiver) = blocking::channel();
    let (news, news_receiver) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("vigie-fleet".into())
        .spawn(move || Worker::new(incidents_dir, options, news).run(job_receiver));
    match spawned {
        Ok(thread) => (
            FleetHandle {
                jobs,
                thread: Some(thread),
            },
            news_receiver,
        ),
        Err(e) => {
            // No thread, no recording: say so rather than pretend.
            let (news, closed) = mpsc::unbounded_channel();
            let _ = news.send(FleetNews::Problem(format!("cannot start the fleet recorder: {e}")));
            (FleetHandle { jobs, thread: None }, closed)
        }
    }
}

struct Worker {
    incidents_dir: PathBuf,
    options: TimelineOptions,
    news: mpsc::UnboundedSender<FleetNews>,
    recorder: Option<FleetRecorder>,
    followed: Vec<PathBuf>,
    said: HashSet<String>,
    open_incidents: Vec<PathBuf>,
}

impl Worker {
    fn new(incidents_dir: PathBuf, options: TimelineOptions, news: mpsc::UnboundedSender<FleetNews>) -> Worker {
        Worker {
            incidents_dir,
            options,
            news,
            recorder: None,
            followed: Vec::new(),
            said: HashSet::new(),
            open_incidents: Vec::new(),
        }
    }

    fn run(mut self, jobs: blocking::Receiver<Job>) {
        loop {
            let job = jobs.recv_timeout(SYNC_EVERY);
            if matches!(job, Err(blocking::RecvTimeoutError::Disconnected)) {
                return;
            }
            if let Ok(Job::Incident(dir)) = &job {
                self.followed.push(dir.clone());
            }
            if !self.open_recorder() {
                continue;
            }
            let Some(recorder) = self.recorder.as_mut() else {
                continue;
            };
            let mut news = Vec::new();
            let mut problems = Vec::new();
            match job {
                Ok(Job::Observe(observations)) => {
                    for observation in &observations {
                        match recorder.observe(observation) {
                            Ok((records, open)) => {
                                let closed = records
                                    .iter()
                                    .filter_map(|record| match record {
                                        Record::Cleared { id, .. } => {
                                            recorder.journal().occurrences().all().find(|o| o.id == *id).cloned()
                                        }
                                        Record::Raised(_) => None,
                                    })
                                    .collect();
                                news.push(FleetNews::Open {
                                    host: observation.host.clone(),
                                    open,
                                    closed,
                                });
                            }
                            Err(e) => problems.push(e.to_string()),
                        }
                    }
                }
                Ok(Job::Incident(dir)) => recorder.follow(&dir),
                Err(_) => {
                    if let Err(e) = recorder.refresh() {
                        problems.push(e.to_string());
                    }
                }
            }
            let synced = recorder.sync();
            news.extend(
                synced
                    .recorded
                    .into_iter()
                    .map(|(incident, event)| FleetNews::Recorded { incident, event }),
            );
            problems.extend(synced.problems);
            let open_incidents = recorder.open_incidents();
            if open_incidents != self.open_incidents {
                self.open_incidents = open_incidents.clone();
                news.push(FleetNews::OpenIncidents(open_incidents));
            }
            for item in news {
                let _ = self.news.send(item);
            }
            for problem in problems {
                self.say(problem);
            }
        }
    }

    /// Opens the recorder on first use, and again after a failure.
    fn open_recorder(&mut self) -> bool {
        if self.recorder.is_some() {
            return true;
        }
        match FleetRecorder::open(&self.incidents_dir, self.options.clone()) {
            Ok(mut recorder) => {
                for dir in &self.followed {
                    recorder.follow(dir);
                }
                self.recorder = Some(recorder);
                true
            }
            Err(e) => {
                self.say(format!("{e}: outages are not being recorded"));
                false
            }
        }
    }

    fn say(&mut self, problem: String) {
        if self.said.insert(problem.clone()) {
            let _ = self.news.send(FleetNews::Problem(problem));
        }
    }
}
