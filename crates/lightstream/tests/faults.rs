//! Faults on every transport, against raw misbehaving peers written here
//! (raw TCP and Unix sockets, raw tungstenite, raw quinn, child processes for
//! the pipes stdio uses), on loopback only.
//!
//! - A peer killed mid-message: the tables before it arrive intact, then the
//!   read ends with `Truncated` or an I/O error, within bounded time.
//! - Half-open: a peer that ends its sending side without the end-of-stream
//!   marker (`Truncated`), and a peer that stops reading while we write (our
//!   writer fails instead of hanging).
//! - A peer that goes quiet, mid-message or between messages: the idle
//!   timeout ends the read with `Error::Timeout`; without it the read is
//!   still pending. A dropped reader closes the connection at once.
//! - A peer that never reads: our writer blocks without our heap growing
//!   (counted by this binary's global allocator), and the write timeout ends
//!   it with `Error::Timeout`.
//! - A server (`lightstream::bind` + an accept loop, a task per connection)
//!   survives 1,000 connections opened and dropped without a byte: each
//!   ends in a documented error kind, file descriptors return to their
//!   baseline, and a healthy client still gets every table; and it keeps
//!   serving healthy clients while one client never reads. These two also
//!   run over TLS (`tls://`); the raw peers cover the other transports.
//! - A WebSocket frame header declaring 2 GiB (issue 14), alone and followed
//!   by data, to our reader, our writer and from a server to our client: a
//!   clear protocol error, the heap grows by far less than the declared
//!   length. A 40 MB message crosses in frames of at most 1 MiB, to our
//!   reader and to plain tungstenite with a 1 MiB frame limit; a WebSocket
//!   peer that never reads costs the writer a frame or two, not a message.
//!
//! Pass criteria are outcomes and memory bounds; the only times are generous
//! upper bounds ("ended within 5 s"). Tests run one at a time (one lock), so
//! the heap and descriptor counts see only their own test.

#![cfg(all(
    target_os = "linux",
    feature = "tcp",
    feature = "uds",
    feature = "websocket",
    feature = "quic",
    feature = "tls"
))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lightstream::minarrow::{Array, ArrowType, Field, FieldArray, IntegerArray, Table, Vec64};
use lightstream::{
    ClientOptions, Connection, Endpoint, Error, ReadOptions, Schema, ServerOptions, TableReader,
    TableWriter, WriteOptions,
};
use lightstream_core::{ErrorKind, IpcStreamEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

// ------------------------------------------------------------------ harness

/// Counts the bytes this process has allocated, and the peak since a reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts measuring: the heap's size now, which the peak starts from.
fn heap_baseline() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// How far the heap grew above `baseline` at its peak since then.
fn heap_growth(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// One test at a time: the heap and descriptor counts are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on a fresh runtime, alone, failing after 60 s.
fn run<F: Future<Output = ()>>(what: &str, f: F) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        if tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .is_err()
        {
            panic!("{what}: did not finish within 60 s");
        }
    });
    // Tasks still running (peers holding connections) are cancelled here.
    rt.shutdown_timeout(Duration::from_secs(5));
}

async fn within<T>(what: &str, secs: u64, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

/// A fresh directory for Unix sockets and files.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lightstream-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

// ------------------------------------------------------------------ data

/// Table `i` of a stream: `rows` int64 values `i * 1_000_000 + row`.
fn table(i: usize, rows: usize) -> Table {
    let base = (i * 1_000_000) as i64;
    let v: Vec64<i64> = (0..rows as i64).map(|r| base + r).collect();
    Table::new(
        "t".to_string(),
        Some(vec![FieldArray {
            field: Arc::new(Field {
                name: "n".to_string(),
                dtype: ArrowType::Int64,
                nullable: false,
                metadata: Default::default(),
            }),
            array: Array::from_int64(IntegerArray::from_vec64(v, None)),
            null_count: 0,
        }]),
    )
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::from_table(&table(0, 1)))
}

#[track_caller]
fn check(t: &Table, i: usize, rows: usize) {
    assert_eq!(t.n_rows, rows, "table {i}");
    match &t.cols[0].array {
        Array::NumericArray(lightstream::minarrow::NumericArray::Int64(a)) => {
            let base = (i * 1_000_000) as i64;
            assert_eq!(a.data.as_slice().first(), Some(&base), "table {i}");
            assert_eq!(
                a.data.as_slice().last(),
                Some(&(base + rows as i64 - 1)),
                "table {i}"
            );
        }
        other => panic!("table {i}: unexpected column {other:?}"),
    }
}

/// The messages of a stream of `n` tables of `rows` rows: the schema, one
/// record batch per table, the end-of-stream marker.
fn messages(n: usize, rows: usize) -> Vec<Vec<u8>> {
    let mut enc = IpcStreamEncoder::new(schema(), WriteOptions::default()).expect("encoder");
    let mut out = vec![enc.schema_message().expect("schema").to_vec()];
    for i in 0..n {
        let t = table(i, rows);
        for m in enc.encode_table(&t).expect("encode") {
            out.push(m.to_vec());
        }
    }
    out.push(enc.end_of_stream().to_vec());
    out
}

/// Rows per table in the small streams: an 8 KiB body, so half a message
/// ends inside its body.
const ROWS: usize = 1000;

// ------------------------------------------------------------------ raw peers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Unix,
    WebSocket,
    Quic,
    /// `tls://`: only for the server tests (no raw TLS peer here).
    Tls,
}

/// The transports with raw peers.
const ALL: [Transport; 4] = [
    Transport::Tcp,
    Transport::Unix,
    Transport::WebSocket,
    Transport::Quic,
];

/// The transports of the server tests.
const SERVED: [Transport; 5] = [
    Transport::Tcp,
    Transport::Unix,
    Transport::WebSocket,
    Transport::Quic,
    Transport::Tls,
];

/// Certificates for QUIC on 127.0.0.1: the server's config and a client
/// that trusts it. (`..Default::default()`: the options gain fields with
/// features, such as TLS.)
#[allow(clippy::needless_update)]
fn quic_configs() -> (quinn::ServerConfig, ClientOptions) {
    let (certs, key) = lightstream::quic::self_signed(&["localhost", "127.0.0.1"]).expect("cert");
    let server = lightstream::quic::server_config(certs.clone(), key).expect("server config");
    let client = ClientOptions {
        quic: Some(lightstream::quic::client_config_trusting(&certs).expect("client config")),
        ..Default::default()
    };
    (server, client)
}

/// A listener whose connections are raw peers (no lightstream on its side).
enum RawListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
    WebSocket(tokio::net::TcpListener),
    Quic(quinn::Endpoint),
}

async fn raw_listener(t: Transport, dir: &Path) -> (RawListener, Endpoint, ClientOptions) {
    let client = ClientOptions::default();
    let (l, url, client) = match t {
        Transport::Tcp | Transport::WebSocket => {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = l.local_addr().expect("addr");
            if t == Transport::Tcp {
                (RawListener::Tcp(l), format!("tcp://{addr}"), client)
            } else {
                (RawListener::WebSocket(l), format!("ws://{addr}/t"), client)
            }
        }
        Transport::Unix => {
            let path = dir.join("raw.sock");
            let _ = std::fs::remove_file(&path);
            let l = tokio::net::UnixListener::bind(&path).expect("bind");
            (
                RawListener::Unix(l),
                format!("unix://{}", path.display()),
                client,
            )
        }
        Transport::Quic => {
            let (server, client) = quic_configs();
            let ep = quinn::Endpoint::server(server, "127.0.0.1:0".parse().expect("addr"))
                .expect("quic endpoint");
            let addr = ep.local_addr().expect("addr");
            (RawListener::Quic(ep), format!("quic://{addr}"), client)
        }
        Transport::Tls => panic!("no raw TLS peer here"),
    };
    (l, url.parse().expect("endpoint"), client)
}

impl RawListener {
    /// The next client, after the WebSocket or QUIC handshake.
    async fn accept(&self) -> RawPeer {
        match self {
            RawListener::Tcp(l) => RawPeer::Tcp(l.accept().await.expect("accept").0),
            RawListener::Unix(l) => RawPeer::Unix(l.accept().await.expect("accept").0),
            RawListener::WebSocket(l) => {
                let (s, _) = l.accept().await.expect("accept");
                RawPeer::WebSocket(tokio_tungstenite::accept_async(s).await.expect("handshake"))
            }
            RawListener::Quic(ep) => {
                let conn = ep
                    .accept()
                    .await
                    .expect("incoming")
                    .await
                    .expect("quic handshake");
                RawPeer::Quic {
                    _endpoint: ep.clone(),
                    conn,
                    send: None,
                    recv: None,
                }
            }
        }
    }
}

/// The other end of one connection, misbehaving on request.
enum RawPeer {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    WebSocket(WebSocketStream<tokio::net::TcpStream>),
    Quic {
        _endpoint: quinn::Endpoint,
        conn: quinn::Connection,
        send: Option<quinn::SendStream>,
        recv: Option<quinn::RecvStream>,
    },
}

impl RawPeer {
    async fn quic_send(conn: &quinn::Connection, send: &mut Option<quinn::SendStream>) {
        if send.is_none() {
            *send = Some(conn.open_uni().await.expect("open stream"));
        }
    }

    /// Sends whole messages (one binary message each on WebSocket).
    async fn send(&mut self, msgs: &[Vec<u8>]) {
        match self {
            RawPeer::Tcp(s) => s.write_all(&msgs.concat()).await.expect("send"),
            RawPeer::Unix(s) => s.write_all(&msgs.concat()).await.expect("send"),
            RawPeer::WebSocket(ws) => {
                for m in msgs {
                    ws.send(Message::Binary(m.clone().into()))
                        .await
                        .expect("send");
                }
            }
            RawPeer::Quic { conn, send, .. } => {
                Self::quic_send(conn, send).await;
                let s = send.as_mut().expect("stream");
                s.write_all(&msgs.concat()).await.expect("send");
            }
        }
    }

    /// Sends the first half of `msg`. On WebSocket: a binary frame whose
    /// header announces all of `msg`, and half its payload.
    async fn send_half(&mut self, msg: &[u8]) {
        let half = &msg[..msg.len() / 2];
        match self {
            RawPeer::Tcp(s) => s.write_all(half).await.expect("send"),
            RawPeer::Unix(s) => s.write_all(half).await.expect("send"),
            RawPeer::WebSocket(ws) => {
                ws.flush().await.expect("flush");
                let mut frame = vec![0x82, 127];
                frame.extend_from_slice(&(msg.len() as u64).to_be_bytes());
                frame.extend_from_slice(half);
                ws.get_mut().write_all(&frame).await.expect("send");
            }
            RawPeer::Quic { conn, send, .. } => {
                Self::quic_send(conn, send).await;
                let s = send.as_mut().expect("stream");
                s.write_all(half).await.expect("send");
            }
        }
    }

    /// Ends the sending side cleanly, without the end-of-stream marker: a
    /// TCP/Unix shutdown (FIN), a WebSocket Close, a QUIC stream FIN.
    async fn end_sending(&mut self) {
        match self {
            RawPeer::Tcp(s) => s.shutdown().await.expect("shutdown"),
            RawPeer::Unix(s) => s.shutdown().await.expect("shutdown"),
            RawPeer::WebSocket(ws) => ws.close(None).await.expect("close"),
            RawPeer::Quic { send, .. } => send.as_mut().expect("stream").finish().expect("finish"),
        }
    }

    /// Goes away as a killed process does: TCP and WebSocket reset the
    /// connection (linger 0), a Unix socket closes, QUIC closes the
    /// connection.
    fn kill(self) {
        match self {
            #[allow(deprecated)]
            RawPeer::Tcp(s) => {
                let _ = s.set_linger(Some(Duration::ZERO));
            }
            RawPeer::Unix(_) => {}
            #[allow(deprecated)]
            RawPeer::WebSocket(ws) => {
                let _ = ws.get_ref().set_linger(Some(Duration::ZERO));
            }
            RawPeer::Quic { conn, .. } => conn.close(1u32.into(), b"killed"),
        }
    }

    /// Reads and discards up to `n` bytes (all there is, if the stream ends
    /// first); returns how many arrived.
    async fn read_some(&mut self, n: usize) -> usize {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < n {
            let want = buf.len().min(n - got);
            let r = match self {
                RawPeer::Tcp(s) => s.read(&mut buf[..want]).await.unwrap_or(0),
                RawPeer::Unix(s) => s.read(&mut buf[..want]).await.unwrap_or(0),
                RawPeer::WebSocket(ws) => match ws.next().await {
                    Some(Ok(m)) => m.len().max(1),
                    _ => 0,
                },
                RawPeer::Quic { conn, recv, .. } => {
                    if recv.is_none() {
                        *recv = Some(conn.accept_uni().await.expect("accept stream"));
                    }
                    let s = recv.as_mut().expect("stream");
                    s.read(&mut buf[..want]).await.ok().flatten().unwrap_or(0)
                }
            };
            if r == 0 {
                break;
            }
            got += r;
        }
        got
    }

    /// Stops reading for good while the other side writes: a TCP, Unix or
    /// WebSocket peer closes its socket (with unread data: a reset), a QUIC
    /// peer stops the stream (STOP_SENDING) and keeps the connection.
    fn stop_reading(&mut self) {
        if let RawPeer::Quic { recv: Some(r), .. } = self {
            let _ = r.stop(7u32.into());
        }
    }

    /// Once `gone` fires (the other side dropped its reader), waits until
    /// the connection is really closed: byte transports write until the
    /// kernel reports the closed socket (the reader half-closed its sending
    /// side when it was made, so reading cannot tell), WebSocket reads to the
    /// end, QUIC waits for the stream's STOP_SENDING and the connection's
    /// close. Anything the other side kept open would leave this waiting.
    async fn closed(&mut self, gone: tokio::sync::oneshot::Receiver<()>) {
        let _ = gone.await;
        let probe = [0u8; 4096];
        match self {
            RawPeer::Tcp(s) => while s.write_all(&probe).await.is_ok() {},
            RawPeer::Unix(s) => while s.write_all(&probe).await.is_ok() {},
            RawPeer::WebSocket(_) => while self.read_some(usize::MAX).await > 0 {},
            RawPeer::Quic { send, conn, .. } => {
                if let Some(s) = send {
                    let _ = s.stopped().await;
                }
                conn.closed().await;
            }
        }
    }
}

/// Connects to `endpoint` and reads the schema.
async fn our_reader(
    endpoint: &Endpoint,
    client: &ClientOptions,
) -> lightstream::Result<TableReader> {
    let conn = lightstream::connect(endpoint, client).await?;
    conn.reader(ReadOptions::default()).await
}

/// A documented error for a peer that went away: the stream was cut
/// (`Truncated`) or the transport reported it (`Io`).
#[track_caller]
fn assert_cut_off(t: Transport, err: &Error) {
    match err {
        Error::Io { context, .. } => assert!(context.contains("reading from"), "{t:?}: {err}"),
        e => assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}"),
    }
}

// ------------------------------------------------------------------ reading

#[test]
fn a_peer_killed_mid_message_ends_the_read_after_the_tables_before_it() {
    run("killed mid-message", async {
        let dir = temp_dir("killed");
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(3, ROWS);
            let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..3]).await; // schema, tables 0 and 1
                p.send_half(&msgs[3]).await;
                // A reset discards unread bytes: die once they were read.
                let _ = read_rx.await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                p.kill();
            });
            let mut r = within("reader", 5, our_reader(&ep, &client))
                .await
                .expect("reader");
            for i in 0..2 {
                let got = within("table", 5, r.next()).await;
                check(&got.expect("a table").expect("intact"), i, ROWS);
            }
            let _ = read_tx.send(());
            let err = within("error", 5, r.next())
                .await
                .expect("an error, not a clean end")
                .expect_err("cut off");
            assert_cut_off(t, &err);
            eprintln!("{t:?} killed: {err}");
            assert!(within("end", 5, r.next()).await.is_none(), "{t:?}");
            peer.await.expect("peer");
        }
    });
}

#[test]
fn a_peer_that_ends_sending_without_the_end_marker_is_truncated() {
    run("half-closed", async {
        let dir = temp_dir("half-closed");
        for t in ALL {
            // At a message boundary: "closed ... without the end-of-stream marker".
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            let (gone_tx, gone) = tokio::sync::oneshot::channel();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..3]).await;
                p.end_sending().await;
                // Half-open: still there until the reader has gone.
                p.closed(gone).await;
            });
            let r = within("reader", 5, our_reader(&ep, &client))
                .await
                .expect("reader");
            let mut r = r;
            for i in 0..2 {
                check(
                    &within("table", 5, r.next()).await.expect("t").expect("t"),
                    i,
                    ROWS,
                );
            }
            let err = within("error", 5, r.next())
                .await
                .expect("error")
                .expect_err("cut");
            assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}");
            assert!(
                err.to_string()
                    .contains("after 2 tables without the end-of-stream marker"),
                "{t:?}: {err}"
            );
            drop(r);
            let _ = gone_tx.send(());
            within("peer sees the close", 5, peer).await.expect("peer");

            // Inside a message (byte transports: the FIN cuts a record batch).
            if t == Transport::WebSocket {
                continue;
            }
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..2]).await;
                p.send_half(&msgs[2]).await;
                p.end_sending().await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
            let mut r = within("reader", 5, our_reader(&ep, &client))
                .await
                .expect("reader");
            check(
                &within("table", 5, r.next()).await.expect("t").expect("t"),
                0,
                ROWS,
            );
            let err = within("error", 5, r.next())
                .await
                .expect("error")
                .expect_err("cut");
            assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}");
            assert!(
                err.to_string().contains("closed the connection early"),
                "{t:?}: {err}"
            );
        }
    });
}

#[test]
fn the_idle_timeout_ends_a_read_from_a_peer_gone_quiet() {
    run("idle timeout", async {
        let dir = temp_dir("idle");
        let after = Duration::from_millis(300);
        for t in ALL {
            for mid_message in [true, false] {
                let (l, ep, client) = raw_listener(t, &dir).await;
                let msgs = messages(2, ROWS);
                let (gone_tx, gone) = tokio::sync::oneshot::channel();
                let peer = tokio::spawn(async move {
                    let mut p = l.accept().await;
                    p.send(&msgs[..2]).await; // schema, table 0
                    if mid_message {
                        p.send_half(&msgs[2]).await;
                    }
                    // Then nothing, until the reader goes away.
                    p.closed(gone).await;
                });
                let mut r = within("reader", 5, our_reader(&ep, &client))
                    .await
                    .expect("reader");
                assert_eq!(r.idle_timeout(), None, "no timeout by default");
                r.set_idle_timeout(Some(after));
                check(
                    &within("table", 5, r.next()).await.expect("t").expect("t"),
                    0,
                    ROWS,
                );
                let err = within("the timeout", 5, r.next())
                    .await
                    .expect("an error")
                    .expect_err("timed out");
                assert!(err.is_timeout(), "{t:?}: {err}");
                let msg = err.to_string();
                let Error::Timeout { after: a, .. } = &err else {
                    panic!("{t:?}: {err}")
                };
                assert_eq!(*a, after);
                // Over WebSocket a message is seen only once whole.
                let stalled = if t == Transport::WebSocket {
                    "no complete WebSocket message from "
                } else {
                    "no data from "
                };
                // Part of a message may arrive after the wait began (it
                // does not restart the timer): then the error says so.
                let partial = mid_message && msg.starts_with("no complete IPC message from ");
                assert!(msg.starts_with(stalled) || partial, "{msg}");
                assert!(msg.contains(" for 300 ms while "), "{msg}");
                // A WebSocket frame cut in half is tungstenite's to hold: the
                // decoder waits at a message boundary.
                let expect = if mid_message && t != Transport::WebSocket {
                    "reading the body of message 2 ("
                } else {
                    "waiting for the next message (after 1 tables)"
                };
                assert!(msg.contains(expect), "{t:?} mid {mid_message}: {msg}");
                assert!(within("end", 5, r.next()).await.is_none());
                // Dropped, the reader closes the connection at once.
                drop(r);
                let _ = gone_tx.send(());
                within("the peer sees the close", 5, peer)
                    .await
                    .expect("peer");
            }
        }
    });
}

#[test]
fn without_an_idle_timeout_a_quiet_peer_leaves_the_read_pending() {
    run("no idle timeout", async {
        let dir = temp_dir("no-idle");
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            let (gone_tx, gone) = tokio::sync::oneshot::channel();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..2]).await;
                p.send_half(&msgs[2]).await;
                p.closed(gone).await;
            });
            let mut r = within("reader", 5, our_reader(&ep, &client))
                .await
                .expect("reader");
            check(
                &within("table", 5, r.next()).await.expect("t").expect("t"),
                0,
                ROWS,
            );
            let pending = tokio::time::timeout(Duration::from_millis(500), r.next()).await;
            assert!(pending.is_err(), "{t:?}: the read should still wait");
            drop(r);
            let _ = gone_tx.send(());
            within("the peer sees the close", 5, peer)
                .await
                .expect("peer");
        }
    });
}

// ------------------------------------------------------------------ writing

/// Our writer to a peer that accepted the connection.
async fn our_writer(endpoint: &Endpoint, client: &ClientOptions) -> TableWriter {
    let conn = lightstream::connect(endpoint, client)
        .await
        .expect("connect");
    conn.writer(schema(), WriteOptions::default())
        .await
        .expect("writer")
}

/// Tables of 1 MiB (131072 int64 values).
const BIG_ROWS: usize = 1 << 17;

#[test]
fn a_peer_that_stops_reading_while_we_write_fails_the_writer() {
    run("stops reading", async {
        let dir = temp_dir("stops-reading");
        let big = table(0, BIG_ROWS);
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.read_some(100_000).await;
                // Keep a QUIC connection up; the others close their socket.
                p.stop_reading();
                if matches!(p, RawPeer::Quic { .. }) {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                drop(p);
            });
            let mut w = our_writer(&ep, &client).await;
            let outcome = within("the writer fails", 10, async {
                for _ in 0..256 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            let err = outcome.expect_err("256 MiB cannot all go to a peer that stopped reading");
            match &err {
                Error::Io { context, .. } => {
                    assert!(context.contains("writing to"), "{t:?}: {err}")
                }
                Error::Protocol(m) if t == Transport::WebSocket => {
                    assert!(m.contains("WebSocket"), "{err}")
                }
                _ => panic!("{t:?}: unexpected error {err}"),
            }
            eprintln!("{t:?} stopped reading: {err}");
            // The writer is unusable now, and says so.
            let again = w.write(&big).await.expect_err("broken writer");
            assert!(
                again.to_string().contains("earlier write failed"),
                "{again}"
            );
            drop(w);
            peer.abort();
        }
    });
}

#[test]
fn a_peer_that_never_reads_blocks_the_writer_without_growing_memory() {
    run("never reads", async {
        let dir = temp_dir("never-reads");
        let big = table(0, BIG_ROWS);
        for t in ALL {
            // Without a write timeout: the writer waits (and holds nothing).
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                if let RawPeer::Quic { conn, recv, .. } = &mut p {
                    // Take the stream, then never read it.
                    *recv = Some(conn.accept_uni().await.expect("stream"));
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(p);
            });
            let mut w = our_writer(&ep, &client).await;
            assert_eq!(w.write_timeout(), None, "no timeout by default");
            let baseline = heap_baseline();
            let blocked = tokio::time::timeout(Duration::from_millis(500), async {
                for _ in 0..64 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            assert!(
                blocked.is_err(),
                "{t:?}: 64 MiB to a peer that never reads must block"
            );
            let growth = heap_growth(baseline);
            let written = w.bytes_written();
            assert!(written < 48 << 20, "{t:?}: {written} bytes went out");
            assert!(
                growth < 32 << 20,
                "{t:?}: the heap grew by {growth} bytes while blocked ({written} written)"
            );
            drop(w);
            peer.abort();

            // With one: the write fails with the timeout.
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                if let RawPeer::Quic { conn, recv, .. } = &mut p {
                    *recv = Some(conn.accept_uni().await.expect("stream"));
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(p);
            });
            let mut w = our_writer(&ep, &client).await;
            w.set_write_timeout(Some(Duration::from_millis(300)));
            let baseline = heap_baseline();
            let outcome = within("the write timeout", 10, async {
                for _ in 0..64 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            let err = outcome.expect_err("timed out");
            assert!(err.is_timeout(), "{t:?}: {err}");
            let msg = err.to_string();
            // The message in flight was not all taken: "took no data" or,
            // when the socket buffers took its first bytes, "took N of M bytes".
            assert!(
                msg.contains(" took ") && msg.contains(" for 300 ms while writing table "),
                "{msg}"
            );
            let growth = heap_growth(baseline);
            assert!(growth < 32 << 20, "{t:?}: the heap grew by {growth} bytes");
            eprintln!(
                "{t:?}: blocked after {} MiB written, heap growth {} KiB: {msg}",
                w.bytes_written() >> 20,
                growth >> 10
            );
            let again = w.write(&big).await.expect_err("broken writer");
            assert!(!again.is_timeout(), "{again}");
            drop(w);
            peer.abort();
        }
    });
}

// ------------------------------------------------------------------ servers

/// How one server connection ended.
#[derive(Default)]
struct Outcomes {
    ok: AtomicU64,
    io: AtomicU64,
    truncated: AtomicU64,
    empty: AtomicU64,
    protocol: AtomicU64,
    timeout: AtomicU64,
    other: Mutex<Vec<String>>,
}

impl Outcomes {
    fn record(&self, r: &lightstream::Result<()>) {
        let counter = match r {
            Ok(()) => &self.ok,
            Err(Error::Io { .. }) => &self.io,
            Err(Error::Protocol(_)) => &self.protocol,
            Err(Error::Timeout { .. }) => &self.timeout,
            Err(e) if e.codec_kind() == Some(ErrorKind::Truncated) => &self.truncated,
            Err(Error::EmptyConnection { .. }) => &self.empty,
            Err(e) => {
                self.other.lock().expect("lock").push(e.to_string());
                return;
            }
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn total(&self) -> u64 {
        [
            &self.ok,
            &self.io,
            &self.truncated,
            &self.empty,
            &self.protocol,
            &self.timeout,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum::<u64>()
            + self.other.lock().expect("lock").len() as u64
    }

    fn summary(&self) -> String {
        format!(
            "ok {}, io {}, truncated {}, empty {}, protocol {}, timeout {}, other {:?}",
            self.ok.load(Ordering::SeqCst),
            self.io.load(Ordering::SeqCst),
            self.truncated.load(Ordering::SeqCst),
            self.empty.load(Ordering::SeqCst),
            self.protocol.load(Ordering::SeqCst),
            self.timeout.load(Ordering::SeqCst),
            self.other.lock().expect("lock")
        )
    }
}

/// What a lightstream server on `t` needs.
#[allow(clippy::needless_update)]
fn server_for(t: Transport, dir: &Path) -> (String, ServerOptions, ClientOptions) {
    match t {
        Transport::Tcp => (
            "tcp://127.0.0.1:0".into(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Unix => (
            format!("unix://{}", dir.join("server.sock").display()),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::WebSocket => (
            "ws://127.0.0.1:0/t".into(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Quic => {
            let (server, client) = quic_configs();
            let options = ServerOptions {
                quic: Some(server),
                ..Default::default()
            };
            ("quic://127.0.0.1:0".into(), options, client)
        }
        Transport::Tls => {
            let (certs, key) =
                lightstream::tls::self_signed(&["localhost", "127.0.0.1"]).expect("cert");
            let server = ServerOptions {
                tls: Some(lightstream::tls::server_config(certs.clone(), key).expect("server")),
                ..Default::default()
            };
            let client = ClientOptions {
                tls: Some(lightstream::tls::client_config_trusting(&certs).expect("client")),
                ..Default::default()
            };
            ("tls://127.0.0.1:0".into(), server, client)
        }
    }
}

/// A server as an application would write one: an accept loop, a task per
/// connection that sends `tables` (with `write_timeout`) or, when
/// `receives`, reads a stream (with `idle`). Every connection's outcome is
/// recorded.
async fn serve(
    t: Transport,
    dir: &Path,
    tables: Arc<Vec<Table>>,
    receives: bool,
    timeout: Option<Duration>,
) -> (
    Endpoint,
    ClientOptions,
    Arc<Outcomes>,
    tokio::task::JoinHandle<()>,
) {
    let (url, server, client) = server_for(t, dir);
    let listener = lightstream::bind(&url.parse().expect("url"), &server)
        .await
        .expect("bind");
    let endpoint: Endpoint = listener.local_url().clone();
    let outcomes = Arc::new(Outcomes::default());
    let recorded = outcomes.clone();
    let accept_loop = tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            let (tables, outcomes) = (tables.clone(), recorded.clone());
            tokio::spawn(async move {
                let r = if receives {
                    receive(conn, timeout).await
                } else {
                    send(conn, &tables, timeout).await
                };
                outcomes.record(&r);
            });
        }
    });
    (endpoint, client, outcomes, accept_loop)
}

async fn send(
    conn: Connection,
    tables: &[Table],
    timeout: Option<Duration>,
) -> lightstream::Result<()> {
    // The handshakes (WebSocket, QUIC) are bounded too.
    let limit = timeout.unwrap_or(Duration::from_secs(30));
    let mut w =
        match tokio::time::timeout(limit, conn.writer(schema(), WriteOptions::default())).await {
            Ok(w) => w?,
            Err(_) => {
                return Err(Error::Timeout {
                    stalled: "handshake".into(),
                    after: limit,
                    context: "accepting".into(),
                });
            }
        };
    w.set_write_timeout(timeout);
    for t in tables {
        w.write(t).await?;
    }
    w.finish().await?;
    Ok(())
}

async fn receive(conn: Connection, timeout: Option<Duration>) -> lightstream::Result<()> {
    let limit = timeout.unwrap_or(Duration::from_secs(30));
    let mut r = match tokio::time::timeout(limit, conn.reader(ReadOptions::default())).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(Error::Timeout {
                stalled: "handshake".into(),
                after: limit,
                context: "accepting".into(),
            });
        }
    };
    r.set_idle_timeout(timeout);
    while let Some(t) = r.next().await {
        t?;
    }
    Ok(())
}

/// Opens a connection to `endpoint` and drops it without a byte (for QUIC:
/// after the handshake, closing the connection).
async fn connect_and_drop(t: Transport, endpoint: &Endpoint, client: &ClientOptions) {
    match (t, endpoint) {
        (Transport::Tcp, Endpoint::Tcp(a)) | (Transport::Tls, Endpoint::Tls(a)) => drop(
            tokio::net::TcpStream::connect(a.as_str())
                .await
                .expect("connect"),
        ),
        (Transport::WebSocket, Endpoint::WebSocket(url)) => {
            let a = url.trim_start_matches("ws://").trim_end_matches("/t");
            drop(tokio::net::TcpStream::connect(a).await.expect("connect"))
        }
        (Transport::Unix, Endpoint::Unix(path)) => drop(
            tokio::net::UnixStream::connect(path)
                .await
                .expect("connect"),
        ),
        (Transport::Quic, _) => {
            let session = lightstream::connect(endpoint, client)
                .await
                .expect("connect")
                .into_quic()
                .await
                .expect("session");
            session.close();
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_survives_a_thousand_empty_connections() {
    run("1000 connections", async {
        let dir = temp_dir("thousand");
        let tables: Arc<Vec<Table>> = Arc::new((0..4).map(|i| table(i, ROWS)).collect());
        // The server sends on TCP, WebSocket and QUIC and receives on Unix
        // sockets, so both roles meet empty connections. QUIC connections
        // cost a TLS handshake each: 100 of them.
        for (t, receives, n) in [
            (Transport::Tcp, false, 1000),
            (Transport::Unix, true, 1000),
            (Transport::WebSocket, false, 1000),
            (Transport::Quic, false, 100),
            (Transport::Tls, false, 1000),
        ] {
            let fds = open_fds();
            let (endpoint, client, outcomes, accept_loop) = serve(
                t,
                &dir,
                tables.clone(),
                receives,
                Some(Duration::from_secs(5)),
            )
            .await;
            let with_listener = open_fds();
            for _ in 0..n {
                connect_and_drop(t, &endpoint, &client).await;
            }
            // Every one of them ends, in a documented way.
            within("every empty connection ends", 20, async {
                while outcomes.total() < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            let summary = outcomes.summary();
            assert!(
                outcomes.other.lock().expect("lock").is_empty(),
                "{t:?}: {summary}"
            );
            assert_eq!(
                outcomes.timeout.load(Ordering::SeqCst),
                0,
                "{t:?}: {summary}"
            );
            if receives {
                // Nothing came: a typed EmptyConnection, not a truncation.
                assert_eq!(outcomes.empty.load(Ordering::SeqCst), n, "{t:?}: {summary}");
            }
            eprintln!("{t:?}: {n} empty connections: {summary}");

            // A healthy client still gets everything.
            if receives {
                let conn = lightstream::connect(&endpoint, &client)
                    .await
                    .expect("connect");
                let mut w = conn
                    .writer(schema(), WriteOptions::default())
                    .await
                    .expect("w");
                for tb in tables.iter() {
                    w.write(tb).await.expect("write");
                }
                within("finish", 10, w.finish()).await.expect("finish");
                within("received", 10, async {
                    while outcomes.ok.load(Ordering::SeqCst) < 1 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
                .await;
            } else {
                let r = within("reader", 10, our_reader(&endpoint, &client))
                    .await
                    .expect("reader");
                let got = within("read", 10, r.read_all()).await.expect("read");
                assert_eq!(got.len(), tables.len());
                for (i, tb) in got.iter().enumerate() {
                    check(tb, i, ROWS);
                }
            }

            // File descriptors go back to where they were with the listener.
            let mut now = open_fds();
            for _ in 0..250 {
                if now <= with_listener {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                now = open_fds();
            }
            assert!(
                now <= with_listener,
                "{t:?}: {now} descriptors open, {with_listener} with the listener"
            );
            accept_loop.abort();
            let _ = accept_loop.await;
            let mut now = open_fds();
            for _ in 0..250 {
                if now <= fds {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                now = open_fds();
            }
            assert!(
                now <= fds,
                "{t:?}: {now} descriptors open, {fds} before the server"
            );
        }
    });
}

#[test]
fn a_server_keeps_serving_while_one_client_never_reads() {
    run("stalled client", async {
        let dir = temp_dir("stalled");
        // 16 tables of 1 MiB: more than socket buffers and QUIC windows hold.
        let tables: Arc<Vec<Table>> = Arc::new((0..16).map(|i| table(i, BIG_ROWS)).collect());
        // The transports side by side: each has its own server.
        let all = SERVED.map(|t| keeps_serving(t, &dir, tables.clone()));
        futures_util::future::join_all(all).await;
    });
}

async fn keeps_serving(t: Transport, dir: &Path, tables: Arc<Vec<Table>>) {
    let (endpoint, client, outcomes, accept_loop) =
        serve(t, dir, tables.clone(), false, Some(Duration::from_secs(2))).await;
    // The stalled client: takes the schema (finishing any handshake), then
    // never reads again.
    let stalled = within("stalled reader", 10, our_reader(&endpoint, &client))
        .await
        .expect("reader");
    let healthy: Vec<_> = (0..3)
        .map(|_| {
            let (endpoint, client) = (endpoint.clone(), client.clone());
            tokio::spawn(async move {
                let r = our_reader(&endpoint, &client).await?;
                r.read_all().await
            })
        })
        .collect();
    for (c, h) in healthy.into_iter().enumerate() {
        let got = within("healthy client", 30, h)
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{t:?} client {c}: {e}"));
        assert_eq!(got.len(), tables.len(), "{t:?} client {c}");
        for (i, tb) in got.iter().enumerate() {
            check(tb, i, BIG_ROWS);
        }
    }
    // The stalled client's writer gives up on its own, and the healthy
    // clients' writers finish (QUIC's `finish` waits for their ACKs).
    within("the stalled writer times out", 10, async {
        while outcomes.timeout.load(Ordering::SeqCst) < 1 || outcomes.ok.load(Ordering::SeqCst) < 3
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(outcomes.total(), 4, "{t:?}: {}", outcomes.summary());
    drop(stalled);
    accept_loop.abort();
}

// ------------------------------------------------------------------ pipes (stdio)

/// A child process (`sh -c script`) with piped stdin and stdout, killed
/// when dropped.
fn child(script: &str) -> tokio::process::Child {
    tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sh")
}

#[test]
fn pipes_to_and_from_a_child_process_fail_cleanly() {
    run("pipes", async {
        let dir = temp_dir("pipes");
        let msgs = messages(2, ROWS);
        let mut partial = msgs[..2].concat();
        partial.extend_from_slice(&msgs[2][..msgs[2].len() / 2]);
        let file = dir.join("partial.arrows");
        std::fs::write(&file, &partial).expect("write");
        let script = format!("cat '{}'; exec sleep 30", file.display());

        // A writer that goes quiet mid-message: the idle timeout.
        let mut c = child(&script);
        let stdout = c.stdout.take().expect("stdout");
        let mut r = within(
            "reader",
            5,
            TableReader::from_async_read(stdout, "child", ReadOptions::default()),
        )
        .await
        .expect("reader");
        r.set_idle_timeout(Some(Duration::from_millis(300)));
        check(
            &within("table", 5, r.next()).await.expect("t").expect("t"),
            0,
            ROWS,
        );
        let err = within("timeout", 5, r.next())
            .await
            .expect("e")
            .expect_err("timeout");
        assert!(err.is_timeout(), "{err}");
        assert!(
            err.to_string()
                .contains("no data from child for 300 ms while reading the body of message 2"),
            "{err}"
        );
        drop(r);

        // The same writer killed: the pipe ends mid-message.
        let mut c = child(&script);
        let stdout = c.stdout.take().expect("stdout");
        let mut r = within(
            "reader",
            5,
            TableReader::from_async_read(stdout, "child", ReadOptions::default()),
        )
        .await
        .expect("reader");
        check(
            &within("table", 5, r.next()).await.expect("t").expect("t"),
            0,
            ROWS,
        );
        let pending = tokio::time::timeout(Duration::from_millis(300), r.next()).await;
        assert!(pending.is_err(), "no timeout set: still waiting");
        c.start_kill().expect("kill");
        let err = within("error", 5, r.next())
            .await
            .expect("e")
            .expect_err("cut");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        assert!(
            err.to_string()
                .contains("child closed the connection early"),
            "{err}"
        );
        let _ = c.wait().await;

        // A reader that never reads (a child that sleeps): the write timeout.
        let big = table(0, BIG_ROWS);
        let mut c = child("exec sleep 30");
        let stdin = c.stdin.take().expect("stdin");
        let mut w =
            TableWriter::from_async_write(stdin, "child", schema(), WriteOptions::default())
                .expect("writer");
        w.set_write_timeout(Some(Duration::from_millis(300)));
        let baseline = heap_baseline();
        let err = within("write timeout", 10, async {
            for _ in 0..64 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        })
        .await
        .expect_err("a pipe holds 64 KiB");
        assert!(err.is_timeout(), "{err}");
        assert!(heap_growth(baseline) < 32 << 20);
        drop(w);

        // A reader that dies while we write: a broken pipe.
        let mut c = child("exec sleep 30");
        let stdin = c.stdin.take().expect("stdin");
        let mut w =
            TableWriter::from_async_write(stdin, "child", schema(), WriteOptions::default())
                .expect("writer");
        let kill = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.start_kill().expect("kill");
        };
        let write = async {
            for _ in 0..64 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        };
        let (err, ()) = within("broken pipe", 10, async { tokio::join!(write, kill) }).await;
        let err = err.expect_err("the reader died");
        match &err {
            Error::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe, "{err}")
            }
            _ => panic!("{err}"),
        }
        let _ = c.wait().await;
    });
}

// ------------------------------------------------- hostile WebSocket frame headers

/// A masked binary frame header declaring 2^31 bytes: what a hostile client
/// sends after the handshake (issue 14, item 1).
const HUGE_FRAME_FROM_CLIENT: [u8; 14] = [0x82, 0xFF, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
/// The same from a server (servers do not mask).
const HUGE_FRAME_FROM_SERVER: [u8; 10] = [0x82, 0x7F, 0, 0, 0, 0, 0x80, 0, 0, 0];

/// Bytes sent after the header when the test sends data too.
const TRAILING_DATA: usize = 4 << 20;

/// At most this much heap for one hostile connection: twice the default
/// `max_eager_reserve` (64 MiB).
const HOSTILE_HEAP_BOUND: usize = 2 * (64 << 20);

/// Reads an HTTP head (up to the blank line) from `s`.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.expect("read head");
        assert!(n == 1, "connection closed inside the HTTP head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Writes `bytes` then, with `data`, [`TRAILING_DATA`] zero bytes, ignoring
/// errors (the other side may close first).
async fn send_hostile(s: &mut tokio::net::TcpStream, header: &[u8], data: bool) {
    let _ = s.write_all(header).await;
    if data {
        let chunk = vec![0u8; 64 << 10];
        for _ in 0..TRAILING_DATA / chunk.len() {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
}

/// A raw client: the WebSocket handshake by hand with `addr`, then the
/// 2 GiB header (and data).
async fn hostile_client(addr: &str, data: bool) -> tokio::net::TcpStream {
    let mut s = raw_ws_client(addr).await;
    send_hostile(&mut s, &HUGE_FRAME_FROM_CLIENT, data).await;
    s
}

/// A raw client after the WebSocket handshake (by hand) with `addr`.
async fn raw_ws_client(addr: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /t HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.expect("request");
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// A raw server: the next client of `l`, after the WebSocket handshake by
/// hand.
async fn raw_ws_server(l: &tokio::net::TcpListener) -> tokio::net::TcpStream {
    let (mut s, _) = l.accept().await.expect("accept");
    let head = read_head(&mut s).await;
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .expect("key");
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    s.write_all(response.as_bytes()).await.expect("response");
    s
}

/// A client frame by hand: `first` (FIN, RSV bits, opcode), then the
/// payload masked with the key 0 (so sent as is).
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&u16::try_from(n).expect("short payload").to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Reads frames from `s` (masked or not) until a Close frame; its status
/// code (`None`: a Close without one, or the connection ended first).
async fn close_code(s: &mut tokio::net::TcpStream) -> Option<u16> {
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7F {
            126 => u64::from(s.read_u16().await.ok()?),
            127 => s.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            s.read_exact(&mut mask).await.ok()?;
        }
        assert!(len <= 16 << 20, "a frame of {len} bytes");
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).await.ok()?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        if head[0] & 0x0F == 0x8 {
            let code = payload.get(..2)?;
            return Some(u16::from_be_bytes([code[0], code[1]]));
        }
    }
}

/// A lightstream ws:// server whose one connection is read (`reads`) or
/// written to; the outcome of that connection.
async fn one_ws_connection(
    reads: bool,
) -> (String, tokio::task::JoinHandle<lightstream::Result<()>>) {
    let listener = lightstream::bind(
        &"ws://127.0.0.1:0/t".parse().expect("url"),
        &ServerOptions::default(),
    )
    .await
    .expect("bind");
    let addr = listener.local_url().to_string();
    let addr = addr
        .trim_start_matches("ws://")
        .trim_end_matches("/t")
        .to_string();
    let task = tokio::spawn(async move {
        let conn = listener.accept().await.expect("accept");
        if reads {
            receive(conn, None).await
        } else {
            send(conn, &[table(0, ROWS)], None).await
        }
    });
    (addr, task)
}

#[test]
fn a_websocket_frame_header_declaring_2_gib_is_refused_by_our_reader() {
    run("2 GiB frame header to our reader", async {
        for data in [false, true] {
            let (addr, server) = one_ws_connection(true).await;
            let base = heap_baseline();
            let client = hostile_client(&addr, data).await;
            let outcome = within("the reader refuses the frame", 10, server)
                .await
                .expect("task");
            let grown = heap_growth(base);
            drop(client);
            let err = outcome.expect_err("a 2 GiB frame is refused");
            assert!(
                matches!(&err, Error::Protocol(m) if m.contains("too long")),
                "data {data}: {err}"
            );
            eprintln!("data {data}: {err}; heap grew {grown} bytes");
            assert!(
                grown < HOSTILE_HEAP_BOUND,
                "data {data}: heap grew {grown} bytes"
            );
        }
    });
}

#[test]
fn a_websocket_frame_header_declaring_2_gib_ends_our_writer() {
    run("2 GiB frame header to our writer", async {
        for data in [false, true] {
            let (addr, server) = one_ws_connection(false).await;
            let base = heap_baseline();
            let mut client = hostile_client(&addr, data).await;
            // Read what the writer sends until it closes the connection.
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
            });
            let outcome = within("the writer ends", 10, server).await.expect("task");
            let grown = heap_growth(base);
            reader.abort();
            let err = outcome.expect_err("a peer that sends data to a writer is dropped");
            assert!(
                matches!(&err, Error::Protocol(m) if m.contains("only writes")),
                "data {data}: {err}"
            );
            eprintln!("data {data}: {err}; heap grew {grown} bytes");
            assert!(
                grown < HOSTILE_HEAP_BOUND,
                "data {data}: heap grew {grown} bytes"
            );
        }
    });
}

#[test]
fn a_websocket_server_declaring_a_2_gib_frame_is_refused_by_our_client() {
    run("2 GiB frame header from a server", async {
        for data in [false, true] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = l.local_addr().expect("addr");
            let server = tokio::spawn(async move {
                let mut s = raw_ws_server(&l).await;
                send_hostile(&mut s, &HUGE_FRAME_FROM_SERVER, data).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
            let base = heap_baseline();
            let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
            let outcome = within("the client refuses the frame", 10, async {
                let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
                receive(conn, None).await
            })
            .await;
            let grown = heap_growth(base);
            server.abort();
            let err = outcome.expect_err("a 2 GiB frame is refused");
            assert!(
                matches!(&err, Error::Protocol(m) if m.contains("too long")),
                "data {data}: {err}"
            );
            eprintln!("data {data}: {err}; heap grew {grown} bytes");
            assert!(
                grown < HOSTILE_HEAP_BOUND,
                "data {data}: heap grew {grown} bytes"
            );
        }
    });
}

/// Issue 14, item 6: a peer that breaks the protocol is told why, with a
/// Close status code, before our reader drops it: 1009 for a frame or an
/// IPC message over the limits, 1002 for a malformed frame, a binary message
/// that ends inside an IPC message or one that is not Arrow IPC, 1003 for a
/// text message.
#[test]
fn a_websocket_peer_that_breaks_the_protocol_gets_a_close_code_from_our_reader() {
    run("close codes from our reader", async {
        let msgs = messages(1, ROWS);
        let half = &msgs[0][..msgs[0].len() / 2];
        // An IPC prefix declaring 2 GiB of metadata (over DecodeLimits), and
        // a whole message whose 8 bytes of metadata are no flatbuffer.
        let over_limit = [0xFF, 0xFF, 0xFF, 0xFF, 0xF8, 0xFF, 0xFF, 0x7F];
        let garbage = [0xFF, 0xFF, 0xFF, 0xFF, 8, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
        let cases: [(&str, Vec<u8>, u16, &str); 6] = [
            (
                "2 GiB frame",
                HUGE_FRAME_FROM_CLIENT.to_vec(),
                1009,
                "too long",
            ),
            (
                "reserved bit",
                masked_frame(0xC2, &[0]),
                1002,
                "WebSocket error from",
            ),
            ("text", masked_frame(0x81, b"hello"), 1003, "text message"),
            (
                "half a schema",
                masked_frame(0x82, half),
                1002,
                "ended inside an Arrow IPC",
            ),
            (
                "2 GiB metadata",
                masked_frame(0x82, &over_limit),
                1009,
                "limit exceeded",
            ),
            (
                "no flatbuffer",
                masked_frame(0x82, &garbage),
                1002,
                "malformed",
            ),
        ];
        for (what, bytes, code, says) in cases {
            let (addr, server) = one_ws_connection(true).await;
            let mut client = raw_ws_client(&addr).await;
            client.write_all(&bytes).await.expect("send");
            let got = within(what, 10, close_code(&mut client)).await;
            let err = within(what, 10, server)
                .await
                .expect("task")
                .expect_err(what);
            assert!(err.to_string().contains(says), "{what}: {err}");
            assert_eq!(got, Some(code), "{what}: {err}");
        }
    });
}

/// Issue 14, item 6: a peer that sends data to a stream that only writes
/// gets Close 1008 (policy) before our writer drops it.
#[test]
fn a_websocket_peer_that_sends_data_to_our_writer_gets_close_1008() {
    run("close code from our writer", async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.expect("accept");
            let config = lightstream::websocket::write_only_config();
            let ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
                .await
                .expect("handshake");
            // The client's data has arrived (and tokio knows) before our
            // writer starts, as the demo hands its sockets over.
            ws.get_ref().readable().await.expect("readable");
            let conn = lightstream::websocket::connection(ws, "raw client");
            let mut w = conn.writer(schema(), WriteOptions::default()).await?;
            w.write(&table(0, ROWS)).await?;
            w.finish().await.map(drop)
        });
        let mut client = raw_ws_client(&addr).await;
        client
            .write_all(&masked_frame(0x82, b"data"))
            .await
            .expect("send");
        let got = within("the writer's Close", 10, close_code(&mut client)).await;
        let err = within("the writer ends", 10, server)
            .await
            .expect("task")
            .expect_err("data to a writer");
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("only writes")),
            "{err}"
        );
        assert_eq!(got, Some(1008), "{err}");
    });
}

/// Issue 14, item 6, client side: our client refuses a 2 GiB frame from a
/// server with Close 1009.
#[test]
fn a_websocket_server_declaring_a_2_gib_frame_gets_close_1009_from_our_client() {
    run("close code from our client", async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let mut s = raw_ws_server(&l).await;
            s.write_all(&HUGE_FRAME_FROM_SERVER).await.expect("header");
            close_code(&mut s).await
        });
        let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
        let err = within("the client refuses the frame", 10, async {
            let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
            receive(conn, None).await
        })
        .await
        .expect_err("a 2 GiB frame is refused");
        assert!(err.to_string().contains("too long"), "{err}");
        let got = within("the client's Close", 10, server)
            .await
            .expect("task");
        assert_eq!(got, Some(1009), "{err}");
    });
}

/// 40 MB in one table: one IPC message larger than the write frame size.
const LARGE_ROWS: usize = 5_000_000;

#[test]
fn a_message_larger_than_a_frame_crosses_websocket_fragmented() {
    run("a 40 MB message over WebSocket", async {
        // A reader with a 1 MiB max_eager_reserve takes frames of at most
        // 1 MiB: the 40 MB message arrives only if the writer fragments it.
        let listener = lightstream::bind(
            &"ws://127.0.0.1:0/t".parse().expect("url"),
            &ServerOptions::default(),
        )
        .await
        .expect("bind");
        let endpoint = listener.local_url().clone();
        let server = tokio::spawn(async move {
            let conn = listener.accept().await.expect("accept");
            let options = ReadOptions {
                limits: lightstream_core::DecodeLimits {
                    max_eager_reserve: 1 << 20,
                    ..lightstream_core::DecodeLimits::DEFAULT
                },
                ..ReadOptions::default()
            };
            let mut r = conn.reader(options).await?;
            let mut tables = Vec::new();
            while let Some(t) = r.next().await {
                tables.push(t?);
            }
            Ok::<_, Error>(tables)
        });
        let conn = lightstream::connect(&endpoint, &ClientOptions::default())
            .await
            .expect("connect");
        let mut w = conn
            .writer(schema(), WriteOptions::default())
            .await
            .expect("writer");
        let big = table(3, LARGE_ROWS);
        within("the writer sends 40 MB", 30, async {
            w.write(&big).await.expect("write");
            w.finish().await.expect("finish");
        })
        .await;
        let tables = within("the reader gets 40 MB", 30, server)
            .await
            .expect("task")
            .expect("read");
        assert_eq!(tables.len(), 1);
        check(&tables[0], 3, LARGE_ROWS);
        assert_eq!(tables[0].cols[0].array, big.cols[0].array);
    });
}

#[test]
fn our_writer_fragments_a_large_message_for_a_plain_websocket_peer() {
    run("a 40 MB message to tungstenite", async {
        // tungstenite itself, with a 1 MiB frame limit, on the other side.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_frame_size(Some(1 << 20))
                .max_message_size(Some(64 << 20));
            let mut ws = tokio_tungstenite::accept_async_with_config(s, Some(config))
                .await
                .expect("handshake");
            let mut messages = Vec::new();
            while let Some(m) = ws.next().await {
                match m.expect("a message within the frame limit") {
                    Message::Binary(b) => messages.push(b),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            messages
        });
        let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
        let conn = lightstream::connect(&endpoint, &ClientOptions::default())
            .await
            .expect("connect");
        let mut w = conn
            .writer(schema(), WriteOptions::default())
            .await
            .expect("writer");
        let big = table(5, LARGE_ROWS);
        within("the writer sends 40 MB", 30, async {
            w.write(&big).await.expect("write");
            w.finish().await.expect("finish");
        })
        .await;
        let messages = within("tungstenite gets 40 MB", 30, server)
            .await
            .expect("task");
        // Schema, record batch, end marker: one IPC message per WebSocket message.
        assert_eq!(messages.len(), 3);
        assert!(messages[1].len() > LARGE_ROWS * 8, "{}", messages[1].len());
        let bytes: Vec<u8> = messages.concat();
        let (_, tables) = lightstream_core::read_stream(
            lightstream_core::aligned_copy(&bytes),
            ReadOptions::default(),
        )
        .expect("decode");
        assert_eq!(tables.len(), 1);
        check(&tables[0], 5, LARGE_ROWS);
        assert_eq!(tables[0].cols[0].array, big.cols[0].array);
    });
}

#[test]
fn a_websocket_peer_that_never_reads_costs_a_frame_not_a_message() {
    run("never reads, large messages", async {
        let dir = temp_dir("never-reads-large");
        // 16 MiB tables: one IPC message is 16 frames.
        let big = table(0, 16 * BIG_ROWS);
        let (l, ep, client) = raw_listener(Transport::WebSocket, &dir).await;
        let peer = tokio::spawn(async move {
            let p = l.accept().await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(p);
        });
        let mut w = our_writer(&ep, &client).await;
        let baseline = heap_baseline();
        let blocked = tokio::time::timeout(Duration::from_millis(500), async {
            for _ in 0..4 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        })
        .await;
        assert!(
            blocked.is_err(),
            "64 MiB to a peer that never reads must block"
        );
        let growth = heap_growth(baseline);
        eprintln!(
            "blocked with 16 MiB messages: heap growth {} KiB",
            growth >> 10
        );
        // A frame being assembled and one in tungstenite's send buffer, not
        // a 16 MiB message (nor its copy in the send buffer).
        assert!(growth < 6 << 20, "the heap grew by {growth} bytes");
        drop(w);
        peer.abort();
    });
}

/// A request that cannot become a WebSocket gets an HTTP status with a
/// reason, not a closed socket: 400 (bad key, HTTP/1.0, not HTTP), 405 (not a
/// GET), 426 (no upgrade headers, another version); the server side reports
/// `Error::Upgrade` with the same status, and a good upgrade still works.
#[test]
fn a_bad_websocket_upgrade_gets_an_http_status() {
    run("bad upgrades", async {
        let endpoint: Endpoint = "ws://127.0.0.1:0/t".parse().expect("url");
        let listener = lightstream::bind(&endpoint, &ServerOptions::default())
            .await
            .expect("bind");
        let url = listener.local_url().to_string();
        let addr = url
            .trim_start_matches("ws://")
            .trim_end_matches("/t")
            .to_string();
        let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
        let cases: [(String, u16, &str); 7] = [
            (
                "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_string(),
                400,
                "Sec-WebSocket-Key",
            ),
            (
                "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc\r\n\r\n".to_string(),
                400,
                "Sec-WebSocket-Key",
            ),
            (
                format!(
                    "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}\r\n\r\n"
                ),
                426,
                "Sec-WebSocket-Version: 13",
            ),
            (
                format!(
                    "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                426,
                "Upgrade: websocket",
            ),
            (
                format!(
                    "GET /t HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                400,
                "HTTP/1.1",
            ),
            (
                format!(
                    "POST /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                405,
                "Allow: GET",
            ),
            (
                "\u{1}\u{2} not HTTP at all\r\n\r\n".to_string(),
                400,
                "malformed",
            ),
        ];
        for (request, status, says) in cases {
            let server = async {
                let conn = listener.accept().await.expect("accept");
                conn.reader(ReadOptions::default()).await
            };
            let client = async {
                let mut tcp = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .expect("connect");
                tcp.write_all(request.as_bytes()).await.expect("request");
                let mut response = String::new();
                let _ = tcp.read_to_string(&mut response).await;
                response
            };
            let (served, response) = within("one bad upgrade", 10, async {
                tokio::join!(server, client)
            })
            .await;
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{request:?}: {response:?}"
            );
            assert!(response.contains(says), "{request:?}: {response:?}");
            match served {
                Err(Error::Upgrade { status: s, .. }) => assert_eq!(s, status, "{request:?}"),
                Err(other) => panic!("{request:?}: {other}"),
                Ok(_) => panic!("{request:?}: accepted"),
            }
        }
        // A good upgrade still goes through the check and reads a table.
        let server = async {
            let conn = listener.accept().await.expect("accept");
            conn.reader(ReadOptions::default())
                .await
                .expect("reader")
                .read_all()
                .await
                .expect("tables")
        };
        let client = async {
            let conn = lightstream::connect(&url.parse().expect("url"), &ClientOptions::default())
                .await
                .expect("connect");
            let t = table(0, 10);
            let mut w = conn
                .writer(
                    Arc::new(lightstream::Schema::from_table(&t)),
                    Default::default(),
                )
                .await
                .expect("writer");
            w.write(&t).await.expect("write");
            w.finish().await.expect("finish");
        };
        let (tables, ()) =
            within("a good upgrade", 10, async { tokio::join!(server, client) }).await;
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].n_rows, 10);
    });
}

/// A server at its limit turns a client away with `Connection::turn_away`:
/// a WebSocket client gets 503 with Retry-After and the reason (after its
/// request head, so the close does not reset the answer away), a TCP client
/// a closed connection.
#[test]
fn a_client_turned_away_gets_503_with_retry_after() {
    async fn turn_away(listener: &lightstream::Listener) -> lightstream::Result<()> {
        let conn = listener.accept().await.expect("accept");
        let retry_after = std::time::Duration::from_millis(2500);
        conn.turn_away(retry_after, "busy: come back later").await
    }
    run("turned away", async {
        let endpoint: Endpoint = "ws://127.0.0.1:0/t".parse().expect("url");
        let listener = lightstream::bind(&endpoint, &ServerOptions::default())
            .await
            .expect("bind");
        let url = listener.local_url().to_string();
        let server = turn_away(&listener);
        let client = async {
            let err = lightstream::connect(&url.parse().expect("url"), &ClientOptions::default())
                .await
                .expect("connect")
                .reader(ReadOptions::default())
                .await
                .expect_err("turned away");
            err.to_string()
        };
        let (turned, said) = within("a turned-away client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(said.contains("503"), "{said}");
        // The raw answer: status, Retry-After in whole seconds, the reason.
        let server = turn_away(&listener);
        let client = async {
            let addr = url.trim_start_matches("ws://").trim_end_matches("/t");
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET /t HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            );
            tcp.write_all(request.as_bytes()).await.expect("request");
            let mut response = String::new();
            let _ = tcp.read_to_string(&mut response).await;
            response
        };
        let (turned, response) = within("a raw turned-away client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(
            response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nRetry-After: 2\r\n"), "{response}");
        assert!(
            response.ends_with("\r\n\r\nbusy: come back later\n"),
            "{response}"
        );

        // TCP: closed at once, nothing sent.
        let endpoint: Endpoint = "tcp://127.0.0.1:0".parse().expect("url");
        let listener = lightstream::bind(&endpoint, &ServerOptions::default())
            .await
            .expect("bind");
        let addr = listener.local_url().to_string();
        let addr = addr.trim_start_matches("tcp://").to_string();
        let server = async {
            let conn = listener.accept().await.expect("accept");
            conn.turn_away(std::time::Duration::from_secs(5), "busy")
                .await
        };
        let client = async {
            let mut tcp = tokio::net::TcpStream::connect(addr.as_str())
                .await
                .expect("connect");
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
            rest
        };
        let (turned, rest) = within("a turned-away TCP client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(rest.is_empty(), "{rest:?}");
    });
}
