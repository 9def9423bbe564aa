//! A WebSocket frame header that declares 2 GiB (issue 14, item 1), against
//! every WebSocket endpoint of the real binary, over loopback only: `serve
//! ws://`, `demo` (clients that send it after the handshake), `listen ws://`
//! (the one client sends it) and `recv ws://` (a raw server here sends it).
//!
//! Each process runs under `ulimit -v 1500000` (1.5 GB of address space: a
//! 2 GiB reservation aborts it), its anonymous memory (RssAnon) is sampled,
//! and the header is sent alone and followed by 4 MiB of data. Pass: no
//! abort, one clear line on stderr, RssAnon grows by less than twice the
//! default `max_eager_reserve` (64 MiB), and the servers keep serving.
//!
//! Every wait is bounded, and processes are killed when a test ends.

#![cfg(target_os = "linux")]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod common;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A masked binary frame header declaring 2^31 bytes (a client's).
const HUGE_FRAME_FROM_CLIENT: [u8; 14] = [0x82, 0xFF, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
/// The same from a server (servers do not mask).
const HUGE_FRAME_FROM_SERVER: [u8; 10] = [0x82, 0x7F, 0, 0, 0, 0, 0x80, 0, 0, 0];
/// Data sent after the header.
const TRAILING_DATA: usize = 4 << 20;
/// Growth of RssAnon allowed for one hostile connection, in KiB: twice the
/// default `max_eager_reserve`.
const ANON_BOUND_KIB: u64 = 2 * 64 * 1024;

fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lightstream-ws-frames")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test directory");
    dir
}

/// `lightstream args` under `ulimit -v 1500000` (bash execs the binary, so
/// the child's pid is lightstream's).
fn limited(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("ulimit -v 1500000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_lightstream"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A running lightstream process, its stderr read line by line and its
/// RssAnon sampled every 5 ms; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stop: Arc<AtomicBool>,
    peak_anon: Option<JoinHandle<u64>>,
    baseline_anon: u64,
}

fn anon_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Proc {
    fn spawn(dir: &Path, args: &[&str]) -> Proc {
        let mut child = limited(dir, args).spawn().expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, halt) = (child.id(), stop.clone());
        let peak_anon = thread::spawn(move || {
            let mut peak = 0;
            while !halt.load(Ordering::Relaxed) {
                match anon_kib(pid) {
                    Some(kib) => peak = peak.max(kib),
                    None => break,
                }
                thread::sleep(Duration::from_millis(5));
            }
            peak
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
            stop,
            peak_anon: Some(peak_anon),
            baseline_anon: 0,
        }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    #[track_caller]
    fn line_with(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {TIMEOUT:?}: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// The URL of its `listening on` line; RssAnon from then on is the baseline.
    fn listening(&mut self) -> String {
        let line = self.line_with("listening on ");
        let url = line.trim_start_matches("listening on ").to_string();
        self.baseline_anon = anon_kib(self.child.id()).expect("RssAnon");
        url
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the exit.
    fn exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < TIMEOUT, "no exit within {TIMEOUT:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// How far RssAnon rose above the baseline, in KiB (sampling stops).
    fn anon_growth(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.peak_anon.take().map_or(0, |h| h.join().unwrap_or(0));
        peak.saturating_sub(self.baseline_anon)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// host:port of a ws:// or http:// URL.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().expect("authority").to_string()
}

/// Sends the header, and with `data` 4 MiB more, ignoring write errors (the
/// other side may close first).
fn send_hostile(s: &mut TcpStream, header: &[u8], data: bool) {
    let _ = s.write_all(header);
    if data {
        let chunk = vec![0u8; 64 << 10];
        for _ in 0..TRAILING_DATA / chunk.len() {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    }
}

/// Completes a client handshake with `addr` by hand and sends the header;
/// then reads (and drops) whatever comes back until the server closes.
fn hostile_client(addr: &str, path: &str, data: bool) -> JoinHandle<()> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).expect("request");
    let head = common::read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut reader = s.try_clone().expect("clone");
    let drain = thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    send_hostile(&mut s, &HUGE_FRAME_FROM_CLIENT, data);
    drain
}

#[track_caller]
fn assert_bounded(p: &mut Proc, what: &str) {
    let grown = p.anon_growth();
    eprintln!("{what}: RssAnon grew {grown} KiB");
    assert!(grown < ANON_BOUND_KIB, "{what}: RssAnon grew {grown} KiB");
}

/// `lightstream example` into `dir/data.arrows`.
fn example(dir: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_lightstream"))
        .args(["example", "data.arrows", "--rows", "1000"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("example");
    assert!(status.success());
}

#[test]
fn serve_drops_a_client_that_declares_a_2_gib_frame() {
    let dir = test_dir("serve");
    example(&dir);
    for data in [false, true] {
        let mut serve = Proc::spawn(&dir, &["serve", "ws://127.0.0.1:0/t", "data.arrows"]);
        let addr = authority(&serve.listening());
        let drain = hostile_client(&addr, "/t", data);
        let line = serve.line_with("failed");
        assert!(line.contains("only writes"), "{line}");
        let _ = drain.join();
        assert!(serve.is_running(), "serve survives");
        assert_bounded(&mut serve, &format!("serve, data {data}"));
        // And it still serves a healthy client.
        let got = dir.join("got.arrows");
        let status = Command::new(env!("CARGO_BIN_EXE_lightstream"))
            .args(["recv", &format!("ws://{addr}/t"), "got.arrows"])
            .current_dir(&dir)
            .stderr(Stdio::null())
            .status()
            .expect("recv");
        assert!(status.success());
        assert_eq!(
            fs::read(&got).expect("got").len(),
            fs::read(dir.join("data.arrows")).expect("data").len()
        );
    }
}

#[test]
fn demo_drops_a_client_that_declares_a_2_gib_frame() {
    let dir = test_dir("demo");
    let npm = dir.join("npm");
    fs::create_dir_all(npm.join("pkg")).expect("mkdir");
    fs::write(npm.join("index.js"), "export const x = 1;\n").expect("write");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    for data in [false, true] {
        let mut demo = Proc::spawn(
            &dir,
            &[
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--web",
                web.to_str().expect("path"),
                "--npm",
                npm.to_str().expect("path"),
                "--interval-ms",
                "50",
            ],
        );
        let addr = authority(&demo.listening());
        let drain = hostile_client(&addr, "/ws", data);
        let line = demo.line_with("failed");
        assert!(line.contains("only writes"), "{line}");
        let _ = drain.join();
        assert!(demo.is_running(), "demo survives");
        assert_bounded(&mut demo, &format!("demo, data {data}"));
    }
}

#[test]
fn listen_refuses_a_client_that_declares_a_2_gib_frame() {
    let dir = test_dir("listen");
    for data in [false, true] {
        let mut listen = Proc::spawn(&dir, &["listen", "ws://127.0.0.1:0/t", "got.arrows"]);
        let addr = authority(&listen.listening());
        let drain = hostile_client(&addr, "/t", data);
        let status = listen.exit();
        let _ = drain.join();
        assert_eq!(status.code(), Some(1), "an error, not an abort: {status}");
        let line = listen.line_with("too large");
        assert!(line.contains("max_eager_reserve"), "{line}");
        assert_bounded(&mut listen, &format!("listen, data {data}"));
    }
}

#[test]
fn recv_refuses_a_server_that_declares_a_2_gib_frame() {
    let dir = test_dir("recv");
    for data in [false, true] {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            let head = common::read_head(&mut s);
            let key = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| value.trim().to_string())
                })
                .expect("key");
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            s.write_all(response.as_bytes()).expect("response");
            send_hostile(&mut s, &HUGE_FRAME_FROM_SERVER, data);
            // Hold the connection until the client goes.
            let mut buf = [0u8; 4096];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        });
        let mut recv = Proc::spawn(&dir, &["recv", &format!("ws://{addr}/t"), "got.arrows"]);
        let status = recv.exit();
        assert_eq!(status.code(), Some(1), "an error, not an abort: {status}");
        let line = recv.line_with("too large");
        assert!(line.contains("max_eager_reserve"), "{line}");
        let _ = server.join();
    }
}
