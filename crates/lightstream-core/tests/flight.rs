//! The Flight data plane of the core (`lightstream_core::flight`, feature
//! `flight`): FlightData gRPC bodies in any chunking -> `FlightToIpc` ->
//! `IpcStreamDriver` -> tables equal to those sent; our FlightData encoding
//! against prost's (an implementation nobody here wrote) both ways; every
//! malformed body a typed error naming the message and field; the schema
//! bytes of `FlightInfo`/`SchemaResult`, pyarrow's included; and, when
//! present, pyarrow DoGet bodies captured off the wire (`tests/data/flight`).

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::BufMut;
use lightstream_core::flight::{
    FlightSide, FlightToIpc, GRPC_PREFIX_LEN, flight_data_head, grpc_prefix, read_schema_bytes,
    schema_bytes, split_encapsulated,
};
use lightstream_core::minarrow::{Table, fa_bool, fa_f64, fa_i64, fa_str32, tbl};
use lightstream_core::{
    ByteInput, Compression, ErrorKind, IpcStreamDriver, IpcStreamEncoder, ReadOptions, ReadTarget,
    Schema, StreamItem, WriteOptions,
};
use proptest::prelude::*;
use prost::Message as _;

/// Flight.proto's FlightDescriptor, written out for prost.
#[derive(Clone, PartialEq, prost::Message)]
struct FlightDescriptor {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(bytes = "vec", tag = "2")]
    cmd: Vec<u8>,
    #[prost(string, repeated, tag = "3")]
    path: Vec<String>,
}

/// Flight.proto's FlightData, written out for prost: the oracle.
#[derive(Clone, PartialEq, prost::Message)]
struct FlightData {
    #[prost(message, optional, tag = "1")]
    flight_descriptor: Option<FlightDescriptor>,
    #[prost(bytes = "vec", tag = "2")]
    data_header: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    app_metadata: Vec<u8>,
    #[prost(bytes = "vec", tag = "1000")]
    data_body: Vec<u8>,
}

/// The encapsulated messages of a stream of `tables`, end-of-stream marker left out.
fn ipc_messages(tables: &[Table], options: WriteOptions) -> Vec<Vec<u8>> {
    let schema = Arc::new(Schema::from_table(&tables[0]));
    let mut encoder = IpcStreamEncoder::new(schema, options).unwrap();
    let mut out = vec![encoder.schema_message().unwrap().to_vec()];
    for t in tables {
        out.extend(encoder.encode_table(t).unwrap().iter().map(|m| m.to_vec()));
    }
    out
}

/// One gRPC message (prefix + protobuf) of prost's encoding of `data`.
fn prost_grpc(data: &FlightData) -> Vec<u8> {
    let bytes = data.encode_to_vec();
    let mut out = grpc_prefix(bytes.len() as u32).to_vec();
    out.extend(bytes);
    out
}

/// A FlightData of one IPC message, as our send side builds it.
fn our_grpc(message: &[u8], descriptor: Option<&[u8]>, app_metadata: &[u8]) -> Vec<u8> {
    let (header, body) = split_encapsulated(message).unwrap();
    let mut out = flight_data_head(descriptor, &message[header], app_metadata, body.len()).unwrap();
    out.extend_from_slice(&message[body]);
    out
}

/// A gRPC body of one FlightData per message, as our send side builds it.
fn our_body(messages: &[Vec<u8>]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| our_grpc(m, None, b""))
        .collect()
}

/// A gRPC body in the given chunks, through a `FlightToIpc`, as the shell's
/// input: the IPC driver asks for bytes where it wants them (a body's
/// aligned memory, or its scratch buffer) and the translator writes there.
struct FlightInput<'a> {
    chunks: Vec<&'a [u8]>,
    next: usize,
    at: usize,
    flight: FlightToIpc,
    status_ok: bool,
    ended: bool,
}

impl<'a> FlightInput<'a> {
    fn new(chunks: Vec<&'a [u8]>, max: u64) -> Self {
        FlightInput {
            chunks,
            next: 0,
            at: 0,
            flight: FlightToIpc::new(max),
            status_ok: true,
            ended: false,
        }
    }
}

impl ByteInput for FlightInput<'_> {
    type Error = lightstream_core::Error;

    fn poll_read(
        &mut self,
        _cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        while target.written() == 0 && target.remaining_mut() > 0 {
            let Some(chunk) = self.chunks.get(self.next) else {
                if !self.ended {
                    self.ended = true;
                    if let Err(e) = self.flight.end(self.status_ok) {
                        return Poll::Ready(Err(e));
                    }
                }
                self.flight.drain(target);
                break;
            };
            // Outside a body, no more than the decoder wants: body bytes
            // then go straight into the body's memory, never via scratch.
            let wanted = if target.is_body() {
                usize::MAX
            } else {
                target.wanted()
            };
            match self
                .flight
                .translate(&chunk[self.at..], &mut (&mut *target).limit(wanted))
            {
                Ok(n) => self.at += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.at == chunk.len() {
                (self.next, self.at) = (self.next + 1, 0);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Reads the IPC stream `input` translates; also the driver's in-place bytes.
fn read_flight(input: &mut FlightInput<'_>) -> lightstream_core::Result<(Vec<Table>, u64)> {
    let mut driver = IpcStreamDriver::new(ReadOptions::default());
    let mut tables = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match driver.poll_next(&mut cx, input) {
            Poll::Ready(Ok(Some(StreamItem::Table(t)))) => tables.push(t),
            Poll::Ready(Ok(Some(StreamItem::Schema(_)))) => {}
            Poll::Ready(Ok(Some(StreamItem::End) | None)) => break,
            Poll::Ready(Err(lightstream_core::DriveError::Decode(e)))
            | Poll::Ready(Err(lightstream_core::DriveError::Input(e))) => return Err(e),
            Poll::Pending => unreachable!("memory input"),
        }
    }
    driver.decoder().finish()?;
    Ok((tables, driver.bytes_read_in_place()))
}

/// `bytes` cut at the sizes in `sizes` (cycled; 0 taken as 1).
fn chunks<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for k in 0.. {
        if at >= bytes.len() {
            break;
        }
        let n = sizes[k % sizes.len()].max(1).min(bytes.len() - at);
        out.push(&bytes[at..at + n]);
        at += n;
    }
    out
}

/// Translates all of `bytes` into `out` (calls stop before each body).
fn translate_into(
    f: &mut FlightToIpc,
    mut bytes: &[u8],
    out: &mut Vec<u8>,
) -> lightstream_core::Result<()> {
    while !bytes.is_empty() {
        let used = f.translate(bytes, out)?;
        assert!(used > 0, "no progress with room to write");
        bytes = &bytes[used..];
    }
    Ok(())
}

/// Translates all of `bytes`, output dropped.
fn translate_whole(f: &mut FlightToIpc, bytes: &[u8]) {
    translate_into(f, bytes, &mut Vec::new()).unwrap();
}

/// Translates a whole body into a Vec (no IPC decoding).
fn translate_all(body: &[u8], chunk: usize) -> lightstream_core::Result<(Vec<u8>, FlightToIpc)> {
    let mut f = FlightToIpc::new(1 << 24);
    let mut out = Vec::new();
    for c in body.chunks(chunk.max(1)) {
        translate_into(&mut f, c, &mut out)?;
    }
    f.end(true)?;
    f.drain(&mut out);
    Ok((out, f))
}

fn sample_tables() -> Vec<Table> {
    vec![
        tbl!(
            "t",
            fa_i64!("id", 1, 2, 3),
            fa_str32!("name", "a", "bb", "ccc"),
            fa_f64!("px", 1.5, -2.0, 3.25)
        ),
        tbl!(
            "t",
            fa_i64!("id", 4, 5),
            fa_str32!("name", "dddd", ""),
            fa_f64!("px", 0.0, 1e300)
        ),
    ]
}

fn table_strategy() -> impl Strategy<Value = Vec<Table>> {
    let rows = prop::collection::vec(
        (
            any::<i64>(),
            "[a-z]{0,12}",
            any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
            any::<bool>(),
        ),
        0..40,
    );
    prop::collection::vec(rows, 1..4).prop_map(|batches| {
        batches
            .into_iter()
            .map(|rows| {
                let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
                let px: Vec<f64> = rows.iter().map(|r| r.2).collect();
                let ok: Vec<bool> = rows.iter().map(|r| r.3).collect();
                tbl!(
                    "t",
                    fa_i64!("id", @slice &ids[..]),
                    fa_str32!("name", @slice &names[..]),
                    fa_f64!("px", @slice &px[..]),
                    fa_bool!("ok", @slice &ok[..])
                )
            })
            .collect()
    })
}

fn compression_strategy() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Lz4Frame),
        Just(Compression::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Our FlightData encoding decodes with prost to the same fields, and is
    /// byte for byte what prost writes for them.
    #[test]
    fn our_flight_data_is_prosts(
        tables in table_strategy(),
        compression in compression_strategy(),
        align64 in any::<bool>(),
        metadata in prop::collection::vec(any::<u8>(), 0..20),
        path in prop::collection::vec("[a-z]{1,6}", 0..3),
    ) {
        let options = WriteOptions { compression, alignment: if align64 { 64 } else { 8 }, ..Default::default() };
        let descriptor = FlightDescriptor { r#type: 1, cmd: Vec::new(), path };
        let descriptor_bytes = descriptor.encode_to_vec();
        for (i, message) in ipc_messages(&tables, options).iter().enumerate() {
            let with_descriptor = i == 0;
            let ours = our_grpc(message, with_descriptor.then_some(&descriptor_bytes[..]), &metadata);
            prop_assert_eq!(ours[0], 0);
            let len = u32::from_be_bytes(ours[1..5].try_into().unwrap()) as usize;
            prop_assert_eq!(len, ours.len() - GRPC_PREFIX_LEN);
            let decoded = FlightData::decode(&ours[GRPC_PREFIX_LEN..]).unwrap();
            let (header, body) = split_encapsulated(message).unwrap();
            let expected = FlightData {
                flight_descriptor: with_descriptor.then(|| descriptor.clone()),
                data_header: message[header].to_vec(),
                app_metadata: metadata.clone(),
                data_body: message[body].to_vec(),
            };
            prop_assert_eq!(&decoded, &expected);
            prop_assert_eq!(&ours, &prost_grpc(&expected));
        }
    }

    /// prost's FlightData, cut anywhere, through FlightToIpc into the IPC
    /// driver: the tables sent, every body read straight into its aligned
    /// memory, and each app_metadata with its message's index.
    #[test]
    fn prost_flight_data_reads_back_in_any_chunking(
        tables in table_strategy(),
        compression in compression_strategy(),
        sizes in prop::collection::vec(1usize..200, 1..8),
        metadata_every in 1usize..4,
        align64 in any::<bool>(),
    ) {
        let alignment = if align64 { 64 } else { 8 };
        let options = WriteOptions { compression, alignment, ..Default::default() };
        let mut body = Vec::new();
        let mut body_bytes = 0;
        let mut expected_side = Vec::new();
        for (i, message) in ipc_messages(&tables, options).iter().enumerate() {
            let (header, b) = split_encapsulated(message).unwrap();
            body_bytes += b.len() as u64;
            let app_metadata = if i % metadata_every == 0 { format!("m{i}").into_bytes() } else { Vec::new() };
            if !app_metadata.is_empty() {
                expected_side.push(FlightSide::AppMetadata { message: i as u64, bytes: app_metadata.clone().into() });
            }
            body.extend(prost_grpc(&FlightData {
                flight_descriptor: None,
                data_header: message[header].to_vec(),
                app_metadata,
                data_body: message[b].to_vec(),
            }));
        }
        let mut input = FlightInput::new(chunks(&body, &sizes), 1 << 24);
        let (read, in_place) = read_flight(&mut input).unwrap();
        prop_assert_eq!(read.len(), tables.len());
        for (r, t) in read.iter().zip(&tables) {
            prop_assert_eq!(&r.cols, &t.cols);
        }
        // Every body byte went straight into its aligned memory, the one
        // copy, whether the producer aligned its buffers to 64 or to 8
        // (pyarrow's: each buffer is still aligned for its type).
        prop_assert_eq!(in_place, body_bytes);
        let side: Vec<_> = std::iter::from_fn(|| input.flight.take_side()).collect();
        prop_assert_eq!(side, expected_side);
    }
}

#[test]
fn one_byte_chunks_and_a_tiny_output_give_the_same_stream() {
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let body = our_body(&messages);
    let (whole, f) = translate_all(&body, body.len()).unwrap();
    assert_eq!(f.messages(), messages.len() as u64);
    // The stream is the IPC messages (padding aside, 64-byte aligned here)
    // followed by the end-of-stream marker.
    let mut expected: Vec<u8> = messages.concat();
    expected.extend([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    assert_eq!(whole, expected);
    // One byte of input at a time, into an output of 3 bytes at a time.
    let mut f = FlightToIpc::new(1 << 20);
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let mut small = [0u8; 3];
        let mut slot = &mut small[..];
        at += f
            .translate(&body[at..(at + 1).min(body.len())], &mut slot)
            .unwrap();
        let left = slot.len();
        out.extend_from_slice(&small[..3 - left]);
    }
    f.end(true).unwrap();
    loop {
        let mut small = [0u8; 3];
        let n = f.drain(&mut &mut small[..]);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&small[..n]);
    }
    assert!(f.is_finished());
    assert_eq!(out, whole);
}

#[test]
fn unknown_fields_of_every_skippable_wire_type_are_skipped() {
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let plain = our_body(&messages);
    // The same messages with fields 4 (varint, 10 bytes), 5 (fixed64),
    // 6 (length-delimited) and 7 (fixed32) before, between and after.
    let mut extra = Vec::new();
    for m in &messages {
        let (h, b) = split_encapsulated(m).unwrap();
        let mut pb = vec![
            0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
        ];
        pb.extend([0x12]);
        prost::encoding::encode_varint(h.len() as u64, &mut pb);
        pb.extend(&m[h]);
        pb.extend([0x29, 1, 2, 3, 4, 5, 6, 7, 8]);
        pb.extend([0x32, 3, b'x', b'y', b'z']);
        if !b.is_empty() {
            pb.extend([0xC2, 0x3E]);
            prost::encoding::encode_varint(b.len() as u64, &mut pb);
            pb.extend(&m[b]);
        }
        pb.extend([0x3D, 9, 9, 9, 9]);
        extra.extend(grpc_prefix(pb.len() as u32));
        extra.extend(pb);
    }
    for chunk in [1, 2, 7, 4096] {
        assert_eq!(
            translate_all(&extra, chunk).unwrap().0,
            translate_all(&plain, 1).unwrap().0
        );
    }
}

/// A body of `messages` prost-encoded with `edit` applied to each.
fn edited(edit: impl Fn(usize, &mut FlightData)) -> Vec<u8> {
    let messages = ipc_messages(
        &sample_tables(),
        WriteOptions {
            alignment: 8,
            ..Default::default()
        },
    );
    let mut body = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (h, b) = split_encapsulated(m).unwrap();
        let mut data = FlightData {
            flight_descriptor: None,
            data_header: m[h].to_vec(),
            app_metadata: Vec::new(),
            data_body: m[b].to_vec(),
        };
        edit(i, &mut data);
        body.extend(prost_grpc(&data));
    }
    body
}

fn tables_of(body: &[u8], chunk: usize) -> lightstream_core::Result<Vec<Table>> {
    let mut input = FlightInput::new(body.chunks(chunk).collect(), 1 << 20);
    read_flight(&mut input).map(|(t, _)| t)
}

#[test]
fn a_longer_data_body_has_its_tail_skipped_and_a_shorter_one_is_an_error() {
    let longer = edited(|_, d| d.data_body.extend([7u8; 13]));
    for chunk in [1, 5, 1000] {
        let read = tables_of(&longer, chunk).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].cols, sample_tables()[1].cols);
    }
    let shorter = edited(|i, d| {
        if i == 2 {
            d.data_body.truncate(d.data_body.len() - 8);
        }
    });
    let e = tables_of(&shorter, 3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert!(e.message().contains("fewer than the"), "{e}");
    assert_eq!(e.location().message_index, Some(2));
    assert_eq!(
        e.location().field.as_deref(),
        Some("FlightData.data_body (1000)")
    );
}

#[test]
fn a_header_whose_body_is_missing_is_an_error() {
    let body = edited(|i, d| {
        if i == 1 {
            d.data_body.clear();
        }
    });
    let e = translate_all(&body, 4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert!(e.message().contains("has no data_body"), "{e}");
    assert_eq!(e.location().message_index, Some(1));
}

#[test]
fn a_body_before_its_header_is_buffered_and_counted() {
    // prost writes fields in number order; write 1000 before 2 by hand.
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let mut body = Vec::new();
    let mut buffered = 0;
    for m in &messages {
        let (h, b) = split_encapsulated(m).unwrap();
        let mut pb = Vec::new();
        if !b.is_empty() {
            pb.extend([0xC2, 0x3E]);
            prost::encoding::encode_varint(b.len() as u64, &mut pb);
            pb.extend(&m[b.clone()]);
            buffered += b.len() as u64;
        }
        pb.extend([0x12]);
        prost::encoding::encode_varint(h.len() as u64, &mut pb);
        pb.extend(&m[h]);
        body.extend(grpc_prefix(pb.len() as u32));
        body.extend(pb);
    }
    for chunk in [1, 9, 100_000] {
        let mut input = FlightInput::new(body.chunks(chunk).collect(), 1 << 20);
        let (read, _) = read_flight(&mut input).unwrap();
        assert_eq!(read[0].cols, sample_tables()[0].cols);
        assert_eq!(read[1].cols, sample_tables()[1].cols);
        assert_eq!(input.flight.body_bytes_buffered(), buffered);
        assert!(buffered > 0);
    }
    // A body with no header at all is an error.
    let mut pb = vec![0xC2, 0x3E, 3, 1, 2, 3];
    let mut lone = grpc_prefix(pb.len() as u32).to_vec();
    lone.append(&mut pb);
    let e = translate_all(&lone, 1).unwrap_err();
    assert!(e.message().contains("no data_header"), "{e}");
}

#[test]
fn metadata_only_messages_emit_nothing_and_queue_their_side_items() {
    let descriptor = FlightDescriptor {
        r#type: 2,
        cmd: b"select 1".to_vec(),
        path: vec![],
    };
    let mut body = prost_grpc(&FlightData {
        flight_descriptor: Some(descriptor.clone()),
        app_metadata: b"hello".to_vec(),
        ..Default::default()
    });
    body.extend(edited(|_, _| {}));
    body.extend(prost_grpc(&FlightData {
        app_metadata: b"bye".to_vec(),
        ..Default::default()
    }));
    let (with, f) = translate_all(&body, 2).unwrap();
    let (without, _) = translate_all(&edited(|_, _| {}), 2).unwrap();
    assert_eq!(with, without);
    let mut f = f;
    assert_eq!(f.messages(), 5);
    assert_eq!(
        f.take_side(),
        Some(FlightSide::Descriptor {
            message: 0,
            bytes: descriptor.encode_to_vec().into()
        })
    );
    assert_eq!(
        f.take_side(),
        Some(FlightSide::AppMetadata {
            message: 0,
            bytes: "hello".into()
        })
    );
    assert_eq!(
        f.take_side(),
        Some(FlightSide::AppMetadata {
            message: 4,
            bytes: "bye".into()
        })
    );
    assert_eq!(f.take_side(), None);
}

#[test]
fn repeated_header_or_body_fields_are_errors() {
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let (h, b) = split_encapsulated(&messages[1]).unwrap();
    let field = |tag: &[u8], bytes: &[u8]| {
        let mut v = tag.to_vec();
        prost::encoding::encode_varint(bytes.len() as u64, &mut v);
        v.extend(bytes);
        v
    };
    for (twice, name) in [
        (&[0x12u8][..], "data_header (2)"),
        (&[0xC2, 0x3E][..], "data_body (1000)"),
    ] {
        let mut pb = field(&[0x12], &messages[1][h.clone()]);
        pb.extend(field(&[0xC2, 0x3E], &messages[1][b.clone()]));
        pb.extend(field(twice, b"xyz"));
        let mut body = our_grpc(&messages[0], None, b"");
        body.extend(grpc_prefix(pb.len() as u32));
        body.extend(pb);
        let e = translate_all(&body, 1).unwrap_err();
        assert!(e.message().contains("appears twice"), "{e}");
        assert_eq!(e.location().message_index, Some(1));
        assert_eq!(
            e.location().field.as_deref(),
            Some(format!("FlightData.{name}").as_str())
        );
    }
}

#[test]
fn hostile_prefixes_and_varints_are_typed_errors() {
    // Compressed gRPC message (flag 1).
    let mut f = FlightToIpc::new(1 << 20);
    let e = f
        .translate(&[1, 0, 0, 0, 4, 1, 2, 3, 4], &mut Vec::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.message()
            .starts_with("compressed gRPC messages are not supported"),
        "{e}"
    );
    // Every later call gives the same error.
    assert_eq!(f.translate(&[0], &mut Vec::new()).unwrap_err(), e);
    // A 4 GiB claim over the limit fails at the prefix, with no more input.
    let mut f = FlightToIpc::new(1 << 20);
    assert_eq!(f.translate(&[0, 0xFF, 0xFF], &mut Vec::new()).unwrap(), 3);
    let e = f.translate(&[0xFF, 0xFF], &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    assert!(
        e.message()
            .contains("a gRPC message of 4294967295 bytes is above the limit of 1048576"),
        "{e}"
    );
    // An 11-byte varint (field 4), a group (wire type 3) on field 9.
    let mut body = grpc_prefix(12).to_vec();
    body.extend([
        0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
    ]);
    let e = translate_all(&body, 1).unwrap_err();
    assert!(e.message().contains("overflows 64 bits"), "{e}");
    assert_eq!(e.location().field.as_deref(), Some("FlightData field 4"));
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let mut body = our_grpc(&messages[0], None, b"");
    body.extend(grpc_prefix(2));
    body.extend([(9 << 3) | 3, 0]);
    let e = translate_all(&body, 1).unwrap_err();
    assert!(e.message().contains("field 9 has wire type 3"), "{e}");
    assert_eq!(e.location().message_index, Some(1));
    // A field longer than its message; a message ending inside a varint.
    let e = translate_all(&[0, 0, 0, 0, 3, 0x12, 0x05, 1], 1).unwrap_err();
    assert!(
        e.message()
            .contains("declares 5 bytes, but its FlightData has 1 left"),
        "{e}"
    );
    let e = translate_all(&[0, 0, 0, 0, 2, 0x12, 0x85], 1).unwrap_err();
    assert!(e.message().contains("ends inside a field"), "{e}");
    // A data_header that is not an IPC Message flatbuffer.
    let e = translate_all(&[0, 0, 0, 0, 6, 0x12, 0x04, 1, 2, 3, 4], 1).unwrap_err();
    assert_eq!(
        e.location().field.as_deref(),
        Some("FlightData.data_header (2)")
    );
    // A wrong wire type on data_header.
    let e = translate_all(&[0, 0, 0, 0, 2, 0x10, 0x01], 1).unwrap_err();
    assert!(e.message().contains("not a length-delimited"), "{e}");
}

#[test]
fn the_end_of_the_body_is_checked() {
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let body = our_body(&messages);
    // Cut inside message 1 (past message 0): Truncated, naming it.
    let first = our_grpc(&messages[0], None, b"").len();
    for cut in [first + 2, first + 20, body.len() - 1] {
        let mut f = FlightToIpc::new(1 << 20);
        translate_whole(&mut f, &body[..cut]);
        let e = f.end(true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
        assert_eq!(
            e.location().message_index,
            Some(if cut < body.len() - 1 { 1 } else { 2 })
        );
        // Also with a failed status: a cut message is never a short valid stream.
        let mut f = FlightToIpc::new(1 << 20);
        translate_whole(&mut f, &body[..cut]);
        assert_eq!(f.end(false).unwrap_err().kind(), ErrorKind::Truncated);
    }
    // At a message boundary, a failed status adds no end-of-stream marker:
    // the IPC reader sees a stream without its end.
    let mut input = FlightInput::new(vec![&body[..first]], 1 << 20);
    input.status_ok = false;
    let mut out = Vec::new();
    input.flight.translate(&body[..first], &mut out).unwrap();
    input.flight.end(false).unwrap();
    assert_eq!(input.flight.drain(&mut out), 0);
    assert_eq!(out, messages[0]);
    // Bytes after the end are an error.
    let mut f = FlightToIpc::new(1 << 20);
    f.end(true).unwrap();
    assert!(f.translate(&[0], &mut Vec::new()).is_err());
}

#[test]
fn split_encapsulated_finds_header_and_body() {
    let messages = ipc_messages(&sample_tables(), WriteOptions::default());
    let (h, b) = split_encapsulated(&messages[1]).unwrap();
    assert_eq!(h.start, 8);
    assert_eq!(
        i32::from_le_bytes(messages[1][4..8].try_into().unwrap()) as usize,
        h.len()
    );
    assert_eq!(b.end, messages[1].len());
    assert_eq!(b.len() % 64, 0);
    let eos = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
    assert_eq!(split_encapsulated(&eos).unwrap(), (8..8, 8..8));
    assert!(split_encapsulated(&messages[1][..messages[1].len() - 1]).is_err());
}

/// `pa.schema([pa.field('id', pa.int64(), nullable=False), ('name', pa.string()),
/// ('px', pa.float64()), ('ok', pa.bool_())], metadata={'k': 'v'}).serialize()`,
/// pyarrow 26 (`tests/data/pyarrow_schema.bin`): what a pyarrow Flight server puts in
/// `FlightInfo.schema`.
const PYARROW_SCHEMA: &[u8] = include_bytes!("data/pyarrow_schema.bin");

#[test]
fn schema_bytes_read_pyarrows_and_round_trip() {
    let bytes = PYARROW_SCHEMA.to_vec();
    let schema = read_schema_bytes(&bytes).unwrap();
    let names: Vec<_> = schema
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.nullable))
        .collect();
    assert_eq!(
        names,
        [("id", false), ("name", true), ("px", true), ("ok", true)]
    );
    assert_eq!(schema.metadata.get("k").map(String::as_str), Some("v"));
    let table = &sample_tables()[0];
    assert_eq!(schema.fields[1].dtype, table.cols[1].field.dtype);
    // Ours round-trips, is padded to 8 and has no end-of-stream marker.
    let ours = schema_bytes(&schema).unwrap();
    assert_eq!(ours.len() % 8, 0);
    assert_eq!(&ours[..4], &[0xFF; 4]);
    assert_eq!(
        i32::from_le_bytes(ours[4..8].try_into().unwrap()) as usize,
        ours.len() - 8
    );
    assert_eq!(read_schema_bytes(&ours).unwrap(), schema);
    // The pre-0.15 form, padding, a trailing end-of-stream marker.
    assert_eq!(read_schema_bytes(&bytes[4..]).unwrap(), schema);
    let mut padded = bytes.clone();
    padded.extend([0; 4]);
    assert_eq!(read_schema_bytes(&padded).unwrap(), schema);
    padded.extend([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    assert_eq!(read_schema_bytes(&padded).unwrap(), schema);
    // Trailing bytes, a cut message, a record batch instead.
    let mut trailing = bytes.clone();
    trailing.push(1);
    let e = read_schema_bytes(&trailing).unwrap_err();
    assert!(
        e.message().contains("1 bytes follow the schema message"),
        "{e}"
    );
    assert_eq!(
        read_schema_bytes(&bytes[..100]).unwrap_err().kind(),
        ErrorKind::Truncated
    );
    assert_eq!(
        read_schema_bytes(&bytes[..6]).unwrap_err().kind(),
        ErrorKind::Truncated
    );
    let batch = &ipc_messages(&sample_tables(), WriteOptions::default())[1];
    let (h, _) = split_encapsulated(batch).unwrap();
    let e = read_schema_bytes(&batch[..h.end]).unwrap_err();
    assert!(
        e.message().contains("RecordBatch message, not a Schema"),
        "{e}"
    );
}

#[test]
fn grpc_prefix_is_flag_and_big_endian_length() {
    assert_eq!(grpc_prefix(248), [0, 0, 0, 0, 248]);
    assert_eq!(grpc_prefix(44_889_161), [0, 0x02, 0xAC, 0xF4, 0x49]);
    let head = flight_data_head(None, b"", b"", 0).unwrap();
    assert_eq!(head, [0, 0, 0, 0, 0]);
}

/// Throughput of the translator, printed (no threshold): `cargo test --release -p
/// lightstream-core --features flight --test flight -- --ignored --nocapture`.
/// Four numeric columns, 64 Ki rows a batch, 16 batches, in h2's 16 KiB DATA frames:
/// FlightToIpc into the IPC driver against the plain IPC stream into the same driver.
#[test]
#[ignore = "a measurement, run by hand in release"]
fn measure_translate_throughput() {
    let n = 1 << 16;
    let ids: Vec<i64> = (0..n).collect();
    let px: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let t = tbl!(
        "t",
        fa_i64!("a", @slice &ids[..]),
        fa_i64!("b", @slice &ids[..]),
        fa_f64!("c", @slice &px[..]),
        fa_f64!("d", @slice &px[..])
    );
    let tables = vec![t; 16];
    let messages = ipc_messages(&tables, WriteOptions::default());
    let body = our_body(&messages);
    let mut plain = messages.concat();
    plain.extend([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    let frames: Vec<&[u8]> = body.chunks(16 * 1024).collect();
    let rounds = 20;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let mut input = FlightInput::new(frames.clone(), 1 << 30);
        let (read, _) = read_flight(&mut input).unwrap();
        assert_eq!(read.len(), 16);
    }
    let flight = start.elapsed();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let mut input = lightstream_core::SliceInput::new(&plain, 0);
        let (_, read) = IpcStreamDriver::new(ReadOptions::default())
            .read_all(&mut input)
            .unwrap();
        assert_eq!(read.len(), 16);
    }
    let ipc = start.elapsed();
    let gb = (body.len() * rounds) as f64 / 1e9;
    println!(
        "{} MB a stream: Flight body -> FlightToIpc -> driver {:.2} GB/s; plain IPC slice -> driver {:.2} GB/s",
        body.len() / 1_000_000,
        gb / flight.as_secs_f64(),
        gb / ipc.as_secs_f64()
    );
}
