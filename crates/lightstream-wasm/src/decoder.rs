//! Incremental decoding of an IPC stream whose bytes arrive in JavaScript
//! memory (WebSocket messages, `ReadableStream` chunks, `push` calls).
//!
//! [`Pusher`] copies every byte exactly once out of its source: message
//! bodies go straight into the core decoder's 64-byte aligned body buffer
//! (through [`lightstream_core::BodySink`]), so the columns of the decoded
//! tables live where the bytes were copied to. Only message prefixes and
//! metadata (and bodies that must be relocated because the producer padded
//! them to 8 bytes only) pass through a small scratch buffer first.
//!
//! [`StreamDecoder`] is the push decoder JavaScript can drive itself.

use std::mem::MaybeUninit;
use std::sync::Arc;

use js_sys::{ArrayBuffer, Object, Reflect, Uint8Array};
use lightstream_core::bytes::BufMut;
use lightstream_core::framing::Decoded;
use lightstream_core::minarrow::Table as MTable;
use lightstream_core::{
    DecodeLimits, Error, ErrorKind, IpcStreamDecoder, ReadOptions, Result, Schema, StreamItem,
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

/// Largest piece of non-body bytes copied through the scratch buffer at once.
const SCRATCH_STEP: usize = 256 * 1024;

/// The IPC stream decoder plus the one-copy feeding of JS bytes into it.
pub struct Pusher {
    dec: IpcStreamDecoder,
    scratch: Vec<u8>,
    schema: Option<Arc<Schema>>,
    bytes: u64,
    messages: u64,
    ended: bool,
}

impl Pusher {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Pusher {
        Pusher {
            dec: IpcStreamDecoder::new(ReadOptions {
                limits,
                ..ReadOptions::default()
            }),
            scratch: Vec::new(),
            schema: None,
            bytes: 0,
            messages: 0,
            ended: false,
        }
    }

    /// The stream's schema, once its schema message has been decoded.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.schema.as_ref()
    }

    /// True once the end-of-stream marker was decoded.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes offered so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The input has ended: `Ok` only after the end-of-stream marker (a stream
    /// without it is treated as truncated, as the native reader does).
    pub fn finish(&self) -> Result<()> {
        self.dec.finish()?;
        if !self.ended {
            return Err(Error::new(
                ErrorKind::Truncated,
                "the stream ended without its end-of-stream marker",
            ));
        }
        Ok(())
    }

    /// Decodes the bytes of one WebSocket message, which must hold exactly
    /// one whole IPC message (docs/websocket-protocol.md).
    pub fn push_message<C: Chunk + ?Sized>(
        &mut self,
        message: &C,
        out: &mut Vec<MTable>,
    ) -> Result<()> {
        self.messages += 1;
        if message.is_empty() {
            return Err(Error::new(
                ErrorKind::Malformed,
                format!(
                    "WebSocket message {} is empty (each message carries one IPC message)",
                    self.messages
                ),
            ));
        }
        self.push(message, out)?;
        if !self.dec.is_at_message_boundary() {
            return Err(Error::new(
                ErrorKind::Malformed,
                format!(
                    "WebSocket message {} ends inside an IPC message (each WebSocket \
                 message must carry exactly one whole IPC message)",
                    self.messages
                ),
            ));
        }
        Ok(())
    }

    /// Decodes the next `chunk` of the stream (any chunking); completed
    /// tables are appended to `out`.
    pub fn push<C: Chunk + ?Sized>(&mut self, chunk: &C, out: &mut Vec<MTable>) -> Result<()> {
        let len = chunk.len();
        self.bytes += len as u64;
        let mut at = 0;
        while at < len {
            if let Some(mut sink) = self.dec.body_sink() {
                let dst = sink.chunk_mut();
                let n = dst.len().min(len - at);
                // SAFETY: `UninitSlice` is a view of `n`+ writable bytes;
                // viewing it as `MaybeUninit<u8>` only allows writing them.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<MaybeUninit<u8>>(), n)
                };
                chunk.copy_out(at, dst);
                // SAFETY: `copy_out` initialized all `n` bytes just above.
                unsafe { sink.advance_mut(n) };
                at += n;
                if let Some(item) = self.dec.take_body()? {
                    self.on_item(item, out);
                }
                continue;
            }
            let n = self.scratch_len(chunk, at);
            self.scratch.clear();
            self.scratch.reserve(n);
            chunk.copy_out(at, &mut self.scratch.spare_capacity_mut()[..n]);
            // SAFETY: `copy_out` initialized the first `n` spare bytes.
            unsafe { self.scratch.set_len(n) };
            at += n;
            let mut used = 0;
            while used < n {
                match self.dec.push(&self.scratch[used..n])? {
                    Decoded::Frame { frame, consumed } => {
                        used += consumed;
                        let item = frame;
                        self.on_item(item, out);
                    }
                    Decoded::NeedMore => break,
                }
            }
        }
        Ok(())
    }

    /// How many bytes at `at` to copy through the scratch buffer: at a
    /// message boundary just the message's prefix and metadata (read from its
    /// length field), so the body can go straight into aligned memory.
    fn scratch_len<C: Chunk + ?Sized>(&self, chunk: &C, at: usize) -> usize {
        let left = chunk.len() - at;
        if !self.dec.is_at_message_boundary() || left < 8 {
            return left.min(SCRATCH_STEP);
        }
        let mut head = [MaybeUninit::<u8>::uninit(); 8];
        chunk.copy_out(at, &mut head);
        // SAFETY: `copy_out` initialized all 8 bytes.
        let head: [u8; 8] = unsafe { std::mem::transmute(head) };
        let word = |i: usize| i32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let prefix = if word(0) == -1 {
            8 + word(4).max(0) as usize
        } else {
            // Legacy framing (before Arrow 0.15): the length alone.
            4 + word(0).max(0) as usize
        };
        prefix.min(left).min(SCRATCH_STEP.max(8))
    }

    fn on_item(&mut self, item: StreamItem, out: &mut Vec<MTable>) {
        match item {
            StreamItem::Schema(s) => self.schema = Some(s),
            StreamItem::Table(t) => out.push(t),
            StreamItem::End => self.ended = true,
        }
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

/// One numeric option of a JS options object (`undefined`/`null` options or
/// value: `None`); any other non-number is an error naming the key.
pub(crate) fn option_f64(
    options: &JsValue,
    key: &str,
) -> std::result::Result<Option<f64>, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let v = Reflect::get(options, &key.into()).map_err(|_| JsError::new("bad options object"))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .ok_or_else(|| JsError::new(&format!("option {key} must be a number")))
}

/// The limits an options object's `maxMessageBytes` asks for (see [`limits`]);
/// `connect`, `decode` and `readStream` all read it this way.
pub fn options_limits(options: &JsValue) -> std::result::Result<DecodeLimits, JsError> {
    limits(option_f64(options, "maxMessageBytes")?)
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

/// `new StreamDecoder(maxMessageBytes?)`: an IPC stream push decoder.
#[wasm_bindgen]
pub struct StreamDecoder {
    pusher: Pusher,
}

#[wasm_bindgen]
impl StreamDecoder {
    /// A decoder; `maxMessageBytes` caps one message's body (default 1 GiB).
    #[wasm_bindgen(constructor)]
    pub fn new(max_message_bytes: Option<f64>) -> std::result::Result<StreamDecoder, JsError> {
        Ok(StreamDecoder {
            pusher: Pusher::new(limits(max_message_bytes)?),
        })
    }

    /// Offers the next chunk (Uint8Array or ArrayBuffer, any size); returns
    /// the tables it completed. Throws on malformed input.
    pub fn push(&mut self, chunk: JsValue) -> std::result::Result<Vec<Table>, JsError> {
        let bytes = js_bytes(&chunk, "StreamDecoder.push")?;
        let mut out = Vec::new();
        self.pusher
            .push(&bytes, &mut out)
            .map_err(|e| js_error(&e))?;
        let schema = self.pusher.schema().cloned();
        Ok(match schema {
            Some(s) => out.into_iter().map(|t| Table::new(s.clone(), t)).collect(),
            None => Vec::new(),
        })
    }

    /// Throws unless the input ended cleanly after the end-of-stream marker.
    pub fn finish(&self) -> std::result::Result<(), JsError> {
        self.pusher.finish().map_err(|e| js_error(&e))
    }

    /// The schema's fields, or `null` before the schema message.
    #[wasm_bindgen(getter)]
    pub fn schema(&self) -> std::result::Result<JsValue, JsError> {
        match self.pusher.schema() {
            Some(s) => Ok(fields_to_js(s)?.into()),
            None => Ok(JsValue::NULL),
        }
    }

    /// The schema's custom metadata (empty before the schema message).
    #[wasm_bindgen(getter)]
    pub fn metadata(&self) -> std::result::Result<Object, JsError> {
        match self.pusher.schema() {
            Some(s) => metadata_to_js(&s.metadata),
            None => Ok(Object::new()),
        }
    }

    /// True once the end-of-stream marker has been read.
    #[wasm_bindgen(getter)]
    pub fn ended(&self) -> bool {
        self.pusher.is_ended()
    }

    /// Bytes offered so far.
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.pusher.bytes() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::{fa_cat32, fa_i64, fa_str32, tbl};
    use lightstream_core::{Compression, WriteOptions, write_stream};

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
                let mut p = Pusher::new(DecodeLimits::default());
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
        let mut p = Pusher::new(DecodeLimits::default());
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
        let mut p = Pusher::new(DecodeLimits::default());
        let mut out = Vec::new();
        for m in &msgs {
            p.push_message(*m, &mut out).unwrap();
        }
        assert!(p.is_ended());
        assert_eq!(out.len(), 3);

        let mut p = Pusher::new(DecodeLimits::default());
        let first = msgs[0];
        let e = p
            .push_message(&first[..first.len() - 8], &mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("ends inside an IPC message"), "{e}");
        let e = Pusher::new(DecodeLimits::default())
            .push_message(&[][..], &mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn a_stream_without_its_end_marker_is_truncated() {
        let bytes = stream(&WriteOptions::default());
        let mut p = Pusher::new(DecodeLimits::default());
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
        let e = Pusher::new(limits)
            .push(&bytes[..], &mut Vec::new())
            .unwrap_err();
        assert!(!e.to_string().is_empty());
    }
}
