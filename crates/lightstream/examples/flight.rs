//! An Arrow Flight client: list a server's flights, then read one with DoGet.
//!
//! `cargo run -p lightstream --features flight --example flight -- grpc://HOST:PORT [TICKET]`
//!
//! Any Flight server will do; pyarrow's, for example:
//!
//! ```text
//! python3 tests/python/flight_server.py   # prints its port
//! cargo run -p lightstream --features flight --example flight -- grpc://127.0.0.1:PORT all_types.none
//! ```
//!
//! Without a ticket, the first endpoint of the first flight listed is read.

use futures_util::StreamExt;
use lightstream::flight::FlightClient;
use lightstream::{ClientOptions, Endpoint, Error, ReadOptions};

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    let mut args = std::env::args().skip(1);
    let url: Endpoint = args
        .next()
        .ok_or_else(|| Error::Config("usage: flight grpc://HOST:PORT [TICKET]".into()))?
        .parse()?;
    let client = FlightClient::connect(&url, &ClientOptions::default()).await?;

    let flights = client.list_flights(Default::default()).await?;
    for info in &flights {
        let rows = info
            .total_records
            .map_or("?".to_string(), |n| n.to_string());
        println!("flight {:?}: {rows} rows", info.descriptor);
    }
    let ticket = match args.next() {
        Some(t) => t.into(),
        None => flights
            .iter()
            .flat_map(|f| &f.endpoints)
            .map(|e| e.ticket.clone())
            .next()
            .ok_or_else(|| Error::Config(format!("{url} lists no flight to read")))?,
    };

    let mut reader = client.do_get(ticket, ReadOptions::default()).await?;
    println!(
        "schema: {:?}",
        reader
            .schema()
            .fields
            .iter()
            .map(|f| &f.name)
            .collect::<Vec<_>>()
    );
    while let Some(table) = reader.next().await {
        println!("a table of {} rows", table?.n_rows);
    }
    Ok(())
}
