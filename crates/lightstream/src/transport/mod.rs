//! The transports, one module each, and where URLs are dispatched to them.
//!
//! Each module builds the seam of [`crate::connection`] from its own types:
//! a `Link` per connected peer (which becomes a reader's byte stream or
//! message stream, or a writer's message sink) and an `Acceptor` per
//! listener. [`connect`] and [`bind`] below are one line per scheme; adding
//! a transport is adding a module here plus that line (and its
//! [`Endpoint`] variant). Library types of a transport (tokio-tungstenite,
//! quinn) appear only inside its module.
//!
//! Dependencies point one way: this module -> the transports ->
//! connection, reader, writer -> the core. No transport imports this module
//! or another transport's internals, except that `tls` and `websocket`
//! build on `tcp`, `websocket` on `tls` (for `wss://`) and `quic` on `tls`'s
//! certificate helpers.

#[cfg(any(feature = "tls", feature = "flight"))]
use std::sync::Arc;

use crate::connection::{Connection, Listener};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

#[cfg(feature = "flight")]
pub(crate) mod grpc;
#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "nats")]
pub(crate) mod nats;
#[cfg(feature = "quic")]
pub mod quic;
#[cfg(feature = "stdio")]
pub(crate) mod stdio;
#[cfg(any(feature = "tcp", feature = "tls", feature = "websocket"))]
pub(crate) mod tcp;
#[cfg(any(feature = "tls", feature = "quic"))]
pub mod tls;
#[cfg(feature = "uds")]
pub(crate) mod uds;
#[cfg(feature = "websocket")]
pub(crate) mod upgrade;
#[cfg(feature = "websocket")]
pub mod websocket;

/// Settings for [`connect`]. The default suits every transport but QUIC, which
/// needs a TLS client configuration (see [`crate::quic`]). Build it with
/// `..ClientOptions::default()`: fields come with features.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// TLS configuration of QUIC connections.
    #[cfg(feature = "quic")]
    pub quic: Option<quic::ClientConfig>,
    /// TLS configuration of `tls://` and `wss://` connections; `None` trusts
    /// the webpki roots ([`crate::tls::client_config`]). See [`crate::tls`].
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long the TLS handshake of a `tls://` or `wss://` connection may
    /// take; `None`: [`crate::tls::DEFAULT_HANDSHAKE_TIMEOUT`] (10 s).
    #[cfg(feature = "tls")]
    pub handshake_timeout: Option<std::time::Duration>,
    /// The HTTP version of `http://` and `https://` connections (default:
    /// HTTP/1.1, or HTTP/2 over TLS when the server offers it).
    #[cfg(feature = "http")]
    pub http_version: http::HttpVersion,
    /// A bearer token sent as `Authorization: Bearer <token>` by the
    /// clients of servers that ask for one (`ws://`, `wss://`, `http://`,
    /// `https://`; see `lightstream::http::Access`). `None` (the default):
    /// no token.
    pub token: Option<String>,
    /// What a `grpc://` / `grpc+tls://` client asks for: the ticket of a
    /// `DoGet` (the connection's reader) or the descriptor of a `DoPut` (its
    /// writer), and the limits of its gRPC messages. See [`crate::flight`].
    #[cfg(feature = "flight")]
    pub flight: crate::flight::FlightOptions,
    /// How a `nats://` / `nats+tls://` connection publishes and subscribes
    /// (core NATS or JetStream, the stream, join and gap rules); the URL's
    /// query overrides it. `token` above is the NATS token; `tls` applies to
    /// `nats+tls://`. See [`crate::nats`].
    #[cfg(feature = "nats")]
    pub nats: crate::nats::NatsOptions,
}

/// Settings for [`bind`]. QUIC, `tls://` and `wss://` need a TLS server
/// configuration ([`crate::quic::server_config`], [`crate::tls::server_config`]).
/// Build it with `..ServerOptions::default()`: fields come with features.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// TLS configuration of the QUIC server.
    #[cfg(feature = "quic")]
    pub quic: Option<quic::ServerConfig>,
    /// TLS configuration of a `tls://` or `wss://` server (required there).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long each client's TLS handshake may take; `None`:
    /// [`crate::tls::DEFAULT_HANDSHAKE_TIMEOUT`] (10 s). A client that takes
    /// longer fails on its own connection.
    #[cfg(feature = "tls")]
    pub handshake_timeout: Option<std::time::Duration>,
    /// Who may open a stream on an `http://`, `https://`, `ws://` or
    /// `wss://` server (Origin allow-list, bearer token, the WebSocket
    /// subprotocol), checked on the request head: a refused request gets
    /// its HTTP status (403, 401, 400) and no stream or upgrade. The default
    /// lets in every client without an `Origin` and pages of the server's
    /// own host, on any port (`http::Origins::SameHost`).
    #[cfg(feature = "http")]
    pub access: crate::http::Access,
    /// What a `grpc://` or `grpc+tls://` (Arrow Flight) server answers to
    /// `ListFlights`, `GetFlightInfo` and `GetSchema`; `None` (the
    /// default): `UNIMPLEMENTED`. Its `DoGet` and `DoPut` calls are the
    /// listener's connections ([`crate::Connection::flight_request`]).
    #[cfg(feature = "flight")]
    pub flight_catalog: Option<Arc<dyn crate::flight::FlightCatalog>>,
    /// The largest FlightData a `grpc://` server's `DoGet` answers send:
    /// larger record batches are cut by rows. `None` (the default):
    /// [`crate::flight::DEFAULT_MAX_FLIGHT_DATA_BYTES`] (2 MiB, for peers
    /// with gRPC's 4 MiB receive limit); `Some(None)`: never split (as
    /// pyarrow's server does).
    #[cfg(feature = "flight")]
    pub flight_max_data_bytes: Option<Option<usize>>,
    /// How a `grpc://` server answers `Handshake`: user name and password
    /// in, a bearer token out (see [`crate::flight::BasicAuth`]). `None`
    /// (the default): `UNIMPLEMENTED`. Every other Flight call is checked
    /// against `access.token` (`authorization: Bearer <token>`;
    /// `UNAUTHENTICATED` before anything is read or streamed).
    #[cfg(feature = "flight")]
    pub flight_basic_auth: Option<crate::flight::BasicAuth>,
}

/// Listens on `endpoint`.
///
/// A Unix socket path that exists and is a socket is replaced (a server that
/// died leaves its socket file behind); the file is removed when the
/// listener is dropped. QUIC needs `options.quic`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::ServerOptions;
///
/// // Port 0: the system picks a free port, and `local_url` says which.
/// let any_port = "tcp://127.0.0.1:0".parse()?;
/// let listener = lightstream::bind(&any_port, &ServerOptions::default()).await?;
/// let url = listener.local_url().to_string();
/// assert!(url.starts_with("tcp://127.0.0.1:") && !url.ends_with(":0"), "{url}");
/// # Ok(()) }
/// ```
pub async fn bind(endpoint: &Endpoint, options: &ServerOptions) -> Result<Listener> {
    let _ = options;
    match endpoint {
        #[cfg(feature = "tcp")]
        Endpoint::Tcp(a) => tcp::bind(a, endpoint).await,
        #[cfg(feature = "uds")]
        Endpoint::Unix(path) => uds::bind(path, endpoint),
        #[cfg(feature = "tls")]
        Endpoint::Tls(a) => tls::bind(a, endpoint, &options.tls, options.handshake_timeout).await,
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket(url) => {
            websocket::bind(url, endpoint, upgrade::Gate::new(options)).await
        }
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket(url) => {
            let gate = upgrade::Gate::new(options);
            let timeout = options.handshake_timeout;
            websocket::bind_secure(url, endpoint, &options.tls, timeout, gate).await
        }
        #[cfg(feature = "quic")]
        Endpoint::Quic(a) => quic::bind(a, endpoint, &options.quic).await,
        #[cfg(feature = "http")]
        Endpoint::Http(url) => {
            http::bind(
                url,
                endpoint,
                options.access.clone(),
                #[cfg(feature = "tls")]
                None,
            )
            .await
        }
        #[cfg(all(feature = "http", feature = "tls"))]
        Endpoint::Https(url) => {
            let side = tls::ServerSide::new(endpoint, &options.tls, options.handshake_timeout)?
                .with_alpn(&[b"h2", b"http/1.1"]);
            http::bind(url, endpoint, options.access.clone(), Some(side)).await
        }
        #[cfg(feature = "flight")]
        Endpoint::Grpc { .. } | Endpoint::GrpcTls { .. } => {
            if let Some(name) = endpoint.flight_name() {
                return Err(Error::Config(format!(
                    "{endpoint}: a Flight server is named by host and port only; `{name}` \
                     names a flight, which its clients ask for"
                )));
            }
            grpc::server::bind(endpoint, options).await
        }
        Endpoint::Nats { .. } => Err(Error::Config(format!(
            "{endpoint}: NATS has no listener (the server is NATS's own): connect, then \
             write (publish) or read (subscribe)"
        ))),
        #[cfg(feature = "stdio")]
        Endpoint::Stdio => Ok(stdio::bind()),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

/// Connects to `endpoint`. QUIC needs `options.quic`
/// ([`crate::quic::client_config`] and friends). For `tls://` and `wss://`
/// this runs the TLS handshake (an untrusted certificate fails here, naming
/// the host and the reason); `options.tls` chooses whom to trust.
///
/// A stream with no tables still carries its schema:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};
///
/// let any_port = "tcp://127.0.0.1:0".parse()?;
/// let listener = lightstream::bind(&any_port, &ServerOptions::default()).await?;
/// let url = listener.local_url().clone();
/// tokio::spawn(async move {
///     let schema = Schema::from_table(&tbl!("t", fa_i64!("id", 1))).into();
///     listener.accept().await?.writer(schema, WriteOptions::default()).await?.finish().await
/// });
/// let conn = lightstream::connect(&url, &ClientOptions::default()).await?;
/// let reader = conn.reader(ReadOptions::default()).await?;
/// assert_eq!(reader.schema().fields[0].name, "id");
/// assert!(reader.read_all().await?.is_empty());
/// # Ok(()) }
/// ```
pub async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Connection> {
    let _ = options;
    match endpoint {
        #[cfg(feature = "tcp")]
        Endpoint::Tcp(a) => tcp::connect(a, endpoint).await,
        #[cfg(feature = "uds")]
        Endpoint::Unix(path) => uds::connect(path, endpoint).await,
        #[cfg(feature = "tls")]
        Endpoint::Tls(a) => {
            tls::connect(a, endpoint, &options.tls, options.handshake_timeout).await
        }
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket(url) => websocket::connect(url, options.token.as_deref()).await,
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket(url) => {
            let token = options.token.as_deref();
            websocket::connect_secure(url, &options.tls, options.handshake_timeout, token).await
        }
        #[cfg(feature = "quic")]
        Endpoint::Quic(a) => quic::connect(a, &options.quic).await,
        #[cfg(feature = "http")]
        Endpoint::Http(url) | Endpoint::Https(url) => {
            let settings = http::ClientSettings {
                version: options.http_version,
                token: options.token.clone(),
            };
            http::connect(
                url,
                settings,
                #[cfg(feature = "tls")]
                (&options.tls, options.handshake_timeout),
            )
            .await
        }
        #[cfg(feature = "flight")]
        Endpoint::Grpc { .. } | Endpoint::GrpcTls { .. } => {
            grpc::client::connect(endpoint, options).await
        }
        #[cfg(feature = "nats")]
        Endpoint::Nats { .. } => nats::connect(endpoint, options).await,
        #[cfg(feature = "stdio")]
        Endpoint::Stdio => Ok(Connection::stdio()),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

/// The error of an endpoint whose transport is not in this build.
#[allow(dead_code)]
fn not_compiled_in(endpoint: &Endpoint) -> Error {
    let what = match endpoint {
        Endpoint::Tls(_) => "TLS was not compiled in (lightstream's `tls` feature)",
        Endpoint::SecureWebSocket(_) => {
            "WebSocket over TLS was not compiled in (lightstream's `websocket` and `tls` features)"
        }
        Endpoint::Http(_) => "HTTP was not compiled in (lightstream's `http` feature)",
        Endpoint::Https(_) => "HTTPS was not compiled in (lightstream's `http` and `tls` features)",
        Endpoint::Grpc { .. } => {
            "Arrow Flight was not compiled in (lightstream's `flight` feature)"
        }
        Endpoint::GrpcTls { .. } => {
            "Arrow Flight over TLS was not compiled in (lightstream's `flight` and `tls` features)"
        }
        Endpoint::Nats { .. } => "NATS was not compiled in (lightstream's `nats` feature)",
        _ => "this transport was not compiled in (see the crate's features)",
    };
    Error::Config(format!("{endpoint}: {what}"))
}

/// Without the feature, tls:// and wss:// still parse, and say what is missing.
#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

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
