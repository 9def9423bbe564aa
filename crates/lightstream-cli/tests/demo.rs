//! End-to-end tests of `lightstream demo` against the real binary, over
//! loopback only: the static files it serves (types, lengths, refusals), the
//! request heads it refuses, and the WebSocket stream of generated tables.
//!
//! Every wait is bounded: sockets have read/write timeouts, processes are
//! killed by a guard when a test fails, and the port comes from the
//! `listening on http://...` line the demo prints after binding to port 0.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lightstream::minarrow::{Array, ArrowType, NumericArray, Table, TextArray, TimeUnit};
use lightstream::{ClientOptions, Endpoint, ReadOptions};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::Proc;

/// The longest any one wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of the dummy wasm module in the test's npm directory.
const WASM: &[u8] = b"\0asm\x01\0\0\0 not really a module";
/// The content of a file outside both roots, which no request may reveal.
const SECRET: &str = "TOP-SECRET-lightstream-demo-test";

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-demo", name)
}

/// The repository's demo page.
fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

/// A stand-in npm package (no wasm build needed), a secret file next to it,
/// and symbolic links that point out of the package.
fn fake_npm(dir: &Path) -> PathBuf {
    let npm = dir.join("npm");
    fs::create_dir_all(npm.join("pkg")).expect("mkdir");
    fs::write(npm.join("index.js"), "export const x = 1;\n").expect("write");
    fs::write(npm.join("index.d.ts"), "export const x: number;\n").expect("write");
    fs::write(npm.join("package.json"), "{\"name\":\"lightstream\"}\n").expect("write");
    fs::write(npm.join(".hidden"), SECRET).expect("write");
    fs::write(npm.join("pkg/lightstream_wasm_bg.wasm"), WASM).expect("write");
    fs::write(dir.join("secret.txt"), SECRET).expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("secret.txt"), npm.join("link.txt")).expect("symlink");
        std::os::unix::fs::symlink(dir, npm.join("pkg/up")).expect("symlink");
    }
    npm
}

/// A running `lightstream demo`, killed on drop.
struct Demo {
    proc: Proc,
    /// `127.0.0.1:PORT`
    addr: String,
}

impl Demo {
    fn start(dir: &Path, args: &[&str]) -> Demo {
        let mut all = vec!["demo", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut proc = Proc::spawn(dir, &all);
        let url = proc.url();
        let addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("not an http://HOST:PORT/ URL: {url}"))
            .to_string();
        Demo { proc, addr }
    }

    fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns its code and stderr.
    fn terminate(self) -> (Option<i32>, String) {
        self.proc.terminate(TIMEOUT)
    }

    fn kill(self) -> String {
        self.proc.kill()
    }
}

/// Every stderr line of the demo is a `lightstream: ` line, and nothing panicked.
#[track_caller]
fn assert_tidy(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("listening on ") || line.starts_with("lightstream: "),
            "{line:?} in {stderr}"
        );
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as is and reads the whole response (the server closes).
/// `None` when the connection failed or closed without a response.
fn exchange(addr: &str, request: &[u8]) -> Option<Response> {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    tcp.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    // A server that answers early may reset the rest of a long request.
    let _ = tcp.write_all(request);
    let mut bytes = Vec::new();
    let _ = tcp.take(16 << 20).read_to_end(&mut bytes);
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Option<Response> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).expect("UTF-8 head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next()?.parse().expect("status code");
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    Some(Response {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    })
}

fn get(addr: &str, target: &str) -> Response {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\n\r\n");
    exchange(addr, request.as_bytes()).unwrap_or_else(|| panic!("no response to GET {target}"))
}

#[track_caller]
fn assert_file(response: &Response, content_type: &str, body: &[u8]) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("Content-Type"), Some(content_type));
    let length = body.len().to_string();
    assert_eq!(response.header("Content-Length"), Some(length.as_str()));
    assert_eq!(response.header("Cache-Control"), Some("no-store"));
    assert_eq!(response.header("Connection"), Some("close"));
    assert_eq!(response.body, body);
}

#[test]
fn the_page_and_the_package_are_served_with_their_types() {
    let dir = test_dir("files");
    let npm = fake_npm(&dir);
    let web = web_dir();
    let demo = Demo::start(
        &dir,
        &[
            "--web",
            web.to_str().unwrap(),
            "--npm",
            npm.to_str().unwrap(),
        ],
    );
    let addr = demo.addr.clone();

    let page = fs::read(web.join("index.html")).expect("web/index.html");
    let html = "text/html; charset=utf-8";
    assert_file(&get(&addr, "/"), html, &page);
    assert_file(&get(&addr, "/?ws=ws://127.0.0.1:1/x"), html, &page);
    assert_file(&get(&addr, "/web/index.html"), html, &page);
    let text = String::from_utf8_lossy(&page);
    assert!(
        text.contains(r#"<link rel="icon" href="data:,">"#),
        "{text}"
    );
    assert!(text.contains("/web/demo.js"), "{text}");

    let js = "text/javascript; charset=utf-8";
    let demo_js = fs::read(web.join("demo.js")).expect("web/demo.js");
    assert!(String::from_utf8_lossy(&demo_js).contains("/npm/index.js"));
    assert_file(&get(&addr, "/web/demo.js"), js, &demo_js);
    let css = fs::read(web.join("style.css")).expect("web/style.css");
    assert_file(
        &get(&addr, "/web/style.css"),
        "text/css; charset=utf-8",
        &css,
    );

    assert_file(&get(&addr, "/npm/index.js"), js, b"export const x = 1;\n");
    assert_file(
        &get(&addr, "/npm/index.d.ts"),
        "text/plain; charset=utf-8",
        b"export const x: number;\n",
    );
    assert_file(
        &get(&addr, "/npm/package.json"),
        "application/json",
        b"{\"name\":\"lightstream\"}\n",
    );
    let wasm = "/npm/pkg/lightstream_wasm_bg.wasm";
    assert_file(&get(&addr, wasm), "application/wasm", WASM);
    // Percent-encoded letters are decoded.
    assert_file(
        &get(&addr, "/npm/pkg/lightstream%5Fwasm_bg.wasm"),
        "application/wasm",
        WASM,
    );

    // HEAD: the same headers, no body.
    let head = exchange(
        &addr,
        b"HEAD /npm/pkg/lightstream_wasm_bg.wasm HTTP/1.1\r\n\r\n",
    )
    .expect("a response to HEAD");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some("application/wasm"));
    let length = WASM.len().to_string();
    assert_eq!(head.header("Content-Length"), Some(length.as_str()));
    assert!(head.body.is_empty());

    // Other methods: 405 with Allow.
    let post = exchange(&addr, b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi").expect("405");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    assert_eq!(
        post.header("Content-Length"),
        Some(post.body.len().to_string().as_str())
    );

    for missing in ["/nope", "/npm/nope.js", "/web/", "/npm/pkg", "/favicon.ico"] {
        let r = get(&addr, missing);
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    }
    let stderr = demo.kill();
    assert_tidy(&stderr);
    assert!(
        !stderr.contains("failed"),
        "plain requests are no failures: {stderr}"
    );
}

#[test]
fn traversal_attempts_never_reach_files_outside_the_roots() {
    let dir = test_dir("traversal");
    let npm = fake_npm(&dir);
    let web = dir.join("web");
    fs::create_dir_all(&web).expect("mkdir");
    fs::write(web.join("index.html"), "<!doctype html><title>t</title>").expect("write");
    let demo = Demo::start(
        &dir,
        &[
            "--web",
            web.to_str().unwrap(),
            "--npm",
            npm.to_str().unwrap(),
        ],
    );
    let addr = demo.addr.clone();
    let repo_cargo_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let absolute = format!("/{}", repo_cargo_toml.display());
    let targets = [
        "/web/../secret.txt",
        "/npm/../secret.txt",
        "/npm/%2e%2e/secret.txt",
        "/npm/%2E%2E%2Fsecret.txt",
        "/npm/..%2fsecret.txt",
        "/npm/pkg/../../secret.txt",
        "/npm/pkg/%2e%2e/%2e%2e/secret.txt",
        "/web/..%5csecret.txt",
        "/web/..\\secret.txt",
        "/web/%00/../secret.txt",
        "/web/%2fsecret.txt",
        "//secret.txt",
        "/secret.txt",
        "/npm/.hidden",
        "/npm/%2ehidden",
        "/npm/link.txt",
        "/npm/pkg/up/secret.txt",
        "/web/../../../../../../etc/passwd",
        "/web/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        &absolute,
        "/web//etc/passwd",
        "http://127.0.0.1/secret.txt",
        "/web/%",
        "/web/%zz",
    ];
    for target in targets {
        let r = get(&addr, target);
        assert!(
            r.status == 400 || r.status == 404,
            "{target}: {} {}",
            r.status,
            r.text()
        );
        let body = r.text();
        assert!(!body.contains(SECRET), "{target} revealed the secret");
        assert!(!body.contains("[package]"), "{target} revealed Cargo.toml");
        assert!(!body.contains("root:"), "{target} revealed /etc/passwd");
        assert!(body.len() < 100, "{target}: a short body: {body}");
    }
    // `..` is a bad request outright, not a lookup.
    assert_eq!(get(&addr, "/web/../secret.txt").status, 400);
    assert_eq!(get(&addr, "/npm/%2e%2e/secret.txt").status, 400);
    // Symbolic links that lead out of a root are not followed.
    assert_eq!(get(&addr, "/npm/link.txt").status, 404);
    assert_eq!(get(&addr, "/npm/pkg/up/secret.txt").status, 404);
    // The server is still fine.
    assert_eq!(get(&addr, "/").status, 200);
    assert_tidy(&demo.kill());
}

#[test]
fn bad_and_oversized_request_heads_are_refused() {
    let dir = test_dir("heads");
    let npm = fake_npm(&dir);
    let web = web_dir();
    let mut demo = Demo::start(
        &dir,
        &[
            "--web",
            web.to_str().unwrap(),
            "--npm",
            npm.to_str().unwrap(),
        ],
    );
    let addr = demo.addr.clone();

    for bad in [
        &b"HELLO\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
        b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
    ] {
        let r = exchange(&addr, bad).expect("a response");
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(bad));
    }

    // A head over 16 KiB: 431 (or, if the client is still sending, a closed
    // connection), never a file.
    let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    if let Some(r) = exchange(&addr, &big) {
        assert_eq!(r.status, 431, "{}", r.text());
    }

    // A head that never ends: 408 after at most 5 s.
    let started = Instant::now();
    let r = exchange(&addr, b"GET / HTTP/1.1\r\nHost: x\r\n").expect("a response");
    assert_eq!(r.status, 408);
    assert!(started.elapsed() < Duration::from_secs(15));

    // A connection that sends nothing and leaves costs nothing.
    drop(TcpStream::connect(&addr).expect("connect"));

    assert_eq!(get(&addr, "/").status, 200, "still serving");
    assert!(demo.is_running());
    let stderr = demo.kill();
    assert_tidy(&stderr);
    // One line per refused client (and none for the silent one).
    let failures = stderr.lines().filter(|l| l.contains("failed")).count();
    assert_eq!(failures, 8, "{stderr}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `work` on `rt`, failing the test after `TIMEOUT`.
fn within<F: std::future::Future>(rt: &tokio::runtime::Runtime, work: F, what: &str) -> F::Output {
    rt.block_on(async { tokio::time::timeout(TIMEOUT, work).await })
        .unwrap_or_else(|_| panic!("not within {TIMEOUT:?}: {what}"))
}

fn int64s(table: &Table, col: usize) -> Vec<i64> {
    match &table.cols[col].array {
        Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice().to_vec(),
        other => panic!("column {col} is not Int64: {other:?}"),
    }
}

fn dictionary_len(table: &Table, col: usize) -> usize {
    match &table.cols[col].array {
        Array::TextArray(TextArray::Categorical32(a)) => a.unique_values.len(),
        Array::TextArray(TextArray::Categorical8(a)) => a.unique_values.len(),
        Array::TextArray(TextArray::Categorical16(a)) => a.unique_values.len(),
        other => panic!("column {col} is not a dictionary: {other:?}"),
    }
}

/// Connects like any client would and reads `n` tables (bounded).
async fn read_tables(addr: &str, n: usize) -> lightstream::Result<(Vec<Table>, Duration)> {
    let endpoint: Endpoint = format!("ws://{addr}/stream").parse()?;
    let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
    let mut reader = conn.reader(ReadOptions::default()).await?;
    let names: Vec<&str> = reader
        .schema()
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["seq", "time", "symbol", "price", "qty", "buy", "venue"]
    );
    let types: Vec<&ArrowType> = reader.schema().fields.iter().map(|f| &f.dtype).collect();
    assert_eq!(types[0], &ArrowType::Int64);
    assert_eq!(
        types[1],
        &ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".to_string()))
    );
    assert!(
        matches!(types[2], ArrowType::Dictionary(_)),
        "{:?}",
        types[2]
    );
    assert_eq!(types[3], &ArrowType::Float64);
    assert_eq!(types[4], &ArrowType::Int32);
    assert_eq!(types[5], &ArrowType::Boolean);
    assert_eq!(types[6], &ArrowType::String);
    assert!(reader.schema().fields[6].nullable);
    let started = Instant::now();
    let mut tables = Vec::new();
    while tables.len() < n {
        match reader.next().await {
            Some(table) => tables.push(table?),
            None => panic!("the stream ended after {} tables", tables.len()),
        }
    }
    // Dropping the reader mid-stream: this client just goes away.
    Ok((tables, started.elapsed()))
}

#[test]
fn websocket_clients_receive_an_endless_table_and_may_leave() {
    let dir = test_dir("ws");
    let npm = fake_npm(&dir);
    let web = web_dir();
    let mut demo = Demo::start(
        &dir,
        &[
            "--web",
            web.to_str().unwrap(),
            "--npm",
            npm.to_str().unwrap(),
            "--batch-rows",
            "100",
            "--interval-ms",
            "0",
        ],
    );
    let addr = demo.addr.clone();
    let rt = runtime();

    // As fast as the client reads: many tables, seq counting on across them,
    // and new symbols joining the dictionary (sent as deltas).
    let (tables, _) =
        within(&rt, read_tables(&addr, 120), "120 tables in time").expect("a good stream");
    let mut expected = 1;
    for table in &tables {
        assert_eq!(table.n_rows, 100);
        for seq in int64s(table, 0) {
            assert_eq!(seq, expected);
            expected += 1;
        }
    }
    let first = dictionary_len(&tables[0], 2);
    let last = dictionary_len(&tables[119], 2);
    assert_eq!(first, 12);
    assert!(last > first, "the dictionary grew: {first} -> {last}");

    // The first client left; another one joins the same feed mid-stream
    // (one feed: it does not start again), sequence numbers counting on.
    let (tables, _) =
        within(&rt, read_tables(&addr, 3), "3 tables in time").expect("a good stream");
    let seqs: Vec<i64> = tables.iter().flat_map(|t| int64s(t, 0)).collect();
    // It starts with the replay window: at most 5 tables (500 rows) from
    // before it joined, so past what the first client saw less those.
    assert!(seqs[0] > 12_000 - 500, "joined at {}", seqs[0]);
    assert_eq!((seqs[0] - 1) % 100, 0, "a whole table: {}", seqs[0]);
    assert_eq!(seqs, (seqs[0]..seqs[0] + 300).collect::<Vec<i64>>());
    // Its dictionary is the feed's (sent whole on joining), not a new one.
    assert!(dictionary_len(&tables[0], 2) >= last);

    // Several at once, on one feed: the same values under the same numbers.
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let addr = addr.clone();
            rt.spawn(async move { tokio::time::timeout(TIMEOUT, read_tables(&addr, 10)).await })
        })
        .collect();
    let mut by_first_seq: std::collections::BTreeMap<i64, Table> = Default::default();
    for client in clients {
        let (tables, _) = rt
            .block_on(client)
            .expect("client task")
            .expect("in time")
            .expect("a good stream");
        assert_eq!(tables.len(), 10);
        for table in tables {
            let first = int64s(&table, 0)[0];
            match by_first_seq.get(&first) {
                Some(seen) => assert_eq!(seen.cols, table.cols, "table from seq {first}"),
                None => drop(by_first_seq.insert(first, table)),
            }
        }
    }
    assert!(demo.is_running());
    assert_tidy(&demo.kill());
}

#[test]
fn pages_opened_at_different_times_share_one_feed() {
    let (mut demo, _dir) = start_demo("ws-late", &["--batch-rows", "50", "--interval-ms", "20"]);
    let addr = demo.addr.clone();
    let rt = runtime();
    let (early, late) = within(
        &rt,
        async {
            let early = tokio::spawn({
                let addr = addr.clone();
                async move { read_tables(&addr, 40).await }
            });
            // The late page opens once the feed has gone on for a while.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let late = read_tables(&addr, 15).await;
            (early.await.expect("early task"), late)
        },
        "both pages in time",
    );
    let (early, _) = early.expect("a good stream");
    let (late, _) = late.expect("a good stream");
    let first = |tables: &[Table]| int64s(&tables[0], 0)[0];
    assert_eq!(first(&early), 1, "the first page starts the feed");
    assert!(
        first(&late) > first(&early),
        "the late page joins mid-stream: {} vs {}",
        first(&late),
        first(&early)
    );
    // Both pages saw the tables from the late one's first on: the same
    // values (the dictionary column included: the late page got it whole on
    // joining, the early one as deltas).
    let mut shared = 0;
    for table in &late {
        let seq = int64s(table, 0)[0];
        if let Some(same) = early.iter().find(|t| int64s(t, 0)[0] == seq) {
            assert_eq!(same.cols, table.cols, "the table from seq {seq}");
            shared += 1;
        }
    }
    assert!(shared >= 5, "{shared} tables in common");
    assert!(demo.is_running());
    assert_tidy(&demo.kill());
}

#[test]
fn tables_come_at_the_interval_and_a_closing_client_gets_the_end_marker() {
    let dir = test_dir("ws-interval");
    let npm = fake_npm(&dir);
    let web = web_dir();
    let mut demo = Demo::start(
        &dir,
        &[
            "--web",
            web.to_str().unwrap(),
            "--npm",
            npm.to_str().unwrap(),
            "--batch-rows",
            "10",
            "--interval-ms",
            "50",
        ],
    );
    let addr = demo.addr.clone();
    let rt = runtime();

    // 7 tables: the first at once, then one every 50 ms.
    let (tables, elapsed) =
        within(&rt, read_tables(&addr, 7), "7 tables in time").expect("a good stream");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    let seqs: Vec<i64> = tables.iter().flat_map(|t| int64s(t, 0)).collect();
    assert_eq!(seqs, (1..=70).collect::<Vec<i64>>());

    // A raw WebSocket client that closes: the server ends the stream with the
    // end-of-stream marker and completes the closing handshake.
    rt.block_on(async {
        let work = async {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/any/path"))
                .await
                .expect("handshake");
            let mut binary = 0;
            while binary < 3 {
                match ws.next().await.expect("a message").expect("no error") {
                    Message::Binary(_) => binary += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            ws.send(Message::Close(None)).await.expect("send close");
            let mut saw_marker = false;
            let mut saw_close = false;
            while let Some(message) = ws.next().await {
                match message {
                    Ok(Message::Binary(b)) => {
                        saw_marker = b.as_ref() == [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
                    }
                    Ok(Message::Close(_)) => saw_close = true,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(
                saw_marker,
                "the last binary message is the end-of-stream marker"
            );
            assert!(saw_close);
        };
        tokio::time::timeout(TIMEOUT, work).await.expect("in time");
    });
    assert!(demo.is_running());

    // SIGTERM ends the demo like Ctrl-C, its normal way to stop: exit 0.
    let (code, stderr) = demo.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_tidy(&stderr);
}

#[test]
fn a_missing_directory_or_a_bad_option_is_one_line() {
    let dir = test_dir("usage");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lightstream"))
            .arg("demo")
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--web", "no-such-dir"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no-such-dir") && stderr.contains("--web"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--batch-rows", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let (code, stderr) = run(&["--listen", "not an address", "--web", ".", "--npm", "."]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not an address"), "{stderr}");
}

/// A demo serving the repository's page and a stand-in npm package, with `args`.
fn start_demo(name: &str, args: &[&str]) -> (Demo, PathBuf) {
    let dir = test_dir(name);
    let npm = fake_npm(&dir);
    let web = web_dir();
    let mut all = vec![
        "--web",
        web.to_str().expect("path"),
        "--npm",
        npm.to_str().expect("path"),
    ];
    all.extend_from_slice(args);
    (Demo::start(&dir, &all), dir)
}

/// A WebSocket upgrade request for `/stream` with this `Host`.
fn upgrade_request(host: &str) -> Vec<u8> {
    common::upgrade_request(host, "/stream")
}

/// An upgrade whose socket stays open and unread.
fn upgrade_and_hold(addr: &str) -> (TcpStream, String) {
    common::upgrade_and_hold(addr, "/stream", TIMEOUT)
}

#[test]
fn a_crlf_before_the_request_line_is_ignored() {
    let (demo, _dir) = start_demo("crlf", &[]);
    let addr = demo.addr.clone();
    // RFC 9112 section 2.2: at least one empty line before the request line
    // is to be ignored (the hand-written parser answered 400).
    let request = format!("\r\nGET /web/style.css HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let r = exchange(&addr, request.as_bytes()).expect("a response");
    let css = fs::read(web_dir().join("style.css")).expect("web/style.css");
    assert_file(&r, "text/css; charset=utf-8", &css);
    assert_tidy(&demo.kill());
}

#[test]
fn a_host_that_is_not_this_server_gets_421() {
    let (demo, _dir) = start_demo("host", &["--allow-host", "demo.example"]);
    let addr = demo.addr.clone();
    let port = addr.rsplit_once(':').expect("port").1.to_string();
    let page = fs::read(web_dir().join("index.html")).expect("web/index.html");
    let with_host = |host: &str, target: &str| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        exchange(&addr, request.as_bytes()).expect("a response")
    };
    // The listening address, loopback names with the port, --allow-host.
    for host in [
        addr.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "demo.example".to_string(),
        format!("Demo.Example:{port}"),
    ] {
        assert_file(&with_host(&host, "/"), "text/html; charset=utf-8", &page);
    }
    // A DNS-rebinding page sends its own name; another port is another origin.
    for host in [
        format!("rebind.example:{port}"),
        "localhost".to_string(),
        format!("localhost:{}", port.parse::<u16>().expect("port") ^ 1),
        "127.0.0.1".to_string(),
    ] {
        for target in ["/", "/npm/index.js"] {
            let r = with_host(&host, target);
            assert_eq!(r.status, 421, "{host} {target}: {}", r.text());
            assert!(r.text().contains("--allow-host"), "{}", r.text());
            assert!(!r.text().contains("export const"), "{}", r.text());
        }
    }
    // The stream too: no 101 for a wrong Host.
    let r =
        exchange(&addr, &upgrade_request(&format!("rebind.example:{port}"))).expect("a response");
    assert_eq!(r.status, 421, "{}", r.text());
    // Two Host headers: 400.
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nHost: {addr}\r\n\r\n");
    assert_eq!(
        exchange(&addr, request.as_bytes())
            .expect("a response")
            .status,
        400
    );
    assert_tidy(&demo.kill());
}

#[test]
fn streams_at_their_limit_leave_the_page_servable_and_get_503() {
    let (mut demo, _dir) = start_demo(
        "admission",
        &[
            "--max-streams",
            "4",
            "--batch-rows",
            "10",
            "--interval-ms",
            "20",
        ],
    );
    let addr = demo.addr.clone();
    let rt = runtime();
    // Two clients that keep reading, two that never read: every stream slot.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            let mut stopped = stopped.clone();
            rt.spawn(async move {
                let url = format!("ws://{addr}/stream");
                let (mut ws, _) = tokio_tungstenite::connect_async(url)
                    .await
                    .expect("handshake");
                let mut tables = 0usize;
                loop {
                    tokio::select! {
                        _ = stopped.changed() => return tables,
                        m = ws.next() => match m {
                            Some(Ok(Message::Binary(_))) => tables += 1,
                            Some(Ok(_)) => {}
                            other => panic!("the stream ended: {other:?}"),
                        },
                    }
                }
            })
        })
        .collect();
    let mut silent = Vec::new();
    for _ in 0..2 {
        let (tcp, head) = upgrade_and_hold(&addr);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        silent.push(tcp);
    }
    // The readers got their slots too (each has a table in hand).
    let started = Instant::now();
    loop {
        let (tcp, head) = upgrade_and_hold(&addr);
        if head.starts_with("HTTP/1.1 503") {
            drop(tcp);
            break;
        }
        // A reader had not connected yet: this one took its slot; let go.
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        drop(tcp);
        assert!(started.elapsed() < TIMEOUT, "never 503");
        thread::sleep(Duration::from_millis(20));
    }

    // The page and the package are still served, at once.
    let page = fs::read(web_dir().join("index.html")).expect("web/index.html");
    assert_file(&get(&addr, "/"), "text/html; charset=utf-8", &page);
    assert_file(
        &get(&addr, "/npm/pkg/lightstream_wasm_bg.wasm"),
        "application/wasm",
        WASM,
    );
    // One more stream: 503 with Retry-After and a reason, and the connection closes.
    let busy = exchange(&addr, &upgrade_request(&addr)).expect("a response");
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.header("Retry-After"), Some("5"));
    assert!(busy.text().contains("--max-streams"), "{}", busy.text());
    assert!(demo.is_running());

    // A client that leaves gives its slot back.
    let _ = stop.send(true);
    for reader in readers {
        let tables = rt.block_on(reader).expect("reader");
        assert!(tables > 0, "a reader read nothing");
    }
    let started = Instant::now();
    loop {
        let (_tcp, head) = upgrade_and_hold(&addr);
        if head.starts_with("HTTP/1.1 101") {
            break;
        }
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(started.elapsed() < TIMEOUT, "the slots never came back");
        thread::sleep(Duration::from_millis(20));
    }
    drop(silent);
    assert_tidy(&demo.kill());
}

#[test]
fn an_upgrade_that_cannot_be_accepted_gets_a_status() {
    let (demo, _dir) = start_demo("bad-upgrade", &[]);
    let addr = demo.addr.clone();
    let good = String::from_utf8(upgrade_request(&addr)).expect("text");
    for (request, status, header) in [
        (good.replace("GET ", "POST "), 405, ("Allow", "GET")),
        (
            good.replace("Connection: Upgrade\r\n", ""),
            426,
            ("Upgrade", "websocket"),
        ),
        (
            good.replace("Version: 13", "Version: 8"),
            426,
            ("Sec-WebSocket-Version", "13"),
        ),
        (
            good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            400,
            ("Content-Type", "text/plain; charset=utf-8"),
        ),
    ] {
        let r = exchange(&addr, request.as_bytes()).expect("a response");
        assert_eq!(r.status, status, "{request:?}: {}", r.text());
        assert_eq!(r.header(header.0), Some(header.1), "{request:?}");
        assert!(
            r.text().contains("WebSocket upgrade refused"),
            "{}",
            r.text()
        );
    }
    assert_tidy(&demo.kill());
}

/// `demo --allow-origin --token-file`: a page of another site gets 403 and
/// no upgrade (cross-site WebSocket hijacking), the demo's own page and a
/// listed one need the token (401 without, 401 wrong), and the right token
/// (as a browser sends it, in a subprotocol) upgrades with an answer that
/// names only `lightstream.arrow.v1`.
#[test]
fn allow_origin_and_token_file_guard_the_feed() {
    let dir = test_dir("access-files");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "# demo tokens\nc2VjcmV0LXRva2Vu\n").expect("token file");
    let tokens = tokens.to_str().expect("path").to_string();
    let (demo, _dir) = start_demo(
        "access",
        &[
            "--allow-origin",
            "https://app.example",
            "--token-file",
            &tokens,
        ],
    );
    let addr = demo.addr.clone();
    let good = String::from_utf8(upgrade_request(&addr)).expect("text");
    let with = |headers: &str| good.replacen("\r\n\r\n", &format!("\r\n{headers}\r\n\r\n"), 1);
    let ours = "Sec-WebSocket-Protocol: lightstream.arrow.v1";
    let right = format!("{ours}, lightstream.token.c2VjcmV0LXRva2Vu");
    let own = format!("Origin: http://{addr}");
    for (request, status) in [
        (
            with(&format!("Origin: https://evil.example\r\n{right}")),
            403,
        ),
        (with(&format!("{own}\r\n{ours}")), 401),
        (
            with(&format!("{own}\r\n{ours}, lightstream.token.d3Jvbmc")),
            401,
        ),
        (with(&format!("Origin: https://app.example\r\n{ours}")), 401),
    ] {
        let r = exchange(&addr, request.as_bytes()).expect("a response");
        assert_eq!(r.status, status, "{request:?}: {}", r.text());
    }
    for origin in [own.as_str(), "Origin: https://app.example"] {
        let mut tcp = TcpStream::connect(&addr).expect("connect");
        tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let request = with(&format!("{origin}\r\n{right}"));
        tcp.write_all(request.as_bytes()).expect("request");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).expect("head") == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("text");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let protocols: Vec<&str> = head
            .lines()
            .filter(|l| {
                l.to_ascii_lowercase()
                    .starts_with("sec-websocket-protocol:")
            })
            .collect();
        assert_eq!(
            protocols,
            ["sec-websocket-protocol: lightstream.arrow.v1"],
            "{head}"
        );
    }
    assert_tidy(&demo.kill());
}
