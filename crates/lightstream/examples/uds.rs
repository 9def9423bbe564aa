//! Arrow tables over a Unix domain socket: a server listens and reads, a
//! client connects and sends (the opposite direction to the tcp example).
//!
//! `cargo run -p lightstream --example uds`
//!
//! Which side reads and which writes is up to the application: a
//! `Connection` from `accept` or `connect` becomes either one.

use std::sync::Arc;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_bool, fa_i64, fa_str32, tbl};
use lightstream::{
    ClientOptions, Compression, Endpoint, ReadOptions, Schema, ServerOptions, WriteOptions,
};

/// One batch of a small "events" table.
fn batch(i: i64) -> Table {
    tbl!(
        "events",
        fa_i64!("seq", 2 * i, 2 * i + 1),
        fa_str32!("kind", "login", "logout"),
        fa_bool!("ok", true, i % 2 == 0),
    )
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    const BATCHES: i64 = 3;

    // A socket path of our own; `bind` replaces a stale socket file there and
    // the listener removes it when dropped.
    let path =
        std::env::temp_dir().join(format!("lightstream-example-{}.sock", std::process::id()));
    let endpoint: Endpoint = format!("unix://{}", path.display()).parse()?;
    let listener = lightstream::bind(&endpoint, &ServerOptions::default()).await?;
    println!("listening on {}", listener.local_url());

    // Server: accept one client and read everything it sends.
    let server = tokio::spawn(async move {
        let conn = listener.accept().await?;
        let mut reader = conn.reader(ReadOptions::default()).await?;
        println!("server: schema {:?}", field_names(reader.schema()));
        let mut received = Vec::new();
        while let Some(table) = reader.next().await {
            let table = table?;
            println!("server: table {}: {} rows", received.len(), table.n_rows);
            received.push(table);
        }
        Ok::<_, lightstream::Error>(received)
    });

    // Client: connect and send, with ZSTD-compressed bodies this time (the
    // reader needs no option for that: compression is in each message).
    let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
    let schema = Arc::new(Schema::from_table(&batch(0)));
    let options = WriteOptions {
        compression: Compression::Zstd,
        ..WriteOptions::default()
    };
    let mut writer = conn.writer(schema, options).await?;
    for i in 0..BATCHES {
        writer.write(&batch(i)).await?;
    }
    let bytes = writer.finish().await?;
    println!("client: sent {BATCHES} tables, {bytes} bytes");

    let received = server.await.expect("server task panicked")?;
    assert_eq!(received.len(), BATCHES as usize);
    for (i, table) in received.iter().enumerate() {
        assert_eq!(table.n_rows, 2);
        assert_eq!(table.cols, batch(i as i64).cols);
    }
    println!("server: all {BATCHES} tables arrived intact");
    Ok(())
}

fn field_names(schema: &Schema) -> Vec<&str> {
    schema.fields.iter().map(|f| f.name.as_str()).collect()
}
