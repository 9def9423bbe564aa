//! One feed through NATS against the direct TCP path (issue 22), loopback,
//! writer → reader, in one criterion run on the same tables:
//!
//! - `tcp`: a `TableWriter` on `tcp://` to a `TableReader` (no server between);
//! - `core`: `nats://…?mode=core`, writer → nats-server → reader;
//! - `js_file`, `js_memory`: JetStream (the default mode), the stream on file
//!   or in memory: every part published with its id and acknowledged by the
//!   server (at most 64 waiting), the reader an ordered pull consumer.
//!
//! Two feeds. `large` is the transport bench's (shape (a): i64, f64, i32, f32;
//! `LIGHTSTREAM_BENCH_BATCHES` x `LIGHTSTREAM_BENCH_ROWS`, default 16 x
//! 1,000,000 = 384 MB of Arrow buffers, one 24 MB IPC message a batch), sent
//! through two servers: `whole` (`max_payload` 64 MiB, the server's ceiling:
//! one NATS message per IPC message) and `split` (the default 1 MiB: every
//! batch cut into 24 parts and put together by the reader, one copy more).
//! `small` is a live feed's usual batch: `LIGHTSTREAM_NATS_SMALL_TABLES`
//! [1024] tables of `LIGHTSTREAM_NATS_SMALL_ROWS` [4096] rows (96 KiB
//! messages, 96 MiB in all) through the 1 MiB server: the per-message cost.
//!
//! Throughput is Arrow buffer bytes (criterion prints GiB/s), as in the
//! transport bench. Set-up is outside the clock: connecting, opening the
//! writer (JetStream: the stream created), and the reader subscribed (core:
//! at connect) or joined (JetStream: its consumer exists on the server). The
//! clock runs from the first write until the writer has finished (JetStream:
//! every part acknowledged; core: flushed) and the reader has seen the end
//! marker. A JetStream stream is deleted after each transfer (a fresh reader
//! joins at the last schema: it must be this transfer's). Writer and reader
//! are tasks of one 2-thread tokio runtime; nats-server is a process of its
//! own (Debian's, `LIGHTSTREAM_NATS_SERVER` for another; tests/src/nats.rs
//! starts it), so on 2 cores the three share the machine.
//!
//! Every case is run once and checked before it is timed: the tables read
//! are checksummed value by value against the generated data.
//! `LIGHTSTREAM_NATS_PATHS` [tcp,core,js_file,js_memory] and
//! `LIGHTSTREAM_NATS_FEEDS` [large,small] choose the cases.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use futures_util::StreamExt;
use lightstream::minarrow::Table;
use lightstream::nats::{NatsOptions, NatsStorage};
use lightstream::{
    ClientOptions, Connection, Endpoint, Listener, ReadOptions, Schema, ServerOptions, TableWriter,
    WriteOptions,
};
use lightstream_benches::{
    Checksum, Shape, assert_checksum, batches, buffer_bytes, checksum_tables, env_num,
    rows_per_batch,
};
use lightstream_tests::nats::{NatsConfig, NatsServer};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

mod common;
use common::{TempDir, env_list, nats_server_version};

/// No transfer, connect or join may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The JetStream streams' `max_bytes` (the server's memory store is 1 GiB;
/// each transfer's stream is deleted after it).
const STREAM_MAX_BYTES: &str = "768M";

/// How the tables travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Tcp,
    Core,
    JetStream(NatsStorage),
}

impl Path {
    const ALL: [&'static str; 4] = ["tcp", "core", "js_file", "js_memory"];

    fn parse(s: &str) -> Path {
        match s {
            "tcp" => Path::Tcp,
            "core" => Path::Core,
            "js_file" => Path::JetStream(NatsStorage::File),
            "js_memory" => Path::JetStream(NatsStorage::Memory),
            _ => panic!(
                "LIGHTSTREAM_NATS_PATHS: unknown path {s:?} (one of {:?})",
                Path::ALL
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Path::Tcp => "tcp",
            Path::Core => "core",
            Path::JetStream(NatsStorage::File) => "js_file",
            Path::JetStream(NatsStorage::Memory) => "js_memory",
        }
    }
}

/// What a feed sends, built once before anything is timed.
struct Input {
    tables: Arc<Vec<Table>>,
    schema: Arc<Schema>,
    want: Checksum,
}

impl Input {
    fn new(n: usize, rows: usize) -> Input {
        let tables = Shape::A.tables_of(n, rows);
        let want = checksum_tables(&tables);
        let schema = Arc::new(Shape::A.schema(&tables[0]));
        Input {
            tables: Arc::new(tables),
            schema,
            want,
        }
    }
}

/// What a reader saw: tables and rows (and the tables, when kept).
type Read = (usize, usize, Vec<Table>);

/// Where one case sends its tables.
struct Route<'a> {
    path: Path,
    /// TCP: the listener the reader is accepted on.
    listener: Option<Listener>,
    /// NATS: the server, the feed's URL and a plain client (for deleting the
    /// JetStream stream after each transfer).
    server: Option<&'a NatsServer>,
    url: Endpoint,
    js: Option<async_nats::jetstream::Context>,
    stream: String,
}

/// One transfer ready to start: the writer, and the reader's task (already
/// subscribed or joined, waiting for the schema).
struct Ready {
    writer: TableWriter,
    reader: JoinHandle<lightstream::Result<Read>>,
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {TIMEOUT:?}"))
}

/// Reads every table of `conn`'s stream (keeping them with `keep`).
async fn read_all(conn: Connection, keep: bool) -> lightstream::Result<Read> {
    let mut r = conn.reader(ReadOptions::default()).await?;
    r.set_idle_timeout(Some(TIMEOUT));
    let (mut tables, mut rows, mut kept) = (0, 0, Vec::new());
    while let Some(t) = r.next().await {
        let t = t?;
        tables += 1;
        rows += t.n_rows;
        if keep {
            kept.push(t);
        }
    }
    Ok((tables, rows, kept))
}

impl<'a> Route<'a> {
    fn tcp(rt: &Runtime) -> Route<'a> {
        let e: Endpoint = "tcp://127.0.0.1:0".parse().expect("endpoint");
        let l = rt
            .block_on(lightstream::bind(&e, &ServerOptions::default()))
            .expect("bind");
        let url = l.local_url().clone();
        Route {
            path: Path::Tcp,
            listener: Some(l),
            server: None,
            url,
            js: None,
            stream: String::new(),
        }
    }

    fn nats(rt: &Runtime, path: Path, server: &'a NatsServer, subject: &str) -> Route<'a> {
        let query = match path {
            Path::Core => "mode=core".to_string(),
            _ => format!("max_bytes={STREAM_MAX_BYTES}"),
        };
        let url: Endpoint = server.url(subject, &query).parse().expect("a nats:// URL");
        let js = matches!(path, Path::JetStream(_)).then(|| {
            // In the runtime: the JetStream context spawns its acker task.
            rt.block_on(async {
                let client = async_nats::connect(server.client_url())
                    .await
                    .expect("async-nats");
                async_nats::jetstream::new(client)
            })
        });
        Route {
            path,
            listener: None,
            server: Some(server),
            url,
            js,
            stream: format!("LS_{}", subject.replace('.', "_")),
        }
    }

    fn client_options(&self) -> ClientOptions {
        let mut nats = NatsOptions::default();
        if let Path::JetStream(storage) = self.path {
            nats.storage = storage;
        }
        ClientOptions {
            nats,
            ..ClientOptions::default()
        }
    }

    async fn connect(&self) -> Connection {
        bounded(
            "connect",
            lightstream::connect(&self.url, &self.client_options()),
        )
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", self.url))
    }

    /// Everything before the first write (outside the clock).
    fn ready(&self, rt: &Runtime, input: &Input, keep: bool) -> Ready {
        let schema = input.schema.clone();
        match self.path {
            Path::Tcp => {
                let l = self.listener.as_ref().expect("a TCP listener");
                let (accepted, writer) = rt.block_on(async {
                    tokio::join!(bounded("accept", l.accept()), async {
                        self.connect()
                            .await
                            .writer(schema, WriteOptions::default())
                            .await
                    })
                });
                let conn = accepted.expect("accept");
                Ready {
                    writer: writer.expect("a TCP writer"),
                    reader: rt.spawn(read_all(conn, keep)),
                }
            }
            Path::Core => rt.block_on(async {
                // Core NATS keeps nothing: the reader subscribes (at connect) first.
                let conn = self.connect().await;
                let reader = tokio::spawn(read_all(conn, keep));
                let writer = self
                    .connect()
                    .await
                    .writer(schema, WriteOptions::default())
                    .await
                    .expect("a core NATS writer");
                Ready { writer, reader }
            }),
            Path::JetStream(_) => {
                let server = self.server.expect("a NATS server");
                // The writer creates the (empty) stream; the reader joins it
                // at its start, and everything it reads comes after the join.
                let writer = rt.block_on(async {
                    self.connect()
                        .await
                        .writer(schema, WriteOptions::default())
                        .await
                        .expect("a JetStream writer")
                });
                let before = server.consumers(&self.stream);
                let conn = rt.block_on(self.connect());
                let reader = rt.spawn(read_all(conn, keep));
                server.wait_for_new_consumer(&self.stream, &before);
                Ready { writer, reader }
            }
        }
    }

    /// The timed part: every table written, the writer finished, the reader
    /// at the end marker. An error is what the reader or writer said.
    fn transfer(&self, rt: &Runtime, ready: Ready, input: &Input) -> Result<Read, String> {
        let Ready { mut writer, reader } = ready;
        let tables = input.tables.clone();
        rt.block_on(async move {
            let write = tokio::spawn(async move {
                for t in tables.iter() {
                    writer.write(t).await?;
                }
                writer.finish().await
            });
            let read = bounded("the reader", reader).await.expect("reader task");
            let written = bounded("the writer", write).await.expect("writer task");
            let read = read.map_err(|e| format!("reader: {e}"))?;
            written.map_err(|e| format!("writer: {e}"))?;
            Ok(read)
        })
    }

    /// After a transfer (outside the clock): the JetStream stream deleted.
    fn clean(&self, rt: &Runtime) {
        if let Some(js) = &self.js {
            rt.block_on(bounded("delete the stream", js.delete_stream(&self.stream)))
                .unwrap_or_else(|e| panic!("delete stream {}: {e}", self.stream));
        }
    }
}

/// Checks one route once (every table intact), then times it. A route
/// that fails its check (core NATS drops messages for a reader that falls
/// behind: a gap) is reported and left out, not timed.
fn case(g: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, input: &Input, label: &str, r: &Route) {
    let name = format!("{}/{label}", r.path.name());
    let want = (input.tables.len(), input.want.rows);
    let ready = r.ready(rt, input, true);
    let checked = r.transfer(rt, ready, input);
    r.clean(rt);
    let (tables, rows, kept) = match checked {
        Ok(read) => read,
        Err(e) => {
            eprintln!("NOT TIMED {name}: the check transfer failed: {e}");
            return;
        }
    };
    assert_eq!((tables, rows), want, "{name}: tables received");
    assert_checksum(
        &format!("{name}: tables received"),
        checksum_tables(&kept),
        input.want,
    );
    drop(kept);
    eprintln!("checked {name}: every table arrived intact");
    g.bench_function(BenchmarkId::new(r.path.name(), label), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ready = r.ready(rt, input, false);
                let start = Instant::now();
                let read = r.transfer(rt, ready, input);
                total += start.elapsed();
                r.clean(rt);
                let (tables, rows, _) = read.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!((tables, rows), want, "{name}: tables received");
            }
            total
        })
    });
}

/// The routes of `paths` for one NATS server (and TCP, when asked).
fn routes<'a>(rt: &Runtime, paths: &[Path], server: &'a NatsServer, tcp: bool) -> Vec<Route<'a>> {
    paths
        .iter()
        .filter(|&&p| tcp || p != Path::Tcp)
        .map(|&p| match p {
            Path::Tcp => Route::tcp(rt),
            _ => Route::nats(rt, p, server, &format!("bench.{}", p.name())),
        })
        .collect()
}

fn nats(c: &mut Criterion) {
    let paths: Vec<Path> = env_list("LIGHTSTREAM_NATS_PATHS", &Path::ALL.join(","))
        .iter()
        .map(|s| Path::parse(s))
        .collect();
    let feeds = env_list("LIGHTSTREAM_NATS_FEEDS", "large,small");
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The servers' directories (config, JetStream store).
    let dir = TempDir::new("lightstream-nats-bench");
    let config = |max_payload: u32| NatsConfig {
        jetstream: true,
        max_payload: Some(max_payload),
    };
    let split = NatsServer::start(&dir.0.join("split"), config(1 << 20));
    eprintln!(
        "nats bench: {} (loopback port {}); load average {}",
        nats_server_version(),
        split.port(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    if feeds.iter().any(|f| f == "large") {
        let whole = NatsServer::start(&dir.0.join("whole"), config(64 << 20));
        let input = Input::new(batches(), rows_per_batch());
        eprintln!(
            "large: {} tables x {} rows, {:.1} MiB of Arrow buffers",
            batches(),
            rows_per_batch(),
            buffer_bytes(&input.tables) as f64 / (1 << 20) as f64
        );
        let mut g = c.benchmark_group("nats_large");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Bytes(buffer_bytes(&input.tables)));
        for r in routes(&rt, &paths, &whole, true) {
            let label = if r.path == Path::Tcp {
                "direct"
            } else {
                "whole"
            };
            case(&mut g, &rt, &input, label, &r);
        }
        for r in routes(&rt, &paths, &split, false) {
            case(&mut g, &rt, &input, "split", &r);
        }
        g.finish();
    }
    if feeds.iter().any(|f| f == "small") {
        let (n, rows) = (
            env_num("LIGHTSTREAM_NATS_SMALL_TABLES", 1024),
            env_num("LIGHTSTREAM_NATS_SMALL_ROWS", 4096),
        );
        let input = Input::new(n, rows);
        eprintln!(
            "small: {n} tables x {rows} rows, {:.1} MiB of Arrow buffers",
            buffer_bytes(&input.tables) as f64 / (1 << 20) as f64
        );
        let mut g = c.benchmark_group("nats_small");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Bytes(buffer_bytes(&input.tables)));
        for r in routes(&rt, &paths, &split, true) {
            case(&mut g, &rt, &input, "small", &r);
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // One transfer moves hundreds of MB through a server process on a
    // shared 2-core machine: 10 one-transfer samples per case, the median
    // reported. Command-line options override these.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = nats
}
criterion_main!(benches);
