//! Arrow tables over TCP: a server sends, a client reads.
//!
//! `cargo run -p lightstream --example tcp`
//!
//! The bytes on the socket are the plain Arrow IPC stream format, so the other
//! end could as well be pyarrow (`pa.ipc.open_stream(sock.makefile("rb"))`) or
//! `lightstream recv tcp://HOST:PORT -`.

use std::sync::Arc;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, ServerOptions, WriteOptions};

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

    // Port 0: the system picks a free port; `local_url` says which.
    let listener =
        lightstream::bind(&"tcp://127.0.0.1:0".parse()?, &ServerOptions::default()).await?;
    let url = listener.local_url().to_string();
    println!("listening on {url}");

    // Server: accept one client and send it BATCHES tables.
    let server = tokio::spawn(async move {
        let conn = listener.accept().await?;
        let schema = Arc::new(Schema::from_table(&batch(0)));
        let mut writer = conn.writer(schema, WriteOptions::default()).await?;
        for i in 0..BATCHES {
            // Column buffers go out with vectored writes: no copy into a frame.
            writer.write(&batch(i)).await?;
        }
        // End-of-stream marker, then the write half of the socket is shut down.
        let bytes = writer.finish().await?;
        println!("server: sent {BATCHES} tables, {bytes} bytes");
        Ok::<_, lightstream::Error>(())
    });

    // Client: connect and read until the end-of-stream marker.
    let endpoint: Endpoint = url.parse()?;
    let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
    let mut reader = conn.reader(ReadOptions::default()).await?;
    let names: Vec<&str> = reader
        .schema()
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    println!("client: schema {names:?}");

    let mut i = 0;
    while let Some(table) = reader.next().await {
        let table = table?;
        println!("client: table {i}: {} rows", table.n_rows);
        // The columns arrive exactly as sent.
        assert_eq!(table.cols, batch(i).cols);
        i += 1;
    }
    assert_eq!(i, BATCHES);
    println!(
        "client: {} tables, {} rows, {} bytes",
        reader.tables_read(),
        reader.rows_read(),
        reader.bytes_read()
    );

    server.await.expect("server task panicked")?;
    Ok(())
}
