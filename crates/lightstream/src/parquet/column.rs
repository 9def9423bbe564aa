//! Our own decoding of a column chunk's pages: [`PageColumn::read`] turns
//! the next `n` rows into a minarrow array.
//!
//! The page loop is ours: the pages are the ones pages.rs indexed when the
//! row group opened (headers checked against the chunk and the page-size
//! limit), their bytes come zero-copy from an in-memory input or into one
//! reused buffer from a file, and they are decompressed by our own
//! [`Codec`] into reused [`PagePool`] buffers, each checked to fill exactly
//! the size its header declares; a whole PLAIN page of a required
//! fixed-width column that fits in the batch is decompressed straight into
//! the column's buffer instead, where the codec can write into uninitialised
//! memory (zstd). Then: definition levels straight into the
//! validity bitmap (rle.rs), the dictionary page decoded once per chunk,
//! dictionary indices into a reused `u32` scratch, PLAIN values, fixed-width
//! values written once into the buffer the array keeps, and string columns
//! gathered into one offsets and one data buffer, with no allocation or
//! refcount per value.
//!
//! Only flat chunks of a codec we decompress, whose footer lists no encoding
//! outside [`OWN_ENCODINGS`], come here, chosen per chunk before any page is
//! read ([`PageColumn::handles`]); the others keep the crate's `ColumnReader`
//! (decode.rs). Conversions to the target type are decode.rs's ([`build`],
//! [`TextBuilder`]), shared by both paths.
//!
//! Not here: the page headers and their checks, the input and the codecs
//! (pages.rs), the file and row groups (reader.rs).

use std::sync::Arc;

use lightstream_core::bytes::Bytes;
use lightstream_core::minarrow::{FieldArray, Vec64};
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::file::metadata::ColumnChunkMetaData;

use super::decode::{Dense, DictText, Rows, Span, TextBuilder, Values, build, build_dense};
use super::pages::{ChunkBytes, Codec, PageInfo, PageKind, PagePool, kind_name};
use super::rle::RleHybrid;
use super::types::{ColumnPlan, Decode, parquet_error};
use crate::error::Result;

/// Encodings of a chunk our decoders read (BIT_PACKED only as the
/// level encoding of a required column, which has no levels; writers still
/// list it, hence the deprecated name).
#[expect(deprecated)]
const OWN_ENCODINGS: [Encoding; 5] = [
    Encoding::PLAIN,
    Encoding::PLAIN_DICTIONARY,
    Encoding::RLE_DICTIONARY,
    Encoding::RLE,
    Encoding::BIT_PACKED,
];

/// A dictionary page, decoded once per column chunk.
enum Dict {
    /// Fixed-width little-endian values of `width` bytes, `len` of them.
    Fixed {
        bytes: Bytes,
        width: usize,
        len: usize,
    },
    /// Byte arrays: the entries' bytes one after the other, each entry's
    /// span in them, and which are not UTF-8.
    Strings {
        bytes: Bytes,
        spans: Vec<Span>,
        bad: Vec<bool>,
    },
}

impl Dict {
    fn parse(physical: PhysicalType, bytes: Bytes, n: usize) -> Result<Dict> {
        let width = match physical {
            PhysicalType::INT32 | PhysicalType::FLOAT => 4,
            PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
            PhysicalType::BYTE_ARRAY => {
                let (values, spans) = plain_entries(&bytes, n, "dictionary")?;
                let bytes = Bytes::from(values);
                // All ASCII: only UTF-8 entries, found in one vectorised
                // pass instead of a check per entry.
                let bad: Vec<bool> = if bytes.is_ascii() {
                    Vec::new()
                } else {
                    spans
                        .iter()
                        .map(|&(a, b)| std::str::from_utf8(&bytes[a as usize..b as usize]).is_err())
                        .collect()
                };
                let bad = if bad.contains(&true) { bad } else { Vec::new() };
                return Ok(Dict::Strings { bytes, spans, bad });
            }
            other => {
                return Err(parquet_error(format!("a dictionary page for {other}")));
            }
        };
        if n.checked_mul(width).is_none_or(|b| b > bytes.len()) {
            return Err(parquet_error(format!(
                "a dictionary page of {} bytes declares {n} values",
                bytes.len()
            )));
        }
        Ok(Dict::Fixed {
            bytes,
            width,
            len: n,
        })
    }
}

/// The `n` PLAIN byte arrays (`u32` length, bytes) at the start of `bytes`,
/// each checked present, copied together without their lengths, and each
/// one's span in that copy. A row's random lookup of its entry then touches
/// less cache: spans as `u32` pairs (half of `usize` pairs) and no length
/// bytes between the values (for this bench's 50,000 entries of about 10
/// bytes: 0.9 against 1.5 MB).
fn plain_entries(bytes: &[u8], n: usize, what: &str) -> Result<(Vec<u8>, Vec<Span>)> {
    if u32::try_from(bytes.len()).is_err() {
        return Err(parquet_error(format!(
            "a {what} of {} bytes (more than 4 GiB)",
            bytes.len()
        )));
    }
    // At least 4 bytes a value: the count asked cannot reserve past that.
    let mut spans = Vec::with_capacity(n.min(bytes.len() / 4));
    // The page less a 4-byte length per entry: enough once all `n` are
    // there, and no spare capacity held for the chunk's life.
    let mut values = Vec::with_capacity(bytes.len().saturating_sub(n.saturating_mul(4)));
    let mut pos = 0;
    for _ in 0..n {
        let ((a, b), next) = plain_span(bytes, pos, what)?;
        let at = values.len();
        values.extend_from_slice(&bytes[a..b]);
        // At most `bytes.len()`, checked to fit above.
        spans.push((at as u32, values.len() as u32));
        pos = next;
    }
    Ok((values, spans))
}

/// The PLAIN byte array at `pos`: its span and where the next starts.
#[inline]
fn plain_span(bytes: &[u8], pos: usize, what: &str) -> Result<((usize, usize), usize)> {
    let short = || parquet_error(format!("the {what} ends inside a byte array"));
    let len = bytes.get(pos..pos + 4).ok_or_else(short)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let start = pos + 4;
    let end = start.checked_add(len).filter(|&e| e <= bytes.len());
    let end = end.ok_or_else(short)?;
    Ok(((start, end), end))
}

/// How the values of the current data page are read.
enum PageValues {
    /// PLAIN: the next value starts at byte `pos` (bit `pos` for booleans).
    Plain { pos: usize },
    /// Dictionary indices.
    Dict(RleHybrid),
    /// RLE booleans.
    BoolRle(RleHybrid),
}

/// The data page being read.
struct DataPage {
    /// The page's value bytes (levels excluded).
    values: Bytes,
    levels: Option<RleHybrid>,
    rows_left: usize,
    decoder: PageValues,
}

/// One column chunk read page by page with our decoders: an owned value
/// (`Send + 'static`), so a cursor may be decoded on any thread.
pub(super) struct PageColumn {
    /// The reader's input.
    input: Arc<dyn ChunkBytes>,
    /// The chunk's pages (pages.rs), and the index of the next one.
    pages: Vec<PageInfo>,
    next: usize,
    codec: Codec,
    /// Page buffers (the reader's, shared by its columns): decompressed
    /// pages, pages read from a file, and compressed bytes read from a file
    /// while they are decompressed.
    pool: PagePool,
    physical: PhysicalType,
    max_def: i16,
    dict: Option<Dict>,
    page: Option<DataPage>,
    /// Dictionary indices of one piece of a page, reused.
    scratch: Vec<u32>,
    /// Rows and string bytes of the last batch (a string column): the next
    /// batch reserves about as many bytes up front instead of growing
    /// (each growth copies the bytes so far into fresh pages).
    last_text: (usize, usize),
}

// A cursor is an owned value that may move to a worker thread.
const _: fn() = || {
    fn owned<T: Send + 'static>() {}
    owned::<PageColumn>();
};

/// A fixed-width PLAIN value: implemented only for types of `WIDTH` bytes
/// that every bit pattern is a value of (a page may be decompressed straight
/// into their buffer, `PageColumn::direct_page`), on little-endian targets
/// (lightstream-core refuses others), where PLAIN's bytes are the values.
trait Le: Copy {
    const WIDTH: usize;
    fn from_le(b: &[u8]) -> Self;
}

macro_rules! le {
    ($t:ty, $w:expr) => {
        impl Le for $t {
            const WIDTH: usize = $w;
            #[inline]
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; $w];
                a.copy_from_slice(&b[..$w]);
                <$t>::from_le_bytes(a)
            }
        }
    };
}
le!(i32, 4);
le!(i64, 8);
le!(f32, 4);
le!(f64, 8);

#[inline]
fn bit(bits: &[u8], i: usize) -> bool {
    bits[i >> 3] >> (i & 7) & 1 == 1
}

impl PageColumn {
    /// Whether our decoders read `chunk` for `plan`, and then with which
    /// decompressor (None: the crate's `ColumnReader` reads it): a flat
    /// column of a physical type and target they hold, only encodings they
    /// know, and a codec we decompress.
    pub(super) fn handles(plan: &ColumnPlan, chunk: &ColumnChunkMetaData) -> Option<Codec> {
        let target = match plan.physical {
            PhysicalType::BYTE_ARRAY => {
                matches!(plan.decode, Decode::Utf8 { .. } | Decode::Dictionary(_))
            }
            PhysicalType::BOOLEAN
            | PhysicalType::INT32
            | PhysicalType::INT64
            | PhysicalType::FLOAT
            | PhysicalType::DOUBLE => plan.decode != Decode::Null,
            _ => false,
        };
        // A v1 page of an optional column with BIT_PACKED levels (the old
        // MSB-first packing) is the crate's.
        #[expect(deprecated)]
        let encodings_ok = chunk.encodings().all(|e| {
            OWN_ENCODINGS.contains(&e) && !(e == Encoding::BIT_PACKED && plan.max_def > 0)
        });
        if !(target && encodings_ok && (0..=1).contains(&plan.max_def)) {
            return None;
        }
        Codec::for_chunk(chunk.compression())
    }

    /// A cursor over the chunk whose pages are `pages` (pages.rs, checked),
    /// read from `input` and decompressed by `codec`.
    pub(super) fn new(
        input: Arc<dyn ChunkBytes>,
        pages: Vec<PageInfo>,
        codec: Codec,
        pool: PagePool,
        plan: &ColumnPlan,
    ) -> Self {
        PageColumn {
            input,
            pages,
            next: 0,
            codec,
            pool,
            physical: plan.physical,
            max_def: plan.max_def,
            dict: None,
            page: None,
            scratch: Vec::new(),
            last_text: (0, 0),
        }
    }

    /// The bytes of `page`, decompressed (levels of a v2 page included, as
    /// they are stored: uncompressed, in front).
    fn load(&mut self, page: &PageInfo) -> Result<Bytes> {
        let (levels, compressed) = match page.kind {
            PageKind::DataV2 {
                def_len,
                rep_len,
                is_compressed,
                ..
            } => {
                let levels = usize::try_from(def_len)
                    .ok()
                    .zip(usize::try_from(rep_len).ok())
                    .and_then(|(d, r)| d.checked_add(r))
                    .filter(|&l| l <= page.compressed && l <= page.uncompressed)
                    .ok_or_else(|| {
                        parquet_error(format!(
                            "levels of {rep_len} + {def_len} bytes in a page of {} bytes \
                             ({} uncompressed)",
                            page.compressed, page.uncompressed
                        ))
                    })?;
                (levels, is_compressed)
            }
            _ => (0, true),
        };
        // A page is lent for as long as it is read (a dictionary page for
        // its whole column chunk): held `long`. Only the compressed bytes of
        // a file page are given back at once.
        let in_memory = self.input.slice(page.body(), page.compressed);
        if !compressed || self.codec.is_none() {
            return match in_memory {
                Some(bytes) => Ok(bytes),
                None => {
                    let mut buf = self.pool.take(page.compressed, true);
                    self.input
                        .read_into(page.body(), &mut buf[..page.compressed])
                        .map_err(parquet_error)?;
                    Ok(self.pool.lend(buf, page.compressed))
                }
            };
        }
        let mut raw = Vec::new();
        let src = compressed_bytes(&*self.input, &self.pool, page, &in_memory, &mut raw)
            .map_err(parquet_error)?;
        // A page of nothing but levels (every value null) may have no
        // compressed stream at all, as the parquet crate reads it.
        let buf = if page.uncompressed > levels {
            let (buf, got) = self
                .codec
                .decompress_page(
                    &self.pool,
                    &src[..levels],
                    &src[levels..],
                    page.uncompressed,
                )
                .map_err(|e| {
                    parquet_error(format!(
                        "decompressing {} bytes into the {} its header declares: {e}",
                        page.compressed - levels,
                        page.uncompressed - levels
                    ))
                })?;
            if got != page.uncompressed - levels {
                return Err(parquet_error(format!(
                    "decompressed to {} bytes where its header declares {}",
                    got + levels,
                    page.uncompressed
                )));
            }
            buf
        } else {
            let mut buf = self.pool.take(levels, true);
            buf[..levels].copy_from_slice(&src[..levels]);
            buf
        };
        self.pool.give_back(raw);
        Ok(self.pool.lend(buf, page.uncompressed))
    }

    /// The next page decompressed straight into `out`'s spare room, when it
    /// is a whole PLAIN v1 page of a required column with at most `room`
    /// rows, of exactly that many values' bytes, and the codec writes into
    /// uninitialised memory ([`Codec::writes_uninit`]: zstd): no page buffer
    /// and no copy. Returns the
    /// rows added; 0 when the page is not such a page (the caller opens it
    /// as usual). The page's bytes are checked as on the usual path: the
    /// stream must decompress to exactly what its header declares.
    fn direct_page<T: Le>(&mut self, out: &mut Vec64<T>, room: usize) -> Result<usize> {
        let Some(&page) = self.pages.get(self.next) else {
            return Ok(0);
        };
        let PageKind::Data {
            num_values,
            encoding: PLAIN,
            ..
        } = page.kind
        else {
            return Ok(0);
        };
        let rows = usize::try_from(num_values).unwrap_or(usize::MAX);
        if self.max_def > 0
            || rows == 0
            || rows > room
            || rows.checked_mul(T::WIDTH) != Some(page.uncompressed)
            || !self.codec.writes_uninit()
        {
            return Ok(0);
        }
        out.reserve(rows);
        let spare = out.spare_capacity_mut();
        let Some(spare) = spare.get_mut(..rows) else {
            return Ok(0);
        };
        // SAFETY: `spare` is `rows` values of `T` of uninitialised memory
        // inside `out`'s allocation; the same memory as bytes is `rows *
        // T::WIDTH` bytes (`Le`'s `WIDTH` is `T`'s size), and `MaybeUninit<u8>`
        // has no alignment or validity requirement.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                spare.as_mut_ptr().cast::<std::mem::MaybeUninit<u8>>(),
                rows * std::mem::size_of::<T>(),
            )
        };
        let in_memory = self.input.slice(page.body(), page.compressed);
        let mut raw = Vec::new();
        let src = compressed_bytes(&*self.input, &self.pool, &page, &in_memory, &mut raw)
            .map_err(|e| parquet_error(format!("data page {}: {e}", self.next)))?;
        let got = self.codec.decompress_into(src, bytes);
        self.pool.give_back(raw);
        let k = self.next;
        let got = got.map_err(|e| {
            parquet_error(format!(
                "data page {k}: decompressing {} bytes into the {} its header declares: {e}",
                page.compressed, page.uncompressed
            ))
        })?;
        if got != page.uncompressed {
            return Err(parquet_error(format!(
                "data page {k}: decompressed to {got} bytes where its header declares {}",
                page.uncompressed
            )));
        }
        let len = out.len() + rows;
        // SAFETY: zstd wrote `got` = `rows * WIDTH` bytes, every byte of the
        // `rows` values after `out.len()` (reserved above), and every bit
        // pattern is a value of `T` (`Le`).
        unsafe { out.set_len(len) };
        self.next += 1;
        Ok(rows)
    }

    /// Reads the next data page (after the dictionary page, if any).
    fn next_page(&mut self) -> Result<DataPage> {
        loop {
            let k = self.next;
            let Some(&page) = self.pages.get(k) else {
                return Err(parquet_error("the column chunk ended early"));
            };
            self.next += 1;
            match self.open_page(&page) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => continue,
                Err(crate::Error::Parquet(m)) => {
                    let kind = match page.kind {
                        PageKind::Data { .. } => "data page",
                        PageKind::DataV2 { .. } => "data page (v2)",
                        PageKind::Dictionary { .. } => "dictionary page",
                        PageKind::Other(kind) => kind_name(kind),
                    };
                    return Err(parquet_error(format!("{kind} {k}: {m}")));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens `page`: a data page to read, or None after a dictionary or
    /// index page.
    fn open_page(&mut self, page: &PageInfo) -> Result<Option<DataPage>> {
        let (num_values, encoding) = match page.kind {
            // Index pages are skipped, as the parquet crate skips them.
            PageKind::Other(1) => return Ok(None),
            PageKind::Other(kind @ (0 | 2 | 3)) => {
                return Err(parquet_error(format!(
                    "a {} whose own header is missing or incomplete",
                    kind_name(kind)
                )));
            }
            PageKind::Other(kind) => {
                return Err(parquet_error(format!("a page of unknown type {kind}")));
            }
            PageKind::Dictionary {
                num_values,
                encoding,
            }
            | PageKind::Data {
                num_values,
                encoding,
                ..
            }
            | PageKind::DataV2 {
                num_values,
                encoding,
                ..
            } => (num_values, encoding),
        };
        let n = usize::try_from(num_values)
            .map_err(|_| parquet_error(format!("a page declares {num_values} values")))?;
        let buf = self.load(page)?;
        let (levels, values) = match page.kind {
            PageKind::Dictionary { .. } => {
                if self.dict.is_some() {
                    return Err(parquet_error("a second dictionary page"));
                }
                if !matches!(encoding, PLAIN | PLAIN_DICTIONARY) {
                    return Err(parquet_error(format!(
                        "a dictionary page encoded {}",
                        encoding_name(encoding)
                    )));
                }
                self.dict = Some(Dict::parse(self.physical, buf, n)?);
                return Ok(None);
            }
            PageKind::Data { def_encoding, .. } if self.max_def > 0 => {
                if def_encoding != RLE {
                    return Err(parquet_error(format!(
                        "definition levels encoded {}",
                        encoding_name(def_encoding)
                    )));
                }
                let (levels, used) = RleHybrid::v1_levels(&buf, 1, n)?;
                (Some(levels), buf.slice(used..))
            }
            PageKind::DataV2 {
                def_len, rep_len, ..
            } => {
                // load() checked both lengths against the page.
                let rep = usize::try_from(rep_len).unwrap_or(0);
                let end = rep + usize::try_from(def_len).unwrap_or(0);
                let levels = if self.max_def > 0 {
                    Some(RleHybrid::new(buf.slice(rep..end), 1, n)?)
                } else {
                    None
                };
                (levels, buf.slice(end..))
            }
            _ => (None, buf),
        };
        let decoder = match (encoding, self.physical) {
            (PLAIN, _) => PageValues::Plain { pos: 0 },
            (PLAIN_DICTIONARY | RLE_DICTIONARY, p) if p != PhysicalType::BOOLEAN => {
                if self.dict.is_none() {
                    return Err(parquet_error(
                        "a dictionary-encoded page without a dictionary page",
                    ));
                }
                PageValues::Dict(RleHybrid::indices(values.clone(), n)?)
            }
            (RLE, PhysicalType::BOOLEAN) => {
                PageValues::BoolRle(RleHybrid::v1_levels(&values, 1, n)?.0)
            }
            (e, p) => {
                return Err(parquet_error(format!(
                    "a data page of {p} encoded {}",
                    encoding_name(e)
                )));
            }
        };
        Ok(Some(DataPage {
            values,
            levels,
            rows_left: n,
            decoder,
        }))
    }
}

/// A page's error with where in the batch it came: after `done` of `n` rows.
fn after_rows(e: crate::Error, done: usize, n: usize) -> crate::Error {
    match e {
        crate::Error::Parquet(m) => parquet_error(format!("{m} (after {done} of {n} rows)")),
        other => other,
    }
}

/// A page's compressed bytes: the input's own (`in_memory`, no copy), or
/// read from the file into `raw`, a pool buffer the caller gives back.
fn compressed_bytes<'a>(
    input: &dyn ChunkBytes,
    pool: &PagePool,
    page: &PageInfo,
    in_memory: &'a Option<Bytes>,
    raw: &'a mut Vec<u8>,
) -> std::result::Result<&'a [u8], String> {
    if let Some(bytes) = in_memory {
        return Ok(bytes);
    }
    *raw = pool.take(page.compressed, false);
    let src = &mut raw[..page.compressed];
    input.read_into(page.body(), src)?;
    Ok(src)
}

/// parquet-format `Encoding` codes a page header may hold that our
/// decoders read.
const PLAIN: i32 = 0;
const PLAIN_DICTIONARY: i32 = 2;
const RLE: i32 = 3;
const RLE_DICTIONARY: i32 = 8;

/// The name of parquet-format encoding `code`, for errors.
fn encoding_name(code: i32) -> String {
    let name = match code {
        0 => "PLAIN",
        2 => "PLAIN_DICTIONARY",
        3 => "RLE",
        4 => "BIT_PACKED",
        5 => "DELTA_BINARY_PACKED",
        6 => "DELTA_LENGTH_BYTE_ARRAY",
        7 => "DELTA_BYTE_ARRAY",
        8 => "RLE_DICTIONARY",
        9 => "BYTE_STREAM_SPLIT",
        other => return format!("encoding {other}"),
    };
    name.into()
}

/// Where the values of one batch go.
enum Out {
    Text(TextBuilder),
    Bool(Vec<bool>),
    I32(Vec64<i32>),
    I64(Vec64<i64>),
    F32(Vec64<f32>),
    F64(Vec64<f64>),
}

impl PageColumn {
    /// The next `n` rows as `plan`'s array.
    pub(super) fn read(&mut self, plan: &ColumnPlan, n: usize) -> Result<FieldArray> {
        let mut out = match self.physical {
            PhysicalType::BYTE_ARRAY => {
                let mut b = TextBuilder::new(plan, n).ok_or_else(|| {
                    parquet_error(format!("byte arrays cannot become {:?}", plan.decode))
                })?;
                // The last batch's bytes, scaled to `n` rows but never above
                // them, and 1/32 more: a batch a few bytes longer than the
                // last would otherwise double its buffer (a copy of every
                // byte so far, and twice the memory), about every other batch
                // of strings of random lengths.
                let (rows, bytes) = self.last_text;
                if rows > 0 {
                    let like_last = if n >= rows { bytes } else { bytes / rows * n };
                    b.reserve(like_last + like_last / 32);
                }
                Out::Text(b)
            }
            PhysicalType::BOOLEAN => Out::Bool(Vec::with_capacity(n)),
            // Room for every row: the values are spread over the rows in place.
            PhysicalType::INT32 => Out::I32(Vec64::with_capacity(n)),
            PhysicalType::INT64 => Out::I64(Vec64::with_capacity(n)),
            PhysicalType::FLOAT => Out::F32(Vec64::with_capacity(n)),
            PhysicalType::DOUBLE => Out::F64(Vec64::with_capacity(n)),
            other => return Err(parquet_error(format!("unexpected physical type {other}"))),
        };
        let mut bits: Vec64<u8> = Vec64::new();
        if self.max_def > 0 {
            bits.resize(n.div_ceil(8), 0);
        }
        let mut valid = 0;
        let mut done = 0;
        while done < n {
            if self.page.as_ref().is_none_or(|p| p.rows_left == 0) {
                // The page read to its end gives its buffer back first, for
                // the next page to reuse.
                self.page = None;
                let room = n - done;
                let direct = match &mut out {
                    Out::I32(o) => self.direct_page(o, room),
                    Out::I64(o) => self.direct_page(o, room),
                    Out::F32(o) => self.direct_page(o, room),
                    Out::F64(o) => self.direct_page(o, room),
                    Out::Text(_) | Out::Bool(_) => Ok(0),
                }
                .map_err(|e| after_rows(e, done, n))?;
                if direct > 0 {
                    done += direct;
                    valid += direct;
                    continue;
                }
                let p = self.next_page().map_err(|e| after_rows(e, done, n))?;
                self.page = Some(p);
            }
            let Some(page) = self.page.as_mut() else {
                return Err(parquet_error("no data page"));
            };
            let k = page.rows_left.min(n - done);
            let v = match &mut page.levels {
                Some(levels) => levels.decode_validity(&mut bits, done, k)?,
                None => k,
            };
            let rows = (&bits[..], done, k);
            match &mut out {
                Out::Text(b) => {
                    text_piece(page, self.dict.as_ref(), &mut self.scratch, b, v, rows)?
                }
                Out::Bool(o) => bool_piece(page, &mut self.scratch, o, v)?,
                Out::I32(o) => fixed_piece(page, self.dict.as_ref(), &mut self.scratch, o, v)?,
                Out::I64(o) => fixed_piece(page, self.dict.as_ref(), &mut self.scratch, o, v)?,
                Out::F32(o) => fixed_piece(page, self.dict.as_ref(), &mut self.scratch, o, v)?,
                Out::F64(o) => fixed_piece(page, self.dict.as_ref(), &mut self.scratch, o, v)?,
            }
            page.rows_left -= k;
            done += k;
            valid += v;
        }
        let rows = if self.max_def > 0 {
            Rows::from_bits(bits, valid, n)
        } else {
            Rows::from_bits(Vec64::new(), n, n)
        };
        let dense = match out {
            Out::Text(b) => {
                self.last_text = (n, b.data_len());
                return b.finish(plan, rows);
            }
            Out::Bool(v) => return build(plan, Values::Bool(v), rows),
            Out::I32(v) => Dense::I32(v),
            Out::I64(v) => Dense::I64(v),
            Out::F32(v) => Dense::F32(v),
            Out::F64(v) => Dense::F64(v),
        };
        build_dense(plan, dense, rows)
    }
}

/// Reads `v` dictionary indices of `page` into `scratch`, checked below the
/// dictionary's length.
fn indices<'s>(
    ix: &mut RleHybrid,
    scratch: &'s mut Vec<u32>,
    v: usize,
    dict_len: usize,
) -> Result<&'s [u32]> {
    // `v` is at most the batch size the caller asked for. The scratch only
    // grows (zeroed once), so a smaller piece does not make the next larger
    // one zero-fill it again.
    if scratch.len() < v {
        scratch.resize(v, 0);
    }
    let got = ix.decode_indices(&mut scratch[..v], dict_len)?;
    if got != v {
        return Err(parquet_error(format!(
            "{got} dictionary indices for {v} values"
        )));
    }
    Ok(&scratch[..v])
}

/// `v` fixed-width values of `page` appended to `out`.
fn fixed_piece<T: Le>(
    page: &mut DataPage,
    dict: Option<&Dict>,
    scratch: &mut Vec<u32>,
    out: &mut Vec64<T>,
    v: usize,
) -> Result<()> {
    match &mut page.decoder {
        PageValues::Plain { pos } => {
            let bytes = v
                .checked_mul(T::WIDTH)
                .and_then(|len| page.values.get(*pos..*pos + len))
                .ok_or_else(|| parquet_error(format!("the page ends before its {v} values")))?;
            out.extend(bytes.chunks_exact(T::WIDTH).map(T::from_le));
            *pos += bytes.len();
        }
        PageValues::Dict(ix) => {
            let Some(Dict::Fixed { bytes, width, len }) = dict else {
                return Err(parquet_error("a dictionary of another type"));
            };
            if *width != T::WIDTH {
                return Err(parquet_error("a dictionary of another width"));
            }
            // Every index is below `len`, and `len * width` bytes are there.
            // One `extend` (no capacity check per value), each value read
            // from its fixed-size entry.
            let bytes: &[u8] = bytes;
            out.extend(indices(ix, scratch, v, *len)?.iter().map(|&i| {
                let at = i as usize * T::WIDTH;
                T::from_le(&bytes[at..at + T::WIDTH])
            }));
        }
        PageValues::BoolRle(_) => return Err(parquet_error("RLE values of a non-boolean")),
    }
    Ok(())
}

/// `v` booleans of `page` appended to `out`.
fn bool_piece(
    page: &mut DataPage,
    scratch: &mut Vec<u32>,
    out: &mut Vec<bool>,
    v: usize,
) -> Result<()> {
    match &mut page.decoder {
        PageValues::Plain { pos } => {
            if pos.checked_add(v).is_none_or(|e| e > page.values.len() * 8) {
                return Err(parquet_error(format!(
                    "the page ends before its {v} values"
                )));
            }
            out.extend((*pos..*pos + v).map(|i| bit(&page.values, i)));
            *pos += v;
        }
        PageValues::BoolRle(r) => {
            scratch.resize(v, 0);
            let got = r.decode(&mut scratch[..v])?;
            if got != v {
                return Err(parquet_error(format!("{got} booleans for {v} values")));
            }
            out.extend(scratch[..v].iter().map(|&b| b != 0));
        }
        PageValues::Dict(_) => return Err(parquet_error("dictionary-encoded booleans")),
    }
    Ok(())
}

/// `v` byte arrays of `page` into `out`, spread over the rows `rows` (the
/// validity bits, empty when every row is valid; the first row of the piece
/// in the batch; its row count).
fn text_piece(
    page: &mut DataPage,
    dict: Option<&Dict>,
    scratch: &mut Vec<u32>,
    out: &mut TextBuilder,
    v: usize,
    rows: (&[u8], usize, usize),
) -> Result<()> {
    let (bits, first, k) = rows;
    let all_valid = v == k;
    match &mut page.decoder {
        PageValues::Plain { pos } => {
            // Pass 1: the spans, each checked present, and the bytes they
            // take; pass 2: one copy each into the reserved buffer.
            let values = &page.values;
            let start = *pos;
            let mut end = start;
            let mut total = 0;
            for _ in 0..v {
                let ((a, b), next) = plain_span(values, end, "page")?;
                total += b - a;
                end = next;
            }
            out.reserve(total);
            let mut at = start;
            for r in 0..k {
                if all_valid || bit(bits, first + r) {
                    let ((a, b), next) = plain_span(values, at, "page")?;
                    out.push(&values[a..b])?;
                    at = next;
                } else {
                    out.push_null()?;
                }
            }
            *pos = end;
        }
        PageValues::Dict(ix) => {
            let Some(Dict::Strings { bytes, spans, bad }) = dict else {
                return Err(parquet_error("a dictionary of another type"));
            };
            let idx = indices(ix, scratch, v, spans.len())?;
            // Every index is below the length: the spans were checked present.
            // Rows with nulls go row by row into room reserved here; a piece
            // without nulls reserves its own (`Entries::entries`).
            let dict = DictText { bytes, spans, bad };
            if out.is_strings() && !all_valid {
                out.reserve(
                    idx.iter()
                        .map(|&i| {
                            let (a, b) = dict.span(i as usize);
                            b - a
                        })
                        .sum(),
                );
            }
            out.push_indexed(&dict, idx, (!all_valid).then_some((bits, first)), k)?;
        }
        PageValues::BoolRle(_) => return Err(parquet_error("RLE values of byte arrays")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lightstream_core::minarrow::Table;
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use parquet::column::page::{CompressedPage, Page};
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::SerializedFileReader;

    use super::*;
    use crate::parquet::pages::index_chunk;
    use crate::parquet::pages::tests::{
        crate_file, crate_file_of, crate_file_values, required_values,
    };
    use crate::parquet::{ParquetReadOptions, ParquetReader};

    const ROWS: usize = 3000;

    /// A file the crate writes: dictionary strings with nulls (and a
    /// dictionary small enough to overflow into PLAIN pages), required
    /// INT64, optional DOUBLE and BOOLEAN; small pages, two row groups.
    fn file(v2: bool, dictionary_limit: usize) -> Bytes {
        let schema = parse_message_type(
            "message m { optional binary s (UTF8); required int64 i; \
             optional double d; optional boolean b; }",
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_writer_version(if v2 {
                WriterVersion::PARQUET_2_0
            } else {
                WriterVersion::PARQUET_1_0
            })
            .set_data_page_row_count_limit(700)
            .set_write_batch_size(100)
            .set_dictionary_page_size_limit(dictionary_limit)
            .build();
        let mut out = Vec::new();
        let mut w = SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).unwrap();
        for group in 0..2 {
            let defs: Vec<i16> = (0..ROWS).map(|i| i16::from(i % 7 != 3)).collect();
            let valid = |i: &usize| i % 7 != 3;
            let s: Vec<ByteArray> = (0..ROWS)
                .filter(valid)
                .map(|i| (i * 31 + group) % 500)
                // Values shorter and longer than StrBuilder's 16-byte copy.
                .map(|k| ByteArray::from(format!("é{k}{}", "x".repeat(k % 40)).as_str()))
                .collect();
            let i64s: Vec<i64> = (0..ROWS as i64).map(|i| (i % 300) * -7).collect();
            let d: Vec<f64> = (0..ROWS).filter(valid).map(|i| i as f64 / 8.0).collect();
            let b: Vec<bool> = (0..ROWS).filter(valid).map(|i| i % 3 == 0).collect();
            let mut rg = w.next_row_group().unwrap();
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(&s, Some(&defs), None)
                .unwrap();
            c.close().unwrap();
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<Int64Type>()
                .write_batch(&i64s, None, None)
                .unwrap();
            c.close().unwrap();
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<DoubleType>()
                .write_batch(&d, Some(&defs), None)
                .unwrap();
            c.close().unwrap();
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<BoolType>()
                .write_batch(&b, Some(&defs), None)
                .unwrap();
            c.close().unwrap();
            rg.close().unwrap();
        }
        w.close().unwrap();
        Bytes::from(out)
    }

    fn read(bytes: &Bytes, batch: usize, own: bool) -> Result<Vec<Table>, String> {
        let options = ParquetReadOptions {
            batch_size: batch,
            ..Default::default()
        };
        let r =
            ParquetReader::from_bytes(bytes.clone(), "t", options).map_err(|e| e.to_string())?;
        let r = if own { r } else { r.with_crate_decoders() };
        r.collect::<crate::Result<Vec<_>>>()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn our_pages_give_what_the_crates_reader_gives() {
        for v2 in [false, true] {
            for limit in [1 << 20, 600] {
                let bytes = file(v2, limit);
                // Every column of the file is ours.
                let mut r =
                    ParquetReader::from_bytes(bytes.clone(), "t", Default::default()).unwrap();
                assert!(r.next().is_some());
                // The crate's v2 writer falls back from the dictionary to
                // DELTA_BYTE_ARRAY: that chunk stays on the crate's path.
                let fallback = v2 && limit < 1000;
                assert_eq!(r.reads_pages(0), !fallback, "v2 {v2}, limit {limit}");
                assert!((2..4).all(|c| r.reads_pages(c)), "v2 {v2}, limit {limit}");
                for batch in [1, 7, 700, 65_536] {
                    let ours = read(&bytes, batch, true).unwrap();
                    let theirs = read(&bytes, batch, false).unwrap();
                    assert_eq!(ours.len(), theirs.len());
                    for (a, b) in ours.iter().zip(&theirs) {
                        assert_eq!(a.cols, b.cols, "v2 {v2}, limit {limit}, batch {batch}");
                    }
                }
            }
        }
    }

    #[test]
    fn corrupt_pages_are_errors_never_panics() {
        // Bytes changed across the first row group's pages: our decoders
        // either read values or give an error, never a panic (the reader's
        // guard would name a panic "failed on corrupt input").
        let bytes = file(true, 600);
        let len = bytes.len();
        let mut checked = 0;
        for at in (4..len / 2).step_by(len / 400) {
            for v in [0xffu8, 0x41] {
                let mut b = bytes.to_vec();
                b[at] = v;
                let b = Bytes::from(b);
                if let Err(e) = read(&b, 1000, true) {
                    let theirs = read(&b, 1000, false).err();
                    let panicked = |m: &str| m.contains("failed on corrupt input");
                    if panicked(&e) {
                        assert!(theirs.as_deref().is_some_and(panicked), "{e} at {at}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 50, "{checked}");
    }

    /// Rows of column 0 (int32) of `tables`.
    fn ints(tables: &[Table]) -> Vec<Option<i32>> {
        use lightstream_core::minarrow::{Array, NumericArray};
        let mut out = Vec::new();
        for t in tables {
            let Array::NumericArray(NumericArray::Int32(a)) = &t.cols[0].array else {
                panic!("not int32: {:?}", t.cols[0].field);
            };
            for i in 0..t.n_rows {
                let valid = a.null_mask.as_ref().is_none_or(|m| m.get(i));
                out.push(valid.then(|| a.data[i]));
            }
        }
        out
    }

    /// `bytes` read through both inputs, memory (zero-copy page slices) and
    /// a file on disk (pages read into reused buffers): they must agree,
    /// tables or error.
    fn read_both(bytes: &[u8], batch: usize) -> Result<Vec<Table>, String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "lightstream-column-{}-{}.parquet",
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).unwrap();
        let options = ParquetReadOptions {
            batch_size: batch,
            ..Default::default()
        };
        let label = path.display().to_string();
        let from_file = ParquetReader::open(&path, options)
            .and_then(|r| r.collect::<crate::Result<Vec<_>>>())
            .map_err(|e| e.to_string().replace(&label, "t"));
        std::fs::remove_file(&path).ok();
        let from_memory = read(&Bytes::copy_from_slice(bytes), batch, true);
        match (&from_file, &from_memory) {
            (Ok(a), Ok(b)) => assert!(a.iter().zip(b).all(|(a, b)| a.cols == b.cols)),
            _ => assert_eq!(from_file.as_ref().err(), from_memory.as_ref().err()),
        }
        from_memory
    }

    /// The page of a (Zstd) v2 data page stored with its values
    /// uncompressed and `is_compressed` false, as writers may store a page
    /// that compression does not shrink.
    fn stored_uncompressed(page: CompressedPage) -> CompressedPage {
        let uncompressed = page.uncompressed_size();
        let mut p = page.compressed_page().clone();
        let Page::DataPageV2 {
            buf,
            def_levels_byte_len,
            rep_levels_byte_len,
            is_compressed,
            ..
        } = &mut p
        else {
            return page;
        };
        let levels = (*def_levels_byte_len + *rep_levels_byte_len) as usize;
        let mut plain = buf[..levels].to_vec();
        plain.extend(zstd::stream::decode_all(&buf[levels..]).unwrap());
        assert_eq!(plain.len(), uncompressed);
        *buf = Bytes::from(plain);
        *is_compressed = false;
        CompressedPage::new(p, uncompressed)
    }

    #[test]
    fn v2_pages_stored_uncompressed_in_a_zstd_chunk_read_as_stored() {
        for dictionary in [false, true] {
            let bytes = crate_file(true, dictionary, stored_uncompressed);
            // The file holds such pages (the walk sees the flag).
            let meta = SerializedFileReader::new(Bytes::from(bytes.clone())).unwrap();
            let chunk = meta.metadata().row_group(0).column(0);
            let (start, len) = chunk.byte_range();
            let pages = index_chunk(&Bytes::from(bytes.clone()), start, len, 1 << 20).unwrap();
            let stored = |p: &PageInfo| {
                matches!(
                    p.kind,
                    PageKind::DataV2 {
                        is_compressed: false,
                        ..
                    }
                )
            };
            assert_eq!(pages.iter().filter(|p| stored(p)).count(), 4);
            let mut r =
                ParquetReader::from_bytes(Bytes::from(bytes.clone()), "t", Default::default())
                    .unwrap();
            assert!(r.next().is_some_and(|t| t.is_ok()) && r.reads_pages(0));
            for batch in [7, 1000] {
                let ours = read_both(&bytes, batch).unwrap();
                assert_eq!(ints(&ours), crate_file_values(), "dictionary {dictionary}");
                let theirs = read(&Bytes::from(bytes.clone()), batch, false).unwrap();
                assert_eq!(ints(&theirs), crate_file_values());
            }
            // Compressed v2 and v1 pages of the same values, both inputs.
            for v2 in [false, true] {
                let bytes = crate_file(v2, dictionary, |p| p);
                assert_eq!(ints(&read_both(&bytes, 64).unwrap()), crate_file_values());
            }
        }
    }

    #[test]
    fn a_page_decompressing_to_another_size_than_declared_is_an_error() {
        for (v2, dictionary, delta) in [
            (false, false, 1i64),
            (false, false, -1),
            (true, false, 1),
            (true, true, -3),
            (false, true, 5),
        ] {
            // The second page (the first data page after a dictionary page)
            // declares `delta` more bytes than its data decompresses to.
            let mut k = 0;
            let bytes = crate_file(v2, dictionary, move |page| {
                k += 1;
                if k != 2 {
                    return page;
                }
                let claim = page.uncompressed_size() as i64 + delta;
                CompressedPage::new(page.compressed_page().clone(), claim as usize)
            });
            let err = read_both(&bytes, 1000).unwrap_err();
            let page = if v2 {
                "data page (v2) 1"
            } else {
                "data page 1"
            };
            for part in ["t: row group 0", "column \"v\"", page, "declares"] {
                assert!(err.contains(part), "{part:?} missing from: {err}");
            }
        }
    }

    /// PLAIN pages of a required column (100 rows each, zstd) read straight
    /// into the column where a whole page fits in what is left of the batch
    /// (most pages with batches of 299 and up) and through a page buffer
    /// where it does not (batches of 1 and 7, pages that straddle two
    /// batches): the same values either way, from memory and from a file, as the crate's
    /// reader gives. A stream shorter or longer than its header declares is
    /// an error that names the page, on both inputs.
    #[test]
    fn whole_pages_decompressed_into_the_column_read_as_through_a_buffer() {
        for v2 in [false, true] {
            let bytes = crate_file_of(true, v2, false, |p| p);
            for batch in [1, 7, 299, 300, 1000, 65_536] {
                let ours = read_both(&bytes, batch).unwrap();
                assert_eq!(ints(&ours), required_values(), "v2 {v2}, batch {batch}");
                let theirs = read(&Bytes::from(bytes.clone()), batch, false).unwrap();
                assert_eq!(ints(&theirs), required_values());
            }
        }
        for extra in [-4i64, 4] {
            // The first data page's stream decompresses to 4 bytes less (or
            // more) than the 400 its header declares for its 100 values.
            let mut k = 0;
            let bytes = crate_file_of(true, false, false, move |page| {
                k += 1;
                if k != 1 {
                    return page;
                }
                let declared = page.uncompressed_size();
                let mut p = page.compressed_page().clone();
                let Page::DataPage { buf, .. } = &mut p else {
                    return page;
                };
                let mut plain = zstd::stream::decode_all(&buf[..]).unwrap();
                assert_eq!(plain.len(), declared);
                plain.resize((declared as i64 + extra) as usize, 0);
                *buf = Bytes::from(zstd::bulk::compress(&plain, 1).unwrap());
                CompressedPage::new(p, declared)
            });
            for batch in [300, 1000] {
                let err = read_both(&bytes, batch).unwrap_err();
                for part in ["column \"v\"", "data page 0", "declares"] {
                    assert!(err.contains(part), "{part:?} missing from: {err}");
                }
            }
        }
    }

    #[test]
    fn truncated_page_bytes_are_an_error() {
        for (v2, dictionary) in [(false, false), (true, false), (false, true), (true, true)] {
            for cut in [1, 5, 20] {
                // Every page loses its last `cut` bytes (its header says so):
                // the compressed streams end early.
                let bytes = crate_file(v2, dictionary, move |page| {
                    let uncompressed = page.uncompressed_size();
                    let mut p = page.compressed_page().clone();
                    let short = |b: &Bytes| b.slice(..b.len().saturating_sub(cut));
                    match &mut p {
                        Page::DataPage { buf, .. }
                        | Page::DataPageV2 { buf, .. }
                        | Page::DictionaryPage { buf, .. } => *buf = short(buf),
                    }
                    CompressedPage::new(p, uncompressed)
                });
                let err = read_both(&bytes, 1000).unwrap_err();
                let page = match (v2, dictionary) {
                    (_, true) => "dictionary page 0: ",
                    (true, false) => "data page (v2) 0: ",
                    (false, false) => "data page 0: ",
                };
                assert!(err.contains(page), "{err}");
                assert!(err.contains("column \"v\""), "{err}");
                assert!(!err.contains("failed on corrupt input"), "{err}");
            }
        }
    }
}
