//! Memory of Arrow Flight (`grpc://`) under a slow peer: the standard
//! "memory stays bounded when a peer is slow", measured as anonymous RSS
//! (`RssAnon` in /proc/PID/status; the served file is memory-mapped, so its
//! pages are `RssFile`).
//!
//! - DoGet: `serve grpc://` of an IPC file of large batches (pyarrow writes
//!   them whole; our server cuts each into FlightData of about 2 MiB from the
//!   mapped buffers, `IpcStreamEncoder::encode_rows`) to a pyarrow.flight
//!   client that reads one batch and sleeps (tests/python/flight_slow.py
//!   `get`), then hangs up having read a small part of the file.
//! - DoPut: `send grpc://` of the same file to a pyarrow.flight server whose
//!   DoPut reads one batch and sleeps (`flight_slow.py serve-put`) until the
//!   stream ends.
//!
//! Either way our process must hold the flow-control windows and a message
//! or two, never the part of the file the peer has not taken: the bound
//! ([`bound_kib`]) is derived from the FlightData size, not from time.
//! The default file is 30 MB; `LIGHTSTREAM_FLIGHT_MEMORY_MB=300` (for
//! example) runs the same at that size (a release build is advised). The
//! figures go to stderr (`--nocapture`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Mem, Proc, mem_of, sampler, test_dir};
use lightstream_tests::interop::{python_dir, require_pyarrow};
use serde_json::Value;

/// Rows of one batch in the generated file: 24 bytes a row, 6 MB a batch, so
/// each is cut into 3 to 4 FlightData at the 2 MiB default.
const BATCH_ROWS: u64 = 250_000;

/// Growth of RssAnon allowed, in KiB: what flow control lets be in flight on
/// one call (h2's 4 MiB stream and 8 MiB connection windows, which bound what
/// either side sends unread) plus two FlightData of 2 MiB (the one being
/// sent and the next being encoded), nothing that grows with the file.
fn bound_kib() -> u64 {
    (8 << 10) + 2 * (2 << 10)
}

/// RssAnon of a CLI process at rest (`serve` idles at about 2 MiB), in KiB.
const PROCESS_KIB: u64 = 4 << 10;

/// The size of the file, in MB (`LIGHTSTREAM_FLIGHT_MEMORY_MB`, default 30).
fn file_mb() -> u64 {
    std::env::var("LIGHTSTREAM_FLIGHT_MEMORY_MB")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30)
}

/// `flight_slow.py ARGS`, with stdout piped.
fn slow_peer(args: &[&str]) -> Command {
    require_pyarrow();
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(python_dir().join("flight_slow.py"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// The generated file `big.arrow` in `dir`; its size in bytes.
fn generate(dir: &Path) -> u64 {
    let rows = file_mb() * 1_000_000 / 24;
    let file = dir.join("big.arrow");
    let out = slow_peer(&[
        "generate",
        file.to_str().expect("UTF-8 path"),
        &rows.to_string(),
        &BATCH_ROWS.to_string(),
    ])
    .output()
    .expect("python3 flight_slow.py generate");
    assert!(out.status.success(), "generate: {out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc["bytes"].as_u64().expect("bytes")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples `pid` while `f` runs; the peaks.
fn peak_while<T>(pid: u32, f: impl FnOnce() -> T) -> (T, Mem) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = sampler(pid, stop.clone());
    let out = f();
    stop.store(true, Ordering::Relaxed);
    (out, sampling.join().expect("sampler"))
}

#[test]
fn a_slow_do_get_client_keeps_the_servers_memory_bounded() {
    let dir = test_dir("lightstream-flight", "slow-get");
    let size = generate(&dir);
    let mut serve = Proc::spawn(&dir, &["serve", "grpc://127.0.0.1:0", "big.arrow"]);
    let url = serve.url();
    let pid = serve.child.id();
    let idle = mem_of(pid).expect("status");
    // 6 FlightData of about 2 MiB, 0.1 s apart: 12 MiB read of the file.
    let (out, peak) = peak_while(pid, || {
        slow_peer(&["get", &url, "big.arrow", "0.1", "6"])
            .output()
            .expect("python3 flight_slow.py get")
    });
    assert!(out.status.success(), "get: {out:?}");
    let got: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let read = got["bytes"].as_u64().expect("bytes");
    let growth = peak.anon.saturating_sub(idle.anon);
    eprintln!(
        "DoGet, slow client: file {:.1} MiB, client read {:.1} MiB in {} batches; server \
         RssAnon idle {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB (bound {:.1} MiB); RssFile \
         peak {:.1} MiB",
        size as f64 / 1048576.0,
        read as f64 / 1048576.0,
        got["batches"],
        mib(idle.anon),
        mib(peak.anon),
        mib(growth),
        mib(bound_kib()),
        mib(peak.file),
    );
    assert_eq!(got["batches"], 6, "{got}");
    assert!(read < size / 2, "the client read {read} of {size} bytes");
    assert!(growth < bound_kib(), "RssAnon grew {growth} KiB");
    // The server goes on serving after the client hung up.
    assert!(serve.is_running(), "{}", serve.collect_stderr());
    drop(serve.kill());
}

#[test]
fn a_slow_do_put_server_keeps_the_senders_memory_bounded() {
    let dir = test_dir("lightstream-flight", "slow-put");
    let size = generate(&dir);
    let mut server = slow_peer(&["serve-put", "0.05"])
        .spawn()
        .expect("python3 flight_slow.py serve-put");
    let mut lines = std::io::BufReader::new(server.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut lines, &mut line).expect("the port line");
    let port: Value = serde_json::from_str(&line).expect("JSON");
    let url = format!("grpc://127.0.0.1:{}", port["port"]);
    let mut send = Proc::spawn(&dir, &["send", &url, "big.arrow", "--path", "big"]);
    let pid = send.child.id();
    let (status, peak) = peak_while(pid, || send.exit(Duration::from_secs(120)));
    assert!(status.success(), "send: {}", send.collect_stderr());
    line.clear();
    std::io::BufRead::read_line(&mut lines, &mut line).expect("the result line");
    let got: Value = serde_json::from_str(&line).expect("JSON");
    let _ = server.wait();
    // The sender starts with nothing to measure from: its whole RssAnon
    // counts, with room for the process itself.
    let bound = bound_kib() + PROCESS_KIB;
    eprintln!(
        "DoPut, slow server: file {:.1} MiB, server took {} FlightData ({} rows); sender \
         RssAnon peak {:.1} MiB (bound {:.1} MiB)",
        size as f64 / 1048576.0,
        got["batches"],
        got["rows"],
        mib(peak.anon),
        mib(bound),
    );
    assert_eq!(
        got["rows"].as_u64(),
        Some(file_mb() * 1_000_000 / 24),
        "{got}"
    );
    assert!(peak.anon < bound, "RssAnon reached {} KiB", peak.anon);
}
