//! Lightstream in an axum app: a page, `/feed` (a hub subscription over WebSocket,
//! behind an `Access` policy), `/table.arrows` (tables as a streamed HTTP response).
//! It checks itself (our own client reads both routes); `-- --serve` then goes on
//! serving; `--allow-origin ORIGIN` lets pages of ORIGIN in too (CORS for the body).
//! `cargo run -p lightstream --features axum --example axum`

use std::sync::Arc;

use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Router, http::HeaderMap, routing::get};
use lightstream::axum::ArrowWebSocket;
use lightstream::http::{self, Access, ArrowBody, Granted, Origins};
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

// `/table.arrows` (if `Access` lets the request in): IPC body compression if
// `Accept` lists codecs; produced as read; readable by the page that asked.
async fn table(granted: Granted, headers: HeaderMap) -> Response {
    let options = WriteOptions {
        compression: http::negotiate_compression(&headers),
        ..Default::default()
    };
    let tables = futures_util::stream::iter((0..5).map(|i| Ok(tick(i))));
    let schema = Arc::new(Schema::from_table(&tick(0)));
    let body = ArrowBody::tables(schema, tables, options).expect("an encodable schema");
    let mut response = IntoResponse::into_response(body);
    http::allow_origin(response.headers_mut(), granted.origin.as_deref());
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // This server's own pages only, no token (the default): docs/web-server.md.
    let mut access = Access::default();
    if let Some(at) = args.iter().position(|a| a == "--allow-origin") {
        let origin = args.get(at + 1).ok_or("--allow-origin needs an ORIGIN")?;
        // A list does not trust `Host`: our own page goes on it too.
        access.origins = Origins::List(vec![origin.clone(), format!("http://{addr}")]);
    }
    let hub = Hub::new(HubOptions {
        replay_tables: 100,
        ..Default::default()
    });
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html("<p>A feed at /feed, a table at /table.arrows") }),
        )
        .route("/feed", get(feed))
        .route("/table.arrows", get(table))
        .layer(Extension(hub.clone()))
        .layer(Extension(access));
    eprintln!("listening on http://{addr}/");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let schema = Arc::new(Schema::from_table(&tick(0)));
    let mut publisher = hub.publisher(schema, Default::default())?;
    for i in 0..5 {
        publisher.write(&tick(i)).await?;
    }
    publisher.finish().await?; // late joiners get the 5 tables, then the end
    // Both routes, with our own client: over WebSocket it offers the
    // lightstream.arrow.v1 subprotocol, over HTTP it checks the content type.
    for path in ["ws://{addr}/feed", "http://{addr}/table.arrows"] {
        let url = path.replace("{addr}", &addr.to_string());
        let conn = lightstream::connect(&url.parse()?, &Default::default()).await?;
        let reader = conn.reader(ReadOptions::default()).await?;
        let tables = reader.read_all().await?;
        assert_eq!(tables.len(), 5, "{url}");
        assert_eq!(tables[4].cols, tick(4).cols, "{url}");
    }
    println!("axum example: /feed and /table.arrows gave 5 tables each");
    if args.iter().any(|a| a == "--serve") {
        std::future::pending::<()>().await;
    }
    Ok(())
}
