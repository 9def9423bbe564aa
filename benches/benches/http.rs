//! HTTP streaming throughput on loopback (issue 18): `serve http://` as the
//! library does it (`bind("http://...")`, each GET a `Connection` whose
//! writer's messages are the response body) against the TCP transport in the
//! same run, and against pyarrow reading the same URL (`urllib` +
//! `pa.ipc.open_stream(resp).read_all()`).
//!
//! Shape (a) (i64, f64, i32, f32), `LIGHTSTREAM_BENCH_BATCHES` (16) tables of
//! `LIGHTSTREAM_BENCH_ROWS` (1,000,000) rows a transfer, as the transport
//! bench. The server side runs on its own 1-worker runtime (the listener's
//! connection tasks live there), the client reads on this thread with a
//! current-thread runtime: two threads, as in benches/transport.rs. One
//! untimed transfer checks every value (checksum), one warms up, then
//! `LIGHTSTREAM_HTTP_REPS` (9) timed transfers; the median is reported.
//! The clock runs from the client's `connect` to the reader's end of stream
//! (connection set-up and the HTTP request are inside it: one loopback round
//! trip). Cases: `tcp` (tcp://), `http1` (http://, HTTP/1.1), `h2c`
//! (http://, HTTP/2 with prior knowledge), `pyarrow` (HTTP/1.1, urllib, one
//! Python process reading `reps` times). Not criterion: each case is a
//! multi-hundred-millisecond transfer. Prints a Markdown table.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;

use lightstream::minarrow::Table;
use lightstream::{
    ClientOptions, Endpoint, HttpVersion, ReadOptions, Schema, ServerOptions, WriteOptions,
};
use lightstream_benches::{
    Shape, assert_checksum, batches, buffer_bytes, checksum_tables, rows_per_batch, workspace_root,
};

/// Timed transfers per case.
fn reps() -> usize {
    std::env::var("LIGHTSTREAM_HTTP_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(9)
}

/// Binds `url` on `server_rt` and serves every table to every client.
fn serve(
    server_rt: &tokio::runtime::Runtime,
    url: &str,
    schema: Arc<Schema>,
    tables: Arc<Vec<Table>>,
) -> Endpoint {
    server_rt.block_on(async {
        let listener = lightstream::bind(&url.parse().expect("url"), &ServerOptions::default())
            .await
            .expect("bind");
        let local = listener.local_url().clone();
        tokio::spawn(async move {
            loop {
                let Ok(conn) = listener.accept().await else {
                    return;
                };
                let (schema, tables) = (schema.clone(), tables.clone());
                tokio::spawn(async move {
                    let mut w = conn.writer(schema, WriteOptions::default()).await?;
                    for t in tables.iter() {
                        w.write(t).await?;
                    }
                    w.finish().await
                });
            }
        });
        local
    })
}

/// One transfer: connect, read every table; the tables if `keep`, and rows.
async fn read(endpoint: &Endpoint, client: &ClientOptions, keep: bool) -> (usize, Vec<Table>) {
    let conn = lightstream::connect(endpoint, client)
        .await
        .expect("connect");
    let mut r = conn.reader(ReadOptions::default()).await.expect("reader");
    let (mut rows, mut kept) = (0, Vec::new());
    while let Some(t) = r.next().await {
        let t = t.expect("table");
        rows += t.n_rows;
        if keep {
            kept.push(t);
        }
    }
    (rows, kept)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let (n, rows) = (batches(), rows_per_batch());
    let tables = Shape::A.tables_of(n, rows);
    let want = checksum_tables(&tables);
    let schema = Arc::new(Shape::A.schema(&tables[0]));
    let bytes = buffer_bytes(&tables) as f64;
    let tables = Arc::new(tables);
    let gib = (1u64 << 30) as f64;
    eprintln!(
        "http bench: shape a, {n} batches x {rows} rows: {:.1} MiB of Arrow buffers, {} reps",
        bytes / (1 << 20) as f64,
        reps()
    );
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let h2c = ClientOptions {
        http_version: HttpVersion::Http2,
        ..ClientOptions::default()
    };
    let cases = [
        ("tcp", "tcp://127.0.0.1:0", ClientOptions::default()),
        ("http1", "http://127.0.0.1:0/t", ClientOptions::default()),
        ("h2c", "http://127.0.0.1:0/t", h2c),
    ];
    let mut results: Vec<(&str, f64)> = Vec::new();
    let mut http_url = String::new();
    for (name, url, client) in &cases {
        let endpoint = serve(&server_rt, url, schema.clone(), tables.clone());
        if *name == "http1" {
            http_url = endpoint.to_string();
        }
        let (got_rows, kept) = client_rt.block_on(read(&endpoint, client, true));
        assert_eq!(got_rows, n * rows, "{name}: rows");
        assert_checksum(name, checksum_tables(&kept), want);
        drop(kept);
        client_rt.block_on(read(&endpoint, client, false));
        let mut rates = Vec::new();
        for _ in 0..reps() {
            let start = Instant::now();
            let (got, _) = client_rt.block_on(read(&endpoint, client, false));
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(got, n * rows, "{name}: rows");
            rates.push(bytes / secs / gib);
        }
        results.push((name, median(rates)));
        eprintln!("{name}: median {:.2} GiB/s", results.last().expect("one").1);
    }
    // pyarrow reads the HTTP/1.1 server's URL (still served).
    let script = workspace_root().join("benches/python/http_read.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&http_url)
        .arg((reps() + 1).to_string())
        .output()
        .expect("python3");
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        let secs: Vec<f64> = text
            .split_whitespace()
            .map(|s| s.parse().expect("seconds"))
            .collect();
        // The first is the warm-up.
        let rates = secs[1..].iter().map(|s| bytes / s / gib).collect();
        results.push(("pyarrow (urllib)", median(rates)));
    } else {
        eprintln!(
            "pyarrow case skipped: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(server_rt);
    let tcp = results[0].1;
    println!("| case | GiB/s (median) | / tcp |");
    println!("|---|---|---|");
    for (name, rate) in &results {
        println!("| {name} | {rate:.2} | {:.2} |", rate / tcp);
    }
}
