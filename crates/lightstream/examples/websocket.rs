//! Arrow tables over WebSocket: one Arrow IPC message per binary WebSocket
//! message (docs/websocket-protocol.md), the protocol the browser transport
//! speaks too.
//!
//! `cargo run -p lightstream --example websocket`
//!
//! The server sends a few tables to the first client, then reads a stream the
//! second client sends it: both directions over the same listener.

use std::sync::Arc;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, ServerOptions, WriteOptions};

/// One batch of a small "readings" table.
fn batch(i: i64) -> Table {
    tbl!(
        "readings",
        fa_i64!("sensor", i, i, i),
        fa_str32!("unit", "C", "C", "%"),
        fa_f64!("value", 21.5, 22.0 + i as f64, 40.0),
    )
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    const BATCHES: i64 = 3;

    // The server accepts any path; the one in the URL is what clients use.
    let listener = lightstream::bind(
        &"ws://127.0.0.1:0/tables".parse()?,
        &ServerOptions::default(),
    )
    .await?;
    let url = listener.local_url().to_string();
    println!("listening on {url}");

    let server = tokio::spawn(async move {
        // First client: send it BATCHES tables. The WebSocket handshake
        // happens in `writer`, not in `accept`.
        let conn = listener.accept().await?;
        let schema = Arc::new(Schema::from_table(&batch(0)));
        let mut writer = conn.writer(schema, WriteOptions::default()).await?;
        for i in 0..BATCHES {
            writer.write(&batch(i)).await?;
        }
        // The end-of-stream marker in its own message, then a Close frame.
        writer.finish().await?;

        // Second client: read what it sends.
        let conn = listener.accept().await?;
        let tables = conn
            .reader(ReadOptions::default())
            .await?
            .read_all()
            .await?;
        Ok::<_, lightstream::Error>(tables)
    });

    let endpoint: Endpoint = url.parse()?;

    // Client 1 reads.
    let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
    let mut reader = conn.reader(ReadOptions::default()).await?;
    let names: Vec<&str> = reader
        .schema()
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    println!("client 1: schema {names:?}");
    let mut i = 0;
    while let Some(table) = reader.next().await {
        let table = table?;
        println!("client 1: table {i}: {} rows", table.n_rows);
        assert_eq!(table.cols, batch(i).cols);
        i += 1;
    }
    assert_eq!(i, BATCHES);

    // Client 2 writes one table back.
    let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
    let reply = batch(99);
    let mut writer = conn
        .writer(
            Arc::new(Schema::from_table(&reply)),
            WriteOptions::default(),
        )
        .await?;
    writer.write(&reply).await?;
    writer.finish().await?;

    let tables = server.await.expect("server task panicked")?;
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].cols, reply.cols);
    println!("server: received {} rows from client 2", tables[0].n_rows);
    Ok(())
}
