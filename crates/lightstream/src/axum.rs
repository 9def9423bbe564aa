//! axum integration (feature `axum`): the [`ArrowWebSocket`] extractor, a
//! Lightstream WebSocket on any route of your `Router`, the [`Granted`]
//! extractor (the same checks for an HTTP route), and `IntoResponse`
//! for [`ArrowBody`] (an Arrow IPC stream as the response) and
//! [`Refused`] (the status of a refused request).
//!
//! The checks are [`crate::http`]'s: the [`Access`] policy comes from a
//! request extension (`.layer(axum::Extension(access))`), and is
//! [`Access::default`] (pages of the same host only, no token) without one. Not here:
//! axum's own `WebSocket` type (its socket is not a tungstenite stream we
//! could write frames to ourselves), routing, state.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::get};
//! use lightstream::axum::ArrowWebSocket;
//! use lightstream::http::{Access, ArrowBody};
//! use lightstream::hub::{Hub, HubOptions};
//!
//! # async fn run() {
//! let hub = Hub::new(HubOptions::default());
//! let feed = hub.clone();
//! let app: Router = Router::new()
//!     .route("/feed", get(move |ws: ArrowWebSocket| async move {
//!         ws.on_upgrade(move |conn| async move {
//!             let _ = feed.subscribe(conn, Default::default()).await;
//!         })
//!     }))
//!     .route("/feed.arrows", get(move || async move {
//!         ArrowBody::subscribe(&hub, Default::default())
//!     }))
//!     .layer(Extension(Access::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use lightstream_core::DecodeLimits;

use crate::connection::Connection;
use crate::http::{Access, ArrowBody, Granted, Refused, Upgrading};

/// A WebSocket upgrade request that [`Access`] let in: the handler decides
/// what the [`Connection`] is for ([`ArrowWebSocket::on_upgrade`]). The
/// rejection is the [`Refused`] answer (403, 401, 400, 405, 426).
pub struct ArrowWebSocket {
    response: Response,
    upgrading: Upgrading,
    limits: Option<DecodeLimits>,
}

impl std::fmt::Debug for ArrowWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowWebSocket")
            .field("upgrading", &self.upgrading)
            .finish_non_exhaustive()
    }
}

/// The request's [`Access`] extension, or the default policy.
fn access_of(parts: &Parts) -> Access {
    parts
        .extensions
        .get::<Access>()
        .cloned()
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for ArrowWebSocket {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let access = access_of(parts);
        let response = crate::http::upgrade::accept_head(
            &parts.method,
            parts.version,
            &parts.uri,
            &parts.headers,
            &access,
        )?;
        let peer = format!("ws client of {}", parts.uri.path());
        let upgrading = crate::http::upgrade::upgrading(&mut parts.extensions, peer)?;
        Ok(ArrowWebSocket {
            response,
            upgrading,
            limits: None,
        })
    }
}

impl ArrowWebSocket {
    /// The connection will be read from, with `limits` (without this call
    /// it is sized for a server that writes: see
    /// [`Upgrading::writing`]).
    pub fn read_limits(mut self, limits: DecodeLimits) -> ArrowWebSocket {
        self.limits = Some(limits);
        self
    }

    /// Answers `101 Switching Protocols` and, once the upgrade is done,
    /// runs `serve` with the connection on a task of its own. A client
    /// that goes away before the upgrade completes never reaches `serve`.
    pub fn on_upgrade<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ArrowWebSocket {
            response,
            upgrading,
            limits,
        } = self;
        tokio::spawn(async move {
            let conn = match limits {
                Some(limits) => upgrading.reading(&limits).await,
                None => upgrading.writing().await,
            };
            if let Ok(conn) = conn {
                serve(conn).await;
            }
        });
        response
    }
}

/// `Granted` as an extractor: the request passed the [`Access`] policy of
/// its extension (origin, token), for the HTTP routes of a stream
/// (`async fn table(_: Granted) -> ArrowBody`); the rejection is the
/// [`Refused`] answer.
impl<S: Send + Sync> FromRequestParts<S> for Granted {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        access_of(parts).check(parts)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.response::<Body>()
    }
}

/// `200 OK`, the body's `Content-Type`, the stream as the body.
impl IntoResponse for ArrowBody {
    fn into_response(self) -> Response {
        let (parts, body) = ArrowBody::into_response(self).into_parts();
        Response::from_parts(parts, Body::new(body))
    }
}
