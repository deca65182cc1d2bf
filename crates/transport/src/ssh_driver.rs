//! The threads that own every host's SSH session.
//!
//! A thread per session held at a hundred hosts, not at a thousand: each
//! thread cost about 55 KB on its own (stack, signal stack, OpenSSL's
//! per-thread state), and the cockpit spent half its CPU waking a thousand
//! threads for their probes. Instead a few driver threads (one per core)
//! each own many sessions and run their probes without blocking: a probe is
//! written to the session's long-lived shell and its answer read as it
//! comes, from one `poll(2)` over the sockets of the probes in flight.
//!
//! Whatever blocks (resolving, connecting, starting the shell, a playbook
//! step on a channel of its own, killing a call that timed out, a
//! keepalive) is done on a thread of the [`BlockingPool`]: the driver lends
//! it the host's [`HostSession`] whole and gets it back when done. A
//! session is thus owned by exactly one thread at any time, never touched
//! from two. A host does one job at a time, in the order they were asked.

use super::blocking_pool::BlockingPool;
use super::endpoint::Endpoint;
use super::known_hosts::{ServerKey, Verdict};
use super::ssh::{poll_fds, CallEnd, HostSession, Job, SshOptions, Target};
use super::ssh_shell::{Progress, ShellCall, READ_BUFFER};
use super::{CommandOutput, CommandRequest, TransportError};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A handle to a host's SSH session. Cheap to clone; the session is closed
/// when every handle is dropped.
#[derive(Clone)]
pub struct SshHandle {
    host: Arc<HostRef>,
}

/// The host as its driver knows it; dropping the last one closes it.
struct HostRef {
    id: u64,
    driver: Driver,
}

impl Drop for HostRef {
    fn drop(&mut self) {
        self.driver.send(Message::Close { id: self.id });
    }
}

impl SshHandle {
    pub fn spawn(endpoint: Endpoint, options: SshOptions) -> SshHandle {
        SshHandle::spawn_target(Target::Resolved(Box::new(endpoint)), options)
    }

    /// Hands the host to one of the drivers. Nothing connects until the
    /// first job.
    pub fn spawn_target(target: Target, options: SshOptions) -> SshHandle {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let driver = drivers().next();
        let session = Box::new(HostSession::new(target, options));
        driver.send(Message::Open { id, session });
        SshHandle {
            host: Arc::new(HostRef { id, driver }),
        }
    }

    pub async fn run(&self, request: CommandRequest) -> Result<CommandOutput, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Run { request, reply })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Connects far enough to see the server's key, and says what the
    /// known_hosts files think of it. Does not authenticate.
    pub async fn host_key(&self) -> Result<(ServerKey, Verdict), TransportError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::HostKey { reply })?;
        answer.await.map_err(|_| stopped())?
    }

    fn send(&self, job: Job) -> Result<(), TransportError> {
        let id = self.host.id;
        if self.host.driver.send(Message::Job { id, job }) {
            Ok(())
        } else {
            Err(stopped())
        }
    }
}

fn stopped() -> TransportError {
    TransportError::Other("the SSH session's thread has stopped".into())
}

enum Message {
    Open {
        id: u64,
        session: Box<HostSession>,
    },
    Job {
        id: u64,
        job: Job,
    },
    /// Every handle is gone.
    Close {
        id: u64,
    },
    /// A worker is done with the session it was lent.
    Returned {
        id: u64,
        session: Box<HostSession>,
    },
    /// A worker lost the session it was lent (it panicked).
    Lost {
        id: u64,
    },
}

/// Where to send a driver its messages.
#[derive(Clone)]
struct Driver {
    inbox: mpsc::Sender<Message>,
    waker: Arc<Waker>,
}

impl Driver {
    /// Whether the driver is there to get it.
    fn send(&self, message: Message) -> bool {
        let sent = self.inbox.send(message).is_ok();
        self.waker.wake();
        sent
    }
}

/// Wakes a driver out of `poll(2)`: a byte on a socket pair, written only
/// when none is pending already.
struct Waker {
    pending: AtomicBool,
    write: Option<UnixStream>,
}

impl Waker {
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            if let Some(mut write) = self.write.as_ref() {
                let _ = write.write(&[1]);
            }
        }
    }
}

struct Drivers {
    all: Vec<Driver>,
    next: AtomicUsize,
}

impl Drivers {
    /// Hosts are dealt to the drivers in turn.
    fn next(&self) -> Driver {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.all.len();
        self.all[index].clone()
    }
}

/// The process's drivers, started with the first host: one per core.
fn drivers() -> &'static Drivers {
    static DRIVERS: OnceLock<Drivers> = OnceLock::new();
    DRIVERS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = BlockingPool::default();
        Drivers {
            all: (0..cores.clamp(1, 8)).map(|index| start_driver(index, &pool)).collect(),
            next: AtomicUsize::new(0),
        }
    })
}

fn start_driver(index: usize, pool: &BlockingPool) -> Driver {
    let (inbox, receiver) = mpsc::channel();
    let pair = UnixStream::pair().and_then(|(read, write)| {
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok((read, write))
    });
    let (read, write) = match pair {
        Ok((read, write)) => (Some(read), Some(write)),
        Err(e) => {
            eprintln!("vigie: cannot start an SSH driver: {e}");
            (None, None)
        }
    };
    let driver = Driver {
        inbox,
        waker: Arc::new(Waker {
            pending: AtomicBool::new(false),
            write,
        }),
    };
    if let Some(read) = read {
        let state = DriverLoop {
            hosts: HashMap::new(),
            in_flight: Vec::new(),
            inbox: receiver,
            wake_read: read,
            me: driver.clone(),
            pool: pool.clone(),
            buffer: vec![0u8; READ_BUFFER],
            next_keepalive_sweep: Instant::now(),
        };
        let started = std::thread::Builder::new()
            .name(format!("vigie-ssh-{index}"))
            .spawn(move || state.run());
        if let Err(e) = started {
            // The receiver went with the thread that never ran: every job fails at once.
            eprintln!("vigie: cannot start an SSH driver: {e}");
        }
    }
    driver
}

/// A host on its driver.
struct Host {
    /// `None` while a worker has it.
    session: Option<Box<HostSession>>,
    jobs: VecDeque<Job>,
    call: Option<InFlight>,
    idle_since: Instant,
    /// Every handle is gone: close it once it is back and idle.
    closed: bool,
}

/// A probe under way in a host's shell.
struct InFlight {
    call: ShellCall,
    request: CommandRequest,
    reply: oneshot::Sender<Result<CommandOutput, TransportError>>,
}

/// Calls in flight are looked at this often even when their socket is
/// quiet: a cancel is seen, and nothing waits on a readiness that libssh2
/// already consumed.
const CALL_CHECK: Duration = Duration::from_millis(250);

/// How often idle sessions are looked at for a keepalive.
const KEEPALIVE_SWEEP: Duration = Duration::from_secs(1);

struct DriverLoop {
    hosts: HashMap<u64, Host>,
    /// Hosts with a call in flight.
    in_flight: Vec<u64>,
    inbox: mpsc::Receiver<Message>,
    wake_read: UnixStream,
    /// Given to workers, to send sessions back.
    me: Driver,
    pool: BlockingPool,
    buffer: Vec<u8>,
    next_keepalive_sweep: Instant,
}

impl DriverLoop {
    fn run(mut self) {
        loop {
            let touched = self.receive();
            for id in touched {
                self.dispatch(id);
            }
            self.wait_and_advance();
            self.keep_alive();
            self.pool.unstick();
        }
    }

    /// Takes in every message waiting; returns the hosts that may have work.
    fn receive(&mut self) -> Vec<u64> {
        self.me.waker.pending.store(false, Ordering::SeqCst);
        let mut drained = [0u8; 64];
        while matches!(self.wake_read.read(&mut drained), Ok(n) if n > 0) {}
        let mut touched = Vec::new();
        while let Ok(message) = self.inbox.try_recv() {
            match message {
                Message::Open { id, session } => {
                    let host = Host {
                        session: Some(session),
                        jobs: VecDeque::new(),
                        call: None,
                        idle_since: Instant::now(),
                        closed: false,
                    };
                    self.hosts.insert(id, host);
                }
                Message::Job { id, job } => {
                    // A job for a host gone (lost) is dropped: its caller hears so.
                    if let Some(host) = self.hosts.get_mut(&id) {
                        host.jobs.push_back(job);
                        touched.push(id);
                    }
                }
                Message::Close { id } => {
                    if let Some(host) = self.hosts.get_mut(&id) {
                        host.closed = true;
                        touched.push(id);
                    }
                }
                Message::Returned { id, session } => {
                    if let Some(host) = self.hosts.get_mut(&id) {
                        host.session = Some(session);
                        host.idle_since = Instant::now();
                        touched.push(id);
                    }
                }
                Message::Lost { id } => {
                    self.hosts.remove(&id);
                }
            }
        }
        touched
    }

    /// Starts the host's next job if it is free: a probe in its shell here,
    /// anything else on a worker.
    fn dispatch(&mut self, id: u64) {
        loop {
            let Some(host) = self.hosts.get_mut(&id) else {
                return;
            };
            if host.call.is_some() || host.session.is_none() {
                return;
            }
            if host.closed {
                if let Some(session) = host.session.take() {
                    // Closing may wait on the network.
                    self.pool.run(move || drop(session));
                }
                self.hosts.remove(&id);
                return;
            }
            let Some(job) = host.jobs.pop_front() else {
                return;
            };
            let job = match (job, host.session.as_mut()) {
                (Job::Run { request, reply }, Some(session)) if request.session_shell => {
                    if let Some(error) = session.backing_off() {
                        let _ = reply.send(Err(error));
                        continue;
                    }
                    match session.begin_in_shell(&request) {
                        Some(call) => {
                            host.call = Some(InFlight { call, request, reply });
                            self.in_flight.push(id);
                            self.advance(id);
                            return;
                        }
                        None => Job::Run { request, reply },
                    }
                }
                (job, _) => job,
            };
            if let Some(session) = host.session.take() {
                self.lend(id, session, move |session| session.handle(job));
            }
            return;
        }
    }

    /// Hands the host's session to a worker for `work`, to come back after.
    fn lend(&self, id: u64, session: Box<HostSession>, work: impl FnOnce(&mut HostSession) + Send + 'static) {
        let mut lent = Lent {
            id,
            session: Some(session),
            back: self.me.clone(),
        };
        self.pool.run(move || {
            if let Some(session) = lent.session.as_deref_mut() {
                work(session);
            }
            drop(lent);
        });
    }

    /// Waits for the sockets of the calls in flight (and for messages),
    /// then moves on the calls that can go on.
    fn wait_and_advance(&mut self) {
        let now = Instant::now();
        let mut timeout = self.next_keepalive_sweep.saturating_duration_since(now);
        let mut fds = vec![(self.wake_read.as_raw_fd(), libc::POLLIN)];
        let mut polled = Vec::with_capacity(self.in_flight.len());
        for id in &self.in_flight {
            let Some(host) = self.hosts.get(id) else { continue };
            if let (Some(session), Some(flight)) = (&host.session, &host.call) {
                if let Some(wait) = session.wait_for() {
                    fds.push(wait);
                    polled.push(*id);
                }
                timeout = timeout
                    .min(CALL_CHECK)
                    .min(flight.call.deadline().saturating_duration_since(now));
            }
        }
        let revents = poll_fds(&mut fds, timeout);
        let now = Instant::now();
        let woken_by_time = revents.iter().all(|r| *r == 0);
        let ready: Vec<u64> = polled
            .iter()
            .zip(revents.iter().skip(1))
            .filter(|(id, revents)| {
                **revents != 0
                    || woken_by_time
                    || self
                        .hosts
                        .get(id)
                        .and_then(|host| host.call.as_ref())
                        .is_some_and(|flight| flight.call.deadline() <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.advance(id);
        }
    }

    /// Moves the host's call on; ends it if it is done.
    fn advance(&mut self, id: u64) {
        let Some(host) = self.hosts.get_mut(&id) else {
            return;
        };
        let (Some(session), Some(flight)) = (host.session.as_mut(), host.call.as_mut()) else {
            return;
        };
        let progress = session.advance(&mut flight.call, &mut self.buffer);
        if matches!(progress, Progress::Pending) {
            return;
        }
        self.in_flight.retain(|other| *other != id);
        let (Some(flight), Some(session)) = (host.call.take(), host.session.take()) else {
            return;
        };
        match progress {
            Progress::Done(Ok(output)) => {
                let _ = flight.reply.send(Ok(output));
                host.session = Some(session);
                host.idle_since = Instant::now();
                self.dispatch(id);
            }
            // What went wrong is ended the blocking way, as the shell's own run would.
            failed => self.lend(id, session, move |session| {
                let InFlight { request, reply, .. } = flight;
                match session.finish_failed_call(request, failed) {
                    CallEnd::Ran(output) => {
                        let _ = reply.send(Ok(output));
                    }
                    CallEnd::Failed(error) => {
                        let _ = reply.send(Err(error));
                    }
                    CallEnd::Retry(request) => session.handle(Job::Run { request, reply }),
                }
            }),
        }
    }

    /// Sends a keepalive (on a worker: it may block) on sessions idle for
    /// their keepalive interval, so that firewalls keep them open.
    fn keep_alive(&mut self) {
        let now = Instant::now();
        if now < self.next_keepalive_sweep {
            return;
        }
        self.next_keepalive_sweep = now + KEEPALIVE_SWEEP;
        let due: Vec<u64> = self
            .hosts
            .iter()
            .filter(|(_, host)| {
                host.call.is_none()
                    && host.jobs.is_empty()
                    && host.session.as_ref().is_some_and(|session| {
                        session.is_connected() && now.duration_since(host.idle_since) >= session.keepalive_interval()
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(host) = self.hosts.get_mut(&id) else { continue };
            let Some(session) = host.session.take() else { continue };
            self.lend(id, session, HostSession::keepalive);
        }
    }
}

/// A session lent to a worker: goes back to its driver when the work is
/// done, or is reported lost if the work panicked midway.
struct Lent {
    id: u64,
    session: Option<Box<HostSession>>,
    back: Driver,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let id = self.id;
        match self.session.take() {
            Some(session) if !std::thread::panicking() => {
                self.back.send(Message::Returned { id, session });
            }
            _ => {
                self.back.send(Message::Lost { id });
            }
        }
    }
}
