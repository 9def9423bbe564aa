//! Data and codec drivers shared by the Lightstream benchmarks (issue 2).
//!
//! What it is for: generating the three table shapes deterministically
//! (the same values as `benches/python/gen_and_time.py` builds with pyarrow),
//! driving each codec the way the benchmarks time it, and checksumming what a
//! decoder produced so a broken decode cannot look fast. What it is not: a
//! test suite (correctness lives in `tests/`) or a place for timing logic
//! (criterion in `benches/benches/*.rs`, the report in `benches/python/`).
//!
//! Every value is a pure function of `(seed, global row index)` through
//! [`mix`] (the splitmix64 finaliser), so Rust and Python produce identical
//! columns without sharing any files.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array as ArrowArray, RecordBatch};
use arrow_buffer::Buffer as ArrowBuffer;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::DataType;
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, Field, FieldArray,
    FloatArray, IntegerArray, NumericArray, StringArray, Table, TextArray, Vec64,
};
use lightstream_core::{
    DictionaryEncoding, IndexType, IpcStreamDriver, IpcStreamEncoder, ReadOptions, Schema,
    SharedBuffer, SharedInput, SliceInput, StreamItem, WriteOptions, read_stream, write_stream,
};

/// Rows per record batch unless `LIGHTSTREAM_BENCH_ROWS` says otherwise.
pub const DEFAULT_ROWS: usize = 1_000_000;
/// Record batches per stream unless `LIGHTSTREAM_BENCH_BATCHES` says otherwise.
pub const DEFAULT_BATCHES: usize = 16;
/// Chunk size of the copying network path (slices through `IpcStreamDriver`).
pub const PUSH_CHUNK: usize = 64 * 1024;

/// The number in environment variable `name` (0 allowed), else `default`;
/// anything else there stops the bench with the variable's name.
pub fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// [`env_num`], which must be positive.
fn env_usize(name: &str, default: usize) -> usize {
    match env_num(name, default) {
        0 => panic!("{name} must be a positive integer, not 0"),
        n => n,
    }
}

/// Record batches per stream (`LIGHTSTREAM_BENCH_BATCHES`, default 16).
pub fn batches() -> usize {
    env_usize("LIGHTSTREAM_BENCH_BATCHES", DEFAULT_BATCHES)
}

/// Rows per record batch (`LIGHTSTREAM_BENCH_ROWS`, default 1,000,000; lower
/// it only for smoke runs: the numbers are for 1,000,000).
pub fn rows_per_batch() -> usize {
    env_usize("LIGHTSTREAM_BENCH_ROWS", DEFAULT_ROWS)
}

/// The shapes to run (`LIGHTSTREAM_BENCH_SHAPES`, e.g. `a,c`; default all):
/// criterion filters skip timing, not the data set-up, so profiling one
/// shape is faster with this.
pub fn shapes() -> Vec<Shape> {
    let Ok(list) = std::env::var("LIGHTSTREAM_BENCH_SHAPES") else {
        return Shape::ALL.to_vec();
    };
    let picked: Vec<Shape> = Shape::ALL
        .into_iter()
        .filter(|s| list.split(',').any(|x| x.trim() == s.name()))
        .collect();
    assert!(
        !picked.is_empty(),
        "LIGHTSTREAM_BENCH_SHAPES={list:?} names none of a, b, c"
    );
    picked
}

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where stream files go (`LIGHTSTREAM_BENCH_DATA`, default `target/bench-data`).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("LIGHTSTREAM_BENCH_DATA") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target").join("bench-data"),
    }
}

// ---------------------------------------------------------------------------
// Deterministic values. Keep in step with benches/python/gen_and_time.py.
// ---------------------------------------------------------------------------

/// A 64-bit pseudo-random value for row `i` of stream `seed` (splitmix64's
/// finaliser over a Weyl sequence).
pub fn mix(seed: u64, i: u64) -> u64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `h` mapped onto `0..m` (Lemire's multiply-shift on the high 32 bits).
pub fn below(h: u64, m: u64) -> u64 {
    debug_assert!(m <= u32::MAX as u64);
    ((h >> 32) * m) >> 32
}

/// A double in [-1000, 1000) from `h` (exact in both languages: one
/// multiplication and one subtraction, no fused operations).
pub fn unit_f64(h: u64) -> f64 {
    const SCALE: f64 = 2000.0 / 9_007_199_254_740_992.0; // 2000 / 2^53, exact
    (h >> 11) as f64 * SCALE - 1000.0
}

/// A float in [0, 1) from `h` (24 significant bits, exact).
pub fn unit_f32(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Characters of the string pool; row strings are substrings of it.
pub const POOL_CHARS: usize = 4096;
/// The 60 ASCII tokens of the pool alphabet.
const ASCII_TOKENS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567";
/// The 4 multi-byte tokens (2, 2, 3 and 4 UTF-8 bytes).
const WIDE_TOKENS: [&str; 4] = ["é", "ж", "€", "𝄞"];

/// The string pool: its first half is ASCII only, its second half mixes in
/// multi-byte characters (about one character in sixteen). A row's string is
/// 5 to 30 pool characters from a pseudo-random start, so about half the rows
/// are pure ASCII and most of the rest hold at least one multi-byte character.
pub struct StringPool {
    /// The pool as UTF-8.
    pub bytes: Vec<u8>,
    /// Byte offset of every character, plus the total length at the end.
    pub char_start: Vec<usize>,
}

impl StringPool {
    /// Builds the pool.
    pub fn new() -> StringPool {
        let mut bytes = Vec::with_capacity(POOL_CHARS * 2);
        let mut char_start = Vec::with_capacity(POOL_CHARS + 1);
        for k in 0..POOL_CHARS {
            char_start.push(bytes.len());
            let alphabet = if k < POOL_CHARS / 2 { 60 } else { 64 };
            let t = below(mix(6, k as u64), alphabet) as usize;
            let token = if t < 60 {
                &ASCII_TOKENS[t..t + 1]
            } else {
                WIDE_TOKENS[t - 60]
            };
            bytes.extend_from_slice(token.as_bytes());
        }
        char_start.push(bytes.len());
        StringPool { bytes, char_start }
    }

    /// The string of global row `r` (ignoring nulls).
    pub fn row(&self, r: u64) -> &[u8] {
        let start = below(mix(5, r), (POOL_CHARS - 30) as u64) as usize;
        let chars = 5 + below(mix(7, r), 26) as usize;
        &self.bytes[self.char_start[start]..self.char_start[start + chars]]
    }
}

impl Default for StringPool {
    fn default() -> Self {
        StringPool::new()
    }
}

/// Number of distinct values of shape (c)'s dictionary column.
pub const DICTIONARY_VALUES: usize = 100;

/// The dictionary of shape (c).
pub fn dictionary_values() -> Vec64<String> {
    (0..DICTIONARY_VALUES)
        .map(|k| format!("value-{k:03}"))
        .collect()
}

/// An LSB-first bitmap being filled.
struct Bits {
    bytes: Vec64<u8>,
    len: usize,
}

impl Bits {
    fn with_len(len: usize) -> Bits {
        let mut bytes = Vec64::with_capacity(len.div_ceil(8));
        bytes.resize(len.div_ceil(8), 0);
        Bits { bytes, len }
    }

    fn set(&mut self, i: usize) {
        self.bytes[i / 8] |= 1 << (i % 8);
    }

    fn finish(self) -> Bitmask {
        Bitmask::new(Buffer::from_vec64(self.bytes), self.len)
    }
}

/// The three table shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// i64, f64, i32, f32, no nulls.
    A,
    /// utf8 (5-30 characters, ASCII and mixed) and i64, 10% nulls in each.
    B,
    /// dictionary<int32, utf8> of 100 values, f64, bool.
    C,
}

impl Shape {
    /// All shapes, in report order.
    pub const ALL: [Shape; 3] = [Shape::A, Shape::B, Shape::C];

    /// `a`, `b` or `c`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::A => "a",
            Shape::B => "b",
            Shape::C => "c",
        }
    }

    /// One line for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::A => "i64, f64, i32, f32; no nulls",
            Shape::B => "utf8 (5-30 chars, ASCII/mixed) + i64; 10% nulls each",
            Shape::C => "dictionary<int32, utf8> (100 values) + f64 + bool",
        }
    }

    /// Columns per table.
    pub fn columns(self) -> usize {
        match self {
            Shape::A => 4,
            Shape::B => 2,
            Shape::C => 3,
        }
    }

    /// The path of this shape's stream as written by `producer`.
    pub fn file(self, producer: &str) -> PathBuf {
        data_dir().join(format!("shape_{}.{producer}.arrows", self.name()))
    }

    /// Record batch `batch` of `rows` rows (global rows `batch * rows ..`).
    pub fn table(self, batch: usize, rows: usize, pool: &StringPool) -> Table {
        let base = (batch * rows) as u64;
        let cols = match self {
            Shape::A => {
                let mut i64s = Vec64::with_capacity(rows);
                let mut f64s = Vec64::with_capacity(rows);
                let mut i32s = Vec64::with_capacity(rows);
                let mut f32s = Vec64::with_capacity(rows);
                for r in base..base + rows as u64 {
                    i64s.push(mix(1, r) as i64);
                    f64s.push(unit_f64(mix(2, r)));
                    i32s.push(mix(3, r) as u32 as i32);
                    f32s.push(unit_f32(mix(4, r)));
                }
                vec![
                    column(
                        "i64",
                        ArrowType::Int64,
                        false,
                        Array::from_int64(ints(i64s, None)),
                    ),
                    column(
                        "f64",
                        ArrowType::Float64,
                        false,
                        Array::from_float64(floats(f64s)),
                    ),
                    column(
                        "i32",
                        ArrowType::Int32,
                        false,
                        Array::from_int32(ints(i32s, None)),
                    ),
                    column(
                        "f32",
                        ArrowType::Float32,
                        false,
                        Array::from_float32(floats(f32s)),
                    ),
                ]
            }
            Shape::B => {
                let mut offsets: Vec64<u32> = Vec64::with_capacity(rows + 1);
                let mut data: Vec64<u8> = Vec64::with_capacity(rows * 24);
                let mut str_valid = Bits::with_len(rows);
                let mut i64s = Vec64::with_capacity(rows);
                let mut int_valid = Bits::with_len(rows);
                offsets.push(0);
                for (k, r) in (base..base + rows as u64).enumerate() {
                    if below(mix(8, r), 10) != 0 {
                        str_valid.set(k);
                        data.extend_from_slice(pool.row(r));
                    }
                    offsets.push(u32::try_from(data.len()).expect("string data under 4 GiB"));
                    if below(mix(9, r), 10) != 0 {
                        int_valid.set(k);
                        i64s.push(mix(10, r) as i64);
                    } else {
                        i64s.push(0);
                    }
                }
                let strings = StringArray::from_parts(offsets, data, Some(str_valid.finish()));
                vec![
                    column(
                        "utf8",
                        ArrowType::String,
                        true,
                        Array::from_string32(strings),
                    ),
                    column(
                        "i64",
                        ArrowType::Int64,
                        true,
                        Array::from_int64(ints(i64s, Some(int_valid.finish()))),
                    ),
                ]
            }
            Shape::C => {
                let mut keys: Vec64<u32> = Vec64::with_capacity(rows);
                let mut f64s = Vec64::with_capacity(rows);
                let mut bools = Bits::with_len(rows);
                for (k, r) in (base..base + rows as u64).enumerate() {
                    keys.push(below(mix(11, r), DICTIONARY_VALUES as u64) as u32);
                    f64s.push(unit_f64(mix(12, r)));
                    if mix(13, r) >> 63 == 1 {
                        bools.set(k);
                    }
                }
                let dict = CategoricalArray::from_parts(keys, dictionary_values(), None);
                vec![
                    column(
                        "dict",
                        ArrowType::Dictionary(CategoricalIndexType::UInt32),
                        false,
                        Array::from_categorical32(dict),
                    ),
                    column(
                        "f64",
                        ArrowType::Float64,
                        false,
                        Array::from_float64(floats(f64s)),
                    ),
                    column(
                        "bool",
                        ArrowType::Boolean,
                        false,
                        Array::from_bool(BooleanArray::new(bools.finish(), None)),
                    ),
                ]
            }
        };
        Table::new(format!("shape_{}", self.name()), Some(cols))
    }

    /// `batches()` tables of `rows_per_batch()` rows.
    pub fn tables(self) -> Vec<Table> {
        self.tables_of(batches(), rows_per_batch())
    }

    /// `n` tables of `rows` rows.
    pub fn tables_of(self, n: usize, rows: usize) -> Vec<Table> {
        let pool = StringPool::new();
        (0..n).map(|b| self.table(b, rows, &pool)).collect()
    }

    /// The Lightstream schema of this shape: the tables' fields, and for (c)
    /// a signed `Int32` dictionary index, as the issue (and pyarrow) has it.
    pub fn schema(self, first: &Table) -> Schema {
        let mut schema = Schema::from_table(first);
        if self == Shape::C {
            schema.dictionaries[0] = Some(DictionaryEncoding {
                id: 0,
                index_type: IndexType::Int32,
                large_values: false,
                ordered: false,
            });
        }
        schema
    }
}

fn column(name: &str, dtype: ArrowType, nullable: bool, array: Array) -> FieldArray {
    FieldArray::new(Field::new(name, dtype, nullable, None), array)
}

fn ints<T>(v: Vec64<T>, null_mask: Option<Bitmask>) -> IntegerArray<T> {
    IntegerArray {
        data: Buffer::from_vec64(v),
        null_mask,
    }
}

fn floats<T>(v: Vec64<T>) -> FloatArray<T> {
    FloatArray {
        data: Buffer::from_vec64(v),
        null_mask: None,
    }
}

// ---------------------------------------------------------------------------
// Codec drivers: exactly what the benchmarks time.
// ---------------------------------------------------------------------------

/// Lightstream's writer with default options (64-byte alignment).
pub fn lightstream_write(schema: &Schema, tables: &[Table]) -> Vec<u8> {
    write_stream(schema, tables, &WriteOptions::default()).expect("lightstream write_stream")
}

/// Lightstream zero-copy decode of a whole stream held in shared memory.
pub fn lightstream_read_stream(bytes: &SharedBuffer) -> Vec<Table> {
    read_stream(bytes.clone(), ReadOptions::default())
        .expect("lightstream read_stream")
        .1
}

/// `read_stream` with `ReadOptions::align_64`: messages whose buffers are not
/// all 64-byte aligned are copied to 64-byte boundaries.
pub fn lightstream_read_stream_align_64(bytes: &SharedBuffer) -> Vec<Table> {
    let options = ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    };
    read_stream(bytes.clone(), options)
        .expect("lightstream read_stream align_64")
        .1
}

/// Lightstream's copying push path: `bytes` offered in `chunk`-byte pieces,
/// as a socket would deliver them, through the core's `IpcStreamDriver`.
pub fn lightstream_push(bytes: &[u8], chunk: usize) -> Vec<Table> {
    let mut driver = IpcStreamDriver::new(ReadOptions::default());
    let mut tables = Vec::new();
    for piece in bytes.chunks(chunk) {
        let mut input = SliceInput::new(piece, 0);
        while let Some(item) = driver.next_item(&mut input).expect("lightstream push") {
            if let StreamItem::Table(t) = item {
                tables.push(t);
            }
        }
    }
    driver
        .decoder()
        .finish()
        .expect("lightstream push: stream ended mid-message");
    tables
}

/// Lightstream's in-memory encode, `write_stream`: the sans-IO encoder's
/// messages (which borrow the tables) copied into one exactly-sized `Vec`.
pub fn lightstream_encode(schema: &Arc<Schema>, tables: &[Table]) -> Vec<u8> {
    lightstream_core::write_stream(schema, tables, &WriteOptions::default())
        .expect("lightstream write_stream")
}

/// [`lightstream_encode`] appending to `out` (a reused buffer: no allocation
/// or page faults once it has grown).
pub fn lightstream_encode_into(schema: &Arc<Schema>, tables: &[Table], out: &mut Vec<u8>) {
    let mut enc = IpcStreamEncoder::new(schema.clone(), WriteOptions::default())
        .expect("lightstream encoder");
    let write = "writing to a Vec cannot fail";
    enc.schema_message()
        .expect("schema message")
        .write_to(out)
        .expect(write);
    for t in tables {
        for m in enc.encode_table(t).expect("lightstream encode_table") {
            m.write_to(out).expect(write);
        }
    }
    enc.end_of_stream().write_to(out).expect(write);
}

/// arrow-rs `StreamDecoder` over one arrow `Buffer` holding the whole stream
/// (zero-copy for aligned buffers; validation on, its default).
pub fn arrow_stream_decoder(bytes: &ArrowBuffer) -> Vec<RecordBatch> {
    let mut dec = StreamDecoder::new();
    let mut buf = bytes.clone();
    let mut batches = Vec::new();
    while !buf.is_empty() {
        if let Some(b) = dec.decode(&mut buf).expect("arrow-rs StreamDecoder") {
            batches.push(b);
        }
    }
    dec.finish().expect("arrow-rs StreamDecoder finish");
    batches
}

/// arrow-rs `StreamReader` over an in-memory cursor (reads each message into
/// a fresh buffer; validation on, its default).
pub fn arrow_stream_reader(bytes: &[u8]) -> Vec<RecordBatch> {
    StreamReader::try_new(Cursor::new(bytes), None)
        .expect("arrow-rs StreamReader")
        .collect::<Result<Vec<_>, _>>()
        .expect("arrow-rs StreamReader batch")
}

/// arrow-rs `StreamWriter` (its default options: 64-byte alignment, V5) into a `Vec`.
pub fn arrow_encode(schema: &arrow_schema::Schema, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    arrow_encode_into(schema, batches, &mut out);
    out
}

/// [`arrow_encode`] appending to `out` (a reused buffer).
pub fn arrow_encode_into(
    schema: &arrow_schema::Schema,
    batches: &[RecordBatch],
    out: &mut Vec<u8>,
) {
    let mut w = StreamWriter::try_new(out, schema).expect("arrow-rs StreamWriter");
    for b in batches {
        w.write(b).expect("arrow-rs StreamWriter write");
    }
    w.finish().expect("arrow-rs StreamWriter finish");
}

/// An arrow-rs buffer (arrow's own aligned allocation) holding a copy of `bytes`.
pub fn arrow_buffer(bytes: &[u8]) -> ArrowBuffer {
    ArrowBuffer::from_slice_ref(bytes)
}

/// Bytes of the Arrow buffers of `tables` (values, plus a validity bitmap
/// where there is one): the unit of the transport benches' throughput. For
/// shape (a) this is 24 bytes per row. Fixed-width numeric columns only.
pub fn buffer_bytes(tables: &[Table]) -> u64 {
    let mut total = 0usize;
    for t in tables {
        for fa in &t.cols {
            let (values, mask) = match &fa.array {
                Array::NumericArray(NumericArray::Int64(x)) => {
                    (size_of_val(x.data.as_slice()), x.null_mask.is_some())
                }
                Array::NumericArray(NumericArray::Int32(x)) => {
                    (size_of_val(x.data.as_slice()), x.null_mask.is_some())
                }
                Array::NumericArray(NumericArray::Float64(x)) => {
                    (size_of_val(x.data.as_slice()), x.null_mask.is_some())
                }
                Array::NumericArray(NumericArray::Float32(x)) => {
                    (size_of_val(x.data.as_slice()), x.null_mask.is_some())
                }
                other => panic!(
                    "buffer_bytes: fixed-width numeric columns only, not {:?}",
                    other.arrow_type()
                ),
            };
            total += values + if mask { t.n_rows.div_ceil(8) } else { 0 };
        }
    }
    total as u64
}

// ---------------------------------------------------------------------------
// Checksums: the same logical fold over minarrow tables and arrow-rs batches.
// ---------------------------------------------------------------------------

/// Rows and a hash of every value (nulls included) of a sequence of batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    /// Total rows.
    pub rows: usize,
    /// Columns in the last batch.
    pub columns: usize,
    /// Order-sensitive hash of all values, column by column.
    pub hash: u64,
}

const NULL_MARK: u64 = 0x6E75_6C6C_6E75_6C6C;

#[derive(Clone, Copy)]
struct Fold(u64);

impl Fold {
    fn new() -> Fold {
        Fold(0xCBF2_9CE4_8422_2325)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w)
            .wrapping_mul(0x0000_0100_0000_01B3)
            .rotate_left(29);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let (words, tail) = b.as_chunks::<8>();
        for w in words {
            self.word(u64::from_le_bytes(*w));
        }
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            self.word(u64::from_le_bytes(last));
        }
    }

    fn values<T: Copy>(&mut self, v: &[T], mask: Option<&Bitmask>, f: impl Fn(T) -> u64) {
        for (i, &x) in v.iter().enumerate() {
            if mask.is_none_or(|m| m.get(i)) {
                self.word(f(x));
            } else {
                self.word(NULL_MARK);
            }
        }
    }
}

fn finish(rows: usize, cols: &[Fold]) -> Checksum {
    let mut all = Fold::new();
    all.word(rows as u64);
    for c in cols {
        all.word(c.0);
    }
    Checksum {
        rows,
        columns: cols.len(),
        hash: all.0,
    }
}

/// The checksum of minarrow tables.
pub fn checksum_tables(tables: &[Table]) -> Checksum {
    let mut rows = 0;
    let mut cols: Vec<Fold> = Vec::new();
    for t in tables {
        rows += t.n_rows;
        cols.resize(t.cols.len(), Fold::new());
        for (f, fa) in cols.iter_mut().zip(&t.cols) {
            fold_minarrow(f, &fa.array, t.n_rows);
        }
    }
    finish(rows, &cols)
}

fn fold_minarrow(f: &mut Fold, a: &Array, n: usize) {
    match a {
        Array::NumericArray(NumericArray::Int64(x)) => {
            f.values(&x.data.as_slice()[..n], x.null_mask.as_ref(), |v| v as u64)
        }
        Array::NumericArray(NumericArray::Int32(x)) => {
            f.values(&x.data.as_slice()[..n], x.null_mask.as_ref(), |v| {
                v as i64 as u64
            })
        }
        Array::NumericArray(NumericArray::Float64(x)) => {
            f.values(&x.data.as_slice()[..n], x.null_mask.as_ref(), f64::to_bits)
        }
        Array::NumericArray(NumericArray::Float32(x)) => {
            f.values(&x.data.as_slice()[..n], x.null_mask.as_ref(), |v| {
                v.to_bits() as u64
            })
        }
        Array::BooleanArray(x) => {
            for i in 0..n {
                if x.null_mask.as_ref().is_none_or(|m| m.get(i)) {
                    f.word(x.data.get(i) as u64);
                } else {
                    f.word(NULL_MARK);
                }
            }
        }
        Array::TextArray(TextArray::String32(s)) => {
            let o = s.offsets.as_slice();
            let d = s.data.as_slice();
            for i in 0..n {
                if s.null_mask.as_ref().is_none_or(|m| m.get(i)) {
                    f.bytes(&d[o[i] as usize..o[i + 1] as usize]);
                } else {
                    f.word(NULL_MARK);
                }
            }
        }
        Array::TextArray(TextArray::Categorical32(c)) => {
            let keys = c.data.as_slice();
            for (i, &k) in keys[..n].iter().enumerate() {
                if c.null_mask.as_ref().is_none_or(|m| m.get(i)) {
                    f.bytes(c.unique_values[k as usize].as_bytes());
                } else {
                    f.word(NULL_MARK);
                }
            }
        }
        other => panic!(
            "checksum: no fold for minarrow array of type {:?}",
            other.arrow_type()
        ),
    }
}

/// The checksum of arrow-rs record batches (equal to [`checksum_tables`] of
/// the same values).
pub fn checksum_batches(batches: &[RecordBatch]) -> Checksum {
    let mut rows = 0;
    let mut cols: Vec<Fold> = Vec::new();
    for b in batches {
        rows += b.num_rows();
        cols.resize(b.num_columns(), Fold::new());
        for (f, a) in cols.iter_mut().zip(b.columns()) {
            fold_arrow(f, a.as_ref());
        }
    }
    finish(rows, &cols)
}

fn fold_arrow(f: &mut Fold, a: &dyn ArrowArray) {
    macro_rules! prim {
        ($t:ty, $to:expr) => {{
            let p = a.as_primitive::<$t>();
            for i in 0..p.len() {
                if p.is_null(i) {
                    f.word(NULL_MARK);
                } else {
                    f.word($to(p.value(i)));
                }
            }
        }};
    }
    match a.data_type() {
        DataType::Int64 => prim!(Int64Type, |v: i64| v as u64),
        DataType::Int32 => prim!(Int32Type, |v: i32| v as i64 as u64),
        DataType::Float64 => prim!(Float64Type, f64::to_bits),
        DataType::Float32 => prim!(Float32Type, |v: f32| v.to_bits() as u64),
        DataType::Boolean => {
            let b = a.as_boolean();
            for i in 0..b.len() {
                if b.is_null(i) {
                    f.word(NULL_MARK);
                } else {
                    f.word(b.value(i) as u64);
                }
            }
        }
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            for i in 0..s.len() {
                if s.is_null(i) {
                    f.word(NULL_MARK);
                } else {
                    f.bytes(s.value(i).as_bytes());
                }
            }
        }
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = a.as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            let keys = d.keys();
            for i in 0..d.len() {
                if d.is_null(i) {
                    f.word(NULL_MARK);
                } else {
                    f.bytes(values.value(keys.value(i) as usize).as_bytes());
                }
            }
        }
        other => panic!("checksum: no fold for arrow-rs array of type {other}"),
    }
}

/// Panics unless `got` equals `want`, naming what was checked.
pub fn assert_checksum(what: &str, got: Checksum, want: Checksum) {
    assert_eq!(
        got, want,
        "{what}: decoded data differs from the generated data (rows/columns/hash)"
    );
}

/// True when the first column's values of `table` point into `input`
/// (the decoder sliced them out without copying).
pub fn first_column_borrows(table: &Table, input: &SharedBuffer) -> bool {
    let values: *const u8 = match &table.cols[0].array {
        Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice().as_ptr().cast(),
        Array::TextArray(TextArray::String32(a)) => a.data.as_slice().as_ptr(),
        Array::TextArray(TextArray::Categorical32(a)) => a.data.as_slice().as_ptr().cast(),
        _ => return false,
    };
    let range = input.as_slice().as_ptr_range();
    range.contains(&values)
}

// ---------------------------------------------------------------------------
// Files shared with the Python side.
// ---------------------------------------------------------------------------

/// Writes `bytes` as this shape's stream by `producer` (for the pyarrow
/// timings on the same bytes). Failures are reported, not fatal.
pub fn export(shape: Shape, producer: &str, bytes: &[u8]) {
    let path = shape.file(producer);
    let result = std::fs::create_dir_all(data_dir()).and_then(|_| std::fs::write(&path, bytes));
    if let Err(e) = result {
        eprintln!("warning: could not write {}: {e}", path.display());
    }
}

/// Runs `benches/python/gen_and_time.py generate` for `shape` (force: rewrite
/// the file even if it exists).
fn run_python_generate(shape: Shape) -> bool {
    let script = workspace_root().join("benches/python/gen_and_time.py");
    eprintln!(
        "generating {} with pyarrow ({})",
        shape.file("pyarrow").display(),
        script.display()
    );
    let status = Command::new("python3")
        .arg(&script)
        .arg("generate")
        .arg("--shapes")
        .arg(shape.name())
        .arg("--force")
        .arg("--batches")
        .arg(batches().to_string())
        .arg("--rows")
        .arg(rows_per_batch().to_string())
        .arg("--data-dir")
        .arg(data_dir())
        .status();
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("warning: {} exited with {s}", script.display());
            false
        }
        Err(e) => {
            eprintln!("warning: could not run python3: {e}");
            false
        }
    }
}

/// pyarrow's 8-byte aligned stream of `shape`, holding the same values as
/// `want`. Generated (by running the Python script) when missing or stale;
/// `None`, with a warning, when pyarrow cannot produce it.
pub fn pyarrow_bytes(shape: Shape, want: Checksum) -> Option<Vec<u8>> {
    let path = shape.file("pyarrow");
    for attempt in 0..2 {
        if (attempt == 1 || !path.exists()) && !run_python_generate(shape) {
            break;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let got = checksum_tables(&lightstream_read_stream(&lightstream_core::aligned_copy(
            &bytes,
        )));
        if got.rows == want.rows {
            assert_checksum(
                &format!("{} (pyarrow's values vs Rust's generator)", path.display()),
                got,
                want,
            );
            return Some(bytes);
        }
        eprintln!(
            "{} holds {} rows, this run wants {}: regenerating",
            path.display(),
            got.rows,
            want.rows
        );
    }
    eprintln!(
        "warning: no pyarrow stream for shape {}; its pyarrow-input benchmarks are skipped",
        shape.name()
    );
    None
}

// ---------------------------------------------------------------------------
// Dictionary deltas (issue 14, item 3).
// ---------------------------------------------------------------------------

/// Dictionary value `i` of the delta streams: 13 bytes for every `i` below 10^7.
pub fn delta_value(i: usize) -> String {
    format!("value-{i:07}")
}

/// Where each message of an IPC stream lies: `(start, end)` byte ranges.
fn message_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = |p: usize| u32::from_le_bytes(bytes[p..p + 4].try_into().expect("4 bytes"));
        assert_eq!(word(at), 0xFFFF_FFFF, "continuation marker at {at}");
        let meta_len = word(at + 4) as usize;
        if meta_len == 0 {
            break;
        }
        let meta = &bytes[at + 8..at + 8 + meta_len];
        let body = arrow_ipc::root_as_message(meta)
            .expect("arrow-rs message")
            .bodyLength() as usize;
        let end = at + 8 + meta_len + body;
        out.push((at, end));
        at = end;
    }
    out
}

/// An IPC stream of `n` one-row record batches of one column,
/// `dictionary<int32, utf8>`, where batch `i` has key `i` and is preceded by a
/// delta dictionary batch adding [`delta_value`]`(i)` (batch 0 by the first,
/// non-delta, dictionary batch): the shape of the repro.
///
/// Built in time linear in `n`: arrow-rs writes the first two batches (with
/// `DictionaryHandling::Delta`), and the messages of batch 1 are repeated with
/// the value and the key patched in (every value has the same length, so
/// every message keeps its size and layout).
pub fn dictionary_delta_stream(n: usize) -> Vec<u8> {
    use arrow_array::{DictionaryArray, StringArray as ArrowStringArray};
    use arrow_ipc::writer::{DictionaryHandling, IpcWriteOptions};
    assert!((2..10_000_000).contains(&n), "n = {n}");
    let field = arrow_schema::Field::new(
        "city",
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        false,
    );
    let schema = Arc::new(arrow_schema::Schema::new(vec![field]));
    let batch = |i: usize| {
        let values = ArrowStringArray::from_iter_values((0..=i).map(delta_value));
        let keys = arrow_array::Int32Array::from(vec![i as i32]);
        let dict = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
            .expect("dictionary array");
        RecordBatch::try_new(schema.clone(), vec![Arc::new(dict)]).expect("batch")
    };
    let options = IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta);
    let mut template = Vec::new();
    {
        let mut w = StreamWriter::try_new_with_options(&mut template, &schema, options)
            .expect("arrow-rs StreamWriter");
        w.write(&batch(0)).expect("batch 0");
        w.write(&batch(1)).expect("batch 1");
        w.finish().expect("finish");
    }
    let msgs = message_ranges(&template);
    // schema, dictionary, batch 0, delta, batch 1.
    assert_eq!(msgs.len(), 5, "arrow-rs wrote {} messages", msgs.len());
    let (delta, rb) = (msgs[3], msgs[4]);
    let delta_msg = &template[delta.0..delta.1];
    let rb_msg = &template[rb.0..rb.1];
    let needle = delta_value(1);
    let value_at = delta_msg
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("the delta's value");
    // The key is the first 4 bytes of the record batch's body (no validity).
    let rb_meta_len = u32::from_le_bytes(rb_msg[4..8].try_into().expect("4 bytes")) as usize;
    let key_at = 8 + rb_meta_len;
    assert_eq!(
        rb_msg[key_at..key_at + 4],
        1i32.to_le_bytes(),
        "key of batch 1"
    );
    let mut out = Vec::with_capacity(msgs[2].1 + n * (delta_msg.len() + rb_msg.len()) + 8);
    out.extend_from_slice(&template[..msgs[2].1]);
    for i in 1..n {
        let at = out.len();
        out.extend_from_slice(delta_msg);
        out[at + value_at..at + value_at + needle.len()].copy_from_slice(delta_value(i).as_bytes());
        let at = out.len();
        out.extend_from_slice(rb_msg);
        out[at + key_at..at + key_at + 4].copy_from_slice(&(i as i32).to_le_bytes());
    }
    out.extend_from_slice(&template[msgs[4].1..]);
    out
}

/// Decodes a delta stream with Lightstream's `IpcStreamDriver` (zero-copy,
/// over shared memory), dropping each table as `convert` does; checks every
/// batch's key and value. `compact`: `ReadOptions::compact_dictionaries`.
/// Returns the number of batches.
pub fn lightstream_delta_decode(bytes: &SharedBuffer, compact: bool) -> usize {
    let mut driver = IpcStreamDriver::new(ReadOptions {
        compact_dictionaries: compact,
        ..ReadOptions::default()
    });
    let mut input = SharedInput::new(bytes.clone(), 0);
    let mut n = 0;
    while let Some(item) = driver.next_item(&mut input).expect("lightstream decode") {
        match item {
            StreamItem::Table(t) => {
                let Array::TextArray(TextArray::Categorical32(c)) = &t.cols[0].array else {
                    panic!("batch {n}: not a dictionary<int32> column")
                };
                let key = c.data.as_slice()[0] as usize;
                assert_eq!(key, if compact && n > 0 { 0 } else { n }, "batch {n}: key");
                assert_eq!(c.unique_values[key], delta_value(n), "batch {n}: value");
                n += 1;
            }
            StreamItem::End => break,
            StreamItem::Schema(_) => {}
        }
    }
    driver.decoder().finish().expect("lightstream finish");
    n
}

fn check_arrow_delta_batch(b: &RecordBatch, n: usize) {
    let d = b.column(0).as_dictionary::<Int32Type>();
    let key = d.keys().value(0) as usize;
    assert_eq!(key, n, "batch {n}: key");
    assert_eq!(
        d.values().as_string::<i32>().value(key),
        delta_value(n),
        "batch {n}: value"
    );
}

/// arrow-rs `StreamDecoder` over a delta stream, dropping each batch; checks
/// every batch. Returns the number of batches.
pub fn arrow_delta_decoder(bytes: &ArrowBuffer) -> usize {
    let mut dec = StreamDecoder::new();
    let mut buf = bytes.clone();
    let mut n = 0;
    while !buf.is_empty() {
        if let Some(b) = dec.decode(&mut buf).expect("arrow-rs StreamDecoder") {
            check_arrow_delta_batch(&b, n);
            n += 1;
        }
    }
    dec.finish().expect("arrow-rs StreamDecoder finish");
    n
}

/// arrow-rs `StreamReader` over a delta stream, dropping each batch; checks
/// every batch. Returns the number of batches.
pub fn arrow_delta_reader(bytes: &[u8]) -> usize {
    let mut n = 0;
    for b in StreamReader::try_new(Cursor::new(bytes), None).expect("arrow-rs StreamReader") {
        check_arrow_delta_batch(&b.expect("arrow-rs StreamReader batch"), n);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_MIX_1_0: u64 = 9_370_218_965_779_684_112;

    #[test]
    fn generator_is_deterministic_and_in_range() {
        let pool = StringPool::new();
        assert!(std::str::from_utf8(&pool.bytes).is_ok());
        for r in 0..10_000u64 {
            let s = std::str::from_utf8(pool.row(r)).expect("rows are whole characters");
            let chars = s.chars().count();
            assert!((5..=30).contains(&chars), "row {r}: {chars} characters");
            assert!(below(mix(11, r), 100) < 100);
            assert!((-1000.0..1000.0).contains(&unit_f64(mix(2, r))));
        }
        // Pinned so a change to the generator is noticed (the Python side must follow).
        assert_eq!(mix(1, 0), PINNED_MIX_1_0);
        let a = Shape::A.tables_of(2, 100);
        let b = Shape::A.tables_of(2, 100);
        assert_eq!(checksum_tables(&a), checksum_tables(&b));
    }

    #[test]
    fn every_decoder_agrees_with_the_generator() {
        for shape in Shape::ALL {
            let tables = shape.tables_of(3, 1000);
            let want = checksum_tables(&tables);
            assert_eq!(want.rows, 3000);
            let schema = shape.schema(&tables[0]);
            let ours = lightstream_write(&schema, &tables);
            let shared = lightstream_core::aligned_copy(&ours);
            let read = lightstream_read_stream(&shared);
            assert_checksum("read_stream", checksum_tables(&read), want);
            assert_checksum("push", checksum_tables(&lightstream_push(&ours, 100)), want);
            let batches = arrow_stream_decoder(&arrow_buffer(&ours));
            assert_checksum("StreamDecoder", checksum_batches(&batches), want);
            assert_checksum(
                "StreamReader",
                checksum_batches(&arrow_stream_reader(&ours)),
                want,
            );
            let encoded = lightstream_encode(&Arc::new(schema.clone()), &tables);
            assert_eq!(
                encoded, ours,
                "encoder and write_stream agree byte for byte"
            );
            let arrow_bytes = arrow_encode(&batches[0].schema(), &batches);
            let again = lightstream_read_stream(&lightstream_core::aligned_copy(&arrow_bytes));
            assert_checksum("arrow-rs writer", checksum_tables(&again), want);
        }
    }

    #[test]
    fn checksum_ignores_batching_and_sees_values() {
        let one = Shape::B.tables_of(1, 50);
        let two = Shape::B.tables_of(2, 25);
        assert_eq!(checksum_tables(&one), checksum_tables(&two));
        let pool = StringPool::new();
        let other = [Shape::B.table(1, 50, &pool)]; // rows 50..100
        assert_ne!(checksum_tables(&one).hash, checksum_tables(&other).hash);
    }
}
