//! The native transports end to end, on loopback only.
//!
//! - Every transport (TCP over IPv4 and IPv6, Unix sockets, WebSocket, QUIC,
//!   HTTP/1.1, h2c and HTTPS with HTTP/2 by ALPN (GET when the server sends,
//!   POST when the client sends), an OS pipe as stdio uses) carries every supported type, dictionaries with
//!   replacements and deltas, compressed and 8-aligned bodies, in both
//!   directions (the server sends; the client sends), and what arrives equals
//!   what was sent.
//! - pyarrow is the real peer over TCP and Unix sockets: it writes into the
//!   socket with its own encoder and we read; we write and it reads and
//!   validates (stdio with pyarrow is tested through the CLI in
//!   crates/lightstream-cli/tests).
//! - Faults: a peer that closes or resets mid-message, a stream without its
//!   end marker, garbage, an oversized frame, WebSocket protocol violations,
//!   a QUIC writer that never finishes, stalled and vanished clients on a
//!   server; each ends in the documented error within a bounded time.
//! - Backpressure: a slow reader holds a fast writer back.
//!
//! Every test runs under a timeout, so none can hang CI.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lightstream::minarrow::{Field, Table};
use lightstream::{
    ClientOptions, Compression, Connection, Endpoint, Error, HttpVersion, Listener, ReadOptions,
    Schema, ServerOptions, TableReader, TableWriter, WriteOptions,
};
use lightstream_core::{DecodeLimits, ErrorKind};
use lightstream_tests::harness::{int64_table, run_bounded, within};
use lightstream_tests::interop::{
    DICT_CHANGES, DICT_GROWTH, TempDir, dictionary_tables, diff_docs, expect_doc,
    interop_all_types, os, read_json, run_python,
};
use lightstream_tests::{assert_tables_equal, diff_schemas};
use tokio::io::AsyncWriteExt;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` on a fresh multi-threaded runtime, failing after [`LIMIT`].
fn run<F: Future<Output = ()>>(what: &str, f: F) {
    run_bounded(what, LIMIT, f)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Tcp6,
    Unix,
    WebSocket,
    Quic,
    /// `http://`, HTTP/1.1.
    Http,
    /// `http://`, HTTP/2 with prior knowledge.
    H2c,
    /// `https://` (self-signed), the client offering only `h2` by ALPN: the
    /// handshake fails unless the server negotiates HTTP/2.
    Https2,
}

const ALL: [Transport; 8] = [
    Transport::Tcp,
    Transport::Tcp6,
    Transport::Unix,
    Transport::WebSocket,
    Transport::Quic,
    Transport::Http,
    Transport::H2c,
    Transport::Https2,
];

/// A listener for `t` on loopback and what a client needs to reach it.
async fn listen(t: Transport, dir: &Path) -> (Listener, Endpoint, ClientOptions) {
    let (url, server, client) = match t {
        Transport::Tcp => (
            "tcp://127.0.0.1:0".to_string(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Tcp6 => (
            "tcp://[::1]:0".to_string(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Unix => (
            format!("unix://{}", dir.join("t.sock").display()),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::WebSocket => (
            "ws://127.0.0.1:0/tables".to_string(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Quic => {
            let (certs, key) = lightstream::quic::self_signed(&["localhost"]).expect("cert");
            let server = ServerOptions {
                quic: Some(lightstream::quic::server_config(certs.clone(), key).expect("server")),
                ..ServerOptions::default()
            };
            let client = ClientOptions {
                quic: Some(lightstream::quic::client_config_trusting(&certs).expect("client")),
                ..ClientOptions::default()
            };
            ("quic://127.0.0.1:0".to_string(), server, client)
        }
        Transport::Http => (
            "http://127.0.0.1:0/tables".to_string(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::H2c => (
            "http://127.0.0.1:0/tables".to_string(),
            ServerOptions::default(),
            ClientOptions {
                http_version: HttpVersion::Http2,
                ..ClientOptions::default()
            },
        ),
        Transport::Https2 => {
            let (certs, key) = lightstream::tls::self_signed(&["127.0.0.1"]).expect("cert");
            let server = ServerOptions {
                tls: Some(lightstream::tls::server_config(certs.clone(), key).expect("server")),
                ..ServerOptions::default()
            };
            let client = ClientOptions {
                tls: Some(lightstream::tls::client_config_trusting(&certs).expect("client")),
                http_version: HttpVersion::Http2,
                ..ClientOptions::default()
            };
            ("https://127.0.0.1:0/tables".to_string(), server, client)
        }
    };
    let endpoint: Endpoint = url.parse().expect("endpoint");
    let listener = lightstream::bind(&endpoint, &server).await.expect("bind");
    let mut reach: Endpoint = listener.local_url().clone();
    if let Endpoint::Quic(addr) = &reach {
        // The certificate names localhost.
        reach = Endpoint::Quic(addr.replace("127.0.0.1", "localhost"));
    }
    (listener, reach, client)
}

async fn send_all(w: &mut TableWriter, tables: &[Table]) -> lightstream::Result<()> {
    for t in tables {
        w.write(t).await?;
    }
    Ok(())
}

/// Sends `tables` over `t` one way (`server_sends`) and returns what arrived.
async fn transfer(
    t: Transport,
    server_sends: bool,
    schema: &Schema,
    tables: &[Table],
    options: WriteOptions,
) -> (Arc<Schema>, Vec<Table>) {
    let dir = TempDir::new("transport");
    let (listener, endpoint, client) = listen(t, dir.path()).await;
    let schema = Arc::new(schema.clone());
    let sent = tables.to_vec();
    let server_schema = schema.clone();
    let server = tokio::spawn(async move {
        let conn = listener.accept().await?;
        if server_sends {
            let mut w = conn.writer(server_schema, options).await?;
            send_all(&mut w, &sent).await?;
            w.finish().await?;
            Ok(None)
        } else {
            let r = conn.reader(ReadOptions::default()).await?;
            let s = r.schema().clone();
            Ok::<_, Error>(Some((s, r.read_all().await?)))
        }
    });
    let conn = lightstream::connect(&endpoint, &client)
        .await
        .expect("connect");
    let received = if server_sends {
        let r = conn.reader(ReadOptions::default()).await.expect("reader");
        let s = r.schema().clone();
        Some((s, r.read_all().await.expect("read")))
    } else {
        let mut w = conn.writer(schema, options).await.expect("writer");
        send_all(&mut w, tables).await.expect("write");
        w.finish().await.expect("finish");
        None
    };
    let from_server = server.await.expect("server task").expect("server");
    received.or(from_server).expect("one side received")
}

fn assert_same(label: &str, schema: &Schema, tables: &[Table], got: &(Arc<Schema>, Vec<Table>)) {
    if let Err(e) = diff_schemas(&got.0, schema) {
        panic!("{label}: schema differs: {e}");
    }
    assert_eq!(got.1.len(), tables.len(), "{label}: table count");
    for (i, (a, b)) in got.1.iter().zip(tables).enumerate() {
        assert_tables_equal(a, b, &format!("{label}, table {i}"));
    }
}

#[test]
fn every_transport_carries_every_type_both_ways() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_CHANGES);
    let (growth_schema, growth_tables) = dictionary_tables(&DICT_GROWTH);
    let sets = [
        ("all types", &schema, &tables),
        ("dictionary replacements", &dict_schema, &dict_tables),
        ("dictionary deltas", &growth_schema, &growth_tables),
    ];
    let options = [
        ("plain", WriteOptions::default()),
        (
            "zstd",
            WriteOptions {
                compression: Compression::Zstd,
                ..Default::default()
            },
        ),
        (
            "lz4, 8-aligned",
            WriteOptions {
                compression: Compression::Lz4Frame,
                alignment: 8,
                ..Default::default()
            },
        ),
        (
            "8-aligned",
            WriteOptions {
                alignment: 8,
                ..Default::default()
            },
        ),
    ];
    run("round trips", async {
        for t in ALL {
            for server_sends in [true, false] {
                for (set, s, ts) in sets {
                    for (opt, o) in options {
                        let label = format!(
                            "{t:?}, {} sends, {set}, {opt}",
                            if server_sends { "server" } else { "client" }
                        );
                        let got = within(&label, 20, transfer(t, server_sends, s, ts, o)).await;
                        assert_same(&label, s, ts, &got);
                    }
                }
            }
        }
    });
}

/// HTTP/2 only over `https://` is HTTP/2 by ALPN or an error: a TLS server
/// that offers no ALPN protocol (`tls://`) is refused before any request,
/// so `Transport::Https2` above really ran HTTP/2.
#[test]
fn https_with_http2_only_needs_the_server_to_agree_by_alpn() {
    run("h2 by ALPN", async {
        let (certs, key) = lightstream::tls::self_signed(&["127.0.0.1"]).expect("cert");
        let server = ServerOptions {
            tls: Some(lightstream::tls::server_config(certs.clone(), key).expect("server")),
            ..ServerOptions::default()
        };
        let listener = lightstream::bind(&"tls://127.0.0.1:0".parse().expect("url"), &server)
            .await
            .expect("bind");
        let Endpoint::Tls(addr) = listener.local_url().clone() else {
            panic!("not tls")
        };
        let served = tokio::spawn(async move {
            let conn = listener.accept().await?;
            conn.writer(
                Arc::new(Schema::from_table(&int64_table(0, 1))),
                WriteOptions::default(),
            )
            .await
            .map(drop)
        });
        let client = ClientOptions {
            tls: Some(lightstream::tls::client_config_trusting(&certs).expect("client")),
            http_version: HttpVersion::Http2,
            ..ClientOptions::default()
        };
        let url: Endpoint = format!("https://{addr}/t").parse().expect("url");
        let Err(e) = within("connect", 10, lightstream::connect(&url, &client)).await else {
            panic!("connected to a server without h2")
        };
        assert!(
            e.to_string().contains("did not agree to HTTP/2 by ALPN"),
            "{e}"
        );
        served.abort();
    });
}

#[test]
fn an_os_pipe_carries_tables_as_stdio_does() {
    // `Connection::stdio()` is `from_io(stdin, stdout)`; the same byte path
    // over a real pipe (the CLI tests drive the real stdin/stdout).
    let (schema, tables) = interop_all_types();
    run("pipe", async {
        let (tx, rx) = tokio::net::unix::pipe::pipe().expect("pipe");
        let sent = tables.clone();
        let s = Arc::new(schema.clone());
        let writer = tokio::spawn(async move {
            let conn = Connection::from_io(tokio::io::empty(), tx, "pipe");
            let mut w = conn.writer(s, WriteOptions::default()).await?;
            send_all(&mut w, &sent).await?;
            w.finish().await
        });
        let conn = Connection::from_io(rx, tokio::io::sink(), "pipe");
        let r = conn.reader(ReadOptions::default()).await.expect("reader");
        let got = (r.schema().clone(), r.read_all().await.expect("read"));
        writer.await.expect("task").expect("writer");
        assert_same("pipe", &schema, &tables, &got);
    });
}

#[test]
fn a_quic_connection_carries_several_table_streams_at_once() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_GROWTH);
    run("quic streams", async {
        let dir = TempDir::new("quic");
        let (listener, endpoint, client) = listen(Transport::Quic, dir.path()).await;
        let (a, b) = (
            (schema.clone(), tables.clone()),
            (dict_schema.clone(), dict_tables.clone()),
        );
        let server = tokio::spawn(async move {
            let session = listener.accept().await?.into_quic().await?;
            let mut tasks = Vec::new();
            for (s, ts) in [a.clone(), b.clone(), a, b] {
                let session = session.clone();
                tasks.push(tokio::spawn(async move {
                    let mut w = session
                        .open_writer(Arc::new(s), WriteOptions::default())
                        .await?;
                    send_all(&mut w, &ts).await?;
                    w.finish().await
                }));
            }
            for t in tasks {
                t.await.expect("stream task")?;
            }
            Ok::<_, Error>(())
        });
        let session = lightstream::connect(&endpoint, &client)
            .await
            .expect("connect")
            .into_quic()
            .await
            .expect("session");
        let mut readers = Vec::new();
        for _ in 0..4 {
            let r = session
                .accept_reader(ReadOptions::default())
                .await
                .expect("accept stream");
            readers.push(tokio::spawn(async move {
                let s = r.schema().clone();
                (s, r.read_all().await)
            }));
        }
        let (mut all_types, mut dicts) = (0, 0);
        for r in readers {
            let (s, got) = r.await.expect("reader task");
            let got = (s, got.expect("stream"));
            if got.0.fields.len() == schema.fields.len() {
                assert_same("quic stream", &schema, &tables, &got);
                all_types += 1;
            } else {
                assert_same("quic stream", &dict_schema, &dict_tables, &got);
                dicts += 1;
            }
        }
        assert_eq!((all_types, dicts), (2, 2));
        server.await.expect("server task").expect("server");
    });
}

// ---------------------------------------------------------------- pyarrow

fn addr_for_python(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp(a) => format!("tcp:{a}"),
        Endpoint::Unix(p) => format!("unix:{}", p.display()),
        other => panic!("no python address for {other}"),
    }
}

#[test]
fn pyarrow_writes_into_the_socket_and_we_read_it() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_GROWTH);
    for t in [Transport::Tcp, Transport::Unix] {
        for (set, s, ts) in [
            ("all types", &schema, &tables),
            ("dictionary deltas", &dict_schema, &dict_tables),
        ] {
            for compression in ["none", "zstd", "lz4"] {
                let label = format!("{t:?}, pyarrow sends {set}, {compression}");
                let dir = TempDir::new("pyarrow-send");
                let input = dir.path().join("in.arrows");
                let bytes = lightstream_core::write_stream(s, ts, &WriteOptions::default())
                    .expect("encode");
                std::fs::write(&input, bytes).expect("write input");
                let expect = dir.path().join("sent.json");
                run(&label, async {
                    let (listener, endpoint, _) = listen(t, dir.path()).await;
                    let addr = addr_for_python(&endpoint);
                    let (input, expect2) = (input.clone(), expect.clone());
                    let python = tokio::task::spawn_blocking(move || {
                        run_python(
                            "socket_peer.py",
                            &[
                                os(Path::new("send")),
                                os(Path::new(&addr)),
                                os(&input),
                                os(&expect2),
                                os(Path::new(compression)),
                            ],
                        )
                    });
                    let conn = within(&label, 30, listener.accept()).await.expect("accept");
                    let r = conn.reader(ReadOptions::default()).await.expect("reader");
                    let got_schema = r.schema().clone();
                    let got = r.read_all().await.expect("read what pyarrow sent");
                    python.await.expect("python");
                    // What pyarrow says it sent, value for value.
                    let doc = read_json(&expect);
                    let ours = expect_doc("stream", &got_schema, &got, true).expect("doc");
                    let diffs = diff_docs(&label, &doc, &ours);
                    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
                    // And the original tables.
                    assert_same(&label, s, ts, &(got_schema, got));
                });
            }
        }
    }
}

#[test]
fn we_write_into_the_socket_and_pyarrow_reads_and_validates_it() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_GROWTH);
    for t in [Transport::Tcp, Transport::Unix] {
        for (set, s, ts) in [
            ("all types", &schema, &tables),
            ("dictionary deltas", &dict_schema, &dict_tables),
        ] {
            for compression in [Compression::None, Compression::Zstd, Compression::Lz4Frame] {
                let label = format!("{t:?}, pyarrow receives {set}, {compression:?}");
                let dir = TempDir::new("pyarrow-recv");
                let out = dir.path().join("received.json");
                run(&label, async {
                    let (listener, endpoint, _) = listen(t, dir.path()).await;
                    let addr = addr_for_python(&endpoint);
                    let out2 = out.clone();
                    let python = tokio::task::spawn_blocking(move || {
                        run_python(
                            "socket_peer.py",
                            &[os(Path::new("recv")), os(Path::new(&addr)), os(&out2)],
                        )
                    });
                    let conn = within(&label, 30, listener.accept()).await.expect("accept");
                    let options = WriteOptions {
                        compression,
                        ..Default::default()
                    };
                    let mut w = conn
                        .writer(Arc::new(s.clone()), options)
                        .await
                        .expect("writer");
                    send_all(&mut w, ts).await.expect("write");
                    w.finish().await.expect("finish");
                    let said = python.await.expect("python");
                    assert!(
                        said.contains(&format!("received {} batches", ts.len())),
                        "{said}"
                    );
                    let doc = expect_doc("stream", s, ts, true).expect("doc");
                    let diffs = diff_docs(&label, &doc, &read_json(&out));
                    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
                });
            }
        }
    }
}

// ----------------------------------------------------------------- faults

fn small_stream() -> (Vec<u8>, usize) {
    let (schema, tables) = interop_all_types();
    let bytes =
        lightstream_core::write_stream(&schema, &tables, &WriteOptions::default()).expect("encode");
    let n = tables.len();
    (bytes, n)
}

/// A raw TCP server that writes `bytes` to its first client, then closes
/// (resetting the connection when `reset`).
async fn raw_server(bytes: Vec<u8>, reset: bool) -> Endpoint {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let _ = s.write_all(&bytes).await;
        let _ = s.flush().await;
        if reset {
            // Let the client connect and start reading first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            // Linger 0: closing sends RST, as when the kernel cleans up after
            // a killed process.
            #[allow(deprecated)]
            let _ = s.set_linger(Some(Duration::ZERO));
        }
        drop(s);
    });
    format!("tcp://{addr}").parse().expect("endpoint")
}

async fn read_from(endpoint: &Endpoint, options: ReadOptions) -> lightstream::Result<Vec<Table>> {
    let conn = lightstream::connect(endpoint, &ClientOptions::default()).await?;
    conn.reader(options).await?.read_all().await
}

#[test]
fn a_peer_that_closes_mid_message_gives_a_truncated_error() {
    let (bytes, _) = small_stream();
    run("closed mid-message", async {
        for cut in [3, 100, bytes.len() / 2, bytes.len() - 20] {
            let ep = raw_server(bytes[..cut].to_vec(), false).await;
            let err = within("read", 10, read_from(&ep, ReadOptions::default()))
                .await
                .expect_err("a cut stream must not read cleanly");
            assert_eq!(
                err.codec_kind(),
                Some(ErrorKind::Truncated),
                "cut {cut}: {err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("closed") && msg.contains("tcp 127.0.0.1:"),
                "cut {cut}: {msg}"
            );
        }
    });
}

#[test]
fn a_peer_that_resets_mid_message_gives_an_io_error_naming_it() {
    let (bytes, _) = small_stream();
    run("reset", async {
        let ep = raw_server(bytes[..bytes.len() / 2].to_vec(), true).await;
        let err = within("read", 10, read_from(&ep, ReadOptions::default()))
            .await
            .expect_err("a reset stream must not read cleanly");
        // Either the reset is seen (I/O error) or the bytes before it ended
        // mid-message (truncated): never a clean, short stream.
        match &err {
            Error::Io { context, .. } => assert!(context.contains("reading from tcp"), "{err}"),
            e => assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{err}"),
        }
    });
}

#[test]
fn a_stream_without_its_end_marker_is_reported_truncated() {
    let (bytes, n) = small_stream();
    run("no end marker", async {
        let ep = raw_server(bytes[..bytes.len() - 8].to_vec(), false).await;
        let err = within("read", 10, read_from(&ep, ReadOptions::default()))
            .await
            .expect_err("must not pass off as complete");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "after {n} tables without the end-of-stream marker"
            )),
            "{err}"
        );
    });
}

#[test]
fn garbage_is_refused_as_not_arrow() {
    run("garbage", async {
        let junk = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>".to_vec();
        let ep = raw_server(junk, false).await;
        let err = within("read", 10, read_from(&ep, ReadOptions::default()))
            .await
            .expect_err("garbage");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Malformed), "{err}");
        assert!(
            err.to_string().contains("does not look like Arrow IPC"),
            "{err}"
        );

        let mut junk = vec![0xFF, 0xFF, 0xFF, 0xFF, 64, 0, 0, 0];
        junk.extend((0..64u8).map(|i| i.wrapping_mul(37)));
        let ep = raw_server(junk, false).await;
        let err = within("read", 10, read_from(&ep, ReadOptions::default()))
            .await
            .expect_err("garbage metadata");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Malformed), "{err}");
    });
}

/// `rows` int64 values `0..rows` (table 0 of [`int64_table`]).
fn numeric_table(rows: usize) -> Table {
    int64_table(0, rows)
}

#[test]
fn an_oversized_frame_is_refused_without_reading_it() {
    run("oversized", async {
        let t = numeric_table(1 << 20); // an 8 MiB body
        let bytes =
            lightstream_core::write_stream(&Schema::from_table(&t), &[t], &WriteOptions::default())
                .expect("encode");
        let ep = raw_server(bytes, false).await;
        let options = ReadOptions {
            limits: DecodeLimits {
                max_body_bytes: 1 << 20,
                ..DecodeLimits::DEFAULT
            },
            ..Default::default()
        };
        let err = within("read", 10, read_from(&ep, options))
            .await
            .expect_err("over the limit");
        assert_eq!(err.codec_kind(), Some(ErrorKind::LimitExceeded), "{err}");
        assert!(
            err.to_string().contains("message body length is 8388608"),
            "{err}"
        );
    });
}

/// A WebSocket server that sends `messages`, then closes (or drops the
/// connection without closing when `drop_without_close`).
async fn raw_ws_server(
    messages: Vec<tokio_tungstenite::tungstenite::Message>,
    drop_without_close: bool,
) -> Endpoint {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let (s, _) = l.accept().await.expect("accept");
        let mut ws =
            tokio_tungstenite::accept_hdr_async(s, lightstream::websocket::answer_subprotocol)
                .await
                .expect("handshake");
        for m in messages {
            if ws.send(m).await.is_err() {
                return;
            }
        }
        if drop_without_close {
            drop(ws);
        } else {
            let _ = ws.close(None).await;
            // Let the client read the close before the socket goes away.
            let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        }
    });
    format!("ws://{addr}/").parse().expect("endpoint")
}

/// The encapsulated messages of a stream, one `Vec` each.
fn messages_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = message_len(rest);
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// Length of the first encapsulated message of `bytes` (prefix, metadata, body).
fn message_len(bytes: &[u8]) -> usize {
    // The core's frame decoder finds it: push one message's worth at a time.
    let mut dec = lightstream_core::framing::ipc::IpcFrameDecoder::new(DecodeLimits::DEFAULT);
    match lightstream_core::framing::FrameDecoder::decode(&mut dec, bytes).expect("frame") {
        lightstream_core::framing::Decoded::Frame { consumed, .. } => consumed,
        lightstream_core::framing::Decoded::NeedMore => bytes.len(),
    }
}

#[test]
fn websocket_protocol_violations_are_clear_errors() {
    use tokio_tungstenite::tungstenite::Message;
    let (bytes, _) = small_stream();
    let msgs = messages_of(&bytes);
    assert!(msgs.len() >= 4);
    run("websocket faults", async {
        let read = |ep: Endpoint| async move {
            within("ws read", 10, read_from(&ep, ReadOptions::default())).await
        };
        // Every message in one binary message: allowed (whole IPC messages).
        let ep = raw_ws_server(vec![Message::Binary(bytes.clone().into())], false).await;
        assert_eq!(read(ep).await.expect("one big message").len(), 4);

        // A text message.
        let ep = raw_ws_server(
            vec![
                Message::Binary(msgs[0].clone().into()),
                Message::Text("hello".into()),
            ],
            false,
        )
        .await;
        let err = read(ep).await.expect_err("text");
        assert!(matches!(err, Error::Protocol(_)), "{err}");
        assert!(err.to_string().contains("text message"), "{err}");

        // A binary message that ends inside an IPC message.
        let half = msgs[1][..msgs[1].len() / 2].to_vec();
        let ep = raw_ws_server(
            vec![
                Message::Binary(msgs[0].clone().into()),
                Message::Binary(half.into()),
            ],
            false,
        )
        .await;
        let err = read(ep).await.expect_err("split message");
        assert!(
            err.to_string()
                .contains("ended inside an Arrow IPC message"),
            "{err}"
        );

        // Closed, or dropped, before the end marker.
        for drop_without_close in [false, true] {
            let ep = raw_ws_server(
                msgs[..2]
                    .iter()
                    .map(|m| Message::Binary(m.clone().into()))
                    .collect(),
                drop_without_close,
            )
            .await;
            let err = read(ep).await.expect_err("no end marker");
            assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        }
    });
}

#[test]
fn a_quic_writer_that_never_finishes_is_a_truncated_stream() {
    let (schema, tables) = interop_all_types();
    run("quic unfinished", async {
        let dir = TempDir::new("quic-fault");
        let (listener, endpoint, client) = listen(Transport::Quic, dir.path()).await;
        let t0 = tables[0].clone();
        let s = Arc::new(schema.clone());
        let server = tokio::spawn(async move {
            let session = listener.accept().await?.into_quic().await?;
            let mut w = session.open_writer(s, WriteOptions::default()).await?;
            w.write(&t0).await?;
            drop(w); // no finish(): the stream ends without its marker
            session.closed().await;
            Ok::<_, Error>(())
        });
        let session = lightstream::connect(&endpoint, &client)
            .await
            .expect("connect")
            .into_quic()
            .await
            .expect("session");
        let r = session
            .accept_reader(ReadOptions::default())
            .await
            .expect("stream");
        let err = within("read", 10, r.read_all())
            .await
            .expect_err("unfinished");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        session.close();
        within("server", 10, server)
            .await
            .expect("task")
            .expect("server");
    });
}

#[test]
fn a_server_keeps_serving_while_clients_stall_or_vanish() {
    let (schema, tables) = interop_all_types();
    for t in [Transport::Tcp, Transport::WebSocket, Transport::Quic] {
        run(&format!("{t:?} server"), async {
            let dir = TempDir::new("serve");
            let (listener, endpoint, client) = listen(t, dir.path()).await;
            let s = Arc::new(schema.clone());
            let ts = tables.clone();
            let served = Arc::new(AtomicU64::new(0));
            let served2 = served.clone();
            tokio::spawn(async move {
                while let Ok(conn) = listener.accept().await {
                    let (s, ts, served) = (s.clone(), ts.clone(), served2.clone());
                    tokio::spawn(async move {
                        let mut w = conn.writer(s, WriteOptions::default()).await?;
                        send_all(&mut w, &ts).await?;
                        w.finish().await?;
                        served.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(())
                    });
                }
            });
            // A client that connects and says nothing (stalls any handshake),
            // and one that connects and vanishes.
            let addr = match &endpoint {
                Endpoint::Tcp(a) => Some(a.clone()),
                Endpoint::WebSocket(u) => Some(
                    u.trim_start_matches("ws://")
                        .trim_end_matches("/tables")
                        .to_string(),
                ),
                _ => None,
            };
            let mut stalled = None;
            if let Some(a) = addr {
                stalled = Some(tokio::net::TcpStream::connect(&a).await.expect("stall"));
                drop(tokio::net::TcpStream::connect(&a).await.expect("vanish"));
            }
            for i in 0..3 {
                let conn = lightstream::connect(&endpoint, &client)
                    .await
                    .expect("connect");
                let r = within("reader", 10, conn.reader(ReadOptions::default()))
                    .await
                    .expect("reader");
                let got = within("read", 10, r.read_all()).await.expect("read");
                assert_eq!(got.len(), tables.len(), "{t:?} client {i}");
                assert_tables_equal(&got[3], &tables[3], &format!("{t:?} client {i}"));
            }
            drop(stalled);
        });
    }
}

// ----------------------------------------------------------- backpressure

#[test]
fn a_slow_reader_holds_the_writer_back() {
    const TABLES: u64 = 24;
    for t in [Transport::Tcp, Transport::Unix, Transport::WebSocket] {
        run(&format!("{t:?} backpressure"), async {
            let dir = TempDir::new("backpressure");
            let (listener, endpoint, client) = listen(t, dir.path()).await;
            let table = numeric_table(1 << 20); // 8 MiB per table
            let written = Arc::new(AtomicU64::new(0));
            let w2 = written.clone();
            let server = tokio::spawn(async move {
                let conn = listener.accept().await?;
                let mut w = conn
                    .writer(
                        Arc::new(Schema::from_table(&table)),
                        WriteOptions::default(),
                    )
                    .await?;
                for _ in 0..TABLES {
                    w.write(&table).await?;
                    w2.fetch_add(1, Ordering::SeqCst);
                }
                w.finish().await?;
                Ok::<_, Error>(())
            });
            let conn = lightstream::connect(&endpoint, &client)
                .await
                .expect("connect");
            let mut r: TableReader = conn.reader(ReadOptions::default()).await.expect("reader");
            let (mut read, mut ahead_max) = (0u64, 0u64);
            while let Some(table) = r.next().await {
                let table = table.expect("table");
                assert_eq!(table.n_rows, 1 << 20);
                read += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
                ahead_max = ahead_max.max(written.load(Ordering::SeqCst).saturating_sub(read));
            }
            assert_eq!(read, TABLES);
            server.await.expect("task").expect("server");
            // Socket buffers hold a few MiB: the writer may be a table or two
            // ahead, never the whole stream.
            assert!(
                ahead_max <= 3,
                "{t:?}: the writer got {ahead_max} tables (of 8 MiB) ahead of a slow reader"
            );
        });
    }
}

// ---------------------------------------------------------------- zero copy

#[test]
fn bodies_arrive_in_place_over_tcp_unless_align_64_moves_them() {
    run("in place", async {
        // Two columns of 2^20 + 1 rows: written 8-aligned, the second buffer
        // starts 8 bytes past a 64-byte boundary: aligned for its type, so
        // read in place too, unless the reader asks for `align_64`.
        let one = numeric_table((1 << 20) + 1);
        let mut cols = one.cols.clone();
        let mut second = one.cols[0].clone();
        second.field = Arc::new(Field {
            name: "m".to_string(),
            ..(*second.field).clone()
        });
        cols.push(second);
        let table = Table::new("t".to_string(), Some(cols));
        for (alignment, align_64, in_place_expected) in
            [(64, false, true), (8, false, true), (8, true, false)]
        {
            let dir = TempDir::new("in-place");
            let (listener, endpoint, client) = listen(Transport::Tcp, dir.path()).await;
            let t = table.clone();
            let server = tokio::spawn(async move {
                let conn = listener.accept().await?;
                let options = WriteOptions {
                    alignment,
                    ..Default::default()
                };
                let mut w = conn
                    .writer(Arc::new(Schema::from_table(&t)), options)
                    .await?;
                for _ in 0..4 {
                    w.write(&t).await?;
                }
                w.finish().await
            });
            let conn = lightstream::connect(&endpoint, &client)
                .await
                .expect("connect");
            let options = ReadOptions {
                align_64,
                ..ReadOptions::default()
            };
            let mut r = conn.reader(options).await.expect("reader");
            let mut n = 0;
            while let Some(got) = r.next().await {
                assert_tables_equal(&got.expect("table"), &table, &format!("align {alignment}"));
                n += 1;
            }
            assert_eq!(n, 4);
            let (total, in_place) = (r.bytes_read(), r.bytes_read_in_place());
            server.await.expect("task").expect("server");
            if in_place_expected {
                // Everything but prefixes, metadata and the first scratch
                // read of each body landed where the columns now live.
                assert!(
                    in_place as f64 >= 0.99 * total as f64,
                    "only {in_place} of {total} bytes were read in place"
                );
            } else {
                assert_eq!(in_place, 0, "align_64 moves an 8-aligned body");
            }
        }
    });
}

#[test]
fn a_quic_reader_that_stops_at_the_end_marker_reads_the_stream_to_its_end() {
    // The peers below send the end-of-stream marker, wait until our reader
    // has returned it (and been dropped), and only then end the transport.
    // A dropped reader must still read on to that end: the QUIC writer then
    // sees its stream acknowledged, not stopped, and the WebSocket peer gets
    // its closing handshake answered.
    let (schema, tables) = interop_all_types();
    let bytes =
        lightstream_core::write_stream(&schema, &tables, &WriteOptions::default()).expect("encode");
    run("quic late FIN", async {
        let dir = TempDir::new("late-fin");
        let (listener, endpoint, client) = listen(Transport::Quic, dir.path()).await;
        let b = bytes.clone();
        let server = tokio::spawn(async move {
            let session = listener.accept().await?.into_quic().await?;
            let mut send = session.connection().open_uni().await.expect("open");
            send.write_all(&b).await.expect("write");
            tokio::time::sleep(Duration::from_millis(300)).await;
            send.finish().expect("finish");
            let stopped = send.stopped().await.expect("stopped");
            session.closed().await;
            Ok::<_, Error>(stopped)
        });
        let session = lightstream::connect(&endpoint, &client)
            .await
            .expect("connect")
            .into_quic()
            .await
            .expect("session");
        let r = session
            .accept_reader(ReadOptions::default())
            .await
            .expect("stream");
        assert_eq!(r.read_all().await.expect("read").len(), tables.len());
        tokio::time::sleep(Duration::from_millis(600)).await;
        session.close();
        let stopped = within("server", 10, server)
            .await
            .expect("task")
            .expect("server");
        assert_eq!(
            stopped, None,
            "the reader stopped the stream instead of reading it to its end"
        );
    });
}

#[test]
fn a_websocket_reader_that_stops_at_the_end_marker_answers_the_closing_handshake() {
    let (schema, tables) = interop_all_types();
    let bytes =
        lightstream_core::write_stream(&schema, &tables, &WriteOptions::default()).expect("encode");
    run("websocket late close", async {
        use tokio_tungstenite::tungstenite::Message;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let msgs = messages_of(&bytes);
        let server = tokio::spawn(async move {
            let (sock, _) = l.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_hdr_async(
                sock,
                lightstream::websocket::answer_subprotocol,
            )
            .await
            .expect("handshake");
            for m in msgs {
                ws.send(Message::Binary(m.into())).await.expect("send");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            ws.close(None).await.expect("close");
            // The answer to our Close: a Close frame (clean), not a reset.
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => Ok(()),
                Ok(Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed))) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        let ep: Endpoint = format!("ws://{addr}/").parse().expect("endpoint");
        let got = read_from(&ep, ReadOptions::default()).await.expect("read");
        assert_eq!(got.len(), tables.len());
        let answer = within("server", 10, server).await.expect("task");
        assert!(
            answer.is_ok(),
            "the closing handshake was not answered: {answer:?}"
        );
    });
}

#[test]
fn a_websocket_client_refuses_a_message_over_its_limits_before_buffering_it() {
    run("ws limit", async {
        let t = numeric_table(1 << 20); // an 8 MiB body
        let bytes = lightstream_core::write_stream(
            &Schema::from_table(&t),
            std::slice::from_ref(&t),
            &WriteOptions::default(),
        )
        .expect("encode");
        let msgs = messages_of(&bytes);
        let ep = raw_ws_server(
            msgs.into_iter()
                .map(|m| tokio_tungstenite::tungstenite::Message::Binary(m.into()))
                .collect(),
            false,
        )
        .await;
        let options = ReadOptions {
            limits: DecodeLimits {
                max_metadata_bytes: 64 << 10,
                max_body_bytes: 1 << 20,
                ..DecodeLimits::DEFAULT
            },
            ..Default::default()
        };
        let err = within("read", 10, read_from(&ep, options))
            .await
            .expect_err("over the limit");
        // Refused by the WebSocket layer, sized from the reader's limits.
        assert!(matches!(err, Error::Protocol(_)), "{err}");
        assert!(err.to_string().contains("too long"), "{err}");
    });
}
