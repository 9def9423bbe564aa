//! Page headers of a column chunk, walked once when its row group opens:
//! [`index_chunk`] checks every page against
//! [`ParquetReadOptions::max_page_bytes`] and the chunk's bounds, and keeps
//! what our page loop (column.rs) needs as [`PageInfo`]s.
//!
//! The parquet crate (60.x) allocates a page's declared
//! `uncompressed_page_size` (up to 2 GiB, straight from the file) before it
//! decompresses the page, and so would our own page loop, so a few hundred
//! bytes of hostile file could make either reserve gigabytes. Every page,
//! data or dictionary, that declares more than the limit, or whose sizes are
//! negative or run past the chunk, is refused here, before a chunk goes to
//! either decoder.
//!
//! Kept from each `PageHeader` (Thrift compact protocol, parquet-format):
//! fields 1 to 3 (`type` and the sizes) and the counts and encodings of the
//! data (v1 or v2) or dictionary page header; everything else (statistics,
//! CRC, fields added later) is skipped without allocating, whatever its size.
//! The walk itself is thrift.rs, shared with the footer check (footer.rs).
//!
//! A page's bytes are then read without the crate: [`ChunkBytes`] gives them
//! zero-copy from an in-memory input or into a reused buffer from a file,
//! [`Codec`] decompresses them (none, Snappy, Zstd) into buffers of a
//! [`PagePool`], reused page after page, zeroed only when they grow. The
//! page loop itself (which page is next, levels and values) is column.rs.
//!
//! [`ParquetReadOptions::max_page_bytes`]: super::ParquetReadOptions::max_page_bytes

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, Weak};

use lightstream_core::bytes::Bytes;
use parquet::basic::Compression;
use parquet::file::reader::ChunkReader;

use super::thrift::{Shape, Visit, Walker};

/// Deepest nesting of Thrift structs accepted in a page header (parquet-format
/// nests three: PageHeader, DataPageHeader, Statistics; room is left for
/// fields added later).
const MAX_DEPTH: usize = 8;
/// Largest page header accepted (statistics included), in bytes.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// parquet-format `PageType` codes.
const DATA_PAGE: i32 = 0;
const INDEX_PAGE: i32 = 1;
const DICTIONARY_PAGE: i32 = 2;
const DATA_PAGE_V2: i32 = 3;

/// What kind of page, with the fields of its own header (counts and
/// encodings as the file states them: the page loop checks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// A v1 data page (`DataPageHeader`).
    Data {
        num_values: i32,
        /// parquet-format `Encoding` codes.
        encoding: i32,
        def_encoding: i32,
    },
    /// A v2 data page (`DataPageHeaderV2`): levels are stored uncompressed
    /// in front of the (maybe compressed) values.
    DataV2 {
        num_values: i32,
        num_nulls: i32,
        num_rows: i32,
        encoding: i32,
        def_len: i32,
        rep_len: i32,
        /// Absent in the file: true, as parquet-format says.
        is_compressed: bool,
    },
    /// A dictionary page (`DictionaryPageHeader`).
    Dictionary { num_values: i32, encoding: i32 },
    /// An index page (skipped, as the parquet crate skips it), a page type
    /// parquet-format does not define, or a data or dictionary page whose
    /// own header is missing or incomplete: the `type` code.
    Other(i32),
}

/// One page of a column chunk: where it is and what its header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageInfo {
    /// Byte offset of the page header in the file.
    pub offset: u64,
    /// Bytes of the header; the page's bytes follow it.
    pub header_len: u64,
    /// Declared sizes: checked non-negative, `uncompressed` at most
    /// `max_page_bytes`, and the page's bytes inside the chunk.
    pub uncompressed: usize,
    pub compressed: usize,
    pub kind: PageKind,
}

impl PageInfo {
    /// Byte offset of the page's (compressed) bytes in the file.
    pub(crate) fn body(&self) -> u64 {
        self.offset + self.header_len
    }
}

/// The name of a page of parquet-format type `kind`, for errors.
pub(crate) fn kind_name(kind: i32) -> &'static str {
    match kind {
        DATA_PAGE => "data page",
        INDEX_PAGE => "index page",
        DICTIONARY_PAGE => "dictionary page",
        DATA_PAGE_V2 => "data page (v2)",
        _ => "page",
    }
}

/// The fields of a `PageHeader` we keep, as the walk meets them (the last
/// of a repeated field wins, as in the parquet crate).
#[derive(Default)]
struct Fields {
    kind: Option<i32>,
    uncompressed: Option<i32>,
    compressed: Option<i32>,
    /// `DataPageHeader` fields 1 to 3.
    v1: [Option<i32>; 3],
    /// `DataPageHeaderV2` fields 1 to 6, and 7.
    v2: [Option<i32>; 6],
    is_compressed: Option<bool>,
    /// `DictionaryPageHeader` fields 1 and 2.
    dict: [Option<i32>; 2],
}

impl Visit for Fields {
    fn i32(&mut self, shape: Shape, id: i16, value: i32) -> Result<(), String> {
        let slot = match (shape, id) {
            (Shape::PageHeader, 1) => &mut self.kind,
            (Shape::PageHeader, 2) => &mut self.uncompressed,
            (Shape::PageHeader, 3) => &mut self.compressed,
            (Shape::DataPageHeader, 1..=3) => &mut self.v1[id as usize - 1],
            (Shape::DataPageHeaderV2, 1..=6) => &mut self.v2[id as usize - 1],
            (Shape::DictionaryPageHeader, 1 | 2) => &mut self.dict[id as usize - 1],
            _ => return Ok(()),
        };
        *slot = Some(value);
        Ok(())
    }

    fn bool(&mut self, shape: Shape, id: i16, value: bool) -> Result<(), String> {
        if (shape, id) == (Shape::DataPageHeaderV2, 7) {
            self.is_compressed = Some(value);
        }
        Ok(())
    }
}

impl Fields {
    /// The page's own header, when its type has one and it is complete.
    fn kind(&self, kind: i32) -> PageKind {
        match (kind, self.v1, self.v2, self.dict) {
            (DATA_PAGE, [Some(num_values), Some(encoding), Some(def_encoding)], _, _) => {
                PageKind::Data {
                    num_values,
                    encoding,
                    def_encoding,
                }
            }
            (
                DATA_PAGE_V2,
                _,
                [
                    Some(num_values),
                    Some(num_nulls),
                    Some(num_rows),
                    Some(encoding),
                    Some(def_len),
                    Some(rep_len),
                ],
                _,
            ) => PageKind::DataV2 {
                num_values,
                num_nulls,
                num_rows,
                encoding,
                def_len,
                rep_len,
                is_compressed: self.is_compressed.unwrap_or(true),
            },
            (DICTIONARY_PAGE, _, _, [Some(num_values), Some(encoding)]) => PageKind::Dictionary {
                num_values,
                encoding,
            },
            _ => PageKind::Other(kind),
        }
    }
}

/// The sizes a header declares and the page it describes, before checks.
struct Header {
    kind: i32,
    uncompressed: i32,
    compressed: i32,
    header_len: u64,
    page: PageKind,
}

/// Reads the `PageHeader` at the start of `input` (at most `limit` bytes).
fn page_header(input: impl std::io::Read, limit: u64) -> Result<Header, String> {
    let mut walker = Walker::new(input, limit, "page header", MAX_DEPTH, None);
    let mut fields = Fields::default();
    walker.walk_struct(Shape::PageHeader, 1, &mut fields)?;
    match (fields.kind, fields.uncompressed, fields.compressed) {
        (Some(kind), Some(uncompressed), Some(compressed)) => Ok(Header {
            kind,
            uncompressed,
            compressed,
            header_len: walker.read,
            page: fields.kind(kind),
        }),
        _ => Err("a page header lacks its type or sizes".into()),
    }
}

/// Walks the page headers of the column chunk at `start..start + len`,
/// returning every page, and fails, naming the page, on any that declares
/// more than `max_page_bytes` (or negative sizes, or runs past the chunk).
/// The list grows one header at a time (each takes bytes of the chunk), never
/// from a count in the file.
pub(crate) fn index_chunk<R: ChunkReader>(
    reader: &R,
    start: u64,
    len: u64,
    max_page_bytes: usize,
) -> Result<Vec<PageInfo>, String> {
    let end = start + len;
    let mut at = start;
    let mut pages = Vec::new();
    while at < end {
        let page = pages.len();
        let input = reader
            .get_read(at)
            .map_err(|e| format!("page {page} at byte {at}: {e}"))?;
        let h = page_header(input, (end - at).min(MAX_HEADER_BYTES))
            .map_err(|e| format!("page {page} at byte {at}: {e}"))?;
        let (Ok(uncompressed), Ok(compressed)) = (
            usize::try_from(h.uncompressed),
            usize::try_from(h.compressed),
        ) else {
            return Err(format!(
                "{} {page} at byte {at} declares negative sizes ({} uncompressed, {} compressed)",
                kind_name(h.kind),
                h.uncompressed,
                h.compressed
            ));
        };
        if uncompressed > max_page_bytes {
            return Err(format!(
                "{} {page} at byte {at} declares {} uncompressed bytes, above the limit of {} \
                 (ParquetReadOptions::max_page_bytes)",
                kind_name(h.kind),
                h.uncompressed,
                max_page_bytes
            ));
        }
        let next = at + h.header_len + compressed as u64;
        if next > end {
            return Err(format!(
                "{} {page} at byte {at} ({} bytes of header, {} of data) runs past the end of \
                 its column chunk at byte {end}",
                kind_name(h.kind),
                h.header_len,
                h.compressed
            ));
        }
        pages.push(PageInfo {
            offset: at,
            header_len: h.header_len,
            uncompressed,
            compressed,
            kind: h.page,
        });
        at = next;
    }
    Ok(pages)
}

/// The reader's input as the page loop reads it: object-safe, so that a
/// column cursor is one owned type whatever the input.
pub(crate) trait ChunkBytes: Send + Sync {
    /// `len` bytes at `start` without a copy, when the input is in memory.
    fn slice(&self, start: u64, len: usize) -> Option<Bytes>;
    /// Reads `out.len()` bytes at `start` into `out`.
    fn read_into(&self, start: u64, out: &mut [u8]) -> Result<(), String>;
}

/// A column chunk's decompressor, one per column cursor (its state reused
/// page after page).
pub(crate) enum Codec {
    /// UNCOMPRESSED: pages are used as they are in the input.
    None,
    #[cfg(feature = "snappy")]
    Snappy(snap::raw::Decoder),
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::bulk::Decompressor<'static>>),
}

impl Codec {
    /// Our decompressor for `compression`; None for a codec we do not
    /// handle (the chunk then stays on the parquet crate's path, which reads
    /// or refuses it as before).
    pub(crate) fn for_chunk(compression: Compression) -> Option<Codec> {
        match compression {
            Compression::UNCOMPRESSED => Some(Codec::None),
            #[cfg(feature = "snappy")]
            Compression::SNAPPY => Some(Codec::Snappy(snap::raw::Decoder::new())),
            #[cfg(feature = "zstd")]
            Compression::ZSTD(_) => zstd::bulk::Decompressor::new()
                .ok()
                .map(|d| Codec::Zstd(Box::new(d))),
            _ => None,
        }
    }

    /// Decompresses a page into a buffer of `pool`: `levels` (a v2 page's,
    /// stored uncompressed in front) and then `src` decompressed. Returns the
    /// buffer (its first `levels.len() + n` bytes are the page) and `n`, the
    /// bytes `src` decompressed to; `len` is what the header declares for
    /// the whole page. A stream that would write more than `len` in all is
    /// an error here (whatever the capacity of the buffer reused); the caller
    /// checks that `n` is exactly what was declared.
    ///
    /// zstd writes into the buffer's spare capacity (never zeroed: a fresh
    /// buffer is `malloc`ed, not `calloc`ed, and a spare is not cleared
    /// again); snappy's decoder takes an initialised slice, zeroed only
    /// where the buffer had never been written.
    pub(crate) fn decompress_page(
        &mut self,
        pool: &PagePool,
        levels: &[u8],
        src: &[u8],
        len: usize,
    ) -> Result<(Vec<u8>, usize), String> {
        #[cfg(not(any(feature = "snappy", feature = "zstd")))]
        let _ = (pool, levels, src, len);
        match self {
            Codec::None => Err("no codec to decompress with".into()),
            #[cfg(feature = "snappy")]
            Codec::Snappy(d) => {
                let mut buf = pool.take(len, true);
                buf[..levels.len()].copy_from_slice(levels);
                let n = d
                    .decompress(src, &mut buf[levels.len()..len])
                    .map_err(|e| e.to_string())?;
                Ok((buf, n))
            }
            #[cfg(feature = "zstd")]
            Codec::Zstd(d) => {
                let mut buf = pool.take_empty(len, true);
                buf.extend_from_slice(levels);
                let n = d
                    .decompress_to_buffer(src, &mut SpareUpTo::new(&mut buf, len))
                    .map_err(|e| format!("zstd: {e}"))?;
                Ok((buf, n))
            }
        }
    }

    /// Whether [`Codec::decompress_into`] can write into uninitialised
    /// memory with this codec: zstd can; snappy's decoder takes an
    /// initialised slice (the caller then takes the page-buffer path).
    pub(crate) fn writes_uninit(&self) -> bool {
        #[cfg(feature = "zstd")]
        let zstd = matches!(self, Codec::Zstd(_));
        #[cfg(not(feature = "zstd"))]
        let zstd = false;
        zstd
    }

    /// Decompresses a whole page straight into `out`, memory that may be
    /// uninitialised (a column's spare room); only where
    /// [`Codec::writes_uninit`]. Returns the bytes written (the caller checks
    /// they are what the header declares); a stream longer than `out` is an
    /// error.
    pub(crate) fn decompress_into(
        &mut self,
        src: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<usize, String> {
        match self {
            #[cfg(feature = "zstd")]
            Codec::Zstd(d) => d
                .decompress_to_buffer(src, &mut Uninit { out, filled: 0 })
                .map_err(|e| format!("zstd: {e}")),
            _ => {
                let _ = (src, out);
                Err("this codec does not write into uninitialised memory".into())
            }
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Codec::None)
    }
}

/// Uninitialised memory as zstd's output: zstd writes there without
/// reading it and says how much it wrote.
#[cfg(feature = "zstd")]
struct Uninit<'a> {
    out: &'a mut [MaybeUninit<u8>],
    /// The bytes zstd has written, from the start.
    filled: usize,
}

// SAFETY: `as_mut_ptr` and `capacity` describe `out`, a slice borrowed
// mutably for the wrapper's whole life; zstd writes at most `capacity` bytes
// there and then calls `filled_until(n)` with `n <= capacity` (`write_from`
// checks it); `as_slice` shows only those `filled` bytes, which zstd wrote.
#[cfg(feature = "zstd")]
unsafe impl zstd::zstd_safe::WriteBuf for Uninit<'_> {
    fn as_slice(&self) -> &[u8] {
        let filled = self.out.get(..self.filled).unwrap_or_default();
        // SAFETY: the first `filled` bytes were written by zstd (see the impl).
        unsafe { std::slice::from_raw_parts(filled.as_ptr().cast::<u8>(), filled.len()) }
    }

    fn capacity(&self) -> usize {
        self.out.len()
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.out.as_mut_ptr().cast::<u8>()
    }

    unsafe fn filled_until(&mut self, n: usize) {
        self.filled = n.min(self.out.len());
    }
}

/// The spare capacity of a `Vec` after its initialised bytes, up to `end`
/// bytes in all, as zstd's output: zstd writes there without reading it, and
/// the `Vec`'s length then covers what it wrote. `end` rather than the
/// capacity, so that a stream longer than its page's header declares is
/// refused whatever buffer it lands in.
#[cfg(feature = "zstd")]
struct SpareUpTo<'a> {
    buf: &'a mut Vec<u8>,
    /// `buf.len()` when made: where zstd starts writing.
    start: usize,
    /// At most `buf.capacity()`.
    end: usize,
}

#[cfg(feature = "zstd")]
impl<'a> SpareUpTo<'a> {
    /// `buf`'s spare capacity up to `end` bytes in all (reserved if need be).
    fn new(buf: &'a mut Vec<u8>, end: usize) -> Self {
        let start = buf.len();
        buf.reserve(end.saturating_sub(start));
        SpareUpTo {
            end: end.max(start),
            start,
            buf,
        }
    }
}

// SAFETY: `as_mut_ptr` points at `start`, inside (or one past the end of)
// `buf`'s allocation, and `capacity` is `end - start` with `end <=
// buf.capacity()` (reserved in `new`; `buf` is borrowed mutably for the
// wrapper's whole life, so it cannot reallocate). zstd writes at most
// `capacity` bytes there and reports how many (`write_from` checks `n <=
// capacity`); `filled_until(n)` then sets the length to `start + n`: the
// first `start` bytes were initialised before, the next `n` were just
// written, and `start + n <= end <= capacity`.
#[cfg(feature = "zstd")]
unsafe impl zstd::zstd_safe::WriteBuf for SpareUpTo<'_> {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn capacity(&self) -> usize {
        self.end - self.start
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr().wrapping_add(self.start)
    }

    unsafe fn filled_until(&mut self, n: usize) {
        // SAFETY: see the impl: `start + n <= capacity`, all initialised.
        unsafe { self.buf.set_len(self.start + n) }
    }
}

/// Spare buffers a pool keeps for reuse: the page a column has just read to
/// its end (the next page's buffer) and the compressed bytes of a page read
/// from a file. Each spare is memory a general-purpose allocator would have
/// unmapped (large pages are their own mappings), so no more are kept.
const POOL_BUFFERS: usize = 2;

/// Page buffers reused across pages, columns and row groups (one pool per
/// reader, shared by its column cursors): a page is lent out as [`Bytes`]
/// (what the page decoders slice), and its buffer comes back when the last
/// slice of it is dropped. One pool for all columns, not one per column:
/// spare buffers are then as few as the pages in flight need, as with a
/// general-purpose allocator's free list, rather than one more per column.
#[derive(Clone, Default)]
pub(crate) struct PagePool(Arc<Mutex<Vec<Vec<u8>>>>);

/// A buffer lent out as `Bytes`: its first `len` bytes.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    home: Weak<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            PagePool(home).give_back(std::mem::take(&mut self.buf));
        }
    }
}

impl PagePool {
    /// A buffer of at least `len` initialised bytes: the smallest spare one
    /// whose capacity is big enough (zeroed only past what was written to it
    /// before), otherwise a fresh zeroed one (`calloc`: the pages are the
    /// kernel's zero pages until written). For a reader that needs a `&mut
    /// [u8]` (a positioned read, snappy).
    pub(crate) fn take(&self, len: usize, long: bool) -> Vec<u8> {
        match self.spare(len, long) {
            Some(mut buf) => {
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                buf
            }
            None => vec![0; len],
        }
    }

    /// An empty buffer with room for at least `len` bytes, never zeroed:
    /// for a writer that fills spare capacity and sets the length (zstd).
    #[cfg(feature = "zstd")]
    pub(crate) fn take_empty(&self, len: usize, long: bool) -> Vec<u8> {
        match self.spare(len, long) {
            Some(mut buf) => {
                buf.clear();
                buf
            }
            None => Vec::with_capacity(len),
        }
    }

    /// The smallest spare buffer with room for `len` bytes. A buffer that
    /// will be held `long` (a page, while it is read; a dictionary page, for
    /// its whole column chunk) takes a spare only up to twice its size, so
    /// that a small page does not pin a large buffer.
    fn spare(&self, len: usize, long: bool) -> Option<Vec<u8>> {
        let mut spare = self.0.lock().ok()?;
        let fit = (spare.iter().enumerate())
            .filter(|(_, b)| b.capacity() >= len && (!long || b.capacity() / 2 <= len))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        Some(spare.swap_remove(fit))
    }

    /// Keeps `buf` for reuse, unless enough larger ones are kept already.
    pub(crate) fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        let Ok(mut spare) = self.0.lock() else {
            return;
        };
        spare.push(buf);
        if spare.len() > POOL_BUFFERS {
            // Drop the smallest: the large ones are the costly ones to fault in again.
            if let Some(i) = (0..spare.len()).min_by_key(|&i| spare[i].capacity()) {
                spare.swap_remove(i);
            }
        }
    }

    /// The first `len` bytes of `buf` as `Bytes`; `buf` comes back to this
    /// pool when the last slice of them is dropped.
    pub(crate) fn lend(&self, buf: Vec<u8>, len: usize) -> Bytes {
        let len = len.min(buf.len());
        Bytes::from_owner(Lent {
            buf,
            len,
            home: Arc::downgrade(&self.0),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use lightstream_core::bytes::Bytes;
    use parquet::column::page::CompressedPage;

    use crate::parquet::thrift::test_encoding::{varint, zz};

    /// A page header as parquet-format defines it: fields 1-3, then a data
    /// page header (field 5) with its four i32s, statistics (a binary max and
    /// an i64 null count) and a field parquet-format does not define (id 9, a
    /// binary, skipped by its type), then stop.
    fn header(kind: i32, uncompressed: i32, compressed: i32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [kind, uncompressed, compressed] {
            h.push(0x15); // delta 1, i32
            varint(zz(v.into()), &mut h);
        }
        h.push(0x2c); // delta 2 -> field 5, struct DataPageHeader
        for v in [10, 0, 3, 3] {
            h.push(0x15); // fields 1-4: num_values and the encodings
            varint(zz(v), &mut h);
        }
        h.push(0x1c); // field 5: Statistics
        h.push(0x18); // field 1: max, binary
        varint(3, &mut h);
        h.extend_from_slice(b"abc");
        h.push(0x26); // field 3: null_count, i64
        varint(zz(2), &mut h);
        h.push(0); // end of statistics
        h.push(0x48); // field 9 (unknown): binary
        varint(2, &mut h);
        h.extend_from_slice(b"zz");
        h.push(0); // end of data page header
        h.push(0); // end of page header
        h
    }

    #[test]
    fn refuses_containers_and_known_fields_of_the_wrong_type() {
        // Fields 1-3, then an unknown field 9 holding a list of two i32s.
        let mut h = Vec::new();
        for v in [0, 4, 4] {
            h.push(0x15);
            varint(zz(v), &mut h);
        }
        h.extend_from_slice(&[0x69, 0x25, 0x02, 0x04, 0x00]);
        let bytes = Bytes::from(h.clone());
        let err = index_chunk(&bytes, 0, h.len() as u64, 100).unwrap_err();
        assert!(err.contains("holds a Thrift list"), "{err}");
        // Field 2 (uncompressed_page_size) as a binary.
        let h = vec![0x15, 0x00, 0x18, 0x01, b'x', 0x15, 0x08, 0x00];
        let bytes = Bytes::from(h.clone());
        let err = index_chunk(&bytes, 0, h.len() as u64, 100).unwrap_err();
        assert!(
            err.contains(
                "field 2 of a PageHeader has Thrift type 8, where parquet-format has an i32"
            ),
            "{err}"
        );
    }

    #[test]
    fn walks_pages_and_refuses_oversized_ones() {
        let mut chunk = header(2, 40, 8);
        chunk.extend_from_slice(&[0; 8]);
        chunk.extend_from_slice(&header(0, 100, 4));
        chunk.extend_from_slice(&[0; 4]);
        let bytes = Bytes::from(chunk.clone());
        let pages = index_chunk(&bytes, 0, chunk.len() as u64, 100).unwrap();
        // A dictionary page with a data page's header lacks its own.
        assert_eq!(pages[0].kind, PageKind::Other(2));
        let second = header(2, 40, 8).len() as u64 + 8;
        assert_eq!(
            pages[1],
            PageInfo {
                offset: second,
                header_len: header(0, 100, 4).len() as u64,
                uncompressed: 100,
                compressed: 4,
                kind: PageKind::Data {
                    num_values: 10,
                    encoding: 0,
                    def_encoding: 3
                },
            }
        );
        assert_eq!(pages[1].body(), chunk.len() as u64 - 4);
        assert_eq!(pages.len(), 2);
        let err = index_chunk(&bytes, 0, chunk.len() as u64, 99).unwrap_err();
        assert!(err.contains("data page 1"), "{err}");
        assert!(err.contains("max_page_bytes"), "{err}");
        let err = index_chunk(&bytes, 0, chunk.len() as u64, 39).unwrap_err();
        assert!(err.contains("dictionary page 0"), "{err}");
        // A chunk cut inside the second page.
        let err = index_chunk(&bytes, 0, chunk.len() as u64 - 1, 100).unwrap_err();
        assert!(err.contains("page 1"), "{err}");
    }

    /// Rows of [`crate_file`]'s column `v`: `i % 7`, null where `i % 5 == 0`.
    pub(in crate::parquet) fn crate_file_values() -> Vec<Option<i32>> {
        (0..1000).map(|i| (i % 5 != 0).then_some(i % 7)).collect()
    }

    /// A Parquet file of one optional Zstd-compressed int32 column `v`
    /// ([`crate_file_values`]; pages of 300 rows, v1 or v2, dictionary or
    /// PLAIN), written by the parquet crate's own column writer through a
    /// page writer that passes every page through `edit` first.
    pub(in crate::parquet) fn crate_file(
        v2: bool,
        dictionary: bool,
        edit: impl FnMut(CompressedPage) -> CompressedPage + Send + 'static,
    ) -> Vec<u8> {
        crate_file_of(false, v2, dictionary, edit)
    }

    /// The values of [`crate_file_of`]'s required column: `i % 7`, 1,000 rows.
    pub(in crate::parquet) fn required_values() -> Vec<Option<i32>> {
        (0..1000).map(|i| Some(i % 7)).collect()
    }

    /// [`crate_file`], or with `required` a required int32 column `v` of
    /// [`required_values`].
    pub(in crate::parquet) fn crate_file_of(
        required: bool,
        v2: bool,
        dictionary: bool,
        edit: impl FnMut(CompressedPage) -> CompressedPage + Send + 'static,
    ) -> Vec<u8> {
        use parquet::basic::{Compression, ZstdLevel};
        use parquet::column::page::{PageWriteSpec, PageWriter};
        use parquet::column::writer::{ColumnWriter, get_column_writer};
        use parquet::file::properties::{WriterProperties, WriterVersion};
        use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter};
        use parquet::schema::parser::parse_message_type;
        use std::sync::{Arc, Mutex};

        struct Editing<F> {
            sink: Arc<Mutex<Vec<u8>>>,
            edit: F,
        }
        impl<F: FnMut(CompressedPage) -> CompressedPage + Send> PageWriter for Editing<F> {
            fn write_page(
                &mut self,
                page: CompressedPage,
            ) -> parquet::errors::Result<PageWriteSpec> {
                let page = (self.edit)(page);
                let mut sink = self.sink.lock().unwrap();
                let mut w = parquet::file::writer::TrackedWrite::new(&mut *sink);
                let spec = SerializedPageWriter::new(&mut w).write_page(page)?;
                std::io::Write::flush(&mut w)?;
                Ok(spec)
            }
            fn close(&mut self) -> parquet::errors::Result<()> {
                Ok(())
            }
        }

        let repetition = if required { "required" } else { "optional" };
        let schema = Arc::new(
            parse_message_type(&format!("message m {{ {repetition} int32 v; }}")).unwrap(),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_writer_version(if v2 {
                    WriterVersion::PARQUET_2_0
                } else {
                    WriterVersion::PARQUET_1_0
                })
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_dictionary_enabled(dictionary)
                // PLAIN (and no DELTA_* in v2): our page decoders' chunk.
                .set_encoding(parquet::basic::Encoding::PLAIN)
                .set_data_page_row_count_limit(300)
                .set_write_batch_size(100)
                .build(),
        );
        let mut file = SerializedFileWriter::new(Vec::new(), schema, props.clone()).unwrap();
        let descr = file.schema_descr().column(0);
        let sink = Arc::new(Mutex::new(Vec::new()));
        let pages = Box::new(Editing {
            sink: sink.clone(),
            edit,
        });
        let ColumnWriter::Int32ColumnWriter(mut w) = get_column_writer(descr, props, pages) else {
            unreachable!()
        };
        let rows = if required {
            required_values()
        } else {
            crate_file_values()
        };
        let defs: Vec<i16> = rows.iter().map(|v| i16::from(v.is_some())).collect();
        let values: Vec<i32> = rows.iter().flatten().copied().collect();
        let defs = (!required).then_some(&defs[..]);
        w.write_batch(&values, defs, None).unwrap();
        let close = w.close().unwrap();
        let bytes = Bytes::from(std::mem::take(&mut *sink.lock().unwrap()));
        let mut rg = file.next_row_group().unwrap();
        rg.append_column(&bytes, close).unwrap();
        rg.close().unwrap();
        file.into_inner().unwrap()
    }

    /// [`crate_file`] whose pages claim `claim` uncompressed bytes (None: the truth).
    fn file_with_claim(claim: Option<usize>, dictionary: bool) -> Vec<u8> {
        crate_file(false, dictionary, move |page| match claim {
            Some(n) => CompressedPage::new(page.compressed_page().clone(), n),
            None => page,
        })
    }

    #[test]
    fn a_page_claiming_gigabytes_is_refused_before_the_crate_reserves_it() {
        use super::super::{ParquetReadOptions, ParquetReader};
        // The honest file reads.
        for dictionary in [false, true] {
            let honest = file_with_claim(None, dictionary);
            let r = ParquetReader::from_bytes(
                Bytes::from(honest),
                "honest.parquet",
                ParquetReadOptions::default(),
            )
            .unwrap();
            let rows: usize = r.map(|t| t.unwrap().n_rows).sum();
            assert_eq!(rows, 1000);
        }
        // Every page claims ~1.9 GiB: refused, naming row group, column and page.
        for dictionary in [false, true] {
            let bomb = file_with_claim(Some(2_000_000_000), dictionary);
            assert!(bomb.len() < 4096, "{} bytes", bomb.len());
            let mut r = ParquetReader::from_bytes(
                Bytes::from(bomb),
                "bomb.parquet",
                ParquetReadOptions::default(),
            )
            .unwrap();
            let err = r.next().unwrap().unwrap_err().to_string();
            let page = if dictionary {
                "dictionary page 0"
            } else {
                "data page 0"
            };
            for part in [
                "bomb.parquet",
                "row group 0",
                "column \"v\"",
                page,
                "2000000000",
                "max_page_bytes",
            ] {
                assert!(err.contains(part), "{part:?} missing from: {err}");
            }
            assert!(r.next().is_none());
        }
        // A lower limit applies to honest files too.
        let honest = file_with_claim(None, false);
        let mut r = ParquetReader::from_bytes(
            Bytes::from(honest),
            "small.parquet",
            ParquetReadOptions {
                max_page_bytes: 100,
                ..ParquetReadOptions::default()
            },
        )
        .unwrap();
        let err = r.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("above the limit of 100"), "{err}");
    }

    #[test]
    fn v2_headers_keep_is_compressed_from_the_bool_in_the_type_nibble() {
        // `is_compressed` (field 7, a compact bool: type 1 true, 2 false,
        // no value byte), then one more i32 field (99, unknown) that must
        // still be read where it is.
        for (flag, want) in [(Some(0x12), false), (Some(0x11), true), (None, true)] {
            let mut h = Vec::new();
            for v in [3, 20, 20] {
                h.push(0x15);
                varint(zz(v), &mut h);
            }
            h.push(0x5c); // field 8: DataPageHeaderV2
            for v in [7, 2, 7, 8, 3, 0] {
                h.push(0x15);
                varint(zz(v), &mut h);
            }
            h.extend(flag);
            h.extend_from_slice(&[0x05, 0xc6, 0x01]); // field 99 (long form), i32
            varint(zz(5), &mut h);
            h.push(0); // end of DataPageHeaderV2
            h.push(0); // end of PageHeader
            let header_len = h.len() as u64;
            h.extend_from_slice(&[0; 20]);
            let bytes = Bytes::from(h.clone());
            let pages = index_chunk(&bytes, 0, h.len() as u64, 100).unwrap();
            assert_eq!(pages.len(), 1);
            assert_eq!(pages[0].header_len, header_len);
            assert_eq!(
                pages[0].kind,
                PageKind::DataV2 {
                    num_values: 7,
                    num_nulls: 2,
                    num_rows: 7,
                    encoding: 8,
                    def_len: 3,
                    rep_len: 0,
                    is_compressed: want,
                }
            );
        }
    }

    #[test]
    fn page_buffers_come_back_when_their_last_slice_is_dropped() {
        let pool = PagePool::default();
        let mut buf = pool.take(100, false);
        buf[..3].copy_from_slice(b"abc");
        let at = buf.as_ptr();
        let page = pool.lend(buf, 60);
        assert_eq!(page.len(), 60);
        let slice = page.slice(1..3);
        drop(page);
        // Still lent (a slice lives): a fresh buffer.
        let fresh = pool.take(10, false);
        assert_ne!(fresh.as_ptr(), at);
        assert_eq!(&slice[..], b"bc");
        drop(slice);
        // Back, and not zeroed again; a larger request gets a fresh one.
        let again = pool.take(100, false);
        assert_eq!((again.as_ptr(), &again[..3]), (at, &b"abc"[..]));
        drop(again);
        let mut lent: Vec<Bytes> = (0..4).map(|_| pool.lend(pool.take(8, false), 8)).collect();
        lent.clear();
        assert_eq!(pool.0.lock().unwrap().len(), POOL_BUFFERS);
        assert_eq!(pool.take(200, false).len(), 200);
        // The smallest spare that fits; past the bound, the smallest goes.
        let pool = PagePool::default();
        for len in [10, 1000, 100] {
            pool.give_back(vec![0; len]);
        }
        assert_eq!(pool.take(50, false).len(), 100);
        // No spare pinned for long by a page of less than half its size.
        assert_eq!(pool.take(50, true).len(), 50);
        assert_eq!(pool.take(600, true).len(), 1000);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_pages_fill_a_spare_only_up_to_their_declared_size() {
        let page = b"0123456789".repeat(100);
        let src = zstd::bulk::compress(&page, 1).unwrap();
        let mut codec =
            Codec::for_chunk(Compression::ZSTD(parquet::basic::ZstdLevel::default())).unwrap();
        let pool = PagePool::default();
        // A spare larger than the page, full of old bytes: reused, not zeroed.
        pool.give_back(vec![0xaa; 1800]);
        let (buf, n) = codec.decompress_page(&pool, b"lv", &src, 1002).unwrap();
        assert_eq!((n, buf.len(), buf.capacity()), (1000, 1002, 1800));
        assert_eq!((&buf[..2], &buf[2..]), (&b"lv"[..], &page[..]));
        // Declared one byte short: refused, though the spare (taken again)
        // has room for the whole stream.
        pool.give_back(buf);
        let err = codec.decompress_page(&pool, b"", &src, 999).unwrap_err();
        assert!(err.contains("zstd"), "{err}");
        // Declared longer: what it decompressed to, for the caller to refuse.
        let (buf, n) = codec.decompress_page(&pool, b"", &src, 1001).unwrap();
        assert_eq!((n, &buf[..]), (1000, &page[..]));
    }

    #[test]
    fn refuses_negative_sizes_and_garbage() {
        let chunk = header(0, -5, 0);
        let bytes = Bytes::from(chunk.clone());
        assert!(index_chunk(&bytes, 0, chunk.len() as u64, 100).is_err());
        let junk = Bytes::from(vec![0x1f; 64]);
        assert!(index_chunk(&junk, 0, 64, 100).is_err());
        // A binary field claiming 4 GiB is skipped by length, not read into memory.
        let mut h = vec![0x18];
        varint(4 << 30, &mut h);
        let bytes = Bytes::from(h.clone());
        assert!(index_chunk(&bytes, 0, h.len() as u64, 100).is_err());
    }
}
