//! One [`Hub`] feeding many subscribers at once on loopback: WebSocket
//! subscribers read with Lightstream's reader, TCP subscribers with arrow-rs's
//! `StreamDecoder` (an implementation nobody here wrote), and every one of them
//! must receive every table intact: a checksum of each table's values (every
//! integer, every float's bits, every dictionary string resolved through its
//! keys) equals that of the table published. A late joiner of each transport
//! connects halfway through and must receive a suffix of the feed, its
//! dictionaries (first batch plus deltas) included.
//!
//! Memory: anonymous resident memory (`RssAnon`) is sampled while the feed
//! runs, and its peak may exceed the level before the subscribers connected
//! by at most `subscribers x (max_lag + CONNECTION_ALLOWANCE) + FIXED_ALLOWANCE`:
//! the hub's messages are shared, so what grows with the subscribers is their
//! queues (bounded by `max_lag`) and their connections' buffers (both ends are
//! in this process), not the data published (which is many times the bound
//! in the full run).
//!
//! Subscribers use [`SlowPolicy::Block`]: the feed is lossless, so everyone
//! must get everything, and the publisher goes as fast as the slowest reader.
//!
//! The default run is 50 + 50 subscribers; `LIGHTSTREAM_SLOW_TESTS=1` runs
//! 1,000 WebSocket and 1,000 TCP subscribers (raising the open-file limit to
//! its hard limit, or skipping with a message if even that is too low) and
//! prints the time, the memory and the late joiners' connect-to-first-live-
//! table latency (reported, never asserted). Every wait is bounded.

#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array as _, RecordBatch};
use arrow_buffer::Buffer as ArrowBuffer;
use arrow_ipc::reader::StreamDecoder;
use futures_util::StreamExt;
use lightstream::hub::{Hub, HubOptions, SlowPolicy, SubscribeOptions, SubscriberStats};
use lightstream::minarrow::{
    Array, ArrowType, CategoricalArray, Field, FieldArray, FloatArray, IntegerArray, NumericArray,
    Table, TextArray, Vec64,
};
use lightstream::{ClientOptions, Endpoint, Listener, ReadOptions, Schema, ServerOptions};
use lightstream_core::{DictionaryEncoding, IndexType, WriteOptions};
use lightstream_tests::harness::{run_bounded, within};
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

/// Bytes of live messages each subscriber may have waiting (the `Block`
/// publisher waits beyond it).
const MAX_LAG: usize = 256 << 10;
/// Both ends of one loopback connection live in this process: the reader's
/// receive buffer, tungstenite's read and write buffers on each side, one
/// decoded table, the tasks. Generous on purpose: the bound is about growth
/// with the data published, not about these constants.
const CONNECTION_ALLOWANCE: u64 = 1 << 20;
/// The runtime, the tables published and kept for the checks, allocator slack.
const FIXED_ALLOWANCE: u64 = 64 << 20;
/// At most this many connects at once (the listen backlog is 1,024).
const CONNECTS_AT_ONCE: usize = 100;

#[test]
fn a_hub_feeds_50_websocket_and_50_tcp_subscribers_every_table_intact() {
    if std::env::var_os("LIGHTSTREAM_SLOW_TESTS").is_some_and(|v| v == "1") {
        eprintln!("LIGHTSTREAM_SLOW_TESTS=1: the 1,000 + 1,000 run replaces this one");
        return;
    }
    scale(Scale {
        websocket: 50,
        tcp: 50,
        tables: 24,
        rows: 2048,
        limit: Duration::from_secs(120),
    });
}

#[test]
fn a_hub_feeds_1000_websocket_and_1000_tcp_subscribers_every_table_intact() {
    if std::env::var_os("LIGHTSTREAM_SLOW_TESTS").is_none_or(|v| v != "1") {
        eprintln!("skipped: set LIGHTSTREAM_SLOW_TESTS=1 for the 1,000 + 1,000 subscriber run");
        return;
    }
    scale(Scale {
        websocket: 1000,
        tcp: 1000,
        tables: 40,
        rows: 4096,
        limit: Duration::from_secs(900),
    });
}

struct Scale {
    websocket: usize,
    tcp: usize,
    tables: usize,
    rows: usize,
    limit: Duration,
}

fn scale(s: Scale) {
    let subscribers = s.websocket + s.tcp;
    // Each subscriber is two descriptors here (both ends), plus the late
    // joiners, listeners, runtime and test harness.
    if !raise_open_files(2 * subscribers as u64 + 256) {
        return;
    }
    let (schema, tables) = feed_tables(s.tables, s.rows);
    let want: Vec<u64> = tables.iter().map(checksum_table).collect();
    let published_bytes: usize = tables.iter().map(value_bytes).sum();
    let baseline = rss_anon();
    let sampler = RssSampler::start();
    let started = Instant::now();
    let limit = s.limit;
    let report = std::sync::Mutex::new(None);
    run_bounded("hub scale", limit, async {
        *report.lock().unwrap() = Some(run_feed(&s, schema, tables, &want).await);
    });
    let peak = sampler.stop();
    let elapsed = started.elapsed();
    let r = report.into_inner().unwrap().expect("the feed ran");
    let bound =
        baseline + subscribers as u64 * (MAX_LAG as u64 + CONNECTION_ALLOWANCE) + FIXED_ALLOWANCE;
    eprintln!(
        "hub scale: {} WebSocket + {} TCP subscribers, {} tables ({} KiB of values each, {:.1} MiB \
         per subscriber, {:.2} GiB delivered in all) in {:.2} s (connecting {:.2} s, feed {:.2} s); \
         RssAnon {} MiB before, peak {} MiB (+{} MiB; bound +{} MiB); late joiner connect -> \
         first live table: WebSocket {:.1} ms, TCP {:.1} ms",
        s.websocket,
        s.tcp,
        s.tables,
        (published_bytes / s.tables) >> 10,
        published_bytes as f64 / (1 << 20) as f64,
        (published_bytes * subscribers) as f64 / (1u64 << 30) as f64,
        elapsed.as_secs_f64(),
        r.connecting.as_secs_f64(),
        r.feed.as_secs_f64(),
        baseline >> 20,
        peak >> 20,
        peak.saturating_sub(baseline) >> 20,
        (bound - baseline) >> 20,
        r.late_ws.as_secs_f64() * 1e3,
        r.late_tcp.as_secs_f64() * 1e3,
    );
    assert!(
        peak <= bound,
        "anonymous memory peaked at {peak} bytes, over {bound} (baseline {baseline} + \
         {subscribers} x (max_lag {MAX_LAG} + {CONNECTION_ALLOWANCE}) + {FIXED_ALLOWANCE})"
    );
}

/// What one run measured.
struct Report {
    connecting: Duration,
    feed: Duration,
    late_ws: Duration,
    late_tcp: Duration,
}

/// What a subscriber's client decoded: one checksum per table, in order.
type Received = Vec<u64>;

async fn run_feed(s: &Scale, schema: Arc<Schema>, tables: Vec<Table>, want: &[u64]) -> Report {
    let subscribers = s.websocket + s.tcp;
    let hub = Hub::new(HubOptions::default());
    let options = SubscribeOptions {
        policy: SlowPolicy::Block,
        max_lag: MAX_LAG,
        write_timeout: Some(Duration::from_secs(60)),
    };
    let ws = listen("ws://127.0.0.1:0/").await;
    let tcp = listen("tcp://127.0.0.1:0").await;
    let (ws_url, tcp_url) = (ws.local_url().clone(), tcp.local_url().clone());
    let serving: Arc<std::sync::Mutex<JoinSet<lightstream::Result<SubscriberStats>>>> =
        Default::default();
    let mut accepting = JoinSet::new();
    for l in [ws, tcp] {
        let (hub, options, serving) = (hub.clone(), options.clone(), serving.clone());
        accepting.spawn(async move {
            loop {
                let conn = l.accept().await.expect("accept");
                let sub = hub.clone().subscribe(conn, options.clone());
                serving.lock().unwrap().spawn(sub);
            }
        });
    }

    // Every subscriber connects before the first table.
    let connect_start = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let mut clients: JoinSet<(bool, Received)> = JoinSet::new();
    for i in 0..subscribers {
        let websocket = i < s.websocket;
        let url = if websocket { &ws_url } else { &tcp_url }.clone();
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        clients.spawn(async move {
            let client = Client::connect(&url, websocket).await;
            drop(permit);
            (websocket, client.receive(None).await)
        });
    }
    within(
        "every subscriber joins",
        300,
        hub.wait_for_subscribers(subscribers),
    )
    .await;
    let connecting = connect_start.elapsed();

    // The feed; halfway through, one late joiner per transport.
    let feed_start = Instant::now();
    let mut publisher = hub
        .publisher(schema, WriteOptions::default())
        .expect("publisher");
    let mut late = JoinSet::new();
    for (i, t) in tables.iter().enumerate() {
        if i == tables.len() / 2 {
            for (url, websocket) in [(&ws_url, true), (&tcp_url, false)] {
                let (first_tx, first_rx) = oneshot::channel();
                let url = url.clone();
                late.spawn(async move {
                    let start = Instant::now();
                    let client = Client::connect(&url, websocket).await;
                    let got = client.receive(Some(first_tx)).await;
                    (websocket, start, first_rx, got)
                });
            }
            within(
                "the late joiners join",
                60,
                hub.wait_for_subscribers(subscribers + 2),
            )
            .await;
        }
        within("publish a table", 120, publisher.write(t))
            .await
            .expect("publish");
    }
    within("finish the feed", 60, publisher.finish())
        .await
        .expect("finish");

    // Every subscriber got every table intact.
    let mut done = 0;
    while let Some(r) = within("a subscriber's client", 300, clients.join_next()).await {
        let (websocket, got) = r.expect("client task");
        let kind = if websocket { "WebSocket" } else { "TCP" };
        assert_eq!(got.len(), want.len(), "{kind} subscriber: tables received");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(
                g, w,
                "{kind} subscriber: table {k} differs from the one published"
            );
        }
        done += 1;
    }
    assert_eq!(done, subscribers);
    let mut late_ws = Duration::ZERO;
    let mut late_tcp = Duration::ZERO;
    while let Some(r) = within("a late joiner", 60, late.join_next()).await {
        let (websocket, start, first_rx, got) = r.expect("late joiner task");
        let first: Instant = first_rx.await.expect("the late joiner saw a live table");
        let kind = if websocket { "WebSocket" } else { "TCP" };
        // A suffix of the feed: it joined before table tables.len() / 2 was published.
        let from = want.len() - got.len();
        assert!(
            !got.is_empty() && from <= want.len() / 2,
            "{kind} late joiner: {} tables",
            got.len()
        );
        assert_eq!(got[..], want[from..], "{kind} late joiner: tables received");
        *if websocket {
            &mut late_ws
        } else {
            &mut late_tcp
        } = first - start;
    }
    let feed = feed_start.elapsed();

    // The hub's side agrees: every subscriber was sent the whole feed.
    let serving = std::mem::take(&mut *serving.lock().unwrap());
    let results = within("the hub's subscriber tasks", 60, serving.join_all()).await;
    let whole = results
        .iter()
        .map(|r| r.as_ref().expect("a subscriber ended in error"))
        .filter(|r| r.tables_sent == want.len() as u64)
        .count();
    assert_eq!(whole, subscribers, "subscribers sent every table");
    accepting.abort_all();
    assert_eq!(hub.stats().tables, want.len() as u64);
    Report {
        connecting,
        feed,
        late_ws,
        late_tcp,
    }
}

async fn listen(url: &str) -> Listener {
    let e: Endpoint = url.parse().expect("endpoint");
    lightstream::bind(&e, &ServerOptions::default())
        .await
        .expect("bind")
}

/// A subscriber's client: Lightstream's WebSocket reader, or a raw TCP
/// socket decoded by arrow-rs.
enum Client {
    /// Connected; the handshake and the reader come with the first read.
    WebSocket(lightstream::Connection),
    Tcp(tokio::net::TcpStream),
}

impl Client {
    async fn connect(url: &Endpoint, websocket: bool) -> Client {
        within("connect", 60, async {
            if websocket {
                let conn = lightstream::connect(url, &ClientOptions::default())
                    .await
                    .expect("connect");
                Client::WebSocket(conn)
            } else {
                let Endpoint::Tcp(addr) = url else {
                    panic!("{url} is not TCP")
                };
                Client::Tcp(tokio::net::TcpStream::connect(addr).await.expect("connect"))
            }
        })
        .await
    }

    /// Reads the whole stream; `first` learns when the first table arrived.
    async fn receive(self, mut first: Option<oneshot::Sender<Instant>>) -> Received {
        let mut got = Vec::new();
        let mut saw = |c: u64| {
            if let Some(f) = first.take() {
                let _ = f.send(Instant::now());
            }
            got.push(c);
        };
        match self {
            Client::WebSocket(conn) => {
                let mut r = conn.reader(ReadOptions::default()).await.expect("reader");
                while let Some(t) = r.next().await {
                    saw(checksum_table(
                        &t.expect("WebSocket subscriber reads a table"),
                    ));
                }
            }
            Client::Tcp(mut s) => {
                let mut decoder = StreamDecoder::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = s.read(&mut buf).await.expect("TCP subscriber reads");
                    if n == 0 {
                        break;
                    }
                    let mut b = ArrowBuffer::from(&buf[..n]);
                    while !b.is_empty() {
                        if let Some(batch) = decoder.decode(&mut b).expect("arrow-rs decodes") {
                            saw(checksum_batch(&batch));
                        }
                    }
                }
                decoder.finish().expect("arrow-rs: the stream ended whole");
            }
        }
        got
    }
}

// ------------------------------------------------------------------- data --

/// Table `i` of the feed: `seq` (int64, `i * rows + row`), `x` (float64) and
/// `city` (dictionary<int32, utf8> whose dictionary grows every 4 tables, so
/// the feed carries deltas and a late joiner needs them all).
fn feed_table(i: usize, rows: usize) -> Table {
    let words = 4 + i / 4;
    let base = (i * rows) as u64;
    let seq: Vec64<i64> = (base..base + rows as u64).map(|r| r as i64).collect();
    let x: Vec64<f64> = (base..base + rows as u64)
        .map(|r| (mix(r) >> 11) as f64 / 1024.0 - 1e9)
        .collect();
    let keys: Vec64<u32> = (base..base + rows as u64)
        .map(|r| (mix(r ^ 0x5eed) % words as u64) as u32)
        .collect();
    let dict: Vec64<String> = (0..words).map(|w| format!("city-{w}")).collect();
    let col = |name: &str, dtype: ArrowType, array: Array| {
        FieldArray::new(Field::new(name, dtype, false, None), array)
    };
    Table::new(
        "feed".to_string(),
        Some(vec![
            col(
                "seq",
                ArrowType::Int64,
                Array::from_int64(IntegerArray::from_vec64(seq, None)),
            ),
            col(
                "x",
                ArrowType::Float64,
                Array::from_float64(FloatArray::from_vec64(x, None)),
            ),
            col(
                "city",
                ArrowType::Dictionary(
                    lightstream::minarrow::ffi::arrow_dtype::CategoricalIndexType::UInt32,
                ),
                Array::from_categorical32(CategoricalArray::new(keys, dict, None)),
            ),
        ]),
    )
}

fn feed_tables(n: usize, rows: usize) -> (Arc<Schema>, Vec<Table>) {
    let tables: Vec<Table> = (0..n).map(|i| feed_table(i, rows)).collect();
    let mut schema = Schema::from_table(&tables[0]);
    // Signed keys on the wire, as arrow-rs and pyarrow write them.
    schema.dictionaries[2] = Some(DictionaryEncoding {
        id: 0,
        index_type: IndexType::Int32,
        large_values: false,
        ordered: false,
    });
    (Arc::new(schema), tables)
}

/// Bytes of a table's values (its record batch is a little more).
fn value_bytes(t: &Table) -> usize {
    t.n_rows * (8 + 8 + 4)
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// -------------------------------------------------------------- checksums --

/// An order-sensitive hash of a table's values (FNV-1a style, per word).
#[derive(Clone, Copy)]
struct Fold(u64);

impl Fold {
    fn new(rows: usize) -> Fold {
        let mut f = Fold(0xCBF2_9CE4_8422_2325);
        f.word(rows as u64);
        f
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x0000_0100_0000_01B3);
    }

    fn text(&mut self, s: &str) {
        self.word(s.len() as u64);
        for b in s.bytes() {
            self.word(b as u64);
        }
    }
}

/// The checksum of a minarrow table of the feed (as published, or as
/// Lightstream's reader decoded it).
fn checksum_table(t: &Table) -> u64 {
    let mut f = Fold::new(t.n_rows);
    for c in &t.cols {
        match &c.array {
            Array::NumericArray(NumericArray::Int64(a)) => {
                a.data.as_slice()[..t.n_rows]
                    .iter()
                    .for_each(|&v| f.word(v as u64));
            }
            Array::NumericArray(NumericArray::Float64(a)) => {
                a.data.as_slice()[..t.n_rows]
                    .iter()
                    .for_each(|v| f.word(v.to_bits()));
            }
            Array::TextArray(TextArray::Categorical32(a)) => {
                for &k in &a.data.as_slice()[..t.n_rows] {
                    f.text(&a.unique_values[k as usize]);
                }
            }
            other => panic!("no checksum for {:?}", other.arrow_type()),
        }
    }
    f.0
}

/// The checksum of the same values as arrow-rs decoded them.
fn checksum_batch(b: &RecordBatch) -> u64 {
    let mut f = Fold::new(b.num_rows());
    for c in b.columns() {
        if let Some(a) = c.as_primitive_opt::<Int64Type>() {
            a.values().iter().for_each(|&v| f.word(v as u64));
        } else if let Some(a) = c.as_primitive_opt::<Float64Type>() {
            a.values().iter().for_each(|v| f.word(v.to_bits()));
        } else if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
            assert_eq!(d.null_count(), 0);
            let values = d.values().as_string::<i32>();
            for &k in d.keys().values() {
                f.text(values.value(k as usize));
            }
        } else {
            panic!("no checksum for {:?}", c.data_type());
        }
    }
    f.0
}

// --------------------------------------------------------------- the process --

/// Raises the soft limit on open files to the hard limit when it is under
/// `need`; false (with a message) when even the hard limit is too low.
fn raise_open_files(need: u64) -> bool {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        panic!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if l.rlim_cur >= need {
        return true;
    }
    if l.rlim_max < need {
        eprintln!(
            "skipped: this test needs {need} open files and the hard limit is {} \
             (raise it: ulimit -Hn {need})",
            l.rlim_max
        );
        return false;
    }
    l.rlim_cur = l.rlim_max;
    // SAFETY: setrlimit reads one rlimit from the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != 0 {
        panic!("setrlimit: {}", std::io::Error::last_os_error());
    }
    true
}

/// This process's anonymous resident memory, in bytes.
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("RssAnon in /proc/self/status")
}

/// Samples [`rss_anon`] every 5 ms on a thread of its own; the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_anon()));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_anon(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssSampler { stop, peak, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread");
        self.peak.fetch_max(rss_anon(), Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}
