//! TLS (rustls with ring): certificates, rustls configurations, and the
//! `tls://` and `wss://` transports.
//!
//! `tls://host:port` carries the Arrow IPC stream format byte for byte over
//! TLS over TCP; `wss://host:port/path` is the WebSocket protocol
//! (docs/websocket-protocol.md) over TLS (the `websocket` module runs it over
//! the TLS streams made here). Both go through
//! [`crate::connect`] / [`crate::bind`] like every other endpoint:
//!
//! - a server needs [`crate::ServerOptions::tls`]: [`server_config`] from a
//!   certificate chain and its key ([`load_certs`], [`load_key`] read PEM
//!   files; [`self_signed`] makes one for local use);
//! - a client takes [`crate::ClientOptions::tls`]: `None` trusts the webpki
//!   roots (Mozilla's root certificates, compiled in: [`client_config`]);
//!   [`client_config_trusting`] trusts given certificates (a private CA, a
//!   self-signed server) instead; [`client_config_insecure`] accepts any
//!   certificate (testing only). The URL's host (a name or an IP address) is
//!   the name sent in SNI and checked against the certificate.
//!
//! The certificate helpers ([`self_signed`], [`load_certs`], [`load_key`]) are
//! shared with QUIC and also come with the `quic` feature alone; the
//! configurations and transports need the `tls` feature.
//!
//! A client that does not trust the server's certificate gets a typed error
//! saying so (a full `tls://` round trip is in [the native API guide]):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::{tls, ClientOptions, Error, ServerOptions, TlsProblem};
//!
//! let (certs, key) = tls::self_signed(&["127.0.0.1"])?;
//! let server = ServerOptions { tls: Some(tls::server_config(certs, key)?), ..Default::default() };
//! let listener = lightstream::bind(&"tls://127.0.0.1:0".parse()?, &server).await?;
//! let url = listener.local_url().clone();
//! // The server's handshake runs in `reader`/`writer`: serve in a task of its own.
//! tokio::spawn(async move { listener.accept().await?.reader(Default::default()).await });
//!
//! // `ClientOptions::default()` trusts the webpki roots, which did not sign this certificate.
//! let err = lightstream::connect(&url, &ClientOptions::default()).await.unwrap_err();
//! assert!(matches!(err, Error::Tls { problem: TlsProblem::UntrustedCertificate, .. }), "{err}");
//! # Ok(()) }
//! ```
//!
//! [the native API guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md#tls-lightstreamtls-feature-tls

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// How long a TLS handshake (`tls://`, `wss://`) may take when the options
/// set no other limit.
#[cfg(feature = "tls")]
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The crypto provider of every configuration built here: ring.
///
/// rustls 0.23.48 deprecated `ring::default_provider` because ring has no
/// post-quantum key exchange (rustls offers the X25519MLKEM768 hybrid only
/// with aws-lc-rs). We keep ring on purpose: it is what quinn uses here, and it
/// needs no CMake/NASM build as aws-lc-sys does. The `allow` keeps that
/// deprecation out of every downstream build; docs/native-api.md (TLS) says
/// which key exchanges are offered.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate and its key for `names` (e.g. `["localhost",
/// "127.0.0.1"]`): for tests and local use only.
pub fn self_signed(
    names: &[&str],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::Config(format!("making a self-signed certificate: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    Ok((vec![certified.cert.der().clone()], key))
}

/// Reads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Config(format!("reading certificates from {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads the private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        Error::Config(format!(
            "reading a private key from {}: {e}",
            path.display()
        ))
    })
}

/// A rustls server configuration (ring, `versions`, no client authentication).
pub(crate) fn server_tls(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ServerConfig> {
    rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| Error::Config(format!("TLS server configuration: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("TLS server certificate or key: {e}")))
}

/// A rustls client configuration (ring, `versions`) that trusts exactly `roots`.
pub(crate) fn client_tls_trusting(
    roots: &[CertificateDer<'static>],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for cert in roots {
        store
            .add(cert.clone())
            .map_err(|e| Error::Config(format!("a trusted certificate is unusable: {e}")))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| Error::Config(format!("TLS client configuration: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth())
}

/// A rustls client configuration (ring, `versions`) that accepts any server
/// certificate.
pub(crate) fn client_tls_insecure(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| Error::Config(format!("TLS client configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        .with_no_client_auth())
}

/// Accepts every certificate, but still checks that the server holds its key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(feature = "tls")]
pub use transport::*;

#[cfg(feature = "tls")]
mod transport {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::{TcpListener, TcpStream};

    use super::{client_tls_insecure, client_tls_trusting, provider, server_tls};
    use crate::connection::{Acceptor, Connection, Link, Listener, Pending, Whole};
    use crate::endpoint::Endpoint;
    use crate::error::{Error, Result, TlsProblem};
    use crate::reader::Input;
    use crate::transport::tcp;
    use crate::writer::MessageSink;

    /// A client's TLS connection.
    pub(crate) type ClientStream = TlsIo<tokio_rustls::client::TlsStream<TcpStream>>;
    /// A server's TLS connection.
    pub(crate) type ServerStream = TlsIo<tokio_rustls::server::TlsStream<TcpStream>>;

    /// TLS 1.3 and 1.2.
    const VERSIONS: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];

    /// A TLS server configuration (TLS 1.3 and 1.2, no client authentication,
    /// no ALPN) from a certificate chain and its key, for
    /// [`crate::ServerOptions::tls`].
    ///
    /// It sends no TLS 1.3 session tickets: a client that only writes never
    /// reads them, and a TCP socket closed with unread data is reset, which
    /// could cut off the end of what it wrote.
    pub fn server_config(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<rustls::ServerConfig>> {
        let mut config = server_tls(certs, key, VERSIONS)?;
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }

    /// A TLS client configuration that trusts the webpki roots (Mozilla's
    /// root certificates, compiled in): what `ClientOptions::tls: None` uses.
    pub fn client_config() -> Result<Arc<rustls::ClientConfig>> {
        let store = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| Error::Config(format!("TLS client configuration: {e}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// A TLS client configuration that trusts exactly `roots` (a private CA,
    /// or the server's self-signed certificate), not the webpki roots.
    pub fn client_config_trusting(
        roots: &[CertificateDer<'static>],
    ) -> Result<Arc<rustls::ClientConfig>> {
        Ok(Arc::new(client_tls_trusting(roots, VERSIONS)?))
    }

    /// A TLS client configuration that accepts any server certificate. The
    /// connection is still encrypted, but not authenticated: for localhost
    /// and tests only (the CLI's `--insecure`).
    pub fn client_config_insecure() -> Result<Arc<rustls::ClientConfig>> {
        Ok(Arc::new(client_tls_insecure(VERSIONS)?))
    }

    /// The name a client sends and checks for `host:port` (brackets of an
    /// IPv6 address dropped).
    pub(crate) fn server_name(hostport: &str) -> Result<ServerName<'static>> {
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_string()).map_err(|_| {
            Error::Config(format!(
                "{host:?} is neither a DNS name nor an IP address a TLS certificate can name"
            ))
        })
    }

    /// Connects to a `tls://` endpoint (the TLS handshake included).
    pub(crate) async fn connect(
        hostport: &str,
        endpoint: &Endpoint,
        config: &Option<Arc<rustls::ClientConfig>>,
        timeout: Option<Duration>,
    ) -> Result<Connection> {
        let tls = client_stream(hostport, config.as_ref(), timeout, &endpoint.to_string()).await?;
        let peer = match tls.0.get_ref().0.peer_addr() {
            Ok(addr) => format!("tls {addr}"),
            Err(_) => format!("tls {hostport}"),
        };
        Ok(Connection::new(Whole(tls), peer))
    }

    /// Listens on a `tls://` endpoint; each client's handshake waits for its
    /// [`Connection::reader`] / [`Connection::writer`].
    pub(crate) async fn bind(
        hostport: &str,
        endpoint: &Endpoint,
        config: &Option<Arc<rustls::ServerConfig>>,
        timeout: Option<Duration>,
    ) -> Result<Listener> {
        let side = ServerSide::new(endpoint, config, timeout)?;
        let (listener, local) = tcp::listen(hostport, endpoint).await?;
        let acceptor = TlsAcceptor { listener, side };
        Ok(Listener::new(acceptor, Endpoint::Tls(local.to_string())))
    }

    /// What a `tls://` or `wss://` server needs for each client's handshake.
    #[derive(Clone)]
    pub(crate) struct ServerSide {
        config: Arc<rustls::ServerConfig>,
        timeout: Option<Duration>,
    }

    impl ServerSide {
        /// The server's settings; without a configuration, an error naming
        /// the scheme of `endpoint`.
        pub(crate) fn new(
            endpoint: &Endpoint,
            config: &Option<Arc<rustls::ServerConfig>>,
            timeout: Option<Duration>,
        ) -> Result<ServerSide> {
            let config = config.clone().ok_or_else(|| {
                Error::Config(format!(
                    "a {} server needs a TLS certificate (ServerOptions::tls; \
                     lightstream::tls::server_config with load_certs/load_key or self_signed)",
                    match endpoint {
                        Endpoint::Tls(_) => "tls://",
                        Endpoint::Https(_) => "https://",
                        Endpoint::GrpcTls { .. } => "grpc+tls://",
                        _ => "wss://",
                    }
                ))
            })?;
            Ok(ServerSide { config, timeout })
        }

        /// The same server offering `protocols` by ALPN (`https://`: h2 and
        /// http/1.1).
        #[cfg(feature = "http")]
        pub(crate) fn with_alpn(mut self, protocols: &[&[u8]]) -> ServerSide {
            let mut config = self.config.as_ref().clone();
            config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
            self.config = Arc::new(config);
            self
        }

        /// Runs the server's handshake on `tcp`; `peer` names the client.
        pub(crate) async fn handshake(&self, tcp: TcpStream, peer: &str) -> Result<ServerStream> {
            server_stream(tcp, self.config.clone(), self.timeout, peer).await
        }
    }

    struct TlsAcceptor {
        listener: TcpListener,
        side: ServerSide,
    }

    impl Acceptor for TlsAcceptor {
        fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
            Box::pin(async move {
                let (tcp, addr) = tcp::accept(&self.listener, local).await?;
                let pending = TlsPending {
                    tcp,
                    side: self.side.clone(),
                };
                Ok(Connection::new(pending, format!("tls {addr}")))
            })
        }
    }

    /// An accepted TCP connection whose TLS handshake is still to come.
    struct TlsPending {
        tcp: TcpStream,
        side: ServerSide,
    }

    impl Link for TlsPending {
        fn input(
            self: Box<Self>,
            peer: String,
            limits: lightstream_core::DecodeLimits,
        ) -> Pending<'static, Input> {
            Box::pin(async move {
                let tls = self.side.handshake(self.tcp, &peer).await?;
                Box::new(Whole(tls)).input(peer, limits).await
            })
        }

        fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
            Box::pin(async move {
                let tls = self.side.handshake(self.tcp, &peer).await?;
                Box::new(Whole(tls)).sink(peer).await
            })
        }

        fn byte_stream(
            self: Box<Self>,
            peer: String,
        ) -> Pending<'static, (crate::reader::BoxRead, crate::writer::BoxWrite)> {
            Box::pin(async move {
                let tls = self.side.handshake(self.tcp, &peer).await?;
                Box::new(Whole(tls)).byte_stream(peer).await
            })
        }
    }

    /// Connects TCP to `hostport` and runs the client's TLS handshake (at most
    /// `timeout`).
    pub(crate) async fn client_stream(
        hostport: &str,
        config: Option<&Arc<rustls::ClientConfig>>,
        timeout: Option<Duration>,
        url: &str,
    ) -> Result<ClientStream> {
        let name = server_name(hostport)?;
        let config = match config {
            Some(c) => c.clone(),
            None => client_config()?,
        };
        let tcp = TcpStream::connect(hostport)
            .await
            .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
        let _ = tcp.set_nodelay(true);
        let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
        let timeout = timeout.unwrap_or(super::DEFAULT_HANDSHAKE_TIMEOUT);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(stream)) => Ok(TlsIo(stream)),
            Ok(Err(e)) => Err(handshake_error(hostport, e, Side::Client)),
            Err(_) => Err(timed_out(hostport, timeout, Side::Client)),
        }
    }

    /// Runs the server's TLS handshake on an accepted TCP connection (at most
    /// `timeout`); `peer` names the client in errors.
    pub(crate) async fn server_stream(
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
        timeout: Option<Duration>,
        peer: &str,
    ) -> Result<ServerStream> {
        let handshake = async {
            if tcp::closed_before_any_byte(&tcp).await {
                return Err(Error::EmptyConnection {
                    peer: peer.to_string(),
                });
            }
            tokio_rustls::TlsAcceptor::from(config)
                .accept(tcp)
                .await
                .map_err(|e| handshake_error(peer, e, Side::Server))
        };
        let timeout = timeout.unwrap_or(super::DEFAULT_HANDSHAKE_TIMEOUT);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(stream)) => Ok(TlsIo(stream)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timed_out(peer, timeout, Side::Server)),
        }
    }

    /// A TLS stream on which a connection closed without TLS `close_notify`
    /// reads as the end of the stream rather than an error. A cut stream is
    /// still caught: the Arrow IPC end-of-stream marker (or the WebSocket
    /// close) is missing, and the reader reports it as truncated, as on every
    /// other transport.
    pub(crate) struct TlsIo<S>(pub(crate) S);

    impl<S: AsyncRead + Unpin> AsyncRead for TlsIo<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            match Pin::new(&mut self.0).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            }
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for TlsIo<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.0.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Side {
        Client,
        Server,
    }

    /// No handshake in time. A server that is silent is usually a Lightstream
    /// server that has accepted but not yet called `reader` / `writer` (where
    /// its handshake runs), not one that speaks something else.
    fn timed_out(peer: &str, timeout: Duration, side: Side) -> Error {
        let hint = match side {
            Side::Client => {
                "the server sent nothing: a Lightstream server answers once it has called \
                 accept and then reader or writer on the connection; or it is not a TLS server"
            }
            Side::Server => "the client sent no TLS hello: is the peer speaking TLS?",
        };
        Error::io(
            format!("TLS handshake with {peer}"),
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no TLS handshake within {:.1} s ({hint})",
                    timeout.as_secs_f64()
                ),
            ),
        )
    }

    /// A failed handshake: what rustls refused, and why as a [`TlsProblem`].
    fn handshake_error(peer: &str, e: std::io::Error, side: Side) -> Error {
        let tls_error = |problem, detail: String| Error::Tls {
            peer: peer.to_string(),
            problem,
            detail,
        };
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return tls_error(
                TlsProblem::NotTls,
                "the connection closed before the handshake finished".to_string(),
            );
        }
        let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return Error::io(format!("TLS handshake with {peer}"), e);
        };
        let problem = match (tls, side) {
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                Side::Client,
            ) => TlsProblem::UntrustedCertificate,
            (
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                ),
                Side::Client,
            ) => TlsProblem::WrongName {
                host: peer.rsplit_once(':').map_or(peer, |(h, _)| h).to_string(),
            },
            (rustls::Error::InvalidMessage(_), _) => TlsProblem::NotTls,
            (
                rustls::Error::AlertReceived(
                    rustls::AlertDescription::UnknownCA
                    | rustls::AlertDescription::BadCertificate
                    | rustls::AlertDescription::CertificateUnknown,
                ),
                Side::Server,
            ) => TlsProblem::CertificateRefused,
            _ => TlsProblem::Other,
        };
        tls_error(problem, tls.to_string())
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        assert_eq!(server_name("localhost:443").unwrap().to_str(), "localhost");
        assert_eq!(server_name("127.0.0.1:4433").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:4433").unwrap().to_str(), "::1");
        assert!(server_name("bad_name!:1").is_err());
    }

    #[test]
    fn configurations_build() {
        let (certs, key) = self_signed(&["localhost"]).unwrap();
        server_config(certs.clone(), key).unwrap();
        client_config().unwrap();
        client_config_trusting(&certs).unwrap();
        client_config_insecure().unwrap();
    }
}
