//! [`merge_dictionaries`]: one dictionary's first batch and its deltas made
//! into one non-delta dictionary batch holding every value, for a late
//! joiner of a forwarded stream (a hub sends it the current dictionaries
//! first, then live data).
//!
//! It reuses the decoder's dictionary reader and the encoder's dictionary
//! writer, so it handles what they handle: dictionaries of Utf8 and
//! LargeUtf8 values without nulls, on top-level fields. Anything else is
//! `Ok(None)`: the caller sends the original batches in order, which is
//! still a valid stream, only longer.
//!
//! What it is not: a decoder of record batches (none is read).

use super::compression::Compression;
use super::message::{IpcMessage, MessageKind};
use super::stream::MessageDecoder;
use super::write::{MessageEncoder, WriteOptions};
use super::{Projection, ReadOptions};
use crate::buffers::aligned_copy;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::ipc::{CONTINUATION_MARKER, parse_message};
use crate::limits::DecodeLimits;

/// Merges `batches` (dictionary id `N`'s non-delta batch, then its deltas,
/// in stream order) of the stream whose schema message is `schema` into one
/// non-delta dictionary batch holding all their values in order.
///
/// `Ok(None)` when the core cannot decode or encode that dictionary (values
/// of another type than Utf8/LargeUtf8, null values, a dictionary of a
/// nested field, a big-endian stream). Errors: `Malformed` when `schema` is
/// not a schema message or `batches` are not one id's first batch followed
/// by its deltas; the decoder's errors for batches it refuses (limits,
/// invalid UTF-8, bad buffers).
///
/// The merged batch is compressed as the first batch was (LZ4 frame, zstd),
/// else not; values are written with 64-byte alignment.
///
/// ```
/// use lightstream_core::ipc::{merge_dictionaries, IpcMessageDecoder, MessageKind};
/// use lightstream_core::framing::FrameDecoder;
/// use lightstream_core::minarrow::{fa_cat32, tbl};
/// use lightstream_core::{read_ipc, write_stream, DecodeLimits, ReadOptions, Schema, WriteOptions};
///
/// let a = tbl!("t", fa_cat32!("city", "paris", "oslo"));
/// let b = tbl!("t", fa_cat32!("city", "lima"));
/// let options = WriteOptions { unify_dictionaries: true, ..WriteOptions::default() };
/// let bytes = write_stream(&Schema::from_table(&a), &[a, b], &options)?;
/// let limits = DecodeLimits::default();
/// let messages = IpcMessageDecoder::new(limits).decode_all(&bytes)?;
/// let dictionaries: Vec<_> = messages.iter()
///     .filter(|m| matches!(m.kind(), MessageKind::DictionaryBatch { .. }))
///     .cloned()
///     .collect();
/// let merged = merge_dictionaries(&messages[0], &dictionaries, &limits)?.expect("utf8 values");
/// assert_eq!(merged.kind(), MessageKind::DictionaryBatch { id: 0, delta: false });
/// // A late joiner's stream: the schema, the merged dictionary, the last batch.
/// let last = messages.iter().rev().find(|m| matches!(m.kind(), MessageKind::RecordBatch { .. }));
/// let joined: Vec<u8> = [&messages[0], &merged, last.expect("a batch")]
///     .iter()
///     .flat_map(|m| m.bytes().to_vec())
///     .collect();
/// let tables = read_ipc(&joined, ReadOptions::default())?.tables;
/// assert_eq!(tables[0].n_rows, 1);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn merge_dictionaries(
    schema: &IpcMessage,
    batches: &[IpcMessage],
    limits: &DecodeLimits,
) -> Result<Option<IpcMessage>> {
    if schema.kind() != MessageKind::Schema {
        return Err(Error::malformed(format!(
            "merging dictionaries needs the schema message, not a {:?} message",
            schema.kind()
        )));
    }
    let id = match batches.first().map(IpcMessage::kind) {
        Some(MessageKind::DictionaryBatch { id, delta: false }) => id,
        _ => {
            return Err(Error::malformed(
                "merging dictionaries needs a non-delta dictionary batch first",
            ));
        }
    };
    if let Some(other) = batches
        .iter()
        .skip(1)
        .find(|m| m.kind() != MessageKind::DictionaryBatch { id, delta: true })
    {
        return Err(Error::malformed(format!(
            "merging dictionary {id}: after its first batch only its deltas may follow, not \
             {:?}",
            other.kind()
        )));
    }
    let mut decoder = MessageDecoder::new(ReadOptions {
        limits: *limits,
        // Fields of other types are left out, not refused.
        projection: Some(Projection::Supported),
        ..ReadOptions::default()
    });
    let fb_schema = parse_message(metadata(schema), limits)?
        .header_as_schema()
        .ok_or_else(|| Error::malformed("schema message without its header"))?;
    match decoder.set_schema(fb_schema) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(None),
        Err(e) => return Err(e),
    }
    let Some(encoding) = decoder.wire.as_ref().and_then(|w| {
        w.fields
            .iter()
            .find_map(|f| f.dictionary.filter(|d| d.id == id))
    }) else {
        // Values of a type the core does not hold, or a nested field's.
        return Ok(None);
    };
    let mut compression = Compression::None;
    for (i, batch) in batches.iter().enumerate() {
        let m = parse_message(metadata(batch), limits)?;
        if i == 0 {
            let codec = m
                .header_as_dictionary_batch()
                .and_then(|d| d.data())
                .and_then(|d| d.compression())
                .map(|c| c.codec());
            if let Some(codec) = codec {
                compression = Compression::from_fb(codec)?;
            }
        }
        // An IpcMessage's head lies within its bytes (inspect_message checked).
        #[allow(clippy::indexing_slicing)]
        let body = aligned_copy(&batch.bytes()[batch.info().head_len..]);
        decoder.dictionary(&m, &body)?;
    }
    let Some(values) = decoder.dicts.get(&id) else {
        return Ok(None);
    };
    if values.valid.as_ref().is_some_and(|v| v.contains(&false)) {
        // The dictionary writer writes no validity.
        return Ok(None);
    }
    if compression.check_available().is_err() {
        compression = Compression::None;
    }
    let options = WriteOptions {
        compression,
        ..WriteOptions::default()
    };
    let merged =
        MessageEncoder::dictionary_message(&options, &mut 0, &encoding, &values.strings, false)?;
    IpcMessage::new(bytes::Bytes::from(merged.to_vec()), limits).map(Some)
}

/// The metadata flatbuffer of a classified message (after a modern or a
/// legacy prefix).
fn metadata(m: &IpcMessage) -> &[u8] {
    let bytes = m.bytes();
    let prefix = if bytes.starts_with(&CONTINUATION_MARKER) {
        8
    } else {
        4
    };
    bytes.get(prefix..m.info().head_len).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::FrameDecoder;
    use crate::ipc::{IpcMessageDecoder, Schema, read_ipc};
    use crate::write_stream;
    use minarrow::{fa_cat32, fa_i64, tbl};

    fn messages(options: WriteOptions) -> Vec<IpcMessage> {
        let a = tbl!("t", fa_i64!("n", 1, 2), fa_cat32!("c", "x", "y"));
        let b = tbl!("t", fa_i64!("n", 3), fa_cat32!("c", "z"));
        let c = tbl!("t", fa_i64!("n", 4), fa_cat32!("c", "w"));
        let options = WriteOptions {
            unify_dictionaries: true,
            ..options
        };
        let bytes = write_stream(&Schema::from_table(&a), &[a, b, c], &options).unwrap();
        IpcMessageDecoder::new(DecodeLimits::default())
            .decode_all(&bytes)
            .unwrap()
    }

    fn dictionaries(m: &[IpcMessage]) -> Vec<IpcMessage> {
        m.iter()
            .filter(|m| matches!(m.kind(), MessageKind::DictionaryBatch { .. }))
            .cloned()
            .collect()
    }

    #[test]
    fn deltas_merge_into_one_batch_that_decodes_the_last_table() {
        for compression in [Compression::None, Compression::Zstd, Compression::Lz4Frame] {
            if compression.check_available().is_err() {
                continue;
            }
            let m = messages(WriteOptions {
                compression,
                ..WriteOptions::default()
            });
            let dicts = dictionaries(&m);
            assert_eq!(dicts.len(), 3);
            let limits = DecodeLimits::default();
            let merged = merge_dictionaries(&m[0], &dicts, &limits).unwrap().unwrap();
            let last = m
                .iter()
                .rev()
                .find(|m| matches!(m.kind(), MessageKind::RecordBatch { .. }))
                .unwrap();
            let stream: Vec<u8> = [&m[0], &merged, last]
                .iter()
                .flat_map(|m| m.bytes().to_vec())
                .collect();
            let read = read_ipc(&stream, ReadOptions::default()).unwrap();
            let col = &read.tables[0].cols[1].array;
            let minarrow::Array::TextArray(minarrow::TextArray::Categorical32(cat)) = col else {
                panic!("{col:?}");
            };
            assert_eq!(cat.unique_values.as_slice(), ["x", "y", "z", "w"]);
            assert_eq!(cat.data.as_slice(), [3]);
            // Only the first batch: itself, re-encoded.
            let one = merge_dictionaries(&m[0], &dicts[..1], &limits)
                .unwrap()
                .unwrap();
            assert_eq!(one.kind(), merged.kind());
        }
    }

    #[test]
    fn batches_out_of_order_are_refused() {
        let m = messages(WriteOptions::default());
        let dicts = dictionaries(&m);
        let limits = DecodeLimits::default();
        for (schema, batches) in [
            (&m[1], &dicts[..]),
            (&m[0], &dicts[1..]),
            (&m[0], &[dicts[0].clone(), m[2].clone()][..]),
            (&m[0], &[][..]),
        ] {
            let e = merge_dictionaries(schema, batches, &limits).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
        }
    }
}
