//! WebSocket sizes and upgrades, on loopback only.
//!
//! - A 40 MB message crosses in frames of at most 1 MiB, to our reader and
//!   to plain tungstenite with a 1 MiB frame limit; a WebSocket peer that
//!   never reads costs the writer a frame or two, not a message.
//! - A request that cannot become a WebSocket gets an HTTP status with a
//!   reason; a server at its limit turns a client away with 503.
//!
//! Pass criteria are outcomes and memory bounds; the only times are generous
//! upper bounds. Shared helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use lightstream::{ClientOptions, Endpoint, Error, ReadOptions, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// 40 MB in one table: one IPC message larger than the write frame size.
const LARGE_ROWS: usize = 5_000_000;

#[test]
fn a_message_larger_than_a_frame_crosses_websocket_fragmented() {
    run("a 40 MB message over WebSocket", async {
        // A reader with a 1 MiB max_eager_reserve takes frames of at most
        // 1 MiB: the 40 MB message arrives only if the writer fragments it.
        let listener = lightstream::bind(
            &"ws://127.0.0.1:0/t".parse().expect("url"),
            &ServerOptions::default(),
        )
        .await
        .expect("bind");
        let endpoint = listener.local_url().clone();
        let server = tokio::spawn(async move {
            let conn = listener.accept().await.expect("accept");
            let options = ReadOptions {
                limits: lightstream_core::DecodeLimits {
                    max_eager_reserve: 1 << 20,
                    ..lightstream_core::DecodeLimits::DEFAULT
                },
                ..ReadOptions::default()
            };
            let mut r = conn.reader(options).await?;
            let mut tables = Vec::new();
            while let Some(t) = r.next().await {
                tables.push(t?);
            }
            Ok::<_, Error>(tables)
        });
        let mut w = our_writer(&endpoint, &ClientOptions::default()).await;
        let big = table(3, LARGE_ROWS);
        within("the writer sends 40 MB", 30, async {
            w.write(&big).await.expect("write");
            w.finish().await.expect("finish");
        })
        .await;
        let tables = within("the reader gets 40 MB", 30, server)
            .await
            .expect("task")
            .expect("read");
        assert_eq!(tables.len(), 1);
        check(&tables[0], 3, LARGE_ROWS);
        assert_eq!(tables[0].cols[0].array, big.cols[0].array);
    });
}

#[test]
fn our_writer_fragments_a_large_message_for_a_plain_websocket_peer() {
    run("a 40 MB message to tungstenite", async {
        // tungstenite itself, with a 1 MiB frame limit, on the other side.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_frame_size(Some(1 << 20))
                .max_message_size(Some(64 << 20));
            let mut ws = tokio_tungstenite::accept_hdr_async_with_config(
                s,
                lightstream::websocket::answer_subprotocol,
                Some(config),
            )
            .await
            .expect("handshake");
            let mut messages = Vec::new();
            while let Some(m) = ws.next().await {
                match m.expect("a message within the frame limit") {
                    Message::Binary(b) => messages.push(b),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            messages
        });
        let endpoint: Endpoint = format!("ws://{addr}/t").parse().expect("url");
        let mut w = our_writer(&endpoint, &ClientOptions::default()).await;
        let big = table(5, LARGE_ROWS);
        within("the writer sends 40 MB", 30, async {
            w.write(&big).await.expect("write");
            w.finish().await.expect("finish");
        })
        .await;
        let messages = within("tungstenite gets 40 MB", 30, server)
            .await
            .expect("task");
        // Schema, record batch, end marker: one IPC message per WebSocket message.
        assert_eq!(messages.len(), 3);
        assert!(messages[1].len() > LARGE_ROWS * 8, "{}", messages[1].len());
        let bytes: Vec<u8> = messages.concat();
        let (_, tables) = lightstream_core::read_stream(
            lightstream_core::aligned_copy(&bytes),
            ReadOptions::default(),
        )
        .expect("decode");
        assert_eq!(tables.len(), 1);
        check(&tables[0], 5, LARGE_ROWS);
        assert_eq!(tables[0].cols[0].array, big.cols[0].array);
    });
}

#[test]
fn a_websocket_peer_that_never_reads_costs_a_frame_not_a_message() {
    run("never reads, large messages", async {
        let dir = temp_dir("never-reads-large");
        // 16 MiB tables: one IPC message is 16 frames.
        let big = table(0, 16 * BIG_ROWS);
        let (l, ep, client) = raw_listener(Transport::WebSocket, &dir).await;
        let peer = never_reading_peer(l);
        let mut w = our_writer(&ep, &client).await;
        let baseline = heap_baseline();
        let blocked = tokio::time::timeout(Duration::from_millis(500), async {
            for _ in 0..4 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        })
        .await;
        assert!(
            blocked.is_err(),
            "64 MiB to a peer that never reads must block"
        );
        let growth = heap_growth(baseline);
        eprintln!(
            "blocked with 16 MiB messages: heap growth {} KiB",
            growth >> 10
        );
        // A frame being assembled and one in tungstenite's send buffer, not
        // a 16 MiB message (nor its copy in the send buffer).
        assert!(growth < 6 << 20, "the heap grew by {growth} bytes");
        drop(w);
        peer.abort();
    });
}

/// A request that cannot become a WebSocket gets an HTTP status with a
/// reason, not a closed socket: 400 (bad key, HTTP/1.0, not HTTP), 405 (not a
/// GET), 426 (no upgrade headers, another version); the server side reports
/// `Error::Upgrade` with the same status, and a good upgrade still works.
/// A `ws://` listener on loopback and its `host:port`, for raw requests.
async fn ws_listener() -> (lightstream::Listener, String) {
    let endpoint: Endpoint = "ws://127.0.0.1:0/t".parse().expect("url");
    let listener = lightstream::bind(&endpoint, &ServerOptions::default())
        .await
        .expect("bind");
    let url = listener.local_url().to_string();
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/t")
        .to_string();
    (listener, addr)
}

#[test]
fn a_bad_websocket_upgrade_gets_an_http_status() {
    run("bad upgrades", async {
        let (listener, addr) = ws_listener().await;
        let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
        let cases: [(String, u16, &str); 7] = [
            (
                "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_string(),
                400,
                "Sec-WebSocket-Key",
            ),
            (
                "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc\r\n\r\n".to_string(),
                400,
                "Sec-WebSocket-Key",
            ),
            (
                format!(
                    "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}\r\n\r\n"
                ),
                426,
                "Sec-WebSocket-Version: 13",
            ),
            (
                format!(
                    "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                426,
                "Upgrade: websocket",
            ),
            (
                format!(
                    "GET /t HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                400,
                "HTTP/1.1",
            ),
            (
                format!(
                    "POST /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}\r\n\r\n"
                ),
                405,
                "Allow: GET",
            ),
            (
                "\u{1}\u{2} not HTTP at all\r\n\r\n".to_string(),
                400,
                "malformed",
            ),
        ];
        for (request, status, says) in cases {
            let server = async {
                let conn = listener.accept().await.expect("accept");
                conn.reader(ReadOptions::default()).await
            };
            let client = async {
                let mut tcp = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .expect("connect");
                tcp.write_all(request.as_bytes()).await.expect("request");
                let mut response = String::new();
                let _ = tcp.read_to_string(&mut response).await;
                response
            };
            let (served, response) = within("one bad upgrade", 10, async {
                tokio::join!(server, client)
            })
            .await;
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{request:?}: {response:?}"
            );
            assert!(response.contains(says), "{request:?}: {response:?}");
            match served {
                Err(Error::Upgrade { status: s, .. }) => assert_eq!(s, status, "{request:?}"),
                Err(other) => panic!("{request:?}: {other}"),
                Ok(_) => panic!("{request:?}: accepted"),
            }
        }
        // A good upgrade still goes through the check and reads a table.
        let server = async {
            let conn = listener.accept().await.expect("accept");
            conn.reader(ReadOptions::default())
                .await
                .expect("reader")
                .read_all()
                .await
                .expect("tables")
        };
        let client = async {
            let url = format!("ws://{addr}/t");
            let conn = lightstream::connect(&url.parse().expect("url"), &ClientOptions::default())
                .await
                .expect("connect");
            let t = table(0, 10);
            let mut w = conn
                .writer(
                    Arc::new(lightstream::Schema::from_table(&t)),
                    Default::default(),
                )
                .await
                .expect("writer");
            w.write(&t).await.expect("write");
            w.finish().await.expect("finish");
        };
        let (tables, ()) =
            within("a good upgrade", 10, async { tokio::join!(server, client) }).await;
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].n_rows, 10);
    });
}

/// A server at its limit turns a client away with `Connection::turn_away`:
/// a WebSocket client gets 503 with Retry-After and the reason (after its
/// request head, so the close does not reset the answer away), a TCP client
/// a closed connection.
#[test]
fn a_client_turned_away_gets_503_with_retry_after() {
    async fn turn_away(listener: &lightstream::Listener) -> lightstream::Result<()> {
        let conn = listener.accept().await.expect("accept");
        let retry_after = std::time::Duration::from_millis(2500);
        conn.turn_away(retry_after, "busy: come back later").await
    }
    run("turned away", async {
        let endpoint: Endpoint = "ws://127.0.0.1:0/t".parse().expect("url");
        let listener = lightstream::bind(&endpoint, &ServerOptions::default())
            .await
            .expect("bind");
        let url = listener.local_url().to_string();
        let server = turn_away(&listener);
        let client = async {
            let err = lightstream::connect(&url.parse().expect("url"), &ClientOptions::default())
                .await
                .expect("connect")
                .reader(ReadOptions::default())
                .await
                .expect_err("turned away");
            err.to_string()
        };
        let (turned, said) = within("a turned-away client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(said.contains("503"), "{said}");
        // The raw answer: status, Retry-After in whole seconds, the reason.
        let server = turn_away(&listener);
        let client = async {
            let addr = url.trim_start_matches("ws://").trim_end_matches("/t");
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET /t HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            );
            tcp.write_all(request.as_bytes()).await.expect("request");
            let mut response = String::new();
            let _ = tcp.read_to_string(&mut response).await;
            response
        };
        let (turned, response) = within("a raw turned-away client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(
            response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nRetry-After: 2\r\n"), "{response}");
        assert!(
            response.ends_with("\r\n\r\nbusy: come back later\n"),
            "{response}"
        );

        // TCP: closed at once, nothing sent.
        let endpoint: Endpoint = "tcp://127.0.0.1:0".parse().expect("url");
        let listener = lightstream::bind(&endpoint, &ServerOptions::default())
            .await
            .expect("bind");
        let addr = listener.local_url().to_string();
        let addr = addr.trim_start_matches("tcp://").to_string();
        let server = async {
            let conn = listener.accept().await.expect("accept");
            conn.turn_away(std::time::Duration::from_secs(5), "busy")
                .await
        };
        let client = async {
            let mut tcp = tokio::net::TcpStream::connect(addr.as_str())
                .await
                .expect("connect");
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
            rest
        };
        let (turned, rest) = within("a turned-away TCP client", 10, async {
            tokio::join!(server, client)
        })
        .await;
        turned.expect("turned away");
        assert!(rest.is_empty(), "{rest:?}");
    });
}

#[test]
fn the_listener_answers_the_lightstream_subprotocol_and_never_the_token() {
    run("subprotocol answers", async {
        let (listener, addr) = ws_listener().await;
        // What a browser sends: the protocol, then the token (in one header,
        // or in two headers), or another application's protocol, or nothing.
        let cases: [(&str, Option<&str>); 3] = [
            (
                "Sec-WebSocket-Protocol: lightstream.arrow.v1, lightstream.token.s3cr3t\r\n",
                Some("lightstream.arrow.v1"),
            ),
            (
                "Sec-WebSocket-Protocol: lightstream.token.s3cr3t\r\nSec-WebSocket-Protocol: lightstream.arrow.v1\r\n",
                Some("lightstream.arrow.v1"),
            ),
            // (Offering only others is refused with 400: tests/ws_access.rs.)
            ("", None),
        ];
        for (offer, answer) in cases {
            let request = format!(
                "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{offer}\r\n"
            );
            let server = async {
                let conn = listener.accept().await.expect("accept");
                conn.reader(ReadOptions::default()).await.map(drop)
            };
            let client = async {
                let mut tcp = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .expect("connect");
                tcp.write_all(request.as_bytes()).await.expect("request");
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tcp.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                String::from_utf8_lossy(&head).to_lowercase()
            };
            let (_, head) = within("one upgrade", 10, async {
                tokio::select! {
                    head = client => (None::<()>, head),
                    _ = server => panic!("the server finished before the client read the answer"),
                }
            })
            .await;
            assert!(head.starts_with("http/1.1 101"), "{offer:?}: {head}");
            let chosen: Vec<&str> = head
                .lines()
                .filter_map(|l| l.strip_prefix("sec-websocket-protocol:"))
                .map(str::trim)
                .collect();
            assert_eq!(
                chosen,
                answer.into_iter().collect::<Vec<_>>(),
                "{offer:?}: {head}"
            );
            assert!(!head.contains("s3cr3t"), "the token was echoed: {head}");
        }
    });
}
