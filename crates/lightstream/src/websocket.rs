//! WebSocket transport (tokio-tungstenite): one encapsulated Arrow IPC
//! message per binary WebSocket message, over TCP (`ws://`) or, with the
//! `tls` feature, over TLS (`wss://`, rustls through [`crate::tls`]).
//!
//! The protocol is in docs/websocket-protocol.md; the browser transport speaks
//! exactly the same one. In short: the writer sends the schema message, then
//! dictionary and record batch messages, then the 8-byte end-of-stream
//! marker, each in its own binary message, then closes the WebSocket. The
//! reader accepts a binary message that holds several whole IPC messages,
//! refuses one that ends inside an IPC message, refuses text messages, and
//! treats a close (or a dropped connection) before the end marker as a
//! truncated stream.
//!
//! Copies: tungstenite hands over each received message as one buffer, and
//! the reader copies each body once into 64-byte aligned memory. A message
//! must own its payload, so the writer assembles each IPC message once.

use std::sync::Arc;

use futures_util::{Sink, Stream};
use lightstream_core::{DecodeLimits, ReadOptions, Schema, WriteOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::error::{Error, Result};
use crate::net::Connection;
use crate::reader::TableReader;
use crate::writer::{Sink as WriterSink, TableWriter, ws_error};

/// A WebSocket of any underlying stream.
pub(crate) trait WsDuplex:
    Stream<Item = std::result::Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + Unpin
{
}

impl<T> WsDuplex for T where
    T: Stream<Item = std::result::Result<Message, WsError>>
        + Sink<Message, Error = WsError>
        + Send
        + Unpin
{
}

pub(crate) type BoxWebSocket = Box<dyn WsDuplex>;

/// The WebSocket configuration of a peer that reads with `limits`: its
/// largest message and frame are one IPC message at its largest (prefix,
/// metadata, body). For servers that accept the handshake themselves before
/// handing the socket to [`connection`].
pub fn config(limits: &DecodeLimits) -> WebSocketConfig {
    let max = limits
        .max_metadata_bytes
        .saturating_add(limits.max_body_bytes)
        .saturating_add(16);
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// `ws://host:port/path` (or `wss://`) as `("host:port", "/path")`.
pub(crate) fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| Error::Config(format!("{url:?} is not a ws:// or wss:// URL")))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((hostport.to_string(), path.to_string()))
}

/// A connection over an existing WebSocket (client or server side, any
/// underlying stream), for [`Connection::reader`] / [`Connection::writer`].
pub fn connection<S>(ws: WebSocketStream<S>, peer: impl Into<String>) -> Connection
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    Connection::websocket(Box::new(ws), peer.into())
}

/// Connects the TCP socket of a `ws://` URL; the WebSocket handshake waits
/// for [`Connection::reader`] / [`Connection::writer`], which know the limits.
pub(crate) async fn connect(url: &str) -> Result<Connection> {
    let (hostport, _) = split_url(url)?;
    let tcp = tokio::net::TcpStream::connect(hostport.as_str())
        .await
        .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
    let _ = tcp.set_nodelay(true);
    Ok(Connection::websocket_client(tcp, url.to_string()))
}

/// Connects the TCP socket of a `wss://` URL and runs the TLS handshake; the
/// WebSocket handshake waits for [`Connection::reader`] / [`Connection::writer`].
#[cfg(feature = "tls")]
pub(crate) async fn connect_secure(
    url: &str,
    options: &crate::net::ClientOptions,
) -> Result<Connection> {
    let (hostport, _) = split_url(url)?;
    let tls = crate::tls::connect(
        &hostport,
        options.tls.as_ref(),
        options.handshake_timeout,
        url,
    )
    .await?;
    Ok(Connection::secure_websocket_client(tls, url.to_string()))
}

/// The client side of the handshake on a connected stream (TCP or TLS).
pub(crate) async fn handshake<S>(
    tcp: S,
    url: &str,
    limits: Option<&DecodeLimits>,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let limits = limits.copied().unwrap_or(DecodeLimits::DEFAULT);
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(url, tcp, Some(config(&limits)))
            .await
            .map_err(|e| ws_error(format!("WebSocket handshake with {url}"), e))?;
    Ok(Box::new(ws))
}

/// The server side of the handshake on an accepted connection (TCP or TLS).
pub(crate) async fn accept<S>(
    tcp: S,
    peer: &str,
    limits: Option<&DecodeLimits>,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let limits = limits.copied().unwrap_or(DecodeLimits::DEFAULT);
    let ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config(&limits)))
        .await
        .map_err(|e| ws_error(format!("WebSocket handshake with {peer}"), e))?;
    Ok(Box::new(ws))
}

pub(crate) async fn reader(
    ws: BoxWebSocket,
    peer: String,
    options: ReadOptions,
) -> Result<TableReader> {
    TableReader::open(TableReader::messages_source(ws), peer, options, None).await
}

pub(crate) fn writer(
    ws: BoxWebSocket,
    peer: String,
    schema: Arc<Schema>,
    options: WriteOptions,
) -> Result<TableWriter> {
    TableWriter::new(WriterSink::Messages(ws), peer, schema, options, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            split_url("ws://127.0.0.1:80/a/b").unwrap(),
            ("127.0.0.1:80".to_string(), "/a/b".to_string())
        );
        assert_eq!(
            split_url("ws://[::1]:80").unwrap(),
            ("[::1]:80".to_string(), "/".to_string())
        );
        assert_eq!(
            split_url("wss://localhost:443/t").unwrap(),
            ("localhost:443".to_string(), "/t".to_string())
        );
        assert!(split_url("http://x").is_err());
    }
}
