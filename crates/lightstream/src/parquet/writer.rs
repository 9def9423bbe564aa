//! [`ParquetWriter`]: minarrow tables -> a Parquet file, one row group at a time.
//!
//! Each incoming table is encoded straight away into the open row group's
//! column writers (the parquet crate's low-level `ColumnWriter` API). Those
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
use std::sync::{Arc, Mutex};

use lightstream_core::Schema;
use lightstream_core::bytes::Bytes;
use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, FieldArray, Integer, NumericArray, StringArray,
    Table, TemporalArray, TextArray, TimeUnit,
};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
use parquet::column::writer::{ColumnCloseResult, ColumnWriter, get_column_writer};
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor, Type};

use super::types::{
    ARROW_SCHEMA_KEY, decimal_bytes, encode_arrow_schema, parquet_error, parquet_type,
};
use crate::error::Result;

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
    /// Min / max / null count statistics per page and column chunk (default on).
    pub statistics: bool,
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
    columns: Vec<(ColumnWriter<'static>, PageBuffer)>,
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
    rows_written: u64,
}

fn compression(c: ParquetCompression) -> Result<PqCompression> {
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
        let file = SerializedFileWriter::new(writer, root, props.clone())
            .map_err(|e| parquet_error(format!("starting the Parquet file: {e}")))?;
        Ok(ParquetWriter {
            file: Some(file),
            schema: Arc::new(schema.clone()),
            columns: descr.columns().to_vec(),
            props,
            row_group_rows: options.row_group_rows,
            open: None,
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
            .map(|descr| {
                let sink: PageBuffer = Arc::new(Mutex::new(TrackedWrite::new(Vec::new())));
                let pages = Box::new(BufferPageWriter { sink: sink.clone() });
                (
                    get_column_writer(descr.clone(), self.props.clone(), pages),
                    sink,
                )
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
            for (i, (writer, _)) in open.columns.iter_mut().enumerate() {
                write_column(writer, &table.cols[i], offset, take)?;
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

    fn flush_row_group(&mut self, open: OpenRowGroup) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| parquet_error("ParquetWriter used after finish"))?;
        let mut chunks: Vec<(ColumnCloseResult, Bytes)> = Vec::with_capacity(open.columns.len());
        for (i, (writer, sink)) in open.columns.into_iter().enumerate() {
            let name = &self.schema.fields[i].name;
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
            chunks.push((close, Bytes::from(bytes)));
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

// ------------------------------------------------------------------ values

/// Definition levels of rows `offset..offset+len` (1 valid, 0 null), or `None`
/// for a required column; errors when a required column holds a null.
fn def_levels(
    col: &FieldArray,
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
) -> Result<Option<Vec<i16>>> {
    if !col.field.nullable && col.field.dtype != ArrowType::Null {
        if let Some(m) = mask
            && let Some(i) = (offset..offset + len).find(|&i| !m.get(i))
        {
            return Err(parquet_error(format!(
                "column \"{}\" is not nullable but row {i} is null",
                col.field.name
            )));
        }
        return Ok(None);
    }
    Ok(Some(match mask {
        Some(m) => (offset..offset + len)
            .map(|i| i16::from(m.get(i)))
            .collect(),
        None => vec![1; len],
    }))
}

fn valid_rows(
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
) -> impl Iterator<Item = usize> + '_ {
    (offset..offset + len).filter(move |&i| mask.is_none_or(|m| m.get(i)))
}

fn conv<S: Copy, D>(
    data: &[S],
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
    f: impl Fn(S) -> D,
) -> Vec<D> {
    match mask {
        None => data[offset..offset + len].iter().map(|&v| f(v)).collect(),
        Some(_) => valid_rows(mask, offset, len).map(|i| f(data[i])).collect(),
    }
}

fn try_conv<S: Copy, D>(
    name: &str,
    data: &[S],
    mask: Option<&Bitmask>,
    offset: usize,
    len: usize,
    f: impl Fn(S) -> Option<D>,
    what: &str,
) -> Result<Vec<D>> {
    valid_rows(mask, offset, len)
        .map(|i| {
            f(data[i]).ok_or_else(|| {
                parquet_error(format!(
                    "column \"{name}\": the value at row {i} does not fit {what}"
                ))
            })
        })
        .collect()
}

fn wrong_writer(name: &str) -> crate::Error {
    parquet_error(format!(
        "column \"{name}\": internal type mismatch between schema and column writer"
    ))
}

fn pq(name: &str) -> impl Fn(parquet::errors::ParquetError) -> crate::Error + '_ {
    move |e| parquet_error(format!("writing column \"{name}\": {e}"))
}

fn byte_arrays_of_strings<O: Copy + Into<u64>>(
    a: &StringArray<O>,
    offset: usize,
    len: usize,
    name: &str,
) -> Result<Vec<ByteArray>> {
    let offs = a.offsets.as_slice();
    if offs.len() < offset + len + 1 {
        return Err(parquet_error(format!(
            "column \"{name}\": string offsets shorter than the table"
        )));
    }
    let lo = offs[offset].into() as usize;
    let hi = offs[offset + len].into() as usize;
    let data = a.data.as_slice();
    if lo > hi || hi > data.len() {
        return Err(parquet_error(format!(
            "column \"{name}\": string offsets out of range"
        )));
    }
    // One copy of the strings of these rows; each value is a slice of it.
    let bytes = Bytes::copy_from_slice(&data[lo..hi]);
    valid_rows(a.null_mask.as_ref(), offset, len)
        .map(|i| {
            let s = offs[i].into() as usize;
            let e = offs[i + 1].into() as usize;
            if s < lo || e < s || e > hi {
                return Err(parquet_error(format!(
                    "column \"{name}\": bad string offsets at row {i}"
                )));
            }
            Ok(ByteArray::from(bytes.slice(s - lo..e - lo)))
        })
        .collect()
}

fn byte_arrays_of_categorical<K: Integer>(
    a: &CategoricalArray<K>,
    offset: usize,
    len: usize,
    name: &str,
) -> Result<Vec<ByteArray>> {
    let dict: Vec<ByteArray> = a
        .unique_values
        .iter()
        .map(|s| ByteArray::from(Bytes::copy_from_slice(s.as_bytes())))
        .collect();
    let keys = a.data.as_slice();
    valid_rows(a.null_mask.as_ref(), offset, len)
        .map(|i| {
            let k = keys[i].to_usize();
            dict.get(k).cloned().ok_or_else(|| {
                parquet_error(format!(
                    "column \"{name}\": key {k} at row {i} is outside its dictionary of {} values",
                    dict.len()
                ))
            })
        })
        .collect()
}

fn scale_up(v: i64, factor: i64) -> Option<i64> {
    v.checked_mul(factor)
}

/// Writes rows `offset..offset+len` of `col` into its column writer.
fn write_column(
    w: &mut ColumnWriter<'static>,
    col: &FieldArray,
    offset: usize,
    len: usize,
) -> Result<()> {
    let name = col.field.name.as_str();
    let e = pq(name);
    macro_rules! put {
        ($variant:ident, $values:expr, $defs:expr) => {{
            let ColumnWriter::$variant(w) = w else {
                return Err(wrong_writer(name));
            };
            w.write_batch(&$values, $defs.as_deref(), None)
                .map_err(&e)?;
        }};
    }
    match &col.array {
        Array::Null => {
            let defs = Some(vec![0i16; len]);
            put!(Int32ColumnWriter, Vec::<i32>::new(), defs);
        }
        Array::BooleanArray(a) => {
            let mask = a.null_mask.as_ref();
            let defs = def_levels(col, mask, offset, len)?;
            let vals: Vec<bool> = valid_rows(mask, offset, len)
                .map(|i| a.data.get(i))
                .collect();
            put!(BoolColumnWriter, vals, defs);
        }
        Array::NumericArray(n) => match n {
            NumericArray::Int8(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, i32::from),
                    defs
                );
            }
            NumericArray::Int16(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, i32::from),
                    defs
                );
            }
            NumericArray::Int32(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::Int64(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int64ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::UInt8(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, i32::from),
                    defs
                );
            }
            NumericArray::UInt16(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, i32::from),
                    defs
                );
            }
            NumericArray::UInt32(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                // UINT_32 is stored as the INT32 bit pattern.
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v as i32),
                    defs
                );
            }
            NumericArray::UInt64(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int64ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v as i64),
                    defs
                );
            }
            NumericArray::Float32(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    FloatColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::Float64(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    DoubleColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::Decimal32(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int32ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::Decimal64(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                put!(
                    Int64ColumnWriter,
                    conv(a.data.as_slice(), m, offset, len, |v| v),
                    defs
                );
            }
            NumericArray::Decimal128(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                let width = decimal_bytes(a.precision);
                let vals = try_conv(
                    name,
                    a.data.as_slice(),
                    m,
                    offset,
                    len,
                    |v: i128| {
                        let be = v.to_be_bytes();
                        let (head, tail) = be.split_at(16 - width);
                        let sign = if v < 0 { 0xff } else { 0 };
                        // The dropped bytes must be pure sign extension.
                        let fits =
                            head.iter().all(|&b| b == sign) && (tail[0] & 0x80 == sign & 0x80);
                        fits.then(|| FixedLenByteArray::from(tail.to_vec()))
                    },
                    &format!("{width} bytes (precision {})", a.precision),
                )?;
                put!(FixedLenByteArrayColumnWriter, vals, defs);
            }
            _ => {
                return Err(parquet_error(format!(
                    "column \"{name}\": numeric type not supported"
                )));
            }
        },
        Array::TextArray(t) => {
            let (vals, mask) = match t {
                TextArray::String32(a) => (
                    byte_arrays_of_strings(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                TextArray::String64(a) => (
                    byte_arrays_of_strings(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                TextArray::Categorical8(a) => (
                    byte_arrays_of_categorical(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                TextArray::Categorical16(a) => (
                    byte_arrays_of_categorical(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                TextArray::Categorical32(a) => (
                    byte_arrays_of_categorical(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                TextArray::Categorical64(a) => (
                    byte_arrays_of_categorical(a, offset, len, name)?,
                    a.null_mask.as_ref(),
                ),
                #[allow(unreachable_patterns)]
                _ => {
                    return Err(parquet_error(format!(
                        "column \"{name}\": text type not supported"
                    )));
                }
            };
            let defs = def_levels(col, mask, offset, len)?;
            put!(ByteArrayColumnWriter, vals, defs);
        }
        Array::TemporalArray(t) => match t {
            TemporalArray::Datetime32(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                let vals = match &col.field.dtype {
                    ArrowType::Time32(TimeUnit::Seconds) => try_conv(
                        name,
                        a.data.as_slice(),
                        m,
                        offset,
                        len,
                        |v: i32| v.checked_mul(1000),
                        "32-bit milliseconds (Parquet has no seconds unit)",
                    )?,
                    ArrowType::Duration32(_) => {
                        let vals = conv(a.data.as_slice(), m, offset, len, i64::from);
                        put!(Int64ColumnWriter, vals, defs);
                        return Ok(());
                    }
                    _ => conv(a.data.as_slice(), m, offset, len, |v| v),
                };
                put!(Int32ColumnWriter, vals, defs);
            }
            TemporalArray::Datetime64(a) => {
                let m = a.null_mask.as_ref();
                let defs = def_levels(col, m, offset, len)?;
                match &col.field.dtype {
                    ArrowType::Date64 => {
                        let vals = try_conv(
                            name,
                            a.data.as_slice(),
                            m,
                            offset,
                            len,
                            |v: i64| i32::try_from(v.div_euclid(86_400_000)).ok(),
                            "a 32-bit day count",
                        )?;
                        put!(Int32ColumnWriter, vals, defs);
                    }
                    ArrowType::Timestamp(TimeUnit::Seconds, _) => {
                        let vals = try_conv(
                            name,
                            a.data.as_slice(),
                            m,
                            offset,
                            len,
                            |v| scale_up(v, 1000),
                            "milliseconds (Parquet has no seconds unit)",
                        )?;
                        put!(Int64ColumnWriter, vals, defs);
                    }
                    _ => {
                        put!(
                            Int64ColumnWriter,
                            conv(a.data.as_slice(), m, offset, len, |v| v),
                            defs
                        );
                    }
                }
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(parquet_error(format!(
                    "column \"{name}\": temporal type not supported"
                )));
            }
        },
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
