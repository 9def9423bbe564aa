//! TLS over TCP (`tls://`) and WebSocket over TLS (`wss://`) on loopback:
//! a test CA made with rcgen signs the server's certificate, written as PEM
//! files and read back with the `lightstream::tls` loaders. Tables round-trip
//! in both directions; untrusted certificates, a CA that did not sign the
//! server's certificate, a wrong host name and plaintext peers fail with
//! errors that say why, and a server keeps accepting after a failed
//! handshake. Ports are 0; every wait is bounded.

// `..Options::default()` fills fields that other features (quic) add; with
// only `websocket` and `tls` on there are none left to fill.
#![allow(clippy::needless_update)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_bool, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::{
    ClientOptions, Endpoint, Error, Listener, ReadOptions, Schema, ServerOptions, TlsProblem,
    WriteOptions,
};
use lightstream_tests::harness::within;
use lightstream_tests::pki::{Pki, new_ca};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest any one step may take, in seconds.
const STEP_SECS: u64 = 10;

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    within(what, STEP_SECS, f).await
}

fn test_dir(name: &str) -> PathBuf {
    lightstream_tests::test_dir!("lightstream-tls", name)
}

/// A CA and a server certificate for `names`, signed by it, as PEM files in `dir`.
fn pki(dir: &Path, names: &[&str]) -> Pki {
    lightstream_tests::pki::pki(dir, "lightstream test CA", names)
}

fn server_options(pki: &Pki) -> ServerOptions {
    let certs = lightstream::tls::load_certs(&pki.cert).unwrap();
    let key = lightstream::tls::load_key(&pki.key).unwrap();
    ServerOptions {
        tls: Some(lightstream::tls::server_config(certs, key).unwrap()),
        ..ServerOptions::default()
    }
}

fn client_trusting(ca: &Path) -> ClientOptions {
    let roots = lightstream::tls::load_certs(ca).unwrap();
    ClientOptions {
        tls: Some(lightstream::tls::client_config_trusting(&roots).unwrap()),
        ..ClientOptions::default()
    }
}

fn tables() -> Vec<Table> {
    (0..5i64)
        .map(|b| {
            tbl!(
                "t",
                fa_i64!("n", b * 1000, b * 1000 + 1, -b, i64::MAX - b),
                fa_f64!("x", 0.25 * b as f64, 1.5, -2.0, f64::MIN_POSITIVE),
                fa_str32!("s", "alpha", "", "γάμμα", "tls"),
                fa_bool!("b", true, false, b % 2 == 0, true)
            )
        })
        .collect()
}

async fn bind(url: &str, options: &ServerOptions) -> (Listener, Endpoint) {
    let listener = lightstream::bind(&url.parse().unwrap(), options)
        .await
        .unwrap();
    let endpoint: Endpoint = listener.local_url().clone();
    (listener, endpoint)
}

async fn write_all(conn: lightstream::Connection, tables: &[Table]) -> lightstream::Result<()> {
    let schema = Arc::new(Schema::from_table(&tables[0]));
    let mut w = conn.writer(schema, WriteOptions::default()).await?;
    for t in tables {
        w.write(t).await?;
    }
    w.finish().await?;
    Ok(())
}

async fn read_all(conn: lightstream::Connection) -> lightstream::Result<Vec<Table>> {
    let mut r = conn.reader(ReadOptions::default()).await?;
    let mut got = Vec::new();
    while let Some(t) = r.next().await {
        got.push(t?);
    }
    Ok(got)
}

fn assert_same(got: &[Table], want: &[Table]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.n_rows, w.n_rows);
        assert_eq!(g.cols, w.cols);
    }
}

/// The server writes, the client reads; then the client writes, the server reads.
async fn round_trip(scheme: &'static str) {
    let dir = test_dir(&format!("round-trip-{scheme}"));
    let pki = pki(&dir, &["localhost", "127.0.0.1"]);
    let path = if scheme == "wss" { "/tables" } else { "" };
    let (listener, endpoint) = bind(
        &format!("{scheme}://127.0.0.1:0{path}"),
        &server_options(&pki),
    )
    .await;
    assert!(
        listener
            .local_url()
            .to_string()
            .starts_with(&format!("{scheme}://127.0.0.1:")),
        "{}",
        listener.local_url()
    );
    let want = tables();
    let client = client_trusting(&pki.ca);

    // Server to client.
    let sent = want.clone();
    let server = tokio::spawn(async move {
        let conn = listener.accept().await?;
        assert!(
            conn.peer().starts_with(&format!("{scheme} 127.0.0.1:")),
            "{}",
            conn.peer()
        );
        write_all(conn, &sent).await?;
        Ok::<_, Error>(listener)
    });
    let conn = bounded("connect", lightstream::connect(&endpoint, &client))
        .await
        .unwrap();
    assert!(conn.peer().starts_with(scheme), "{}", conn.peer());
    let got = bounded("read", read_all(conn)).await.unwrap();
    assert_same(&got, &want);
    let listener = bounded("server", server).await.unwrap().unwrap();

    // Client to server, by host name this time.
    let by_name: Endpoint = endpoint
        .to_string()
        .replace("127.0.0.1", "localhost")
        .parse()
        .unwrap();
    let server = tokio::spawn(async move { read_all(listener.accept().await?).await });
    let conn = bounded("connect", lightstream::connect(&by_name, &client))
        .await
        .unwrap();
    bounded("write", write_all(conn, &want)).await.unwrap();
    let got = bounded("server", server).await.unwrap().unwrap();
    assert_same(&got, &want);
}

#[tokio::test]
async fn tables_round_trip_over_tls_both_ways() {
    round_trip("tls").await;
}

#[tokio::test]
async fn tables_round_trip_over_wss_both_ways() {
    round_trip("wss").await;
}

/// Accepts one client and returns how its connection ended (it writes tables).
fn serve_one(listener: Arc<Listener>) -> tokio::task::JoinHandle<lightstream::Result<()>> {
    tokio::spawn(async move {
        let conn = listener.accept().await?;
        write_all(conn, &tables()).await
    })
}

fn error_text(r: lightstream::Result<impl Sized>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_untrusted_certificate_fails_naming_host_and_reason() {
    let dir = test_dir("untrusted");
    let pki = pki(&dir, &["localhost", "127.0.0.1"]);
    for scheme in ["tls", "wss"] {
        let (listener, endpoint) =
            bind(&format!("{scheme}://127.0.0.1:0/"), &server_options(&pki)).await;
        let listener = Arc::new(listener);
        let port = endpoint.to_string().rsplit(':').next().unwrap().to_string();
        let port = port.trim_end_matches('/').to_string();

        // The webpki roots (ClientOptions::tls: None) do not hold the test CA.
        let server = serve_one(listener.clone());
        let Err(err) = bounded(
            "connect",
            lightstream::connect(&endpoint, &ClientOptions::default()),
        )
        .await
        else {
            panic!("an untrusted certificate was accepted");
        };
        // Typed: the problem is data, not text to parse.
        assert!(
            matches!(&err, lightstream::Error::Tls { peer, problem: TlsProblem::UntrustedCertificate, .. }
                if *peer == format!("127.0.0.1:{port}")),
            "{err:?}"
        );
        let m = err.to_string();
        assert!(
            m.contains(&format!("TLS handshake with 127.0.0.1:{port} failed")),
            "{m}"
        );
        assert!(m.contains("invalid peer certificate: UnknownIssuer"), "{m}");
        assert!(
            m.contains("ClientOptions::tls = tls::client_config_trusting"),
            "{m}"
        );
        // The server sees the client's refusal on that connection only.
        let err = bounded("server", server)
            .await
            .unwrap()
            .expect_err("the server saw no refusal");
        assert!(
            matches!(
                &err,
                lightstream::Error::Tls {
                    problem: TlsProblem::CertificateRefused,
                    ..
                }
            ),
            "{err:?}"
        );
        let m = err.to_string();
        assert!(m.contains("TLS handshake with"), "{m}");
        assert!(m.contains("UnknownCA"), "{m}");

        // Trusting another CA is no better.
        let other = new_ca("another CA");
        let other_ca = dir.join(format!("other-{scheme}.pem"));
        std::fs::write(&other_ca, other.pem()).unwrap();
        let server = serve_one(listener.clone());
        let m = error_text(
            bounded(
                "connect",
                lightstream::connect(&endpoint, &client_trusting(&other_ca)),
            )
            .await,
        );
        assert!(m.contains("UnknownIssuer"), "{m}");
        assert!(bounded("server", server).await.unwrap().is_err());

        // The listener still accepts, and a client trusting the right CA succeeds.
        let server = serve_one(listener.clone());
        let conn = bounded(
            "connect",
            lightstream::connect(&endpoint, &client_trusting(&pki.ca)),
        )
        .await
        .unwrap();
        assert_same(&bounded("read", read_all(conn)).await.unwrap(), &tables());
        bounded("server", server).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_fails_naming_the_names() {
    let dir = test_dir("wrong-name");
    let pki = pki(&dir, &["other.example"]);
    let (listener, endpoint) = bind("tls://127.0.0.1:0", &server_options(&pki)).await;
    let server = serve_one(Arc::new(listener));
    let m = error_text(
        bounded(
            "connect",
            lightstream::connect(&endpoint, &client_trusting(&pki.ca)),
        )
        .await,
    );
    assert!(
        m.contains("certificate not valid for name \"127.0.0.1\""),
        "{m}"
    );
    assert!(m.contains("other.example"), "{m}");
    assert!(bounded("server", server).await.unwrap().is_err());
}

#[tokio::test]
async fn the_server_keeps_accepting_after_failed_handshakes() {
    let dir = test_dir("keeps-accepting");
    let pki = pki(&dir, &["127.0.0.1"]);
    let options = ServerOptions {
        handshake_timeout: Some(Duration::from_millis(300)),
        ..server_options(&pki)
    };
    let (listener, endpoint) = bind("tls://127.0.0.1:0", &options).await;
    let addr = endpoint
        .to_string()
        .trim_start_matches("tls://")
        .to_string();
    let listener = Arc::new(listener);

    // A plaintext client that writes an Arrow IPC stream: the server's
    // handshake fails at once, and the client is cut off, not left hanging.
    let server = serve_one(listener.clone());
    let plain: Endpoint = format!("tcp://{addr}").parse().unwrap();
    let conn = bounded(
        "connect",
        lightstream::connect(&plain, &ClientOptions::default()),
    )
    .await
    .unwrap();
    let _ = bounded("plaintext write", write_all(conn, &tables())).await;
    let m = error_text(bounded("server", server).await.unwrap());
    assert!(m.contains("TLS handshake with tls 127.0.0.1:"), "{m}");
    assert!(m.contains("is the peer speaking TLS?"), "{m}");

    // A plaintext client that reads: it closes its sending side without a
    // byte, which the server reports as an empty connection before any
    // handshake; the client sees its connection end.
    let server = serve_one(listener.clone());
    let conn = lightstream::connect(&plain, &ClientOptions::default())
        .await
        .unwrap();
    assert!(bounded("plaintext read", read_all(conn)).await.is_err());
    let m = error_text(bounded("server", server).await.unwrap());
    assert!(
        m.contains("closed the connection without sending anything"),
        "{m}"
    );

    // A client that connects and says nothing does not hold up the next one.
    let mut silent = tokio::net::TcpStream::connect(addr.as_str()).await.unwrap();
    let first = listener.accept().await.unwrap();
    let stuck = tokio::spawn(async move { write_all(first, &tables()).await });
    let server = serve_one(listener.clone());
    let conn = bounded(
        "connect",
        lightstream::connect(&endpoint, &client_trusting(&pki.ca)),
    )
    .await
    .unwrap();
    assert_same(&bounded("read", read_all(conn)).await.unwrap(), &tables());
    bounded("server", server).await.unwrap().unwrap();
    let m = error_text(bounded("silent client", stuck).await.unwrap());
    assert!(m.contains("no TLS handshake within 0.3 s"), "{m}");
    let mut rest = Vec::new();
    let _ = bounded("silent client end", silent.read_to_end(&mut rest)).await;
    let _ = silent.shutdown().await;
}

#[tokio::test]
async fn a_tls_client_to_a_plaintext_server_fails_cleanly() {
    let (listener, endpoint) = bind("tcp://127.0.0.1:0", &ServerOptions::default()).await;
    let server = serve_one(Arc::new(listener));
    let tls: Endpoint = endpoint
        .to_string()
        .replace("tcp://", "tls://")
        .parse()
        .unwrap();
    let options = ClientOptions {
        tls: Some(lightstream::tls::client_config_insecure().unwrap()),
        handshake_timeout: Some(Duration::from_secs(2)),
        ..ClientOptions::default()
    };
    let m = error_text(bounded("connect", lightstream::connect(&tls, &options)).await);
    assert!(m.contains("TLS handshake with 127.0.0.1:"), "{m}");
    let _ = bounded("server", server).await;
}

#[tokio::test]
async fn servers_need_a_certificate_and_insecure_clients_connect() {
    for url in ["tls://127.0.0.1:0", "wss://127.0.0.1:0/"] {
        let e = lightstream::bind(&url.parse().unwrap(), &ServerOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        assert!(e.to_string().contains("ServerOptions::tls"), "{e}");
    }
    // A self-signed certificate, accepted by an insecure client.
    let (certs, key) = lightstream::tls::self_signed(&["localhost"]).unwrap();
    let options = ServerOptions {
        tls: Some(lightstream::tls::server_config(certs, key).unwrap()),
        ..ServerOptions::default()
    };
    let (listener, endpoint) = bind("wss://127.0.0.1:0/x", &options).await;
    let server = serve_one(Arc::new(listener));
    let insecure = ClientOptions {
        tls: Some(lightstream::tls::client_config_insecure().unwrap()),
        ..ClientOptions::default()
    };
    let conn = bounded("connect", lightstream::connect(&endpoint, &insecure))
        .await
        .unwrap();
    assert_same(&bounded("read", read_all(conn)).await.unwrap(), &tables());
    bounded("server", server).await.unwrap().unwrap();
}

/// A writer that stops without `finish` (no end marker, no close_notify):
/// the reader reports a truncated stream, as on every transport.
#[tokio::test]
async fn a_writer_that_stops_early_is_a_truncated_stream() {
    let dir = test_dir("truncated");
    let pki = pki(&dir, &["127.0.0.1"]);
    for scheme in ["tls", "wss"] {
        let (listener, endpoint) =
            bind(&format!("{scheme}://127.0.0.1:0/"), &server_options(&pki)).await;
        let server = tokio::spawn(async move {
            let conn = listener.accept().await?;
            let t = tables();
            let schema = Arc::new(Schema::from_table(&t[0]));
            let mut w = conn.writer(schema, WriteOptions::default()).await?;
            w.write(&t[0]).await?;
            w.write(&t[1]).await?;
            drop(w);
            Ok::<_, Error>(())
        });
        let conn = bounded(
            "connect",
            lightstream::connect(&endpoint, &client_trusting(&pki.ca)),
        )
        .await
        .unwrap();
        let e = bounded("read", read_all(conn)).await.unwrap_err();
        assert_eq!(
            e.codec_kind(),
            Some(lightstream::lightstream_core::ErrorKind::Truncated),
            "{scheme}: {e}"
        );
        bounded("server", server).await.unwrap().unwrap();
    }
}
