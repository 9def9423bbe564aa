//! CSV in the browser: [`decode_csv`] (`decodeCsv`) reads a whole document,
//! [`CsvDecoder`] takes it in chunks. Both run the core's push decoder
//! (`lightstream_core::csv`) and give the same [`Table`]s as the IPC path.
//!
//! Input is a JS string (wasm-bindgen hands it over as UTF-8), a `Uint8Array`
//! or an `ArrayBuffer`. Byte arrays are copied into wasm memory 1 MiB at a
//! time through one scratch buffer, so a large document is never held twice.
//! Options come in as a plain object and are checked key by key; a wrong type
//! or an unknown key is a JS `Error`, as is every core error (whose message
//! names the line and column).

use std::sync::Arc;

use js_sys::{Array as JsArray, ArrayBuffer, Object, Uint8Array};
use lightstream_core::csv::{BadRowPolicy, CsvDecoder as CoreDecoder, CsvReadOptions, StringNulls};
use lightstream_core::minarrow::Table as MTable;
use lightstream_core::{Error, Schema};
use wasm_bindgen::prelude::*;

use crate::decoder::js_error;
use crate::table::{Table, fields_to_js};

/// Bytes copied out of a JS byte array (or pushed of a string) at a time.
const STEP: usize = 1 << 20;

/// The option names `decodeCsv` and `new CsvDecoder` accept (for messages).
const KNOWN: &str = "delimiter, quote, header, nullValues, trueValues, falseValues, \
                     stringsCanBeNull, stringNulls, batchSize, inferRows, badRows";

/// CSV input as JavaScript gave it.
pub enum Input {
    /// A string, already UTF-8 in wasm memory.
    Text(String),
    /// A byte array still in JS memory.
    Bytes(Uint8Array),
}

/// Reads a `string | Uint8Array | ArrayBuffer` argument.
pub fn js_input(value: &JsValue, what: &str) -> Result<Input, JsError> {
    if let Some(s) = value.as_string() {
        Ok(Input::Text(s))
    } else if let Some(a) = value.dyn_ref::<Uint8Array>() {
        Ok(Input::Bytes(a.clone()))
    } else if let Some(b) = value.dyn_ref::<ArrayBuffer>() {
        Ok(Input::Bytes(Uint8Array::new(b)))
    } else {
        Err(JsError::new(&format!(
            "{what}: expected a string, a Uint8Array or an ArrayBuffer, not {}",
            show(value)
        )))
    }
}

/// Pushes `input` into `dec`, moving each completed table to `out` as it
/// completes (so finished tables never wait behind the rest of the input).
pub fn feed(
    dec: &mut CoreDecoder,
    input: &Input,
    scratch: &mut Vec<u8>,
    out: &mut Vec<MTable>,
) -> lightstream_core::Result<()> {
    let len = match input {
        Input::Text(s) => s.len(),
        Input::Bytes(a) => a.length() as usize,
    };
    if len == 0 {
        dec.push(&[])?;
    }
    let mut at = 0;
    while at < len {
        let n = STEP.min(len - at);
        let piece = match input {
            Input::Text(s) => &s.as_bytes()[at..at + n],
            Input::Bytes(a) => {
                scratch.resize(n, 0);
                // `subarray` has exactly `n` bytes, as long as `scratch` is.
                a.subarray(at as u32, (at + n) as u32).copy_to(scratch);
                &scratch[..]
            }
        };
        dec.push(piece)?;
        drain(dec, out)?;
        at += n;
    }
    Ok(())
}

fn drain(dec: &mut CoreDecoder, out: &mut Vec<MTable>) -> lightstream_core::Result<()> {
    while let Some(t) = dec.next_table()? {
        out.push(t);
    }
    Ok(())
}

/// Wraps decoded tables for JavaScript with the decoder's schema.
fn wrap(schema: Option<&Arc<Schema>>, tables: Vec<MTable>) -> Result<Vec<Table>, JsError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    // The core emits tables only once the schema is known.
    let schema = schema.ok_or_else(|| JsError::new("CSV: a table came before its schema"))?;
    Ok(tables
        .into_iter()
        .map(|t| Table::new(schema.clone(), t))
        .collect())
}

/// A JS value as its JSON text (its `typeof` when it has none).
fn show(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| v.js_typeof().as_string().unwrap_or_default())
}

/// The error for option `key` holding `value` instead of `expected`.
fn bad(what: &str, key: &str, expected: &str, value: &JsValue) -> JsError {
    JsError::new(&format!(
        "{what}: option \"{key}\" must be {expected}, not {}",
        show(value)
    ))
}

fn bool_option(v: &JsValue, key: &str, what: &str) -> Result<bool, JsError> {
    v.as_bool().ok_or_else(|| bad(what, key, "a boolean", v))
}

fn byte_option(v: &JsValue, key: &str, what: &str) -> Result<u8, JsError> {
    match v.as_string().as_deref().map(str::as_bytes) {
        Some(&[b]) if b.is_ascii() => Ok(b),
        _ => Err(bad(what, key, "a one-character (ASCII) string", v)),
    }
}

fn count_option(v: &JsValue, key: &str, what: &str) -> Result<usize, JsError> {
    match v.as_f64() {
        Some(x) if x.is_finite() && x >= 1.0 && x.fract() == 0.0 => Ok(x as usize),
        _ => Err(bad(what, key, "a positive whole number", v)),
    }
}

fn strings_option(v: &JsValue, key: &str, what: &str) -> Result<Vec<String>, JsError> {
    let strings = v.dyn_ref::<JsArray>().and_then(|arr| {
        arr.iter()
            .map(|x| x.as_string())
            .collect::<Option<Vec<_>>>()
    });
    strings.ok_or_else(|| bad(what, key, "an array of strings", v))
}

/// The core's read options from a JS options object (`undefined` / `null`:
/// the defaults). `what` names the caller in error messages. Every own
/// property must be a known option; `undefined` values are ignored.
pub fn read_options(options: &JsValue, what: &str) -> Result<CsvReadOptions, JsError> {
    let mut o = CsvReadOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok(o);
    }
    if !options.is_object() || JsArray::is_array(options) {
        return Err(JsError::new(&format!(
            "{what}: options must be an object, not {}",
            show(options)
        )));
    }
    for entry in Object::entries(options.unchecked_ref::<Object>()).iter() {
        let entry: JsArray = entry.unchecked_into();
        let (key, v) = (entry.get(0).as_string().unwrap_or_default(), entry.get(1));
        if v.is_undefined() {
            continue;
        }
        let key = key.as_str();
        match key {
            "delimiter" => o.delimiter = byte_option(&v, key, what)?,
            "quote" => o.quote = byte_option(&v, key, what)?,
            "header" => o.has_header = bool_option(&v, key, what)?,
            "nullValues" => o.null_values = strings_option(&v, key, what)?,
            "trueValues" => o.true_values = strings_option(&v, key, what)?,
            "falseValues" => o.false_values = strings_option(&v, key, what)?,
            "stringsCanBeNull" => o.strings_can_be_null = bool_option(&v, key, what)?,
            "stringNulls" => {
                o.string_nulls = match v.as_string().as_deref() {
                    Some("unquoted") => StringNulls::Unquoted,
                    Some("quoting-ignored") => StringNulls::QuotingIgnored,
                    _ => return Err(bad(what, key, "'unquoted' or 'quoting-ignored'", &v)),
                }
            }
            "batchSize" => o.batch_size = count_option(&v, key, what)?,
            "inferRows" => o.infer_rows = count_option(&v, key, what)?,
            "badRows" => {
                o.bad_rows = match v.as_string().as_deref() {
                    Some("error") => BadRowPolicy::Error,
                    Some("null") => BadRowPolicy::Null,
                    Some("skip") => BadRowPolicy::Skip,
                    _ => return Err(bad(what, key, "'error', 'null' or 'skip'", &v)),
                }
            }
            _ => {
                return Err(JsError::new(&format!(
                    "{what}: unknown option \"{key}\" (known: {KNOWN})"
                )));
            }
        }
    }
    Ok(o)
}

/// `decodeCsv(input: string | Uint8Array | ArrayBuffer, options?): Table[]` —
/// decodes a whole CSV document (types inferred as in pyarrow) into tables of
/// at most `batchSize` rows. Throws an `Error` with the core's message (line
/// and column) on a bad row, bad options or wrong argument types.
#[wasm_bindgen(js_name = decodeCsv)]
pub fn decode_csv(input: JsValue, options: JsValue) -> Result<Vec<Table>, JsError> {
    let input = js_input(&input, "decodeCsv")?;
    let mut dec = CsvDecoder::with_options(&options, "decodeCsv")?;
    let mut tables = dec.push_input(&input)?;
    tables.extend(dec.finish()?);
    Ok(tables)
}

/// `new CsvDecoder(options?)`: a CSV push decoder. `push` chunks of any size
/// (strings or bytes; a chunk may end anywhere, even inside a UTF-8
/// character or a quoted field) and get back the tables they completed;
/// `finish()` returns the last ones.
#[wasm_bindgen]
pub struct CsvDecoder {
    dec: CoreDecoder,
    scratch: Vec<u8>,
    /// Tables completed before an error, for `takeTables`.
    held: Vec<MTable>,
}

impl CsvDecoder {
    /// A decoder with the options of a JS options object; `what` names the
    /// caller in error messages.
    pub fn with_options(options: &JsValue, what: &str) -> Result<CsvDecoder, JsError> {
        let options = read_options(options, what)?;
        Ok(CsvDecoder {
            dec: CoreDecoder::new(options).map_err(|e| js_error(&e))?,
            scratch: Vec::new(),
            held: Vec::new(),
        })
    }

    /// Pushes `input`; returns the tables it completed.
    pub fn push_input(&mut self, input: &Input) -> Result<Vec<Table>, JsError> {
        let mut out = std::mem::take(&mut self.held);
        let r = feed(&mut self.dec, input, &mut self.scratch, &mut out);
        self.settle(r, out)
    }

    /// Hands out the tables of a `push` / `finish` whose outcome is `r`.
    fn settle(
        &mut self,
        r: Result<(), Error>,
        mut out: Vec<MTable>,
    ) -> Result<Vec<Table>, JsError> {
        let r = r.and_then(|()| drain(&mut self.dec, &mut out));
        if let Err(e) = r {
            // Keep every good table for `takeTables` (the core emits the rows
            // before a bad row as one last table).
            let _ = drain(&mut self.dec, &mut out);
            self.held = out;
            return Err(js_error(&e));
        }
        if self.scratch.capacity() > STEP {
            self.scratch = Vec::new();
        }
        wrap(self.dec.schema(), out)
    }
}

#[wasm_bindgen]
impl CsvDecoder {
    /// A decoder; throws on bad options (see `decodeCsv`).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<CsvDecoder, JsError> {
        CsvDecoder::with_options(&options, "CsvDecoder")
    }

    /// Offers the next chunk (string, Uint8Array or ArrayBuffer); returns
    /// the tables it completed (often none). Throws on a bad row; the decoder
    /// is then spent and `takeTables()` gives the tables completed before it.
    pub fn push(&mut self, chunk: JsValue) -> Result<Vec<Table>, JsError> {
        let input = js_input(&chunk, "CsvDecoder.push")?;
        self.push_input(&input)
    }

    /// The input has ended: returns the last tables. Throws on a quoted field
    /// left open or a bad last row. Calling it again returns `[]`.
    pub fn finish(&mut self) -> Result<Vec<Table>, JsError> {
        let out = std::mem::take(&mut self.held);
        let r = self.dec.finish();
        self.settle(r, out)
    }

    /// Tables completed but not returned: after `push` or `finish` threw,
    /// every table of the rows before the error (else `[]`).
    #[wasm_bindgen(js_name = takeTables)]
    pub fn take_tables(&mut self) -> Result<Vec<Table>, JsError> {
        let mut out = std::mem::take(&mut self.held);
        drain(&mut self.dec, &mut out).map_err(|e| js_error(&e))?;
        wrap(self.dec.schema(), out)
    }

    /// The schema's fields once inferred (after `inferRows` rows or at
    /// `finish`), else `null`.
    #[wasm_bindgen(getter)]
    pub fn schema(&self) -> Result<JsValue, JsError> {
        match self.dec.schema() {
            Some(s) => Ok(fields_to_js(s)?.into()),
            None => Ok(JsValue::NULL),
        }
    }

    /// Rows dropped by `badRows: 'skip'` so far.
    #[wasm_bindgen(getter, js_name = skippedRows)]
    pub fn skipped_rows(&self) -> f64 {
        self.dec.skipped_rows() as f64
    }

    /// Cells made null by `badRows: 'null'` so far.
    #[wasm_bindgen(getter, js_name = nulledCells)]
    pub fn nulled_cells(&self) -> f64 {
        self.dec.nulled_cells() as f64
    }

    /// True once `finish` has been called.
    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.dec.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> lightstream_core::Result<Vec<MTable>> {
        let mut dec = CoreDecoder::new(CsvReadOptions::default())?;
        let mut out = Vec::new();
        feed(&mut dec, &Input::Text(s.into()), &mut Vec::new(), &mut out)?;
        dec.finish()?;
        drain(&mut dec, &mut out)?;
        Ok(out)
    }

    #[test]
    fn feeds_text_and_reports_bad_rows() {
        let tables = decode("a,b\n1,x\n2,y\n").unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].n_rows, 2);
        let e = decode("a,b\n1,x\n2,y,z\n").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(decode("").unwrap().is_empty());
    }
}
