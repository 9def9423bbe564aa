//! Fan-out cost (issue 17): one feed to N = 1, 10, 100, 1,000 subscribers on
//! loopback, over TCP and over WebSocket, shapes (a) (i64, f64, i32, f32) and
//! (c) (dictionary<int32, utf8>, f64, bool), served three ways in one run:
//!
//! - `hub`: a [`Hub`] (each table encoded, and compressed, once; every
//!   subscriber's transport sends the same shared bytes);
//! - `writer`: today's way, one `TableWriter` per client (every client's
//!   tables encoded and compressed again);
//! - `raw`: the ceiling: the same encoded bytes, made once before the clock
//!   starts; each client's task `write_all`s the shared stream (TCP) or sends
//!   each shared message as one WebSocket message.
//!
//! each with zstd body compression off and on (`_zstd`; `raw_zstd` sends the
//! compressed stream). The server runs in a child process (this binary run
//! again with `--fanout-server`), so its CPU time is its own: it reads its
//! user + system CPU time (getrusage) when told to start and when every
//! healthy subscriber has been sent everything; the parent samples the
//! child's `RssAnon` (`/proc/<pid>/status`) every 2 ms and keeps the peak.
//! Clients (tasks of the parent, 2 runtime threads) read and discard,
//! counting bytes: every client must count exactly the stream's length.
//! Before anything is timed, each server and transport serves 2 clients that
//! decode with `TableReader` and checksum every value against the tables.
//!
//! **Delivered bytes** are the uncompressed IPC stream (Arrow buffers and
//! metadata) times the subscribers, whatever went on the wire, so zstd runs
//! compare the same work. Subscribers of the timed hub runs use
//! [`SlowPolicy::Block`] (a lossless feed paced by its readers: without a
//! pace, a publisher faster than its readers would disconnect them).
//!
//! **Slow subscribers**: at the largest N (shape (a), a feed of at least
//! [`SLOW_FEED`] bytes a subscriber), the hub all healthy, then with 10% of
//! the subscribers connected first and never reading, under `Disconnect` and
//! under `Skip` (max_lag [`SLOW_MAX_LAG`]); the others' throughput per reader
//! is compared with the all-healthy run's, and the server's peak `RssAnon`
//! with the healthy one plus the lag limits. **Late join**: in that
//! all-healthy run one more subscriber connects once the others have a
//! quarter of the feed; the time from its connect to its first table is
//! reported.
//!
//! Not criterion: each case is one multi-second transfer whose CPU and memory
//! are read from another process. Environment (defaults in brackets):
//! `LIGHTSTREAM_FANOUT_N` [1,10,100,1000], `LIGHTSTREAM_BENCH_SHAPES` [a,c],
//! `LIGHTSTREAM_FANOUT_TRANSPORTS` [tcp,ws], `LIGHTSTREAM_FANOUT_SERVERS`
//! [raw,hub,writer,raw_zstd,hub_zstd,writer_zstd], `LIGHTSTREAM_FANOUT_ROWS`
//! [4096 rows a table], `LIGHTSTREAM_FANOUT_MIB` [1024: MiB delivered per
//! case; each subscriber gets at least `LIGHTSTREAM_FANOUT_MIN_TABLES` [16]
//! tables, at most 4096], `LIGHTSTREAM_FANOUT_SLOW` [1: the slow-subscriber
//! runs; 0 skips them]. The table goes to stdout (Markdown) and to
//! `<data dir>/fanout.md`.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lightstream::hub::{Hub, HubOptions, SlowPolicy, SubscribeOptions};
use lightstream::minarrow::Table;
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, ServerOptions, TableReader};
use lightstream_benches::{Shape, assert_checksum, checksum_tables, data_dir, env_num};
use lightstream_core::{Compression, IpcStreamEncoder, WriteOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{RssSampler, cpu_time, env_list, raise_open_files, rss_anon};

/// Distinct tables generated per shape; longer feeds repeat them in order.
const DISTINCT_TABLES: usize = 64;
/// Bytes each healthy hub subscriber may have waiting (the publisher waits).
const HEALTHY_MAX_LAG: usize = 4 << 20;
/// `max_lag` of the never-reading subscribers of the slow runs.
const SLOW_MAX_LAG: usize = 1 << 20;
/// Bytes each subscriber is sent in the slow and late-join runs (at least):
/// far more than a never-reading one's socket buffers and `max_lag` hold.
const SLOW_FEED: u64 = 24 << 20;
/// No transfer, connect or handshake may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(300);
/// Connects in flight at once (the listen backlog is 1,024).
const CONNECTS_AT_ONCE: usize = 100;

// ------------------------------------------------------------------ cases --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Raw,
    Hub,
    Writer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    server: Server,
    zstd: bool,
}

impl Kind {
    const ALL: [&'static str; 6] = [
        "raw",
        "hub",
        "writer",
        "raw_zstd",
        "hub_zstd",
        "writer_zstd",
    ];

    fn parse(s: &str) -> Kind {
        let (name, zstd) = match s.strip_suffix("_zstd") {
            Some(n) => (n, true),
            None => (s, false),
        };
        let server = match name {
            "raw" => Server::Raw,
            "hub" => Server::Hub,
            "writer" => Server::Writer,
            _ => panic!("unknown fan-out server {s:?} (one of {:?})", Kind::ALL),
        };
        Kind { server, zstd }
    }

    fn name(self) -> String {
        let s = match self.server {
            Server::Raw => "raw",
            Server::Hub => "hub",
            Server::Writer => "writer",
        };
        if self.zstd {
            format!("{s}_zstd")
        } else {
            s.to_string()
        }
    }

    fn options(self) -> WriteOptions {
        WriteOptions {
            compression: if self.zstd {
                Compression::Zstd
            } else {
                Compression::None
            },
            ..WriteOptions::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    WebSocket,
}

impl Transport {
    fn parse(s: &str) -> Transport {
        match s {
            "tcp" => Transport::Tcp,
            "ws" => Transport::WebSocket,
            _ => panic!("unknown transport {s:?} (tcp or ws)"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::WebSocket => "ws",
        }
    }
}

fn parse_shape(s: &str) -> Shape {
    *Shape::ALL
        .iter()
        .find(|x| x.name() == s)
        .unwrap_or_else(|| panic!("unknown shape {s:?}"))
}

fn parse_policy(s: &str) -> SlowPolicy {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// What the server child is told (its command line after `--fanout-server`).
#[derive(Debug, Clone)]
struct Spec {
    kind: Kind,
    transport: Transport,
    shape: Shape,
    /// Subscribers to wait for before starting.
    n: usize,
    tables: usize,
    rows: usize,
    /// The first `slow` subscribers accepted never read (hub only).
    slow: usize,
    policy: SlowPolicy,
}

impl Spec {
    /// Every subscriber reads (the slow runs set `slow` and `policy`).
    fn healthy(
        kind: Kind,
        transport: Transport,
        shape: Shape,
        n: usize,
        tables: usize,
        rows: usize,
    ) -> Spec {
        Spec {
            kind,
            transport,
            shape,
            n,
            tables,
            rows,
            slow: 0,
            policy: SlowPolicy::Block,
        }
    }

    fn args(&self) -> Vec<String> {
        vec![
            self.kind.name(),
            self.transport.name().to_string(),
            self.shape.name().to_string(),
            self.n.to_string(),
            self.tables.to_string(),
            self.rows.to_string(),
            self.slow.to_string(),
            self.policy.to_string(),
        ]
    }

    fn parse(a: &[String]) -> Spec {
        assert_eq!(a.len(), 8, "--fanout-server takes 8 arguments, not {a:?}");
        let num = |s: &str| s.parse::<usize>().expect("a number");
        Spec {
            kind: Kind::parse(&a[0]),
            transport: Transport::parse(&a[1]),
            shape: parse_shape(&a[2]),
            n: num(&a[3]),
            tables: num(&a[4]),
            rows: num(&a[5]),
            slow: num(&a[6]),
            policy: parse_policy(&a[7]),
        }
    }
}

/// The feed: `count` tables cycling through [`DISTINCT_TABLES`] of the shape.
struct Feed {
    schema: Arc<Schema>,
    distinct: Vec<Table>,
    count: usize,
}

impl Feed {
    fn new(shape: Shape, count: usize, rows: usize) -> Feed {
        let distinct = shape.tables_of(DISTINCT_TABLES.min(count), rows);
        let schema = Arc::new(shape.schema(&distinct[0]));
        Feed {
            schema,
            distinct,
            count,
        }
    }

    /// The tables in feed order.
    fn tables(&self) -> impl Iterator<Item = &Table> {
        (0..self.count).map(|i| &self.distinct[i % self.distinct.len()])
    }

    /// Bytes of the whole encoded stream.
    fn stream_len(&self, options: WriteOptions) -> u64 {
        self.messages(options).iter().map(|m| m.len() as u64).sum()
    }

    /// Every encoded message of the stream (schema, dictionaries, record
    /// batches, end marker), each in shared bytes.
    fn messages(&self, options: WriteOptions) -> Vec<Bytes> {
        let mut e = IpcStreamEncoder::new(self.schema.clone(), options).expect("encoder");
        let mut out = vec![Bytes::from(e.schema_message().expect("schema").to_vec())];
        for t in self.tables() {
            for m in e.encode_table(t).expect("encode") {
                out.push(Bytes::from(m.to_vec()));
            }
        }
        out.push(Bytes::from(e.end_of_stream().to_vec()));
        out
    }
}

// ----------------------------------------------------------------- server --

/// The server child: binds, prints `listening <url>`, accepts, prints `ready`
/// once `n` subscribers are set up, waits for `start` on stdin, serves, and
/// prints `done <CPU seconds>` once every healthy subscriber has everything.
fn server(spec: Spec) {
    raise_open_files(spec.n as u64 * 2 + 256);
    let rt = runtime();
    rt.block_on(serve(spec));
    // Never-reading subscribers may still hold tasks: leave without them.
    std::process::exit(0);
}

async fn serve(spec: Spec) {
    let feed = Arc::new(Feed::new(spec.shape, spec.tables, spec.rows));
    let options = spec.kind.options();
    // The raw server's pre-encoded feed (only what its transport sends).
    let (messages, stream): (Arc<Vec<Bytes>>, Bytes) = match (spec.kind.server, spec.transport) {
        (Server::Raw, Transport::Tcp) => (Arc::default(), feed.messages(options).concat().into()),
        (Server::Raw, Transport::WebSocket) => (Arc::new(feed.messages(options)), Bytes::new()),
        _ => (Arc::default(), Bytes::new()),
    };
    let set_up = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let changed = Arc::new(Notify::new());
    let start = Arc::new(tokio::sync::watch::channel(false));
    let hub = Hub::new(HubOptions::default());

    // The Lightstream servers accept through `lightstream::bind`, as an
    // application does; the raw one on a bare listener.
    let (raw_listener, ls_listener, url) = match spec.kind.server {
        Server::Raw => {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = l.local_addr().expect("address").port();
            let url = match spec.transport {
                Transport::Tcp => format!("tcp://127.0.0.1:{port}"),
                Transport::WebSocket => format!("ws://127.0.0.1:{port}/"),
            };
            (Some(l), None, url)
        }
        _ => {
            let e: Endpoint = match spec.transport {
                Transport::Tcp => "tcp://127.0.0.1:0",
                Transport::WebSocket => "ws://127.0.0.1:0/",
            }
            .parse()
            .expect("endpoint");
            let l = lightstream::bind(&e, &ServerOptions::default())
                .await
                .expect("bind");
            let url = l.local_url().to_string();
            (None, Some(l), url)
        }
    };
    println!("listening {url}");
    std::io::stdout().flush().expect("stdout");

    let accepting = {
        let (spec, feed, messages, stream, hub) = (
            spec.clone(),
            feed.clone(),
            messages.clone(),
            stream.clone(),
            hub.clone(),
        );
        let (set_up, finished, changed, start) = (
            set_up.clone(),
            finished.clone(),
            changed.clone(),
            start.clone(),
        );
        tokio::spawn(async move {
            for index in 0usize.. {
                let healthy = index >= spec.slow && index < spec.n;
                let done = {
                    let (finished, changed) = (finished.clone(), changed.clone());
                    move || {
                        if healthy {
                            finished.fetch_add(1, Ordering::SeqCst);
                            changed.notify_one();
                        }
                    }
                };
                let ready = {
                    let (set_up, changed) = (set_up.clone(), changed.clone());
                    move || {
                        set_up.fetch_add(1, Ordering::SeqCst);
                        changed.notify_one();
                    }
                };
                let mut go = start.1.clone();
                match (&raw_listener, &ls_listener) {
                    (Some(l), _) => {
                        let (tcp, _) = l.accept().await.expect("accept");
                        tcp.set_nodelay(true).expect("nodelay");
                        let (messages, stream, transport) =
                            (messages.clone(), stream.clone(), spec.transport);
                        tokio::spawn(async move {
                            match transport {
                                Transport::Tcp => {
                                    let mut tcp = tcp;
                                    ready();
                                    go.wait_for(|g| *g).await.expect("start");
                                    tcp.write_all(&stream).await.expect("raw write");
                                    tcp.shutdown().await.expect("raw shutdown");
                                }
                                Transport::WebSocket => {
                                    let mut ws = tokio_tungstenite::accept_hdr_async(
                                        tcp,
                                        lightstream::websocket::answer_subprotocol,
                                    )
                                    .await
                                    .expect("handshake");
                                    ready();
                                    go.wait_for(|g| *g).await.expect("start");
                                    for m in messages.iter() {
                                        ws.send(Message::Binary(m.clone())).await.expect("send");
                                    }
                                    ws.close(None).await.expect("close");
                                }
                            }
                            done();
                        });
                    }
                    (None, Some(l)) => {
                        let conn = l.accept().await.expect("accept");
                        match spec.kind.server {
                            Server::Hub => {
                                let options = if index >= spec.n {
                                    // A late joiner: the default terms.
                                    SubscribeOptions::default()
                                } else if healthy {
                                    SubscribeOptions {
                                        policy: SlowPolicy::Block,
                                        max_lag: HEALTHY_MAX_LAG,
                                        write_timeout: None,
                                    }
                                } else {
                                    SubscribeOptions {
                                        policy: spec.policy,
                                        max_lag: SLOW_MAX_LAG,
                                        write_timeout: None,
                                    }
                                };
                                let hub = hub.clone();
                                tokio::spawn(async move {
                                    let r = hub.subscribe(conn, options).await;
                                    if healthy {
                                        r.expect("a healthy subscriber got the whole feed");
                                    }
                                    done();
                                });
                            }
                            Server::Writer => {
                                let (feed, options) = (feed.clone(), spec.kind.options());
                                tokio::spawn(async move {
                                    let mut w = conn
                                        .writer(feed.schema.clone(), options)
                                        .await
                                        .expect("writer");
                                    ready();
                                    go.wait_for(|g| *g).await.expect("start");
                                    for t in feed.tables() {
                                        w.write(t).await.expect("write");
                                    }
                                    w.finish().await.expect("finish");
                                    done();
                                });
                            }
                            Server::Raw => unreachable!("the raw server has its own listener"),
                        }
                    }
                    (None, None) => unreachable!("one listener"),
                }
            }
        })
    };

    // Everyone connected (the hub counts its own subscribers).
    match spec.kind.server {
        Server::Hub => hub.wait_for_subscribers(spec.n).await,
        _ => wait_until(&changed, || set_up.load(Ordering::SeqCst) >= spec.n).await,
    }
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let line = tokio::task::spawn_blocking(|| {
        let mut l = String::new();
        std::io::stdin().read_line(&mut l).expect("stdin");
        l
    })
    .await
    .expect("stdin task");
    assert_eq!(line.trim(), "start", "the parent says start");
    let cpu0 = cpu_time();
    match spec.kind.server {
        Server::Hub => {
            let mut p = hub
                .publisher(feed.schema.clone(), options)
                .expect("publisher");
            for t in feed.tables() {
                p.write(t).await.expect("publish");
            }
            p.finish().await.expect("finish");
        }
        _ => {
            start.0.send(true).expect("start");
        }
    }
    let healthy = spec.n - spec.slow;
    wait_until(&changed, || finished.load(Ordering::SeqCst) >= healthy).await;
    let cpu1 = cpu_time();
    let s = hub.stats();
    let dropped: u64 = s.each.iter().map(|e| e.tables_dropped).sum();
    println!(
        "done {} lagged={} dropped={dropped}",
        (cpu1 - cpu0).as_secs_f64(),
        s.lagged
    );
    std::io::stdout().flush().expect("stdout");
    accepting.abort();
}

async fn wait_until(changed: &Notify, done: impl Fn() -> bool) {
    loop {
        let n = changed.notified();
        if done() {
            return;
        }
        n.await;
    }
}

// ----------------------------------------------------------------- client --

/// One subscriber's end in the parent.
enum Client {
    Tcp(TcpStream),
    WebSocket(Box<tokio_tungstenite::WebSocketStream<TcpStream>>),
}

impl Client {
    async fn connect(url: &str, t: Transport) -> Client {
        let addr = url
            .trim_start_matches("tcp://")
            .trim_start_matches("ws://")
            .trim_end_matches('/');
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        match t {
            Transport::Tcp => Client::Tcp(tcp),
            Transport::WebSocket => {
                let (ws, _) = tokio_tungstenite::client_async(url, tcp)
                    .await
                    .expect("handshake");
                Client::WebSocket(Box::new(ws))
            }
        }
    }

    /// Reads to the end, adding every byte (every message payload byte on a
    /// WebSocket) to `progress`; the bytes read.
    async fn drain(self, progress: &AtomicU64) -> u64 {
        let mut total = 0u64;
        match self {
            Client::Tcp(mut s) => {
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    let n = s.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                    progress.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Client::WebSocket(mut ws) => {
                while let Some(m) = ws.next().await {
                    match m.expect("WebSocket read") {
                        Message::Binary(b) => {
                            total += b.len() as u64;
                            progress.fetch_add(b.len() as u64, Ordering::Relaxed);
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
            }
        }
        total
    }
}

/// A Lightstream reader of the feed at `url` (returns once the schema is in).
async fn open_reader(url: &str, t: Transport) -> TableReader {
    match t {
        Transport::Tcp => {
            let Client::Tcp(s) = Client::connect(url, t).await else {
                unreachable!("a TCP client")
            };
            TableReader::from_async_read(s, "bench", ReadOptions::default())
                .await
                .expect("reader")
        }
        Transport::WebSocket => {
            let e: Endpoint = url.parse().expect("endpoint");
            lightstream::connect(&e, &ClientOptions::default())
                .await
                .expect("connect")
                .reader(ReadOptions::default())
                .await
                .expect("reader")
        }
    }
}

/// Decodes the whole stream (the check before timing).
async fn decode(url: &str, t: Transport) -> Vec<Table> {
    open_reader(url, t).await.read_all().await.expect("read")
}

/// Connects and waits for the first table: the late joiner's latency (`None`
/// when the feed ended before it joined).
async fn first_table(url: &str, t: Transport) -> Option<Duration> {
    let start = Instant::now();
    let mut reader = open_reader(url, t).await;
    let first = reader.next().await?;
    first.expect("the late joiner reads");
    Some(start.elapsed())
}

// ----------------------------------------------------------------- parent --

/// The server child, its stdout and stdin.
struct ServerProcess {
    child: Child,
    out: BufReader<ChildStdout>,
    input: ChildStdin,
    url: String,
}

impl ServerProcess {
    fn start(spec: &Spec) -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .arg("--fanout-server")
            .args(spec.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server child");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let input = child.stdin.take().expect("stdin");
        let mut p = ServerProcess {
            child,
            out,
            input,
            url: String::new(),
        };
        let line = p.line();
        p.url = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the server said {line:?}"))
            .to_string();
        p
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).expect("the server's stdout");
        assert!(!l.is_empty(), "the server ended early");
        l.trim().to_string()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one case measured.
#[derive(Debug, Clone, Default)]
struct Outcome {
    secs: f64,
    cpu_secs: f64,
    /// Uncompressed stream bytes times healthy subscribers.
    delivered: u64,
    wire_per_client: u64,
    rss_before: u64,
    rss_peak: u64,
    /// `None`: no late joiner, or the feed ended before it joined.
    late: Option<Duration>,
    server_said: String,
}

impl Outcome {
    fn gib_per_s(&self) -> f64 {
        self.delivered as f64 / GIB / self.secs
    }

    fn cpu_per_gib(&self) -> f64 {
        self.cpu_secs / (self.delivered as f64 / GIB)
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// Runs one case: the server child, `spec.slow` never-reading clients, the
/// others draining; with `late`, a late joiner once a quarter of the feed is read.
fn run_case(
    rt: &tokio::runtime::Runtime,
    spec: &Spec,
    plain_len: u64,
    wire_len: u64,
    late: bool,
) -> Outcome {
    let mut server = ServerProcess::start(spec);
    let url = server.url.clone();
    let t = spec.transport;
    let healthy = spec.n - spec.slow;
    let progress = Arc::new(AtomicU64::new(0));
    let (slow_clients, mut draining) = rt.block_on(async {
        // The never-reading ones first, one by one, so the server's accept
        // order (its first `slow`) is theirs.
        let mut slow_clients = Vec::new();
        for _ in 0..spec.slow {
            slow_clients.push(bounded("connect", Client::connect(&url, t)).await);
        }
        let gate = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
        let mut draining = tokio::task::JoinSet::new();
        for _ in 0..healthy {
            let permit = gate.clone().acquire_owned().await.expect("semaphore");
            let (url, progress) = (url.clone(), progress.clone());
            draining.spawn(async move {
                let c = bounded("connect", Client::connect(&url, t)).await;
                drop(permit);
                let n = c.drain(&progress).await;
                (n, Instant::now())
            });
        }
        (slow_clients, draining)
    });
    let ready = server.line();
    assert_eq!(ready, "ready", "the server is ready");
    let pid = server.pid();
    let rss_before = rss_anon(pid);
    let sampler = RssSampler::start(pid, Duration::from_millis(2));
    writeln!(server.input, "start").expect("start the server");
    server.input.flush().expect("start the server");
    let started = Instant::now();
    let (ends, late) = rt.block_on(async {
        let late = late.then(|| {
            let (progress, url) = (progress.clone(), url.clone());
            tokio::spawn(async move {
                while progress.load(Ordering::Relaxed) < wire_len * healthy as u64 / 4 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                bounded("late join", first_table(&url, t)).await
            })
        });
        let mut ends = Vec::new();
        while let Some(r) = bounded("a client", draining.join_next()).await {
            let (n, end) = r.expect("client task");
            assert_eq!(n, wire_len, "{spec:?}: a client read the whole stream");
            ends.push(end);
        }
        let late = match late {
            Some(l) => bounded("late joiner", l).await.expect("late joiner"),
            None => None,
        };
        (ends, late)
    });
    let last = ends.into_iter().max().unwrap_or(started);
    let done = server.line();
    let rss_peak = sampler.stop();
    drop(slow_clients);
    let mut words = done.split_whitespace();
    assert_eq!(words.next(), Some("done"), "the server said {done:?}");
    let cpu_secs: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .expect("CPU seconds");
    Outcome {
        secs: (last - started).as_secs_f64(),
        cpu_secs,
        delivered: plain_len * healthy as u64,
        wire_per_client: wire_len,
        rss_before,
        rss_peak,
        late,
        server_said: words.collect::<Vec<_>>().join(" "),
    }
}

/// Serves 2 decoding clients and checks every value (before any timing).
fn check_case(rt: &tokio::runtime::Runtime, spec: &Spec, want: lightstream_benches::Checksum) {
    let server = ServerProcess::start(spec);
    let url = server.url.clone();
    let mut server = server;
    let t = spec.transport;
    let readers: Vec<_> = (0..spec.n)
        .map(|_| {
            let url = url.clone();
            rt.spawn(async move { bounded("decode", decode(&url, t)).await })
        })
        .collect();
    assert_eq!(server.line(), "ready");
    writeln!(server.input, "start").expect("start");
    server.input.flush().expect("start");
    for r in readers {
        let tables = rt.block_on(r).expect("reader task");
        assert_checksum(
            &format!("fan-out {} over {}", spec.kind.name(), t.name()),
            checksum_tables(&tables),
            want,
        );
    }
    assert!(server.line().starts_with("done"));
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {TIMEOUT:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ------------------------------------------------------------------- main --

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--fanout-server") {
        server(Spec::parse(&args[i + 1..]));
        return;
    }
    // `cargo test --benches` runs every bench once as a test: nothing to do here.
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("fanout: run it with `cargo bench -p lightstream-benches --bench fanout`");
        return;
    }
    let ns: Vec<usize> = env_list("LIGHTSTREAM_FANOUT_N", "1,10,100,1000")
        .iter()
        .map(|s| s.parse().expect("LIGHTSTREAM_FANOUT_N: numbers"))
        .collect();
    let shapes: Vec<Shape> = env_list("LIGHTSTREAM_BENCH_SHAPES", "a,c")
        .iter()
        .map(|s| parse_shape(s))
        .collect();
    let transports: Vec<Transport> = env_list("LIGHTSTREAM_FANOUT_TRANSPORTS", "tcp,ws")
        .iter()
        .map(|s| Transport::parse(s))
        .collect();
    let kinds: Vec<Kind> = env_list("LIGHTSTREAM_FANOUT_SERVERS", &Kind::ALL.join(","))
        .iter()
        .map(|s| Kind::parse(s))
        .collect();
    let rows = env_num("LIGHTSTREAM_FANOUT_ROWS", 4096);
    let budget = env_num("LIGHTSTREAM_FANOUT_MIB", 1024) as u64 * (1 << 20);
    let min_tables = env_num("LIGHTSTREAM_FANOUT_MIN_TABLES", 16);
    let slow_runs = env_num("LIGHTSTREAM_FANOUT_SLOW", 1) == 1;
    let max_n = ns.iter().copied().max().unwrap_or(1);
    raise_open_files(max_n as u64 * 2 + 256);
    let rt = runtime();

    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    line(format!(
        "Fan-out: {} rows a table, about {} MiB delivered per case (at least {min_tables} tables \
         a subscriber), server in a child process, clients on 2 threads; load average at start {}",
        rows,
        budget >> 20,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    let mut late_lines = Vec::new();
    let mut targets = Vec::new();
    let mut slow_lines = Vec::new();
    for &shape in &shapes {
        // One table's uncompressed encoding sizes the feeds.
        let one = Feed::new(shape, 1, rows);
        let table_bytes = one.stream_len(WriteOptions::default());
        // The check before timing: 2 decoding clients of every server.
        let check_feed = Feed::new(shape, 8, rows);
        let want = checksum_tables(&check_feed.distinct);
        for &t in &transports {
            for &kind in &kinds {
                let spec = Spec::healthy(kind, t, shape, 2, 8, rows);
                check_case(&rt, &spec, want);
            }
        }
        eprintln!(
            "checked shape {}: every server's tables decode intact over every transport",
            shape.name()
        );
        line(String::new());
        line(format!("Shape ({}) {}:", shape.name(), shape.describe()));
        line(String::new());
        line("| transport | N | server | tables | GiB/s delivered | server CPU s/GiB | peak RssAnon MiB | vs raw (CPU) | writer/hub (CPU) |".to_string());
        line("|---|---:|---|---:|---:|---:|---:|---:|---:|".to_string());
        for &t in &transports {
            for &n in &ns {
                let tables = ((budget / (n as u64 * table_bytes)) as usize).clamp(min_tables, 4096);
                let feed = Feed::new(shape, tables, rows);
                let plain_len = feed.stream_len(WriteOptions::default());
                let zstd_len = if kinds.iter().any(|k| k.zstd) {
                    feed.stream_len(Kind::parse("raw_zstd").options())
                } else {
                    0
                };
                drop(feed);
                let mut results: Vec<(Kind, Outcome)> = Vec::new();
                for &kind in &kinds {
                    let spec = Spec::healthy(kind, t, shape, n, tables, rows);
                    let wire = if kind.zstd { zstd_len } else { plain_len };
                    let o = run_case(&rt, &spec, plain_len, wire, false);
                    eprintln!(
                        "{} {} N={n} {}: {:.2} s, {:.2} GiB/s, {:.3} CPU s/GiB, RssAnon {} -> {} MiB (wire {} bytes/client)",
                        shape.name(),
                        t.name(),
                        kind.name(),
                        o.secs,
                        o.gib_per_s(),
                        o.cpu_per_gib(),
                        o.rss_before >> 20,
                        o.rss_peak >> 20,
                        o.wire_per_client
                    );
                    results.push((kind, o));
                }
                let cpu_of = |name: &str| {
                    results
                        .iter()
                        .find(|(k, _)| k.name() == name)
                        .map(|(_, o)| o.cpu_per_gib())
                };
                for (kind, o) in &results {
                    let raw = cpu_of(if kind.zstd { "raw_zstd" } else { "raw" });
                    let hub = cpu_of(if kind.zstd { "hub_zstd" } else { "hub" });
                    let writer = cpu_of(if kind.zstd { "writer_zstd" } else { "writer" });
                    let vs_raw = raw.map_or("".into(), |r| format!("{:.2}x", o.cpu_per_gib() / r));
                    let writer_hub = match (kind.server, writer, hub) {
                        (Server::Hub, Some(w), Some(h)) => format!("{:.1}x", w / h),
                        _ => String::new(),
                    };
                    line(format!(
                        "| {} | {n} | {} | {tables} | {:.2} | {:.3} | {} | {vs_raw} | {writer_hub} |",
                        t.name(),
                        kind.name(),
                        o.gib_per_s(),
                        o.cpu_per_gib(),
                        o.rss_peak >> 20,
                    ));
                }
                if n == max_n
                    && let (Some(h), Some(r), Some(w)) = (
                        cpu_of("hub_zstd"),
                        cpu_of("raw_zstd"),
                        cpu_of("writer_zstd"),
                    )
                {
                    targets.push(format!(
                        "({}) {} N={n}, zstd on: hub CPU/GiB {:.2}x raw ({}: within 1.5x), \
                         one writer per client {:.1}x hub ({}: at least 5x)",
                        shape.name(),
                        t.name(),
                        h / r,
                        if h / r <= 1.5 { "met" } else { "NOT met" },
                        w / h,
                        if w / h >= 5.0 { "met" } else { "NOT met" },
                    ));
                }
                // Slow subscribers and the late joiner at the largest N, shape
                // (a) only, on a feed long enough that a never-reading
                // subscriber overflows its socket buffers and its max_lag, and
                // the publisher is still going when the late joiner comes.
                if slow_runs && n == max_n && shape == shapes[0] {
                    let tables = tables.max((SLOW_FEED / table_bytes) as usize);
                    let plain_len =
                        Feed::new(shape, tables, rows).stream_len(WriteOptions::default());
                    let mut spec = Spec::healthy(Kind::parse("hub"), t, shape, n, tables, rows);
                    let base = run_case(&rt, &spec, plain_len, plain_len, true);
                    late_lines.push(format!(
                        "| ({}) | {} | {n} | {tables} | {} |",
                        shape.name(),
                        t.name(),
                        base.late
                            .map_or("the feed ended first".to_string(), |l| format!(
                                "{:.1}",
                                l.as_secs_f64() * 1e3
                            ))
                    ));
                    let base_per_reader = base.gib_per_s() / n as f64;
                    slow_lines.push(format!(
                        "| ({}) | {} | {n} | {tables} | none | {:.2} | {:.4} | | {} | | {} |",
                        shape.name(),
                        t.name(),
                        base.gib_per_s(),
                        base_per_reader,
                        base.rss_peak >> 20,
                        base.server_said,
                    ));
                    for policy in [SlowPolicy::Disconnect, SlowPolicy::Skip] {
                        spec.slow = (n / 10).max(1);
                        spec.policy = policy;
                        let o = run_case(&rt, &spec, plain_len, plain_len, false);
                        let slow = spec.slow;
                        // The healthy run had n readers; this one n - slow.
                        let per_reader = o.gib_per_s() / (n - slow) as f64;
                        slow_lines.push(format!(
                            "| ({}) | {} | {n} | {tables} | {slow} never read, {policy} | {:.2} | {:.4} | {:+.1}% | {} | {} | {} |",
                            shape.name(),
                            t.name(),
                            o.gib_per_s(),
                            per_reader,
                            (per_reader / base_per_reader - 1.0) * 100.0,
                            o.rss_peak >> 20,
                            (base.rss_peak + (slow * SLOW_MAX_LAG) as u64) >> 20,
                            o.server_said,
                        ));
                    }
                }
            }
        }
    }
    line(String::new());
    line(format!(
        "Late joiner, connect -> first table (hub, zstd off, joining once the others have \
             a quarter of the feed; they Block with max_lag {} MiB):",
        HEALTHY_MAX_LAG >> 20
    ));
    line(String::new());
    line("| shape | transport | N | tables | ms |".to_string());
    line("|---|---|---:|---:|---:|".to_string());
    for l in late_lines {
        line(l);
    }
    if !slow_lines.is_empty() {
        line(String::new());
        line(format!(
            "10% of the subscribers never read (max_lag {} MiB each; the others Block, {} MiB):",
            SLOW_MAX_LAG >> 20,
            HEALTHY_MAX_LAG >> 20
        ));
        line(String::new());
        line("| shape | transport | N | tables | slow | GiB/s delivered | GiB/s per reader | per reader vs all healthy | peak RssAnon MiB | bound MiB | server |".to_string());
        line("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|".to_string());
        for l in slow_lines {
            line(l);
        }
    }
    line(String::new());
    for t in targets {
        line(format!("- {t}"));
    }
    let path = data_dir().join("fanout.md");
    if std::fs::create_dir_all(data_dir()).is_ok() && std::fs::write(&path, &report).is_ok() {
        eprintln!("written to {}", path.display());
    }
}
