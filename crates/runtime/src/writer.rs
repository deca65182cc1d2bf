//! Appending from async code (the cockpit) without blocking it: a thread
//! owns the `Timeline` and answers append requests; the caller awaits the
//! durable event.

use std::sync::mpsc as std_mpsc;
use tokio::sync::oneshot;
use vigie_core::timeline::event::{Event, NewEvent};
use vigie_core::timeline::store::{Timeline, TimelineError};

type Reply = oneshot::Sender<Result<Event, TimelineError>>;

enum Request {
    Append(NewEvent, Reply),
    /// A value to redact from every later event (a playbook's secret input).
    AddSecret(String),
}

#[derive(Clone)]
pub struct TimelineWriter {
    requests: std_mpsc::Sender<Request>,
    /// The incident directory the timeline is in.
    dir: std::path::PathBuf,
    /// Who the events are recorded as.
    actor: String,
}

impl TimelineWriter {
    pub fn spawn(mut timeline: Timeline) -> TimelineWriter {
        let dir = timeline
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let actor = timeline.actor().to_string();
        let (requests, receiver) = std_mpsc::channel::<Request>();
        let spawned = std::thread::Builder::new()
            .name("vigie-timeline".into())
            .spawn(move || {
                for request in receiver {
                    match request {
                        Request::Append(event, reply) => {
                            let _ = reply.send(timeline.append(event));
                        }
                        Request::AddSecret(secret) => timeline.redactor_mut().add_secret(&secret),
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("vigie: cannot start the timeline writer: {e}");
        }
        TimelineWriter { requests, dir, actor }
    }

    /// Who the events are recorded as (`alice@bastion`).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The incident directory this writer appends to.
    pub fn incident_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Appends and resolves once the event is on disk.
    pub async fn append(&self, event: NewEvent) -> Result<Event, TimelineError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || TimelineError::Io {
            path: "timeline".into(),
            source: std::io::Error::other("the timeline writer has stopped"),
        };
        self.requests
            .send(Request::Append(event, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Redacts `secret` from every event appended after this call (requests
    /// are served in order, so no later append can miss it).
    pub fn add_secret(&self, secret: &str) {
        let _ = self.requests.send(Request::AddSecret(secret.to_string()));
    }
}
