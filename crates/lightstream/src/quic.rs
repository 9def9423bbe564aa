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

use std::net::SocketAddr;
use std::sync::Arc;

use lightstream_core::{ReadOptions, Schema, WriteOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::reader::TableReader;
use crate::writer::{Sink, TableWriter};

pub use crate::tls::{load_certs, load_key, self_signed};

/// The ALPN protocol name the helpers set on both sides.
pub const ALPN: &[u8] = b"lightstream";

/// One QUIC connection, carrying any number of table streams. Cheap to clone.
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
        let send = self
            .conn
            .open_uni()
            .await
            .map_err(|e| connection_error(format!("opening a stream to {}", self.peer), e))?;
        TableWriter::new(
            Sink::Quic(send),
            self.peer.clone(),
            schema,
            options,
            Some(Box::new(self.clone())),
        )
    }

    /// Accepts the next stream the peer opens and reads it as one Arrow IPC
    /// stream; returns once its schema has arrived.
    pub async fn accept_reader(&self, options: ReadOptions) -> Result<TableReader> {
        let recv =
            self.conn.accept_uni().await.map_err(|e| {
                connection_error(format!("accepting a stream from {}", self.peer), e)
            })?;
        TableReader::open(
            TableReader::bytes_source(Box::new(recv)),
            self.peer.clone(),
            options,
            Some(Box::new(self.clone())),
        )
        .await
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
    let mut tls = crate::tls::server_tls(certs, key, &[&rustls::version::TLS13])?;
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
    client_config(crate::tls::client_tls_trusting(
        roots,
        &[&rustls::version::TLS13],
    )?)
}

/// A QUIC client configuration that accepts any server certificate. The
/// connection is still encrypted, but not authenticated: for localhost and
/// tests only (the CLI's `--insecure`).
pub fn client_config_insecure() -> Result<quinn::ClientConfig> {
    client_config(crate::tls::client_tls_insecure(&[&rustls::version::TLS13])?)
}
