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
//!
//! [`Workers::next_finished`] takes results as they finish instead (the
//! Parquet reader hands a column's decoder back to the next batch's job as soon
//! as it is free, not after the columns queued before it).

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A job panicked on a worker thread (the panic's message, when it had one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobPanicked(pub(crate) String);

/// Which job a result belongs to: numbered from 0 in submission order.
pub(crate) type JobId = u64;

type Finished<T> = (JobId, Result<T, JobPanicked>);

/// Persistent worker threads with in-order results (see the module docs).
pub(crate) struct Workers<T: Send + 'static> {
    jobs: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Every job sends its result here (a clone each). Held here too, so a
    /// receive never fails: every job sends (a panic is caught first).
    done_tx: Sender<Finished<T>>,
    done_rx: Receiver<Finished<T>>,
    /// Jobs submitted and not yet taken, in submission order.
    pending: VecDeque<JobId>,
    /// Results received and not yet taken.
    arrived: BTreeMap<JobId, Result<T, JobPanicked>>,
    next_id: JobId,
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
        let (done_tx, done_rx) = channel();
        Ok(Self {
            jobs: Some(tx),
            threads: handles,
            done_tx,
            done_rx,
            pending: VecDeque::new(),
            arrived: BTreeMap::new(),
            next_id: 0,
            window,
        })
    }

    /// How many worker threads run.
    // The Parquet reader's; a build with CSV alone does not use it.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Whether another job may be submitted now (fewer than `window` results
    /// are waiting to be taken).
    pub(crate) fn has_room(&self) -> bool {
        self.pending.len() < self.window
    }

    /// How many jobs were submitted and not yet taken with [`Workers::next`].
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Queues a job and says which it is. Returns it back (`Err`) when the
    /// window is full: take a result with [`Workers::next`] first.
    pub(crate) fn submit<F>(&mut self, job: F) -> Result<JobId, F>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        if !self.has_room() {
            return Err(job);
        }
        let Some(jobs) = &self.jobs else {
            return Err(job);
        };
        let id = self.next_id;
        let tx = self.done_tx.clone();
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
            let _ = tx.send((id, result));
        });
        // The receiving side lives as long as `self.jobs`, and a worker only
        // stops when `jobs` is dropped: a send cannot fail here.
        let _ = jobs.send(boxed);
        self.next_id += 1;
        self.pending.push_back(id);
        Ok(id)
    }

    /// The result of the oldest job not yet taken, waiting for it; `None`
    /// when no job is in flight.
    // In-order takes are the CSV reader's; a build without it does not use them.
    #[cfg_attr(not(all(feature = "csv", feature = "mmap")), allow(dead_code))]
    pub(crate) fn next(&mut self) -> Option<Result<T, JobPanicked>> {
        let id = self.pending.pop_front()?;
        loop {
            if let Some(result) = self.arrived.remove(&id) {
                return Some(result);
            }
            self.receive();
        }
    }

    /// The oldest of the results that have finished and are not yet taken,
    /// with its job, waiting for one if none has; `None` when no job is in
    /// flight.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn next_finished(&mut self) -> Option<Finished<T>> {
        if self.pending.is_empty() {
            return None;
        }
        if self.arrived.is_empty() {
            self.receive();
        }
        let (id, result) = self.arrived.pop_first()?;
        if let Some(at) = self.pending.iter().position(|&p| p == id) {
            self.pending.remove(at);
        }
        Some((id, result))
    }

    /// Waits for one result and files it.
    fn receive(&mut self) {
        // `self.done_tx` keeps the channel open, and every job sends once:
        // this returns when a job in flight finishes.
        if let Ok((id, result)) = self.done_rx.recv() {
            self.arrived.insert(id, result);
        }
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
        self.arrived.clear();
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
    fn finished_results_are_taken_as_they_finish() {
        let mut pool = Workers::new(2, 4, "test").unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let slow = pool
            .submit(move || {
                let _ = wait.recv();
                1
            })
            .map_err(|_| ())
            .unwrap();
        let fast = pool.submit(|| 2).map_err(|_| ()).unwrap();
        // The slow job holds its result until the fast one has been taken.
        assert_eq!(pool.next_finished(), Some((fast, Ok(2))));
        release.send(()).unwrap();
        assert_eq!(pool.next_finished(), Some((slow, Ok(1))));
        assert_eq!(pool.in_flight(), 0);
        assert_eq!(pool.next_finished(), None);
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
