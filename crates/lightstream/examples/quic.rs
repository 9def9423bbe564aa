//! Arrow tables over QUIC: two table streams at once on one connection.
//!
//! `cargo run -p lightstream --example quic`
//!
//! Each unidirectional QUIC stream carries one Arrow IPC stream. Streams are
//! flow-controlled separately, so a slow stream does not hold up the other.
//! QUIC always uses TLS 1.3; here the server has a self-signed certificate
//! for "localhost" and the client trusts exactly that certificate.

use std::sync::Arc;

use lightstream::minarrow::{Table, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::quic::{QuicSession, client_config_trusting, self_signed, server_config};
use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, ServerOptions, WriteOptions};

fn prices(i: i64) -> Table {
    tbl!(
        "prices",
        fa_str32!("symbol", "ABC", "XYZ"),
        fa_f64!("bid", 10.0 + i as f64, 20.5),
        fa_f64!("ask", 10.5 + i as f64, 21.0),
    )
}

fn trades(i: i64) -> Table {
    tbl!(
        "trades",
        fa_i64!("id", 3 * i, 3 * i + 1, 3 * i + 2),
        fa_str32!("side", "buy", "sell", "buy"),
        fa_i64!("qty", 100, 250, 5),
    )
}

const BATCHES: i64 = 5;

/// Opens a new QUIC stream on `session` and writes BATCHES tables to it.
async fn send(session: &QuicSession, make: fn(i64) -> Table) -> lightstream::Result<()> {
    let schema = Arc::new(Schema::from_table(&make(0)));
    let mut writer = session.open_writer(schema, WriteOptions::default()).await?;
    for i in 0..BATCHES {
        writer.write(&make(i)).await?;
    }
    // Finishes the QUIC stream and waits until the peer acknowledged all of it.
    writer.finish().await?;
    Ok(())
}

/// Accepts the next stream the peer opens and reads all of it.
async fn receive(session: &QuicSession) -> lightstream::Result<(Arc<Schema>, Vec<Table>)> {
    let reader = session.accept_reader(ReadOptions::default()).await?;
    let schema = reader.schema().clone();
    Ok((schema, reader.read_all().await?))
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    // A certificate for "localhost", made up on the spot (what `lightstream
    // serve quic://...` does without --cert/--key). For a real certificate:
    // lightstream::quic::load_certs(path) and load_key(path).
    let (certs, key) = self_signed(&["localhost"])?;
    // `..default()`: the options have more fields when other features (tls) are on.
    #[allow(clippy::needless_update)]
    let server_options = ServerOptions {
        quic: Some(server_config(certs.clone(), key)?),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"quic://localhost:0".parse()?, &server_options).await?;
    println!("listening on {}", listener.local_url());
    let port = listener
        .local_url()
        .to_string()
        .rsplit_once(':')
        .map(|(_, p)| p.to_string());
    let port = port.expect("a URL with a port");

    // Server: one client, two table streams sent concurrently, then close.
    let server = tokio::spawn(async move {
        let session = listener.accept().await?.into_quic().await?;
        tokio::try_join!(send(&session, prices), send(&session, trades))?;
        // Both streams are acknowledged; closing now cuts nothing off.
        session.close();
        Ok::<_, lightstream::Error>(())
    });

    // Client: trust the server's certificate. The name checked against it is
    // the URL's host, so connect to "localhost", not 127.0.0.1.
    // `lightstream recv --ca cert.pem` does the same with a PEM file;
    // `--insecure` corresponds to lightstream::quic::client_config_insecure(),
    // which accepts any certificate (encrypted but unauthenticated: localhost
    // and tests only).
    #[allow(clippy::needless_update)]
    let client_options = ClientOptions {
        quic: Some(client_config_trusting(&certs)?),
        ..ClientOptions::default()
    };
    let endpoint: Endpoint = format!("quic://localhost:{port}").parse()?;
    let session = lightstream::connect(&endpoint, &client_options)
        .await?
        .into_quic()
        .await?;

    // Accept and read both streams at the same time, whichever comes first.
    let (a, b) = tokio::try_join!(receive(&session), receive(&session))?;
    for (schema, tables) in [a, b] {
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        let rows: usize = tables.iter().map(|t| t.n_rows).sum();
        println!(
            "client: stream {names:?}: {} tables, {rows} rows",
            tables.len()
        );
        let make = if names[0] == "symbol" { prices } else { trades };
        assert_eq!(tables.len(), BATCHES as usize);
        for (i, table) in tables.iter().enumerate() {
            assert_eq!(table.cols, make(i as i64).cols);
        }
    }

    // The server closes the connection once both streams are done.
    tokio::time::timeout(std::time::Duration::from_secs(10), session.closed())
        .await
        .expect("the server closes the connection");
    server.await.expect("server task panicked")?;
    println!("both streams arrived intact");
    Ok(())
}
