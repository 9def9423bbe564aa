//! Endpoints, listeners and connections: one way to reach every transport.
//!
//! An [`Endpoint`] is parsed from a URL (`tcp://host:port`, `tls://host:port`,
//! `unix:///path`, `ws://host:port/path`, `wss://host:port/path`,
//! `quic://host:port`, or `-` for stdin/stdout).
//! [`connect`] reaches it as a client, [`bind`] listens on it as a server and
//! hands out a [`Connection`] per client. A connection becomes a
//! [`TableReader`] or a [`TableWriter`]; which side reads and which writes is
//! the application's choice, not the transport's.
//!
//! Wire formats: TCP, TLS, Unix sockets and stdio carry the Arrow IPC stream
//! format byte for byte (any Arrow IPC peer can talk to them); WebSocket
//! (`ws://`, and `wss://` over TLS) carries one encapsulated IPC message per
//! binary message (docs/websocket-protocol.md); QUIC carries one IPC stream
//! per unidirectional QUIC stream.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use lightstream_core::{ReadOptions, Schema, WriteOptions};

use crate::error::{Error, Result};
use crate::reader::{BoxRead, TableReader};
use crate::writer::{BoxWrite, Sink, TableWriter};

/// Where tables go or come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://host:port`: the Arrow IPC stream format over TCP.
    Tcp(String),
    /// `tls://host:port`: the Arrow IPC stream format over TLS over TCP. The
    /// host also names the server in its TLS certificate.
    Tls(String),
    /// `unix:///path/to/socket`: the Arrow IPC stream format over a Unix domain socket.
    Unix(PathBuf),
    /// `ws://host:port/path`: one IPC message per binary WebSocket message.
    WebSocket(String),
    /// `wss://host:port/path`: [`Endpoint::WebSocket`] over TLS. The host also
    /// names the server in its TLS certificate.
    SecureWebSocket(String),
    /// `quic://host:port`: one IPC stream per QUIC stream. The host also
    /// names the server in its TLS certificate.
    Quic(String),
    /// `-`: the Arrow IPC stream format on stdin (reading) and stdout (writing).
    Stdio,
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Endpoint> {
        if s == "-" {
            return Ok(Endpoint::Stdio);
        }
        let bad = |why: &str| Error::Config(format!("bad endpoint URL {s:?}: {why}"));
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            bad(
                "expected tcp://host:port, tls://host:port, unix:///path, ws://host:port/path, \
                 wss://host:port/path, quic://host:port or -",
            )
        })?;
        let authority = |rest: &str| -> Result<String> {
            let hostport = rest.split('/').next().unwrap_or_default();
            let (host, port) = hostport
                .rsplit_once(':')
                .ok_or_else(|| bad("missing :port"))?;
            if host.is_empty() {
                return Err(bad("missing host"));
            }
            port.parse::<u16>()
                .map_err(|_| bad(&format!("port {port:?} is not a number from 0 to 65535")))?;
            Ok(hostport.to_string())
        };
        let no_path = |a: String| -> Result<String> {
            if rest.len() > a.len() && rest[a.len()..] != *"/" {
                return Err(bad(&format!("a {scheme} URL has no path")));
            }
            Ok(a)
        };
        match scheme {
            "tcp" => Ok(Endpoint::Tcp(no_path(authority(rest)?)?)),
            "tls" => Ok(Endpoint::Tls(no_path(authority(rest)?)?)),
            "quic" => Ok(Endpoint::Quic(no_path(authority(rest)?)?)),
            "unix" => {
                if !rest.starts_with('/') || rest.len() < 2 {
                    return Err(bad("expected an absolute path: unix:///path/to/socket"));
                }
                Ok(Endpoint::Unix(PathBuf::from(rest)))
            }
            "ws" => {
                authority(rest)?;
                Ok(Endpoint::WebSocket(s.to_string()))
            }
            "wss" => {
                authority(rest)?;
                Ok(Endpoint::SecureWebSocket(s.to_string()))
            }
            other => Err(bad(&format!(
                "unknown scheme {other:?} (expected tcp, tls, unix, ws, wss or quic)"
            ))),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Tls(a) => write!(f, "tls://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::WebSocket(u) | Endpoint::SecureWebSocket(u) => write!(f, "{u}"),
            Endpoint::Quic(a) => write!(f, "quic://{a}"),
            Endpoint::Stdio => write!(f, "-"),
        }
    }
}

/// Settings for [`connect`]. The default suits every transport but QUIC, which
/// needs a TLS client configuration (see [`crate::quic`]). Build it with
/// `..ClientOptions::default()`: fields come with features.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// TLS configuration of QUIC connections.
    #[cfg(feature = "quic")]
    pub quic: Option<quinn::ClientConfig>,
    /// TLS configuration of `tls://` and `wss://` connections; `None` trusts
    /// the webpki roots ([`crate::tls::client_config`]). See [`crate::tls`].
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long the TLS handshake of a `tls://` or `wss://` connection may
    /// take; `None`: [`crate::tls::DEFAULT_HANDSHAKE_TIMEOUT`] (10 s).
    #[cfg(feature = "tls")]
    pub handshake_timeout: Option<std::time::Duration>,
}

/// Settings for [`bind`]. QUIC, `tls://` and `wss://` need a TLS server
/// configuration ([`crate::quic::server_config`], [`crate::tls::server_config`]).
/// Build it with `..ServerOptions::default()`: fields come with features.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// TLS configuration of the QUIC server.
    #[cfg(feature = "quic")]
    pub quic: Option<quinn::ServerConfig>,
    /// TLS configuration of a `tls://` or `wss://` server (required there).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long each client's TLS handshake may take; `None`:
    /// [`crate::tls::DEFAULT_HANDSHAKE_TIMEOUT`] (10 s). A client that takes
    /// longer fails on its own connection.
    #[cfg(feature = "tls")]
    pub handshake_timeout: Option<std::time::Duration>,
}

/// A TCP connection whose server-side TLS handshake is still to come.
#[cfg(feature = "tls")]
struct TlsAccept {
    tcp: tokio::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    timeout: Option<std::time::Duration>,
}

#[cfg(feature = "tls")]
impl TlsAccept {
    /// Accepts the next TCP connection of a `tls://` or `wss://` listener (its
    /// handshake comes later) and the client's address.
    async fn next(
        l: &tokio::net::TcpListener,
        config: &Arc<rustls::ServerConfig>,
        timeout: Option<std::time::Duration>,
        ctx: impl Fn() -> String,
    ) -> Result<(TlsAccept, std::net::SocketAddr)> {
        let (tcp, addr) = l.accept().await.map_err(|e| Error::io(ctx(), e))?;
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        Ok((
            TlsAccept {
                tcp,
                config,
                timeout,
            },
            addr,
        ))
    }

    async fn handshake(self, peer: &str) -> Result<crate::tls::ServerStream> {
        crate::tls::accept(self.tcp, self.config, self.timeout, peer).await
    }
}

/// Whether an accepted TCP connection ends (or is reset) before its first
/// byte: waits for that byte, which the handshake that follows needs anyway,
/// and leaves it in the socket.
#[cfg(any(feature = "websocket", feature = "tls"))]
pub(crate) async fn closed_before_any_byte(tcp: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// One connected peer, not yet reading or writing tables.
pub struct Connection {
    inner: Inner,
    peer: String,
}

enum Inner {
    Bytes {
        read: BoxRead,
        write: BoxWrite,
    },
    /// A TCP connection whose WebSocket handshake (server side) is still to come.
    #[cfg(feature = "websocket")]
    WebSocketPending(tokio::net::TcpStream),
    /// A TCP connection to a `ws://` URL whose client handshake is still to come.
    #[cfg(feature = "websocket")]
    WebSocketClientPending(tokio::net::TcpStream, String),
    #[cfg(feature = "websocket")]
    WebSocket(crate::websocket::BoxWebSocket),
    /// A TLS connection (client side: the handshake is done).
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::ClientStream>),
    /// An accepted TCP connection whose TLS handshake is still to come.
    #[cfg(feature = "tls")]
    TlsPending(TlsAccept),
    /// An accepted TCP connection whose TLS and WebSocket handshakes are still to come.
    #[cfg(all(feature = "websocket", feature = "tls"))]
    SecureWebSocketPending(TlsAccept),
    /// A TLS connection to a `wss://` URL whose WebSocket handshake is still to come.
    #[cfg(all(feature = "websocket", feature = "tls"))]
    SecureWebSocketClientPending(Box<crate::tls::ClientStream>, String),
    #[cfg(feature = "quic")]
    QuicIncoming(Box<quinn::Incoming>),
    #[cfg(feature = "quic")]
    Quic(crate::quic::QuicSession),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection over any pair of byte streams (`peer` names it in errors).
    pub fn from_io<R, W>(read: R, write: W, peer: impl Into<String>) -> Connection
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        Connection {
            inner: Inner::Bytes {
                read: Box::new(read),
                write: Box::new(write),
            },
            peer: peer.into(),
        }
    }

    /// An existing TCP connection.
    #[cfg(feature = "tcp")]
    pub fn from_tcp(stream: tokio::net::TcpStream) -> Connection {
        let peer = match stream.peer_addr() {
            Ok(a) => format!("tcp {a}"),
            Err(_) => "tcp peer".to_string(),
        };
        // Messages are written whole with vectored writes; Nagle would only
        // hold back the last segment of each.
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        Connection::from_io(r, w, peer)
    }

    /// An existing Unix domain socket connection.
    #[cfg(feature = "uds")]
    pub fn from_unix(stream: tokio::net::UnixStream, path: &std::path::Path) -> Connection {
        let (r, w) = stream.into_split();
        Connection::from_io(r, w, format!("unix {}", path.display()))
    }

    /// This process's stdin (for reading) and stdout (for writing).
    ///
    /// tokio hands stdio to blocking threads one write at a time and has no
    /// vectored writes, so stdout is buffered (1 MiB): the small pieces of a
    /// message (prefix, metadata, padding) go out together, while buffers
    /// larger than that bypass the buffer.
    #[cfg(feature = "stdio")]
    pub fn stdio() -> Connection {
        let stdout = tokio::io::BufWriter::with_capacity(1 << 20, tokio::io::stdout());
        Connection::from_io(tokio::io::stdin(), stdout, "stdio")
    }

    #[cfg(feature = "websocket")]
    pub(crate) fn websocket(ws: crate::websocket::BoxWebSocket, peer: String) -> Connection {
        Connection {
            inner: Inner::WebSocket(ws),
            peer,
        }
    }

    #[cfg(feature = "websocket")]
    pub(crate) fn websocket_client(tcp: tokio::net::TcpStream, url: String) -> Connection {
        Connection {
            // The URL says the scheme already ("ws://...", not "ws ws://...").
            peer: url.clone(),
            inner: Inner::WebSocketClientPending(tcp, url),
        }
    }

    #[cfg(all(feature = "websocket", feature = "tls"))]
    pub(crate) fn secure_websocket_client(
        tls: crate::tls::ClientStream,
        url: String,
    ) -> Connection {
        Connection {
            peer: url.clone(),
            inner: Inner::SecureWebSocketClientPending(Box::new(tls), url),
        }
    }

    #[cfg(feature = "quic")]
    pub(crate) fn quic(session: crate::quic::QuicSession) -> Connection {
        let peer = session.peer().to_string();
        Connection {
            inner: Inner::Quic(session),
            peer,
        }
    }

    /// Turns this client away, for a server at its limit of clients: a
    /// `ws://` or `wss://` client gets `503 Service Unavailable` with
    /// `Retry-After` (`retry_after` in whole seconds) and `reason` once its
    /// upgrade request has arrived (after the TLS handshake for `wss://`);
    /// any other connection is closed at once. Bound it with a timeout: it
    /// waits for the client's request head.
    pub async fn turn_away(self, retry_after: std::time::Duration, reason: &str) -> Result<()> {
        match self.inner {
            #[cfg(feature = "websocket")]
            Inner::WebSocketPending(tcp) => {
                crate::upgrade::busy(tcp, &self.peer, retry_after, reason).await
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Inner::SecureWebSocketPending(pending) => {
                let tls = pending.handshake(&self.peer).await?;
                crate::upgrade::busy(tls, &self.peer, retry_after, reason).await
            }
            _ => {
                let _ = (retry_after, reason);
                Ok(())
            }
        }
    }

    /// Who is at the other end, as errors name it (for example `tcp 127.0.0.1:50412`).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The QUIC session behind this connection (finishing the handshake
    /// first), for opening or accepting several table streams on it.
    #[cfg(feature = "quic")]
    pub async fn into_quic(self) -> Result<crate::quic::QuicSession> {
        match self.inner {
            Inner::Quic(s) => Ok(s),
            Inner::QuicIncoming(i) => crate::quic::QuicSession::accept(*i).await,
            _ => Err(Error::Config(format!(
                "{} is not a QUIC connection",
                self.peer
            ))),
        }
    }

    /// Reads one Arrow IPC stream from the peer; returns once its schema has
    /// arrived. On QUIC this accepts the next stream the peer opens.
    pub async fn reader(self, options: ReadOptions) -> Result<TableReader> {
        let peer = self.peer;
        match self.inner {
            Inner::Bytes { read, write } => {
                drop(write);
                TableReader::open(TableReader::bytes_source(read), peer, options, None).await
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocketPending(tcp) => {
                if closed_before_any_byte(&tcp).await {
                    return Err(Error::EmptyConnection { peer });
                }
                let ws = crate::websocket::accept(tcp, &peer, Some(&options.limits)).await?;
                crate::websocket::reader(ws, peer, options).await
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocketClientPending(tcp, url) => {
                let ws = crate::websocket::handshake(tcp, &url, Some(&options.limits)).await?;
                crate::websocket::reader(ws, peer, options).await
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocket(ws) => crate::websocket::reader(ws, peer, options).await,
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => {
                TableReader::open(TableReader::bytes_source(tls), peer, options, None).await
            }
            #[cfg(feature = "tls")]
            Inner::TlsPending(pending) => {
                let tls = pending.handshake(&peer).await?;
                TableReader::open(
                    TableReader::bytes_source(Box::new(tls)),
                    peer,
                    options,
                    None,
                )
                .await
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Inner::SecureWebSocketPending(pending) => {
                let tls = pending.handshake(&peer).await?;
                let ws = crate::websocket::accept(tls, &peer, Some(&options.limits)).await?;
                crate::websocket::reader(ws, peer, options).await
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Inner::SecureWebSocketClientPending(tls, url) => {
                let ws = crate::websocket::handshake(tls, &url, Some(&options.limits)).await?;
                crate::websocket::reader(ws, peer, options).await
            }
            #[cfg(feature = "quic")]
            Inner::QuicIncoming(i) => {
                crate::quic::QuicSession::accept(*i)
                    .await?
                    .accept_reader(options)
                    .await
            }
            #[cfg(feature = "quic")]
            Inner::Quic(s) => s.accept_reader(options).await,
        }
    }

    /// Writes one Arrow IPC stream of `schema` to the peer. On QUIC this
    /// opens a new stream.
    pub async fn writer(self, schema: Arc<Schema>, options: WriteOptions) -> Result<TableWriter> {
        let peer = self.peer;
        match self.inner {
            Inner::Bytes { read, write } => {
                drop(read);
                TableWriter::new(Sink::Bytes(write), peer, schema, options, None)
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocketPending(tcp) => {
                if closed_before_any_byte(&tcp).await {
                    return Err(Error::EmptyConnection { peer });
                }
                let ws = crate::websocket::accept(tcp, &peer, None).await?;
                crate::websocket::writer(ws, peer, schema, options)
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocketClientPending(tcp, url) => {
                let ws = crate::websocket::handshake(tcp, &url, None).await?;
                crate::websocket::writer(ws, peer, schema, options)
            }
            #[cfg(feature = "websocket")]
            Inner::WebSocket(ws) => crate::websocket::writer(ws, peer, schema, options),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => TableWriter::new(Sink::Bytes(tls), peer, schema, options, None),
            #[cfg(feature = "tls")]
            Inner::TlsPending(pending) => {
                let tls = pending.handshake(&peer).await?;
                TableWriter::new(Sink::Bytes(Box::new(tls)), peer, schema, options, None)
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Inner::SecureWebSocketPending(pending) => {
                let tls = pending.handshake(&peer).await?;
                let ws = crate::websocket::accept(tls, &peer, None).await?;
                crate::websocket::writer(ws, peer, schema, options)
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Inner::SecureWebSocketClientPending(tls, url) => {
                let ws = crate::websocket::handshake(tls, &url, None).await?;
                crate::websocket::writer(ws, peer, schema, options)
            }
            #[cfg(feature = "quic")]
            Inner::QuicIncoming(i) => {
                crate::quic::QuicSession::accept(*i)
                    .await?
                    .open_writer(schema, options)
                    .await
            }
            #[cfg(feature = "quic")]
            Inner::Quic(s) => s.open_writer(schema, options).await,
        }
    }
}

/// A server waiting for clients on an [`Endpoint`].
pub struct Listener {
    inner: ListenerInner,
    local: Endpoint,
}

enum ListenerInner {
    #[cfg(feature = "tcp")]
    Tcp(tokio::net::TcpListener),
    #[cfg(feature = "uds")]
    Unix(tokio::net::UnixListener, PathBuf),
    #[cfg(feature = "websocket")]
    WebSocket(tokio::net::TcpListener),
    #[cfg(feature = "tls")]
    Tls(
        tokio::net::TcpListener,
        Arc<rustls::ServerConfig>,
        Option<std::time::Duration>,
    ),
    #[cfg(all(feature = "websocket", feature = "tls"))]
    SecureWebSocket(
        tokio::net::TcpListener,
        Arc<rustls::ServerConfig>,
        Option<std::time::Duration>,
    ),
    #[cfg(feature = "quic")]
    Quic(quinn::Endpoint),
    #[cfg(feature = "stdio")]
    Stdio(tokio::sync::Mutex<bool>),
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Where the listener is (with the port the system chose, if the
    /// endpoint asked for port 0): an [`Endpoint`] a client can
    /// [`connect`] to (for a wildcard address such as `0.0.0.0`, connect to
    /// a real one), and its URL through `Display`.
    pub fn local_url(&self) -> &Endpoint {
        &self.local
    }

    /// Waits for the next client. For TLS, WebSocket and QUIC the handshake
    /// happens later, in [`Connection::reader`] / [`Connection::writer`], so a
    /// slow or failing client cannot hold up the accept loop: its handshake
    /// error (or timeout) is that connection's error. On stdio the one
    /// "connection" is stdin/stdout; a second accept waits forever.
    pub async fn accept(&self) -> Result<Connection> {
        #[allow(unused_variables)]
        let ctx = || format!("accepting a connection on {}", self.local);
        match &self.inner {
            #[cfg(feature = "tcp")]
            ListenerInner::Tcp(l) => {
                let (s, _) = l.accept().await.map_err(|e| Error::io(ctx(), e))?;
                Ok(Connection::from_tcp(s))
            }
            #[cfg(feature = "uds")]
            ListenerInner::Unix(l, path) => {
                let (s, _) = l.accept().await.map_err(|e| Error::io(ctx(), e))?;
                Ok(Connection::from_unix(s, path))
            }
            #[cfg(feature = "websocket")]
            ListenerInner::WebSocket(l) => {
                let (s, addr) = l.accept().await.map_err(|e| Error::io(ctx(), e))?;
                let _ = s.set_nodelay(true);
                Ok(Connection {
                    inner: Inner::WebSocketPending(s),
                    peer: format!("ws {addr}"),
                })
            }
            #[cfg(feature = "tls")]
            ListenerInner::Tls(l, config, timeout) => {
                let (pending, addr) = TlsAccept::next(l, config, *timeout, ctx).await?;
                Ok(Connection {
                    inner: Inner::TlsPending(pending),
                    peer: format!("tls {addr}"),
                })
            }
            #[cfg(all(feature = "websocket", feature = "tls"))]
            ListenerInner::SecureWebSocket(l, config, timeout) => {
                let (pending, addr) = TlsAccept::next(l, config, *timeout, ctx).await?;
                Ok(Connection {
                    inner: Inner::SecureWebSocketPending(pending),
                    peer: format!("wss {addr}"),
                })
            }
            #[cfg(feature = "quic")]
            ListenerInner::Quic(ep) => {
                let incoming = ep.accept().await.ok_or_else(|| {
                    Error::Protocol(format!("the QUIC endpoint {} was closed", self.local))
                })?;
                let peer = format!("quic {}", incoming.remote_address());
                Ok(Connection {
                    inner: Inner::QuicIncoming(Box::new(incoming)),
                    peer,
                })
            }
            #[cfg(feature = "stdio")]
            ListenerInner::Stdio(taken) => {
                let mut taken = taken.lock().await;
                if *taken {
                    std::future::pending::<()>().await;
                }
                *taken = true;
                Ok(Connection::stdio())
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::Config(format!(
                "{}: no transport was compiled in (see the crate's features)",
                self.local
            ))),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(feature = "uds")]
        #[allow(irrefutable_let_patterns)]
        if let ListenerInner::Unix(_, path) = &self.inner {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(feature = "quic")]
async fn resolve(hostport: &str) -> Result<std::net::SocketAddr> {
    let mut addrs = tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| Error::io(format!("resolving {hostport}"), e))?;
    addrs
        .next()
        .ok_or_else(|| Error::Config(format!("{hostport} resolved to no address")))
}

/// Listens on `endpoint`.
///
/// A Unix socket path that exists and is a socket is replaced (a server that
/// died leaves its socket file behind); the file is removed when the
/// listener is dropped. QUIC needs `options.quic`.
pub async fn bind(endpoint: &Endpoint, options: &ServerOptions) -> Result<Listener> {
    let _ = options;
    #[allow(unused_variables)]
    let ctx = |what: &str| format!("binding {endpoint}{what}");
    match endpoint {
        #[cfg(feature = "tcp")]
        Endpoint::Tcp(a) => {
            let l = tokio::net::TcpListener::bind(a.as_str())
                .await
                .map_err(|e| Error::io(ctx(""), e))?;
            let local = l.local_addr().map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::Tcp(l),
                local: Endpoint::Tcp(local.to_string()),
            })
        }
        #[cfg(feature = "uds")]
        Endpoint::Unix(path) => {
            use std::os::unix::fs::FileTypeExt;
            if let Ok(meta) = std::fs::symlink_metadata(path)
                && meta.file_type().is_socket()
            {
                let _ = std::fs::remove_file(path);
            }
            let l = tokio::net::UnixListener::bind(path).map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::Unix(l, path.clone()),
                local: Endpoint::Unix(path.clone()),
            })
        }
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket(url) => {
            let (hostport, path) = crate::websocket::split_url(url)?;
            let l = tokio::net::TcpListener::bind(hostport.as_str())
                .await
                .map_err(|e| Error::io(ctx(""), e))?;
            let local = l.local_addr().map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::WebSocket(l),
                local: Endpoint::WebSocket(format!("ws://{local}{path}")),
            })
        }
        #[cfg(feature = "tls")]
        Endpoint::Tls(a) => {
            let config = server_tls(endpoint, options)?;
            let l = tokio::net::TcpListener::bind(a.as_str())
                .await
                .map_err(|e| Error::io(ctx(""), e))?;
            let local = l.local_addr().map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::Tls(l, config, options.handshake_timeout),
                local: Endpoint::Tls(local.to_string()),
            })
        }
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket(url) => {
            let config = server_tls(endpoint, options)?;
            let (hostport, path) = crate::websocket::split_url(url)?;
            let l = tokio::net::TcpListener::bind(hostport.as_str())
                .await
                .map_err(|e| Error::io(ctx(""), e))?;
            let local = l.local_addr().map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::SecureWebSocket(l, config, options.handshake_timeout),
                local: Endpoint::SecureWebSocket(format!("wss://{local}{path}")),
            })
        }
        #[cfg(feature = "quic")]
        Endpoint::Quic(a) => {
            let config = options.quic.clone().ok_or_else(|| {
                Error::Config(
                    "a QUIC server needs a TLS certificate (ServerOptions::quic; \
                     lightstream::quic::server_config or self_signed)"
                        .into(),
                )
            })?;
            let addr = resolve(a).await?;
            let ep = quinn::Endpoint::server(config, addr).map_err(|e| Error::io(ctx(""), e))?;
            let local = ep.local_addr().map_err(|e| Error::io(ctx(""), e))?;
            Ok(Listener {
                inner: ListenerInner::Quic(ep),
                local: Endpoint::Quic(local.to_string()),
            })
        }
        #[cfg(feature = "stdio")]
        Endpoint::Stdio => Ok(Listener {
            inner: ListenerInner::Stdio(tokio::sync::Mutex::new(false)),
            local: Endpoint::Stdio,
        }),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

/// The TLS configuration a `tls://` / `wss://` server must have.
#[cfg(feature = "tls")]
fn server_tls(endpoint: &Endpoint, options: &ServerOptions) -> Result<Arc<rustls::ServerConfig>> {
    options.tls.clone().ok_or_else(|| {
        Error::Config(format!(
            "a {} server needs a TLS certificate (ServerOptions::tls; \
             lightstream::tls::server_config with load_certs/load_key or self_signed)",
            if matches!(endpoint, Endpoint::Tls(_)) {
                "tls://"
            } else {
                "wss://"
            }
        ))
    })
}

/// The error of an endpoint whose transport is not in this build.
fn not_compiled_in(endpoint: &Endpoint) -> Error {
    let what = match endpoint {
        Endpoint::Tls(_) => "TLS was not compiled in (lightstream's `tls` feature)",
        Endpoint::SecureWebSocket(_) => {
            "WebSocket over TLS was not compiled in (lightstream's `websocket` and `tls` features)"
        }
        _ => "this transport was not compiled in (see the crate's features)",
    };
    Error::Config(format!("{endpoint}: {what}"))
}

/// Connects to `endpoint`. QUIC needs `options.quic`
/// ([`crate::quic::client_config`] and friends). For `tls://` and `wss://`
/// this runs the TLS handshake (an untrusted certificate fails here, naming
/// the host and the reason); `options.tls` chooses whom to trust.
pub async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Connection> {
    let _ = options;
    #[allow(unused_variables)]
    let ctx = || format!("connecting to {endpoint}");
    match endpoint {
        #[cfg(feature = "tcp")]
        Endpoint::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(a.as_str())
                .await
                .map_err(|e| Error::io(ctx(), e))?;
            Ok(Connection::from_tcp(s))
        }
        #[cfg(feature = "uds")]
        Endpoint::Unix(path) => {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| Error::io(ctx(), e))?;
            Ok(Connection::from_unix(s, path))
        }
        #[cfg(feature = "tls")]
        Endpoint::Tls(a) => {
            let tls = crate::tls::connect(
                a,
                options.tls.as_ref(),
                options.handshake_timeout,
                &endpoint.to_string(),
            )
            .await?;
            let peer = match tls.0.get_ref().0.peer_addr() {
                Ok(addr) => format!("tls {addr}"),
                Err(_) => format!("tls {a}"),
            };
            Ok(Connection {
                inner: Inner::Tls(Box::new(tls)),
                peer,
            })
        }
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket(url) => crate::websocket::connect(url).await,
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket(url) => crate::websocket::connect_secure(url, options).await,
        #[cfg(feature = "quic")]
        Endpoint::Quic(a) => {
            let config = options.quic.clone().ok_or_else(|| {
                Error::Config(
                    "a QUIC client needs a TLS configuration (ClientOptions::quic; \
                     lightstream::quic::client_config_trusting or client_config_insecure)"
                        .into(),
                )
            })?;
            let addr = resolve(a).await?;
            let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let session = crate::quic::QuicSession::connect(addr, host, config).await?;
            Ok(Connection::quic(session))
        }
        #[cfg(feature = "stdio")]
        Endpoint::Stdio => Ok(Connection::stdio()),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_endpoints() {
        let p = |s: &str| s.parse::<Endpoint>();
        assert_eq!(
            p("tcp://127.0.0.1:9000").unwrap(),
            Endpoint::Tcp("127.0.0.1:9000".into())
        );
        assert_eq!(
            p("tcp://[::1]:9000").unwrap(),
            Endpoint::Tcp("[::1]:9000".into())
        );
        assert_eq!(
            p("tcp://localhost:0/").unwrap(),
            Endpoint::Tcp("localhost:0".into())
        );
        assert_eq!(
            p("unix:///tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            p("ws://127.0.0.1:8080/tables").unwrap(),
            Endpoint::WebSocket("ws://127.0.0.1:8080/tables".into())
        );
        assert_eq!(
            p("quic://localhost:4433").unwrap(),
            Endpoint::Quic("localhost:4433".into())
        );
        assert_eq!(
            p("tls://localhost:4433/").unwrap(),
            Endpoint::Tls("localhost:4433".into())
        );
        assert_eq!(
            p("wss://[::1]:443/t").unwrap(),
            Endpoint::SecureWebSocket("wss://[::1]:443/t".into())
        );
        assert_eq!(p("tls://[::1]:1").unwrap().to_string(), "tls://[::1]:1");
        assert_eq!(p("wss://h:1/x").unwrap().to_string(), "wss://h:1/x");
        assert_eq!(p("-").unwrap(), Endpoint::Stdio);
        for s in p("tcp://127.0.0.1:9000").iter() {
            assert_eq!(s.to_string(), "tcp://127.0.0.1:9000");
        }
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let e = |s: &str| s.parse::<Endpoint>().unwrap_err().to_string();
        assert!(e("127.0.0.1:9000").contains("expected tcp://"));
        assert!(e("tcp://127.0.0.1").contains("missing :port"));
        assert!(e("tcp://127.0.0.1:99999").contains("port \"99999\""));
        assert!(e("tcp://:80").contains("missing host"));
        assert!(e("unix://relative").contains("absolute path"));
        assert!(e("http://x:1").contains("unknown scheme \"http\""));
        assert!(e("wss://x/").contains("missing :port"));
        assert!(e("tcp://x:1/path").contains("a tcp URL has no path"));
        assert!(e("tls://x:1/path").contains("a tls URL has no path"));
    }

    /// Without the feature, tls:// and wss:// still parse, and say what is missing.
    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn tls_endpoints_say_tls_was_not_compiled_in() {
        for url in ["tls://127.0.0.1:1", "wss://127.0.0.1:1/"] {
            let endpoint: Endpoint = url.parse().unwrap();
            let e = connect(&endpoint, &ClientOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e}");
            assert!(e.to_string().contains("not compiled in"), "{e}");
            assert!(e.to_string().contains("`tls`"), "{e}");
            let e = bind(&endpoint, &ServerOptions::default())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("not compiled in"), "{e}");
        }
    }
}
