//! End-to-end tests of TLS in the network commands: `serve` / `listen` with
//! `--cert`/`--key` (a test CA made with rcgen signs the server certificate),
//! `recv` / `send` with `--ca` or `--insecure`, over tls:// and wss:// on
//! loopback. Ports come from the `listening on <url>` line; every process is
//! waited for with a timeout and killed if a test fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Output, Proc, decode_stream, test_dir};
use lightstream_tests::pki::Pki;

/// The longest any one process may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// PEM files: a test CA, and a server certificate for localhost and
/// 127.0.0.1 signed by it.
fn pki(dir: &Path) -> Pki {
    lightstream_tests::pki::pki(dir, "lightstream CLI test CA", &["localhost", "127.0.0.1"])
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Proc::spawn(dir, args).wait(TIMEOUT)
}

/// serve + recv and listen + send over `scheme`, trusting the test CA.
fn both_directions(scheme: &str) {
    let dir = test_dir("lightstream-tls", scheme);
    let pki = pki(&dir);
    run(&dir, &["example", "data.arrows", "--rows", "2000"]).assert_success();
    let want = decode_stream(&dir.join("data.arrows"));
    let path_part = if scheme == "wss" { "/tables" } else { "" };
    let bind = format!("{scheme}://127.0.0.1:0{path_part}");
    let tls_server = ["--cert", path(&pki.cert), "--key", path(&pki.key)];

    // serve (writes) + recv (reads), by host name.
    let mut server = Proc::spawn(
        &dir,
        &[&["serve", &bind, "data.arrows", "--once"][..], &tls_server].concat(),
    );
    let url = server.url();
    assert!(url.starts_with(&format!("{scheme}://127.0.0.1:")), "{url}");
    let by_name = url.replace("127.0.0.1", "localhost");
    run(
        &dir,
        &["recv", &by_name, "got.arrows", "--ca", path(&pki.ca)],
    )
    .assert_success();
    assert_eq!(decode_stream(&dir.join("got.arrows")), want);
    let out = server.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("self-signed"), "{}", out.stderr);

    // listen (reads) + send (writes).
    let mut listener = Proc::spawn(
        &dir,
        &[&["listen", &bind, "sent.arrows"][..], &tls_server].concat(),
    );
    let url = listener.url();
    run(&dir, &["send", &url, "data.arrows", "--ca", path(&pki.ca)]).assert_success();
    let out = listener.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(decode_stream(&dir.join("sent.arrows")), want);
}

#[test]
fn tables_go_both_ways_over_tls() {
    both_directions("tls");
}

#[test]
fn tables_go_both_ways_over_wss() {
    both_directions("wss");
}

#[test]
fn an_untrusted_server_fails_on_one_line_and_serve_keeps_serving() {
    let dir = test_dir("lightstream-tls", "untrusted");
    run(&dir, &["example", "data.arrows", "--rows", "10"]).assert_success();
    for scheme in ["tls", "wss"] {
        // No --cert/--key: a self-signed certificate, announced.
        let mut server = Proc::spawn(
            &dir,
            &["serve", &format!("{scheme}://127.0.0.1:0/"), "data.arrows"],
        );
        server.line_with("self-signed certificate");
        let url = server.url();
        let port = url
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();

        // recv trusting the webpki roots only: refused, one clear line.
        let out = run(&dir, &["recv", &url, "got.arrows"]);
        let line = out.assert_one_line_error();
        assert!(
            line.contains(&format!("TLS handshake with 127.0.0.1:{port} failed")),
            "{line}"
        );
        assert!(line.contains("UnknownIssuer"), "{line}");
        assert!(line.contains("--ca"), "{line}");
        assert!(
            !line.contains("ClientOptions"),
            "library API in a CLI message: {line}"
        );
        assert!(!dir.join("got.arrows").exists());
        // The server reports that client and goes on serving.
        let report = server.line_with("failed");
        assert!(report.contains("TLS handshake with"), "{report}");
        assert!(report.contains("UnknownCA"), "{report}");
        assert!(server.is_running());
        run(&dir, &["recv", &url, "got.arrows", "--insecure"]).assert_success();
        assert_eq!(
            decode_stream(&dir.join("got.arrows")).len(),
            decode_stream(&dir.join("data.arrows")).len()
        );
        std::fs::remove_file(dir.join("got.arrows")).unwrap();
        assert!(server.is_running());
    }
}

#[test]
fn tls_flags_on_plaintext_urls_are_usage_errors() {
    let dir = test_dir("lightstream-tls", "usage");
    let cases: [&[&str]; 4] = [
        &["recv", "tcp://127.0.0.1:1", "out.arrows", "--ca", "ca.pem"],
        &["send", "ws://127.0.0.1:1/", "in.arrows", "--insecure"],
        &[
            "serve",
            "tcp://127.0.0.1:0",
            "in.arrows",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ],
        &[
            "listen",
            "unix:///tmp/lightstream-tls-usage.sock",
            "out.arrows",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ],
    ];
    for args in cases {
        let out = run(&dir, args);
        let line = out.assert_error(2);
        assert!(
            line.contains("quic://, tls://, wss://, https://") && line.contains("grpc+tls://"),
            "{args:?}: {line}"
        );
    }
}
