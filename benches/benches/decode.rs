//! Decode benchmarks of issue 2: Lightstream against arrow-rs on the same
//! bytes, for each shape and each producer's bytes (Lightstream's 64-byte
//! aligned writer, pyarrow's 8-byte aligned writer, arrow-rs's writer), plus a
//! memcpy baseline and a batches-versus-rows scaling check.
//!
//! Every decoder's output is checksummed against the generated data once,
//! before anything is timed. pyarrow's own timings come from
//! `benches/python/gen_and_time.py` (see `benches/run.sh`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrow_buffer::Buffer as ArrowBuffer;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use lightstream_benches::{
    PUSH_CHUNK, Shape, arrow_buffer, arrow_encode, arrow_stream_decoder, arrow_stream_reader,
    assert_checksum, batches, checksum_batches, checksum_tables, export, first_column_borrows,
    lightstream_push, lightstream_read_stream, lightstream_read_stream_align_64, lightstream_write,
    pyarrow_bytes, rows_per_batch, shapes,
};
use lightstream_core::minarrow::Table;
use lightstream_core::{Schema, SharedBuffer, aligned_copy};

/// One producer's stream of one shape, in the memory each decoder reads.
struct ProducerStream {
    /// `lightstream64`, `pyarrow8` or `arrowrs64`.
    label: &'static str,
    /// 64-byte aligned copy (`aligned_copy`) for Lightstream and `StreamReader`.
    shared: SharedBuffer,
    /// arrow-rs's own aligned copy for `StreamDecoder`.
    arrow: ArrowBuffer,
}

impl ProducerStream {
    fn new(label: &'static str, bytes: Vec<u8>) -> ProducerStream {
        ProducerStream {
            label,
            shared: aligned_copy(&bytes),
            arrow: arrow_buffer(&bytes),
        }
    }
}

/// Runs each decoder once on `s` and checks it produced the generated data.
fn verify(shape: Shape, s: &ProducerStream, want: lightstream_benches::Checksum) {
    let what = |decoder: &str| format!("shape {} / {} / {decoder}", shape.name(), s.label);
    let tables = lightstream_read_stream(&s.shared);
    assert_checksum(&what("read_stream"), checksum_tables(&tables), want);
    let borrowed = first_column_borrows(&tables[0], &s.shared);
    // Every producer's buffers are aligned for their type (64 or 8 bytes; no
    // Decimal128 here), so read_stream borrows them all.
    assert!(
        borrowed,
        "{}: 64- and 8-aligned input must decode zero-copy",
        what("read_stream")
    );
    drop(tables);
    let aligned = lightstream_read_stream_align_64(&s.shared);
    assert_checksum(
        &what("read_stream align_64"),
        checksum_tables(&aligned),
        want,
    );
    drop(aligned);
    let pushed = lightstream_push(s.shared.as_slice(), PUSH_CHUNK);
    assert_checksum(&what("push"), checksum_tables(&pushed), want);
    drop(pushed);
    let decoded = arrow_stream_decoder(&s.arrow);
    assert_checksum(&what("StreamDecoder"), checksum_batches(&decoded), want);
    drop(decoded);
    let read = arrow_stream_reader(s.shared.as_slice());
    assert_checksum(&what("StreamReader"), checksum_batches(&read), want);
    eprintln!(
        "checked shape {} / {}: {} bytes, 4 decoders agree with the generator \
         ({} rows); read_stream first column {}",
        shape.name(),
        s.label,
        s.shared.len(),
        want.rows,
        if borrowed { "zero-copy" } else { "copied" }
    );
}

/// Zero-copy decode time against batch count and rows per batch (shape a):
/// the issue asks for time proportional to batches, not to bytes.
fn scaling(c: &mut Criterion, tables: &[Table], schema: &Schema) {
    let n = tables.len();
    let mut cases: Vec<(String, Vec<u8>)> = [1, 4, n]
        .into_iter()
        .filter(|&k| k <= n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| {
            let id = format!("{k}x{}", rows_per_batch());
            (id, lightstream_write(schema, &tables[..k]))
        })
        .collect();
    let small_rows = 1000;
    let small = Shape::A.tables_of(n, small_rows);
    cases.push((
        format!("{n}x{small_rows}"),
        lightstream_write(schema, &small),
    ));
    let mut g = c.benchmark_group("decode_scaling_a");
    g.sampling_mode(SamplingMode::Flat);
    for (id, bytes) in &cases {
        let s = ProducerStream::new("scaling", bytes.clone());
        let want = checksum_tables(&lightstream_read_stream(&s.shared));
        assert_checksum(
            &format!("scaling {id} / StreamDecoder"),
            checksum_batches(&arrow_stream_decoder(&s.arrow)),
            want,
        );
        g.bench_with_input(
            BenchmarkId::new("lightstream_read_stream", id),
            &s,
            |b, s| b.iter(|| lightstream_read_stream(&s.shared)),
        );
        g.bench_with_input(
            BenchmarkId::new("arrow_rs_stream_decoder", id),
            &s,
            |b, s| b.iter(|| arrow_stream_decoder(&s.arrow)),
        );
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    eprintln!(
        "decode benches: {} batches x {} rows per shape",
        batches(),
        rows_per_batch()
    );
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        eprintln!(
            "note: GLIBC_TUNABLES is not set, so copying decoders pay for fresh pages on \
             every iteration and results depend on benchmark order; benches/run.sh sets it"
        );
    }
    for shape in shapes() {
        let setup = Instant::now();
        let tables = shape.tables();
        let want = checksum_tables(&tables);
        let schema = shape.schema(&tables[0]);
        let ours = lightstream_write(&schema, &tables);
        export(shape, "lightstream", &ours);
        let arrow_batches = arrow_stream_decoder(&arrow_buffer(&ours));
        let arrow_bytes = arrow_encode(&arrow_batches[0].schema(), &arrow_batches);
        drop(arrow_batches);
        export(shape, "arrow-rs", &arrow_bytes);
        if shape == Shape::A {
            scaling(c, &tables, &schema);
        }
        drop(tables);

        let mut sources = vec![ProducerStream::new("lightstream64", ours)];
        if let Some(py) = pyarrow_bytes(shape, want) {
            sources.push(ProducerStream::new("pyarrow8", py));
        }
        sources.push(ProducerStream::new("arrowrs64", arrow_bytes));
        for s in &sources {
            verify(shape, s, want);
        }
        eprintln!(
            "shape {} set up and verified in {:.1} s",
            shape.name(),
            setup.elapsed().as_secs_f64()
        );

        let mut g = c.benchmark_group(format!("decode_{}", shape.name()));
        g.sampling_mode(SamplingMode::Flat);
        for s in &sources {
            g.throughput(Throughput::Bytes(s.shared.len() as u64));
            g.bench_with_input(
                BenchmarkId::new("lightstream_read_stream", s.label),
                s,
                |b, s| b.iter(|| lightstream_read_stream(&s.shared)),
            );
            if s.label == "pyarrow8" {
                // The opt-in copy to 64-byte boundaries (64-aligned input needs none).
                g.bench_with_input(
                    BenchmarkId::new("lightstream_read_stream_align_64", s.label),
                    s,
                    |b, s| b.iter(|| lightstream_read_stream_align_64(&s.shared)),
                );
            }
            g.bench_with_input(
                BenchmarkId::new("lightstream_push_64k", s.label),
                s,
                |b, s| b.iter(|| lightstream_push(s.shared.as_slice(), PUSH_CHUNK)),
            );
            g.bench_with_input(
                BenchmarkId::new("arrow_rs_stream_decoder", s.label),
                s,
                |b, s| b.iter(|| arrow_stream_decoder(&s.arrow)),
            );
            g.bench_with_input(
                BenchmarkId::new("arrow_rs_stream_reader", s.label),
                s,
                |b, s| b.iter(|| arrow_stream_reader(s.shared.as_slice())),
            );
        }
        g.finish();

        // memcpy baseline: the bytes of each stream copied once, into a fresh
        // 64-byte aligned allocation (what `aligned_copy` and a copying decoder
        // pay, page faults included) and into an already-touched buffer (pure
        // bandwidth).
        let mut g = c.benchmark_group(format!("memcpy_{}", shape.name()));
        g.sampling_mode(SamplingMode::Flat);
        for s in &sources {
            let src = s.shared.as_slice();
            g.throughput(Throughput::Bytes(src.len() as u64));
            g.bench_with_input(BenchmarkId::new("aligned_copy", s.label), src, |b, src| {
                b.iter(|| aligned_copy(src))
            });
            let mut dst = vec![1u8; src.len()];
            g.bench_with_input(
                BenchmarkId::new("copy_into_touched", s.label),
                src,
                |b, src| {
                    b.iter(|| {
                        dst.copy_from_slice(src);
                        black_box(&mut dst);
                    })
                },
            );
            // A decoder copies column by column, and libc's memcpy strategy
            // depends on the size of each call: the same bytes in pieces of
            // one column buffer's average size.
            let piece = src.len().div_ceil(batches() * shape.columns()).max(1);
            g.bench_with_input(
                BenchmarkId::new("copy_in_column_pieces", s.label),
                src,
                |b, src| {
                    b.iter(|| {
                        for (d, s) in dst.chunks_mut(piece).zip(src.chunks(piece)) {
                            d.copy_from_slice(s);
                        }
                        black_box(&mut dst);
                    })
                },
            );
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3));
    targets = decode
}
criterion_main!(benches);
