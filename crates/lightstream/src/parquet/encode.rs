//! Our own encoder of column chunks for [`super::ParquetWriter`]: BYTE_ARRAY
//! (string and categorical columns) and INT32 / INT64 / FLOAT / DOUBLE (the
//! numeric and temporal columns, and the conversions Parquet's types need).
//!
//! - Strings are dictionary-encoded through a memo table ([`Memo`]: one owned
//!   buffer of the distinct values and a hash -> index table), so there is no
//!   `ByteArray` (a refcounted `Bytes`) per value as in the crate's writer.
//! - Fixed-width values are dictionary-encoded through [`FixedMemo`] (open
//!   addressing on the value's bits); PLAIN pages are the column's values as
//!   they are, a run of valid rows at a time. Their statistics are the
//!   crate's column writer's: floats in IEEE 754 total order (the column
//!   order its file writer declares) with a NaN count, NaN left out of min /
//!   max unless all values are NaN; UINT_32 / UINT_64 ordered unsigned.
//! - A categorical column's keys are remapped to the chunk's dictionary once
//!   per dictionary entry a table uses, never hashed per row; so tables with
//!   different `unique_values` share one dictionary page in a row group.
//! - Indices and definition levels go through our RLE / bit-packed encoder
//!   ([`super::rle::rle_encode`]). When the dictionary's PLAIN size reaches
//!   `dictionary_page_bytes` the chunk falls back to PLAIN pages, as pyarrow
//!   and the crate do (the pages written so far keep the dictionary).
//! - Pages are compressed here into reused buffers (one compression context
//!   per column for the whole file); the crate's `SerializedPageWriter` still
//!   writes the page headers, and we build the chunk's metadata (statistics:
//!   min / max / null count; an offset index, no column index).
//!
//! Not here: BOOLEAN, FIXED_LEN_BYTE_ARRAY (Decimal128) and all-null `Null`
//! columns (the crate's column writers, writer.rs), the file layout and
//! footer (the crate's file writer, writer.rs).

use std::io::{Cursor, Read};
use std::ops::Range;

use lightstream_core::bytes::Bytes;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, FieldArray, Integer, NumericArray, StringArray,
    TemporalArray, TextArray, TimeUnit,
};
use parquet::basic::{
    Compression as PqCompression, Encoding, PageType, SortOrder, Type as PhysicalType,
};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::rle::{bit_width_of, rle_encode};
use super::types::parquet_error;
use super::writer::{ParquetCompression, ParquetWriteOptions, rows, valid_runs};
use crate::error::Result;

/// Rows of a data page at most (the crate's and pyarrow's default).
const PAGE_ROWS: usize = 20_000;

/// Largest dictionary page we build, whatever `dictionary_page_bytes` says:
/// page sizes are i32 in their headers, and entries stay below 2^28.
const MAX_DICTIONARY_BYTES: usize = 1 << 30;

/// Longest min or max kept in a chunk's statistics (Arrow C++'s default).
const MAX_STATISTICS_BYTES: usize = 4096;

/// Rows encoded between checks of the page and dictionary limits (the
/// crate's write batch), so a page or dictionary overshoots its limit by
/// this many values at most.
const MINI_BATCH: usize = 1024;

// ------------------------------------------------------------------ codec

/// A page compressor kept for the whole file, writing into a reused buffer.
enum PageCodec {
    None,
    #[cfg(feature = "snappy")]
    Snappy(Box<snap::raw::Encoder>),
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::bulk::Compressor<'static>>),
}

impl PageCodec {
    fn new(c: ParquetCompression) -> Result<Self> {
        Ok(match c {
            ParquetCompression::None => PageCodec::None,
            #[cfg(feature = "snappy")]
            ParquetCompression::Snappy => PageCodec::Snappy(Box::new(snap::raw::Encoder::new())),
            #[cfg(feature = "zstd")]
            ParquetCompression::Zstd(level) => PageCodec::Zstd(Box::new(
                zstd::bulk::Compressor::new(level)
                    .map_err(|e| parquet_error(format!("zstd level {level}: {e}")))?,
            )),
            #[allow(unreachable_patterns)]
            other => {
                return Err(parquet_error(format!(
                    "{other:?} compression was not compiled in"
                )));
            }
        })
    }

    /// `src` compressed (or as it is, uncompressed), through `scratch`.
    #[cfg_attr(
        not(any(feature = "snappy", feature = "zstd")),
        allow(
            unused_variables,
            clippy::ptr_arg,
            reason = "`scratch` is the codecs' buffer"
        )
    )]
    fn compress(&mut self, src: &[u8], scratch: &mut Vec<u8>) -> Result<Bytes> {
        match self {
            PageCodec::None => Ok(Bytes::copy_from_slice(src)),
            #[cfg(feature = "snappy")]
            PageCodec::Snappy(enc) => {
                let max = snap::raw::max_compress_len(src.len());
                if scratch.len() < max {
                    // Zeroed once as it grows, not per page.
                    scratch.resize(max, 0);
                }
                let n = enc
                    .compress(src, scratch)
                    .map_err(|e| parquet_error(format!("snappy: {e}")))?;
                Ok(Bytes::copy_from_slice(&scratch[..n]))
            }
            #[cfg(feature = "zstd")]
            PageCodec::Zstd(c) => {
                scratch.clear();
                scratch.reserve(zstd::zstd_safe::compress_bound(src.len()));
                c.compress_to_buffer(src, scratch)
                    .map_err(|e| parquet_error(format!("zstd: {e}")))?;
                Ok(Bytes::copy_from_slice(scratch))
            }
        }
    }
}

// ------------------------------------------------------------------ memo

/// The distinct values of a chunk in first-seen order (one buffer of bytes
/// and their offsets) and an open-addressing table from their hash to their
/// index: Arrow C++'s BinaryMemoTable in small.
#[derive(Default)]
struct Memo {
    offsets: Vec<usize>,
    data: Vec<u8>,
    /// Per slot: the entry's 32-bit hash above its index + 1 (0: empty), so a
    /// probe compares hashes without another load; a power of two of slots,
    /// at most half full.
    slots: Vec<u64>,
    entries: usize,
    /// The dictionary page's PLAIN size: 4 + len per entry.
    plain_bytes: usize,
}

/// The 64-bit product of `a` and `b` folded (high half xor low half): the
/// mixing step of wyhash / foldhash.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// `v` (at most 16 bytes) as two words, without a copy: the first and last
/// 8 (or 4) bytes, overlapping when shorter than 16 (8); the length, hashed
/// or compared alongside, tells the overlaps apart.
#[inline]
fn short_words(v: &[u8]) -> (u64, u64) {
    let n = v.len();
    if n >= 8 {
        let (head, _) = v.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
        let (_, tail) = v.split_last_chunk::<8>().unwrap_or((&[], &[0; 8]));
        (u64::from_le_bytes(*head), u64::from_le_bytes(*tail))
    } else if n >= 4 {
        let (head, _) = v.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
        let (_, tail) = v.split_last_chunk::<4>().unwrap_or((&[], &[0; 4]));
        (
            u64::from(u32::from_le_bytes(*head)),
            u64::from(u32::from_le_bytes(*tail)),
        )
    } else if n > 0 {
        let w = u64::from(v[0]) | u64::from(v[n / 2]) << 8 | u64::from(v[n - 1]) << 16;
        (w, 0)
    } else {
        (0, 0)
    }
}

/// The memo's hash: words of `v` folded into the length, no copy (the
/// tail is read as the last 8 bytes, overlapping the words before it).
#[inline]
fn hash(v: &[u8]) -> u64 {
    const K0: u64 = 0x9e37_79b9_7f4a_7c15;
    const K1: u64 = 0xa076_1d64_78bd_642f;
    const K2: u64 = 0xe703_7ed1_a0b4_28db;
    let mut h = (v.len() as u64) ^ K0;
    let mut rest = v;
    while rest.len() > 16 {
        let (w, tail) = rest.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
        h = fold(h ^ u64::from_le_bytes(*w), K1);
        rest = tail;
    }
    // The last 16 bytes or fewer (for a long value, overlapping is fine:
    // the words before were hashed in order).
    let (a, b) = if v.len() > 16 {
        short_words(&v[v.len() - 16..])
    } else {
        short_words(rest)
    };
    fold(h ^ a ^ K1, b ^ K2)
}

/// `a == b`, for short values without a call to memcmp.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 16 {
            short_words(a) == short_words(b)
        } else {
            a == b
        }
}

impl Memo {
    fn len(&self) -> usize {
        self.entries
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }

    fn clear(&mut self) {
        self.offsets.clear();
        self.data.clear();
        self.entries = 0;
        self.slots.clear();
        self.plain_bytes = 0;
    }

    /// The index of `v`, added if new.
    fn insert(&mut self, v: &[u8]) -> u32 {
        if self.slots.is_empty() {
            self.slots.resize(1024, 0);
            self.offsets.clear();
            self.offsets.push(0);
        }
        let h = hash(v);
        let tag = h << 32;
        let mask = self.slots.len() - 1;
        let mut p = (h >> 32) as usize & mask;
        loop {
            let s = self.slots[p];
            if s == 0 {
                break;
            }
            if s & !0xffff_ffff == tag {
                let e = (s as u32 - 1) as usize;
                if same_bytes(self.get(e), v) {
                    return e as u32;
                }
            }
            p = (p + 1) & mask;
        }
        let e = self.len() as u32;
        self.slots[p] = tag | u64::from(e + 1);
        self.entries += 1;
        self.data.extend_from_slice(v);
        self.offsets.push(self.data.len());
        self.plain_bytes += 4 + v.len();
        if self.len() * 2 > self.slots.len() {
            self.grow();
        }
        e
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        self.slots.clear();
        self.slots.resize(n, 0);
        let mask = n - 1;
        for e in 0..self.len() {
            let h = hash(self.get(e));
            let mut p = (h >> 32) as usize & mask;
            while self.slots[p] != 0 {
                p = (p + 1) & mask;
            }
            self.slots[p] = (h << 32) | (e as u64 + 1);
        }
    }
}

/// The distinct fixed-width values of a chunk (their bits, zero-extended)
/// in first-seen order, and an open-addressing table of their indices + 1
/// (0: empty; a power of two of slots, at most half full, Fibonacci hashing
/// on the value): 4 bytes a slot, so a dictionary at pyarrow's 1 MiB limit
/// (131,072 INT64 values) needs a 1 MiB table. Its memory is given back
/// when the chunk falls back to PLAIN or ends ([`FixedMemo::release`]).
#[derive(Default)]
struct FixedMemo {
    values: Vec<u64>,
    slots: Vec<u32>,
    /// 64 - log2(slots).
    shift: u32,
}

impl FixedMemo {
    fn len(&self) -> usize {
        self.values.len()
    }

    /// Empty, its buffers freed: each column holds a table only while it
    /// is dictionary-encoding.
    fn release(&mut self) {
        *self = FixedMemo::default();
    }

    #[inline]
    fn slot(v: u64, shift: u32) -> usize {
        (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
    }

    /// The index of `v`, added if new.
    #[inline]
    fn insert(&mut self, v: u64) -> u32 {
        if self.slots.is_empty() {
            self.slots.resize(1024, 0);
            self.shift = 64 - 10;
        }
        let mask = self.slots.len() - 1;
        let mut p = Self::slot(v, self.shift);
        loop {
            let e = self.slots[p];
            if e == 0 {
                break;
            }
            if self.values.get(e as usize - 1) == Some(&v) {
                return e - 1;
            }
            p = (p + 1) & mask;
        }
        let e = self.values.len() as u32;
        self.slots[p] = e + 1;
        self.values.push(v);
        if self.values.len() * 2 > self.slots.len() {
            self.grow();
        }
        e
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        self.shift -= 1;
        self.slots.clear();
        self.slots.resize(n, 0);
        let mask = n - 1;
        for (e, &v) in self.values.iter().enumerate() {
            let mut p = Self::slot(v, self.shift);
            while self.slots[p] != 0 {
                p = (p + 1) & mask;
            }
            self.slots[p] = e as u32 + 1;
        }
    }
}

/// What a chunk's values are, physically (its Parquet type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Physical {
    Bytes,
    Int32,
    Int64,
    Float,
    Double,
}

/// A fixed-width Parquet value: INT32, INT64, FLOAT or DOUBLE.
trait Fixed: Copy + Default + PartialOrd {
    const WIDTH: usize;
    /// FLOAT or DOUBLE (NaN is possible).
    const FLOAT: bool;
    /// Its bits, zero-extended (the memo's key, the statistics' storage).
    fn bits(self) -> u64;
    fn from_bits(b: u64) -> Self;
    /// Its PLAIN encoding (little-endian) into `out` (`WIDTH` bytes).
    fn put(self, out: &mut [u8]);
    fn is_nan(self) -> bool {
        false
    }
    /// `a < b`, as unsigned integers when `unsigned` (UINT_32 / UINT_64).
    fn less(a: Self, b: Self, unsigned: bool) -> bool;
}

macro_rules! fixed_int {
    ($t:ty, $u:ty) => {
        impl Fixed for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            const FLOAT: bool = false;
            fn bits(self) -> u64 {
                u64::from(self as $u)
            }
            fn from_bits(b: u64) -> Self {
                b as $u as $t
            }
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn less(a: Self, b: Self, unsigned: bool) -> bool {
                if unsigned {
                    (a as $u) < (b as $u)
                } else {
                    a < b
                }
            }
        }
    };
}
fixed_int!(i32, u32);
fixed_int!(i64, u64);

macro_rules! fixed_float {
    ($t:ty) => {
        impl Fixed for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            const FLOAT: bool = true;
            fn bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn from_bits(b: u64) -> Self {
                <$t>::from_bits(b as _)
            }
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            /// IEEE 754 total order (the column order the crate's file
            /// writer declares for FLOAT and DOUBLE): -0.0 < +0.0.
            #[inline]
            fn less(a: Self, b: Self, _: bool) -> bool {
                a.total_cmp(&b).is_lt()
            }
        }
    };
}
fixed_float!(f32);
fixed_float!(f64);

/// Min and max of the valid values of a fixed-width chunk, as bits, in the
/// order the file declares: IEEE 754 total order for floats (the crate's
/// file writer writes `IEEE_754_TOTAL_ORDER` column orders), where NaN is
/// counted and left out of min / max unless every value is NaN.
#[derive(Default, Clone, Copy)]
struct FixedMinMax {
    values: Option<(u64, u64)>,
    nans: Option<(u64, u64)>,
    nan_count: u64,
}

impl FixedMinMax {
    /// Folds `vals` in; NaNs are counted when `count_nans` (not for the
    /// entries of a dictionary, whose NaNs were counted per value).
    fn update<T: Fixed>(
        &mut self,
        vals: impl IntoIterator<Item = T>,
        unsigned: bool,
        count_nans: bool,
    ) {
        // The order chosen once per run of values, not per value.
        if unsigned {
            self.fold::<T, true>(vals, count_nans);
        } else {
            self.fold::<T, false>(vals, count_nans);
        }
    }

    fn fold<T: Fixed, const UNSIGNED: bool>(
        &mut self,
        vals: impl IntoIterator<Item = T>,
        count_nans: bool,
    ) {
        fn widen<T: Fixed>(range: &mut Option<(u64, u64)>, v: T, unsigned: bool) {
            *range = Some(match *range {
                None => (v.bits(), v.bits()),
                Some((lo, hi)) => {
                    let (lo, hi) = (T::from_bits(lo), T::from_bits(hi));
                    let lo = if T::less(v, lo, unsigned) { v } else { lo };
                    let hi = if T::less(hi, v, unsigned) { v } else { hi };
                    (lo.bits(), hi.bits())
                }
            });
        }
        // Values in registers for the run, folded into `self` at its end.
        let mut run: Option<(T, T)> = self.values.map(|(l, h)| (T::from_bits(l), T::from_bits(h)));
        for v in vals {
            if v.is_nan() {
                self.nan_count += u64::from(count_nans);
                widen(&mut self.nans, v, UNSIGNED);
                continue;
            }
            run = Some(match run {
                None => (v, v),
                Some((lo, hi)) => (
                    if T::less(v, lo, UNSIGNED) { v } else { lo },
                    if T::less(hi, v, UNSIGNED) { v } else { hi },
                ),
            });
        }
        self.values = run.map(|(lo, hi)| (lo.bits(), hi.bits()));
    }

    /// The min and max to write: of the values, else of the NaNs.
    fn range(&self) -> Option<(u64, u64)> {
        self.values.or(self.nans)
    }
}

// ------------------------------------------------------------------ chunk

/// The page being filled.
#[derive(Default)]
struct PageState {
    rows: usize,
    /// Definition levels (nullable columns only), 0 or 1.
    levels: Vec<u8>,
    /// Dictionary indices of the valid rows (dictionary mode).
    indices: Vec<u32>,
    /// PLAIN values of the valid rows (after a fallback).
    values: Vec<u8>,
}

/// Min and max of the valid values (byte order: UTF8's unsigned sort order).
#[derive(Default)]
struct MinMax {
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
}

impl MinMax {
    /// Called per value on PLAIN pages, where a sorted column makes every
    /// value a new max: the two buffers are reused, not allocated per change.
    fn update(&mut self, v: &[u8]) {
        fn set(slot: &mut Option<Vec<u8>>, v: &[u8]) {
            let buf = slot.get_or_insert_with(Vec::new);
            buf.clear();
            buf.extend_from_slice(v);
        }
        if self.min.as_deref().is_none_or(|m| v < m) {
            set(&mut self.min, v);
        }
        if self.max.as_deref().is_none_or(|m| v > m) {
            set(&mut self.max, v);
        }
    }
}

/// An encoded column chunk for `append_column`: the dictionary page (if
/// any) then the data pages, two buffers read as one.
pub(super) struct ChunkBytes {
    pub(super) head: Bytes,
    pub(super) tail: Bytes,
}

impl Length for ChunkBytes {
    fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64
    }
}

impl ChunkReader for ChunkBytes {
    type T = std::io::Chain<Cursor<Bytes>, Cursor<Bytes>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let mut head = Cursor::new(self.head.clone());
        let mut tail = Cursor::new(self.tail.clone());
        let h = self.head.len() as u64;
        head.set_position(start.min(h));
        tail.set_position(start.saturating_sub(h));
        Ok(head.chain(tail))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut out = Vec::with_capacity(length);
        self.get_read(start)?
            .take(length as u64)
            .read_to_end(&mut out)?;
        Ok(Bytes::from(out))
    }
}

/// Encodes the column of one schema field, a column chunk per row group
/// (`write` the rows, then `close`).
pub(super) struct ChunkEncoder {
    descr: ColumnDescPtr,
    physical: Physical,
    /// Statistics order unsigned integers (UINT_32 / UINT_64).
    unsigned: bool,
    nullable: bool,
    compression: PqCompression,
    codec: PageCodec,
    dictionary: bool,
    dictionary_bytes: usize,
    page_bytes: usize,
    statistics: bool,
    memo: Memo,
    fixed_memo: FixedMemo,
    /// The chunk writes PLAIN pages (no dictionary, or it fell back).
    plain: bool,
    /// The dictionary page, serialized, once written (at a fallback or close).
    dict_page: Option<(Vec<u8>, PageWriteSpec)>,
    /// Chunk index of each key of the table being written (`u32::MAX`: not
    /// yet looked up).
    remap: Vec<u32>,
    page: PageState,
    /// Data pages (headers and bodies) of the chunk.
    sink: TrackedWrite<Vec<u8>>,
    /// Size of the last chunk's data pages: the next sink's capacity.
    last_chunk: usize,
    /// Per data page: offset in `sink`, size with header, rows.
    locations: Vec<(u64, usize, usize)>,
    encoding_stats: Vec<PageEncodingStats>,
    rows: u64,
    nulls: u64,
    value_bytes: i64,
    uncompressed: u64,
    compressed: u64,
    minmax: MinMax,
    fixed_minmax: FixedMinMax,
    /// Scratch: definition levels of a mini-batch, the uncompressed page,
    /// the compressed page.
    defs: Vec<i16>,
    body: Vec<u8>,
    packed: Vec<u8>,
}

impl ChunkEncoder {
    /// The encoder of column `descr` (of Arrow type `dtype`), or `None` when
    /// the crate's column writer writes it (BOOLEAN, FIXED_LEN_BYTE_ARRAY,
    /// `Null`).
    pub(super) fn for_column(
        dtype: &ArrowType,
        descr: ColumnDescPtr,
        options: &ParquetWriteOptions,
    ) -> Result<Option<Self>> {
        let physical = match (dtype, descr.physical_type()) {
            (ArrowType::Null, _) => return Ok(None),
            (_, PhysicalType::BYTE_ARRAY) => Physical::Bytes,
            (_, PhysicalType::INT32) => Physical::Int32,
            (_, PhysicalType::INT64) => Physical::Int64,
            (_, PhysicalType::FLOAT) => Physical::Float,
            (_, PhysicalType::DOUBLE) => Physical::Double,
            _ => return Ok(None),
        };
        Ok(Some(ChunkEncoder {
            physical,
            unsigned: physical != Physical::Bytes && descr.sort_order() == SortOrder::UNSIGNED,
            nullable: descr.max_def_level() > 0,
            descr,
            compression: super::writer::compression(options.compression)?,
            codec: PageCodec::new(options.compression)?,
            dictionary: options.dictionary,
            // At most 1 GiB: a page's size is an i32 in its header.
            dictionary_bytes: options.dictionary_page_bytes.clamp(1, MAX_DICTIONARY_BYTES),
            page_bytes: options.data_page_bytes.max(1),
            statistics: options.statistics,
            memo: Memo::default(),
            fixed_memo: FixedMemo::default(),
            plain: !options.dictionary,
            dict_page: None,
            remap: Vec::new(),
            page: PageState::default(),
            sink: TrackedWrite::new(Vec::new()),
            last_chunk: 0,
            locations: Vec::new(),
            encoding_stats: Vec::new(),
            rows: 0,
            nulls: 0,
            value_bytes: 0,
            uncompressed: 0,
            compressed: 0,
            minmax: MinMax::default(),
            fixed_minmax: FixedMinMax::default(),
            defs: Vec::new(),
            body: Vec::new(),
            packed: Vec::new(),
        }))
    }

    /// Encodes rows `offset..offset+len` of `col` into the chunk, converted
    /// to the column's Parquet type where Arrow's differs (narrow and
    /// unsigned integers, seconds, Date64, Duration32).
    pub(super) fn write(&mut self, col: &FieldArray, offset: usize, len: usize) -> Result<()> {
        let name = col.field.name.as_str();
        let mismatch = || {
            parquet_error(format!(
                "column \"{name}\": internal type mismatch between schema and column encoder"
            ))
        };
        // The column's own values, or converted by `$f` (`None`: does not
        // fit `$what`), as Parquet type `$t`.
        macro_rules! fixed {
            ($t:ty, $a:expr) => {
                self.fixed::<$t, $t>(
                    col,
                    ($a.data.as_slice(), $a.null_mask.as_ref()),
                    offset,
                    len,
                    Conversion::Same(same::<$t>),
                )
            };
            ($t:ty, $a:expr, $f:expr) => {
                self.fixed::<_, $t>(
                    col,
                    ($a.data.as_slice(), $a.null_mask.as_ref()),
                    offset,
                    len,
                    Conversion::Into(&|v| Some($f(v)), "its Parquet type"),
                )
            };
            ($t:ty, $a:expr, $f:expr, $what:expr) => {
                self.fixed::<_, $t>(
                    col,
                    ($a.data.as_slice(), $a.null_mask.as_ref()),
                    offset,
                    len,
                    Conversion::Into(&$f, $what),
                )
            };
        }
        let want = match &col.array {
            Array::TextArray(_) => Physical::Bytes,
            Array::NumericArray(
                NumericArray::Int64(_) | NumericArray::UInt64(_) | NumericArray::Decimal64(_),
            ) => Physical::Int64,
            Array::NumericArray(NumericArray::Float32(_)) => Physical::Float,
            Array::NumericArray(NumericArray::Float64(_)) => Physical::Double,
            Array::NumericArray(_) => Physical::Int32,
            Array::TemporalArray(TemporalArray::Datetime32(_)) => match col.field.dtype {
                ArrowType::Duration32(_) => Physical::Int64,
                _ => Physical::Int32,
            },
            Array::TemporalArray(TemporalArray::Datetime64(_)) => match col.field.dtype {
                ArrowType::Date64 => Physical::Int32,
                _ => Physical::Int64,
            },
            #[allow(unreachable_patterns)]
            _ => return Err(mismatch()),
        };
        if want != self.physical {
            return Err(mismatch());
        }
        match &col.array {
            Array::TextArray(TextArray::String32(a)) => self.strings(col, a, offset, len),
            Array::TextArray(TextArray::String64(a)) => self.strings(col, a, offset, len),
            Array::TextArray(TextArray::Categorical8(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical16(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical32(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical64(a)) => self.categorical(col, a, offset, len),
            Array::NumericArray(n) => match n {
                NumericArray::Int8(a) => fixed!(i32, a, i32::from),
                NumericArray::Int16(a) => fixed!(i32, a, i32::from),
                NumericArray::Int32(a) => fixed!(i32, a),
                NumericArray::Int64(a) => fixed!(i64, a),
                NumericArray::UInt8(a) => fixed!(i32, a, i32::from),
                NumericArray::UInt16(a) => fixed!(i32, a, i32::from),
                // UINT_32 / UINT_64 are stored as the INT32 / INT64 bit pattern.
                NumericArray::UInt32(a) => fixed!(i32, a, |v: u32| v as i32),
                NumericArray::UInt64(a) => fixed!(i64, a, |v: u64| v as i64),
                NumericArray::Float32(a) => fixed!(f32, a),
                NumericArray::Float64(a) => fixed!(f64, a),
                NumericArray::Decimal32(a) => fixed!(i32, a),
                NumericArray::Decimal64(a) => fixed!(i64, a),
                _ => Err(mismatch()),
            },
            Array::TemporalArray(TemporalArray::Datetime32(a)) => match &col.field.dtype {
                ArrowType::Time32(TimeUnit::Seconds) => fixed!(
                    i32,
                    a,
                    |v: i32| v.checked_mul(1000),
                    "32-bit milliseconds (Parquet has no seconds unit)"
                ),
                ArrowType::Duration32(_) => fixed!(i64, a, i64::from),
                _ => fixed!(i32, a),
            },
            Array::TemporalArray(TemporalArray::Datetime64(a)) => match &col.field.dtype {
                ArrowType::Date64 => fixed!(
                    i32,
                    a,
                    |v: i64| i32::try_from(v.div_euclid(86_400_000)).ok(),
                    "a 32-bit day count"
                ),
                ArrowType::Timestamp(TimeUnit::Seconds, _) => fixed!(
                    i64,
                    a,
                    |v: i64| v.checked_mul(1000),
                    "milliseconds (Parquet has no seconds unit)"
                ),
                _ => fixed!(i64, a),
            },
            _ => Err(mismatch()),
        }
    }

    /// Rows `offset..offset+len` of a fixed-width column (its values and
    /// validity), as Parquet type `T` through `conv`.
    fn fixed<S: Copy, T: Fixed>(
        &mut self,
        col: &FieldArray,
        (data, mask): (&[S], Option<&Bitmask>),
        offset: usize,
        len: usize,
        conv: Conversion<'_, S, T>,
    ) -> Result<()> {
        let name = col.field.name.as_str();
        let data = rows(name, data, offset, len)?;
        let mut defs = std::mem::take(&mut self.defs);
        let r = self.mini_batches(&mut defs, col, mask, offset, len, |me, run| {
            let (f, what) = match conv {
                Conversion::Same(same) => {
                    me.push_fixed(same(&data[run]));
                    return Ok(());
                }
                Conversion::Into(f, what) => (f, what),
            };
            let mut buf = [T::default(); 256];
            for start in run.clone().step_by(buf.len()) {
                let piece = &data[start..run.end.min(start + buf.len())];
                for (j, (slot, &v)) in buf.iter_mut().zip(piece).enumerate() {
                    *slot = f(v).ok_or_else(|| {
                        let row = offset + start + j;
                        parquet_error(format!(
                            "column \"{name}\": the value at row {row} does not fit {what}"
                        ))
                    })?;
                }
                me.push_fixed(&buf[..piece.len()]);
            }
            Ok(())
        });
        self.defs = defs;
        r
    }

    /// Adds the valid values `vals` to the page.
    fn push_fixed<T: Fixed>(&mut self, vals: &[T]) {
        if self.plain {
            if self.statistics {
                self.fixed_minmax
                    .update(vals.iter().copied(), self.unsigned, true);
            }
            let start = self.page.values.len();
            self.page.values.resize(start + vals.len() * T::WIDTH, 0);
            for (out, v) in self.page.values[start..]
                .chunks_exact_mut(T::WIDTH)
                .zip(vals)
            {
                v.put(out);
            }
        } else {
            if self.statistics && T::FLOAT {
                // Counted per value: the dictionary holds each NaN once.
                let nans = vals.iter().filter(|v| v.is_nan()).count();
                self.fixed_minmax.nan_count += nans as u64;
            }
            self.page.indices.reserve(vals.len());
            for v in vals {
                let ix = self.fixed_memo.insert(v.bits());
                self.page.indices.push(ix);
            }
        }
    }

    fn strings<O: Copy + Into<u64>>(
        &mut self,
        col: &FieldArray,
        a: &StringArray<O>,
        offset: usize,
        len: usize,
    ) -> Result<()> {
        let name = col.field.name.as_str();
        let offs = a.offsets.as_slice();
        let offs = offs.get(offset..offset + len + 1).ok_or_else(|| {
            parquet_error(format!(
                "column \"{name}\": string offsets shorter than the table"
            ))
        })?;
        let data = a.data.as_slice();
        self.rows_of(col, a.null_mask.as_ref(), offset, len, |i| {
            let (s, e) = (offs[i].into() as usize, offs[i + 1].into() as usize);
            data.get(s..e).map(Value::Bytes).ok_or_else(|| {
                parquet_error(format!(
                    "column \"{name}\": bad string offsets at row {}",
                    offset + i
                ))
            })
        })
    }

    fn categorical<K: Integer>(
        &mut self,
        col: &FieldArray,
        a: &CategoricalArray<K>,
        offset: usize,
        len: usize,
    ) -> Result<()> {
        let name = col.field.name.as_str();
        let keys = rows(name, a.data.as_slice(), offset, len)?;
        let dict = &a.unique_values;
        // The chunk index of each key, looked up on first use: the keys of
        // this table are remapped, not rehashed per row.
        self.remap.clear();
        self.remap.resize(dict.len(), u32::MAX);
        self.rows_of(col, a.null_mask.as_ref(), offset, len, |i| {
            let k = keys[i].to_usize();
            match dict.get(k) {
                Some(s) => Ok(Value::Key(k, s.as_bytes())),
                None => Err(parquet_error(format!(
                    "column \"{name}\": key {k} at row {} is outside its dictionary of {} values",
                    offset + i,
                    dict.len()
                ))),
            }
        })
    }

    /// The shared loop: rows in mini-batches that end at page boundaries,
    /// `value(i)` for each valid row `offset + i`.
    fn rows_of<'v>(
        &mut self,
        col: &FieldArray,
        mask: Option<&Bitmask>,
        offset: usize,
        len: usize,
        mut value: impl FnMut(usize) -> Result<Value<'v>>,
    ) -> Result<()> {
        // The levels scratch is lent to `valid_runs` while `self` takes values.
        let mut defs = std::mem::take(&mut self.defs);
        let r = self.mini_batches(&mut defs, col, mask, offset, len, |me, run| {
            for i in run {
                me.push(value(i)?, offset + i)?;
            }
            Ok(())
        });
        self.defs = defs;
        r
    }

    /// The one loop over a column's rows: mini-batches that end at page
    /// boundaries, `run(self, rows)` for each run of valid rows (relative to
    /// `offset`), then the levels, the fallback and page checks.
    fn mini_batches(
        &mut self,
        defs: &mut Vec<i16>,
        col: &FieldArray,
        mask: Option<&Bitmask>,
        offset: usize,
        len: usize,
        mut run: impl FnMut(&mut Self, Range<usize>) -> Result<()>,
    ) -> Result<()> {
        let mut at = 0;
        while at < len {
            let k = (len - at).min(MINI_BATCH).min(PAGE_ROWS - self.page.rows);
            let mut valid = 0;
            valid_runs(col, mask, offset + at, k, defs, |r| {
                valid += r.len();
                run(self, at + r.start..at + r.end)
            })?;
            if self.nullable {
                self.page.levels.extend(defs.iter().map(|&d| d as u8));
            }
            self.page.rows += k;
            self.rows += k as u64;
            self.nulls += (k - valid) as u64;
            at += k;
            if !self.plain && self.dictionary_plain_bytes() >= self.dictionary_bytes {
                self.fall_back()?;
            }
            if self.page.rows >= PAGE_ROWS || self.page.values.len() >= self.page_bytes {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    /// Adds the value of row `row` to the page.
    #[inline]
    fn push(&mut self, v: Value<'_>, row: usize) -> Result<()> {
        let (Value::Bytes(b) | Value::Key(_, b)) = v;
        if u32::try_from(b.len()).is_err() {
            return Err(self.error(format!(
                "the value at row {row} has {} bytes (Parquet values hold less than 4 GiB)",
                b.len()
            )));
        }
        let bytes = match v {
            Value::Bytes(b) => b,
            Value::Key(_, b) if self.plain => b,
            Value::Key(k, b) => {
                let mut ix = self.remap[k];
                if ix == u32::MAX {
                    ix = self.memo.insert(b);
                    self.remap[k] = ix;
                }
                self.page.indices.push(ix);
                self.value_bytes += b.len() as i64;
                return Ok(());
            }
        };
        self.value_bytes += bytes.len() as i64;
        if self.plain {
            if self.statistics {
                self.minmax.update(bytes);
            }
            self.page
                .values
                .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            self.page.values.extend_from_slice(bytes);
        } else {
            let ix = self.memo.insert(bytes);
            self.page.indices.push(ix);
        }
        Ok(())
    }

    /// Entries of the dictionary being built.
    fn dictionary_len(&self) -> usize {
        match self.physical {
            Physical::Bytes => self.memo.len(),
            _ => self.fixed_memo.len(),
        }
    }

    /// The dictionary page's PLAIN size.
    fn dictionary_plain_bytes(&self) -> usize {
        match self.physical {
            Physical::Bytes => self.memo.plain_bytes,
            Physical::Int32 | Physical::Float => 4 * self.fixed_memo.len(),
            Physical::Int64 | Physical::Double => 8 * self.fixed_memo.len(),
        }
    }

    /// The dictionary outgrew its limit: its pages are written and the rest
    /// of the chunk is PLAIN.
    fn fall_back(&mut self) -> Result<()> {
        self.flush_page()?;
        self.write_dictionary()?;
        self.plain = true;
        Ok(())
    }

    /// Serializes the dictionary page (PLAIN values) into `dict_page`, and
    /// folds its entries into the statistics.
    fn write_dictionary(&mut self) -> Result<()> {
        self.body.clear();
        self.body.reserve(self.dictionary_plain_bytes());
        let entries = self.dictionary_len();
        match self.physical {
            Physical::Bytes => {
                let m = &self.memo;
                for e in 0..m.len() {
                    let v = m.get(e);
                    self.body.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    self.body.extend_from_slice(v);
                    if self.statistics {
                        self.minmax.update(v);
                    }
                }
            }
            Physical::Int32 => self.fixed_dictionary::<i32>(),
            Physical::Int64 => self.fixed_dictionary::<i64>(),
            Physical::Float => self.fixed_dictionary::<f32>(),
            Physical::Double => self.fixed_dictionary::<f64>(),
        }
        let buf = self.codec.compress(&self.body, &mut self.packed)?;
        let page = Page::DictionaryPage {
            buf,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        let mut out = TrackedWrite::new(Vec::new());
        let spec = SerializedPageWriter::new(&mut out)
            .write_page(CompressedPage::new(page, self.body.len()))
            .map_err(|e| self.error(e))?;
        let bytes = out.into_inner().map_err(|e| self.error(e))?;
        self.uncompressed += spec.uncompressed_size as u64;
        self.compressed += spec.compressed_size as u64;
        self.dict_page = Some((bytes, spec));
        self.memo.clear();
        self.fixed_memo.release();
        // The dictionary page (up to `dictionary_page_bytes`, 1 MiB) grew
        // the scratch past what data pages of 20,000 rows need: give it back
        // rather than hold it, per column, for the rest of the file (once
        // per chunk; the next page regrows it to its own size).
        self.body = Vec::new();
        self.packed = Vec::new();
        Ok(())
    }

    /// The fixed-width dictionary's PLAIN page into `body`, its entries into
    /// the statistics.
    fn fixed_dictionary<T: Fixed>(&mut self) {
        let values = &self.fixed_memo.values;
        self.body.resize(values.len() * T::WIDTH, 0);
        for (out, &v) in self.body.chunks_exact_mut(T::WIDTH).zip(values) {
            T::from_bits(v).put(out);
        }
        if self.statistics {
            let vals = values.iter().map(|&v| T::from_bits(v));
            self.fixed_minmax.update(vals, self.unsigned, false);
        }
    }

    fn error(&self, e: impl std::fmt::Display) -> crate::Error {
        parquet_error(format!("writing column \"{}\": {e}", self.descr.name()))
    }

    /// Writes the page being filled (if it has rows) into `sink`.
    fn flush_page(&mut self) -> Result<()> {
        let rows = self.page.rows;
        if rows == 0 {
            return Ok(());
        }
        self.body.clear();
        if self.nullable {
            self.body.extend_from_slice(&[0; 4]);
            rle_encode(&self.page.levels, 1, &mut self.body);
            let n = (self.body.len() - 4) as u32;
            self.body[..4].copy_from_slice(&n.to_le_bytes());
        }
        let encoding = if self.plain {
            if self.body.is_empty() {
                // No levels (a required column): the values are the body.
                std::mem::swap(&mut self.body, &mut self.page.values);
            } else {
                self.body.extend_from_slice(&self.page.values);
            }
            Encoding::PLAIN
        } else {
            let w = bit_width_of((self.dictionary_len() as u32).saturating_sub(1));
            self.body.push(w as u8);
            rle_encode(&self.page.indices, w, &mut self.body);
            Encoding::RLE_DICTIONARY
        };
        if i32::try_from(self.body.len()).is_err() {
            return Err(self.error(format!(
                "a data page of {} bytes (Parquet pages hold less than 2 GiB)",
                self.body.len()
            )));
        }
        let buf = self.codec.compress(&self.body, &mut self.packed)?;
        let page = Page::DataPage {
            buf,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = SerializedPageWriter::new(&mut self.sink)
            .write_page(CompressedPage::new(page, self.body.len()))
            .map_err(|e| self.error(e))?;
        self.locations
            .push((spec.offset, spec.compressed_size, rows));
        self.uncompressed += spec.uncompressed_size as u64;
        self.compressed += spec.compressed_size as u64;
        match self.encoding_stats.last_mut() {
            Some(s) if s.encoding == encoding && s.page_type == PageType::DATA_PAGE => s.count += 1,
            _ => self.encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding,
                count: 1,
            }),
        }
        self.page.rows = 0;
        self.page.levels.clear();
        self.page.indices.clear();
        self.page.values.clear();
        Ok(())
    }

    /// The chunk statistics of a fixed-width column, as the crate's column
    /// writer makes them (see [`FixedMinMax`]; floats carry a NaN count).
    fn fixed_statistics(&self) -> Statistics {
        let nulls = Some(self.nulls);
        let mm = self.fixed_minmax.range();
        // As the crate: no NaN count in a chunk without values.
        let nan_count = (self.rows > self.nulls).then_some(self.fixed_minmax.nan_count);
        match self.physical {
            Physical::Int32 => {
                let (lo, hi) = mm
                    .map(|(l, h)| (i32::from_bits(l), i32::from_bits(h)))
                    .unzip();
                Statistics::int32(lo, hi, None, nulls, false)
            }
            Physical::Int64 | Physical::Bytes => {
                let (lo, hi) = mm
                    .map(|(l, h)| (i64::from_bits(l), i64::from_bits(h)))
                    .unzip();
                Statistics::int64(lo, hi, None, nulls, false)
            }
            Physical::Float => {
                let (lo, hi) = mm
                    .map(|(l, h)| (f32::from_bits(l as u32), f32::from_bits(h as u32)))
                    .unzip();
                Statistics::Float(
                    ValueStatistics::new(lo, hi, None, nulls, false).with_nan_count(nan_count),
                )
            }
            Physical::Double => {
                let (lo, hi) = mm
                    .map(|(l, h)| (f64::from_bits(l), f64::from_bits(h)))
                    .unzip();
                Statistics::Double(
                    ValueStatistics::new(lo, hi, None, nulls, false).with_nan_count(nan_count),
                )
            }
        }
    }

    /// Ends the chunk (the row group is being written): its metadata and
    /// bytes; the encoder is ready for the next row group's chunk.
    pub(super) fn close(&mut self) -> Result<(ColumnCloseResult, ChunkBytes)> {
        self.flush_page()?;
        if !self.plain {
            self.write_dictionary()?;
        }
        let dict = self.dict_page.take();
        let head_len = dict.as_ref().map_or(0, |(b, _)| b.len());
        let mut sink = std::mem::replace(
            &mut self.sink,
            TrackedWrite::new(Vec::with_capacity(self.last_chunk)),
        )
        .into_inner()
        .map_err(|e| self.error(e))?;
        sink.shrink_to_fit();
        self.last_chunk = sink.len();

        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE];
        let mut page_stats = Vec::with_capacity(self.encoding_stats.len() + 1);
        if let Some((_, spec)) = &dict {
            encodings.push(Encoding::RLE_DICTIONARY);
            page_stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
            debug_assert_eq!(spec.offset, 0);
        }
        page_stats.append(&mut self.encoding_stats);
        let mut builder = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings(encodings)
            .set_page_encoding_stats(page_stats)
            .set_total_compressed_size(self.compressed as i64)
            .set_total_uncompressed_size(self.uncompressed as i64)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(head_len as i64)
            .set_dictionary_page_offset(dict.as_ref().map(|_| 0));
        if self.statistics && self.physical != Physical::Bytes {
            builder = builder.set_statistics(self.fixed_statistics());
        } else if self.statistics {
            let MinMax { mut min, mut max } = std::mem::take(&mut self.minmax);
            // As Arrow C++ (`max_statistics_size`): no min / max rather than
            // values of any size in the footer.
            if min
                .iter()
                .chain(&max)
                .any(|v| v.len() > MAX_STATISTICS_BYTES)
            {
                (min, max) = (None, None);
            }
            let stats = Statistics::byte_array(
                min.map(ByteArray::from),
                max.map(ByteArray::from),
                None,
                Some(self.nulls),
                false,
            );
            builder = builder
                .set_statistics(stats)
                .set_unencoded_byte_array_data_bytes(Some(self.value_bytes));
        }
        let metadata = builder.build().map_err(|e| self.error(e))?;
        let mut index = OffsetIndexBuilder::new();
        for (offset, size, rows) in self.locations.drain(..) {
            index.append_offset_and_size((offset as usize + head_len) as i64, size as i32);
            index.append_row_count(rows as i64);
        }
        let close = ColumnCloseResult {
            bytes_written: self.compressed,
            rows_written: self.rows,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(index.build()),
        };
        // Ready for the next chunk. The page scratch is given back: the
        // row group's chunks are about to be held together in the file
        // writer, the writer's peak, without it.
        self.memo.clear();
        self.fixed_memo.release();
        self.page = PageState::default();
        (self.body, self.packed) = (Vec::new(), Vec::new());
        self.plain = !self.dictionary;
        self.minmax = MinMax::default();
        self.fixed_minmax = FixedMinMax::default();
        (self.rows, self.nulls, self.value_bytes) = (0, 0, 0);
        (self.uncompressed, self.compressed) = (0, 0);
        let bytes = ChunkBytes {
            head: Bytes::from(dict.map(|(b, _)| b).unwrap_or_default()),
            tail: Bytes::from(sink),
        };
        Ok((close, bytes))
    }
}

/// How a column's values become its Parquet type's: as they are (`S` is
/// `T`), or converted (`None`: the value does not fit the type named).
enum Conversion<'f, S, T> {
    Same(fn(&[S]) -> &[T]),
    Into(&'f dyn Fn(S) -> Option<T>, &'f str),
}

impl<S, T> Clone for Conversion<'_, S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, T> Copy for Conversion<'_, S, T> {}

fn same<T>(v: &[T]) -> &[T] {
    v
}

/// A valid row's value: its bytes, or a categorical key and its bytes.
enum Value<'a> {
    Bytes(&'a [u8]),
    Key(usize, &'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet::{ParquetWriter, types::parquet_type};
    use lightstream_core::Schema;
    use lightstream_core::minarrow::{
        DatetimeArray, Field, FloatArray, IntegerArray, Table, Vec64,
    };
    use parquet::data_type::{DataType, DoubleType, FloatType, Int32Type, Int64Type};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use std::sync::Arc;

    /// (min bytes, max bytes, null count, NaN count) of a chunk's statistics.
    type Stats = (Option<Vec<u8>>, Option<Vec<u8>>, Option<u64>, Option<u64>);

    fn stats_of(s: &Statistics) -> Stats {
        (
            s.min_bytes_opt().map(<[u8]>::to_vec),
            s.max_bytes_opt().map(<[u8]>::to_vec),
            s.null_count_opt(),
            s.nan_count_opt(),
        )
    }

    fn chunk_stats(file: Vec<u8>) -> Vec<Stats> {
        let r = SerializedFileReader::new(Bytes::from(file)).unwrap();
        let md = r.metadata();
        (0..md.num_row_groups())
            .map(|g| stats_of(md.row_group(g).column(0).statistics().unwrap()))
            .collect()
    }

    /// Ours: `array` as one column through `ParquetWriter` (dictionary on or
    /// off, row groups of `rg` rows).
    fn ours(field: &Field, array: Array, dictionary: bool, rg: usize) -> Vec<Stats> {
        let schema = Schema::new(vec![Arc::new(field.clone())], Default::default());
        let table = Table::new("t", Some(vec![FieldArray::new(field.clone(), array)]));
        let options = ParquetWriteOptions {
            dictionary,
            row_group_rows: rg,
            compression: ParquetCompression::None,
            ..Default::default()
        };
        let mut w = ParquetWriter::new(Vec::new(), &schema, options).unwrap();
        w.write(&table).unwrap();
        chunk_stats(w.finish().unwrap())
    }

    /// The crate's column writer on the same Parquet values (`None`: null).
    fn crates<D: DataType>(field: &Field, values: &[Option<D::T>], rg: usize) -> Vec<Stats>
    where
        D::T: Clone,
    {
        let root = Type::group_type_builder("schema")
            .with_fields(vec![parquet_type(field).unwrap()])
            .build()
            .unwrap();
        let props = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .build();
        let mut w = SerializedFileWriter::new(Vec::new(), Arc::new(root), Arc::new(props)).unwrap();
        for group in values.chunks(rg) {
            let mut g = w.next_row_group().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            let valid: Vec<D::T> = group.iter().flatten().cloned().collect();
            let defs: Vec<i16> = group.iter().map(|v| i16::from(v.is_some())).collect();
            let defs = field.nullable.then_some(&defs[..]);
            c.typed::<D>().write_batch(&valid, defs, None).unwrap();
            c.close().unwrap();
            g.close().unwrap();
        }
        chunk_stats(w.into_inner().unwrap())
    }

    fn mask(values: &[Option<impl Copy>]) -> Option<Bitmask> {
        let valid: Vec<bool> = values.iter().map(Option::is_some).collect();
        valid.contains(&false).then(|| Bitmask::from_bools(&valid))
    }

    /// Min / max / null count / NaN count of our fixed-width chunks equal the
    /// parquet crate's column writer's for the same values: NaN (both
    /// signs, all-NaN chunks), -0.0 and +0.0, infinities, nulls and all-null
    /// chunks, unsigned order, dictionary and PLAIN pages, across row groups.
    #[test]
    fn fixed_statistics_are_the_crates() {
        let nan = f64::NAN;
        let neg_nan = f64::from_bits(0xfff8_0000_0000_0001);
        let f64s: Vec<Option<f64>> = vec![
            Some(nan),
            Some(-0.0),
            Some(1.5),
            None,
            Some(0.0),
            Some(-2.0), // rg 0
            Some(nan),
            Some(neg_nan),
            None,
            Some(nan),
            None,
            None, // rg 1: NaN only
            Some(0.0),
            Some(-0.0),
            Some(0.0),
            Some(0.0),
            None,
            Some(-0.0), // rg 2: zeros
            None,
            None,
            None,
            None,
            None,
            None, // rg 3: null
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(3.0),
            Some(nan),
            Some(7.0),
            None,
        ];
        for dictionary in [true, false] {
            let field = Field::new("f", ArrowType::Float64, true, None);
            let data: Vec64<f64> = f64s.iter().map(|v| v.unwrap_or(0.0)).collect();
            let array = Array::from_float64(FloatArray {
                data: data.into(),
                null_mask: mask(&f64s),
            });
            assert_eq!(
                ours(&field, array, dictionary, 6),
                crates::<DoubleType>(&field, &f64s, 6)
            );

            let f32s: Vec<Option<f32>> = f64s.iter().map(|v| v.map(|v| v as f32)).collect();
            let field = Field::new("f", ArrowType::Float32, true, None);
            let data: Vec64<f32> = f32s.iter().map(|v| v.unwrap_or(0.0)).collect();
            let array = Array::from_float32(FloatArray {
                data: data.into(),
                null_mask: mask(&f32s),
            });
            assert_eq!(
                ours(&field, array, dictionary, 6),
                crates::<FloatType>(&field, &f32s, 6)
            );

            let u32s: Vec<Option<u32>> = vec![
                Some(1),
                Some(u32::MAX),
                None,
                Some(5),
                Some(1 << 31),
                Some(0),
            ];
            let field = Field::new("u", ArrowType::UInt32, true, None);
            let data: Vec64<u32> = u32s.iter().map(|v| v.unwrap_or(0)).collect();
            let array = Array::from_uint32(IntegerArray {
                data: data.into(),
                null_mask: mask(&u32s),
            });
            let want: Vec<Option<i32>> = u32s.iter().map(|v| v.map(|v| v as i32)).collect();
            assert_eq!(
                ours(&field, array, dictionary, 4),
                crates::<Int32Type>(&field, &want, 4)
            );

            let u64s: Vec<Option<u64>> = vec![Some(u64::MAX), Some(2), Some(1 << 63), Some(7)];
            let field = Field::new("u", ArrowType::UInt64, false, None);
            let data: Vec64<u64> = u64s.iter().map(|v| v.unwrap_or(0)).collect();
            let array = Array::from_uint64(IntegerArray {
                data: data.into(),
                null_mask: None,
            });
            let want: Vec<Option<i64>> = u64s.iter().map(|v| v.map(|v| v as i64)).collect();
            assert_eq!(
                ours(&field, array, dictionary, 3),
                crates::<Int64Type>(&field, &want, 3)
            );

            // Date64 (milliseconds) is stored as INT32 days.
            let ms: Vec<Option<i64>> = vec![
                Some(-86_400_001),
                None,
                Some(0),
                Some(86_400_000 * 365),
                Some(5),
            ];
            let field = Field::new("d", ArrowType::Date64, true, None);
            let data: Vec64<i64> = ms.iter().map(|v| v.unwrap_or(0)).collect();
            let mut a = DatetimeArray::<i64>::new(data, None, Some(TimeUnit::Milliseconds));
            a.null_mask = mask(&ms);
            let want: Vec<Option<i32>> = ms
                .iter()
                .map(|v| v.map(|v| v.div_euclid(86_400_000) as i32))
                .collect();
            let array = Array::from_datetime_i64(a);
            assert_eq!(
                ours(&field, array, dictionary, 5),
                crates::<Int32Type>(&field, &want, 5)
            );
        }
    }

    /// Every distinct value gets the next index, every repeat its first one,
    /// across the table's growth; the entries are the values in first-seen
    /// order, and the PLAIN size counts 4 + len each.
    #[test]
    fn memo_numbers_values_in_first_seen_order() {
        let mut m = Memo::default();
        let values: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("v{}", (i * 7919) % 3001).into_bytes())
            .chain([Vec::new(), vec![0xff; 17], b"v1".to_vec()])
            .collect();
        let mut seen: Vec<&[u8]> = Vec::new();
        for v in &values {
            let want = match seen.iter().position(|s| *s == v.as_slice()) {
                Some(i) => i,
                None => {
                    seen.push(v);
                    seen.len() - 1
                }
            };
            assert_eq!(m.insert(v) as usize, want);
        }
        assert_eq!(m.len(), seen.len());
        assert!((0..m.len()).all(|e| m.get(e) == seen[e]));
        let plain: usize = seen.iter().map(|s| 4 + s.len()).sum();
        assert_eq!(m.plain_bytes, plain);
        m.clear();
        assert_eq!(m.insert(b"v1"), 0);
        assert_eq!(m.len(), 1);
    }
}
