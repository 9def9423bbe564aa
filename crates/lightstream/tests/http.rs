//! `lightstream::http` and `lightstream::axum` inside real servers, in
//! process: an axum `Router` and a plain hyper server with routes that
//! refuse by path, origin and token; cross-site WebSocket hijacking; the
//! subprotocol answer; our own `ws://` client (subprotocol and token) and an
//! HTTP client reading `ArrowBody` streams.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use lightstream::axum::ArrowWebSocket;
use lightstream::http::{Access, ArrowBody, Granted, Origins, TokenCheck, websocket_upgrade};
use lightstream::hub::{Hub, HubOptions, SubscribeOptions};
use lightstream::minarrow::Table;
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, TableReader, WriteOptions};
use lightstream_tests::harness::{check_int64_table, int64_table, within};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, http as ws_http};

const TOKEN: &str = "dGhlLXJpZ2h0LXRva2Vu";

/// Tables 0..n of the shared int64 shape, as a finished hub feed with a
/// replay window holding all of them (late joiners get every table).
async fn finished_feed(n: usize) -> Hub {
    let hub = Hub::new(HubOptions {
        replay_tables: n,
        ..HubOptions::default()
    });
    let schema = Arc::new(Schema::from_table(&int64_table(0, 4)));
    let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
    for i in 0..n {
        p.write(&int64_table(i, 4)).await.unwrap();
    }
    p.finish().await.unwrap();
    hub
}

/// An axum app: `/feed` (origin allow-list), `/private` (token), a
/// subscription body at `/feed.arrows` and tables at `/table.arrows`.
async fn axum_server(hub: Hub) -> SocketAddr {
    let listed = Access {
        origins: Origins::List(vec!["https://app.example".to_string()]),
        ..Access::default()
    };
    let private = Access {
        token: Some(TokenCheck::tokens([TOKEN]).unwrap()),
        ..Access::default()
    };
    let subscribe = |hub: Hub| {
        move |ws: ArrowWebSocket| async move {
            ws.on_upgrade(move |conn| async move {
                let _ = hub.subscribe(conn, SubscribeOptions::default()).await;
            })
        }
    };
    let feed = hub.clone();
    let app = Router::new()
        .route(
            "/feed",
            get(subscribe(hub.clone())).layer(Extension(listed)),
        )
        .route(
            "/private",
            get(subscribe(hub.clone())).layer(Extension(private.clone())),
        )
        .route("/default", get(subscribe(hub.clone())))
        .route(
            "/feed.arrows",
            get(move || async move { ArrowBody::subscribe(&feed, SubscribeOptions::default()) }),
        )
        .route(
            "/private.arrows",
            get(|_: Granted| async {
                let schema = Arc::new(Schema::from_table(&int64_table(0, 4)));
                let tables = futures_util::stream::iter((0..2).map(|i| Ok(int64_table(i, 4))));
                ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap()
            })
            .layer(Extension(private.clone())),
        )
        .route(
            "/table.arrows",
            get(|| async {
                let schema = Arc::new(Schema::from_table(&int64_table(0, 4)));
                let tables = futures_util::stream::iter((0..3).map(|i| Ok(int64_table(i, 4))));
                ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap()
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A WebSocket handshake with extra headers: the response, or the HTTP
/// refusal's status.
async fn handshake(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<ws_http::Response<Option<Vec<u8>>>, u16> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            ws_http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((_, response)) => Ok(response),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("handshake failed otherwise: {e}"),
    }
}

/// Reads all tables of `ws://addr/path` with our own client.
async fn read_ws(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> lightstream::Result<Vec<Table>> {
    let url: Endpoint = format!("ws://{addr}{path}").parse()?;
    let options = ClientOptions {
        token: token.map(str::to_string),
        ..ClientOptions::default()
    };
    let conn = lightstream::connect(&url, &options).await?;
    let mut reader = conn.reader(ReadOptions::default()).await?;
    reader.set_require_end_marker(true);
    reader.read_all().await
}

fn check_tables(tables: &[Table], n: usize) {
    assert_eq!(tables.len(), n);
    for (i, t) in tables.iter().enumerate() {
        check_int64_table(t, i, 4);
    }
}

#[tokio::test]
async fn cross_site_websocket_hijacking_is_refused_with_403_and_no_upgrade() {
    within("hijacking", 20, async {
        let addr = axum_server(finished_feed(2).await).await;
        // An allow-list: a page of another site gets 403, and no 101.
        let evil = [("Origin", "https://evil.example")];
        assert_eq!(handshake(addr, "/feed", &evil).await.unwrap_err(), 403);
        // The page's Host is not trusted by a list either.
        let host = format!("http://{addr}");
        let same_host = [("Origin", host.as_str())];
        assert_eq!(handshake(addr, "/feed", &same_host).await.unwrap_err(), 403);
        // The listed origin upgrades.
        let good = [("Origin", "https://app.example")];
        let r = handshake(addr, "/feed", &good).await.unwrap();
        assert_eq!(r.status(), 101);
        // The default (no Access given): same origin only.
        assert_eq!(handshake(addr, "/default", &evil).await.unwrap_err(), 403);
        assert_eq!(
            handshake(addr, "/default", &same_host)
                .await
                .unwrap()
                .status(),
            101
        );
        // A client with no Origin (not a browser) is let in, and reads the feed.
        check_tables(&read_ws(addr, "/feed", None).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn tokens_ride_in_a_subprotocol_or_a_header_and_are_never_echoed() {
    within("tokens", 20, async {
        let addr = axum_server(finished_feed(3).await).await;
        let ours = "lightstream.arrow.v1";
        // Missing: 401; wrong: 401.
        let none = [("Sec-WebSocket-Protocol", ours)];
        assert_eq!(handshake(addr, "/private", &none).await.unwrap_err(), 401);
        let wrong = format!("{ours}, lightstream.token.d3Jvbmc");
        let wrong = [("Sec-WebSocket-Protocol", wrong.as_str())];
        assert_eq!(handshake(addr, "/private", &wrong).await.unwrap_err(), 401);
        // Right (as a browser sends it): 101 naming only our subprotocol.
        let right = format!("{ours}, lightstream.token.{TOKEN}");
        let right = [("Sec-WebSocket-Protocol", right.as_str())];
        let r = handshake(addr, "/private", &right).await.unwrap();
        assert_eq!(r.status(), 101);
        let answered: Vec<_> = r
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .collect();
        assert_eq!(answered, [ours]);
        // Subprotocols that do not include ours: 400.
        let other = [("Sec-WebSocket-Protocol", "chat")];
        assert_eq!(handshake(addr, "/default", &other).await.unwrap_err(), 400);
        // Our own client: the token in ClientOptions (Authorization: Bearer).
        let e = read_ws(addr, "/private", None).await.unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
        let e = read_ws(addr, "/private", Some("d3Jvbmc"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
        check_tables(&read_ws(addr, "/private", Some(TOKEN)).await.unwrap(), 3);
    })
    .await;
}

/// GET `path` with hyper's client: the status, content type and the body's
/// bytes (or the error that broke it).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, Result<Bytes, hyper::Error>) {
    http_get_with(addr, path, &[]).await
}

async fn http_get_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Result<Bytes, hyper::Error>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = hyper::Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Full::<Bytes>::default()).unwrap();
    let response = send.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.map(|b| b.to_bytes());
    (status, ct, body)
}

#[tokio::test]
async fn arrow_bodies_from_tables_and_from_a_hub_over_http() {
    within("bodies", 20, async {
        let addr = axum_server(finished_feed(2).await).await;
        let (status, ct, body) = http_get(addr, "/table.arrows").await;
        assert_eq!(
            (status, ct.as_str()),
            (200, "application/vnd.apache.arrow.stream")
        );
        let bytes = body.unwrap();
        let tables = TableReader::from_async_read(
            std::io::Cursor::new(bytes),
            "body",
            ReadOptions::default(),
        )
        .await
        .unwrap()
        .read_all()
        .await
        .unwrap();
        check_tables(&tables, 3);
        // An HTTP route behind the token: 401 without, the stream with it.
        let (status, _, _) = http_get(addr, "/private.arrows").await;
        assert_eq!(status, 401);
        let bearer = format!("Bearer {TOKEN}");
        let (status, _, body) =
            http_get_with(addr, "/private.arrows", &[("authorization", &bearer)]).await;
        assert_eq!(status, 200);
        let read = lightstream::read_ipc(&body.unwrap(), ReadOptions::default()).unwrap();
        check_tables(&read.tables, 2);
        let evil = [
            ("origin", "https://evil.example"),
            ("authorization", &bearer),
        ];
        assert_eq!(http_get_with(addr, "/private.arrows", &evil).await.0, 403);
        let (status, _, body) = http_get(addr, "/feed.arrows").await;
        assert_eq!(status, 200);
        let read = lightstream::read_ipc(&body.unwrap(), ReadOptions::default()).unwrap();
        check_tables(&read.tables, 2);
    })
    .await;
}

/// A plain hyper service: `/feed` upgrades with the default access, every
/// other path is 404 before anything is upgraded.
async fn hyper_service(
    mut request: hyper::Request<Incoming>,
    hub: Hub,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    if request.uri().path() != "/feed" {
        let mut r = hyper::Response::new(Full::from("no such feed\n"));
        *r.status_mut() = hyper::StatusCode::NOT_FOUND;
        return Ok(r);
    }
    Ok(
        match websocket_upgrade(&mut request, &Access::default(), "hyper client") {
            Ok((response, upgrading)) => {
                tokio::spawn(async move {
                    let conn = upgrading.await?;
                    hub.subscribe(conn, SubscribeOptions::default()).await
                });
                response
            }
            Err(refused) => refused.response(),
        },
    )
}

#[tokio::test]
async fn a_plain_hyper_server_routes_refuses_and_upgrades() {
    within("hyper", 20, async {
        let hub = finished_feed(2).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let hub = hub.clone();
                let service = hyper::service::service_fn(move |r| hyper_service(r, hub.clone()));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .with_upgrades(),
                );
            }
        });
        assert_eq!(handshake(addr, "/other", &[]).await.unwrap_err(), 404);
        let evil = [("Origin", "https://evil.example")];
        assert_eq!(handshake(addr, "/feed", &evil).await.unwrap_err(), 403);
        // A plain GET of a WebSocket route: 426.
        let (status, _, _) = http_get(addr, "/feed").await;
        assert_eq!(status, 426);
        check_tables(&read_ws(addr, "/feed", None).await.unwrap(), 2);
    })
    .await;
}

/// A client that reads slowly holds the producer back: the tables stream
/// behind an `ArrowBody` is never more than a few tables (the socket
/// buffers) ahead of what the client has read, never the whole stream.
#[tokio::test]
async fn a_slow_http_client_holds_the_producer_back() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    within("backpressure", 60, async {
        const TABLES: usize = 400;
        const ROWS: usize = 128 << 10; // 1 MiB per table
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let app = Router::new().route(
            "/big.arrows",
            get(move || async move {
                let schema = Arc::new(Schema::from_table(&int64_table(0, 1)));
                let tables = futures_util::stream::iter(0..TABLES).map(move |i| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok(int64_table(i, ROWS))
                });
                ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap()
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get("/big.arrows")
            .header("host", addr.to_string())
            .body(Full::<Bytes>::default())
            .unwrap();
        let body = send.send_request(request).await.unwrap().into_body();
        // Read the body as a byte stream, table by table, yielding between
        // reads so the server may run ahead as far as it can.
        let bytes = body
            .into_data_stream()
            .map(|r| r.map_err(std::io::Error::other));
        let read = tokio_util::io::StreamReader::new(bytes);
        let mut reader = TableReader::from_async_read(read, "slow client", ReadOptions::default())
            .await
            .unwrap();
        let (mut n, mut most_ahead) = (0, 0);
        while let Some(t) = reader.next().await {
            check_int64_table(&t.unwrap(), n, ROWS);
            n += 1;
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            most_ahead = most_ahead.max(pulled.load(Ordering::SeqCst) - n);
        }
        assert_eq!(n, TABLES);
        // Loopback socket buffers hold a few MiB: a handful of 1 MiB tables.
        assert!(
            most_ahead <= 32,
            "the producer ran {most_ahead} tables ahead"
        );
        println!("backpressure: the producer ran at most {most_ahead} tables ahead");
    })
    .await;
}
