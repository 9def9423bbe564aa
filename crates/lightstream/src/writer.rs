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

use std::any::Any;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use lightstream_core::minarrow::Table;
use lightstream_core::{EncodedMessage, IpcStreamEncoder, Schema, WriteOptions};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// How long a QUIC writer's `finish` waits for the peer's acknowledgement.
#[cfg(feature = "quic")]
const QUIC_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Any byte sink a writer can own.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

pub(crate) enum Sink {
    Bytes(BoxWrite),
    #[cfg(feature = "quic")]
    Quic(quinn::SendStream),
    #[cfg(feature = "websocket")]
    Messages(crate::websocket::BoxWebSocket),
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
pub struct TableWriter {
    sink: Sink,
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
    _guard: Option<Box<dyn Any + Send + Sync>>,
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
        Self::new(
            Sink::Bytes(Box::new(inner)),
            peer.into(),
            schema,
            options,
            None,
        )
    }

    pub(crate) fn new(
        sink: Sink,
        peer: String,
        schema: Arc<Schema>,
        options: WriteOptions,
        guard: Option<Box<dyn Any + Send + Sync>>,
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
            _guard: guard,
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
            return Err(Error::io(
                format!("writing to {}", self.peer),
                std::io::Error::other(
                    "an earlier write failed part-way through a message, so the stream cannot go on",
                ),
            ));
        }
        // Broken until the message is all out: an error, or a future
        // dropped part-way (a caller's own timeout), leaves half a message.
        self.broken = true;
        let limit = self.write_timeout.map(|after| Limit {
            after,
            min_rate: self.min_rate,
        });
        send(&mut self.sink, &self.peer, m, limit, doing).await?;
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
        let messages = self.encoder.encode_table(table)?;
        let n = self.tables + 1;
        for m in &messages {
            self.send_message(m, || format!("writing table {n}"))
                .await?;
        }
        self.tables += 1;
        self.rows += table.n_rows as u64;
        Ok(())
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
        let peer = &self.peer;
        let ctx = || format!("closing the stream to {peer}");
        let limit = self.write_timeout;
        let stalled = |after| Error::Timeout {
            stalled: format!("{peer} took no data"),
            after,
            context: "closing the stream".to_string(),
        };
        match &mut self.sink {
            Sink::Bytes(w) => {
                bounded(limit, w.flush())
                    .await
                    .map_err(stalled)?
                    .map_err(|e| Error::io(ctx(), e))?;
                bounded(limit, w.shutdown())
                    .await
                    .map_err(stalled)?
                    .map_err(|e| Error::io(ctx(), e))?;
            }
            #[cfg(feature = "quic")]
            Sink::Quic(s) => {
                s.finish()
                    .map_err(|e| Error::Protocol(format!("{}: {e}", ctx())))?;
                // Wait (boundedly) for the peer to acknowledge every byte. A
                // peer that read the whole stream and exited at once may never
                // send its last ACK; then, as with TCP, the bytes were all sent
                // and finish() succeeds after the wait.
                match tokio::time::timeout(QUIC_ACK_WAIT, s.stopped()).await {
                    Err(_elapsed) => {}
                    Ok(Ok(None)) => {}
                    Ok(Ok(Some(code))) => {
                        return Err(Error::Protocol(format!(
                            "{peer} stopped the QUIC stream (code {code}) before reading all of it"
                        )));
                    }
                    Ok(Err(e)) => return Err(Error::Protocol(format!("{}: {e}", ctx()))),
                }
            }
            #[cfg(feature = "websocket")]
            Sink::Messages(s) => {
                use futures_util::{SinkExt, StreamExt};
                use tokio_tungstenite::tungstenite::{Error as WsError, Message};
                bounded(limit, s.close())
                    .await
                    .map_err(stalled)?
                    .map_err(|e| ws_error(ctx(), e))?;
                // Complete the closing handshake: wait (briefly) for the
                // peer's Close. A writer reads only control frames (its
                // WebSocket reads at most WRITE_ONLY_READ_BYTES a frame): a
                // data message or a larger frame is a peer that broke the
                // protocol, reported here and not buffered.
                let waited = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    loop {
                        match s.next().await {
                            None | Some(Ok(Message::Close(_))) => return Ok(()),
                            Some(Ok(Message::Binary(_) | Message::Text(_))) => {
                                return Err(Error::Protocol(format!(
                                    "{peer} sent a data message to a stream that only \
                                     writes; dropped"
                                )));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(WsError::Capacity(e))) => {
                                return Err(Error::Protocol(format!(
                                    "{peer} sent a WebSocket frame a stream that only writes \
                                     does not read ({e}; it reads control frames of at most \
                                     {} bytes); dropped",
                                    crate::websocket::WRITE_ONLY_READ_BYTES
                                )));
                            }
                            Some(Err(_)) => return Ok(()),
                        }
                    }
                })
                .await;
                if let Ok(Err(e)) = waited {
                    return Err(e);
                }
            }
        }
        Ok(self.bytes)
    }
}

/// `f`, failing with the limit when one is set and `f` takes longer.
async fn bounded<T>(limit: Option<Duration>, f: impl Future<Output = T>) -> Result<T, Duration> {
    match limit {
        None => Ok(f.await),
        Some(after) => tokio::time::timeout(after, f).await.map_err(|_| after),
    }
}

/// How long sending one message may take: `after`, plus the time the bytes
/// taken so far earn at `min_rate`.
#[derive(Clone, Copy)]
struct Limit {
    after: Duration,
    min_rate: Option<u64>,
}

impl Limit {
    fn allowed(&self, taken: u64) -> Duration {
        self.after
            + self.min_rate.map_or(Duration::ZERO, |rate| {
                Duration::from_secs_f64(taken as f64 / rate as f64)
            })
    }
}

/// Why a message could not be sent.
enum SendError {
    Io(std::io::Error),
    /// The message was not all taken: how long it took, and how many bytes
    /// the peer took.
    Stalled(Duration, u64),
}

/// Sends one encoded message over `sink`; `doing` says what for a timeout.
async fn send(
    sink: &mut Sink,
    peer: &str,
    m: &EncodedMessage<'_>,
    limit: Option<Limit>,
    doing: impl Fn() -> String,
) -> Result<()> {
    let ctx = || format!("writing to {peer}");
    let sent = match sink {
        Sink::Bytes(w) => write_all_vectored(w, m, limit).await,
        #[cfg(feature = "quic")]
        Sink::Quic(s) => write_all_vectored(s, m, limit).await,
        #[cfg(feature = "websocket")]
        Sink::Messages(s) => {
            use crate::websocket::{WRITE_FRAME_BYTES, frame};
            use futures_util::SinkExt;
            // Frames of at most WRITE_FRAME_BYTES, each assembled from the
            // message's slices just before it is sent: a writer holds one
            // frame, never a whole message (a peer that stops reading costs
            // at most a frame here and one in tungstenite's send buffer).
            // The message is bounded as a whole (see `Limit`), with the
            // frames the peer took so far earning time at the minimum rate.
            let total = m.len();
            let started = tokio::time::Instant::now();
            let mut taken = 0u64;
            let capacity = total.min(WRITE_FRAME_BYTES);
            let mut payload = Vec::with_capacity(capacity);
            let (mut done, mut first) = (0, true);
            let slices = m.io_slices();
            let mut pieces = slices.iter().map(|s| &s[..]).filter(|s| !s.is_empty());
            let mut piece: &[u8] = pieces.next().unwrap_or_default();
            loop {
                while payload.len() < WRITE_FRAME_BYTES && !piece.is_empty() {
                    let take = piece.len().min(WRITE_FRAME_BYTES - payload.len());
                    payload.extend_from_slice(&piece[..take]);
                    piece = &piece[take..];
                    if piece.is_empty() {
                        piece = pieces.next().unwrap_or_default();
                    }
                }
                done += payload.len();
                let last = done >= total;
                let allowed = limit.map(|l| l.allowed(taken));
                let left = allowed
                    .map(|a| (started + a).saturating_duration_since(tokio::time::Instant::now()));
                let frame_len = payload.len() as u64;
                let next = if last {
                    std::mem::take(&mut payload)
                } else {
                    std::mem::replace(&mut payload, Vec::with_capacity(capacity))
                };
                match bounded(left, s.send(frame(next, first, last))).await {
                    Ok(Ok(())) => taken += frame_len,
                    Ok(Err(e)) => return Err(ws_error(ctx(), e)),
                    Err(_) => break Err(SendError::Stalled(allowed.unwrap_or_default(), taken)),
                }
                if last {
                    break Ok(());
                }
                first = false;
            }
        }
    };
    sent.map_err(|e| match e {
        SendError::Io(e) => Error::io(ctx(), e),
        SendError::Stalled(after, 0) => Error::Timeout {
            stalled: format!("{peer} took no data"),
            after,
            context: doing(),
        },
        SendError::Stalled(after, taken) => Error::Timeout {
            stalled: format!("{peer} took {taken} of {} bytes", m.len()),
            after,
            context: doing(),
        },
    })
}

#[cfg(feature = "websocket")]
pub(crate) fn ws_error(context: String, e: tokio_tungstenite::tungstenite::Error) -> Error {
    match e {
        tokio_tungstenite::tungstenite::Error::Io(e) => Error::io(context, e),
        e => Error::Protocol(format!("WebSocket error while {context}: {e}")),
    }
}

/// Writes every byte of `m` with vectored writes whose slices borrow the
/// message's buffers (falls back to one slice per call where the sink does
/// not do vectored writes). With a `limit`, the message fails when it is not
/// all taken by `limit.allowed(bytes taken so far)` after it started.
async fn write_all_vectored<W>(
    w: &mut W,
    m: &EncodedMessage<'_>,
    limit: Option<Limit>,
) -> Result<(), SendError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut slices = m.io_slices();
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
