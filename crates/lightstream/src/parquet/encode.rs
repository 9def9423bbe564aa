//! Our own encoder of BYTE_ARRAY column chunks (string and categorical
//! columns) for [`super::ParquetWriter`].
//!
//! - Strings are dictionary-encoded through a memo table ([`Memo`]: one owned
//!   buffer of the distinct values and a hash -> index table), so there is no
//!   `ByteArray` (a refcounted `Bytes`) per value as in the crate's writer.
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
//! Not here: other physical types (the crate's column writers, writer.rs),
//! the file layout and footer (the crate's file writer, writer.rs).

use std::io::{Cursor, Read};

use lightstream_core::bytes::Bytes;
use lightstream_core::minarrow::{Array, Bitmask, CategoricalArray, FieldArray, Integer};
use lightstream_core::minarrow::{StringArray, TextArray};
use parquet::basic::{Compression as PqCompression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;
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

fn hash(v: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (v.len() as u64).wrapping_mul(K);
    let (words, rest) = v.as_chunks::<8>();
    for w in words {
        h = (h.rotate_left(23) ^ u64::from_le_bytes(*w)).wrapping_mul(K);
    }
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    h ^ (h >> 29)
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
                if self.get(e) == v {
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

/// Encodes the string or categorical column of one schema field, a column
/// chunk per row group (`write` the rows, then `close`).
pub(super) struct ByteColumn {
    descr: ColumnDescPtr,
    nullable: bool,
    compression: PqCompression,
    codec: PageCodec,
    dictionary: bool,
    dictionary_bytes: usize,
    page_bytes: usize,
    statistics: bool,
    memo: Memo,
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
    /// Scratch: definition levels of a mini-batch, the uncompressed page,
    /// the compressed page.
    defs: Vec<i16>,
    body: Vec<u8>,
    packed: Vec<u8>,
}

impl ByteColumn {
    /// The encoder of the BYTE_ARRAY column `descr`.
    pub(super) fn new(descr: ColumnDescPtr, options: &ParquetWriteOptions) -> Result<Self> {
        Ok(ByteColumn {
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
            defs: Vec::new(),
            body: Vec::new(),
            packed: Vec::new(),
        })
    }

    /// Encodes rows `offset..offset+len` of `col` (a string or categorical
    /// column) into the chunk.
    pub(super) fn write(&mut self, col: &FieldArray, offset: usize, len: usize) -> Result<()> {
        let name = col.field.name.as_str();
        match &col.array {
            Array::TextArray(TextArray::String32(a)) => self.strings(col, a, offset, len),
            Array::TextArray(TextArray::String64(a)) => self.strings(col, a, offset, len),
            Array::TextArray(TextArray::Categorical8(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical16(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical32(a)) => self.categorical(col, a, offset, len),
            Array::TextArray(TextArray::Categorical64(a)) => self.categorical(col, a, offset, len),
            _ => Err(parquet_error(format!(
                "column \"{name}\": internal type mismatch between schema and string encoder"
            ))),
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
        value: impl FnMut(usize) -> Result<Value<'v>>,
    ) -> Result<()> {
        // The levels scratch is lent to `valid_runs` while `self` takes values.
        let mut defs = std::mem::take(&mut self.defs);
        let r = self.mini_batches(&mut defs, col, mask, offset, len, value);
        self.defs = defs;
        r
    }

    fn mini_batches<'v>(
        &mut self,
        defs: &mut Vec<i16>,
        col: &FieldArray,
        mask: Option<&Bitmask>,
        offset: usize,
        len: usize,
        mut value: impl FnMut(usize) -> Result<Value<'v>>,
    ) -> Result<()> {
        let mut at = 0;
        while at < len {
            let k = (len - at).min(MINI_BATCH).min(PAGE_ROWS - self.page.rows);
            let mut valid = 0;
            valid_runs(col, mask, offset + at, k, defs, |run| {
                valid += run.len();
                for i in run {
                    self.push(value(at + i)?, offset + at + i)?;
                }
                Ok(())
            })?;
            if self.nullable {
                self.page.levels.extend(defs.iter().map(|&d| d as u8));
            }
            self.page.rows += k;
            self.rows += k as u64;
            self.nulls += (k - valid) as u64;
            at += k;
            if !self.plain && self.memo.plain_bytes >= self.dictionary_bytes {
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
        let m = &self.memo;
        self.body.clear();
        self.body.reserve(m.plain_bytes);
        for e in 0..m.len() {
            let v = m.get(e);
            self.body.extend_from_slice(&(v.len() as u32).to_le_bytes());
            self.body.extend_from_slice(v);
            if self.statistics {
                self.minmax.update(v);
            }
        }
        let buf = self.codec.compress(&self.body, &mut self.packed)?;
        let page = Page::DictionaryPage {
            buf,
            num_values: m.len() as u32,
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
        Ok(())
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
            self.body.extend_from_slice(&self.page.values);
            Encoding::PLAIN
        } else {
            let w = bit_width_of((self.memo.len() as u32).saturating_sub(1));
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
        if self.statistics {
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
        // Ready for the next chunk.
        self.memo.clear();
        self.plain = !self.dictionary;
        self.minmax = MinMax::default();
        (self.rows, self.nulls, self.value_bytes) = (0, 0, 0);
        (self.uncompressed, self.compressed) = (0, 0);
        let bytes = ChunkBytes {
            head: Bytes::from(dict.map(|(b, _)| b).unwrap_or_default()),
            tail: Bytes::from(sink),
        };
        Ok((close, bytes))
    }
}

/// A valid row's value: its bytes, or a categorical key and its bytes.
enum Value<'a> {
    Bytes(&'a [u8]),
    Key(usize, &'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

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
