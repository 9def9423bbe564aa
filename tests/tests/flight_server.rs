//! Lightstream's Arrow Flight server (`grpc://`, `grpc+tls://`) against
//! pyarrow.flight as the client (`tests/python/flight_client.py`): DoGet of
//! every supported type (pyarrow runs `validate(full=True)` on each batch
//! and the values are compared), DoPut into our listener (with the
//! client's app_metadata reaching us and our PutResults reaching pyarrow's
//! FlightMetadataReader), DoExchange echoed table by table, ListFlights /
//! GetFlightInfo / GetSchema against a catalog, a hub subscriber served
//! over DoGet (the shared-bytes path), an unknown ticket answered
//! `NOT_FOUND`, and TLS with a test CA.
//!
//! pyarrow must be installed; these tests never skip.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use lightstream::flight::{
    CatalogFuture, FlightCatalog, FlightCode, FlightDescriptor, FlightEndpoint, FlightInfo,
    FlightRequest, FlightService,
};
use lightstream::hub::{Hub, HubOptions, SubscribeOptions};
use lightstream::{Connection, Listener, ReadOptions, ServerOptions, WriteOptions};
use lightstream_core::Schema;
use lightstream_core::minarrow::Table;
use lightstream_tests::interop::{
    TempDir, diff_against_doc, diff_docs, expect_doc, interop_all_types, python_dir,
    require_pyarrow, slice_rows,
};
use serde_json::Value;
use tokio::sync::mpsc;

/// What the test server serves: tickets to streams.
type Flights = Arc<HashMap<String, (Arc<Schema>, Vec<Table>)>>;

/// Where the test server's DoPut tables go, with their descriptor.
type Puts = mpsc::UnboundedSender<(FlightDescriptor, Arc<Schema>, Vec<Table>)>;

/// Serves `flights` on `listener` (see [`answer`]).
fn serve(listener: Listener, flights: Flights, puts: Puts) {
    tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            tokio::spawn(answer(conn, flights.clone(), puts.clone()));
        }
    });
}

/// Answers one call: a DoGet of a known ticket writes its tables, an
/// unknown one is rejected `NOT_FOUND`; a DoPut's tables go to `puts` with
/// the descriptor.
async fn answer(conn: Connection, flights: Flights, puts: Puts) -> lightstream::Result<()> {
    match conn.flight_request().cloned() {
        Some(FlightRequest::DoGet { ticket }) => {
            let name = String::from_utf8_lossy(&ticket).to_string();
            let Some((schema, tables)) = flights.get(&name) else {
                let why = format!("no such ticket: {name:?}");
                return conn.reject(FlightCode::NotFound, &why).await;
            };
            let mut w = conn.writer(schema.clone(), WriteOptions::default()).await?;
            for t in tables {
                w.write(t).await?;
            }
            w.finish().await.map(drop)
        }
        Some(FlightRequest::DoPut { descriptor }) => {
            let r = conn.reader(ReadOptions::default()).await?;
            let schema = r.schema().clone();
            let tables = r.read_all().await?;
            let _ = puts.send((descriptor, schema, tables));
            Ok(())
        }
        other => panic!("unexpected call {other:?}"),
    }
}

/// Runs `tests/python/flight_client.py ARGS` off the runtime's threads;
/// returns (success, stdout, stderr).
async fn flight_client(args: Vec<String>) -> (bool, String, String) {
    require_pyarrow();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(python_dir().join("flight_client.py"))
            .args(&args)
            .output()
            .expect("running python3 flight_client.py");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    })
    .await
    .expect("the client task")
}

/// [`flight_client`] that must succeed; its JSON output.
async fn flight_client_json(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = flight_client(args.iter().map(|s| s.to_string()).collect()).await;
    assert!(ok, "flight_client.py {args:?} failed:\n{stderr}\n{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn all_types() -> (Arc<Schema>, Vec<Table>) {
    let (schema, tables) = interop_all_types();
    (Arc::new(schema), tables)
}

async fn bind(url: &str, options: &ServerOptions) -> (Listener, String) {
    let listener = lightstream::bind(&url.parse().expect("a grpc URL"), options)
        .await
        .expect("binding the Flight server");
    let url = listener.local_url().to_string();
    (listener, url)
}

fn assert_no_diffs(diffs: Vec<String>) {
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_do_get_reads_every_type_and_an_unknown_ticket_is_not_found() {
    let (schema, tables) = all_types();
    let expected = expect_doc("stream", &schema, &tables, true).expect("expectation");
    let flights: Flights = Arc::new(HashMap::from([("all".to_string(), (schema, tables))]));
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    serve(listener, flights, mpsc::unbounded_channel().0);

    let got = flight_client_json(&[&url, "get", "all"]).await;
    assert_no_diffs(diff_docs("DoGet all", &expected, &got));

    let (ok, _, stderr) = flight_client(vec![url.clone(), "get".into(), "nope".into()]).await;
    assert!(!ok);
    // pyarrow turns NOT_FOUND into its KeyError, with our message.
    assert!(stderr.contains("KeyError"), "{stderr}");
    assert!(stderr.contains("no such ticket: \"nope\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_do_put_into_our_listener_arrives_whole() {
    let dir = TempDir::new("flight-put");
    let (schema, tables) = all_types();
    let file = stream_file(&dir, "all.arrows", &schema, &tables);
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let (puts, mut put) = mpsc::unbounded_channel();
    serve(listener, Arc::new(HashMap::new()), puts);

    let answer = flight_client_json(&[&url, "put", "uploads/all", &file]).await;
    let (descriptor, got_schema, got) = put.recv().await.expect("the DoPut's tables");
    assert_eq!(
        descriptor,
        FlightDescriptor::Path(vec!["uploads".into(), "all".into()])
    );
    assert_no_diffs(diff_against_doc(
        "DoPut all",
        &answer["sent"],
        &got_schema,
        &got,
    ));
    assert_eq!(got.len(), tables.len());
}

/// One flight, `data/all`, with the ticket `all`.
struct OneFlight(Arc<Schema>, u64);

impl OneFlight {
    fn info(&self) -> FlightInfo {
        FlightInfo {
            schema: Some(self.0.clone()),
            descriptor: Some(FlightDescriptor::Path(vec!["data".into(), "all".into()])),
            endpoints: vec![FlightEndpoint {
                ticket: "all".into(),
                locations: Vec::new(),
                app_metadata: Default::default(),
            }],
            total_records: Some(self.1),
            total_bytes: None,
            ordered: true,
            app_metadata: Default::default(),
        }
    }
}

impl FlightCatalog for OneFlight {
    fn list_flights<'a>(&'a self, _: &'a [u8]) -> CatalogFuture<'a, Vec<FlightInfo>> {
        Box::pin(async move { Ok(vec![self.info()]) })
    }

    fn get_flight_info<'a>(&'a self, d: &'a FlightDescriptor) -> CatalogFuture<'a, FlightInfo> {
        Box::pin(async move {
            if *d == FlightDescriptor::Path(vec!["data".into(), "all".into()]) {
                Ok(self.info())
            } else {
                Err(lightstream::Error::Flight {
                    peer: String::new(),
                    rpc: "GetFlightInfo".into(),
                    code: FlightCode::NotFound,
                    message: format!("no flight {d}"),
                })
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_lists_and_describes_the_catalogs_flights() {
    let (schema, tables) = all_types();
    let rows: usize = tables.iter().map(|t| t.n_rows).sum();
    let expected = expect_doc("stream", &schema, &tables, true).expect("expectation");
    let options = ServerOptions {
        flight_catalog: Some(Arc::new(OneFlight(schema.clone(), rows as u64))),
        ..ServerOptions::default()
    };
    let (listener, url) = bind("grpc://127.0.0.1:0", &options).await;
    let flights: Flights = Arc::new(HashMap::from([("all".to_string(), (schema, tables))]));
    serve(listener, flights, mpsc::unbounded_channel().0);

    let list = flight_client_json(&[&url, "list"]).await;
    let info = flight_client_json(&[&url, "info", "data/all"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0], info);
    assert_eq!(info["path"], serde_json::json!(["data", "all"]));
    assert_eq!(info["total_records"], rows as u64);
    assert_eq!(info["total_bytes"], -1);
    assert_eq!(info["endpoints"][0]["ticket"], "all");
    assert_eq!(info["schema"], expected["schema"], "{info}");
    let schema = flight_client_json(&[&url, "schema", "data/all"]).await;
    assert_eq!(schema["schema"], expected["schema"]);
    // The ticket the info names is served.
    let got = flight_client_json(&[&url, "get", "all"]).await;
    assert_no_diffs(diff_docs("DoGet all", &expected, &got));
    // An unknown path: the catalog's NOT_FOUND reaches pyarrow.
    let (ok, _, stderr) = flight_client(vec![url, "info".into(), "data/nope".into()]).await;
    assert!(!ok && stderr.contains("KeyError"), "{stderr}");
    assert!(
        stderr.contains("no flight path [\"data\", \"nope\"]"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_a_hub_subscription_over_do_get() {
    let (schema, tables) = all_types();
    let expected = expect_doc("stream", &schema, &tables, true).expect("expectation");
    let hub = Hub::new(HubOptions::default());
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let serving = hub.clone();
    tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            let hub = serving.clone();
            tokio::spawn(hub.subscribe(conn, SubscribeOptions::default()));
        }
    });
    let reading = tokio::spawn(flight_client_json_owned(vec![
        url,
        "get".into(),
        "feed".into(),
    ]));
    hub.wait_for_subscribers(1).await;
    let mut publisher = hub
        .publisher(schema.clone(), WriteOptions::default())
        .expect("a publisher");
    for t in &tables {
        publisher.write(t).await.expect("publishing");
    }
    publisher.finish().await.expect("ending the feed");
    let got = reading.await.expect("the client");
    assert_no_diffs(diff_docs("DoGet of the hub", &expected, &got));
}

async fn flight_client_json_owned(args: Vec<String>) -> Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    flight_client_json(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_over_grpc_tls_with_the_test_ca() {
    let dir = TempDir::new("flight-tls");
    let pki =
        lightstream_tests::pki::pki(dir.path(), "flight test CA", &["localhost", "127.0.0.1"]);
    let config = lightstream::tls::server_config(
        lightstream::tls::load_certs(&pki.cert).expect("certificate"),
        lightstream::tls::load_key(&pki.key).expect("key"),
    )
    .expect("a TLS configuration");
    let options = ServerOptions {
        tls: Some(config),
        ..ServerOptions::default()
    };
    let (schema, tables) = all_types();
    let expected = expect_doc("stream", &schema, &tables, true).expect("expectation");
    let (listener, url) = bind("grpc+tls://127.0.0.1:0", &options).await;
    assert!(url.starts_with("grpc+tls://127.0.0.1:"), "{url}");
    let flights: Flights = Arc::new(HashMap::from([("all".to_string(), (schema, tables))]));
    serve(listener, flights, mpsc::unbounded_channel().0);
    let url = url.replace("127.0.0.1", "localhost");
    let ca = pki.ca.to_string_lossy().to_string();
    let got = flight_client_json(&["--tls-root", &ca, &url, "get", "all"]).await;
    assert_no_diffs(diff_docs("DoGet over TLS", &expected, &got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_flight_service_mounted_in_a_tonic_server_of_ones_own() {
    let (schema, tables) = all_types();
    let expected = expect_doc("stream", &schema, &tables, true).expect("expectation");
    let flights: Flights = Arc::new(HashMap::from([("all".to_string(), (schema, tables))]));
    // The application's own tonic server, with our service among its own.
    let (service, calls) = FlightService::new(None, lightstream_core::DecodeLimits::default());
    let incoming =
        tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into()).expect("binding");
    let url = format!("grpc://{}", incoming.local_addr().expect("its address"));
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(service, incoming));
    tokio::spawn(async move {
        while let Some(conn) = calls.accept().await {
            tokio::spawn(answer(conn, flights.clone(), mpsc::unbounded_channel().0));
        }
    });
    let got = flight_client_json(&[&url, "get", "all"]).await;
    assert_no_diffs(diff_docs("DoGet through tonic's server", &expected, &got));
    // No catalog: the control calls are UNIMPLEMENTED.
    let (ok, _, stderr) = flight_client(vec![url, "list".into()]).await;
    assert!(!ok && stderr.contains("NotImplemented"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_flight_data_limit_goes_as_several_smaller_ones() {
    use lightstream_core::minarrow::{fa_i64, tbl};
    let n = 100_000i64; // 800 KB of values: over a 64 KiB limit, 12 times
    let values: Vec<i64> = (0..n).collect();
    let table = tbl!("t", fa_i64!("n", @slice &values[..]));
    let schema = Arc::new(Schema::from_table(&table));
    let flights: Flights = Arc::new(HashMap::from([("big".to_string(), (schema, vec![table]))]));
    let options = ServerOptions {
        flight_max_data_bytes: Some(Some(64 << 10)),
        ..ServerOptions::default()
    };
    let (listener, url) = bind("grpc://127.0.0.1:0", &options).await;
    serve(listener, flights, mpsc::unbounded_channel().0);

    let got = flight_client_json(&[&url, "get", "big"]).await;
    let batches = got["batches"].as_array().expect("batches");
    // At least 13 parts; the head's room (half of a small limit) makes 25.
    assert!((13..=26).contains(&batches.len()), "{}", batches.len());
    let mut all = Vec::new();
    for b in batches {
        let rows = b["num_rows"].as_u64().expect("num_rows");
        assert!(rows * 8 <= 64 << 10, "a batch of {rows} rows");
        for v in b["columns"][0]["values"].as_array().expect("values") {
            all.push(
                v.as_i64()
                    .or_else(|| v.as_str()?.parse().ok())
                    .expect("an int"),
            );
        }
    }
    assert_eq!(all, values);
}

/// Every type, cut into record batches of a few rows by a tiny FlightData
/// limit (batches starting inside a validity byte, strings rebased): pyarrow
/// validates each batch and reads the values of minarrow's copy of its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_every_type_cut_into_batches_at_any_row() {
    let (schema, tables) = all_types();
    let flights: Flights = Arc::new(HashMap::from([(
        "all".to_string(),
        (schema.clone(), tables.clone()),
    )]));
    let options = ServerOptions {
        // Record batch bodies of at most 8 KiB: batches of 9 to 11 rows.
        flight_max_data_bytes: Some(Some(16 << 10)),
        ..ServerOptions::default()
    };
    let (listener, url) = bind("grpc://127.0.0.1:0", &options).await;
    serve(listener, flights, mpsc::unbounded_channel().0);

    let got = flight_client_json(&[&url, "get", "all"]).await;
    let batches = got["batches"].as_array().expect("batches");
    // The rows of each batch, in order, cut from the tables sent.
    let mut cuts = batches
        .iter()
        .map(|b| b["num_rows"].as_u64().expect("num_rows") as usize);
    let (mut slices, mut starts) = (Vec::new(), Vec::new());
    for t in &tables {
        let mut start = 0;
        loop {
            let rows = cuts.next().expect("a batch for every row");
            assert!(
                start + rows <= t.n_rows,
                "{rows} rows from {start} of {}",
                t.n_rows
            );
            slices.push(slice_rows(t, start..start + rows));
            starts.push(start);
            start += rows;
            if start == t.n_rows {
                break;
            }
        }
    }
    assert_eq!(cuts.next(), None, "batches past the tables sent");
    assert!(
        batches.len() > tables.len() + 8,
        "{} batches",
        batches.len()
    );
    assert!(starts.iter().any(|s| s % 8 != 0), "{starts:?}");
    let expected = expect_doc("stream", &schema, &slices, true).expect("expectation");
    assert_no_diffs(diff_docs("DoGet cut", &expected, &got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_get_whose_writer_is_dropped_ends_with_aborted_not_a_short_stream() {
    use lightstream::flight::FlightOptions;
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let (schema, tables) = all_types();
    tokio::spawn(async move {
        let conn = listener.accept().await?;
        let mut w = conn.writer(schema, WriteOptions::default()).await?;
        w.write(&tables[0]).await?;
        drop(w); // no finish: the stream is cut
        Ok::<_, lightstream::Error>(())
    });
    let options = lightstream::ClientOptions {
        flight: FlightOptions {
            ticket: Some("cut".into()),
            ..FlightOptions::default()
        },
        ..lightstream::ClientOptions::default()
    };
    let endpoint = url.parse().expect("the URL");
    let conn = lightstream::connect(&endpoint, &options)
        .await
        .expect("connecting");
    let reader = conn
        .reader(ReadOptions::default())
        .await
        .expect("the schema");
    let e = reader.read_all().await.expect_err("a cut stream");
    assert!(
        matches!(
            e,
            lightstream::Error::Flight {
                code: FlightCode::Aborted,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("before its end-of-stream marker"),
        "{e}"
    );
}

/// `n` batches of 3 int64 rows each.
fn int_batches(n: i64) -> (Arc<Schema>, Vec<Table>) {
    use lightstream_core::minarrow::{fa_i64, tbl};
    let tables: Vec<Table> = (0..n)
        .map(|i| tbl!("t", fa_i64!("n", 3 * i, 3 * i + 1, 3 * i + 2)))
        .collect();
    (Arc::new(Schema::from_table(&tables[0])), tables)
}

/// Writes `tables` as an IPC stream file in `dir`; its path.
fn stream_file(dir: &TempDir, name: &str, schema: &Schema, tables: &[Table]) -> String {
    let file = dir.path().join(name);
    let bytes = lightstream_core::write_stream(schema, tables, &WriteOptions::default())
        .expect("writing the stream");
    std::fs::write(&file, bytes).expect("writing the file");
    file.to_string_lossy().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_do_put_app_metadata_reaches_us_and_our_put_results_reach_pyarrow() {
    use futures_util::StreamExt;
    use lightstream::flight::AppMetadata;
    let dir = TempDir::new("flight-put-metadata");
    let (schema, tables) = int_batches(3);
    let file = stream_file(&dir, "ints.arrows", &schema, &tables);
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let serving = tokio::spawn(async move {
        let mut conn = listener.accept().await?;
        let mut put = conn.put_metadata().expect("a DoPut's metadata");
        assert!(conn.put_metadata().is_none(), "taken once");
        let mut reader = conn.reader(ReadOptions::default()).await?;
        let (mut received, mut rows) = (Vec::new(), Vec::new());
        while let Some(table) = reader.next().await {
            rows.push(table?.n_rows);
            // Each FlightData's app_metadata comes before its table: echo it.
            while let Ok(m) = put.received.try_recv() {
                put.results.send(m.bytes.clone()).await?;
                received.push(m);
            }
        }
        drop(put); // the call's status goes now
        Ok::<_, lightstream::Error>((received, rows))
    });
    let answer = flight_client_json(&[&url, "put-meta", "uploads/ints", &file]).await;
    let (received, rows) = serving.await.expect("the server").expect("serving");
    assert_eq!(rows, vec![3, 3, 3]);
    // Message 0 is the schema; batch i is message i + 1.
    let expected: Vec<AppMetadata> = (0..3u64)
        .map(|i| AppMetadata {
            message: i + 1,
            bytes: format!("put-{i}").into(),
        })
        .collect();
    assert_eq!(received, expected);
    assert_eq!(
        answer["results"],
        serde_json::json!(["put-0", "put-1", "put-2"]),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_do_exchange_gets_each_table_echoed_as_it_goes() {
    use futures_util::StreamExt;
    let dir = TempDir::new("flight-exchange");
    let (schema, tables) = all_types();
    let file = stream_file(&dir, "all.arrows", &schema, &tables);
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let serving = tokio::spawn(async move {
        let conn = listener.accept().await?;
        assert_eq!(
            conn.flight_request(),
            Some(&FlightRequest::DoExchange {
                descriptor: FlightDescriptor::Path(vec!["echo".into()])
            })
        );
        let (reading, writing) = conn.split()?;
        let mut reader = reading.reader(ReadOptions::default()).await?;
        let mut writer = writing
            .writer(reader.schema().clone(), WriteOptions::default())
            .await?;
        let mut echoed = 0;
        while let Some(table) = reader.next().await {
            writer.write(&table?).await?;
            echoed += 1;
        }
        writer.finish().await?;
        Ok::<_, lightstream::Error>(echoed)
    });
    let answer = flight_client_json(&[&url, "exchange", "echo", &file]).await;
    assert_eq!(
        serving.await.expect("the server").expect("echoing"),
        tables.len()
    );
    assert_no_diffs(diff_docs(
        "DoExchange echo",
        &answer["sent"],
        &answer["got"],
    ));
    assert_no_diffs(diff_against_doc(
        "DoExchange echo",
        &answer["got"],
        &schema,
        &tables,
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_is_not_an_exchange_does_not_split() {
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    let serving = tokio::spawn(async move {
        let conn = listener.accept().await.expect("a call");
        let e = conn.split().expect_err("a DoGet is one stream");
        e.to_string()
    });
    let (ok, _, _) = flight_client(vec![url, "get".into(), "x".into()]).await;
    assert!(!ok, "the call was dropped");
    let e = serving.await.expect("the server");
    assert!(e.contains("only a Flight DoExchange"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_do_exchange_refused_by_our_server_is_the_servers_status() {
    use lightstream::flight::FlightClient;
    let (listener, url) = bind("grpc://127.0.0.1:0", &ServerOptions::default()).await;
    tokio::spawn(async move {
        let conn = listener.accept().await?;
        conn.reject(FlightCode::NotFound, "no exchange here").await
    });
    let client = FlightClient::connect(&url.parse().expect("URL"), &Default::default())
        .await
        .expect("connect");
    let (schema, tables) = int_batches(3);
    let echo = FlightDescriptor::Path(vec!["echo".into()]);
    let (mut w, answer) = client
        .do_exchange(&echo, schema, WriteOptions::default())
        .await
        .expect("do_exchange");
    // The server reads the descriptor in our first FlightData, then refuses.
    let first = w.write(&tables[0]).await;
    let e = answer
        .reader(ReadOptions::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, lightstream::Error::Flight { code: FlightCode::NotFound, message, .. } if message == "no exchange here"),
        "{e}"
    );
    // The writer learns it too (it does not hang), with the server's status.
    let mut failed = first.err();
    for t in tables.iter().cycle().take(1000) {
        if failed.is_some() {
            break;
        }
        failed = w.write(t).await.err();
    }
    let e = failed.expect("the call is over");
    assert!(e.to_string().contains("NOT_FOUND"), "{e}");
}
