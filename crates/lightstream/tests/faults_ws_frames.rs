//! Hostile WebSocket frames, against hand-written peers (`lightstream_tests::raw_ws`).
//!
//! - A frame header declaring 2 GiB (issue 14), alone and followed by data,
//!   to our reader, our writer and from a server to our client: a clear
//!   protocol error, the heap grows by far less than the declared length.
//! - A peer that breaks the protocol is told why with a Close status code
//!   (issue 14, item 6), from our reader, our writer and our client.
//!
//! Pass criteria are outcomes and memory bounds (this binary's global
//! allocator counts the heap); the only times are generous upper bounds.
//! Shared helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use lightstream::{ClientOptions, Endpoint, Error, ServerOptions, WriteOptions};
use lightstream_tests::raw_ws::{
    HUGE_FRAME_FROM_CLIENT, HUGE_FRAME_FROM_SERVER, close_code, masked_frame, raw_ws_client,
    raw_ws_server, send_hostile,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ------------------------------------------------- hostile WebSocket frame headers

/// At most this much heap for one hostile connection: twice the default
/// `max_eager_reserve` (64 MiB).
const HOSTILE_HEAP_BOUND: usize = 2 * (64 << 20);
/// `err` is a protocol error saying `why`, and the heap grew by less than
/// [`HOSTILE_HEAP_BOUND`] meanwhile (`data`: whether data followed the header).
#[track_caller]
fn assert_refused_within_bound(err: &Error, why: &str, data: bool, grown: usize) {
    assert!(
        matches!(err, Error::Protocol(m) if m.contains(why)),
        "data {data}: {err}"
    );
    eprintln!("data {data}: {err}; heap grew {grown} bytes");
    assert!(
        grown < HOSTILE_HEAP_BOUND,
        "data {data}: heap grew {grown} bytes"
    );
}

/// A raw client: the WebSocket handshake by hand with `addr`, then the
/// 2 GiB header (and data).
async fn hostile_client(addr: &str, data: bool) -> tokio::net::TcpStream {
    let mut s = raw_ws_client(addr, "/t").await;
    send_hostile(&mut s, &HUGE_FRAME_FROM_CLIENT, data).await;
    s
}

/// A lightstream ws:// server whose one connection is read (`reads`) or
/// written to; the outcome of that connection.
async fn one_ws_connection(
    reads: bool,
) -> (String, tokio::task::JoinHandle<lightstream::Result<()>>) {
    let listener = lightstream::bind(
        &"ws://127.0.0.1:0/t".parse().expect("url"),
        &ServerOptions::default(),
    )
    .await
    .expect("bind");
    let addr = listener.local_url().to_string();
    let addr = addr
        .trim_start_matches("ws://")
        .trim_end_matches("/t")
        .to_string();
    let task = tokio::spawn(async move {
        let conn = listener.accept().await.expect("accept");
        if reads {
            receive(conn, None).await
        } else {
            send(conn, &[table(0, ROWS)], None).await
        }
    });
    (addr, task)
}

#[test]
fn a_websocket_frame_header_declaring_2_gib_is_refused_by_our_reader() {
    run("2 GiB frame header to our reader", async {
        for data in [false, true] {
            let (addr, server) = one_ws_connection(true).await;
            let base = heap_baseline();
            let client = hostile_client(&addr, data).await;
            let outcome = within("the reader refuses the frame", 10, server)
                .await
                .expect("task");
            let grown = heap_growth(base);
            drop(client);
            let err = outcome.expect_err("a 2 GiB frame is refused");
            assert_refused_within_bound(&err, "too long", data, grown);
        }
    });
}

#[test]
fn a_websocket_frame_header_declaring_2_gib_ends_our_writer() {
    run("2 GiB frame header to our writer", async {
        for data in [false, true] {
            let (addr, server) = one_ws_connection(false).await;
            let base = heap_baseline();
            let mut client = hostile_client(&addr, data).await;
            // Read what the writer sends until it closes the connection.
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
            });
            let outcome = within("the writer ends", 10, server).await.expect("task");
            let grown = heap_growth(base);
            reader.abort();
            let err = outcome.expect_err("a peer that sends data to a writer is dropped");
            assert_refused_within_bound(&err, "only writes", data, grown);
        }
    });
}

#[test]
fn a_websocket_server_declaring_a_2_gib_frame_is_refused_by_our_client() {
    run("2 GiB frame header from a server", async {
        for data in [false, true] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = l.local_addr().expect("addr");
            let server = tokio::spawn(async move {
                let mut s = raw_ws_server(&l).await;
                send_hostile(&mut s, &HUGE_FRAME_FROM_SERVER, data).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
            let base = heap_baseline();
            let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
            let outcome = within("the client refuses the frame", 10, async {
                let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
                receive(conn, None).await
            })
            .await;
            let grown = heap_growth(base);
            server.abort();
            let err = outcome.expect_err("a 2 GiB frame is refused");
            assert_refused_within_bound(&err, "too long", data, grown);
        }
    });
}

/// Issue 14, item 6: a peer that breaks the protocol is told why, with a
/// Close status code, before our reader drops it: 1009 for a frame or an
/// IPC message over the limits, 1002 for a malformed frame, a binary message
/// that ends inside an IPC message or one that is not Arrow IPC, 1003 for a
/// text message.
#[test]
fn a_websocket_peer_that_breaks_the_protocol_gets_a_close_code_from_our_reader() {
    run("close codes from our reader", async {
        let msgs = messages(1, ROWS);
        let half = &msgs[0][..msgs[0].len() / 2];
        // An IPC prefix declaring 2 GiB of metadata (over DecodeLimits), and
        // a whole message whose 8 bytes of metadata are no flatbuffer.
        let over_limit = [0xFF, 0xFF, 0xFF, 0xFF, 0xF8, 0xFF, 0xFF, 0x7F];
        let garbage = [0xFF, 0xFF, 0xFF, 0xFF, 8, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
        let cases: [(&str, Vec<u8>, u16, &str); 6] = [
            (
                "2 GiB frame",
                HUGE_FRAME_FROM_CLIENT.to_vec(),
                1009,
                "too long",
            ),
            (
                "reserved bit",
                masked_frame(0xC2, &[0]),
                1002,
                "WebSocket error from",
            ),
            ("text", masked_frame(0x81, b"hello"), 1003, "text message"),
            (
                "half a schema",
                masked_frame(0x82, half),
                1002,
                "ended inside an Arrow IPC",
            ),
            (
                "2 GiB metadata",
                masked_frame(0x82, &over_limit),
                1009,
                "limit exceeded",
            ),
            (
                "no flatbuffer",
                masked_frame(0x82, &garbage),
                1002,
                "malformed",
            ),
        ];
        for (what, bytes, code, says) in cases {
            let (addr, server) = one_ws_connection(true).await;
            let mut client = raw_ws_client(&addr, "/t").await;
            client.write_all(&bytes).await.expect("send");
            let got = within(what, 10, close_code(&mut client)).await;
            let err = within(what, 10, server)
                .await
                .expect("task")
                .expect_err(what);
            assert!(err.to_string().contains(says), "{what}: {err}");
            assert_eq!(got, Some(code), "{what}: {err}");
        }
    });
}

/// Issue 14, item 6: a peer that sends data to a stream that only writes
/// gets Close 1008 (policy) before our writer drops it.
#[test]
fn a_websocket_peer_that_sends_data_to_our_writer_gets_close_1008() {
    run("close code from our writer", async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.expect("accept");
            let config = lightstream::websocket::write_only_config();
            let ws = tokio_tungstenite::accept_hdr_async_with_config(
                tcp,
                lightstream::websocket::answer_subprotocol,
                Some(config),
            )
            .await
            .expect("handshake");
            // The client's data has arrived (and tokio knows) before our
            // writer starts, as the demo hands its sockets over.
            ws.get_ref().readable().await.expect("readable");
            let conn = lightstream::websocket::connection(
                ws,
                lightstream::websocket::Role::Server,
                "raw client",
            );
            let mut w = conn.writer(schema(), WriteOptions::default()).await?;
            w.write(&table(0, ROWS)).await?;
            w.finish().await.map(drop)
        });
        let mut client = raw_ws_client(&addr, "/t").await;
        client
            .write_all(&masked_frame(0x82, b"data"))
            .await
            .expect("send");
        let got = within("the writer's Close", 10, close_code(&mut client)).await;
        let err = within("the writer ends", 10, server)
            .await
            .expect("task")
            .expect_err("data to a writer");
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("only writes")),
            "{err}"
        );
        assert_eq!(got, Some(1008), "{err}");
    });
}

/// Issue 14, item 6, client side: our client refuses a 2 GiB frame from a
/// server with Close 1009.
#[test]
fn a_websocket_server_declaring_a_2_gib_frame_gets_close_1009_from_our_client() {
    run("close code from our client", async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let mut s = raw_ws_server(&l).await;
            s.write_all(&HUGE_FRAME_FROM_SERVER).await.expect("header");
            close_code(&mut s).await
        });
        let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
        let err = within("the client refuses the frame", 10, async {
            let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
            receive(conn, None).await
        })
        .await
        .expect_err("a 2 GiB frame is refused");
        assert!(err.to_string().contains("too long"), "{err}");
        let got = within("the client's Close", 10, server)
            .await
            .expect("task");
        assert_eq!(got, Some(1009), "{err}");
    });
}
