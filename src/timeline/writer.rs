//! Appending from async code (the cockpit) without blocking it: a thread
//! owns the `Timeline` and answers append requests; the caller awaits the
//! durable event.

use super::event::{Event, NewEvent};
use super::store::{Timeline, TimelineError};
use std::sync::mpsc as std_mpsc;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<Event, TimelineError>>;

#[derive(Clone)]
pub struct TimelineWriter {
    requests: std_mpsc::Sender<(NewEvent, Reply)>,
}

impl TimelineWriter {
    pub fn spawn(mut timeline: Timeline) -> TimelineWriter {
        let (requests, receiver) = std_mpsc::channel::<(NewEvent, Reply)>();
        let spawned = std::thread::Builder::new()
            .name("vigie-timeline".into())
            .spawn(move || {
                for (event, reply) in receiver {
                    let _ = reply.send(timeline.append(event));
                }
            });
        if let Err(e) = spawned {
            eprintln!("vigie: cannot start the timeline writer: {e}");
        }
        TimelineWriter { requests }
    }

    /// Appends and resolves once the event is on disk.
    pub async fn append(&self, event: NewEvent) -> Result<Event, TimelineError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || TimelineError::Io {
            path: "timeline".into(),
            source: std::io::Error::other("the timeline writer has stopped"),
        };
        self.requests.send((event, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
