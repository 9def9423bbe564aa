//! [`ParquetWriter`]: minarrow tables -> a Parquet file, one row group at a time.
//!
//! Each incoming table is encoded straight away into the open row group's
//! column writers (the parquet crate's low-level `ColumnWriter` API; string
//! and categorical columns through our own encoder, encode.rs). Those
//! writers page into one in-memory buffer per column; when the row group has
//! `row_group_rows` rows (or at [`ParquetWriter::finish`]) the buffered column
//! chunks are appended to the file in column order and the buffers are freed.
//! So memory is bounded by one row group of *encoded, compressed* pages, and
//! the caller's tables are never retained. (The row-group API takes columns
//! strictly in order, so writing column by column straight to the file would
//! mean keeping the raw tables of a whole row group instead.)
//!
//! Not here: the type mapping (types.rs) and reading (reader.rs).

use std::io::Write;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use lightstream_core::Schema;
use lightstream_core::bytes::Bytes;
use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::{Array, ArrowType, Bitmask, FieldArray, NumericArray, Table};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
use parquet::column::writer::{ColumnCloseResult, ColumnWriter, get_column_writer};
use parquet::data_type::FixedLenByteArray;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor, Type};

use super::encode::{ChunkBytes, ChunkEncoder};
use super::types::{
    ARROW_SCHEMA_KEY, decimal_bytes, encode_arrow_schema, parquet_error, parquet_type,
};
use crate::error::Result;
use crate::workers::{JobId, JobPanicked, Workers};

/// How Parquet pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// Uncompressed pages.
    None,
    /// Snappy (feature `snappy`): pyarrow's default.
    Snappy,
    /// Zstandard at this level (1..=22; feature `zstd`).
    Zstd(i32),
}

/// Options of a [`ParquetWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetWriteOptions {
    /// Page compression (default Snappy, like pyarrow).
    pub compression: ParquetCompression,
    /// Rows per row group (default 1,048,576, like pyarrow). A table larger
    /// than what is left of the open row group is split across row groups.
    pub row_group_rows: usize,
    /// Dictionary-encode pages (default on, like pyarrow). A column whose
    /// dictionary outgrows `dictionary_page_bytes` falls back to plain pages.
    pub dictionary: bool,
    /// Dictionary page size limit in bytes (default 1 MiB).
    pub dictionary_page_bytes: usize,
    /// Target data page size in bytes (default 1 MiB).
    pub data_page_bytes: usize,
    /// Min / max / null count statistics per column chunk, and per page in
    /// the column index of BOOLEAN and decimal128 columns (default on).
    pub statistics: bool,
    /// Threads that encode the columns of each table (default 1: the
    /// calling thread). With more, the columns are encoded at once on that
    /// many worker threads, each column's chunk by one job at a time, and
    /// appended in column order: the file is byte for byte the one thread's.
    pub threads: usize,
}

impl Default for ParquetWriteOptions {
    fn default() -> Self {
        ParquetWriteOptions {
            compression: ParquetCompression::Snappy,
            row_group_rows: 1024 * 1024,
            dictionary: true,
            dictionary_page_bytes: 1024 * 1024,
            data_page_bytes: 1024 * 1024,
            statistics: true,
            threads: 1,
        }
    }
}

/// Encoded pages of one column chunk, in memory until the row group is flushed.
type PageBuffer = Arc<Mutex<TrackedWrite<Vec<u8>>>>;

/// A [`PageWriter`] that serializes pages (header + body, exactly as the
/// file will hold them) into a [`PageBuffer`]; offsets are relative to it and
/// are rebased by `append_column`.
struct BufferPageWriter {
    sink: PageBuffer,
}

impl PageWriter for BufferPageWriter {
    fn write_page(&mut self, page: CompressedPage) -> parquet::errors::Result<PageWriteSpec> {
        let mut sink = self
            .sink
            .lock()
            .map_err(|_| parquet::errors::ParquetError::General("page buffer poisoned".into()))?;
        SerializedPageWriter::new(&mut sink).write_page(page)
    }

    fn close(&mut self) -> parquet::errors::Result<()> {
        Ok(())
    }
}

struct OpenRowGroup {
    /// The crate's writer of each column; `None` for the columns of our own
    /// encoders (`ParquetWriter::ours`).
    columns: Vec<Option<(ColumnWriter<'static>, PageBuffer)>>,
    rows: usize,
}

/// Writes minarrow tables of one schema as a Parquet file.
///
/// ```
/// use lightstream::minarrow::{fa_i64, fa_str32, tbl};
/// use lightstream::parquet::{ParquetCompression, ParquetReader, ParquetWriteOptions, ParquetWriter};
/// use lightstream::Schema;
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3), fa_str32!("name", "a", "b", "c"));
/// let options = ParquetWriteOptions { compression: ParquetCompression::None, ..Default::default() };
/// let mut w = ParquetWriter::new(Vec::new(), &Schema::from_table(&table), options)?;
/// w.write(&table)?;
/// let bytes = w.finish()?;
/// let mut r = ParquetReader::from_bytes(bytes.into(), "memory", Default::default())?;
/// assert_eq!(r.num_rows(), 3);
/// assert_eq!(r.next().unwrap()?.n_rows, 3);
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct ParquetWriter<W: Write + Send> {
    file: Option<SerializedFileWriter<W>>,
    schema: Arc<Schema>,
    columns: Vec<ColumnDescPtr>,
    props: WriterPropertiesPtr,
    row_group_rows: usize,
    open: Option<OpenRowGroup>,
    /// Our own encoder of each column but BOOLEAN, FIXED_LEN_BYTE_ARRAY and
    /// `Null` ones (encode.rs), kept across row groups with its buffers and
    /// compression context. `None` while a worker holds it.
    ours: Vec<Option<ChunkEncoder>>,
    /// The worker threads that run our encoders (`threads` > 1).
    workers: Option<Workers<Finished>>,
    /// Value and level buffers, shared by the columns (written one at a
    /// time), so they hold one column of one table at most.
    scratch: Scratch,
    rows_written: u64,
}

pub(super) fn compression(c: ParquetCompression) -> Result<PqCompression> {
    Ok(match c {
        ParquetCompression::None => PqCompression::UNCOMPRESSED,
        ParquetCompression::Snappy => {
            if !cfg!(feature = "snappy") {
                return Err(parquet_error(
                    "Snappy compression was not compiled in (feature `snappy` of lightstream)",
                ));
            }
            PqCompression::SNAPPY
        }
        ParquetCompression::Zstd(level) => {
            if !cfg!(feature = "zstd") {
                return Err(parquet_error(
                    "Zstd compression was not compiled in (feature `zstd` of lightstream)",
                ));
            }
            PqCompression::ZSTD(
                ZstdLevel::try_new(level)
                    .map_err(|e| parquet_error(format!("zstd level {level}: {e}")))?,
            )
        }
    })
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer of `schema` into `writer` (the `PAR1` magic is written now).
    pub fn new(writer: W, schema: &Schema, options: ParquetWriteOptions) -> Result<Self> {
        if options.row_group_rows == 0 {
            return Err(parquet_error("row_group_rows must be at least 1"));
        }
        let fields = schema
            .fields
            .iter()
            .map(|f| parquet_type(f))
            .collect::<Result<Vec<_>>>()?;
        let root = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .map_err(|e| parquet_error(format!("building the Parquet schema: {e}")))?;
        let root = Arc::new(root);
        let descr = SchemaDescriptor::new(root.clone());
        let mut kv: Vec<KeyValue> = schema
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != ARROW_SCHEMA_KEY)
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        kv.push(KeyValue::new(
            ARROW_SCHEMA_KEY.to_string(),
            encode_arrow_schema(schema)?,
        ));
        let props = WriterProperties::builder()
            .set_compression(compression(options.compression)?)
            .set_dictionary_enabled(options.dictionary)
            .set_dictionary_page_size_limit(options.dictionary_page_bytes.max(1))
            .set_data_page_size_limit(options.data_page_bytes.max(1))
            .set_statistics_enabled(if options.statistics {
                EnabledStatistics::Page
            } else {
                EnabledStatistics::None
            })
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_created_by(format!("lightstream version {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(kv))
            .build();
        let props = Arc::new(props);
        let columns = descr.columns().to_vec();
        let ours = schema
            .fields
            .iter()
            .zip(&columns)
            .map(|(f, descr)| ChunkEncoder::for_column(&f.dtype, descr.clone(), &options))
            .collect::<Result<Vec<_>>>()?;
        let file = SerializedFileWriter::new(writer, root, props.clone())
            .map_err(|e| parquet_error(format!("starting the Parquet file: {e}")))?;
        Ok(ParquetWriter {
            file: Some(file),
            schema: Arc::new(schema.clone()),
            columns,
            props,
            row_group_rows: options.row_group_rows,
            open: None,
            workers: match options.threads {
                0 | 1 => None,
                n => Some(
                    Workers::new(n, ours.len().max(1), "lightstream-parquet-write")
                        .map_err(|e| parquet_error(format!("starting {n} encoder threads: {e}")))?,
                ),
            },
            ours,
            scratch: Scratch::default(),
            rows_written: 0,
        })
    }

    /// The schema tables must have.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Rows written so far (including the open row group).
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    fn check_table(&self, table: &Table) -> Result<()> {
        if table.cols.len() != self.schema.fields.len() {
            return Err(parquet_error(format!(
                "table has {} columns but the Parquet schema has {}",
                table.cols.len(),
                self.schema.fields.len()
            )));
        }
        for (col, f) in table.cols.iter().zip(&self.schema.fields) {
            if col.field.dtype != f.dtype {
                return Err(parquet_error(format!(
                    "column \"{}\" is {} but the schema says {}",
                    f.name,
                    arrow_type_name(&col.field.dtype, None),
                    arrow_type_name(&f.dtype, None)
                )));
            }
            // `Array::Null` carries no length: its rows are the table's.
            if !matches!(col.array, Array::Null) && col.array.len() < table.n_rows {
                return Err(parquet_error(format!(
                    "column \"{}\" has {} values but the table has {} rows",
                    f.name,
                    col.array.len(),
                    table.n_rows
                )));
            }
        }
        Ok(())
    }

    fn open_row_group(&self) -> Result<OpenRowGroup> {
        let columns = self
            .columns
            .iter()
            .zip(&self.ours)
            .map(|(descr, ours)| {
                if ours.is_some() {
                    return None;
                }
                let sink: PageBuffer = Arc::new(Mutex::new(TrackedWrite::new(Vec::new())));
                let pages = Box::new(BufferPageWriter { sink: sink.clone() });
                Some((
                    get_column_writer(descr.clone(), self.props.clone(), pages),
                    sink,
                ))
            })
            .collect();
        Ok(OpenRowGroup { columns, rows: 0 })
    }

    /// Writes `table` (its schema must be the writer's). Rows go into the open
    /// row group; a full row group is written to the file at once.
    pub fn write(&mut self, table: &Table) -> Result<()> {
        if self.file.is_none() {
            return Err(parquet_error("ParquetWriter::write after finish"));
        }
        self.check_table(table)?;
        let mut offset = 0;
        while offset < table.n_rows {
            let mut open = match self.open.take() {
                Some(o) => o,
                None => self.open_row_group()?,
            };
            let take = (table.n_rows - offset).min(self.row_group_rows - open.rows);
            let threaded = self.workers.is_some();
            if threaded {
                let cols = Arc::new(table.cols.clone());
                self.start(move |ours, i| {
                    ours.write(&cols[i], offset, take)?;
                    Ok(Done::Wrote)
                })?;
            }
            // The crate's columns (on this thread, while the workers encode).
            let mut failed = None;
            for (i, column) in open.columns.iter_mut().enumerate() {
                let col = &table.cols[i];
                let Some((writer, _)) = column else {
                    if !threaded {
                        match &mut self.ours[i] {
                            Some(ours) => ours.write(col, offset, take)?,
                            None => return Err(wrong_writer(&col.field.name)),
                        }
                    }
                    continue;
                };
                let written = (offset..offset + take)
                    .step_by(SCRATCH_ROWS)
                    .try_for_each(|start| {
                        let n = (offset + take - start).min(SCRATCH_ROWS);
                        write_column(writer, col, start, n, &mut self.scratch)
                    });
                if let Err(e) = written {
                    failed = Some((i, e));
                    break;
                }
            }
            if threaded {
                let (_, error) = self.collect();
                failed = first_error(failed, error);
            }
            if let Some((_, e)) = failed {
                return Err(e);
            }
            open.rows += take;
            offset += take;
            self.rows_written += take as u64;
            if open.rows == self.row_group_rows {
                self.flush_row_group(open)?;
            } else {
                self.open = Some(open);
            }
        }
        Ok(())
    }

    /// Queues `job` on the workers for each of our encoders (moved into the
    /// job; [`ParquetWriter::collect`] puts them back).
    fn start(
        &mut self,
        job: impl Fn(&mut ChunkEncoder, usize) -> Result<Done> + Send + Sync + 'static,
    ) -> Result<()> {
        let job = Arc::new(job);
        for i in 0..self.ours.len() {
            let Some(mut ours) = self.ours[i].take() else {
                continue;
            };
            let job = Arc::clone(&job);
            let task = move || {
                let r = job(&mut ours, i);
                (i, ours, r)
            };
            // The window holds a job per column, and every job was collected
            // before this call: there is room.
            let submitted = self.workers.as_mut().map(|pool| pool.submit(task).is_ok());
            if submitted != Some(true) {
                return Err(parquet_error(format!(
                    "column \"{}\": no room for its encoder job",
                    self.schema.fields[i].name
                )));
            }
        }
        Ok(())
    }

    /// Waits for every job of [`ParquetWriter::start`]: their outputs by
    /// column, and the error of the first column (in column order) that
    /// failed.
    fn collect(&mut self) -> (Vec<(usize, Done)>, Option<ColumnError>) {
        let mut done = Vec::new();
        let mut error = None;
        while let Some(f) = self.workers.as_mut().and_then(Workers::next_finished) {
            match self.put_back(f) {
                Ok(d) => done.push(d),
                Err(e) => error = first_error(error, Some(e)),
            }
        }
        (done, error)
    }

    /// A finished job's encoder back in its place; its output.
    fn put_back(
        &mut self,
        (_, finished): (JobId, std::result::Result<Finished, JobPanicked>),
    ) -> std::result::Result<(usize, Done), ColumnError> {
        match finished {
            Ok((i, ours, r)) => {
                self.ours[i] = Some(ours);
                r.map(|d| (i, d)).map_err(|e| (i, e))
            }
            // The encoder is lost with the panic: later writes of its column
            // fail (`wrong_writer`).
            Err(JobPanicked(message)) => Err((
                usize::MAX,
                parquet_error(format!("a column encoder panicked: {message}")),
            )),
        }
    }

    fn flush_row_group(&mut self, open: OpenRowGroup) -> Result<()> {
        let mut chunks: Vec<(ColumnCloseResult, ChunkBytes)> =
            Vec::with_capacity(open.columns.len());
        // Our chunks closed by the workers (their last pages compressed),
        // by column.
        let mut closed: Vec<Option<(ColumnCloseResult, ChunkBytes)>> = Vec::new();
        if self.workers.is_some() {
            self.start(|ours, _| Ok(Done::Closed(Box::new(ours.close()?))))?;
            let (done, error) = self.collect();
            if let Some((_, e)) = error {
                return Err(e);
            }
            closed.resize_with(open.columns.len(), || None);
            for (i, d) in done {
                if let Done::Closed(chunk) = d {
                    closed[i] = Some(*chunk);
                }
            }
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| parquet_error("ParquetWriter used after finish"))?;
        for (i, column) in open.columns.into_iter().enumerate() {
            let name = &self.schema.fields[i].name;
            let Some((writer, sink)) = column else {
                match (closed.get_mut(i).and_then(Option::take), &mut self.ours[i]) {
                    (Some(chunk), _) => chunks.push(chunk),
                    (None, Some(ours)) => chunks.push(ours.close()?),
                    (None, None) => return Err(wrong_writer(name)),
                }
                continue;
            };
            let close = writer
                .close()
                .map_err(|e| parquet_error(format!("closing column \"{name}\": {e}")))?;
            let bytes = {
                let mut sink = sink
                    .lock()
                    .map_err(|_| parquet_error("page buffer poisoned"))?;
                // TrackedWrite buffers: flush before taking the pages out.
                sink.flush()
                    .map_err(|e| parquet_error(format!("buffering column \"{name}\": {e}")))?;
                std::mem::take(sink.inner_mut())
            };
            let bytes = ChunkBytes {
                head: Bytes::new(),
                tail: Bytes::from(bytes),
            };
            chunks.push((close, bytes));
        }
        let mut rg = file
            .next_row_group()
            .map_err(|e| parquet_error(format!("starting a row group: {e}")))?;
        for (i, (close, bytes)) in chunks.into_iter().enumerate() {
            rg.append_column(&bytes, close).map_err(|e| {
                parquet_error(format!(
                    "writing column \"{}\": {e}",
                    self.schema.fields[i].name
                ))
            })?;
        }
        rg.close()
            .map_err(|e| parquet_error(format!("closing a row group: {e}")))?;
        Ok(())
    }

    /// Writes the open row group and the footer; returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        if let Some(open) = self.open.take()
            && open.rows > 0
        {
            self.flush_row_group(open)?;
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| parquet_error("ParquetWriter finished twice"))?;
        file.into_inner()
            .map_err(|e| parquet_error(format!("writing the Parquet footer: {e}")))
    }
}

/// What a worker's job on an encoder gave.
enum Done {
    Wrote,
    Closed(Box<(ColumnCloseResult, ChunkBytes)>),
}

/// A worker's job, finished: the column, its encoder, the job's output.
type Finished = (usize, ChunkEncoder, Result<Done>);

/// An error and the column it is about (`usize::MAX`: no column).
type ColumnError = (usize, crate::Error);

/// The error of the lower column of two.
fn first_error(a: Option<ColumnError>, b: Option<ColumnError>) -> Option<ColumnError> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

// ------------------------------------------------------------------ values

/// Buffers that outlive a table: the values handed to a column writer when
/// the column's own slice cannot be (nulls to drop, a conversion) and the
/// definition levels. Cleared, not freed, between columns and tables, so a
/// stream of tables allocates (and page-faults) them once, not once per
/// column per table.
#[derive(Default)]
struct Scratch {
    defs: Vec<i16>,
    bools: Vec<bool>,
    fixed: Vec<FixedLenByteArray>,
}

/// Rows handed to a column writer at a time, so the scratch stays small (a
/// few MiB at most) whatever the size of the caller's tables.
const SCRATCH_ROWS: usize = 1 << 16;

/// Values for `write_batch` and their definition levels (`None`: required).
type Batch<'a, T> = (&'a [T], Option<&'a [i16]>);

/// Bits `start..start+n` (n <= 64) of a validity bitmap of `bits` bits, bit j
/// of the result being row `start + j`. Bits at or beyond `bits` read as 0
/// (null), as `Bitmask::get` has it.
fn mask_word(bytes: &[u8], bits: usize, start: usize, n: usize) -> u64 {
    let avail = bits.saturating_sub(start).min(n);
    if avail == 0 {
        return 0;
    }
    let mut buf = [0u8; 9];
    let tail = bytes.get(start / 8..).unwrap_or_default();
    let take = tail.len().min(9);
    buf[..take].copy_from_slice(&tail[..take]);
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8] = buf;
    let lo = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
    let shift = start % 8;
    let word = if shift == 0 {
        lo
    } else {
        (lo >> shift) | (u64::from(b8) << (64 - shift))
    };
    if avail == 64 {
        word
    } else {
        word & ((1u64 << avail) - 1)
    }
}

/// Walks rows `offset..offset+len` of `mask` 64 rows at a time and calls `run`
/// with each run of consecutive valid rows (relative to `offset`, adjacent runs
/// merged, so a mask without nulls gives one run of every row; no mask too).
/// For a nullable column `defs` becomes the definition levels (1 valid, 0
/// null) and the result is `true`; a null in a required column, or a bitmap
/// shorter than the rows, is an error naming the column.
pub(super) fn valid_runs(
    col: &FieldArray,
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
    defs: &mut Vec<i16>,
    mut run: impl FnMut(Range<usize>) -> Result<()>,
) -> Result<bool> {
    let nullable = col.field.nullable || col.field.dtype == ArrowType::Null;
    let null_at = |row: usize| {
        parquet_error(format!(
            "column \"{}\" is not nullable but row {row} is null",
            col.field.name
        ))
    };
    defs.clear();
    // Rows before `done` have been handed to `run` or are nulls before it.
    let mut done = 0;
    let mut emit = |r: Range<usize>| -> Result<()> {
        if nullable {
            defs.resize(r.start, 0);
            defs.resize(r.end, 1);
        } else if r.start != done {
            return Err(null_at(offset + done));
        }
        done = r.end;
        run(r)
    };
    match mask {
        None if len > 0 => emit(0..len)?,
        None => {}
        Some(m) => {
            let bytes = m.as_slice();
            let bits = m.len().min(bytes.len() * 8);
            if bits < offset + len {
                return Err(parquet_error(format!(
                    "column \"{}\": its validity bitmap has {bits} bits, fewer than its rows",
                    col.field.name
                )));
            }
            let mut pending: Option<Range<usize>> = None;
            for base in (0..len).step_by(64) {
                let mut w = mask_word(bytes, bits, offset + base, (len - base).min(64));
                while w != 0 {
                    let s = w.trailing_zeros() as usize;
                    let r = (!(w >> s)).trailing_zeros() as usize;
                    let (lo, hi) = (base + s, base + s + r);
                    match &mut pending {
                        Some(p) if p.end == lo => p.end = hi,
                        _ => {
                            if let Some(p) = pending.replace(lo..hi) {
                                emit(p)?;
                            }
                        }
                    }
                    if s + r >= 64 {
                        break;
                    }
                    w &= !((1u64 << (s + r)) - 1);
                }
            }
            if let Some(p) = pending {
                emit(p)?;
            }
        }
    }
    if nullable {
        defs.resize(len, 0);
    } else if done != len {
        return Err(null_at(offset + done));
    }
    Ok(nullable)
}

/// Rows `offset..offset+len` of a column's values, or an error if it has fewer.
pub(super) fn rows<'a, T>(name: &str, data: &'a [T], offset: usize, len: usize) -> Result<&'a [T]> {
    data.get(offset..offset + len).ok_or_else(|| {
        parquet_error(format!(
            "column \"{name}\" holds {} values, fewer than its rows",
            data.len()
        ))
    })
}

/// The valid values of rows `offset..offset+len`, `value(row)` each, in `out`.
fn gather<'a, D>(
    col: &FieldArray,
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
    out: &'a mut Vec<D>,
    defs: &'a mut Vec<i16>,
    mut value: impl FnMut(usize) -> Result<D>,
) -> Result<Batch<'a, D>> {
    out.clear();
    let nullable = valid_runs(col, mask, offset, len, defs, |r| {
        out.reserve(r.len());
        for i in r {
            out.push(value(offset + i)?);
        }
        Ok(())
    })?;
    Ok((out, nullable.then_some(&defs[..])))
}

/// The valid values of rows `offset..offset+len` converted by `f`, in `out`;
/// a value `f` refuses is an error saying it does not fit `what`.
#[allow(clippy::too_many_arguments)]
fn conv<'a, S: Copy, D>(
    col: &FieldArray,
    data: &[S],
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
    out: &'a mut Vec<D>,
    defs: &'a mut Vec<i16>,
    f: impl Fn(S) -> Option<D>,
    what: &str,
) -> Result<Batch<'a, D>> {
    let name = col.field.name.as_str();
    let data = rows(name, data, offset, len)?;
    gather(col, mask, offset, len, out, defs, |i| {
        f(data[i - offset]).ok_or_else(|| {
            parquet_error(format!(
                "column \"{name}\": the value at row {i} does not fit {what}"
            ))
        })
    })
}

fn wrong_writer(name: &str) -> crate::Error {
    parquet_error(format!(
        "column \"{name}\": internal type mismatch between schema and column writer"
    ))
}

fn pq(name: &str) -> impl Fn(parquet::errors::ParquetError) -> crate::Error + '_ {
    move |e| parquet_error(format!("writing column \"{name}\": {e}"))
}

/// Writes rows `offset..offset+len` of `col` into its column writer.
fn write_column(
    w: &mut ColumnWriter<'static>,
    col: &FieldArray,
    offset: usize,
    len: usize,
    s: &mut Scratch,
) -> Result<()> {
    let name = col.field.name.as_str();
    let e = pq(name);
    macro_rules! put {
        ($variant:ident, $batch:expr) => {{
            let (values, defs) = $batch;
            let ColumnWriter::$variant(w) = w else {
                return Err(wrong_writer(name));
            };
            w.write_batch(values, defs, None).map_err(&e)?;
        }};
    }
    // `plain` or `conv` of array `$a`'s rows, through scratch buffer `$out`.
    macro_rules! batch {
        ($fn:ident, $a:expr, $out:ident $(, $arg:expr)*) => {
            $fn(
                col,
                $a.data.as_slice(),
                $a.null_mask.as_ref(),
                offset,
                len,
                &mut s.$out,
                &mut s.defs,
                $($arg,)*
            )?
        };
    }
    // The column's values converted by `$f` (`None`: does not fit `$what`).
    macro_rules! convert {
        ($variant:ident, $a:expr, $out:ident, $f:expr, $what:expr) => {
            put!($variant, batch!(conv, $a, $out, $f, $what))
        };
    }
    match &col.array {
        Array::Null => {
            s.defs.clear();
            s.defs.resize(len, 0);
            put!(Int32ColumnWriter, (&[][..], Some(&s.defs[..])));
        }
        Array::BooleanArray(a) => {
            let batch = gather(
                col,
                a.null_mask.as_ref(),
                offset,
                len,
                &mut s.bools,
                &mut s.defs,
                |i| Ok(a.data.get(i)),
            )?;
            put!(BoolColumnWriter, batch);
        }
        Array::NumericArray(n) => match n {
            NumericArray::Decimal128(a) => {
                let width = decimal_bytes(a.precision);
                convert!(
                    FixedLenByteArrayColumnWriter,
                    a,
                    fixed,
                    |v: i128| {
                        let be = v.to_be_bytes();
                        let (head, tail) = be.split_at(16 - width);
                        let sign = if v < 0 { 0xff } else { 0 };
                        // The dropped bytes must be pure sign extension.
                        let fits =
                            head.iter().all(|&b| b == sign) && (tail[0] & 0x80 == sign & 0x80);
                        fits.then(|| FixedLenByteArray::from(tail.to_vec()))
                    },
                    &format!("{width} bytes (precision {})", a.precision)
                );
            }
            // The other numbers go through our own encoder (encode.rs).
            _ => return Err(wrong_writer(name)),
        },
        // The other columns go through our own encoder (encode.rs).
        Array::TextArray(_) | Array::TemporalArray(_) => return Err(wrong_writer(name)),
        #[allow(unreachable_patterns)]
        _ => {
            return Err(parquet_error(format!(
                "column \"{name}\": {} cannot be written to Parquet",
                arrow_type_name(&col.field.dtype, None)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::Field;

    fn field(nullable: bool) -> FieldArray {
        FieldArray {
            field: Arc::new(Field::new("c", ArrowType::Int32, nullable, None)),
            array: Array::Null,
            null_count: 0,
        }
    }

    /// Validity patterns: none, all, alternating, sparse, dense, long runs.
    fn masks(n: usize) -> Vec<Vec<bool>> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        vec![
            vec![true; n],
            vec![false; n],
            (0..n).map(|i| i % 2 == 0).collect(),
            (0..n).map(|_| rnd() % 10 != 0).collect(),
            (0..n).map(|_| rnd() % 10 == 0).collect(),
            (0..n).map(|i| (i / 37) % 2 == 0).collect(),
        ]
    }

    #[test]
    fn valid_runs_match_bitmask_get_at_every_offset() {
        let n = 300;
        for bools in masks(n) {
            let m = Bitmask::from_bools(&bools);
            for offset in 0..=70 {
                for len in [0, 1, 7, 63, 64, 65, 127, 128, 129, 200, n - offset] {
                    let want: Vec<usize> = (0..len).filter(|&i| m.get(offset + i)).collect();
                    // Nullable: the runs are the valid rows, merged; the levels match.
                    let mut defs = Vec::new();
                    let mut runs: Vec<Range<usize>> = Vec::new();
                    let nullable =
                        valid_runs(&field(true), Some(&m), offset, len, &mut defs, |r| {
                            runs.push(r);
                            Ok(())
                        })
                        .unwrap();
                    assert!(nullable);
                    let got: Vec<usize> = runs.iter().cloned().flatten().collect();
                    assert_eq!(got, want, "offset {offset} len {len}");
                    assert!(runs.windows(2).all(|w| w[0].end < w[1].start));
                    let levels: Vec<i16> = (0..len).map(|i| i16::from(m.get(offset + i))).collect();
                    assert_eq!(defs, levels, "offset {offset} len {len}");
                    // Required: fine without nulls, else the first null's row.
                    let r = valid_runs(&field(false), Some(&m), offset, len, &mut defs, |_| Ok(()));
                    match (0..len).find(|&i| !m.get(offset + i)) {
                        None => assert!(!r.unwrap()),
                        Some(i) => {
                            let e = r.unwrap_err().to_string();
                            let row = offset + i;
                            assert!(e.contains(&format!("row {row} is null")), "{e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_mask_is_one_run_and_a_short_mask_is_an_error() {
        let mut defs = Vec::new();
        let mut runs = Vec::new();
        let nullable = valid_runs(&field(true), None, 5, 100, &mut defs, |r| {
            runs.push(r);
            Ok(())
        })
        .unwrap();
        assert!(nullable);
        assert_eq!(runs, vec![0..100]);
        assert_eq!(defs, vec![1; 100]);
        let m = Bitmask::from_bools(&[true; 8]);
        let e = valid_runs(&field(true), Some(&m), 0, 100, &mut defs, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"c\": its validity bitmap has 8 bits"), "{e}");
    }
}
