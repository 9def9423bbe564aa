//! What the fault tests of the native shell (`faults_*.rs`) share: a heap counted by
//! this binary's global allocator, open descriptors, one test at a time on a bounded
//! runtime, the int64 tables of a stream, and raw peers on every transport (raw TCP
//! and Unix sockets, raw tungstenite, raw quinn) that misbehave on request.
//!
//! Pass criteria are outcomes and memory bounds; the only times are generous upper
//! bounds ("ended within 5 s"). Tests run one at a time (one lock), so the heap and
//! descriptor counts see only their own test. The cross-crate helpers (bounded runs,
//! hand-written WebSocket peers) are in the `lightstream-tests` crate (`tests/src`).

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lightstream::minarrow::Table;
use lightstream::{
    ClientOptions, Connection, Endpoint, Error, ReadOptions, Schema, TableReader, TableWriter,
    WriteOptions,
};
use lightstream_core::{ErrorKind, IpcStreamEncoder};
use lightstream_tests::harness::run_bounded;
#[allow(unused_imports)] // each binary uses its own subset
pub use lightstream_tests::harness::{check_int64_table as check, int64_table as table, within};
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
pub fn heap_baseline() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// How far the heap grew above `baseline` at its peak since then.
pub fn heap_growth(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// One test at a time: the heap and descriptor counts are process-wide.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on a fresh runtime, alone, failing after 60 s.
pub fn run<F: Future<Output = ()>>(what: &str, f: F) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_bounded(what, Duration::from_secs(60), f);
}

/// A fresh directory for Unix sockets and files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lightstream-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

// ------------------------------------------------------------------ data

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::from_table(&table(0, 1)))
}

/// The messages of a stream of `n` tables of `rows` rows: the schema, one
/// record batch per table, the end-of-stream marker.
pub fn messages(n: usize, rows: usize) -> Vec<Vec<u8>> {
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
pub const ROWS: usize = 1000;

// ------------------------------------------------------------------ raw peers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
    WebSocket,
    Quic,
    /// `tls://`: only for the server tests (no raw TLS peer here).
    Tls,
}

/// The transports with raw peers.
pub const ALL: [Transport; 4] = [
    Transport::Tcp,
    Transport::Unix,
    Transport::WebSocket,
    Transport::Quic,
];

/// The transports of the server tests.
pub const SERVED: [Transport; 5] = [
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
pub fn quic_configs() -> (quinn::ServerConfig, ClientOptions) {
    let (certs, key) = lightstream::quic::self_signed(&["localhost", "127.0.0.1"]).expect("cert");
    let server = lightstream::quic::server_config(certs.clone(), key).expect("server config");
    let client = ClientOptions {
        quic: Some(lightstream::quic::client_config_trusting(&certs).expect("client config")),
        ..Default::default()
    };
    (server, client)
}

/// A listener whose connections are raw peers (no lightstream on its side).
pub enum RawListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
    WebSocket(tokio::net::TcpListener),
    Quic(quinn::Endpoint),
}

pub async fn raw_listener(t: Transport, dir: &Path) -> (RawListener, Endpoint, ClientOptions) {
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
    pub async fn accept(&self) -> RawPeer {
        match self {
            RawListener::Tcp(l) => RawPeer::Tcp(l.accept().await.expect("accept").0),
            RawListener::Unix(l) => RawPeer::Unix(l.accept().await.expect("accept").0),
            RawListener::WebSocket(l) => {
                let (s, _) = l.accept().await.expect("accept");
                RawPeer::WebSocket(
                    tokio_tungstenite::accept_hdr_async(
                        s,
                        lightstream::websocket::answer_subprotocol,
                    )
                    .await
                    .expect("handshake"),
                )
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
pub enum RawPeer {
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
    pub async fn send(&mut self, msgs: &[Vec<u8>]) {
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
    pub async fn send_half(&mut self, msg: &[u8]) {
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
    pub async fn end_sending(&mut self) {
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
    pub fn kill(self) {
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
    pub async fn read_some(&mut self, n: usize) -> usize {
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
    pub fn stop_reading(&mut self) {
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
    pub async fn closed(&mut self, gone: tokio::sync::oneshot::Receiver<()>) {
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
pub async fn our_reader(
    endpoint: &Endpoint,
    client: &ClientOptions,
) -> lightstream::Result<TableReader> {
    let conn = lightstream::connect(endpoint, client).await?;
    conn.reader(ReadOptions::default()).await
}

/// [`our_reader`], bounded (5 s), which must succeed.
pub async fn reader_within(endpoint: &Endpoint, client: &ClientOptions) -> TableReader {
    within("reader", 5, our_reader(endpoint, client))
        .await
        .expect("reader")
}

/// The next item of `r` (bounded, 5 s) is table `i` of `rows` rows ([`check`]).
pub async fn next_table_is(r: &mut TableReader, i: usize, rows: usize) {
    check(
        &within("table", 5, r.next()).await.expect("t").expect("t"),
        i,
        rows,
    );
}

/// A documented error for a peer that went away: the stream was cut
/// (`Truncated`) or the transport reported it (`Io`).
#[track_caller]
pub fn assert_cut_off(t: Transport, err: &Error) {
    match err {
        Error::Io { context, .. } => assert!(context.contains("reading from"), "{t:?}: {err}"),
        e => assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}"),
    }
}

// ------------------------------------------------------------------ writers and servers

/// Our writer to a peer that accepted the connection.
pub async fn our_writer(endpoint: &Endpoint, client: &ClientOptions) -> TableWriter {
    let conn = lightstream::connect(endpoint, client)
        .await
        .expect("connect");
    conn.writer(schema(), WriteOptions::default())
        .await
        .expect("writer")
}

/// Tables of 1 MiB (131072 int64 values).
pub const BIG_ROWS: usize = 1 << 17;

/// `handshake` bounded by `timeout` (30 s without one): a handshake that
/// takes longer is `Error::Timeout`, as a stalled transfer would be.
async fn handshake_within<T>(
    timeout: Option<Duration>,
    handshake: impl Future<Output = lightstream::Result<T>>,
) -> lightstream::Result<T> {
    let limit = timeout.unwrap_or(Duration::from_secs(30));
    match tokio::time::timeout(limit, handshake).await {
        Ok(done) => done,
        Err(_) => Err(Error::Timeout {
            stalled: "handshake".into(),
            after: limit,
            context: "accepting".into(),
        }),
    }
}

/// A peer on `l` that accepts (a QUIC peer also takes the stream) and then
/// never reads, for a minute.
pub fn never_reading_peer(l: RawListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut p = l.accept().await;
        if let RawPeer::Quic { conn, recv, .. } = &mut p {
            // Take the stream, then never read it.
            *recv = Some(conn.accept_uni().await.expect("stream"));
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(p);
    })
}

pub async fn send(
    conn: Connection,
    tables: &[Table],
    timeout: Option<Duration>,
) -> lightstream::Result<()> {
    // The handshakes (WebSocket, QUIC) are bounded too.
    let mut w = handshake_within(timeout, conn.writer(schema(), WriteOptions::default())).await?;
    w.set_write_timeout(timeout);
    for t in tables {
        w.write(t).await?;
    }
    w.finish().await?;
    Ok(())
}

pub async fn receive(conn: Connection, timeout: Option<Duration>) -> lightstream::Result<()> {
    let mut r = handshake_within(timeout, conn.reader(ReadOptions::default())).await?;
    r.set_idle_timeout(timeout);
    while let Some(t) = r.next().await {
        t?;
    }
    Ok(())
}
