//! Parquet read and write throughput (issue 5, "Parquet"), side by side with pyarrow.
//!
//! One generated dataset of `LIGHTSTREAM_BENCH_PARQUET_ROWS` rows (default
//! 2,000,000) x (id int64, x float64, n int32 with 10% nulls, s utf8, city
//! dictionary utf8 with uint32 keys, ts timestamp[us, UTC]), in tables of 65,536
//! rows. Files live in `<data dir>/parquet/`:
//! - `lightstream_{snappy,zstd}.parquet`: written by `ParquetWriter` (dictionary
//!   encoding on, 1,048,576-row row groups) before timing;
//! - `pyarrow_{snappy,zstd}.parquet`: written by `benches/python/parquet_time.py`
//!   from our file with the same settings; that script also times pyarrow's
//!   `pq.read_table` (use_threads False / True) and its one-core read
//!   `pq.ParquetFile(path).read(use_threads=False)` on both files, and
//!   `pq.write_table`, with their CPU times (`read_table` decodes row groups on
//!   pyarrow's I/O threads whatever `use_threads` says), and writes
//!   `pyarrow_times.json` (printed at the end of this bench).
//!
//! Groups (throughput in rows):
//! - `parquet_write/{snappy,zstd}`: every table into a `Vec<u8>`, then `finish`
//!   (`ParquetWriteOptions::threads` 1); `{snappy,zstd}_threads_2`: with 2 encoder threads.
//! - `parquet_read/{snappy,zstd}/{lightstream_file,pyarrow_file}/{mapped,pread}/threads_{1,2}`:
//!   open the file (`ParquetReader::open_mapped`, as the CLI does, at 1 and 2 threads;
//!   `ParquetReader::open`, positioned reads, at 1) and decode every table (default batch size 65,536) with
//!   `ParquetReadOptions::threads` 1 (the calling thread) and 2 (two decode threads;
//!   pyarrow's `use_threads=True` is its default, every core, 2 on the bench machine).
//!
//! Before timing, both files of each codec are read back and checked against the
//! generator (sum of `id`, sum of `n` and its null count, total string bytes).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use lightstream::parquet::{
    ParquetCompression, ParquetReadOptions, ParquetReader, ParquetWriteOptions, ParquetWriter,
};
use lightstream_benches::{data_dir, dictionary_values, mix, unit_f64, workspace_root};
use lightstream_core::Schema;
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, DatetimeArray, Field, FieldArray, FloatArray,
    IntegerArray, NumericArray, StringArray, Table, TextArray, TimeUnit, Vec64,
};

const CHUNK: usize = 1 << 16;

fn rows() -> usize {
    std::env::var("LIGHTSTREAM_BENCH_PARQUET_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

fn fields() -> Vec<Arc<Field>> {
    vec![
        Arc::new(Field::new("id", ArrowType::Int64, false, None)),
        Arc::new(Field::new("x", ArrowType::Float64, false, None)),
        Arc::new(Field::new("n", ArrowType::Int32, true, None)),
        Arc::new(Field::new("s", ArrowType::String, false, None)),
        Arc::new(Field::new(
            "city",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            false,
            None,
        )),
        Arc::new(Field::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Microseconds, Some("UTC".into())),
            false,
            None,
        )),
    ]
}

fn table(fields: &[Arc<Field>], start: usize, n: usize) -> Table {
    let r = |c: u64, i: usize| mix(c, (start + i) as u64);
    let id: Vec64<i64> = (0..n).map(|i| (start + i) as i64).collect();
    let x: Vec64<f64> = (0..n).map(|i| unit_f64(r(1, i)) * 1000.0).collect();
    let valid: Vec<bool> = (0..n).map(|i| r(2, i) % 10 != 0).collect();
    let nv: Vec64<i32> = (0..n)
        .map(|i| {
            if valid[i] {
                (r(3, i) % 1_000_000) as i32
            } else {
                0
            }
        })
        .collect();
    let words: Vec<String> = (0..n)
        .map(|i| format!("item-{:x}", r(4, i) % 50_000))
        .collect();
    let dict = dictionary_values();
    let keys: Vec64<u32> = (0..n)
        .map(|i| (r(5, i) % dict.len() as u64) as u32)
        .collect();
    let ts: Vec64<i64> = (0..n)
        .map(|i| 1_700_000_000_000_000 + (start + i) as i64 * 1_000 + (r(6, i) % 1000) as i64)
        .collect();
    let nulls = valid.iter().filter(|v| !**v).count();
    let arrays = vec![
        Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray {
            data: id.into(),
            null_mask: None,
        }))),
        Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray {
            data: x.into(),
            null_mask: None,
        }))),
        Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray {
            data: nv.into(),
            null_mask: Some(Bitmask::from_bools(&valid)),
        }))),
        Array::from_string32(StringArray::<u32>::from_vec(
            words.iter().map(String::as_str).collect(),
            None,
        )),
        Array::TextArray(TextArray::Categorical32(Arc::new(
            CategoricalArray::<u32>::new(keys, dict, None),
        ))),
        Array::from_datetime_i64(DatetimeArray::<i64>::new(
            ts,
            None,
            Some(TimeUnit::Microseconds),
        )),
    ];
    Table {
        cols: fields
            .iter()
            .zip(arrays)
            .enumerate()
            .map(|(c, (f, array))| FieldArray {
                field: f.clone(),
                array,
                null_count: if c == 2 { nulls } else { 0 },
            })
            .collect(),
        n_rows: n,
        name: "bench".into(),
        metadata: Default::default(),
    }
}

fn tables(total: usize) -> Vec<Table> {
    let f = fields();
    (0..total)
        .step_by(CHUNK)
        .map(|s| table(&f, s, CHUNK.min(total - s)))
        .collect()
}

fn codec(name: &str) -> ParquetCompression {
    match name {
        "snappy" => ParquetCompression::Snappy,
        _ => ParquetCompression::Zstd(1),
    }
}

fn write(
    schema: &Schema,
    tables: &[Table],
    compression: ParquetCompression,
    threads: usize,
) -> Vec<u8> {
    let options = ParquetWriteOptions {
        compression,
        threads,
        ..Default::default()
    };
    let mut w = ParquetWriter::new(Vec::with_capacity(64 << 20), schema, options).expect("writer");
    for t in tables {
        w.write(t).expect("write");
    }
    w.finish().expect("finish")
}

#[derive(Debug, PartialEq, Default)]
struct Check {
    rows: usize,
    id_sum: i64,
    n_sum: i64,
    n_nulls: usize,
    string_bytes: usize,
}

fn check_tables<'a>(tables: impl IntoIterator<Item = &'a Table>) -> Check {
    let mut c = Check::default();
    for t in tables {
        c.rows += t.n_rows;
        if let Array::NumericArray(NumericArray::Int64(a)) = &t.cols[0].array {
            c.id_sum += a.data.as_slice().iter().sum::<i64>();
        }
        if let Array::NumericArray(NumericArray::Int32(a)) = &t.cols[2].array {
            let m = a.null_mask.as_ref();
            c.n_sum += a
                .data
                .as_slice()
                .iter()
                .enumerate()
                .filter(|(i, _)| m.is_none_or(|m| m.get(*i)))
                .map(|(_, v)| i64::from(*v))
                .sum::<i64>();
        }
        c.n_nulls += t.cols[2].null_count;
        if let Array::TextArray(TextArray::String32(a)) = &t.cols[3].array {
            c.string_bytes += *a.offsets.as_slice().last().unwrap_or(&0) as usize;
        }
    }
    c
}

fn read(path: &Path) -> Vec<Table> {
    ParquetReader::open(path, ParquetReadOptions::default())
        .expect("open")
        .collect::<Result<Vec<_>, _>>()
        .expect("read")
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let dir = data_dir().join("parquet");
    std::fs::create_dir_all(&dir).expect("data dir");
    let tables = tables(n);
    let schema = Schema::from_table(&tables[0]);
    let want = check_tables(&tables);
    for name in ["snappy", "zstd"] {
        let bytes = write(&schema, &tables, codec(name), 1);
        std::fs::write(dir.join(format!("lightstream_{name}.parquet")), &bytes)
            .expect("write file");
    }
    // pyarrow writes its files (from ours) and times itself.
    let script = workspace_root().join("benches/python/parquet_time.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "parquet_time.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pyarrow_report = String::from_utf8_lossy(&out.stdout).to_string();
    for name in ["snappy", "zstd"] {
        for who in ["lightstream", "pyarrow"] {
            let got = check_tables(&read(&dir.join(format!("{who}_{name}.parquet"))));
            assert_eq!(
                got, want,
                "{who}_{name}.parquet does not hold the generated data"
            );
        }
    }

    let mut g = c.benchmark_group("parquet_write");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    for name in ["snappy", "zstd"] {
        // `snappy` / `zstd`: one thread (the calling one), as before.
        g.bench_function(name, |b| {
            b.iter(|| black_box(write(&schema, &tables, codec(name), 1).len()))
        });
        g.bench_function(format!("{name}_threads_2"), |b| {
            b.iter(|| black_box(write(&schema, &tables, codec(name), 2).len()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parquet_read");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    for name in ["snappy", "zstd"] {
        for who in ["lightstream", "pyarrow"] {
            // Mapped (the CLI's way: pages are slices of the map) at 1 and 2
            // threads, and read with `pread` (`open`) at 1.
            for (threads, mapped) in [(1, true), (2, true), (1, false)] {
                let path = dir.join(format!("{who}_{name}.parquet"));
                let options = ParquetReadOptions {
                    threads,
                    ..Default::default()
                };
                let how = if mapped { "mapped" } else { "pread" };
                g.bench_with_input(
                    BenchmarkId::new(name, format!("{who}_file/{how}/threads_{threads}")),
                    &path,
                    |b, p| {
                        b.iter(|| {
                            let mut rows = 0;
                            if mapped {
                                let reader = ParquetReader::open_mapped(p, options.clone());
                                for t in reader.unwrap() {
                                    rows += black_box(t.unwrap()).n_rows;
                                }
                            } else {
                                for t in ParquetReader::open(p, options.clone()).unwrap() {
                                    rows += black_box(t.unwrap()).n_rows;
                                }
                            }
                            assert_eq!(rows, n);
                        })
                    },
                );
            }
        }
    }
    g.finish();
    println!("pyarrow on the same files (benches/python/parquet_time.py):\n{pyarrow_report}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
