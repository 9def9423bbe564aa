//! Encode benchmarks of issue 2: Lightstream's sans-IO `IpcStreamEncoder`
//! (vectored `EncodedMessage::write_to` into a `Vec`) against arrow-rs's
//! `StreamWriter` into a `Vec`, for each shape. pyarrow's encode of the same
//! shapes is timed by `benches/python/gen_and_time.py` (see `benches/run.sh`).
//!
//! Both outputs are decoded and checksummed against the generated data once,
//! before anything is timed.
//!
//! `cut_2mib_<shape>`: each batch cut into record batches of at most 2 MiB of
//! body, as a Flight server sends them to peers with gRPC's 4 MiB limit:
//! `encode_rows` (each part encoded from the batch's own buffers) against
//! `slice_clone` (each part's rows copied, then encoded: how `TableWriter` cut
//! until issue 20's second round), both written into a reused `Vec` (the one
//! copy a sink makes either way).

use std::sync::Arc;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use lightstream_benches::{
    arrow_buffer, arrow_encode, arrow_encode_into, arrow_stream_decoder, assert_checksum, batches,
    checksum_tables, lightstream_encode, lightstream_encode_into, lightstream_read_stream,
    lightstream_write, rows_per_batch, shapes,
};
use lightstream_core::minarrow::Table;
use lightstream_core::{IpcStreamEncoder, Schema, WriteOptions, aligned_copy};

/// The record batch body a cut part may have (Flight's 2 MiB default).
const CUT_BODY: usize = 2 << 20;

/// `tables` written as a stream into `out`, each cut into parts of at most
/// [`CUT_BODY`] of body (rows split evenly), the parts' rows copied first
/// when `copy_rows`.
fn encode_cut_into(schema: &Arc<Schema>, tables: &[Table], copy_rows: bool, out: &mut Vec<u8>) {
    let mut enc = IpcStreamEncoder::new(schema.clone(), WriteOptions::default()).expect("encoder");
    enc.schema_message().expect("schema").append_to(out);
    for t in tables {
        // The dictionaries go once; the whole batch only gives its size.
        let mut whole = enc.encode_table(t).expect("encode_table");
        let body = whole.pop().map_or(0, |m| m.body_len());
        for m in whole {
            m.append_to(out);
        }
        let per = t.n_rows.div_ceil(body.div_ceil(CUT_BODY).max(1)).max(1);
        for start in (0..t.n_rows).step_by(per) {
            let len = per.min(t.n_rows - start);
            if copy_rows {
                let part = t.slice_clone(start, len);
                for m in enc.encode_table(&part).expect("encode_table") {
                    m.append_to(out);
                }
            } else {
                for m in enc.encode_rows(t, start..start + len).expect("encode_rows") {
                    m.append_to(out);
                }
            }
        }
    }
    enc.end_of_stream().append_to(out);
}

fn encode(c: &mut Criterion) {
    eprintln!(
        "encode benches: {} batches x {} rows per shape",
        batches(),
        rows_per_batch()
    );
    for shape in shapes() {
        let tables = shape.tables();
        let want = checksum_tables(&tables);
        let schema = Arc::new(shape.schema(&tables[0]));
        // arrow-rs input: the same values as arrow-rs RecordBatches (decoded
        // zero-copy from Lightstream's stream, so one dictionary is shared by
        // every batch, as a producer would hold it).
        let source = arrow_buffer(&lightstream_write(&schema, &tables));
        let arrow_batches = arrow_stream_decoder(&source);
        let arrow_schema = arrow_batches[0].schema();

        let ours = lightstream_encode(&schema, &tables);
        let back = lightstream_read_stream(&aligned_copy(&ours));
        assert_checksum("lightstream encoder output", checksum_tables(&back), want);
        drop(back);
        let theirs = arrow_encode(&arrow_schema, &arrow_batches);
        let back = lightstream_read_stream(&aligned_copy(&theirs));
        assert_checksum("arrow-rs StreamWriter output", checksum_tables(&back), want);
        drop(back);
        eprintln!(
            "checked shape {}: lightstream encoder {} bytes, arrow-rs StreamWriter {} bytes",
            shape.name(),
            ours.len(),
            theirs.len()
        );

        let mut g = c.benchmark_group(format!("encode_{}", shape.name()));
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Bytes(ours.len() as u64));
        let capacity = ours.len().max(theirs.len());
        drop((ours, theirs));
        g.bench_function(BenchmarkId::new("lightstream_encoder", "vec"), |b| {
            b.iter(|| lightstream_encode(&schema, &tables))
        });
        g.bench_function(BenchmarkId::new("arrow_rs_stream_writer", "vec"), |b| {
            b.iter(|| arrow_encode(&arrow_schema, &arrow_batches))
        });
        // The same into one reused buffer: the encoders' own cost, without
        // growing (and faulting in) a fresh output Vec on every iteration.
        let mut out = Vec::with_capacity(capacity);
        g.bench_function(BenchmarkId::new("lightstream_encoder", "reused_vec"), |b| {
            b.iter(|| {
                out.clear();
                lightstream_encode_into(&schema, &tables, &mut out);
                out.len()
            })
        });
        g.bench_function(
            BenchmarkId::new("arrow_rs_stream_writer", "reused_vec"),
            |b| {
                b.iter(|| {
                    out.clear();
                    arrow_encode_into(&arrow_schema, &arrow_batches, &mut out);
                    out.len()
                })
            },
        );
        g.finish();

        // Cut at 2 MiB: both ways give the same values.
        let (mut rows_out, mut copy_out) = (Vec::new(), Vec::new());
        encode_cut_into(&schema, &tables, false, &mut rows_out);
        encode_cut_into(&schema, &tables, true, &mut copy_out);
        for (what, out) in [("encode_rows", &rows_out), ("slice_clone", &copy_out)] {
            let back = lightstream_read_stream(&aligned_copy(out));
            assert_checksum(what, checksum_tables(&back), want);
        }
        drop(copy_out);
        let mut g = c.benchmark_group(format!("cut_2mib_{}", shape.name()));
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Bytes(rows_out.len() as u64));
        for (name, copy_rows) in [("encode_rows", false), ("slice_clone", true)] {
            g.bench_function(BenchmarkId::new(name, "reused_vec"), |b| {
                b.iter(|| {
                    rows_out.clear();
                    encode_cut_into(&schema, &tables, copy_rows, &mut rows_out);
                    rows_out.len()
                })
            });
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
    targets = encode
}
criterion_main!(benches);
