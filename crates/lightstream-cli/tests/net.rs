//! End-to-end tests of the network commands (`serve`, `recv`, `send`, `listen`)
//! against the real binary, over loopback only (127.0.0.1, ::1, Unix sockets in a
//! temporary directory) and stdio.
//!
//! Every wait is bounded: processes are waited for with a timeout and killed by
//! a guard when a test fails, and ports come from the `listening on <url>` line
//! that `serve` and `listen` print after binding to port 0.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use lightstream_core::minarrow::Table;
use lightstream_core::{ReadOptions, aligned_copy, read_file, read_stream};

mod common;
use common::{Output, Proc, decode, lightstream_in};

/// The longest any one process may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-net", name)
}

fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(name)
}

/// Runs `lightstream args` to completion (bounded).
fn run(dir: &Path, args: &[&str]) -> Output {
    Proc::spawn(dir, args).wait(TIMEOUT)
}

fn decode_schema_names(path: &Path) -> Vec<String> {
    let bytes = aligned_copy(&fs::read(path).expect("read"));
    let schema = if bytes.as_slice().starts_with(b"ARROW1") {
        read_file(bytes, ReadOptions::default()).expect("decode").0
    } else {
        read_stream(bytes, ReadOptions::default())
            .expect("decode")
            .0
    };
    schema.fields.iter().map(|f| f.name.clone()).collect()
}

/// The stderr of a server that saw nothing unusual: one `listening on` line and
/// at most the self-signed certificate note.
#[track_caller]
fn assert_quiet_server(stderr: &str) {
    let listening = stderr
        .lines()
        .filter(|l| l.starts_with("listening on "))
        .count();
    assert_eq!(listening, 1, "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("listening on ") || line.starts_with("lightstream: note: "),
            "unexpected stderr line: {line}"
        );
    }
}

/// `example` inputs: a file, and a zstd-compressed stream of the same rows.
fn make_inputs(dir: &Path, rows: usize) -> Vec<Table> {
    let rows = rows.to_string();
    run(dir, &["example", "data.arrow", "--rows", &rows]).assert_exit_ok();
    run(
        dir,
        &[
            "example",
            "data-zstd.arrows",
            "--rows",
            &rows,
            "--compression",
            "zstd",
        ],
    )
    .assert_exit_ok();
    let tables = decode(&dir.join("data.arrow"));
    assert_eq!(decode(&dir.join("data-zstd.arrows")), tables);
    tables
}

/// (a) `serve --once` + `recv` and (b) `listen` + `send` over `bind_url`, with an
/// uncompressed file and a zstd stream as input and zstd on the wire for the
/// latter: the output decodes to exactly the input tables.
fn round_trips(dir: &Path, bind_url: &str, server_flags: &[&str], client_flags: &[&str]) {
    let expected = make_inputs(dir, 2500);
    let schema = decode_schema_names(&dir.join("data.arrow"));
    let cases: [(&str, &[&str]); 2] = [
        ("data.arrow", &[]),
        ("data-zstd.arrows", &["--compression", "zstd"]),
    ];
    for (input, compression) in cases {
        // (a) serve --once, recv into a stream (by extension).
        let mut args = vec!["serve", "--once", bind_url, input];
        args.extend_from_slice(compression);
        args.extend_from_slice(server_flags);
        let mut server = Proc::spawn(dir, &args);
        let url = server.url();
        let mut args = vec!["recv", url.as_str(), "got.arrows"];
        args.extend_from_slice(client_flags);
        run(dir, &args).assert_exit_ok();
        let served = server.wait(TIMEOUT);
        served.assert_exit_ok();
        assert_quiet_server(&served.stderr);
        let got = dir.join("got.arrows");
        assert!(!fs::read(&got).expect("output").starts_with(b"ARROW1"));
        assert_eq!(decode(&got), expected, "serve+recv {bind_url} {input}");
        assert_eq!(decode_schema_names(&got), schema);
        fs::remove_file(&got).expect("remove output");

        // (b) listen into a file (by extension), send.
        let mut args = vec!["listen", bind_url, "got.arrow"];
        args.extend_from_slice(server_flags);
        let mut listener = Proc::spawn(dir, &args);
        let url = listener.url();
        let mut args = vec!["send", url.as_str(), input];
        args.extend_from_slice(compression);
        args.extend_from_slice(client_flags);
        run(dir, &args).assert_exit_ok();
        let listened = listener.wait(TIMEOUT);
        listened.assert_exit_ok();
        assert_quiet_server(&listened.stderr);
        let got = dir.join("got.arrow");
        assert!(fs::read(&got).expect("output").starts_with(b"ARROW1"));
        assert_eq!(decode(&got), expected, "listen+send {bind_url} {input}");
        fs::remove_file(&got).expect("remove output");
    }
}

#[test]
fn tcp_round_trips() {
    let dir = test_dir("tcp");
    round_trips(&dir, "tcp://127.0.0.1:0", &[], &[]);
}

#[test]
fn unix_socket_round_trips() {
    let dir = test_dir("unix");
    let socket = dir.join("s.sock");
    let url = format!("unix://{}", socket.display());
    round_trips(&dir, &url, &[], &[]);
    assert!(!socket.exists(), "the socket file is removed on exit");
}

#[test]
fn websocket_round_trips() {
    let dir = test_dir("ws");
    round_trips(&dir, "ws://127.0.0.1:0/tables", &[], &[]);
}

#[test]
fn quic_round_trips_with_a_self_signed_certificate() {
    let dir = test_dir("quic-self-signed");
    round_trips(&dir, "quic://127.0.0.1:0", &[], &["--insecure"]);
}

#[test]
fn quic_round_trips_with_a_given_certificate_over_ipv6() {
    let dir = test_dir("quic-cert");
    write_certificate(&dir, "cert.pem", "key.pem");
    round_trips(
        &dir,
        "quic://[::1]:0",
        &["--cert", "cert.pem", "--key", "key.pem"],
        &["--ca", "cert.pem"],
    );

    // A client that trusts another certificate refuses the server.
    write_certificate(&dir, "other.pem", "other-key.pem");
    let mut server = Proc::spawn(
        &dir,
        &[
            "serve",
            "--once",
            "quic://127.0.0.1:0",
            "data.arrow",
            "--cert",
            "cert.pem",
            "--key",
            "key.pem",
        ],
    );
    let url = server.url();
    let out = run(&dir, &["recv", &url, "never.arrows", "--ca", "other.pem"]);
    let line = out.assert_error(1);
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(!dir.join("never.arrows").exists());
    drop(server.kill());
}

/// A self-signed certificate for localhost, 127.0.0.1 and ::1 as PEM files.
fn write_certificate(dir: &Path, cert: &str, key: &str) {
    let (certs, private_key) =
        lightstream::quic::self_signed(&["localhost", "127.0.0.1", "::1"]).expect("certificate");
    let mut pem = String::new();
    for c in &certs {
        pem.push_str(&pem_block("CERTIFICATE", c.as_ref()));
    }
    fs::write(dir.join(cert), pem).expect("write certificate");
    fs::write(
        dir.join(key),
        pem_block("PRIVATE KEY", private_key.secret_der()),
    )
    .expect("write key");
}

fn pem_block(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn pem_encoding_matches_base64() {
    assert_eq!(
        pem_block("X", b"Man"),
        "-----BEGIN X-----\nTWFu\n-----END X-----\n"
    );
    assert!(pem_block("X", b"Ma").contains("\nTWE=\n"));
    assert!(pem_block("X", b"M").contains("\nTQ==\n"));
}

// ------------------------------------------------------------------ stdio + pyarrow

/// python3 and pyarrow are required (not optional): the stdio tests fail with a
/// clear message without them.
fn require_pyarrow() {
    let out = Command::new("python3")
        .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is required on PATH for the stdio/pyarrow tests ({e}); \
                 install python3, then `python3 -m pip install pyarrow`"
            )
        });
    assert!(
        out.status.success(),
        "pyarrow is required for the stdio/pyarrow tests: run `python3 -m pip install pyarrow`\n\
         python3 said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(python_script("stdio_peer.py"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// `stdio_peer.py summary PATH`: what pyarrow reads from a file or stream.
fn pyarrow_summary(dir: &Path, path: &str) -> String {
    let out = Proc::start(python(dir, &["summary", path]), true).wait(TIMEOUT);
    out.assert_exit_ok();
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
}

/// `python3 stdio_peer.py <writer> 5000 | lightstream recv - out.arrows <flags>`:
/// the receiver succeeds quietly and pyarrow reads back exactly what it wrote.
fn pyarrow_writes_lightstream_receives(dir: &Path, writer: &str, flags: &[&str]) {
    let mut writer = Proc::start(python(dir, &[writer, "5000"]), false);
    let pipe = writer.child.stdout.take().expect("python stdout");
    let mut args = vec!["recv", "-", "out.arrows"];
    args.extend_from_slice(flags);
    let mut recv = lightstream_in(dir, &args);
    recv.stdin(Stdio::from(pipe));
    let received = Proc::start(recv, true).wait(TIMEOUT);
    received.assert_exit_ok();
    assert!(received.stderr.is_empty(), "{}", received.stderr);
    let written = writer.wait(TIMEOUT);
    written.assert_exit_ok();
    let sent_summary = written.stderr.trim().to_string();
    assert!(sent_summary.starts_with("rows=5000 "), "{sent_summary}");
    assert_eq!(pyarrow_summary(dir, "out.arrows"), sent_summary);
}

/// `lightstream <args> | python3 stdio_peer.py <reader>`: what pyarrow read.
fn lightstream_sends_pyarrow_reads(dir: &Path, args: &[&str], reader: &str) -> String {
    let mut sender = Proc::start(lightstream_in(dir, args), false);
    let pipe = sender.child.stdout.take().expect("lightstream stdout");
    let mut python = python(dir, &[reader]);
    python.stdin(Stdio::from(pipe));
    let read = Proc::start(python, true).wait(TIMEOUT);
    let sent = sender.wait(TIMEOUT);
    sent.assert_exit_ok();
    assert!(sent.stderr.is_empty(), "{args:?}: {}", sent.stderr);
    read.assert_exit_ok();
    String::from_utf8(read.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
}

#[test]
fn stdio_recv_reads_a_stream_pyarrow_writes() {
    require_pyarrow();
    let dir = test_dir("stdio-recv");
    // python3 stdio_peer.py write 5000 | lightstream recv - out.arrows
    pyarrow_writes_lightstream_receives(&dir, "write", &[]);

    // pyarrow reads back exactly what it wrote (above), and so does lightstream-core.
    let tables = decode(&dir.join("out.arrows"));
    assert_eq!(tables.iter().map(|t| t.n_rows).sum::<usize>(), 5000);
    assert_eq!(
        decode_schema_names(&dir.join("out.arrows")),
        ["id", "value", "name", "city", "flag", "ts", "day", "small"]
    );
}

#[test]
fn stdio_send_writes_a_stream_pyarrow_reads() {
    require_pyarrow();
    let dir = test_dir("stdio-send");
    make_inputs(&dir, 3000);
    let expected = pyarrow_summary(&dir, "data.arrow");
    assert!(expected.starts_with("rows=3000 "), "{expected}");
    for args in [
        &["send", "-", "data.arrow"][..],
        &["send", "-", "data-zstd.arrows", "--compression", "zstd"][..],
    ] {
        // lightstream send - data.arrow | python3 stdio_peer.py read
        let summary = lightstream_sends_pyarrow_reads(&dir, args, "read");
        assert_eq!(summary, expected, "{args:?}");
    }
}

/// `send - --framing tlv | stdio_peer.py read-tlv`: pyarrow finds one IPC
/// message per TLV frame of tag 1 and reads the stream they make.
#[test]
fn stdio_send_in_tlv_frames_is_read_by_pyarrow_frame_by_frame() {
    require_pyarrow();
    let dir = test_dir("stdio-send-tlv");
    make_inputs(&dir, 3000);
    let expected = pyarrow_summary(&dir, "data.arrow");
    let args = ["send", "-", "data.arrow", "--framing", "tlv"];
    assert_eq!(
        lightstream_sends_pyarrow_reads(&dir, &args, "read-tlv"),
        expected
    );
}

/// `stdio_peer.py write-tlv | recv - --framing tlv`: pyarrow's messages, one
/// per TLV frame, are read as the stream pyarrow wrote.
#[test]
fn stdio_recv_in_tlv_frames_reads_messages_pyarrow_writes() {
    require_pyarrow();
    let dir = test_dir("stdio-recv-tlv");
    pyarrow_writes_lightstream_receives(&dir, "write-tlv", &["--framing", "tlv"]);

    // The plain stream given to a TLV reader: its continuation marker reads
    // as a TLV header declaring ~3 GB, refused before anything is reserved.
    let mut recv = lightstream_in(&dir, &["recv", "-", "out2.arrows", "--framing", "tlv"]);
    recv.stdin(Stdio::from(
        fs::File::open(dir.join("out.arrows")).expect("stream"),
    ));
    let out = Proc::start(recv, true).wait(TIMEOUT);
    let line = out.assert_error(1);
    assert!(
        line.contains("framing error from stdio: limit exceeded: TLV value length is"),
        "{line}"
    );
}

#[test]
fn tcp_and_unix_round_trips_in_tlv_frames() {
    let dir = test_dir("tcp-tlv");
    let tlv = ["--framing", "tlv"];
    round_trips(&dir, "tcp://127.0.0.1:0", &tlv, &tlv);
    let dir = test_dir("unix-tlv");
    let url = format!("unix://{}", dir.join("s.sock").display());
    round_trips(&dir, &url, &tlv, &tlv);
}

#[test]
fn tlv_framing_on_a_websocket_or_quic_url_is_a_usage_error() {
    let dir = test_dir("tlv-usage");
    for url in ["ws://127.0.0.1:1/x", "quic://127.0.0.1:1"] {
        let out = run(&dir, &["recv", url, "out.arrows", "--framing", "tlv"]);
        let line = out.assert_error(2);
        assert!(line.contains("--framing tlv applies to tcp://"), "{line}");
    }
}

// ------------------------------------------------------------------ many clients

/// 50 clients at once, in-process with the `lightstream` library, all receive the
/// whole file from one `serve`; the server keeps running and stays quiet.
fn fifty_clients(name: &str, bind_url: &str) {
    let dir = test_dir(name);
    let expected = make_inputs(&dir, 2000);
    let mut server = Proc::spawn(&dir, &["serve", bind_url, "data.arrow"]);
    let url = server.url();
    let endpoint: lightstream::Endpoint = url.parse().expect("the announced URL parses");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let clients: Vec<_> = (0..50)
            .map(|_| {
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let work = async {
                        let options = lightstream::ClientOptions::default();
                        let conn = lightstream::connect(&endpoint, &options).await?;
                        conn.reader(ReadOptions::default()).await?.read_all().await
                    };
                    tokio::time::timeout(TIMEOUT, work).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for client in clients {
            results.push(client.await);
        }
        results
    });
    for (i, result) in results.into_iter().enumerate() {
        let tables = result
            .expect("client task")
            .unwrap_or_else(|_| panic!("client {i} timed out"))
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(tables, expected, "client {i}");
    }
    assert!(server.is_running(), "serve keeps running between clients");
    assert_quiet_server(&server.kill());
}

#[test]
fn fifty_concurrent_clients_over_tcp() {
    fifty_clients("many-tcp", "tcp://127.0.0.1:0");
}

#[test]
fn fifty_concurrent_clients_over_websocket() {
    fifty_clients("many-ws", "ws://127.0.0.1:0/tables");
}

// ------------------------------------------------------------------ faults

/// A raw TCP peer on 127.0.0.1 that sends `bytes` to its first client and hangs up.
fn one_shot_server(bytes: Vec<u8>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", listener.local_addr().expect("address"));
    let handle = thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(&bytes);
        }
    });
    (url, handle)
}

#[track_caller]
fn assert_no_output_left(dir: &Path, name: &str) {
    assert!(!dir.join(name).exists(), "{name} was left behind");
    let temps: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".lightstream-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}

#[test]
fn recv_from_a_peer_sending_garbage_fails_in_one_line() {
    let dir = test_dir("garbage");
    let (url, peer) = one_shot_server(b"HTTP/1.1 400 Bad Request\r\n\r\n".repeat(40));
    let out = run(&dir, &["recv", &url, "out.arrows"]);
    let line = out.assert_error(1);
    assert!(line.contains("127.0.0.1"), "names the peer: {line}");
    assert!(line.contains("Arrow IPC"), "says what is wrong: {line}");
    assert_no_output_left(&dir, "out.arrows");
    peer.join().expect("peer thread");
}

#[test]
fn recv_from_a_peer_that_hangs_up_mid_stream_fails_in_one_line() {
    let dir = test_dir("truncated");
    run(&dir, &["example", "data.arrows", "--rows", "3000"]).assert_exit_ok();
    let stream = fs::read(dir.join("data.arrows")).expect("read");
    let (url, peer) = one_shot_server(stream[..stream.len() / 2].to_vec());
    let out = run(&dir, &["recv", &url, "out.arrow"]);
    let line = out.assert_error(1);
    assert!(
        line.contains("closed the connection early") || line.contains("truncated"),
        "{line}"
    );
    assert_no_output_left(&dir, "out.arrow");
    peer.join().expect("peer thread");
}

#[test]
fn a_quic_client_without_insecure_or_ca_is_a_usage_error() {
    let dir = test_dir("quic-usage");
    for args in [
        &["recv", "quic://127.0.0.1:4433", "out.arrows"][..],
        &["send", "quic://127.0.0.1:4433", "in.arrow"][..],
    ] {
        let out = run(&dir, args);
        let line = out.assert_error(2);
        assert!(
            line.contains("--insecure") && line.contains("--ca"),
            "{line}"
        );
    }
    // And TLS flags where they mean nothing are refused rather than ignored.
    let out = run(&dir, &["recv", "tcp://127.0.0.1:1", "o", "--insecure"]);
    assert!(out.assert_error(2).contains("quic://"));
}

#[test]
fn a_client_that_stalls_or_vanishes_does_not_affect_the_others() {
    let dir = test_dir("vanish");
    // Large enough that the server blocks on a client that does not read.
    run(&dir, &["example", "big.arrows", "--rows", "150000"]).assert_exit_ok();
    let expected = decode(&dir.join("big.arrows"));
    let mut server = Proc::spawn(&dir, &["serve", "tcp://127.0.0.1:0", "big.arrows"]);
    let url = server.url();
    let addr = url.strip_prefix("tcp://").expect("tcp URL").to_string();

    // A client that connects, reads a little and then stalls.
    let mut stalled = std::net::TcpStream::connect(&addr).expect("connect");
    stalled
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut first = [0u8; 1000];
    stalled.read_exact(&mut first).expect("first bytes");

    // Meanwhile another client gets everything.
    run(&dir, &["recv", &url, "got.arrows"]).assert_exit_ok();
    assert_eq!(decode(&dir.join("got.arrows")), expected);

    // The stalled client goes away with unread data: one line about it, and the
    // server keeps serving.
    drop(stalled);
    let line = server.wait_for_line("lightstream: ", TIMEOUT);
    assert!(line.contains("127.0.0.1"), "names the client: {line}");
    assert!(line.contains("failed"), "{line}");
    run(&dir, &["recv", &url, "again.arrows"]).assert_exit_ok();
    assert_eq!(decode(&dir.join("again.arrows")), expected);
    assert!(server.is_running());
    let stderr = server.kill();
    assert_eq!(stderr.lines().count(), 2, "{stderr}");

    // With --once, that client's failure is the command's failure.
    let mut server = Proc::spawn(
        &dir,
        &["serve", "--once", "tcp://127.0.0.1:0", "big.arrows"],
    );
    let url = server.url();
    let mut client = std::net::TcpStream::connect(url.strip_prefix("tcp://").expect("tcp URL"))
        .expect("connect");
    client.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    client.read_exact(&mut first).expect("first bytes");
    drop(client);
    let out = server.wait(TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[1].starts_with("lightstream: "), "{}", lines[1]);
}

#[test]
fn serve_at_max_clients_turns_one_more_away_until_a_slot_frees() {
    let dir = test_dir("max-clients");
    // Large enough that the server blocks on clients that stop reading.
    run(&dir, &["example", "big.arrows", "--rows", "300000"]).assert_exit_ok();
    let expected = decode(&dir.join("big.arrows"));
    let mut server = Proc::spawn(
        &dir,
        &[
            "serve",
            "ws://127.0.0.1:0/t",
            "big.arrows",
            "--max-clients",
            "2",
        ],
    );
    let url = server.url();
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.strip_suffix("/t"))
        .expect("ws URL")
        .to_string();

    // Both slots: a client that reads a little and stalls, one that never reads.
    let (mut stalled, head) = common::upgrade_and_hold(&addr, "/t", TIMEOUT);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut first = [0u8; 1000];
    stalled.read_exact(&mut first).expect("first bytes");
    let (silent, head) = common::upgrade_and_hold(&addr, "/t", TIMEOUT);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    // One more: 503 with Retry-After and a reason, and the connection closes.
    let (mut third, head) = common::upgrade_and_hold(&addr, "/t", TIMEOUT);
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{head}"
    );
    assert!(head.contains("\r\nRetry-After: 5\r\n"), "{head}");
    let mut body = String::new();
    third
        .read_to_string(&mut body)
        .expect("the body, then the close");
    assert!(body.contains("--max-clients"), "{body}");
    let line = server.wait_for_line("turned away", TIMEOUT);
    assert!(line.contains("2 clients already"), "{line}");
    // A real client is told the same, in one line.
    let out = run(&dir, &["recv", &url, "busy.arrows"]);
    assert!(out.assert_error(1).contains("503"), "{}", out.stderr);

    // Clients that leave give their slots back.
    drop(stalled);
    drop(silent);
    let started = Instant::now();
    loop {
        let out = run(&dir, &["recv", &url, "got.arrows"]);
        if out.status.success() {
            break;
        }
        assert!(out.stderr.contains("503"), "{}", out.stderr);
        assert!(started.elapsed() < TIMEOUT, "the slots never came back");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(decode(&dir.join("got.arrows")), expected);
    assert!(server.is_running());
    drop(server);

    // Over TCP there is nothing to answer with: the connection closes at
    // once (no bytes, end of stream), with one line.
    let mut server = Proc::spawn(
        &dir,
        &[
            "serve",
            "tcp://127.0.0.1:0",
            "big.arrows",
            "--max-clients",
            "1",
        ],
    );
    let url = server.url();
    let addr = url.strip_prefix("tcp://").expect("tcp URL");
    let mut stalled = std::net::TcpStream::connect(addr).expect("connect");
    stalled.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stalled.read_exact(&mut first).expect("first bytes");
    let mut over = std::net::TcpStream::connect(addr).expect("connect");
    over.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut rest = Vec::new();
    let _ = over.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "{} bytes to a client over the limit",
        rest.len()
    );
    let line = server.wait_for_line("turned away", TIMEOUT);
    assert!(line.contains("1 clients already (--max-clients)"), "{line}");
}

#[test]
fn serve_ends_cleanly_on_sigterm_and_removes_its_socket() {
    let dir = test_dir("sigterm");
    run(&dir, &["example", "data.arrow", "--rows", "10"]).assert_exit_ok();
    let socket = dir.join("s.sock");
    let url = format!("unix://{}", socket.display());
    let mut server = Proc::spawn(&dir, &["serve", &url, "data.arrow"]);
    server.url();
    assert!(socket.exists());
    server.sigterm();
    let out = server.wait(TIMEOUT);
    out.assert_exit_ok();
    assert!(!socket.exists(), "the socket file is removed");

    // listen interrupted before a client came: exit 130, one line.
    let mut listener = Proc::spawn(&dir, &["listen", "tcp://127.0.0.1:0", "out.arrow"]);
    listener.url();
    let pid = listener.child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let out = listener.wait(TIMEOUT);
    assert_eq!(out.status.code(), Some(130), "{}", out.stderr);
    assert!(
        out.stderr.ends_with("lightstream: interrupted\n"),
        "{}",
        out.stderr
    );
    assert_no_output_left(&dir, "out.arrow");
}

// ------------------------------------------------- empty connections, columns

/// `host:port` of a `scheme://host:port/...` URL.
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").expect("a URL").1;
    rest.split('/').next().expect("an authority")
}

/// A port probe or health check (connect, close without a byte) is not the
/// one client of `listen`, nor of `serve --once` where the transport can tell
/// (ws, tls: before the handshake): the real client that follows is served.
#[test]
fn a_connection_that_sends_nothing_is_not_the_client() {
    let dir = test_dir("probe");
    let expected = make_inputs(&dir, 300);
    for (bind, server_flags, client_flags) in [
        ("tcp://127.0.0.1:0", &[][..], &[][..]),
        ("ws://127.0.0.1:0/t", &[], &[]),
        ("tls://127.0.0.1:0", &[], &["--insecure"][..]),
        ("wss://127.0.0.1:0/t", &[], &["--insecure"]),
    ] {
        // listen + send, after two probes.
        let mut args = vec!["listen", bind, "got.arrow"];
        args.extend_from_slice(server_flags);
        let mut listener = Proc::spawn(&dir, &args);
        let url = listener.url();
        for _ in 0..2 {
            drop(std::net::TcpStream::connect(host_port(&url)).expect("probe connects"));
        }
        listener.wait_for_line("without sending anything", TIMEOUT);
        let mut args = vec!["send", url.as_str(), "data.arrow"];
        args.extend_from_slice(client_flags);
        run(&dir, &args).assert_exit_ok();
        let out = listener.wait(TIMEOUT);
        out.assert_exit_ok();
        assert_eq!(decode(&dir.join("got.arrow")), expected, "listen {bind}");
        fs::remove_file(dir.join("got.arrow")).expect("remove output");

        // serve --once + recv, after a probe (not for plain TCP: a server that
        // only writes cannot tell a probe from a client before it writes).
        if bind.starts_with("tcp") {
            continue;
        }
        let mut args = vec!["serve", "--once", bind, "data.arrow"];
        args.extend_from_slice(server_flags);
        let mut server = Proc::spawn(&dir, &args);
        let url = server.url();
        drop(std::net::TcpStream::connect(host_port(&url)).expect("probe connects"));
        server.wait_for_line("without sending anything", TIMEOUT);
        let mut args = vec!["recv", url.as_str(), "got.arrows"];
        args.extend_from_slice(client_flags);
        run(&dir, &args).assert_exit_ok();
        server.wait(TIMEOUT).assert_exit_ok();
        assert_eq!(decode(&dir.join("got.arrows")), expected, "serve {bind}");
        fs::remove_file(dir.join("got.arrows")).expect("remove output");
    }
}

/// `recv` keeps the columns asked for, by name or all it can read, from a
/// stream with a column it cannot read (a pyarrow list), and names what it
/// leaves out; without a choice it refuses the stream, naming the column,
/// unless it writes an IPC stream (then it copies the stream as it came).
#[test]
fn recv_chooses_columns_of_a_stream_it_cannot_read_whole() {
    require_pyarrow();
    let dir = test_dir("recv-columns");
    let script = "import pyarrow as pa, sys\n\
        t = pa.table({'a': pa.array([1, 2, 3]), 'l': pa.array([[1], [2, 3], None], pa.list_(pa.int32())), 's': ['x', None, 'z']})\n\
        w = pa.ipc.new_stream(sys.argv[1], t.schema); w.write_table(t); w.close()\n";
    let out = Command::new("python3")
        .args(["-c", script, "mixed.arrows"])
        .current_dir(&dir)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = fs::read(dir.join("mixed.arrows")).expect("read");

    // Into an IPC stream with every column: copied without decoding.
    let (url, peer) = one_shot_server(bytes.clone());
    run(&dir, &["recv", &url, "copy.arrows"]).assert_exit_ok();
    peer.join().expect("peer");
    assert!(fs::read(dir.join("copy.arrows")).expect("copy") == bytes);

    // Into a file, which needs the values: refused, naming the column.
    let (url, peer) = one_shot_server(bytes.clone());
    let line = run(&dir, &["recv", &url, "out.arrow"])
        .assert_error(1)
        .to_string();
    assert!(
        line.contains("\"l\"") && line.contains("--skip-unsupported"),
        "{line}"
    );
    peer.join().expect("peer");

    let (url, peer) = one_shot_server(bytes.clone());
    let out = run(&dir, &["recv", &url, "skip.arrow", "--skip-unsupported"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("column \"l\" (List<Int32>) is left out"),
        "{}",
        out.stderr
    );
    peer.join().expect("peer");
    assert_eq!(decode_schema_names(&dir.join("skip.arrow")), ["a", "s"]);

    let (url, peer) = one_shot_server(bytes);
    run(&dir, &["recv", &url, "named.arrow", "--columns", "s,a"]).assert_exit_ok();
    peer.join().expect("peer");
    assert_eq!(decode_schema_names(&dir.join("named.arrow")), ["s", "a"]);
    assert_eq!(decode(&dir.join("named.arrow"))[0].n_rows, 3);
}

#[test]
fn a_port_in_use_says_cannot_listen_not_listening() {
    // Scripts wait for a stderr line starting "listening on": a failed bind
    // must not produce one.
    let dir = test_dir("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", taken.local_addr().expect("addr"));
    run(&dir, &["example", "data.arrows", "--rows", "3"]).assert_exit_ok();
    for args in [
        vec!["serve", url.as_str(), "data.arrows"],
        vec!["listen", url.as_str(), "out.arrows"],
    ] {
        let out = run(&dir, &args);
        let line = out.assert_error(1);
        assert!(
            line.starts_with(&format!("lightstream: cannot listen on {url}: ")),
            "{line}"
        );
        assert!(
            line.to_lowercase().contains("address already in use"),
            "{line}"
        );
        assert!(!line.contains("listening on"), "{line}");
    }
}
