//! WebSocket transport (tokio-tungstenite): one encapsulated Arrow IPC
//! message per binary WebSocket message, over TCP (`ws://`) or, with the
//! `tls` feature, over TLS (`wss://`, rustls through [`crate::tls`]).
//!
//! The protocol is in docs/websocket-protocol.md (linked below); the browser transport speaks
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
//!
//! Through the seam: one WebSocket, both halves, is the reader's message
//! stream or the writer's message sink, so either side can answer a peer
//! that breaks the protocol with a Close frame and a status code before it
//! drops the connection (1002 protocol error, 1003 a text message or an
//! Arrow type the reader cannot hold, 1007 inconsistent data, 1009 too
//! large, 1008 data sent to a stream that only writes). tokio-tungstenite's
//! types appear in this module only.
//!
//! `ws://` goes through [`crate::connect`] / [`crate::bind`] like every
//! other endpoint; a browser reads the same stream with the npm package.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};
//!
//! let url = "ws://127.0.0.1:0/tables".parse()?;
//! let listener = lightstream::bind(&url, &ServerOptions::default()).await?;
//! let url = listener.local_url().clone();
//! let serving = tokio::spawn(async move {
//!     let table = tbl!("t", fa_i64!("n", 1, 2, 3));
//!     let conn = listener.accept().await?;
//!     let mut w = conn.writer(Schema::from_table(&table).into(), WriteOptions::default()).await?;
//!     w.write(&table).await?;
//!     w.finish().await
//! });
//! let conn = lightstream::connect(&url, &ClientOptions::default()).await?;
//! let mut reader = conn.reader(ReadOptions::default()).await?;
//! reader.set_require_end_marker(true);
//! let tables = reader.read_all().await?;
//! assert_eq!(tables[0].n_rows, 3);
//! serving.await.expect("server task")?;
//! # Ok(()) }
//! ```
//!
//! [The WebSocket protocol](https://github.com/lightstream-rs/lightstream/blob/main/docs/websocket-protocol.md)
//! says what each message holds and which Close codes mean what.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use lightstream_core::{DecodeLimits, EncodedMessage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake;
use tokio_tungstenite::tungstenite::http::HeaderValue;
pub use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use crate::connection::{Acceptor, Connection, Link, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::reader::{Input, MessageStream, Violation};
use crate::transport::tcp;
use crate::transport::upgrade::{self, Gate};
use crate::writer::{
    ABORT_WAIT, Limit, MessageSink, SendError, SinkFuture, bounded, closing, closing_stalled,
    fill_from, write_all_slices,
};

/// The subprotocol of docs/websocket-protocol.md, offered by our client and
/// answered by our servers (also `lightstream::http::SUBPROTOCOL`).
pub const SUBPROTOCOL: &str = "lightstream.arrow.v1";

/// A WebSocket of any underlying stream.
pub(crate) trait WsDuplex:
    Stream<Item = std::result::Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + Unpin
{
    /// The stream under the WebSocket, for a server's data frames written
    /// by [`WsSink::send_shared`] itself (see there); only between whole
    /// messages, with tungstenite's own buffer flushed.
    fn under(&mut self) -> &mut (dyn AsyncWrite + Send + Unpin);
}

impl<S> WsDuplex for WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    fn under(&mut self) -> &mut (dyn AsyncWrite + Send + Unpin) {
        self.get_mut()
    }
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
    let message = limits.max_message_bytes();
    let frame = limits
        .max_eager_reserve
        .max(WRITE_ONLY_READ_BYTES)
        .min(message);
    WebSocketConfig::default()
        .max_message_size(Some(message))
        .max_frame_size(Some(frame))
}

/// The WebSocket configuration of a peer that only writes (a
/// [`TableWriter`](crate::TableWriter) over WebSocket): it reads only
/// control frames, so frames and messages of at most
/// [`WRITE_ONLY_READ_BYTES`]. A data message from the peer ends the
/// connection ([`TableWriter::finish`](crate::TableWriter::finish) reports
/// it). For servers that accept the handshake themselves before handing the
/// socket to [`connection`] and write to it.
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
fn frame(payload: Vec<u8>, first: bool, last: bool) -> Message {
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
fn split_url(url: &str) -> Result<(String, String)> {
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

/// A connection over an existing WebSocket (any underlying stream), for
/// [`Connection::reader`] / [`Connection::writer`] / a hub subscription.
/// `role` is the one the WebSocket was made with: on the server side
/// (`Role::Server`: an upgrade your HTTP server accepted) a hub writes its
/// shared messages' frames itself, unmasked, without tungstenite copying
/// them; on the client side tungstenite masks and writes every frame.
pub fn connection<S>(ws: WebSocketStream<S>, role: Role, peer: impl Into<String>) -> Connection
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    Connection::new(
        Open {
            ws: Box::new(ws),
            server: role == Role::Server,
        },
        peer,
    )
}

/// Any stream a WebSocket runs over (TCP, TLS).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Connects the TCP socket of a `ws://` URL; the WebSocket handshake waits
/// for [`Connection::reader`] / [`Connection::writer`], which know the limits.
pub(crate) async fn connect(url: &str, token: Option<&str>) -> Result<Connection> {
    let (hostport, _) = split_url(url)?;
    let tcp = TcpStream::connect(hostport.as_str())
        .await
        .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
    let _ = tcp.set_nodelay(true);
    Ok(client(Box::new(tcp), url, token))
}

/// Connects the TCP socket of a `wss://` URL and runs the TLS handshake; the
/// WebSocket handshake waits for [`Connection::reader`] / [`Connection::writer`].
#[cfg(feature = "tls")]
pub(crate) async fn connect_secure(
    url: &str,
    config: &Option<std::sync::Arc<rustls::ClientConfig>>,
    timeout: Option<Duration>,
    token: Option<&str>,
) -> Result<Connection> {
    let (hostport, _) = split_url(url)?;
    let tls =
        crate::transport::tls::client_stream(&hostport, config.as_ref(), timeout, url).await?;
    Ok(client(Box::new(tls), url, token))
}

/// A client connection whose WebSocket handshake is still to come.
fn client(io: Box<dyn Io>, url: &str, token: Option<&str>) -> Connection {
    // The URL says the scheme already ("ws://...", not "ws ws://...").
    Connection::new(
        ClientPending {
            io,
            url: url.to_string(),
            token: token.map(str::to_string),
        },
        url,
    )
}

/// Listens on a `ws://` URL (any path: the request's is not checked; its
/// head is, against `gate`: see `upgrade.rs`).
pub(crate) async fn bind(url: &str, endpoint: &Endpoint, gate: Gate) -> Result<Listener> {
    let (hostport, path) = split_url(url)?;
    let (listener, local) = tcp::listen(&hostport, endpoint).await?;
    let acceptor = WsAcceptor {
        listener,
        tls: None,
        gate,
    };
    let local = Endpoint::WebSocket(format!("ws://{local}{path}"));
    Ok(Listener::new(acceptor, local))
}

/// Listens on a `wss://` URL; each client's TLS and WebSocket handshakes
/// wait for its [`Connection::reader`] / [`Connection::writer`].
#[cfg(feature = "tls")]
pub(crate) async fn bind_secure(
    url: &str,
    endpoint: &Endpoint,
    config: &Option<std::sync::Arc<rustls::ServerConfig>>,
    timeout: Option<Duration>,
    gate: Gate,
) -> Result<Listener> {
    let side = crate::transport::tls::ServerSide::new(endpoint, config, timeout)?;
    let (hostport, path) = split_url(url)?;
    let (listener, local) = tcp::listen(&hostport, endpoint).await?;
    let acceptor = WsAcceptor {
        listener,
        tls: Some(side),
        gate,
    };
    let local = Endpoint::SecureWebSocket(format!("wss://{local}{path}"));
    Ok(Listener::new(acceptor, local))
}

/// The TLS side of a `wss://` server (none without the `tls` feature).
#[cfg(feature = "tls")]
type TlsSide = crate::transport::tls::ServerSide;
#[cfg(not(feature = "tls"))]
type TlsSide = NoTls;

/// No TLS side can exist without the `tls` feature. Not `Copy` (unlike
/// `Infallible`), so `tls.clone()` reads the same in both builds.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum NoTls {}

struct WsAcceptor {
    listener: TcpListener,
    tls: Option<TlsSide>,
    gate: Gate,
}

impl Acceptor for WsAcceptor {
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            let (tcp, addr) = tcp::accept(&self.listener, local).await?;
            let scheme = if self.tls.is_some() { "wss" } else { "ws" };
            let pending = ServerPending {
                tcp,
                tls: self.tls.clone(),
                gate: self.gate.clone(),
            };
            Ok(Connection::new(pending, format!("{scheme} {addr}")))
        })
    }
}

/// An accepted TCP connection whose (TLS and) WebSocket handshakes are
/// still to come.
struct ServerPending {
    tcp: TcpStream,
    tls: Option<TlsSide>,
    gate: Gate,
}

impl ServerPending {
    /// The server's handshakes; `limits`: the peer reads with them; `None`:
    /// it only writes.
    async fn open(self, peer: &str, limits: Option<&DecodeLimits>) -> Result<BoxWebSocket> {
        match self.tls {
            None => {
                if tcp::closed_before_any_byte(&self.tcp).await {
                    return Err(Error::EmptyConnection {
                        peer: peer.to_string(),
                    });
                }
                accept(self.tcp, peer, limits, &self.gate).await
            }
            #[cfg(feature = "tls")]
            Some(side) => {
                let tls = side.handshake(self.tcp, peer).await?;
                accept(tls, peer, limits, &self.gate).await
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }
}

impl Link for ServerPending {
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            let ws = self.open(&peer, Some(&limits)).await?;
            Ok(messages(ws, peer))
        })
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move { Ok(sink(self.open(&peer, None).await?, peer, true)) })
    }

    /// `503 Service Unavailable` with `Retry-After`, once the upgrade
    /// request has arrived (after the TLS handshake for `wss://`).
    fn turn_away(
        self: Box<Self>,
        peer: String,
        retry_after: Duration,
        reason: String,
    ) -> Pending<'static, ()> {
        Box::pin(async move {
            match self.tls {
                None => upgrade::busy(self.tcp, &peer, retry_after, &reason).await,
                #[cfg(feature = "tls")]
                Some(side) => {
                    let tls = side.handshake(self.tcp, &peer).await?;
                    upgrade::busy(tls, &peer, retry_after, &reason).await
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
        })
    }
}

/// A client connection (TCP or TLS) whose WebSocket handshake is still to come.
struct ClientPending {
    io: Box<dyn Io>,
    url: String,
    /// Sent as `Authorization: Bearer` (see [`ClientOptions::token`]).
    ///
    /// [`ClientOptions::token`]: crate::ClientOptions::token
    token: Option<String>,
}

impl Link for ClientPending {
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            let ws = handshake(self.io, &self.url, self.token.as_deref(), Some(&limits)).await?;
            Ok(messages(ws, peer))
        })
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move {
            Ok(sink(
                handshake(self.io, &self.url, self.token.as_deref(), None).await?,
                peer,
                false,
            ))
        })
    }
}

/// A WebSocket whose handshake is done ([`connection`]).
struct Open {
    ws: BoxWebSocket,
    server: bool,
}

impl Link for Open {
    fn input(self: Box<Self>, peer: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(std::future::ready(Ok(messages(self.ws, peer))))
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(std::future::ready(Ok(sink(self.ws, peer, self.server))))
    }
}

/// The client side of the handshake on a connected stream (TCP or TLS),
/// offering the subprotocol [`SUBPROTOCOL`] (tungstenite then requires the
/// server to answer with it, as browsers do) and sending `token` as
/// `Authorization: Bearer`. `limits`: the peer reads with them; `None`: it
/// only writes.
async fn handshake<S>(
    tcp: S,
    url: &str,
    token: Option<&str>,
    limits: Option<&DecodeLimits>,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let config = limits.map_or_else(write_only_config, config);
    let mut request = url
        .into_client_request()
        .map_err(|e| ws_error(format!("WebSocket handshake with {url}"), e))?;
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if let Some(token) = token {
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Config("an access token must be printable ASCII without line breaks".into())
        })?;
        headers.insert("Authorization", bearer);
    }
    let (ws, _response) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .map_err(|e| ws_error(format!("WebSocket handshake with {url}"), e))?;
    Ok(Box::new(ws))
}

/// The server side of the handshake on an accepted connection (TCP or TLS).
/// `limits`: the peer reads with them; `None`: it only writes.
async fn accept<S>(
    tcp: S,
    peer: &str,
    limits: Option<&DecodeLimits>,
    gate: &Gate,
) -> Result<BoxWebSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    use tokio_tungstenite::tungstenite::handshake::server::{
        ErrorResponse, Request as Asked, Response as Answer,
    };
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let config = limits.map_or_else(write_only_config, config);
    // A request that cannot be upgraded, or may not, gets its HTTP status here.
    let admitted = upgrade::check(tcp, peer, gate).await?;
    let subprotocol = admitted.subprotocol;
    // The signature is tungstenite's `Callback`.
    #[allow(clippy::result_large_err)]
    let name = move |_: &Asked, mut answer: Answer| -> std::result::Result<Answer, ErrorResponse> {
        if let Some(p) = subprotocol {
            answer
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
        }
        Ok(answer)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(admitted.stream, name, Some(config))
        .await
        .map_err(|e| ws_error(format!("WebSocket handshake with {peer}"), e))?;
    Ok(Box::new(ws))
}

/// For a server that accepts WebSockets with tungstenite itself
/// (`tokio_tungstenite::accept_hdr_async(stream, answer_subprotocol)`): the
/// answer names [`SUBPROTOCOL`] when the client offered it, as our clients
/// do (a browser, and tungstenite, fail a handshake that offered
/// subprotocols and got none back); others it offered stay unanswered.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
pub fn answer_subprotocol(
    request: &handshake::server::Request,
    mut response: handshake::server::Response,
) -> std::result::Result<handshake::server::Response, handshake::server::ErrorResponse> {
    let offered = request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if offered {
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(response)
}

/// A tungstenite error while `context`: I/O errors stay I/O errors.
fn ws_error(context: String, e: WsError) -> Error {
    match e {
        WsError::Io(e) => Error::io(context, e),
        e => Error::Protocol(format!("WebSocket error while {context}: {e}")),
    }
}

// ------------------------------------------------------------ refusing --

/// How long telling a misbehaving peer why it is dropped may take (queueing
/// and flushing the Close frame; a peer that does not read gets no more).
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The status code that says `why` (RFC 6455, section 7.4.1).
fn close_code(why: Violation) -> CloseCode {
    match why {
        Violation::Protocol => CloseCode::Protocol,
        Violation::TooLarge => CloseCode::Size,
        Violation::Unsupported => CloseCode::Unsupported,
        Violation::InvalidData => CloseCode::Invalid,
    }
}

/// A Close frame with `code` and `reason`, cut to the 123 bytes a control
/// frame leaves for it.
fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: Utf8Bytes::from(reason[..end].to_string()),
    }
}

/// Sends `frame` on `ws` and flushes it, within [`CLOSE_WAIT`]; errors are
/// ignored (the peer is being dropped anyway).
async fn send_close(ws: &mut BoxWebSocket, frame: CloseFrame) {
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.send(Message::Close(Some(frame)))).await;
}

// ------------------------------------------------------------- reading --

/// The reader's side: a WebSocket (both halves) as a stream of binary
/// payloads.
fn messages(ws: BoxWebSocket, peer: String) -> Input {
    Input::Messages(Box::new(WsMessages {
        ws,
        peer,
        data: 0,
        closing: None,
    }))
}

struct WsMessages {
    ws: BoxWebSocket,
    peer: String,
    /// Data messages received.
    data: u64,
    /// A Close frame being sent, and the error to return after it.
    closing: Option<Closing>,
}

/// The end of a reader's WebSocket: our Close frame (if we refuse the
/// peer) until it is queued, then the flush that sends it (or the answer to
/// the peer's Close); bounded by `timer`. Then `error`, if any, is returned.
struct Closing {
    frame: Option<CloseFrame>,
    timer: Pin<Box<tokio::time::Sleep>>,
    done: bool,
    error: Option<Error>,
}

impl Closing {
    fn new(frame: Option<CloseFrame>, error: Option<Error>) -> Closing {
        Closing {
            frame,
            timer: Box::pin(tokio::time::sleep(CLOSE_WAIT)),
            done: false,
            error,
        }
    }
}

impl WsMessages {
    /// Starts telling the peer `why` before `error` is returned.
    fn refuse(&mut self, why: Violation, reason: &str, error: Option<Error>) {
        if self.closing.is_none() {
            let frame = close_frame(close_code(why), reason);
            self.closing = Some(Closing::new(Some(frame), error));
        }
    }

    /// Drives the Close frame out (or gives up after [`CLOSE_WAIT`]).
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let WsMessages { ws, closing, .. } = self;
        let Some(c) = closing else {
            return Poll::Ready(());
        };
        while !c.done {
            if c.timer.as_mut().poll(cx).is_ready() {
                c.done = true;
                break;
            }
            let mut ws = Pin::new(&mut *ws);
            match c.frame.take() {
                Some(frame) => match ws.as_mut().poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        if ws.start_send(Message::Close(Some(frame))).is_err() {
                            c.done = true;
                        }
                    }
                    Poll::Ready(Err(_)) => c.done = true,
                    Poll::Pending => {
                        c.frame = Some(frame);
                        return Poll::Pending;
                    }
                },
                None => {
                    ready!(ws.poll_flush(cx)).ok();
                    c.done = true;
                }
            }
        }
        Poll::Ready(())
    }
}

impl MessageStream for WsMessages {
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        loop {
            if self.closing.is_some() {
                ready!(self.poll_closing(cx));
                return Poll::Ready(self.closing.as_mut().and_then(|c| c.error.take()).map(Err));
            }
            let peer = &self.peer;
            let (why, reason, error) = match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(Message::Close(_))) => {
                    // The end: tungstenite queued the answer to the peer's
                    // Close; flush it before the stream ends.
                    self.closing = Some(Closing::new(None, None));
                    continue;
                }
                Some(Ok(Message::Binary(b))) => {
                    self.data += 1;
                    return Poll::Ready(Some(Ok(b)));
                }
                Some(Ok(Message::Text(_))) => (
                    Violation::Unsupported,
                    "a text message: Arrow IPC comes in binary messages".to_string(),
                    Error::Protocol(format!(
                        "WebSocket message {} from {peer} is a text message; Arrow IPC \
                         messages come in binary messages",
                        self.data + 1
                    )),
                ),
                Some(Ok(_)) => continue, // ping, pong: tungstenite answers them
                Some(Err(WsError::Io(e))) => {
                    return Poll::Ready(Some(Err(Error::io(format!("reading from {peer}"), e))));
                }
                Some(Err(WsError::Capacity(e))) => (
                    Violation::TooLarge,
                    e.to_string(),
                    Error::Protocol(format!(
                        "WebSocket frame or message from {peer} is too large ({e}): a frame \
                         may hold at most DecodeLimits::max_eager_reserve bytes (larger \
                         messages come fragmented), a message one IPC message"
                    )),
                ),
                // A connection dropped without a closing handshake is, for
                // the IPC stream, the end of its input.
                Some(Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                )) => return Poll::Ready(None),
                Some(Err(e)) => {
                    let why = match e {
                        WsError::Utf8(_) => Violation::InvalidData,
                        _ => Violation::Protocol,
                    };
                    let error = Error::Protocol(format!("WebSocket error from {peer}: {e}"));
                    (why, e.to_string(), error)
                }
            };
            self.refuse(why, &reason, Some(error));
        }
    }

    fn poll_refuse(&mut self, cx: &mut Context<'_>, why: Violation, reason: &str) -> Poll<()> {
        self.refuse(why, reason, None);
        self.poll_closing(cx)
    }

    fn unit(&self) -> &'static str {
        "WebSocket message"
    }
}

// ------------------------------------------------------------- writing --

/// The writer's side: a WebSocket (both halves) as a message sink.
/// `server`: this end accepted the WebSocket, so its frames go unmasked
/// (RFC 6455 5.1) and [`WsSink::send_shared`] may write them itself.
fn sink(ws: BoxWebSocket, peer: String, server: bool) -> Box<dyn MessageSink> {
    Box::new(WsSink { ws, peer, server })
}

struct WsSink {
    ws: BoxWebSocket,
    peer: String,
    server: bool,
}

/// The header of an unmasked data frame of `len` payload bytes: the first
/// frame of a binary message or a continuation, `fin` on the last.
fn data_frame_header(len: usize, first: bool, fin: bool) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = u8::from(fin) << 7 | if first { 0x2 } else { 0x0 };
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
}

impl MessageSink for WsSink {
    /// Frames of at most [`WRITE_FRAME_BYTES`], each assembled from the
    /// message's slices just before it is sent: a writer holds one frame,
    /// never a whole message (a peer that stops reading costs at most a
    /// frame here and one in tungstenite's send buffer). The message is
    /// bounded as a whole (see [`Limit`]), with the frames the peer took so
    /// far earning time at the minimum rate.
    fn send<'a>(
        &'a mut self,
        m: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let WsSink { ws: s, peer, .. } = self;
            let total = m.len();
            let started = tokio::time::Instant::now();
            let mut taken = 0u64;
            let capacity = total.min(WRITE_FRAME_BYTES);
            let mut payload = Vec::with_capacity(capacity);
            let (mut done, mut first) = (0, true);
            let slices = m.io_slices();
            let mut pieces = slices.iter().map(|s| &s[..]).filter(|s| !s.is_empty());
            let mut piece: &[u8] = pieces.next().unwrap_or_default();
            loop {
                fill_from(&mut payload, WRITE_FRAME_BYTES, &mut piece, &mut pieces);
                done += payload.len();
                let last = done >= total;
                let allowed = limit.map(|l| l.allowed(taken));
                let left = allowed
                    .map(|a| (started + a).saturating_duration_since(tokio::time::Instant::now()));
                let frame_len = payload.len() as u64;
                let next = if last {
                    std::mem::take(&mut payload)
                } else {
                    std::mem::replace(&mut payload, Vec::with_capacity(capacity))
                };
                match bounded(left, s.send(frame(next, first, last))).await {
                    Ok(Ok(())) => taken += frame_len,
                    Ok(Err(WsError::Io(e))) => return Err(SendError::Io(e)),
                    Ok(Err(e)) => {
                        return Err(SendError::Failed(ws_error(format!("writing to {peer}"), e)));
                    }
                    Err(_) => return Err(SendError::Stalled(allowed.unwrap_or_default(), taken)),
                }
                if last {
                    return Ok(());
                }
                first = false;
            }
        })
    }

    /// Each message is one WebSocket message whose frames (at most
    /// [`WRITE_FRAME_BYTES`]) are slices of the shared bytes: every
    /// subscriber of a hub sends the same payload, none copies it.
    ///
    /// On the server side the frames are written here, not by tungstenite:
    /// each frame's header and a slice of the shared bytes go to the socket
    /// in one vectored write, so not even tungstenite's write buffer holds a
    /// copy per subscriber. (A client must mask its frames, which is a copy:
    /// there tungstenite writes them.)
    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        if self.server {
            return Box::pin(async move {
                let WsSink { ws: s, peer, .. } = self;
                // Nothing of tungstenite's may be left half-written.
                s.flush().await.map_err(|e| match e {
                    WsError::Io(e) => SendError::Io(e),
                    e => SendError::Failed(ws_error(format!("writing to {peer}"), e)),
                })?;
                let mut headers = Vec::new();
                let mut frames = Vec::new();
                for m in messages {
                    let mut at = 0;
                    loop {
                        let end = m.len().min(at + WRITE_FRAME_BYTES);
                        headers.push(data_frame_header(end - at, at == 0, end == m.len()));
                        frames.push(&m[at..end]);
                        if end == m.len() {
                            break;
                        }
                        at = end;
                    }
                }
                let slices = headers
                    .iter()
                    .zip(&frames)
                    .flat_map(|((h, n), f)| [IoSlice::new(&h[..*n]), IoSlice::new(f)])
                    .collect();
                let w = s.under();
                write_all_slices(w, slices, limit).await?;
                tokio::io::AsyncWriteExt::flush(w)
                    .await
                    .map_err(SendError::Io)
            });
        }
        Box::pin(async move {
            let WsSink { ws: s, peer, .. } = self;
            let started = tokio::time::Instant::now();
            let mut taken = 0u64;
            for m in messages {
                let mut at = 0;
                loop {
                    let end = m.len().min(at + WRITE_FRAME_BYTES);
                    let (first, last) = (at == 0, end == m.len());
                    let payload = m.slice(at..end);
                    let next = if first && last {
                        Message::Binary(payload)
                    } else {
                        let opcode = if first {
                            OpCode::Data(OpData::Binary)
                        } else {
                            OpCode::Data(OpData::Continue)
                        };
                        Message::Frame(Frame::message(payload, opcode, last))
                    };
                    let allowed = limit.map(|l| l.allowed(taken));
                    let left = allowed.map(|a| {
                        (started + a).saturating_duration_since(tokio::time::Instant::now())
                    });
                    match bounded(left, s.send(next)).await {
                        Ok(Ok(())) => taken += (end - at) as u64,
                        Ok(Err(WsError::Io(e))) => return Err(SendError::Io(e)),
                        Ok(Err(e)) => {
                            return Err(SendError::Failed(ws_error(
                                format!("writing to {peer}"),
                                e,
                            )));
                        }
                        Err(_) => {
                            return Err(SendError::Stalled(allowed.unwrap_or_default(), taken));
                        }
                    }
                    if last {
                        break;
                    }
                    at = end;
                }
            }
            Ok(())
        })
    }

    /// A Close frame with status 1008 (policy) and `reason`, without waiting
    /// for the peer's: a peer that stopped reading may never answer.
    fn abort<'a>(&'a mut self, _: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let frame = close_frame(CloseCode::Policy, reason);
            let _ =
                tokio::time::timeout(ABORT_WAIT, self.ws.send(Message::Close(Some(frame)))).await;
        })
    }

    /// The closing handshake: our Close, then (briefly) the peer's. A writer
    /// reads only control frames (its WebSocket reads at most
    /// [`WRITE_ONLY_READ_BYTES`] a frame): a data message, or a larger
    /// frame, is a peer that broke the protocol, reported here and not
    /// buffered. One that arrived before our Close is answered with status
    /// 1008 (policy: data sent to a stream that only writes).
    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let s = &mut self.ws;
            if let Some((frame, error)) = arrived_data(s, peer) {
                send_close(s, frame).await;
                return Err(error);
            }
            bounded(limit, s.close())
                .await
                .map_err(|after| closing_stalled(peer, after))?
                .map_err(|e| ws_error(closing(peer), e))?;
            // Complete the closing handshake: wait (briefly) for the peer's Close.
            let waited = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match s.next().await {
                        None | Some(Ok(Message::Close(_))) => return Ok(()),
                        Some(Ok(Message::Binary(_) | Message::Text(_))) => {
                            return Err(data_to_writer(peer));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(WsError::Capacity(e))) => return Err(frame_to_writer(peer, &e)),
                        Some(Err(_)) => return Ok(()),
                    }
                }
            })
            .await;
            match waited {
                Ok(Err(e)) => Err(e),
                _ => Ok(()),
            }
        })
    }
}

/// What the peer of a writer sent before the writer's Close, if that was
/// data (or a frame too large for control frames, or a malformed one): the
/// Close frame that answers it, and the writer's error. Reads only what has
/// arrived (control frames are consumed; tungstenite answers pings).
fn arrived_data(s: &mut BoxWebSocket, peer: &str) -> Option<(CloseFrame, Error)> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let only_writes = "this stream only writes: send only control frames";
    loop {
        return match Pin::new(&mut *s).poll_next(&mut cx) {
            Poll::Pending | Poll::Ready(None) | Poll::Ready(Some(Ok(Message::Close(_)))) => None,
            Poll::Ready(Some(Ok(Message::Binary(_) | Message::Text(_)))) => Some((
                close_frame(CloseCode::Policy, only_writes),
                data_to_writer(peer),
            )),
            Poll::Ready(Some(Ok(_))) => continue,
            Poll::Ready(Some(Err(WsError::Capacity(e)))) => Some((
                close_frame(CloseCode::Policy, only_writes),
                frame_to_writer(peer, &e),
            )),
            Poll::Ready(Some(Err(WsError::Protocol(
                ProtocolError::ResetWithoutClosingHandshake,
            )))) => None,
            Poll::Ready(Some(Err(WsError::Protocol(e)))) => Some((
                close_frame(CloseCode::Protocol, &e.to_string()),
                Error::Protocol(format!("WebSocket error from {peer}: {e}")),
            )),
            Poll::Ready(Some(Err(_))) => None,
        };
    }
}

fn data_to_writer(peer: &str) -> Error {
    Error::Protocol(format!(
        "{peer} sent a data message to a stream that only writes; dropped"
    ))
}

fn frame_to_writer(peer: &str, e: &impl std::fmt::Display) -> Error {
    Error::Protocol(format!(
        "{peer} sent a WebSocket frame a stream that only writes does not read ({e}; it \
         reads control frames of at most {WRITE_ONLY_READ_BYTES} bytes); dropped"
    ))
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
