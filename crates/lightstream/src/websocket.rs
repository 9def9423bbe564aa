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
//! the reader copies each body once into 64-byte aligned memory. A frame
//! must own its payload, so the writer assembles each IPC message once, one
//! frame of at most [`WRITE_FRAME_BYTES`] at a time.

use std::sync::Arc;

use futures_util::{Sink, Stream};
use lightstream_core::{DecodeLimits, ReadOptions, Schema, WriteOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

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

/// The largest frame a writer sends. An IPC message larger than this goes out
/// as one fragmented WebSocket message (a binary frame with `fin = 0`,
/// continuation frames, the last with `fin = 1`), so that a reader never has
/// to accept a frame larger than [`DecodeLimits::STRICT`]'s
/// `max_eager_reserve`; every WebSocket peer (browsers included) reassembles
/// fragmented messages. Smaller frames also keep tungstenite's send buffer
/// (it copies each frame once) at this size instead of a whole message.
pub const WRITE_FRAME_BYTES: usize = 1 << 20;

/// What an endpoint that only writes reads from its peer: control frames
/// (ping, pong, close; at most 125 bytes each), so the frame and message
/// limit of [`write_only_config`].
pub const WRITE_ONLY_READ_BYTES: usize = 64 << 10;

/// The WebSocket configuration of a peer that reads with `limits`: its
/// largest message is one IPC message at its largest (prefix, metadata,
/// body); its largest frame is `limits.max_eager_reserve` (at least
/// [`WRITE_ONLY_READ_BYTES`]), because tungstenite reserves a frame's whole
/// declared length as soon as its header arrives. A larger message must come
/// in several frames; its memory then grows only with the bytes received.
/// For servers that accept the handshake themselves before handing the
/// socket to [`connection`] and read from it.
pub fn config(limits: &DecodeLimits) -> WebSocketConfig {
    let message = limits
        .max_metadata_bytes
        .saturating_add(limits.max_body_bytes)
        .saturating_add(16);
    let frame = limits
        .max_eager_reserve
        .max(WRITE_ONLY_READ_BYTES)
        .min(message);
    WebSocketConfig::default()
        .max_message_size(Some(message))
        .max_frame_size(Some(frame))
}

/// The WebSocket configuration of a peer that only writes (a
/// [`TableWriter`] over WebSocket): it reads only control frames, so frames
/// and messages of at most [`WRITE_ONLY_READ_BYTES`]. A data message from the
/// peer ends the connection ([`TableWriter::finish`] reports it). For
/// servers that accept the handshake themselves before handing the socket to
/// [`connection`] and write to it.
pub fn write_only_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WRITE_ONLY_READ_BYTES)
        .max_message_size(Some(WRITE_ONLY_READ_BYTES))
        .max_frame_size(Some(WRITE_ONLY_READ_BYTES))
}

/// One frame of an IPC message sent in frames of at most
/// [`WRITE_FRAME_BYTES`]: the whole message as one binary message when it is
/// both the `first` and the `last` frame, else a fragment (a binary frame
/// with FIN = 0 first, continuation frames after, FIN = 1 on the `last`).
pub(crate) fn frame(payload: Vec<u8>, first: bool, last: bool) -> Message {
    if first && last {
        return Message::Binary(Bytes::from(payload));
    }
    let opcode = if first {
        OpCode::Data(OpData::Binary)
    } else {
        OpCode::Data(OpData::Continue)
    };
    Message::Frame(Frame::message(payload, opcode, last))
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
/// `limits`: the peer reads with them; `None`: it only writes.
pub(crate) async fn handshake<S>(
    tcp: S,
    url: &str,
    limits: Option<&DecodeLimits>,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let config = limits.map_or_else(write_only_config, config);
    let (ws, _response) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| ws_error(format!("WebSocket handshake with {url}"), e))?;
    Ok(Box::new(ws))
}

/// The server side of the handshake on an accepted connection (TCP or TLS).
/// `limits`: the peer reads with them; `None`: it only writes.
pub(crate) async fn accept<S>(
    tcp: S,
    peer: &str,
    limits: Option<&DecodeLimits>,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let config = limits.map_or_else(write_only_config, config);
    // A request that cannot be upgraded gets its HTTP status here.
    let tcp = crate::upgrade::check(tcp, peer).await?;
    let ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
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
