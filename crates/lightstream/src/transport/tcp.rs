//! TCP: `tcp://host:port` carries the Arrow IPC stream format byte for byte
//! ([`Connection::from_tcp`] wraps a socket you already have). Also what the
//! TCP-based transports (`tls`, `websocket`) share: accepting a socket and
//! telling a probe from a client.
//!
//! What it is not: a framing layer. The reader and writer see the socket's
//! two halves as an `AsyncRead` and an `AsyncWrite`.

use tokio::net::{TcpListener, TcpStream};

#[cfg(feature = "tcp")]
use crate::connection::{Acceptor, Connection, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

#[cfg(feature = "tcp")]
impl Connection {
    /// An existing TCP connection.
    pub fn from_tcp(stream: TcpStream) -> Connection {
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
}

/// Connects to `hostport` (`endpoint` names it in errors).
#[cfg(feature = "tcp")]
pub(crate) async fn connect(hostport: &str, endpoint: &Endpoint) -> Result<Connection> {
    let s = TcpStream::connect(hostport)
        .await
        .map_err(|e| Error::io(format!("connecting to {endpoint}"), e))?;
    Ok(Connection::from_tcp(s))
}

/// Binds `hostport`; the listener's URL has the port the system chose.
#[cfg(feature = "tcp")]
pub(crate) async fn bind(hostport: &str, endpoint: &Endpoint) -> Result<Listener> {
    let (l, local) = listen(hostport, endpoint).await?;
    Ok(Listener::new(
        TcpAcceptor(l),
        Endpoint::Tcp(local.to_string()),
    ))
}

#[cfg(feature = "tcp")]
struct TcpAcceptor(TcpListener);

#[cfg(feature = "tcp")]
impl Acceptor for TcpAcceptor {
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            let (s, _) = accept(&self.0, local).await?;
            Ok(Connection::from_tcp(s))
        })
    }
}

/// A TCP listener on `hostport` and its address (`endpoint` names it in errors).
pub(crate) async fn listen(
    hostport: &str,
    endpoint: &Endpoint,
) -> Result<(TcpListener, std::net::SocketAddr)> {
    let ctx = || format!("binding {endpoint}");
    let l = TcpListener::bind(hostport)
        .await
        .map_err(|e| Error::io(ctx(), e))?;
    let local = l.local_addr().map_err(|e| Error::io(ctx(), e))?;
    Ok((l, local))
}

/// The next client of `l` (Nagle off, see [`Connection::from_tcp`]) and its
/// address; `local` names the listener in errors.
pub(crate) async fn accept(
    l: &TcpListener,
    local: &Endpoint,
) -> Result<(TcpStream, std::net::SocketAddr)> {
    let (s, addr) = l
        .accept()
        .await
        .map_err(|e| Error::io(format!("accepting a connection on {local}"), e))?;
    let _ = s.set_nodelay(true);
    Ok((s, addr))
}

/// Whether an accepted TCP connection ends (or is reset) before its first
/// byte: waits for that byte, which the handshake that follows needs anyway,
/// and leaves it in the socket.
#[cfg(any(feature = "websocket", feature = "tls"))]
pub(crate) async fn closed_before_any_byte(tcp: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}
