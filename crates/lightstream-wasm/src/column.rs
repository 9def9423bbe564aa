//! One column of a decoded table inside wasm (not exported to JavaScript since
//! the page owns its tables, npm/table.js; this crate's tests read columns
//! through it, with the same fill loops of js/helpers.js): its name, Arrow type
//! and null count, single values (`get`, `isValid`), whole arrays (`toArray`:
//! zero-copy typed-array views of wasm memory for fixed-width numbers), the
//! validity bitmap and, for dictionary columns, the dictionary and its keys.
//!
//! Every index is checked against the column length and every slice access is
//! bounds-checked, so bad indices become JS errors, never panics.

use std::sync::Arc;

use js_sys::{
    Array as JsArray, BigInt64Array, BigUint64Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Uint8Array, Uint16Array, Uint32Array,
};
use lightstream_core::DictionaryEncoding;
use lightstream_core::minarrow::{
    Array, Bitmask, CategoricalArray, Field, FieldArray, Integer, NumericArray, StringArray,
    TemporalArray, TextArray,
};
use wasm_bindgen::prelude::*;

use crate::js;

/// One value of a column, before it becomes a JS value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A null slot.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JS number (integers up to 32 bits, floats).
    Number(f64),
    /// A signed 64-bit integer (JS BigInt).
    I64(i64),
    /// An unsigned 64-bit integer (JS BigInt).
    U64(u64),
    /// A 128-bit decimal's unscaled integer (JS BigInt).
    I128(i128),
    /// A string (utf8 or a dictionary value).
    Str(String),
}

impl Cell {
    /// The JS value: `null`, boolean, number, BigInt or string.
    pub fn into_js(self) -> JsValue {
        match self {
            Cell::Null => JsValue::NULL,
            Cell::Bool(b) => JsValue::from_bool(b),
            Cell::Number(n) => JsValue::from_f64(n),
            Cell::I64(v) => JsValue::from(v),
            Cell::U64(v) => JsValue::from(v),
            Cell::I128(v) => JsValue::from(v),
            Cell::Str(s) => JsValue::from_str(&s),
        }
    }
}

/// A column of a decoded table (shares the table's buffers; no copy).
#[wasm_bindgen]
#[derive(Clone)]
pub struct Column {
    field: Arc<Field>,
    array: Array,
    null_count: usize,
    len: usize,
    dictionary: Option<DictionaryEncoding>,
}

fn err(msg: impl AsRef<str>) -> JsError {
    JsError::new(msg.as_ref())
}

/// `copy` of `toArray(options)` / `keys(options)`: `{copy: true}`, or a bare
/// boolean (the original signature), or nothing.
fn copy_option(options: &JsValue) -> Result<bool, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(false);
    }
    if let Some(b) = options.as_bool() {
        return Ok(b);
    }
    if options.is_object() {
        let v = js_sys::Reflect::get(options, &JsValue::from_str("copy"))
            .map_err(|_| err("toArray(options): cannot read options.copy"))?;
        return Ok(v.is_truthy());
    }
    Err(err("toArray(options): expected { copy: boolean }"))
}

fn valid_bit(mask: &Option<Bitmask>, i: usize) -> bool {
    mask.as_ref().is_none_or(|m| i < m.len() && m.get(i))
}

/// The Arrow name of a minarrow type (as Arrow and `FieldInfo::arrow_type`
/// spell it), with the wire dictionary encoding when there is one: the core's
/// one namer, shared with the IPC decoder, the Parquet reader and the CLI.
pub use lightstream_core::ipc::arrow_type_name;

fn string_at<O: Integer>(a: &StringArray<O>, i: usize) -> Result<Cell, String> {
    if !valid_bit(&a.null_mask, i) {
        return Ok(Cell::Null);
    }
    let offsets = a.offsets.as_slice();
    let (Some(start), Some(end)) = (offsets.get(i), offsets.get(i + 1)) else {
        return Err(format!("string offsets too short for row {i}"));
    };
    let (start, end) = (Integer::to_usize(*start), Integer::to_usize(*end));
    let bytes = a
        .data
        .as_slice()
        .get(start..end)
        .ok_or_else(|| format!("string offsets {start}..{end} out of range at row {i}"))?;
    std::str::from_utf8(bytes)
        .map(|s| Cell::Str(s.to_owned()))
        .map_err(|e| format!("invalid utf8 at row {i}: {e}"))
}

fn category_at<K: Integer>(a: &CategoricalArray<K>, i: usize) -> Result<Cell, String> {
    if !valid_bit(&a.null_mask, i) {
        return Ok(Cell::Null);
    }
    let key = Integer::to_usize(
        *a.data
            .as_slice()
            .get(i)
            .ok_or_else(|| format!("dictionary keys too short for row {i}"))?,
    );
    a.unique_values
        .get(key)
        .map(|s| Cell::Str(s.clone()))
        .ok_or_else(|| format!("dictionary key {key} out of range at row {i}"))
}

/// A checked numeric value: null when masked, error when the buffer is short.
macro_rules! num_at {
    ($a:expr, $i:expr, $cell:expr) => {{
        if !valid_bit(&$a.null_mask, $i) {
            Ok(Cell::Null)
        } else {
            match $a.data.as_slice().get($i) {
                Some(&v) => Ok($cell(v)),
                None => Err(format!("column buffer too short for row {}", $i)),
            }
        }
    }};
}

impl Column {
    /// The column `fa` of a table with `n_rows` rows.
    pub fn new(fa: &FieldArray, n_rows: usize, dictionary: Option<DictionaryEncoding>) -> Column {
        Column {
            field: fa.field.clone(),
            array: fa.array.clone(),
            null_count: fa.null_count,
            len: n_rows,
            dictionary,
        }
    }

    /// The Arrow type name.
    pub fn arrow_type(&self) -> String {
        arrow_type_name(&self.field.dtype, self.dictionary.as_ref())
    }

    fn check(&self, i: usize) -> Result<(), String> {
        if i < self.len {
            Ok(())
        } else {
            Err(format!(
                "row index {i} is out of range for column \"{}\" of length {}",
                self.field.name, self.len
            ))
        }
    }

    /// Whether row `i` holds a value (error when out of range).
    pub fn valid_at(&self, i: usize) -> Result<bool, String> {
        self.check(i)?;
        Ok(self.cell(i)? != Cell::Null)
    }

    /// The value of row `i` (error when out of range or the buffers are short).
    #[allow(unreachable_patterns)]
    pub fn cell(&self, i: usize) -> Result<Cell, String> {
        self.check(i)?;
        let f = |v: f64| Cell::Number(v);
        match &self.array {
            Array::Null => Ok(Cell::Null),
            Array::BooleanArray(b) => {
                if !valid_bit(&b.null_mask, i) {
                    Ok(Cell::Null)
                } else if i < b.data.len() {
                    Ok(Cell::Bool(b.data.get(i)))
                } else {
                    Err(format!("boolean buffer too short for row {i}"))
                }
            }
            Array::NumericArray(n) => match n {
                NumericArray::Int8(a) => num_at!(a, i, |v: i8| f(v.into())),
                NumericArray::Int16(a) => num_at!(a, i, |v: i16| f(v.into())),
                NumericArray::Int32(a) => num_at!(a, i, |v: i32| f(v.into())),
                NumericArray::Int64(a) => num_at!(a, i, Cell::I64),
                NumericArray::UInt8(a) => num_at!(a, i, |v: u8| f(v.into())),
                NumericArray::UInt16(a) => num_at!(a, i, |v: u16| f(v.into())),
                NumericArray::UInt32(a) => num_at!(a, i, |v: u32| f(v.into())),
                NumericArray::UInt64(a) => num_at!(a, i, Cell::U64),
                NumericArray::Float32(a) => num_at!(a, i, |v: f32| f(v.into())),
                NumericArray::Float64(a) => num_at!(a, i, f),
                NumericArray::Decimal32(a) => num_at!(a, i, |v: i32| f(v.into())),
                NumericArray::Decimal64(a) => num_at!(a, i, Cell::I64),
                NumericArray::Decimal128(a) => num_at!(a, i, Cell::I128),
                NumericArray::Null => Ok(Cell::Null),
                _ => Err(self.unsupported()),
            },
            Array::TemporalArray(t) => match t {
                TemporalArray::Datetime32(a) => num_at!(a, i, |v: i32| f(v.into())),
                TemporalArray::Datetime64(a) => num_at!(a, i, Cell::I64),
                TemporalArray::Null => Ok(Cell::Null),
                _ => Err(self.unsupported()),
            },
            Array::TextArray(t) => match t {
                TextArray::String32(a) => string_at(a, i),
                TextArray::String64(a) => string_at(a, i),
                TextArray::Categorical8(a) => category_at(a, i),
                TextArray::Categorical16(a) => category_at(a, i),
                TextArray::Categorical32(a) => category_at(a, i),
                TextArray::Categorical64(a) => category_at(a, i),
                TextArray::Null => Ok(Cell::Null),
                _ => Err(self.unsupported()),
            },
            _ => Err(self.unsupported()),
        }
    }

    fn unsupported(&self) -> String {
        format!(
            "column \"{}\" of type {} is not supported by lightstream-wasm",
            self.field.name,
            self.arrow_type()
        )
    }

    /// The validity bitmap's bytes (LSB first), trimmed to the column length;
    /// `None` when every row is valid.
    pub fn validity_bytes(&self) -> Option<Vec<u8>> {
        let mask = match &self.array {
            Array::Null => {
                return Some(vec![0; self.len.div_ceil(8)]);
            }
            other => other.null_mask()?,
        };
        let mut out = vec![0u8; self.len.div_ceil(8)];
        for i in 0..self.len {
            if i < mask.len()
                && mask.get(i)
                && let Some(b) = out.get_mut(i / 8)
            {
                *b |= 1 << (i % 8);
            }
        }
        Some(out)
    }

    /// The validity bitmap for the JS helpers: `null` when no row is null,
    /// else a view of the column's own bitmap when it covers every row (valid
    /// only until wasm memory changes: use it within the call) or a copy.
    fn validity_js(&self) -> JsValue {
        let mask = match &self.array {
            Array::Null => None,
            other => other.null_mask(),
        };
        if let Some(m) = mask
            && m.len() >= self.len
            && let Some(bytes) = m.bits.as_slice().get(..self.len.div_ceil(8))
        {
            // SAFETY: used only for the duration of one helper call, during
            // which nothing allocates in wasm memory.
            return unsafe { Uint8Array::view(bytes) }.into();
        }
        match self.validity_bytes() {
            Some(b) => Uint8Array::from(&b[..]).into(),
            None => JsValue::NULL,
        }
    }

    /// Boolean columns: the values bitmap (LSB first), a copy.
    fn bool_bits(&self) -> Option<Vec<u8>> {
        let Array::BooleanArray(b) = &self.array else {
            return None;
        };
        let mut out = vec![0u8; self.len.div_ceil(8)];
        match b.data.bits.as_slice().get(..self.len.div_ceil(8)) {
            Some(bytes) if b.data.len() >= self.len => out.copy_from_slice(bytes),
            _ => {
                for i in 0..self.len.min(b.data.len()) {
                    if b.data.get(i) {
                        out[i / 8] |= 1 << (i % 8);
                    }
                }
            }
        }
        Some(out)
    }

    /// Every value as JS values, one per row (the non-view path of `toArray`).
    fn cells_array(&self) -> Result<JsArray, String> {
        u32::try_from(self.len).map_err(|e| e.to_string())?;
        // Pushed, not preallocated: V8 makes a large `new Array(n)` slow.
        let out = JsArray::new();
        for i in 0..self.len {
            out.push(&self.cell(i)?.into_js());
        }
        Ok(out)
    }
}

/// Every string of `a[..len]` as a JS array (nulls as `null`), built by the
/// one JavaScript loop of `js/helpers.js` over views of the column's bytes
/// and of its offsets rebased to 0 (one `TextDecoder` call per run of
/// strings; no value crosses the wasm boundary on its own).
fn strings_to_js<O: Integer>(
    a: &StringArray<O>,
    len: usize,
    validity: &dyn Fn() -> JsValue,
    name: &str,
) -> Result<JsArray, String> {
    let (pos, data) = string_buffers(a, len, name)?;
    let n = u32::try_from(len).map_err(|e| e.to_string())?;
    let out = JsArray::new_with_length(n);
    let ascii = data.is_ascii();
    // SAFETY: the views are made right here, after every allocation (the
    // validity first: as a copy, it allocates), and read by the helper during
    // this call only; nothing allocates in wasm memory meanwhile (the helper
    // runs only JavaScript), so memory cannot grow and detach them.
    unsafe {
        let validity = validity();
        let (data, pos) = (Uint8Array::view(data), Uint32Array::view(&pos));
        js::ls_fill_strings(&out, 0, &data, &pos, &validity, 0, n, ascii);
    }
    Ok(out)
}

/// The offsets of `a[..len]` rebased to 0 (u32: wasm32 memory is below
/// 4 GiB; checked to increase) and the data bytes they cover.
pub(crate) fn string_buffers<'a, O: Integer>(
    a: &'a StringArray<O>,
    len: usize,
    name: &str,
) -> Result<(Vec<u32>, &'a [u8]), String> {
    let offsets =
        a.offsets.as_slice().get(..len + 1).ok_or_else(|| {
            format!("column \"{name}\": string offsets are shorter than its length")
        })?;
    let start = offsets.first().map_or(0, |o| Integer::to_usize(*o));
    let end = offsets.last().map_or(0, |o| Integer::to_usize(*o));
    let data =
        a.data.as_slice().get(start..end).ok_or_else(|| {
            format!("column \"{name}\": string offsets {start}..{end} out of range")
        })?;
    Ok((rebased_offsets(offsets, start, name)?, data))
}

/// String offsets minus `start`, as u32, checked to increase.
fn rebased_offsets<O: Integer>(
    offsets: &[O],
    start: usize,
    name: &str,
) -> Result<Vec<u32>, String> {
    let mut prev = start;
    offsets
        .iter()
        .map(|o| {
            let o = Integer::to_usize(*o);
            if o < prev {
                return Err(format!("column \"{name}\": decreasing string offsets"));
            }
            prev = o;
            u32::try_from(o - start).map_err(|e| e.to_string())
        })
        .collect()
}

/// `dict[keys[i]]` for every row, in JavaScript, with the dictionary's
/// values decoded once. `views` makes the keys and validity views; it runs
/// after the dictionary array is built, right before the helper call, so no
/// allocation can grow wasm memory (and detach the views) in between.
fn categories_to_js<K: Integer>(
    a: &CategoricalArray<K>,
    len: usize,
    views: &dyn Fn() -> Result<(JsValue, JsValue), JsError>,
) -> Result<JsArray, JsError> {
    let dict: JsArray = a
        .unique_values
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect();
    let n = u32::try_from(len).map_err(|e| err(e.to_string()))?;
    let out = JsArray::new_with_length(n);
    let (keys, validity) = views()?;
    js::ls_take(&out, 0, &dict, &keys, &validity, 0, n);
    Ok(out)
}

/// A typed array over `slice[..len]`: a view of wasm memory, or a copy.
macro_rules! typed {
    ($ty:ty, $slice:expr, $len:expr, $copy:expr, $name:expr) => {{
        let slice = $slice.get(..$len).ok_or_else(|| {
            err(format!(
                "column \"{}\" buffer is shorter than its length",
                $name
            ))
        })?;
        if $copy {
            Ok(<$ty>::from(slice).into())
        } else {
            // SAFETY: `slice` lies in wasm linear memory (every Rust allocation
            // does). The view stays valid while this column's buffer is alive
            // (it is reference-counted: until the table and every Column taken
            // from it are freed) and until wasm memory grows (growth detaches
            // the old ArrayBuffer; the view then reads as empty, never as
            // other data). Callers wanting a durable array pass `copy = true`.
            Ok(unsafe { <$ty>::view(slice) }.into())
        }
    }};
}

impl Column {
    /// The field name.
    pub fn name(&self) -> String {
        self.field.name.clone()
    }

    /// The Arrow type name, e.g. `Int32`, `Utf8`, `Timestamp(Microsecond, "UTC")`,
    /// `Dictionary<Int32, Utf8>` (units of temporal types live here).
    pub fn type_name(&self) -> String {
        self.arrow_type()
    }

    /// Whether the field is nullable.
    pub fn nullable(&self) -> bool {
        self.field.nullable
    }

    /// Number of rows.
    pub fn length(&self) -> usize {
        self.len
    }

    /// Number of null rows.
    pub fn null_count(&self) -> usize {
        self.null_count
    }

    /// Whether row `i` holds a value; throws when `i` is out of range.
    pub fn is_valid(&self, i: usize) -> Result<bool, JsError> {
        self.valid_at(i).map_err(err)
    }

    /// The value of row `i` (`null` for nulls; 64-bit integers and decimals as
    /// BigInt); throws when `i` is out of range.
    pub fn get(&self, i: usize) -> Result<JsValue, JsError> {
        self.cell(i).map(Cell::into_js).map_err(err)
    }

    /// The validity bitmap (a copy, LSB first), or `null` when no row is null.
    pub fn validity(&self) -> JsValue {
        match self.validity_bytes() {
            Some(b) => Uint8Array::from(&b[..]).into(),
            None => JsValue::NULL,
        }
    }

    /// The whole column. Fixed-width numbers (and temporal / decimal32/64
    /// values) give a typed array that is a zero-copy VIEW of wasm memory:
    /// valid until the table is freed or wasm memory grows; pass `copy = true`
    /// for a detached copy. Null slots of a typed array hold unspecified
    /// numbers (see `validity()` / `isValid`). 64-bit integers give
    /// BigInt64Array / BigUint64Array. Booleans, strings, dictionaries and
    /// decimal128 give a plain array (with `null` for nulls).
    #[allow(unreachable_patterns)]
    pub fn to_array(&self, options: JsValue) -> Result<JsValue, JsError> {
        let copy = copy_option(&options)?;
        let (len, name) = (self.len, &self.field.name);
        match &self.array {
            Array::BooleanArray(_) => {
                let bits = self.bool_bits().unwrap_or_default();
                let n = u32::try_from(len).map_err(|e| err(e.to_string()))?;
                let out = JsArray::new_with_length(n);
                let bits = Uint8Array::from(&bits[..]);
                js::ls_bools(&out, 0, &bits, 0, &self.validity_js(), 0, n);
                Ok(out.into())
            }
            Array::TextArray(t) => {
                let validity = || self.validity_js();
                // Validity first: when it is a copy, its allocation could
                // grow memory and detach a keys view made before it.
                let views = || {
                    let validity = self.validity_js();
                    Ok((self.keys(JsValue::FALSE)?, validity))
                };
                let r = match t {
                    TextArray::String32(a) => strings_to_js(a, len, &validity, name).map_err(err),
                    TextArray::String64(a) => strings_to_js(a, len, &validity, name).map_err(err),
                    TextArray::Categorical8(a) => categories_to_js(a, len, &views),
                    TextArray::Categorical16(a) => categories_to_js(a, len, &views),
                    TextArray::Categorical32(a) => categories_to_js(a, len, &views),
                    TextArray::Categorical64(a) => categories_to_js(a, len, &views),
                    _ => self.cells_array().map_err(err),
                };
                r.map(Into::into)
            }
            Array::NumericArray(n) => match n {
                NumericArray::Int8(a) => typed!(Int8Array, a.data.as_slice(), len, copy, name),
                NumericArray::Int16(a) => typed!(Int16Array, a.data.as_slice(), len, copy, name),
                NumericArray::Int32(a) => typed!(Int32Array, a.data.as_slice(), len, copy, name),
                NumericArray::Int64(a) => {
                    typed!(BigInt64Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::UInt8(a) => typed!(Uint8Array, a.data.as_slice(), len, copy, name),
                NumericArray::UInt16(a) => {
                    typed!(Uint16Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::UInt32(a) => {
                    typed!(Uint32Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::UInt64(a) => {
                    typed!(BigUint64Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::Float32(a) => {
                    typed!(Float32Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::Float64(a) => {
                    typed!(Float64Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::Decimal32(a) => {
                    typed!(Int32Array, a.data.as_slice(), len, copy, name)
                }
                NumericArray::Decimal64(a) => {
                    typed!(BigInt64Array, a.data.as_slice(), len, copy, name)
                }
                _ => self.cells_array().map(Into::into).map_err(err),
            },
            Array::TemporalArray(t) => match t {
                TemporalArray::Datetime32(a) => {
                    typed!(Int32Array, a.data.as_slice(), len, copy, name)
                }
                TemporalArray::Datetime64(a) => {
                    typed!(BigInt64Array, a.data.as_slice(), len, copy, name)
                }
                _ => self.cells_array().map(Into::into).map_err(err),
            },
            _ => self.cells_array().map(Into::into).map_err(err),
        }
    }

    /// Boolean columns: the values bitmap (LSB first, a copy).
    pub fn bitmap(&self) -> Result<Uint8Array, JsError> {
        self.bool_bits()
            .map(|b| Uint8Array::from(&b[..]))
            .ok_or_else(|| {
                err(format!(
                    "column \"{}\" ({}) is not boolean",
                    self.field.name,
                    self.arrow_type()
                ))
            })
    }

    /// Dictionary columns: the dictionary values (array of strings).
    pub fn dictionary(&self) -> Result<JsArray, JsError> {
        let values = match &self.array {
            Array::TextArray(TextArray::Categorical8(a)) => &a.unique_values,
            Array::TextArray(TextArray::Categorical16(a)) => &a.unique_values,
            Array::TextArray(TextArray::Categorical32(a)) => &a.unique_values,
            Array::TextArray(TextArray::Categorical64(a)) => &a.unique_values,
            _ => return Err(err(self.not_dictionary())),
        };
        Ok(values.iter().map(|s| JsValue::from_str(s)).collect())
    }

    /// Dictionary columns: the keys as a typed array (a view of wasm memory
    /// like `toArray`, or a copy with `copy = true`); keys of null rows are
    /// unspecified.
    pub fn keys(&self, options: JsValue) -> Result<JsValue, JsError> {
        let copy = copy_option(&options)?;
        let (len, name) = (self.len, &self.field.name);
        match &self.array {
            Array::TextArray(TextArray::Categorical8(a)) => {
                typed!(Uint8Array, a.data.as_slice(), len, copy, name)
            }
            Array::TextArray(TextArray::Categorical16(a)) => {
                typed!(Uint16Array, a.data.as_slice(), len, copy, name)
            }
            Array::TextArray(TextArray::Categorical32(a)) => {
                typed!(Uint32Array, a.data.as_slice(), len, copy, name)
            }
            Array::TextArray(TextArray::Categorical64(a)) => {
                typed!(BigUint64Array, a.data.as_slice(), len, copy, name)
            }
            _ => Err(err(self.not_dictionary())),
        }
    }

    fn not_dictionary(&self) -> String {
        format!(
            "column \"{}\" ({}) is not dictionary-encoded",
            self.field.name,
            self.arrow_type()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::IndexType;
    use lightstream_core::minarrow::{ArrowType, TimeUnit};
    use lightstream_core::minarrow::{fa_bool, fa_i64, fa_str32_opt};

    #[test]
    fn cells_and_bounds() {
        let c = Column::new(&fa_i64!("a", 1, -2, i64::MAX), 3, None);
        assert_eq!(c.cell(1), Ok(Cell::I64(-2)));
        assert_eq!(c.cell(2), Ok(Cell::I64(i64::MAX)));
        assert!(c.cell(3).unwrap_err().contains("out of range"));
        assert!(c.valid_at(usize::MAX).is_err());
        assert_eq!(c.arrow_type(), "Int64");
        assert_eq!(c.validity_bytes(), None);

        let s = Column::new(
            &fa_str32_opt!("s", Some("x"), None::<&str>, Some("zz")),
            3,
            None,
        );
        assert_eq!(s.cell(0), Ok(Cell::Str("x".into())));
        assert_eq!(s.cell(1), Ok(Cell::Null));
        assert_eq!(s.valid_at(1), Ok(false));
        assert_eq!(s.validity_bytes(), Some(vec![0b101]));
        assert_eq!(s.arrow_type(), "Utf8");

        let b = Column::new(&fa_bool!("b", true, false), 2, None);
        assert_eq!(b.cell(0), Ok(Cell::Bool(true)));
        assert_eq!(b.cell(1), Ok(Cell::Bool(false)));
        assert!(b.cell(2).is_err());
    }

    #[test]
    fn a_table_longer_than_its_buffers_is_an_error_not_a_panic() {
        let c = Column::new(&fa_i64!("a", 1, 2), 5, None);
        assert!(c.cell(4).unwrap_err().contains("too short"));
    }

    #[test]
    fn type_names() {
        let d = DictionaryEncoding {
            id: 0,
            index_type: IndexType::Int32,
            large_values: false,
            ordered: false,
        };
        use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
        assert_eq!(
            arrow_type_name(
                &ArrowType::Dictionary(CategoricalIndexType::UInt32),
                Some(&d)
            ),
            "Dictionary<Int32, Utf8>"
        );
        assert_eq!(
            arrow_type_name(
                &ArrowType::Timestamp(TimeUnit::Microseconds, Some("UTC".into())),
                None
            ),
            "Timestamp(Microsecond, \"UTC\")"
        );
        assert_eq!(
            arrow_type_name(&ArrowType::Time32(TimeUnit::Milliseconds), None),
            "Time32(Millisecond)"
        );
        assert_eq!(
            arrow_type_name(&ArrowType::Decimal128(38, 4), None),
            "Decimal128(38, 4)"
        );
    }
}
