//! Arrow schemas <-> minarrow fields.
//!
//! Reading turns the `Schema` flatbuffer into a [`Schema`] of minarrow
//! `Field`s plus, per field, how it is dictionary-encoded on the wire. Fields
//! whose Arrow type minarrow cannot hold are described ([`FieldInfo`]) and
//! their wire layout is remembered so a projection can skip them. Writing
//! the flatbuffer back is `schema_write.rs`; naming types is `crate::display`.

use std::collections::BTreeMap;
use std::sync::Arc;

use flatbuffers::{ForwardsUOffset, Vector};
use minarrow::ffi::arrow_dtype::CategoricalIndexType;
use minarrow::{ArrowType, Field, Table, TimeUnit};

use crate::display::arrow_type_name;
use crate::error::{Error, Result};
use crate::fbs;
use crate::limits::DecodeLimits;

/// The integer type of a dictionary's keys on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexType {
    /// Signed 8-bit keys.
    Int8,
    /// Signed 16-bit keys.
    Int16,
    /// Signed 32-bit keys (Arrow's default).
    Int32,
    /// Signed 64-bit keys.
    Int64,
    /// Unsigned 8-bit keys.
    UInt8,
    /// Unsigned 16-bit keys.
    UInt16,
    /// Unsigned 32-bit keys.
    UInt32,
    /// Unsigned 64-bit keys.
    UInt64,
}

impl IndexType {
    /// Key width in bytes.
    pub fn byte_width(self) -> usize {
        match self {
            IndexType::Int8 | IndexType::UInt8 => 1,
            IndexType::Int16 | IndexType::UInt16 => 2,
            IndexType::Int32 | IndexType::UInt32 => 4,
            IndexType::Int64 | IndexType::UInt64 => 8,
        }
    }

    /// True for the signed types.
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            IndexType::Int8 | IndexType::Int16 | IndexType::Int32 | IndexType::Int64
        )
    }

    fn from_parts(bit_width: i32, signed: bool) -> Option<IndexType> {
        Some(match (bit_width, signed) {
            (8, true) => IndexType::Int8,
            (16, true) => IndexType::Int16,
            (32, true) => IndexType::Int32,
            (64, true) => IndexType::Int64,
            (8, false) => IndexType::UInt8,
            (16, false) => IndexType::UInt16,
            (32, false) => IndexType::UInt32,
            (64, false) => IndexType::UInt64,
            _ => return None,
        })
    }

    /// The minarrow categorical width that holds these keys.
    pub fn categorical(self) -> CategoricalIndexType {
        match self.byte_width() {
            1 => CategoricalIndexType::UInt8,
            2 => CategoricalIndexType::UInt16,
            4 => CategoricalIndexType::UInt32,
            _ => CategoricalIndexType::UInt64,
        }
    }

    /// The unsigned index type of a minarrow categorical width.
    pub fn for_categorical(c: &CategoricalIndexType) -> IndexType {
        match c {
            CategoricalIndexType::UInt8 => IndexType::UInt8,
            CategoricalIndexType::UInt16 => IndexType::UInt16,
            CategoricalIndexType::UInt32 => IndexType::UInt32,
            CategoricalIndexType::UInt64 => IndexType::UInt64,
        }
    }

    /// The index type as Arrow names it (`Int8` ... `UInt64`).
    pub fn name(self) -> &'static str {
        match self {
            IndexType::Int8 => "Int8",
            IndexType::Int16 => "Int16",
            IndexType::Int32 => "Int32",
            IndexType::Int64 => "Int64",
            IndexType::UInt8 => "UInt8",
            IndexType::UInt16 => "UInt16",
            IndexType::UInt32 => "UInt32",
            IndexType::UInt64 => "UInt64",
        }
    }
}

/// How a field is dictionary-encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DictionaryEncoding {
    /// The dictionary id that dictionary batches refer to.
    pub id: i64,
    /// The key type.
    pub index_type: IndexType,
    /// Values are LargeUtf8 (64-bit offsets) rather than Utf8.
    pub large_values: bool,
    /// The dictionary order is meaningful.
    pub ordered: bool,
}

/// A schema: minarrow fields, schema metadata, and per-field dictionary encoding.
///
/// Usually taken from a table; dictionary (categorical) columns get their
/// wire encoding here.
///
/// ```
/// use lightstream_core::minarrow::{fa_cat32, fa_i64, tbl};
/// use lightstream_core::{IndexType, Schema};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2), fa_cat32!("city", "paris", "oslo"));
/// let schema = Schema::from_table(&table);
/// assert_eq!(schema.fields[1].name, "city");
/// assert!(schema.dictionary(0).is_none());
/// let city = schema.dictionary(1).expect("a dictionary column");
/// assert_eq!((city.id, city.index_type), (0, IndexType::UInt32));
/// let narrow = schema.project(&[1])?;
/// assert_eq!(narrow.fields.len(), 1);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The fields (columns), in order.
    pub fields: Vec<Arc<Field>>,
    /// Schema-level custom metadata.
    pub metadata: BTreeMap<String, String>,
    /// One entry per field: `Some` for dictionary-encoded fields.
    pub dictionaries: Vec<Option<DictionaryEncoding>>,
}

impl Schema {
    /// A schema of `fields`. Dictionary fields get ids 0, 1, ... in field
    /// order, unsigned keys of the categorical's width, and Utf8 values.
    pub fn new(fields: Vec<Arc<Field>>, metadata: BTreeMap<String, String>) -> Schema {
        let mut next_id = 0;
        let dictionaries = fields
            .iter()
            .map(|f| match &f.dtype {
                ArrowType::Dictionary(c) => {
                    let d = DictionaryEncoding {
                        id: next_id,
                        index_type: IndexType::for_categorical(c),
                        large_values: false,
                        ordered: false,
                    };
                    next_id += 1;
                    Some(d)
                }
                _ => None,
            })
            .collect();
        Schema {
            fields,
            metadata,
            dictionaries,
        }
    }

    /// The schema of `table`: its fields and its metadata.
    pub fn from_table(table: &Table) -> Schema {
        Schema::new(
            table.cols.iter().map(|c| c.field.clone()).collect(),
            table.metadata.clone(),
        )
    }

    /// The dictionary encoding of field `i`, if it has one.
    pub fn dictionary(&self, i: usize) -> Option<&DictionaryEncoding> {
        self.dictionaries.get(i).and_then(|d| d.as_ref())
    }

    /// The schema restricted to `columns`, in that order.
    pub fn project(&self, columns: &[usize]) -> Result<Schema> {
        let mut fields = Vec::with_capacity(columns.len());
        let mut dictionaries = Vec::with_capacity(columns.len());
        for &c in columns {
            let f = self.fields.get(c).ok_or_else(|| {
                Error::schema(format!(
                    "projection names column {c} but the schema has {} columns",
                    self.fields.len()
                ))
            })?;
            fields.push(f.clone());
            dictionaries.push(self.dictionaries.get(c).copied().flatten());
        }
        Ok(Schema {
            fields,
            metadata: self.metadata.clone(),
            dictionaries,
        })
    }

    pub(crate) fn check_consistent(&self) -> Result<()> {
        if self.dictionaries.len() != self.fields.len() {
            return Err(Error::schema(format!(
                "schema has {} fields but {} dictionary entries",
                self.fields.len(),
                self.dictionaries.len()
            )));
        }
        for (f, d) in self.fields.iter().zip(&self.dictionaries) {
            match (&f.dtype, d) {
                (ArrowType::Dictionary(c), Some(d)) => {
                    if d.index_type.categorical() != *c {
                        return Err(Error::schema(format!(
                            "field \"{}\" holds {}-byte categorical keys but its dictionary \
                             encoding says {}",
                            f.name,
                            d.index_type.byte_width(),
                            d.index_type.name()
                        )));
                    }
                }
                (ArrowType::Dictionary(_), None) => {
                    return Err(Error::schema(format!(
                        "dictionary field \"{}\" has no dictionary encoding",
                        f.name
                    )));
                }
                (_, Some(_)) => {
                    return Err(Error::schema(format!(
                        "field \"{}\" is not a dictionary but has a dictionary encoding",
                        f.name
                    )));
                }
                _ => {}
            }
        }
        for (i, a) in self.dictionaries.iter().enumerate() {
            let Some(a) = a else { continue };
            for b in self.dictionaries.iter().skip(i + 1).flatten() {
                if a.id == b.id && (a.large_values != b.large_values) {
                    return Err(Error::schema(format!(
                        "dictionary id {} is shared by fields with different value types",
                        a.id
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A field of a stream or file as Arrow describes it, held or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// The field name.
    pub name: String,
    /// The Arrow type, as Arrow names it (e.g. `Timestamp(Microsecond, "UTC")`).
    pub arrow_type: String,
    /// Nullability.
    pub nullable: bool,
    /// Whether Lightstream can decode this field into a minarrow column.
    pub supported: bool,
    /// Field custom metadata.
    pub metadata: BTreeMap<String, String>,
}

impl FieldInfo {
    /// The description of a field minarrow holds (`supported` is true), with
    /// its type named as the decoder names the types it reads, e.g.
    /// `Timestamp(Millisecond, "UTC")` or `Dictionary<UInt32, Utf8>`. For
    /// readers of other formats (CSV, Parquet) that list fields the same way.
    pub fn of(field: &Field, dictionary: Option<&DictionaryEncoding>) -> FieldInfo {
        FieldInfo {
            name: field.name.clone(),
            arrow_type: arrow_type_name(&field.dtype, dictionary),
            nullable: field.nullable,
            supported: true,
            metadata: field.metadata.clone(),
        }
    }
}

/// How many FieldNodes, buffers and variadic-count entries a field occupies
/// in a record batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub nodes: usize,
    pub buffers: usize,
    pub variadic: usize,
}

/// Everything the decoder knows about one top-level field.
#[derive(Debug, Clone)]
pub(crate) struct WireField {
    pub info: FieldInfo,
    pub layout: Layout,
    /// `Some` when minarrow can hold the field.
    pub field: Option<Arc<Field>>,
    pub dictionary: Option<DictionaryEncoding>,
    /// Every dictionary id in the field's type tree, its own and its
    /// children's: the dictionary batches that belong to it (applied only
    /// when the field is decoded, skipped otherwise).
    pub dictionary_ids: Vec<i64>,
}

/// The decoded `Schema` message.
#[derive(Debug, Clone)]
pub(crate) struct WireSchema {
    pub fields: Vec<WireField>,
    pub metadata: BTreeMap<String, String>,
}

impl WireSchema {
    pub fn infos(&self) -> Vec<FieldInfo> {
        self.fields.iter().map(|f| f.info.clone()).collect()
    }

    /// The minarrow schema of `columns` (all columns when `None`); fails on
    /// the first unsupported one, naming it.
    pub fn select(&self, columns: Option<&[usize]>) -> Result<Schema> {
        let all: Vec<usize>;
        let columns = match columns {
            Some(c) => c,
            None => {
                all = (0..self.fields.len()).collect();
                &all
            }
        };
        let mut fields = Vec::with_capacity(columns.len());
        let mut dictionaries = Vec::with_capacity(columns.len());
        for &c in columns {
            let wf = self.fields.get(c).ok_or_else(|| {
                Error::schema(format!(
                    "projection names column {c} but the schema has {} columns",
                    self.fields.len()
                ))
            })?;
            let Some(field) = &wf.field else {
                return Err(Error::unsupported(format!(
                    "Arrow type {} of field \"{}\" (column {c}) has no minarrow equivalent; \
                     read the other columns with ReadOptions::skip_unsupported \
                     (skipUnsupported in JavaScript) or leave it out with \
                     ReadOptions::projection (columns)",
                    wf.info.arrow_type, wf.info.name
                ))
                .in_field(&wf.info.name, &wf.info.arrow_type));
            };
            fields.push(field.clone());
            dictionaries.push(wf.dictionary);
        }
        Ok(Schema {
            fields,
            metadata: self.metadata.clone(),
            dictionaries,
        })
    }
}

pub(crate) fn read_metadata(
    kvs: Option<Vector<'_, ForwardsUOffset<fbs::KeyValue<'_>>>>,
    limits: &DecodeLimits,
    whose: &str,
) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    let Some(kvs) = kvs else { return Ok(map) };
    if kvs.len() > limits.max_metadata_entries {
        return Err(Error::limit(
            &format!("number of custom metadata entries on {whose}"),
            kvs.len() as u64,
            limits.max_metadata_entries as u64,
        ));
    }
    for kv in kvs.iter() {
        map.insert(
            kv.key().unwrap_or("").to_string(),
            kv.value().unwrap_or("").to_string(),
        );
    }
    Ok(map)
}

fn time_unit(u: fbs::TimeUnit) -> Result<(TimeUnit, &'static str)> {
    Ok(match u {
        fbs::TimeUnit::SECOND => (TimeUnit::Seconds, "Second"),
        fbs::TimeUnit::MILLISECOND => (TimeUnit::Milliseconds, "Millisecond"),
        fbs::TimeUnit::MICROSECOND => (TimeUnit::Microseconds, "Microsecond"),
        fbs::TimeUnit::NANOSECOND => (TimeUnit::Nanoseconds, "Nanosecond"),
        other => {
            return Err(Error::malformed(format!("unknown time unit {}", other.0)));
        }
    })
}

/// Decodes the `Schema` flatbuffer.
pub(crate) fn read_schema(schema: fbs::Schema<'_>, limits: &DecodeLimits) -> Result<WireSchema> {
    if schema.endianness() == fbs::Endianness::Big {
        return Err(Error::unsupported(
            "the data is big-endian; Lightstream reads little-endian Arrow only \
             (rewrite it little-endian, e.g. with pyarrow)",
        ));
    }
    let metadata = read_metadata(schema.custom_metadata(), limits, "the schema")?;
    let fields_fb = schema.fields();
    let n = fields_fb.map_or(0, |f| f.len());
    if n > limits.max_columns {
        return Err(Error::limit(
            "number of schema fields",
            n as u64,
            limits.max_columns as u64,
        ));
    }
    let mut fields = Vec::with_capacity(n);
    if let Some(fs) = fields_fb {
        for (i, f) in fs.iter().enumerate() {
            let wf = read_field(f, limits).map_err(|e| {
                let name = f.name().unwrap_or("");
                e.in_field(name, format!("column {i}"))
            })?;
            fields.push(wf);
        }
    }
    Ok(WireSchema { fields, metadata })
}

fn read_field(f: fbs::Field<'_>, limits: &DecodeLimits) -> Result<WireField> {
    let name = f.name().unwrap_or("").to_string();
    let nullable = f.nullable();
    let metadata = read_metadata(f.custom_metadata(), limits, "a field")?;
    let value_type = type_name(&f, 0)?;
    let layout_value = layout(&f, 0)?;

    let (arrow_type, layout, field_type, dictionary) = match f.dictionary() {
        Some(d) => {
            let index_type = match d.indexType() {
                None => IndexType::Int32,
                Some(it) => {
                    IndexType::from_parts(it.bitWidth(), it.is_signed()).ok_or_else(|| {
                        Error::malformed(format!(
                            "dictionary index type has bit width {}",
                            it.bitWidth()
                        ))
                    })?
                }
            };
            let arrow_type = format!("Dictionary<{}, {}>", index_type.name(), value_type);
            let layout = Layout {
                nodes: 1,
                buffers: 2,
                variadic: 0,
            };
            let large = match f.type_type() {
                fbs::Type::Utf8 => Some(false),
                fbs::Type::LargeUtf8 => Some(true),
                _ => None,
            };
            match large {
                Some(large_values) => (
                    arrow_type,
                    layout,
                    Some(ArrowType::Dictionary(index_type.categorical())),
                    Some(DictionaryEncoding {
                        id: d.id(),
                        index_type,
                        large_values,
                        ordered: d.isOrdered(),
                    }),
                ),
                None => (arrow_type, layout, None, None),
            }
        }
        None => (value_type, layout_value, supported_type(&f)?, None),
    };
    let mut dictionary_ids = Vec::new();
    self::dictionary_ids(f, &mut dictionary_ids);
    let supported = field_type.is_some();
    let field = field_type.map(|dtype| {
        Arc::new(Field {
            name: name.clone(),
            dtype,
            nullable,
            metadata: metadata.clone(),
        })
    });
    Ok(WireField {
        info: FieldInfo {
            name,
            arrow_type,
            nullable,
            supported,
            metadata,
        },
        layout,
        field,
        dictionary,
        dictionary_ids,
    })
}

/// The minarrow type of a non-dictionary field, or `None` when minarrow has none.
fn supported_type(f: &fbs::Field<'_>) -> Result<Option<ArrowType>> {
    Ok(Some(match f.type_type() {
        fbs::Type::Null => ArrowType::Null,
        fbs::Type::Bool => ArrowType::Boolean,
        fbs::Type::Int => {
            let t = f
                .type__as_int()
                .ok_or_else(|| Error::malformed("Int type without its table"))?;
            match (t.bitWidth(), t.is_signed()) {
                (8, true) => ArrowType::Int8,
                (16, true) => ArrowType::Int16,
                (32, true) => ArrowType::Int32,
                (64, true) => ArrowType::Int64,
                (8, false) => ArrowType::UInt8,
                (16, false) => ArrowType::UInt16,
                (32, false) => ArrowType::UInt32,
                (64, false) => ArrowType::UInt64,
                (w, _) => {
                    return Err(Error::malformed(format!("integer bit width {w}")));
                }
            }
        }
        fbs::Type::FloatingPoint => {
            let t = f
                .type__as_floating_point()
                .ok_or_else(|| Error::malformed("FloatingPoint type without its table"))?;
            match t.precision() {
                fbs::Precision::SINGLE => ArrowType::Float32,
                fbs::Precision::DOUBLE => ArrowType::Float64,
                _ => return Ok(None),
            }
        }
        fbs::Type::Utf8 => ArrowType::String,
        fbs::Type::LargeUtf8 => ArrowType::LargeString,
        fbs::Type::Decimal => {
            let t = f
                .type__as_decimal()
                .ok_or_else(|| Error::malformed("Decimal type without its table"))?;
            let (p, s) = decimal_params(t.precision(), t.scale())?;
            match t.bitWidth() {
                32 => ArrowType::Decimal32(p, s),
                64 => ArrowType::Decimal64(p, s),
                128 => ArrowType::Decimal128(p, s),
                _ => return Ok(None),
            }
        }
        fbs::Type::Date => {
            let t = f
                .type__as_date()
                .ok_or_else(|| Error::malformed("Date type without its table"))?;
            match t.unit() {
                fbs::DateUnit::DAY => ArrowType::Date32,
                fbs::DateUnit::MILLISECOND => ArrowType::Date64,
                other => return Err(Error::malformed(format!("unknown date unit {}", other.0))),
            }
        }
        fbs::Type::Time => {
            let t = f
                .type__as_time()
                .ok_or_else(|| Error::malformed("Time type without its table"))?;
            let (unit, _) = time_unit(t.unit())?;
            match (t.unit(), t.bitWidth()) {
                (fbs::TimeUnit::SECOND | fbs::TimeUnit::MILLISECOND, 32) => ArrowType::Time32(unit),
                (fbs::TimeUnit::MICROSECOND | fbs::TimeUnit::NANOSECOND, 64) => {
                    ArrowType::Time64(unit)
                }
                (_, w) => {
                    return Err(Error::malformed(format!(
                        "time type with unit {:?} has bit width {w}",
                        t.unit()
                    )));
                }
            }
        }
        fbs::Type::Timestamp => {
            let t = f
                .type__as_timestamp()
                .ok_or_else(|| Error::malformed("Timestamp type without its table"))?;
            let (unit, _) = time_unit(t.unit())?;
            ArrowType::Timestamp(unit, t.timezone().map(str::to_string))
        }
        fbs::Type::Duration => {
            let t = f
                .type__as_duration()
                .ok_or_else(|| Error::malformed("Duration type without its table"))?;
            let (unit, _) = time_unit(t.unit())?;
            ArrowType::Duration64(unit)
        }
        _ => return Ok(None),
    }))
}

fn decimal_params(precision: i32, scale: i32) -> Result<(u8, i8)> {
    let p = u8::try_from(precision)
        .ok()
        .filter(|p| (1..=76).contains(p))
        .ok_or_else(|| Error::malformed(format!("decimal precision {precision}")))?;
    let s = i8::try_from(scale).map_err(|_| Error::malformed(format!("decimal scale {scale}")))?;
    Ok((p, s))
}

/// Adds the dictionary ids of `field` and of its children, at any depth
/// (the flatbuffer verifier bounds the depth).
pub(crate) fn dictionary_ids(field: fbs::Field<'_>, ids: &mut impl Extend<i64>) {
    if let Some(d) = field.dictionary() {
        ids.extend([d.id()]);
    }
    if let Some(children) = field.children() {
        children.iter().for_each(|c| dictionary_ids(c, ids));
    }
}

const MAX_NESTING: usize = 64;

fn children<'a>(f: &fbs::Field<'a>) -> impl Iterator<Item = fbs::Field<'a>> {
    f.children().into_iter().flat_map(|c| c.iter())
}

/// The Arrow name of a field's type (ignoring dictionary encoding).
fn type_name(f: &fbs::Field<'_>, depth: usize) -> Result<String> {
    if depth > MAX_NESTING {
        return Err(Error::limit(
            "type nesting depth",
            depth as u64,
            MAX_NESTING as u64,
        ));
    }
    let child_names = |sep: &str| -> Result<String> {
        let mut parts = Vec::new();
        for c in children(f) {
            let n = c.name().unwrap_or("");
            let t = match c.dictionary() {
                Some(d) => {
                    let index = d
                        .indexType()
                        .and_then(|it| IndexType::from_parts(it.bitWidth(), it.is_signed()))
                        .unwrap_or(IndexType::Int32);
                    format!(
                        "Dictionary<{}, {}>",
                        index.name(),
                        type_name(&c, depth + 1)?
                    )
                }
                None => type_name(&c, depth + 1)?,
            };
            parts.push(if sep == ": " { format!("{n}: {t}") } else { t });
        }
        Ok(parts.join(", "))
    };
    Ok(match f.type_type() {
        fbs::Type::Null => "Null".into(),
        fbs::Type::Bool => "Boolean".into(),
        fbs::Type::Int => match f.type__as_int() {
            Some(t) => format!(
                "{}Int{}",
                if t.is_signed() { "" } else { "U" },
                t.bitWidth()
            ),
            None => "Int".into(),
        },
        fbs::Type::FloatingPoint => match f.type__as_floating_point().map(|t| t.precision()) {
            Some(fbs::Precision::HALF) => "Float16".into(),
            Some(fbs::Precision::SINGLE) => "Float32".into(),
            _ => "Float64".into(),
        },
        fbs::Type::Binary => "Binary".into(),
        fbs::Type::LargeBinary => "LargeBinary".into(),
        fbs::Type::Utf8 => "Utf8".into(),
        fbs::Type::LargeUtf8 => "LargeUtf8".into(),
        fbs::Type::BinaryView => "BinaryView".into(),
        fbs::Type::Utf8View => "Utf8View".into(),
        fbs::Type::FixedSizeBinary => format!(
            "FixedSizeBinary({})",
            f.type__as_fixed_size_binary().map_or(0, |t| t.byteWidth())
        ),
        fbs::Type::Decimal => match f.type__as_decimal() {
            Some(t) => format!("Decimal{}({}, {})", t.bitWidth(), t.precision(), t.scale()),
            None => "Decimal".into(),
        },
        fbs::Type::Date => match f.type__as_date().map(|t| t.unit()) {
            Some(fbs::DateUnit::DAY) => "Date32".into(),
            _ => "Date64".into(),
        },
        fbs::Type::Time => match f.type__as_time() {
            Some(t) => format!("Time{}({})", t.bitWidth(), time_unit(t.unit())?.1),
            None => "Time".into(),
        },
        fbs::Type::Timestamp => match f.type__as_timestamp() {
            Some(t) => match t.timezone() {
                Some(tz) => format!("Timestamp({}, \"{}\")", time_unit(t.unit())?.1, tz),
                None => format!("Timestamp({}, None)", time_unit(t.unit())?.1),
            },
            None => "Timestamp".into(),
        },
        fbs::Type::Duration => match f.type__as_duration() {
            Some(t) => format!("Duration({})", time_unit(t.unit())?.1),
            None => "Duration".into(),
        },
        fbs::Type::Interval => match f.type__as_interval().map(|t| t.unit()) {
            Some(fbs::IntervalUnit::YEAR_MONTH) => "Interval(YearMonth)".into(),
            Some(fbs::IntervalUnit::DAY_TIME) => "Interval(DayTime)".into(),
            _ => "Interval(MonthDayNano)".into(),
        },
        fbs::Type::List => format!("List<{}>", child_names(", ")?),
        fbs::Type::LargeList => format!("LargeList<{}>", child_names(", ")?),
        fbs::Type::ListView => format!("ListView<{}>", child_names(", ")?),
        fbs::Type::LargeListView => format!("LargeListView<{}>", child_names(", ")?),
        fbs::Type::FixedSizeList => format!(
            "FixedSizeList<{}>({})",
            child_names(", ")?,
            f.type__as_fixed_size_list().map_or(0, |t| t.listSize())
        ),
        fbs::Type::Struct_ => format!("Struct<{}>", child_names(": ")?),
        fbs::Type::Map => format!("Map<{}>", child_names(", ")?),
        fbs::Type::Union => format!("Union<{}>", child_names(": ")?),
        fbs::Type::RunEndEncoded => format!("RunEndEncoded<{}>", child_names(", ")?),
        other => {
            return Err(Error::malformed(format!(
                "unknown Arrow type tag {}",
                other.0
            )));
        }
    })
}

/// The record-batch layout of a field (as if not dictionary-encoded at the top).
fn layout(f: &fbs::Field<'_>, depth: usize) -> Result<Layout> {
    if depth > MAX_NESTING {
        return Err(Error::limit(
            "type nesting depth",
            depth as u64,
            MAX_NESTING as u64,
        ));
    }
    if f.dictionary().is_some() && depth > 0 {
        // A dictionary-encoded child occupies its index array's slots.
        return Ok(Layout {
            nodes: 1,
            buffers: 2,
            variadic: 0,
        });
    }
    let (buffers, variadic, nested) = match f.type_type() {
        fbs::Type::Null => (0, 0, false),
        fbs::Type::Int
        | fbs::Type::FloatingPoint
        | fbs::Type::Bool
        | fbs::Type::Decimal
        | fbs::Type::Date
        | fbs::Type::Time
        | fbs::Type::Timestamp
        | fbs::Type::Interval
        | fbs::Type::Duration
        | fbs::Type::FixedSizeBinary => (2, 0, false),
        fbs::Type::Binary | fbs::Type::Utf8 | fbs::Type::LargeBinary | fbs::Type::LargeUtf8 => {
            (3, 0, false)
        }
        fbs::Type::BinaryView | fbs::Type::Utf8View => (2, 1, false),
        fbs::Type::List | fbs::Type::LargeList | fbs::Type::Map => (2, 0, true),
        fbs::Type::ListView | fbs::Type::LargeListView => (3, 0, true),
        fbs::Type::FixedSizeList | fbs::Type::Struct_ => (1, 0, true),
        fbs::Type::Union => {
            let dense = f.type__as_union().map(|u| u.mode()) == Some(fbs::UnionMode::Dense);
            (if dense { 2 } else { 1 }, 0, true)
        }
        fbs::Type::RunEndEncoded => (0, 0, true),
        other => {
            return Err(Error::malformed(format!(
                "unknown Arrow type tag {}",
                other.0
            )));
        }
    };
    let mut l = Layout {
        nodes: 1,
        buffers,
        variadic,
    };
    if nested {
        for c in children(f) {
            let cl = layout(&c, depth + 1)?;
            l.nodes += cl.nodes;
            l.buffers += cl.buffers;
            l.variadic += cl.variadic;
        }
    }
    Ok(l)
}
