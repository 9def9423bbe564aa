//! `lightstream demo`: the browser demo on one port.
//!
//! What it is for: showing the whole path from a native writer to a browser in
//! one command. One TCP port serves both
//! - a WebSocket (any path, e.g. `ws://127.0.0.1:8080/stream`) on which every
//!   client receives a generated, continuously updating table of market ticks,
//!   through the `lightstream` crate's `TableWriter`, so the bytes on the wire
//!   are exactly docs/websocket-protocol.md; and
//! - the demo page and the npm package, over a small HTTP/1.1 GET/HEAD file
//!   server: `/` is `web/index.html`, `/web/<path>` comes from `--web`,
//!   `/npm/<path>` from `--npm` (`index.js`, `pkg/...`).
//!
//! How a connection is told apart: its request head is peeked (not read) from
//! the socket, at most 16 KiB and 5 s; an `Upgrade: websocket` request is then
//! handed, unread, to tokio-tungstenite, anything else is answered here.
//!
//! The generated table: `seq` (Int64, one sequence across all batches of a
//! client), `time` (Timestamp(ms, UTC), wall clock), `symbol` (dictionary of
//! strings; now and then a new symbol appears, so dictionary deltas flow),
//! `price` (Float64, a random walk per symbol), `qty` (Int32), `buy` (Boolean)
//! and `venue` (Utf8, about one in ten null). Values come from a fixed-seed
//! xorshift, so every client sees the same sequence (only `time` differs).
//!
//! Flow control: a batch goes out every `--interval-ms` (or back to back with
//! 0); each write waits until the socket took the bytes, so a slow client
//! slows its own stream down and nothing queues up in memory. A client that
//! reads nothing for 30 s is dropped. A client that closes (or sends anything
//! at all: the stream is one-way) gets the end-of-stream marker and a Close.
//!
//! The file server is deliberately small: GET and HEAD only, one request per
//! connection (`Connection: close`), no ranges, no directory listings. A
//! request path is percent-decoded strictly, and one with `.` / `..` segments,
//! backslashes, NUL or control characters is refused (400); a file is served
//! only if it is a regular file whose canonical path lies under its root's
//! canonical path (so symbolic links cannot lead out) and whose name does not
//! start with a dot.
//!
//! What it is not: a general web server, or anything to expose beyond a
//! trusted network (no TLS, no authentication).

use crate::rng::XorShift;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures_util::FutureExt;
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, Field, FieldArray,
    FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray, TextArray, TimeUnit,
    Vec64,
};
use lightstream_core::{IndexType, Schema, WriteOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{MissedTickBehavior, timeout};

use crate::error::{CliError, CliResult};
use crate::network::{report, run_until_signal};
use crate::progress;

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a partly received request head is looked at again.
const PEEK_POLL: Duration = Duration::from_millis(5);
/// How long the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one response, or one table to a WebSocket client, may take to send.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long ending a WebSocket stream (marker, Close, the peer's Close) may take.
const FINISH_TIMEOUT: Duration = Duration::from_secs(6);
/// After a response: how long, and how many bytes, of what the client still
/// sends are read and dropped before the socket closes (closing with unread
/// input would reset the connection and could lose the response).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// The largest file served (the wasm module is a few hundred KiB).
const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Connections handled at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;

/// Options of `lightstream demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to listen, host:port (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The demo page's directory: `/` is its index.html, `/web/<path>` its files
    #[arg(long, value_name = "DIR", default_value = "web")]
    web: PathBuf,
    /// The npm package's directory, served at `/npm/<path>` (its pkg/ is built by
    /// `bash npm/build.sh`)
    #[arg(long, value_name = "DIR", default_value = "npm")]
    npm: PathBuf,
    /// Rows per table sent to each WebSocket client
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch_rows: u32,
    /// Milliseconds between tables (0: as fast as the client reads)
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    interval_ms: u64,
}

/// What every connection needs to know.
struct Site {
    /// Canonical paths of the two roots.
    web: PathBuf,
    npm: PathBuf,
    batch_rows: usize,
    interval: Duration,
}

/// `lightstream demo`: serves until interrupted (Ctrl-C is the normal way to
/// stop it, so it exits 0 then, like `serve` without `--once`).
pub fn demo(args: DemoArgs) -> CliResult<()> {
    let web = root(&args.web, "--web", "the demo page")?;
    let npm = root(&args.npm, "--npm", "the npm package")?;
    if !web.join("index.html").is_file() {
        note(&format!("{} has no index.html", args.web.display()));
    }
    if !npm.join("pkg").join("lightstream_wasm_bg.wasm").is_file() {
        note(&format!(
            "{} has no pkg/lightstream_wasm_bg.wasm: build it with `bash npm/build.sh`",
            args.npm.display()
        ));
    }
    let site = Arc::new(Site {
        web,
        npm,
        batch_rows: args.batch_rows as usize,
        interval: Duration::from_millis(args.interval_ms),
    });
    let listen = args.listen;
    run_until_signal(
        async move {
            let listener = TcpListener::bind(listen.as_str())
                .await
                .map_err(|e| CliError::io(format!("listening on {listen}"), e))?;
            let local = listener
                .local_addr()
                .map_err(|e| CliError::io(format!("listening on {listen}"), e))?;
            {
                let mut stderr = io::stderr().lock();
                let _ = writeln!(stderr, "listening on http://{local}/");
                let _ = stderr.flush();
            }
            serve(listener, site).await
        },
        Ok(()),
    )
}

/// A root directory as its canonical path; a missing one is the command's error.
fn root(dir: &Path, flag: &str, what: &str) -> CliResult<PathBuf> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| {
        CliError::io(
            format!(
                "{what} ({flag} {}; run from the repository root or pass {flag} DIR)",
                dir.display()
            ),
            e,
        )
    })?;
    if !canonical.is_dir() {
        return Err(CliError::msg(format!(
            "{what} ({flag} {}) is not a directory",
            dir.display()
        )));
    }
    Ok(canonical)
}

fn note(message: &str) {
    let _ = writeln!(io::stderr(), "lightstream: note: {message}");
}

/// The accept loop: one task per connection, at most `MAX_CONNECTIONS` at once.
async fn serve(listener: TcpListener, site: Arc<Site>) -> CliResult<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Err(CliError::msg(
                "internal error: the connection limit was closed",
            ));
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors, a connection aborted before it was
            // accepted: say so and keep serving.
            Err(err) => {
                report(&CliError::io("accepting a connection", err));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let site = site.clone();
        tokio::spawn(async move {
            if let Err(why) = connection(tcp, peer, &site).await {
                report(&CliError::msg(format!("client {peer} failed: {why}")));
            }
            drop(slot);
        });
    }
}

/// Why a connection ended badly (one line on stderr).
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure(message.into())
}

/// `connection reset by peer` without ` (os error 104)`.
fn io_failure(doing: &str, err: io::Error) -> Failure {
    Failure(CliError::io(doing, err).to_string())
}

/// Handles one connection: a WebSocket stream or one HTTP request.
async fn connection(tcp: TcpStream, peer: SocketAddr, site: &Site) -> Result<(), Failure> {
    let _ = tcp.set_nodelay(true);
    let mut head = vec![0u8; MAX_HEAD];
    let mut seen = 0;
    let peeked = timeout(HEAD_TIMEOUT, peek_head(&tcp, &mut head, &mut seen)).await;
    let head_len = match peeked {
        Ok(Ok(len)) => len,
        // A connection that never sent anything (a browser opens spare ones)
        // is closed quietly.
        Ok(Err(Peek::Closed)) => return Ok(()),
        Err(_elapsed) if seen == 0 => return Ok(()),
        Err(_elapsed) => {
            let why = format!("no complete request head within {HEAD_TIMEOUT:?}");
            respond_error(tcp, Status::Timeout).await;
            return Err(fail(why));
        }
        Ok(Err(Peek::TooLarge)) => {
            respond_error(tcp, Status::TooLarge).await;
            return Err(fail(format!(
                "request head larger than {} KiB",
                MAX_HEAD / 1024
            )));
        }
        Ok(Err(Peek::Io(err))) => return Err(io_failure("reading the request", err)),
    };
    let request = match parse_head(&head[..head_len]) {
        Ok(request) => request,
        Err(why) => {
            respond_error(tcp, Status::BadRequest).await;
            return Err(fail(format!("bad request: {why}")));
        }
    };
    if request.websocket {
        return stream_ticks(tcp, peer, site).await;
    }
    http(tcp, head_len, &request, site).await
}

enum Peek {
    /// The client closed the connection before sending anything.
    Closed,
    TooLarge,
    Io(io::Error),
}

/// Peeks at the socket until `buf` holds a whole request head; returns its
/// length. `seen` tracks how many bytes have arrived (for the caller's
/// timeout). Nothing is consumed: a WebSocket handshake reads it again.
async fn peek_head(tcp: &TcpStream, buf: &mut [u8], seen: &mut usize) -> Result<usize, Peek> {
    loop {
        let n = tcp.peek(buf).await.map_err(Peek::Io)?;
        if n == 0 {
            return if *seen == 0 {
                Err(Peek::Closed)
            } else {
                Err(Peek::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        if let Some(end) = head_end(&buf[..n]) {
            return Ok(end);
        }
        if n == buf.len() {
            return Err(Peek::TooLarge);
        }
        // `peek` returns at once while unread bytes are waiting, so wait a
        // moment for more instead of spinning.
        if n == *seen {
            tokio::time::sleep(PEEK_POLL).await;
        }
        *seen = n;
    }
}

/// Where a request head ends (after its blank line, CRLF or bare LF).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(i) = bytes[at..].iter().position(|&b| b == b'\n') {
        let nl = at + i;
        let rest = &bytes[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        at = nl + 1;
    }
    None
}

/// The parts of a request this server looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    target: String,
    /// `Upgrade: websocket`.
    websocket: bool,
}

/// Parses a request head strictly enough to route it; the WebSocket
/// handshake is checked in full by tungstenite.
fn parse_head(head: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "the request head is not UTF-8")?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\r' | '\n' | '\t'))
    {
        return Err("control characters in the request head");
    }
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err("malformed method");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err("not HTTP/1.0 or HTTP/1.1");
    }
    if target.is_empty() {
        return Err("empty request target");
    }
    let mut websocket = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err("malformed header line");
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            // Includes obsolete line folding (a line starting with a space).
            return Err("malformed header name");
        }
        if name.eq_ignore_ascii_case("upgrade")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        {
            websocket = true;
        }
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        websocket,
    })
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ------------------------------------------------------------------- HTTP --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    Timeout,
    TooLarge,
    ServerError,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::Timeout => "408 Request Timeout",
            Status::TooLarge => "431 Request Header Fields Too Large",
            Status::ServerError => "500 Internal Server Error",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Status::Ok => "",
            Status::BadRequest => "bad request\n",
            Status::NotFound => "not found\n",
            Status::MethodNotAllowed => "method not allowed (GET and HEAD only)\n",
            Status::Timeout => "request timeout\n",
            Status::TooLarge => "request head too large\n",
            Status::ServerError => "internal server error\n",
        }
    }
}

/// A response: status, content type and body.
struct Response {
    status: Status,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn error(status: Status) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: status.body().as_bytes().to_vec(),
        }
    }

    fn head(&self) -> String {
        let allow = if self.status == Status::MethodNotAllowed {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Connection: close\r\n\r\n",
            self.status.line(),
            self.content_type,
            self.body.len()
        )
    }
}

/// Answers one GET or HEAD request (whose head is still unread in `tcp`).
async fn http(
    mut tcp: TcpStream,
    head_len: usize,
    request: &Request,
    site: &Site,
) -> Result<(), Failure> {
    let mut head = vec![0u8; head_len];
    timeout(HEAD_TIMEOUT, tcp.read_exact(&mut head))
        .await
        .map_err(|_| fail("reading the request timed out"))?
        .map_err(|e| io_failure("reading the request", e))?;
    let with_body = request.method != "HEAD";
    let response = if request.method != "GET" && request.method != "HEAD" {
        Response::error(Status::MethodNotAllowed)
    } else {
        match route(&request.target) {
            Err(status) => Response::error(status),
            Ok((root, segments)) => {
                let root = match root {
                    Root::Web => site.web.clone(),
                    Root::Npm => site.npm.clone(),
                };
                tokio::task::spawn_blocking(move || load(&root, &segments))
                    .await
                    .unwrap_or_else(|_| Response::error(Status::ServerError))
            }
        }
    };
    send(tcp, &response, with_body).await
}

/// Sends an error response, ignoring failures (the connection is ending anyway).
async fn respond_error(tcp: TcpStream, status: Status) {
    let _ = send(tcp, &Response::error(status), true).await;
}

/// Writes `response`, closes the sending side and lets the client read it.
async fn send(mut tcp: TcpStream, response: &Response, with_body: bool) -> Result<(), Failure> {
    let write = async {
        tcp.write_all(response.head().as_bytes()).await?;
        if with_body {
            tcp.write_all(&response.body).await?;
        }
        tcp.flush().await?;
        tcp.shutdown().await
    };
    timeout(WRITE_TIMEOUT, write)
        .await
        .map_err(|_| fail(format!("sending the response took over {WRITE_TIMEOUT:?}")))?
        .map_err(|e| io_failure("sending the response", e))?;
    // Read (and drop) what the client still sends, briefly, so that closing
    // does not reset the connection before the client has read the response.
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let _ = timeout(LINGER_TIME, async {
        while drained < LINGER_BYTES {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Web,
    Npm,
}

/// Maps a request target to a root and the path's segments, or the status to
/// answer with. Strict: `.`/`..` segments, backslashes, NUL and control
/// characters (also percent-encoded), malformed escapes and targets that are
/// not origin-form are refused with 400; empty and dot-file segments are 404.
fn route(target: &str) -> Result<(Root, Vec<String>), Status> {
    // Query and fragment play no part in finding a file.
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(Status::BadRequest);
    }
    let path = percent_decode(path).ok_or(Status::BadRequest)?;
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(Status::BadRequest);
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(Status::BadRequest);
    }
    let (root, rest): (Root, &[&str]) = match segments.as_slice() {
        [""] | ["index.html"] => (Root::Web, &["index.html"]),
        ["web", rest @ ..] => (Root::Web, rest),
        ["npm", rest @ ..] => (Root::Npm, rest),
        _ => return Err(Status::NotFound),
    };
    if rest.is_empty() || rest.iter().any(|s| s.is_empty() || s.starts_with('.')) {
        return Err(Status::NotFound);
    }
    Ok((root, rest.iter().map(|s| s.to_string()).collect()))
}

/// `%XX` escapes decoded; `None` for a malformed escape or a result that is
/// not UTF-8.
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

/// Reads `root/segments...` if it is a regular file inside `root` (after
/// resolving symbolic links); 404 otherwise.
fn load(root: &Path, segments: &[String]) -> Response {
    let mut path = root.to_path_buf();
    for segment in segments {
        path.push(segment);
    }
    let Ok(canonical) = std::fs::canonicalize(&path) else {
        return Response::error(Status::NotFound);
    };
    if !canonical.starts_with(root) {
        return Response::error(Status::NotFound);
    }
    let Ok(file) = std::fs::File::open(&canonical) else {
        return Response::error(Status::NotFound);
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE => {}
        _ => return Response::error(Status::NotFound),
    }
    let mut body = Vec::new();
    if file.take(MAX_FILE + 1).read_to_end(&mut body).is_err() || body.len() as u64 > MAX_FILE {
        return Response::error(Status::ServerError);
    }
    let name = segments.last().map(String::as_str).unwrap_or_default();
    Response {
        status: Status::Ok,
        content_type: content_type(name),
        body,
    }
}

/// The media type of a file, from its name.
fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        // TypeScript (`index.d.ts`) has no registered type; shown as text.
        "ts" | "md" | "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

// -------------------------------------------------------------- WebSocket --

/// Sends generated tables to one WebSocket client until it goes away.
async fn stream_ticks(tcp: TcpStream, peer: SocketAddr, site: &Site) -> Result<(), Failure> {
    let name = format!("ws {peer}");
    // A second handle on the same socket tells when the client closes (or
    // sends anything, which on this one-way stream means it is done) while
    // the writer owns the WebSocket.
    let (tcp, watch) = twin(tcp).map_err(|e| io_failure("setting up the connection", e))?;
    let ws = timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async_with_config(
            tcp,
            // The stream only writes: it reads control frames, nothing larger.
            Some(lightstream::websocket::write_only_config()),
        ),
    )
    .await
    .map_err(|_| {
        fail(format!(
            "no WebSocket handshake within {HANDSHAKE_TIMEOUT:?}"
        ))
    })?
    .map_err(|e| fail(format!("WebSocket handshake: {e}")))?;
    let conn = lightstream::websocket::connection(ws, name.clone());
    let net = |e: lightstream::Error| {
        fail(CliError::net(format!("sending to {name}"), e, false).to_string())
    };

    let started = Instant::now();
    let mut ticks = Ticks::new(site.batch_rows, site.interval);
    let mut writer = conn
        .writer(ticks.schema.clone(), WriteOptions::default())
        .await
        .map_err(net)?;
    let mut probe = [0u8; 1];
    let closing = watch.peek(&mut probe);
    tokio::pin!(closing);
    let mut ticker = (!site.interval.is_zero()).then(|| {
        let mut ticker = tokio::time::interval(site.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker
    });
    loop {
        match &mut ticker {
            Some(ticker) => {
                tokio::select! {
                    biased;
                    _ = &mut closing => break,
                    _ = ticker.tick() => {}
                }
            }
            None => {
                if closing.as_mut().now_or_never().is_some() {
                    break;
                }
            }
        }
        let table = ticks.next_table(now_ms());
        timeout(WRITE_TIMEOUT, writer.write(&table))
            .await
            .map_err(|_| fail(format!("{name} read nothing for {WRITE_TIMEOUT:?}")))?
            .map_err(net)?;
    }
    // The client closed or is closing: end the stream properly if it still
    // listens (end-of-stream marker, Close); if it is gone, that is no failure.
    let rows = writer.rows_written();
    let bytes = writer.bytes_written();
    // A client that sent data (or a frame header declaring more than a
    // control frame) is dropped with one line; a client already gone is not.
    if let Ok(Err(err @ lightstream::Error::Protocol(_))) =
        timeout(FINISH_TIMEOUT, writer.finish()).await
    {
        return Err(fail(err.to_string()));
    }
    if progress::chatty() {
        let line = progress::summary("sent", rows, bytes, started.elapsed());
        let _ = writeln!(io::stderr(), "lightstream: {line} to {name}");
    }
    Ok(())
}

/// Two tokio handles on one socket (the second a duplicate file descriptor).
fn twin(tcp: TcpStream) -> io::Result<(TcpStream, TcpStream)> {
    let std = tcp.into_std()?;
    let other = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, TcpStream::from_std(other)?))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ----------------------------------------------------------- the ticks --

/// The symbols every stream starts with.
const SYMBOLS: [&str; 12] = [
    "ACME", "BOLT", "CRUX", "DYNA", "ECHO", "FLUX", "GRID", "HALO", "IRIS", "JADE", "KILO", "LUMA",
];
/// New symbols stop appearing once the dictionary has this many.
const MAX_SYMBOLS: usize = 64;
/// One batch in this many brings a new symbol (until `MAX_SYMBOLS`).
const NEW_SYMBOL_EVERY: u64 = 20;
const VENUES: [&str; 6] = ["XNAS", "XNYS", "ARCX", "BATS", "EDGX", "IEXG"];

/// Column indices, in schema order.
const SYMBOL: usize = 2;

/// The demo stream's schema.
fn ticks_schema() -> Arc<Schema> {
    let field = |name: &str, dtype: ArrowType, nullable: bool| {
        Arc::new(Field::new(name, dtype, nullable, None))
    };
    let fields = vec![
        field("seq", ArrowType::Int64, false),
        field(
            "time",
            ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".to_string())),
            false,
        ),
        field(
            "symbol",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            false,
        ),
        field("price", ArrowType::Float64, false),
        field("qty", ArrowType::Int32, false),
        field("buy", ArrowType::Boolean, false),
        field("venue", ArrowType::String, true),
    ];
    let metadata = BTreeMap::from([("generator".to_string(), "lightstream demo".to_string())]);
    let mut schema = Schema::new(fields, metadata);
    // Signed 32-bit keys, Arrow's usual choice, as `lightstream example` does.
    if let Some(Some(encoding)) = schema.dictionaries.get_mut(SYMBOL) {
        encoding.index_type = IndexType::Int32;
    }
    Arc::new(schema)
}

/// The generator of one client's stream.
struct Ticks {
    schema: Arc<Schema>,
    rows: usize,
    interval_ms: i64,
    rng: XorShift,
    seq: i64,
    /// The dictionary of `symbol`: only ever grows, so it goes out as deltas.
    symbols: Vec<String>,
    /// The last price of each symbol.
    prices: Vec<f64>,
}

impl Ticks {
    fn new(rows: usize, interval: Duration) -> Ticks {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let prices = SYMBOLS.iter().map(|_| start_price(&mut rng)).collect();
        Ticks {
            schema: ticks_schema(),
            rows,
            interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
            rng,
            seq: 0,
            symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
            prices,
        }
    }

    /// Now and then a new symbol: four letters not used yet.
    fn maybe_new_symbol(&mut self) {
        if self.symbols.len() >= MAX_SYMBOLS || self.rng.below(NEW_SYMBOL_EVERY) != 0 {
            return;
        }
        for _attempt in 0..8 {
            let name: String = (0..4)
                .map(|_| char::from(b'A' + self.rng.below(26) as u8))
                .collect();
            if !self.symbols.contains(&name) {
                self.symbols.push(name);
                self.prices.push(start_price(&mut self.rng));
                return;
            }
        }
    }

    /// The next batch; its rows' times are spread over the interval that ends
    /// at `now_ms`.
    fn next_table(&mut self, now_ms: i64) -> Table {
        self.maybe_new_symbol();
        let n = self.rows;
        let mut seqs = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut prices = Vec::with_capacity(n);
        let mut qtys = Vec::with_capacity(n);
        let mut buys = Vec::with_capacity(n);
        let mut venues = Vec::with_capacity(n);
        let mut venue_valid = Bitmask::new_set_all(n, true);
        let span = self.interval_ms;
        let start = now_ms.saturating_sub(span);
        for i in 0..n {
            let rng = &mut self.rng;
            self.seq += 1;
            seqs.push(self.seq);
            let offset = (span as i128 * (i as i128 + 1) / n as i128) as i64;
            times.push(start.saturating_add(offset));
            let key = rng.below(self.symbols.len() as u64) as usize;
            keys.push(key as u32);
            // A random walk of at most ±0.2% per tick, in cents, never below 1.
            let price = &mut self.prices[key];
            *price = ((*price * (1.0 + (rng.unit() - 0.5) * 0.004)) * 100.0).round() / 100.0;
            *price = price.max(1.0);
            prices.push(*price);
            qtys.push(((rng.below(40) + 1) * 25) as i32);
            buys.push(rng.below(2) == 0);
            if rng.below(10) == 0 {
                venue_valid.set(i, false);
                venues.push("");
            } else {
                venues.push(VENUES[rng.below(VENUES.len() as u64) as usize]);
            }
        }
        let arrays = vec![
            Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray::from_slice(
                &seqs,
            )))),
            Array::TemporalArray(TemporalArray::Datetime64(Arc::new(
                DatetimeArray::from_slice(&times, Some(TimeUnit::Milliseconds)),
            ))),
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray::new(
                Vec64::from(keys),
                self.symbols.clone().into(),
                None,
            )))),
            Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray::new(
                Vec64::from(prices),
                None,
            )))),
            Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray::from_slice(
                &qtys,
            )))),
            Array::BooleanArray(Arc::new(BooleanArray::from_slice(&buys))),
            Array::TextArray(TextArray::String32(Arc::new(StringArray::from_vec(
                venues,
                Some(venue_valid),
            )))),
        ];
        let cols = self
            .schema
            .fields
            .iter()
            .zip(arrays)
            .map(|(field, array)| FieldArray::new_arc(field.clone(), array))
            .collect();
        Table {
            cols,
            n_rows: n,
            name: "ticks".to_string(),
            metadata: self.schema.metadata.clone(),
        }
    }
}

/// A starting price between 10 and 500.
fn start_price(rng: &mut XorShift) -> f64 {
    (10.0 + rng.unit() * 490.0).round()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::write_value;

    fn cell(table: &Table, col: usize, row: usize) -> String {
        let mut out = String::new();
        let c = &table.cols[col];
        write_value(&mut out, &c.array, &c.field.dtype, row);
        out
    }

    #[test]
    fn request_heads_end_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b""), None);
        assert_eq!(head_end(b"\n"), None);
    }

    #[test]
    fn request_heads_parse_strictly() {
        let r = parse_head(b"GET /npm/index.js?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/npm/index.js?x=1");
        assert!(!r.websocket);
        let r = parse_head(
            b"GET /stream HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n",
        )
        .unwrap();
        assert!(r.websocket);
        let r = parse_head(b"GET / HTTP/1.1\r\nUpgrade: h2c, websocket\r\n\r\n").unwrap();
        assert!(r.websocket);
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn targets_map_to_files_under_a_root() {
        let ok = |t: &str| route(t).unwrap_or_else(|s| panic!("{t}: {s:?}"));
        assert_eq!(ok("/"), (Root::Web, vec!["index.html".to_string()]));
        assert_eq!(ok("/?ws=x"), (Root::Web, vec!["index.html".to_string()]));
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
        for (target, status) in [
            ("/web/../Cargo.toml", Status::BadRequest),
            ("/npm/%2e%2e/Cargo.toml", Status::BadRequest),
            ("/npm/%2E%2E%2FCargo.toml", Status::BadRequest),
            ("/npm/pkg/../../x", Status::BadRequest),
            ("/web/./index.html", Status::BadRequest),
            ("/web/..%5cx", Status::BadRequest),
            ("/web/a\\b", Status::BadRequest),
            ("/web/a%00b", Status::BadRequest),
            ("/web/a%0ab", Status::BadRequest),
            ("/web/%zz", Status::BadRequest),
            ("/web/%2", Status::BadRequest),
            ("/web/%ff", Status::BadRequest),
            ("http://127.0.0.1/web/index.html", Status::BadRequest),
            ("*", Status::BadRequest),
            ("web/index.html", Status::BadRequest),
            ("//etc/passwd", Status::NotFound),
            ("/web//etc/passwd", Status::NotFound),
            ("/web/%2Fetc%2Fpasswd", Status::NotFound),
            ("/etc/passwd", Status::NotFound),
            ("/web/", Status::NotFound),
            ("/web", Status::NotFound),
            ("/npm/.gitignore", Status::NotFound),
            ("/favicon.ico", Status::NotFound),
        ] {
            assert_eq!(route(target), Err(status), "{target}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("index.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.MJS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("lightstream_wasm_bg.wasm"), "application/wasm");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("package.json"), "application/json");
        assert_eq!(content_type("index.d.ts"), "text/plain; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn responses_have_length_and_no_caching() {
        let head = Response::error(Status::MethodNotAllowed).head();
        assert!(
            head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nAllow: GET, HEAD\r\n"), "{head}");
        assert!(head.contains("\r\nCache-Control: no-store\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        let body = Status::MethodNotAllowed.body().len();
        assert!(
            head.contains(&format!("\r\nContent-Length: {body}\r\n")),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn ticks_match_the_schema_and_count_on() {
        let mut ticks = Ticks::new(500, Duration::from_millis(100));
        let schema = ticks.schema.clone();
        let mut next_seq = 1;
        let mut nulls = 0;
        let mut dictionary: Vec<String> = Vec::new();
        let mut grew = 0;
        for batch in 0..200 {
            let now = 1_700_000_000_000 + batch * 100;
            let table = ticks.next_table(now);
            assert_eq!(table.n_rows, 500);
            assert_eq!(table.cols.len(), schema.fields.len());
            for (col, field) in table.cols.iter().zip(&schema.fields) {
                assert_eq!(col.len(), 500, "{}", field.name);
                assert!(Arc::ptr_eq(&col.field, field));
            }
            for row in 0..table.n_rows {
                assert_eq!(cell(&table, 0, row), next_seq.to_string());
                next_seq += 1;
                let price: f64 = cell(&table, 3, row).parse().expect("a price");
                assert!(price >= 1.0, "{price}");
                nulls += usize::from(cell(&table, 6, row) == "null");
            }
            // The dictionary only grows, so the writer sends deltas.
            let Array::TextArray(TextArray::Categorical32(symbols)) = &table.cols[SYMBOL].array
            else {
                panic!("symbol is a dictionary column");
            };
            let values = symbols.unique_values.to_vec();
            assert!(values.starts_with(&dictionary));
            grew += usize::from(values.len() > dictionary.len() && batch > 0);
            dictionary = values;
        }
        assert!(grew >= 3, "the dictionary grew {grew} times");
        assert!(dictionary.len() <= MAX_SYMBOLS);
        let rows = 200 * 500;
        assert!(
            (rows / 20..rows / 5).contains(&nulls),
            "{nulls} null venues in {rows} rows"
        );
    }

    #[test]
    fn ticks_encode_as_a_stream_with_dictionary_deltas() {
        use lightstream_core::{ReadOptions, aligned_copy, read_stream, write_stream};
        let mut ticks = Ticks::new(50, Duration::ZERO);
        let tables: Vec<Table> = (0..100).map(|i| ticks.next_table(i)).collect();
        let bytes = write_stream(&ticks.schema, &tables, &WriteOptions::default()).expect("write");
        let (schema, back) =
            read_stream(aligned_copy(&bytes), ReadOptions::default()).expect("read");
        assert_eq!(schema.fields.len(), 7);
        assert_eq!(back.len(), 100);
        assert_eq!(cell(&back[99], 0, 49), "5000");
        assert_eq!(cell(&back[99], 2, 0), cell(&tables[99], 2, 0));
    }
}
