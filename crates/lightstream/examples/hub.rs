//! One live feed, many subscribers: a producer task publishes tables to a
//! `Hub` (each encoded once); subscribers on TCP and WebSocket receive the
//! same stream, and one that joins late starts with the schema, the
//! dictionaries as they stand and the replay window (docs/live-feeds.md).
//!
//! `cargo run -p lightstream --example hub`

use std::time::Duration;

use futures_util::StreamExt;
use lightstream::hub::{Hub, HubOptions, SubscribeOptions};
use lightstream::minarrow::{Table, fa_cat32, fa_f64, fa_i64, tbl};
use lightstream::{ClientOptions, ReadOptions, Schema, ServerOptions, WriteOptions};

/// Tick `i` of a small quotes feed; its `symbol` dictionary grows over time.
fn tick(i: i64) -> Table {
    let symbol = ["ACME", "INIT", "ZETA", "NOVA"][(i % 4) as usize];
    tbl!(
        "quotes",
        fa_i64!("seq", i),
        fa_cat32!("symbol", symbol),
        fa_f64!("price", 100.0 + i as f64 / 4.0),
    )
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    const TICKS: i64 = 40;
    // A late joiner sees the last 5 tables before live ones.
    let hub = Hub::new(HubOptions {
        replay_tables: 5,
        ..HubOptions::default()
    });

    // Every client of either listener subscribes to the same feed.
    let mut urls = Vec::new();
    for url in ["tcp://127.0.0.1:0", "ws://127.0.0.1:0/feed"] {
        let listener = lightstream::bind(&url.parse()?, &ServerOptions::default()).await?;
        urls.push(listener.local_url().clone());
        let hub = hub.clone();
        tokio::spawn(async move {
            while let Ok(conn) = listener.accept().await {
                // Here an application would check who it is first.
                tokio::spawn(hub.clone().subscribe(conn, SubscribeOptions::default()));
            }
        });
    }

    // Two subscribers from the start, one per transport.
    let mut readers = Vec::new();
    for url in &urls {
        let conn = lightstream::connect(url, &ClientOptions::default()).await?;
        readers.push(tokio::spawn(async move {
            conn.reader(ReadOptions::default()).await?.read_all().await
        }));
    }
    hub.wait_for_subscribers(2).await;

    // The producer: one tick every millisecond; a third subscriber joins
    // (over WebSocket) half-way through.
    let producer = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let schema = Schema::from_table(&tick(0)).into();
            let mut publisher = hub.publisher(schema, WriteOptions::default())?;
            for i in 0..TICKS {
                publisher.write(&tick(i)).await?;
                if i == TICKS / 2 {
                    hub.wait_for_subscribers(3).await;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            publisher.finish().await
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    while hub.stats().tables <= (TICKS / 2) as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut late = lightstream::connect(&urls[1], &ClientOptions::default())
        .await?
        .reader(ReadOptions::default())
        .await?;
    producer.await.expect("producer task")?;

    for (url, reader) in urls.iter().zip(readers) {
        let tables = reader.await.expect("reader task")?;
        assert_eq!(tables.len(), TICKS as usize, "{url}");
        println!("{url}: {} tables, seq 0..{}", tables.len(), TICKS - 1);
    }
    let mut seqs = Vec::new();
    while let Some(table) = late.next().await {
        let table = table?;
        let seq = match &table.cols[0].array {
            lightstream::minarrow::Array::NumericArray(
                lightstream::minarrow::NumericArray::Int64(a),
            ) => a.data.as_slice()[0],
            other => panic!("seq is an int64 column, not {other:?}"),
        };
        assert_eq!(
            table.cols,
            tick(seq).cols,
            "the late joiner decodes tick {seq}"
        );
        seqs.push(seq);
    }
    // It joined after tick TICKS/2, so it starts within the replay window
    // before that and then misses nothing.
    let first = seqs[0];
    assert!(first > 0 && first <= TICKS / 2, "first seq {first}");
    assert_eq!(seqs, (first..TICKS).collect::<Vec<_>>());
    println!(
        "late joiner: seq {first}..{} (replay window of 5, then live)",
        TICKS - 1
    );
    let stats = hub.stats();
    println!(
        "hub: {} subscribers joined, {} tables, {} bytes published once",
        stats.joined, stats.tables, stats.bytes
    );
    Ok(())
}
