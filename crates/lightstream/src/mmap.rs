//! Memory-mapped Arrow IPC files and streams (feature `mmap`).
//!
//! [`MmapFile::open`] maps an IPC file read-only and checks its magics,
//! footer and every block against the file size before any batch is read;
//! [`MmapFile::read_batch`] then decodes any batch on demand: it verifies the
//! batch's metadata where it lies in the map and checks every node, buffer
//! offset and length (and, for strings and dictionaries, every offset, key
//! and UTF-8 byte) before use. The mapping stays alive, reference counted, as
//! long as any table or column points into it, so tables may outlive the
//! `MmapFile`.
//!
//! # What is borrowed and what is copied
//!
//! A column buffer is used in place, pointing into the map, whenever minarrow
//! can legally hold it there: when it starts aligned for its element type
//! (`align_of::<T>()`: 1 for strings' bytes, 4 for `i32`/`f32`/Utf8 offsets,
//! 8 for `i64`/`f64`/timestamps/LargeUtf8 offsets, 16 for `i128` decimals on
//! x86-64 and aarch64) and, for validity and boolean bitmaps, on an 8-byte
//! boundary (minarrow reads them as `u64` words). So every buffer of a
//! Lightstream file (64-byte aligned) and of a pyarrow or arrow-rs file
//! (8-byte aligned) is borrowed, except `Decimal128` values that are only
//! 8-byte aligned. A buffer that is not aligned for its type is copied once,
//! into 64-byte aligned memory, when its batch is read (eagerly, per buffer,
//! at memcpy speed). Compressed buffers are decompressed into fresh memory.
//! Dictionaries are decoded into minarrow's string dictionaries when the file
//! is opened.
//!
//! Borrowed buffers keep the file's alignment: 64 bytes in Lightstream's
//! files, possibly only 8 in others'. minarrow's SIMD kernels check for
//! 64-byte alignment and take a scalar path without it; when that matters,
//! [`ReadOptions::align_64`] (or [`MmapOptions::align_64`]) copies each batch
//! whose buffers are not all 64-byte aligned into 64-byte aligned memory as
//! it is read (one copy of the batch's body, each buffer moved to a 64-byte
//! boundary). [`MmapFile::bytes_borrowed`] and [`MmapFile::bytes_copied`]
//! say which happened.
//!
//! # Metadata through `pread`
//!
//! [`MmapFile::read_batch`] reads the batch's message prefix and metadata (up
//! to 2 KiB) with `pread` rather than through the map: the first touch of a
//! page of a fresh map is a page fault (about 4.5 µs in the VM the benchmark
//! ran in), one per batch, which cost more than decoding the batch. The
//! column buffers are borrowed from the map. Both are the same file's bytes,
//! checked the same way.
//!
//! # Advice
//!
//! [`MmapOptions::advice`] passes an `madvise` hint for the whole mapping when
//! it is made, and [`MmapFile::advise_batch`] one for a single batch. They
//! change timing, never results. None is given by default: on a warm page
//! cache, summing a column of a 2.4 GB file (`benches/benches/mmap.rs`),
//! `Sequential`, `WillNeed` and `HugePage` changed nothing measurable and
//! `PopulateRead` was 2.5 times slower (it maps every page of every column).
//! A scan of a fresh map pays one page fault per 64 KiB read (the kernel's
//! fault-around), which is what separates it from the same values in memory.
//!
//! [`MmapStream::open`] maps an IPC stream file and yields its tables in
//! order, through the core's `IpcStreamDriver` over the map (the decoder's
//! `push_shared`): buffers are borrowed
//! from the map and copied exactly as for a file (above), `align_64` included.
//!
//! ```
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::mmap::MmapFile;
//! use lightstream::{write_file, ReadOptions, Schema, WriteOptions};
//!
//! let path = std::env::temp_dir().join(format!("lightstream-doc-{}.arrow", std::process::id()));
//! let batches: Vec<_> = (0..4).map(|i| tbl!("t", fa_i64!("n", i, i * 10))).collect();
//! let bytes = write_file(&Schema::from_table(&batches[0]), &batches, &WriteOptions::default())?;
//! std::fs::write(&path, bytes).expect("a temporary file");
//!
//! let file = MmapFile::open(&path, ReadOptions::default())?;
//! let third = file.read_batch(2)?; // no other batch is read
//! drop(file); // the table keeps the mapping alive
//! assert_eq!(third.cols[0].array.num().i64().data.as_slice(), [2, 20]);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), lightstream::Error>(())
//! ```
//!
//! [The native API guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md#memory-mapped-files-lightstreammmap-feature-mmap)
//! has the rest: projections, `advise_batch`, the counters.
//!
//! Bytes are never read past the end of the mapping: every offset and length
//! from the file is checked against its size by the core. What a map cannot
//! protect against is another process truncating or rewriting the file while
//! it is mapped: reading a page past the new end raises SIGBUS, and changed
//! bytes change the tables. Map only files that are not modified while open.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream_core::minarrow::Table;
use lightstream_core::{
    FieldInfo, IpcFileReader, IpcStreamDriver, ReadOptions, Schema, SharedBuffer, SharedInput,
    StreamItem,
};
use memmap2::Mmap;

use crate::error::{Error, Result};

/// A codec error with what was being read in front of its message (its kind
/// is kept; its location stays in the message).
fn in_file(e: lightstream_core::Error, what: String) -> Error {
    Error::Codec(lightstream_core::Error::new(
        e.kind(),
        format!("{what}: {e}"),
    ))
}

/// Advice to the kernel about how a mapping will be read (`madvise`), re-exported
/// from memmap2: see [`MmapOptions::advice`].
#[cfg(unix)]
pub use memmap2::Advice;

/// How [`MmapFile::open_with`] maps and reads a file. The default is what
/// [`MmapFile::open`] does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmapOptions {
    /// `madvise` advice for the whole mapping, given once right after it is
    /// made (`None`, the default: none, the kernel's usual read-ahead and
    /// fault-around). An advice the kernel refuses is ignored: it never changes
    /// what is read. See the module docs for what helps a full scan.
    #[cfg(unix)]
    pub advice: Option<Advice>,
    /// Copy each record batch whose buffers are not all 64-byte aligned (an
    /// 8-byte aligned file, as pyarrow writes) into 64-byte aligned memory when
    /// it is read, instead of borrowing its buffers from the map. For
    /// consumers that want every buffer 64-byte aligned (minarrow's SIMD
    /// kernels take a scalar path otherwise). Off by default; the same as
    /// [`ReadOptions::align_64`], and either turns it on.
    pub align_64: bool,
}

/// The mapping, owned by the shared buffer the tables borrow.
struct MapOwner(Arc<Mmap>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Opens the regular file at `path` and maps it read-only (`None` for an
/// empty file).
fn open_map(path: &Path) -> Result<(Option<Arc<Mmap>>, File)> {
    let what = || format!("memory-mapping {}", path.display());
    let file = File::open(path).map_err(|e| Error::io(what(), e))?;
    let meta = file.metadata().map_err(|e| Error::io(what(), e))?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let map = map_opened(&file).map_err(|e| Error::io(what(), e))?;
    Ok((map, file))
}

/// Maps `path` read-only into a shared buffer that owns the mapping (and a
/// handle on the mapping, for advice; `None` for an empty file).
fn map(path: &Path) -> Result<(SharedBuffer, Option<Arc<Mmap>>, File)> {
    match open_map(path)? {
        (Some(mmap), file) => Ok((
            SharedBuffer::from_owner(MapOwner(mmap.clone())),
            Some(mmap),
            file,
        )),
        // An empty map is not allowed on every platform; nothing to decode.
        (None, file) => Ok((SharedBuffer::from_vec(Vec::new()), None, file)),
    }
}

/// Maps the regular file at `path` read-only as `Bytes` that own the mapping
/// (empty for an empty file): the input of
/// [`ParquetReader::open_mapped`](crate::parquet::ParquetReader::open_mapped),
/// whose pages are then slices of the map. The same condition of use as
/// every map (see the module docs).
#[cfg(feature = "parquet")]
pub(crate) fn map_bytes(path: &Path) -> Result<lightstream_core::bytes::Bytes> {
    use lightstream_core::bytes::Bytes;
    Ok(match open_map(path)?.0 {
        Some(mmap) => Bytes::from_owner(MapOwner(mmap)),
        None => Bytes::new(),
    })
}

/// Maps an open regular file read-only; `None` for an empty one (an empty
/// map is not allowed on every platform). Also the CSV reader's mapping.
pub(crate) fn map_opened(file: &File) -> std::io::Result<Option<Arc<Mmap>>> {
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the mapping is read-only and private to this process. The
    // documented condition of use (see the module docs) is that the file is
    // not truncated or modified while mapped; the readers never read outside
    // the mapping's length.
    Ok(Some(Arc::new(unsafe { Mmap::map(file) }?)))
}

/// Maps the file at `path` read-only and returns its bytes as a
/// [`SharedBuffer`] that owns the mapping: for handing a file to the core's
/// readers ([`IpcFileReader::new`], [`lightstream_core::read_file`]) without
/// reading it into memory. Tables decoded from it borrow the map and keep it
/// alive. The same condition of use as every map (see the module docs): the
/// file must not be truncated or modified while mapped.
///
/// ```
/// use lightstream::lightstream_core::IpcFileReader;
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{mmap, write_file, ReadOptions, Schema, WriteOptions};
///
/// let path = std::env::temp_dir().join(format!("ls-doc-map-{}.arrow", std::process::id()));
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_file(&Schema::from_table(&table), &[table], &WriteOptions::default())?;
/// std::fs::write(&path, bytes).expect("a temporary file");
///
/// let reader = IpcFileReader::new(mmap::map_file(&path)?, ReadOptions::default())?;
/// assert_eq!(reader.read_batch(0)?.n_rows, 3);
/// assert!(reader.bytes_borrowed() > 0); // the column points into the map
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), lightstream::Error>(())
/// ```
pub fn map_file(path: impl AsRef<Path>) -> Result<SharedBuffer> {
    map(path.as_ref()).map(|(bytes, _, _)| bytes)
}

/// An Arrow IPC file, memory-mapped, with random access to its batches.
///
/// Only the columns asked for are decoded, and their buffers are borrowed
/// from the map:
///
/// ```
/// use lightstream::minarrow::{fa_f64, fa_i64, tbl};
/// use lightstream::mmap::MmapFile;
/// use lightstream::{write_file, ReadOptions, Schema, WriteOptions};
///
/// let path = std::env::temp_dir().join(format!("lightstream-doc-px-{}.arrow", std::process::id()));
/// let table = tbl!("t", fa_i64!("ts", 1, 2), fa_f64!("px", 1.5, 2.5));
/// let bytes = write_file(&Schema::from_table(&table), &[table], &WriteOptions::default())?;
/// std::fs::write(&path, bytes).expect("a temporary file");
///
/// let file = MmapFile::open(&path, ReadOptions::default())?;
/// let px = file.column_indices(&["px"])?;
/// let narrow = file.read_batch_columns(0, &px)?;
/// assert_eq!(narrow.cols[0].array.num().f64().data.as_slice(), [1.5, 2.5]);
/// assert_eq!((file.bytes_borrowed(), file.bytes_copied()), (16, 0));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct MmapFile {
    path: PathBuf,
    /// The file, for reading batch metadata with `pread` (see `read_batch`).
    file: Option<File>,
    bytes: SharedBuffer,
    map: Option<Arc<Mmap>>,
    reader: IpcFileReader,
}

/// Bytes of a batch's message read with `pread` before it is decoded: its
/// prefix and metadata when they are this short (a few hundred bytes for a
/// handful of columns). Longer metadata is read through the map.
const HEAD_BYTES: usize = 2048;

impl MmapFile {
    /// Maps and validates the IPC file at `path` (magics, footer, every
    /// block against the file size, schema and dictionaries). `options`
    /// carries the limits and an optional projection of columns.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<MmapFile> {
        MmapFile::open_with(path, options, MmapOptions::default())
    }

    /// [`MmapFile::open`] with mapping options: advice to the kernel, and
    /// 64-byte alignment of every buffer at the cost of copies.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: ReadOptions,
        mmap: MmapOptions,
    ) -> Result<MmapFile> {
        let path = path.as_ref().to_path_buf();
        let (bytes, map, file) = map(&path)?;
        #[cfg(unix)]
        if let (Some(advice), Some(m)) = (mmap.advice, &map) {
            // Only a hint: an older kernel without this advice reads the same bytes.
            let _ = m.advise(advice);
        }
        let mut reader = IpcFileReader::new(bytes.clone(), options)
            .map_err(|e| in_file(e, format!("reading the IPC file {}", path.display())))?;
        if mmap.align_64 {
            reader.set_align_64(true);
        }
        Ok(MmapFile {
            path,
            file: Some(file),
            bytes,
            map,
            reader,
        })
    }

    /// Where batch `i` lies in the file: the offset of its message and the
    /// length of its metadata and body, as the footer's block says.
    pub fn batch_range(&self, i: usize) -> Option<(usize, usize)> {
        self.reader.batch_range(i)
    }

    /// Gives the kernel `advice` about the bytes of batch `i` (its metadata
    /// and body), e.g. [`Advice::WillNeed`] ahead of reading it. A hint only;
    /// an error is the kernel refusing it (or `i` out of range).
    #[cfg(unix)]
    pub fn advise_batch(&self, i: usize, advice: Advice) -> Result<()> {
        let (Some(map), Some((offset, len))) = (&self.map, self.reader.batch_range(i)) else {
            return Err(Error::Config(format!(
                "batch {i} of {} ({} batches) cannot be advised",
                self.path.display(),
                self.num_batches()
            )));
        };
        map.advise_range(advice, offset, len)
            .map_err(|e| Error::io(format!("advising {}", self.path.display()), e))
    }

    /// The (projected) schema.
    pub fn schema(&self) -> &Arc<Schema> {
        self.reader.schema()
    }

    /// Every field of the file as Arrow describes it, supported or not.
    pub fn fields(&self) -> &[FieldInfo] {
        self.reader.fields()
    }

    /// Number of record batches.
    pub fn num_batches(&self) -> usize {
        self.reader.num_batches()
    }

    /// Size of the mapped file in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty file (which `open` refuses, so never in practice).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The mapped bytes (shared; cloning does not copy).
    pub fn bytes(&self) -> &SharedBuffer {
        &self.bytes
    }

    /// Bytes of column buffers the batches read so far use in place, in the
    /// map (see [`IpcFileReader::bytes_borrowed`]).
    pub fn bytes_borrowed(&self) -> u64 {
        self.reader.bytes_borrowed()
    }

    /// Bytes the batches read so far were copied: bodies moved to 64-byte
    /// boundaries for `align_64`, buffers not aligned for their type (see
    /// [`IpcFileReader::bytes_copied`]).
    pub fn bytes_copied(&self) -> u64 {
        self.reader.bytes_copied()
    }

    /// Decodes batch `i` (an error names the batch and the file when `i` is
    /// out of range or the batch is malformed).
    ///
    /// The batch's message metadata (a few hundred bytes) is read with
    /// `pread` rather than through the map, which would take a page fault
    /// per batch (several microseconds in a VM); its column buffers are
    /// borrowed from the map. Both are the same file's bytes, checked the same.
    pub fn read_batch(&self, i: usize) -> Result<Table> {
        let mut head = [0u8; HEAD_BYTES];
        let head = self.head(i, &mut head);
        let read = self.reader.read_batch_with_head(i, head);
        self.in_this_file(read, i)
    }

    /// The index in [`MmapFile::fields`] of each named column, in the order
    /// given (see [`IpcFileReader::column_indices`]).
    pub fn column_indices<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<usize>> {
        self.reader.column_indices(names).map_err(Error::Codec)
    }

    /// Decodes batch `i` with only `columns` (indices into
    /// [`MmapFile::fields`], in the order wanted), whatever projection the
    /// file was opened with: the pages of the other columns are not touched.
    pub fn read_batch_columns(&self, i: usize, columns: &[usize]) -> Result<Table> {
        let mut head = [0u8; HEAD_BYTES];
        let head = self.head(i, &mut head);
        let read = self.reader.read_batch_columns_with_head(i, head, columns);
        self.in_this_file(read, i)
    }

    /// An error of batch `i` names the batch and the file.
    fn in_this_file(&self, read: lightstream_core::Result<Table>, i: usize) -> Result<Table> {
        read.map_err(|e| {
            let what = format!(
                "batch {i} of {} ({} batches)",
                self.path.display(),
                self.num_batches()
            );
            in_file(e, what)
        })
    }

    /// The first bytes of batch `i`'s message, read with `pread` into `buf`
    /// (empty when they cannot be: the reader then uses the map).
    #[cfg(unix)]
    fn head<'b>(&self, i: usize, buf: &'b mut [u8; HEAD_BYTES]) -> &'b [u8] {
        use std::os::unix::fs::FileExt;
        let (Some(file), Some((offset, len))) = (&self.file, self.reader.batch_range(i)) else {
            return &[];
        };
        let n = len.min(HEAD_BYTES);
        match file.read_exact_at(&mut buf[..n], offset as u64) {
            Ok(()) => &buf[..n],
            Err(_) => &[],
        }
    }

    #[cfg(not(unix))]
    fn head<'b>(&self, _i: usize, _buf: &'b mut [u8; HEAD_BYTES]) -> &'b [u8] {
        &[]
    }

    /// Every batch in order.
    pub fn batches(&self) -> impl Iterator<Item = Result<Table>> + '_ {
        (0..self.num_batches()).map(|i| self.read_batch(i))
    }
}

/// An Arrow IPC stream file, memory-mapped, read from start to end.
///
/// ```
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::mmap::MmapStream;
/// use lightstream::{write_stream, ReadOptions, Schema, WriteOptions};
///
/// let path = std::env::temp_dir().join(format!("lightstream-doc-{}.arrows", std::process::id()));
/// let tables: Vec<_> = (0..3).map(|i| tbl!("t", fa_i64!("n", i, i + 1))).collect();
/// let bytes = write_stream(&Schema::from_table(&tables[0]), &tables, &WriteOptions::default())?;
/// std::fs::write(&path, bytes).expect("a temporary file");
///
/// let stream = MmapStream::open(&path, ReadOptions::default())?;
/// assert_eq!(stream.schema().fields[0].name, "n");
/// let rows: usize = stream.map(|t| t.map(|t| t.n_rows)).sum::<lightstream::Result<usize>>()?;
/// assert_eq!(rows, 6);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct MmapStream {
    path: PathBuf,
    schema: Arc<Schema>,
    input: SharedInput,
    driver: IpcStreamDriver,
    done: bool,
}

impl MmapStream {
    /// Maps the IPC stream file at `path` and reads up to its schema.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<MmapStream> {
        let path = path.as_ref().to_path_buf();
        let (bytes, _, _) = map(&path)?;
        let mut stream = MmapStream {
            path,
            schema: Arc::new(Schema::new(Vec::new(), Default::default())),
            input: SharedInput::new(bytes, 0),
            driver: IpcStreamDriver::new(options),
            done: false,
        };
        match stream.step()? {
            Some(StreamItem::Schema(schema)) => {
                stream.schema = schema;
                Ok(stream)
            }
            _ => Err(stream.error(lightstream_core::Error::new(
                lightstream_core::ErrorKind::Truncated,
                "the stream ended before its schema message",
            ))),
        }
    }

    /// The (projected) schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Bytes of column buffers the tables read so far use in place, in the
    /// map (see [`lightstream_core::IpcStreamDecoder::bytes_borrowed`]).
    pub fn bytes_borrowed(&self) -> u64 {
        self.driver.decoder().bytes_borrowed()
    }

    /// Bytes copied for the tables read so far: bodies moved to 64-byte
    /// boundaries for [`ReadOptions::align_64`], buffers not aligned for their
    /// type (see [`lightstream_core::IpcStreamDecoder::bytes_copied`]).
    pub fn bytes_copied(&self) -> u64 {
        self.driver.decoder().bytes_copied()
    }

    fn error(&self, e: lightstream_core::Error) -> Error {
        in_file(e, format!("reading the IPC stream {}", self.path.display()))
    }

    /// The next item of the stream; `None` at the end of the bytes.
    fn step(&mut self) -> Result<Option<StreamItem>> {
        match self.driver.next_in_memory(&mut self.input) {
            Ok(Some(item)) => Ok(Some(item)),
            Ok(None) => {
                let finished = self.driver.decoder().finish();
                finished.map_err(|e| self.error(e))?;
                Ok(None)
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

impl Iterator for MmapStream {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        while !self.done {
            match self.step() {
                Ok(Some(StreamItem::Table(t))) => return Some(Ok(t)),
                Ok(Some(StreamItem::Schema(_))) => {}
                Ok(Some(StreamItem::End)) | Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
