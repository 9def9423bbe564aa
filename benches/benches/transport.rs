//! Loopback throughput of every native transport (shape (a): i64, f64, i32,
//! f32; `LIGHTSTREAM_BENCH_BATCHES` x `LIGHTSTREAM_BENCH_ROWS` per stream,
//! default 16 x 1,000,000 = 384 MB of Arrow buffers), side by side, in one
//! criterion group (`transport_a`):
//!
//! - `tcp/raw_copy`, `uds/raw_copy`, `pipe/raw_copy`, `quic/raw_copy`: the
//!   ceiling of each transport. The writer task sends Lightstream's encoded
//!   stream (one `Vec`, the very bytes `*/lightstream` puts on the wire) with
//!   one `write_all`; the reader reads into one reused 1 MiB buffer
//!   (`LIGHTSTREAM_BENCH_RAW_BUFFER` bytes) until EOF.
//! - `tcp/lightstream`, `uds/lightstream`, `pipe/lightstream`,
//!   `websocket/lightstream`, `quic/lightstream`: a `TableWriter` task writes
//!   the tables and finishes; a `TableReader` task on the other end reads
//!   every table, looks at nothing but `n_rows` and drops it.
//! - `tcp/arrow_rs`: arrow-rs `StreamWriter` (over a `BufWriter`) on one
//!   thread, `StreamReader` on another, over a `std::net::TcpStream`; the
//!   reader decodes every batch.
//!
//! Throughput is Arrow buffer bytes (criterion prints GiB/s). Connections are
//! set up before the clock starts: a fresh TCP / Unix / WebSocket connection
//! or OS pipe per iteration, one QUIC connection for the whole bench with a
//! fresh QUIC stream per iteration. The WebSocket handshake happens in
//! `writer()` / `reader()`, so it is inside the timed part (one loopback round
//! trip, well under a millisecond against hundreds of milliseconds). The
//! timed part is from the first write (or handshake) until the reader has
//! seen the end of the transport and the writer has finished (for QUIC, the
//! peer acknowledged every byte; for WebSocket, the closing handshake).
//!
//! Both ends run on one tokio multi-threaded runtime with 2 worker threads.
//! Every case is run once and checked before it is timed: the tables decoded
//! over each transport are checksummed value by value against the generated
//! data, the raw copies compare every byte. pyarrow over TCP is timed by
//! `benches/python/tcp_throughput.py` (see `benches/run.sh`).

use std::future::Future;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use futures_util::StreamExt;
use lightstream::minarrow::Table;
use lightstream::quic::QuicSession;
use lightstream::{
    ClientOptions, Endpoint, Listener, ReadOptions, Schema, ServerOptions, TableReader,
    TableWriter, WriteOptions,
};
use lightstream_benches::{
    Checksum, Shape, arrow_buffer, arrow_stream_decoder, assert_checksum, batches, buffer_bytes,
    checksum_batches, checksum_tables, lightstream_write, rows_per_batch,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::runtime::Runtime;

mod common;
use common::TempDir;

/// The raw copies' reused receive buffer, unless
/// `LIGHTSTREAM_BENCH_RAW_BUFFER` (bytes) says otherwise. Small enough to stay
/// in cache: the ceiling of a receiver that keeps nothing.
const RAW_READ_BUFFER: usize = 1 << 20;

fn raw_read_buffer() -> usize {
    match std::env::var("LIGHTSTREAM_BENCH_RAW_BUFFER") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("LIGHTSTREAM_BENCH_RAW_BUFFER must be a positive integer, not {v:?}"),
        },
        Err(_) => RAW_READ_BUFFER,
    }
}
/// No single transfer may take longer than this (every loop is bounded).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// What every case sends, built once before anything is timed.
struct Input {
    tables: Arc<Vec<Table>>,
    schema: Arc<Schema>,
    /// Lightstream's encoded stream of `tables`: what the raw copies send.
    wire: Arc<Vec<u8>>,
    /// The same values as arrow-rs record batches.
    arrow_batches: Vec<RecordBatch>,
    arrow_schema: SchemaRef,
    want: Checksum,
}

/// What a reader saw: tables (batches) and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    tables: usize,
    rows: usize,
}

/// The reading end of one QUIC transfer: the client's session, whose next
/// stream is accepted inside the timed part.
struct ReadEnd(QuicSession);

impl ReadEnd {
    async fn open(self) -> lightstream::Result<TableReader> {
        self.0.accept_reader(ReadOptions::default()).await
    }
}

/// The writing end of one QUIC transfer: a writer on a fresh stream.
struct WriteEnd(TableWriter);

impl WriteEnd {
    async fn open(self, _schema: Arc<Schema>) -> lightstream::Result<TableWriter> {
        Ok(self.0)
    }
}

/// QUIC, set up once: the server's session (writes) and the client's (reads).
/// QUIC runs on one shared multi-thread runtime: its endpoint drivers live
/// there, and it is bound by its crypto, not by thread placement.
enum Transport {
    Quic(QuicSession, QuicSession),
}

impl Transport {
    /// Both ends of a fresh stream: everything before its first byte.
    async fn pair(&self, schema: &Arc<Schema>) -> (WriteEnd, ReadEnd) {
        bounded_setup("lightstream QUIC stream", || self.pair_once(schema)).await
    }

    async fn pair_once(&self, schema: &Arc<Schema>) -> lightstream::Result<(WriteEnd, ReadEnd)> {
        let Transport::Quic(server, client) = self;
        let w = server
            .open_writer(schema.clone(), WriteOptions::default())
            .await?;
        Ok((WriteEnd(w), ReadEnd(client.clone())))
    }
}

async fn setup_quic() -> lightstream::Result<(Listener, QuicSession, QuicSession)> {
    let (certs, key) = lightstream::quic::self_signed(&["127.0.0.1", "localhost"])?;
    let server = ServerOptions {
        quic: Some(lightstream::quic::server_config(certs.clone(), key)?),
        ..ServerOptions::default()
    };
    let l = lightstream::bind(&"quic://127.0.0.1:0".parse()?, &server).await?;
    let ep: Endpoint = l.local_url().clone();
    let client = ClientOptions {
        quic: Some(lightstream::quic::client_config_trusting(&certs)?),
        ..ClientOptions::default()
    };
    let (s, c) = tokio::join!(
        async { l.accept().await?.into_quic().await },
        lightstream::connect(&ep, &client)
    );
    let (s, c) = (s?, c?.into_quic().await?);
    Ok((l, s, c))
}

/// Set-up (connect, accept, open a stream) gets this long per attempt...
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// ...and this many attempts before the bench fails.
const SETUP_ATTEMPTS: u32 = 3;

async fn bounded_setup<T, E, F>(what: &str, mut f: impl FnMut() -> F) -> T
where
    E: std::fmt::Display,
    F: Future<Output = Result<T, E>>,
{
    for attempt in 1..=SETUP_ATTEMPTS {
        let why = match tokio::time::timeout(SETUP_TIMEOUT, f()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no progress within {SETUP_TIMEOUT:?}"),
        };
        eprintln!("warning: {what}: set-up attempt {attempt} of {SETUP_ATTEMPTS} failed: {why}");
    }
    panic!("{what}: set-up failed {SETUP_ATTEMPTS} times");
}

async fn with_timeout<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TRANSFER_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {TRANSFER_TIMEOUT:?}"))
}

/// One lightstream transfer: the writer task writes every table and
/// finishes, the reader task reads every table (collecting them if
/// `collect`, else dropping each as it arrives).
async fn lightstream_transfer(
    w: WriteEnd,
    r: ReadEnd,
    schema: Arc<Schema>,
    tables: Arc<Vec<Table>>,
    collect: bool,
) -> (Seen, Vec<Table>) {
    let writer = tokio::spawn(async move {
        let mut w = w.open(schema).await?;
        for t in tables.iter() {
            w.write(t).await?;
        }
        w.finish().await
    });
    // The reader runs inline (on the thread in `block_on`), the writer on a
    // runtime worker: the two sides never share a thread, as with arrow-rs's
    // two threads and pyarrow's two processes.
    let reader = async move {
        let mut r = r.open().await?;
        let mut seen = Seen { tables: 0, rows: 0 };
        let mut kept = Vec::new();
        while let Some(t) = r.next().await {
            let t = t?;
            seen.tables += 1;
            seen.rows += t.n_rows;
            if collect {
                kept.push(t);
            }
        }
        Ok::<_, lightstream::Error>((seen, kept))
    };
    let got = with_timeout("lightstream reader", reader)
        .await
        .expect("read");
    with_timeout("lightstream writer", writer)
        .await
        .expect("writer task")
        .expect("write");
    got
}

/// A raw copy over one fresh QUIC stream of `server` -> `client`.
async fn raw_quic_transfer(
    server: &QuicSession,
    client: &QuicSession,
    wire: Arc<Vec<u8>>,
    check: bool,
) -> usize {
    let mut send = server.connection().open_uni().await.expect("open_uni");
    let client = client.clone();
    let expect = check.then(|| wire.clone());
    let writer = tokio::spawn(async move {
        send.write_all(&wire).await.expect("quic write");
        send.finish().expect("quic finish");
        send.stopped().await.expect("quic stopped");
    });
    let reader = async move {
        let mut recv = client.connection().accept_uni().await.expect("accept_uni");
        let mut buf = vec![0u8; raw_read_buffer()];
        let mut total = 0usize;
        while let Some(n) = recv.read(&mut buf).await.expect("quic read") {
            if let Some(e) = &expect {
                assert!(
                    e.get(total..total + n) == Some(&buf[..n]),
                    "raw QUIC copy: bytes differ"
                );
            }
            total += n;
        }
        total
    };
    let n = with_timeout("raw QUIC reader", reader).await;
    with_timeout("raw QUIC writer", writer)
        .await
        .expect("writer task");
    n
}

/// arrow-rs over a std TCP connection: `StreamWriter` on a new thread,
/// `StreamReader` on this one. Returns what the reader saw (and the batches,
/// if `collect`).
fn arrow_rs_transfer(
    server: std::net::TcpStream,
    client: std::net::TcpStream,
    input: &Input,
    collect: bool,
) -> (Seen, Vec<RecordBatch>) {
    std::thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut w = StreamWriter::try_new(BufWriter::new(server), &input.arrow_schema)
                .expect("arrow-rs StreamWriter");
            for b in &input.arrow_batches {
                w.write(b).expect("arrow-rs write");
            }
            w.finish().expect("arrow-rs finish");
            let mut out = w.into_inner().expect("arrow-rs into_inner");
            out.flush().expect("flush");
            let tcp = out.into_inner().expect("BufWriter into_inner");
            tcp.shutdown(std::net::Shutdown::Write).expect("shutdown");
        });
        let reader = StreamReader::try_new(client, None).expect("arrow-rs StreamReader");
        let mut seen = Seen { tables: 0, rows: 0 };
        let mut kept = Vec::new();
        for b in reader {
            let b = b.expect("arrow-rs read");
            seen.tables += 1;
            seen.rows += b.num_rows();
            if collect {
                kept.push(b);
            }
        }
        writer.join().expect("arrow-rs writer thread");
        (seen, kept)
    })
}

fn std_tcp_pair(l: &std::net::TcpListener) -> (std::net::TcpStream, std::net::TcpStream) {
    let client = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (server, _) = l.accept().expect("accept");
    for s in [&client, &server] {
        s.set_nodelay(true).expect("nodelay");
        // Bounded: a stuck peer fails the bench instead of hanging it.
        s.set_read_timeout(Some(TRANSFER_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(TRANSFER_TIMEOUT))
            .expect("timeout");
    }
    (server, client)
}

fn input() -> Input {
    let (n, rows) = (batches(), rows_per_batch());
    let tables = Shape::A.tables_of(n, rows);
    let want = checksum_tables(&tables);
    let schema = Arc::new(Shape::A.schema(&tables[0]));
    let wire = lightstream_write(&schema, &tables);
    let arrow_batches = arrow_stream_decoder(&arrow_buffer(&wire));
    assert_checksum("arrow-rs input", checksum_batches(&arrow_batches), want);
    let arrow_schema = arrow_batches[0].schema();
    Input {
        tables: Arc::new(tables),
        schema,
        wire: Arc::new(wire),
        arrow_batches,
        arrow_schema,
        want,
    }
}

// ------------------------------------------------ two-thread transfers --
//
// Byte transports and WebSocket run each side on a thread of its own with a
// current-thread runtime that owns that side's socket (and its I/O driver),
// as arrow-rs's two threads and pyarrow's two processes do. Sharing one
// 2-worker runtime let both sides land on one worker (and made every read a
// cross-thread wake-up), which moved results by 2x from run to run.

/// A connected pair of std endpoints, made before either side's runtime.
enum StdPair {
    Tcp(std::net::TcpStream, std::net::TcpStream),
    Unix(
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    ),
    Pipe(std::io::PipeWriter, std::io::PipeReader),
}

/// One side of a [`StdPair`], turned into tokio I/O inside its own runtime.
enum StdEnd {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    PipeWrite(std::io::PipeWriter),
    PipeRead(std::io::PipeReader),
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

impl StdPair {
    /// (writer's end, reader's end).
    fn split(self) -> (StdEnd, StdEnd) {
        match self {
            StdPair::Tcp(w, r) => (StdEnd::Tcp(w), StdEnd::Tcp(r)),
            StdPair::Unix(w, r) => (StdEnd::Unix(w), StdEnd::Unix(r)),
            StdPair::Pipe(w, r) => (StdEnd::PipeWrite(w), StdEnd::PipeRead(r)),
        }
    }
}

impl StdEnd {
    fn tcp(self) -> tokio::net::TcpStream {
        match self {
            StdEnd::Tcp(s) => tokio::net::TcpStream::from_std(s).expect("tokio tcp"),
            _ => panic!("not a TCP end"),
        }
    }

    fn reader(self) -> BoxRead {
        match self {
            StdEnd::Tcp(_) => Box::new(self.tcp()),
            StdEnd::Unix(s) => Box::new(tokio::net::UnixStream::from_std(s).expect("tokio uds")),
            StdEnd::PipeRead(p) => Box::new(
                tokio::net::unix::pipe::Receiver::from_owned_fd(p.into()).expect("tokio pipe"),
            ),
            StdEnd::PipeWrite(_) => panic!("the write end of a pipe cannot read"),
        }
    }

    fn writer(self) -> BoxWrite {
        match self {
            StdEnd::Tcp(_) => Box::new(self.tcp()),
            StdEnd::Unix(s) => Box::new(tokio::net::UnixStream::from_std(s).expect("tokio uds")),
            StdEnd::PipeWrite(p) => Box::new(
                tokio::net::unix::pipe::Sender::from_owned_fd(p.into()).expect("tokio pipe"),
            ),
            StdEnd::PipeRead(_) => panic!("the read end of a pipe cannot write"),
        }
    }
}

/// How a [`StdPair`] is made for each transfer.
enum PairMaker {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
    Pipe,
}

impl PairMaker {
    fn pair(&self) -> StdPair {
        match self {
            PairMaker::Tcp(l) => {
                let c =
                    std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
                let (s, _) = l.accept().expect("accept");
                for x in [&c, &s] {
                    // As Lightstream's own TCP connections.
                    x.set_nodelay(true).expect("nodelay");
                    x.set_nonblocking(true).expect("nonblocking");
                }
                StdPair::Tcp(s, c)
            }
            PairMaker::Unix(l, path) => {
                let c = std::os::unix::net::UnixStream::connect(path).expect("connect");
                let (s, _) = l.accept().expect("accept");
                for x in [&c, &s] {
                    x.set_nonblocking(true).expect("nonblocking");
                }
                StdPair::Unix(s, c)
            }
            PairMaker::Pipe => {
                let (r, w) = std::io::pipe().expect("pipe");
                StdPair::Pipe(w, r)
            }
        }
    }
}

fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `write` and `read` at once, each on its own thread and runtime (the
/// futures are made inside their runtime); returns what `read` returns.
///
/// The reader runs on the calling thread, the writer on a new one, exactly
/// as `arrow_rs_transfer` does: the reader's allocations (a fresh body per
/// batch) then come from the same malloc arena every time. A reader on a new
/// thread per transfer lands in one of glibc's per-thread arenas and pays for
/// fresh pages at random, which made results bimodal.
fn on_two_threads<WF, RF, T>(write: impl FnOnce() -> WF + Send, read: impl FnOnce() -> RF) -> T
where
    WF: Future<Output = ()>,
    RF: Future<Output = T>,
{
    std::thread::scope(|scope| {
        let w = scope.spawn(move || {
            current_thread_runtime().block_on(async move { with_timeout("writer", write()).await })
        });
        let out =
            current_thread_runtime().block_on(async move { with_timeout("reader", read()).await });
        w.join().expect("writer thread");
        out
    })
}

/// A raw copy of `wire` over a fresh pair: one `write_all`, then shutdown;
/// the reader reads into a reused buffer until EOF.
fn raw_copy(pair: StdPair, wire: &[u8], check: bool) -> usize {
    let (w, r) = pair.split();
    on_two_threads(
        move || async move {
            let mut w = w.writer();
            w.write_all(wire).await.expect("raw write");
            w.shutdown().await.expect("raw shutdown");
        },
        move || async move {
            let mut r = r.reader();
            let mut buf = vec![0u8; raw_read_buffer()];
            let mut total = 0usize;
            loop {
                let n = r.read(&mut buf).await.expect("raw read");
                if n == 0 {
                    return total;
                }
                if check {
                    assert!(
                        wire.get(total..total + n) == Some(&buf[..n]),
                        "raw copy: bytes differ"
                    );
                }
                total += n;
            }
        },
    )
}

/// How a Lightstream transfer reaches its peer on a [`StdPair`].
#[derive(Clone, Copy)]
enum Wire {
    /// The Arrow IPC stream on the bytes.
    Bytes,
    /// A WebSocket over TCP (handshake inside the transfer).
    WebSocket,
}

/// WebSocket limits that fit a 24 MB batch in one message (tungstenite's
/// defaults stop at 16 MiB frames); `lightstream::connect` and `bind` size
/// them from the reader's `DecodeLimits` the same way.
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(1 << 30))
        .max_frame_size(Some(1 << 30))
}

/// One Lightstream transfer over a fresh pair; returns what the reader saw
/// (and the tables, with `collect`).
fn lightstream_copy(pair: StdPair, wire: Wire, input: &Input, collect: bool) -> (Seen, Vec<Table>) {
    let (w, r) = pair.split();
    let (schema, tables) = (input.schema.clone(), input.tables.clone());
    on_two_threads(
        move || async move {
            let mut writer = match wire {
                Wire::Bytes => TableWriter::from_async_write(
                    w.writer(),
                    "bench",
                    schema,
                    WriteOptions::default(),
                )
                .expect("writer"),
                Wire::WebSocket => {
                    let ws = tokio_tungstenite::accept_hdr_async_with_config(
                        w.tcp(),
                        lightstream::websocket::answer_subprotocol,
                        Some(ws_config()),
                    )
                    .await
                    .expect("handshake");
                    lightstream::websocket::connection(
                        ws,
                        lightstream::websocket::Role::Server,
                        "bench",
                    )
                    .writer(schema, WriteOptions::default())
                    .await
                    .expect("writer")
                }
            };
            for t in tables.iter() {
                writer.write(t).await.expect("write");
            }
            writer.finish().await.expect("finish");
        },
        move || async move {
            let mut reader = match wire {
                Wire::Bytes => {
                    TableReader::from_async_read(r.reader(), "bench", ReadOptions::default())
                        .await
                        .expect("reader")
                }
                Wire::WebSocket => {
                    let (ws, _) = tokio_tungstenite::client_async_with_config(
                        "ws://127.0.0.1/",
                        r.tcp(),
                        Some(ws_config()),
                    )
                    .await
                    .expect("handshake");
                    lightstream::websocket::connection(
                        ws,
                        lightstream::websocket::Role::Client,
                        "bench",
                    )
                    .reader(ReadOptions::default())
                    .await
                    .expect("reader")
                }
            };
            let mut seen = Seen { tables: 0, rows: 0 };
            let mut kept = Vec::new();
            while let Some(t) = reader.next().await {
                let t = t.expect("read");
                seen.tables += 1;
                seen.rows += t.n_rows;
                if collect {
                    kept.push(t);
                }
            }
            (seen, kept)
        },
    )
}

/// Checks, then times, the raw copy and the Lightstream transfer of one
/// transport (`name`) over pairs made by `maker`.
fn two_thread_cases(
    g: &mut BenchmarkGroup<'_, WallTime>,
    input: &Input,
    name: &str,
    maker: &PairMaker,
    raw: bool,
    wire: Wire,
) {
    let want = Seen {
        tables: input.tables.len(),
        rows: input.want.rows,
    };
    if raw {
        let n = raw_copy(maker.pair(), &input.wire, true);
        assert_eq!(n, input.wire.len(), "{name}: raw copy bytes received");
        g.bench_function(BenchmarkId::new(name, "raw_copy"), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || maker.pair(),
                    |p| raw_copy(p, &input.wire, false),
                    |n| assert_eq!(n, input.wire.len(), "raw copy: bytes received"),
                )
            })
        });
    }
    let (seen, tables) = lightstream_copy(maker.pair(), wire, input, true);
    assert_eq!(seen, want, "{name}: tables received");
    assert_checksum(
        &format!("{name}: tables received"),
        checksum_tables(&tables),
        input.want,
    );
    drop(tables);
    eprintln!("checked {name}: every table arrived intact");
    g.bench_function(BenchmarkId::new(name, "lightstream"), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || maker.pair(),
                |p| lightstream_copy(p, wire, input, false),
                |(seen, _)| assert_eq!(seen, want, "{name}: tables received"),
            )
        })
    });
}

/// Times `iters` runs of `transfer` (each given its set-up), set-up excluded.
fn timed<S, T>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut transfer: impl FnMut(S) -> T,
    check: impl Fn(T),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let s = setup();
        let start = Instant::now();
        let out = transfer(s);
        total += start.elapsed();
        check(out);
    }
    total
}

/// Checks one Lightstream transport once (every table intact), then times
/// it. Returns the transport, for tearing it down.
fn lightstream_case(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    input: &Input,
    name: &str,
    t: Transport,
) -> Transport {
    let want = Seen {
        tables: input.tables.len(),
        rows: input.want.rows,
    };
    let (w, r) = rt.block_on(t.pair(&input.schema));
    let (seen, tables) = rt.block_on(lightstream_transfer(
        w,
        r,
        input.schema.clone(),
        input.tables.clone(),
        true,
    ));
    assert_eq!(seen, want, "{name}: tables received");
    assert_checksum(
        &format!("{name}: tables received"),
        checksum_tables(&tables),
        input.want,
    );
    drop(tables);
    eprintln!("checked {name}: every table arrived intact");
    g.bench_function(BenchmarkId::new(name, "lightstream"), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || rt.block_on(t.pair(&input.schema)),
                |(w, r)| {
                    rt.block_on(lightstream_transfer(
                        w,
                        r,
                        input.schema.clone(),
                        input.tables.clone(),
                        false,
                    ))
                },
                |(seen, _)| assert_eq!(seen, want, "{name}: tables received"),
            )
        })
    });
    t
}

fn transport(c: &mut Criterion) {
    let input = input();
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let bytes = buffer_bytes(&input.tables);
    let want = Seen {
        tables: input.tables.len(),
        rows: input.want.rows,
    };
    eprintln!(
        "transport bench: shape a, {} batches x {} rows: {:.1} MiB of Arrow buffers, \
         {} bytes of IPC stream; raw copies read into a {} byte buffer",
        batches(),
        rows_per_batch(),
        bytes as f64 / (1 << 20) as f64,
        input.wire.len(),
        raw_read_buffer()
    );
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        eprintln!(
            "note: GLIBC_TUNABLES is not set, so every body a reader receives is a fresh \
             mmap (page faults) and results depend on allocation history; benches/run.sh sets it"
        );
    }
    // A private directory for the Unix sockets.
    let sockets = TempDir::new("lightstream-bench");

    let mut g = c.benchmark_group("transport_a");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(bytes));

    let wire_len = input.wire.len();
    let raw_check = move |n: usize| assert_eq!(n, wire_len, "raw copy: bytes received");

    // --- TCP (and WebSocket over TCP) ---
    let tcp = PairMaker::Tcp(std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    two_thread_cases(&mut g, &input, "tcp", &tcp, true, Wire::Bytes);

    // arrow-rs StreamWriter -> StreamReader over std TCP, two threads.
    let std_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (s, r) = std_tcp_pair(&std_tcp);
    let (seen, got) = arrow_rs_transfer(s, r, &input, true);
    assert_eq!(seen, want, "arrow-rs: batches received");
    assert_checksum("arrow-rs over TCP", checksum_batches(&got), input.want);
    drop(got);
    g.bench_function(BenchmarkId::new("tcp", "arrow_rs"), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || std_tcp_pair(&std_tcp),
                |(s, r)| arrow_rs_transfer(s, r, &input, false),
                |(seen, _)| assert_eq!(seen, want, "arrow-rs: batches received"),
            )
        })
    });
    drop(std_tcp);

    // --- Unix domain sockets ---
    let path = sockets.0.join("bench.sock");
    let uds = PairMaker::Unix(
        std::os::unix::net::UnixListener::bind(&path).expect("bind uds"),
        path,
    );
    two_thread_cases(&mut g, &input, "uds", &uds, true, Wire::Bytes);

    // --- OS pipe (what `a | b` gives stdio; 64 KiB pipe buffer) ---
    two_thread_cases(&mut g, &input, "pipe", &PairMaker::Pipe, true, Wire::Bytes);

    // --- WebSocket over TCP (its ceiling is tcp/raw_copy) ---
    two_thread_cases(&mut g, &input, "websocket", &tcp, false, Wire::WebSocket);
    drop(tcp);

    // --- QUIC: one connection, a fresh stream per iteration ---
    let (quic_listener, server, client) = rt.block_on(bounded_setup("QUIC connection", setup_quic));
    raw_check(rt.block_on(raw_quic_transfer(
        &server,
        &client,
        input.wire.clone(),
        true,
    )));
    g.bench_function(BenchmarkId::new("quic", "raw_copy"), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || (),
                |()| {
                    rt.block_on(raw_quic_transfer(
                        &server,
                        &client,
                        input.wire.clone(),
                        false,
                    ))
                },
                raw_check,
            )
        })
    });
    let t = lightstream_case(&mut g, &rt, &input, "quic", Transport::Quic(server, client));
    let Transport::Quic(server, client) = &t;
    client.close();
    server.close();
    drop(t);
    drop(quic_listener);
    g.finish();
    drop(sockets);
}

criterion_group! {
    name = benches;
    // 10 samples of flat sampling: one iteration moves hundreds of MB, so
    // the whole bench takes a couple of minutes. Command-line options
    // (--measurement-time, --sample-size, --quick) override these.
    config = Criterion::default()
        // Loopback throughput on a shared 2-core VM drifts from run to run:
        // 20 one-transfer samples per case, and the median is reported.
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    targets = transport
}
criterion_main!(benches);
