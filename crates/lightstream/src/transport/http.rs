//! HTTP transport (hyper): the Arrow IPC stream format as the body of an
//! HTTP response or request, over `http://` and, with the `tls` feature,
//! `https://`.
//!
//! Client ([`crate::connect`]): a connection's reader sends `GET` (with
//! `Accept: application/vnd.apache.arrow.stream` and the IPC body codecs this
//! build decodes, `; codecs="zstd, lz4"`) and reads the streamed response
//! body; its writer sends `POST` with a streamed request body and, at
//! `finish`, waits for the server's answer. A non-2xx answer, or a response
//! that is not `application/vnd.apache.arrow.stream`, is [`Error::Http`]. A
//! body cut short (the server died, the response was aborted) ends the
//! input early: the reader reports a truncated stream (kind `Truncated`),
//! never a short valid one, because the IPC end-of-stream marker is missing.
//! HTTP/1.1 by default; HTTP/2 over TLS when the server offers it by ALPN,
//! and over `http://` with prior knowledge (h2c) on request
//! ([`HttpVersion`]).
//!
//! Server ([`crate::bind`]): hyper-util's auto server (HTTP/1.1 and h2c;
//! HTTP/2 over TLS by ALPN) answering on one path. Each `GET` that passes
//! the [`Access`] policy becomes a [`Connection`] to write to (the `200`
//! response is sent when the application calls `writer`, its body is the
//! stream); each `POST` becomes a connection to read from (answered `200`
//! once the body was read to its end, `400` if the reader stopped early).
//! Other paths get `404`, other methods `405`, a turned-away client `503`
//! with `Retry-After`.
//!
//! What it is not: a web framework. To serve Arrow from routes of your own
//! (axum, hyper) use [`crate::http`] directly; this module is the built-in
//! server and client behind `http://` URLs. hyper's types stay inside it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lightstream_core::{Compression, DecodeLimits, EncodedMessage, WriteOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::connection::{Acceptor, Connection, Link, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, HttpProblem, Result};
use crate::http::{
    Access, CONTENT_TYPE, allow_origin, channel, content_type, negotiate_compression,
};
use crate::reader::Input;
use crate::transport::tcp;
use crate::writer::{Limit, MessageSink, SendError, SinkFuture};

/// Which HTTP version a client speaks ([`crate::ClientOptions::http_version`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.1 over `http://`; over `https://`, HTTP/2 when the server
    /// offers it by ALPN, else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: with prior knowledge (h2c) over `http://`, by ALPN over
    /// `https://` (a server that does not agree to `h2` is an error at
    /// connect).
    Http2,
}

/// Bodies of requests and responses: an Arrow stream, or a short text.
type BoxBody = UnsyncBoxBody<Bytes, Error>;

/// The part of a URL this module needs.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port` to connect to (the scheme's port when not given).
    hostport: String,
    /// The `Host` header: the URL's authority as written.
    authority: String,
    /// Path and query, `/` at least.
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let (rest, port) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, 80)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (rest, 443)
        } else {
            return Err(Error::Config(format!(
                "{url:?} is not an http:// or https:// URL"
            )));
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let path_and_query = match &rest[end..] {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        // A port is there unless the authority is a bare name or `[v6]`.
        let has_port = authority.rsplit_once(':').is_some() && !authority.ends_with(']');
        let hostport = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{port}")
        };
        Ok(Target {
            hostport,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    /// The path without the query.
    fn path(&self) -> &str {
        self.path_and_query
            .split('?')
            .next()
            .unwrap_or(&self.path_and_query)
    }
}

/// Any stream HTTP runs over (TCP, TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What a client sends besides the stream.
#[derive(Clone, Default)]
pub(crate) struct ClientSettings {
    pub(crate) version: HttpVersion,
    pub(crate) token: Option<String>,
}

/// Connects to an `http://` or `https://` URL (TCP, and the TLS handshake
/// for `https://`); the request waits for [`Connection::reader`] (`GET`) or
/// [`Connection::writer`] (`POST`).
pub(crate) async fn connect(
    url: &str,
    settings: ClientSettings,
    #[cfg(feature = "tls")] tls: (&Option<Arc<rustls::ClientConfig>>, Option<Duration>),
) -> Result<Connection> {
    let target = Target::parse(url)?;
    let (io, h2): (Box<dyn Io>, bool) = if url.starts_with("https://") {
        #[cfg(feature = "tls")]
        {
            let (config, timeout) = tls;
            let config = with_alpn(
                match config {
                    Some(c) => c.as_ref().clone(),
                    None => crate::tls::client_config()?.as_ref().clone(),
                },
                settings.version,
            );
            let stream = crate::transport::tls::client_stream(
                &target.hostport,
                Some(&Arc::new(config)),
                timeout,
                url,
            )
            .await?;
            let h2 = stream.0.get_ref().1.alpn_protocol() == Some(b"h2");
            if settings.version == HttpVersion::Http2 && !h2 {
                // HTTP/2 only: a server that did not agree to it by ALPN
                // would get HTTP/2 frames it does not expect.
                return Err(Error::Protocol(format!(
                    "{url}: the server did not agree to HTTP/2 by ALPN (HTTP/2 only was asked for)"
                )));
            }
            (Box::new(stream), h2)
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::Config(format!(
            "{url}: HTTPS was not compiled in (lightstream's `http` and `tls` features)"
        )));
    } else {
        let tcp = TcpStream::connect(target.hostport.as_str())
            .await
            .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
        let _ = tcp.set_nodelay(true);
        (Box::new(tcp), settings.version == HttpVersion::Http2)
    };
    let link = ClientPending {
        io,
        h2,
        target,
        url: url.to_string(),
        token: settings.token,
    };
    Ok(Connection::new(link, url))
}

/// `config` offering the ALPN protocols of `version`.
#[cfg(feature = "tls")]
fn with_alpn(mut config: rustls::ClientConfig, version: HttpVersion) -> rustls::ClientConfig {
    config.alpn_protocols = match version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    config
}

/// A client connection whose request is still to come.
struct ClientPending {
    io: Box<dyn Io>,
    h2: bool,
    target: Target,
    url: String,
    token: Option<String>,
}

/// hyper's request sender, either version.
enum Sender {
    H1(hyper::client::conn::http1::SendRequest<BoxBody>),
    H2(hyper::client::conn::http2::SendRequest<BoxBody>),
}

impl ClientPending {
    /// The HTTP handshake (the HTTP/2 preface and settings), its connection
    /// driven on a task of its own, and the request to send on it.
    async fn open(self, method: Method, body: BoxBody) -> Result<(Sender, Request<BoxBody>)> {
        let io = TokioIo::new(self.io);
        let failed = |e: hyper::Error| Error::Protocol(format!("HTTP with {}: {e}", self.url));
        let sender = if self.h2 {
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(failed)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2(sender)
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(failed)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H1(sender)
        };
        let mut request = Request::builder().method(method.clone());
        request = if self.h2 {
            // HTTP/2 takes the authority from the URI (`:authority`).
            let scheme = if self.url.starts_with("https://") {
                "https"
            } else {
                "http"
            };
            request.uri(format!(
                "{scheme}://{}{}",
                self.target.authority, self.target.path_and_query
            ))
        } else {
            request
                .uri(self.target.path_and_query.as_str())
                .header(header::HOST, self.target.authority.as_str())
        };
        if method == Method::GET {
            request = request.header(header::ACCEPT, accept_header());
        } else {
            request = request.header(header::CONTENT_TYPE, CONTENT_TYPE);
        }
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(body)
            .map_err(|e| Error::Config(format!("an HTTP request to {}: {e}", self.url)))?;
        Ok((sender, request))
    }
}

impl Sender {
    async fn send(&mut self, request: Request<BoxBody>) -> hyper::Result<Response<Incoming>> {
        match self {
            Sender::H1(s) => s.send_request(request).await,
            Sender::H2(s) => s.send_request(request).await,
        }
    }
}

/// The `Accept` header of a reader: the Arrow stream, with the IPC body
/// codecs this build decodes (the Arrow-over-HTTP examples' convention).
fn accept_header() -> String {
    let codecs: Vec<&str> = [
        #[cfg(feature = "zstd")]
        "zstd",
        #[cfg(feature = "lz4")]
        "lz4",
    ]
    .to_vec();
    if codecs.is_empty() {
        CONTENT_TYPE.to_string()
    } else {
        format!("{CONTENT_TYPE}; codecs=\"{}\"", codecs.join(", "))
    }
}

impl Link for ClientPending {
    fn input(self: Box<Self>, peer: String, _: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            let empty = Empty::new().map_err(|never| match never {}).boxed_unsync();
            let (mut sender, request) = self.open(Method::GET, empty).await?;
            let response = sender
                .send(request)
                .await
                .map_err(|e| Error::Protocol(format!("HTTP GET {peer}: {e}")))?;
            let body = checked(response, &peer, true).await?;
            Ok(Input::Bytes(Box::new(BodyRead::new(body, None))))
        })
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move {
            let (body, inner) = channel();
            let (mut sender, request) = self.open(Method::POST, body.boxed_unsync()).await?;
            let response = tokio::spawn(async move { sender.send(request).await });
            Ok(Box::new(PostSink {
                inner: Box::new(inner),
                response: Some(response),
                peer,
            }) as Box<dyn MessageSink>)
        })
    }
}

/// How much of an error response's body an error quotes.
const EXCERPT_BYTES: usize = 512;
/// How long a client waits for the body of an error response.
const EXCERPT_WAIT: Duration = Duration::from_secs(2);

/// The body of a 2xx response (with `arrow`, an Arrow stream's); an error
/// naming the status and quoting the body otherwise.
async fn checked(response: Response<Incoming>, peer: &str, arrow: bool) -> Result<Incoming> {
    let status = response.status();
    if !status.is_success() {
        let excerpt = excerpt(response.into_body()).await;
        return Err(Error::Http {
            peer: peer.to_string(),
            problem: HttpProblem::Status {
                status: status.as_u16(),
                excerpt,
            },
        });
    }
    if arrow {
        let found = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !found.as_deref().is_some_and(is_arrow_stream) {
            return Err(Error::Http {
                peer: peer.to_string(),
                problem: HttpProblem::ContentType { found },
            });
        }
    }
    Ok(response.into_body())
}

/// Whether a `Content-Type` names the Arrow IPC stream (any parameters).
fn is_arrow_stream(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(CONTENT_TYPE)
}

/// The first [`EXCERPT_BYTES`] of a body as text (lossy), whatever arrived
/// within [`EXCERPT_WAIT`].
async fn excerpt(mut body: Incoming) -> String {
    let mut text = Vec::new();
    let _ = tokio::time::timeout(EXCERPT_WAIT, async {
        while text.len() < EXCERPT_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        text.extend_from_slice(&data);
                    }
                }
                _ => break,
            }
        }
    })
    .await;
    text.truncate(EXCERPT_BYTES);
    String::from_utf8_lossy(&text).trim().to_string()
}

/// A streamed body as bytes to read. An error of the body (a response or
/// request cut short: a connection closed before the last chunk, an HTTP/2
/// stream reset) ends the input, so that the reader sees the stream end
/// where it was cut: a truncated stream, never a short valid one (the IPC
/// end-of-stream marker is missing).
struct BodyRead {
    body: Incoming,
    chunk: Bytes,
    /// Whether the body reached its end.
    ended: bool,
    /// The server's answer to a POST, sent when the reader is done with
    /// the body (see `Drop`).
    respond: Option<oneshot::Sender<Response<BoxBody>>>,
}

impl BodyRead {
    fn new(body: Incoming, respond: Option<oneshot::Sender<Response<BoxBody>>>) -> BodyRead {
        BodyRead {
            body,
            chunk: Bytes::new(),
            ended: false,
            respond,
        }
    }
}

impl AsyncRead for BodyRead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.chunk.is_empty() && !this.ended {
            match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
                // The end, or a cut (see above): no more bytes either way.
                None => this.ended = true,
                Some(Err(_)) => {
                    this.ended = true;
                    // A cut request body was not read to its end.
                    if let Some(tx) = this.respond.take() {
                        let _ = tx.send(text(StatusCode::BAD_REQUEST, "the request body was cut"));
                    }
                }
            }
        }
        let n = this.chunk.len().min(buf.remaining());
        buf.put_slice(&this.chunk.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl Drop for BodyRead {
    /// A POST is answered when its reader is done: `200` once the body was
    /// read to its end, `400` if the reader stopped before (it refused the
    /// stream, or gave up).
    fn drop(&mut self) {
        if let Some(tx) = self.respond.take() {
            let answer = if self.ended {
                text(StatusCode::OK, "received")
            } else {
                text(
                    StatusCode::BAD_REQUEST,
                    "the server stopped reading the stream before its end",
                )
            };
            let _ = tx.send(answer);
        }
    }
}

/// A POST's sink: the request body's messages, and the server's answer,
/// which `finish` waits for (and which ends the writer early when the
/// server refuses the request before reading it all).
struct PostSink {
    inner: Box<dyn MessageSink>,
    response: Option<tokio::task::JoinHandle<hyper::Result<Response<Incoming>>>>,
    peer: String,
}

impl PostSink {
    /// The server's answer as this writer's error, once it has come: an
    /// answer before the end of the body is a refusal unless it is 2xx.
    async fn answer(&mut self, finished: bool) -> Result<()> {
        let Some(handle) = self.response.take() else {
            return Ok(());
        };
        let response = handle
            .await
            .map_err(|e| Error::Protocol(format!("HTTP POST {}: {e}", self.peer)))?
            .map_err(|e| Error::Protocol(format!("HTTP POST {}: {e}", self.peer)))?;
        let status = response.status();
        let _body = checked(response, &self.peer, false).await?;
        if !finished && !status.is_success() {
            return Err(Error::Protocol(format!(
                "HTTP POST {}: answered {status} before the stream ended",
                self.peer
            )));
        }
        Ok(())
    }

    /// `send` on the inner sink, unless the server answers first.
    async fn racing<'a>(
        &'a mut self,
        send: impl FnOnce(
            &'a mut Box<dyn MessageSink>,
        ) -> SinkFuture<'a, std::result::Result<(), SendError>>,
    ) -> std::result::Result<(), SendError> {
        let Some(handle) = self.response.as_mut() else {
            return send(&mut self.inner).await;
        };
        tokio::select! {
            sent = send(&mut self.inner) => sent,
            answered = handle => {
                let peer = self.peer.clone();
                let response = answered
                    .map_err(|e| Error::Protocol(format!("HTTP POST {peer}: {e}")))
                    .and_then(|r| r.map_err(|e| Error::Protocol(format!("HTTP POST {peer}: {e}"))));
                self.response = None;
                Err(SendError::Failed(match response {
                    Ok(response) => match checked(response, &peer, false).await {
                        Err(e) => e,
                        Ok(_) => Error::Protocol(format!(
                            "HTTP POST {peer}: the server answered before the stream ended"
                        )),
                    },
                    Err(e) => e,
                }))
            }
        }
    }
}

impl MessageSink for PostSink {
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, std::result::Result<(), SendError>> {
        Box::pin(self.racing(move |inner| inner.send(message, limit)))
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, std::result::Result<(), SendError>> {
        Box::pin(self.racing(move |inner| inner.send_shared(messages, limit)))
    }

    fn abort<'a>(&'a mut self, peer: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        if let Some(handle) = self.response.take() {
            handle.abort();
        }
        self.inner.abort(peer, reason)
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            self.inner.finish(peer, limit).await?;
            match limit {
                None => self.answer(true).await,
                Some(after) => tokio::time::timeout(after, self.answer(true))
                    .await
                    .map_err(|_| Error::Timeout {
                        stalled: format!("no answer from {peer}"),
                        after,
                        context: "waiting for the answer to the POST".to_string(),
                    })?,
            }
        })
    }
}

/// A short text response.
fn text(status: StatusCode, body: &str) -> Response<BoxBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!("{body}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// What a server needs for every request.
struct Shared {
    /// The one path it answers on.
    path: String,
    access: Access,
    /// Where requests become connections, and the closing signal.
    channels: Channels,
}

/// Listens on an `http://` or `https://` URL (`tls`: the server's TLS side).
pub(crate) async fn bind(
    url: &str,
    endpoint: &Endpoint,
    access: Access,
    #[cfg(feature = "tls")] tls: Option<crate::transport::tls::ServerSide>,
) -> Result<Listener> {
    let target = Target::parse(url)?;
    let (listener, local) = tcp::listen(&target.hostport, endpoint).await?;
    #[cfg(feature = "tls")]
    let secure = tls.is_some();
    #[cfg(not(feature = "tls"))]
    let secure = false;
    let scheme = if secure { "https" } else { "http" };
    let local_endpoint = {
        let url = format!("{scheme}://{local}{}", target.path_and_query);
        if secure {
            Endpoint::Https(url)
        } else {
            Endpoint::Http(url)
        }
    };
    let path = target.path().to_string();
    let acceptor = HttpAcceptor::spawn(
        listener,
        local_endpoint.clone(),
        #[cfg(feature = "tls")]
        tls,
        move |io, addr, channels| {
            let shared = Arc::new(Shared {
                path: path.clone(),
                access: access.clone(),
                channels,
            });
            let peer = format!("{scheme} {addr}");
            serve_connection(io, shared, peer)
        },
    );
    Ok(Listener::new(acceptor, local_endpoint))
}

/// Requests waiting for [`Listener::accept`] beyond which a new one waits
/// (its connection is not read meanwhile).
const ACCEPT_QUEUE: usize = 16;

/// What each connection of a server on hyper (`http://`, `grpc://`) needs
/// from its listener.
#[derive(Clone)]
pub(crate) struct Channels {
    /// Where requests become connections for [`Listener::accept`].
    pub(crate) connections: mpsc::Sender<Connection>,
    /// Set when the listener closes: connections finish what they are
    /// answering, then close.
    pub(crate) closing: watch::Receiver<bool>,
}

/// Any stream a server connection runs over, boxed (TCP, TLS).
pub(crate) type ServerIo = Box<dyn Io>;

/// Serves one TCP (or TLS) connection: HTTP/1.1 or HTTP/2, as the client
/// speaks (h2c by its preface, HTTP/2 over TLS by ALPN).
async fn serve_connection(io: ServerIo, shared: Arc<Shared>, peer: String) {
    let closing = shared.channels.closing.clone();
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        let peer = peer.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(request, &shared, &peer).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    serve_hyper(builder, io, service, closing).await;
}

/// Serves one connection with `builder`'s settings until it ends, or
/// gracefully (what is being answered is finished) once `closing` is set.
pub(crate) async fn serve_hyper<S, B>(
    builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
    io: ServerIo,
    service: S,
    mut closing: watch::Receiver<bool>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { closing.wait_for(|closing| *closing).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The answer to one request: refused, or a connection handed to the
/// application and the answer it makes.
async fn answer(request: Request<Incoming>, shared: &Shared, peer: &str) -> Response<BoxBody> {
    let method = request.method().clone();
    if method == Method::OPTIONS {
        // A page of another origin asks first (its token is a header), on
        // any path: then it can read the 404 of a wrong one.
        let (parts, _) = request.into_parts();
        return shared
            .access
            .preflight::<Full<Bytes>>(&parts)
            .map(|b| b.map_err(|never| match never {}).boxed_unsync());
    }
    let (parts, body) = request.into_parts();
    // A page of an origin the policy lets in may read the answer, whatever
    // it is (a 404, a refused token's 401 too).
    let origin = shared
        .access
        .check_origin(&parts.uri, &parts.headers)
        .ok()
        .flatten();
    let mut response = if parts.uri.path() != shared.path {
        text(StatusCode::NOT_FOUND, "no Arrow stream here")
    } else if method != Method::GET && method != Method::POST {
        let mut refused = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET reads the Arrow stream, POST sends one",
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        refused
    } else {
        respond_to(parts, body, method, shared, peer).await
    };
    allow_origin(response.headers_mut(), origin.as_deref());
    response
}

/// [`answer`] once the path and method are known to be ours.
async fn respond_to(
    parts: http::request::Parts,
    body: Incoming,
    method: Method,
    shared: &Shared,
    peer: &str,
) -> Response<BoxBody> {
    if let Err(refused) = shared.access.check(&parts) {
        return refused
            .response::<Full<Bytes>>()
            .map(|b| b.map_err(|never| match never {}).boxed_unsync());
    }
    let (respond, answered) = oneshot::channel();
    let peer = format!("{peer} {method} {}", parts.uri.path());
    let link: Box<dyn Link> = if method == Method::GET {
        Box::new(ServedGet {
            respond,
            asked: negotiate_compression(&parts.headers),
            chosen: Compression::None,
        })
    } else {
        if let Some(found) = parts.headers.get(header::CONTENT_TYPE)
            && !is_arrow_stream(&String::from_utf8_lossy(found.as_bytes()))
        {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("send {CONTENT_TYPE} (or no Content-Type)"),
            );
        }
        Box::new(ServedPost { body, respond })
    };
    if shared
        .channels
        .connections
        .send(Connection::from_link(link, peer))
        .await
        .is_err()
    {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the server is closing");
    }
    answered.await.unwrap_or_else(|_| {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server dropped the request",
        )
    })
}

/// A GET waiting for the application's writer.
struct ServedGet {
    respond: oneshot::Sender<Response<BoxBody>>,
    /// The IPC body codec the client asked for first (`Accept: ...;
    /// codecs=...`), and the one the stream is written with.
    asked: Compression,
    chosen: Compression,
}

impl Link for ServedGet {
    fn input(self: Box<Self>, peer: String, _: DecodeLimits) -> Pending<'static, Input> {
        wrong_direction(self.respond, &peer, "GET", "POST")
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        let _ = peer;
        Box::pin(async move {
            let (body, sink) = channel();
            let mut response = Response::new(body.boxed_unsync());
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type(self.chosen));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let _ = self.respond.send(response);
            Ok(Box::new(sink) as Box<dyn MessageSink>)
        })
    }

    /// A server that compresses uses the codec the client asked for, and
    /// none for a client that asked for none (it may not decode any).
    fn write_options(&mut self, options: WriteOptions) -> WriteOptions {
        self.chosen = match options.compression {
            Compression::None => Compression::None,
            _ => self.asked,
        };
        WriteOptions {
            compression: self.chosen,
            ..options
        }
    }

    fn turn_away(self: Box<Self>, _: String, after: Duration, why: String) -> Pending<'static, ()> {
        busy(self.respond, after, &why)
    }
}

/// The application read from a GET or wrote to a POST: the client gets
/// `405` naming the method this server takes (`allowed`), the application
/// an error.
fn wrong_direction<T: Send + 'static>(
    respond: oneshot::Sender<Response<BoxBody>>,
    peer: &str,
    method: &str,
    allowed: &'static str,
) -> Pending<'static, T> {
    let mut refused = text(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("this server takes {allowed} here, not {method}"),
    );
    refused
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    let _ = respond.send(refused);
    let error = Error::Protocol(format!(
        "{peer}: a {method} request {} (the application used it the other way)",
        if method == "GET" {
            "asks for a stream: write to it"
        } else {
            "carries a stream: read it"
        }
    ));
    Box::pin(std::future::ready(Err(error)))
}

/// Answers `503 Service Unavailable` with `Retry-After` (whole seconds).
fn busy(
    respond: oneshot::Sender<Response<BoxBody>>,
    retry_after: Duration,
    reason: &str,
) -> Pending<'static, ()> {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, reason);
    if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    let _ = respond.send(response);
    Box::pin(std::future::ready(Ok(())))
}

/// A POST waiting for the application's reader.
struct ServedPost {
    body: Incoming,
    respond: oneshot::Sender<Response<BoxBody>>,
}

impl Link for ServedPost {
    fn input(self: Box<Self>, _: String, _: DecodeLimits) -> Pending<'static, Input> {
        let read = BodyRead::new(self.body, Some(self.respond));
        Box::pin(std::future::ready(Ok(Input::Bytes(Box::new(read)))))
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        wrong_direction(self.respond, &peer, "POST", "GET")
    }

    fn turn_away(self: Box<Self>, _: String, after: Duration, why: String) -> Pending<'static, ()> {
        busy(self.respond, after, &why)
    }
}

/// The listener's side of a server on hyper (`http://`, `grpc://`):
/// requests become connections on tasks of their own.
pub(crate) struct HttpAcceptor {
    incoming: Mutex<mpsc::Receiver<Connection>>,
    accepting: tokio::task::JoinHandle<()>,
    closing: watch::Sender<bool>,
    /// Ends when every connection task is done (see `spawn`).
    all_done: Mutex<mpsc::Receiver<()>>,
}

impl HttpAcceptor {
    /// Accepts clients on `listener` (named `local` in errors) on a task of
    /// its own; each client's connection runs `serve(io, address,
    /// channels)` on a task of its own, after its TLS handshake when `tls`
    /// is set (so that a slow handshake holds up no other client).
    pub(crate) fn spawn<F, Fut>(
        listener: tokio::net::TcpListener,
        local: Endpoint,
        #[cfg(feature = "tls")] tls: Option<crate::transport::tls::ServerSide>,
        serve: F,
    ) -> HttpAcceptor
    where
        F: Fn(ServerIo, std::net::SocketAddr, Channels) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (connections, incoming) = mpsc::channel(ACCEPT_QUEUE);
        let (closing_tx, closing) = watch::channel(false);
        // Every connection task holds a clone of `alive`: `all_done` ends when
        // the last one is gone.
        let (alive, all_done) = mpsc::channel::<()>(1);
        let channels = Channels {
            connections,
            closing,
        };
        let serve = Arc::new(serve);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((tcp, addr)) = tcp::accept(&listener, &local).await else {
                    // Out of file descriptors or an aborted connection:
                    // keep serving.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (serve, channels, alive) = (serve.clone(), channels.clone(), alive.clone());
                #[cfg(feature = "tls")]
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _alive = alive;
                    #[cfg(feature = "tls")]
                    if let Some(side) = tls {
                        if let Ok(stream) = side.handshake(tcp, &addr.to_string()).await {
                            serve(Box::new(stream), addr, channels).await;
                        }
                        return;
                    }
                    serve(Box::new(tcp), addr, channels).await;
                });
            }
        });
        HttpAcceptor {
            incoming: Mutex::new(incoming),
            accepting,
            closing: closing_tx,
            all_done: Mutex::new(all_done),
        }
    }
}

impl Drop for HttpAcceptor {
    /// No new connections once the listener is gone (those being served
    /// carry on).
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Acceptor for HttpAcceptor {
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            self.incoming
                .lock()
                .await
                .recv()
                .await
                .ok_or_else(|| Error::Protocol(format!("the server on {local} stopped accepting")))
        })
    }

    /// Stops accepting; each connection finishes the requests it is
    /// answering (hyper's graceful shutdown), then closes.
    fn close(&self, grace: Duration) -> Pending<'_, ()> {
        Box::pin(async move {
            self.accepting.abort();
            let _ = self.closing.send(true);
            // Requests not yet accepted will not be: answer them 503.
            self.incoming.lock().await.close();
            let mut all_done = self.all_done.lock().await;
            let _ = tokio::time::timeout(grace, all_done.recv()).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_where_to_connect_and_what_to_ask() {
        let t = Target::parse("http://example.com/t.arrows?x=1").unwrap();
        assert_eq!(
            (t.hostport.as_str(), t.authority.as_str(), t.path()),
            ("example.com:80", "example.com", "/t.arrows")
        );
        assert_eq!(t.path_and_query, "/t.arrows?x=1");
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!((t.hostport.as_str(), t.path()), ("[::1]:8443", "/"));
        let t = Target::parse("https://[::1]?q").unwrap();
        assert_eq!(
            (t.hostport.as_str(), t.path_and_query.as_str()),
            ("[::1]:443", "/?q")
        );
    }
}
