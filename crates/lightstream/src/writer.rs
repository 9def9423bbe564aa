//! [`TableWriter`]: sends a schema, tables and the end-of-stream marker.
//!
//! The writer drives the core's [`IpcStreamEncoder`]. On byte transports each
//! encoded message goes out with vectored writes whose slices borrow the
//! table's own buffers: column data is never copied into a frame first (the
//! kernel's copy into the socket is the only one). A WebSocket frame must
//! own its payload, so there each IPC message is assembled once into the
//! frames (at most 1 MiB each) it travels in, one frame at a time.
//!
//! Every write waits for the transport to accept the bytes, so a slow reader
//! slows the writer down and nothing queues up in memory. A reader that stops
//! reading altogether stops the writer; [`TableWriter::set_write_timeout`]
//! bounds that wait.
//!
//! The seam: a transport hands the writer a `MessageSink` ("send this
//! encoded message", "finish"), and nothing else; byte transports share
//! `ByteSink`, QUIC and WebSocket bring their own (in `transport/`).
//!
//! On byte transports the output is the plain Arrow IPC stream format, so any
//! Arrow reader reads it (here the core's [`lightstream_core::read_ipc`]):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use tokio::io::AsyncReadExt;
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{ReadOptions, Schema, TableWriter};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let (pipe_in, mut pipe_out) = tokio::io::duplex(1 << 20);
//! let schema = Schema::from_table(&table).into();
//! let mut writer = TableWriter::from_async_write(pipe_in, "pipe", schema, Default::default())?;
//! writer.write(&table).await?;
//! let sent = writer.finish().await?; // the end-of-stream marker, and the byte count
//! let mut bytes = Vec::new();
//! pipe_out.read_to_end(&mut bytes).await.expect("reading the pipe");
//! assert_eq!(bytes.len() as u64, sent);
//! assert_eq!(lightstream::read_ipc(&bytes, ReadOptions::default())?.tables[0].cols, table.cols);
//! # Ok(()) }
//! ```
//!
//! [The native API guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md#tablewriter)
//! has the rest: timeouts, counters, what is copied per transport.

use std::future::Future;
use std::io::IoSlice;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lightstream_core::minarrow::Table;
use lightstream_core::{EncodedMessage, IpcStreamEncoder, Schema, WriteOptions};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// Any byte sink a writer can own.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A boxed future of a [`MessageSink`] (dyn-compatible async).
pub(crate) type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a writer's encoded messages go: one implementation per kind of
/// transport. Byte transports share [`ByteSink`]; QUIC adds its
/// acknowledgement wait to `finish`; WebSocket frames each message.
pub(crate) trait MessageSink: Send {
    /// Sends all of one encoded IPC message, failing with
    /// [`SendError::Stalled`] when `limit` runs out first.
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>>;

    /// Sends whole messages already encoded into shared bytes (a hub's: one
    /// encoding for every subscriber), in order, failing with
    /// [`SendError::Stalled`] when `limit` runs out first. Nothing is copied
    /// per peer: byte transports write them with vectored writes, a
    /// WebSocket sends each as one message whose frames slice the shared
    /// bytes, QUIC hands them to quinn as they are.
    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>>;

    /// Ends the stream without its end-of-stream marker, telling the peer
    /// why where the transport can (a WebSocket's Close frame carries status
    /// 1008 and `reason`; a byte stream just shuts down, between two
    /// messages, so the peer reads a stream that stopped at a message
    /// boundary, never half a message). Bounded by a short wait.
    fn abort<'a>(&'a mut self, peer: &'a str, reason: &'a str) -> SinkFuture<'a, ()>;

    /// Closes the sending side after the end-of-stream marker (TCP: flush
    /// and shut down; QUIC: finish and wait for the acknowledgement;
    /// WebSocket: the closing handshake), each step bounded by `limit`.
    /// `peer` names the other end in errors.
    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>>;
}

/// The sink of every byte transport: vectored writes whose slices borrow the
/// table's buffers, then flush and shutdown.
pub(crate) struct ByteSink<W>(pub(crate) W);

impl<W: AsyncWrite + Send + Unpin> MessageSink for ByteSink<W> {
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(write_all_vectored(&mut self.0, message, limit))
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(write_all_shared(&mut self.0, messages, limit))
    }

    fn abort<'a>(&'a mut self, _: &'a str, _: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let _ = tokio::time::timeout(ABORT_WAIT, self.0.shutdown()).await;
        })
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let w = &mut self.0;
            bounded(limit, w.flush())
                .await
                .map_err(|after| closing_stalled(peer, after))?
                .map_err(|e| Error::io(closing(peer), e))?;
            bounded(limit, w.shutdown())
                .await
                .map_err(|after| closing_stalled(peer, after))?
                .map_err(|e| Error::io(closing(peer), e))
        })
    }
}

/// How long [`MessageSink::abort`] waits for the transport to take its
/// goodbye (a shutdown, a Close frame) from a peer that may not be reading.
pub(crate) const ABORT_WAIT: Duration = Duration::from_secs(1);

/// What `finish` is doing, for its errors.
pub(crate) fn closing(peer: &str) -> String {
    format!("closing the stream to {peer}")
}

/// `finish` ran out of time: the peer took no data while the stream closed.
pub(crate) fn closing_stalled(peer: &str, after: Duration) -> Error {
    Error::Timeout {
        stalled: format!("{peer} took no data"),
        after,
        context: "closing the stream".to_string(),
    }
}

/// Writes one Arrow IPC stream: the schema, then tables (with their
/// dictionaries, as replacements or deltas where they changed, or only
/// deltas with [`WriteOptions::unify_dictionaries`]), then the end-of-stream
/// marker on [`TableWriter::finish`].
///
/// Created by [`crate::Connection::writer`], [`TableWriter::from_async_write`]
/// or a transport module. The schema message is sent with the first table (or
/// by `finish` for a stream without tables). Dropping a writer without
/// `finish` leaves the stream without its end marker, which readers report
/// as a truncated stream.
///
/// A peer that stops reading stops the writer (backpressure: nothing queues
/// up in memory), for as long as the transport keeps the connection up. Set a
/// write timeout with [`TableWriter::set_write_timeout`] to end the wait with
/// [`Error::Timeout`]. After a write failed (timeout or transport error) the
/// stream may end inside a message, so every later `write` or `finish` fails.
///
/// A peer that takes nothing, with a write timeout:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use std::time::Duration;
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{Schema, TableWriter};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let (pipe_in, _never_read) = tokio::io::duplex(64); // room for 64 bytes, then full
/// let schema = Schema::from_table(&table).into();
/// let mut writer = TableWriter::from_async_write(pipe_in, "slow peer", schema, Default::default())?;
/// writer.set_write_timeout(Some(Duration::from_millis(50)));
/// let err = writer.write(&table).await.unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(
///     err.to_string(),
///     "slow peer took 64 of 128 bytes for 50 ms while writing the schema message"
/// );
/// assert!(writer.write(&table).await.is_err()); // the stream is broken from here on
/// # Ok(()) }
/// ```
pub struct TableWriter {
    sink: Box<dyn MessageSink>,
    encoder: IpcStreamEncoder,
    peer: String,
    schema_sent: bool,
    tables: u64,
    rows: u64,
    bytes: u64,
    write_timeout: Option<Duration>,
    /// Bytes per second a message must average to get more than the write
    /// timeout (see [`TableWriter::set_min_rate`]).
    min_rate: Option<u64>,
    /// A write failed part-way: the stream cannot go on.
    broken: bool,
    /// The largest record batch body sent as one message: a table whose
    /// body is larger goes as several batches of fewer rows (Flight peers
    /// refuse gRPC messages over their limit). `None`: never split.
    max_batch_body: Option<usize>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("peer", &self.peer)
            .field("tables", &self.tables)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Writes an Arrow IPC stream of `schema` to any byte sink (a socket, a
    /// pipe, a file, a QUIC stream). `peer` names it in errors.
    pub fn from_async_write<W>(
        inner: W,
        peer: impl Into<String>,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter>
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self::new(Box::new(ByteSink(inner)), peer.into(), schema, options)
    }

    /// Writes one Arrow IPC stream of `schema` into what a transport built.
    pub(crate) fn new(
        sink: Box<dyn MessageSink>,
        peer: String,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter> {
        Ok(TableWriter {
            sink,
            encoder: IpcStreamEncoder::new(schema, options)?,
            peer,
            schema_sent: false,
            tables: 0,
            rows: 0,
            bytes: 0,
            write_timeout: None,
            min_rate: None,
            broken: false,
            max_batch_body: None,
        })
    }

    /// The schema every table must match.
    pub fn schema(&self) -> &Arc<Schema> {
        self.encoder.schema()
    }

    /// Who the tables go to, as errors name it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Tables written so far.
    pub fn tables_written(&self) -> u64 {
        self.tables
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Bytes of the IPC stream written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Fails a write when the peer does not take a whole IPC message (the
    /// schema, a dictionary or a record batch) within `timeout` (`None`, the
    /// default: wait as long as the transport does). Progress is a whole
    /// message on every transport, so a reader that drains a byte now and
    /// then cannot hold the writer; a large message gets more time only
    /// under [`TableWriter::set_min_rate`]. It also bounds `finish`'s flush,
    /// shutdown and WebSocket Close. When it expires, `write` or `finish`
    /// returns [`Error::Timeout`] ("tcp 127.0.0.1:9000 took no data for 2 s
    /// while writing table 7"; "took 4096 of 65536 bytes in 2 s ..." when it
    /// took some); the writer is then unusable (the peer holds part of a
    /// message) and dropping it closes the connection. Needs a tokio runtime
    /// with the time driver enabled.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// The write timeout (see [`TableWriter::set_write_timeout`]).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// With a write timeout `T`, lets a message take longer than `T` while
    /// the peer takes it at `bytes_per_second` or faster on average: sending
    /// may last `T + taken / bytes_per_second` (`taken`: the message's bytes
    /// the peer took so far; on WebSocket, those of the frames it took).
    /// `None` (the default): every message must go out within `T`.
    pub fn set_min_rate(&mut self, bytes_per_second: Option<u64>) {
        self.min_rate = bytes_per_second.filter(|&r| r > 0);
    }

    /// Sends one message; the writer is broken if that does not complete.
    async fn send_message(
        &mut self,
        m: &EncodedMessage<'_>,
        doing: impl Fn() -> String,
    ) -> Result<()> {
        if self.broken {
            return Err(broken_stream(&self.peer));
        }
        // Broken until the message is all out: an error, or a future
        // dropped part-way (a caller's own timeout), leaves half a message.
        self.broken = true;
        let limit = Limit::new(self.write_timeout, self.min_rate);
        let peer = &self.peer;
        self.sink
            .send(m, limit)
            .await
            .map_err(|e| e.into_error(peer, m.len(), doing))?;
        self.broken = false;
        self.bytes += m.len() as u64;
        Ok(())
    }

    async fn send_schema(&mut self) -> Result<()> {
        if !self.schema_sent {
            let m = self.encoder.schema_message()?;
            self.send_message(&m, || "writing the schema message".to_string())
                .await?;
            self.schema_sent = true;
        }
        Ok(())
    }

    /// Sends `table` (and any dictionary messages it needs). Returns when the
    /// transport has accepted the bytes. The table must match the schema.
    pub async fn write(&mut self, table: &Table) -> Result<()> {
        self.send_schema().await?;
        let n = self.tables + 1;
        self.send_table(table, n).await?;
        self.tables += 1;
        self.rows += table.n_rows as u64;
        Ok(())
    }

    /// Sends the messages of `table` (the `n`th written): as they are
    /// encoded, or, when its record batch body is over `max_batch_body`,
    /// its dictionaries and then its rows in `ceil(body / max)` ranges, each
    /// encoded from the table's own buffers (see
    /// [`IpcStreamEncoder::encode_rows`]; no copy of the column data), and
    /// cut again if still too large (skewed strings). A single row over the
    /// limit goes whole.
    async fn send_table(&mut self, table: &Table, n: u64) -> Result<()> {
        let messages = self.encoder.encode_table(table)?;
        let parts = self.parts(messages.last(), table.n_rows);
        let Some((_, dictionaries)) = messages.split_last().filter(|_| parts > 1) else {
            for m in &messages {
                self.send_message(m, || format!("writing table {n}"))
                    .await?;
            }
            return Ok(());
        };
        for m in dictionaries {
            self.send_message(m, || format!("writing table {n}"))
                .await?;
        }
        drop(messages);
        self.send_rows(table, 0..table.n_rows, parts, n).await
    }

    /// How many ranges a table of `rows` rows whose record batch is `batch`
    /// goes out in: 1 when its body is within `max_batch_body`.
    fn parts(&self, batch: Option<&EncodedMessage<'_>>, rows: usize) -> usize {
        let body = batch.map_or(0, EncodedMessage::body_len);
        match self.max_batch_body {
            Some(max) if body > max && rows > 1 => body.div_ceil(max.max(1)).min(rows),
            _ => 1,
        }
    }

    /// Sends rows `rows` of `table` (the `n`th written; its dictionaries
    /// already sent) as `parts` record batches of about equal row counts,
    /// cutting again any still over `max_batch_body`.
    fn send_rows<'a>(
        &'a mut self,
        table: &'a Table,
        rows: Range<usize>,
        parts: usize,
        n: u64,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let per = rows.len().div_ceil(parts.max(1));
            let mut start = rows.start;
            while start < rows.end {
                let range = start..rows.end.min(start + per);
                start = range.end;
                let messages = self.encoder.encode_rows(table, range.clone())?;
                let again = self.parts(messages.last(), range.len());
                if again > 1 {
                    drop(messages);
                    self.send_rows(table, range, again, n).await?;
                    continue;
                }
                for m in &messages {
                    self.send_message(m, || format!("writing table {n}"))
                        .await?;
                }
            }
            Ok(())
        })
    }

    /// Sends record batches whose body is over `max` bytes as several of
    /// fewer rows (see `send_table`); `None`: never split.
    pub(crate) fn set_max_batch_body(&mut self, max: Option<usize>) {
        self.max_batch_body = max;
    }

    /// Sends the end-of-stream marker and closes the sending side: TCP and
    /// Unix sockets shut down their write half, a QUIC stream is finished and
    /// waits until the peer has acknowledged every byte, a WebSocket sends its
    /// closing handshake. Returns the number of bytes written.
    pub async fn finish(mut self) -> Result<u64> {
        self.send_schema().await?;
        let end = self.encoder.end_of_stream();
        self.send_message(&end, || "writing the end-of-stream marker".to_string())
            .await?;
        self.sink.finish(&self.peer, self.write_timeout).await?;
        Ok(self.bytes)
    }
}

/// `f`, failing with the limit when one is set and `f` takes longer.
pub(crate) async fn bounded<T>(
    limit: Option<Duration>,
    f: impl Future<Output = T>,
) -> Result<T, Duration> {
    match limit {
        None => Ok(f.await),
        Some(after) => tokio::time::timeout(after, f).await.map_err(|_| after),
    }
}

/// How long sending one message may take: `after`, plus the time the bytes
/// taken so far earn at `min_rate`.
#[derive(Clone, Copy)]
pub(crate) struct Limit {
    after: Duration,
    min_rate: Option<u64>,
}

impl Limit {
    /// The limit of a write timeout `after` (none without one), earning
    /// more time at `min_rate`.
    pub(crate) fn new(after: Option<Duration>, min_rate: Option<u64>) -> Option<Limit> {
        after.map(|after| Limit { after, min_rate })
    }

    /// How long the message may take once the peer took `taken` bytes of it.
    pub(crate) fn allowed(&self, taken: u64) -> Duration {
        self.after
            + self.min_rate.map_or(Duration::ZERO, |rate| {
                Duration::from_secs_f64(taken as f64 / rate as f64)
            })
    }
}

/// Why a message could not be sent.
pub(crate) enum SendError {
    Io(std::io::Error),
    /// The message was not all taken: how long it took, and how many bytes
    /// the peer took.
    Stalled(Duration, u64),
    /// The transport failed otherwise, with its own error.
    Failed(Error),
}

impl SendError {
    /// The error a writer reports for a message of `len` bytes to `peer`
    /// that did not go out while `doing()`.
    pub(crate) fn into_error(self, peer: &str, len: usize, doing: impl Fn() -> String) -> Error {
        match self {
            SendError::Io(e) => Error::io(format!("writing to {peer}"), e),
            SendError::Failed(e) => e,
            SendError::Stalled(after, 0) => Error::Timeout {
                stalled: format!("{peer} took no data"),
                after,
                context: doing(),
            },
            SendError::Stalled(after, taken) => Error::Timeout {
                stalled: format!("{peer} took {taken} of {len} bytes"),
                after,
                context: doing(),
            },
        }
    }
}

/// A writer's error after an earlier write failed part-way.
pub(crate) fn broken_stream(peer: &str) -> Error {
    Error::io(
        format!("writing to {peer}"),
        std::io::Error::other(
            "an earlier write failed part-way through a message, so the stream cannot go on",
        ),
    )
}

/// Writes every byte of `m` with vectored writes whose slices borrow the
/// message's buffers (falls back to one slice per call where the sink does
/// not do vectored writes). With a `limit`, the message fails when it is not
/// all taken by `limit.allowed(bytes taken so far)` after it started.
pub(crate) async fn write_all_vectored<W>(
    w: &mut W,
    m: &EncodedMessage<'_>,
    limit: Option<Limit>,
) -> Result<(), SendError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    write_all_slices(w, m.io_slices(), limit).await
}

/// [`write_all_vectored`] of any slices (a message after a header of its own).
/// Appends a message's next bytes to `out` until it holds `size` bytes or
/// the message ends: `piece` is the rest of the current slice, `pieces` the
/// slices after it (a message's `io_slices`, empty ones skipped). For sinks
/// that must own their payload (a WebSocket frame, an HTTP body chunk):
/// their one copy, a chunk at a time.
#[cfg(any(feature = "websocket", feature = "http"))]
pub(crate) fn fill_from<'a>(
    out: &mut Vec<u8>,
    size: usize,
    piece: &mut &'a [u8],
    pieces: &mut impl Iterator<Item = &'a [u8]>,
) {
    while out.len() < size && !piece.is_empty() {
        let n = piece.len().min(size - out.len());
        out.extend_from_slice(&piece[..n]);
        *piece = &piece[n..];
        if piece.is_empty() {
            *piece = pieces.next().unwrap_or_default();
        }
    }
}

/// A message's bytes as owned pieces of at most `size` bytes each, each
/// copied only when asked for (so a sink can wait for room first): the one
/// copy of sinks that must own their payload (an HTTP body chunk, a
/// FlightData body).
#[cfg(feature = "http")]
pub(crate) struct Copies<'a> {
    pieces: std::vec::IntoIter<&'a [u8]>,
    piece: &'a [u8],
    left: usize,
    size: usize,
}

#[cfg(feature = "http")]
impl<'a> Copies<'a> {
    /// The `total` bytes of `slices`, in pieces of `size`.
    pub(crate) fn new(
        slices: impl IntoIterator<Item = &'a [u8]>,
        total: usize,
        size: usize,
    ) -> Self {
        let mut pieces: std::vec::IntoIter<&'a [u8]> = slices
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .into_iter();
        let piece = pieces.next().unwrap_or_default();
        Copies {
            pieces,
            piece,
            left: total,
            size: size.max(1),
        }
    }

    /// Bytes not handed out yet.
    pub(crate) fn left(&self) -> usize {
        self.left
    }
}

#[cfg(feature = "http")]
impl Iterator for Copies<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(self.size);
        let mut chunk = Vec::with_capacity(n);
        fill_from(&mut chunk, n, &mut self.piece, &mut self.pieces);
        self.left -= n;
        Some(Bytes::from(chunk))
    }
}

#[cfg(feature = "http")]
impl Copies<'_> {
    /// No bytes.
    pub(crate) fn none() -> Self {
        Copies::new([], 0, 1)
    }
}

/// The producer's end of a body that hyper polls (an HTTP response, a gRPC
/// request or response of FlightData): a channel of one slot. [`OneSlot::send`]
/// is the one loop that feeds such a body: each piece waits for the slot
/// before it is copied, so at most one piece waits in memory and a slow peer
/// slows the producer. The pieces are the channel's `T` (`wrap` makes one of
/// a chunk of bytes).
#[cfg(feature = "http")]
pub(crate) struct OneSlot<T> {
    tx: Option<tokio::sync::mpsc::Sender<T>>,
    /// The error once the body is gone (the peer left).
    gone: fn() -> SendError,
}

#[cfg(feature = "http")]
impl<T: Send> OneSlot<T> {
    /// The producer's end of `tx` (a channel of capacity 1).
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<T>, gone: fn() -> SendError) -> Self {
        OneSlot { tx: Some(tx), gone }
    }

    /// Waits for the slot (the body took the last piece), bounded by what
    /// is left of `limit` once `taken` bytes went out since `started`.
    pub(crate) async fn slot(
        &self,
        limit: Option<Limit>,
        started: tokio::time::Instant,
        taken: u64,
    ) -> Result<tokio::sync::mpsc::Permit<'_, T>, SendError> {
        let tx = self.tx.as_ref().ok_or_else(self.gone)?;
        let allowed = limit.map(|l| l.allowed(taken));
        let left =
            allowed.map(|a| (started + a).saturating_duration_since(tokio::time::Instant::now()));
        bounded(left, tx.reserve())
            .await
            .map_err(|_| SendError::Stalled(allowed.unwrap_or_default(), taken))?
            .map_err(|_| (self.gone)())
    }

    /// Sends `shared` (bytes that are shared already: each goes as it is),
    /// then the bytes of `copies`, one slot at a time: a piece is copied only
    /// once the slot is free, so nothing is assembled that the peer is not
    /// ready for. `limit` bounds the whole (see [`Limit`]).
    pub(crate) async fn send(
        &self,
        shared: &[Bytes],
        mut copies: Copies<'_>,
        limit: Option<Limit>,
        wrap: fn(Bytes) -> T,
    ) -> Result<(), SendError> {
        let (started, mut taken) = (tokio::time::Instant::now(), 0u64);
        for bytes in shared {
            self.slot(limit, started, taken)
                .await?
                .send(wrap(bytes.clone()));
            taken += bytes.len() as u64;
        }
        while copies.left() > 0 {
            let permit = self.slot(limit, started, taken).await?;
            let Some(chunk) = copies.next() else { break };
            taken += chunk.len() as u64;
            permit.send(wrap(chunk));
        }
        Ok(())
    }

    /// The sender, taken: the body learns the producer is gone once it
    /// drops it (after a last piece, say).
    pub(crate) fn take(&mut self) -> Option<tokio::sync::mpsc::Sender<T>> {
        self.tx.take()
    }
}

/// Writes whole shared messages with vectored writes (see
/// [`write_all_slices`]).
pub(crate) async fn write_all_shared<W>(
    w: &mut W,
    messages: &[Bytes],
    limit: Option<Limit>,
) -> Result<(), SendError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    write_all_slices(w, messages.iter().map(|m| IoSlice::new(m)).collect(), limit).await
}

pub(crate) async fn write_all_slices<W>(
    w: &mut W,
    mut slices: Vec<IoSlice<'_>>,
    limit: Option<Limit>,
) -> Result<(), SendError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut bufs, 0);
    let vectored = w.is_write_vectored();
    let started = tokio::time::Instant::now();
    let mut taken = 0u64;
    while !bufs.is_empty() {
        let left = limit.map(|l| {
            (started + l.allowed(taken)).saturating_duration_since(tokio::time::Instant::now())
        });
        let call = async {
            if vectored {
                w.write_vectored(bufs).await
            } else {
                w.write(&bufs[0]).await
            }
        };
        let allowed = limit.map(|l| l.allowed(taken));
        let n = bounded(left, call)
            .await
            .map_err(|_| SendError::Stalled(allowed.unwrap_or_default(), taken))?
            .map_err(SendError::Io)?;
        taken += n as u64;
        if n == 0 {
            return Err(SendError::Io(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "the connection accepted no more bytes",
            )));
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableReader;
    use lightstream_core::ReadOptions;
    use lightstream_core::minarrow::{
        Array, ArrowType, Field, FieldArray, FloatArray, IntegerArray, Table, Vec64, fa_i64, tbl,
    };

    fn numeric_table(n: usize) -> Table {
        let col = |name: &str, dtype: ArrowType, array: Array| FieldArray {
            field: Arc::new(Field {
                name: name.to_string(),
                dtype,
                nullable: false,
                metadata: Default::default(),
            }),
            array,
            null_count: 0,
        };
        let a: Vec64<i64> = (0..n as i64).collect();
        let b: Vec64<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        Table::new(
            "t".to_string(),
            Some(vec![
                col(
                    "a",
                    ArrowType::Int64,
                    Array::from_int64(IntegerArray::from_vec64(a, None)),
                ),
                col(
                    "b",
                    ArrowType::Float64,
                    Array::from_float64(FloatArray::from_vec64(b, None)),
                ),
            ]),
        )
    }

    #[tokio::test]
    async fn a_small_pipe_carries_a_large_table_without_buffering_it() {
        // A 4 KiB pipe: every write must wait for the reader (backpressure).
        let (tx, rx) = tokio::io::duplex(4096);
        let n = 200_000;
        let t = numeric_table(n);
        let schema = Arc::new(Schema::from_table(&t));
        let sent = t.clone();
        let writer = tokio::spawn(async move {
            let mut w =
                TableWriter::from_async_write(tx, "pipe", schema, WriteOptions::default()).unwrap();
            w.write(&sent).await.unwrap();
            w.write(&sent).await.unwrap();
            w.finish().await.unwrap()
        });
        let r = TableReader::from_async_read(rx, "pipe", ReadOptions::default())
            .await
            .unwrap();
        let tables = r.read_all().await.unwrap();
        let bytes = writer.await.unwrap();
        assert!(bytes > 2 * 16 * n as u64);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[1].n_rows, n);
        let expect: Vec<i64> = (0..n as i64).collect();
        match &tables[1].cols[0].array {
            lightstream_core::minarrow::Array::NumericArray(
                lightstream_core::minarrow::NumericArray::Int64(a),
            ) => assert_eq!(a.data.as_slice(), &expect[..]),
            other => panic!("unexpected column {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stream_with_no_tables_still_has_its_schema() {
        let (tx, rx) = tokio::io::duplex(1024);
        let t = tbl!("t", fa_i64!("a", 1));
        let schema = Arc::new(Schema::from_table(&t));
        let w = TableWriter::from_async_write(tx, "pipe", schema, WriteOptions::default()).unwrap();
        w.finish().await.unwrap();
        let r = TableReader::from_async_read(rx, "pipe", ReadOptions::default())
            .await
            .unwrap();
        assert_eq!(r.schema().fields[0].name, "a");
        assert!(r.read_all().await.unwrap().is_empty());
    }
}
