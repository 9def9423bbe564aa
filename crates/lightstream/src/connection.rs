//! [`Connection`] and [`Listener`]: one connected peer, and a server handing
//! them out, whatever the transport.
//!
//! A connection becomes a [`TableReader`] or a [`TableWriter`]; which side
//! reads and which writes is the application's choice, not the transport's.
//! Behind both types is the seam every transport implements (in
//! `transport/`): a [`Link`] turns one peer into a reader's [`Input`] or a
//! writer's [`MessageSink`] (running any handshake first), an [`Acceptor`]
//! hands out the next peer. Nothing here knows a transport by name, so a
//! new transport is a new module in `transport/` plus one line where URLs
//! are dispatched.
//!
//! Wire formats: TCP, TLS, Unix sockets and stdio carry the Arrow IPC stream
//! format byte for byte (any Arrow IPC peer can talk to them); WebSocket
//! (`ws://`, and `wss://` over TLS) carries one encapsulated IPC message per
//! binary message (docs/websocket-protocol.md); QUIC carries one IPC stream
//! per unidirectional QUIC stream; HTTP (`http://`, `https://`) carries the
//! stream format byte for byte as a response (GET) or request (POST) body.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lightstream_core::{DecodeLimits, ReadOptions, Schema, WriteOptions};

use crate::messages::{MessageReader, MessageWriter};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::reader::{BoxRead, Input, TableReader};
use crate::writer::{BoxWrite, ByteSink, MessageSink, TableWriter};

/// A boxed future of the seam's traits (dyn-compatible async).
pub(crate) type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// One connected peer as its transport holds it, handshake maybe still to
/// come. `Any` lets a transport take back its own link
/// ([`Connection::into_quic`]).
pub(crate) trait Link: Any + Send {
    /// What a reader reads from the peer; `peer` names it in errors, and
    /// `limits` are the reader's (a WebSocket sizes its frames by them).
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input>;

    /// Where a writer's messages go.
    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>>;

    /// Both directions as plain bytes, for a framing of the application's
    /// own (`crate::framed`), running any handshake first. Only transports
    /// that are one byte stream have them; the default says so.
    fn byte_stream(self: Box<Self>, peer: String) -> Pending<'static, (BoxRead, BoxWrite)> {
        Box::pin(std::future::ready(Err(Error::Config(format!(
            "{peer} is not one byte stream (a WebSocket carries messages; QUIC, many \
             streams: open one with Connection::into_quic and frame that), so it cannot \
             carry a framing of your own"
        )))))
    }

    /// The options a writer to this peer uses, from the application's: an
    /// HTTP response compresses only with a codec the client asked for.
    fn write_options(&mut self, options: WriteOptions) -> WriteOptions {
        options
    }

    /// Turns the peer away (a server at its limit of clients). Closing the
    /// connection is all most transports can say; a WebSocket answers the
    /// upgrade request with `503` and `Retry-After`.
    fn turn_away(
        self: Box<Self>,
        peer: String,
        retry_after: Duration,
        reason: String,
    ) -> Pending<'static, ()> {
        let _ = (peer, retry_after, reason);
        Box::pin(std::future::ready(Ok(())))
    }

    /// The largest record batch body a writer to this peer sends as one
    /// message (a Flight peer's gRPC message limit); `None`: any.
    fn max_batch_body(&self) -> Option<usize> {
        None
    }

    /// The counters of a `nats://` connection's writer or reader.
    #[cfg(feature = "nats")]
    fn nats_counters(&self) -> Option<crate::nats::NatsCounters> {
        None
    }

    /// What the Flight call behind this link asks for (`grpc://` servers).
    #[cfg(feature = "flight")]
    fn flight_request(&self) -> Option<&crate::flight::FlightRequest> {
        None
    }

    /// The `DoPut` call's `app_metadata` and `PutResult` channels, once
    /// (`grpc://` servers).
    #[cfg(feature = "flight")]
    fn put_metadata(&mut self) -> Option<crate::flight::PutMetadata> {
        None
    }

    /// The reading and the writing halves of a peer that carries a stream
    /// each way at once (a Flight `DoExchange`); the default says the peer
    /// does not.
    fn split(self: Box<Self>, peer: String) -> Result<(Box<dyn Link>, Box<dyn Link>)> {
        Err(Error::Config(format!(
            "{peer} does not split into a reading and a writing half (only a Flight \
             DoExchange call does)"
        )))
    }

    /// Answers a Flight call with a gRPC status instead of a stream; other
    /// transports close the connection.
    #[cfg(feature = "flight")]
    fn reject(
        self: Box<Self>,
        code: crate::flight::FlightCode,
        message: String,
    ) -> Pending<'static, ()> {
        let _ = (code, message);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A listening transport: the next peer, and what to call it.
pub(crate) trait Acceptor: Send + Sync {
    /// Waits for the next peer; `local` names the listener in errors.
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection>;

    /// Stops accepting and lets what the transport still owes its peers go
    /// out, for at most `grace` (HTTP: the answers and response bodies in
    /// flight). Most transports owe nothing once a writer has finished.
    fn close(&self, grace: Duration) -> Pending<'_, ()> {
        let _ = grace;
        Box::pin(std::future::ready(Ok(())))
    }
}

/// One connected peer, not yet reading or writing tables.
///
/// From [`crate::connect`] or [`Listener::accept`] (see the crate example),
/// or over byte streams you already have with [`Connection::from_io`].
/// Either side may read or write:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::minarrow::{fa_str32, tbl};
/// use lightstream::{Connection, ReadOptions, Schema, WriteOptions};
///
/// let (a, b) = tokio::io::duplex(64 * 1024);
/// let (a_read, a_write) = tokio::io::split(a);
/// let (b_read, b_write) = tokio::io::split(b);
/// let client = Connection::from_io(a_read, a_write, "a");
/// let server = Connection::from_io(b_read, b_write, "b");
///
/// // Here the server is the one that reads.
/// let table = tbl!("t", fa_str32!("msg", "hello"));
/// let mut w = client.writer(Schema::from_table(&table).into(), WriteOptions::default()).await?;
/// w.write(&table).await?;
/// w.finish().await?;
/// let tables = server.reader(ReadOptions::default()).await?.read_all().await?;
/// assert_eq!(tables[0].cols, table.cols);
/// # Ok(()) }
/// ```
pub struct Connection {
    link: Box<dyn Link>,
    peer: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A peer on two byte streams: the read half for a reader, the write half
/// for a writer (the other is dropped).
struct Halves<R, W> {
    read: R,
    write: W,
}

impl<R, W> Link for Halves<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    fn input(self: Box<Self>, _: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(std::future::ready(Ok(Input::Bytes(Box::new(self.read)))))
    }

    fn sink(self: Box<Self>, _: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(std::future::ready(Ok(
            Box::new(ByteSink(self.write)) as Box<dyn MessageSink>
        )))
    }

    fn byte_stream(self: Box<Self>, _: String) -> Pending<'static, (BoxRead, BoxWrite)> {
        Box::pin(std::future::ready(Ok((
            Box::new(self.read) as BoxRead,
            Box::new(self.write) as BoxWrite,
        ))))
    }
}

/// A peer on one two-way byte stream (a TLS connection), used whole by
/// whichever side it becomes.
#[cfg(feature = "tls")]
pub(crate) struct Whole<S>(pub(crate) S);

#[cfg(feature = "tls")]
impl<S> Link for Whole<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn input(self: Box<Self>, _: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(std::future::ready(Ok(Input::Bytes(Box::new(self.0)))))
    }

    fn sink(self: Box<Self>, _: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(std::future::ready(Ok(
            Box::new(ByteSink(self.0)) as Box<dyn MessageSink>
        )))
    }

    fn byte_stream(self: Box<Self>, _: String) -> Pending<'static, (BoxRead, BoxWrite)> {
        let (read, write) = tokio::io::split(self.0);
        Box::pin(std::future::ready(Ok((
            Box::new(read) as BoxRead,
            Box::new(write) as BoxWrite,
        ))))
    }
}

impl Connection {
    /// A connection over what a transport holds.
    pub(crate) fn new(link: impl Link, peer: impl Into<String>) -> Connection {
        Connection {
            link: Box::new(link),
            peer: peer.into(),
        }
    }

    /// A connection over a link a transport boxed already.
    #[cfg(feature = "http")]
    pub(crate) fn from_link(link: Box<dyn Link>, peer: impl Into<String>) -> Connection {
        Connection {
            link,
            peer: peer.into(),
        }
    }

    /// A connection over any pair of byte streams (`peer` names it in errors).
    pub fn from_io<R, W>(read: R, write: W, peer: impl Into<String>) -> Connection
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Connection::new(Halves { read, write }, peer)
    }

    /// Who is at the other end, as errors name it (for example `tcp 127.0.0.1:50412`).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The transport's own link, for the transport that made it.
    #[cfg(feature = "quic")]
    pub(crate) fn into_link(self) -> (Box<dyn Any + Send>, String) {
        (self.link, self.peer)
    }

    /// Turns this client away, for a server at its limit of clients: a
    /// `ws://` or `wss://` client gets `503 Service Unavailable` with
    /// `Retry-After` (`retry_after` in whole seconds) and `reason` once its
    /// upgrade request has arrived (after the TLS handshake for `wss://`);
    /// any other connection is closed at once. Bound it with a timeout: it
    /// waits for the client's request head.
    pub async fn turn_away(self, retry_after: Duration, reason: &str) -> Result<()> {
        let Connection { link, peer } = self;
        link.turn_away(peer, retry_after, reason.to_string()).await
    }

    /// The live counters of a `nats://` or `nats+tls://` connection (what
    /// the writer or reader it becomes publishes or receives; see
    /// [`crate::nats::NatsStats`]): take them before
    /// [`Connection::writer`] or [`Connection::reader`], read them any time,
    /// also after the writer finished. `None` on other transports.
    #[cfg(feature = "nats")]
    pub fn nats_counters(&self) -> Option<crate::nats::NatsCounters> {
        self.link.nats_counters()
    }

    /// What the client of a `grpc://` (Arrow Flight) server asks for: a
    /// `DoGet` (write the stream its ticket names, or
    /// [`Connection::reject`] it) or a `DoPut` (read the stream it
    /// uploads). `None` on other transports.
    #[cfg(feature = "flight")]
    pub fn flight_request(&self) -> Option<&crate::flight::FlightRequest> {
        self.link.flight_request()
    }

    /// Answers a Flight call with a gRPC status instead of a stream: a
    /// ticket the application does not know gets
    /// `FlightCode::NotFound`, which the client sees as that status and
    /// `message`. Other transports just close the connection.
    #[cfg(feature = "flight")]
    pub async fn reject(self, code: crate::flight::FlightCode, message: &str) -> Result<()> {
        self.link.reject(code, message.to_string()).await
    }

    /// The `app_metadata` and `PutResult` channels of a Flight `DoPut`
    /// call (a `grpc://` server's connection whose
    /// [`Connection::flight_request`] is `DoPut`): take them before
    /// [`Connection::reader`], read the client's `app_metadata` as the
    /// reader reads tables, and answer with `PutResult`s (pyarrow's
    /// `FlightMetadataReader` reads them). `None` on other connections and
    /// the second time. Untaken, the `app_metadata` is dropped and the call
    /// gets no `PutResult`s.
    #[cfg(feature = "flight")]
    pub fn put_metadata(&mut self) -> Option<crate::flight::PutMetadata> {
        self.link.put_metadata()
    }

    /// A connection that carries a stream each way at once (a Flight
    /// `DoExchange` a `grpc://` server accepted) as its two halves: the first
    /// reads the peer's stream ([`Connection::reader`]), the second writes
    /// ours ([`Connection::writer`]), each on a task of its own if need be.
    /// Other connections are one stream: an error. (A client's `DoExchange`,
    /// [`crate::flight::FlightClient::do_exchange`], comes as its two halves
    /// already.)
    pub fn split(self) -> Result<(Connection, Connection)> {
        let Connection { link, peer } = self;
        let (reading, writing) = link.split(peer.clone())?;
        Ok((
            Connection {
                link: reading,
                peer: peer.clone(),
            },
            Connection {
                link: writing,
                peer,
            },
        ))
    }

    /// Both directions as plain bytes and the peer's name, for
    /// `crate::framed` (any handshake is run first).
    pub(crate) async fn into_byte_stream(self) -> Result<(BoxRead, BoxWrite, String)> {
        let (read, write) = self.link.byte_stream(self.peer.clone()).await?;
        Ok((read, write, self.peer))
    }

    /// The peer's message sink and its name (any handshake run first), for
    /// senders of already-encoded messages (`crate::hub`).
    pub(crate) async fn into_sink(self) -> Result<(Box<dyn MessageSink>, String)> {
        let sink = self.link.sink(self.peer.clone()).await?;
        Ok((sink, self.peer))
    }

    /// Reads one Arrow IPC stream from the peer; returns once its schema has
    /// arrived. On QUIC this accepts the next stream the peer opens.
    pub async fn reader(self, options: ReadOptions) -> Result<TableReader> {
        let input = self.link.input(self.peer.clone(), options.limits).await?;
        TableReader::open(input, self.peer, options).await
    }

    /// Writes one Arrow IPC stream of `schema` to the peer. On QUIC this
    /// opens a new stream.
    pub async fn writer(
        mut self,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter> {
        let options = self.link.write_options(options);
        let max_batch_body = self.link.max_batch_body();
        let sink = self.link.sink(self.peer.clone()).await?;
        let mut writer = TableWriter::new(sink, self.peer, schema, options)?;
        writer.set_max_batch_body(max_batch_body);
        Ok(writer)
    }

    /// Reads one Arrow IPC stream from the peer as whole messages, without
    /// decoding their values (see [`MessageReader`]); returns once its
    /// schema has arrived. On QUIC this accepts the next stream the peer
    /// opens.
    pub async fn message_reader(self, limits: DecodeLimits) -> Result<MessageReader> {
        let input = self.link.input(self.peer.clone(), limits).await?;
        MessageReader::open(input, self.peer, limits).await
    }

    /// Writes one Arrow IPC stream to the peer from whole messages (see
    /// [`MessageWriter`]). On QUIC this opens a new stream.
    pub async fn message_writer(self) -> Result<MessageWriter> {
        let sink = self.link.sink(self.peer.clone()).await?;
        Ok(MessageWriter::new(sink, self.peer))
    }
}

/// A server waiting for clients on an [`Endpoint`].
///
/// Each accepted [`Connection`] is independent: serve it on its own task so
/// that a slow client holds up no one else.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};
///
/// let dir = std::env::temp_dir().join(format!("lightstream-doc-listener-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).expect("a temporary directory");
/// let url = format!("unix://{}", dir.join("tables.sock").display()).parse()?;
/// let listener = lightstream::bind(&url, &ServerOptions::default()).await?;
/// tokio::spawn(async move {
///     while let Ok(conn) = listener.accept().await {
///         tokio::spawn(async move {
///             let table = tbl!("t", fa_i64!("n", 1, 2));
///             let schema = Schema::from_table(&table).into();
///             let mut w = conn.writer(schema, WriteOptions::default()).await?;
///             w.write(&table).await?;
///             w.finish().await
///         });
///     }
/// });
/// for _ in 0..2 {
///     let conn = lightstream::connect(&url, &ClientOptions::default()).await?;
///     let tables = conn.reader(ReadOptions::default()).await?.read_all().await?;
///     assert_eq!(tables[0].n_rows, 2);
/// }
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
pub struct Listener {
    acceptor: Box<dyn Acceptor>,
    local: Endpoint,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// A listener at `local` over what a transport bound.
    #[cfg_attr(
        not(any(
            feature = "tcp",
            feature = "uds",
            feature = "stdio",
            feature = "websocket",
            feature = "tls",
            feature = "quic"
        )),
        allow(dead_code)
    )]
    pub(crate) fn new(acceptor: impl Acceptor + 'static, local: Endpoint) -> Listener {
        Listener {
            acceptor: Box::new(acceptor),
            local,
        }
    }

    /// Where the listener is (with the port the system chose, if the
    /// endpoint asked for port 0): an [`Endpoint`] a client can
    /// [`crate::connect`] to (for a wildcard address such as `0.0.0.0`,
    /// connect to a real one), and its URL through `Display`.
    pub fn local_url(&self) -> &Endpoint {
        &self.local
    }

    /// Waits for the next client. For TLS, WebSocket and QUIC the handshake
    /// happens later, in [`Connection::reader`] / [`Connection::writer`], so a
    /// slow or failing client cannot hold up the accept loop: its handshake
    /// error (or timeout) is that connection's error. On stdio the one
    /// "connection" is stdin/stdout; a second accept waits forever.
    pub async fn accept(&self) -> Result<Connection> {
        self.acceptor.accept(&self.local).await
    }

    /// Stops listening, letting what the server still owes its clients go
    /// out for at most `grace`: on `http://` and `https://`, the answers to
    /// POSTs and the ends of response bodies that hyper has not written yet
    /// (a process that exits right after its last stream would cut them
    /// off). On other transports this is dropping the listener.
    pub async fn close(self, grace: Duration) -> Result<()> {
        self.acceptor.close(grace).await
    }
}
