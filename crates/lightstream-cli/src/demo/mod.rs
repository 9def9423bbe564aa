//! `lightstream demo`: the browser demo on one port.
//!
//! What it is for: showing the whole path from a native writer to a browser in
//! one command. One TCP port serves both
//! - a WebSocket (any path, e.g. `ws://127.0.0.1:8080/stream`) on which every
//!   client subscribes to ONE live feed: a generated, continuously updating
//!   table of market ticks (`ticks.rs`) published once to a
//!   `lightstream::hub::Hub` and sent to every open page through the
//!   `lightstream` crate's WebSocket transport (`stream.rs`), so two tabs
//!   show the same sequence numbers, a page opened later joins mid-stream,
//!   and the bytes on the wire are exactly docs/websocket-protocol.md; and
//! - the demo page and the npm package (`http.rs`): `/` is
//!   `web/index.html`, `/web/<path>` comes from `--web`, `/npm/<path>` from
//!   `--npm` (`index.js`, `pkg/...`).
//!
//! The HTTP side is hyper's HTTP/1.1 server (request parsing, 400 for a
//! malformed request, 431 for a head over 16 KiB, a CRLF before the request
//! line ignored as RFC 9112 says), tower-http's `ServeFile` for the files and
//! hyper's upgrade for the WebSocket, whose socket then goes to the same
//! WebSocket transport as every other `ws://` endpoint. One request per
//! connection (`Connection: close`).
//!
//! This file: the command, the connection's life and admission.
//! - Admission: file requests and streams have separate limits, so streams
//!   can never lock the page out. A connection holds a request slot
//!   (`--max-requests`) while its request is read and answered; with every
//!   slot taken, new connections wait in the listen backlog (a slot is held
//!   at most 5 s for the head and 30 s for the answer). An upgrade takes a
//!   stream slot (`--max-streams`) and gives back its request slot; with
//!   every stream slot taken it gets `503` with `Retry-After` and a reason.
//! - Time: the head must arrive within 5 s of the first byte (else `408`; a
//!   connection that sends nothing within 5 s is closed quietly), the answer
//!   must be taken within 30 s; a stream that takes no data for 30 s is
//!   dropped.
//! - `Host` must name this server (`http.rs`), against DNS rebinding.
//! - Who may open the feed: `lightstream::http::websocket_upgrade` with the
//!   `Access` of `--allow-origin` / `--token-file` (`crate::access`): by
//!   default only the demo's own page (`Origin` equal to `http://` + Host),
//!   and clients that send no `Origin`; with a token file, only clients
//!   that send a token (a browser as the subprotocol `lightstream.token.T`).
//!
//! What it is not: a general web server, or anything to expose beyond a
//! trusted network (no TLS).

mod http;
mod stream;
mod ticks;

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::access::AccessArgs;
use crate::error::{CliError, CliResult};
use crate::network::{report, run_until_signal};

/// The largest request head (request line and headers) read: hyper's read
/// buffer, so a larger head is `431`.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its first byte, and then its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one answer (a file) may take to send.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// After an answer: how long, and how many bytes, of what the client still
/// sends are read and dropped before the socket closes (closing with unread
/// input would reset the connection and could lose the answer).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// The answer to a head that does not arrive in time: hyper closes such a
/// connection without a status, so it is written here.
const REQUEST_TIMEOUT: &str = "HTTP/1.1 408 Request Timeout\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\
    Cache-Control: no-store\r\nConnection: close\r\n\r\nrequest timeout\n";

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
    /// Rows per table of the feed
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch_rows: u32,
    /// Milliseconds between tables of the feed; a page that falls more than
    /// 4 MiB behind skips to the newest tables (0: as fast as the slowest
    /// page reads, nothing skipped)
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    interval_ms: u64,
    /// WebSocket streams at once; one more gets 503 with Retry-After (the page
    /// stays servable: file requests have their own limit)
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_streams: u32,
    /// HTTP requests (page, package files, upgrade requests) handled at once;
    /// more connections wait in the listen backlog. Each holds its slot at most
    /// 5 s for its request and 30 s for the answer
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_requests: u32,
    /// Another name (NAME: any port, or NAME:PORT) by which clients reach the
    /// demo (repeatable). Requests whose Host is not the listening address (or,
    /// on loopback, localhost:PORT) or such a name get 421: a DNS-rebinding
    /// page cannot read the demo
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    #[command(flatten)]
    access: AccessArgs,
}

/// What every connection needs to know.
struct Site {
    /// Canonical paths of the two roots.
    web: PathBuf,
    npm: PathBuf,
    /// The one live feed every stream subscribes to.
    hub: lightstream::hub::Hub,
    interval: Duration,
    /// The `Host` values a request may carry.
    hosts: http::Hosts,
    /// Who may open the feed (`--allow-origin`, `--token-file`).
    access: lightstream::http::Access,
    /// Stream slots (`--max-streams`).
    streams: Arc<Semaphore>,
    max_streams: u32,
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
    let listen = args.listen;
    run_until_signal(
        async move {
            // A failure must not read like the announcement (scripts wait for
            // a line starting "listening on"), as `serve` says it.
            let cannot = |e| CliError::io(format!("cannot listen on {listen}"), e);
            let listener = TcpListener::bind(listen.as_str()).await.map_err(cannot)?;
            let local = listener.local_addr().map_err(cannot)?;
            let interval = Duration::from_millis(args.interval_ms);
            let hub = stream::feed();
            let hosts = http::Hosts::new(local, &args.allow_hosts);
            // A list of origins does not trust Host: the demo's own page
            // (by every name it answers to) joins it.
            let access = args.access.access(&hosts.origins(local.port()))?;
            let site = Arc::new(Site {
                web,
                npm,
                hub: hub.clone(),
                interval,
                hosts,
                access,
                streams: Arc::new(Semaphore::new(args.max_streams as usize)),
                max_streams: args.max_streams,
            });
            {
                let mut stderr = io::stderr().lock();
                let _ = writeln!(stderr, "listening on http://{local}/");
                let _ = stderr.flush();
            }
            let generator = stream::publish_ticks(hub, args.batch_rows as usize, interval);
            tokio::select! {
                served = serve(listener, site, args.max_requests as usize) => served,
                published = generator => published,
            }
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

/// The accept loop: one task per connection, each holding a request slot
/// (at most `max_requests` at once; more wait in the listen backlog).
async fn serve(listener: TcpListener, site: Arc<Site>, max_requests: usize) -> CliResult<()> {
    let requests = Arc::new(Semaphore::new(max_requests));
    loop {
        let Ok(slot) = requests.clone().acquire_owned().await else {
            return Err(CliError::msg(
                "internal error: the request limit was closed",
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
            if let Err(why) = connection(tcp, peer, site, slot).await {
                report(&CliError::msg(format!("client {peer} failed: {why}")));
            }
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

/// Handles one connection: one HTTP request, which may become a WebSocket
/// stream. `slot`: its request slot, given back when the request is answered.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    site: Arc<Site>,
    slot: OwnedSemaphorePermit,
) -> Result<(), Failure> {
    let _ = tcp.set_nodelay(true);
    // A second handle on the socket outlives hyper's: it answers a head that
    // never completes, lingers after an answer, and watches a stream's
    // client for its close.
    let (tcp, mut spare) = twin(tcp).map_err(|e| io_failure("setting up the connection", e))?;
    let mut first = [0u8; 1];
    match timeout(HEAD_TIMEOUT, spare.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        // A connection that sends nothing (a browser opens spare ones) is
        // closed quietly.
        Ok(Ok(_)) | Err(_) => return Ok(()),
        Ok(Err(err)) => return Err(io_failure("reading the request", err)),
    }

    let handoff = Arc::new(http::Handoff::default());
    let head_read = Arc::new(Notify::new());
    let service = {
        let (site, handoff, head_read) = (site.clone(), handoff.clone(), head_read.clone());
        service_fn(move |request| {
            head_read.notify_one();
            let (site, handoff) = (site.clone(), handoff.clone());
            async move { http::respond(request, &site, &handoff).await }
        })
    };
    // Boxed so that it can be dropped (closing hyper's handle) before a 408.
    let mut conn = Box::pin(
        http1::Builder::new()
            .keep_alive(false)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades(),
    );
    let served = tokio::select! {
        biased;
        done = &mut conn => done,
        () = head_read.notified() => match timeout(RESPONSE_TIMEOUT, &mut conn).await {
            Ok(done) => done,
            Err(_) => {
                return Err(fail(format!(
                    "sending the answer took over {RESPONSE_TIMEOUT:?}"
                )));
            }
        },
        () = tokio::time::sleep(HEAD_TIMEOUT) => {
            drop(conn);
            let _ = timeout(LINGER_TIME, spare.write_all(REQUEST_TIMEOUT.as_bytes())).await;
            linger(&mut spare).await;
            return Err(fail(format!("no complete request head within {HEAD_TIMEOUT:?}")));
        }
    };
    drop(slot);
    if let Err(err) = served {
        linger(&mut spare).await;
        return Err(fail(if err.is_parse_too_large() {
            format!("request head larger than {} KiB", MAX_HEAD / 1024)
        } else if err.is_parse() {
            format!("bad request: {err}")
        } else {
            format!("connection error: {err}")
        }));
    }
    let accepted = handoff.upgrade.lock().ok().and_then(|mut u| u.take());
    let Some((upgrade, _stream_slot)) = accepted else {
        linger(&mut spare).await;
        return Ok(());
    };
    let upgraded = upgrade
        .await
        .map_err(|e| fail(format!("WebSocket upgrade: {e}")))?;
    stream::subscribe(upgraded, spare, peer, site.hub.clone(), site.interval).await
}

/// Ends the sending side (hyper does not always: not after refusing a
/// request that asked for an upgrade), then reads (and drops) what the
/// client still sends, briefly, so that closing does not reset the
/// connection before the client has read the answer.
async fn linger(tcp: &mut TcpStream) {
    let _ = tcp.shutdown().await;
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
}

/// Two tokio handles on one socket (the second a duplicate file descriptor).
fn twin(tcp: TcpStream) -> io::Result<(TcpStream, TcpStream)> {
    let std = tcp.into_std()?;
    let other = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, TcpStream::from_std(other)?))
}
