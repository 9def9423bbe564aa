//! Arrow over HTTP inside the web server you already run (feature `http`):
//! what a hyper or axum application needs to serve Lightstream streams on
//! its own routes.
//!
//! - [`Access`]: who may open a stream. An `Origin` allow-list (secure by
//!   default: [`Origins::SameHost`]), an optional bearer token
//!   ([`TokenCheck`]: `Authorization: Bearer` on HTTP, the subprotocol
//!   `lightstream.token.<token>` on a browser's WebSocket) and the
//!   [`SUBPROTOCOL`] check. A refusal ([`Refused`]) is an ordinary HTTP
//!   response (403, 401, 400, 426).
//! - [`ArrowBody`]: an Arrow IPC stream as a response body
//!   (`Content-Type: application/vnd.apache.arrow.stream`) from tables or
//!   a [`Hub`](crate::hub::Hub) subscription, produced only as hyper polls
//!   it, so a slow client slows the producer and nothing queues.
//! - With the `websocket` feature, [`websocket_upgrade`]: the WebSocket
//!   upgrade of a hyper request, answered with `101` and handed over as a
//!   [`Connection`](crate::Connection) speaking docs/websocket-protocol.md.
//!
//! The application sees every request first (path, query, headers,
//! cookies): it routes, picks a feed and authenticates before it calls
//! these. Not here: a server of our own (that is `http://` in
//! [`crate::bind`]), routing, CORS, TLS termination.
//!
//! The conventions are Apache Arrow's "Arrow over HTTP" ones (apache/arrow#40465
//! and the apache/arrow-experiments `http/` examples): the IANA media type,
//! one IPC stream per response (no multipart), IPC body compression asked for
//! with a `codecs` parameter of `Accept` ([`negotiate_compression`]), and an
//! error mid-stream signalled by breaking the response (no terminating chunk
//! on HTTP/1.1, `RST_STREAM` on HTTP/2), so a client reads a truncated
//! stream, never a short valid one. The guide is docs/web-server.md.

pub(crate) mod access;
mod body;
#[cfg(feature = "websocket")]
pub(crate) mod upgrade;

pub use access::{Access, Granted, Origins, Refused, RefusedKind, TokenCheck, allow_origin};
pub use body::{ArrowBody, CHUNK_BYTES};
#[cfg(feature = "websocket")]
pub use upgrade::{Upgrading, websocket_upgrade};
// The `http://` transport's listener (transport/http.rs) builds on it.
#[cfg(feature = "flight")]
pub(crate) use body::channel_with_trailers;
#[allow(unused_imports)]
pub(crate) use body::{BodySink, channel};

use http::HeaderValue;
use lightstream_core::Compression;

/// The IANA media type of the Arrow IPC stream format.
pub const CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";

/// The WebSocket subprotocol of docs/websocket-protocol.md. A client offers
/// it in `Sec-WebSocket-Protocol`; the server answers with it (and only it).
#[cfg(feature = "websocket")]
pub use crate::transport::websocket::SUBPROTOCOL;
/// The WebSocket subprotocol of docs/websocket-protocol.md. A client offers
/// it in `Sec-WebSocket-Protocol`; the server answers with it (and only it).
#[cfg(not(feature = "websocket"))]
pub const SUBPROTOCOL: &str = "lightstream.arrow.v1";

/// The prefix of the second subprotocol a browser offers to carry a bearer
/// token (`lightstream.token.<token>`: browsers cannot set headers on a
/// WebSocket). The server never echoes it.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "lightstream.token.";

/// The `Content-Type` of a stream written with `compression`:
/// `application/vnd.apache.arrow.stream`, with `; codecs=zstd` or
/// `; codecs=lz4` when its bodies are compressed (the arrow-experiments
/// convention).
pub fn content_type(compression: Compression) -> HeaderValue {
    HeaderValue::from_static(match compression {
        Compression::None => CONTENT_TYPE,
        Compression::Zstd => "application/vnd.apache.arrow.stream; codecs=zstd",
        Compression::Lz4Frame => "application/vnd.apache.arrow.stream; codecs=lz4",
    })
}

/// The IPC body compression a client asked for: the first codec of the
/// `codecs` parameter of an `Accept` media range
/// `application/vnd.apache.arrow.stream` (`Accept:
/// application/vnd.apache.arrow.stream; codecs="zstd, lz4"`) that this
/// build can write (features `zstd`, `lz4`); `Compression::None` when
/// there is none. This is IPC body compression, not `Content-Encoding`:
/// a reader decompresses each buffer, nothing compresses the stream as a
/// whole (no double compression).
pub fn negotiate_compression(headers: &http::HeaderMap) -> Compression {
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in split_outside_quotes(value, ',') {
            let mut parts = split_outside_quotes(range, ';').into_iter();
            let media = parts.next().unwrap_or_default().trim();
            if !media.eq_ignore_ascii_case(CONTENT_TYPE) {
                continue;
            }
            for param in parts {
                let Some((name, codecs)) = param.split_once('=') else {
                    continue;
                };
                if !name.trim().eq_ignore_ascii_case("codecs") {
                    continue;
                }
                for codec in codecs.trim().trim_matches('"').split(',') {
                    if let Some(c) = supported_codec(codec.trim()) {
                        return c;
                    }
                }
            }
        }
    }
    Compression::None
}

/// A codec name of the `codecs` parameter this build writes.
fn supported_codec(name: &str) -> Option<Compression> {
    if cfg!(feature = "zstd") && name.eq_ignore_ascii_case("zstd") {
        return Some(Compression::Zstd);
    }
    if cfg!(feature = "lz4") && name.eq_ignore_ascii_case("lz4") {
        return Some(Compression::Lz4Frame);
    }
    None
}

/// `s` split at `sep`, except inside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn compression_is_the_first_codec_the_client_lists_that_we_write() {
        let c = |v| negotiate_compression(&accept(v));
        assert_eq!(c("*/*"), Compression::None);
        assert_eq!(c(CONTENT_TYPE), Compression::None);
        #[cfg(all(feature = "zstd", feature = "lz4"))]
        {
            assert_eq!(
                c("application/vnd.apache.arrow.stream; codecs=\"zstd, lz4\""),
                Compression::Zstd
            );
            assert_eq!(
                c("text/html, application/vnd.apache.arrow.stream;codecs=\"brotli, lz4\";q=0.9"),
                Compression::Lz4Frame
            );
            assert_eq!(
                c("application/vnd.apache.arrow.stream; codecs=LZ4"),
                Compression::Lz4Frame
            );
        }
        // A codecs parameter on another media type is not ours.
        assert_eq!(c("application/json; codecs=zstd"), Compression::None);
        assert_eq!(
            negotiate_compression(&http::HeaderMap::new()),
            Compression::None
        );
    }

    #[test]
    fn the_content_type_names_the_codec() {
        assert_eq!(content_type(Compression::None), CONTENT_TYPE);
        assert_eq!(
            content_type(Compression::Zstd),
            "application/vnd.apache.arrow.stream; codecs=zstd"
        );
    }
}
