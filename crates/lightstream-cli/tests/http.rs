//! End-to-end tests of the network commands over `http://` against the real
//! binary and clients nobody here wrote: pyarrow through urllib and
//! requests, curl (HTTP/1.1 and h2c), and a raw Python HTTP server that
//! dies mid-response. Loopback only; every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

mod common;
use common::{Proc, run};

const TIMEOUT: Duration = Duration::from_secs(30);

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-http", name)
}

/// Runs python3 with `script` and `args`; its stdout, trimmed. Fails the
/// test with stderr when it fails.
#[track_caller]
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 on PATH");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// curl with `args`: (status line code, body bytes written to stdout).
fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl on PATH");
    let mut body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&body[split + 1..]).to_string();
    body.truncate(split);
    (code, body)
}

/// pyarrow's reading of an IPC file or stream, as `rows|sum of column 0|names`.
const SUMMARY: &str = r#"
import sys, pyarrow as pa, pyarrow.compute as pc
def summary(t):
    return f"{t.num_rows}|{pc.sum(t.column(0)).as_py()}|{','.join(t.schema.names)}"
"#;

#[test]
fn pyarrow_urllib_requests_and_curl_read_serve_http() {
    let dir = test_dir("pyarrow");
    run(&dir, &["example", "t.arrows", "--rows", "20000"]).assert_success();
    let mut serve = Proc::spawn(
        &dir,
        &[
            "serve",
            "http://127.0.0.1:0/t.arrows",
            "t.arrows",
            "--compression",
            "zstd",
        ],
    );
    let url = serve.url();
    let file = dir.join("t.arrows");
    let expected = python(
        &format!(
            "{SUMMARY}\nprint(summary(pa.ipc.open_stream(open(sys.argv[1], 'rb')).read_all()))"
        ),
        &[file.to_str().unwrap()],
    );
    assert!(expected.starts_with("20000|"), "{expected}");

    // pyarrow over urllib and over requests (streamed, not buffered whole).
    let urllib = python(
        &format!(
            "{SUMMARY}\nimport urllib.request\n\
             r = urllib.request.urlopen(sys.argv[1])\n\
             assert r.headers['Content-Type'] == 'application/vnd.apache.arrow.stream', r.headers\n\
             print(summary(pa.ipc.open_stream(r).read_all()))"
        ),
        &[&url],
    );
    assert_eq!(urllib, expected);
    let requests = python(
        &format!(
            "{SUMMARY}\nimport requests\n\
             r = requests.get(sys.argv[1], stream=True, headers={{'Accept': \
             'application/vnd.apache.arrow.stream; codecs=\"zstd, lz4\"'}})\n\
             r.raise_for_status()\n\
             assert r.headers['Content-Type'].endswith('codecs=zstd'), r.headers\n\
             print(summary(pa.ipc.open_stream(r.raw).read_all()))"
        ),
        &[&url],
    );
    assert_eq!(requests, expected);

    // curl, HTTP/1.1 and h2c; pyarrow validates what it saved.
    for (name, extra) in [
        ("h1.arrows", "--http1.1"),
        ("h2.arrows", "--http2-prior-knowledge"),
    ] {
        let saved = dir.join(name);
        let (code, _) = curl(&[extra, "-o", saved.to_str().unwrap(), &url]);
        assert_eq!(code, "200", "{name}");
        let got = python(
            &format!(
                "{SUMMARY}\nt = pa.ipc.open_stream(open(sys.argv[1], 'rb')).read_all()\nt.validate(full=True)\nprint(summary(t))"
            ),
            &[saved.to_str().unwrap()],
        );
        assert_eq!(got, expected, "{name}");
    }

    // Other paths and methods.
    assert_eq!(curl(&["-o", "/dev/null", &format!("{url}x")]).0, "404");
    assert_eq!(curl(&["-o", "/dev/null", "-X", "PUT", &url]).0, "405");
    serve.kill();
}

#[test]
fn tokens_and_origins_are_checked_before_streaming() {
    let dir = test_dir("access");
    run(&dir, &["example", "t.arrows", "--rows", "10"]).assert_success();
    std::fs::write(dir.join("tokens"), "# one token\nsecret-1\n").unwrap();
    let mut serve = Proc::spawn(
        &dir,
        &[
            "serve",
            "http://127.0.0.1:0/t",
            "t.arrows",
            "--token-file",
            "tokens",
            "--allow-origin",
            "https://app.example",
        ],
    );
    let url = serve.url();
    let (code, body) = curl(&[&url]);
    assert_eq!(code, "401");
    assert!(String::from_utf8_lossy(&body).contains("Bearer"));
    assert_eq!(curl(&["-H", "Authorization: Bearer wrong", &url]).0, "401");
    let good = "Authorization: Bearer secret-1";
    let (code, body) = curl(&["-H", good, "-H", "Origin: https://evil.example", &url]);
    assert_eq!(code, "403", "{}", String::from_utf8_lossy(&body));
    let (code, body) = curl(&["-H", good, "-H", "Origin: https://app.example", &url]);
    assert_eq!(code, "200");
    assert!(body.len() > 8 && body.ends_with(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    // Without Origin (curl, pyarrow) and with the token: streamed.
    assert_eq!(curl(&["-H", good, "-o", "/dev/null", &url]).0, "200");
    // A page of an allowed origin may read a wrong path's 404 (and ask its
    // preflight on any path): its browser shows it the 404, not a CORS failure.
    let wrong = format!("{}/nothing", url.trim_end_matches("/t"));
    let allowed = "Origin: https://app.example";
    let allows = |head: &[u8]| {
        String::from_utf8_lossy(head)
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.example\r\n")
    };
    let (code, head) = curl(&["-D", "-", "-o", "/dev/null", "-H", allowed, &wrong]);
    assert_eq!(code, "404");
    assert!(allows(&head), "{}", String::from_utf8_lossy(&head));
    let preflight = [
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-X",
        "OPTIONS",
        "-H",
        allowed,
        "-H",
        "Access-Control-Request-Method: GET",
        "-H",
        "Access-Control-Request-Headers: authorization",
        &wrong,
    ];
    let (code, head) = curl(&preflight);
    assert_eq!(code, "204");
    assert!(allows(&head), "{}", String::from_utf8_lossy(&head));
    // Not for a page of another origin.
    let (code, head) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Origin: https://evil.example",
        &wrong,
    ]);
    assert_eq!(code, "404");
    assert!(
        !String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("access-control")
    );
    // recv reports the refusal with its status.
    let out = run(&dir, &["recv", &url, "out.arrows"]);
    let line = out.assert_error(1);
    assert!(line.contains("HTTP 401"), "{line}");

    // CORS: the allowed page's preflight (its token is a header) gets 204
    // with what it may send; its answers, a refusal too, name it; a foreign
    // page gets neither.
    let headers = |args: &[&str]| -> (String, String) {
        let mut all = vec!["-D", "-", "-o", "/dev/null"];
        all.extend_from_slice(args);
        let (code, head) = curl(&all);
        (code, String::from_utf8_lossy(&head).to_lowercase())
    };
    let preflight = [
        "-X",
        "OPTIONS",
        "-H",
        "Access-Control-Request-Method: GET",
        "-H",
        "Access-Control-Request-Headers: authorization",
    ];
    let (code, head) =
        headers(&[&preflight[..], &["-H", "Origin: https://app.example", &url]].concat());
    assert_eq!(code, "204", "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://app.example"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-headers: authorization"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-methods: get, post"),
        "{head}"
    );
    let (code, head) = headers(
        &[
            &preflight[..],
            &["-H", "Origin: https://evil.example", &url],
        ]
        .concat(),
    );
    assert_eq!(code, "403", "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    let (code, head) = headers(&["-H", "Origin: https://app.example", &url]);
    assert_eq!(code, "401", "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://app.example"),
        "{head}"
    );
    assert!(head.contains("vary: origin"), "{head}");
    let (code, head) = headers(&["-H", good, "-H", "Origin: https://app.example", &url]);
    assert_eq!(code, "200", "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://app.example"),
        "{head}"
    );
    let (_, head) = headers(&["-H", good, &url]);
    assert!(
        !head.contains("access-control-allow-origin"),
        "no Origin, no CORS: {head}"
    );
    serve.kill();
}

#[test]
fn listen_http_takes_one_post_from_curl_and_from_send() {
    let dir = test_dir("post");
    run(&dir, &["example", "t.arrows", "--rows", "5000"]).assert_success();
    let file = dir.join("t.arrows");
    let mut listen = Proc::spawn(&dir, &["listen", "http://127.0.0.1:0/in", "got.arrows"]);
    let url = listen.url();
    let (code, _) = curl(&[
        "--data-binary",
        &format!("@{}", file.display()),
        "-H",
        "Content-Type: application/vnd.apache.arrow.stream",
        &url,
    ]);
    assert_eq!(code, "200");
    listen.wait(TIMEOUT).assert_exit_ok();
    assert_eq!(
        std::fs::read(dir.join("got.arrows")).unwrap(),
        std::fs::read(&file).unwrap()
    );

    let mut listen = Proc::spawn(&dir, &["listen", "http://127.0.0.1:0/in", "got2.arrows"]);
    let url = listen.url();
    run(&dir, &["send", &url, "t.arrows"]).assert_success();
    listen.wait(TIMEOUT).assert_exit_ok();
    let expected = python(
        &format!(
            "{SUMMARY}\nprint(summary(pa.ipc.open_stream(open(sys.argv[1], 'rb')).read_all()))"
        ),
        &[file.to_str().unwrap()],
    );
    let got = python(
        &format!(
            "{SUMMARY}\nprint(summary(pa.ipc.open_stream(open(sys.argv[1], 'rb')).read_all()))"
        ),
        &[dir.join("got2.arrows").to_str().unwrap()],
    );
    assert_eq!(got, expected);
}

/// A Python HTTP server that answers one GET with the first `cut` bytes of
/// an Arrow stream in one chunk, then closes the connection without the
/// last chunk (a server that died mid-response). Prints its port.
const DYING_SERVER: &str = r#"
import socket, sys
data = open(sys.argv[1], 'rb').read()[: int(sys.argv[2])]
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(65536)
c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apache.arrow.stream\r\n'
          b'Transfer-Encoding: chunked\r\n\r\n' + b'%x\r\n' % len(data) + data + b'\r\n')
c.close()
"#;

#[test]
fn a_server_that_dies_mid_response_is_a_truncated_stream_for_recv() {
    let dir = test_dir("truncated");
    run(&dir, &["example", "t.arrows", "--rows", "3000"]).assert_success();
    let file = dir.join("t.arrows");
    // Message boundaries, from pyarrow: the cut lands after whole messages
    // (a stream that looks complete but for its end marker) and inside one.
    let ends = python(
        "import sys, pyarrow as pa\n\
         r = pa.ipc.MessageReader.open_stream(open(sys.argv[1], 'rb'))\n\
         pos = 0; ends = []\n\
         for m in r:\n    pos += len(m.serialize()); ends.append(pos)\n\
         print(' '.join(map(str, ends)))",
        &[file.to_str().unwrap()],
    );
    let ends: Vec<usize> = ends.split(' ').map(|n| n.parse().unwrap()).collect();
    assert!(ends.len() >= 2, "{ends:?}");
    for cut in [ends[1], ends[1] + 100] {
        let mut server = Command::new("python3");
        server.args(["-c", DYING_SERVER, file.to_str().unwrap(), &cut.to_string()]);
        server.stdout(std::process::Stdio::piped());
        let mut child = server.spawn().expect("python3");
        let mut port = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut port,
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{}/t", port.trim());
        let out = run(&dir, &["recv", &url, "out.arrows"]);
        let line = out.assert_error(1).to_string();
        assert!(
            line.contains("without the end-of-stream marker")
                || line.contains("closed the connection early"),
            "cut at {cut}: {line}"
        );
        let _ = child.wait();
    }
}

/// `serve ws://` takes the same access flags as `serve http://`: a page of a
/// foreign origin gets 403 before any upgrade (cross-site WebSocket
/// hijacking), a missing token 401; `recv --token-file` sends the token (as
/// the subprotocol `lightstream.token.<t>` over ws://, as `Authorization:
/// Bearer` over http://) and gets the stream.
#[test]
fn serve_ws_checks_origin_and_token_and_recv_sends_its_token() {
    let dir = test_dir("ws-access");
    run(&dir, &["example", "t.arrows", "--rows", "100"]).assert_success();
    std::fs::write(dir.join("tokens"), "# one token\nsecret-1\n").unwrap();
    std::fs::write(dir.join("mine"), "secret-1\n").unwrap();
    std::fs::write(dir.join("wrong"), "secret-2\n").unwrap();
    let flags = [
        "--token-file",
        "tokens",
        "--allow-origin",
        "https://app.example",
    ];
    for scheme in ["ws", "http"] {
        let listen = format!("{scheme}://127.0.0.1:0/t");
        let mut args = vec!["serve", listen.as_str(), "t.arrows"];
        args.extend(flags);
        let mut serve = Proc::spawn(&dir, &args);
        let url = serve.url();
        let http_url = url.replacen("ws://", "http://", 1);
        let upgrade = [
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ];
        let mut evil = upgrade.to_vec();
        evil.extend([
            "-H",
            "Origin: https://evil.example",
            "-H",
            "Authorization: Bearer secret-1",
            http_url.as_str(),
        ]);
        assert_eq!(curl(&evil).0, "403", "{scheme}");
        let mut anonymous = upgrade.to_vec();
        anonymous.extend(["-H", "Origin: https://app.example", http_url.as_str()]);
        let (code, body) = curl(&anonymous);
        assert_eq!(code, "401", "{scheme}: {}", String::from_utf8_lossy(&body));
        for (token, ok) in [(None, false), (Some("wrong"), false), (Some("mine"), true)] {
            let out_file = format!("out-{scheme}-{}.arrows", token.unwrap_or("none"));
            let mut args = vec!["recv", url.as_str(), out_file.as_str()];
            if let Some(t) = token {
                args.extend(["--token-file", t]);
            }
            let out = run(&dir, &args);
            if ok {
                out.assert_success();
                assert_eq!(
                    std::fs::read(dir.join(&out_file)).unwrap(),
                    std::fs::read(dir.join("t.arrows")).unwrap(),
                    "{scheme}"
                );
            } else {
                let line = out.assert_error(1);
                assert!(line.contains("401"), "{scheme} {token:?}: {line}");
            }
        }
        serve.kill();
    }
    // A client token where none can be sent is a usage error.
    let out = run(
        &dir,
        &[
            "recv",
            "tcp://127.0.0.1:1",
            "x.arrows",
            "--token-file",
            "mine",
        ],
    );
    let line = out.assert_error(2);
    assert!(line.contains("--token-file applies to ws://"), "{line}");
}

/// Backpressure: a client that reads slowly (curl `--limit-rate 1280k`: 64
/// KiB every 50 ms) from `serve http://` of a ~160 MB stream keeps the
/// server's anonymous memory (RssAnon; the file is memory-mapped, so its pages
/// are RssFile) flat, over HTTP/1.1 and over HTTP/2 (h2c): the body is
/// produced only as hyper polls it, so what the server holds is a message or
/// two and hyper's send buffer, not the file. The client hangs up after 2 s,
/// having read a few MiB; without backpressure the server would have queued
/// the rest of the file in that time.
#[test]
fn a_slow_http_client_keeps_the_servers_memory_flat() {
    let dir = test_dir("backpressure");
    run(&dir, &["example", "big.arrows", "--rows", "3000000"]).assert_success();
    let size = std::fs::metadata(dir.join("big.arrows")).unwrap().len();
    let mut serve = Proc::spawn(&dir, &["serve", "http://127.0.0.1:0/t", "big.arrows"]);
    let url = serve.url();
    let pid = serve.child.id();
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let before = common::mem_of(pid).expect("status");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampling = common::sampler(pid, stop.clone());
        let out = Command::new("curl")
            .args(["-sS", version, "--limit-rate", "1280k", "--max-time", "2"])
            .args(["-o", "/dev/null", "-w", "%{size_download}", &url])
            .output()
            .expect("curl on PATH");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = sampling.join().expect("sampler");
        // curl exits 28 at --max-time: it hung up mid-stream, as meant.
        assert_eq!(out.status.code(), Some(28), "{version}: {out:?}");
        let read: u64 = String::from_utf8_lossy(&out.stdout).parse().expect("size");
        let growth_kib = peak.anon.saturating_sub(before.anon);
        eprintln!(
            "{version}: read {:.1} MiB of {:.1} MiB in 2 s; server RssAnon {:.1} MiB before, \
             peak {:.1} MiB, growth {:.2} MiB",
            read as f64 / 1048576.0,
            size as f64 / 1048576.0,
            before.anon as f64 / 1024.0,
            peak.anon as f64 / 1024.0,
            growth_kib as f64 / 1024.0
        );
        assert!(read > 1 << 20 && read < size / 4, "{version}: read {read}");
        // A few MiB (hyper's buffers, HTTP/2 flow control windows, one
        // 14 KB message in flight), nowhere near the 160 MB file (an unbounded queue: 155 MiB).
        assert!(
            growth_kib < 8 * 1024,
            "{version}: RssAnon grew {growth_kib} KiB"
        );
    }
    serve.kill();
}
