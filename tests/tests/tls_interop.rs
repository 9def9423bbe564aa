//! TLS against a TLS stack nobody here wrote: Python's `ssl` module (OpenSSL)
//! carries pyarrow's own IPC stream reader and writer to and from a
//! `tls://` server of ours.
//!
//! A CA made with rcgen signs the server's certificate for `localhost` and
//! 127.0.0.1; Python trusts only that CA and checks the name. Both
//! directions carry every supported type and dictionary deltas, plain and
//! compressed, and pyarrow's values must equal ours; pyarrow runs
//! `validate(full=True)` on what it reads. A Python client that does not
//! trust our certificate is refused by OpenSSL, and our server's error for
//! that connection says the client rejected the certificate.
//!
//! Every step runs under a timeout (the Python peer's sockets time out after
//! 30 s), so nothing can hang CI.

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lightstream::{Endpoint, Listener, ReadOptions, ServerOptions, WriteOptions};
use lightstream_tests::harness::{self, run_bounded};
use lightstream_tests::interop::{
    DICT_GROWTH, TempDir, dictionary_tables, diff_docs, expect_doc, interop_all_types, os,
    read_json, run_python,
};
use lightstream_tests::pki::{Pki, new_ca};
use lightstream_tests::{assert_tables_equal, diff_schemas};

/// The whole of one test.
const LIMIT: Duration = Duration::from_secs(60);
/// One step of a test (the Python peer's sockets time out after 30 s).
const STEP_SECS: u64 = 30;

fn run<F: Future<Output = ()>>(what: &str, f: F) {
    run_bounded(what, LIMIT, f)
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    harness::within(what, STEP_SECS, f).await
}

/// A test CA and a server certificate for `localhost` and 127.0.0.1, in `dir`.
fn pki(dir: &Path) -> Pki {
    lightstream_tests::pki::pki(dir, "lightstream interop CA", &["localhost", "127.0.0.1"])
}

async fn listen(pki: &Pki) -> (Listener, u16) {
    let certs = lightstream::tls::load_certs(&pki.cert).expect("certs");
    let key = lightstream::tls::load_key(&pki.key).expect("key");
    let options = ServerOptions {
        tls: Some(lightstream::tls::server_config(certs, key).expect("server config")),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"tls://127.0.0.1:0".parse().expect("url"), &options)
        .await
        .expect("bind");
    let port = match listener.local_url().clone() {
        Endpoint::Tls(a) => a.rsplit_once(':').expect("port").1.parse().expect("port"),
        other => panic!("not a tls endpoint: {other}"),
    };
    (listener, port)
}

#[test]
fn pyarrow_over_python_ssl_reads_what_we_write() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_GROWTH);
    for (set, s, ts) in [
        ("all types", &schema, &tables),
        ("dictionary deltas", &dict_schema, &dict_tables),
    ] {
        for compression in [
            lightstream::Compression::None,
            lightstream::Compression::Zstd,
        ] {
            let label = format!("pyarrow receives {set} over tls, {compression:?}");
            let dir = TempDir::new("tls-pyarrow-recv");
            let pki = pki(dir.path());
            let out = dir.path().join("received.json");
            run(&label, async {
                let (listener, port) = listen(&pki).await;
                // By name: OpenSSL checks "localhost" against the certificate.
                let addr = format!("tls:localhost:{port}@{}", pki.ca.display());
                let out2 = out.clone();
                let python = tokio::task::spawn_blocking(move || {
                    run_python(
                        "socket_peer.py",
                        &[os(Path::new("recv")), os(Path::new(&addr)), os(&out2)],
                    )
                });
                let conn = within(&label, listener.accept()).await.expect("accept");
                let options = WriteOptions {
                    compression,
                    ..Default::default()
                };
                let mut w = within(&label, conn.writer(Arc::new(s.clone()), options))
                    .await
                    .expect("writer (TLS handshake)");
                for t in ts {
                    within(&label, w.write(t)).await.expect("write");
                }
                within(&label, w.finish()).await.expect("finish");
                let said = python.await.expect("python");
                assert!(
                    said.contains(&format!("received {} batches", ts.len())),
                    "{label}: {said}"
                );
                let doc = expect_doc("stream", s, ts, true).expect("doc");
                let diffs = diff_docs(&label, &doc, &read_json(&out));
                assert!(diffs.is_empty(), "{}", diffs.join("\n"));
            });
        }
    }
}

#[test]
fn we_read_what_pyarrow_writes_over_python_ssl() {
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_GROWTH);
    for (set, s, ts) in [
        ("all types", &schema, &tables),
        ("dictionary deltas", &dict_schema, &dict_tables),
    ] {
        for compression in ["none", "lz4"] {
            let label = format!("pyarrow sends {set} over tls, {compression}");
            let dir = TempDir::new("tls-pyarrow-send");
            let pki = pki(dir.path());
            let input = dir.path().join("in.arrows");
            let bytes =
                lightstream_core::write_stream(s, ts, &WriteOptions::default()).expect("encode");
            std::fs::write(&input, bytes).expect("write input");
            let expect = dir.path().join("sent.json");
            run(&label, async {
                let (listener, port) = listen(&pki).await;
                // By address: OpenSSL checks the IP address SAN.
                let addr = format!("tls:127.0.0.1:{port}@{}", pki.ca.display());
                let (input, expect2) = (input.clone(), expect.clone());
                let python = tokio::task::spawn_blocking(move || {
                    run_python(
                        "socket_peer.py",
                        &[
                            os(Path::new("send")),
                            os(Path::new(&addr)),
                            os(&input),
                            os(&expect2),
                            os(Path::new(compression)),
                        ],
                    )
                });
                let conn = within(&label, listener.accept()).await.expect("accept");
                let r = within(&label, conn.reader(ReadOptions::default()))
                    .await
                    .expect("reader (TLS handshake)");
                let got_schema = r.schema().clone();
                let got = within(&label, r.read_all())
                    .await
                    .expect("read what pyarrow sent");
                python.await.expect("python");
                let doc = read_json(&expect);
                let ours = expect_doc("stream", &got_schema, &got, true).expect("doc");
                let diffs = diff_docs(&label, &doc, &ours);
                assert!(diffs.is_empty(), "{}", diffs.join("\n"));
                if let Err(e) = diff_schemas(&got_schema, s) {
                    panic!("{label}: schema differs: {e}");
                }
                assert_eq!(got.len(), ts.len(), "{label}: table count");
                for (i, (a, b)) in got.iter().zip(ts.iter()).enumerate() {
                    assert_tables_equal(a, b, &format!("{label}, table {i}"));
                }
            });
        }
    }
}

#[test]
fn python_ssl_refuses_a_certificate_from_another_ca() {
    let dir = TempDir::new("tls-pyarrow-untrusted");
    let served = pki(dir.path());
    // Python trusts a different CA than the one that signed the server's certificate.
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, new_ca("some other CA").pem()).expect("write other CA");
    let (schema, _) = interop_all_types();
    run("untrusted", async {
        let (listener, port) = listen(&served).await;
        let addr = format!("tls:localhost:{port}@{}", other.display());
        let out = dir.path().join("never.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/socket_peer.py");
        let python = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .arg(script)
                .args([os(Path::new("recv")), os(Path::new(&addr)), os(&out)])
                .output()
                .expect("run python3")
        });
        let conn = within("accept", listener.accept()).await.expect("accept");
        let err = within(
            "writer",
            conn.writer(Arc::new(schema.clone()), WriteOptions::default()),
        )
        .await
        .expect_err("the client must refuse the handshake");
        let ours = err.to_string();
        assert!(
            ours.contains("TLS handshake with tls 127.0.0.1:") && ours.contains("UnknownCA"),
            "our server's error: {ours}"
        );
        let output = python.await.expect("python");
        assert!(!output.status.success(), "python must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("CERTIFICATE_VERIFY_FAILED"),
            "OpenSSL's error: {stderr}"
        );
    });
}
