//! A server (`lightstream::bind` + an accept loop, a task per connection)
//! under faulty clients, on every transport, on loopback only.
//!
//! - It survives 1,000 connections opened and dropped without a byte: each
//!   ends in a documented error kind, file descriptors return to their
//!   baseline, and a healthy client still gets every table.
//! - It keeps serving healthy clients while one client never reads.
//!
//! Both also run over TLS (`tls://`). Pass criteria are outcomes and
//! descriptor counts; the only times are generous upper bounds. Shared
//! helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use lightstream::minarrow::Table;
use lightstream::{ClientOptions, Endpoint, Error, ServerOptions, WriteOptions};
use lightstream_core::ErrorKind;

// ------------------------------------------------------------------ servers

/// How one server connection ended.
#[derive(Default)]
struct Outcomes {
    ok: AtomicU64,
    io: AtomicU64,
    truncated: AtomicU64,
    empty: AtomicU64,
    protocol: AtomicU64,
    timeout: AtomicU64,
    other: Mutex<Vec<String>>,
}

impl Outcomes {
    fn record(&self, r: &lightstream::Result<()>) {
        let counter = match r {
            Ok(()) => &self.ok,
            Err(Error::Io { .. }) => &self.io,
            Err(Error::Protocol(_)) => &self.protocol,
            Err(Error::Timeout { .. }) => &self.timeout,
            Err(e) if e.codec_kind() == Some(ErrorKind::Truncated) => &self.truncated,
            Err(Error::EmptyConnection { .. }) => &self.empty,
            Err(e) => {
                self.other.lock().expect("lock").push(e.to_string());
                return;
            }
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn total(&self) -> u64 {
        [
            &self.ok,
            &self.io,
            &self.truncated,
            &self.empty,
            &self.protocol,
            &self.timeout,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum::<u64>()
            + self.other.lock().expect("lock").len() as u64
    }

    fn summary(&self) -> String {
        format!(
            "ok {}, io {}, truncated {}, empty {}, protocol {}, timeout {}, other {:?}",
            self.ok.load(Ordering::SeqCst),
            self.io.load(Ordering::SeqCst),
            self.truncated.load(Ordering::SeqCst),
            self.empty.load(Ordering::SeqCst),
            self.protocol.load(Ordering::SeqCst),
            self.timeout.load(Ordering::SeqCst),
            self.other.lock().expect("lock")
        )
    }
}

/// What a lightstream server on `t` needs.
#[allow(clippy::needless_update)]
fn server_for(t: Transport, dir: &Path) -> (String, ServerOptions, ClientOptions) {
    match t {
        Transport::Tcp => (
            "tcp://127.0.0.1:0".into(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Unix => (
            format!("unix://{}", dir.join("server.sock").display()),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::WebSocket => (
            "ws://127.0.0.1:0/t".into(),
            ServerOptions::default(),
            ClientOptions::default(),
        ),
        Transport::Quic => {
            let (server, client) = quic_configs();
            let options = ServerOptions {
                quic: Some(server),
                ..Default::default()
            };
            ("quic://127.0.0.1:0".into(), options, client)
        }
        Transport::Tls => {
            let (certs, key) =
                lightstream::tls::self_signed(&["localhost", "127.0.0.1"]).expect("cert");
            let server = ServerOptions {
                tls: Some(lightstream::tls::server_config(certs.clone(), key).expect("server")),
                ..Default::default()
            };
            let client = ClientOptions {
                tls: Some(lightstream::tls::client_config_trusting(&certs).expect("client")),
                ..Default::default()
            };
            ("tls://127.0.0.1:0".into(), server, client)
        }
    }
}

/// A server as an application would write one: an accept loop, a task per
/// connection that sends `tables` (with `write_timeout`) or, when
/// `receives`, reads a stream (with `idle`). Every connection's outcome is
/// recorded.
async fn serve(
    t: Transport,
    dir: &Path,
    tables: Arc<Vec<Table>>,
    receives: bool,
    timeout: Option<Duration>,
) -> (
    Endpoint,
    ClientOptions,
    Arc<Outcomes>,
    tokio::task::JoinHandle<()>,
) {
    let (url, server, client) = server_for(t, dir);
    let listener = lightstream::bind(&url.parse().expect("url"), &server)
        .await
        .expect("bind");
    let endpoint: Endpoint = listener.local_url().clone();
    let outcomes = Arc::new(Outcomes::default());
    let recorded = outcomes.clone();
    let accept_loop = tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            let (tables, outcomes) = (tables.clone(), recorded.clone());
            tokio::spawn(async move {
                let r = if receives {
                    receive(conn, timeout).await
                } else {
                    send(conn, &tables, timeout).await
                };
                outcomes.record(&r);
            });
        }
    });
    (endpoint, client, outcomes, accept_loop)
}

/// Opens a connection to `endpoint` and drops it without a byte (for QUIC:
/// after the handshake, closing the connection).
async fn connect_and_drop(t: Transport, endpoint: &Endpoint, client: &ClientOptions) {
    match (t, endpoint) {
        (Transport::Tcp, Endpoint::Tcp(a)) | (Transport::Tls, Endpoint::Tls(a)) => drop(
            tokio::net::TcpStream::connect(a.as_str())
                .await
                .expect("connect"),
        ),
        (Transport::WebSocket, Endpoint::WebSocket(url)) => {
            let a = url.trim_start_matches("ws://").trim_end_matches("/t");
            drop(tokio::net::TcpStream::connect(a).await.expect("connect"))
        }
        (Transport::Unix, Endpoint::Unix(path)) => drop(
            tokio::net::UnixStream::connect(path)
                .await
                .expect("connect"),
        ),
        (Transport::Quic, _) => {
            let session = lightstream::connect(endpoint, client)
                .await
                .expect("connect")
                .into_quic()
                .await
                .expect("session");
            session.close();
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_survives_a_thousand_empty_connections() {
    run("1000 connections", async {
        let dir = temp_dir("thousand");
        let tables: Arc<Vec<Table>> = Arc::new((0..4).map(|i| table(i, ROWS)).collect());
        // The server sends on TCP, WebSocket and QUIC and receives on Unix
        // sockets, so both roles meet empty connections. QUIC connections
        // cost a TLS handshake each: 100 of them.
        for (t, receives, n) in [
            (Transport::Tcp, false, 1000),
            (Transport::Unix, true, 1000),
            (Transport::WebSocket, false, 1000),
            (Transport::Quic, false, 100),
            (Transport::Tls, false, 1000),
        ] {
            let fds = open_fds();
            let (endpoint, client, outcomes, accept_loop) = serve(
                t,
                &dir,
                tables.clone(),
                receives,
                Some(Duration::from_secs(5)),
            )
            .await;
            let with_listener = open_fds();
            for _ in 0..n {
                connect_and_drop(t, &endpoint, &client).await;
            }
            // Every one of them ends, in a documented way.
            within("every empty connection ends", 20, async {
                while outcomes.total() < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            let summary = outcomes.summary();
            assert!(
                outcomes.other.lock().expect("lock").is_empty(),
                "{t:?}: {summary}"
            );
            assert_eq!(
                outcomes.timeout.load(Ordering::SeqCst),
                0,
                "{t:?}: {summary}"
            );
            if receives {
                // Nothing came: a typed EmptyConnection, not a truncation.
                assert_eq!(outcomes.empty.load(Ordering::SeqCst), n, "{t:?}: {summary}");
            }
            eprintln!("{t:?}: {n} empty connections: {summary}");

            // A healthy client still gets everything.
            if receives {
                let conn = lightstream::connect(&endpoint, &client)
                    .await
                    .expect("connect");
                let mut w = conn
                    .writer(schema(), WriteOptions::default())
                    .await
                    .expect("w");
                for tb in tables.iter() {
                    w.write(tb).await.expect("write");
                }
                within("finish", 10, w.finish()).await.expect("finish");
                within("received", 10, async {
                    while outcomes.ok.load(Ordering::SeqCst) < 1 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
                .await;
            } else {
                let r = within("reader", 10, our_reader(&endpoint, &client))
                    .await
                    .expect("reader");
                let got = within("read", 10, r.read_all()).await.expect("read");
                assert_eq!(got.len(), tables.len());
                for (i, tb) in got.iter().enumerate() {
                    check(tb, i, ROWS);
                }
            }

            // File descriptors go back to where they were with the listener.
            let mut now = open_fds();
            for _ in 0..250 {
                if now <= with_listener {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                now = open_fds();
            }
            assert!(
                now <= with_listener,
                "{t:?}: {now} descriptors open, {with_listener} with the listener"
            );
            accept_loop.abort();
            let _ = accept_loop.await;
            let mut now = open_fds();
            for _ in 0..250 {
                if now <= fds {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                now = open_fds();
            }
            assert!(
                now <= fds,
                "{t:?}: {now} descriptors open, {fds} before the server"
            );
        }
    });
}

#[test]
fn a_server_keeps_serving_while_one_client_never_reads() {
    run("stalled client", async {
        let dir = temp_dir("stalled");
        // 16 tables of 1 MiB: more than socket buffers and QUIC windows hold.
        let tables: Arc<Vec<Table>> = Arc::new((0..16).map(|i| table(i, BIG_ROWS)).collect());
        // The transports side by side: each has its own server.
        let all = SERVED.map(|t| keeps_serving(t, &dir, tables.clone()));
        futures_util::future::join_all(all).await;
    });
}

async fn keeps_serving(t: Transport, dir: &Path, tables: Arc<Vec<Table>>) {
    let (endpoint, client, outcomes, accept_loop) =
        serve(t, dir, tables.clone(), false, Some(Duration::from_secs(2))).await;
    // The stalled client: takes the schema (finishing any handshake), then
    // never reads again.
    let stalled = within("stalled reader", 10, our_reader(&endpoint, &client))
        .await
        .expect("reader");
    let healthy: Vec<_> = (0..3)
        .map(|_| {
            let (endpoint, client) = (endpoint.clone(), client.clone());
            tokio::spawn(async move {
                let r = our_reader(&endpoint, &client).await?;
                r.read_all().await
            })
        })
        .collect();
    for (c, h) in healthy.into_iter().enumerate() {
        let got = within("healthy client", 30, h)
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{t:?} client {c}: {e}"));
        assert_eq!(got.len(), tables.len(), "{t:?} client {c}");
        for (i, tb) in got.iter().enumerate() {
            check(tb, i, BIG_ROWS);
        }
    }
    // The stalled client's writer gives up on its own, and the healthy
    // clients' writers finish (QUIC's `finish` waits for their ACKs).
    within("the stalled writer times out", 10, async {
        while outcomes.timeout.load(Ordering::SeqCst) < 1 || outcomes.ok.load(Ordering::SeqCst) < 3
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(outcomes.total(), 4, "{t:?}: {}", outcomes.summary());
    drop(stalled);
    accept_loop.abort();
}
