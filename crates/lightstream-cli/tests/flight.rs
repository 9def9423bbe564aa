//! End-to-end tests of Arrow Flight (`grpc://`) in the network commands, against
//! pyarrow.flight peers nobody here wrote: `tests/python/flight_server.py` (a
//! `FlightServerBase` serving fixture tables: every supported type with nulls,
//! dictionary replacements and deltas, zstd and lz4 bodies, a 2M-row batch, a
//! slow stream; it stores what DoPut sends) and `tests/python/flight_client.py`
//! (pyarrow's client: DoGet with `validate(full=True)`, DoPut, ListFlights,
//! GetFlightInfo, GetSchema). Values are compared through the expectation JSON
//! of `tests/python/ipc_expect.py`.
//!
//! python3 with pyarrow is required (a missing one fails the test, saying how to
//! install it). Loopback only; every process is bounded by a timeout and killed
//! when a test fails.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{Output, Proc, test_dir};
use lightstream_core::minarrow::{Array, NumericArray, Table};
use lightstream_core::{ReadOptions, Schema, aligned_copy, read_file, read_stream};
use lightstream_tests::interop::{
    diff_against_doc, diff_docs, python_dir, read_json, require_pyarrow,
};
use serde_json::Value;

/// The longest any one process may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The fixtures of flight_server.py that have an expectation file.
const FIXTURES: [&str; 12] = [
    "all_types.none",
    "all_types.zstd",
    "all_types.lz4",
    "dict_replacement.none",
    "dict_replacement.zstd",
    "dict_replacement.lz4",
    "dict_delta.none",
    "dict_delta.zstd",
    "dict_delta.lz4",
    "dict_delta_then_replace.none",
    "empty",
    "app_metadata",
];

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Proc::spawn(dir, args).wait(TIMEOUT)
}

/// A running `tests/python/flight_server.py`; killed on drop.
struct PyServer {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl PyServer {
    /// Starts the server (writing the fixtures' expectations into `expect`),
    /// with `extra` arguments (`--tls CERT KEY`).
    fn start(expect: &Path, extra: &[&str]) -> PyServer {
        require_pyarrow();
        let mut child = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(python_dir().join("flight_server.py"))
            .args(["--expect-dir", path(expect)])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 flight_server.py");
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(TIMEOUT)
            .expect("flight_server.py prints its port");
        let port = first.trim().parse().expect("a port on the first line");
        PyServer { child, lines, port }
    }

    fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// The next JSON line (a DoPut report).
    fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(TIMEOUT)
            .expect("flight_server.py reports the DoPut");
        serde_json::from_str(&line).expect("a JSON line")
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `flight_client.py [--tls-root CA] URL args...`.
fn py_client_run(url: &str, ca: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(python_dir().join("flight_client.py"));
    if let Some(ca) = ca {
        cmd.args(["--tls-root", path(ca)]);
    }
    cmd.arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 flight_client.py")
}

/// `flight_client.py [--tls-root CA] URL args...`: its stdout as JSON.
fn py_client(url: &str, ca: Option<&Path>, args: &[&str]) -> Value {
    let out = py_client_run(url, ca, args);
    assert!(
        out.status.success(),
        "flight_client.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("flight_client.py prints JSON")
}

/// `flight_client.py URL args...` when the server refuses the call: pyarrow's
/// one-line error.
#[track_caller]
fn py_client_refused(url: &str, args: &[&str]) -> String {
    let out = py_client_run(url, None, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    stderr
}

/// The schema and tables of an IPC stream or file.
fn decode_any(file: &Path) -> (Arc<Schema>, Vec<Table>) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let bytes = aligned_copy(&bytes);
    let result = if bytes.as_slice().starts_with(b"ARROW1") {
        read_file(bytes, ReadOptions::default())
    } else {
        read_stream(bytes, ReadOptions::default())
    };
    result.unwrap_or_else(|e| panic!("decode {}: {e}", file.display()))
}

/// Fails with every difference between `file`'s tables and the expectation `doc`.
#[track_caller]
fn assert_file_matches(label: &str, file: &Path, doc: &Value) {
    let (schema, tables) = decode_any(file);
    let diffs = diff_against_doc(label, doc, &schema, &tables);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

fn pki(dir: &Path) -> lightstream_tests::pki::Pki {
    lightstream_tests::pki::pki(
        dir,
        "lightstream Flight test CA",
        &["localhost", "127.0.0.1"],
    )
}

#[test]
fn recv_reads_every_pyarrow_fixture_as_pyarrow_wrote_it() {
    let dir = test_dir("lightstream-flight", "recv-fixtures");
    let server = PyServer::start(&dir, &[]);
    let url = server.url();
    for ticket in FIXTURES {
        let doc = read_json(&dir.join(format!("{ticket}.json")));
        // Copied message by message (an IPC stream with every column)...
        let out = dir.join(format!("{ticket}.arrows"));
        run(&dir, &["recv", &url, path(&out), "--ticket", ticket]).assert_success();
        assert_file_matches(ticket, &out, &doc);
        // ...and decoded into tables (an IPC file: one dictionary per column,
        // so only the resolved values compare).
        let out = dir.join(format!("{ticket}.arrow"));
        run(&dir, &["recv", &url, path(&out), "--ticket", ticket]).assert_success();
        let mut values = doc.clone();
        values["check_dictionaries"] = false.into();
        assert_file_matches(ticket, &out, &values);
    }
    // The ticket as hex bytes names the same flight.
    let hex: String = b"dict_delta.zstd"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = dir.join("hex.arrows");
    run(&dir, &["recv", &url, path(&out), "--ticket-hex", &hex]).assert_success();
    assert_file_matches("hex", &out, &read_json(&dir.join("dict_delta.zstd.json")));
}

#[test]
fn recv_reads_a_single_flight_data_over_4_mib() {
    // pyarrow sends its 2M-row batch as one 32 MB FlightData (it never splits).
    let dir = test_dir("lightstream-flight", "recv-big");
    let server = PyServer::start(&dir, &[]);
    let out = dir.join("big.arrows");
    run(
        &dir,
        &["recv", &server.url(), path(&out), "--ticket", "big"],
    )
    .assert_success();
    let (_, tables) = decode_any(&out);
    assert_eq!(tables.len(), 1);
    let t = &tables[0];
    assert_eq!(t.n_rows, 2_000_000);
    let Array::NumericArray(NumericArray::Int64(ids)) = &t.cols[0].array else {
        panic!("id is not int64: {:?}", t.cols[0].field);
    };
    let Array::NumericArray(NumericArray::Float64(xs)) = &t.cols[1].array else {
        panic!("x is not float64: {:?}", t.cols[1].field);
    };
    let ids = ids.data.as_slice();
    let xs = xs.data.as_slice();
    for i in (0..2_000_000).step_by(997).chain([1_999_999]) {
        assert_eq!(ids[i], i as i64, "id row {i}");
        assert_eq!(xs[i], i as f64 * 0.5, "x row {i}");
    }
}

#[test]
fn an_unknown_ticket_is_one_line_with_the_servers_not_found() {
    let dir = test_dir("lightstream-flight", "unknown-ticket");
    let server = PyServer::start(&dir, &[]);
    let out = run(
        &dir,
        &["recv", &server.url(), "x.arrows", "--ticket", "nope"],
    );
    let line = out.assert_one_line_error();
    assert!(line.contains("NOT_FOUND"), "{line}");
    assert!(line.contains("no such ticket"), "{line}");
    assert!(!line.contains("Traceback"), "{line}");
    assert!(!dir.join("x.arrows").exists(), "a partial output was left");
}

#[test]
fn a_server_killed_mid_stream_is_an_error_not_a_short_stream() {
    let dir = test_dir("lightstream-flight", "killed");
    let mut server = PyServer::start(&dir, &[]);
    // To stdout, counted as it comes (a file is renamed into place only at the end).
    let args = ["recv", &server.url(), "-", "--ticket", "slow"];
    let mut recv = Proc::start(common::lightstream_in(&dir, &args), false);
    let mut stdout = recv.child.stdout.take().expect("stdout pipe");
    let received = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let received = received.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                received.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    // Let some batches arrive (each 0.2 s apart), then kill the server.
    let deadline = Instant::now() + TIMEOUT;
    while received.lock().expect("lock").len() < 20_000 {
        assert!(Instant::now() < deadline, "no data from the slow ticket");
        thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    let status = recv.exit(TIMEOUT);
    let stderr = recv.collect_stderr();
    reader.join().expect("stdout reader");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("lightstream: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // What came out is not a whole stream: no end-of-stream marker.
    let bytes = received.lock().expect("lock").clone();
    assert!(bytes.len() >= 20_000);
    assert_ne!(
        bytes[bytes.len() - 8..],
        [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
        "{stderr}"
    );
}

#[test]
fn send_puts_a_file_that_pyarrow_stores_and_validates() {
    let dir = test_dir("lightstream-flight", "send");
    let server = PyServer::start(&dir, &[]);
    let url = server.url();
    // A stream with dictionary replacements from pyarrow, through our DoPut.
    run(
        &dir,
        &[
            "recv",
            &url,
            "rep.arrows",
            "--ticket",
            "dict_replacement.lz4",
        ],
    )
    .assert_success();
    run(&dir, &["send", &url, "rep.arrows", "--path", "up/rep"]).assert_success();
    let report = server.next_json();
    assert_eq!(report["put"], "up/rep");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["rows"], 16);
    let got = py_client(&url, None, &["get", "up/rep"]);
    let want = read_json(&dir.join("dict_replacement.lz4.json"));
    let diffs = diff_docs("up/rep", &want, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // The descriptor in the URL (a segment with an escaped `/` and a space).
    let put = format!("{url}/?path=up/in%2Furl%20x");
    run(&dir, &["send", &put, "rep.arrows"]).assert_success();
    let report = server.next_json();
    assert_eq!(report["put"], "up/in/url x", "{report}");
    assert_eq!(report["rows"], 16);
}

/// The files `serve` offers, written by pyarrow from what pyarrow's client
/// received, and their expectation documents: an IPC file with a footer, an
/// IPC stream with dictionary deltas.
fn served_files(dir: &Path, url: &str) -> Vec<(String, PathBuf, Value)> {
    let mut out = Vec::new();
    for (name, ticket) in [
        ("types.arrow", "all_types.zstd"),
        ("deltas.arrows", "dict_delta.none"),
    ] {
        let file = dir.join(name);
        let doc = py_client(url, None, &["get", ticket, path(&file)]);
        out.push((name.to_string(), file, doc));
    }
    out
}

#[test]
fn serve_offers_each_file_as_a_flight_pyarrow_lists_and_reads() {
    let dir = test_dir("lightstream-flight", "serve");
    let upstream = PyServer::start(&dir, &[]);
    let files = served_files(&dir, &upstream.url());
    let mut serve = Proc::spawn(
        &dir,
        &[
            "serve",
            "grpc://127.0.0.1:0",
            "types.arrow",
            "deltas.arrows",
        ],
    );
    let url = serve.url();
    assert!(url.starts_with("grpc://127.0.0.1:"), "{url}");

    let listed = py_client(&url, None, &["list"]);
    let listed = listed.as_array().expect("a list of flights");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (name, _, doc) in &files {
        let flight = listed
            .iter()
            .find(|f| f["path"] == serde_json::json!([name]))
            .unwrap_or_else(|| panic!("{name} not listed: {listed:?}"));
        assert_eq!(flight["endpoints"][0]["ticket"], name.as_str());
        assert_eq!(flight["schema"], doc["schema"], "{name}");
        let info = py_client(&url, None, &["info", name]);
        assert_eq!(&info, flight, "{name}");
        let schema = py_client(&url, None, &["schema", name]);
        assert_eq!(schema["schema"], doc["schema"], "{name}");
        // pyarrow validates every batch (`validate(full=True)`) as it reads.
        let got = py_client(&url, None, &["get", name]);
        let diffs = diff_docs(name, doc, &got);
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    }
    // serve loads every file before it listens: it knows every row count,
    // a stream's as well as an IPC file's.
    let rows = |name: &str| {
        listed
            .iter()
            .find(|f| f["path"][0] == name)
            .map(|f| (f["total_records"].clone(), f["total_bytes"].clone()))
    };
    assert_eq!(rows("types.arrow"), Some((176.into(), (-1).into())));
    assert_eq!(rows("deltas.arrows"), Some((14.into(), (-1).into())));
    // A ticket or a path it does not have is NOT_FOUND; a DoPut UNIMPLEMENTED.
    let refused = py_client_refused(&url, &["get", "nope.arrow"]);
    assert!(refused.contains("no flight with ticket"), "{refused}");
    let refused = py_client_refused(&url, &["info", "nope.arrow"]);
    assert!(refused.contains("nope.arrow"), "{refused}");
    let refused = py_client_refused(&url, &["put", "x", path(&files[0].1)]);
    assert!(refused.contains("takes no DoPut"), "{refused}");
    // ...and the server goes on serving.
    let got = py_client(&url, None, &["get", "deltas.arrows"]);
    assert!(diff_docs("again", &files[1].2, &got).is_empty());
    drop(serve.kill());
}

#[test]
fn listen_takes_one_pyarrow_do_put() {
    let dir = test_dir("lightstream-flight", "listen");
    let upstream = PyServer::start(&dir, &[]);
    let files = served_files(&dir, &upstream.url());
    let (_, file, doc) = &files[1];
    let mut listen = Proc::spawn(&dir, &["listen", "grpc://127.0.0.1:0", "put.arrows"]);
    let url = listen.url();
    // A DoGet is not the one client: refused, and listen waits on.
    let refused = py_client_refused(&url, &["get", "x"]);
    assert!(refused.contains("takes one DoPut"), "{refused}");
    let answer = py_client(&url, None, &["put", "a/b", path(file)]);
    let diffs = diff_docs("sent", doc, &answer["sent"]);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let out = listen.wait(TIMEOUT);
    out.assert_exit_ok();
    assert_file_matches("put", &dir.join("put.arrows"), doc);
}

#[test]
fn relay_puts_a_flight_stream_on_a_websocket_and_http() {
    // The gateway: pyarrow.flight server -> relay grpc:// -> ws:// (or http://)
    // -> recv.
    let dir = test_dir("lightstream-flight", "relay");
    let server = PyServer::start(&dir, &[]);
    let doc = read_json(&dir.join("dict_delta_then_replace.none.json"));
    for listen in ["ws://127.0.0.1:0/", "http://127.0.0.1:0/t.arrows"] {
        let mut relay = Proc::spawn(
            &dir,
            &[
                "relay",
                &server.url(),
                "--ticket",
                "dict_delta_then_replace.none",
                listen,
                "--wait-for",
                "1",
            ],
        );
        let url = relay.url();
        run(&dir, &["recv", &url, "relayed.arrows"]).assert_success();
        relay.wait(TIMEOUT).assert_exit_ok();
        assert_file_matches(listen, &dir.join("relayed.arrows"), &doc);
    }
}

#[test]
fn a_live_feed_over_grpc_is_read_by_pyarrow() {
    // relay FILE grpc://: the hub's path (`serve grpc:// -` too); any DoGet joins.
    let dir = test_dir("lightstream-flight", "feed");
    let upstream = PyServer::start(&dir, &[]);
    let files = served_files(&dir, &upstream.url());
    let (_, file, doc) = &files[1];
    let mut relay = Proc::spawn(
        &dir,
        &["relay", path(file), "grpc://127.0.0.1:0", "--wait-for", "1"],
    );
    let url = relay.url();
    let got = py_client(&url, None, &["get", "anything"]);
    let diffs = diff_docs("feed", doc, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    relay.wait(TIMEOUT).assert_exit_ok();
}

#[test]
fn flight_over_tls_trusts_the_given_ca_both_ways() {
    let dir = test_dir("lightstream-flight", "tls");
    let pki = pki(&dir);
    // pyarrow's TLS server, our client.
    let server = PyServer::start(&dir, &["--tls", path(&pki.cert), path(&pki.key)]);
    let url = format!("grpc+tls://localhost:{}", server.port);
    run(
        &dir,
        &[
            "recv",
            &url,
            "t.arrows",
            "--ticket",
            "dict_delta.zstd",
            "--ca",
            path(&pki.ca),
        ],
    )
    .assert_success();
    let doc = read_json(&dir.join("dict_delta.zstd.json"));
    assert_file_matches("tls recv", &dir.join("t.arrows"), &doc);
    // Our TLS server, pyarrow's client trusting the CA.
    let mut serve = Proc::spawn(
        &dir,
        &[
            "serve",
            "grpc+tls://127.0.0.1:0",
            "t.arrows",
            "--cert",
            path(&pki.cert),
            "--key",
            path(&pki.key),
        ],
    );
    let served = serve.url().replace("127.0.0.1", "localhost");
    let got = py_client(&served, Some(&pki.ca), &["get", "t.arrows"]);
    let diffs = diff_docs("tls serve", &doc, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    drop(serve.kill());
}

#[test]
fn flight_flags_elsewhere_are_usage_errors() {
    let dir = test_dir("lightstream-flight", "usage");
    let out = run(
        &dir,
        &["recv", "tcp://127.0.0.1:1", "x.arrows", "--ticket", "t"],
    );
    assert!(out.assert_error(2).contains("--ticket"), "{}", out.stderr);
    let out = run(&dir, &["recv", "grpc://127.0.0.1:1", "x.arrows"]);
    assert!(out.assert_error(2).contains("--ticket"), "{}", out.stderr);
    let out = run(
        &dir,
        &["recv", "grpc://127.0.0.1:1", "x", "--ticket-hex", "zz"],
    );
    assert!(out.assert_error(2).contains("hex"), "{}", out.stderr);
}

#[test]
fn the_url_names_the_ticket_for_recv_and_relay() {
    // grpc://host:port/?ticket=T (percent-decoded) instead of --ticket.
    let dir = test_dir("lightstream-flight", "url-ticket");
    let server = PyServer::start(&dir, &[]);
    let doc = read_json(&dir.join("dict_delta.zstd.json"));
    let url = format!("{}/?ticket=dict%5Fdelta.zstd", server.url());
    let out = dir.join("url.arrows");
    run(&dir, &["recv", &url, path(&out)]).assert_success();
    assert_file_matches("url ticket", &out, &doc);
    // An unknown ticket in the URL: the server's NOT_FOUND, the server named
    // without the query.
    let nope = format!("{}/?ticket=nope", server.url());
    let out = run(&dir, &["recv", &nope, "x.arrows"]);
    let line = out.assert_one_line_error();
    assert!(line.contains("NOT_FOUND"), "{line}");
    assert!(line.contains("DoGet \"nope\""), "{line}");
    // Both the URL and --ticket: a usage error, nothing sent.
    let out = run(&dir, &["recv", &url, "x.arrows", "--ticket", "empty"]);
    assert!(
        out.assert_error(2).contains("names its flight"),
        "{}",
        out.stderr
    );
    // A bad escape names the part.
    let bad = format!("{}/?ticket=%zz", server.url());
    let out = run(&dir, &["recv", &bad, "x.arrows"]);
    assert!(
        out.stderr.contains("ticket has a bad percent escape"),
        "{}",
        out.stderr
    );
    // relay takes it too.
    let mut relay = Proc::spawn(
        &dir,
        &["relay", &url, "ws://127.0.0.1:0/", "--wait-for", "1"],
    );
    let ws = relay.url();
    run(&dir, &["recv", &ws, "relayed.arrows"]).assert_success();
    relay.wait(TIMEOUT).assert_exit_ok();
    assert_file_matches("relay url ticket", &dir.join("relayed.arrows"), &doc);
}

#[test]
fn recv_of_a_path_reads_every_endpoint_with_the_token() {
    // tests/python/flight_auth.py: two pyarrow servers, a flight whose second
    // endpoint is on the second server, every call needing `Bearer tok-1`.
    require_pyarrow();
    let dir = test_dir("lightstream-flight", "path-endpoints");
    let mut child = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(python_dir().join("flight_auth.py"))
        .args(["server", "--token", "tok-1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 flight_auth.py");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut port = String::new();
    stdout.read_line(&mut port).expect("a port");
    let server = PyServer {
        child,
        lines: mpsc::channel().1,
        port: port.trim().parse().expect("a port"),
    };
    let token = dir.join("token");
    std::fs::write(&token, "tok-1\n").unwrap();
    let url = format!("{}/?path=split", server.url());
    let out = dir.join("split.arrows");
    run(
        &dir,
        &["recv", &url, path(&out), "--token-file", path(&token)],
    )
    .assert_success();
    let (_, tables) = decode_any(&out);
    let ids: Vec<i64> = tables
        .iter()
        .flat_map(|t| match &t.cols[0].array {
            Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice().to_vec(),
            other => panic!("id: {other:?}"),
        })
        .collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    // Without the token: the server's UNAUTHENTICATED on one line.
    let out = run(&dir, &["recv", &url, "x.arrows"]);
    let line = out.assert_one_line_error();
    assert!(line.contains("UNAUTHENTICATED"), "{line}");
    // Schemas that disagree: an error after part1, no output left.
    let mismatch = format!("{}/?path=mismatch", server.url());
    let out = run(
        &dir,
        &["recv", &mismatch, "m.arrows", "--token-file", path(&token)],
    );
    let line = out.assert_one_line_error();
    assert!(line.contains("endpoint 2"), "{line}");
    assert!(!dir.join("m.arrows").exists(), "a partial output was left");
    // The gateway: the whole flight, with the upstream's token, to a WebSocket.
    let mut relay = Proc::spawn(
        &dir,
        &[
            "relay",
            &url,
            "--upstream-token-file",
            path(&token),
            "ws://127.0.0.1:0/",
            "--wait-for",
            "1",
        ],
    );
    let ws = relay.url();
    let relayed = dir.join("relayed.arrows");
    run(&dir, &["recv", &ws, path(&relayed)]).assert_success();
    relay.wait(TIMEOUT).assert_exit_ok();
    let (_, tables) = decode_any(&relayed);
    assert_eq!(tables.iter().map(|t| t.n_rows).sum::<usize>(), 5);
}

#[test]
fn serve_grpc_with_a_token_file_refuses_pyarrow_without_the_header() {
    require_pyarrow();
    let dir = test_dir("lightstream-flight", "serve-token");
    let upstream = PyServer::start(&dir, &[]);
    let files = served_files(&dir, &upstream.url());
    let (name, file, _) = &files[0];
    let token = dir.join("tokens");
    std::fs::write(&token, "# tokens\ntok-1\n").unwrap();
    let mut serve = Proc::spawn(
        &dir,
        &[
            "serve",
            "grpc://127.0.0.1:0",
            path(file),
            "--token-file",
            path(&token),
        ],
    );
    let url = serve.url();
    let client = |args: &[&str]| {
        let out = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(python_dir().join("flight_auth.py"))
            .args(["client", &url, name])
            .args(args)
            .output()
            .expect("python3 flight_auth.py client");
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (out.status.success(), json)
    };
    let (ok, got) = client(&[]);
    assert!(!ok);
    assert_eq!(got["error"], "FlightUnauthenticatedError", "{got}");
    let (ok, got) = client(&["--token", "tok-2"]);
    assert!(!ok && got["error"] == "FlightUnauthenticatedError", "{got}");
    let (ok, got) = client(&["--token", "tok-1"]);
    assert!(ok, "{got}");
    assert!(got["rows"].as_u64().unwrap() > 0, "{got}");
    // recv sends its --token-file on every call.
    let out = dir.join("got.arrows");
    run(
        &dir,
        &[
            "recv",
            &format!("{url}/?ticket={name}"),
            path(&out),
            "--token-file",
            path(&token),
        ],
    )
    .assert_success();
    drop(serve.kill());
}
