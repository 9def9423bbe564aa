//! [`ParquetReader`]: a Parquet file -> minarrow tables, one batch of one row
//! group at a time.
//!
//! The footer is parsed by the parquet crate (after our own checks of its
//! length against the file and a walk of what it declares, footer.rs), then every column chunk's byte range and counts
//! are checked against the file before any page is read, and when a row
//! group opens each projected chunk's page headers are walked and checked
//! (pages.rs). Values are decoded `batch_size` rows at a time into 64-byte
//! aligned minarrow buffers: by our page loop and decoders (column.rs, a
//! [`PageColumn`] per chunk, owning its pages, codec and buffers) for chunks
//! of the common encodings and codecs, otherwise by the crate's low-level
//! `ColumnReader` (`read_records`); the choice is made per chunk when its
//! row group opens.
//!
//! Hostile input: every call into the crate that touches file bytes runs
//! under [`std::panic::catch_unwind`], so a panic the crate still has on some
//! corrupt input becomes an [`Error::Parquet`](crate::Error::Parquet) naming the
//! file, row group and column (defence in depth; the checks come first).
//! After an error the iterator ends.
//!
//! Not here: the checks and column plans (plan.rs), value decoding
//! (column.rs, decode.rs, rle.rs), the type mapping (types.rs) and writing
//! (writer.rs).

use std::any::Any;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};

use lightstream_core::bytes::Bytes;
use lightstream_core::minarrow::{FieldArray, Table};
use lightstream_core::{FieldInfo, Schema};
use parquet::column::reader::ColumnReader;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, FileReader, Length};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};

use super::column::PageColumn;
use super::decode::read_column;
use super::pages::{ChunkBytes, PagePool};
use super::parallel::ParallelBatches;
use super::plan::{check_envelope, check_metadata, plan_columns};
use super::types::{ARROW_SCHEMA_KEY, ColumnPlan, parquet_error};
use super::{footer, pages};
use crate::error::{Error, Result};

/// Options of a [`ParquetReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetReadOptions {
    /// Read only these top-level columns (schema indices), in this order.
    /// Columns left out may be of types minarrow cannot hold.
    pub projection: Option<Vec<usize>>,
    /// Rows per table (default 65,536); a table never spans row groups.
    pub batch_size: usize,
    /// Restore Arrow types from the `ARROW:schema` footer key when it is
    /// present and consistent with the Parquet schema (default on).
    pub use_arrow_schema: bool,
    /// Largest uncompressed size a page (data or dictionary) may declare
    /// (default 256 MiB). The parquet crate reserves a page's declared size
    /// before decompressing it, so every page header of a column chunk is
    /// checked against this before the chunk is read; a page above it is an
    /// [`Error::Parquet`] naming the row group, column and page.
    pub max_page_bytes: usize,
    /// Threads that decode (default 1: everything on the calling thread, no
    /// thread is started). With more, that many worker threads, started at
    /// the first read and stopped when the reader is dropped, decode the
    /// columns of up to `threads` batches at once (a job is one column of
    /// one batch); the tables, their boundaries and any error are the same
    /// as with one thread, in the same order. Memory: up to `threads`
    /// decoded batches ahead of the caller, plus the open column chunks'
    /// pages (those of two row groups at a row group's end).
    pub threads: usize,
}

impl Default for ParquetReadOptions {
    fn default() -> Self {
        ParquetReadOptions {
            projection: None,
            batch_size: 64 * 1024,
            use_arrow_schema: true,
            max_page_bytes: 256 << 20,
            threads: 1,
        }
    }
}

/// Who decodes a column chunk, chosen once when the row group opens
/// ([`PageColumn::handles`]): a given set of bytes has exactly one decoder.
/// `Send`: with threads, it moves into the job that reads its next batch.
pub(super) enum ColumnSource {
    /// Our page loop and decoders (column.rs): flat chunks of the common
    /// encodings and codecs.
    Pages(PageColumn),
    /// The crate's `ColumnReader` (DELTA_*, BYTE_STREAM_SPLIT, INT96, ...).
    Crate(ColumnReader),
}

/// The open row group: a column source per projected column.
pub(super) struct Cursor {
    pub(super) row_group: usize,
    pub(super) readers: Vec<ColumnSource>,
    pub(super) rows_left: usize,
    pub(super) first_row: u64,
}

/// Reads a Parquet file as minarrow tables: [`Iterator`] of `Result<Table>`.
///
/// ```
/// use lightstream::minarrow::{fa_i64, fa_str32, tbl};
/// use lightstream::parquet::{ParquetReadOptions, ParquetReader, ParquetWriter};
/// use lightstream::Schema;
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3), fa_str32!("name", "a", "b", "c"));
/// let schema = Schema::from_table(&table);
/// let mut writer = ParquetWriter::new(Vec::new(), &schema, Default::default())?;
/// writer.write(&table)?;
/// let bytes = writer.finish()?;
///
/// // Only `name`, two rows per table.
/// let options =
///     ParquetReadOptions { projection: Some(vec![1]), batch_size: 2, ..Default::default() };
/// let reader = ParquetReader::from_bytes(bytes.into(), "memory", options)?;
/// assert_eq!(reader.num_rows(), 3);
/// let tables = reader.collect::<lightstream::Result<Vec<_>>>()?;
/// assert_eq!(tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(), [2, 1]);
/// assert_eq!(tables[0].cols[0].field.name, "name");
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct ParquetReader<R: ChunkReader + 'static = File> {
    label: String,
    file: SerializedFileReader<Shared<R>>,
    /// The same bytes the crate reads: page headers and our page loop.
    source: Shared<R>,
    /// Page buffers, shared by the column cursors and reused across pages,
    /// columns and row groups.
    pool: PagePool,
    max_page_bytes: usize,
    schema: Arc<Schema>,
    fields: Vec<FieldInfo>,
    plans: Vec<ColumnPlan>,
    batch_size: usize,
    next_row_group: usize,
    cursor: Option<Cursor>,
    done: bool,
    /// Whether chunks our page decoders handle go to them (off only in
    /// tests, to compare with the crate's path).
    own_pages: bool,
    /// `ParquetReadOptions::threads`.
    threads: usize,
    /// The worker threads and batches in flight (threads > 1, from the
    /// first read on).
    parallel: Option<Box<ParallelBatches>>,
}

/// The caller's reader, shared by the parquet crate and our page loop,
/// and by the column chunks decoding on worker threads.
///
/// A `ChunkReader` need not allow concurrent reads, and `File`'s does not:
/// its readers are `try_clone`s that share one file offset, so two threads
/// seeking and reading interleave (wrong page bytes, "corrupt" files;
/// apache/arrow-rs#7667). Every read therefore takes `lock` for one whole
/// seek-and-read (`get_bytes`), and `get_read` hands out a reader that reads
/// that way too ([`SharedRead`]), never a reader of the caller's that would
/// read later, outside the lock.
struct Shared<R> {
    reader: Arc<R>,
    lock: Arc<Mutex<()>>,
}

impl<R> Clone for Shared<R> {
    fn clone(&self) -> Self {
        Shared {
            reader: Arc::clone(&self.reader),
            lock: Arc::clone(&self.lock),
        }
    }
}

impl<R: ChunkReader> Shared<R> {
    fn new(reader: R) -> Self {
        Shared {
            reader: Arc::new(reader),
            lock: Arc::new(Mutex::new(())),
        }
    }
}

impl<R: ChunkReader> Length for Shared<R> {
    fn len(&self) -> u64 {
        self.reader.len()
    }
}

impl<R: ChunkReader> ChunkReader for Shared<R> {
    type T = SharedRead<R>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SharedRead<R>> {
        Ok(SharedRead {
            shared: self.clone(),
            pos: start,
            window: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        // A panic while the lock was held poisons it, but leaves no state
        // behind it to distrust: each read seeks first.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.reader.get_bytes(start, length)
    }
}

impl<R: ChunkReader + 'static> ChunkBytes for Shared<R> {
    fn slice(&self, start: u64, len: usize) -> Option<Bytes> {
        let bytes = (&*self.reader as &dyn Any).downcast_ref::<Bytes>()?;
        let start = usize::try_from(start).ok()?;
        let end = start.checked_add(len).filter(|&e| e <= bytes.len())?;
        Some(bytes.slice(start..end))
    }

    fn read_into(&self, start: u64, out: &mut [u8]) -> std::result::Result<(), String> {
        let len = out.len();
        let failed =
            |e: &dyn std::fmt::Display| format!("reading {len} bytes at byte {start}: {e}");
        // A file: one positioned read, which shares no file offset (so
        // needs no lock) and duplicates no handle.
        #[cfg(unix)]
        if let Some(file) = (&*self.reader as &dyn Any).downcast_ref::<File>() {
            return std::os::unix::fs::FileExt::read_exact_at(file, out, start)
                .map_err(|e| failed(&e));
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut input = self.reader.get_read(start).map_err(|e| failed(&e))?;
        std::io::Read::read_exact(&mut input, out).map_err(|e| failed(&e))
    }
}

/// What a [`SharedRead`] fetches at a time (page headers are read through it:
/// a few dozen bytes each; `BufReader`'s default is 8 KiB).
const READ_WINDOW: u64 = 4 << 10;

/// A `Read` from `pos` on through [`Shared::get_bytes`], a window at a time.
struct SharedRead<R> {
    shared: Shared<R>,
    pos: u64,
    window: Bytes,
}

impl<R: ChunkReader> std::io::Read for SharedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.window.is_empty() {
            let n = self.shared.len().saturating_sub(self.pos).min(READ_WINDOW);
            if n == 0 || buf.is_empty() {
                return Ok(0);
            }
            self.window = self
                .shared
                .get_bytes(self.pos, n as usize)
                .map_err(std::io::Error::other)?;
            self.pos += n;
        }
        let n = buf.len().min(self.window.len());
        buf[..n].copy_from_slice(&self.window[..n]);
        self.window = self.window.slice(n..);
        Ok(n)
    }
}

/// Runs `f`, turning a panic inside the parquet crate into an error.
fn guarded<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(decoder_panicked(&what(), &msg))
        }
    }
}

/// The error for a panic of the decoder while reading `what`.
pub(super) fn decoder_panicked(what: &str, msg: &str) -> Error {
    parquet_error(format!(
        "{what}: the parquet decoder failed on corrupt input ({msg})"
    ))
}

/// What [`read_batch_column`] names in errors: the file, row group and column.
pub(super) fn column_label(label: &str, rg: usize, plan: &ColumnPlan) -> String {
    format!("{label}: row group {rg}, column \"{}\"", plan.field.name)
}

/// Reads the next `n` rows (rows `first_row..`) of one column of row group
/// `rg`: the one decode step of both the calling-thread and the threaded path.
pub(super) fn read_batch_column(
    label: &str,
    rg: usize,
    first_row: u64,
    plan: &ColumnPlan,
    reader: &mut ColumnSource,
    n: usize,
) -> Result<FieldArray> {
    guarded(
        || column_label(label, rg, plan),
        || match reader {
            ColumnSource::Pages(p) => p.read(plan, n),
            ColumnSource::Crate(r) => read_column(r, plan, n),
        },
    )
    .map_err(|e| in_column(e, label, rg, &plan.field.name).with_rows(first_row, n))
}

impl ParquetReader<File> {
    /// Opens the Parquet file at `path` and reads its footer.
    pub fn open(path: impl AsRef<Path>, options: ParquetReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {label}"), e))?;
        Self::from_chunk_reader(file, label, options)
    }
}

impl ParquetReader<File> {
    /// Every top-level column of the Parquet file at `path` as Arrow describes
    /// it, held or not, reading only the footer: what to leave out with
    /// `projection` when [`ParquetReader::open`] refuses a column.
    pub fn fields_of(
        path: impl AsRef<Path>,
        options: &ParquetReadOptions,
    ) -> Result<Vec<FieldInfo>> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {label}"), e))?;
        let (file, _) = open_footer(file, &label)?;
        let options = ParquetReadOptions {
            projection: Some(Vec::new()),
            ..options.clone()
        };
        Ok(plan_columns(
            &file,
            &label,
            options.projection.as_deref(),
            options.use_arrow_schema,
        )?
        .0)
    }
}

/// Checks the envelope, walks the footer, parses it (guarded) and checks the
/// metadata.
fn open_footer<R: ChunkReader + 'static>(
    reader: R,
    label: &str,
) -> Result<(SerializedFileReader<Shared<R>>, Shared<R>)> {
    let len = reader.len();
    let footer_len = check_envelope(&reader, len, label)?;
    // What the footer declares, before the crate reserves it.
    footer::check(&reader, len - 8 - footer_len, footer_len)
        .map_err(|m| parquet_error(format!("{label}: footer: {m}")))?;
    let source = Shared::new(reader);
    let reader = source.clone();
    let file = guarded(
        || format!("{label}: reading the footer"),
        || {
            // Page statistics stay unread (the default, made explicit): the
            // crate would size their buffers from file-supplied lengths.
            let props = ReaderProperties::builder()
                .set_read_page_statistics(false)
                .build();
            let options = ReadOptionsBuilder::new()
                .with_reader_properties(props)
                .build();
            SerializedFileReader::new_with_options(reader, options)
                .map_err(|e| parquet_error(format!("{label}: reading the footer: {e}")))
        },
    )?;
    check_metadata(&file, len, label)?;
    Ok((file, source))
}

impl ParquetReader<Bytes> {
    /// Reads a Parquet file held in memory; `label` names it in errors.
    pub fn from_bytes(
        bytes: Bytes,
        label: impl Into<String>,
        options: ParquetReadOptions,
    ) -> Result<Self> {
        Self::from_chunk_reader(bytes, label.into(), options)
    }

    /// Opens the Parquet file at `path` memory-mapped (feature `mmap`): the
    /// same tables as [`ParquetReader::open`], read with fewer copies. Its
    /// pages are used where they lie in the map (an uncompressed page is not
    /// copied at all, a compressed one is decompressed straight from the
    /// map) and the file's bytes never count as the process's anonymous
    /// memory. The map lives as long as the reader (tables do not point
    /// into it).
    ///
    /// A file truncated *before* it is opened is read as any short input is
    /// (its footer and every column chunk are checked against the mapped
    /// length, so it is an [`Error::Parquet`](crate::Error::Parquet)). What a
    /// map cannot guard against is the file being truncated or rewritten
    /// *while* it is mapped: reading a page past the new end raises SIGBUS
    /// (see [`crate::mmap`]). Map only files that are not modified while
    /// they are read; [`ParquetReader::open`] reads with `pread` instead.
    #[cfg(feature = "mmap")]
    pub fn open_mapped(path: impl AsRef<Path>, options: ParquetReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::mmap::map_bytes(path)?;
        Self::from_chunk_reader(bytes, path.display().to_string(), options)
    }
}

impl<R: ChunkReader + 'static> ParquetReader<R> {
    /// Reads a Parquet file from any of the parquet crate's [`ChunkReader`]s;
    /// `label` names it in errors. A column minarrow cannot hold (nested,
    /// binary, ...) is an error naming it unless `projection` leaves it out;
    /// [`ParquetReader::fields_of`] lists the columns without that check.
    pub fn from_chunk_reader(
        reader: R,
        label: String,
        options: ParquetReadOptions,
    ) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(parquet_error("batch_size must be at least 1"));
        }
        if options.threads == 0 {
            return Err(parquet_error("threads must be at least 1"));
        }
        let (file, source) = open_footer(reader, &label)?;
        let (fields, plans) = plan_columns(
            &file,
            &label,
            options.projection.as_deref(),
            options.use_arrow_schema,
        )?;
        let metadata = {
            let fm = file.metadata().file_metadata();
            let hint = plans.1.as_ref();
            match hint {
                Some(h) => h.metadata.clone(),
                None => fm
                    .key_value_metadata()
                    .map(|kv| {
                        kv.iter()
                            .filter(|k| k.key != ARROW_SCHEMA_KEY)
                            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        };
        let plans = plans.0;
        let schema = Schema {
            fields: plans.iter().map(|p| p.field.clone()).collect(),
            metadata,
            dictionaries: plans.iter().map(|p| p.dictionary).collect(),
        };
        Ok(ParquetReader {
            label,
            file,
            source,
            max_page_bytes: options.max_page_bytes,
            schema: Arc::new(schema),
            pool: PagePool::default(),
            fields,
            plans,
            batch_size: options.batch_size,
            next_row_group: 0,
            cursor: None,
            done: false,
            own_pages: true,
            threads: options.threads,
            parallel: None,
        })
    }

    /// The same reader with every chunk on the crate's `ColumnReader` path
    /// (tests compare it with our page decoders).
    #[cfg(test)]
    pub(super) fn with_crate_decoders(mut self) -> Self {
        self.own_pages = false;
        self
    }

    /// Whether the open row group's column `c` is read by our page decoders.
    #[cfg(test)]
    pub(super) fn reads_pages(&self, c: usize) -> bool {
        self.cursor
            .as_ref()
            .is_some_and(|cur| matches!(cur.readers.get(c), Some(ColumnSource::Pages(_))))
    }

    /// The schema of the tables (projected).
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Every top-level column of the file as Arrow describes it, held or not.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.fields
    }

    /// Rows in the file (the footer's count).
    pub fn num_rows(&self) -> u64 {
        self.file
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum()
    }

    /// Row groups in the file.
    pub fn num_row_groups(&self) -> usize {
        self.file.num_row_groups()
    }

    /// The footer's key-value metadata (including `ARROW:schema`, if any).
    pub fn key_value_metadata(&self) -> Vec<(String, String)> {
        self.file
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn open_row_group(&mut self, i: usize) -> Result<Cursor> {
        let label = &self.label;
        let rows = self.file.metadata().row_group(i).num_rows() as usize;
        let first_row: u64 = self.file.metadata().row_groups()[..i]
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum();
        let mut readers = Vec::with_capacity(self.plans.len());
        for plan in &self.plans {
            // Page sizes first: the crate reserves what a page header declares.
            let chunk = self.file.metadata().row_group(i).column(plan.leaf);
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or_else(|| chunk.data_page_offset());
            // check_metadata vouched for a non-negative range inside the file.
            let pages = pages::index_chunk(
                &self.source,
                start as u64,
                chunk.compressed_size() as u64,
                self.max_page_bytes,
            )
            .map_err(|m| {
                parquet_error(format!(
                    "{label}: row group {i}, column \"{}\": {m}",
                    plan.field.name
                ))
            })?;
            let own = PageColumn::handles(plan, chunk).filter(|_| self.own_pages);
            let reader = match own {
                Some(codec) => {
                    let input: Arc<dyn ChunkBytes> = Arc::new(self.source.clone());
                    let pool = self.pool.clone();
                    ColumnSource::Pages(PageColumn::new(input, pages, codec, pool, plan))
                }
                None => {
                    let file = &self.file;
                    guarded(
                        || format!("{label}: row group {i}, column \"{}\"", plan.field.name),
                        || {
                            Ok(ColumnSource::Crate(
                                file.get_row_group(i)?.get_column_reader(plan.leaf)?,
                            ))
                        },
                    )
                    .map_err(|e| in_column(e, label, i, &plan.field.name))?
                }
            };
            readers.push(reader);
        }
        Ok(Cursor {
            row_group: i,
            readers,
            rows_left: rows,
            first_row,
        })
    }

    /// Opens the next row group that has rows (`None` after the last).
    pub(super) fn open_next_row_group(&mut self) -> Result<Option<Cursor>> {
        while self.next_row_group < self.file.num_row_groups() {
            let i = self.next_row_group;
            self.next_row_group += 1;
            let cursor = self.open_row_group(i)?;
            if cursor.rows_left > 0 {
                return Ok(Some(cursor));
            }
        }
        Ok(None)
    }

    /// Rows per table.
    pub(super) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The projected columns' plans and the file's label.
    pub(super) fn plans_and_label(&self) -> (&[ColumnPlan], &str) {
        (&self.plans, &self.label)
    }

    fn next_table(&mut self) -> Result<Option<Table>> {
        if self.threads > 1 {
            return self.next_table_threaded();
        }
        loop {
            if let Some(c) = &self.cursor
                && c.rows_left > 0
            {
                break;
            }
            self.cursor = self.open_next_row_group()?;
            if self.cursor.is_none() {
                return Ok(None);
            }
        }
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(None);
        };
        let n = cursor.rows_left.min(self.batch_size);
        let mut cols = Vec::with_capacity(self.plans.len());
        for (plan, reader) in self.plans.iter().zip(cursor.readers.iter_mut()) {
            let col = read_batch_column(
                &self.label,
                cursor.row_group,
                cursor.first_row,
                plan,
                reader,
                n,
            )?;
            cols.push(col);
        }
        cursor.rows_left -= n;
        cursor.first_row += n as u64;
        Ok(Some(self.table(cols, n)))
    }

    /// The next table from the worker threads (started on the first call).
    fn next_table_threaded(&mut self) -> Result<Option<Table>> {
        let mut parallel = match self.parallel.take() {
            Some(p) => p,
            None => Box::new(ParallelBatches::new(self, self.threads)?),
        };
        let next = parallel.next_batch(self)?;
        self.parallel = Some(parallel);
        Ok(next.map(|(cols, n)| self.table(cols, n)))
    }

    fn table(&self, cols: Vec<FieldArray>, n_rows: usize) -> Table {
        Table {
            cols,
            n_rows,
            name: String::new(),
            metadata: self.schema.metadata.clone(),
        }
    }
}

trait WithRows {
    fn with_rows(self, first: u64, n: usize) -> Self;
}

impl WithRows for Error {
    fn with_rows(self, first: u64, n: usize) -> Self {
        match self {
            Error::Parquet(m) => {
                Error::Parquet(format!("{m} (rows {first}..{})", first + n as u64))
            }
            other => other,
        }
    }
}

/// Prefixes an error from column decoding with the file, row group and column.
fn in_column(e: Error, label: &str, rg: usize, name: &str) -> Error {
    match e {
        Error::Parquet(m) if m.starts_with(label) => Error::Parquet(m),
        Error::Parquet(m) => {
            Error::Parquet(format!("{label}: row group {rg}, column \"{name}\": {m}"))
        }
        other => other,
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Parquet(e.to_string())
    }
}

impl<R: ChunkReader + 'static> Iterator for ParquetReader<R> {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        match self.next_table() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
