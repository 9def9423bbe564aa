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
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

mod common;
use common::Proc;
use lightstream_tests::raw_ws::blocking::{raw_ws_server, send_hostile};
use lightstream_tests::raw_ws::{HUGE_FRAME_FROM_CLIENT, HUGE_FRAME_FROM_SERVER};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Growth of RssAnon allowed for one hostile connection, in KiB: twice the
/// default `max_eager_reserve`.
const ANON_BOUND_KIB: u64 = 2 * 64 * 1024;

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-ws-frames", name)
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

/// A running lightstream process (`limited`), its stderr read line by line
/// and its RssAnon sampled every 5 ms; killed on drop.
struct Sampled {
    proc: Proc,
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

impl Sampled {
    fn spawn(dir: &Path, args: &[&str]) -> Sampled {
        let proc = Proc::start(limited(dir, args), true);
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, halt) = (proc.child.id(), stop.clone());
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
        Sampled {
            proc,
            stop,
            peak_anon: Some(peak_anon),
            baseline_anon: 0,
        }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    #[track_caller]
    fn line_with(&mut self, needle: &str) -> String {
        self.proc.wait_for_line(needle, TIMEOUT)
    }

    /// The URL of its `listening on` line; RssAnon from then on is the baseline.
    fn listening(&mut self) -> String {
        let url = self.proc.url();
        self.baseline_anon = anon_kib(self.proc.child.id()).expect("RssAnon");
        url
    }

    fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// Waits (bounded) for the exit.
    fn exit(&mut self) -> ExitStatus {
        self.proc.exit(TIMEOUT)
    }

    /// How far RssAnon rose above the baseline, in KiB (sampling stops).
    fn anon_growth(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.peak_anon.take().map_or(0, |h| h.join().unwrap_or(0));
        peak.saturating_sub(self.baseline_anon)
    }
}

impl Drop for Sampled {
    fn drop(&mut self) {
        // The process itself is killed by `Proc`'s drop.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// host:port of a ws:// or http:// URL.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().expect("authority").to_string()
}

/// Completes a client handshake with `addr` by hand and sends the header;
/// then reads (and drops) whatever comes back until the server closes.
fn hostile_client(addr: &str, path: &str, data: bool) -> JoinHandle<()> {
    let (mut s, head) = common::upgrade_and_hold(addr, path, TIMEOUT);
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
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
fn assert_bounded(p: &mut Sampled, what: &str) {
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
        let mut serve = Sampled::spawn(&dir, &["serve", "ws://127.0.0.1:0/t", "data.arrows"]);
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
        let mut demo = Sampled::spawn(
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
        let mut listen = Sampled::spawn(&dir, &["listen", "ws://127.0.0.1:0/t", "got.arrows"]);
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
            let mut s = raw_ws_server(&l, TIMEOUT);
            send_hostile(&mut s, &HUGE_FRAME_FROM_SERVER, data);
            // Hold the connection until the client goes.
            let mut buf = [0u8; 4096];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        });
        let mut recv = Sampled::spawn(&dir, &["recv", &format!("ws://{addr}/t"), "got.arrows"]);
        let status = recv.exit();
        assert_eq!(status.code(), Some(1), "an error, not an abort: {status}");
        let line = recv.line_with("too large");
        assert!(line.contains("max_eager_reserve"), "{line}");
        let _ = server.join();
    }
}
