//! Arrow tables over NATS: a writer publishes a feed on a subject, a reader
//! subscribed to it gets the schema and every table.
//!
//! Needs a NATS server (not started here: NATS is a server you run,
//! `nats-server`, or Debian's `nats-server` package):
//!
//! `cargo run -p lightstream --features nats --example nats -- nats://127.0.0.1:4222`
//!
//! (the URL defaults to `nats://127.0.0.1:4222`; scripts/test.sh runs this
//! against a nats-server of its own). Core NATS (`?mode=core`) here, so that
//! the reader, subscribed first, hears the stream from its start; with
//! JetStream (the default, `nats-server -js`) the feed is kept and a reader
//! that joins late gets the schema and dictionaries, then the live tables
//! (docs/nats.md). On many machines, the reader is `lightstream relay
//! nats://…/examples.trades ws://0.0.0.0:8080/` on each: docs/scaling-out.md.

use std::sync::Arc;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, WriteOptions};

/// One batch of a small "trades" table; `i` makes every batch different.
fn batch(i: i64) -> Table {
    tbl!(
        "trades",
        fa_i64!("id", 3 * i, 3 * i + 1, 3 * i + 2),
        fa_str32!("symbol", "ABC", "XYZ", "QQQ"),
        fa_f64!("price", 10.5 + i as f64, 99.0, 0.25),
    )
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    const BATCHES: i64 = 4;
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string());
    let url: Endpoint = format!("{server}/examples.trades?mode=core").parse()?;
    println!("feed {url}");

    // The reader subscribes when it connects: from here on it hears the feed.
    let subscribed = lightstream::connect(&url, &ClientOptions::default()).await?;

    // The writer: one IPC message per NATS message (larger ones in parts).
    let publisher = tokio::spawn({
        let url = url.clone();
        async move {
            let schema = Arc::new(Schema::from_table(&batch(0)));
            let mut writer = lightstream::connect(&url, &ClientOptions::default())
                .await?
                .writer(schema, WriteOptions::default())
                .await?;
            for i in 0..BATCHES {
                writer.write(&batch(i)).await?;
            }
            // The end-of-stream marker, then the connection is flushed.
            let bytes = writer.finish().await?;
            println!("writer: published {BATCHES} tables, {bytes} bytes");
            Ok::<_, lightstream::Error>(())
        }
    });

    // The stream's schema, then its tables, to the end-of-stream marker.
    let mut reader = subscribed.reader(ReadOptions::default()).await?;
    let mut i = 0;
    while let Some(table) = reader.next().await {
        let table = table?;
        // The columns arrive exactly as published.
        assert_eq!(table.cols, batch(i).cols);
        i += 1;
    }
    assert_eq!(i, BATCHES);
    println!("reader: {i} tables, {} rows", reader.rows_read());
    publisher.await.expect("publisher task panicked")?;
    Ok(())
}
