//! QUIC transport (quinn, rustls with ring): one Arrow IPC stream per
//! unidirectional QUIC stream, several at once on one connection.
//!
//! A [`QuicSession`] is one QUIC connection. [`QuicSession::open_writer`]
//! opens a stream and returns a [`TableWriter`]; the peer's
//! [`QuicSession::accept_reader`] takes the next stream as a [`TableReader`].
//! Each stream carries the Arrow IPC stream format byte for byte. Streams are
//! independent: a slow one does not hold up the others, and each is
//! flow-controlled on its own.
//!
//! TLS is QUIC's own (TLS 1.3, ALPN `lightstream`). Bring a rustls
//! configuration, or use the helpers: [`server_config`] from a certificate
//! and key (PEM files: [`load_certs`], [`load_key`], the same functions as
//! [`crate::tls`]'s), [`self_signed`] for localhost, [`client_config_trusting`]
//! to trust given certificates, and [`client_config_insecure`] to accept any
//! certificate (testing only).
//!
//! Through the seam: a stream read is a byte stream that keeps its session
//! alive; a stream written is a message sink whose `finish` is QUIC's own
//! (finish the stream, then wait for the peer's acknowledgement). quinn's
//! types appear in this module only.
//!
//! Through [`crate::connect`] / [`crate::bind`] a QUIC connection is one
//! table stream, like any other transport:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{quic, ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};
//!
//! let (certs, key) = quic::self_signed(&["127.0.0.1"])?;
//! let quic = Some(quic::server_config(certs.clone(), key)?);
//! let server = ServerOptions { quic, ..Default::default() };
//! let listener = lightstream::bind(&"quic://127.0.0.1:0".parse()?, &server).await?;
//! let url = listener.local_url().clone();
//! let serving = tokio::spawn(async move {
//!     let table = tbl!("t", fa_i64!("n", 1, 2, 3));
//!     let conn = listener.accept().await?;
//!     let mut w = conn.writer(Schema::from_table(&table).into(), WriteOptions::default()).await?;
//!     w.write(&table).await?;
//!     w.finish().await // waits until the client acknowledged every byte
//! });
//! let quic = Some(quic::client_config_trusting(&certs)?);
//! let client = ClientOptions { quic, ..Default::default() };
//! let conn = lightstream::connect(&url, &client).await?;
//! let tables = conn.reader(ReadOptions::default()).await?.read_all().await?;
//! assert_eq!(tables[0].n_rows, 3);
//! serving.await.expect("server task")?;
//! # Ok(()) }
//! ```
//!
//! Several streams on one connection: [`QuicSession`]. `examples/quic.rs`
//! runs both ends with two streams at once.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use lightstream_core::{DecodeLimits, EncodedMessage, ReadOptions, Schema, WriteOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, ReadBuf};

use crate::connection::{Acceptor, Connection, Link, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::reader::{Input, TableReader};
use crate::writer::{
    Limit, MessageSink, SendError, SinkFuture, TableWriter, bounded, closing, write_all_vectored,
};

pub use crate::transport::tls::{load_certs, load_key, self_signed};
/// quinn's client and server configurations, as [`crate::ClientOptions::quic`]
/// and [`crate::ServerOptions::quic`] take them.
pub use quinn::{ClientConfig, ServerConfig};

/// How long a QUIC writer's `finish` waits for the peer's acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// The ALPN protocol name the helpers set on both sides.
pub const ALPN: &[u8] = b"lightstream";

/// One QUIC connection, carrying any number of table streams. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{quic, ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};
///
/// let (certs, key) = quic::self_signed(&["127.0.0.1"])?;
/// let quic = Some(quic::server_config(certs.clone(), key)?);
/// let server = ServerOptions { quic, ..Default::default() };
/// let listener = lightstream::bind(&"quic://127.0.0.1:0".parse()?, &server).await?;
/// let url = listener.local_url().clone();
/// let serving = tokio::spawn(async move {
///     let session = listener.accept().await?.into_quic().await?;
///     // Two table streams at once; each is flow-controlled on its own.
///     let send = |id: i64| {
///         let session = session.clone();
///         async move {
///             let table = tbl!("t", fa_i64!("stream", id));
///             let schema = Schema::from_table(&table).into();
///             let mut w = session.open_writer(schema, WriteOptions::default()).await?;
///             w.write(&table).await?;
///             w.finish().await
///         }
///     };
///     tokio::try_join!(send(1), send(2))?;
///     session.closed().await; // until the client is done
///     Ok::<_, lightstream::Error>(())
/// });
///
/// let quic = Some(quic::client_config_trusting(&certs)?);
/// let client = ClientOptions { quic, ..Default::default() };
/// let session = lightstream::connect(&url, &client).await?.into_quic().await?;
/// let mut ids = Vec::new();
/// for _ in 0..2 {
///     let tables = session.accept_reader(ReadOptions::default()).await?.read_all().await?;
///     ids.push(tables[0].cols[0].array.num().i64().data[0]);
/// }
/// ids.sort(); // the streams may come in either order
/// assert_eq!(ids, [1, 2]);
/// session.close();
/// serving.await.expect("server task")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct QuicSession {
    conn: quinn::Connection,
    /// The client's own endpoint, kept alive as long as the session.
    _endpoint: Option<quinn::Endpoint>,
    peer: String,
}

impl std::fmt::Debug for QuicSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicSession")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

fn connection_error(context: String, e: impl std::fmt::Display) -> Error {
    Error::Protocol(format!("QUIC error while {context}: {e}"))
}

impl QuicSession {
    pub(crate) async fn accept(incoming: quinn::Incoming) -> Result<QuicSession> {
        let peer = format!("quic {}", incoming.remote_address());
        let conn = incoming
            .await
            .map_err(|e| connection_error(format!("accepting {peer}"), e))?;
        Ok(QuicSession {
            conn,
            _endpoint: None,
            peer,
        })
    }

    pub(crate) async fn connect(
        addr: SocketAddr,
        server_name: &str,
        config: quinn::ClientConfig,
    ) -> Result<QuicSession> {
        let bind: SocketAddr = if addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let peer = format!("quic {addr}");
        let endpoint = quinn::Endpoint::client(bind)
            .map_err(|e| Error::io(format!("opening a QUIC client socket for {peer}"), e))?;
        let conn = endpoint
            .connect_with(config, addr, server_name)
            .map_err(|e| connection_error(format!("connecting to {peer}"), e))?
            .await
            .map_err(|e| connection_error(format!("connecting to {peer}"), e))?;
        Ok(QuicSession {
            conn,
            _endpoint: Some(endpoint),
            peer,
        })
    }

    /// Who is at the other end.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The quinn connection, for anything this API does not cover.
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Opens a new stream and writes one Arrow IPC stream of `schema` on it.
    /// [`TableWriter::finish`] finishes the QUIC stream and waits until the
    /// peer has acknowledged all of it.
    pub async fn open_writer(
        &self,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter> {
        let sink = self.open_sink().await?;
        TableWriter::new(sink, self.peer.clone(), schema, options)
    }

    async fn open_sink(&self) -> Result<Box<dyn MessageSink>> {
        let stream = self
            .conn
            .open_uni()
            .await
            .map_err(|e| connection_error(format!("opening a stream to {}", self.peer), e))?;
        Ok(Box::new(QuicSink {
            stream,
            _session: self.clone(),
        }))
    }

    /// Accepts the next stream the peer opens and reads it as one Arrow IPC
    /// stream; returns once its schema has arrived.
    pub async fn accept_reader(&self, options: ReadOptions) -> Result<TableReader> {
        let input = self.accept_input().await?;
        TableReader::open(input, self.peer.clone(), options).await
    }

    async fn accept_input(&self) -> Result<Input> {
        let stream =
            self.conn.accept_uni().await.map_err(|e| {
                connection_error(format!("accepting a stream from {}", self.peer), e)
            })?;
        Ok(Input::Bytes(Box::new(QuicRecv {
            stream,
            _session: self.clone(),
        })))
    }

    /// Closes the connection now (streams still open are cut off).
    pub fn close(&self) {
        self.conn.close(0u32.into(), b"done");
    }

    /// Waits until the peer closes the connection (or it times out).
    pub async fn closed(&self) {
        self.conn.closed().await;
    }
}

/// A stream being read, with the session it needs alive.
struct QuicRecv {
    stream: quinn::RecvStream,
    _session: QuicSession,
}

impl AsyncRead for QuicRecv {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

/// The application error code a stream is reset with when the sender gave
/// up on a reader that fell too far behind (a hub's `disconnect` policy).
pub const LAGGED_CODE: u32 = 0x4c53; // "LS"

/// A stream being written, with the session it needs alive.
struct QuicSink {
    stream: quinn::SendStream,
    _session: QuicSession,
}

impl MessageSink for QuicSink {
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(write_all_vectored(&mut self.stream, message, limit))
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            // quinn takes `Bytes` as they are: the shared messages are
            // queued on the stream without a copy.
            let mut chunks = messages.to_vec();
            let total: usize = messages.iter().map(Bytes::len).sum();
            let allowed = limit.map(|l| l.allowed(total as u64));
            match bounded(allowed, self.stream.write_all_chunks(&mut chunks)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SendError::Io(e.into())),
                Err(after) => Err(SendError::Stalled(after, 0)),
            }
        })
    }

    /// Resets the stream: the peer's read fails with the reset code
    /// [`LAGGED_CODE`] instead of seeing a clean end.
    fn abort<'a>(&'a mut self, _: &'a str, _: &'a str) -> SinkFuture<'a, ()> {
        let _ = self.stream.reset(quinn::VarInt::from_u32(LAGGED_CODE));
        Box::pin(std::future::ready(()))
    }

    /// Finishes the stream and waits (boundedly) for the peer to acknowledge
    /// every byte. A peer that read the whole stream and exited at once may
    /// never send its last ACK; then, as with TCP, the bytes were all sent
    /// and `finish` succeeds after the wait.
    fn finish<'a>(&'a mut self, peer: &'a str, _: Option<Duration>) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let s = &mut self.stream;
            s.finish()
                .map_err(|e| Error::Protocol(format!("{}: {e}", closing(peer))))?;
            match tokio::time::timeout(ACK_WAIT, s.stopped()).await {
                Err(_elapsed) => Ok(()),
                Ok(Ok(None)) => Ok(()),
                Ok(Ok(Some(code))) => Err(Error::Protocol(format!(
                    "{peer} stopped the QUIC stream (code {code}) before reading all of it"
                ))),
                Ok(Err(e)) => Err(Error::Protocol(format!("{}: {e}", closing(peer)))),
            }
        })
    }
}

impl Link for QuicSession {
    fn input(self: Box<Self>, _: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move { self.accept_input().await })
    }

    fn sink(self: Box<Self>, _: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move { self.open_sink().await })
    }
}

/// A client whose QUIC handshake is still to come.
struct Incoming(quinn::Incoming);

impl Link for Incoming {
    fn input(self: Box<Self>, _: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move { QuicSession::accept(self.0).await?.accept_input().await })
    }

    fn sink(self: Box<Self>, _: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move { QuicSession::accept(self.0).await?.open_sink().await })
    }
}

impl Connection {
    /// The QUIC session behind this connection (finishing the handshake
    /// first), for opening or accepting several table streams on it.
    pub async fn into_quic(self) -> Result<QuicSession> {
        let (link, peer) = self.into_link();
        let link = match link.downcast::<QuicSession>() {
            Ok(session) => return Ok(*session),
            Err(other) => other,
        };
        match link.downcast::<Incoming>() {
            Ok(incoming) => QuicSession::accept(incoming.0).await,
            Err(_) => Err(Error::Config(format!("{peer} is not a QUIC connection"))),
        }
    }
}

/// Connects to `hostport` with `config` (required).
pub(crate) async fn connect(hostport: &str, config: &Option<ClientConfig>) -> Result<Connection> {
    let config = config.clone().ok_or_else(|| {
        Error::Config(
            "a QUIC client needs a TLS configuration (ClientOptions::quic; \
             lightstream::quic::client_config_trusting or client_config_insecure)"
                .into(),
        )
    })?;
    let addr = resolve(hostport).await?;
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let session = QuicSession::connect(addr, host, config).await?;
    let peer = session.peer().to_string();
    Ok(Connection::new(session, peer))
}

/// Listens on `hostport` with `config` (required).
pub(crate) async fn bind(
    hostport: &str,
    endpoint: &Endpoint,
    config: &Option<ServerConfig>,
) -> Result<Listener> {
    let config = config.clone().ok_or_else(|| {
        Error::Config(
            "a QUIC server needs a TLS certificate (ServerOptions::quic; \
             lightstream::quic::server_config or self_signed)"
                .into(),
        )
    })?;
    let ctx = || format!("binding {endpoint}");
    let addr = resolve(hostport).await?;
    let ep = quinn::Endpoint::server(config, addr).map_err(|e| Error::io(ctx(), e))?;
    let local = ep.local_addr().map_err(|e| Error::io(ctx(), e))?;
    Ok(Listener::new(
        QuicAcceptor(ep),
        Endpoint::Quic(local.to_string()),
    ))
}

struct QuicAcceptor(quinn::Endpoint);

impl Acceptor for QuicAcceptor {
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            let incoming =
                self.0.accept().await.ok_or_else(|| {
                    Error::Protocol(format!("the QUIC endpoint {local} was closed"))
                })?;
            let peer = format!("quic {}", incoming.remote_address());
            Ok(Connection::new(Incoming(incoming), peer))
        })
    }
}

async fn resolve(hostport: &str) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| Error::io(format!("resolving {hostport}"), e))?;
    addrs
        .next()
        .ok_or_else(|| Error::Config(format!("{hostport} resolved to no address")))
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // Windows sized for a fast local link: large enough to keep a stream
    // busy, small enough that a stalled reader holds a few MiB at most.
    t.stream_receive_window((8u32 << 20).into())
        .receive_window((32u32 << 20).into())
        .send_window(32 << 20)
        // Keep-alives stop an idle connection (a writer pausing between
        // tables) from timing out.
        .keep_alive_interval(Some(std::time::Duration::from_secs(10)))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(std::time::Duration::from_secs(30))
                .unwrap_or_else(|_| quinn::VarInt::from_u32(30_000).into()),
        ));
    Arc::new(t)
}

/// A QUIC server configuration from a certificate chain and its key.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<quinn::ServerConfig> {
    let mut tls = crate::transport::tls::server_tls(certs, key, &[&rustls::version::TLS13])?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| Error::Config(format!("QUIC server configuration: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// A QUIC client configuration from a rustls one (its ALPN is set to
/// [`ALPN`] if it has none).
pub fn client_config(mut tls: rustls::ClientConfig) -> Result<quinn::ClientConfig> {
    if tls.alpn_protocols.is_empty() {
        tls.alpn_protocols = vec![ALPN.to_vec()];
    }
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| Error::Config(format!("QUIC client configuration: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// A QUIC client configuration that trusts exactly `roots` (for example the
/// server's self-signed certificate, or a private CA).
pub fn client_config_trusting(roots: &[CertificateDer<'static>]) -> Result<quinn::ClientConfig> {
    client_config(crate::transport::tls::client_tls_trusting(
        roots,
        &[&rustls::version::TLS13],
    )?)
}

/// A QUIC client configuration that accepts any server certificate. The
/// connection is still encrypted, but not authenticated: for localhost and
/// tests only (the CLI's `--insecure`).
pub fn client_config_insecure() -> Result<quinn::ClientConfig> {
    client_config(crate::transport::tls::client_tls_insecure(&[
        &rustls::version::TLS13,
    ])?)
}
