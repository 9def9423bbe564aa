//! The RLE / bit-packed hybrid decoder of Parquet (definition levels and
//! dictionary indices), bounded against hostile input.
//!
//! - The bit width is checked (0..=32); a run header is a ULEB128 of at most
//!   5 bytes below 2^32; a zero-length run is an error; an RLE value must fit
//!   the bit width; the bytes of a bit-packed run are checked present before
//!   any value is read from them (only the bytes of the values still owed: a
//!   writer may cut the padding of the last group).
//! - Nothing is allocated from a count in the input, and nothing is written
//!   past the caller's slice: the decoder yields at most the value count it
//!   was given (the page's), and the caller says how many it wants.
//! - Definition levels of a flat column (max level 1) go straight into a
//!   validity bitmap ([`RleHybrid::decode_validity`]); dictionary indices into
//!   a `u32` scratch, checked against the dictionary length once per run
//!   ([`RleHybrid::decode_indices`]).
//!
//! Not here: the page layout around the hybrid (the 4-byte length of v1
//! levels, the bit-width byte of indices): see [`RleHybrid::v1_levels`] and
//! [`RleHybrid::indices`], which the page decoder calls.

use lightstream_core::bytes::Bytes;

use super::types::parquet_error;
use crate::error::Result;

/// Largest bit width the hybrid encoding carries (dictionary indices are
/// 32-bit at most).
const MAX_BIT_WIDTH: u32 = 32;

/// The run being read.
#[derive(Debug, Clone, Copy)]
enum Run {
    /// No run open: the next call reads a header.
    None,
    /// `left` more copies of `value`.
    Repeat { value: u32, left: usize },
    /// Bit-packed values: the run's bytes start at `start`; `next` values of
    /// it have been read, `len` will be (padding beyond the page's count
    /// excluded).
    Packed {
        start: usize,
        next: usize,
        len: usize,
    },
}

/// Values taken from one run by [`RleHybrid::take`].
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// `k` copies of `value`.
    Repeat { value: u32, k: usize },
    /// Values `from..from + k` of the bit-packed run whose bytes start at `start`.
    Packed { start: usize, from: usize, k: usize },
}

impl Piece {
    fn len(&self) -> usize {
        match *self {
            Piece::Repeat { k, .. } | Piece::Packed { k, .. } => k,
        }
    }
}

/// A bounded reader of one RLE / bit-packed hybrid encoded sequence.
#[derive(Debug, Clone)]
pub(crate) struct RleHybrid {
    data: Bytes,
    pos: usize,
    bit_width: u32,
    /// Values still owed (the page's count, less what was read).
    remaining: usize,
    run: Run,
}

impl RleHybrid {
    /// A decoder of `num_values` values of `bit_width` bits encoded in `data`.
    pub(crate) fn new(data: Bytes, bit_width: u32, num_values: usize) -> Result<Self> {
        if bit_width > MAX_BIT_WIDTH {
            return Err(parquet_error(format!(
                "a bit width of {bit_width} (at most {MAX_BIT_WIDTH})"
            )));
        }
        Ok(RleHybrid {
            data,
            pos: 0,
            bit_width,
            remaining: num_values,
            run: Run::None,
        })
    }

    /// v1 data page levels: a 4-byte little-endian length, then the hybrid
    /// encoding. Returns the decoder and the bytes the levels took.
    pub(crate) fn v1_levels(
        page: &Bytes,
        bit_width: u32,
        num_values: usize,
    ) -> Result<(Self, usize)> {
        let Some(len) = page.get(..4) else {
            return Err(parquet_error("the page ends inside its levels' length"));
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = len
            .checked_add(4)
            .filter(|&e| e <= page.len())
            .ok_or_else(|| {
                parquet_error(format!(
                    "levels of {len} bytes in a page of {} bytes",
                    page.len()
                ))
            })?;
        Ok((Self::new(page.slice(4..end), bit_width, num_values)?, end))
    }

    /// Dictionary indices: one bit-width byte, then the hybrid encoding to the
    /// end of `data`.
    pub(crate) fn indices(data: Bytes, num_values: usize) -> Result<Self> {
        let Some(&w) = data.first() else {
            if num_values == 0 {
                return Self::new(data, 0, 0);
            }
            return Err(parquet_error("a page of indices without its bit width"));
        };
        Self::new(data.slice(1..), u32::from(w), num_values)
    }

    /// Values not yet read.
    #[cfg(test)]
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    fn error(&self, what: &str) -> crate::Error {
        parquet_error(format!(
            "{what} (byte {} of {} of RLE/bit-packed data)",
            self.pos,
            self.data.len()
        ))
    }

    /// Opens the next run; `want` bounds nothing but is the count owed.
    fn next_run(&mut self) -> Result<()> {
        // ULEB128, at most 5 bytes, below 2^32.
        let mut header: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(self.error(&format!(
                    "the data ends with {} values still owed",
                    self.remaining
                )));
            };
            self.pos += 1;
            header |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 35 {
                return Err(self.error("a run header longer than 5 bytes"));
            }
        }
        if header > u64::from(u32::MAX) {
            return Err(self.error("a run header of 2^32 or more"));
        }
        // Below 2^31 after the shift: fits usize on every target we build.
        let count = (header >> 1) as usize;
        if count == 0 {
            return Err(self.error("a run of length zero"));
        }
        let w = self.bit_width as usize;
        if header & 1 == 1 {
            // `count` groups of 8 values, `w` bytes a group.
            let len = count.saturating_mul(8).min(self.remaining);
            let need = (len * w).div_ceil(8);
            let full = count.saturating_mul(w);
            if self.data.len() - self.pos < need {
                return Err(self.error(&format!(
                    "a bit-packed run of {len} values needs {need} bytes, {} are left",
                    self.data.len() - self.pos
                )));
            }
            self.run = Run::Packed {
                start: self.pos,
                next: 0,
                len,
            };
            self.pos = self.pos.saturating_add(full).min(self.data.len());
        } else {
            let nbytes = w.div_ceil(8);
            let Some(bytes) = self.data.get(self.pos..self.pos + nbytes) else {
                return Err(self.error("the data ends inside an RLE run's value"));
            };
            let mut v = [0u8; 4];
            v[..nbytes].copy_from_slice(bytes);
            let value = u32::from_le_bytes(v);
            if w < 32 && value >> w != 0 {
                return Err(self.error(&format!("an RLE value of {value} exceeds {w} bits")));
            }
            self.pos += nbytes;
            self.run = Run::Repeat {
                value,
                left: count.min(self.remaining),
            };
        }
        Ok(())
    }

    /// Takes up to `want` values (at least 1) of the current run, opening
    /// the next when it is used up; `Ok(None)` when every value was read.
    fn take(&mut self, want: usize) -> Result<Option<Piece>> {
        if self.remaining == 0 || want == 0 {
            return Ok(None);
        }
        let exhausted = match self.run {
            Run::None => true,
            Run::Repeat { left, .. } => left == 0,
            Run::Packed { next, len, .. } => next == len,
        };
        if exhausted {
            self.next_run()?;
        }
        let piece = match &mut self.run {
            Run::None => return Ok(None),
            Run::Repeat { value, left } => {
                let k = (*left).min(want);
                *left -= k;
                Piece::Repeat { value: *value, k }
            }
            Run::Packed { start, next, len } => {
                let k = (*len - *next).min(want);
                let from = *next;
                *next += k;
                Piece::Packed {
                    start: *start,
                    from,
                    k,
                }
            }
        };
        self.remaining -= piece.len();
        Ok(Some(piece))
    }

    /// Value `i` of the bit-packed run whose bytes start at `start`.
    #[inline]
    fn packed(&self, start: usize, i: usize) -> u32 {
        let w = self.bit_width as usize;
        let bit = i * w;
        let at = start + bit / 8;
        // Up to 5 bytes hold a value of 32 bits at any bit offset; bytes past
        // the data (padding the writer cut) read as zero, and were checked
        // not to belong to a value that is read.
        let window = match self.data.get(at..at + 8) {
            Some(b) => <[u8; 8]>::try_from(b).unwrap_or_default(),
            None => {
                let mut window = [0u8; 8];
                let end = (at + 8).min(self.data.len());
                if at < end {
                    window[..end - at].copy_from_slice(&self.data[at..end]);
                }
                window
            }
        };
        let word = u64::from_le_bytes(window) >> (bit % 8);
        (word & ((1u64 << w) - 1)) as u32
    }

    /// Values `from..from + dst.len()` of the bit-packed run whose bytes start
    /// at `start` into `dst`. Whole groups of eight
    /// values (a group of eight `w`-bit values is exactly `w` bytes) whose
    /// bytes are present go through [`unpack_groups`], an unpacker
    /// specialised for each width (constant shifts and masks, one bounds
    /// check per group); the values before the first group boundary and
    /// after the last whole group, value by value ([`RleHybrid::packed`]).
    fn unpack(&self, start: usize, from: usize, dst: &mut [u32]) {
        let w = self.bit_width as usize;
        let head = ((8 - from % 8) % 8).min(dst.len());
        for (j, o) in dst[..head].iter_mut().enumerate() {
            *o = self.packed(start, from + j);
        }
        let mut j = head;
        if w > 0 {
            let at = start + (from + j) / 8 * w;
            let present = self.data.len().saturating_sub(at) / w;
            let groups = ((dst.len() - j) / 8).min(present);
            if groups > 0 {
                // The bytes after these groups go along (to the end of the
                // data), so that only the data's last groups need a copy.
                j += unpack_groups(w, &self.data[at..], &mut dst[j..j + groups * 8]);
            }
        }
        for (k, o) in dst[j..].iter_mut().enumerate() {
            *o = self.packed(start, from + j + k);
        }
    }

    /// Reads the next `out.len()` values (fewer only when fewer are owed),
    /// each checked below `limit` when there is one (once per run: an RLE
    /// run's value, or a branch-free pass over a bit-packed piece).
    fn decode_with(&mut self, out: &mut [u32], limit: Option<u32>) -> Result<usize> {
        let mut done = 0;
        while let Some(piece) = self.take(out.len() - done)? {
            let dst = &mut out[done..done + piece.len()];
            match piece {
                Piece::Repeat { value, .. } => {
                    if let Some(limit) = limit
                        && value >= limit
                    {
                        return Err(index_error(value, limit));
                    }
                    dst.fill(value);
                }
                Piece::Packed { start, from, .. } => {
                    self.unpack(start, from, dst);
                    if let Some(limit) = limit
                        && any_at_or_above(dst, limit)
                    {
                        return Err(index_error(largest(dst), limit));
                    }
                }
            }
            done += piece.len();
        }
        Ok(done)
    }

    /// Reads the next `out.len()` values; fewer only when fewer are owed.
    pub(crate) fn decode(&mut self, out: &mut [u32]) -> Result<usize> {
        self.decode_with(out, None)
    }

    /// Reads the next `out.len()` dictionary indices, each checked below
    /// `dict_len`.
    pub(crate) fn decode_indices(&mut self, out: &mut [u32], dict_len: usize) -> Result<usize> {
        // A dictionary longer than any `u32` index needs no check.
        self.decode_with(out, u32::try_from(dict_len).ok())
    }

    /// Reads `n` definition levels of bit width 1 into bits `offset..offset + n`
    /// of `bits` (1: the row is valid), returning how many are valid.
    pub(crate) fn decode_validity(
        &mut self,
        bits: &mut [u8],
        offset: usize,
        n: usize,
    ) -> Result<usize> {
        if self.bit_width != 1 {
            return Err(parquet_error(format!(
                "definition levels of {} bits for a flat column",
                self.bit_width
            )));
        }
        if offset.checked_add(n).is_none_or(|e| e > bits.len() * 8) {
            return Err(parquet_error("levels past the end of the validity bitmap"));
        }
        if n > self.remaining {
            return Err(parquet_error(format!(
                "{n} levels asked of a page holding {}",
                self.remaining
            )));
        }
        let mut done = 0;
        let mut valid = 0;
        let mut sink = BitSink::new(bits, offset);
        while let Some(piece) = self.take(n - done)? {
            match piece {
                Piece::Repeat { value, k } => {
                    let word = if value == 1 { u64::MAX } else { 0 };
                    let mut left = k;
                    while left > 0 {
                        let len = left.min(BitSink::MAX);
                        sink.push(word & low_bits(len), len);
                        left -= len;
                    }
                    if value == 1 {
                        valid += k;
                    }
                }
                // With one bit a value, the run's bytes are bitmap bytes.
                Piece::Packed { start, from, k } => {
                    let src = &self.data[start..];
                    let mut i = 0;
                    while i < k {
                        let len = (k - i).min(BitSink::MAX);
                        let word = load_bits(src, from + i, len);
                        valid += word.count_ones() as usize;
                        sink.push(word, len);
                        i += len;
                    }
                }
            }
            done += piece.len();
        }
        sink.finish();
        if done < n {
            return Err(parquet_error(format!("{done} levels of {n}")));
        }
        Ok(valid)
    }
}

/// Whether any of `v` is `limit` or more: one pass without a branch per
/// value (the compiler vectorises it), the common case being none.
fn any_at_or_above(v: &[u32], limit: u32) -> bool {
    v.iter().fold(0u32, |acc, &x| acc | u32::from(x >= limit)) != 0
}

/// The largest of `v` (0 when empty): for the error naming a bad index.
fn largest(v: &[u32]) -> u32 {
    v.iter().copied().max().unwrap_or(0)
}

/// The error of a dictionary index of `index` in a dictionary of `len` values.
fn index_error(index: u32, len: u32) -> crate::Error {
    parquet_error(format!(
        "a dictionary index of {index} in a dictionary of {len} values"
    ))
}

/// Unpacks the first `dst.len() / 8` groups of eight `w`-bit values at the
/// start of `src` (`w` bytes each; `src` holds at least that many, and the
/// bytes after them are only read, never decoded) into `dst` (eight values a
/// group), with the unpacker specialised for `w`; returns how many values it
/// wrote (`dst.len()`, or 0 for a width outside 1..=32, which
/// [`RleHybrid::new`] refuses).
fn unpack_groups(w: usize, src: &[u8], dst: &mut [u32]) -> usize {
    macro_rules! by_width {
        ($($w:literal)*) => {
            match w {
                $($w => unpack_groups_of::<$w>(src, dst),)*
                _ => return 0,
            }
        };
    }
    by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
    dst.len()
}

/// [`unpack_groups`] for a width `W` known at compile time: value `k` of a
/// group is the 64-bit word at byte `k * W / 8` of it, shifted by
/// `k * W % 8` and masked (both constants once the loop over `k` is
/// unrolled). A group with 8 bytes of `src` after it is read in place; the
/// last groups of `src` (at most `ceil(8 / W)`), from a zero-padded copy.
/// (Reading every group through such a copy made each word's load wait for
/// the copy's stores to retire: a load that spans several earlier stores is
/// not forwarded from them.)
#[inline(always)]
fn unpack_groups_of<const W: usize>(src: &[u8], dst: &mut [u32]) {
    let (groups, _) = src.as_chunks::<W>();
    let (outs, _) = dst.as_chunks_mut::<8>();
    let n = groups.len().min(outs.len());
    // Groups `g` with `g * W + W + 8 <= src.len()`.
    let in_place = (src.len().saturating_sub(8) / W).min(n);
    for (g, out) in outs[..in_place].iter_mut().enumerate() {
        if let Some(window) = src.get(g * W..g * W + W + 8) {
            unpack_group::<W>(window, out);
        }
    }
    for (group, out) in groups[in_place..n].iter().zip(&mut outs[in_place..n]) {
        // W bytes of values and 8 of padding: every value's word is inside.
        let mut window = [0u8; 40];
        window[..W].copy_from_slice(group);
        unpack_group::<W>(&window, out);
    }
}

/// The 8 values of width `W` at the start of `window`, which holds at least
/// `W + 8` bytes (each value's 8-byte word inside it).
#[inline(always)]
fn unpack_group<const W: usize>(window: &[u8], out: &mut [u32; 8]) {
    let mask = if W == 32 {
        u64::from(u32::MAX)
    } else {
        (1u64 << W) - 1
    };
    for (k, o) in out.iter_mut().enumerate() {
        let bit = k * W;
        let word = window
            .get(bit / 8..bit / 8 + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .unwrap_or_default();
        *o = ((u64::from_le_bytes(word) >> (bit % 8)) & mask) as u32;
    }
}

/// The low `len` bits set (`len` at most 64).
#[inline]
fn low_bits(len: usize) -> u64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

/// Bits `bit..bit + len` of `src` (`len` at most [`BitSink::MAX`]) as the
/// low bits of a word; bits past the end of `src` read as zero (they were
/// checked not to be needed).
#[inline]
fn load_bits(src: &[u8], bit: usize, len: usize) -> u64 {
    let at = bit / 8;
    let window = match src.get(at..at + 8) {
        Some(b) => <[u8; 8]>::try_from(b).unwrap_or_default(),
        None => {
            let mut window = [0u8; 8];
            let end = (at + 8).min(src.len());
            if at < end {
                window[..end - at].copy_from_slice(&src[at..end]);
            }
            window
        }
    };
    (u64::from_le_bytes(window) >> (bit % 8)) & low_bits(len)
}

/// Writes bits into a bitmap in order from a starting bit, gathered into a
/// 64-bit word and stored eight bytes at a time (a run's bits cost a few
/// instructions a word, not a few a bit). The bits of the first byte below
/// the start and those of the last byte past the end are kept.
struct BitSink<'a> {
    bits: &'a mut [u8],
    /// The byte the gathered word goes to.
    byte: usize,
    /// Bits gathered, `used` of them (below 64).
    word: u64,
    used: usize,
}

impl<'a> BitSink<'a> {
    /// Most bits one [`BitSink::push`] takes.
    const MAX: usize = 56;

    /// A sink writing from bit `at` of `bits`.
    fn new(bits: &'a mut [u8], at: usize) -> Self {
        let byte = at / 8;
        let used = at % 8;
        let word = bits.get(byte).map_or(0, |&b| u64::from(b) & low_bits(used));
        BitSink {
            bits,
            byte,
            word,
            used,
        }
    }

    /// Appends the low `len` bits of `v` (`len` at most [`BitSink::MAX`];
    /// no bit of `v` above them is set). The caller checked that every bit
    /// written lies inside the bitmap.
    #[inline]
    fn push(&mut self, v: u64, len: usize) {
        self.word |= v << self.used;
        self.used += len;
        if self.used >= 64 {
            self.bits[self.byte..self.byte + 8].copy_from_slice(&self.word.to_le_bytes());
            self.byte += 8;
            self.used -= 64;
            // The bits of `v` that did not fit (none when `used` is 0).
            self.word = v >> (len - self.used);
        }
    }

    /// Writes the bits still gathered, keeping the rest of the last byte.
    fn finish(self) {
        let bytes = self.word.to_le_bytes();
        let whole = self.used / 8;
        self.bits[self.byte..self.byte + whole].copy_from_slice(&bytes[..whole]);
        let tail = self.used % 8;
        if tail > 0 {
            let keep = !(low_bits(tail) as u8);
            let b = &mut self.bits[self.byte + whole];
            *b = (*b & keep) | bytes[whole];
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::basic::{Encoding, Repetition, Type as PhysicalType};
    use parquet::column::page::Page;
    use parquet::data_type::Int32Type;
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use proptest::prelude::*;

    use super::*;

    /// The data pages the parquet crate writes for `values` (a nullable
    /// INT32 column, dictionary encoded, uncompressed) as (definition
    /// levels, dictionary indices, rows) per page: its own RLE encoder made
    /// both.
    fn crate_pages(values: &[Option<i32>], v2: bool) -> Vec<(Bytes, Bytes, usize)> {
        let leaf = Type::primitive_type_builder("x", PhysicalType::INT32)
            .with_repetition(Repetition::OPTIONAL)
            .build()
            .expect("a leaf");
        let schema = Type::group_type_builder("s")
            .with_fields(vec![Arc::new(leaf)])
            .build()
            .expect("a schema");
        let props = WriterProperties::builder()
            .set_writer_version(if v2 {
                WriterVersion::PARQUET_2_0
            } else {
                WriterVersion::PARQUET_1_0
            })
            .set_dictionary_page_size_limit(1 << 22)
            .set_data_page_row_count_limit(4000)
            .set_write_batch_size(1000)
            .build();
        let mut file = Vec::new();
        let mut w = SerializedFileWriter::new(&mut file, Arc::new(schema), Arc::new(props))
            .expect("a writer");
        let mut rg = w.next_row_group().expect("a row group");
        let mut col = rg.next_column().expect("a column").expect("one column");
        let defs: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
        let stored: Vec<i32> = values.iter().flatten().copied().collect();
        col.typed::<Int32Type>()
            .write_batch(&stored, Some(&defs), None)
            .expect("written");
        col.close().expect("closed");
        rg.close().expect("closed");
        w.close().expect("closed");
        let r = SerializedFileReader::new(Bytes::from(file)).expect("a reader");
        let mut pages = r
            .get_row_group(0)
            .expect("row group")
            .get_column_page_reader(0)
            .expect("pages");
        let mut out = Vec::new();
        while let Some(page) = pages.get_next_page().expect("a page") {
            match page {
                Page::DictionaryPage { .. } => {}
                Page::DataPage {
                    buf,
                    num_values,
                    encoding,
                    ..
                } => {
                    assert_eq!(encoding, Encoding::RLE_DICTIONARY);
                    let n = num_values as usize;
                    let (_, used) = RleHybrid::v1_levels(&buf, 1, n).expect("levels");
                    out.push((buf.slice(..used), buf.slice(used..), n));
                }
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    def_levels_byte_len,
                    ..
                } => {
                    assert_eq!(encoding, Encoding::RLE_DICTIONARY);
                    let d = def_levels_byte_len as usize;
                    out.push((buf.slice(..d), buf.slice(d..), num_values as usize));
                }
            }
        }
        out
    }

    /// Decodes `crate_pages` with ours in pieces of `piece` rows: the
    /// validity bits and the indices of the valid rows (as first-seen order,
    /// which is how the crate numbers its dictionary).
    fn ours(pages: &[(Bytes, Bytes, usize)], v2: bool, piece: usize) -> (Vec<bool>, Vec<u32>) {
        let mut valid = Vec::new();
        let mut idx = Vec::new();
        for (levels, indices, n) in pages {
            let mut lv = if v2 {
                RleHybrid::new(levels.clone(), 1, *n).expect("levels")
            } else {
                RleHybrid::v1_levels(levels, 1, *n).expect("levels").0
            };
            let mut bits = vec![0u8; n.div_ceil(8)];
            let mut at = 0;
            let mut count = 0;
            while at < *n {
                let k = piece.min(n - at);
                count += lv.decode_validity(&mut bits, at, k).expect("validity");
                at += k;
            }
            valid.extend((0..*n).map(|i| bits[i / 8] >> (i % 8) & 1 == 1));
            let mut ix = RleHybrid::indices(indices.clone(), count).expect("indices");
            let mut out = vec![0u32; count];
            let mut at = 0;
            while at < count {
                let k = piece.min(count - at);
                let got = ix
                    .decode_indices(&mut out[at..at + k], 1 << 20)
                    .expect("indices");
                assert_eq!(got, k);
                at += k;
            }
            assert_eq!(ix.remaining(), 0);
            idx.extend(out);
        }
        (valid, idx)
    }

    /// The crate's dictionary numbering: each value's index in first-seen order.
    fn first_seen(values: &[Option<i32>]) -> Vec<u32> {
        let mut seen = std::collections::HashMap::new();
        values
            .iter()
            .flatten()
            .map(|v| {
                let next = seen.len() as u32;
                *seen.entry(*v).or_insert(next)
            })
            .collect()
    }

    fn check_round_trip(values: &[Option<i32>]) {
        for v2 in [false, true] {
            let pages = crate_pages(values, v2);
            for piece in [1usize, 7, 1000, usize::MAX] {
                let (valid, idx) = ours(&pages, v2, piece);
                let want: Vec<bool> = values.iter().map(Option::is_some).collect();
                assert_eq!(valid, want, "v2 {v2}, piece {piece}");
                assert_eq!(idx, first_seen(values), "v2 {v2}, piece {piece}");
            }
        }
    }

    #[test]
    fn round_trips_the_crates_encoder_at_every_dictionary_width() {
        // Dictionary sizes of every width class (1 to 17 bits), with nulls
        // in runs and scattered, across several pages.
        for size in [1i32, 2, 255, 256, 257, 65_537] {
            let values: Vec<Option<i32>> = (0..size)
                .map(Some)
                .chain((0..9000).map(|i| {
                    ((i % 7 != 3) && !(2000..2600).contains(&i)).then_some((i * 31) % size)
                }))
                .collect();
            check_round_trip(&values);
        }
        // No nulls at all, and nothing but nulls.
        check_round_trip(&(0..5000).map(|i| Some(i % 3)).collect::<Vec<_>>());
        check_round_trip(&[None; 5000]);
    }

    /// The group unpacker gives what unpacking value by value gives, at
    /// every width, from any value of a run, for any count, with the run's
    /// bytes cut anywhere (values past the bytes read as zero bits).
    #[test]
    fn group_unpacking_equals_value_by_value() {
        let bytes: Vec<u8> = (0u32..80)
            .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 13) as u8)
            .collect();
        for w in 1..=32u32 {
            for cut in [80, 41, 17, 3] {
                let r = RleHybrid::new(Bytes::copy_from_slice(&bytes[..cut]), w, 1000).unwrap();
                for from in 0..20 {
                    // Up to 16 groups: at width 1 the first 9 are read in place.
                    for len in [0, 1, 7, 8, 9, 16, 23, 40, 80, 128] {
                        let mut got = vec![0; len];
                        r.unpack(0, from, &mut got);
                        let want: Vec<u32> = (0..len).map(|j| r.packed(0, from + j)).collect();
                        assert_eq!(got, want, "w {w}, cut {cut}, from {from}, len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_index_past_the_dictionary_is_refused() {
        let values: Vec<Option<i32>> = (0..300).map(Some).collect();
        let pages = crate_pages(&values, true);
        let (_, indices, n) = &pages[0];
        let mut d = RleHybrid::indices(indices.clone(), *n).unwrap();
        let err = d
            .decode_indices(&mut vec![0u32; *n], 299)
            .expect_err("refused");
        assert!(
            err.to_string()
                .contains("index of 299 in a dictionary of 299"),
            "{err}"
        );
    }

    fn decode_all(data: &[u8], w: u32, n: usize) -> Result<Vec<u32>> {
        let mut d = RleHybrid::new(Bytes::copy_from_slice(data), w, n)?;
        let mut out = vec![0u32; n];
        let got = d.decode(&mut out)?;
        assert_eq!(got, n);
        Ok(out)
    }

    #[test]
    fn levels_go_straight_into_validity_at_any_offset() {
        // RLE runs of both values and bit-packed runs, written at bit offsets
        // that are and are not byte aligned, over bits set the other way.
        let levels: Vec<Option<i32>> = (0..1000)
            .map(|i| (i % 3 != 0 || (200..400).contains(&i)).then_some(0))
            .collect();
        let pages = crate_pages(&levels, true);
        assert_eq!(pages.len(), 1);
        let (enc, _, n) = &pages[0];
        for offset in [0usize, 3, 8, 13] {
            for piece in [1usize, 5, 64, 1000] {
                let mut d = RleHybrid::new(enc.clone(), 1, *n).unwrap();
                let mut bits = vec![0xA5u8; (offset + n).div_ceil(8)];
                let mut at = 0;
                let mut valid = 0;
                while at < *n {
                    let k = piece.min(n - at);
                    valid += d.decode_validity(&mut bits, offset + at, k).unwrap();
                    at += k;
                }
                for (i, l) in levels.iter().enumerate() {
                    let b = bits[(offset + i) / 8] >> ((offset + i) % 8) & 1;
                    assert_eq!(
                        b == 1,
                        l.is_some(),
                        "row {i}, offset {offset}, piece {piece}"
                    );
                }
                for i in 0..offset {
                    assert_eq!(bits[i / 8] >> (i % 8) & 1, 0xA5 >> (i % 8) & 1);
                }
                assert_eq!(valid, levels.iter().flatten().count());
            }
        }
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let err = |data: &[u8], w: u32, n: usize| {
            decode_all(data, w, n).expect_err("refused").to_string()
        };
        assert!(RleHybrid::new(Bytes::new(), 33, 1).is_err());
        assert!(RleHybrid::indices(Bytes::from_static(&[33, 2, 0]), 1).is_err());
        assert!(err(&[], 3, 1).contains("ends with 1 values still owed"));
        // A zero-length RLE run and a bit-packed run of zero groups.
        assert!(err(&[0, 1], 1, 1).contains("length zero"));
        assert!(err(&[1], 1, 1).contains("length zero"));
        // A header of six bytes, and one of 2^32.
        assert!(err(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 1, 1).contains("longer than 5"));
        assert!(err(&[0x80, 0x80, 0x80, 0x80, 0x10], 1, 1).contains("2^32"));
        // An RLE value wider than the bit width, and one cut short.
        assert!(err(&[2, 0x08], 3, 1).contains("exceeds 3 bits"));
        assert!(err(&[2, 0x01], 9, 1).contains("inside an RLE run"));
        // A bit-packed run of 2^30 groups with three bytes behind it: refused
        // before reading, nothing sized by the header.
        let e = err(&[0x81, 0x80, 0x80, 0x80, 0x08, 1, 2, 3], 32, 1 << 20);
        assert!(e.contains("needs 4194304 bytes, 3 are left"), "{e}");
        // v1 levels whose length runs past the page, or is cut.
        assert!(RleHybrid::v1_levels(&Bytes::from_static(&[9, 0, 0, 0, 2, 1]), 1, 2).is_err());
        assert!(RleHybrid::v1_levels(&Bytes::from_static(&[1, 0]), 1, 2).is_err());
        // More levels than the page holds, and a bitmap too small.
        let mut d = RleHybrid::new(Bytes::from_static(&[4, 1]), 1, 2).unwrap();
        assert!(d.decode_validity(&mut [0u8; 1], 0, 3).is_err());
        assert!(d.decode_validity(&mut [0u8; 1], 7, 2).is_err());
        assert_eq!(d.decode_validity(&mut [0u8; 1], 6, 2).unwrap(), 2);
        // A level width other than 1 for validity.
        let mut d = RleHybrid::new(Bytes::from_static(&[4, 1]), 2, 2).unwrap();
        assert!(d.decode_validity(&mut [0u8; 1], 0, 2).is_err());
    }

    #[test]
    fn padding_of_the_last_group_may_be_cut() {
        // 3 values of 8 bits in a one-group bit-packed run, without the 5
        // padding bytes: read; with only 2 of the 3 bytes: refused.
        assert_eq!(decode_all(&[3, 10, 20, 30], 8, 3).unwrap(), [10, 20, 30]);
        assert!(decode_all(&[3, 10, 20], 8, 3).is_err());
        // Widths 9..=32 in one bit-packed group each (values 2^w - 1 - i).
        for w in 9..=32u32 {
            let vals: Vec<u64> = (0..8).map(|i| (1u64 << w) - 1 - i).collect();
            let mut data = vec![3u8; 1 + w as usize];
            data[1..].fill(0);
            for (i, v) in vals.iter().enumerate() {
                for b in 0..w as usize {
                    let bit = i * w as usize + b;
                    if v >> b & 1 == 1 {
                        data[1 + bit / 8] |= 1 << (bit % 8);
                    }
                }
            }
            let got = decode_all(&data, w, 8).unwrap();
            assert_eq!(
                got.iter().map(|&v| u64::from(v)).collect::<Vec<_>>(),
                vals,
                "w {w}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the crate's encoder writes (values, nulls, page
        /// versions), ours reads back.
        #[test]
        fn reads_whatever_the_crate_encodes(
            values in proptest::collection::vec(proptest::option::weighted(0.8, 0i32..600), 1..3000),
        ) {
            check_round_trip(&values);
        }

        /// Any bytes at any width: an error or exactly the values asked,
        /// never a panic, each below 2^w.
        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..64),
            w in 0u32..=33,
            n in 0usize..300,
        ) {
            if let Ok(v) = decode_all(&data, w, n) {
                prop_assert_eq!(v.len(), n);
                prop_assert!(v.iter().all(|&x| w >= 32 || u64::from(x) < 1u64 << w));
            }
            if let Ok(mut d) = RleHybrid::new(Bytes::copy_from_slice(&data), w, n) {
                let mut bits = vec![0u8; n.div_ceil(8) + 1];
                let _ = d.decode_validity(&mut bits, 3, n);
            }
        }
    }
}

// ------------------------------------------------------------------ encoder

/// Bits needed for values up to `max` (0 for 0): the bit width of a
/// dictionary's indices (`max` = entries - 1) or of levels.
pub(crate) fn bit_width_of(max: u32) -> u32 {
    32 - max.leading_zeros()
}

/// Shortest repeat worth an RLE run: at 8 or more equal values a repeat run
/// is never longer than the bit-packed group it replaces.
const MIN_REPEAT: usize = 8;

/// Appends `values` (each below 2^`bit_width`, `bit_width` <= 32) to `out`
/// in the RLE / bit-packed hybrid encoding that [`RleHybrid`] reads: repeats
/// of [`MIN_REPEAT`] or more become RLE runs, the rest bit-packed runs of
/// whole groups of 8 (the last one padded with zeros, which a reader told
/// the value count ignores). Not bounded against anything: the values are
/// ours (dictionary indices and definition levels).
pub(crate) fn rle_encode<T: Copy + Into<u32>>(values: &[T], bit_width: u32, out: &mut Vec<u8>) {
    let n = values.len();
    // Values `lit..i` wait to be bit-packed.
    let mut lit = 0;
    let mut i = 0;
    while i < n {
        let v: u32 = values[i].into();
        let mut j = i + 1;
        while j < n && values[j].into() == v {
            j += 1;
        }
        // A repeat run needs the literals before it in whole groups of 8:
        // the first `borrow` repeats complete the last group. (Most runs are
        // shorter than `MIN_REPEAT`: nothing else is computed for them.)
        if j - i >= MIN_REPEAT {
            let borrow = (8 - (i - lit) % 8) % 8;
            if j - i >= MIN_REPEAT + borrow {
                let start = i + borrow;
                put_packed(&values[lit..start], bit_width, out);
                put_repeat(v, j - start, bit_width, out);
                lit = j;
            }
        }
        i = j;
    }
    put_packed(&values[lit..], bit_width, out);
}

fn put_uleb(mut x: u64, out: &mut Vec<u8>) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn put_repeat(value: u32, count: usize, bit_width: u32, out: &mut Vec<u8>) {
    put_uleb((count as u64) << 1, out);
    out.extend_from_slice(&value.to_le_bytes()[..bit_width.div_ceil(8) as usize]);
}

/// One bit-packed run of `values` (padded to whole groups of 8 with zeros).
///
/// The bits gather in a 64-bit register and leave it 32 at a time, each
/// store to a new place: or-ing every value into the memory word of the one
/// before it made each value's load wait on the previous store (a failed
/// store-to-load forward), which cost more than the packing.
fn put_packed<T: Copy + Into<u32>>(values: &[T], bit_width: u32, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    put_uleb(((groups as u64) << 1) | 1, out);
    let w = bit_width as usize;
    let bytes = groups * w;
    let start = out.len();
    // Room for whole 4-byte stores past the run's last byte; cut back after.
    out.resize(start + bytes + 4, 0);
    let mut words = out[start..].as_chunks_mut::<4>().0.iter_mut();
    // `acc` holds `held` < 32 bits before a value is added, so a value of
    // up to 32 bits fits (`held + w` <= 63).
    let mut acc = 0u64;
    let mut held = 0;
    for &v in values {
        acc |= u64::from(v.into()) << held;
        held += w;
        if held >= 32 {
            if let Some(word) = words.next() {
                *word = (acc as u32).to_le_bytes();
            }
            acc >>= 32;
            held -= 32;
        }
    }
    if held > 0
        && let Some(word) = words.next()
    {
        *word = (acc as u32).to_le_bytes();
    }
    // The padding values of the last group are zeros: the room was zeroed
    // and the bits past the last value's are zero in `acc`.
    out.truncate(start + bytes);
}

#[cfg(test)]
mod encoder_tests {
    use super::*;

    /// A bit-packed run is the run's header and then exactly what packing
    /// the values bit by bit gives, LSB first, padded with zero bits to
    /// whole groups of 8 (the spec's layout; no byte more or less).
    #[test]
    fn packed_runs_are_bit_by_bit_packing_with_zero_padding() {
        for w in 0..=32u32 {
            let max = if w == 0 { 0 } else { u32::MAX >> (32 - w) };
            for n in 1..=41usize {
                let values: Vec<u32> = (0..n as u32)
                    .map(|i| i.wrapping_mul(0x9e37_79b9).rotate_left(i) & max)
                    .collect();
                let groups = n.div_ceil(8);
                let mut want = Vec::new();
                put_uleb(((groups as u64) << 1) | 1, &mut want);
                let start = want.len();
                want.resize(start + groups * w as usize, 0);
                for (i, &v) in values.iter().enumerate() {
                    for b in 0..w as usize {
                        if v >> b & 1 == 1 {
                            let bit = i * w as usize + b;
                            want[start + bit / 8] |= 1 << (bit % 8);
                        }
                    }
                }
                let mut got = vec![0xAA];
                put_packed(&values, w, &mut got);
                assert_eq!(got[0], 0xAA, "w {w}, n {n}: the bytes before were kept");
                assert_eq!(got[1..], want[..], "w {w}, n {n}");
            }
        }
    }

    /// Every bit width 0..=32 and run shape: encoded by ours, decoded by ours
    /// (whose checks are the spec's) to the same values, in one call and
    /// in pieces of 7.
    #[test]
    fn encoder_round_trips_every_bit_width_and_run_shape() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for w in 0..=32u32 {
            let max = if w == 0 { 0 } else { u32::MAX >> (32 - w) };
            let pick = |r: u64| {
                if max == 0 {
                    0
                } else {
                    (r % (u64::from(max) + 1)) as u32
                }
            };
            let mut shapes: Vec<Vec<u32>> = vec![
                vec![],
                vec![max],
                vec![max; 7],
                vec![max; 8],
                vec![max; 9],
                vec![0; 1000],
                (0..1000).map(|_| pick(rnd())).collect(),
                (0..37).map(|_| pick(rnd())).collect(),
            ];
            // Literals of every length 0..16 before and after repeats of every
            // length 1..20: every `borrow` case.
            for lits in 0..16 {
                for rep in 1..20 {
                    let mut v: Vec<u32> = (0..lits).map(|_| pick(rnd())).collect();
                    v.extend(std::iter::repeat_n(pick(rnd()), rep));
                    v.extend((0..lits).map(|_| pick(rnd())));
                    shapes.push(v);
                }
            }
            // Long runs of a few values.
            shapes.push(
                (0..5000)
                    .map(|i| if (i / 100) % 2 == 0 { max } else { 0 })
                    .collect(),
            );
            shapes.push((0..5000).map(|i| (i % 3) as u32 & max).collect());
            for values in shapes {
                let mut out = Vec::new();
                rle_encode(&values, w, &mut out);
                let mut d = RleHybrid::new(Bytes::from(out.clone()), w, values.len()).unwrap();
                let mut got = vec![u32::MAX; values.len()];
                assert_eq!(d.decode(&mut got).unwrap(), values.len());
                assert_eq!(got, values, "width {w}");
                assert_eq!(d.remaining(), 0);
                let mut d = RleHybrid::new(Bytes::from(out), w, values.len()).unwrap();
                let mut got = Vec::new();
                let mut piece = [0u32; 7];
                loop {
                    let k = d.decode(&mut piece).unwrap();
                    got.extend_from_slice(&piece[..k]);
                    if k < 7 {
                        break;
                    }
                }
                assert_eq!(got, values, "width {w}, pieces of 7");
            }
        }
    }

    /// Repeats become RLE runs (sizes as the spec's arithmetic says), and
    /// levels of one bit give the bitmap-shaped bytes pyarrow writes.
    #[test]
    fn encoder_output_bytes() {
        let mut out = Vec::new();
        rle_encode(&[5u32; 100], 3, &mut out);
        assert_eq!(out, vec![200, 1, 5]); // header 100 << 1 (ULEB128), value in 1 byte
        out.clear();
        rle_encode(&[1u32, 0, 1, 1], 1, &mut out);
        assert_eq!(out, vec![0b11, 0b1101]); // one group, bits LSB first
        out.clear();
        // 3 literals, then 20 repeats: 5 are borrowed to fill the group.
        let mut v = vec![1u32, 2, 3];
        v.extend([7u32; 20]);
        rle_encode(&v, 4, &mut out);
        assert_eq!(out, vec![0b11, 0x21, 0x73, 0x77, 0x77, 15 << 1, 7]);
        out.clear();
        rle_encode(&[1i16 as u16, 0, 1], 1, &mut out);
        let mut d = RleHybrid::new(Bytes::from(out), 1, 3).unwrap();
        let mut bits = [0u8; 1];
        assert_eq!(d.decode_validity(&mut bits, 0, 3).unwrap(), 2);
        assert_eq!(bits[0], 0b101);
    }
}
