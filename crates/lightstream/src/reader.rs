//! [`TableReader`]: a stream of tables from any transport.
//!
//! The reader owns the I/O and nothing else: the core's [`IpcStreamDriver`]
//! feeds its [`lightstream_core::IpcStreamDecoder`]. Byte transports (TCP,
//! Unix sockets, stdin, QUIC streams, any `AsyncRead`) are read where the
//! driver says: message bodies straight into the decoder's 64-byte aligned
//! [`lightstream_core::BodySink`], so the socket read is the only copy of
//! column data; prefixes and metadata through the driver's small scratch
//! buffer. Message transports (WebSocket) hand each message to the driver's
//! one-message rule ([`lightstream_core::FrameDriver::next_in_message`]), which copies each
//! body once into aligned memory.
//!
//! Memory is bounded by one message (within [`lightstream_core::DecodeLimits`])
//! plus the scratch buffer: the reader reads only when it is polled, so a
//! slow consumer slows the peer down through the transport's own flow control.
//!
//! A peer that stops sending leaves the reader waiting, as a socket read
//! would; [`TableReader::set_idle_timeout`] bounds that wait.
//!
//! The seam: a transport hands the reader an `Input`, a byte stream or a
//! `MessageStream`, and nothing else; the reader never learns which
//! transport it reads. When a message's payload breaks the rules, the
//! reader tells the transport why (`Violation`) so that the transport can
//! tell its peer (a WebSocket Close status code) before it is dropped.
//!
//! Any tokio byte source will do; here an IPC stream already in memory:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{ReadOptions, Schema, TableReader};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = lightstream::write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
//! let input = std::io::Cursor::new(bytes);
//! let reader = TableReader::from_async_read(input, "memory", ReadOptions::default()).await?;
//! assert_eq!(reader.schema().fields[0].name, "id");
//! let tables = reader.read_all().await?;
//! assert_eq!(tables[0].n_rows, 3);
//! # Ok(()) }
//! ```
//!
//! [The native API guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md#tablereader)
//! has the rest: timeouts, counters, what is copied per transport.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use lightstream_core::framing::FrameDecoder;
use lightstream_core::minarrow::Table;
use lightstream_core::{
    ByteInput, DriveError, ErrorKind, FrameDriver, IpcStreamDecoder, IpcStreamDriver,
    MessageProgress, Progress, ReadOptions, ReadTarget, Schema, StreamItem,
};
use tokio::io::AsyncRead;

use crate::error::{Error, Result};

/// Any byte source a reader can own.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;

/// What a transport hands a reader: bytes in any chunking (TCP, TLS, Unix
/// sockets, stdin, QUIC streams, any `AsyncRead`), or whole messages of a
/// message transport (WebSocket). The reader knows nothing else of the
/// transport; whatever the transport needs kept alive (a QUIC connection,
/// the send half of a WebSocket) lives inside these values.
pub(crate) enum Input {
    Bytes(BoxRead),
    Messages(Box<dyn MessageStream>),
}

/// A transport that carries whole messages, each holding one or more whole
/// IPC messages (WebSocket, TLV frames over a byte stream; later
/// gRPC/Flight and HTTP chunks).
///
/// The transport answers its own control traffic (WebSocket pings and the
/// closing handshake), turns its own errors into [`Error`] (telling its
/// peer first, where its protocol has a way to say why), and ends the stream
/// (`None`) when the peer closes or the connection drops: whether that was
/// too early is the reader's to say.
pub(crate) trait MessageStream: Send + Unpin {
    /// The next message's payload, `None` at the transport's end.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>>;

    /// The reader refuses what arrived and will drop the stream: tell the
    /// peer why, best effort and bounded in time (a WebSocket Close frame
    /// with a status code). `reason` is short and for people.
    fn poll_refuse(&mut self, cx: &mut Context<'_>, why: Violation, reason: &str) -> Poll<()>;

    /// What one message is called in errors ("WebSocket message").
    fn unit(&self) -> &'static str;
}

/// Why a reader refuses what a message transport delivered, for the
/// transport to tell its peer (a WebSocket maps it to a Close status code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// What the protocol does not allow: a message that ends inside an IPC
    /// message, bytes that are not Arrow IPC, a malformed transport frame.
    Protocol,
    /// A message, frame or IPC message over the reader's limits.
    TooLarge,
    /// Data the reader does not take: a text message, or valid Arrow of a
    /// type the reader cannot hold.
    Unsupported,
    /// Well-framed contents that contradict themselves (bad UTF-8, an
    /// out-of-range dictionary key, a buffer that does not decompress).
    InvalidData,
}

impl Violation {
    /// The violation a codec error found in a message's payload is.
    fn of(kind: ErrorKind) -> Violation {
        match kind {
            ErrorKind::LimitExceeded => Violation::TooLarge,
            ErrorKind::Unsupported => Violation::Unsupported,
            ErrorKind::InvalidData | ErrorKind::Compression => Violation::InvalidData,
            _ => Violation::Protocol,
        }
    }
}

/// The reader's [`Input`] and what reading it needs kept between polls.
enum InputState {
    Bytes {
        read: BoxRead,
    },
    Messages {
        messages: Box<dyn MessageStream>,
        pending: Option<Bytes>,
        pos: usize,
        count: u64,
        /// What was refused (the peer is being told), and the error the
        /// reader returns once it has been.
        refusing: Option<(Violation, String, Error)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// The end-of-stream marker was read.
    Ended,
    /// An error, or the input ended.
    Done,
}

/// How long, and for how many bytes, a reader that saw the end-of-stream
/// marker keeps reading in the background after it is dropped (see `Drop`).
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);
const LINGER_BYTES: usize = 1 << 20;

/// A stream of [`Table`]s read from one Arrow IPC stream.
///
/// Created by [`crate::Connection::reader`], [`TableReader::from_async_read`]
/// or a transport module. The schema message has been read by the time you
/// hold one. Poll it as a [`futures_core::Stream`] (`while let Some(t) =
/// reader.next().await`, with `futures::StreamExt`) or call
/// [`TableReader::read_all`]. The stream ends after the end-of-stream marker;
/// an input that stops before it is an error of kind
/// [`ErrorKind::Truncated`] (see [`TableReader::set_require_end_marker`]).
/// After an error the stream ends.
///
/// A peer that goes quiet (a stalled or vanished process, a half-open
/// connection) leaves the reader waiting for as long as the transport keeps
/// the connection up, which for TCP can be forever. Set an idle timeout with
/// [`TableReader::set_idle_timeout`] to end the wait with [`Error::Timeout`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{Connection, ReadOptions, Schema, TableReader, WriteOptions};
///
/// // Two ends of an in-memory pipe; a socket behaves the same.
/// let (near, far) = tokio::io::duplex(64 * 1024);
/// let (far_read, far_write) = tokio::io::split(far);
/// let writer = tokio::spawn(async move {
///     let table = tbl!("t", fa_i64!("id", 1, 2, 3));
///     let conn = Connection::from_io(far_read, far_write, "peer");
///     let mut w = conn.writer(Schema::from_table(&table).into(), WriteOptions::default()).await?;
///     for _ in 0..2 {
///         w.write(&table).await?;
///     }
///     w.finish().await
/// });
/// let mut reader = TableReader::from_async_read(near, "pipe", ReadOptions::default()).await?;
/// // A peer silent for 30 s ends the stream with `Error::Timeout`.
/// reader.set_idle_timeout(Some(Duration::from_secs(30)));
/// while let Some(table) = reader.next().await {
///     assert_eq!(table?.n_rows, 3);
/// }
/// assert_eq!((reader.tables_read(), reader.rows_read()), (2, 6));
/// writer.await.expect("writer task")?;
/// # Ok(()) }
/// ```
pub struct TableReader {
    feed: Feed<IpcStreamDecoder>,
    schema: Arc<Schema>,
    rows: u64,
}

/// What a reader reads with: a transport's [`Input`] through the one driver
/// ([`FrameDriver`]) of a decoder of IPC messages, with the idle timeout and
/// the rules for the input's end. [`TableReader`] runs it over the decoder
/// of tables, [`crate::MessageReader`] over the decoder of whole messages.
pub(crate) struct Feed<D> {
    input: InputState,
    pub(crate) driver: FrameDriver<D>,
    pub(crate) peer: String,
    pub(crate) state: State,
    require_end_marker: bool,
    /// Items handed out (tables, messages), named in errors as `items_name`.
    pub(crate) items: u64,
    items_name: &'static str,
    /// WebSocket messages that arrived (byte reads: the driver counts them).
    arrivals: u64,
    /// WebSocket binary payload bytes received (byte reads: the driver's).
    received: u64,
    idle: Idle,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("peer", &self.feed.peer)
            .field("tables", &self.feed.items)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// The idle timeout's state. Progress is a completed IPC message, not a
/// byte or a ping: the wait for the next one starts when the reader is first
/// polled after an item (time the application spends between polls does not
/// count) or when a message completes without one (a dictionary batch).
#[derive(Default)]
struct Idle {
    after: Option<Duration>,
    /// Bytes per second the in-flight message must average to be given more
    /// time than `after`.
    min_rate: Option<u64>,
    /// Allocated on the first wait, then reset for every later one.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A wait is being measured (false after an item was returned).
    armed: bool,
    /// `messages_decoded` when the current wait began.
    mark: u64,
    /// When the current wait began, and `received` then.
    since: Option<tokio::time::Instant>,
    received_at_start: u64,
}

impl TableReader {
    /// Reads an Arrow IPC stream from any byte source (a socket, a pipe, a
    /// file, a QUIC stream). `peer` names it in errors (for example
    /// `"tcp 127.0.0.1:9000"`). Returns once the schema message has arrived.
    pub async fn from_async_read<R>(
        inner: R,
        peer: impl Into<String>,
        options: ReadOptions,
    ) -> Result<TableReader>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        Self::open(Input::Bytes(Box::new(inner)), peer.into(), options).await
    }

    /// Reads one Arrow IPC stream from what a transport delivers; returns
    /// once the schema message has arrived.
    pub(crate) async fn open(
        input: Input,
        peer: String,
        options: ReadOptions,
    ) -> Result<TableReader> {
        let mut feed = Feed::new(input, peer, IpcStreamDriver::new(options), "tables");
        let schema = match feed.first().await? {
            StreamItem::Schema(schema) => schema,
            // The decoder yields the schema first or fails; anything else is
            // an input that ended before it.
            _ => return Err(feed.no_schema()),
        };
        Ok(TableReader {
            feed,
            schema,
            rows: 0,
        })
    }

    /// The stream's schema (projected, if [`ReadOptions::projection`] asked).
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Every field of the stream as Arrow describes it, supported or not
    /// (with [`lightstream_core::Projection::Supported`], what was left out).
    pub fn fields(&self) -> &[lightstream_core::FieldInfo] {
        self.feed.driver.decoder().fields()
    }

    /// Who the tables come from, as errors name it.
    pub fn peer(&self) -> &str {
        &self.feed.peer
    }

    /// Tables read so far.
    pub fn tables_read(&self) -> u64 {
        self.feed.items
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    /// Bytes of the IPC stream consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.feed.driver.decoder().bytes_consumed()
    }

    /// Bytes that were read straight into the aligned memory their tables
    /// use (message bodies read through the core's `BodySink`: no copy after
    /// the read). The rest of [`TableReader::bytes_read`] went through a small
    /// buffer and was copied once: prefixes, metadata, the first bytes of a
    /// body that arrived with its metadata, bodies that had to be moved to
    /// 64-byte boundaries (a buffer off an 8-byte boundary; any off 64 with
    /// `ReadOptions::align_64`), and every WebSocket message.
    pub fn bytes_read_in_place(&self) -> u64 {
        self.feed.driver.bytes_read_in_place()
    }

    /// Body bytes copied after the read to make the tables: those that went
    /// through the small buffer (see [`TableReader::bytes_read_in_place`]),
    /// bodies moved to 64-byte boundaries, and single buffers not aligned for
    /// their type (`lightstream_core::IpcStreamDecoder::bytes_copied`). The
    /// read itself (out of the socket, or of the HTTP/2 frames of a Flight
    /// body) is not counted: 0 means every body byte was copied once, by
    /// the read, straight into the memory its table uses.
    pub fn bytes_copied(&self) -> u64 {
        self.feed.driver.decoder().bytes_copied()
    }

    /// Whether an input that ends without the end-of-stream marker is an
    /// error (`true`, the default) or a clean end (`false`). Every Arrow
    /// writer sends the marker when it finishes, so over a network its absence
    /// means the writer stopped early: by default that is reported rather than
    /// passed off as a complete (but short) stream. A stream that ends inside
    /// a message is an error either way.
    pub fn set_require_end_marker(&mut self, require: bool) {
        self.feed.set_require_end_marker(require);
    }

    /// Ends the stream when no IPC message completes for `timeout` (`None`,
    /// the default: wait as long as the transport does). Progress is a whole
    /// IPC message (schema, dictionary or record batch), on every transport:
    /// bytes that trickle in without completing one, and WebSocket pings,
    /// do not restart the timer, so a peer cannot hold the reader with a
    /// drip. A message that is still arriving gets more time only under
    /// [`TableReader::set_min_rate`]. The timer runs only while the reader is
    /// polled and waiting; time the application spends between polls does
    /// not count. When it expires, the stream yields [`Error::Timeout`] ("no
    /// complete IPC message from PEER for 1 s while reading the body of
    /// message 3 (4096 of 65536 bytes)"; "no data from PEER ..." when not a
    /// byte came) and ends; dropping the reader then closes the connection.
    /// Tables read before are unaffected. Over WebSocket a message is seen
    /// only once it is whole, so `timeout` must cover the largest message at
    /// the slowest link.
    ///
    /// The reader exists only once the schema message has arrived, so bound
    /// that first wait (and a WebSocket or QUIC handshake) with
    /// `tokio::time::timeout` around [`crate::Connection::reader`] (or
    /// [`TableReader::from_async_read`]); dropping the future closes the
    /// connection. Needs a tokio runtime with the time driver enabled.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.feed.set_idle_timeout(timeout);
    }

    /// The idle timeout (see [`TableReader::set_idle_timeout`]).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.feed.idle_timeout()
    }

    /// With an idle timeout `T`, lets a large message take longer than `T`
    /// while it arrives at `bytes_per_second` or faster on average: the
    /// message (or the wait for it) may last `T + received / bytes_per_second`,
    /// where `received` counts the bytes that arrived since the wait began.
    /// A peer that drips slower is cut off after about `T`; one that keeps
    /// the rate can hold a message for at most
    /// `T + DecodeLimits::max_body_bytes / bytes_per_second`. `None` (the
    /// default): every message must complete within `T`.
    pub fn set_min_rate(&mut self, bytes_per_second: Option<u64>) {
        self.feed.set_min_rate(bytes_per_second);
    }

    /// Reads every remaining table.
    pub async fn read_all(mut self) -> Result<Vec<Table>> {
        let mut tables = Vec::new();
        while let Some(t) = std::future::poll_fn(|cx| self.poll_table(cx)).await {
            tables.push(t?);
        }
        Ok(tables)
    }

    fn poll_table(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Table>>> {
        let feed = &mut self.feed;
        loop {
            match ready!(feed.poll_next(cx)) {
                Some(Ok(StreamItem::Table(t))) => {
                    feed.items += 1;
                    self.rows += t.n_rows as u64;
                    return Poll::Ready(Some(Ok(t)));
                }
                Some(Ok(StreamItem::Schema(_))) => continue,
                Some(Ok(StreamItem::End)) => {
                    feed.state = State::Ended;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<D: FrameDecoder + MessageProgress> Feed<D> {
    /// A feed of `input` through `driver`; `items_name` names what it hands
    /// out in errors ("after 3 tables").
    pub(crate) fn new(
        input: Input,
        peer: String,
        driver: FrameDriver<D>,
        items_name: &'static str,
    ) -> Feed<D> {
        let input = match input {
            Input::Bytes(read) => InputState::Bytes { read },
            Input::Messages(messages) => InputState::Messages {
                messages,
                pending: None,
                pos: 0,
                count: 0,
                refusing: None,
            },
        };
        Feed {
            input,
            driver,
            peer,
            state: State::Open,
            require_end_marker: true,
            items: 0,
            items_name,
            arrivals: 0,
            received: 0,
            idle: Idle::default(),
        }
    }

    /// The first item (the schema's), or [`Error::EmptyConnection`] when not
    /// a byte (nor a WebSocket message) arrived: a probe, not a stream.
    pub(crate) async fn first(&mut self) -> Result<D::Frame> {
        let first = std::future::poll_fn(|cx| self.poll_item(cx)).await;
        let empty = || Error::EmptyConnection {
            peer: self.peer.clone(),
        };
        match first {
            Err(e) if self.arrivals() == 0 && e.codec_kind() == Some(ErrorKind::Truncated) => {
                Err(empty())
            }
            Ok(None) if self.arrivals() == 0 => Err(empty()),
            Ok(None) => Err(self.no_schema()),
            Ok(Some(item)) => Ok(item),
            Err(e) => Err(e),
        }
    }

    /// The input ended before the schema message.
    pub(crate) fn no_schema(&self) -> Error {
        Error::Codec(lightstream_core::Error::new(
            ErrorKind::Truncated,
            format!("{} closed before sending a schema message", self.peer),
        ))
    }

    pub(crate) fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle.after = timeout;
        self.idle.armed = false;
    }

    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.idle.after
    }

    pub(crate) fn set_min_rate(&mut self, bytes_per_second: Option<u64>) {
        self.idle.min_rate = bytes_per_second.filter(|&r| r > 0);
    }

    pub(crate) fn set_require_end_marker(&mut self, require: bool) {
        self.require_end_marker = require;
    }

    /// Reads of bytes, or WebSocket messages, that brought something.
    fn arrivals(&self) -> u64 {
        self.arrivals + self.driver.reads()
    }

    /// Bytes of IPC stream received (WebSocket: binary payloads only), for
    /// the idle timeout's minimum rate.
    fn received(&self) -> u64 {
        self.received + self.driver.bytes_read()
    }

    /// The next item while the stream is open: `None` once it ended (the
    /// caller sets [`State::Ended`] when an item is the end marker) or
    /// failed, and after the input ended.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<D::Frame>>> {
        if self.state != State::Open {
            return Poll::Ready(None);
        }
        match ready!(self.poll_item(cx)) {
            Ok(Some(item)) => Poll::Ready(Some(Ok(item))),
            Ok(None) => {
                self.state = State::Done;
                Poll::Ready(None)
            }
            Err(e) => {
                self.state = State::Done;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    /// The next item the decoder produces, `Ok(None)` at the end of the
    /// input, or the idle timeout's error.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<D::Frame>>> {
        let polled = self.poll_input(cx);
        let Some(after) = self.idle.after else {
            return polled;
        };
        if polled.is_ready() {
            self.idle.armed = false;
            return polled;
        }
        let done = self.driver.decoder().messages_decoded();
        let received = self.received();
        let now = tokio::time::Instant::now();
        let idle = &mut self.idle;
        if !idle.armed || idle.mark != done {
            // A new wait: after an item, or a message completed without one.
            idle.armed = true;
            idle.mark = done;
            idle.since = Some(now);
            idle.received_at_start = received;
        }
        let since = idle.since.unwrap_or(now);
        let got = received - idle.received_at_start;
        let allowed = after
            + idle.min_rate.map_or(Duration::ZERO, |rate| {
                Duration::from_secs_f64(got as f64 / rate as f64)
            });
        let deadline = since + allowed;
        if now < deadline {
            let timer = idle
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        idle.armed = false;
        let peer = &self.peer;
        // A WebSocket message is seen only once whole: bytes may be arriving.
        // A transport message (WebSocket) is seen only once whole: bytes
        // may be arriving.
        let whole_messages = match &self.input {
            InputState::Bytes { .. } => None,
            InputState::Messages { messages, .. } => Some(messages.unit()),
        };
        let stalled = match (got, idle.min_rate) {
            (0, _) => match whole_messages {
                Some(unit) => format!("no complete {unit} from {peer}"),
                None => format!("no data from {peer}"),
            },
            (got, None) => format!("no complete IPC message from {peer} ({got} bytes arrived)"),
            (got, Some(rate)) => format!(
                "no complete IPC message from {peer} ({got} bytes arrived, under the minimum \
                 rate of {rate} bytes/s)"
            ),
        };
        Poll::Ready(Err(Error::Timeout {
            stalled,
            after: allowed,
            context: self.waiting_for(),
        }))
    }

    /// What the reader is waiting for, for a timeout's message.
    fn waiting_for(&self) -> String {
        let decoder = self.driver.decoder();
        let message = decoder.messages_decoded();
        // The schema is message 0: until it is whole, that is the wait.
        if message == 0 {
            return "waiting for the schema message".to_string();
        }
        match decoder.progress() {
            Progress::Idle | Progress::Ended => format!(
                "waiting for the next message (after {} {})",
                self.items, self.items_name
            ),
            Progress::Prefix { got } => {
                format!("reading the prefix of message {message} ({got} bytes of it)")
            }
            Progress::Metadata { got, len } => {
                format!("reading the metadata of message {message} ({got} of {len} bytes)")
            }
            Progress::Body { got, len } => {
                format!("reading the body of message {message} ({got} of {len} bytes)")
            }
        }
    }

    /// The next item from the transport, without the idle timeout.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<D::Frame>>> {
        let Feed {
            input,
            driver,
            peer,
            require_end_marker,
            items,
            items_name,
            arrivals,
            received,
            ..
        } = self;
        let peer = peer.as_str();
        let io_err = |e: std::io::Error| Error::reading(peer, e);
        let at_end = |decoder: &D| {
            end_of_input(decoder, peer, *require_end_marker, *items, items_name).map(|()| None)
        };
        match input {
            InputState::Bytes { read } => {
                match ready!(driver.poll_next(cx, &mut AsyncInput(read))) {
                    Ok(Some(item)) => Poll::Ready(Ok(Some(item))),
                    Ok(None) => Poll::Ready(at_end(driver.decoder())),
                    Err(e) => Poll::Ready(Err(drive_error(e, io_err))),
                }
            }
            InputState::Messages {
                messages,
                pending,
                pos,
                count,
                refusing,
            } => loop {
                if let Some((why, reason, _)) = refusing {
                    ready!(messages.poll_refuse(cx, *why, reason));
                    if let Some((_, _, error)) = refusing.take() {
                        return Poll::Ready(Err(error));
                    }
                    continue;
                }
                if let Some(bytes) = pending {
                    let mut input = lightstream_core::SliceInput::new(bytes, *pos);
                    let next = driver.next_in_message(&mut input);
                    *pos = input.position();
                    match next {
                        Ok(Some(item)) => return Poll::Ready(Ok(Some(item))),
                        Ok(None) => *pending = None,
                        // The peer is told why before the error is returned.
                        Err(e) => *refusing = Some(refusal(e, messages.unit(), peer)),
                    }
                    continue;
                }
                let next = ready!(messages.poll_message(cx));
                *arrivals += 1;
                match next {
                    None => return Poll::Ready(at_end(driver.decoder())),
                    Some(Ok(b)) => {
                        *count += 1;
                        *received += b.len() as u64;
                        *pending = Some(b);
                        *pos = 0;
                    }
                    // The transport told its peer already.
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                }
            },
        }
    }
}

/// An `AsyncRead` as the driver's input: `poll_read_buf` into the place the
/// driver chose (a body's aligned memory, or its scratch buffer).
pub(crate) struct AsyncInput<'a, R: ?Sized>(pub(crate) &'a mut R);

impl<R: AsyncRead + Unpin + ?Sized> ByteInput for AsyncInput<'_, R> {
    type Error = std::io::Error;

    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<std::io::Result<()>> {
        tokio_util::io::poll_read_buf(Pin::new(&mut *self.0), cx, target).map_ok(|_| ())
    }
}

/// A driver error as the reader reports it; `input` maps the input's own.
pub(crate) fn drive_error<E>(e: DriveError<E>, input: impl FnOnce(E) -> Error) -> Error {
    match e {
        DriveError::Decode(e) => Error::Codec(e),
        DriveError::Input(e) => input(e),
    }
}

/// What a transport message's error makes the reader refuse: one that
/// split an IPC message is the peer breaking the protocol; the rest are the
/// codec's. The violation and a short reason for the peer, and the error.
fn refusal(
    e: lightstream_core::MessageError,
    unit: &str,
    peer: &str,
) -> (Violation, String, Error) {
    match e {
        lightstream_core::MessageError::Decode(e) => (
            Violation::of(e.kind()),
            e.message().to_string(),
            Error::Codec(e),
        ),
        lightstream_core::MessageError::Split {
            transport_message,
            ipc_message,
            progress,
        } => (
            Violation::Protocol,
            format!("{unit} {transport_message} ended inside an Arrow IPC message"),
            Error::Protocol(format!(
                "{unit} {transport_message} from {peer} ended inside an Arrow IPC message \
                 (each binary message must hold whole IPC messages): it stopped in \
                 {progress} of IPC message {ipc_message}"
            )),
        ),
    }
}

/// The input ended: fine at a message boundary after the end marker (or
/// without it, when that is allowed); a `Truncated` error otherwise.
fn end_of_input<D: FrameDecoder + MessageProgress>(
    decoder: &D,
    peer: &str,
    require_end_marker: bool,
    items: u64,
    items_name: &str,
) -> Result<()> {
    decoder.finish().map_err(|e| {
        Error::Codec(lightstream_core::Error::new(
            e.kind(),
            // The kind is this error's too: its message only, not "truncated
            // input: ... truncated input: ...".
            format!("{peer} closed the connection early: {}", e.message()),
        ))
    })?;
    if require_end_marker && !decoder.is_ended() {
        return Err(Error::Codec(lightstream_core::Error::new(
            ErrorKind::Truncated,
            format!(
                "{peer} closed the connection after {items} {items_name} without the \
                 end-of-stream marker: the writer stopped before finishing the stream"
            ),
        )));
    }
    Ok(())
}

impl<D> Drop for Feed<D> {
    /// A reader that read the end-of-stream marker reads on, in the
    /// background, to the transport's own end (at most 5 s and 1 MiB): the
    /// FIN of a TCP connection or QUIC stream, the closing handshake of a
    /// WebSocket (which tungstenite answers while it reads). The writer then
    /// sees a stream read to completion (a QUIC `finish` is acknowledged
    /// rather than stopped; a WebSocket closes cleanly) instead of a peer
    /// that hung up. A reader that failed, or is dropped early, closes at once.
    fn drop(&mut self) {
        if self.state != State::Ended {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let placeholder = InputState::Bytes {
            read: Box::new(tokio::io::empty()),
        };
        let input = std::mem::replace(&mut self.input, placeholder);
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, drain(input)).await;
        });
    }
}

/// Reads and discards what follows the end-of-stream marker, up to
/// [`LINGER_BYTES`], until the transport ends.
async fn drain(input: InputState) {
    match input {
        InputState::Bytes { mut read } => {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let mut seen = 0;
            while seen < LINGER_BYTES {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen += n,
                }
            }
        }
        InputState::Messages { mut messages, .. } => {
            let mut seen = 0;
            while seen < LINGER_BYTES {
                match std::future::poll_fn(|cx| messages.poll_message(cx)).await {
                    None | Some(Err(_)) => break,
                    Some(Ok(m)) => seen += m.len(),
                }
            }
        }
    }
}

impl Stream for TableReader {
    type Item = Result<Table>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Table>>> {
        self.get_mut().poll_table(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use lightstream_core::minarrow::{fa_i64, fa_str32, tbl};
    use lightstream_core::{WriteOptions, write_stream};

    fn stream_bytes(n: usize) -> Vec<u8> {
        let t = tbl!(
            "t",
            fa_i64!("id", 1, 2, 3),
            fa_str32!("s", "a", "bb", "ccc")
        );
        let tables: Vec<Table> = (0..n).map(|_| t.clone()).collect();
        write_stream(&Schema::from_table(&t), &tables, &WriteOptions::default()).unwrap()
    }

    #[tokio::test]
    async fn reads_every_table_from_any_chunking() {
        let bytes = stream_bytes(3);
        for chunk in [1, 7, 100, 1 << 20] {
            let (mut tx, rx) = tokio::io::duplex(chunk.max(64));
            let b = bytes.clone();
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for piece in b.chunks(chunk) {
                    tx.write_all(piece).await.unwrap();
                }
            });
            let r = TableReader::from_async_read(rx, "duplex", ReadOptions::default())
                .await
                .unwrap();
            assert_eq!(r.schema().fields.len(), 2);
            let tables = r.read_all().await.unwrap();
            assert_eq!(tables.len(), 3, "chunk {chunk}");
            assert_eq!(tables[2].n_rows, 3);
            writer.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_stream_cut_mid_message_is_truncated_and_one_without_its_marker_too() {
        let bytes = stream_bytes(2);
        // Cut inside the last record batch.
        let cut = bytes.len() - 40;
        let r = TableReader::from_async_read(
            std::io::Cursor::new(bytes[..cut].to_vec()),
            "cut",
            ReadOptions::default(),
        )
        .await
        .unwrap();
        let mut r = r;
        let mut results = Vec::new();
        while let Some(t) = r.next().await {
            results.push(t);
        }
        let err = results.pop().unwrap().unwrap_err();
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        assert!(
            err.to_string().contains("cut closed the connection early"),
            "{err}"
        );
        // The kind is said once, not once per layer.
        assert_eq!(
            err.to_string().matches("truncated input").count(),
            1,
            "{err}"
        );

        // Cut exactly before the end-of-stream marker.
        let no_marker = bytes[..bytes.len() - 8].to_vec();
        let r = TableReader::from_async_read(
            std::io::Cursor::new(no_marker.clone()),
            "w",
            ReadOptions::default(),
        )
        .await
        .unwrap();
        let err = r.read_all().await.unwrap_err();
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated));
        assert!(
            err.to_string().contains("without the end-of-stream marker"),
            "{err}"
        );

        let mut r = TableReader::from_async_read(
            std::io::Cursor::new(no_marker),
            "w",
            ReadOptions::default(),
        )
        .await
        .unwrap();
        r.set_require_end_marker(false);
        assert_eq!(r.read_all().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_empty_input_has_no_schema() {
        let err = TableReader::from_async_read(
            std::io::Cursor::new(Vec::new()),
            "nothing",
            ReadOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::EmptyConnection { peer } if peer == "nothing"),
            "{err}"
        );
    }
}
