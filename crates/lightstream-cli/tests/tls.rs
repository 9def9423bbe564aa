//! End-to-end tests of TLS in the network commands: `serve` / `listen` with
//! `--cert`/`--key` (a test CA made with rcgen signs the server certificate),
//! `recv` / `send` with `--ca` or `--insecure`, over tls:// and wss:// on
//! loopback. Ports come from the `listening on <url>` line; every process is
//! waited for with a timeout and killed if a test fails.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Output, decode_stream, lightstream, test_dir};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// The longest any one process may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// PEM files: a test CA, and a server certificate for localhost and
/// 127.0.0.1 signed by it.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "lightstream CLI test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A running `lightstream` whose stderr is read line by line; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
}

impl Proc {
    fn spawn(dir: &Path, args: &[&str]) -> Proc {
        let mut child = lightstream()
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lightstream");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().expect("stdout pipe");
        let stdout = Some(thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        }));
        Proc {
            child,
            lines,
            seen: Vec::new(),
            stdout,
        }
    }

    /// The next stderr line containing `text` (bounded).
    fn line_with(&mut self, text: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {text:?}; stderr: {:?}", self.seen),
            }
        }
    }

    /// The URL of the `listening on <url>` line.
    fn url(&mut self) -> String {
        let line = self.line_with("listening on ");
        line.trim_start_matches("listening on ").to_string()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the exit (bounded) and returns what the process printed.
    fn wait(mut self) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "the process did not exit within {TIMEOUT:?}; stderr: {:?}",
                self.seen
            );
            thread::sleep(Duration::from_millis(10));
        };
        // The pipe closes with the process: the reader thread ends.
        while let Ok(line) = self.lines.recv_timeout(TIMEOUT) {
            self.seen.push(line);
        }
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let mut stderr = self.seen.join("\n");
        if !stderr.is_empty() {
            stderr.push('\n');
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Proc::spawn(dir, args).wait()
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
    let out = server.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("self-signed"), "{}", out.stderr);

    // listen (reads) + send (writes).
    let mut listener = Proc::spawn(
        &dir,
        &[&["listen", &bind, "sent.arrows"][..], &tls_server].concat(),
    );
    let url = listener.url();
    run(&dir, &["send", &url, "data.arrows", "--ca", path(&pki.ca)]).assert_success();
    let out = listener.wait();
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
            line.contains("quic://, tls:// and wss://"),
            "{args:?}: {line}"
        );
    }
}
