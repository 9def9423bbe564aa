//! The demo's HTTP side, on hyper: what one request gets.
//!
//! What it is for: answering one request (hyper parses it; the connection
//! itself is `mod.rs`'s): the `Host` check, the routes (`/` and
//! `/web/<path>` from `--web`, `/npm/<path>` from `--npm`), the files
//! (tower-http's `ServeFile`: HEAD, ranges, conditional requests, streamed
//! bodies, MIME types) and the WebSocket upgrade (checked, with the access
//! policy of `--allow-origin` / `--token-file`, and answered with `101` by
//! `lightstream::http::websocket_upgrade`, or refused with a status).
//!
//! The rules a path must pass before a file is opened: it is percent-decoded
//! strictly, and one with `.` / `..` segments, backslashes, NUL or control
//! characters is refused (400); a file is served only if it is a regular
//! file whose canonical path lies under its root's canonical path (so
//! symbolic links cannot lead out) and whose name does not start with a dot
//! (404). The checked canonical path is what `ServeFile` opens, so the path
//! is resolved once.
//!
//! What it is not: the connection's life (timeouts, admission: `mod.rs`) or
//! the stream itself (`stream.rs`).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;
use tower_http::services::fs::{ServeFile, ServeFileSystemResponseBody};

use super::Site;

/// What a response carries: a short text of ours, or a file.
pub(super) type Body = Either<Full<Bytes>, ServeFileSystemResponseBody>;

/// What a stream client that was turned away should wait before trying again.
const RETRY_AFTER_SECS: u64 = 5;

/// What the request handler leaves for the connection: an accepted upgrade
/// (hyper's pending upgrade and the stream slot it holds).
#[derive(Default)]
pub(super) struct Handoff {
    pub(super) upgrade: Mutex<Option<(OnUpgrade, OwnedSemaphorePermit)>>,
}

/// Answers one request. Never fails: every refusal is a status with a reason.
pub(super) async fn respond(
    mut req: Request<Incoming>,
    site: &Site,
    handoff: &Handoff,
) -> Result<Response<Body>, Infallible> {
    if let Some(refusal) = site.hosts.refusal(&req) {
        return Ok(refusal);
    }
    if req.uri().authority().is_some() {
        // Absolute-form targets are for proxies; this is not one.
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            "bad request: not an origin-form target\n",
        ));
    }
    let wants_websocket = req
        .headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
    if wants_websocket {
        return Ok(upgrade(&mut req, site, handoff));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed (GET and HEAD only)\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    let (root, segments) = match route(req.uri().path()) {
        Ok(found) => found,
        Err(status) => return Ok(refusal_of(status)),
    };
    let root = match root {
        Root::Web => site.web.clone(),
        Root::Npm => site.npm.clone(),
    };
    let name = segments.last().cloned().unwrap_or_default();
    let file = tokio::task::spawn_blocking(move || file_under(&root, &segments))
        .await
        .ok()
        .flatten();
    let Some(file) = file else {
        return Ok(refusal_of(StatusCode::NOT_FOUND));
    };
    let served = match ServeFile::new(file).try_call(req).await {
        Ok(r) => r,
        Err(_) => return Ok(refusal_of(StatusCode::INTERNAL_SERVER_ERROR)),
    };
    let (mut parts, body) = served.into_parts();
    if parts.status == StatusCode::NOT_FOUND {
        // Gone between the check and the open.
        return Ok(refusal_of(StatusCode::NOT_FOUND));
    }
    if let Some(media) = text_type(&name) {
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    }
    let mut response = Response::from_parts(parts, Either::Right(body));
    common_headers(&mut response);
    Ok(response)
}

/// The WebSocket upgrade: tungstenite's handshake code checks the request
/// and makes the `101` response; a request it refuses gets the status its
/// error calls for; with every stream slot taken, `503` and `Retry-After`.
fn upgrade(req: &mut Request<Incoming>, site: &Site, handoff: &Handoff) -> Response<Body> {
    // The upgrade checks and the access policy (--allow-origin,
    // --token-file) are the library's, as on any hyper server.
    let (switching, upgrading) =
        match lightstream::http::websocket_upgrade::<_, Full<Bytes>>(req, &site.access, "demo") {
            Ok(accepted) => accepted,
            Err(refused) => {
                let mut r = refused.response::<Full<Bytes>>().map(Either::Left);
                common_headers(&mut r);
                return r;
            }
        };
    let Ok(slot) = site.streams.clone().try_acquire_owned() else {
        let mut r = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "busy: {} streams already (--max-streams); try again later\n",
                site.max_streams
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        return r;
    };
    if let Ok(mut upgrade) = handoff.upgrade.lock() {
        *upgrade = Some((upgrading.into_hyper(), slot));
    }
    switching.map(Either::Left)
}

/// A short plain-text answer.
pub(super) fn answer(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(text.to_string()))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    common_headers(&mut r);
    r
}

/// The answer to a refused path: its status and the status's name.
fn refusal_of(status: StatusCode) -> Response<Body> {
    let name = status.canonical_reason().unwrap_or("error").to_lowercase();
    answer(status, &format!("{name}\n"))
}

/// Every response but `101`: not cached (the page and package change with
/// each build), not sniffed, and the connection closes after it (one request
/// per connection keeps the admission count simple).
fn common_headers(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// The media type of the page's own kinds of file, where it differs from
/// tower-http's guess (mime_guess): text with its charset (the files are
/// UTF-8; without it a browser guesses), JavaScript as `text/javascript`
/// (RFC 9239; mime_guess says `application/javascript` for `.mjs`), and
/// TypeScript declarations (`index.d.ts`) as text, not MPEG transport
/// streams. Other files keep tower-http's type.
fn text_type(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "ts" | "md" | "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Web,
    Npm,
}

/// Maps a request path to a root and the path's segments, or the status to
/// answer with. Strict: `.`/`..` segments, backslashes, NUL and control
/// characters (also percent-encoded) and malformed escapes are refused with
/// 400; empty and dot-file segments are 404.
fn route(path: &str) -> Result<(Root, Vec<String>), StatusCode> {
    if !path.starts_with('/') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let path = percent_decode(path).ok_or(StatusCode::BAD_REQUEST)?;
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let (root, rest): (Root, &[&str]) = match segments.as_slice() {
        [""] | ["index.html"] => (Root::Web, &["index.html"]),
        ["web", rest @ ..] => (Root::Web, rest),
        ["npm", rest @ ..] => (Root::Npm, rest),
        _ => return Err(StatusCode::NOT_FOUND),
    };
    if rest.is_empty() || rest.iter().any(|s| s.is_empty() || s.starts_with('.')) {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok((root, rest.iter().map(|s| s.to_string()).collect()))
}

/// `%XX` escapes decoded; `None` for a malformed escape or a result that is
/// not UTF-8. (Stricter than the percent-encoding crate, which keeps a
/// malformed escape as text.)
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `root/segments...` as a canonical path, if it is a regular file inside
/// `root` (after resolving symbolic links).
fn file_under(root: &Path, segments: &[String]) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in segments {
        path.push(segment);
    }
    let canonical = std::fs::canonicalize(&path).ok()?;
    let regular = std::fs::metadata(&canonical).ok()?.is_file();
    (regular && canonical.starts_with(root)).then_some(canonical)
}

// ------------------------------------------------------------------- Host --

/// The `Host` values a request may carry (against DNS rebinding: a page
/// from elsewhere whose name now resolves to this address sends its own
/// name): the listening address with its port; with a loopback or
/// unspecified address also `localhost`, `127.0.0.1` and `[::1]` with the
/// port; and every `--allow-host` name (`NAME`: any port, `NAME:PORT`: that
/// port). A request without `Host` (HTTP/1.0, tools) passes: browsers always
/// send one. Names compare without regard to case.
#[derive(Debug)]
pub(super) struct Hosts {
    allowed: Vec<(String, Option<u16>)>,
}

impl Hosts {
    pub(super) fn new(local: SocketAddr, extra: &[String]) -> Hosts {
        let port = Some(local.port());
        let literal = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let mut allowed = vec![(literal(local.ip()), port)];
        if local.ip().is_loopback() || local.ip().is_unspecified() {
            for name in ["localhost", "127.0.0.1", "[::1]"] {
                allowed.push((name.to_string(), port));
            }
        }
        for name in extra {
            let (host, port) = split_host(name);
            allowed.push((host.to_ascii_lowercase(), port));
        }
        let mut seen = Vec::new();
        allowed.retain(|entry| {
            let new = !seen.contains(entry);
            seen.push(entry.clone());
            new
        });
        Hosts { allowed }
    }

    /// The origins of pages this server serves: `http://` and each name
    /// with its port (`port`, the listening one, for a name allowed on any).
    pub(super) fn origins(&self, port: u16) -> Vec<String> {
        self.allowed
            .iter()
            .map(|(name, p)| format!("http://{name}:{}", p.unwrap_or(port)))
            .collect()
    }

    /// Whether `host` (a `Host` header's value) names this server.
    pub(super) fn allows(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        self.allowed.iter().any(|(allowed, want)| {
            allowed.eq_ignore_ascii_case(name)
                && match (want, port) {
                    (None, _) => true,
                    (Some(want), Some(port)) => *want == port,
                    // No port in Host means the scheme's default.
                    (Some(want), None) => *want == 80,
                }
        })
    }

    /// The answer to a request whose `Host` is not this server (421), or
    /// that has several (400); `None` for a request that may pass.
    fn refusal(&self, req: &Request<Incoming>) -> Option<Response<Body>> {
        let mut hosts = req.headers().get_all(header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (None, _) => return None,
            (Some(host), None) => host.to_str().unwrap_or_default(),
            (Some(_), Some(_)) => {
                return Some(answer(
                    StatusCode::BAD_REQUEST,
                    "bad request: more than one Host header\n",
                ));
            }
        };
        if self.allows(host) {
            return None;
        }
        let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
        Some(answer(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "Host {shown:?} is not this server's name (allowed: {}; add one with \
                 --allow-host NAME)\n",
                self.describe()
            ),
        ))
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self
            .allowed
            .iter()
            .map(|(name, port)| match port {
                Some(port) => format!("{name}:{port}"),
                None => name.clone(),
            })
            .collect();
        names.join(", ")
    }
}

/// `name[:port]` or `[v6][:port]` as the name and the port (none when
/// absent or not a number, which then never matches a port).
fn split_host(host: &str) -> (&str, Option<u16>) {
    let colon = match host.strip_prefix('[') {
        Some(rest) => rest.find(']').map(|i| i + 2),
        None => host.rfind(':'),
    };
    match colon {
        Some(i) if host.as_bytes().get(i) == Some(&b':') => {
            (&host[..i], host[i + 1..].parse().ok().or(Some(0)))
        }
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_files_under_a_root() {
        let ok = |t: &str| route(t).unwrap_or_else(|s| panic!("{t}: {s:?}"));
        assert_eq!(ok("/"), (Root::Web, vec!["index.html".to_string()]));
        assert_eq!(ok("/web/demo.js"), (Root::Web, vec!["demo.js".to_string()]));
        assert_eq!(
            ok("/npm/pkg/lightstream_wasm_bg.wasm"),
            (
                Root::Npm,
                vec!["pkg".to_string(), "lightstream_wasm_bg.wasm".to_string()]
            )
        );
        assert_eq!(ok("/npm/a%20b.js"), (Root::Npm, vec!["a b.js".to_string()]));
    }

    #[test]
    fn traversal_and_odd_targets_are_refused() {
        let bad = StatusCode::BAD_REQUEST;
        let missing = StatusCode::NOT_FOUND;
        for (target, status) in [
            ("/web/../Cargo.toml", bad),
            ("/npm/%2e%2e/Cargo.toml", bad),
            ("/npm/%2E%2E%2FCargo.toml", bad),
            ("/npm/pkg/../../x", bad),
            ("/web/./index.html", bad),
            ("/web/..%5cx", bad),
            ("/web/a\\b", bad),
            ("/web/a%00b", bad),
            ("/web/a%0ab", bad),
            ("/web/%zz", bad),
            ("/web/%2", bad),
            ("/web/%ff", bad),
            ("*", bad),
            ("web/index.html", bad),
            ("//etc/passwd", missing),
            ("/web//etc/passwd", missing),
            ("/web/%2Fetc%2Fpasswd", missing),
            ("/etc/passwd", missing),
            ("/web/", missing),
            ("/web", missing),
            ("/npm/.gitignore", missing),
            ("/favicon.ico", missing),
        ] {
            assert_eq!(route(target), Err(status), "{target}");
        }
    }

    #[test]
    fn the_pages_text_files_have_a_charset() {
        assert_eq!(text_type("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(
            text_type("index.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(text_type("x.MJS"), Some("text/javascript; charset=utf-8"));
        assert_eq!(text_type("style.css"), Some("text/css; charset=utf-8"));
        assert_eq!(text_type("package.json"), Some("application/json"));
        assert_eq!(text_type("index.d.ts"), Some("text/plain; charset=utf-8"));
        // tower-http's guess stands for the rest (application/wasm, ...).
        assert_eq!(text_type("lightstream_wasm_bg.wasm"), None);
        assert_eq!(text_type("LICENSE"), None);
    }

    #[test]
    fn hosts_are_the_listening_address_loopback_names_and_allowed_names() {
        let loopback = Hosts::new("127.0.0.1:8080".parse().unwrap(), &[]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            "[::1]:8080",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "localhost:8081",
            "localhost",
            "127.0.0.1",
            "localhost.:8080",
            "127.0.0.1:8080:8080",
            "",
            "[::1]",
            "localhost:x",
        ] {
            assert!(!loopback.allows(bad), "{bad}");
        }
        let port_80 = Hosts::new("127.0.0.1:80".parse().unwrap(), &[]);
        assert!(port_80.allows("localhost"));
        let lan = Hosts::new(
            "192.168.1.5:9000".parse().unwrap(),
            &["demo.example".to_string(), "proxy.example:443".to_string()],
        );
        assert!(lan.allows("192.168.1.5:9000"));
        assert!(!lan.allows("localhost:9000"), "not bound to loopback");
        assert!(lan.allows("demo.example"));
        assert!(lan.allows("DEMO.example:1234"));
        assert!(lan.allows("proxy.example:443"));
        assert!(!lan.allows("proxy.example:444"));
        let any = Hosts::new("[::]:7000".parse().unwrap(), &[]);
        assert!(any.allows("[::]:7000"));
        assert!(any.allows("localhost:7000"));
        assert!(any.allows("127.0.0.1:7000"));
    }
}
