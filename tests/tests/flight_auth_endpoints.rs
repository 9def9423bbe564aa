//! Arrow Flight authentication and endpoint locations against pyarrow.flight
//! peers nobody here wrote (`tests/python/flight_auth.py`): bearer tokens on
//! every call both ways (a pyarrow server whose middleware checks the
//! `authorization` header; pyarrow's client with and without it against our
//! server), the basic-auth `Handshake` both ways (pyarrow's
//! `authenticate_basic_token`), and a FlightInfo whose endpoints sit on two
//! servers, read in order as one stream.
//!
//! pyarrow must be installed; these tests never skip.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use futures_util::StreamExt;

use lightstream::flight::{BasicAuth, FlightClient, FlightCode, FlightDescriptor, FlightRequest};
use lightstream::http::{Access, TokenCheck};
use lightstream::lightstream_core::ErrorKind;
use lightstream::minarrow::{fa_i64, tbl};
use lightstream::{
    ClientOptions, Endpoint, Error, ReadOptions, Schema, ServerOptions, WriteOptions,
};
use lightstream_core::minarrow::{Array, NumericArray, Table};
use lightstream_tests::compare::column_values_as_json;
use lightstream_tests::interop::{python_dir, require_pyarrow};
use serde_json::Value;

/// Two pyarrow Flight servers (`flight_auth.py server`), killed on drop.
struct PyServers {
    child: Child,
    a: u16,
    b: u16,
}

impl PyServers {
    fn start(args: &[&str]) -> PyServers {
        require_pyarrow();
        let mut child = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(python_dir().join("flight_auth.py"))
            .arg("server")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/python/flight_auth.py");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut port = || {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("a port line");
            line.trim()
                .parse::<u16>()
                .unwrap_or_else(|_| panic!("flight_auth.py printed {line:?}, not a port"))
        };
        let (a, b) = (port(), port());
        PyServers { child, a, b }
    }

    fn url(&self, query: &str) -> Endpoint {
        format!("grpc://127.0.0.1:{}{query}", self.a)
            .parse()
            .expect("a grpc URL")
    }
}

impl Drop for PyServers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_token(token: Option<&str>) -> ClientOptions {
    ClientOptions {
        token: token.map(str::to_string),
        ..ClientOptions::default()
    }
}

/// The `id` column of every table, in order.
fn ids(tables: &[Table]) -> Vec<i64> {
    tables
        .iter()
        .flat_map(|t| match &t.cols[0].array {
            Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice().to_vec(),
            other => panic!("id is not int64: {other:?}"),
        })
        .collect()
}

/// The `tag` column of every table as JSON values, dictionaries resolved.
fn tags(tables: &[Table]) -> Vec<Value> {
    tables
        .iter()
        .flat_map(|t| column_values_as_json(&t.cols[1], t.n_rows).expect("tag values"))
        .collect()
}

/// Reads `url`'s flight: its first table (part1's ids 0-2), then the error
/// the second endpoint gives.
async fn part1_then_error(url: &Endpoint, options: &ClientOptions) -> Error {
    let conn = lightstream::connect(url, options).await.unwrap();
    let mut reader = conn.reader(ReadOptions::default()).await.unwrap();
    let first = reader.next().await.expect("part1's table").unwrap();
    assert_eq!(ids(&[first]), [0, 1, 2]);
    reader.next().await.expect("an error").unwrap_err()
}

async fn read(url: &Endpoint, options: &ClientOptions) -> lightstream::Result<Vec<Table>> {
    let conn = lightstream::connect(url, options).await?;
    conn.reader(ReadOptions::default()).await?.read_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_sends_the_token_a_pyarrow_middleware_checks() {
    let servers = PyServers::start(&["--token", "tok-1", "--basic", "ann:pw:x"]);
    let url = servers.url("/?ticket=part1");
    // No token: the server's UNAUTHENTICATED, typed, with its message.
    let e = read(&url, &with_token(None)).await.unwrap_err();
    let Error::Flight { code, message, .. } = &e else {
        panic!("not a Flight status: {e}");
    };
    assert_eq!(*code, FlightCode::Unauthenticated, "{e}");
    assert!(message.contains("no authorization header"), "{e}");
    let e = read(&url, &with_token(Some("tok-2"))).await.unwrap_err();
    assert!(
        matches!(&e, Error::Flight { code: FlightCode::Unauthenticated, message, .. } if message.contains("bad token")),
        "{e}"
    );
    assert!(
        !e.to_string().contains("tok-2"),
        "the token is never quoted: {e}"
    );
    // The token: data.
    let tables = read(&url, &with_token(Some("tok-1"))).await.unwrap();
    assert_eq!(ids(&tables), [0, 1, 2]);
    // Handshake: the password for the token, then every call carries it.
    let mut client = FlightClient::connect(&servers.url(""), &with_token(None))
        .await
        .unwrap();
    let e = client.handshake_basic("ann", "pw").await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Flight {
                code: FlightCode::Unauthenticated,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        !e.to_string().contains("pw"),
        "the password is never quoted: {e}"
    );
    client.handshake_basic("ann", "pw:x").await.unwrap();
    let reader = client
        .do_get("part2".into(), ReadOptions::default())
        .await
        .unwrap();
    let tables = reader.read_all().await.unwrap();
    assert_eq!(ids(&tables), [3, 4]);
    assert_eq!(tags(&tables), [Value::from("z"), Value::Null]);
}

/// `flight_auth.py client URL TICKET ARGS...`: (success, its JSON).
async fn py_client(url: String, ticket: &str, args: &[&str]) -> (bool, Value) {
    let mut all = vec!["client".to_string(), url, ticket.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let out = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(python_dir().join("flight_auth.py"))
            .args(&all)
            .output()
            .expect("python3 flight_auth.py client");
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), json)
    })
    .await
    .expect("the client task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_needs_our_servers_token_on_every_call() {
    require_pyarrow();
    let options = ServerOptions {
        access: Access {
            token: Some(TokenCheck::tokens(["tok-1"]).unwrap()),
            ..Access::default()
        },
        flight_basic_auth: Some(BasicAuth::new(|user, password| {
            (user == "ann" && password == "pw").then(|| "tok-1".to_string())
        })),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"grpc://127.0.0.1:0".parse().unwrap(), &options)
        .await
        .unwrap();
    let url = listener.local_url().to_string();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(FlightRequest::DoGet { ticket }) = conn.flight_request().cloned() else {
                panic!("a DoGet");
            };
            assert_eq!(&ticket[..], b"part1");
            let table = tbl!("t", fa_i64!("id", 7, 8));
            let schema = Arc::new(Schema::from_table(&table));
            let mut w = conn.writer(schema, WriteOptions::default()).await.unwrap();
            w.write(&table).await.unwrap();
            w.finish().await.unwrap();
        }
    });
    // Refused before the application sees a call.
    let (ok, got) = py_client(url.clone(), "part1", &[]).await;
    assert!(!ok);
    assert_eq!(got["error"], "FlightUnauthenticatedError", "{got}");
    assert!(
        got["message"].as_str().unwrap().contains("needs a token"),
        "{got}"
    );
    let (ok, got) = py_client(url.clone(), "part1", &["--token", "tok-2"]).await;
    assert!(
        !ok && got["message"].as_str().unwrap().contains("refused"),
        "{got}"
    );
    // The header: data.
    let (ok, got) = py_client(url.clone(), "part1", &["--token", "tok-1"]).await;
    assert!(ok, "{got}");
    assert_eq!(got["ids"], serde_json::json!([7, 8]));
    // pyarrow's authenticate_basic_token: our Handshake hands out the token.
    let (ok, got) = py_client(url.clone(), "part1", &["--basic", "ann:pw"]).await;
    assert!(ok, "{got}");
    assert_eq!(got["ids"], serde_json::json!([7, 8]));
    let (ok, got) = py_client(url, "part1", &["--basic", "ann:nope"]).await;
    assert!(!ok);
    assert_eq!(got["error"], "FlightUnauthenticatedError", "{got}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "only the two calls with a token came through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_on_two_servers_is_read_as_one_stream_in_order() {
    let servers = PyServers::start(&["--token", "tok-1"]);
    let token = with_token(Some("tok-1"));
    // recv grpc://A/?path=split: GetFlightInfo on A, part1 on A, part2 on B
    // (the token goes along); part2's dictionary replaces part1's.
    let tables = read(&servers.url("/?path=split"), &token).await.unwrap();
    assert_eq!(ids(&tables), [0, 1, 2, 3, 4]);
    assert_eq!(
        tags(&tables),
        [
            Value::from("a"),
            Value::from("b"),
            Value::from("a"),
            Value::from("z"),
            Value::Null
        ]
    );
    // The same through FlightClient, and each endpoint on its own: the
    // reuse-connection location is this server, an unreachable location is
    // skipped for the next.
    let client = FlightClient::connect(&servers.url(""), &token)
        .await
        .unwrap();
    let split = FlightDescriptor::Path(vec!["split".into()]);
    let reader = client
        .read_flight(&split, ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(ids(&reader.read_all().await.unwrap()), [0, 1, 2, 3, 4]);
    let info = client
        .get_flight_info(&FlightDescriptor::Path(vec!["reuse".into()]))
        .await
        .unwrap();
    assert_eq!(
        info.endpoints[1].locations,
        [
            "grpc+tcp://127.0.0.1:1".to_string(),
            format!("grpc+tcp://127.0.0.1:{}", servers.b)
        ]
    );
    let mut got = Vec::new();
    for endpoint in &info.endpoints {
        let reader = client
            .read_endpoint(endpoint, ReadOptions::default())
            .await
            .unwrap();
        got.extend(ids(&reader.read_all().await.unwrap()));
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    // Endpoints whose schemas differ: the first's tables, then a typed error.
    let conn = lightstream::connect(&servers.url("/?path=mismatch"), &token)
        .await
        .unwrap();
    let mut reader = conn.reader(ReadOptions::default()).await.unwrap();
    let first = reader.next().await.expect("part1's table").unwrap();
    assert_eq!(ids(&[first]), [0, 1, 2]);
    let e = loop {
        match reader.next().await {
            Some(Ok(_)) => continue,
            None => panic!("a mismatched schema read as the end"),
            Some(Err(e)) => break e,
        }
    };
    assert_eq!(e.codec_kind(), Some(ErrorKind::Schema), "{e}");
    assert!(e.to_string().contains("endpoint 2"), "{e}");
    // A later endpoint refused: the first's tables, then its status, naming it.
    let e = part1_then_error(&servers.url("/?path=refused"), &token).await;
    let Error::Flight { code, message, .. } = &e else {
        panic!("not the endpoint's status: {e}");
    };
    assert_eq!(*code, FlightCode::NotFound, "{e}");
    assert!(
        message.contains("endpoint 2") && message.contains("no such ticket"),
        "{e}"
    );
    // An unknown descriptor: the server's NOT_FOUND.
    let e = read(&servers.url("/?path=nope"), &token).await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Flight {
                code: FlightCode::NotFound,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_does_not_follow_a_location_on_another_host_unless_trusted() {
    let servers = PyServers::start(&["--token", "tok-1"]);
    // part2 is at grpc+tcp://localhost:B: the same machine, but another host
    // name than the 127.0.0.1 we connected to, so B is called without the
    // token and refuses it; the first endpoint (on A) was read.
    let token = with_token(Some("tok-1"));
    let e = part1_then_error(&servers.url("/?path=elsewhere"), &token).await;
    let Error::Flight { code, .. } = &e else {
        panic!("not B's status: {e}");
    };
    assert_eq!(*code, FlightCode::Unauthenticated, "{e}");
    // Told to trust the locations, the token goes to B too.
    let mut trusting = with_token(Some("tok-1"));
    trusting.flight.send_token_to_locations = true;
    let tables = read(&servers.url("/?path=elsewhere"), &trusting)
        .await
        .unwrap();
    assert_eq!(ids(&tables), [0, 1, 2, 3, 4]);
}
