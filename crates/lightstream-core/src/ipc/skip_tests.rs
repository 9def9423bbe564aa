//! Tests of the skipping walk (`ReadOptions::skip_unsupported`, projections)
//! on hand-built messages: the field nodes, buffers and variadic counts of
//! columns that are not decoded are stepped over exactly, and hostile counts
//! are typed errors. (Streams written by pyarrow are tested in `tests/`.)

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

use super::{IpcStreamDecoder, Projection, ReadOptions, read_ipc};
use crate::error::{ErrorKind, Result};
use crate::fbs;
use crate::framing::Decoded;

/// A field of a hand-built schema.
enum Ty {
    Int64,
    Int32,
    Utf8,
    Utf8View,
    List(Box<F>),
}

struct F {
    name: &'static str,
    ty: Ty,
    /// Dictionary id (Int32 keys) when dictionary-encoded.
    dict: Option<i64>,
}

fn f(name: &'static str, ty: Ty) -> F {
    F {
        name,
        ty,
        dict: None,
    }
}

fn field<'b>(fbb: &mut FlatBufferBuilder<'b>, spec: &F) -> WIPOffset<fbs::Field<'b>> {
    let children: Vec<_> = match &spec.ty {
        Ty::List(c) => vec![field(fbb, c)],
        _ => Vec::new(),
    };
    let children = fbb.create_vector(&children);
    let (type_type, type_): (fbs::Type, WIPOffset<UnionWIPOffset>) = match &spec.ty {
        Ty::Int64 | Ty::Int32 => {
            let bits = if matches!(spec.ty, Ty::Int64) { 64 } else { 32 };
            let t = fbs::Int::create(
                fbb,
                &fbs::IntArgs {
                    bitWidth: bits,
                    is_signed: true,
                },
            );
            (fbs::Type::Int, t.as_union_value())
        }
        Ty::Utf8 => (
            fbs::Type::Utf8,
            fbs::Utf8::create(fbb, &fbs::Utf8Args {}).as_union_value(),
        ),
        Ty::Utf8View => (
            fbs::Type::Utf8View,
            fbs::Utf8View::create(fbb, &fbs::Utf8ViewArgs {}).as_union_value(),
        ),
        Ty::List(_) => (
            fbs::Type::List,
            fbs::List::create(fbb, &fbs::ListArgs {}).as_union_value(),
        ),
    };
    let dictionary = spec.dict.map(|id| {
        let index = fbs::Int::create(
            fbb,
            &fbs::IntArgs {
                bitWidth: 32,
                is_signed: true,
            },
        );
        fbs::DictionaryEncoding::create(
            fbb,
            &fbs::DictionaryEncodingArgs {
                id,
                indexType: Some(index),
                isOrdered: false,
                dictionaryKind: fbs::DictionaryKind::DenseArray,
            },
        )
    });
    let name = fbb.create_string(spec.name);
    fbs::Field::create(
        fbb,
        &fbs::FieldArgs {
            name: Some(name),
            nullable: true,
            type_type,
            type_: Some(type_),
            dictionary,
            children: Some(children),
            custom_metadata: None,
        },
    )
}

/// One framed message: continuation marker, length, metadata padded to 8, body.
fn frame(
    header_type: fbs::MessageHeader,
    build: impl for<'b> FnOnce(&mut FlatBufferBuilder<'b>) -> WIPOffset<UnionWIPOffset>,
    body: &[u8],
) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let header = build(&mut fbb);
    let m = fbs::Message::create(
        &mut fbb,
        &fbs::MessageArgs {
            version: fbs::MetadataVersion::V5,
            header_type,
            header: Some(header),
            bodyLength: body.len() as i64,
            custom_metadata: None,
        },
    );
    fbb.finish(m, None);
    let meta = fbb.finished_data();
    let padded = meta.len().div_ceil(8) * 8;
    let mut out = Vec::new();
    out.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    out.extend_from_slice(&(padded as u32).to_le_bytes());
    out.extend_from_slice(meta);
    out.resize(8 + padded, 0);
    out.extend_from_slice(body);
    out
}

fn schema(fields: &[F]) -> Vec<u8> {
    frame(
        fbs::MessageHeader::Schema,
        |fbb| {
            let fs: Vec<_> = fields.iter().map(|s| field(fbb, s)).collect();
            let fs = fbb.create_vector(&fs);
            fbs::Schema::create(
                fbb,
                &fbs::SchemaArgs {
                    endianness: fbs::Endianness::Little,
                    fields: Some(fs),
                    custom_metadata: None,
                    features: None,
                },
            )
            .as_union_value()
        },
        &[],
    )
}

/// (offset, length) of buffers, or (length, null count) of field nodes.
type Pairs<'a> = &'a [(i64, i64)];

/// What a hand-built record batch says about its body.
struct Batch<'a> {
    rows: i64,
    nodes: &'a [(i64, i64)],
    buffers: &'a [(i64, i64)],
    variadic: Option<&'a [i64]>,
}

/// Whether [`record_batch`] marks the batch's buffers LZ4-compressed.
#[derive(Clone, Copy, PartialEq)]
enum Body {
    Plain,
    Lz4,
}

fn record_batch<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    b: &Batch<'_>,
    body: Body,
) -> WIPOffset<fbs::RecordBatch<'b>> {
    let nodes: Vec<_> = b
        .nodes
        .iter()
        .map(|&(l, n)| fbs::FieldNode::new(l, n))
        .collect();
    let buffers: Vec<_> = b
        .buffers
        .iter()
        .map(|&(o, l)| fbs::Buffer::new(o, l))
        .collect();
    let nodes = fbb.create_vector(&nodes);
    let buffers = fbb.create_vector(&buffers);
    let variadic = b.variadic.map(|v| fbb.create_vector(v));
    let compression = (body == Body::Lz4).then(|| {
        fbs::BodyCompression::create(
            fbb,
            &fbs::BodyCompressionArgs {
                codec: fbs::CompressionType::LZ4_FRAME,
                method: fbs::BodyCompressionMethod::BUFFER,
            },
        )
    });
    fbs::RecordBatch::create(
        fbb,
        &fbs::RecordBatchArgs {
            length: b.rows,
            nodes: Some(nodes),
            buffers: Some(buffers),
            compression,
            variadicBufferCounts: variadic,
        },
    )
}

fn batch(b: &Batch<'_>, body: &[u8]) -> Vec<u8> {
    batch_with(b, body, Body::Plain)
}

fn batch_with(b: &Batch<'_>, body: &[u8], compression: Body) -> Vec<u8> {
    frame(
        fbs::MessageHeader::RecordBatch,
        |fbb| record_batch(fbb, b, compression).as_union_value(),
        body,
    )
}

fn dictionary(id: i64, b: &Batch<'_>, body: &[u8]) -> Vec<u8> {
    frame(
        fbs::MessageHeader::DictionaryBatch,
        |fbb| {
            let data = record_batch(fbb, b, Body::Plain);
            fbs::DictionaryBatch::create(
                fbb,
                &fbs::DictionaryBatchArgs {
                    id,
                    data: Some(data),
                    isDelta: false,
                },
            )
            .as_union_value()
        },
        body,
    )
}

fn stream(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = messages.concat();
    out.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    out
}

fn skipping() -> ReadOptions {
    ReadOptions {
        skip_unsupported: true,
        ..ReadOptions::default()
    }
}

fn i64s(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The column `n` of every table read, with `options`.
fn n_values(bytes: &[u8], options: ReadOptions) -> Result<Vec<i64>> {
    let read = read_ipc(bytes, options.clone())?;
    // The push decoder, fed one byte at a time, agrees.
    let mut d = IpcStreamDecoder::new(options);
    let mut pushed = Vec::new();
    for byte in bytes.chunks(1) {
        let mut chunk = byte;
        while let Decoded::Frame { frame, consumed } = d.push(chunk)? {
            if let super::StreamItem::Table(t) = frame {
                pushed.push(t);
            }
            chunk = &chunk[consumed..];
        }
    }
    assert_eq!(d.skipped(), &read.skipped[..]);
    let mut out = Vec::new();
    for (t, p) in read.tables.iter().zip(&pushed) {
        assert_eq!(t.cols, p.cols);
        let c = t
            .cols
            .iter()
            .find(|c| c.field.name == "n")
            .expect("column n");
        out.extend_from_slice(c.array.num().i64().data.as_slice());
    }
    Ok(out)
}

/// A Utf8View column `v` (2 rows: views, one variadic data buffer) before an
/// Int64 column `n` = [7, 9], with the batch's variadic counts `variadic`.
fn view_then_int(variadic: Option<&[i64]>) -> Vec<u8> {
    let mut body = vec![0u8; 40];
    body.extend(i64s(&[7, 9]));
    let b = Batch {
        rows: 2,
        nodes: &[(2, 0), (2, 0)],
        // v: validity, views (2 x 16), one data buffer; n: validity, values.
        buffers: &[(0, 0), (0, 32), (32, 8), (40, 0), (40, 16)],
        variadic,
    };
    stream(&[
        schema(&[f("v", Ty::Utf8View), f("n", Ty::Int64)]),
        batch(&b, &body),
    ])
}

#[test]
fn a_view_column_is_skipped_with_its_variadic_buffers() {
    let bytes = view_then_int(Some(&[1]));
    assert_eq!(n_values(&bytes, skipping()).unwrap(), [7, 9]);
    let read = read_ipc(&bytes, skipping()).unwrap();
    let names: Vec<_> = read.schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["n"]);
    let skipped: Vec<_> = read
        .skipped
        .iter()
        .map(|f| (f.name.as_str(), f.arrow_type.as_str()))
        .collect();
    assert_eq!(skipped, [("v", "Utf8View")]);
    // `Projection::Supported` is the same thing.
    let supported = ReadOptions {
        projection: Some(Projection::Supported),
        ..ReadOptions::default()
    };
    assert_eq!(read_ipc(&bytes, supported).unwrap().skipped, read.skipped);
    // A projection that names only `n` skips `v` too, but reports nothing:
    // it was left out on purpose.
    let named = ReadOptions {
        projection: Some(Projection::Names(vec!["n".into()])),
        ..ReadOptions::default()
    };
    let read = read_ipc(&bytes, named).unwrap();
    assert!(read.skipped.is_empty());
    assert_eq!(
        read.tables[0].cols[0].array.num().i64().data.as_slice(),
        [7, 9]
    );
}

#[test]
fn without_the_option_an_unsupported_column_is_an_error_naming_it() {
    let e = read_ipc(&view_then_int(Some(&[1])), ReadOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.location().field.as_deref(), Some("v"));
    assert_eq!(e.location().arrow_type.as_deref(), Some("Utf8View"));
    assert!(e.message().contains("skip_unsupported"), "{e}");
    // Naming it in a projection is the same error, option or not.
    for skip_unsupported in [false, true] {
        let named = ReadOptions {
            projection: Some(Projection::Names(vec!["n".into(), "v".into()])),
            skip_unsupported,
            ..ReadOptions::default()
        };
        let r = read_ipc(&view_then_int(Some(&[1])), named);
        if skip_unsupported {
            // With the option, the named unsupported column is skipped and reported.
            let r = r.unwrap();
            assert_eq!(r.schema.fields.len(), 1);
            assert_eq!(r.skipped[0].name, "v");
        } else {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Unsupported);
        }
    }
}

#[test]
fn hostile_variadic_counts_are_malformed() {
    let huge = 1i64 << 40;
    for variadic in [
        None,
        Some(&[][..]),
        Some(&[-1][..]),
        Some(&[huge][..]),
        Some(&[i64::MAX][..]),
        Some(&[i64::MIN][..]),
        // Three data buffers: `n` would then have too few.
        Some(&[3][..]),
    ] {
        let e = read_ipc(&view_then_int(variadic), skipping()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{variadic:?}: {e}");
    }
    // Zero data buffers: the walk then gives `n` the wrong buffers, which is
    // caught as a count mismatch at the end of the batch, not misread.
    let e = read_ipc(&view_then_int(Some(&[0])), skipping()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
}

/// A `List<Int32>` column `l` before `n` = [5, 6].
fn list_then_int(nodes: &[(i64, i64)], buffers: &[(i64, i64)]) -> Vec<u8> {
    let mut body = vec![0u8; 32];
    body.extend(i64s(&[5, 6]));
    let b = Batch {
        rows: 2,
        nodes,
        buffers,
        variadic: None,
    };
    stream(&[
        schema(&[
            f("l", Ty::List(Box::new(f("item", Ty::Int32)))),
            f("n", Ty::Int64),
        ]),
        batch(&b, &body),
    ])
}

#[test]
fn a_list_column_is_skipped_node_by_node() {
    let nodes = [(2, 0), (3, 0), (2, 0)];
    // l: validity, offsets; item: validity, values; n: validity, values.
    let buffers = [(0, 0), (0, 12), (16, 0), (16, 12), (32, 0), (32, 16)];
    let bytes = list_then_int(&nodes, &buffers);
    assert_eq!(n_values(&bytes, skipping()).unwrap(), [5, 6]);
    let read = read_ipc(&bytes, skipping()).unwrap();
    assert_eq!(read.skipped[0].arrow_type, "List<Int32>");

    // Hostile: too few nodes, too few buffers, a negative length, a buffer
    // outside the body (of `n`, which is read).
    let cases: [(Pairs<'_>, Pairs<'_>); 4] = [
        (&nodes[..2], &buffers),
        (&nodes, &buffers[..3]),
        (&[(2, 0), (3, 0), (-2, 0)], &buffers),
        (
            &nodes,
            &[(0, 0), (0, 12), (16, 0), (16, 12), (32, 0), (32, 1 << 40)],
        ),
    ];
    for (nodes, buffers) in cases {
        let e = read_ipc(&list_then_int(nodes, buffers), skipping()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
    }
}

/// A dictionary batch whose string offsets are garbage, for a dictionary
/// column `d`, then a batch of `d` and `n` = [3, 4].
fn bad_dictionary_stream(nested: bool) -> Vec<u8> {
    let d = if nested {
        f(
            "d",
            Ty::List(Box::new(F {
                name: "item",
                ty: Ty::Utf8,
                dict: Some(7),
            })),
        )
    } else {
        F {
            name: "d",
            ty: Ty::Utf8,
            dict: Some(7),
        }
    };
    // Offsets 0, 100, 2 (decreasing, past the data): invalid if decoded.
    let dict_body: Vec<u8> = [0i32, 100, 2]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain([b'a', b'b', 0, 0])
        .collect();
    let dict = dictionary(
        7,
        &Batch {
            rows: 2,
            nodes: &[(2, 0)],
            buffers: &[(0, 0), (0, 12), (12, 2)],
            variadic: None,
        },
        &dict_body,
    );
    let mut body = vec![0u8; 16];
    body.extend(i64s(&[3, 4]));
    let (nodes, buffers): (Pairs<'_>, Pairs<'_>) = if nested {
        // d: validity, offsets (0, 0, 0); item keys: validity, keys (none).
        (
            &[(2, 0), (0, 0), (2, 0)],
            &[(0, 0), (0, 12), (16, 0), (16, 0), (16, 0), (16, 16)],
        )
    } else {
        (&[(2, 0), (2, 0)], &[(0, 0), (0, 8), (16, 0), (16, 16)])
    };
    let b = Batch {
        rows: 2,
        nodes,
        buffers,
        variadic: None,
    };
    stream(&[schema(&[d, f("n", Ty::Int64)]), dict, batch(&b, &body)])
}

#[test]
fn dictionaries_of_columns_not_read_are_not_decoded() {
    let only_n = ReadOptions {
        projection: Some(Projection::Names(vec!["n".into()])),
        ..ReadOptions::default()
    };
    // Read, the dictionary's bad offsets are an error; left out, it is skipped.
    let bytes = bad_dictionary_stream(false);
    let e = read_ipc(&bytes, ReadOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    assert_eq!(n_values(&bytes, only_n).unwrap(), [3, 4]);
    // A dictionary inside an unsupported column (a list of dictionary
    // strings) belongs to that column: skipped with it.
    let bytes = bad_dictionary_stream(true);
    assert_eq!(n_values(&bytes, skipping()).unwrap(), [3, 4]);
    let read = read_ipc(&bytes, skipping()).unwrap();
    assert_eq!(read.skipped[0].arrow_type, "List<Dictionary<Int32, Utf8>>");
}

#[test]
fn compressed_buffers_of_skipped_columns_are_not_decompressed() {
    // `v`'s buffers are not LZ4 frames (decompressing them fails); `n`'s
    // values are stored raw (length prefix -1), as the format allows.
    let mut body = Vec::new();
    body.extend(1_000i64.to_le_bytes()); // v views: claims 1000 bytes, then junk
    body.extend([0xAB; 24]);
    body.extend(50i64.to_le_bytes()); // v data buffer: junk as well
    body.extend([0xCD; 8]);
    body.extend((-1i64).to_le_bytes()); // n values, uncompressed
    body.extend(i64s(&[7, 9]));
    let b = Batch {
        rows: 2,
        nodes: &[(2, 0), (2, 0)],
        buffers: &[(0, 0), (0, 32), (32, 16), (48, 0), (48, 24)],
        variadic: Some(&[1]),
    };
    let bytes = stream(&[
        schema(&[f("v", Ty::Utf8View), f("n", Ty::Int64)]),
        batch_with(&b, &body, Body::Lz4),
    ]);
    assert_eq!(n_values(&bytes, skipping()).unwrap(), [7, 9]);
}
