//! Streams of any Arrow type through the commands that copy them message by
//! message without decoding (`convert` stream to stream, `recv`, `listen`):
//! pyarrow writes lists, structs, maps, binary, large strings, string views
//! and dictionaries with deltas and replacements (`tests/python/passthrough.py`),
//! and reads what comes out, batch by batch, with the same dictionary
//! messages. Types Lightstream cannot decode, so the decoding path (the
//! code before this copy) refused every one of these streams.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use lightstream::{ClientOptions, DecodeLimits, MessageReader, ServerOptions};

mod common;
use common::{Proc, run_in};

const TIMEOUT: Duration = Duration::from_secs(30);

fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-passthrough", name)
}

fn python(dir: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/passthrough.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 (with pyarrow) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "passthrough.py {args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// pyarrow's stream, written into `dir/in.arrows`.
fn pyarrow_stream(dir: &Path) -> Vec<u8> {
    let columns = python(dir, &["write", "in.arrows"]);
    assert!(columns.contains("\"map\""), "{columns}");
    fs::read(dir.join("in.arrows")).expect("in.arrows")
}

/// pyarrow finds `got` equal to `in.arrows`, dictionary messages included.
fn assert_pyarrow_equal(dir: &Path, got: &str) {
    let report = python(dir, &["check", "in.arrows", got]);
    assert!(report.contains("\"dictionary_deltas\": 3"), "{report}");
    assert!(report.contains("\"replaced_dictionaries\": 1"), "{report}");
}

#[test]
fn convert_copies_any_arrow_stream_from_stdin_and_files() {
    let dir = test_dir("convert");
    let input = pyarrow_stream(&dir);
    let out = run_in(&dir, &["convert", "-", "-"], Some(input.clone()));
    out.assert_success();
    assert!(out.stdout == input, "stdin to stdout changed the bytes");
    fs::write(dir.join("stdout.arrows"), &out.stdout).expect("write");
    assert_pyarrow_equal(&dir, "stdout.arrows");

    let out = run_in(&dir, &["convert", "in.arrows", "out.arrows"], None);
    out.assert_success();
    assert_pyarrow_equal(&dir, "out.arrows");

    // A value change (compression) needs the values: that path still refuses
    // a type it cannot decode, by name.
    let out = run_in(
        &dir,
        &["convert", "in.arrows", "z.arrows", "--compression", "zstd"],
        None,
    );
    assert!(
        out.assert_one_line_error().contains("\"list\""),
        "{}",
        out.stderr
    );
}

/// Sends `in.arrows` as messages to `url` (a `lightstream listen`).
async fn send_messages(url: &str, input: Vec<u8>) {
    let endpoint = url.parse().expect("URL");
    let conn = lightstream::connect(&endpoint, &ClientOptions::default())
        .await
        .expect("connect");
    forward(conn, input).await;
}

/// Forwards `input`'s messages to `conn` with the library's message reader
/// and writer.
async fn forward(conn: lightstream::Connection, input: Vec<u8>) {
    let mut reader = MessageReader::from_async_read(
        std::io::Cursor::new(input),
        "in.arrows",
        DecodeLimits::default(),
    )
    .await
    .expect("open");
    let mut writer = conn.message_writer().await.expect("writer");
    writer.send(reader.schema()).await.expect("schema");
    while let Some(m) = reader.next().await {
        writer.send(&m.expect("message")).await.expect("send");
    }
    writer.finish().await.expect("finish");
}

#[test]
fn recv_and_listen_copy_any_arrow_stream_over_tcp_and_websocket() {
    let dir = test_dir("network");
    let input = pyarrow_stream(&dir);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for (bind, name) in [
        ("tcp://127.0.0.1:0", "tcp"),
        ("ws://127.0.0.1:0/feed", "ws"),
    ] {
        // listen: a client sends the messages.
        let got = format!("listen-{name}.arrows");
        let mut listener = Proc::spawn(&dir, &["listen", bind, &got]);
        let url = listener.url();
        runtime.block_on(send_messages(&url, input.clone()));
        let out = listener.wait(TIMEOUT);
        out.assert_exit_ok();
        assert_pyarrow_equal(&dir, &got);
        assert!(
            fs::read(dir.join(&got)).expect("output") == input,
            "{name}: bytes changed"
        );

        // recv: a server sends them.
        let got = format!("recv-{name}.arrows");
        let server = runtime.block_on(async {
            let endpoint = bind.parse().expect("URL");
            let listener = lightstream::bind(&endpoint, &ServerOptions::default())
                .await
                .expect("bind");
            let url = listener.local_url().to_string();
            let input = input.clone();
            let task = tokio::spawn(async move {
                let conn = listener.accept().await.expect("accept");
                forward(conn, input).await;
            });
            (url, task)
        });
        let (url, task) = server;
        let out = Proc::spawn(&dir, &["recv", &url, &got]).wait(TIMEOUT);
        out.assert_exit_ok();
        runtime
            .block_on(async { tokio::time::timeout(TIMEOUT, task).await })
            .expect("server in time")
            .expect("server task");
        assert_pyarrow_equal(&dir, &got);
    }
}
