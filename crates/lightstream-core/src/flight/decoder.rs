//! [`FlightDataDecoder`]: FlightData messages already in memory, as `Bytes`,
//! to tables, each body used where it lies.
//!
//! What it is for: a program that receives FlightData itself (its own tonic
//! client, arrow-flight's `FlightData`, a recorded stream) and wants
//! Lightstream's tables from them without copying the bodies. Each
//! `data_body` becomes the memory its table's buffers point into: every
//! buffer aligned for its type is borrowed, any other copied once into
//! 64-byte aligned memory, and both are counted
//! ([`FlightDataDecoder::bytes_borrowed`], [`FlightDataDecoder::bytes_copied`]).
//!
//! What it is not: a reader of a gRPC body in arbitrary chunks
//! ([`super::FlightToIpc`] does that, for the client and server here), or a
//! second IPC decoder: the messages go to [`IpcStreamDecoder::push_message`].

use std::sync::Arc;

use bytes::Bytes;
use minarrow::structs::shared_buffer::SharedBuffer;

use crate::error::{Error, Result};
use crate::ipc::{IpcStreamDecoder, ReadOptions, Schema, StreamItem};

/// Decodes FlightData given as `data_header` and `data_body` (e.g. the
/// fields of arrow-flight's `FlightData`, or of a prost message of your own),
/// one message at a time, in stream order: the schema, dictionary batches
/// (replacements and deltas), record batches.
///
/// A body is kept, not copied: the tables hold the `Bytes` (reference
/// counted) for as long as they use them.
///
/// ```
/// use lightstream_core::bytes::Bytes;
/// use lightstream_core::flight::{FlightDataDecoder, split_encapsulated};
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{aligned_copy, IpcStreamEncoder, ReadOptions, Schema, StreamItem};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let mut encoder = IpcStreamEncoder::new(Schema::from_table(&table).into(), Default::default())?;
/// let mut messages = vec![encoder.schema_message()?.to_vec()];
/// messages.extend(encoder.encode_table(&table)?.iter().map(|m| m.to_vec()));
///
/// let mut decoder = FlightDataDecoder::new(ReadOptions::default());
/// let mut tables = Vec::new();
/// for message in &messages {
///     // A FlightData's two fields, as a gRPC library hands them over.
///     let (header, body) = split_encapsulated(message)?;
///     let body = Bytes::from_owner(aligned_copy(&message[body]));
///     if let Some(StreamItem::Table(t)) = decoder.push(&message[header], body)? {
///         tables.push(t);
///     }
/// }
/// assert_eq!(tables[0].cols, table.cols);
/// assert_eq!((decoder.bytes_borrowed(), decoder.bytes_copied()), (24, 0));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct FlightDataDecoder {
    decoder: IpcStreamDecoder,
    messages: u64,
}

impl FlightDataDecoder {
    /// A decoder with `options` (limits, projection; `align_64` copies every
    /// body whose buffers are not all 64-byte aligned into 64-byte aligned
    /// memory instead).
    pub fn new(options: ReadOptions) -> Self {
        FlightDataDecoder {
            decoder: IpcStreamDecoder::new(options),
            messages: 0,
        }
    }

    /// Decodes one FlightData from its `data_header` (the IPC `Message`
    /// flatbuffer) and `data_body`: the schema, a table, or `None` (a
    /// dictionary batch, absorbed; a FlightData without a header, such as
    /// one carrying only `app_metadata`). A body longer than its header
    /// declares has its tail ignored; a shorter one is an error. After an
    /// error every call fails.
    pub fn push(&mut self, header: &[u8], body: Bytes) -> Result<Option<StreamItem>> {
        let index = self.messages;
        self.messages += 1;
        if header.is_empty() {
            if body.is_empty() {
                return Ok(None);
            }
            return Err(Error::malformed(format!(
                "FlightData {index} holds a data_body of {} bytes but no data_header",
                body.len()
            )));
        }
        let body = if body.is_empty() {
            SharedBuffer::new()
        } else {
            // The tables hold the `Bytes` themselves: no copy.
            SharedBuffer::from_owner(body)
        };
        self.decoder.push_message(header, &body)
    }

    /// The schema, once its FlightData was decoded.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.decoder.schema()
    }

    /// FlightData messages pushed so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes of column buffers the tables use in place, in the bodies pushed.
    pub fn bytes_borrowed(&self) -> u64 {
        self.decoder.bytes_borrowed()
    }

    /// Bytes copied to make tables: buffers not aligned for their type
    /// (a body at an odd address), and, with `align_64`, bodies moved to
    /// 64-byte boundaries (see [`IpcStreamDecoder::bytes_copied`]).
    pub fn bytes_copied(&self) -> u64 {
        self.decoder.bytes_copied()
    }

    /// The IPC decoder underneath (dictionaries, skipped fields, fields).
    pub fn decoder(&self) -> &IpcStreamDecoder {
        &self.decoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::flight::split_encapsulated;
    use crate::minarrow::{fa_i64, fa_str32, tbl};
    use crate::{IpcStreamEncoder, WriteOptions, aligned_copy};

    /// `(data_header, data_body)` of one FlightData.
    type Fields = (Vec<u8>, Vec<u8>);

    /// The fields of each message of a stream of one table written with
    /// `alignment`, and the table.
    fn flight_data(alignment: usize) -> (Vec<Fields>, crate::minarrow::Table) {
        let table = tbl!(
            "t",
            fa_i64!("n", 1, 2, 3, 4, 5),
            fa_str32!("s", "a", "bb", "ccc", "dddd", "e")
        );
        let options = WriteOptions {
            alignment,
            ..WriteOptions::default()
        };
        let mut encoder =
            IpcStreamEncoder::new(Schema::from_table(&table).into(), options).unwrap();
        let mut messages = vec![encoder.schema_message().unwrap().to_vec()];
        messages.extend(
            encoder
                .encode_table(&table)
                .unwrap()
                .iter()
                .map(|m| m.to_vec()),
        );
        let data = messages
            .iter()
            .map(|m| {
                let (h, b) = split_encapsulated(m).unwrap();
                (m[h].to_vec(), m[b].to_vec())
            })
            .collect();
        (data, table)
    }

    /// `bytes` as a `Bytes` starting `shift` bytes past a 64-byte boundary.
    fn at(bytes: &[u8], shift: usize) -> Bytes {
        let mut padded = vec![0xAB; shift];
        padded.extend_from_slice(bytes);
        Bytes::from_owner(aligned_copy(&padded)).slice(shift..)
    }

    #[test]
    fn aligned_bodies_are_borrowed_and_odd_ones_copied_once() {
        for alignment in [8, 64] {
            let (data, table) = flight_data(alignment);
            let mut counts = Vec::new();
            for shift in [0, 8, 1] {
                let mut d = FlightDataDecoder::new(ReadOptions::default());
                let mut tables = Vec::new();
                let mut body_at = 0..0;
                for (h, b) in &data {
                    let body = at(b, shift);
                    let r = body.as_ptr_range();
                    body_at = r.start as usize..r.end as usize;
                    if let Some(StreamItem::Table(t)) = d.push(h, body).unwrap() {
                        tables.push(t);
                    }
                }
                assert_eq!(tables.len(), 1);
                assert_eq!(
                    tables[0].cols, table.cols,
                    "alignment {alignment} shift {shift}"
                );
                let n = tables[0].cols[0].array.num().i64().data.as_slice().as_ptr() as usize;
                // Aligned for i64: the values are the body's own bytes.
                assert_eq!(body_at.contains(&n), shift % 8 == 0, "shift {shift}");
                counts.push((d.bytes_borrowed(), d.bytes_copied()));
                assert_eq!(d.messages(), 2);
            }
            // 0 and 8 past a boundary: all borrowed; at 1: only the u8 string
            // bytes (8 of them, "a".."e" packed) stay, the rest copied once.
            let (all, none) = (counts[0].0, counts[0].1);
            assert_eq!((none, counts[1]), (0, (all, 0)));
            assert_eq!(counts[2].0 + counts[2].1, all);
            assert_eq!(counts[2].0, 11, "the string bytes");
        }
    }

    #[test]
    fn align_64_copies_a_body_off_64_once_into_place() {
        let (data, table) = flight_data(8);
        let mut d = FlightDataDecoder::new(ReadOptions {
            align_64: true,
            ..ReadOptions::default()
        });
        let mut got = None;
        for (h, b) in &data {
            if let Some(StreamItem::Table(t)) = d.push(h, at(b, 8)).unwrap() {
                got = Some(t);
            }
        }
        let t = got.unwrap();
        assert_eq!(t.cols, table.cols);
        assert_eq!(d.bytes_borrowed(), 0);
        assert_eq!(d.bytes_copied(), data[1].1.len() as u64);
        let n = t.cols[0].array.num().i64().data.as_slice().as_ptr() as usize;
        assert_eq!(n % 64, 0);
    }

    #[test]
    fn bad_flight_data_is_a_typed_error_and_poisons() {
        let (data, _) = flight_data(64);
        let (schema_h, _) = &data[0];
        let (batch_h, batch_b) = &data[1];
        // A body shorter than its header declares.
        let mut d = FlightDataDecoder::new(ReadOptions::default());
        d.push(schema_h, Bytes::new()).unwrap();
        let short = Bytes::copy_from_slice(&batch_b[..batch_b.len() - 1]);
        let e = d.push(batch_h, short).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(e.message().contains("fewer than the"), "{e}");
        assert_eq!(e.location().message_index, Some(1));
        // Poisoned: a good message after it fails too.
        assert!(d.push(batch_h, Bytes::copy_from_slice(batch_b)).is_err());
        // A longer body is fine: its tail is ignored.
        let mut d = FlightDataDecoder::new(ReadOptions::default());
        d.push(schema_h, Bytes::new()).unwrap();
        let mut long = batch_b.clone();
        long.extend([9; 16]);
        assert!(matches!(
            d.push(batch_h, Bytes::from(long)).unwrap(),
            Some(StreamItem::Table(_))
        ));
        // No header: nothing (app_metadata alone), unless there is a body.
        assert!(d.push(&[], Bytes::new()).unwrap().is_none());
        let e = d.push(&[], Bytes::from_static(b"xx")).unwrap_err();
        assert!(e.message().contains("no data_header"), "{e}");
        // A batch before the schema; a header that is not a flatbuffer; one
        // over the metadata limit.
        let mut d = FlightDataDecoder::new(ReadOptions::default());
        let e = d
            .push(batch_h, Bytes::copy_from_slice(batch_b))
            .unwrap_err();
        assert!(e.message().contains("before the schema"), "{e}");
        let mut d = FlightDataDecoder::new(ReadOptions::default());
        assert!(d.push(&[1, 2, 3, 4], Bytes::new()).is_err());
        let limits = crate::DecodeLimits {
            max_metadata_bytes: 16,
            ..crate::DecodeLimits::default()
        };
        let mut d = FlightDataDecoder::new(ReadOptions {
            limits,
            ..ReadOptions::default()
        });
        let e = d.push(schema_h, Bytes::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    }

    #[test]
    fn a_message_apart_is_refused_while_another_is_half_pushed() {
        let (data, _) = flight_data(64);
        let stream = crate::write_stream(
            &Schema::from_table(&tbl!("t", fa_i64!("n", 1))),
            &[tbl!("t", fa_i64!("n", 1))],
            &WriteOptions::default(),
        )
        .unwrap();
        let mut d = IpcStreamDecoder::new(ReadOptions::default());
        let _ = d.push(&stream[..5]).unwrap();
        let body = crate::SharedBuffer::new();
        let e = d.push_message(&data[0].0, &body).unwrap_err();
        assert!(e.message().contains("half received"), "{e}");
    }
}
