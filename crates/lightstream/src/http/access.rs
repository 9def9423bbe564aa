//! [`Access`]: the policy a browser-facing route checks before it streams:
//! the `Origin` of the page, a bearer token, the Lightstream subprotocol.
//! It reads request headers only; routing and sessions stay the
//! application's.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use http::header::{
    AUTHORIZATION, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};

use super::{SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX};
use crate::error::{Error, Result};

/// Which pages may open a stream, by the `Origin` header browsers send with
/// every WebSocket upgrade and every cross-origin `fetch`.
///
/// A request without `Origin` (curl, pyarrow, native clients, a
/// same-origin `GET` of some browsers) is allowed by every variant: the
/// header is how a browser says which page is asking, and only a browser
/// can be tricked into asking for another site (cross-site WebSocket
/// hijacking). Origins compare case-insensitively, as
/// `scheme://host[:port]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Origins {
    /// The default: `Origin` must name the host of `Host` (`http` or
    /// `https`, any port): a page of this machine name, such as a
    /// development server on another port next to `lightstream serve`.
    /// A page of any other site is refused, which is what stops
    /// cross-site WebSocket hijacking. (A server on localhost without a
    /// token is still open to DNS rebinding, where a hostile name resolves
    /// to 127.0.0.1 and is then "the same host": give it a token or a
    /// list.)
    #[default]
    SameHost,
    /// `Origin` must be exactly `http://<Host>` or `https://<Host>`, the
    /// page this server itself served (port included).
    SameOrigin,
    /// Exactly these origins (`"https://app.example.com"`); the `Host`
    /// header is not trusted, so list your own pages' origin too.
    List(Vec<String>),
    /// Any page on any site (for public data only).
    Any,
}

/// Decides whether a bearer token is good. Cloning shares it.
#[derive(Clone)]
pub struct TokenCheck(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCheck(..)")
    }
}

impl TokenCheck {
    /// Your own check (a session store, a JWT verifier).
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> TokenCheck {
        TokenCheck(Arc::new(check))
    }

    /// Accepts exactly these tokens, each compared in constant time (the
    /// time taken depends on the lengths only, not on where a guess first
    /// differs). Fails on an empty set, an empty token, or a character a
    /// browser could not send in a subprotocol (use base64url).
    pub fn tokens<I, S>(tokens: I) -> Result<TokenCheck>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tokens: Vec<String> = tokens.into_iter().map(Into::into).collect();
        if tokens.is_empty() {
            return Err(Error::Config("no access token given".to_string()));
        }
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() || !t.bytes().all(is_tchar) {
                return Err(Error::Config(format!(
                    "access token {} is empty or has a character other than letters, digits \
                     and !#$%&'*+-.^_`|~ (a browser sends it in a WebSocket subprotocol; \
                     base64url tokens fit)",
                    i + 1
                )));
            }
        }
        Ok(TokenCheck::new(move |given: &str| {
            // Every token is compared, whatever matched first.
            tokens.iter().fold(false, |ok, t| {
                ok | constant_time_eq(given.as_bytes(), t.as_bytes())
            })
        }))
    }

    /// The tokens of a file: one per line, surrounding whitespace, empty
    /// lines and lines starting with `#` ignored (see [`TokenCheck::tokens`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<TokenCheck> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading the token file {}", path.display()), e))?;
        let tokens = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        TokenCheck::tokens(tokens)
            .map_err(|e| Error::Config(format!("token file {}: {e}", path.display())))
    }

    /// Whether `token` is good.
    pub fn check(&self, token: &str) -> bool {
        (self.0)(token)
    }
}

/// The host of an authority (`host[:port]`, `[v6]:port`), without its port.
/// Anything after the host that is not `:digits` makes the whole an
/// (unequal) host, so `example.com:8080.evil.example` is not `example.com`.
fn host_part(authority: &str) -> &str {
    let (host, rest) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => authority.split_at(end + 1),
            None => return authority,
        }
    } else {
        match authority.rfind(':') {
            Some(at) => authority.split_at(at),
            None => return authority,
        }
    };
    match rest.strip_prefix(':') {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ if rest.is_empty() => host,
        _ => authority,
    }
}

/// Equal bytes, in a time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    // black_box: keep the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0 && a.len() == b.len()
}

/// An RFC 9110 token character (what a subprotocol name may hold).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Who may open a stream: checked by [`Access::check`] on the request's
/// head, before anything is streamed or upgraded.
///
/// The default is secure where it costs nothing: pages of other sites are
/// refused ([`Origins::SameOrigin`]), non-browser clients are let in, no
/// token, and a WebSocket client that offers subprotocols must offer
/// [`SUBPROTOCOL`].
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Which pages may connect. Default [`Origins::SameOrigin`].
    pub origins: Origins,
    /// The bearer token check; `None` (the default): no token needed. The
    /// token comes from `Authorization: Bearer <token>`, or on a WebSocket
    /// upgrade from a subprotocol `lightstream.token.<token>`. Never from
    /// the query string: URLs end up in logs, browser history and
    /// `Referer` headers.
    pub token: Option<TokenCheck>,
    /// A WebSocket upgrade must offer [`SUBPROTOCOL`]. Default `false`:
    /// checked only when the client offers subprotocols at all, so clients
    /// that offer none (older ones, `websocat`) still connect.
    pub require_subprotocol: bool,
}

/// What [`Access::check`] found in a request it let through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// The client offered [`SUBPROTOCOL`]: a WebSocket answer must name it
    /// (and a client that offered none must get none).
    pub subprotocol: bool,
    /// The request's `Origin`, when it had one.
    pub origin: Option<String>,
}

/// Why a request was refused; [`Refused::response`] is the HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What was wrong.
    pub kind: RefusedKind,
    /// Says it in words (the response body).
    pub detail: String,
}

/// What was wrong with a refused request, and so its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedKind {
    /// `Origin` is not allowed: 403.
    Origin,
    /// A token is needed and none came: 401 with `WWW-Authenticate: Bearer`.
    MissingToken,
    /// The token is not good: 401 with `WWW-Authenticate: Bearer
    /// error="invalid_token"`.
    BadToken,
    /// The client offered subprotocols but not [`SUBPROTOCOL`] (or none
    /// with [`Access::require_subprotocol`]): 400.
    Subprotocol,
    /// An upgrade request with a method other than GET: 405 with `Allow: GET`.
    Method,
    /// Not a WebSocket upgrade request where one was needed: 426 with
    /// `Upgrade: websocket`.
    NotUpgrade,
    /// A WebSocket version other than 13: 426 with
    /// `Sec-WebSocket-Version: 13`.
    Version,
    /// A malformed upgrade (a missing or bad `Sec-WebSocket-Key`, not
    /// HTTP/1.1): 400.
    BadRequest,
}

impl Refused {
    pub(crate) fn new(kind: RefusedKind, detail: impl Into<String>) -> Refused {
        Refused {
            kind,
            detail: detail.into(),
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RefusedKind::Origin => StatusCode::FORBIDDEN,
            RefusedKind::MissingToken | RefusedKind::BadToken => StatusCode::UNAUTHORIZED,
            RefusedKind::Subprotocol | RefusedKind::BadRequest => StatusCode::BAD_REQUEST,
            RefusedKind::NotUpgrade | RefusedKind::Version => StatusCode::UPGRADE_REQUIRED,
            RefusedKind::Method => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The answer: the status, the headers it implies, and `detail` as a
    /// plain-text body (any body type made from a `String`:
    /// `http_body_util::Full<Bytes>`, `axum::body::Body`).
    pub fn response<B: From<String>>(&self) -> Response<B> {
        let mut r = Response::new(B::from(format!("{}\n", self.detail)));
        *r.status_mut() = self.status();
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match self.kind {
            RefusedKind::MissingToken => {
                h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            RefusedKind::BadToken => {
                h.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            RefusedKind::NotUpgrade => {
                h.insert(UPGRADE, HeaderValue::from_static("websocket"));
                h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            }
            RefusedKind::Version => {
                h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            RefusedKind::Method => {
                h.insert(http::header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        r
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused with {}: {}", self.status(), self.detail)
    }
}

impl std::error::Error for Refused {}

impl Access {
    /// Access for anyone (any origin, no token): public data only.
    pub fn public() -> Access {
        Access {
            origins: Origins::Any,
            ..Access::default()
        }
    }

    /// Checks a request's head: its `Origin`, then its token, then (on a
    /// WebSocket upgrade) the subprotocols it offers.
    pub fn check(&self, request: &Parts) -> Result<Granted, Refused> {
        self.check_head(&request.uri, &request.headers)
    }

    /// [`Access::check`] of a whole request (its head).
    pub fn check_request<B>(&self, request: &http::Request<B>) -> Result<Granted, Refused> {
        self.check_head(request.uri(), request.headers())
    }

    pub(crate) fn check_head(&self, uri: &Uri, headers: &HeaderMap) -> Result<Granted, Refused> {
        let origin = self.check_origin(uri, headers)?;
        let offered = offered_subprotocols(headers);
        if let Some(check) = &self.token {
            let token = bearer(headers).or_else(|| {
                offered
                    .iter()
                    .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
            });
            match token {
                None => {
                    return Err(Refused::new(
                        RefusedKind::MissingToken,
                        "this stream needs a token: send `Authorization: Bearer <token>`, or \
                         the WebSocket subprotocol `lightstream.token.<token>`",
                    ));
                }
                Some(t) if !check.check(t) => {
                    return Err(Refused::new(RefusedKind::BadToken, "the token was refused"));
                }
                Some(_) => {}
            }
        }
        let subprotocol = offered.contains(&SUBPROTOCOL);
        let wants_upgrade = is_websocket_upgrade(headers);
        // Offered subprotocols other than tokens: one of them must be ours.
        let others = offered
            .iter()
            .any(|p| !p.starts_with(TOKEN_SUBPROTOCOL_PREFIX));
        if wants_upgrade && !subprotocol && (others || self.require_subprotocol) {
            return Err(Refused::new(
                RefusedKind::Subprotocol,
                format!("this WebSocket speaks the subprotocol {SUBPROTOCOL}: offer it"),
            ));
        }
        Ok(Granted {
            subprotocol,
            origin,
        })
    }

    pub(crate) fn check_origin(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<String>, Refused> {
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(None);
        };
        let origin = origin.to_str().unwrap_or("").trim().to_string();
        let allowed = match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&origin)),
            Origins::SameOrigin | Origins::SameHost => {
                let host = headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| uri.authority().map(|a| a.as_str()));
                let page = ["http://", "https://"].iter().find_map(|scheme| {
                    (origin.len() > scheme.len()
                        && origin[..scheme.len()].eq_ignore_ascii_case(scheme))
                    .then(|| &origin[scheme.len()..])
                });
                match (host, page) {
                    (Some(host), Some(page)) if self.origins == Origins::SameOrigin => {
                        page.eq_ignore_ascii_case(host)
                    }
                    (Some(host), Some(page)) => {
                        host_part(page).eq_ignore_ascii_case(host_part(host))
                    }
                    _ => false,
                }
            }
        };
        if allowed {
            Ok(Some(origin))
        } else {
            Err(Refused::new(
                RefusedKind::Origin,
                format!("pages of origin {origin:?} may not open this stream"),
            ))
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Every subprotocol offered, over all `Sec-WebSocket-Protocol` headers.
pub(crate) fn offered_subprotocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// `header` holds `token` in its comma-separated list (case-insensitive).
pub(crate) fn header_has(headers: &HeaderMap, header: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `Upgrade: websocket` (the request asks for a WebSocket).
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    header_has(headers, UPGRADE, "websocket")
}

impl Access {
    /// The answer to a CORS preflight (`OPTIONS` with
    /// `Access-Control-Request-Method`) from a page this policy lets in:
    /// `204` allowing `GET` and `POST` with the `Authorization` and
    /// `Content-Type` headers (so a page can send its bearer token), for 10
    /// minutes; a page of a refused origin gets the refusal (`403`). The
    /// token is not checked here: a browser never sends it with a preflight.
    pub fn preflight<B: Default + From<String>>(&self, request: &Parts) -> http::Response<B> {
        match self.check_origin(&request.uri, &request.headers) {
            Err(refused) => refused.response(),
            Ok(origin) => {
                let mut response = http::Response::new(B::default());
                *response.status_mut() = StatusCode::NO_CONTENT;
                let h = response.headers_mut();
                h.insert(
                    http::header::ACCESS_CONTROL_ALLOW_METHODS,
                    http::HeaderValue::from_static("GET, POST"),
                );
                h.insert(
                    http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                    http::HeaderValue::from_static("authorization, content-type"),
                );
                h.insert(
                    http::header::ACCESS_CONTROL_MAX_AGE,
                    http::HeaderValue::from_static("600"),
                );
                allow_origin(h, origin.as_deref());
                response
            }
        }
    }
}

/// Lets the page of `origin` (a request's `Origin` that [`Access`] let in,
/// [`Granted::origin`]) read the response: `Access-Control-Allow-Origin`
/// naming it, and `Vary: Origin` for caches. Nothing without an origin (not
/// a browser's cross-origin request). Answers to pages of other origins need
/// it, refusals included (a page reads the `401` instead of a network error).
pub fn allow_origin(headers: &mut HeaderMap, origin: Option<&str>) {
    if let Some(value) = origin.and_then(|o| http::HeaderValue::from_str(o).ok()) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.append(http::header::VARY, http::HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri("/feed");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn ws(extra: &[(&'static str, &'static str)]) -> Parts {
        let mut h = vec![
            ("host", "example.com:8080"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
        ];
        h.extend_from_slice(extra);
        parts(&h)
    }

    fn kind(r: Result<Granted, Refused>) -> RefusedKind {
        r.unwrap_err().kind
    }

    #[test]
    fn same_host_by_default_and_no_origin_is_not_a_browser() {
        let a = Access::default();
        assert_eq!(a.origins, Origins::SameHost);
        assert_eq!(a.check(&ws(&[])).unwrap(), Granted::default());
        let g = a
            .check(&ws(&[("origin", "http://example.com:8080")]))
            .unwrap();
        assert_eq!(g.origin.as_deref(), Some("http://example.com:8080"));
        // The same host on any port, either scheme: a page next to the server.
        for same in [
            "HTTPS://Example.com:8080",
            "http://example.com",
            "http://example.com:5173",
        ] {
            a.check(&ws(&[("origin", same)])).unwrap();
        }
        for evil in [
            "https://evil.example",
            "http://example.com:8080.evil.example",
            "http://example.com.evil.example:8080",
            "http://evil.example:8080",
            "http://example.com:80x",
            "null",
        ] {
            assert_eq!(
                kind(a.check(&ws(&[("origin", evil)]))),
                RefusedKind::Origin,
                "{evil}"
            );
        }
        // No Host at all: nothing to be the same as.
        let no_host = parts(&[("origin", "http://example.com")]);
        assert_eq!(kind(a.check(&no_host)), RefusedKind::Origin);
        // IPv6 hosts keep their brackets.
        assert_eq!(host_part("[::1]:8080"), "[::1]");
        assert_eq!(host_part("[::1]"), "[::1]");
        assert_eq!(host_part("127.0.0.1:9"), "127.0.0.1");
    }

    #[test]
    fn same_origin_is_exact_port_included() {
        let a = Access {
            origins: Origins::SameOrigin,
            ..Access::default()
        };
        a.check(&ws(&[("origin", "HTTPS://Example.com:8080")]))
            .unwrap();
        for other in ["http://example.com", "http://example.com:5173"] {
            assert_eq!(
                kind(a.check(&ws(&[("origin", other)]))),
                RefusedKind::Origin,
                "{other}"
            );
        }
    }

    #[test]
    fn an_allow_list_is_exact_and_does_not_trust_host() {
        let a = Access {
            origins: Origins::List(vec!["https://app.example/".to_string()]),
            ..Access::default()
        };
        a.check(&ws(&[("origin", "https://app.example")])).unwrap();
        // Same as Host, but not listed.
        assert_eq!(
            kind(a.check(&ws(&[("origin", "http://example.com:8080")]))),
            RefusedKind::Origin
        );
        assert_eq!(
            kind(a.check(&ws(&[("origin", "https://evil.example")]))),
            RefusedKind::Origin
        );
        let any = Access::public();
        any.check(&ws(&[("origin", "https://evil.example")]))
            .unwrap();
    }

    #[test]
    fn tokens_come_from_the_header_or_a_subprotocol() {
        let a = Access {
            token: Some(TokenCheck::tokens(["s3cr3t-Tok_en"]).unwrap()),
            ..Access::default()
        };
        assert_eq!(kind(a.check(&ws(&[]))), RefusedKind::MissingToken);
        a.check(&ws(&[("authorization", "Bearer s3cr3t-Tok_en")]))
            .unwrap();
        assert_eq!(
            kind(a.check(&ws(&[("authorization", "Bearer s3cr3t-Tok_eN")]))),
            RefusedKind::BadToken
        );
        assert_eq!(
            kind(a.check(&ws(&[("authorization", "Basic czNjcjN0")]))),
            RefusedKind::MissingToken
        );
        let g = a
            .check(&ws(&[(
                "sec-websocket-protocol",
                "lightstream.arrow.v1, lightstream.token.s3cr3t-Tok_en",
            )]))
            .unwrap();
        assert!(g.subprotocol);
        assert_eq!(
            kind(a.check(&ws(&[(
                "sec-websocket-protocol",
                "lightstream.arrow.v1, lightstream.token.s3cr3t",
            )]))),
            RefusedKind::BadToken
        );
        let r = Refused::new(RefusedKind::MissingToken, "x").response::<String>();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn the_subprotocol_is_checked_when_offered_or_required() {
        let a = Access::default();
        assert!(!a.check(&ws(&[])).unwrap().subprotocol);
        assert!(
            a.check(&ws(&[("sec-websocket-protocol", "lightstream.arrow.v1")]))
                .unwrap()
                .subprotocol
        );
        assert_eq!(
            kind(a.check(&ws(&[("sec-websocket-protocol", "chat, superchat")]))),
            RefusedKind::Subprotocol
        );
        let strict = Access {
            require_subprotocol: true,
            ..Access::default()
        };
        assert_eq!(kind(strict.check(&ws(&[]))), RefusedKind::Subprotocol);
        // Plain HTTP requests have no subprotocol to offer.
        strict.check(&parts(&[("host", "example.com")])).unwrap();
        assert_eq!(
            Refused::new(RefusedKind::Subprotocol, "x").status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn token_sets_refuse_what_a_browser_could_not_send() {
        assert!(TokenCheck::tokens(Vec::<String>::new()).is_err());
        assert!(TokenCheck::tokens(["has space"]).is_err());
        assert!(TokenCheck::tokens([""]).is_err());
        let t = TokenCheck::tokens(["a", "bb"]).unwrap();
        assert!(t.check("a") && t.check("bb"));
        assert!(!t.check("b") && !t.check("") && !t.check("bbb"));
        let dir = std::env::temp_dir().join(format!("ls-tokens-{}", std::process::id()));
        std::fs::write(&dir, "# tokens\n\n  one  \ntwo\n").unwrap();
        let t = TokenCheck::from_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert!(t.check("one") && t.check("two") && !t.check("# tokens"));
    }
}
