//! Faults against the real `lightstream serve`, over loopback only.
//!
//! - 1,000 connections opened and dropped without a byte (TCP, WebSocket):
//!   the server keeps serving, a healthy `recv` then gets the whole stream,
//!   and the server's file descriptors return to their baseline.
//! - A client that connects and never reads does not stop other clients.
//! - Memory: one slow client and many fast ones share one server; the
//!   server's resident memory is sampled from /proc/PID/status. A small
//!   version asserts a bound; `peak_server_memory_with_a_slow_client_and_many_fast_ones`
//!   (ignored; `cargo test --release -p lightstream-cli --test faults -- --ignored
//!   --nocapture`, sizes from `LIGHTSTREAM_MEM_ROWS` and
//!   `LIGHTSTREAM_MEM_CLIENTS`) prints the numbers for a large file.
//!
//! Every wait is bounded, and servers are killed when a test ends.

#![cfg(target_os = "linux")]

mod common;
use common::{Mem, Proc, decode, lightstream_in, mem_of, sampler};

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-faults", name)
}

/// Runs `lightstream args` to completion (bounded) and expects success.
#[track_caller]
fn run_ok(dir: &Path, args: &[&str]) {
    let mut child = lightstream_in(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lightstream {args:?} did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert!(status.success(), "lightstream {args:?}: {status}: {stderr}");
}

/// A running `lightstream serve` and the URL it listens on; killed on drop.
struct Server {
    proc: Proc,
    url: String,
}

impl Server {
    fn start(dir: &Path, url: &str, file: &str) -> Server {
        Server::start_with(dir, url, file, &[])
    }

    fn start_with(dir: &Path, url: &str, file: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve", url, file];
        args.extend_from_slice(extra);
        let mut proc = Proc::spawn(dir, &args);
        let url = proc.url();
        Server { proc, url }
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// host:port of a tcp:// or ws:// URL.
    fn addr(&self) -> String {
        let rest = self.url.split_once("://").expect("URL").1;
        rest.split('/').next().expect("authority").to_string()
    }

    /// The stderr lines since the last look.
    fn stderr_lines(&mut self) -> Vec<String> {
        self.proc.new_lines()
    }

    fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("/proc/PID/fd")
            .count()
    }
}

/// Waits (bounded) until `f` holds.
#[track_caller]
fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn thousand_empty_connections(name: &str, bind: &str) {
    let dir = test_dir(name);
    run_ok(&dir, &["example", "data.arrow", "--rows", "20000"]);
    let expected = decode(&dir.join("data.arrow"));
    let mut server = Server::start(&dir, bind, "data.arrow");
    let addr = server.addr();
    let baseline = server.open_fds();
    for i in 0..1000 {
        let s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        drop(s);
    }
    assert!(server.is_running(), "serve survives empty connections");
    // Each empty connection's task ends and closes its socket. (First: until
    // they have, up to --max-clients of them still hold a slot, and a client
    // that comes then is turned away, as it should be.)
    eventually(
        "descriptors back to baseline",
        Duration::from_secs(10),
        || server.open_fds() <= baseline,
    );
    let got = dir.join("got.arrows");
    run_ok(&dir, &["recv", &server.url, "got.arrows"]);
    assert_eq!(
        decode(&got),
        expected,
        "{bind}: a healthy client after 1000 empty ones"
    );
    let lines = server.stderr_lines();
    // Empty connections cost at most one line each, naming the client.
    assert!(lines.len() <= 1000, "{} lines", lines.len());
    for line in &lines {
        assert!(
            line.starts_with("lightstream: client ") && line.contains("127.0.0.1"),
            "{line}"
        );
    }
    assert!(server.is_running());
}

#[test]
fn serve_over_tcp_survives_a_thousand_empty_connections() {
    thousand_empty_connections("thousand-tcp", "tcp://127.0.0.1:0");
}

#[test]
fn serve_over_websocket_survives_a_thousand_empty_connections() {
    thousand_empty_connections("thousand-ws", "ws://127.0.0.1:0/t");
}

/// A client that connects (WebSocket: and completes its handshake) and then
/// never reads a byte. Dropping it disconnects.
struct Stalled {
    _stream: TcpStream,
}

fn stalled_client(url: &str, addr: &str) -> Stalled {
    if url.starts_with("ws://") {
        // Read the 101 response only (the server then starts sending).
        let (stream, head) = common::upgrade_and_hold(addr, "/t", TIMEOUT);
        assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
        Stalled { _stream: stream }
    } else {
        let stream = TcpStream::connect(addr).expect("connect");
        Stalled { _stream: stream }
    }
}

fn a_client_that_never_reads(name: &str, bind: &str) {
    let dir = test_dir(name);
    // About 20 MB: more than socket buffers hold, so serve blocks on it.
    run_ok(&dir, &["example", "big.arrows", "--rows", "300000"]);
    let expected = decode(&dir.join("big.arrows"));
    let mut server = Server::start(&dir, bind, "big.arrows");
    let stalled = stalled_client(&server.url, &server.addr());
    // Three clients at once, while the stalled one holds its connection.
    let url = server.url.clone();
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let (dir, url) = (dir.clone(), url.clone());
            thread::spawn(move || {
                let out = format!("got-{i}.arrows");
                run_ok(&dir, &["recv", &url, &out]);
                dir.join(out)
            })
        })
        .collect();
    for c in clients {
        let got = c.join().expect("client");
        assert_eq!(decode(&got), expected, "{bind}");
    }
    assert!(server.is_running());
    drop(stalled);
    // Its task then fails (one line) and the server keeps going.
    run_ok(&dir, &["recv", &url, "again.arrows"]);
    assert_eq!(decode(&dir.join("again.arrows")), expected);
    assert!(server.is_running());
}

#[test]
fn a_tcp_client_that_never_reads_does_not_stop_the_others() {
    a_client_that_never_reads("never-reads-tcp", "tcp://127.0.0.1:0");
}

#[test]
fn a_websocket_client_that_never_reads_does_not_stop_the_others() {
    a_client_that_never_reads("never-reads-ws", "ws://127.0.0.1:0/t");
}

#[test]
fn serve_drops_a_client_that_takes_no_data_for_its_timeout() {
    let dir = test_dir("serve-timeout");
    run_ok(&dir, &["example", "big.arrows", "--rows", "300000"]);
    let expected = decode(&dir.join("big.arrows"));
    let mut server =
        Server::start_with(&dir, "tcp://127.0.0.1:0", "big.arrows", &["--timeout", "1"]);
    let baseline = server.open_fds();
    let stalled = stalled_client(&server.url, &server.addr());
    // serve gives up on it after a second without progress, says so in one
    // line, and closes its socket.
    let line = server.proc.wait_for_line("failed", Duration::from_secs(20));
    // A message not all taken within the second, plus what the bytes the
    // socket buffers took earn at the default --min-rate: "took no data for
    // 1 s" or "took N of M bytes for 1.5 s".
    assert!(
        line.contains(" took ") && line.contains(" s while writing table"),
        "{line}"
    );
    eventually("the stalled client's socket is closed", TIMEOUT, || {
        server.open_fds() <= baseline
    });
    drop(stalled);
    run_ok(&dir, &["recv", &server.url, "after.arrows"]);
    assert_eq!(decode(&dir.join("after.arrows")), expected);
}

#[test]
fn recv_with_a_timeout_ends_when_the_peer_goes_quiet_mid_message() {
    use std::io::Write;
    let dir = test_dir("recv-timeout");
    run_ok(&dir, &["example", "small.arrows", "--rows", "1000"]);
    let bytes = fs::read(dir.join("small.arrows")).expect("read stream");
    // Everything but the end of the last record batch, then silence.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (quiet_tx, quiet_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(&bytes[..bytes.len() - 100]).expect("write");
        // Holds the connection open until the test ends.
        let _ = quiet_rx.recv_timeout(TIMEOUT);
    });
    let started = Instant::now();
    let out = lightstream_in(
        &dir,
        &[
            "recv",
            &format!("tcp://{addr}"),
            "out.arrows",
            "--timeout",
            "0.5",
        ],
    )
    .output()
    .expect("run recv");
    let elapsed = started.elapsed();
    drop(quiet_tx);
    peer.join().expect("peer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no data from tcp") && stderr.contains("for 500 ms while reading"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // Bounded: far less than the 60 s a hung reader would be killed at.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(
        !dir.join("out.arrows").exists(),
        "a partial output was left behind"
    );
}

// ------------------------------------------------------- hostile pacing

/// The first IPC message (the schema) of a generated stream, and the rest.
fn schema_then_rest(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    run_ok(dir, &["example", "paced.arrows", "--rows", "2000"]);
    let bytes = fs::read(dir.join("paced.arrows")).expect("read stream");
    assert_eq!(&bytes[..4], &[0xff; 4], "continuation marker");
    let meta = u32::from_le_bytes(bytes[4..8].try_into().expect("length")) as usize;
    let (schema, rest) = bytes.split_at(8 + meta);
    (schema.to_vec(), rest.to_vec())
}

/// Runs `recv URL out.arrows --timeout 1` (bounded), returning its stderr
/// and how long it took; it must fail.
fn recv_fails_in_time(dir: &Path, url: &str) -> (String, Duration) {
    let started = Instant::now();
    let out = lightstream_in(dir, &["recv", url, "out.arrows", "--timeout", "1"])
        .output()
        .expect("run recv");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    (stderr, elapsed)
}

/// A server that sends the schema, then drips the stream one byte every
/// 100 ms, never completes a message: `recv --timeout 1` ends after about a
/// second (the drip is far under the default --min-rate), where a timer
/// restarted by every byte would wait forever.
#[test]
fn a_byte_drip_does_not_hold_recv_open() {
    use std::io::Write;
    let dir = test_dir("drip-tcp");
    let (schema, rest) = schema_then_rest(&dir);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(&schema).expect("schema");
        // At most 20 s of dripping, or until the test is done.
        for b in rest.iter().take(200) {
            if s.write_all(&[*b]).is_err()
                || stop_rx.recv_timeout(Duration::from_millis(100)).is_ok()
            {
                break;
            }
        }
    });
    let (stderr, elapsed) = recv_fails_in_time(&dir, &format!("tcp://{addr}"));
    drop(stop_tx);
    peer.join().expect("peer");
    assert!(
        stderr.contains("no complete IPC message from tcp")
            && stderr.contains("under the minimum rate of 16384 bytes/s"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

/// A WebSocket server that sends the schema, then only pings (every 300 ms),
/// or one data frame dripped a byte at a time: neither is a message, so
/// `recv --timeout 1` ends after about a second, with a message that says so
/// (it does not claim that no data came).
#[test]
fn pings_and_dripped_frames_do_not_hold_a_websocket_recv_open() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = test_dir("drip-ws");
    let (schema, _) = schema_then_rest(&dir);
    for drip in [false, true] {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let schema = schema.clone();
        let peer = rt.spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_hdr_async(
                tcp,
                lightstream::websocket::answer_subprotocol,
            )
            .await
            .expect("handshake");
            ws.send(Message::binary(schema)).await.expect("schema");
            if drip {
                // A binary frame declaring 1,000 bytes, sent a byte at a time.
                let mut tcp = ws.into_inner();
                let _ = tcp.write_all(&[0x82, 126, 0x03, 0xe8]).await;
                for _ in 0..200 {
                    if tcp.write_all(&[0]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } else {
                for _ in 0..60 {
                    if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    while let Ok(Some(_)) =
                        tokio::time::timeout(Duration::from_millis(1), ws.next()).await
                    {
                    }
                }
            }
        });
        let (stderr, elapsed) = recv_fails_in_time(&dir, &format!("ws://{addr}/"));
        peer.abort();
        assert!(
            stderr.contains("no complete WebSocket message from ws"),
            "drip {drip}: {stderr}"
        );
        assert!(
            elapsed < Duration::from_secs(10),
            "drip {drip}: took {elapsed:?}"
        );
    }
}

/// A client that takes one byte every 100 ms does not hold `serve`: with
/// `--timeout 1` its first message that is not all taken in time drops it,
/// with one line saying how much it took.
#[test]
fn serve_drops_a_client_that_drains_a_byte_at_a_time() {
    let dir = test_dir("drain-drip");
    run_ok(&dir, &["example", "big.arrows", "--rows", "500000"]);
    let mut server =
        Server::start_with(&dir, "tcp://127.0.0.1:0", "big.arrows", &["--timeout", "1"]);
    let addr = server.url.trim_start_matches("tcp://").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    // Small receive buffer so the server's writes block early.
    let client = raw_client(addr, 1, Duration::from_millis(100), stop.clone());
    let line = server.proc.wait_for_line("failed", Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    assert!(line.contains("took") && line.contains("bytes"), "{line}");
    assert!(
        line.contains("(--timeout)") || line.contains("for 1"),
        "{line}"
    );
}

// ------------------------------------------------------------------ memory

/// Reads everything from a tcp:// server, `chunk` bytes at a time with
/// `pause` between reads, until the end or `stop`; returns the byte count.
fn raw_client(
    addr: String,
    chunk: usize,
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<u64> {
    thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut buf = vec![0u8; chunk];
        let mut total = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
        total
    })
}

struct MemReport {
    file_bytes: u64,
    idle: Mem,
    peak: Mem,
    fast_bytes: Vec<u64>,
    slow_bytes: u64,
}

/// `serve` of a generated `rows`-row stream (`ext`: "arrows" is read into the
/// heap, "arrow" is memory-mapped), one client reading 1 KiB every 10 ms and
/// `fast` clients reading as fast as they can, all at once.
fn measure(name: &str, rows: usize, ext: &str, fast: usize) -> MemReport {
    let dir = test_dir(name);
    let file = format!("data.{ext}");
    run_ok(&dir, &["example", &file, "--rows", &rows.to_string()]);
    let file_bytes = fs::metadata(dir.join(&file)).expect("size").len();
    let server = Server::start(&dir, "tcp://127.0.0.1:0", &file);
    let idle = mem_of(server.pid()).expect("status");
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = sampler(server.pid(), stop.clone());
    let addr = server.addr();
    let never = Arc::new(AtomicBool::new(false));
    let slow = raw_client(addr.clone(), 1024, Duration::from_millis(10), stop.clone());
    thread::sleep(Duration::from_millis(200));
    let fast: Vec<_> = (0..fast)
        .map(|_| raw_client(addr.clone(), 256 * 1024, Duration::ZERO, never.clone()))
        .collect();
    let fast_bytes: Vec<u64> = fast
        .into_iter()
        .map(|c| c.join().expect("fast client"))
        .collect();
    // The slow client is still reading: one more sample, then it goes.
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let peak = sampling.join().expect("sampler");
    let slow_bytes = slow.join().expect("slow client");
    drop(server);
    MemReport {
        file_bytes,
        idle,
        peak,
        fast_bytes,
        slow_bytes,
    }
}

fn print(r: &MemReport, label: &str) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let n = r.fast_bytes.len() as f64 + 1.0;
    eprintln!(
        "{label}: file {:.1} MiB; server idle RSS {:.1} MiB (anon {:.1}, file {:.1}); \
         peak with 1 slow + {} fast clients: VmHWM {:.1} MiB, RSS {:.1}, RssAnon {:.1}, \
         RssFile {:.1}; RssAnon growth per client {:.2} MiB; slow client read {} KiB",
        r.file_bytes as f64 / 1048576.0,
        mib(r.idle.rss),
        mib(r.idle.anon),
        mib(r.idle.file),
        r.fast_bytes.len(),
        mib(r.peak.hwm),
        mib(r.peak.rss),
        mib(r.peak.anon),
        mib(r.peak.file),
        mib(r.peak.anon.saturating_sub(r.idle.anon)) / n,
        r.slow_bytes / 1024,
    );
}

#[test]
fn a_slow_client_and_many_fast_ones_cost_the_server_little_memory() {
    // An 11 MB stream, read into the server's heap (the ignored measurement
    // below runs a release build at scale).
    let r = measure("mem-small", 200_000, "arrows", 8);
    print(&r, "small");
    // Every fast client got the whole stream (serve re-encodes the file, so
    // compare the clients with each other), the slow one a small part.
    let whole = r.fast_bytes[0];
    assert!(whole > r.file_bytes / 2, "{whole} of {}", r.file_bytes);
    for (i, b) in r.fast_bytes.iter().enumerate() {
        assert_eq!(*b, whole, "fast client {i} got the whole stream");
    }
    assert!(r.slow_bytes < whole, "the slow client is still reading");
    // The server holds the file once; the clients add little on top.
    let growth = r.peak.anon.saturating_sub(r.idle.anon) * 1024;
    assert!(
        growth < 64 << 20,
        "the server's anonymous memory grew by {growth} bytes for 9 clients"
    );
}

/// The measurement for the report: a large file, many fast clients.
#[test]
#[ignore = "a measurement (a few GB of loopback traffic): cargo test --release -p lightstream-cli --test faults -- --ignored --nocapture"]
fn peak_server_memory_with_a_slow_client_and_many_fast_ones() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rows = env("LIGHTSTREAM_MEM_ROWS", 4_000_000);
    let clients = env("LIGHTSTREAM_MEM_CLIENTS", 30);
    for ext in ["arrows", "arrow"] {
        let r = measure(&format!("mem-{ext}"), rows, ext, clients);
        print(&r, &format!("{rows} rows as .{ext}"));
        for b in &r.fast_bytes {
            assert_eq!(*b, r.fast_bytes[0]);
        }
    }
}
