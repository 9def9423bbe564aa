//! [`Endpoint`]: where tables go or come from, parsed from a URL
//! (`tcp://host:port`, `tls://host:port`, `unix:///path`,
//! `ws://host:port/path`, `wss://host:port/path`, `quic://host:port`,
//! `http://host[:port]/path`, `https://host[:port]/path`,
//! `grpc://host:port`, `grpc+tls://host:port`, or `-` for stdin/stdout).
//!
//! What it is not: a connection. [`crate::connect`] and [`crate::bind`]
//! (in `transport`) dispatch an endpoint to its transport's module.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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
    /// reads a DoGet stream or writes a DoPut stream (the ticket or
    /// descriptor is in [`crate::ClientOptions::flight`]). docs/flight.md.
    Grpc {
        /// The host as written in the URL (an IPv6 address keeps its brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// `grpc+tls://host:port`: [`Endpoint::Grpc`] over TLS (features `flight`
    /// and `tls`). The host also names the server in its TLS certificate.
    GrpcTls {
        /// The host as written in the URL (an IPv6 address keeps its brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// `-`: the Arrow IPC stream format on stdin (reading) and stdout (writing).
    Stdio,
}

impl Endpoint {
    /// `host:port` of a `grpc://` or `grpc+tls://` endpoint.
    #[cfg(feature = "flight")]
    pub(crate) fn grpc_hostport(&self) -> Option<String> {
        match self {
            Endpoint::Grpc { host, port } | Endpoint::GrpcTls { host, port } => {
                Some(format!("{host}:{port}"))
            }
            _ => None,
        }
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
                let hostport = no_path(authority(rest)?)?;
                let (host, port) = hostport
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .ok_or_else(|| bad("missing :port"))?;
                if scheme == "grpc+tls" {
                    Ok(Endpoint::GrpcTls { host, port })
                } else {
                    Ok(Endpoint::Grpc { host, port })
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
            Endpoint::Grpc { host, port } => write!(f, "grpc://{host}:{port}"),
            Endpoint::GrpcTls { host, port } => write!(f, "grpc+tls://{host}:{port}"),
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
        };
        assert_eq!(p("grpc://127.0.0.1:8815").unwrap(), grpc("127.0.0.1", 8815));
        assert_eq!(p("grpc+tcp://localhost:1/").unwrap(), grpc("localhost", 1));
        assert_eq!(p("grpc://[::1]:2").unwrap(), grpc("[::1]", 2));
        assert_eq!(
            p("grpc+tls://example.com:443").unwrap(),
            Endpoint::GrpcTls {
                host: "example.com".into(),
                port: 443
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
}
