//! Lightstream's Arrow Flight client (`grpc://`, `grpc+tls://`) against a
//! pyarrow.flight server (`tests/python/flight_server.py`): DoGet of every
//! supported type, dictionary replacements and deltas, compressed bodies,
//! compared with the values pyarrow itself describes; ListFlights,
//! GetFlightInfo and GetSchema; an unknown ticket (the server's NOT_FOUND on
//! one line); a server killed mid-stream (a truncated stream, never a short
//! valid one); TLS with a test CA; DoExchange with pyarrow's echo.
//!
//! pyarrow must be installed; these tests never skip.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lightstream::WriteOptions;
use lightstream::flight::{FlightClient, FlightDescriptor, FlightOptions};
use lightstream::lightstream_core::ErrorKind;
use lightstream::{ClientOptions, Endpoint, Error, FlightCode, ReadOptions, Schema};
use lightstream_core::minarrow::{Array, NumericArray, Table};
use lightstream_tests::harness::run_bounded;
use lightstream_tests::interop::{
    TempDir, diff_against_doc, expect_doc, interop_all_types, python_dir, read_json,
    require_pyarrow,
};

/// A pyarrow Flight server on loopback, killed on drop.
struct PyServer {
    child: Child,
    /// Its stdout after the port: a JSON line per DoPut (kept open, or its
    /// prints would fail).
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    port: u16,
    /// Where it wrote the expectation of every fixture (`<ticket>.json`).
    expect: TempDir,
}

impl PyServer {
    /// Starts `flight_server.py` (over TLS with `tls`: certificate and key).
    fn start(tls: Option<(&std::path::Path, &std::path::Path)>) -> PyServer {
        require_pyarrow();
        let expect = TempDir::new("flight-expect");
        let mut cmd = Command::new("python3");
        cmd.arg(python_dir().join("flight_server.py"))
            .arg("--expect-dir")
            .arg(expect.path());
        if let Some((cert, key)) = tls {
            cmd.arg("--tls").arg(cert).arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/python/flight_server.py");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("flight_server.py printed {line:?}, not a port"));
        PyServer {
            child,
            lines: stdout.lines(),
            port,
            expect,
        }
    }

    fn url(&self, scheme: &str, host: &str) -> Endpoint {
        format!("{scheme}://{host}:{}", self.port)
            .parse()
            .expect("a grpc URL")
    }

    /// pyarrow's own description of fixture `ticket` (ipc_expect.py).
    fn expectation(&self, ticket: &str) -> serde_json::Value {
        read_json(&self.expect.path().join(format!("{ticket}.json")))
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_ticket(ticket: &str) -> ClientOptions {
    ClientOptions {
        flight: FlightOptions {
            ticket: Some(Bytes::from(ticket.to_string())),
            ..FlightOptions::default()
        },
        ..ClientOptions::default()
    }
}

/// Reads `ticket` from `url` through `connect` + `reader`.
async fn do_get(
    url: &Endpoint,
    options: &ClientOptions,
) -> lightstream::Result<(Arc<Schema>, Vec<Table>)> {
    let conn = lightstream::connect(url, options).await?;
    let reader = conn.reader(ReadOptions::default()).await?;
    let schema = reader.schema().clone();
    Ok((schema, reader.read_all().await?))
}

/// Reads `ticket` from `url` to its end: the reader (for its counters) and
/// the tables.
async fn read_to_end(url: &Endpoint, ticket: &str) -> (lightstream::TableReader, Vec<Table>) {
    let conn = lightstream::connect(url, &with_ticket(ticket))
        .await
        .expect("connect");
    let mut reader = conn.reader(ReadOptions::default()).await.expect("reader");
    let mut tables = Vec::new();
    while let Some(t) = reader.next().await {
        tables.push(t.expect("a table"));
    }
    (reader, tables)
}

const TICKETS: &[&str] = &[
    "all_types.none",
    "all_types.zstd",
    "all_types.lz4",
    "dict_replacement.none",
    "dict_replacement.zstd",
    "dict_delta.none",
    "dict_delta.lz4",
    "dict_delta_then_replace.none",
    "empty",
    "app_metadata",
];

#[test]
fn do_get_reads_the_values_pyarrow_serves() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("DoGet from pyarrow", Duration::from_secs(60), async {
        let mut problems = Vec::new();
        for ticket in TICKETS {
            let (schema, tables) = do_get(&url, &with_ticket(ticket))
                .await
                .unwrap_or_else(|e| panic!("{ticket}: {e}"));
            let doc = server.expectation(ticket);
            problems.extend(diff_against_doc(ticket, &doc, &schema, &tables));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}

#[test]
fn a_batch_over_four_mib_in_one_flight_data_is_read_whole() {
    let server = PyServer::start(None);
    let url = server.url("grpc+tcp", "127.0.0.1");
    run_bounded("DoGet big", Duration::from_secs(60), async {
        let (reader, tables) = read_to_end(&url, "big").await;
        // One copy: the bodies went from the HTTP/2 frames straight into
        // the tables' aligned memory, not through the scratch buffer.
        let (read, in_place) = (reader.bytes_read(), reader.bytes_read_in_place());
        eprintln!("big: {read} IPC bytes, {in_place} read in place");
        assert!(read > 32_000_000, "{read}");
        assert!(in_place > read - 65_536, "{in_place} of {read} in place");
        assert_eq!(
            reader.bytes_copied(),
            0,
            "a body byte copied after the read"
        );
        let rows: usize = tables.iter().map(|t| t.n_rows).sum();
        assert_eq!(rows, 2_000_000);
        let Array::NumericArray(NumericArray::Int64(ids)) = &tables[0].cols[0].array else {
            panic!("id is not int64: {:?}", tables[0].cols[0].field);
        };
        let ids = ids.data.as_slice();
        assert_eq!(ids.len(), 2_000_000);
        assert!(ids.iter().enumerate().all(|(i, v)| *v == i as i64));
    });
}

#[test]
fn list_flights_flight_info_and_schema_agree_with_do_get() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("Flight unary calls", Duration::from_secs(60), async {
        let client = FlightClient::connect(&url, &ClientOptions::default())
            .await
            .expect("connect");
        let flights = client
            .list_flights(Bytes::new())
            .await
            .expect("ListFlights");
        let paths: Vec<_> = flights
            .iter()
            .filter_map(|f| f.descriptor.clone())
            .collect();
        for ticket in TICKETS.iter().chain(&["big", "slow"]) {
            assert!(
                paths.contains(&FlightDescriptor::Path(vec![ticket.to_string()])),
                "{ticket} not listed: {paths:?}"
            );
        }
        let path = FlightDescriptor::Path(vec!["all_types.zstd".into()]);
        let info = client.get_flight_info(&path).await.expect("GetFlightInfo");
        let doc = server.expectation("all_types.zstd");
        let rows: u64 = doc["batches"]
            .as_array()
            .expect("batches")
            .iter()
            .map(|b| b["num_rows"].as_u64().expect("num_rows"))
            .sum();
        assert_eq!(info.total_records, Some(rows));
        assert_eq!(info.total_bytes, None, "pyarrow sends -1: unknown");
        assert_eq!(info.descriptor, Some(path.clone()));
        assert_eq!(info.endpoints.len(), 1);
        assert_eq!(info.endpoints[0].ticket, Bytes::from("all_types.zstd"));
        assert!(info.endpoints[0].locations.is_empty());
        // The schema of all three calls is the one pyarrow describes.
        let schema = client.get_schema(&path).await.expect("GetSchema");
        let (streamed, _) = do_get(&url, &with_ticket("all_types.zstd"))
            .await
            .expect("DoGet");
        assert_eq!(info.schema.as_deref(), Some(&*schema));
        assert_eq!(*schema, *streamed);
        let problems = diff_against_doc("GetSchema", &doc, &schema, &[]);
        // Only the batch count differs (no tables given).
        assert!(
            problems.iter().all(|p| p.contains("batch")),
            "{}",
            problems.join("\n")
        );
        // And the explicit DoGet reads the same tables as connect + reader.
        let reader = client
            .do_get(Bytes::from("all_types.zstd"), ReadOptions::default())
            .await
            .expect("do_get");
        let tables = reader.read_all().await.expect("tables");
        let problems = diff_against_doc("do_get", &doc, &schema, &tables);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}

#[test]
fn an_unknown_ticket_is_the_servers_not_found_on_one_line() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("unknown ticket", Duration::from_secs(30), async {
        let e = do_get(&url, &with_ticket("nope")).await.unwrap_err();
        let Error::Flight {
            code,
            message,
            rpc,
            peer,
        } = &e
        else {
            panic!("expected Error::Flight, got {e:?}");
        };
        assert_eq!(*code, FlightCode::NotFound);
        assert_eq!(message, "no such ticket: b'nope'");
        assert_eq!(rpc, "DoGet \"nope\"");
        assert_eq!(peer, &url.to_string());
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(
            text,
            format!("{url}: DoGet \"nope\": NOT_FOUND: \"no such ticket: b'nope'\"")
        );
        // The unary calls report the same way.
        let client = FlightClient::connect(&url, &ClientOptions::default())
            .await
            .expect("connect");
        let e = client
            .get_flight_info(&FlightDescriptor::Path(vec!["nope".into()]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Flight {
                    code: FlightCode::NotFound,
                    ..
                }
            ),
            "{e:?}"
        );
    });
}

#[test]
fn a_server_killed_mid_stream_is_a_truncated_stream() {
    let mut server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("killed server", Duration::from_secs(30), async {
        let conn = lightstream::connect(&url, &with_ticket("slow"))
            .await
            .expect("connect");
        let mut reader = conn.reader(ReadOptions::default()).await.expect("reader");
        for i in 0..2 {
            let t = reader.next().await.expect("a table").expect("a good table");
            assert_eq!(t.n_rows, 1000, "table {i}");
        }
        server.child.kill().expect("kill the server");
        let mut tables = 2;
        let e = loop {
            match reader.next().await {
                Some(Ok(_)) => tables += 1,
                Some(Err(e)) => break e,
                None => panic!("the stream ended cleanly after {tables} tables"),
            }
        };
        assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{e}");
        let text = e.to_string();
        assert!(text.contains("ended without a gRPC status"), "{text}");
        assert!(text.contains(&url.to_string()), "{text}");
        // One short cause, not the debug text of every layer (tonic's
        // status, hyper's error).
        assert!(
            !text.contains("hyper::Error") && !text.contains("metadata:"),
            "{text}"
        );
        eprintln!("killed server: {text}");
    });
}

#[test]
fn tls_with_a_test_ca() {
    let dir = TempDir::new("flight-tls");
    let pki =
        lightstream_tests::pki::pki(dir.path(), "flight test CA", &["localhost", "127.0.0.1"]);
    let server = PyServer::start(Some((&pki.cert, &pki.key)));
    let ca = lightstream::tls::load_certs(&pki.ca).expect("CA");
    run_bounded("Flight over TLS", Duration::from_secs(60), async {
        for host in ["localhost", "127.0.0.1"] {
            let url = server.url("grpc+tls", host);
            let options = ClientOptions {
                tls: Some(lightstream::tls::client_config_trusting(&ca).expect("config")),
                ..with_ticket("all_types.lz4")
            };
            let (schema, tables) = do_get(&url, &options)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let doc = server.expectation("all_types.lz4");
            let problems = diff_against_doc(host, &doc, &schema, &tables);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
        // Trusting the webpki roots only: the test CA is refused, typed.
        let url = server.url("grpc+tls", "localhost");
        let e = do_get(&url, &with_ticket("all_types.lz4"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Tls {
                    problem: lightstream::TlsProblem::UntrustedCertificate,
                    ..
                }
            ),
            "{e:?}"
        );
    });
}

/// The report flight_server.py prints for a DoPut, and sends as its PutResult.
fn put_report(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json:?}: {e}"))
}

#[test]
fn do_put_streams_tables_pyarrow_validates_and_serves_back() {
    let mut server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    let (schema, tables) = interop_all_types();
    let schema = Arc::new(schema);
    let rows: usize = tables.iter().map(|t| t.n_rows).sum();
    run_bounded("DoPut to pyarrow", Duration::from_secs(60), async {
        // connect + writer, with a path descriptor.
        let options = ClientOptions {
            flight: FlightOptions {
                path: Some(vec!["uploads".into(), "all_types".into()]),
                ..FlightOptions::default()
            },
            ..ClientOptions::default()
        };
        let conn = lightstream::connect(&url, &options).await.expect("connect");
        let mut w = conn
            .writer(schema.clone(), WriteOptions::default())
            .await
            .expect("writer");
        for t in &tables {
            w.write(t).await.expect("write");
        }
        w.finish().await.expect("finish: the server's OK");
        // pyarrow read it all and validated every batch.
        let report = put_report(&server.lines.next().expect("a line").expect("stdout"));
        assert_eq!(report["put"], "uploads/all_types");
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["rows"], rows);
        // And serves back the values sent.
        let (read_schema, read) = do_get(&url, &with_ticket("uploads/all_types"))
            .await
            .expect("DoGet of the upload");
        let doc = expect_doc("stream", &schema, &tables, true).expect("expectation");
        let problems = diff_against_doc("round trip", &doc, &read_schema, &read);
        assert!(problems.is_empty(), "{}", problems.join("\n"));

        // FlightClient::do_put with a command: the PutResult comes back.
        let client = FlightClient::connect(&url, &ClientOptions::default())
            .await
            .expect("connect");
        let cmd = FlightDescriptor::Cmd(Bytes::from("by command"));
        let (mut w, results) = client
            .do_put(&cmd, schema.clone(), WriteOptions::default())
            .await
            .expect("do_put");
        w.write(&tables[0]).await.expect("write");
        w.finish().await.expect("finish");
        let metadata = results.app_metadata().await.expect("PutResults");
        assert_eq!(metadata.len(), 1);
        let report = put_report(std::str::from_utf8(&metadata[0]).expect("UTF-8"));
        assert_eq!(report["put"], "by command");
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["rows"], tables[0].n_rows);
    });
}

/// A DoPut batch whose body is over `max_flight_data_bytes` goes as several
/// FlightData of fewer rows (pyarrow counts the batches it stored), every
/// row in order; `Some(None)` sends it whole, as one.
#[test]
fn a_do_put_batch_over_the_limit_is_cut_by_rows() {
    let mut server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    const ROWS: usize = 100_000; // 800 KB of int64
    let table = lightstream_tests::harness::int64_table(7, ROWS);
    let schema = Arc::new(Schema::from_table(&table));
    run_bounded("DoPut cut by rows", Duration::from_secs(60), async {
        for (name, limit) in [("cut", Some(Some(64 << 10))), ("whole", Some(None))] {
            let options = ClientOptions {
                flight: FlightOptions {
                    path: Some(vec![name.into()]),
                    max_flight_data_bytes: limit,
                    ..FlightOptions::default()
                },
                ..ClientOptions::default()
            };
            let conn = lightstream::connect(&url, &options).await.expect("connect");
            let mut w = conn
                .writer(schema.clone(), WriteOptions::default())
                .await
                .expect("writer");
            w.write(&table).await.expect("write");
            w.finish().await.expect("finish");
            let report = put_report(&server.lines.next().expect("a line").expect("stdout"));
            assert_eq!(report["valid"], true, "{report}");
            assert_eq!(report["rows"], ROWS, "{report}");
            let batches = report["batches"].as_u64().expect("batches");
            if name == "cut" {
                // 64 KiB FlightData hold bodies of at most 32 KiB: 4,096 rows.
                assert!(batches >= 25, "{name}: {batches} batches");
            } else {
                assert_eq!(batches, 1, "{name}");
            }
            let (_, read) = do_get(&url, &with_ticket(name)).await.expect("DoGet");
            let mut next = 7_000_000i64;
            for t in &read {
                let Array::NumericArray(NumericArray::Int64(a)) = &t.cols[0].array else {
                    panic!("{name}: not int64");
                };
                for v in a.data.as_slice() {
                    assert_eq!(*v, next, "{name}");
                    next += 1;
                }
            }
            assert_eq!(next, 7_000_000 + ROWS as i64, "{name}");
        }
    });
}

/// A status after some tables (here our own server, whose writer is
/// dropped after one table: `ABORTED` in the trailers): the tables before
/// it are whole, then the server's status, typed.
#[test]
fn an_error_status_after_tables_follows_the_whole_tables() {
    use lightstream::flight::FlightRequest;
    use lightstream::minarrow::{fa_i64, tbl};
    run_bounded("status after tables", Duration::from_secs(30), async {
        let any: Endpoint = "grpc://127.0.0.1:0".parse().expect("URL");
        let listener = lightstream::bind(&any, &lightstream::ServerOptions::default())
            .await
            .expect("bind");
        let url = listener.local_url().clone();
        tokio::spawn(async move {
            let conn = listener.accept().await.expect("a DoGet");
            assert!(matches!(
                conn.flight_request(),
                Some(FlightRequest::DoGet { .. })
            ));
            let table = tbl!("t", fa_i64!("n", 1, 2, 3));
            let schema = Arc::new(Schema::from_table(&table));
            let mut w = conn
                .writer(schema, WriteOptions::default())
                .await
                .expect("writer");
            w.write(&table).await.expect("one table");
            // Dropped unfinished: the call ends with ABORTED.
            drop(w);
            let _keep = listener;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let conn = lightstream::connect(&url, &with_ticket("t"))
            .await
            .expect("connect");
        let mut reader = conn.reader(ReadOptions::default()).await.expect("reader");
        let first = reader.next().await.expect("a table").expect("whole");
        assert_eq!(first.n_rows, 3);
        let e = reader.next().await.expect("an error").unwrap_err();
        let Error::Flight { code, ref rpc, .. } = e else {
            panic!("expected Error::Flight, got {e:?}");
        };
        assert_eq!(code, FlightCode::Aborted, "{e}");
        assert_eq!(rpc, "DoGet \"t\"");
        assert!(!e.to_string().contains('\n'), "{e}");
    });
}

#[test]
fn app_metadata_reaches_the_application_with_its_message() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("app_metadata", Duration::from_secs(30), async {
        let client = FlightClient::connect(&url, &ClientOptions::default())
            .await
            .expect("connect");
        let (reader, mut metadata) = client
            .do_get_with_metadata(Bytes::from("app_metadata"), ReadOptions::default())
            .await
            .expect("do_get");
        let schema = reader.schema().clone();
        let tables = reader.read_all().await.expect("tables");
        let doc = server.expectation("app_metadata");
        let problems = diff_against_doc("app_metadata", &doc, &schema, &tables);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let mut got = Vec::new();
        while let Ok(m) = metadata.try_recv() {
            got.push((m.message, m.bytes));
        }
        // pyarrow's hex list, one per batch; the empty one is left out on
        // the wire. Message 0 is the schema, batches are 1, 2, 3.
        let sent: Vec<(u64, Bytes)> = doc["app_metadata"]
            .as_array()
            .expect("app_metadata in the expectation")
            .iter()
            .enumerate()
            .map(|(i, hex)| {
                (
                    i as u64 + 1,
                    Bytes::from(hex_bytes(hex.as_str().expect("hex"))),
                )
            })
            .filter(|(_, b)| !b.is_empty())
            .collect();
        assert_eq!(got, sent);
        assert_eq!(got[1].1, Bytes::from("meta-2 \u{2713}"));
    });
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// `FlightClient::do_exchange` against pyarrow's echoing `do_exchange`: each
/// table written comes back (read before the next is written: both streams
/// run at once), every type with pyarrow's values, and the answer ends with
/// the server's OK after our writer finishes.
#[test]
fn do_exchange_with_a_pyarrow_echo_gets_every_table_back_as_it_goes() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    let (schema, tables) = interop_all_types();
    let schema = Arc::new(schema);
    run_bounded("DoExchange with pyarrow", Duration::from_secs(60), async {
        let client = FlightClient::connect(&url, &ClientOptions::default())
            .await
            .expect("connect");
        let echo = FlightDescriptor::Path(vec!["echo".into()]);
        let (mut w, answer) = client
            .do_exchange(&echo, schema.clone(), WriteOptions::default())
            .await
            .expect("do_exchange");
        w.write(&tables[0]).await.expect("the first table");
        // The answer's schema comes once pyarrow has read our first table.
        let mut r = answer
            .reader(ReadOptions::default())
            .await
            .expect("the answer");
        let mut got = vec![r.next().await.expect("an echo").expect("a table")];
        for t in &tables[1..] {
            w.write(t).await.expect("write");
            got.push(r.next().await.expect("an echo").expect("a table"));
        }
        w.finish().await.expect("finish");
        assert!(r.next().await.is_none(), "the answer ends with OK");
        let doc = expect_doc("stream", &schema, &tables, true).expect("expectation");
        let problems = diff_against_doc("DoExchange echo", &doc, r.schema(), &got);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}

/// pyarrow's DoGet of strings with nulls (the Flight bench's shape (b),
/// small). pyarrow pads buffers to 8, so those after the 2,500-byte validity
/// bitmaps lie off 64-byte boundaries, each still aligned for its type: every
/// body byte is copied once, out of the HTTP/2 frames straight into the
/// memory its table uses, and never again (before, such bodies went through
/// the scratch buffer and were moved to 64-byte boundaries: twice).
#[test]
fn eight_aligned_bodies_are_copied_once_straight_into_place() {
    let server = PyServer::start(None);
    let url = server.url("grpc", "127.0.0.1");
    run_bounded("DoGet strings", Duration::from_secs(60), async {
        let (reader, tables) = read_to_end(&url, "strings").await;
        let schema = reader.schema().clone();
        let problems =
            diff_against_doc("strings", &server.expectation("strings"), &schema, &tables);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let (read, in_place, copied) = (
            reader.bytes_read(),
            reader.bytes_read_in_place(),
            reader.bytes_copied(),
        );
        eprintln!("strings: {read} IPC bytes, {in_place} read in place, {copied} copied after");
        assert_eq!(copied, 0, "body bytes copied after the read");
        // Only prefixes and metadata went through the scratch buffer.
        assert!(read - in_place < 2_000, "{in_place} of {read} in place");
        // The string offsets sit where pyarrow put them: 2,504 bytes into a
        // 64-byte aligned body (8 past a boundary), not moved to 64.
        let Array::TextArray(lightstream_core::minarrow::TextArray::String32(s)) =
            &tables[0].cols[0].array
        else {
            panic!("s is utf8: {:?}", tables[0].cols[0].field);
        };
        assert_eq!(s.offsets.as_slice().as_ptr() as usize % 64, 8);
    });
}
