//! `exportParts(table)`: a decoded table as plain JavaScript objects and
//! ArrayBuffers the page owns. Each column buffer is copied ONCE out of wasm
//! memory into a fresh ArrayBuffer (numbers, keys, validity and boolean
//! bitmaps byte for byte; string offsets rebased to 0), except the "wire
//! views": a table that came in one WebSocket message whose record batch body
//! was decoded in place ([`crate::table::WireView`]) gets its values, keys,
//! string offsets and bytes that lie in that body as typed arrays over the
//! message's own ArrayBuffer at the same offsets (no copy); then the wasm
//! table is freed. The result is
//! structured-cloneable: a Worker can `postMessage` it with its buffers as
//! transferables, and npm/table.js `Table.fromParts` wraps it without
//! copying. The format is internal to the package; it is described at the
//! top of npm/table.js and in ARCHITECTURE.md.

use js_sys::{
    ArrayBuffer, BigInt64Array, BigUint64Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Object, Uint8Array, Uint16Array, Uint32Array,
};
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, FieldArray, Integer, NumericArray, StringArray,
    TemporalArray, TextArray, TimeUnit,
};
use lightstream_core::minarrow::{Table as MTable, Vec64};
use lightstream_core::{DictionaryEncoding, IndexType, Schema, WriteOptions, write_stream};
use wasm_bindgen::prelude::*;

use crate::column::string_buffers;
use crate::table::{Table, WireView, fields_to_js, metadata_to_js, set};

/// The message a table's buffers may be viewed in (`None`: copy them all).
type Src<'a> = Option<&'a WireView>;

/// The bytes of a slice of plain integers or floats.
fn as_bytes<T: Copy>(s: &[T]) -> &[u8] {
    // SAFETY: only called with primitive numbers (no padding, every byte
    // initialized); the byte slice covers exactly the same memory and
    // borrows it for the same lifetime.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
}

/// A fresh ArrayBuffer holding a copy of `bytes` (the one copy out of wasm).
fn copy_buffer(bytes: &[u8]) -> ArrayBuffer {
    Uint8Array::from(bytes).buffer()
}

/// Which typed array a column's values (or keys) become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typed {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

impl Typed {
    /// Bytes per element.
    fn width(self) -> usize {
        match self {
            Typed::I8 | Typed::U8 => 1,
            Typed::I16 | Typed::U16 => 2,
            Typed::I32 | Typed::U32 | Typed::F32 => 4,
            Typed::I64 | Typed::U64 | Typed::F64 => 8,
        }
    }

    /// A typed array of `n` elements over `buf` from byte `at`.
    fn view(self, buf: &ArrayBuffer, at: u32, n: u32) -> JsValue {
        match self {
            Typed::I8 => Int8Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::I16 => Int16Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::I32 => Int32Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::I64 => BigInt64Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::U8 => Uint8Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::U16 => Uint16Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::U32 => Uint32Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::U64 => BigUint64Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::F32 => Float32Array::new_with_byte_offset_and_length(buf, at, n).into(),
            Typed::F64 => Float64Array::new_with_byte_offset_and_length(buf, at, n).into(),
        }
    }

    /// `bytes` (of wasm memory) as a typed array of this kind: a view of the
    /// wire message when they lie in its decoded body at an offset aligned
    /// for the elements (and the message is still attached), else a copy.
    fn out(self, bytes: &[u8], src: Src) -> JsValue {
        let width = self.width();
        if let Some(v) = src
            && !bytes.is_empty()
            && let Some(at) = v.span.offset_of(bytes.as_ptr() as usize, bytes.len())
            && at.is_multiple_of(width)
            && bytes.len().is_multiple_of(width)
            && at + bytes.len() <= v.buffer.byte_length() as usize
            && let (Ok(at), Ok(n)) = (u32::try_from(at), u32::try_from(bytes.len() / width))
        {
            return self.view(&v.buffer, at, n);
        }
        self.make(&copy_buffer(bytes))
    }

    fn make(self, buf: &ArrayBuffer) -> JsValue {
        match self {
            Typed::I8 => Int8Array::new(buf).into(),
            Typed::I16 => Int16Array::new(buf).into(),
            Typed::I32 => Int32Array::new(buf).into(),
            Typed::I64 => BigInt64Array::new(buf).into(),
            Typed::U8 => Uint8Array::new(buf).into(),
            Typed::U16 => Uint16Array::new(buf).into(),
            Typed::U32 => Uint32Array::new(buf).into(),
            Typed::U64 => BigUint64Array::new(buf).into(),
            Typed::F32 => Float32Array::new(buf).into(),
            Typed::F64 => Float64Array::new(buf).into(),
        }
    }

    /// The typed array of dictionary keys the schema's index type names
    /// (signed when the schema says signed; minarrow stores them unsigned,
    /// with the same bits).
    pub fn of_index(index: IndexType) -> Typed {
        match index {
            IndexType::Int8 => Typed::I8,
            IndexType::Int16 => Typed::I16,
            IndexType::Int32 => Typed::I32,
            IndexType::Int64 => Typed::I64,
            IndexType::UInt8 => Typed::U8,
            IndexType::UInt16 => Typed::U16,
            IndexType::UInt32 => Typed::U32,
            IndexType::UInt64 => Typed::U64,
        }
    }
}

/// `slice[..len]` as a typed array of kind `ty` (a wire view or a copy,
/// see [`Typed::out`]).
fn typed_out<T: Copy>(
    ty: Typed,
    slice: &[T],
    len: usize,
    name: &str,
    src: Src,
) -> Result<JsValue, String> {
    let s = slice
        .get(..len)
        .ok_or_else(|| format!("column \"{name}\": buffer is shorter than its length {len}"))?;
    Ok(ty.out(as_bytes(s), src))
}

/// The validity bitmap of `len` rows (LSB first, a copy), or `None` when no
/// row is null.
pub fn validity_copy(mask: Option<&Bitmask>, len: usize) -> Option<Vec<u8>> {
    let mask = mask?;
    let nbytes = len.div_ceil(8);
    let mut out = match mask.bits.as_slice().get(..nbytes) {
        Some(bytes) if mask.len() >= len => bytes.to_vec(),
        _ => {
            let mut out = vec![0u8; nbytes];
            for i in 0..len.min(mask.len()) {
                if mask.get(i) {
                    out[i / 8] |= 1 << (i % 8);
                }
            }
            out
        }
    };
    if len % 8 != 0
        && let Some(last) = out.last_mut()
    {
        *last &= (1u8 << (len % 8)) - 1;
    }
    Some(out)
}

/// Epoch unit of a date or timestamp type (`d`, `s`, `ms`, `us`, `ns`), for
/// the `useDate` conversions; `None` for other types.
fn epoch_unit(dtype: &ArrowType) -> Option<&'static str> {
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Seconds => "s",
        TimeUnit::Milliseconds => "ms",
        TimeUnit::Microseconds => "us",
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Days => "d",
    };
    match dtype {
        ArrowType::Date32 => Some("d"),
        ArrowType::Date64 => Some("ms"),
        ArrowType::Timestamp(u, _) => Some(unit(u)),
        _ => None,
    }
}

/// Strings as parts: `{offsets: Uint32Array (len + 1, from 0), data, ascii}`.
/// With a wire message, 32-bit offsets that start at 0 (as every writer
/// sends them; the core's decoder checked them against the data) go out as
/// they are, viewed when they lie in the wire body, without the rebased
/// copy; other offsets are copied rebased.
fn string_parts<O: Integer>(
    obj: &Object,
    a: &StringArray<O>,
    len: usize,
    name: &str,
    src: Src,
) -> Result<(), String> {
    let short = || format!("column \"{name}\": string offsets are shorter than its length");
    if src.is_some() && std::mem::size_of::<O>() == 4 {
        let raw = a.offsets.as_slice().get(..len + 1).ok_or_else(short)?;
        if raw.first().is_some_and(|o| Integer::to_usize(*o) == 0) {
            let end = raw.last().map_or(0, |o| Integer::to_usize(*o));
            let data = a.data.as_slice().get(..end).ok_or_else(|| {
                format!("column \"{name}\": string offsets 0..{end} out of range")
            })?;
            return strings_out(obj, as_bytes(raw), data, src);
        }
    }
    let (pos, data) = string_buffers(a, len, name)?;
    strings_out(obj, as_bytes(&pos), data, src)
}

/// `offsets` (bytes of u32s from 0) and `data` as `{offsets, data, ascii}`.
fn strings_out(obj: &Object, offsets: &[u8], data: &[u8], src: Src) -> Result<(), String> {
    set_s(obj, "offsets", &Typed::U32.out(offsets, src))?;
    set_s(obj, "data", &Typed::U8.out(data, src))?;
    set_s(obj, "ascii", &JsValue::from_bool(data.is_ascii()))
}

fn set_s(obj: &Object, key: &str, v: &JsValue) -> Result<(), String> {
    set(obj, key, v).map_err(|_| format!("cannot set property \"{key}\""))
}

/// A dictionary column: keys typed by the schema's index type, and the
/// dictionary's values as `{offsets, data, ascii}`.
fn dict_parts<K: Integer>(
    obj: &Object,
    a: &CategoricalArray<K>,
    len: usize,
    encoding: Option<&DictionaryEncoding>,
    default: Typed,
    name: &str,
    src: Src,
) -> Result<(), String> {
    let ty = encoding.map_or(default, |e| Typed::of_index(e.index_type));
    set_s(
        obj,
        "keys",
        &typed_out(ty, a.data.as_slice(), len, name, src)?,
    )?;
    let total: usize = a.unique_values.iter().map(String::len).sum();
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(a.unique_values.len() + 1);
    offsets.push(0u32);
    for v in a.unique_values.iter() {
        data.extend_from_slice(v.as_bytes());
        offsets.push(u32::try_from(data.len()).map_err(|e| e.to_string())?);
    }
    let dict = Object::new();
    strings_out(&dict, as_bytes(&offsets), &data, None)?;
    set_s(obj, "dictionary", &dict.into())
}

/// One column as parts (see npm/table.js for the format); buffers in the
/// wire body of `src` are views of it.
pub fn column_parts(
    fa: &FieldArray,
    len: usize,
    encoding: Option<&DictionaryEncoding>,
    src: Src,
) -> Result<Object, String> {
    let name = fa.field.name.as_str();
    let obj = Object::new();
    set_s(&obj, "length", &JsValue::from_f64(len as f64))?;
    let mask = match &fa.array {
        Array::Null => None,
        other => other.null_mask(),
    };
    let validity = match (&fa.array, validity_copy(mask, len)) {
        (Array::Null, _) => Some(vec![0u8; len.div_ceil(8)]),
        (_, v) => v,
    };
    let null_count = match &validity {
        None => 0,
        Some(v) => {
            let set: usize = v.iter().map(|b| b.count_ones() as usize).sum();
            len - set.min(len)
        }
    };
    set_s(&obj, "nullCount", &JsValue::from_f64(null_count as f64))?;
    set_s(
        &obj,
        "validity",
        &validity.map_or(JsValue::NULL, |v| Uint8Array::from(&v[..]).into()),
    )?;
    let fixed = |values: JsValue| -> Result<&'static str, String> {
        set_s(&obj, "values", &values)?;
        Ok("fixed")
    };
    #[allow(unreachable_patterns)]
    let kind = match &fa.array {
        Array::Null => "null",
        Array::BooleanArray(b) => {
            if b.data.len() < len {
                return Err(format!("column \"{name}\": boolean buffer too short"));
            }
            let bits = validity_copy(Some(&b.data), len).unwrap_or_default();
            set_s(&obj, "bits", &Uint8Array::from(&bits[..]).into())?;
            "bool"
        }
        Array::NumericArray(n) => match n {
            NumericArray::Int8(a) => {
                fixed(typed_out(Typed::I8, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Int16(a) => {
                fixed(typed_out(Typed::I16, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Int32(a) => {
                fixed(typed_out(Typed::I32, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Int64(a) => {
                fixed(typed_out(Typed::I64, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::UInt8(a) => {
                fixed(typed_out(Typed::U8, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::UInt16(a) => {
                fixed(typed_out(Typed::U16, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::UInt32(a) => {
                fixed(typed_out(Typed::U32, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::UInt64(a) => {
                fixed(typed_out(Typed::U64, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Float32(a) => {
                fixed(typed_out(Typed::F32, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Float64(a) => {
                fixed(typed_out(Typed::F64, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Decimal32(a) => {
                fixed(typed_out(Typed::I32, a.data.as_slice(), len, name, src)?)?
            }
            NumericArray::Decimal64(a) => {
                fixed(typed_out(Typed::I64, a.data.as_slice(), len, name, src)?)?
            }
            // Two 64-bit words per value, low first (little-endian i128).
            NumericArray::Decimal128(a) => {
                let s = a.data.as_slice().get(..len).ok_or_else(|| {
                    format!("column \"{name}\": buffer is shorter than its length {len}")
                })?;
                fixed(Typed::I64.out(as_bytes(s), src))?;
                "i128"
            }
            NumericArray::Null => "null",
            _ => "unsupported",
        },
        Array::TemporalArray(t) => {
            if let Some(unit) = epoch_unit(&fa.field.dtype) {
                set_s(&obj, "epoch", &JsValue::from_str(unit))?;
            }
            match t {
                TemporalArray::Datetime32(a) => {
                    fixed(typed_out(Typed::I32, a.data.as_slice(), len, name, src)?)?
                }
                TemporalArray::Datetime64(a) => {
                    fixed(typed_out(Typed::I64, a.data.as_slice(), len, name, src)?)?
                }
                TemporalArray::Null => "null",
                _ => "unsupported",
            }
        }
        Array::TextArray(t) => match t {
            TextArray::String32(a) => {
                string_parts(&obj, a, len, name, src)?;
                "utf8"
            }
            TextArray::String64(a) => {
                string_parts(&obj, a, len, name, src)?;
                "utf8"
            }
            TextArray::Categorical8(a) => {
                dict_parts(&obj, a, len, encoding, Typed::U8, name, src)?;
                "dict"
            }
            TextArray::Categorical16(a) => {
                dict_parts(&obj, a, len, encoding, Typed::U16, name, src)?;
                "dict"
            }
            TextArray::Categorical32(a) => {
                dict_parts(&obj, a, len, encoding, Typed::U32, name, src)?;
                "dict"
            }
            TextArray::Categorical64(a) => {
                dict_parts(&obj, a, len, encoding, Typed::U64, name, src)?;
                "dict"
            }
            TextArray::Null => "null",
            _ => "unsupported",
        },
        _ => "unsupported",
    };
    set_s(&obj, "kind", &JsValue::from_str(kind))?;
    Ok(obj)
}

/// `exportParts(table)`: the table as parts the page owns (`{fields,
/// metadata, numRows, columns}`); the wasm table is consumed and freed.
/// Throws (`kind: 'InvalidData'`) when a buffer is shorter than the table
/// says, which the decoder has already ruled out.
#[wasm_bindgen(js_name = exportParts)]
pub fn export_parts(table: Table) -> Result<JsValue, JsValue> {
    table_parts(table).map_err(|(kind, e)| {
        let err = js_sys::Error::new(&e);
        let _ = js_sys::Reflect::set(&err, &"kind".into(), &kind.into());
        err.into()
    })
}

/// [`export_parts`], failing with the error's `kind` and message (what a
/// stream with `eagerParts` fails with).
pub(crate) fn table_parts(table: Table) -> Result<JsValue, (&'static str, String)> {
    let io = |e: String| ("Io", e);
    let (schema, t, wire, view) = table.into_parts();
    let obj = Object::new();
    let fields = fields_to_js(&schema).map_err(|e| io(js_message(e)))?;
    let metadata = metadata_to_js(&t.metadata).map_err(|e| io(js_message(e)))?;
    set_s(&obj, "fields", &fields.into()).map_err(io)?;
    set_s(&obj, "metadata", &metadata.into()).map_err(io)?;
    set_s(&obj, "numRows", &JsValue::from_f64(t.n_rows as f64)).map_err(io)?;
    // The schema as an IPC stream of no batches: what `encodeParts` re-reads
    // (types, dictionary encodings and metadata exactly as decoded).
    let schema_ipc = write_stream(&schema, &[], &WriteOptions::default())
        .map_err(|e| ("Schema", e.to_string()))?;
    set_s(&obj, "schema", &Uint8Array::from(&schema_ipc[..]).into()).map_err(io)?;
    let columns = js_sys::Array::new();
    for (i, fa) in t.cols.iter().enumerate() {
        let encoding = schema.dictionaries.get(i).copied().flatten();
        let c = column_parts(fa, t.n_rows, encoding.as_ref(), view.as_ref())
            .map_err(|e| ("InvalidData", e))?;
        columns.push(&c);
    }
    set_s(&obj, "columns", &columns.into()).map_err(io)?;
    if let Some(wire) = wire {
        set_s(&obj, "wire", &wire).map_err(io)?;
    }
    Ok(obj.into())
}

/// The message of a `JsError` (for [`table_parts`]'s typed errors).
fn js_message(e: JsError) -> String {
    let v = JsValue::from(e);
    js_sys::Reflect::get(&v, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "could not build the table's parts".into())
}

// ---------------------------------------------------------------- back in

/// Property `key` of a parts object.
fn prop(obj: &JsValue, key: &str) -> Result<JsValue, String> {
    js_sys::Reflect::get(obj, &key.into()).map_err(|_| format!("parts: cannot read \"{key}\""))
}

/// The bytes of the typed array at `obj[key]` (copied into wasm memory).
fn prop_bytes(obj: &JsValue, key: &str) -> Result<Vec<u8>, String> {
    let v = prop(obj, key)?;
    let view = v
        .dyn_ref::<js_sys::Object>()
        .filter(|_| js_sys::ArrayBuffer::is_view(&v))
        .ok_or_else(|| format!("parts: \"{key}\" is not a typed array"))?;
    let buffer = js_sys::Reflect::get(view, &"buffer".into()).map_err(|e| format!("{e:?}"))?;
    let offset = prop(&v, "byteOffset")?.as_f64().unwrap_or(0.0) as u32;
    let length = prop(&v, "byteLength")?.as_f64().unwrap_or(0.0) as u32;
    Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, offset, length).to_vec())
}

/// `len` values of `T` from the typed array at `obj[key]`, checked to hold
/// exactly that many bytes.
fn prop_values<T: Copy + Default>(
    obj: &JsValue,
    key: &str,
    len: usize,
    name: &str,
) -> Result<lightstream_core::minarrow::Buffer<T>, String> {
    let bytes = prop_bytes(obj, key)?;
    let width = std::mem::size_of::<T>();
    if bytes.len() != len * width {
        return Err(format!(
            "column \"{name}\": \"{key}\" holds {} bytes, not {len} values of {width} bytes",
            bytes.len()
        ));
    }
    let mut v: Vec64<T> = Vec64::with_capacity(len);
    v.resize(len, T::default());
    // SAFETY: `v` holds `len` initialized values of a primitive type, i.e.
    // exactly `bytes.len()` bytes that any bit pattern may fill.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len())
    };
    Ok(v.into())
}

/// A bitmap of `len` bits from `obj[key]` (`None` for null / absent).
fn prop_bitmap(
    obj: &JsValue,
    key: &str,
    len: usize,
    name: &str,
) -> Result<Option<Bitmask>, String> {
    if prop(obj, key)?.is_null() || prop(obj, key)?.is_undefined() {
        return Ok(None);
    }
    let bytes = prop_bytes(obj, key)?;
    if bytes.len() < len.div_ceil(8) {
        return Err(format!(
            "column \"{name}\": bitmap \"{key}\" is shorter than {len} bits"
        ));
    }
    Ok(Some(Bitmask::from_bytes(&bytes, len)))
}

/// UTF-8 strings from `{offsets, data}`: Arrow offsets (checked: `len + 1`
/// of them, increasing, within the data) and the data (checked UTF-8).
fn prop_strings(obj: &JsValue, len: usize, name: &str) -> Result<(Vec<u32>, Vec<u8>), String> {
    let raw = prop_bytes(obj, "offsets")?;
    if raw.len() != (len + 1) * 4 {
        return Err(format!(
            "column \"{name}\": {} offsets for {len} strings",
            raw.len() / 4
        ));
    }
    let offsets: Vec<u32> = raw
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| u32::from_le_bytes(*b))
        .collect();
    let data = prop_bytes(obj, "data")?;
    let (first, last) = (offsets[0] as usize, offsets[len] as usize);
    if offsets.windows(2).any(|w| w[0] > w[1]) || last > data.len() {
        return Err(format!(
            "column \"{name}\": string offsets out of order or past the data"
        ));
    }
    let used = &data[first..last];
    std::str::from_utf8(used).map_err(|e| format!("column \"{name}\": invalid UTF-8: {e}"))?;
    let offsets = offsets.iter().map(|o| o - offsets[0]).collect();
    Ok((offsets, used.to_vec()))
}

/// A dictionary column's keys of width `K`, checked against the dictionary.
fn categorical<K: Integer + Copy + Default>(
    col: &JsValue,
    len: usize,
    mask: Option<Bitmask>,
    values: &[String],
    name: &str,
) -> Result<CategoricalArray<K>, String> {
    let keys = prop_values::<K>(col, "keys", len, name)?;
    for (i, k) in keys.as_slice().iter().enumerate() {
        let valid = mask.as_ref().is_none_or(|m| m.get(i));
        if valid && Integer::to_usize(*k) >= values.len() {
            return Err(format!(
                "column \"{name}\": dictionary key out of range at row {i}"
            ));
        }
    }
    Ok(CategoricalArray {
        data: keys,
        unique_values: values.iter().cloned().collect(),
        null_mask: mask,
    })
}

/// One column of parts back as a minarrow array of `field`'s type.
fn column_from_parts(
    col: &JsValue,
    field: &std::sync::Arc<lightstream_core::minarrow::Field>,
    encoding: Option<&DictionaryEncoding>,
    len: usize,
) -> Result<FieldArray, String> {
    use lightstream_core::minarrow::{
        BooleanArray, DatetimeArray, DecimalArray, FloatArray, IntegerArray,
    };
    use std::sync::Arc;
    let name = field.name.as_str();
    let kind = prop(col, "kind")?.as_string().unwrap_or_default();
    if prop(col, "length")?.as_f64() != Some(len as f64) {
        return Err(format!(
            "column \"{name}\": length differs from the table's {len} rows"
        ));
    }
    if field.dtype == ArrowType::Null || kind == "null" {
        return Ok(FieldArray::new_arc(field.clone(), Array::Null));
    }
    let mask = prop_bitmap(col, "validity", len, name)?;
    let num = Array::NumericArray;
    macro_rules! int {
        ($v:ident, $t:ty) => {
            num(NumericArray::$v(Arc::new(IntegerArray {
                data: prop_values::<$t>(col, "values", len, name)?,
                null_mask: mask,
            })))
        };
    }
    macro_rules! float {
        ($v:ident, $t:ty) => {
            num(NumericArray::$v(Arc::new(FloatArray {
                data: prop_values::<$t>(col, "values", len, name)?,
                null_mask: mask,
            })))
        };
    }
    macro_rules! decimal {
        ($v:ident, $t:ty, $p:expr, $s:expr) => {
            num(NumericArray::$v(Arc::new(DecimalArray {
                data: prop_values::<$t>(col, "values", len, name)?,
                null_mask: mask,
                precision: *$p,
                scale: *$s,
            })))
        };
    }
    macro_rules! temporal {
        ($v:ident, $t:ty, $u:expr) => {
            Array::TemporalArray(TemporalArray::$v(Arc::new(DatetimeArray {
                data: prop_values::<$t>(col, "values", len, name)?,
                null_mask: mask,
                time_unit: $u,
            })))
        };
    }
    #[allow(unreachable_patterns)]
    let array = match &field.dtype {
        ArrowType::Boolean => {
            let bits = prop_bitmap(col, "bits", len, name)?
                .ok_or_else(|| format!("column \"{name}\": no boolean bits"))?;
            Array::BooleanArray(Arc::new(BooleanArray::new(bits, mask)))
        }
        ArrowType::Int8 => int!(Int8, i8),
        ArrowType::Int16 => int!(Int16, i16),
        ArrowType::Int32 => int!(Int32, i32),
        ArrowType::Int64 => int!(Int64, i64),
        ArrowType::UInt8 => int!(UInt8, u8),
        ArrowType::UInt16 => int!(UInt16, u16),
        ArrowType::UInt32 => int!(UInt32, u32),
        ArrowType::UInt64 => int!(UInt64, u64),
        ArrowType::Float32 => float!(Float32, f32),
        ArrowType::Float64 => float!(Float64, f64),
        ArrowType::Decimal32(p, s) => decimal!(Decimal32, i32, p, s),
        ArrowType::Decimal64(p, s) => decimal!(Decimal64, i64, p, s),
        ArrowType::Decimal128(p, s) => decimal!(Decimal128, i128, p, s),
        ArrowType::Date32 => temporal!(Datetime32, i32, TimeUnit::Days),
        ArrowType::Date64 => temporal!(Datetime64, i64, TimeUnit::Milliseconds),
        ArrowType::Time32(u) | ArrowType::Duration32(u) => temporal!(Datetime32, i32, *u),
        ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
            temporal!(Datetime64, i64, *u)
        }
        ArrowType::String => {
            let (offsets, data) = prop_strings(col, len, name)?;
            Array::TextArray(TextArray::String32(Arc::new(StringArray {
                offsets: Vec64::from_iter(offsets).into(),
                data: Vec64::from_iter(data).into(),
                null_mask: mask,
            })))
        }
        ArrowType::LargeString => {
            let (offsets, data) = prop_strings(col, len, name)?;
            Array::TextArray(TextArray::String64(Arc::new(StringArray {
                offsets: Vec64::from_iter(offsets.into_iter().map(u64::from)).into(),
                data: Vec64::from_iter(data).into(),
                null_mask: mask,
            })))
        }
        ArrowType::Dictionary(_) => {
            let enc =
                encoding.ok_or_else(|| format!("column \"{name}\": no dictionary encoding"))?;
            let dict = prop(col, "dictionary")?;
            let n = prop_bytes(&dict, "offsets")?.len() / 4;
            let (offsets, data) = prop_strings(&dict, n.saturating_sub(1), name)?;
            let values: Vec<String> = offsets
                .windows(2)
                .map(|w| String::from_utf8_lossy(&data[w[0] as usize..w[1] as usize]).into_owned())
                .collect();
            let text = match enc.index_type.byte_width() {
                1 => TextArray::Categorical8(Arc::new(categorical::<u8>(
                    col, len, mask, &values, name,
                )?)),
                2 => TextArray::Categorical16(Arc::new(categorical::<u16>(
                    col, len, mask, &values, name,
                )?)),
                4 => TextArray::Categorical32(Arc::new(categorical::<u32>(
                    col, len, mask, &values, name,
                )?)),
                _ => TextArray::Categorical64(Arc::new(categorical::<u64>(
                    col, len, mask, &values, name,
                )?)),
            };
            Array::TextArray(text)
        }
        other => {
            return Err(format!(
                "column \"{name}\": type {other:?} cannot be encoded here"
            ));
        }
    };
    Ok(FieldArray::new_arc(field.clone(), array))
}

/// `encodeParts(batches)`: parts (one object or an array of them, all of
/// the same table, as npm/table.js `toParts()` gives) encoded as an Arrow IPC
/// stream: schema, dictionaries, one record batch per parts object, end
/// marker. Every buffer is checked (lengths, offsets, UTF-8, dictionary
/// keys) before anything is written; a bad one throws (`kind: 'InvalidData'`).
#[wasm_bindgen(js_name = encodeParts)]
pub fn encode_parts(batches: JsValue) -> Result<Uint8Array, JsValue> {
    let fail = |kind: &str, e: String| -> JsValue {
        let err = js_sys::Error::new(&e);
        let _ = js_sys::Reflect::set(&err, &"kind".into(), &kind.into());
        err.into()
    };
    let list: Vec<JsValue> = if js_sys::Array::is_array(&batches) {
        js_sys::Array::from(&batches).iter().collect()
    } else {
        vec![batches]
    };
    let first = list
        .first()
        .ok_or_else(|| fail("Schema", "encodeParts: no parts".into()))?;
    let schema_bytes = prop_bytes(first, "schema").map_err(|e| fail("Schema", e))?;
    let (mut schema, _) = crate::decode_tables(&schema_bytes)
        .map_err(|e| fail("Schema", format!("encodeParts: bad schema: {e}")))?;
    // `schemaColumns`: the positions in that schema of the columns present
    // (after `select`).
    let picked = prop(first, "schemaColumns").map_err(|e| fail("Schema", e))?;
    if js_sys::Array::is_array(&picked) {
        let n = schema.fields.len();
        let mut fields = Vec::new();
        let mut dictionaries = Vec::new();
        for v in js_sys::Array::from(&picked).iter() {
            let i = v
                .as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < n as f64)
                .ok_or_else(|| fail("Schema", "encodeParts: bad schemaColumns".into()))?
                as usize;
            fields.push(schema.fields[i].clone());
            dictionaries.push(schema.dictionaries.get(i).copied().flatten());
        }
        schema = std::sync::Arc::new(Schema {
            fields,
            metadata: schema.metadata.clone(),
            dictionaries,
        });
    }
    let mut tables = Vec::with_capacity(list.len());
    for parts in &list {
        let rows = prop(parts, "numRows")
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n < u32::MAX as f64)
            .ok_or_else(|| fail("InvalidData", "encodeParts: bad numRows".into()))?
            as usize;
        let cols = prop(parts, "columns").map_err(|e| fail("InvalidData", e))?;
        let cols: Vec<JsValue> = js_sys::Array::from(&cols).iter().collect();
        if cols.len() != schema.fields.len() {
            return Err(fail(
                "Schema",
                format!(
                    "encodeParts: {} columns for {} fields",
                    cols.len(),
                    schema.fields.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            let field = schema.fields[i].clone();
            let encoding = schema.dictionaries.get(i).copied().flatten();
            out.push(
                column_from_parts(col, &field, encoding.as_ref(), rows)
                    .map_err(|e| fail("InvalidData", e))?,
            );
        }
        let mut t = MTable::new(String::new(), Some(out));
        t.n_rows = rows;
        t.metadata = schema.metadata.clone();
        tables.push(t);
    }
    let bytes = write_stream(&schema, &tables, &WriteOptions::default())
        .map_err(|e| fail(&format!("{:?}", e.kind()), e.to_string()))?;
    Ok(Uint8Array::from(&bytes[..]))
}
