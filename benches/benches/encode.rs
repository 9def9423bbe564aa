//! Encode benchmarks of issue 2: Lightstream's sans-IO `IpcStreamEncoder`
//! (vectored `EncodedMessage::write_to` into a `Vec`) against arrow-rs's
//! `StreamWriter` into a `Vec`, for each shape. pyarrow's encode of the same
//! shapes is timed by `benches/python/gen_and_time.py` (see `benches/run.sh`).
//!
//! Both outputs are decoded and checksummed against the generated data once,
//! before anything is timed.

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
use lightstream_core::aligned_copy;

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
