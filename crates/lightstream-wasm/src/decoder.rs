//! Incremental decoding of an IPC stream whose bytes arrive in JavaScript
//! memory (WebSocket messages, `ReadableStream` chunks, `push` calls).
//!
//! [`ChunkDecoder`] hands each chunk to the core's `IpcStreamDriver` as a
//! [`ChunkInput`], which copies bytes out of JavaScript where the driver
//! asks: message bodies straight into the decoder's 64-byte aligned body
//! buffer (through [`lightstream_core::BodySink`]), so the columns of the
//! decoded tables live where the bytes were copied to (8-aligned producers
//! such as pyarrow included: their buffers are aligned for their types);
//! message prefixes and metadata (and bodies that must be relocated: a
//! buffer off an 8-byte boundary, or any not 64-byte aligned under the
//! core's `ReadOptions::align_64`) through the driver's small scratch
//! buffer. A WebSocket message goes through the driver's one-message rule.
//!
//! [`StreamDecoder`] is the push decoder JavaScript can drive itself.

use std::convert::Infallible;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::task::{Context, Poll};

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use lightstream_core::bytes::BufMut;
use lightstream_core::minarrow::Table as MTable;
use lightstream_core::{
    ByteInput, DecodeLimits, Error, ErrorKind, FieldInfo, IpcStreamDriver, MessageError,
    Projection, ReadOptions, ReadTarget, Result, Schema, StreamItem,
};
use wasm_bindgen::prelude::*;

use crate::table::{Table, fields_to_js, metadata_to_js};

/// Bytes somewhere (a JS typed array, a Rust slice) that can be copied out in
/// pieces without first copying them all.
pub trait Chunk {
    /// Number of bytes.
    fn len(&self) -> usize;
    /// True when there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies bytes `at .. at + dst.len()` into `dst`, initializing all of it.
    /// Callers keep `at + dst.len() <= self.len()`.
    fn copy_out(&self, at: usize, dst: &mut [MaybeUninit<u8>]);
}

impl Chunk for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn copy_out(&self, at: usize, dst: &mut [MaybeUninit<u8>]) {
        let src = &self[at..at + dst.len()];
        for (d, s) in dst.iter_mut().zip(src) {
            d.write(*s);
        }
    }
}

impl Chunk for Uint8Array {
    fn len(&self) -> usize {
        self.length() as usize
    }
    fn copy_out(&self, at: usize, dst: &mut [MaybeUninit<u8>]) {
        if dst.is_empty() {
            return;
        }
        let view = self.subarray(at as u32, (at + dst.len()) as u32);
        // SAFETY: `view` has exactly `dst.len()` bytes (the caller keeps the
        // range inside the array) and `dst` is writable wasm memory of that
        // length; the JS engine copies them with a single memcpy.
        unsafe { view.raw_copy_to_ptr(dst.as_mut_ptr().cast::<u8>()) };
    }
}

/// Size of the driver's scratch buffer: the largest piece of non-body bytes
/// (or of a body to relocate) copied out of JavaScript at once.
const SCRATCH_STEP: usize = 256 * 1024;

/// Where the body of the IPC message decoded last went in wasm memory: the
/// bytes `at .. at + len` of the transport message (a WebSocket message),
/// copied byte for byte to the address `addr` (the body's aligned memory,
/// which the decoded table's in-place buffers are slices of).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireSpan {
    /// Offset of the first byte in the transport message.
    pub at: usize,
    /// Address in wasm memory it was copied to.
    pub addr: usize,
    /// Bytes copied there, one run (contiguous on both sides).
    pub len: usize,
}

impl WireSpan {
    /// The offset in the transport message of the `bytes` bytes at wasm
    /// address `addr`, when all of them lie inside this span.
    pub fn offset_of(&self, addr: usize, bytes: usize) -> Option<usize> {
        let rel = addr.checked_sub(self.addr)?;
        (rel.checked_add(bytes)? <= self.len).then_some(self.at + rel)
    }
}

/// A [`Chunk`] as the driver's input: each read copies out, in one call, at
/// most what the driver wants next (the rest of a prefix, the metadata, or
/// the body), so no body byte that could go in place passes the scratch.
pub struct ChunkInput<'a, C: ?Sized> {
    chunk: &'a C,
    at: usize,
    /// The run of body bytes copied in place since the last read into the
    /// scratch buffer: after a message is decoded, its body (or, when its
    /// memory grew while it was filled, the part written after the growth).
    span: Option<WireSpan>,
}

impl<'a, C: Chunk + ?Sized> ChunkInput<'a, C> {
    /// The whole of `chunk`.
    pub fn new(chunk: &'a C) -> Self {
        ChunkInput {
            chunk,
            at: 0,
            span: None,
        }
    }

    /// Notes that `n` bytes from the input's position were copied to
    /// `addr`: a body copy extends the current run when it continues it on
    /// both sides, else starts a new one; any other copy (the scratch
    /// buffer: a prefix, metadata, a body to relocate) ends it.
    fn note(&mut self, body: bool, addr: usize, n: usize) {
        if !body {
            self.span = None;
            return;
        }
        match &mut self.span {
            Some(s) if s.at + s.len == self.at && s.addr + s.len == addr => s.len += n,
            _ => {
                self.span = Some(WireSpan {
                    at: self.at,
                    addr,
                    len: n,
                })
            }
        }
    }
}

impl<C: Chunk + ?Sized> ByteInput for ChunkInput<'_, C> {
    type Error = Infallible;

    fn poll_read(
        &mut self,
        _cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<std::result::Result<(), Infallible>> {
        let left = self.chunk.len() - self.at;
        let wanted = target.wanted().max(1);
        let body = target.is_body();
        let dst = target.chunk_mut();
        let n = dst.len().min(left).min(wanted);
        // SAFETY: only initialized bytes are written through this view
        // (`copy_out` initializes all `n` of them).
        let dst = unsafe { &mut dst[..n].as_uninit_slice_mut()[..] };
        self.chunk.copy_out(self.at, dst);
        self.note(body, dst.as_ptr() as usize, n);
        // SAFETY: `copy_out` initialized the first `n` bytes of the chunk.
        unsafe { target.advance_mut(n) };
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Decodes an IPC stream from chunks in JavaScript memory: the core's stream
/// driver plus the one-copy feeding of JS bytes into it.
pub struct ChunkDecoder {
    driver: IpcStreamDriver,
    bytes: u64,
}

impl ChunkDecoder {
    /// A decoder with the given options (limits, compact dictionaries).
    pub fn new(options: ReadOptions) -> ChunkDecoder {
        ChunkDecoder {
            driver: IpcStreamDriver::with_scratch(options, SCRATCH_STEP),
            bytes: 0,
        }
    }

    /// The stream's schema, once its schema message has been decoded.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.driver.decoder().schema()
    }

    /// The fields left out because they cannot be decoded (`skipUnsupported`).
    pub fn skipped(&self) -> &[FieldInfo] {
        self.driver.decoder().skipped()
    }

    /// True once the end-of-stream marker was decoded.
    pub fn is_ended(&self) -> bool {
        self.driver.decoder().is_ended()
    }

    /// Bytes offered so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The input has ended: `Ok` only after the end-of-stream marker (a stream
    /// without it is treated as truncated, as the native reader does).
    pub fn finish(&self) -> Result<()> {
        self.driver.decoder().finish()?;
        if !self.is_ended() {
            return Err(Error::new(
                ErrorKind::Truncated,
                "the stream ended without its end-of-stream marker",
            ));
        }
        Ok(())
    }

    /// Decodes the bytes of one WebSocket message, which must hold whole IPC
    /// messages (docs/websocket-protocol.md); an empty one is ignored. Each
    /// table comes with the [`WireSpan`] of its record batch's body, when
    /// that body was copied in place (not relocated): the table's buffers
    /// that lie inside it are the message's own bytes at the same offsets.
    pub fn push_message<C: Chunk + ?Sized>(
        &mut self,
        message: &C,
        out: &mut Vec<(MTable, Option<WireSpan>)>,
    ) -> Result<()> {
        self.bytes += message.len() as u64;
        let mut input = ChunkInput::new(message);
        loop {
            match self.driver.next_in_message(&mut input) {
                Ok(Some(StreamItem::Table(t))) => out.push((t, input.span)),
                Ok(Some(_)) => {}
                Ok(None) => return Ok(()),
                Err(MessageError::Decode(e)) => return Err(e),
                Err(split) => {
                    return Err(Error::new(
                        ErrorKind::Malformed,
                        format!("WebSocket {split}"),
                    ));
                }
            }
        }
    }

    /// Decodes the next `chunk` of the stream (any chunking); completed
    /// tables are appended to `out`.
    pub fn push<C: Chunk + ?Sized>(&mut self, chunk: &C, out: &mut Vec<MTable>) -> Result<()> {
        self.bytes += chunk.len() as u64;
        let mut input = ChunkInput::new(chunk);
        while let Some(item) = self.driver.next_in_memory(&mut input)? {
            on_item(item, out);
        }
        Ok(())
    }
}

/// Tables join `out`; the schema and the end marker stay in the decoder.
fn on_item(item: StreamItem, out: &mut Vec<MTable>) {
    if let StreamItem::Table(t) = item {
        out.push(t);
    }
}

/// Limits for a browser decoder: the core's defaults, with one message's
/// metadata and its body each capped at `max_message_bytes` when given, and
/// the body at 1 GiB when not.
pub fn limits(max_message_bytes: Option<f64>) -> std::result::Result<DecodeLimits, JsError> {
    let mut limits = DecodeLimits::default();
    if let Some(max) = max_message_bytes {
        if !(max.is_finite() && max >= 1.0 && max.fract() == 0.0) {
            return Err(JsError::new(&format!(
                "maxMessageBytes must be a positive whole number, not {max}"
            )));
        }
        limits.max_body_bytes = limits.max_body_bytes.min(max as usize);
        limits.max_metadata_bytes = limits.max_metadata_bytes.min(max as usize);
    } else {
        limits.max_body_bytes = limits.max_body_bytes.min(1 << 30);
    }
    Ok(limits)
}

/// One option of a JS options object, converted by `convert`
/// (`undefined`/`null` options or value: `None`); a value `convert` refuses
/// is an error naming the key and the type it must have.
fn option<T>(
    options: &JsValue,
    key: &str,
    convert: fn(&JsValue) -> Option<T>,
    type_name: &str,
) -> std::result::Result<Option<T>, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let v = Reflect::get(options, &key.into()).map_err(|_| JsError::new("bad options object"))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    convert(&v)
        .map(Some)
        .ok_or_else(|| JsError::new(&format!("option {key} must be a {type_name}")))
}

/// One numeric option of a JS options object (see [`option`]).
pub(crate) fn option_f64(
    options: &JsValue,
    key: &str,
) -> std::result::Result<Option<f64>, JsError> {
    option(options, key, JsValue::as_f64, "number")
}

/// One boolean option of a JS options object (see [`option`]).
pub(crate) fn option_bool(
    options: &JsValue,
    key: &str,
) -> std::result::Result<Option<bool>, JsError> {
    option(options, key, JsValue::as_bool, "boolean")
}

/// The read options an options object asks for: `maxMessageBytes` (see
/// [`limits`]), `compactDictionaries` (`ReadOptions::compact_dictionaries`:
/// each table gets only the dictionary values its rows use, so N small
/// batches over a growing dictionary cost their rows, not N copies of it),
/// `columns` (an array of column names: `ReadOptions::projection`, in the
/// order given; the other columns' buffers are not read, their dictionaries
/// not decoded) and `skipUnsupported` (`ReadOptions::skip_unsupported`:
/// columns of types the package cannot decode are left out and named by
/// `skipped`). `connect`, `decode`, `readStream` and `StreamDecoder` all
/// read them this way.
pub fn options_read(options: &JsValue) -> std::result::Result<ReadOptions, JsError> {
    Ok(ReadOptions {
        limits: limits(option_f64(options, "maxMessageBytes")?)?,
        compact_dictionaries: option_bool(options, "compactDictionaries")?.unwrap_or(false),
        projection: option(options, "columns", string_array, "array of strings")?
            .map(Projection::Names),
        skip_unsupported: option_bool(options, "skipUnsupported")?.unwrap_or(false),
        ..ReadOptions::default()
    })
}

/// A JS array of strings (anything else: `None`).
fn string_array(v: &JsValue) -> Option<Vec<String>> {
    let a = v.dyn_ref::<Array>()?;
    a.iter().map(|s| s.as_string()).collect()
}

/// The fields a decoder skipped, as JavaScript sees them: `[{name, type}]`,
/// `type` the Arrow type as the error messages name it (e.g. `List<Int32>`).
pub fn skipped_to_js(skipped: &[FieldInfo]) -> std::result::Result<Array, JsError> {
    let out = Array::new();
    for f in skipped {
        let o = Object::new();
        let set = |k: &str, v: &str| {
            Reflect::set(&o, &k.into(), &v.into())
                .map(drop)
                .map_err(|_| JsError::new("cannot build the skipped list"))
        };
        set("name", &f.name)?;
        set("type", &f.arrow_type)?;
        out.push(&o);
    }
    Ok(out)
}

/// The bytes of a JS `Uint8Array` or `ArrayBuffer` argument (no copy).
pub fn js_bytes(value: &JsValue, what: &str) -> std::result::Result<Uint8Array, JsError> {
    if let Some(a) = value.dyn_ref::<Uint8Array>() {
        Ok(a.clone())
    } else if let Some(b) = value.dyn_ref::<ArrayBuffer>() {
        Ok(Uint8Array::new(b))
    } else {
        Err(JsError::new(&format!(
            "{what}: expected a Uint8Array or an ArrayBuffer"
        )))
    }
}

/// The error JavaScript sees for a core error.
pub fn js_error(e: &Error) -> JsError {
    JsError::new(&e.to_string())
}

/// `new StreamDecoder(options?)`: an IPC stream push decoder; `options` is
/// `{ maxMessageBytes?, compactDictionaries?, columns?, skipUnsupported? }`
/// (see [`options_read`]; or, as before, the `maxMessageBytes` number alone).
#[wasm_bindgen]
pub struct StreamDecoder {
    decoder: ChunkDecoder,
}

#[wasm_bindgen]
impl StreamDecoder {
    /// A decoder; `maxMessageBytes` caps one message's body (default 1 GiB).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> std::result::Result<StreamDecoder, JsError> {
        let options = match options.as_f64() {
            Some(max) => ReadOptions {
                limits: limits(Some(max))?,
                ..ReadOptions::default()
            },
            None => options_read(&options)?,
        };
        Ok(StreamDecoder {
            decoder: ChunkDecoder::new(options),
        })
    }

    /// Offers the next chunk (Uint8Array or ArrayBuffer, any size); returns
    /// the tables it completed. Throws on malformed input.
    pub fn push(&mut self, chunk: JsValue) -> std::result::Result<Vec<Table>, JsError> {
        let bytes = js_bytes(&chunk, "StreamDecoder.push")?;
        let mut out = Vec::new();
        self.decoder
            .push(&bytes, &mut out)
            .map_err(|e| js_error(&e))?;
        let schema = self.decoder.schema().cloned();
        Ok(match schema {
            Some(s) => out.into_iter().map(|t| Table::new(s.clone(), t)).collect(),
            None => Vec::new(),
        })
    }

    /// Throws unless the input ended cleanly after the end-of-stream marker.
    pub fn finish(&self) -> std::result::Result<(), JsError> {
        self.decoder.finish().map_err(|e| js_error(&e))
    }

    /// The schema's fields, or `null` before the schema message.
    #[wasm_bindgen(getter)]
    pub fn schema(&self) -> std::result::Result<JsValue, JsError> {
        match self.decoder.schema() {
            Some(s) => Ok(fields_to_js(s)?.into()),
            None => Ok(JsValue::NULL),
        }
    }

    /// The schema's custom metadata (empty before the schema message).
    #[wasm_bindgen(getter)]
    pub fn metadata(&self) -> std::result::Result<Object, JsError> {
        match self.decoder.schema() {
            Some(s) => metadata_to_js(&s.metadata),
            None => Ok(Object::new()),
        }
    }

    /// True once the end-of-stream marker has been read.
    #[wasm_bindgen(getter)]
    pub fn ended(&self) -> bool {
        self.decoder.is_ended()
    }

    /// The columns left out by `skipUnsupported`, `[{name, type}]` (empty
    /// before the schema message and when nothing was skipped).
    #[wasm_bindgen(getter)]
    pub fn skipped(&self) -> std::result::Result<Array, JsError> {
        skipped_to_js(self.decoder.skipped())
    }

    /// Bytes offered so far.
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.decoder.bytes() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::{fa_cat32, fa_i64, fa_str32, tbl};
    use lightstream_core::{Compression, IpcStreamDecoder, WriteOptions, write_stream};

    fn stream(options: &WriteOptions) -> Vec<u8> {
        let tables: Vec<MTable> = (0..3)
            .map(|b| {
                tbl!(
                    "t",
                    fa_i64!("n", b, b + 1, b + 2),
                    fa_str32!("s", "x", "yy", "zzz"),
                    fa_cat32!("d", "a", "b", "a")
                )
            })
            .collect();
        write_stream(&Schema::from_table(&tables[0]), &tables, options).unwrap()
    }

    fn all_options() -> Vec<WriteOptions> {
        let mut v = Vec::new();
        for alignment in [64, 8] {
            for compression in [Compression::None, Compression::Lz4Frame] {
                v.push(WriteOptions {
                    alignment,
                    compression,
                    ..WriteOptions::default()
                });
            }
        }
        v
    }

    #[test]
    fn any_chunking_decodes_every_table() {
        for options in all_options() {
            let bytes = stream(&options);
            for step in [1, 3, 8, 63, 64, 100, 4096, bytes.len()] {
                let mut p = ChunkDecoder::new(ReadOptions::default());
                let mut out = Vec::new();
                for c in bytes.chunks(step) {
                    p.push(c, &mut out).unwrap();
                }
                p.finish().unwrap();
                assert_eq!(out.len(), 3, "step {step}");
                assert_eq!(out[2].n_rows, 3);
                assert!(p.schema().is_some());
                assert_eq!(p.bytes(), bytes.len() as u64);
            }
        }
    }

    #[test]
    fn aligned_bodies_land_in_place_without_relocation() {
        // With 64-byte padding each body goes through the sink: the decoded
        // column buffers are 64-byte aligned.
        let bytes = stream(&WriteOptions::default());
        let mut p = ChunkDecoder::new(ReadOptions::default());
        let mut out = Vec::new();
        p.push(&bytes[..], &mut out).unwrap();
        for t in &out {
            let lightstream_core::minarrow::Array::NumericArray(n) = &t.cols[0].array else {
                panic!("numeric column expected");
            };
            let lightstream_core::minarrow::NumericArray::Int64(a) = n else {
                panic!("i64 expected");
            };
            assert_eq!(a.data.as_slice().as_ptr() as usize % 64, 0);
        }
    }

    /// Splits an IPC stream into its encapsulated messages (as a WebSocket
    /// writer sends them), finding the boundaries with a byte-wise decoder.
    fn messages(bytes: &[u8]) -> Vec<&[u8]> {
        let mut dec = IpcStreamDecoder::new(ReadOptions::default());
        let (mut out, mut start) = (Vec::new(), 0);
        for i in 0..bytes.len() {
            let _ = dec.push(&bytes[i..i + 1]).unwrap();
            if dec.is_at_message_boundary() {
                out.push(&bytes[start..=i]);
                start = i + 1;
            }
        }
        out
    }

    #[test]
    fn whole_messages_decode_and_split_ones_are_refused() {
        let bytes = stream(&WriteOptions::default());
        let msgs = messages(&bytes);
        assert!(msgs.len() >= 5);
        let mut p = ChunkDecoder::new(ReadOptions::default());
        let mut out = Vec::new();
        for m in &msgs {
            p.push_message(*m, &mut out).unwrap();
        }
        assert!(p.is_ended());
        assert_eq!(out.len(), 3);

        let mut p = ChunkDecoder::new(ReadOptions::default());
        let first = msgs[0];
        let e = p
            .push_message(&first[..first.len() - 8], &mut Vec::new())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("WebSocket message 1 ended inside an Arrow IPC message"),
            "{e}"
        );
        // An empty message carries no IPC message: ignored, as the native
        // reader does (docs/websocket-protocol.md, one rule in the core).
        let mut p = ChunkDecoder::new(ReadOptions::default());
        let mut out = Vec::new();
        p.push_message(&[][..], &mut out).unwrap();
        for m in &msgs {
            p.push_message(*m, &mut out).unwrap();
        }
        assert_eq!(out.len(), 3);
    }

    /// Decodes `bytes` message by message and counts the buffers (first
    /// column's values; second column's string bytes when it has one) that
    /// lie in their message's [`WireSpan`], checking that each is the
    /// message's own bytes at the offset the span gives.
    fn wire_viewed(bytes: &[u8]) -> usize {
        use lightstream_core::minarrow::{Array, NumericArray, TextArray};
        let mut p = ChunkDecoder::new(ReadOptions::default());
        let mut viewed = 0;
        for m in messages(bytes) {
            let mut out = Vec::new();
            p.push_message(m, &mut out).unwrap();
            for (t, span) in out {
                let Array::NumericArray(NumericArray::Int64(n)) = &t.cols[0].array else {
                    panic!("i64 expected");
                };
                let mut bufs = vec![as_bytes(n.data.as_slice())];
                if let Some(Array::TextArray(TextArray::String32(s))) =
                    t.cols.get(1).map(|c| &c.array)
                {
                    bufs.push(s.data.as_slice());
                }
                for buf in bufs {
                    let at = span.and_then(|w| w.offset_of(buf.as_ptr() as usize, buf.len()));
                    if let Some(at) = at {
                        assert_eq!(&m[at..at + buf.len()], buf);
                        viewed += 1;
                    }
                }
            }
        }
        viewed
    }

    #[test]
    fn in_place_bodies_map_buffers_back_to_their_message_bytes() {
        let opts = |alignment, compression| WriteOptions {
            alignment,
            compression,
            ..WriteOptions::default()
        };
        // 64-byte aligned and uncompressed: every buffer stays in place.
        assert_eq!(wire_viewed(&stream(&opts(64, Compression::None))), 6);
        // 8-byte aligned (pyarrow's): every buffer is aligned for its type,
        // so the body stays in place too (`align_64` would relocate it).
        assert_eq!(wire_viewed(&stream(&opts(8, Compression::None))), 6);
        // A compressed body is copied in place; buffers the writer left
        // uncompressed (too small to gain) are sliced from it, and map back
        // to the message's bytes (checked in `wire_viewed`)...
        assert_eq!(wire_viewed(&stream(&opts(8, Compression::Lz4Frame))), 6);
        // ...while compressed ones are decompressed elsewhere: copied.
        let t = tbl!(
            "t",
            fa_i64!("n", 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7)
        );
        let lz4 = write_stream(
            &Schema::from_table(&t),
            &[t],
            &opts(64, Compression::Lz4Frame),
        )
        .unwrap();
        assert_eq!(wire_viewed(&lz4), 0);
    }

    fn as_bytes(v: &[i64]) -> &[u8] {
        // SAFETY: i64s have no padding; the bytes borrow the same memory.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
    }

    /// `n` one-row tables, each dictionary-encoding its own value, written
    /// with the encoder's dictionary unification: one dictionary that grows
    /// by a one-value delta per batch (a live feed).
    fn delta_stream(n: usize) -> Vec<u8> {
        let tables: Vec<MTable> = (0..n)
            .map(|i| {
                let value = format!("value-{i}");
                tbl!("t", fa_cat32!("city", value.as_str()))
            })
            .collect();
        let options = WriteOptions {
            unify_dictionaries: true,
            ..WriteOptions::default()
        };
        write_stream(&Schema::from_table(&tables[0]), &tables, &options).unwrap()
    }

    /// The dictionary values of table `t`'s only column, and its one key.
    fn dictionary_of(t: &MTable) -> (Vec<String>, usize) {
        use lightstream_core::minarrow::{Array, TextArray};
        let Array::TextArray(TextArray::Categorical32(c)) = &t.cols[0].array else {
            panic!("a dictionary<uint32> column expected");
        };
        (c.unique_values.to_vec(), c.data.as_slice()[0] as usize)
    }

    #[test]
    fn compact_dictionaries_give_each_table_only_its_values() {
        let bytes = delta_stream(50);
        for compact in [false, true] {
            let mut p = ChunkDecoder::new(ReadOptions {
                compact_dictionaries: compact,
                ..ReadOptions::default()
            });
            let mut out = Vec::new();
            for c in bytes.chunks(100) {
                p.push(c, &mut out).unwrap();
            }
            p.finish().unwrap();
            assert_eq!(out.len(), 50);
            for (i, t) in out.iter().enumerate() {
                let (values, key) = dictionary_of(t);
                assert_eq!(values[key], format!("value-{i}"), "table {i}");
                // Compact: the one value the row uses; otherwise the whole
                // dictionary as it stands after table i's delta.
                assert_eq!(values.len(), if compact { 1 } else { i + 1 }, "table {i}");
            }
        }
    }

    #[test]
    fn a_stream_without_its_end_marker_is_truncated() {
        let bytes = stream(&WriteOptions::default());
        let mut p = ChunkDecoder::new(ReadOptions::default());
        p.push(&bytes[..bytes.len() - 8], &mut Vec::new()).unwrap();
        let e = p.finish().unwrap_err();
        assert_eq!(e.kind(), lightstream_core::ErrorKind::Truncated);
    }

    #[test]
    fn oversized_messages_are_refused_by_the_limit() {
        let bytes = stream(&WriteOptions::default());
        let limits = DecodeLimits {
            max_body_bytes: 16,
            ..DecodeLimits::default()
        };
        let e = ChunkDecoder::new(ReadOptions {
            limits,
            ..ReadOptions::default()
        })
        .push(&bytes[..], &mut Vec::new())
        .unwrap_err();
        assert!(!e.to_string().is_empty());
    }
}
