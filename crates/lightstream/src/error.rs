//! The error type of the native shell.
//!
//! Bytes that are not valid Arrow IPC (or break [`lightstream_core::DecodeLimits`])
//! keep the codec's own error, with its kind and location. Everything the
//! transport adds (a failed connect, a reset socket, a WebSocket or QUIC
//! protocol error, a bad certificate or URL, a timeout) names what was being
//! done and with whom. Parquet files (`lightstream::parquet`, feature `parquet`)
//! report [`Error::Parquet`], naming the file, row group and column.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightstream::{Error, ReadOptions, TableReader};
//! use lightstream::lightstream_core::ErrorKind;
//!
//! // Bytes that are not Arrow IPC: the codec's error, with its kind and location.
//! let junk = std::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\n".to_vec());
//! let err = TableReader::from_async_read(junk, "tcp 127.0.0.1:9000", ReadOptions::default())
//!     .await
//!     .unwrap_err();
//! assert!(matches!(err, Error::Codec(_)));
//! assert_eq!(err.codec_kind(), Some(ErrorKind::Malformed));
//! assert!(!err.is_timeout());
//! assert!(err.to_string().ends_with("does not look like Arrow IPC data [message 0, byte offset 0]"));
//! # }
//! ```

use std::fmt;
use std::time::Duration;

/// Everything that can go wrong while streaming tables.
///
/// Match on the variant to decide what to do; `Display` says what was being
/// done and with whom.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::{ClientOptions, Error};
///
/// let url = "unix:///nonexistent/lightstream.sock".parse()?;
/// match lightstream::connect(&url, &ClientOptions::default()).await {
///     Err(Error::Io { context, source }) => {
///         assert!(context.contains("/nonexistent/lightstream.sock"), "{context}");
///         assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
///     }
///     other => panic!("expected an I/O error, got {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes were not a valid Arrow IPC stream, broke a decode limit, or
    /// ended in the middle of a message (kind [`lightstream_core::ErrorKind::Truncated`]).
    Codec(lightstream_core::Error),
    /// Bytes from `peer` broke the application's framing ([`crate::framed`]):
    /// the frame decoder's error, with its kind and location. A peer that
    /// closed the connection inside a frame is kind
    /// [`lightstream_core::ErrorKind::Truncated`]; a frame whose declared
    /// length is over the decoder's limit, `LimitExceeded`.
    Framing {
        /// Who sent the bytes ("tcp 127.0.0.1:9000").
        peer: String,
        /// The decoder's error.
        source: lightstream_core::Error,
    },
    /// The transport failed while `context` (for example "reading from tcp 127.0.0.1:9000").
    Io {
        /// What was being done, and with which peer.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The peer broke the transport's protocol (a text WebSocket message, a
    /// refused handshake, a QUIC stream reset, a connection closed by the peer
    /// with an error code).
    Protocol(String),
    /// A setting was unusable: a URL, a certificate or key, a TLS configuration.
    Config(String),
    /// A Parquet file could not be read or written: the message names the file
    /// (when reading), the row group and column where known, and what failed
    /// (a corrupt footer or page, a type minarrow cannot hold, a value that does
    /// not fit the target type).
    Parquet(String),
    /// The peer closed the connection without sending a single byte: before
    /// the TLS or WebSocket handshake, or before the first byte of the
    /// stream. Port probes and health checks do this; a server that takes one
    /// client (`lightstream listen`) skips such connections.
    EmptyConnection {
        /// Who connected, as other errors name it ("tcp 127.0.0.1:9000").
        peer: String,
    },
    /// A WebSocket upgrade request that could not be accepted (a bad or
    /// missing key, another version, no `Connection: Upgrade`, HTTP/1.0, not
    /// a GET, a head over 16 KiB). The peer was answered with `status` and
    /// `reason` before the connection closed.
    Upgrade {
        /// Who asked ("ws 127.0.0.1:50412").
        peer: String,
        /// The HTTP status sent: 400, 405, 426 or 431.
        status: u16,
        /// What was wrong, as the response body says it.
        reason: String,
    },
    /// A TLS handshake (`tls://`, `wss://`) failed for a reason rustls named,
    /// or the peer closed the connection during it. Displays as "TLS
    /// handshake with PEER failed: DETAIL (hint)".
    Tls {
        /// Who: "127.0.0.1:4433" on the client side, "tls 127.0.0.1:50412"
        /// on the server side.
        peer: String,
        /// What went wrong, for callers that explain it in their own terms
        /// (the CLI names its flags).
        problem: TlsProblem,
        /// rustls' own words ("invalid peer certificate: UnknownIssuer"), or
        /// what happened to the connection.
        detail: String,
    },
    /// An HTTP server answered a request of an `http://` or `https://`
    /// client with something other than an Arrow stream (docs/http.md).
    Http {
        /// The URL asked ("http://127.0.0.1:8080/t.arrows").
        peer: String,
        /// What came back instead.
        problem: HttpProblem,
    },
    /// A hub subscriber fell more than its `max_lag` behind the feed and
    /// was disconnected (`hub::SlowPolicy::Disconnect`).
    Lagged {
        /// Who fell behind.
        peer: String,
        /// Bytes that would have been waiting for it with the message that
        /// went past the limit.
        queued: u64,
        /// Its limit.
        max_lag: u64,
    },
    /// A hub refused a published message.
    Feed(FeedProblem),
    /// An Arrow Flight (gRPC) call ended with a status other than OK: the
    /// server refused it (an unknown ticket is [`FlightCode::NotFound`]) or
    /// failed while answering. Displays on one line as "PEER: RPC: CODE:
    /// \"MESSAGE\"", for example `grpc://127.0.0.1:8815: DoGet "nope":
    /// NOT_FOUND: "no such ticket"`. Match on `code`, never on the text.
    Flight {
        /// The server's URL ("grpc://127.0.0.1:8815").
        peer: String,
        /// The call and what it asked for (`DoGet "nope"`, `GetFlightInfo
        /// path ["a", "b"]`).
        rpc: String,
        /// The gRPC status code.
        code: FlightCode,
        /// The server's message: Arrow's `x-arrow-status-message-bin` when
        /// sent, else the first line of `grpc-message`; at most 200
        /// characters.
        message: String,
    },
    /// Nothing moved for `after`: no byte arrived while a reader waited
    /// ([`crate::TableReader::set_idle_timeout`]), or the peer accepted no
    /// byte while a writer waited ([`crate::TableWriter::set_write_timeout`]).
    /// Displays as "`stalled` for `after` while `context`", for example "no
    /// data from tcp 127.0.0.1:9000 for 300 ms while reading the body of
    /// message 3 (4096 of 65536 bytes)".
    Timeout {
        /// Who stalled: "no data from PEER" (reading) or "PEER took no data"
        /// (writing).
        stalled: String,
        /// How long nothing moved.
        after: Duration,
        /// What was being done: "reading the body of message 3 (4096 of
        /// 65536 bytes)", "waiting for the next message (after 2 tables)",
        /// "writing table 5".
        context: String,
    },
    /// A `nats://` feed failed (feature `nats`, docs/nats.md): the server
    /// could not be reached, JetStream refused, or the feed broke a rule a
    /// subscriber enforces (a gap, a restarted publisher). Bytes that are not
    /// Arrow IPC stay [`Error::Codec`], broken message parts
    /// [`Error::Framing`]. Displays as "URL: WHAT".
    Nats {
        /// The feed's URL ("nats://127.0.0.1:4222/feeds.trades").
        url: String,
        /// What went wrong.
        problem: NatsProblem,
    },
}

/// What went wrong with a `nats://` feed ([`Error::Nats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatsProblem {
    /// The NATS server could not be reached or refused the connection
    /// (async-nats' words in `detail`).
    Connect {
        /// What the client said.
        detail: String,
    },
    /// JetStream mode on a server (or account) without JetStream.
    NoJetStream,
    /// The feed's JetStream stream could not be created, or exists with a
    /// configuration the feed cannot use.
    StreamConfig {
        /// The server's answer.
        detail: String,
    },
    /// The feed's JetStream stream is gone (deleted, or lost with a memory
    /// store across a server restart).
    StreamGone,
    /// A message was published and not acknowledged (JetStream), or could
    /// not be sent.
    Publish {
        /// What the client or server said.
        detail: String,
    },
    /// Messages of the feed were lost: message `got` came when `expected`
    /// was next (core NATS under load, a server restart in core mode, a
    /// second publisher on the subject).
    Gap {
        /// The message number that should have come.
        expected: u64,
        /// The one that came.
        got: u64,
    },
    /// The publisher restarted: a new stream began before the old one ended.
    PublisherRestarted,
    /// The resume bookmark's message is no longer in the stream.
    ResumeTooOld,
    /// A subscriber found no stream start (no publisher restated its
    /// schema) within its join timeout
    /// ([`crate::nats::NatsOptions::join_timeout`]).
    JoinTimeout,
    /// A writer's JetStream stream (`stream`: the one it would create, or
    /// the one it found) keeps less than two restate intervals, so a joiner
    /// could find its restate point already evicted. A configuration error,
    /// found when the writer is created.
    StreamTooSmall {
        /// The stream's name.
        stream: String,
        /// The limit that is too small, with the values compared.
        limit: StreamLimit,
    },
}

/// A JetStream stream limit that cannot hold two restate intervals
/// ([`NatsProblem::StreamTooSmall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamLimit {
    /// `max_bytes` is less than twice `restate_bytes`.
    Bytes {
        /// The stream's `max_bytes`.
        max_bytes: u64,
        /// The writer's `restate_bytes`.
        restate_bytes: u64,
    },
    /// `max_age` is less than twice `restate_every`.
    Age {
        /// The stream's `max_age`.
        max_age: Duration,
        /// The writer's `restate_every`.
        restate_every: Duration,
    },
}

impl fmt::Display for NatsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsProblem::Connect { detail } => write!(f, "cannot connect: {detail}"),
            NatsProblem::NoJetStream => {
                f.write_str("the server has no JetStream (start it with -js, or use ?mode=core)")
            }
            NatsProblem::StreamConfig { detail } => {
                write!(f, "the feed's JetStream stream is unusable: {detail}")
            }
            NatsProblem::StreamGone => f.write_str("the feed's JetStream stream is gone"),
            NatsProblem::Publish { detail } => write!(f, "publishing failed: {detail}"),
            NatsProblem::Gap { expected, got } => write!(
                f,
                "messages of the feed were lost: message {got} came when {expected} was next"
            ),
            NatsProblem::PublisherRestarted => {
                f.write_str("the publisher restarted: a new stream began before the last ended")
            }
            NatsProblem::ResumeTooOld => f.write_str(
                "the resume bookmark's message is no longer in the stream (past max_age or \
                 max_bytes)",
            ),
            NatsProblem::JoinTimeout => f.write_str(
                "no stream start arrived in time (is a publisher running on the subject?)",
            ),
            NatsProblem::StreamTooSmall {
                stream,
                limit:
                    StreamLimit::Bytes {
                        max_bytes,
                        restate_bytes,
                    },
            } => write!(
                f,
                "stream {stream} keeps max_bytes {max_bytes}, less than two restate intervals \
                 (2 x restate_bytes {restate_bytes}): a joiner could find its restate point \
                 evicted (raise max_bytes or lower restate_bytes)"
            ),
            NatsProblem::StreamTooSmall {
                stream,
                limit:
                    StreamLimit::Age {
                        max_age,
                        restate_every,
                    },
            } => write!(
                f,
                "stream {stream} keeps max_age {max_age:?}, less than two restate intervals \
                 (2 x restate_every {restate_every:?}): a joiner could find its restate point \
                 evicted (raise max_age or lower restate_every)"
            ),
        }
    }
}

/// Why a hub refused a published message ([`Error::Feed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedProblem {
    /// A dictionary batch, record batch or end marker with no stream open
    /// (before the schema, or after the end marker).
    NotOpen {
        /// What was published.
        kind: lightstream_core::MessageKind,
    },
    /// A new schema while a stream is open, on a hub that refuses them
    /// (`hub::SchemaChange::Refuse`).
    SchemaChanged,
}

/// What an HTTP server answered instead of an Arrow stream ([`Error::Http`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProblem {
    /// A status other than 2xx (401 and 403 for a refused token or origin,
    /// 404 for another path, 503 for a server at its limit of clients).
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body (at most 512 bytes, as text).
        excerpt: String,
    },
    /// A 2xx response whose `Content-Type` is not
    /// `application/vnd.apache.arrow.stream` (`None`: no `Content-Type`).
    ContentType {
        /// The `Content-Type` that came.
        found: Option<String>,
    },
}

/// A gRPC status code ([`Error::Flight`]): the 17 codes gRPC defines, and
/// any other number a server sends as [`FlightCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlightCode {
    /// 0, `OK`.
    Ok,
    /// 1, `CANCELLED`.
    Cancelled,
    /// 2, `UNKNOWN` (pyarrow's `FlightServerError` and any Python exception
    /// without a Flight meaning).
    Unknown,
    /// 3, `INVALID_ARGUMENT`.
    InvalidArgument,
    /// 4, `DEADLINE_EXCEEDED`.
    DeadlineExceeded,
    /// 5, `NOT_FOUND` (pyarrow's `KeyError`: an unknown ticket or path).
    NotFound,
    /// 6, `ALREADY_EXISTS`.
    AlreadyExists,
    /// 7, `PERMISSION_DENIED`.
    PermissionDenied,
    /// 8, `RESOURCE_EXHAUSTED` (also a message over a peer's size limit).
    ResourceExhausted,
    /// 9, `FAILED_PRECONDITION`.
    FailedPrecondition,
    /// 10, `ABORTED`.
    Aborted,
    /// 11, `OUT_OF_RANGE`.
    OutOfRange,
    /// 12, `UNIMPLEMENTED` (an RPC the server does not offer).
    Unimplemented,
    /// 13, `INTERNAL`.
    Internal,
    /// 14, `UNAVAILABLE` (pyarrow's `FlightUnavailableError`).
    Unavailable,
    /// 15, `DATA_LOSS`.
    DataLoss,
    /// 16, `UNAUTHENTICATED`.
    Unauthenticated,
    /// Any other number.
    Other(i32),
}

impl FlightCode {
    const NAMED: [(FlightCode, &'static str); 17] = [
        (FlightCode::Ok, "OK"),
        (FlightCode::Cancelled, "CANCELLED"),
        (FlightCode::Unknown, "UNKNOWN"),
        (FlightCode::InvalidArgument, "INVALID_ARGUMENT"),
        (FlightCode::DeadlineExceeded, "DEADLINE_EXCEEDED"),
        (FlightCode::NotFound, "NOT_FOUND"),
        (FlightCode::AlreadyExists, "ALREADY_EXISTS"),
        (FlightCode::PermissionDenied, "PERMISSION_DENIED"),
        (FlightCode::ResourceExhausted, "RESOURCE_EXHAUSTED"),
        (FlightCode::FailedPrecondition, "FAILED_PRECONDITION"),
        (FlightCode::Aborted, "ABORTED"),
        (FlightCode::OutOfRange, "OUT_OF_RANGE"),
        (FlightCode::Unimplemented, "UNIMPLEMENTED"),
        (FlightCode::Internal, "INTERNAL"),
        (FlightCode::Unavailable, "UNAVAILABLE"),
        (FlightCode::DataLoss, "DATA_LOSS"),
        (FlightCode::Unauthenticated, "UNAUTHENTICATED"),
    ];

    /// The code of a `grpc-status` number.
    pub fn from_i32(code: i32) -> FlightCode {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::NAMED.get(i))
            .map_or(FlightCode::Other(code), |(c, _)| *c)
    }

    /// Its `grpc-status` number.
    pub fn as_i32(self) -> i32 {
        match self {
            FlightCode::Other(n) => n,
            named => Self::NAMED
                .iter()
                .position(|(c, _)| *c == named)
                .map_or(-1, |i| i as i32),
        }
    }
}

impl fmt::Display for FlightCode {
    /// gRPC's name of the code (`NOT_FOUND`), or `CODE 42`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::NAMED.iter().find(|(c, _)| c == self) {
            Some((_, name)) => f.write_str(name),
            None => write!(f, "CODE {}", self.as_i32()),
        }
    }
}

/// Why a TLS handshake failed ([`Error::Tls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate is not signed by a CA the client trusts.
    UntrustedCertificate,
    /// The server's certificate does not hold `host`, the name connected to.
    WrongName {
        /// The name (or address) the client connected to.
        host: String,
    },
    /// The peer does not seem to speak TLS: a message that is not TLS, or a
    /// close before the handshake finished.
    NotTls,
    /// The client refused this server's certificate (seen by the server).
    CertificateRefused,
    /// Anything else rustls refused.
    Other,
}

impl TlsProblem {
    /// What to do about it, in the library's terms (empty for `Other`).
    pub fn hint(&self) -> String {
        match self {
            TlsProblem::UntrustedCertificate => {
                " (the server's certificate is not signed by a trusted CA: trust its CA with \
                 ClientOptions::tls = tls::client_config_trusting(..))"
                    .to_string()
            }
            TlsProblem::WrongName { host } => format!(
                " (connect with a name the certificate holds, not {host}, or give the server a \
                 certificate for {host})"
            ),
            TlsProblem::NotTls => {
                " (is the peer speaking TLS? a plaintext client or server on the other end?)"
                    .to_string()
            }
            TlsProblem::CertificateRefused => {
                " (the client does not trust this server's certificate)".to_string()
            }
            TlsProblem::Other => String::new(),
        }
    }
}

/// `Result` with the shell's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The error a reader reports for an I/O error of its input: a transport
    /// that hands the reader an `AsyncRead` (gRPC) carries its typed errors
    /// inside the `io::Error`; those come back out as they were.
    pub(crate) fn reading(peer: &str, e: std::io::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(typed) => typed,
            Err(e) => Error::io(format!("reading from {peer}"), e),
        }
    }

    /// The codec's error, when this is one.
    pub fn as_codec(&self) -> Option<&lightstream_core::Error> {
        match self {
            Error::Codec(e) | Error::Framing { source: e, .. } => Some(e),
            _ => None,
        }
    }

    /// Whether this is an idle or write timeout ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The codec's error kind, when this is a codec error.
    pub fn codec_kind(&self) -> Option<lightstream_core::ErrorKind> {
        self.as_codec().map(lightstream_core::Error::kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Codec(e) => write!(f, "{e}"),
            Error::Framing { peer, source } => write!(f, "framing error from {peer}: {source}"),
            Error::Io { context, source } => write!(f, "I/O error while {context}: {source}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Parquet(m) => write!(f, "parquet error: {m}"),
            Error::Upgrade {
                peer,
                status,
                reason,
            } => write!(
                f,
                "refused the WebSocket upgrade of {peer} with HTTP {status}: {reason}"
            ),
            Error::EmptyConnection { peer } => {
                write!(f, "{peer} closed the connection without sending anything")
            }
            Error::Tls {
                peer,
                problem,
                detail,
            } => write!(
                f,
                "TLS handshake with {peer} failed: {detail}{}",
                problem.hint()
            ),
            Error::Timeout {
                stalled,
                after,
                context,
            } => write!(f, "{stalled} for {} while {context}", Millis(*after)),
            Error::Http {
                peer,
                problem: HttpProblem::Status { status, excerpt },
            } => {
                write!(f, "{peer} answered HTTP {status}")?;
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
            Error::Http {
                peer,
                problem: HttpProblem::ContentType { found },
            } => write!(
                f,
                "{peer} answered with Content-Type {}, not an Arrow stream                  (application/vnd.apache.arrow.stream)",
                found
                    .as_deref()
                    .map_or("(none)".to_string(), |t| format!("{t:?}"))
            ),
            Error::Lagged {
                peer,
                queued,
                max_lag,
            } => write!(
                f,
                "{peer} fell {queued} bytes behind the feed, past its limit of {max_lag} \
                 (slow policy: disconnect)"
            ),
            Error::Flight {
                peer,
                rpc,
                code,
                message,
            } => write!(f, "{peer}: {rpc}: {code}: {message:?}"),
            Error::Feed(FeedProblem::NotOpen { kind }) => write!(
                f,
                "no stream is open to publish {kind:?} to (publish the schema first; after \
                 the end marker, a schema starts the next stream)"
            ),
            Error::Nats { url, problem } => write!(f, "{url}: {problem}"),
            Error::Feed(FeedProblem::SchemaChanged) => write!(
                f,
                "the feed's schema changed and this hub refuses new schemas while a stream \
                 is open (SchemaChange::Refuse)"
            ),
        }
    }
}

/// A duration as people write it: "300 ms", "5 s", "1.5 s".
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            if ms == 0 {
                return write!(f, "{} µs", self.0.as_micros());
            }
            write!(f, "{ms} ms")
        } else if ms % 1000 == 0 {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{} s", self.0.as_secs_f64())
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Codec(e) | Error::Framing { source: e, .. } => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<lightstream_core::Error> for Error {
    fn from(e: lightstream_core::Error) -> Self {
        Error::Codec(e)
    }
}

/// So that `?` works on the application's own file and socket calls in a
/// function returning [`Result`]. The error carries no context (Lightstream's
/// own I/O errors always name what they were doing and with which peer).
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            context: "I/O".to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_what_was_being_done() {
        let e = Error::io(
            "reading from tcp 127.0.0.1:9",
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert_eq!(
            e.to_string(),
            "I/O error while reading from tcp 127.0.0.1:9: connection reset"
        );
        assert!(e.codec_kind().is_none());
    }

    #[test]
    fn flight_statuses_are_one_line_with_the_code_by_name() {
        let e = Error::Flight {
            peer: "grpc://127.0.0.1:8815".into(),
            rpc: "DoGet \"nope\"".into(),
            code: FlightCode::from_i32(5),
            message: "no such ticket".into(),
        };
        assert_eq!(
            e.to_string(),
            "grpc://127.0.0.1:8815: DoGet \"nope\": NOT_FOUND: \"no such ticket\""
        );
        for n in 0..17 {
            assert_eq!(FlightCode::from_i32(n).as_i32(), n);
            assert_ne!(FlightCode::from_i32(n), FlightCode::Other(n));
        }
        assert_eq!(FlightCode::from_i32(16), FlightCode::Unauthenticated);
        assert_eq!(FlightCode::from_i32(17), FlightCode::Other(17));
        assert_eq!(FlightCode::from_i32(-3).to_string(), "CODE -3");
    }

    #[test]
    fn typed_errors_come_back_out_of_an_io_error() {
        let inner = Error::Protocol("gRPC said no".into());
        let e = Error::reading("grpc://h:1", std::io::Error::other(inner));
        assert!(
            matches!(e, Error::Protocol(ref m) if m == "gRPC said no"),
            "{e}"
        );
        let e = Error::reading("grpc://h:1", std::io::ErrorKind::BrokenPipe.into());
        assert!(matches!(e, Error::Io { ref context, .. } if context == "reading from grpc://h:1"));
    }

    #[test]
    fn timeouts_say_who_stalled_for_how_long_and_during_what() {
        let e = Error::Timeout {
            stalled: "no data from tcp 127.0.0.1:9".into(),
            after: Duration::from_millis(300),
            context: "reading the body of message 2 (10 of 80 bytes)".into(),
        };
        assert_eq!(
            e.to_string(),
            "no data from tcp 127.0.0.1:9 for 300 ms while reading the body of message 2 \
             (10 of 80 bytes)"
        );
        assert!(e.is_timeout());
        let d = |ms| Millis(Duration::from_millis(ms)).to_string();
        assert_eq!(
            (d(5000), d(1500), d(1)),
            ("5 s".into(), "1.5 s".into(), "1 ms".into())
        );
    }
}
