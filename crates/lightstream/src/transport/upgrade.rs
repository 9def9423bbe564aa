//! The server side of a WebSocket upgrade, before tungstenite: the request
//! head is read (bounded in size) and checked, so that a request that cannot
//! become a WebSocket gets an HTTP status with a reason (400, 405, 426, 431)
//! rather than a closed socket; a good one is handed to tungstenite with the
//! bytes already read replayed in front of the stream.
//!
//! With the `http` feature the request is also checked against the
//! listener's [`Access`](crate::http::Access) ([`Gate`]: `Origin`, bearer
//! token, subprotocol), refused with `403` or `401` before any upgrade, and
//! a client that offered the Lightstream subprotocol gets it named in the
//! `101` answer.
//!
//! A server at its limit of clients turns an upgrade away with `503` and
//! `Retry-After` ([`busy`], through `Connection::turn_away`).
//!
//! What it is not: an HTTP server. It answers only refusals; the `101
//! Switching Protocols` response and everything after it are tungstenite's.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::error::{Error, Result};

/// The largest request head read (as the demo's HTTP server).
const MAX_HEAD: usize = 16 * 1024;

/// Why an upgrade request is refused: the status, its reason phrase, a
/// header to add, more header lines (each ending in CRLF: an `Access`
/// refusal's), and what was wrong.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    phrase: &'static str,
    pub(crate) header: Option<&'static str>,
    extra: String,
    pub(crate) reason: Cow<'static, str>,
}

const fn refuse(status: u16, phrase: &'static str, reason: &'static str) -> Refusal {
    Refusal {
        status,
        phrase,
        header: None,
        extra: String::new(),
        reason: Cow::Borrowed(reason),
    }
}

impl Refusal {
    /// Every header line to add, each ending in CRLF.
    fn header_lines(&self) -> String {
        let mut lines = self.header.map_or(String::new(), |h| format!("{h}\r\n"));
        lines.push_str(&self.extra);
        lines
    }
}

/// Who may upgrade: the listener's [`Access`](crate::http::Access) with the
/// `http` feature ([`crate::ServerOptions::access`]); anyone without it.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    #[cfg(feature = "http")]
    access: crate::http::Access,
}

impl Gate {
    /// The gate of a listener built with `options`.
    pub(crate) fn new(options: &crate::ServerOptions) -> Gate {
        let _ = options;
        Gate {
            #[cfg(feature = "http")]
            access: options.access.clone(),
        }
    }

    /// Whether `request` (an upgrade RFC 6455 accepts) may upgrade: the
    /// subprotocol to name in the `101` answer (`None`: name none), or the
    /// refusal [`Access::check`](crate::http::Access::check) gave.
    #[cfg(feature = "http")]
    fn admit(
        &self,
        request: &httparse::Request<'_, '_>,
    ) -> std::result::Result<Option<&'static str>, Refusal> {
        let mut builder = http::Request::builder()
            .method(http::Method::GET)
            .uri(request.path.unwrap_or("/"));
        for h in request.headers.iter() {
            builder = builder.header(h.name, h.value);
        }
        let Ok(request) = builder.body(()) else {
            return Err(refuse(400, "Bad Request", "malformed HTTP request head"));
        };
        let (parts, ()) = request.into_parts();
        match self.access.check(&parts) {
            Ok(granted) => Ok(granted.subprotocol.then_some(crate::http::SUBPROTOCOL)),
            Err(refused) => {
                let response = refused.response::<String>();
                let status = response.status();
                let mut extra = String::new();
                for (name, value) in response.headers() {
                    if name != http::header::CONTENT_TYPE
                        && let Ok(value) = value.to_str()
                    {
                        extra.push_str(&format!("{name}: {value}\r\n"));
                    }
                }
                Err(Refusal {
                    status: status.as_u16(),
                    phrase: status.canonical_reason().unwrap_or("Refused"),
                    header: None,
                    extra,
                    reason: Cow::Owned(refused.detail),
                })
            }
        }
    }

    #[cfg(not(feature = "http"))]
    fn admit(
        &self,
        _: &httparse::Request<'_, '_>,
    ) -> std::result::Result<Option<&'static str>, Refusal> {
        Ok(None)
    }
}

/// An upgrade request that passed [`check`]: the stream with the head
/// replayed in front of it, and the subprotocol the `101` answer names.
pub(crate) struct Admitted<S> {
    pub(crate) stream: Replay<S>,
    pub(crate) subprotocol: Option<&'static str>,
}

/// Reads the request head from `stream`; answers a request that cannot be
/// upgraded, or that `gate` refuses, with its status and returns
/// [`Error::Upgrade`]; otherwise returns the stream with the head replayed
/// in front of it.
pub(crate) async fn check<S>(mut stream: S, peer: &str, gate: &Gate) -> Result<Admitted<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let verdict = match read_head(&mut stream, peer).await? {
        Ok((head, end)) => judge(&head[..end], gate).map(|sub| (head, sub)),
        Err(refusal) => Err(refusal),
    };
    match verdict {
        Ok((head, subprotocol)) => Ok(Admitted {
            stream: Replay {
                head,
                at: 0,
                inner: stream,
            },
            subprotocol,
        }),
        Err(r) => {
            answer(
                &mut stream,
                r.status,
                r.phrase,
                &r.header_lines(),
                &r.reason,
            )
            .await;
            Err(Error::Upgrade {
                peer: peer.to_string(),
                status: r.status,
                reason: r.reason.into_owned(),
            })
        }
    }
}

/// Turns an upgrade request away for now (a server at its limit of
/// clients): once the request head has arrived (whatever it says; reading
/// it first keeps the close from resetting the connection before the client
/// read the answer), answers `503 Service Unavailable` with `Retry-After`
/// (whole seconds, at least 1) and `reason`.
pub(crate) async fn busy<S>(
    mut stream: S,
    peer: &str,
    retry_after: std::time::Duration,
    reason: &str,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _head = read_head(&mut stream, peer).await?;
    let seconds = retry_after.as_secs().max(1);
    let extra = format!("Retry-After: {seconds}\r\n");
    answer(&mut stream, 503, "Service Unavailable", &extra, reason).await;
    Ok(())
}

/// Reads until the request head is complete: the bytes read (the head and
/// whatever followed it) and where the head ends, or the refusal of a head
/// over [`MAX_HEAD`].
async fn read_head<S>(
    stream: &mut S,
    peer: &str,
) -> Result<std::result::Result<(Vec<u8>, usize), Refusal>>
where
    S: AsyncRead + Unpin,
{
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&head) {
            return Ok(Ok((head, end)));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Err(refuse(
                431,
                "Request Header Fields Too Large",
                "the request head is larger than 16 KiB",
            )));
        }
        let n = stream.read(&mut chunk).await.map_err(|e| {
            Error::io(
                format!("reading the WebSocket upgrade request of {peer}"),
                e,
            )
        })?;
        if n == 0 {
            return Err(Error::Upgrade {
                peer: peer.to_string(),
                status: 400,
                reason: "the connection closed inside the request head".to_string(),
            });
        }
        head.extend_from_slice(&chunk[..n]);
    }
}

/// Writes a refusal (`extra`: header lines, each ending in CRLF; the body is
/// `reason` and a newline) and closes the sending side. Best effort: the
/// peer may be gone already.
async fn answer<S>(stream: &mut S, status: u16, phrase: &str, extra: &str, reason: &str)
where
    S: AsyncWrite + Unpin,
{
    let body = format!("{reason}\n");
    let response = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Where the head ends (after its blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Whether a request head asks for a WebSocket the way RFC 6455 section 4.2.1
/// says, and what to answer when it does not.
fn judge(head: &[u8], gate: &Gate) -> std::result::Result<Option<&'static str>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(refuse(400, "Bad Request", "malformed HTTP request head"));
        }
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    judge_request(request.method, request.version == Some(1), &header)?;
    gate.admit(&request)
}

/// RFC 6455 section 4.2.1 on a parsed request: its method, whether it is
/// HTTP/1.1, and its headers by name (any case; the value of the first one,
/// trimmed). Shared by our own listener ([`check`]) and the upgrade of a
/// hyper request (`lightstream::http::websocket_upgrade`).
pub(crate) fn judge_request<'h>(
    method: Option<&str>,
    http11: bool,
    header: &dyn Fn(&str) -> Option<&'h str>,
) -> std::result::Result<(), Refusal> {
    if method != Some("GET") {
        return Err(Refusal {
            header: Some("Allow: GET"),
            ..refuse(
                405,
                "Method Not Allowed",
                "a WebSocket upgrade is a GET request",
            )
        });
    }
    if !http11 {
        return Err(refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade needs HTTP/1.1",
        ));
    }
    let upgrade_required = Refusal {
        header: Some("Upgrade: websocket"),
        ..refuse(
            426,
            "Upgrade Required",
            "this endpoint speaks WebSocket only (Upgrade: websocket, Connection: Upgrade)",
        )
    };
    if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(upgrade_required);
    }
    let connection_upgrade = header("Connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection_upgrade {
        return Err(upgrade_required);
    }
    if header("Sec-WebSocket-Version") != Some("13") {
        return Err(Refusal {
            header: Some("Sec-WebSocket-Version: 13"),
            ..refuse(
                426,
                "Upgrade Required",
                "only WebSocket version 13 is spoken",
            )
        });
    }
    // The key is 16 random bytes in base64: 22 characters and "==".
    let key_ok = header("Sec-WebSocket-Key").is_some_and(|k| {
        k.len() == 24
            && k.ends_with("==")
            && k.bytes()
                .take(22)
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    if !key_ok {
        return Err(refuse(
            400,
            "Bad Request",
            "missing or malformed Sec-WebSocket-Key",
        ));
    }
    Ok(())
}

/// A stream whose first bytes are the request head already read.
pub(crate) struct Replay<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.head.len() {
            let n = (this.head.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &[&str]) -> Vec<u8> {
        let mut r = lines.join("\r\n");
        r.push_str("\r\n\r\n");
        r.into_bytes()
    }

    const GOOD: [&str; 6] = [
        "GET /t HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];

    fn status_of(lines: &[&str]) -> u16 {
        judge(&request(lines), &Gate::default())
            .err()
            .map_or(101, |r| r.status)
    }

    #[test]
    fn each_broken_part_of_an_upgrade_gets_its_status() {
        assert_eq!(status_of(&GOOD), 101);
        let with = |i: usize, line: &'static str| {
            let mut l = GOOD.to_vec();
            l[i] = line;
            l
        };
        assert_eq!(status_of(&with(0, "POST /t HTTP/1.1")), 405);
        assert_eq!(status_of(&with(0, "GET /t HTTP/1.0")), 400);
        assert_eq!(status_of(&with(2, "X-No: upgrade")), 426);
        assert_eq!(status_of(&with(3, "X-No: connection")), 426);
        assert_eq!(status_of(&with(4, "Sec-WebSocket-Version: 8")), 426);
        assert_eq!(status_of(&with(5, "X-No: key")), 400);
        assert_eq!(status_of(&with(5, "Sec-WebSocket-Key: short")), 400);
        assert_eq!(
            judge(b"\x00\x01 not http\r\n\r\n", &Gate::default())
                .err()
                .map(|r| r.status),
            Some(400)
        );
    }
}
