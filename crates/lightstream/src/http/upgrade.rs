//! [`websocket_upgrade`]: a hyper request (axum's too) upgraded to a
//! Lightstream WebSocket [`Connection`], after the application routed it and
//! [`Access`] let it in. The request is checked as our own `ws://` listener
//! checks it (RFC 6455 section 4.2.1, one shared check); the `101` answer
//! names [`SUBPROTOCOL`] when the client offered it (never a token).

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use lightstream_core::DecodeLimits;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::SUBPROTOCOL;
use super::access::{Access, Refused, RefusedKind};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::transport::upgrade::judge_request;
use crate::transport::websocket;

/// The upgrade of one accepted request: await it (after returning the `101`
/// response) for a [`Connection`] to write to (a [`TableWriter`], a hub
/// subscription), or call [`Upgrading::reading`] for one to read from.
///
/// [`TableWriter`]: crate::TableWriter
pub struct Upgrading {
    on: hyper::upgrade::OnUpgrade,
    peer: String,
}

impl std::fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrading")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Upgrading {
    pub(crate) fn new(on: hyper::upgrade::OnUpgrade, peer: String) -> Upgrading {
        Upgrading { on, peer }
    }

    /// hyper's pending upgrade itself, for a server that takes the upgraded
    /// socket over on its own terms (the CLI demo watches the socket for
    /// the client's close); the `101` answer it goes with already names the
    /// subprotocol, so finish with `WebSocketStream::from_raw_socket` and
    /// [`websocket::connection`] as [`Upgrading::writing`] does.
    pub fn into_hyper(self) -> hyper::upgrade::OnUpgrade {
        self.on
    }

    /// The connection, for a peer that reads with `limits`: its frames and
    /// messages are sized by them ([`websocket::config`]).
    pub async fn reading(self, limits: &DecodeLimits) -> Result<Connection> {
        self.open(websocket::config(limits)).await
    }

    /// The connection for a server that only writes (the frames it reads
    /// are control frames, at most [`websocket::WRITE_ONLY_READ_BYTES`]).
    pub async fn writing(self) -> Result<Connection> {
        self.open(websocket::write_only_config()).await
    }

    async fn open(self, config: WebSocketConfig) -> Result<Connection> {
        let upgraded = self.on.await.map_err(|e| {
            Error::Protocol(format!(
                "the WebSocket upgrade of {} did not complete: {e}",
                self.peer
            ))
        })?;
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        Ok(websocket::connection(ws, Role::Server, self.peer))
    }
}

/// Awaiting an [`Upgrading`] is [`Upgrading::writing`].
impl IntoFuture for Upgrading {
    type Output = Result<Connection>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Connection>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.writing())
    }
}

/// Accepts the WebSocket upgrade of `request` (routed and authenticated by
/// the application), or says why not.
///
/// Checks that it is a WebSocket upgrade (`GET`, HTTP/1.1, `Upgrade:
/// websocket`, `Connection: Upgrade`, version 13, a well-formed key), then
/// `access` (origin, token, subprotocol). On success returns the `101
/// Switching Protocols` response to send (with `Sec-WebSocket-Accept`, and
/// `Sec-WebSocket-Protocol: lightstream.arrow.v1` when the client offered
/// it) and the [`Upgrading`] that becomes the [`Connection`] once hyper has
/// sent it: spawn a task that awaits it, so the response can go out first.
/// `peer` names the client in errors. The refusal converts into a response
/// ([`Refused::response`]).
///
/// Needs a hyper server connection with upgrades (`http1::Builder::
/// serve_connection(..).with_upgrades()`, hyper-util's
/// `serve_connection_with_upgrades`, `axum::serve`).
///
/// ```no_run
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use lightstream::http::{Access, websocket_upgrade};
///
/// async fn handle(mut req: hyper::Request<Incoming>, hub: lightstream::hub::Hub)
///     -> hyper::Response<Full<Bytes>> {
///     if req.uri().path() != "/feed" {
///         let mut r = hyper::Response::new(Full::from("not found\n"));
///         *r.status_mut() = hyper::StatusCode::NOT_FOUND;
///         return r;
///     }
///     match websocket_upgrade(&mut req, &Access::default(), "a browser") {
///         Ok((response, upgrading)) => {
///             tokio::spawn(async move {
///                 let conn = upgrading.await?;
///                 hub.subscribe(conn, Default::default()).await
///             });
///             response
///         }
///         Err(refused) => refused.response(),
///     }
/// }
/// ```
pub fn websocket_upgrade<B, R: Default>(
    request: &mut Request<B>,
    access: &Access,
    peer: impl Into<String>,
) -> Result<(Response<R>, Upgrading), Refused> {
    let response = accept_head(
        request.method(),
        request.version(),
        request.uri(),
        request.headers(),
        access,
    )?;
    let upgrading = upgrading(request.extensions_mut(), peer.into())?;
    Ok((response, upgrading))
}

/// The upgrade hyper promised for this request (taken out of its
/// extensions), or the refusal of a connection that cannot be upgraded.
pub(crate) fn upgrading(
    extensions: &mut http::Extensions,
    peer: String,
) -> Result<Upgrading, Refused> {
    match extensions.remove::<hyper::upgrade::OnUpgrade>() {
        Some(on) => Ok(Upgrading::new(on, peer)),
        None => Err(Refused::new(
            RefusedKind::BadRequest,
            "this connection cannot be upgraded (the server runs hyper without upgrades)",
        )),
    }
}

/// Checks a request head as [`websocket_upgrade`] says, and builds the
/// `101` answer.
pub(crate) fn accept_head<R: Default>(
    method: &http::Method,
    version: Version,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    access: &Access,
) -> Result<Response<R>, Refused> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    judge_request(Some(method.as_str()), version == Version::HTTP_11, &header).map_err(|r| {
        let kind = match (r.status, r.header) {
            (405, _) => RefusedKind::Method,
            (426, Some(h)) if h.starts_with("Sec-WebSocket-Version") => RefusedKind::Version,
            (426, _) => RefusedKind::NotUpgrade,
            _ => RefusedKind::BadRequest,
        };
        Refused::new(kind, format!("WebSocket upgrade refused: {}", r.reason))
    })?;
    let granted = access.check_head(uri, headers)?;
    let key = header(SEC_WEBSOCKET_KEY.as_str()).unwrap_or_default();
    let mut response = Response::new(R::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    // The key was checked as base64: the answer is base64 too.
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if granted.subprotocol {
        h.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(response)
}
