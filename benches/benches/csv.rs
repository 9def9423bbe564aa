//! CSV throughput (issue 5): `lightstream::csv` reading one generated file
//! (1,000,000 rows x int64, float64, bool, timestamp, string; about 75 MB)
//! with a given schema and with inference, on 1 and 2 threads
//! (`CsvFileOptions::threads`: the file is mapped and parsed in pieces), and
//! writing the same tables back.
//!
//! The file is generated deterministically into `$LIGHTSTREAM_BENCH_DATA`
//! (default `target/bench-data`) as `csv-bench.csv` and reused; pyarrow's
//! timings on the same file come from `benches/python/csv_time.py`. Rows per
//! run: `LIGHTSTREAM_CSV_ROWS` (default 1,000,000). Not a parser comparison
//! across Rust crates.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lightstream::Schema;
use lightstream::csv::{CsvFileOptions, CsvReadOptions, CsvReader, CsvWriteOptions, CsvWriter};
use lightstream::minarrow::{ArrowType, Field, Table, TimeUnit};
use lightstream_benches::{below, data_dir, mix, unit_f64};

fn rows() -> u64 {
    std::env::var("LIGHTSTREAM_CSV_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn schema() -> Schema {
    let f = |n: &str, t| Arc::new(Field::new(n, t, true, None));
    Schema::new(
        vec![
            f("id", ArrowType::Int64),
            f("price", ArrowType::Float64),
            f("flag", ArrowType::Boolean),
            f("ts", ArrowType::Timestamp(TimeUnit::Seconds, None)),
            f("name", ArrowType::String),
        ],
        Default::default(),
    )
}

/// Writes the bench file once (same rows for the same row count).
fn bench_file() -> PathBuf {
    let n = rows();
    let dir = data_dir();
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let path = dir.join(format!("csv-bench-{n}.csv"));
    if path.exists() {
        return path;
    }
    let tmp = dir.join(format!("csv-bench-{n}.csv.tmp"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create"));
    out.write_all(b"id,price,flag,ts,name\n").unwrap();
    let base = 1_577_836_800i64; // 2020-01-01T00:00:00
    for i in 0..n {
        let h = mix(5, i);
        let id = (h >> 1) as i64 - (1 << 62);
        let price = unit_f64(mix(6, i));
        let flag = h & 1 == 0;
        let ts = base + below(mix(7, i), 5 * 365 * 86_400) as i64;
        let (days, sod) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
        let (y, m, d) = civil(days);
        let name_n = below(mix(8, i), 100_000);
        let name = if name_n % 10 == 0 {
            format!("\"name, {name_n}\"")
        } else {
            format!("name_{name_n}")
        };
        writeln!(
            out,
            "{id},{price:?},{flag},{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02},{name}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn read(path: &PathBuf, options: CsvReadOptions, threads: usize) -> Vec<Table> {
    let file = CsvFileOptions {
        threads,
        ..CsvFileOptions::default()
    };
    CsvReader::open_with(path, options, file)
        .expect("open")
        .collect::<Result<Vec<_>, _>>()
        .expect("read")
}

fn csv_benches(c: &mut Criterion) {
    let path = bench_file();
    let size = std::fs::metadata(&path).expect("bench file").len();
    println!(
        "csv bench file: {} ({:.1} MB, {} rows); load average: {}",
        path.display(),
        size as f64 / 1e6,
        rows(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let given = CsvReadOptions {
        schema: Some(schema()),
        ..CsvReadOptions::default()
    };
    // Check once, before timing, that both paths read every row with the expected types.
    let tables = read(&path, given.clone(), 1);
    assert_eq!(tables.iter().map(|t| t.n_rows as u64).sum::<u64>(), rows());
    let parallel = read(&path, given.clone(), 2);
    assert_eq!(
        parallel.iter().map(|t| t.n_rows as u64).sum::<u64>(),
        rows()
    );
    drop(parallel);
    let inferred = CsvReader::open(&path, CsvReadOptions::default()).expect("open");
    assert_eq!(
        inferred
            .schema()
            .fields
            .iter()
            .map(|f| f.dtype.clone())
            .collect::<Vec<_>>(),
        schema()
            .fields
            .iter()
            .map(|f| f.dtype.clone())
            .collect::<Vec<_>>()
    );
    drop(inferred);

    let mut g = c.benchmark_group("csv");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(size));
    for threads in [1, 2] {
        g.bench_function(format!("read_given_schema/threads_{threads}"), |b| {
            b.iter(|| black_box(read(&path, given.clone(), threads)))
        });
        g.bench_function(format!("read_inferred/threads_{threads}"), |b| {
            b.iter(|| black_box(read(&path, CsvReadOptions::default(), threads)))
        });
    }
    let s = schema();
    g.bench_function("write", |b| {
        b.iter(|| {
            let mut w = CsvWriter::new(
                Vec::with_capacity(size as usize + 1024),
                &s,
                CsvWriteOptions::default(),
            )
            .expect("writer");
            for t in &tables {
                w.write(t).expect("write");
            }
            black_box(w.finish().expect("finish").len())
        })
    });
    g.finish();
}

criterion_group!(benches, csv_benches);
criterion_main!(benches);
