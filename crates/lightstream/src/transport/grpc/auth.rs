//! Who may call a Flight server: the bearer token of every call
//! (`authorization: Bearer <token>`, checked by the same
//! [`TokenCheck`] as the HTTP and WebSocket servers' `Access`), and the
//! `Handshake` that trades a user name and password (HTTP basic
//! authentication) for such a token, as Arrow C++ and pyarrow clients do it.
//!
//! What it is not: Flight's older handshake payloads (`ServerAuthHandler`
//! messages inside the Handshake stream) or TLS client certificates. Tokens
//! are never logged nor quoted in a status.

use bytes::Buf;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use tonic::Status;

use crate::flight::BasicAuth;
use crate::http::TokenCheck;
use crate::http::access::bearer;

use super::GRPC_CONTENT_TYPE;

/// The checks of one Flight service ([`crate::ServerOptions::access`]'s
/// token and [`crate::ServerOptions::flight_basic_auth`]).
#[derive(Clone, Default)]
pub(crate) struct FlightAuth {
    pub(crate) token: Option<TokenCheck>,
    pub(crate) basic: Option<BasicAuth>,
}

impl FlightAuth {
    /// `request` back when call `rpc` may go on; else its answer:
    /// `UNAUTHENTICATED` for a missing or refused token, before anything is
    /// read or streamed. `Handshake` is always answered here: with basic
    /// authentication set, a token for a good user name and password
    /// ([`handshake`]); without, `UNAUTHENTICATED` or `UNIMPLEMENTED`. The
    /// answer waits for the end of the client's (empty) request, so that it
    /// never races the client's own end of the stream (a stream still being
    /// written when the answer ends it is reset by h2, which Arrow C++ clients
    /// would report as "Could not finish writing before closing" instead of
    /// the status; not seen on loopback, where the client is always first).
    pub(crate) async fn gate<B>(
        &self,
        rpc: &str,
        request: Request<B>,
    ) -> Result<Request<B>, Box<Response<tonic::body::Body>>>
    where
        B: http_body::Body + Unpin,
    {
        let refusal = self.check_token(request.headers());
        if rpc != "Handshake" {
            return match refusal {
                Some(refused) => Err(Box::new(refused)),
                None => Ok(request),
            };
        }
        let answer = match (&self.basic, refusal) {
            (Some(basic), _) => handshake(basic, request.headers()),
            (None, Some(refused)) => refused,
            (None, None) => Status::unimplemented(
                "Handshake: this Flight server takes bearer tokens, not user names and passwords",
            )
            .into_http(),
        };
        // Until the client's end of the stream; a message (Flight's older
        // handshake payloads, whose client waits for an answer before it
        // ends) is answered at once.
        let mut body = request.into_body();
        while let Some(Ok(frame)) = body.frame().await {
            if frame.data_ref().is_some_and(|d| d.has_remaining()) {
                break;
            }
        }
        Err(Box::new(answer))
    }

    /// `UNAUTHENTICATED` when a token is needed and `headers` have none or
    /// a refused one.
    fn check_token(&self, headers: &HeaderMap) -> Option<Response<tonic::body::Body>> {
        let check = self.token.as_ref()?;
        match bearer(headers) {
            None => Some(refuse(
                "this Flight server needs a token: send the header `authorization: Bearer \
                 <token>`",
            )),
            Some(token) if !check.check(token) => Some(refuse("the token was refused")),
            Some(_) => None,
        }
    }
}

/// A refusal, before anything was read or streamed.
fn refuse(why: &str) -> Response<tonic::body::Body> {
    Status::unauthenticated(why).into_http()
}

/// `Handshake` with `authorization: Basic <base64(user:password)>`: the
/// token of `basic` in the answer's `authorization: Bearer <token>` header
/// (gRPC's initial metadata, where Arrow C++ clients look for it), then
/// status OK; `UNAUTHENTICATED` otherwise.
fn handshake(basic: &BasicAuth, headers: &HeaderMap) -> Response<tonic::body::Body> {
    let Some((user, password)) = basic_credentials(headers) else {
        return refuse(
            "Handshake needs the header `authorization: Basic <base64 of user:password>`",
        );
    };
    let Some(token) = basic.token(&user, &password) else {
        return refuse("the user name or password was refused");
    };
    let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return Status::internal("the server's token has a character no header may carry")
            .into_http();
    };
    value.set_sensitive(true);
    let mut trailers = HeaderMap::new();
    // tonic percent-encodes the (empty) message: this cannot fail.
    let _ = Status::ok("").add_header(&mut trailers);
    let frames = [Ok::<_, std::convert::Infallible>(Frame::trailers(trailers))];
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let mut response = Response::new(tonic::body::Body::new(body));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(GRPC_CONTENT_TYPE));
    h.insert(AUTHORIZATION, value);
    response
}

/// The user name and password of `authorization: Basic <base64>`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `authorization: Basic <base64(user:password)>` for a client's
/// `Handshake`, marked sensitive.
pub(crate) fn basic_value(user: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(response: &Response<tonic::body::Body>) -> Option<(tonic::Code, String)> {
        Status::from_header_map(response.headers()).map(|s| (s.code(), s.message().to_string()))
    }

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    /// The answer of `gate` to `rpc` with `headers` and an empty body.
    fn gate(
        auth: &FlightAuth,
        rpc: &str,
        headers: HeaderMap,
    ) -> Option<Response<tonic::body::Body>> {
        let mut request = Request::new(http_body_util::Empty::<bytes::Bytes>::new());
        *request.headers_mut() = headers;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(auth.gate(rpc, request)).err().map(|a| *a)
    }

    #[test]
    fn every_call_needs_the_token_and_a_handshake_trades_a_password_for_it() {
        let auth = FlightAuth {
            token: Some(TokenCheck::tokens(["s3cret"]).unwrap()),
            basic: Some(BasicAuth::new(|u, p| {
                (u == "ann" && p == "pw:1").then(|| "s3cret".to_string())
            })),
        };
        let missing = gate(&auth, "DoGet", HeaderMap::new()).expect("refused");
        let (code, message) = status(&missing).unwrap();
        assert_eq!(code, tonic::Code::Unauthenticated);
        assert!(message.contains("authorization: Bearer"), "{message}");
        let wrong = gate(&auth, "ListFlights", with("Bearer s3cre")).expect("refused");
        assert_eq!(status(&wrong).unwrap().0, tonic::Code::Unauthenticated);
        assert!(!status(&wrong).unwrap().1.contains("s3cre"), "never quoted");
        assert!(gate(&auth, "DoPut", with("bearer s3cret")).is_none());
        // Handshake: the password for the token, in the headers; status OK
        // follows in the trailers.
        let basic = |p: &str| with(basic_value("ann", p).unwrap().to_str().unwrap());
        let answer = gate(&auth, "Handshake", basic("pw:1")).expect("answered");
        assert!(status(&answer).is_none(), "not trailers-only");
        assert_eq!(answer.headers()[AUTHORIZATION], "Bearer s3cret");
        let refused = gate(&auth, "Handshake", basic("pw")).expect("answered");
        assert_eq!(status(&refused).unwrap().0, tonic::Code::Unauthenticated);
        let bare = gate(&auth, "Handshake", HeaderMap::new()).expect("answered");
        assert_eq!(status(&bare).unwrap().0, tonic::Code::Unauthenticated);
        // Without basic authentication: UNAUTHENTICATED without the token,
        // UNIMPLEMENTED with it.
        let token_only = FlightAuth {
            basic: None,
            ..auth.clone()
        };
        let with_token = gate(&token_only, "Handshake", with("Bearer s3cret")).expect("answered");
        assert_eq!(status(&with_token).unwrap().0, tonic::Code::Unimplemented);
        let without = gate(&token_only, "Handshake", HeaderMap::new()).expect("answered");
        assert_eq!(status(&without).unwrap().0, tonic::Code::Unauthenticated);
        // No token set: everything goes on.
        assert!(gate(&FlightAuth::default(), "DoGet", HeaderMap::new()).is_none());
    }
}
