//! A small pool of persistent worker threads whose results come back in the
//! order the jobs went in, with a bounded window of jobs in flight.
//!
//! The file readers (Parquet, CSV) decode on it when the caller allows more
//! than one thread; the sans-IO core stays single-threaded and knows nothing
//! of it. Jobs are coarse (a column of a batch, a ~1 MiB CSV chunk: about a
//! millisecond or more), so a shared queue behind a mutex costs nothing that
//! matters and there is no work stealing. Plain `std::thread`: no runtime, no
//! global pool in the user's process.
//!
//! Memory is bounded by the window: [`Workers::submit`] refuses a job while
//! `window` results are waiting to be taken, so a consumer that stops taking
//! results stops the producer too.
//!
//! A job that panics is reported as [`JobPanicked`] by [`Workers::next`] in its
//! place; the worker thread survives it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A job panicked on a worker thread (the panic's message, when it had one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobPanicked(pub(crate) String);

/// Persistent worker threads with in-order results (see the module docs).
pub(crate) struct Workers<T: Send + 'static> {
    jobs: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// One receiver per job submitted and not yet taken, in submission order.
    pending: VecDeque<Receiver<Result<T, JobPanicked>>>,
    window: usize,
}

impl<T: Send + 'static> Workers<T> {
    /// Starts `threads` workers (at least one) that keep at most `window`
    /// (at least one) results waiting.
    pub(crate) fn new(threads: usize, window: usize, name: &str) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let window = window.max(1);
        // Room for every job the window lets in: `submit` never blocks.
        let (tx, rx) = sync_channel::<Job>(window);
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker_loop(&rx))?;
            handles.push(handle);
        }
        Ok(Self {
            jobs: Some(tx),
            threads: handles,
            pending: VecDeque::new(),
            window,
        })
    }

    /// How many worker threads run.
    pub(crate) fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Whether another job may be submitted now (fewer than `window` results
    /// are waiting to be taken).
    pub(crate) fn has_room(&self) -> bool {
        self.pending.len() < self.window
    }

    /// How many jobs were submitted and not yet taken with [`Workers::next`].
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Queues a job. Returns it back (`Err`) when the window is full: take a
    /// result with [`Workers::next`] first.
    pub(crate) fn submit<F>(&mut self, job: F) -> Result<(), F>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        if !self.has_room() {
            return Err(job);
        }
        let Some(jobs) = &self.jobs else {
            return Err(job);
        };
        let (tx, rx) = sync_channel(1);
        let boxed: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(|payload| {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                JobPanicked(message)
            });
            // The pool may have been dropped with this job queued: nobody
            // wants the result then.
            let _ = tx.send(result);
        });
        // The receiving side lives as long as `self.jobs`, and a worker only
        // stops when `jobs` is dropped: a send cannot fail here. If it ever
        // did, the job's receiver reports it as a panic below.
        let _ = jobs.send(boxed);
        self.pending.push_back(rx);
        Ok(())
    }

    /// The result of the oldest job not yet taken, waiting for it; `None`
    /// when no job is in flight.
    pub(crate) fn next(&mut self) -> Option<Result<T, JobPanicked>> {
        let rx = self.pending.pop_front()?;
        Some(
            rx.recv()
                .unwrap_or_else(|_| Err(JobPanicked("worker thread exited".into()))),
        )
    }
}

fn worker_loop(rx: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take one job. A poisoned lock cannot happen
        // (jobs run outside it and their panics are caught), but if it did
        // the queue is still sound.
        let job = {
            let guard = match rx.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            guard.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl<T: Send + 'static> Drop for Workers<T> {
    fn drop(&mut self) {
        // Results nobody will take are dropped with their receivers; closing
        // the queue lets every worker finish its current job and exit.
        self.pending.clear();
        self.jobs = None;
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_submission_order() {
        let mut pool = Workers::new(3, 8, "test").unwrap();
        assert_eq!(pool.threads(), 3);
        for i in 0..8u64 {
            // Later jobs finish first.
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(8 - i));
                i * 10
            })
            .map_err(|_| ())
            .unwrap();
        }
        assert!(!pool.has_room());
        let got: Vec<u64> = std::iter::from_fn(|| pool.next())
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, (0..8).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(pool.in_flight(), 0);
        assert!(pool.next().is_none());
    }

    #[test]
    fn a_full_window_refuses_the_job() {
        let mut pool = Workers::new(1, 2, "test").unwrap();
        pool.submit(|| 1).map_err(|_| ()).unwrap();
        pool.submit(|| 2).map_err(|_| ()).unwrap();
        let refused = pool.submit(|| 3).expect_err("window of 2");
        assert_eq!(refused(), 3);
        assert_eq!(pool.next(), Some(Ok(1)));
        pool.submit(|| 4).map_err(|_| ()).unwrap();
        assert_eq!(pool.next(), Some(Ok(2)));
        assert_eq!(pool.next(), Some(Ok(4)));
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_worker_survives() {
        let mut pool = Workers::new(1, 4, "test").unwrap();
        pool.submit(|| -> u32 { panic!("column 3 broke") })
            .map_err(|_| ())
            .unwrap();
        pool.submit(|| 7).map_err(|_| ()).unwrap();
        assert_eq!(pool.next(), Some(Err(JobPanicked("column 3 broke".into()))));
        assert_eq!(pool.next(), Some(Ok(7)));
    }

    #[test]
    fn dropping_with_jobs_in_flight_joins_the_threads() {
        let mut pool = Workers::new(2, 4, "test").unwrap();
        for _ in 0..4 {
            pool.submit(|| std::thread::sleep(Duration::from_millis(5)))
                .map_err(|_| ())
                .unwrap();
        }
        drop(pool);
    }
}
