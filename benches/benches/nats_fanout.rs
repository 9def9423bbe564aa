//! Fan-out across processes through NATS (issue 22): 1 publisher →
//! nats-server → 3 relays → 300 WebSocket subscribers each, on loopback,
//! every component a process of its own so that its CPU is its own:
//!
//! - nats-server (Debian's; tests/src/nats.rs starts it, JetStream on file in
//!   a temporary directory, `max_payload` 1 MiB);
//! - the publisher: the release CLI, `lightstream serve nats://…/S -` with the
//!   feed's IPC stream file as standard input (message by message, no value
//!   decoded);
//! - 3 relays: the release CLI, `lightstream relay nats://…/S
//!   ws://127.0.0.1:0/ --wait-for N+1 --max-clients N+1 --slow block
//!   --max-lag 4M` (lossless: a relay's feed is paced by its slowest client);
//! - the subscribers: tokio-tungstenite clients in this process (2 runtime
//!   threads) that read every message and count its bytes; each must count
//!   exactly the feed's IPC stream. One more client per relay decodes with
//!   Lightstream's `TableReader` and checksums every value against the
//!   generated tables (what the bench checks, not what it counts).
//!
//! Order: the JetStream stream is created first (a writer opened and dropped:
//! nothing published), the relays start and take their clients, then read
//! NATS and join the empty stream (the bench waits until the server lists one
//! consumer per relay; core mode: one subscription more per relay); then the
//! clock starts with the publisher and stops when the last subscriber has
//! read the end of its stream. Every process's user + system CPU time is
//! sampled at both ends (`/proc/<pid>/stat`; the publisher's from wait4, its
//! whole life; this process's from getrusage, so the subscribers' figure
//! includes the 3 decoding clients and the memory samplers), and each relay's
//! and the server's `RssAnon` every 10 ms (the peak).
//!
//! **Delivered** is the feed's IPC stream bytes times the counting
//! subscribers. Not criterion: one multi-second run per mode, its CPU read
//! from other processes. Environment (defaults in brackets):
//! `LIGHTSTREAM_BENCH_QUICK=1` (3 relays x 10 subscribers, 256 MiB
//! delivered: a smoke run), `LIGHTSTREAM_NATS_FANOUT_RELAYS` [3],
//! `LIGHTSTREAM_NATS_FANOUT_N` [300 subscribers a relay],
//! `LIGHTSTREAM_NATS_FANOUT_ROWS` [4096 rows a table: 96 KiB messages],
//! `LIGHTSTREAM_NATS_FANOUT_MIB` [8192 MiB delivered; at least 16 tables],
//! `LIGHTSTREAM_NATS_FANOUT_MODES` [core,jetstream], `LIGHTSTREAM_BIN` (the
//! CLI; default `lightstream` next to this bench's directory, i.e.
//! target/release). The table goes to stdout (Markdown) and to
//! `<data dir>/nats_fanout.md`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lightstream::{ClientOptions, Endpoint, ReadOptions, WriteOptions};
use lightstream_benches::{
    Checksum, Shape, assert_checksum, checksum_tables, data_dir, env_num, lightstream_write,
};
use lightstream_tests::nats::{NatsConfig, NatsServer};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{
    RssSampler, TempDir, cpu_time, env_list, nats_server_version, process_cpu, raise_open_files,
    wait_with_cpu,
};

/// No connect, join or transfer may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(300);
/// WebSocket connects in flight at once.
const CONNECTS_AT_ONCE: usize = 64;
/// How often the memory samplers look.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
const GIB: f64 = (1u64 << 30) as f64;

/// The CLI: `LIGHTSTREAM_BIN`, or the nearest `lightstream` above this
/// bench's binary (target/release/lightstream).
fn cli() -> PathBuf {
    if let Some(p) = std::env::var_os("LIGHTSTREAM_BIN") {
        return PathBuf::from(p);
    }
    // The bench runs from target/release/deps/ or target/release/build/…/out/.
    let exe = std::env::current_exe().expect("this binary");
    exe.ancestors()
        .map(|d| d.join("lightstream"))
        .find(|b| b.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no `lightstream` above {}: build it first (cargo build --release -p \
                 lightstream-cli) or set LIGHTSTREAM_BIN",
                exe.display()
            )
        })
}

/// A CLI process whose stderr is copied to ours with a prefix (after its
/// `listening on <url>` line, which is kept); killed when dropped.
struct Proc {
    child: Child,
    name: String,
    /// The `listening on` URL, once seen.
    url: std::sync::mpsc::Receiver<String>,
    /// Reaped already (wait4).
    reaped: bool,
}

impl Proc {
    fn start(name: &str, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: could not start {cmd:?}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, url) = std::sync::mpsc::channel();
        let prefix = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                match line.strip_prefix("listening on ") {
                    Some(u) => {
                        let _ = tx.send(u.trim().to_string());
                    }
                    None => eprintln!("[{prefix}] {line}"),
                }
            }
        });
        Proc {
            child,
            name: name.to_string(),
            url,
            reaped: false,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL it listens on (waits for its line).
    fn listening(&mut self) -> String {
        self.url
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{}: no `listening on` line within 30 s", self.name))
    }

    /// Waits for it to exit: its exit status and its whole life's CPU time.
    fn wait_cpu(&mut self) -> (i32, Duration) {
        let got = wait_with_cpu(self.pid());
        self.reaped = true;
        got
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `/proc/<pid>/stat` CPU of a process that must still be running.
fn cpu_of(pid: u32, what: &str) -> Duration {
    process_cpu(pid).unwrap_or_else(|| panic!("{what} (pid {pid}) is gone"))
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {TIMEOUT:?}"))
}

/// A subscriber: connects, reads every WebSocket message to the close,
/// counting payload bytes; (bytes, when it ended).
async fn drain(url: String, gate: Arc<Semaphore>, progress: Arc<AtomicU64>) -> (u64, Instant) {
    let permit = gate.acquire_owned().await.expect("semaphore");
    let (mut ws, _) = bounded("connect", tokio_tungstenite::connect_async(url.as_str()))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    drop(permit);
    let mut total = 0u64;
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
    (total, Instant::now())
}

/// The checking subscriber: Lightstream's reader over the relay's ws://.
async fn decode(url: String) -> Checksum {
    let e: Endpoint = url.parse().expect("ws:// URL");
    let tables = lightstream::connect(&e, &ClientOptions::default())
        .await
        .expect("connect")
        .reader(ReadOptions::default())
        .await
        .expect("reader")
        .read_all()
        .await
        .expect("read");
    checksum_tables(&tables)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    JetStream,
    Core,
}

impl Mode {
    fn parse(s: &str) -> Mode {
        match s {
            "jetstream" => Mode::JetStream,
            "core" => Mode::Core,
            _ => panic!("LIGHTSTREAM_NATS_FANOUT_MODES: jetstream or core, not {s:?}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::JetStream => "jetstream",
            Mode::Core => "core",
        }
    }
}

/// What one run measured.
struct Outcome {
    secs: f64,
    delivered: u64,
    /// (component, CPU, peak RssAnon if sampled).
    parts: Vec<(String, Duration, Option<u64>)>,
}

/// The feed of one run.
struct Feed {
    file: PathBuf,
    bytes: u64,
    want: Checksum,
    schema: Arc<lightstream::Schema>,
}

fn run(
    rt: &tokio::runtime::Runtime,
    server: &NatsServer,
    mode: Mode,
    feed: &Feed,
    relays: usize,
    n: usize,
) -> Outcome {
    let subject = format!("fanout.{}", mode.name());
    let query = match mode {
        Mode::JetStream => "",
        Mode::Core => "mode=core",
    };
    let url = server.url(&subject, query);
    let stream = format!("LS_{}", subject.replace('.', "_"));
    if mode == Mode::JetStream {
        // The stream, empty: relays join it at its start.
        rt.block_on(async {
            let e: Endpoint = url.parse().expect("nats:// URL");
            let w = bounded("create the stream", async {
                lightstream::connect(&e, &ClientOptions::default())
                    .await?
                    .writer(feed.schema.clone(), WriteOptions::default())
                    .await
            })
            .await
            .expect("a writer on the stream");
            drop(w);
        });
    }
    // The server's count before the relays (a previous run's relays are
    // gone: their connections closed when they were killed).
    std::thread::sleep(Duration::from_millis(500));
    let subscriptions = server.subscriptions();
    let per_relay = (n + 1).to_string();
    let mut procs: Vec<Proc> = (0..relays)
        .map(|i| {
            let mut cmd = Command::new(cli());
            cmd.args(["relay", url.as_str(), "ws://127.0.0.1:0/", "--wait-for"])
                .args([per_relay.as_str(), "--max-clients", per_relay.as_str()])
                .args(["--slow", "block", "--max-lag", "4M"]);
            Proc::start(&format!("relay {}", i + 1), cmd)
        })
        .collect();
    let urls: Vec<String> = procs.iter_mut().map(Proc::listening).collect();
    let progress = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let mut checks = Vec::new();
    let mut draining = tokio::task::JoinSet::new();
    for u in &urls {
        checks.push(rt.spawn(bounded("the checking subscriber", decode(u.clone()))));
        for _ in 0..n {
            draining.spawn_on(
                drain(u.clone(), gate.clone(), progress.clone()),
                rt.handle(),
            );
        }
    }
    // The relays read NATS once their clients are all there: wait until
    // each has joined (JetStream: its consumer; core: its subscription).
    let started = Instant::now();
    loop {
        let joined = match mode {
            Mode::JetStream => server.consumers(&stream).len() >= relays,
            Mode::Core => server.subscriptions() >= subscriptions + relays as u64,
        };
        if joined {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "the relays did not join the feed within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let nats_pid = server.pid().expect("nats-server runs");
    let relay_pids: Vec<u32> = procs.iter().map(Proc::pid).collect();
    let samplers: Vec<RssSampler> = std::iter::once(nats_pid)
        .chain(relay_pids.iter().copied())
        .map(|p| RssSampler::start(p, SAMPLE_EVERY))
        .collect();
    let cpu0: Vec<Duration> = std::iter::once(nats_pid)
        .chain(relay_pids.iter().copied())
        .map(|p| cpu_of(p, "a server"))
        .collect();
    let self0 = cpu_time();
    let start = Instant::now();
    let mut cmd = Command::new(cli());
    cmd.args(["serve", url.as_str(), "-"])
        .stdin(std::fs::File::open(&feed.file).expect("the feed file"));
    let mut publisher = Proc::start("publisher", cmd);
    let ends = rt.block_on(async {
        let mut ends = Vec::new();
        while let Some(r) = bounded("a subscriber", draining.join_next()).await {
            let (bytes, end) = r.expect("subscriber task");
            assert_eq!(bytes, feed.bytes, "a subscriber read the whole feed");
            ends.push(end);
        }
        for c in checks {
            let got = bounded("a checking subscriber", c)
                .await
                .expect("check task");
            assert_checksum("a relay's ws:// subscriber", got, feed.want);
        }
        ends
    });
    let last = ends.into_iter().max().unwrap_or(start);
    let cpu1: Vec<Duration> = std::iter::once(nats_pid)
        .chain(relay_pids.iter().copied())
        .map(|p| cpu_of(p, "a server"))
        .collect();
    let self1 = cpu_time();
    let peaks: Vec<u64> = samplers.into_iter().map(RssSampler::stop).collect();
    let (status, publisher_cpu) = publisher.wait_cpu();
    assert_eq!(status, 0, "the publisher exits 0 (wait status)");
    drop(procs);
    let mut parts = vec![(
        "publisher (serve nats:// -)".to_string(),
        publisher_cpu,
        None,
    )];
    parts.push(("nats-server".to_string(), cpu1[0] - cpu0[0], Some(peaks[0])));
    for i in 0..relays {
        parts.push((
            format!("relay {}", i + 1),
            cpu1[i + 1] - cpu0[i + 1],
            Some(peaks[i + 1]),
        ));
    }
    parts.push((
        format!("{} subscribers (this process)", relays * n),
        self1 - self0,
        None,
    ));
    Outcome {
        secs: (last - start).as_secs_f64(),
        delivered: feed.bytes * (relays * n) as u64,
        parts,
    }
}

fn main() {
    // `cargo test --benches` runs every bench once as a test: nothing to do here.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "nats_fanout: run it with `cargo bench -p lightstream-benches --bench nats_fanout`"
        );
        return;
    }
    let quick = env_num("LIGHTSTREAM_BENCH_QUICK", 0) == 1;
    let relays = env_num("LIGHTSTREAM_NATS_FANOUT_RELAYS", 3);
    let n = env_num("LIGHTSTREAM_NATS_FANOUT_N", if quick { 10 } else { 300 });
    let rows = env_num("LIGHTSTREAM_NATS_FANOUT_ROWS", 4096);
    let budget = env_num(
        "LIGHTSTREAM_NATS_FANOUT_MIB",
        if quick { 256 } else { 8192 },
    ) as u64
        * (1 << 20);
    let modes: Vec<Mode> = env_list("LIGHTSTREAM_NATS_FANOUT_MODES", "core,jetstream")
        .iter()
        .map(|s| Mode::parse(s))
        .collect();
    raise_open_files((relays * (n + 1)) as u64 * 2 + 256);

    // The feed: shape (a) tables, sized so that every subscriber together
    // is delivered about `budget` bytes.
    let one = lightstream_write(
        &Shape::A.schema(&Shape::A.tables_of(1, rows)[0]),
        &Shape::A.tables_of(1, rows),
    )
    .len() as u64;
    let tables = ((budget / (one * (relays * n) as u64)) as usize).clamp(16, 4096);
    let generated = Shape::A.tables_of(tables, rows);
    let schema = Arc::new(Shape::A.schema(&generated[0]));
    let stream = lightstream_write(&schema, &generated);
    let tmp = TempDir::new("lightstream-nats-fanout");
    let dir = tmp.0.clone();
    let file = dir.join("feed.arrows");
    std::fs::write(&file, &stream).expect("the feed file");
    let feed = Feed {
        file,
        bytes: stream.len() as u64,
        want: checksum_tables(&generated),
        schema,
    };
    drop((generated, stream));

    let server = NatsServer::start(
        &dir.join("server"),
        NatsConfig {
            jetstream: true,
            max_payload: None,
        },
    );
    let version = nats_server_version();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    line(format!(
        "NATS fan-out: 1 publisher → {version} → {relays} relays → {n} WebSocket subscribers \
         each ({} in all); {tables} tables of {rows} rows, {} bytes of IPC stream a subscriber; \
         load average at start {}",
        relays * n,
        feed.bytes,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    for mode in modes {
        let o = run(&rt, &server, mode, &feed, relays, n);
        let gib = o.delivered as f64 / GIB;
        line(String::new());
        line(format!(
            "{}: {:.2} GiB delivered in {:.2} s: **{:.2} GiB/s**",
            mode.name(),
            gib,
            o.secs,
            gib / o.secs
        ));
        line(String::new());
        line(
            "| component | CPU s | CPU s per delivered GiB | share | peak RssAnon MiB |"
                .to_string(),
        );
        line("|---|---:|---:|---:|---:|".to_string());
        let total: Duration = o.parts.iter().map(|p| p.1).sum();
        for (name, cpu, peak) in &o.parts {
            line(format!(
                "| {name} | {:.2} | {:.3} | {:.0}% | {} |",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / gib,
                cpu.as_secs_f64() / total.as_secs_f64() * 100.0,
                peak.map_or(String::new(), |p| format!(
                    "{:.1}",
                    p as f64 / (1 << 20) as f64
                ))
            ));
        }
        line(format!(
            "| all | {:.2} | {:.3} | 100% | |",
            total.as_secs_f64(),
            total.as_secs_f64() / gib
        ));
    }
    drop(server);
    drop(tmp);
    let path = data_dir().join("nats_fanout.md");
    if std::fs::create_dir_all(data_dir()).is_ok() && std::fs::write(&path, &report).is_ok() {
        eprintln!("written to {}", path.display());
    }
}
