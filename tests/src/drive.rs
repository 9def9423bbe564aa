//! Driving the sans-IO decoders the way a shell would, for tests.
//!
//! [`decode_pushing`] feeds a byte slice to `IpcStreamDecoder::push` in fixed-size chunks,
//! offering the rest of each chunk again after every frame, exactly as the push contract
//! says; [`decode_push_shared`] does the same with `push_shared` over one `SharedBuffer`.
//! [`diff_decodes`] compares two decode results (same tables, or errors of the same kind).
//! [`column_buffers`] lists the memory every column of a table uses, to check what a
//! decoder borrowed from its input and what it copied.
//! Not a reader for production use: it collects everything in memory and panics on
//! violations of the push contract (a frame claiming more bytes than offered, or no progress).

use std::sync::Arc;

use lightstream_core::framing::Decoded;
use lightstream_core::minarrow::{
    Array, Bitmask, NumericArray, SharedBuffer, Table, TemporalArray, TextArray,
};
use lightstream_core::{Error, IpcStreamDecoder, ReadOptions, Result, Schema, StreamItem};

use crate::compare::{diff_schemas, diff_tables};

/// A field as `fields()` reports it: name, Arrow type, nullable, supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    pub name: String,
    pub arrow_type: String,
    pub nullable: bool,
    pub supported: bool,
}

impl FieldSummary {
    pub fn of(infos: &[lightstream_core::FieldInfo]) -> Vec<FieldSummary> {
        infos
            .iter()
            .map(|f| FieldSummary {
                name: f.name.clone(),
                arrow_type: f.arrow_type.clone(),
                nullable: f.nullable,
                supported: f.supported,
            })
            .collect()
    }
}

/// What a push-driven decode produced.
#[derive(Debug)]
pub struct PushDecode {
    pub schema: Arc<Schema>,
    pub tables: Vec<Table>,
    /// The decoder's `fields()` after the last byte.
    pub fields: Vec<FieldSummary>,
    /// The decoder's `skipped()` after the last byte.
    pub skipped: Vec<lightstream_core::FieldInfo>,
    /// Whether an end-of-stream marker was seen (else `finish()` vouched for the end).
    pub saw_end: bool,
    /// The decoder's `bytes_borrowed()` after the last byte.
    pub bytes_borrowed: u64,
    /// The decoder's `bytes_copied()` after the last byte.
    pub bytes_copied: u64,
}

impl PushDecode {
    /// The `(schema, tables)` pair `read_stream` returns.
    pub fn into_pair(self) -> (Arc<Schema>, Vec<Table>) {
        (self.schema, self.tables)
    }
}

/// Most consecutive zero-byte frames tolerated before calling the decoder stuck.
const MAX_STALLS: usize = 10_000;

struct Collector {
    schema: Option<Arc<Schema>>,
    tables: Vec<Table>,
    saw_end: bool,
}

impl Collector {
    fn take(&mut self, item: StreamItem) {
        match item {
            StreamItem::Schema(s) => self.schema = Some(s),
            StreamItem::Table(t) => self.tables.push(t),
            StreamItem::End => self.saw_end = true,
        }
    }

    fn finish(self, dec: &IpcStreamDecoder) -> Result<PushDecode> {
        if !self.saw_end {
            dec.finish()?;
        }
        let schema = match (self.schema, dec.schema()) {
            (Some(s), _) => s,
            (None, Some(s)) => s.clone(),
            (None, None) => {
                panic!("push contract: finish() accepted a stream that produced no schema")
            }
        };
        Ok(PushDecode {
            schema,
            tables: self.tables,
            fields: FieldSummary::of(dec.fields()),
            skipped: dec.skipped().to_vec(),
            saw_end: self.saw_end,
            bytes_borrowed: dec.bytes_borrowed(),
            bytes_copied: dec.bytes_copied(),
        })
    }
}

/// Decodes `bytes` by pushing `chunk`-byte pieces (the last may be shorter).
/// Stops at the end-of-stream marker; without one, `finish()` decides.
pub fn decode_pushing(bytes: &[u8], chunk: usize, options: ReadOptions) -> Result<PushDecode> {
    let mut dec = IpcStreamDecoder::new(options);
    let mut out = Collector {
        schema: None,
        tables: Vec::new(),
        saw_end: false,
    };
    'chunks: for piece in bytes.chunks(chunk.max(1)) {
        let mut rest = piece;
        let mut stalls = 0;
        loop {
            match dec.push(rest)? {
                Decoded::NeedMore => break,
                Decoded::Frame { frame, consumed } => {
                    assert!(
                        consumed <= rest.len(),
                        "push contract: a frame consumed {consumed} bytes of {} offered",
                        rest.len()
                    );
                    rest = &rest[consumed..];
                    stalls = if consumed == 0 { stalls + 1 } else { 0 };
                    assert!(
                        stalls < MAX_STALLS,
                        "push contract: {MAX_STALLS} frames in a row consumed no bytes"
                    );
                    out.take(frame);
                    if out.saw_end {
                        break 'chunks;
                    }
                }
            }
        }
    }
    out.finish(&dec)
}

/// Decodes `bytes` with `push_shared`, offering the rest of the buffer after every frame.
pub fn decode_push_shared(bytes: &SharedBuffer, options: ReadOptions) -> Result<PushDecode> {
    let mut dec = IpcStreamDecoder::new(options);
    let mut out = Collector {
        schema: None,
        tables: Vec::new(),
        saw_end: false,
    };
    let mut pos = 0usize;
    let mut stalls = 0;
    loop {
        let rest = bytes.slice(pos..);
        match dec.push_shared(&rest)? {
            Decoded::NeedMore => break,
            Decoded::Frame { frame, consumed } => {
                assert!(
                    consumed <= rest.len(),
                    "push contract: a frame consumed {consumed} bytes of {} offered",
                    rest.len()
                );
                pos += consumed;
                stalls = if consumed == 0 { stalls + 1 } else { 0 };
                assert!(
                    stalls < MAX_STALLS,
                    "push contract: {MAX_STALLS} frames in a row consumed no bytes"
                );
                out.take(frame);
                if out.saw_end {
                    break;
                }
            }
        }
    }
    out.finish(&dec)
}

/// Compares two decode results: equal schemas and tables, or errors of the same kind.
pub fn diff_decodes(
    actual: &Result<(Arc<Schema>, Vec<Table>), Error>,
    expected: &Result<(Arc<Schema>, Vec<Table>), Error>,
) -> std::result::Result<(), String> {
    match (actual, expected) {
        (Ok((sa, ta)), Ok((se, te))) => {
            diff_schemas(sa, se).map_err(|d| format!("schemas differ: {d}"))?;
            if ta.len() != te.len() {
                return Err(format!("{} tables, expected {}", ta.len(), te.len()));
            }
            for (i, (a, e)) in ta.iter().zip(te).enumerate() {
                diff_tables(a, e).map_err(|d| format!("table {i} differs: {d}"))?;
            }
            Ok(())
        }
        (Err(a), Err(e)) if a.kind() == e.kind() => Ok(()),
        (Err(a), Err(e)) => Err(format!(
            "error kind {:?} ({a}), expected {:?} ({e})",
            a.kind(),
            e.kind()
        )),
        (Ok((_, t)), Err(e)) => Err(format!(
            "decoded {} tables, expected the error {e}",
            t.len()
        )),
        (Err(a), Ok((_, t))) => Err(format!("error {a}, expected {} tables", t.len())),
    }
}

/// A copy of `bytes` that starts `shift` bytes past a 64-byte boundary (1 misaligns
/// every buffer), for checking that readers copy misaligned input rather than misread it.
pub fn misaligned_copy(bytes: &[u8], shift: usize) -> SharedBuffer {
    let mut padded = vec![0xAA; shift];
    padded.extend_from_slice(bytes);
    lightstream_core::aligned_copy(&padded).slice(shift..)
}

/// `ReadOptions::default()` with a projection.
pub fn read_options(projection: Option<&[usize]>) -> ReadOptions {
    ReadOptions {
        projection: projection.map(|p| p.to_vec().into()),
        ..ReadOptions::default()
    }
}

/// One piece of memory a column of a decoded table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnBuffer {
    /// Index of the column in the table.
    pub column: usize,
    /// Which buffer: `validity`, `values`, `offsets`, `data` or `keys`.
    pub what: &'static str,
    /// Whether it holds `i128` decimals (which need 16-byte alignment to be borrowed).
    pub decimal128: bool,
    /// Address of its first byte.
    pub start: usize,
    /// Its length in bytes.
    pub len: usize,
}

impl ColumnBuffer {
    /// Whether it lies wholly inside `input`.
    pub fn inside(&self, input: &[u8]) -> bool {
        let at = input.as_ptr() as usize;
        at <= self.start && self.start + self.len <= at + input.len()
    }
}

/// Every non-empty buffer the columns of `t` use (validity and boolean bitmaps, values,
/// string offsets and data, dictionary keys; not the dictionaries' strings, which minarrow
/// holds as `String`s), for checking where a decoder left them.
pub fn column_buffers(t: &Table) -> Vec<ColumnBuffer> {
    let mut out = Vec::new();
    for (column, c) in t.cols.iter().enumerate() {
        let mut push = |what: &'static str, decimal128: bool, start: usize, len: usize| {
            if len > 0 {
                out.push(ColumnBuffer {
                    column,
                    what,
                    decimal128,
                    start,
                    len,
                });
            }
        };
        macro_rules! slice {
            ($what:expr, $v:expr) => {{
                let v = $v;
                push($what, false, v.as_ptr() as usize, std::mem::size_of_val(v));
            }};
        }
        macro_rules! values {
            ($a:expr) => {{
                slice!("values", $a.data.as_slice());
                $a.null_mask.as_ref()
            }};
        }
        let validity: Option<&Bitmask> = match &c.array {
            Array::Null => None,
            Array::BooleanArray(a) => {
                slice!("values", a.data.as_bytes());
                a.null_mask.as_ref()
            }
            Array::NumericArray(n) => match n {
                NumericArray::Int8(a) => values!(a),
                NumericArray::Int16(a) => values!(a),
                NumericArray::Int32(a) => values!(a),
                NumericArray::Int64(a) => values!(a),
                NumericArray::UInt8(a) => values!(a),
                NumericArray::UInt16(a) => values!(a),
                NumericArray::UInt32(a) => values!(a),
                NumericArray::UInt64(a) => values!(a),
                NumericArray::Float32(a) => values!(a),
                NumericArray::Float64(a) => values!(a),
                NumericArray::Decimal32(a) => values!(a),
                NumericArray::Decimal64(a) => values!(a),
                NumericArray::Decimal128(a) => {
                    let v = a.data.as_slice();
                    push(
                        "values",
                        true,
                        v.as_ptr() as usize,
                        std::mem::size_of_val(v),
                    );
                    a.null_mask.as_ref()
                }
                NumericArray::Null => None,
            },
            Array::TextArray(t) => match t {
                TextArray::String32(a) => {
                    slice!("offsets", a.offsets.as_slice());
                    slice!("data", a.data.as_slice());
                    a.null_mask.as_ref()
                }
                TextArray::String64(a) => {
                    slice!("offsets", a.offsets.as_slice());
                    slice!("data", a.data.as_slice());
                    a.null_mask.as_ref()
                }
                TextArray::Categorical8(a) => values!(a),
                TextArray::Categorical16(a) => values!(a),
                TextArray::Categorical32(a) => values!(a),
                TextArray::Categorical64(a) => values!(a),
                TextArray::Null => None,
            },
            Array::TemporalArray(t) => match t {
                TemporalArray::Datetime32(a) => values!(a),
                TemporalArray::Datetime64(a) => values!(a),
                TemporalArray::Null => None,
            },
        };
        if let Some(m) = validity {
            slice!("validity", m.as_bytes());
        }
    }
    out
}
