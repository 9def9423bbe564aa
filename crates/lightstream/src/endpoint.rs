//! [`Endpoint`]: where tables go or come from, parsed from a URL
//! (`tcp://host:port`, `tls://host:port`, `unix:///path`,
//! `ws://host:port/path`, `wss://host:port/path`, `quic://host:port`,
//! `http://host[:port]/path`, `https://host[:port]/path`,
//! `grpc://host:port[/?ticket=T|path=a/b|cmd=C]`, `grpc+tls://...`, or `-`
//! for stdin/stdout).
//!
//! What it is not: a connection. [`crate::connect`] and [`crate::bind`]
//! (in `transport`) dispatch an endpoint to its transport's module.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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
    /// `-`: the Arrow IPC stream format on stdin (reading) and stdout (writing).
    Stdio,
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
                 grpc://host:port, grpc+tls://host:port or -",
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
            other => Err(bad(&format!(
                "unknown scheme {other:?} (expected tcp, tls, unix, ws, wss, quic, http, https, \
                 grpc, grpc+tcp or grpc+tls)"
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
}
