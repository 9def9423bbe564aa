//! Memory-mapped Arrow IPC files (issue 5, "Memory-mapped Arrow").
//!
//! One table of `LIGHTSTREAM_BENCH_MMAP_ROWS` rows (default 100,000,000) of
//! shape (a) (i64, f64, i32, f32, no nulls; the generator of `src/lib.rs`) in
//! 1,000,000-row batches, as two IPC files in `<data dir>/mmap/`: one written
//! by Lightstream (`IpcFileEncoder`, 64-byte aligned buffers) and one by
//! pyarrow (`benches/python/mmap_time.py generate`, 8-byte aligned). Each is
//! written batch by batch once and reused while it is complete.
//!
//! Groups (every case maps the file afresh each iteration; the page cache is
//! warm after the checks):
//! - `mmap_open_tables/{lightstream,arrow_rs}/{aligned64,pyarrow8}`: open and
//!   produce every table without touching values (tables dropped in the loop).
//!   `lightstream_align64/pyarrow8` is the opt-in copying path
//!   (`MmapOptions::align_64`), beside `memcpy_bodies/pyarrow8`: the same
//!   bodies copied from a fresh map into fresh 64-byte aligned memory, batch
//!   by batch, and nothing else (its memcpy baseline).
//! - `mmap_sum_f64/{lightstream,arrow_rs}/{aligned64,pyarrow8}`: open and sum
//!   the f64 column of every batch; `vec_baseline/in_memory`: the same sum
//!   over one plain `Vec<f64>` of all the rows (already in memory).
//!   `lightstream_<advice>/...`: Lightstream with `MmapOptions::advice`.
//!
//! Every Rust case sums with [`sum_f64`]: 16 independent accumulators over
//! chunks of 16 values, which the compiler vectorises, then the tail.
//!
//! Before timing, every reader's sum over both files is checked bit for bit
//! against the generator's, and Lightstream's f64 columns are checked to point
//! into the map (zero-copy) on both files.
//!
//! `LIGHTSTREAM_BENCH_MMAP_PROFILE=open_tables:N` (or `sum_f64:N`) runs the
//! Lightstream case N times on the 64-aligned file outside criterion and
//! exits (for callgrind: instructions per batch).

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_buffer::Buffer as ArrowBuffer;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use criterion::{Criterion, criterion_group, criterion_main};
use lightstream::mmap::{Advice, MmapFile, MmapOptions};
use lightstream_benches::{Shape, StringPool, data_dir, mix, unit_f64, workspace_root};
use lightstream_core::minarrow::{Array, NumericArray, Table, Vec64};
use lightstream_core::{IpcFileEncoder, ReadOptions, WriteOptions};
use memmap2::Mmap;

const DEFAULT_ROWS: usize = 100_000_000;
const BATCH_ROWS: usize = 1_000_000;
/// Index of the f64 column in shape (a).
const F64: usize = 1;

/// (batches, rows per batch) from `LIGHTSTREAM_BENCH_MMAP_ROWS`.
fn layout() -> (usize, usize) {
    let total = match std::env::var("LIGHTSTREAM_BENCH_MMAP_ROWS") {
        Ok(v) => v.trim().parse::<usize>().unwrap_or(0),
        Err(_) => DEFAULT_ROWS,
    };
    let per = total.min(BATCH_ROWS);
    assert!(
        total > 0 && total.is_multiple_of(per),
        "LIGHTSTREAM_BENCH_MMAP_ROWS must be positive and below or a multiple of {BATCH_ROWS}"
    );
    (total / per, per)
}

fn file_path(rows: usize, producer: &str) -> PathBuf {
    data_dir()
        .join("mmap")
        .join(format!("mmap_a_{rows}.{producer}.arrow"))
}

/// The one summation of every Rust case: 16 independent accumulators over
/// chunks of 16 values (no dependency chain between them, so the compiler
/// keeps them in vector registers), added up at the end, then the tail.
#[inline(never)]
fn sum_f64(v: &[f64]) -> f64 {
    let (chunks, tail) = v.as_chunks::<16>();
    let mut acc = [0.0f64; 16];
    for c in chunks {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    let mut s = 0.0;
    for a in acc {
        s += a;
    }
    for x in tail {
        s += x;
    }
    s
}

fn f64_column(t: &Table) -> &[f64] {
    match &t.cols[F64].array {
        Array::NumericArray(NumericArray::Float64(a)) => a.data.as_slice(),
        other => panic!("f64 column expected, got {other:?}"),
    }
}

/// True when the file at `path` is a complete IPC file of `batches` x `per` rows.
fn complete(path: &Path, batches: usize, per: usize) -> bool {
    let Ok(f) = MmapFile::open(path, ReadOptions::default()) else {
        return false;
    };
    f.num_batches() == batches
        && f.schema().fields.len() == 4
        && f.read_batch(0).is_ok_and(|t| t.n_rows == per)
        && f.read_batch(batches - 1).is_ok_and(|t| t.n_rows == per)
}

/// Writes Lightstream's file batch by batch (never the whole table in memory).
fn write_lightstream(path: &Path, batches: usize, per: usize) {
    let pool = StringPool::new();
    let first = Shape::A.table(0, per, &pool);
    let schema = Arc::new(Shape::A.schema(&first));
    let mut enc = IpcFileEncoder::new(schema, WriteOptions::default()).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).unwrap());
    enc.begin().unwrap().write_to(&mut out).unwrap();
    for b in 0..batches {
        let t = if b == 0 {
            first.clone()
        } else {
            Shape::A.table(b, per, &pool)
        };
        for m in enc.encode_table(&t).unwrap() {
            m.write_to(&mut out).unwrap();
        }
    }
    out.write_all(&enc.finish().unwrap()).unwrap();
    out.into_inner().unwrap().sync_all().ok();
    std::fs::rename(&tmp, path).unwrap();
}

fn ensure_files(batches: usize, per: usize) -> (PathBuf, PathBuf) {
    let rows = batches * per;
    let ls = file_path(rows, "lightstream");
    if !complete(&ls, batches, per) {
        eprintln!("writing {} ...", ls.display());
        write_lightstream(&ls, batches, per);
    }
    let py = file_path(rows, "pyarrow");
    if !complete(&py, batches, per) {
        let script = workspace_root().join("benches/python/mmap_time.py");
        let ok = Command::new("python3")
            .arg(&script)
            .arg("generate")
            .arg("--rows")
            .arg(rows.to_string())
            .arg("--data-dir")
            .arg(data_dir())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && complete(&py, batches, per),
            "pyarrow could not write {}",
            py.display()
        );
    }
    (ls, py)
}

/// The generator's f64 sum: per batch with [`sum_f64`], batch sums added in order.
fn expected_sum(batches: usize, per: usize) -> f64 {
    let mut v = vec![0.0f64; per];
    let mut total = 0.0;
    for b in 0..batches {
        let base = (b * per) as u64;
        for (r, x) in v.iter_mut().enumerate() {
            *x = unit_f64(mix(2, base + r as u64));
        }
        total += sum_f64(&v);
    }
    total
}

// ---------------------------------------------------------------------------
// The timed cases.
// ---------------------------------------------------------------------------

fn ls_open_tables(path: &Path, options: MmapOptions) -> Vec<Table> {
    let f = MmapFile::open_with(path, ReadOptions::default(), options).unwrap();
    f.batches().map(Result::unwrap).collect()
}

fn ls_sum(path: &Path, options: MmapOptions) -> f64 {
    let f = MmapFile::open_with(path, ReadOptions::default(), options).unwrap();
    let mut total = 0.0;
    for t in f.batches() {
        total += sum_f64(f64_column(&t.unwrap()));
    }
    total
}

/// arrow-rs's zero-copy file path (its documented mmap example): the map as
/// an arrow `Buffer` (through `bytes::Bytes::from_owner`), the footer read with
/// `root_as_footer`, each block decoded by `FileDecoder` over a slice of it.
struct ArrowFile {
    buffer: ArrowBuffer,
    decoder: FileDecoder,
    blocks: Vec<arrow_ipc::Block>,
}

impl ArrowFile {
    fn open(path: &Path) -> ArrowFile {
        let file = File::open(path).unwrap();
        // SAFETY: read-only map of a file nobody modifies during the bench.
        let mmap = unsafe { Mmap::map(&file) }.unwrap();
        let buffer = ArrowBuffer::from(bytes::Bytes::from_owner(mmap));
        let trailer = buffer.len() - 10;
        let footer_len = read_footer_length(buffer[trailer..].try_into().unwrap()).unwrap();
        let footer = arrow_ipc::root_as_footer(&buffer[trailer - footer_len..trailer]).unwrap();
        let schema = arrow_ipc::convert::try_fb_to_schema(footer.schema().unwrap()).unwrap();
        let mut decoder = FileDecoder::new(Arc::new(schema), footer.version());
        for block in footer.dictionaries().iter().flatten() {
            let len = block.bodyLength() as usize + block.metaDataLength() as usize;
            let data = buffer.slice_with_length(block.offset() as usize, len);
            decoder.read_dictionary(block, &data).unwrap();
        }
        let blocks = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        ArrowFile {
            buffer,
            decoder,
            blocks,
        }
    }

    fn batch(&self, i: usize) -> RecordBatch {
        let block = &self.blocks[i];
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        let data = self.buffer.slice_with_length(block.offset() as usize, len);
        self.decoder
            .read_record_batch(block, &data)
            .unwrap()
            .unwrap()
    }
}

fn arrow_open_tables(path: &Path) -> Vec<RecordBatch> {
    let f = ArrowFile::open(path);
    (0..f.blocks.len()).map(|i| f.batch(i)).collect()
}

fn arrow_sum(path: &Path) -> f64 {
    let f = ArrowFile::open(path);
    let mut total = 0.0;
    for i in 0..f.blocks.len() {
        let b = f.batch(i);
        total += sum_f64(b.column(F64).as_primitive::<Float64Type>().values());
    }
    total
}

/// The memcpy baseline of the copying path: map the file, copy every record
/// batch's body into a fresh 64-byte aligned allocation, batch by batch.
fn memcpy_bodies(path: &Path) -> Vec<Vec64<u8>> {
    let f = MmapFile::open(path, ReadOptions::default()).unwrap();
    let bytes = f.bytes().as_slice();
    (0..f.num_batches())
        .map(|i| {
            let (offset, len) = f.batch_range(i).unwrap();
            let mut v = Vec64::with_capacity(len);
            v.extend_from_slice(&bytes[offset..offset + len]);
            v
        })
        .collect()
}

fn advices() -> Vec<(&'static str, Advice)> {
    vec![
        ("sequential", Advice::Sequential),
        ("willneed", Advice::WillNeed),
        ("populate_read", Advice::PopulateRead),
        ("hugepage", Advice::HugePage),
    ]
}

fn check(paths: &[(&str, &PathBuf)], batches: usize, per: usize) {
    let want = expected_sum(batches, per);
    for (name, path) in paths {
        let got = [
            ("lightstream", ls_sum(path, MmapOptions::default())),
            (
                "lightstream align_64",
                ls_sum(
                    path,
                    MmapOptions {
                        align_64: true,
                        ..MmapOptions::default()
                    },
                ),
            ),
            ("arrow-rs", arrow_sum(path)),
        ];
        for (reader, sum) in got {
            assert_eq!(
                sum.to_bits(),
                want.to_bits(),
                "{reader} on {name}: sum {sum}, generator {want}"
            );
        }
        let f = MmapFile::open(path, ReadOptions::default()).unwrap();
        let map = f.bytes().as_slice().as_ptr_range();
        let (mut borrowed, mut copied) = (0, 0);
        for t in f.batches() {
            let t = t.unwrap();
            assert!(map.contains(&(f64_column(&t).as_ptr() as *const u8)));
            for c in &t.cols {
                let p = match &c.array {
                    Array::NumericArray(NumericArray::Int64(a)) => {
                        a.data.as_slice().as_ptr() as *const u8
                    }
                    Array::NumericArray(NumericArray::Float64(a)) => {
                        a.data.as_slice().as_ptr() as *const u8
                    }
                    Array::NumericArray(NumericArray::Int32(a)) => {
                        a.data.as_slice().as_ptr() as *const u8
                    }
                    Array::NumericArray(NumericArray::Float32(a)) => {
                        a.data.as_slice().as_ptr() as *const u8
                    }
                    other => panic!("unexpected column {other:?}"),
                };
                if map.contains(&p) {
                    borrowed += 1;
                } else {
                    copied += 1;
                }
            }
        }
        eprintln!(
            "{name}: {} bytes, {batches} batches; sums agree ({want}); lightstream borrowed {borrowed} column buffers from the map, copied {copied}",
            f.len()
        );
    }
}

/// The page-fault floor of any reader of a fresh map: map the file and read
/// one byte of each batch's metadata (the page its decoder must parse).
fn touch_metadata_pages(path: &Path, ranges: &[(usize, usize)]) -> u8 {
    let file = File::open(path).unwrap();
    // SAFETY: read-only map of a file nobody modifies during the bench.
    let mmap = unsafe { Mmap::map(&file) }.unwrap();
    let mut x = 0u8;
    for &(offset, _) in ranges {
        x ^= mmap[offset + 8];
    }
    x
}

/// The same bytes read with `pread` instead of through a map.
fn pread_metadata(path: &Path, ranges: &[(usize, usize)]) -> u8 {
    use std::os::unix::fs::FileExt;
    let file = File::open(path).unwrap();
    let mut buf = [0u8; 4096];
    let mut x = 0u8;
    for &(offset, _) in ranges {
        file.read_exact_at(&mut buf[..1024], offset as u64).unwrap();
        x ^= buf[8];
    }
    x
}

fn profile(spec: &str, path: &Path) {
    let (what, n) = spec.split_once(':').unwrap_or((spec, "1"));
    let n: usize = n.parse().unwrap();
    let ranges: Vec<(usize, usize)> = {
        let f = MmapFile::open(path, ReadOptions::default()).unwrap();
        (0..f.num_batches())
            .map(|i| f.batch_range(i).unwrap())
            .collect()
    };
    for _ in 0..n {
        match what {
            "touch" => drop(black_box(touch_metadata_pages(path, &ranges))),
            "pread" => drop(black_box(pread_metadata(path, &ranges))),
            "open_tables" => drop(black_box(ls_open_tables(path, MmapOptions::default()))),
            "sum_f64" => drop(black_box(ls_sum(path, MmapOptions::default()))),
            _ => panic!("LIGHTSTREAM_BENCH_MMAP_PROFILE: open_tables:N or sum_f64:N"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let (batches, per) = layout();
    let (ls, py) = ensure_files(batches, per);
    if let Ok(spec) = std::env::var("LIGHTSTREAM_BENCH_MMAP_PROFILE") {
        profile(&spec, &ls);
        std::process::exit(0);
    }
    let files = [("aligned64", &ls), ("pyarrow8", &py)];
    check(&files, batches, per);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average before timing: {}", load.trim());

    let mut g = c.benchmark_group("mmap_open_tables");
    g.sample_size(30).warm_up_time(Duration::from_secs(1));
    for (name, path) in files {
        g.bench_function(format!("lightstream/{name}"), |b| {
            b.iter(|| ls_open_tables(path, MmapOptions::default()))
        });
        g.bench_function(format!("arrow_rs/{name}"), |b| {
            b.iter(|| arrow_open_tables(path))
        });
    }
    let align_64 = MmapOptions {
        align_64: true,
        ..MmapOptions::default()
    };
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("lightstream_align64/pyarrow8", |b| {
        b.iter(|| ls_open_tables(&py, align_64))
    });
    g.bench_function("memcpy_bodies/pyarrow8", |b| b.iter(|| memcpy_bodies(&py)));
    g.finish();

    let mut g = c.benchmark_group("mmap_sum_f64");
    g.sample_size(15).measurement_time(Duration::from_secs(10));
    let rows = batches * per;
    let v: Vec<f64> = (0..rows as u64).map(|r| unit_f64(mix(2, r))).collect();
    g.bench_function("vec_baseline/in_memory", |b| {
        b.iter(|| sum_f64(black_box(&v)))
    });
    drop(v);
    for (name, path) in files {
        g.bench_function(format!("lightstream/{name}"), |b| {
            b.iter(|| ls_sum(path, MmapOptions::default()))
        });
        g.bench_function(format!("arrow_rs/{name}"), |b| b.iter(|| arrow_sum(path)));
    }
    for (adv_name, advice) in advices() {
        let o = MmapOptions {
            advice: Some(advice),
            ..MmapOptions::default()
        };
        g.bench_function(format!("lightstream_{adv_name}/aligned64"), |b| {
            b.iter(|| ls_sum(&ls, o))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
