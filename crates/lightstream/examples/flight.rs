//! An Arrow Flight server: one flight, `numbers`, that `ListFlights` lists,
//! `GetFlightInfo` describes and `DoGet` streams; read back here by the Flight
//! client.
//!
//! `cargo run -p lightstream --features flight --example flight`
//!
//! With `serve [ROWS]` it keeps serving on the port it prints, for any Flight
//! client, for example pyarrow:
//! `pyarrow.flight.connect(url).do_get(pyarrow.flight.Ticket(b"numbers")).read_all()`.

use std::sync::Arc;

use lightstream::flight::{
    CatalogFuture, FlightCatalog, FlightClient, FlightCode, FlightDescriptor, FlightEndpoint,
    FlightInfo, FlightRequest,
};
use lightstream::minarrow::{Table, fa_i64, tbl};
use lightstream::{ClientOptions, Connection, ReadOptions, Schema, ServerOptions, WriteOptions};

/// Rows per table of the flight.
const BATCH_ROWS: i64 = 65_536;

/// Rows `from..from + len` of four int64 columns.
fn batch(from: i64, len: i64) -> Table {
    let a: Vec<i64> = (from..from + len).collect();
    let b: Vec<i64> = a.iter().map(|v| v * 2).collect();
    let c: Vec<i64> = a.iter().map(|v| v * 3).collect();
    let d: Vec<i64> = a.iter().map(|v| v ^ 0x5555).collect();
    tbl!(
        "numbers",
        fa_i64!("a", @slice &a[..]),
        fa_i64!("b", @slice &b[..]),
        fa_i64!("c", @slice &c[..]),
        fa_i64!("d", @slice &d[..]),
    )
}

/// The flight `numbers`: its tables, made once.
struct Numbers {
    schema: Arc<Schema>,
    tables: Vec<Table>,
}

impl Numbers {
    fn new(rows: i64) -> Numbers {
        let tables: Vec<Table> = (0..rows)
            .step_by(BATCH_ROWS as usize)
            .map(|from| batch(from, BATCH_ROWS.min(rows - from)))
            .collect();
        let schema = Arc::new(Schema::from_table(&batch(0, 1)));
        Numbers { schema, tables }
    }

    fn info(&self) -> FlightInfo {
        FlightInfo {
            schema: Some(self.schema.clone()),
            descriptor: Some(FlightDescriptor::Path(vec!["numbers".into()])),
            endpoints: vec![FlightEndpoint {
                ticket: "numbers".into(),
                // Empty: redeem the ticket on this server.
                locations: Vec::new(),
                app_metadata: Default::default(),
            }],
            total_records: Some(self.tables.iter().map(|t| t.n_rows as u64).sum()),
            total_bytes: None,
            ordered: true,
            app_metadata: Default::default(),
        }
    }
}

impl FlightCatalog for Numbers {
    fn list_flights<'a>(&'a self, _criteria: &'a [u8]) -> CatalogFuture<'a, Vec<FlightInfo>> {
        Box::pin(async move { Ok(vec![self.info()]) })
    }

    fn get_flight_info<'a>(&'a self, d: &'a FlightDescriptor) -> CatalogFuture<'a, FlightInfo> {
        Box::pin(async move {
            match d {
                FlightDescriptor::Path(p) if p == &["numbers"] => Ok(self.info()),
                other => Err(lightstream::Error::Flight {
                    peer: String::new(),
                    rpc: "GetFlightInfo".into(),
                    code: FlightCode::NotFound,
                    message: format!("no flight {other}"),
                }),
            }
        })
    }
}

/// Answers one call: `DoGet numbers` streams the tables; anything else is
/// refused with a status.
async fn answer(conn: Connection, numbers: Arc<Numbers>) -> lightstream::Result<()> {
    match conn.flight_request() {
        Some(FlightRequest::DoGet { ticket }) if &ticket[..] == b"numbers" => {
            let mut w = conn
                .writer(numbers.schema.clone(), WriteOptions::default())
                .await?;
            for t in &numbers.tables {
                w.write(t).await?;
            }
            w.finish().await.map(drop)
        }
        Some(FlightRequest::DoGet { .. }) => {
            conn.reject(FlightCode::NotFound, "no such ticket").await
        }
        _ => {
            conn.reject(FlightCode::Unimplemented, "this server only serves")
                .await
        }
    }
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    let mut args = std::env::args().skip(1);
    let serve_only = args.next().as_deref() == Some("serve");
    let rows = args.next().and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let numbers = Arc::new(Numbers::new(rows));
    let options = ServerOptions {
        flight_catalog: Some(numbers.clone()),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"grpc://127.0.0.1:0".parse()?, &options).await?;
    let url = listener.local_url().clone();
    println!("{url}");
    let serving = tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            tokio::spawn(answer(conn, numbers.clone()));
        }
    });
    if serve_only {
        let _ = serving.await;
        return Ok(());
    }

    let client = FlightClient::connect(&url, &ClientOptions::default()).await?;
    for info in client.list_flights(Default::default()).await? {
        let rows = info.total_records.unwrap_or_default();
        for endpoint in &info.endpoints {
            let reader = client
                .do_get(endpoint.ticket.clone(), ReadOptions::default())
                .await?;
            let tables = reader.read_all().await?;
            let got: usize = tables.iter().map(|t| t.n_rows).sum();
            println!("{:?}: {got} of {rows} rows", info.descriptor);
            if got as i64 != rows as i64 {
                return Err(lightstream::Error::Protocol(format!(
                    "{:?}: read {got} rows, the catalog says {rows}",
                    info.descriptor
                )));
            }
        }
    }
    Ok(())
}
