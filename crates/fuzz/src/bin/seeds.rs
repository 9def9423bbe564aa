//! Writes small seed inputs for every fuzz target with Lightstream's own
//! writers: `seeds <corpus dir>` creates `<dir>/<target>/seed-*` (scripts/fuzz.sh
//! adds Arrow's conformance files next to them). Each file starts with the
//! bytes its target reads as options (see the targets' doc comments).

use lightstream::parquet::{ParquetCompression, ParquetWriteOptions, ParquetWriter};
use lightstream_core::csv::{CsvWriteOptions, write_csv};
use lightstream_core::flight::{flight_data_head, schema_bytes, split_encapsulated};
use lightstream_core::framing::tlv::encode_tlv;
use lightstream_core::minarrow::{
    ArrowType, Field, FieldArray, Table, fa_bool, fa_f64, fa_i32, fa_i64, fa_str32, tbl,
};
use lightstream_core::{
    Compression, IpcStreamDecoder, ReadOptions, Schema, WriteOptions, write_file, write_stream,
};
use std::path::Path;

fn tables() -> Vec<(&'static str, Table)> {
    let plain = tbl!(
        "t",
        fa_i64!("id", 1, 2, 3, 4),
        fa_f64!("x", 0.5, -1.25, 3.0, 1e300),
        fa_bool!("ok", true, false, true, true),
        fa_str32!("name", "ada", "", "grace, hopper", "ü")
    );
    let small = tbl!("s", fa_i32!("n", 7, 8, 9));
    // A categorical column (dictionary-encoded in IPC and Parquet).
    let mut cat = tbl!(
        "c",
        fa_str32!("city", "oslo", "rome", "oslo", "lima", "rome")
    );
    let city = cat.cols[0].array.clone();
    if let lightstream_core::minarrow::Array::TextArray(
        lightstream_core::minarrow::TextArray::String32(s),
    ) = city
    {
        let c = s.to_categorical_array();
        let field = Field::new(
            "city",
            ArrowType::Dictionary(
                lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType::UInt32,
            ),
            false,
            None,
        );
        cat.cols[0] = FieldArray::new(field, lightstream_core::minarrow::Array::from(c));
    }
    vec![("plain", plain), ("small", small), ("dict", cat)]
}

/// browser_decode's option bytes for seeds (see its doc comment): skip
/// unsupported columns in 64-byte chunks; the same with a projection and
/// compact dictionaries in 1-byte chunks.
const BROWSER_FLAGS: [u8; 2] = [0x61, 0x07];

/// flight_data's chunk plans (see `Chunks::split`): whole; 5 and 13 bytes.
const FLIGHT_PLANS: [&[u8]; 2] = [&[0], &[2, 5, 13]];

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create the corpus directory");
    std::fs::write(d.join(format!("seed-{name}")), bytes).expect("write a seed");
}

/// A `csv` seed as `csv_pieces` seeds: its piece byte after the two option
/// bytes (pieces of 8 bytes, 40 bytes, and 40 with a small `max`).
fn write_pieces(dir: &Path, name: &str, csv_seed: &[u8]) {
    for p in [7u8, 39, 0x80 | 39] {
        let mut seed = csv_seed.to_vec();
        seed.insert(2.min(seed.len()), p);
        write(dir, "csv_pieces", &format!("{name}-{p}"), &seed);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: seeds <corpus directory> [--streams FILE...] [--files FILE...]");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let mut n = 0;
    // Other producers' streams and files (Arrow's conformance corpus).
    let mut kind = "";
    for arg in &args[1..] {
        if arg == "--streams" || arg == "--files" || arg == "--flight" {
            kind = arg;
            continue;
        }
        let path = Path::new(arg);
        let Ok(bytes) = std::fs::read(path) else {
            eprintln!("seeds: cannot read {arg}; skipped");
            continue;
        };
        let name = path
            .iter()
            .rev()
            .take(2)
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("-");
        // browser_decode: streams and files alike (decode() tells them apart),
        // read with skipUnsupported (most conformance files hold types the
        // browser cannot decode), with a projection too, in 64-byte chunks.
        for flags in BROWSER_FLAGS.iter().filter(|_| kind != "--flight") {
            let mut seed = vec![*flags, 0x10];
            seed.extend_from_slice(&bytes);
            write(dir, "browser_decode", &format!("{name}-{flags}"), &seed);
            n += 1;
        }
        match kind {
            "--streams" => {
                let mut seed = vec![0u8];
                seed.extend_from_slice(&bytes);
                write(dir, "ipc_stream", &name, &seed);
                if let Some(messages) = try_ipc_messages(&bytes) {
                    let mut ws = vec![0u8];
                    for m in messages {
                        if m.len() > usize::from(u16::MAX) {
                            break;
                        }
                        ws.extend_from_slice(&(m.len() as u16).to_le_bytes());
                        ws.extend_from_slice(m);
                    }
                    write(dir, "ws_message", &name, &ws);
                    n += 1;
                }
            }
            "--files" => write(dir, "ipc_file", &name, &bytes),
            // Captured Flight DoGet bodies (tests/data/flight/*.grpc): whole, and in
            // chunks of 5 and 13 bytes.
            "--flight" => {
                for (i, plan) in FLIGHT_PLANS.iter().enumerate() {
                    let mut seed = plan.to_vec();
                    seed.extend_from_slice(&bytes);
                    write(dir, "flight_data", &format!("{name}-{i}"), &seed);
                    n += 1;
                }
            }
            _ => {
                eprintln!("seeds: {arg}: say --streams or --files first");
                std::process::exit(2);
            }
        }
        n += 1;
    }

    for (name, table) in tables() {
        let schema = Schema::from_table(&table);
        let two = [table.clone(), table.clone()];
        for (cname, compression) in [
            ("none", Compression::None),
            ("lz4", Compression::Lz4Frame),
            ("zstd", Compression::Zstd),
        ] {
            let options = WriteOptions {
                compression,
                ..WriteOptions::default()
            };
            let stream = write_stream(&schema, &two, &options).expect("write a stream");
            // ipc_stream: one byte of chunk plan (none: one chunk) / 3 chunk sizes.
            let mut whole = vec![0u8];
            whole.extend_from_slice(&stream);
            write(dir, "ipc_stream", &format!("{name}-{cname}"), &whole);
            let mut chunked = vec![3u8, 1, 7, 64];
            chunked.extend_from_slice(&stream);
            write(
                dir,
                "ipc_stream",
                &format!("{name}-{cname}-chunked"),
                &chunked,
            );
            // ws_message: mode byte, then each IPC message behind a 2-byte length.
            for mode in [0u8, 0x61] {
                let mut ws = vec![mode];
                for m in ipc_messages(&stream) {
                    ws.extend_from_slice(&(m.len() as u16).to_le_bytes());
                    ws.extend_from_slice(m);
                }
                write(dir, "ws_message", &format!("{name}-{cname}-{mode}"), &ws);
            }
            // flight_data: the stream as FlightData messages (the second with
            // app_metadata), behind a chunk plan.
            let mut grpc = Vec::new();
            for (i, m) in ipc_messages(&stream).iter().enumerate() {
                let (header, body) = split_encapsulated(m).expect("split our message");
                if header.is_empty() {
                    continue; // the end-of-stream marker: Flight sends none
                }
                let metadata: &[u8] = if i == 1 { b"meta" } else { b"" };
                grpc.extend(
                    flight_data_head(None, &m[header], metadata, body.len()).expect("a head"),
                );
                grpc.extend_from_slice(&m[body]);
            }
            for (i, plan) in FLIGHT_PLANS.iter().enumerate() {
                let mut seed = plan.to_vec();
                seed.extend_from_slice(&grpc);
                write(dir, "flight_data", &format!("{name}-{cname}-{i}"), &seed);
                n += 1;
            }
            let file = write_file(&schema, &two, &options).expect("write a file");
            write(dir, "ipc_file", &format!("{name}-{cname}"), &file);
            n += 5;
            for (what, bytes) in [("stream", &stream), ("file", &file)] {
                for flags in BROWSER_FLAGS {
                    let mut seed = vec![flags, 0x10];
                    seed.extend_from_slice(bytes);
                    write(
                        dir,
                        "browser_decode",
                        &format!("{name}-{cname}-{what}-{flags}"),
                        &seed,
                    );
                    n += 1;
                }
            }
        }
        // flight_schema: the schema as FlightInfo.schema carries it.
        write(
            dir,
            "flight_schema",
            name,
            &schema_bytes(&schema).expect("schema bytes"),
        );
        n += 1;
        // parquet: every codec, with and without dictionaries, 1 or 2 row groups.
        for (cname, compression) in [
            ("none", ParquetCompression::None),
            ("snappy", ParquetCompression::Snappy),
            ("zstd", ParquetCompression::Zstd(1)),
        ] {
            for dictionary in [true, false] {
                let options = ParquetWriteOptions {
                    compression,
                    dictionary,
                    row_group_rows: 4,
                    ..ParquetWriteOptions::default()
                };
                let mut w =
                    ParquetWriter::new(Vec::new(), &schema, options).expect("a parquet writer");
                w.write(&table).expect("write parquet");
                w.write(&table).expect("write parquet");
                let bytes = w.finish().expect("finish parquet");
                write(
                    dir,
                    "parquet",
                    &format!(
                        "{name}-{cname}-{}",
                        if dictionary { "dict" } else { "plain" }
                    ),
                    &bytes,
                );
                n += 1;
            }
        }
        // csv: two option bytes (see fuzz_targets/csv.rs), one plan byte, the text.
        let text = write_csv(&schema, &two, &CsvWriteOptions::default()).expect("write csv");
        for (i, opts) in [[0u8, 0], [1, 0], [2, 0], [0x40 | 0x80, 0], [1, 0x83]]
            .iter()
            .enumerate()
        {
            let mut seed = opts.to_vec();
            seed.push(0);
            if opts[1] & 0x80 != 0 {
                // A given schema takes its column types from the text's first bytes.
                seed.splice(2..2, [0x02u8, 0, 1]);
            }
            seed.extend_from_slice(&text);
            write(dir, "csv", &format!("{name}-{i}"), &seed);
            write_pieces(dir, &format!("{name}-{i}"), &seed);
            n += 4;
        }
    }
    // Hand-written CSV: quotes, CRLF, ragged rows, dates and times, a BOM.
    for (i, text) in [
        &b"a,b,c\n1,2.5,x\n3,,\"y\"\"z\"\n"[..],
        b"\xef\xbb\xbfa;b\r\n2024-01-02;12:30:00\r\n2024-02-03;01:02:03.5\r\n",
        b"a,b\n1,2,3\n4\n\"open,5\n",
        b"a,b,c,d\n2024-01-01T10:00:00,true,-1e5,NaN\n2024-01-01 10:00:00Z,False,1,\n",
    ]
    .iter()
    .enumerate()
    {
        for policy in 0u8..3 {
            let delimiter = if text.contains(&b';') { 1u8 << 3 } else { 0 };
            let mut seed = vec![policy | delimiter, 0, 0];
            seed.extend_from_slice(text);
            write(dir, "csv", &format!("text-{i}-{policy}"), &seed);
            write_pieces(dir, &format!("text-{i}-{policy}"), &seed);
            n += 4;
        }
    }
    // tlv: a plan byte, then frames (the empty value and a long one too).
    let mut frames = Vec::new();
    for (tag, value) in [(1u8, &b"hello"[..]), (2, b""), (255, &[7u8; 300][..])] {
        encode_tlv(tag, value, &mut frames).expect("encode tlv");
    }
    for (i, plan) in [&[0u8][..], &[2, 1, 3], &[1, 255]].iter().enumerate() {
        let mut seed = plan.to_vec();
        seed.extend_from_slice(&frames);
        write(dir, "tlv", &format!("{i}"), &seed);
        n += 1;
    }
    // decompress: a mode byte (codec, budget), then one wire buffer.
    let data: Vec<u8> = (0..4000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
    for (codec, bit) in [(Compression::Lz4Frame, 0u8), (Compression::Zstd, 1)] {
        let wire = compress_like_the_writer(codec, &data);
        let mut seed = vec![bit | (12 << 1)];
        seed.extend_from_slice(&wire);
        write(dir, "decompress", &format!("{codec:?}"), &seed);
        n += 1;
    }
    eprintln!("seeds: wrote {n} files under {}", dir.display());
}

/// One compressed buffer as the IPC writer emits it: length prefix + frame.
fn compress_like_the_writer(codec: Compression, data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as i64).to_le_bytes().to_vec();
    match codec {
        Compression::Lz4Frame => {
            use std::io::Write;
            let mut enc = lz4_flex::frame::FrameEncoder::new(out);
            enc.write_all(data).expect("lz4");
            out = enc.finish().expect("lz4");
        }
        _ => out.extend_from_slice(&zstd::bulk::compress(data, 1).expect("zstd")),
    }
    out
}

/// The encapsulated messages of one of our own streams.
fn ipc_messages(stream: &[u8]) -> Vec<&[u8]> {
    try_ipc_messages(stream).expect("decode our own stream")
}

/// The encapsulated messages of a stream, found by decoding it a byte at a
/// time; `None` if it does not decode to its end (the messages before a
/// failure are of no use as a WebSocket seed).
fn try_ipc_messages(stream: &[u8]) -> Option<Vec<&[u8]>> {
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..stream.len() {
        dec.push(&stream[i..i + 1]).ok()?;
        if dec.is_at_message_boundary() {
            out.push(&stream[start..=i]);
            start = i + 1;
        }
    }
    (start == stream.len()).then_some(out)
}
