//! Threads for work that blocks: connecting to a host, a playbook step on
//! a channel of its own, a kill. They are started when work waits and no
//! thread is free, and stop after a while without work, so a fleet whose
//! sessions are all open and polled needs none of them.
//!
//! Up to [`FREE_THREADS`] start as soon as work waits. Beyond that, a new
//! thread starts only for each one stuck on its task (busy for longer than
//! [`STUCK_AFTER`]): a burst of quick tasks (a thousand refused connections)
//! is served by a few threads in turn, while hosts that make a connection
//! wait its whole timeout do not hold up the others.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

type Task = Box<dyn FnOnce() + Send>;

/// How long a thread waits for work before it stops.
const IDLE_LIFETIME: Duration = Duration::from_secs(10);

/// Threads started without asking whether the others are stuck.
const FREE_THREADS: usize = 16;

/// A thread busy on one task for longer than this counts as stuck (waiting
/// on the network): another may start beside it.
const STUCK_AFTER: Duration = Duration::from_millis(20);

/// At most this many threads at once; more work waits its turn.
const MAX_THREADS: usize = 1024;

/// Stack of a thread: libssh2 and OpenSSL need a few tens of KiB.
const THREAD_STACK: usize = 512 * 1024;

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Task>,
    idle: usize,
    threads: usize,
    /// When each busy thread began its task, by a number of its own.
    busy_since: HashMap<u64, Instant>,
    next_thread: u64,
}

impl Queue {
    /// Whether a thread should start for the tasks waiting.
    fn needs_a_thread(&self) -> bool {
        if self.tasks.len() <= self.idle || self.threads >= MAX_THREADS {
            return false;
        }
        let now = Instant::now();
        let stuck = self
            .busy_since
            .values()
            .filter(|since| now.duration_since(**since) >= STUCK_AFTER)
            .count();
        self.threads < FREE_THREADS + stuck
    }
}

#[derive(Clone, Default)]
pub(crate) struct BlockingPool {
    shared: Arc<(Mutex<Queue>, Condvar)>,
}

impl BlockingPool {
    /// Runs `task` on a thread of the pool, starting one if none is free.
    pub(crate) fn run(&self, task: impl FnOnce() + Send + 'static) {
        let (queue, ready) = &*self.shared;
        let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.tasks.push_back(Box::new(task));
        if queue.needs_a_thread() {
            self.start_thread(&mut queue);
        }
        ready.notify_one();
    }

    /// Starts threads for waiting work while the busy ones are stuck. Work
    /// that arrives does this by itself; the drivers call it now and then
    /// for work that waits while nothing new arrives.
    pub(crate) fn unstick(&self) {
        let mut queue = self.shared.0.lock().unwrap_or_else(PoisonError::into_inner);
        while queue.needs_a_thread() {
            if !self.start_thread(&mut queue) {
                return;
            }
        }
    }

    fn start_thread(&self, queue: &mut Queue) -> bool {
        let (pool, me) = (self.clone(), queue.next_thread);
        let started = std::thread::Builder::new()
            .name("vigie-ssh-work".into())
            .stack_size(THREAD_STACK)
            .spawn(move || pool.work(me));
        match started {
            Ok(_) => {
                queue.threads += 1;
                queue.next_thread += 1;
                true
            }
            // The task waits for a thread that is running; with none, the
            // next task tries to start one again.
            Err(e) => {
                eprintln!("vigie: cannot start an SSH thread: {e}");
                false
            }
        }
    }

    fn work(self, me: u64) {
        let (queue, ready) = &*self.shared;
        let mut guard = queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(task) = guard.tasks.pop_front() {
                guard.busy_since.insert(me, Instant::now());
                drop(guard);
                // A task that panics has lost what it held; its owner hears
                // of it through its own means (a dropped reply). The thread
                // lives on for the next task.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                guard = queue.lock().unwrap_or_else(PoisonError::into_inner);
                guard.busy_since.remove(&me);
                // A thread started beside stuck ones goes once the work is done.
                if guard.tasks.is_empty() && guard.threads > FREE_THREADS {
                    guard.threads -= 1;
                    return;
                }
                continue;
            }
            guard.idle += 1;
            let (next, waited) = ready
                .wait_timeout(guard, IDLE_LIFETIME)
                .unwrap_or_else(PoisonError::into_inner);
            guard = next;
            guard.idle -= 1;
            if waited.timed_out() && guard.tasks.is_empty() {
                guard.threads -= 1;
                return;
            }
        }
    }

    /// Threads running now, busy or idle.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner).threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn tasks_that_block_each_get_a_thread_and_all_finish() {
        let pool = BlockingPool::default();
        let (done, finished) = mpsc::channel();
        let gate = Arc::new(std::sync::Barrier::new(8));
        for i in 0..8 {
            let (done, gate) = (done.clone(), gate.clone());
            // Each waits for all the others: they can only finish if each has a thread.
            pool.run(move || {
                gate.wait();
                done.send(i).unwrap();
            });
        }
        let mut seen: Vec<i32> = (0..8).map(|_| finished.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        assert!(pool.threads() >= 8);
    }

    #[test]
    fn quick_tasks_share_a_few_threads_and_stuck_ones_get_more() {
        let pool = BlockingPool::default();
        let (done, finished) = mpsc::channel();
        for _ in 0..500 {
            let done = done.clone();
            pool.run(move || done.send(()).unwrap());
        }
        for _ in 0..500 {
            finished.recv().unwrap();
        }
        assert!(pool.threads() <= FREE_THREADS, "{} threads", pool.threads());
        // More tasks that wait on each other than free threads: the stuck
        // ones let others start, so that all of them can finish.
        let tasks = FREE_THREADS * 2;
        let gate = Arc::new(std::sync::Barrier::new(tasks));
        for _ in 0..tasks {
            let (done, gate) = (done.clone(), gate.clone());
            std::thread::sleep(STUCK_AFTER);
            pool.run(move || {
                gate.wait();
                done.send(()).unwrap();
            });
        }
        for _ in 0..tasks {
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
        }
    }

    #[test]
    fn a_panicking_task_leaves_the_pool_working() {
        let pool = BlockingPool::default();
        pool.run(|| panic!("boom"));
        let (done, finished) = mpsc::channel();
        pool.run(move || done.send(()).unwrap());
        finished.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
