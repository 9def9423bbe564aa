//! The Flight client: [`FlightClient`] and the `grpc://` / `grpc+tls://`
//! connections of [`crate::connect`].
//!
//! One HTTP/2 connection per client: tonic's `Channel` over our own TCP
//! connect and, for `grpc+tls://`, our own TLS handshake (the application's
//! `ClientOptions.tls` with ALPN `h2`), so certificate errors are the same
//! [`Error::Tls`] as on `tls://`. Every call is a raw HTTP/2 request on the
//! channel: tonic's client codec would copy each FlightData, and it panics
//! on a malformed `grpc-status-details-bin` header from a server, so the
//! client reads statuses and frames itself.
//!
//! What it is not: a Flight SQL client, `Handshake` authentication or
//! `DoExchange`.

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::Channel;

use crate::ClientOptions;
use crate::connection::{Connection, Link, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::flight::FlightOptions;
use crate::reader::Input;
use crate::writer::MessageSink;

/// Any stream HTTP/2 runs over (TCP, TLS).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A client of one Flight server: the unary calls, and `DoGet` / `DoPut` as
/// a [`crate::TableReader`] / [`crate::TableWriter`], all on one HTTP/2
/// connection (calls may run at the same time: clone the client).
#[derive(Clone)]
pub struct FlightClient {
    channel: Channel,
    /// The server's URL, as errors name it.
    peer: String,
    flight: FlightOptions,
}

impl std::fmt::Debug for FlightClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightClient")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl FlightClient {
    /// Connects to a `grpc://` or `grpc+tls://` endpoint: TCP, the TLS
    /// handshake for `grpc+tls://` (`options.tls`, as for `tls://`), and the
    /// HTTP/2 handshake. `options.flight` holds the limits of its calls.
    pub async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<FlightClient> {
        let hostport = endpoint.grpc_hostport().ok_or_else(|| {
            Error::Config(format!(
                "{endpoint} is not a grpc:// or grpc+tls:// URL (a Flight client needs one)"
            ))
        })?;
        let peer = endpoint.to_string();
        let tls = matches!(endpoint, Endpoint::GrpcTls { .. });
        let first = open(&hostport, tls, options, &peer).await?;
        // The connector hands tonic the stream opened above, so that its
        // errors are ours (an untrusted certificate is `Error::Tls`); a
        // reconnect after the connection dropped opens a new one.
        let first = Arc::new(Mutex::new(Some(first)));
        let again = Reconnect {
            hostport: hostport.clone(),
            tls,
            options: options.clone(),
            peer: peer.clone(),
        };
        let connector = tower::service_fn(move |_: http::Uri| {
            let first = first.lock().ok().and_then(|mut f| f.take());
            let again = again.clone();
            async move {
                let io = match first {
                    Some(io) => io,
                    None => open(&again.hostport, tls, &again.options, &again.peer).await?,
                };
                Ok::<_, Error>(TokioIo::new(io))
            }
        });
        let scheme = if tls { "https" } else { "http" };
        let channel = tonic::transport::Endpoint::from_shared(format!("{scheme}://{hostport}"))
            .map_err(|e| Error::Config(format!("{peer}: {e}")))?
            .connect_with_connector(connector)
            .await
            .map_err(|e| Error::Protocol(format!("HTTP/2 with {peer}: {e}")))?;
        Ok(FlightClient {
            channel,
            peer,
            flight: options.flight.clone(),
        })
    }

    /// The server's URL.
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

/// What the connector needs to open another connection.
#[derive(Clone)]
struct Reconnect {
    hostport: String,
    tls: bool,
    options: ClientOptions,
    peer: String,
}

/// TCP to `hostport` and, with `tls`, the TLS handshake offering ALPN `h2`
/// (gRPC servers such as Arrow C++'s require it).
async fn open(
    hostport: &str,
    tls: bool,
    options: &ClientOptions,
    peer: &str,
) -> Result<Box<dyn Io>> {
    if tls {
        #[cfg(feature = "tls")]
        {
            let mut config = match &options.tls {
                Some(c) => c.as_ref().clone(),
                None => crate::tls::client_config()?.as_ref().clone(),
            };
            config.alpn_protocols = vec![b"h2".to_vec()];
            let stream = crate::transport::tls::client_stream(
                hostport,
                Some(&Arc::new(config)),
                options.handshake_timeout,
                peer,
            )
            .await?;
            return Ok(Box::new(stream));
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::Config(format!(
            "{peer}: Flight over TLS was not compiled in (lightstream's `flight` and `tls` features)"
        )));
    }
    let _ = options;
    let tcp = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| Error::io(format!("connecting to {peer}"), e))?;
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(tcp))
}

/// Connects to a `grpc://` or `grpc+tls://` endpoint for [`crate::connect`]:
/// the connection's reader runs `DoGet` with `options.flight.ticket`, its
/// writer `DoPut` with the descriptor of `options.flight`.
pub(crate) async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Connection> {
    let client = FlightClient::connect(endpoint, options).await?;
    let peer = client.peer.clone();
    Ok(Connection::new(Call(client), peer))
}

/// A connection whose call starts with the reader or writer.
struct Call(FlightClient);

impl Link for Call {
    fn input(
        self: Box<Self>,
        peer: String,
        _: lightstream_core::DecodeLimits,
    ) -> Pending<'static, Input> {
        Box::pin(std::future::ready(Err(Error::Config(format!(
            "{peer}: DoGet is not implemented yet"
        )))))
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(std::future::ready(Err(Error::Config(format!(
            "{peer}: DoPut is not implemented yet"
        )))))
    }
}
