//! Dictionary deltas (issue 14, item 3): N one-row record batches, each
//! preceded by a delta dictionary batch adding one value, decoded by
//! Lightstream's `IpcStreamDecoder`, arrow-rs's `StreamDecoder` and
//! `StreamReader`, and pyarrow (`benches/python/dict_delta_time.py`), on the
//! same bytes, in one run. Every decoder checks each batch's key and value
//! while it is timed, and drops the batch, as `convert` does.
//!
//! Not criterion: one sample at N = 100,000 takes seconds to minutes for
//! every decoder (each one materialises a dictionary of up to N values per
//! batch), so each case is timed a few times with `Instant` and the median
//! printed, beside pyarrow's, as the table in benches/README.md.
//!
//! Environment: LIGHTSTREAM_BENCH_DELTAS (default `1000,10000,100000`),
//! LIGHTSTREAM_BENCH_DATA (where the streams are written for pyarrow).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use lightstream_benches::{
    arrow_buffer, arrow_delta_decoder, arrow_delta_reader, data_dir, dictionary_delta_stream,
    lightstream_delta_decode, workspace_root,
};
use lightstream_core::aligned_copy;

/// Median seconds of `f` over `samples` runs (each must return `n`).
fn time(samples: usize, n: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(black_box(f()), n, "batches decoded");
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// pyarrow's seconds for each file, from the Python script's one-line JSON.
fn pyarrow_times(files: &[std::path::PathBuf]) -> Vec<Option<f64>> {
    let script = workspace_root().join("benches/python/dict_delta_time.py");
    let out = Command::new("python3").arg(&script).args(files).output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            eprintln!(
                "warning: {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            return vec![None; files.len()];
        }
        Err(e) => {
            eprintln!("warning: could not run python3: {e}");
            return vec![None; files.len()];
        }
    };
    // One line per file: "<seconds>".
    let mut times: Vec<Option<f64>> = text.lines().map(|l| l.trim().parse().ok()).collect();
    times.resize(files.len(), None);
    times
}

fn main() {
    // `cargo bench` passes `--bench`; filters are not supported.
    let ns: Vec<usize> = std::env::var("LIGHTSTREAM_BENCH_DELTAS")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("LIGHTSTREAM_BENCH_DELTAS: numbers"))
        .collect();
    std::fs::create_dir_all(data_dir()).expect("data dir");
    let mut rows = Vec::new();
    let mut files = Vec::new();
    for &n in &ns {
        let bytes = dictionary_delta_stream(n);
        let path = data_dir().join(format!("dict_delta_{n}.arrows"));
        std::fs::write(&path, &bytes).expect("write the stream for pyarrow");
        files.push(path);
        let samples = if n <= 10_000 { 5 } else { 1 };
        let shared = aligned_copy(&bytes);
        let arrow = arrow_buffer(&bytes);
        let lc = time(samples, n, || lightstream_delta_decode(&shared, true));
        // The default (every batch holds the whole dictionary) is quadratic:
        // beyond 20,000 batches it would run for minutes.
        let ls =
            (n <= 20_000).then(|| time(samples, n, || lightstream_delta_decode(&shared, false)));
        let ad = time(samples, n, || arrow_delta_decoder(&arrow));
        let ar = time(samples, n, || arrow_delta_reader(&bytes));
        eprintln!(
            "N = {n}: {} bytes; lightstream compact {lc:.4} s, whole {ls:?} s, arrow-rs \
             StreamDecoder {ad:.4} s, StreamReader {ar:.4} s",
            bytes.len()
        );
        rows.push((n, bytes.len(), lc, ls, ad, ar));
    }
    let py = pyarrow_times(&files);
    println!(
        "| N deltas | stream bytes | Lightstream compact | Lightstream whole | arrow-rs \
         StreamDecoder | arrow-rs StreamReader | pyarrow | arrow-rs / compact | pyarrow / compact |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((n, len, lc, ls, ad, ar), py) in rows.into_iter().zip(py) {
        let ls = ls.map_or("not run".into(), |t| format!("{t:.4} s"));
        let py_s = py.map_or("n/a".into(), |p| format!("{p:.4} s"));
        let py_ratio = py.map_or("n/a".into(), |p| format!("{:.2}", p / lc));
        println!(
            "| {n} | {len} | {lc:.4} s | {ls} | {ad:.4} s | {ar:.4} s | {py_s} | {:.2} | \
             {py_ratio} |",
            ad.min(ar) / lc
        );
    }
}
