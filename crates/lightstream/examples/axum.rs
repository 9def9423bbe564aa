//! Lightstream in an axum app: a page, `/feed` (a hub subscription over WebSocket,
//! behind an `Access` policy), `/table.arrows` (tables as a streamed HTTP response).
//! It checks itself (our own client reads both routes); `-- --serve` then goes on
//! serving. `cargo run -p lightstream --features axum --example axum`

use std::sync::Arc;

use axum::response::{Html, Response};
use axum::{Extension, Router, http::HeaderMap, routing::get};
use http_body_util::BodyExt;
use lightstream::axum::ArrowWebSocket;
use lightstream::http::{Access, ArrowBody, CONTENT_TYPE, negotiate_compression};
use lightstream::hub::{Hub, HubOptions};
use lightstream::minarrow::{Table, fa_f64, fa_i64, tbl};
use lightstream::{ReadOptions, Schema, WriteOptions};

fn tick(i: i64) -> Table {
    tbl!(
        "ticks",
        fa_i64!("seq", i),
        fa_f64!("price", 100.0 + i as f64)
    )
}

// `/feed`: the WebSocket (once `Access` let it in) subscribes to the hub.
async fn feed(ws: ArrowWebSocket, Extension(hub): Extension<Hub>) -> Response {
    ws.on_upgrade(|conn| async move {
        let _ = hub.subscribe(conn, Default::default()).await;
    })
}

// `/table.arrows`: IPC body compression if `Accept` lists codecs; produced as read.
async fn table(headers: HeaderMap) -> ArrowBody {
    let options = WriteOptions {
        compression: negotiate_compression(&headers),
        ..Default::default()
    };
    let tables = futures_util::stream::iter((0..3).map(|i| Ok(tick(i))));
    let schema = Arc::new(Schema::from_table(&tick(0)));
    ArrowBody::tables(schema, tables, options).expect("an encodable schema")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hub = Hub::new(HubOptions {
        replay_tables: 100, // a late joiner gets the last 100 tables first
        ..Default::default()
    });
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html("<p>A feed at /feed, a table at /table.arrows.") }),
        )
        .route("/feed", get(feed))
        .route("/table.arrows", get(table))
        .layer(Extension(hub.clone()))
        // This server's own pages only, no token (the default): docs/web-server.md.
        .layer(Extension(Access::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    eprintln!("listening on http://{addr}/");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut publisher =
        hub.publisher(Arc::new(Schema::from_table(&tick(0))), Default::default())?;
    for i in 0..5 {
        publisher.write(&tick(i)).await?;
    }
    publisher.finish().await?;
    // The feed, with our own client (it offers the lightstream.arrow.v1 subprotocol).
    let url = format!("ws://{addr}/feed").parse()?;
    let conn = lightstream::connect(&url, &Default::default()).await?;
    let feed = conn
        .reader(ReadOptions::default())
        .await?
        .read_all()
        .await?;
    assert_eq!(feed.len(), 5);
    assert_eq!(feed[4].cols, tick(4).cols);
    // The HTTP stream, as any HTTP client gets it (here hyper's).
    let tcp = hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(addr).await?);
    let (mut send, conn) = hyper::client::conn::http1::handshake(tcp).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get("/table.arrows")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let response = send.send_request(request).await?;
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let body = response.into_body().collect().await?.to_bytes();
    let tables = lightstream::read_ipc(&body, ReadOptions::default())?.tables;
    assert_eq!(tables.len(), 3);
    assert_eq!(tables[2].cols, tick(2).cols);
    println!("axum example: /feed gave 5 tables, /table.arrows 3");
    if std::env::args().any(|a| a == "--serve") {
        std::future::pending::<()>().await;
    }
    Ok(())
}
