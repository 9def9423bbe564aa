//! The threaded batch loop of [`ParquetReader`] (`ParquetReadOptions::threads`
//! above 1): the columns of the next batches decode on worker threads
//! (workers.rs), and the tables come out exactly as the one-thread loop
//! makes them: same values, same boundaries, same order, same first error.
//!
//! - A job is one column of one batch: the column's source (its page
//!   cursor, `Send`) moves into the job and comes back with the array, and
//!   [`read_batch_column`] does the decoding, as on one thread.
//! - A column's source reads its batches in order, so column `c` of batch
//!   `k + 1` of a row group is queued when column `c` of batch `k` comes
//!   back (results are taken as they finish, not in submission order); the
//!   other columns, and batches of the next row group (opened on the calling
//!   thread when it is planned), run meanwhile. Workers never wait for the
//!   caller to take a table.
//! - Window: at most `threads` batches are planned and not yet taken; a
//!   batch is handed out when all its columns are back, in file order.
//! - Errors: the first in stream order wins (the earliest batch, then its
//!   first column, or the opening of a row group after the batches before
//!   it); it is returned when every batch before it has been, and the rest
//!   is dropped with the worker threads. A panic outside the decoder's own
//!   guard becomes the same [`Error::Parquet`](crate::Error::Parquet) as
//!   inside it.
//!
//! Not here: opening row groups and the decoding itself (reader.rs,
//! column.rs, decode.rs); the thread pool (workers.rs).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use lightstream_core::minarrow::FieldArray;
use parquet::file::reader::ChunkReader;

use super::reader::{
    ColumnSource, Cursor, ParquetReader, column_label, decoder_panicked, read_batch_column,
};
use super::types::{ColumnPlan, parquet_error};
use crate::error::{Error, Result};
use crate::workers::{JobId, Workers};

/// What a job hands back: the column's source, for its next batch, and the
/// decoded array.
type Decoded = (ColumnSource, Result<FieldArray>);

/// One planned batch: rows `first_row..first_row + n` of `row_group`.
struct Batch {
    /// Sequence number in the stream (0, 1, ...).
    seq: u64,
    row_group: usize,
    first_row: u64,
    n: usize,
    /// Each column's result once it is back.
    cols: Vec<Option<Result<FieldArray>>>,
    missing: usize,
}

/// A place in the stream: a batch, or the error of opening a row group.
enum Slot {
    Batch(Batch),
    Failed(Error),
}

/// The row group batches are being planned from; the sources of its
/// columns that are not in a job.
struct Planning {
    row_group: usize,
    rows_left: usize,
    first_row: u64,
    idle: Vec<Option<ColumnSource>>,
}

/// The worker threads and the batches in flight (see the module docs).
pub(super) struct ParallelBatches {
    workers: Workers<Decoded>,
    plans: Arc<[ColumnPlan]>,
    label: Arc<str>,
    batch_size: usize,
    /// Most batches planned and not yet taken.
    window: usize,
    /// Planned batches (and at most one error, last), in stream order.
    slots: VecDeque<Slot>,
    /// (batch sequence number, column) of each job in flight.
    jobs: HashMap<JobId, (u64, usize)>,
    planning: Option<Planning>,
    next_seq: u64,
    /// Every row group has been planned (or one failed to open).
    planned_all: bool,
}

impl ParallelBatches {
    /// Starts `threads` workers for `reader`'s columns.
    pub(super) fn new<R: ChunkReader + 'static>(
        reader: &ParquetReader<R>,
        threads: usize,
    ) -> Result<Self> {
        let (plans, label) = reader.plans_and_label();
        let window = threads.max(1);
        // A job per column of each batch in the window: `submit` is never
        // refused.
        let jobs = window.saturating_mul(plans.len().max(1));
        let workers = Workers::new(threads, jobs, "lightstream-parquet")
            .map_err(|e| Error::io("starting the Parquet decode threads", e))?;
        let window = workers.threads();
        Ok(ParallelBatches {
            workers,
            plans: plans.into(),
            label: label.into(),
            batch_size: reader.batch_size(),
            window,
            slots: VecDeque::new(),
            jobs: HashMap::new(),
            planning: None,
            next_seq: 0,
            planned_all: false,
        })
    }

    /// The next batch's columns and rows, `None` after the last. After an
    /// error the caller drops this (the reader's iterator ends).
    pub(super) fn next_batch<R: ChunkReader + 'static>(
        &mut self,
        reader: &mut ParquetReader<R>,
    ) -> Result<Option<(Vec<FieldArray>, usize)>> {
        self.plan(reader)?;
        loop {
            match self.slots.front() {
                None => return Ok(None),
                Some(Slot::Failed(_)) => {
                    return match self.slots.pop_front() {
                        Some(Slot::Failed(e)) => Err(e),
                        _ => Err(parquet_error("internal error: the failed slot vanished")),
                    };
                }
                Some(Slot::Batch(b)) if b.missing == 0 => break,
                Some(Slot::Batch(_)) => self.take_result()?,
            }
        }
        let Some(Slot::Batch(batch)) = self.slots.pop_front() else {
            return Err(parquet_error("internal error: the finished batch vanished"));
        };
        let mut cols = Vec::with_capacity(batch.cols.len());
        for col in batch.cols {
            match col {
                Some(Ok(array)) => cols.push(array),
                // The first column that failed: as on one thread.
                Some(Err(e)) => return Err(e),
                None => return Err(parquet_error("internal error: a column never came back")),
            }
        }
        // Keep the workers busy while the caller uses this batch.
        self.plan(reader)?;
        Ok(Some((cols, batch.n)))
    }

    /// Plans batches (and submits the jobs whose sources are idle) until the
    /// window is full or every row group is planned.
    fn plan<R: ChunkReader + 'static>(&mut self, reader: &mut ParquetReader<R>) -> Result<()> {
        while self.slots.len() < self.window && !self.planned_all {
            if self.planning.as_ref().is_none_or(|p| p.rows_left == 0) {
                match reader.open_next_row_group() {
                    Ok(Some(cursor)) => self.planning = Some(Planning::from(cursor)),
                    Ok(None) => {
                        self.planned_all = true;
                        self.planning = None;
                    }
                    Err(e) => {
                        self.planned_all = true;
                        self.planning = None;
                        self.slots.push_back(Slot::Failed(e));
                    }
                }
                continue;
            }
            let Some(p) = self.planning.as_mut() else {
                continue;
            };
            let n = p.rows_left.min(self.batch_size);
            let batch = Batch {
                seq: self.next_seq,
                row_group: p.row_group,
                first_row: p.first_row,
                n,
                cols: (0..self.plans.len()).map(|_| None).collect(),
                missing: self.plans.len(),
            };
            p.rows_left -= n;
            p.first_row += n as u64;
            self.next_seq += 1;
            // Sources still in a job for the batch before are queued when
            // they come back (`take_result`).
            let ready: Vec<(usize, ColumnSource)> = p
                .idle
                .iter_mut()
                .enumerate()
                .filter_map(|(c, s)| s.take().map(|s| (c, s)))
                .collect();
            let (seq, rg, first_row) = (batch.seq, batch.row_group, batch.first_row);
            self.slots.push_back(Slot::Batch(batch));
            for (c, source) in ready {
                self.submit(seq, rg, first_row, n, c, source)?;
            }
        }
        Ok(())
    }

    /// Queues the job that reads column `c` of batch `seq`.
    fn submit(
        &mut self,
        seq: u64,
        rg: usize,
        first_row: u64,
        n: usize,
        c: usize,
        mut source: ColumnSource,
    ) -> Result<()> {
        let plans = Arc::clone(&self.plans);
        let label = Arc::clone(&self.label);
        let job = move || {
            let result = read_batch_column(&label, rg, first_row, &plans[c], &mut source, n);
            (source, result)
        };
        let id = self
            .workers
            .submit(job)
            .map_err(|_| parquet_error("internal error: the decode window is full"))?;
        self.jobs.insert(id, (seq, c));
        Ok(())
    }

    /// Waits for a job to finish (the oldest of those that have), files its
    /// array under its batch and hands its source to the same column of the
    /// next batch of its row group: a column's next batch starts as soon as
    /// its decoder is free, not after the jobs queued before it.
    fn take_result(&mut self) -> Result<()> {
        if self.workers.in_flight() != self.jobs.len() {
            return Err(parquet_error(
                "internal error: the decode jobs and their results disagree",
            ));
        }
        let Some((id, result)) = self.workers.next_finished() else {
            return Err(parquet_error(
                "internal error: waiting for a column no thread is decoding",
            ));
        };
        let Some((seq, c)) = self.jobs.remove(&id) else {
            return Err(parquet_error("internal error: a result of no job"));
        };
        let front = match self.slots.front() {
            Some(Slot::Batch(b)) => b.seq,
            _ => seq,
        };
        let index = seq
            .checked_sub(front)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(usize::MAX);
        let Some(Slot::Batch(batch)) = self.slots.get_mut(index) else {
            return Err(parquet_error(
                "internal error: a column of no planned batch",
            ));
        };
        let (rg, done) = (batch.row_group, batch.seq);
        let source = match result {
            Ok((source, array)) => {
                let failed = array.is_err();
                batch.cols[c] = Some(array);
                // A source that failed is in no state to read on.
                (!failed).then_some(source)
            }
            Err(panicked) => {
                let plan = &self.plans[c];
                let what = column_label(&self.label, rg, plan);
                batch.cols[c] = Some(Err(decoder_panicked(&what, &panicked.0)));
                None
            }
        };
        batch.missing -= 1;
        let Some(source) = source else {
            return Ok(());
        };
        // The next batch of the same row group, if planned, waits for it.
        if let Some(Slot::Batch(next)) = self.slots.get(index + 1)
            && next.row_group == rg
            && next.seq == done + 1
        {
            let (seq, first_row, n) = (next.seq, next.first_row, next.n);
            return self.submit(seq, rg, first_row, n, c, source);
        }
        // Else it waits for that batch to be planned, unless its row group
        // has no rows left to plan.
        if let Some(p) = self.planning.as_mut()
            && p.row_group == rg
            && p.rows_left > 0
        {
            p.idle[c] = Some(source);
        }
        Ok(())
    }
}

impl From<Cursor> for Planning {
    fn from(cursor: Cursor) -> Self {
        Planning {
            row_group: cursor.row_group,
            rows_left: cursor.rows_left,
            first_row: cursor.first_row,
            idle: cursor.readers.into_iter().map(Some).collect(),
        }
    }
}
