//! [`Endpoint`]: where tables go or come from, parsed from a URL
//! (`tcp://host:port`, `tls://host:port`, `unix:///path`,
//! `ws://host:port/path`, `wss://host:port/path`, `quic://host:port`,
//! `http://host[:port]/path`, `https://host[:port]/path`,
//! `grpc://host:port[/?ticket=T|path=a/b|cmd=C]`, `grpc+tls://...`,
//! `nats://host[:port]/subject[?mode=..]`, `nats+tls://...`, or `-` for
//! stdin/stdout).
//!
//! What it is not: a connection. [`crate::connect`] and [`crate::bind`]
//! (in `transport`) dispatch an endpoint to its transport's module.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

/// Where tables go or come from.
///
/// ```
/// use lightstream::Endpoint;
///
/// let e: Endpoint = "tcp://127.0.0.1:9000".parse()?;
/// assert_eq!(e, Endpoint::Tcp("127.0.0.1:9000".into()));
/// assert_eq!(e.to_string(), "tcp://127.0.0.1:9000");
/// assert_eq!("-".parse::<Endpoint>()?, Endpoint::Stdio);
/// let unix: Endpoint = "unix:///run/feed.sock".parse()?;
/// assert!(matches!(unix, Endpoint::Unix(path) if path.ends_with("feed.sock")));
/// // A bad URL is an error that says what is wrong with it.
/// let err = "tcp://no-port".parse::<Endpoint>().unwrap_err();
/// assert!(err.to_string().contains("tcp://no-port"));
/// # Ok::<(), lightstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://host:port`: the Arrow IPC stream format over TCP.
    Tcp(String),
    /// `tls://host:port`: the Arrow IPC stream format over TLS over TCP. The
    /// host also names the server in its TLS certificate.
    Tls(String),
    /// `unix:///path/to/socket`: the Arrow IPC stream format over a Unix domain socket.
    Unix(PathBuf),
    /// `ws://host:port/path`: one IPC message per binary WebSocket message.
    WebSocket(String),
    /// `wss://host:port/path`: [`Endpoint::WebSocket`] over TLS. The host also
    /// names the server in its TLS certificate.
    SecureWebSocket(String),
    /// `quic://host:port`: one IPC stream per QUIC stream. The host also
    /// names the server in its TLS certificate.
    Quic(String),
    /// `http://host[:port]/path[?query]`: the Arrow IPC stream format as the
    /// body of an HTTP response (a client reads with `GET`) or request (a
    /// client writes with `POST`); port 80 when not given. docs/http.md.
    Http(String),
    /// `https://host[:port]/path[?query]`: [`Endpoint::Http`] over TLS; port
    /// 443 when not given. The host also names the server in its TLS
    /// certificate.
    Https(String),
    /// `grpc://host:port` (also written `grpc+tcp://host:port`): Arrow
    /// Flight over gRPC over HTTP/2 without TLS (feature `flight`). A client
    /// reads a DoGet stream or writes a DoPut stream; the ticket or
    /// descriptor is in the URL's query (`/?ticket=T`, `/?path=a/b`,
    /// `/?cmd=C`: [`FlightName`]) or in [`crate::ClientOptions::flight`].
    /// docs/flight.md.
    Grpc {
        /// The host as written in the URL (an IPv6 address keeps its brackets).
        host: String,
        /// The port.
        port: u16,
        /// The flight the URL's query names, if any.
        flight: Option<FlightName>,
    },
    /// `grpc+tls://host:port`: [`Endpoint::Grpc`] over TLS (features `flight`
    /// and `tls`). The host also names the server in its TLS certificate.
    GrpcTls {
        /// The host as written in the URL (an IPv6 address keeps its brackets).
        host: String,
        /// The port.
        port: u16,
        /// The flight the URL's query names, if any.
        flight: Option<FlightName>,
    },
    /// `nats://host[:port]/subject[?query]`: a live feed on a NATS subject
    /// (feature `nats`; port 4222 when not given). A writer publishes one IPC
    /// message per NATS message, a reader subscribes; with JetStream (the
    /// default mode) a reader that joins late gets the schema and the current
    /// dictionaries first. The query sets [`NatsQuery`]. docs/nats.md.
    Nats {
        /// The host as written in the URL (an IPv6 address keeps its brackets).
        host: String,
        /// The port (4222 when the URL has none).
        port: u16,
        /// `nats+tls://`: the client connection runs TLS (the host also
        /// names the server in its certificate).
        tls: bool,
        /// The feed's subject: dot-separated tokens of letters, digits, `-`
        /// and `_` (no wildcards); its messages travel on `SUBJECT.schema`
        /// and `SUBJECT.msg`.
        subject: String,
        /// What the URL's query sets (boxed: it would make every
        /// `Endpoint` twice as large).
        query: Box<NatsQuery>,
    },
    /// `-`: the Arrow IPC stream format on stdin (reading) and stdout (writing).
    Stdio,
}

/// How a `nats://` feed is carried: core NATS (at most once, no history) or
/// JetStream (stored in a stream: late joiners, resume, server restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NatsMode {
    /// `mode=core`: plain publish/subscribe; what a subscriber misses is lost.
    Core,
    /// `mode=jetstream` (the default): the feed is kept in a JetStream stream.
    #[default]
    JetStream,
}

impl NatsMode {
    /// Its name in URLs (`core`, `jetstream`).
    pub fn as_str(self) -> &'static str {
        match self {
            NatsMode::Core => "core",
            NatsMode::JetStream => "jetstream",
        }
    }
}

/// What the query of a `nats://` URL sets; `None` leaves the value to
/// `lightstream::nats::NatsOptions` (feature `nats`). Keys: `mode`
/// (`core`, `jetstream`), `stream` (the JetStream stream's name), `resume`
/// (a subscriber's bookmark name), `max_age` and `restate_every` (durations:
/// `500ms`, `30s`, `5m`, `1h`, `2d`), `max_bytes` (a size: `4096`, `64K`,
/// `8M`, `1G`). Credentials are never part of the URL (URLs end up in logs
/// and errors): use `ClientOptions::token`.
///
/// ```
/// use std::time::Duration;
/// use lightstream::{Endpoint, NatsMode};
///
/// let e: Endpoint = "nats://127.0.0.1/feeds.trades?mode=core&max_age=1h".parse()?;
/// let Endpoint::Nats { port, subject, query, .. } = &e else { unreachable!() };
/// assert_eq!((*port, subject.as_str()), (4222, "feeds.trades"));
/// assert_eq!(query.mode, Some(NatsMode::Core));
/// assert_eq!(query.max_age, Some(Duration::from_secs(3600)));
/// assert_eq!(e.to_string(), "nats://127.0.0.1:4222/feeds.trades?mode=core&max_age=1h");
/// # Ok::<(), lightstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct NatsQuery {
    /// `mode=core|jetstream`.
    pub mode: Option<NatsMode>,
    /// `stream=NAME`: the JetStream stream (default `LS_<subject, . as _>`).
    pub stream: Option<String>,
    /// `resume=NAME`: a subscriber resumes from its bookmark `NAME`.
    pub resume: Option<String>,
    /// `max_age=DURATION`: how long the stream keeps messages.
    pub max_age: Option<Duration>,
    /// `max_bytes=SIZE`: how many bytes the stream keeps.
    pub max_bytes: Option<u64>,
    /// `restate_every=DURATION`: how often a publisher restates the schema
    /// and dictionaries for late joiners.
    pub restate_every: Option<Duration>,
}

/// A name in a NATS URL (a token of a subject, a stream or bookmark name):
/// letters, digits, `-` and `_`, not empty.
fn check_nats_token(what: &str, token: &str) -> std::result::Result<(), String> {
    if token.is_empty() {
        return Err(format!("{what} has an empty token"));
    }
    if let Some(c) = token
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        let why = match c {
            '*' | '>' => "wildcards cannot name one feed",
            _ => "a token holds letters, digits, - and _",
        };
        return Err(format!("{what} token {token:?} has {c:?}: {why}"));
    }
    Ok(())
}

/// `500ms`, `30s`, `5m`, `1h`, `2d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..digits].parse().ok()?;
    let unit = match &text[digits..] {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(unit)?))
}

/// A duration as [`parse_duration`] reads it, in its largest exact unit.
fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    for (unit, secs) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s != 0 && s.is_multiple_of(secs) {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

/// `4096`, `64K`, `8M`, `1G`, `1T` (powers of 1024).
fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        b'T' | b't' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A size as [`parse_size`] reads it, in its largest exact unit.
fn format_size(n: u64) -> String {
    for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        if n != 0 && n.trailing_zeros() >= shift {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

impl NatsQuery {
    /// From a URL's query (without the `?`).
    fn from_query(query: &str) -> std::result::Result<NatsQuery, String> {
        let mut q = NatsQuery::default();
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("query part {pair:?} is not key=value"))?;
            let twice = || format!("{key} is given twice");
            let bad = |what: &str| format!("{key}={value:?} is not {what}");
            match key {
                "mode" => {
                    let mode = match value {
                        "core" => NatsMode::Core,
                        "jetstream" => NatsMode::JetStream,
                        _ => return Err(bad("core or jetstream")),
                    };
                    q.mode.replace(mode).map_or(Ok(()), |_| Err(twice()))?;
                }
                "stream" | "resume" => {
                    check_nats_token(key, value)?;
                    let slot = if key == "stream" {
                        &mut q.stream
                    } else {
                        &mut q.resume
                    };
                    slot.replace(value.to_string())
                        .map_or(Ok(()), |_| Err(twice()))?;
                }
                "max_age" | "restate_every" => {
                    let d = parse_duration(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("a duration above zero (500ms, 30s, 5m, 1h, 2d)"))?;
                    let slot = if key == "max_age" {
                        &mut q.max_age
                    } else {
                        &mut q.restate_every
                    };
                    slot.replace(d).map_or(Ok(()), |_| Err(twice()))?;
                }
                "max_bytes" => {
                    let n = parse_size(value)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("a size above zero (4096, 64K, 8M, 1G)"))?;
                    q.max_bytes.replace(n).map_or(Ok(()), |_| Err(twice()))?;
                }
                other => {
                    return Err(format!(
                        "unknown query key {other:?} (a nats URL takes mode, stream, resume, \
                         max_age, max_bytes, restate_every)"
                    ));
                }
            }
        }
        Ok(q)
    }
}

impl fmt::Display for NatsQuery {
    /// The query without its `?`, keys in a fixed order (empty when nothing is set).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut put = |f: &mut fmt::Formatter<'_>, key: &str, value: String| {
            let r = write!(f, "{sep}{key}={value}");
            sep = "&";
            r
        };
        if let Some(m) = self.mode {
            put(f, "mode", m.as_str().to_string())?;
        }
        if let Some(s) = &self.stream {
            put(f, "stream", s.clone())?;
        }
        if let Some(r) = &self.resume {
            put(f, "resume", r.clone())?;
        }
        if let Some(d) = self.max_age {
            put(f, "max_age", format_duration(d))?;
        }
        if let Some(n) = self.max_bytes {
            put(f, "max_bytes", format_size(n))?;
        }
        if let Some(d) = self.restate_every {
            put(f, "restate_every", format_duration(d))?;
        }
        Ok(())
    }
}

/// The flight a `grpc://` or `grpc+tls://` URL names in its query: exactly
/// one of `ticket`, `path` or `cmd`, percent-decoded (RFC 3986: `%2F` is a
/// `/` inside a path segment, `+` is a plus sign).
///
/// ```
/// use lightstream::{Endpoint, FlightName};
///
/// let get: Endpoint = "grpc://127.0.0.1:8815/?ticket=trades%202024".parse()?;
/// assert_eq!(get.flight_name(), Some(&FlightName::Ticket("trades 2024".into())));
/// let put: Endpoint = "grpc://127.0.0.1:8815/?path=uploads/today".parse()?;
/// assert_eq!(
///     put.flight_name(),
///     Some(&FlightName::Path(vec!["uploads".into(), "today".into()]))
/// );
/// assert_eq!(put.to_string(), "grpc://127.0.0.1:8815/?path=uploads/today");
/// // A bad escape is an error naming the part of the URL it is in.
/// let err = "grpc://h:1/?ticket=%zz".parse::<Endpoint>().unwrap_err();
/// assert!(err.to_string().contains("ticket"), "{err}");
/// # Ok::<(), lightstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlightName {
    /// `?ticket=TEXT`: the ticket of a `DoGet` (bytes: `%00`-`%FF`).
    Ticket(Bytes),
    /// `?path=a/b`: a path descriptor (`["a", "b"]`), each segment UTF-8 and
    /// not empty: a client reads it with `GetFlightInfo` and a `DoGet` of
    /// each endpoint, or writes it with `DoPut`.
    Path(Vec<String>),
    /// `?cmd=TEXT`: a command descriptor (opaque bytes, such as a query).
    Cmd(Bytes),
}

/// The longest value of `ticket`, `path` or `cmd` in a URL, as written
/// (percent-encoded): far above the tickets servers hand out, far below
/// what would make a URL a way to allocate.
pub const MAX_URL_FLIGHT_BYTES: usize = 64 << 10;

impl FlightName {
    /// From a URL's query (without the `?`): one `key=value`.
    fn from_query(query: &str) -> std::result::Result<FlightName, String> {
        let mut found: Option<FlightName> = None;
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("query part {pair:?} is not key=value"))?;
            if value.len() > MAX_URL_FLIGHT_BYTES {
                return Err(format!(
                    "{key} is {} bytes long, over the limit of {MAX_URL_FLIGHT_BYTES}",
                    value.len()
                ));
            }
            let name = match key {
                "ticket" => FlightName::Ticket(percent_decode(key, value)?.into()),
                "cmd" => FlightName::Cmd(percent_decode(key, value)?.into()),
                "path" => FlightName::Path(
                    value
                        .split('/')
                        .enumerate()
                        .map(|(i, segment)| {
                            let part = format!("path segment {}", i + 1);
                            String::from_utf8(percent_decode(&part, segment)?)
                                .map_err(|_| format!("{part} is not UTF-8"))
                        })
                        .collect::<std::result::Result<_, String>>()?,
                ),
                other => {
                    return Err(format!(
                        "unknown query key {other:?} (a grpc URL takes one of ticket, path, cmd)"
                    ));
                }
            };
            if found.is_some() {
                return Err(
                    "the query names more than one flight (one of ticket, path, cmd)".to_string(),
                );
            }
            found = Some(name);
        }
        found.ok_or_else(|| "an empty query".to_string())
    }
}

impl fmt::Display for FlightName {
    /// The query, `ticket=...`, `path=...` or `cmd=...`, percent-encoded
    /// (all but letters, digits and `-._~`; `/` between path segments).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encode = |f: &mut fmt::Formatter<'_>, bytes: &[u8]| -> fmt::Result {
            for &b in bytes {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "%{b:02X}")?;
                }
            }
            Ok(())
        };
        match self {
            FlightName::Ticket(t) => {
                f.write_str("ticket=")?;
                encode(f, t)
            }
            FlightName::Cmd(c) => {
                f.write_str("cmd=")?;
                encode(f, c)
            }
            FlightName::Path(segments) => {
                f.write_str("path=")?;
                for (i, segment) in segments.iter().enumerate() {
                    if i > 0 {
                        f.write_str("/")?;
                    }
                    encode(f, segment.as_bytes())?;
                }
                Ok(())
            }
        }
    }
}

/// `text` with its `%XX` escapes decoded; a `%` not followed by two hex
/// digits, or nothing at all, is an error naming `part`.
fn percent_decode(part: &str, text: &str) -> std::result::Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err(format!("{part} is empty"));
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let escape = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| Some(hex(pair[0])? * 16 + hex(pair[1])?));
        match escape {
            // Two hex digits are at most 0xFF.
            Some(v) => out.push(v as u8),
            None => {
                let bad: String = text[i..].chars().take(3).collect();
                return Err(format!("{part} has a bad percent escape {bad:?}"));
            }
        }
        i += 3;
    }
    Ok(out)
}

impl Endpoint {
    /// `host:port` of a `grpc://` or `grpc+tls://` endpoint.
    #[cfg(feature = "flight")]
    pub(crate) fn grpc_hostport(&self) -> Option<String> {
        match self {
            Endpoint::Grpc { host, port, .. } | Endpoint::GrpcTls { host, port, .. } => {
                Some(format!("{host}:{port}"))
            }
            _ => None,
        }
    }

    /// The flight a `grpc://` or `grpc+tls://` URL names (its query).
    pub fn flight_name(&self) -> Option<&FlightName> {
        match self {
            Endpoint::Grpc { flight, .. } | Endpoint::GrpcTls { flight, .. } => flight.as_ref(),
            _ => None,
        }
    }

    /// The server of a `grpc://` or `grpc+tls://` URL, without the flight
    /// its query names (a listener's URL; the peer named in errors).
    pub fn without_flight_name(&self) -> Endpoint {
        let mut server = self.clone();
        if let Endpoint::Grpc { flight, .. } | Endpoint::GrpcTls { flight, .. } = &mut server {
            *flight = None;
        }
        server
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Endpoint> {
        if s == "-" {
            return Ok(Endpoint::Stdio);
        }
        let bad = |why: &str| Error::Config(format!("bad endpoint URL {s:?}: {why}"));
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            bad(
                "expected tcp://host:port, tls://host:port, unix:///path, ws://host:port/path, \
                 wss://host:port/path, quic://host:port, http(s)://host[:port]/path, \
                 grpc://host:port, grpc+tls://host:port, nats://host[:port]/subject or -",
            )
        })?;
        let authority = |rest: &str| -> Result<String> {
            let hostport = rest.split('/').next().unwrap_or_default();
            let (host, port) = hostport
                .rsplit_once(':')
                .ok_or_else(|| bad("missing :port"))?;
            if host.is_empty() {
                return Err(bad("missing host"));
            }
            port.parse::<u16>()
                .map_err(|_| bad(&format!("port {port:?} is not a number from 0 to 65535")))?;
            Ok(hostport.to_string())
        };
        let no_path = |a: String| -> Result<String> {
            if rest.len() > a.len() && rest[a.len()..] != *"/" {
                return Err(bad(&format!("a {scheme} URL has no path")));
            }
            Ok(a)
        };
        match scheme {
            "tcp" => Ok(Endpoint::Tcp(no_path(authority(rest)?)?)),
            "tls" => Ok(Endpoint::Tls(no_path(authority(rest)?)?)),
            "quic" => Ok(Endpoint::Quic(no_path(authority(rest)?)?)),
            "grpc" | "grpc+tcp" | "grpc+tls" => {
                if rest.contains('#') {
                    return Err(bad("a grpc URL has no #fragment"));
                }
                let (server, query) = match rest.split_once('?') {
                    Some((server, query)) => (server, Some(query)),
                    None => (rest, None),
                };
                let hostport = authority(server)?;
                if server.len() > hostport.len() && server[hostport.len()..] != *"/" {
                    return Err(bad(&format!(
                        "a {scheme} URL has no path: name a path descriptor as /?path=a/b"
                    )));
                }
                let (host, port) = hostport
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .ok_or_else(|| bad("missing :port"))?;
                let flight = query
                    .map(FlightName::from_query)
                    .transpose()
                    .map_err(|why| bad(&why))?;
                if scheme == "grpc+tls" {
                    Ok(Endpoint::GrpcTls { host, port, flight })
                } else {
                    Ok(Endpoint::Grpc { host, port, flight })
                }
            }
            "unix" => {
                if !rest.starts_with('/') || rest.len() < 2 {
                    return Err(bad("expected an absolute path: unix:///path/to/socket"));
                }
                Ok(Endpoint::Unix(PathBuf::from(rest)))
            }
            "ws" => {
                authority(rest)?;
                Ok(Endpoint::WebSocket(s.to_string()))
            }
            "wss" => {
                authority(rest)?;
                Ok(Endpoint::SecureWebSocket(s.to_string()))
            }
            "http" | "https" => {
                // The port may be left out (80, 443); a host is required.
                let hostport = rest.split(['/', '?']).next().unwrap_or_default();
                if hostport.contains(':') && !hostport.ends_with(']') {
                    authority(hostport)?;
                } else if hostport.is_empty() || hostport == "[]" {
                    return Err(bad("missing host"));
                }
                if scheme == "http" {
                    Ok(Endpoint::Http(s.to_string()))
                } else {
                    Ok(Endpoint::Https(s.to_string()))
                }
            }
            "nats" | "nats+tls" => {
                let (server, query) = match rest.split_once('?') {
                    Some((server, query)) => (server, Some(query)),
                    None => (rest, None),
                };
                let (hostport, subject) = server.split_once('/').unwrap_or((server, ""));
                if hostport.contains('@') {
                    return Err(bad(
                        "credentials do not go in a nats URL (URLs end up in logs and \
                         errors): use ClientOptions::token (the CLI's --token-file)",
                    ));
                }
                if rest.contains('#') {
                    return Err(bad("a nats URL has no #fragment"));
                }
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) if !hostport.ends_with(']') => {
                        let port = p.parse::<u16>().map_err(|_| {
                            bad(&format!("port {p:?} is not a number from 0 to 65535"))
                        })?;
                        (h, port)
                    }
                    _ => (hostport, 4222),
                };
                if host.is_empty() || host == "[]" {
                    return Err(bad("missing host"));
                }
                if subject.is_empty() {
                    return Err(bad("missing subject: nats://host[:port]/subject"));
                }
                for token in subject.split('.') {
                    check_nats_token("subject", token).map_err(|why| bad(&why))?;
                }
                let query = Box::new(match query {
                    Some(q) => NatsQuery::from_query(q).map_err(|why| bad(&why))?,
                    None => NatsQuery::default(),
                });
                Ok(Endpoint::Nats {
                    host: host.to_string(),
                    port,
                    tls: scheme == "nats+tls",
                    subject: subject.to_string(),
                    query,
                })
            }
            other => Err(bad(&format!(
                "unknown scheme {other:?} (expected tcp, tls, unix, ws, wss, quic, http, https, \
                 grpc, grpc+tcp, grpc+tls, nats or nats+tls)"
            ))),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Tls(a) => write!(f, "tls://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::WebSocket(u)
            | Endpoint::SecureWebSocket(u)
            | Endpoint::Http(u)
            | Endpoint::Https(u) => write!(f, "{u}"),
            Endpoint::Quic(a) => write!(f, "quic://{a}"),
            Endpoint::Grpc { host, port, flight } | Endpoint::GrpcTls { host, port, flight } => {
                let scheme = match self {
                    Endpoint::GrpcTls { .. } => "grpc+tls",
                    _ => "grpc",
                };
                write!(f, "{scheme}://{host}:{port}")?;
                match flight {
                    Some(name) => write!(f, "/?{name}"),
                    None => Ok(()),
                }
            }
            Endpoint::Nats {
                host,
                port,
                tls,
                subject,
                query,
            } => {
                let scheme = if *tls { "nats+tls" } else { "nats" };
                write!(f, "{scheme}://{host}:{port}/{subject}")?;
                if **query != NatsQuery::default() {
                    write!(f, "?{query}")?;
                }
                Ok(())
            }
            Endpoint::Stdio => write!(f, "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_endpoints() {
        let p = |s: &str| s.parse::<Endpoint>();
        assert_eq!(
            p("tcp://127.0.0.1:9000").unwrap(),
            Endpoint::Tcp("127.0.0.1:9000".into())
        );
        assert_eq!(
            p("tcp://[::1]:9000").unwrap(),
            Endpoint::Tcp("[::1]:9000".into())
        );
        assert_eq!(
            p("tcp://localhost:0/").unwrap(),
            Endpoint::Tcp("localhost:0".into())
        );
        assert_eq!(
            p("unix:///tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            p("ws://127.0.0.1:8080/tables").unwrap(),
            Endpoint::WebSocket("ws://127.0.0.1:8080/tables".into())
        );
        assert_eq!(
            p("quic://localhost:4433").unwrap(),
            Endpoint::Quic("localhost:4433".into())
        );
        assert_eq!(
            p("tls://localhost:4433/").unwrap(),
            Endpoint::Tls("localhost:4433".into())
        );
        assert_eq!(
            p("wss://[::1]:443/t").unwrap(),
            Endpoint::SecureWebSocket("wss://[::1]:443/t".into())
        );
        assert_eq!(p("tls://[::1]:1").unwrap().to_string(), "tls://[::1]:1");
        assert_eq!(p("wss://h:1/x").unwrap().to_string(), "wss://h:1/x");
        assert_eq!(p("-").unwrap(), Endpoint::Stdio);
        assert_eq!(
            p("http://127.0.0.1:8080/t.arrows?x=1").unwrap(),
            Endpoint::Http("http://127.0.0.1:8080/t.arrows?x=1".into())
        );
        assert_eq!(
            p("https://example.com/t").unwrap(),
            Endpoint::Https("https://example.com/t".into())
        );
        assert_eq!(p("http://[::1]/t").unwrap().to_string(), "http://[::1]/t");
        let grpc = |host: &str, port| Endpoint::Grpc {
            host: host.into(),
            port,
            flight: None,
        };
        assert_eq!(p("grpc://127.0.0.1:8815").unwrap(), grpc("127.0.0.1", 8815));
        assert_eq!(p("grpc+tcp://localhost:1/").unwrap(), grpc("localhost", 1));
        assert_eq!(p("grpc://[::1]:2").unwrap(), grpc("[::1]", 2));
        assert_eq!(
            p("grpc+tls://example.com:443").unwrap(),
            Endpoint::GrpcTls {
                host: "example.com".into(),
                port: 443,
                flight: None,
            }
        );
        for url in ["grpc://[::1]:2", "grpc+tls://h:0", "grpc://a.b:65535"] {
            assert_eq!(p(url).unwrap().to_string(), url);
        }
        assert_eq!(
            p("grpc+tcp://h:1").unwrap().to_string(),
            "grpc://h:1",
            "grpc+tcp is an alias"
        );
        for s in p("tcp://127.0.0.1:9000").iter() {
            assert_eq!(s.to_string(), "tcp://127.0.0.1:9000");
        }
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let e = |s: &str| s.parse::<Endpoint>().unwrap_err().to_string();
        assert!(e("127.0.0.1:9000").contains("expected tcp://"));
        assert!(e("tcp://127.0.0.1").contains("missing :port"));
        assert!(e("tcp://127.0.0.1:99999").contains("port \"99999\""));
        assert!(e("tcp://:80").contains("missing host"));
        assert!(e("unix://relative").contains("absolute path"));
        assert!(e("ftp://x:1").contains("unknown scheme \"ftp\""));
        assert!(e("http:///path").contains("missing host"));
        assert!(e("http://x:port/").contains("port \"port\""));
        assert!(e("https://:443/").contains("missing host"));
        assert!(e("wss://x/").contains("missing :port"));
        assert!(e("tcp://x:1/path").contains("a tcp URL has no path"));
        assert!(e("tls://x:1/path").contains("a tls URL has no path"));
        assert!(e("grpc://x:1/flights").contains("a grpc URL has no path"));
        assert!(e("grpc+tls://x").contains("missing :port"));
        assert!(e("grpc://:1").contains("missing host"));
        assert!(e("grpc+unix:///tmp/s").contains("unknown scheme \"grpc+unix\""));
    }

    #[test]
    fn grpc_urls_name_a_ticket_path_or_cmd_in_their_query() {
        let name = |s: &str| s.parse::<Endpoint>().unwrap().flight_name().cloned();
        assert_eq!(
            name("grpc://h:1/?ticket=trips"),
            Some(FlightName::Ticket("trips".into()))
        );
        assert_eq!(
            name("grpc://h:1?ticket=a%20b+c%00%ff"),
            Some(FlightName::Ticket(Bytes::from_static(b"a b+c\x00\xff")))
        );
        assert_eq!(
            name("grpc+tls://h:1/?path=a/b%2Fc/%C3%A9"),
            Some(FlightName::Path(vec![
                "a".into(),
                "b/c".into(),
                "\u{e9}".into()
            ]))
        );
        assert_eq!(
            name("grpc+tcp://h:1/?cmd=SELECT%201"),
            Some(FlightName::Cmd("SELECT 1".into()))
        );
        assert_eq!(name("grpc://h:1/"), None);
        // Display gives a URL that parses back to the same endpoint.
        for url in [
            "grpc://h:1/?ticket=a%20b%2Bc%00%FF",
            "grpc+tls://[::1]:2/?path=a/b%2Fc/%C3%A9",
            "grpc://h:1/?cmd=SELECT%201",
        ] {
            let e: Endpoint = url.parse().unwrap();
            assert_eq!(e.to_string(), url);
            assert_eq!(e.to_string().parse::<Endpoint>().unwrap(), e);
            assert_eq!(e.without_flight_name().flight_name(), None);
        }
    }

    #[test]
    fn bad_grpc_queries_say_which_part_is_wrong() {
        let e = |s: &str| s.parse::<Endpoint>().unwrap_err().to_string();
        assert!(e("grpc://h:1/?ticket=%zz").contains("ticket has a bad percent escape \"%zz\""));
        assert!(e("grpc://h:1/?ticket=ab%4").contains("ticket has a bad percent escape \"%4\""));
        assert!(e("grpc://h:1/?ticket=").contains("ticket is empty"));
        assert!(e("grpc://h:1/?cmd=%").contains("cmd has a bad percent escape"));
        assert!(e("grpc://h:1/?path=a//b").contains("path segment 2 is empty"));
        assert!(e("grpc://h:1/?path=a/%FF").contains("path segment 2 is not UTF-8"));
        assert!(e("grpc://h:1/?path=").contains("path segment 1 is empty"));
        assert!(e("grpc://h:1/?ticket=a&path=b").contains("more than one flight"));
        assert!(e("grpc://h:1/?ticket=a&ticket=a").contains("more than one flight"));
        assert!(e("grpc://h:1/?tickets=a").contains("unknown query key \"tickets\""));
        assert!(e("grpc://h:1/?ticket").contains("query part \"ticket\" is not key=value"));
        assert!(e("grpc://h:1/?").contains("not key=value"));
        assert!(e("grpc://h:1/#x").contains("no #fragment"));
        assert!(e("grpc://h:1/a/b?ticket=x").contains("name a path descriptor as /?path=a/b"));
        assert!(e("grpc://h?ticket=x").contains("missing :port"));
        let long = format!(
            "grpc://h:1/?ticket={}",
            "x".repeat(MAX_URL_FLIGHT_BYTES + 1)
        );
        assert!(e(&long).contains("ticket is 65537 bytes long, over the limit of 65536"));
        // Parsing never panics on escapes cut anywhere, or on multi-byte text.
        for url in [
            "grpc://h:1/?ticket=%",
            "grpc://h:1/?ticket=%\u{e9}",
            "grpc://h:1/?path=%C3",
        ] {
            let _ = url.parse::<Endpoint>();
        }
    }

    #[test]
    fn nats_urls_parse_and_display_back() {
        let p = |s: &str| s.parse::<Endpoint>().unwrap();
        assert_eq!(
            p("nats://127.0.0.1/feeds.trades"),
            Endpoint::Nats {
                host: "127.0.0.1".into(),
                port: 4222,
                tls: false,
                subject: "feeds.trades".into(),
                query: Box::default(),
            }
        );
        let e = p(
            "nats+tls://[::1]:7422/a-b.c_d?resume=relay-1&max_bytes=1G&mode=jetstream\
                   &stream=TRADES&restate_every=500ms&max_age=2d",
        );
        let Endpoint::Nats {
            host,
            port,
            tls,
            query,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((host.as_str(), *port, *tls), ("[::1]", 7422, true));
        assert_eq!(
            **query,
            NatsQuery {
                mode: Some(NatsMode::JetStream),
                stream: Some("TRADES".into()),
                resume: Some("relay-1".into()),
                max_age: Some(Duration::from_secs(2 * 86400)),
                max_bytes: Some(1 << 30),
                restate_every: Some(Duration::from_millis(500)),
            }
        );
        assert_eq!(
            e.to_string(),
            "nats+tls://[::1]:7422/a-b.c_d?mode=jetstream&stream=TRADES&resume=relay-1\
             &max_age=2d&max_bytes=1G&restate_every=500ms"
        );
        for url in [
            "nats://h:1/S",
            "nats://h:4222/a.b.c?mode=core",
            "nats+tls://h:2/x?max_age=90s&max_bytes=1000&restate_every=1500ms",
            "nats://h:3/x?max_age=61m&max_bytes=3K",
        ] {
            assert_eq!(p(url).to_string(), url);
            assert_eq!(p(&p(url).to_string()), p(url));
        }
    }

    #[test]
    fn bad_nats_urls_say_what_is_wrong() {
        let e = |s: &str| s.parse::<Endpoint>().unwrap_err().to_string();
        assert!(e("nats://h/a.*").contains("token \"*\" has '*': wildcards"));
        assert!(e("nats://h/a.>").contains("wildcards"));
        assert!(e("nats://h/a..b").contains("subject has an empty token"));
        assert!(e("nats://h/.a").contains("subject has an empty token"));
        assert!(e("nats://h/a.").contains("subject has an empty token"));
        assert!(e("nats://h/a b").contains("a token holds letters, digits, - and _"));
        assert!(e("nats://h/a/b").contains("token \"a/b\" has '/'"));
        assert!(e("nats://h").contains("missing subject"));
        assert!(e("nats://h/").contains("missing subject"));
        assert!(e("nats:///S").contains("missing host"));
        assert!(e("nats://h:x/S").contains("port \"x\""));
        assert!(e("nats://u:p@h/S").contains("credentials do not go in a nats URL"));
        assert!(e("nats://h/S#f").contains("no #fragment"));
        assert!(e("nats://h/S?mod=core").contains("unknown query key \"mod\""));
        assert!(e("nats://h/S?mode=fast").contains("mode=\"fast\" is not core or jetstream"));
        assert!(e("nats://h/S?mode=core&mode=core").contains("mode is given twice"));
        assert!(e("nats://h/S?max_age=0s").contains("a duration above zero"));
        assert!(e("nats://h/S?max_age=10").contains("a duration above zero"));
        assert!(e("nats://h/S?max_bytes=1X").contains("a size above zero"));
        assert!(e("nats://h/S?max_bytes=99999999999T").contains("a size above zero"));
        assert!(e("nats://h/S?stream=a.b").contains("stream token \"a.b\" has '.'"));
        assert!(e("nats://h/S?resume=").contains("resume has an empty token"));
        assert!(e("nats://h/S?").contains("not key=value"));
        assert!(e("natss://h/S").contains("unknown scheme"));
    }
}
