//! A Thrift compact-protocol walker for Parquet metadata, run over the bytes
//! before the parquet crate parses them, so that nothing the file declares can
//! make the crate reserve memory the file does not back.
//!
//! It walks a struct of a known [`Shape`] (a page header, the footer's
//! `FileMetaData`) without allocating: every value is skipped by its length,
//! every list's declared length is checked against the bytes left, nesting is
//! bounded, and the wire type of every field parquet-format defines is checked
//! (the crate reads a field it knows by its id whatever its wire type says, so
//! a field of another type would be parsed differently there than here). The
//! values a caller needs (page header fields, a schema element's
//! `num_children`) reach it through [`Visit`].
//!
//! What it is not: a decoder. It returns no metadata; the parquet crate parses
//! the same bytes once the walk has vouched for them. Callers: pages.rs (page
//! headers) and footer.rs (the footer).

use std::io::Read;

/// The structs of parquet-format the walker knows, as the parquet crate
/// (60.x) reads them: page headers and everything inside `FileMetaData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    PageHeader,
    DataPageHeader,
    IndexPageHeader,
    DictionaryPageHeader,
    DataPageHeaderV2,
    Statistics,
    FileMetaData,
    SchemaElement,
    LogicalType,
    DecimalType,
    TimestampType,
    TimeUnit,
    IntType,
    VariantType,
    GeometryType,
    GeographyType,
    KeyValue,
    RowGroup,
    SortingColumn,
    ColumnChunk,
    ColumnMetaData,
    PageEncodingStats,
    SizeStatistics,
    GeospatialStatistics,
    BoundingBox,
    ColumnOrder,
    EncryptionAlgorithm,
    AesGcm,
    ColumnCryptoMetaData,
    EncryptionWithColumnKey,
    /// A struct with no fields (a union's unit variant, `StringType`, ...).
    Empty,
    /// A struct in a field parquet-format does not define: skipped by type.
    Unknown,
}

/// The wire type of a list's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    I32,
    I64,
    Binary,
    Struct(Shape),
}

/// The wire type a known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Bool,
    I8,
    I16,
    I32,
    I64,
    Double,
    Binary,
    List(Elem),
    Struct(Shape),
}

impl Shape {
    /// The type parquet-format gives field `id` of this struct (None: a field
    /// it does not define, skipped by its wire type).
    fn field(self, id: i16) -> Option<Want> {
        use Shape as S;
        use Want::*;
        Some(match (self, id) {
            (S::PageHeader, 1..=4) => I32,
            (S::PageHeader, 5) => Struct(S::DataPageHeader),
            (S::PageHeader, 6) => Struct(S::IndexPageHeader),
            (S::PageHeader, 7) => Struct(S::DictionaryPageHeader),
            (S::PageHeader, 8) => Struct(S::DataPageHeaderV2),
            (S::DataPageHeader, 1..=4) => I32,
            (S::DataPageHeader, 5) => Struct(S::Statistics),
            (S::DictionaryPageHeader, 1 | 2) => I32,
            (S::DictionaryPageHeader, 3) => Bool,
            (S::DataPageHeaderV2, 1..=6) => I32,
            (S::DataPageHeaderV2, 7) => Bool,
            (S::DataPageHeaderV2, 8) => Struct(S::Statistics),
            (S::Statistics, 1 | 2 | 5 | 6) => Binary,
            (S::Statistics, 3 | 4 | 9) => I64,
            (S::Statistics, 7 | 8) => Bool,
            (S::FileMetaData, 1) => I32,
            (S::FileMetaData, 2) => List(Elem::Struct(S::SchemaElement)),
            (S::FileMetaData, 3) => I64,
            (S::FileMetaData, 4) => List(Elem::Struct(S::RowGroup)),
            (S::FileMetaData, 5) => List(Elem::Struct(S::KeyValue)),
            (S::FileMetaData, 6 | 9) => Binary,
            (S::FileMetaData, 7) => List(Elem::Struct(S::ColumnOrder)),
            (S::FileMetaData, 8) => Struct(S::EncryptionAlgorithm),
            (S::SchemaElement, 1..=3 | 5..=9) => I32,
            (S::SchemaElement, 4) => Binary,
            (S::SchemaElement, 10) => Struct(S::LogicalType),
            (S::LogicalType, 1..=4 | 6 | 11..=15 | 19) => Struct(S::Empty),
            (S::LogicalType, 5) => Struct(S::DecimalType),
            (S::LogicalType, 7 | 8) => Struct(S::TimestampType),
            (S::LogicalType, 10) => Struct(S::IntType),
            (S::LogicalType, 16) => Struct(S::VariantType),
            (S::LogicalType, 17) => Struct(S::GeometryType),
            (S::LogicalType, 18) => Struct(S::GeographyType),
            (S::DecimalType, 1 | 2) => I32,
            (S::TimestampType, 1) => Bool,
            (S::TimestampType, 2) => Struct(S::TimeUnit),
            (S::TimeUnit | S::ColumnOrder, 1..=3) => Struct(S::Empty),
            (S::IntType, 1) => I8,
            (S::IntType, 2) => Bool,
            (S::VariantType, 1) => I8,
            (S::GeometryType | S::GeographyType, 1) => Binary,
            (S::GeographyType, 2) => I32,
            (S::KeyValue, 1 | 2) => Binary,
            (S::RowGroup, 1) => List(Elem::Struct(S::ColumnChunk)),
            (S::RowGroup, 2 | 3 | 5 | 6) => I64,
            (S::RowGroup, 4) => List(Elem::Struct(S::SortingColumn)),
            (S::RowGroup, 7) => I16,
            (S::SortingColumn, 1) => I32,
            (S::SortingColumn, 2 | 3) => Bool,
            (S::ColumnChunk, 1 | 9) => Binary,
            (S::ColumnChunk, 2 | 4 | 6) => I64,
            (S::ColumnChunk, 3) => Struct(S::ColumnMetaData),
            (S::ColumnChunk, 5 | 7) => I32,
            (S::ColumnChunk, 8) => Struct(S::ColumnCryptoMetaData),
            (S::ColumnMetaData, 1 | 4 | 15) => I32,
            (S::ColumnMetaData, 2) => List(Elem::I32),
            (S::ColumnMetaData, 3) => List(Elem::Binary),
            (S::ColumnMetaData, 5..=7 | 9..=11 | 14) => I64,
            (S::ColumnMetaData, 8) => List(Elem::Struct(S::KeyValue)),
            (S::ColumnMetaData, 12) => Struct(S::Statistics),
            (S::ColumnMetaData, 13) => List(Elem::Struct(S::PageEncodingStats)),
            (S::ColumnMetaData, 16) => Struct(S::SizeStatistics),
            (S::ColumnMetaData, 17) => Struct(S::GeospatialStatistics),
            (S::PageEncodingStats, 1..=3) => I32,
            (S::SizeStatistics, 1) => I64,
            (S::SizeStatistics, 2 | 3) => List(Elem::I64),
            (S::GeospatialStatistics, 1) => Struct(S::BoundingBox),
            (S::GeospatialStatistics, 2) => List(Elem::I32),
            (S::BoundingBox, 1..=8) => Double,
            (S::EncryptionAlgorithm, 1 | 2) => Struct(S::AesGcm),
            (S::AesGcm, 1 | 2) => Binary,
            (S::AesGcm, 3) => Bool,
            (S::ColumnCryptoMetaData, 1) => Struct(S::Empty),
            (S::ColumnCryptoMetaData, 2) => Struct(S::EncryptionWithColumnKey),
            (S::EncryptionWithColumnKey, 1) => List(Elem::Binary),
            (S::EncryptionWithColumnKey, 2) => Binary,
            _ => return None,
        })
    }
}

impl Elem {
    /// The compact type of the elements.
    fn code(self) -> u8 {
        match self {
            Elem::I32 => 5,
            Elem::I64 => 6,
            Elem::Binary => 8,
            Elem::Struct(_) => 12,
        }
    }
}

impl Want {
    /// Whether compact type `t` is this type.
    fn check(self, t: u8, shape: Shape, id: i16) -> Result<(), String> {
        let ok = match self {
            Want::Bool => matches!(t, 1 | 2),
            Want::I8 => t == 3,
            Want::I16 => t == 4,
            Want::I32 => t == 5,
            Want::I64 => t == 6,
            Want::Double => t == 7,
            Want::Binary => t == 8,
            Want::List(_) => t == 9,
            Want::Struct(_) => t == 12,
        };
        if ok {
            return Ok(());
        }
        let want = match self {
            Want::Bool => "a bool".to_string(),
            Want::I8 => "an i8".to_string(),
            Want::I16 => "an i16".to_string(),
            Want::I32 => "an i32".to_string(),
            Want::I64 => "an i64".to_string(),
            Want::Double => "a double".to_string(),
            Want::Binary => "a binary".to_string(),
            Want::List(_) => "a list".to_string(),
            Want::Struct(s) => format!("a {s:?} struct"),
        };
        Err(format!(
            "field {id} of a {shape:?} has Thrift type {t}, where parquet-format has {want}"
        ))
    }
}

/// What a walk reports to its caller; every method may refuse the input.
pub(crate) trait Visit {
    /// An i32 field `id` of a `shape` struct holds `value`.
    fn i32(&mut self, _shape: Shape, _id: i16, _value: i32) -> Result<(), String> {
        Ok(())
    }
    /// A bool field `id` of a `shape` struct holds `value` (compact bools
    /// live in the field header's type nibble: 1 true, 2 false).
    fn bool(&mut self, _shape: Shape, _id: i16, _value: bool) -> Result<(), String> {
        Ok(())
    }
    /// A list of `len` elements starts in field `id` of a `shape` struct.
    fn list(&mut self, _shape: Shape, _id: i16, _len: u64) -> Result<(), String> {
        Ok(())
    }
    /// A struct of `shape` ends.
    fn end(&mut self, _shape: Shape) -> Result<(), String> {
        Ok(())
    }
}

/// Reports nothing.
pub(crate) struct NoVisit;
impl Visit for NoVisit {}

/// Walks Thrift compact bytes from `inner`, at most `limit` of them.
pub(crate) struct Walker<R> {
    inner: R,
    /// Bytes read so far.
    pub(crate) read: u64,
    limit: u64,
    /// What is walked, for errors ("page header", "footer").
    what: &'static str,
    /// Deepest nesting of structs and lists accepted.
    max_depth: usize,
    /// Longest list accepted, in elements; None: no list is accepted.
    max_list: Option<u64>,
}

impl<R: Read> Walker<R> {
    pub(crate) fn new(
        inner: R,
        limit: u64,
        what: &'static str,
        max_depth: usize,
        max_list: Option<u64>,
    ) -> Self {
        Walker {
            inner,
            read: 0,
            limit,
            what,
            max_depth,
            max_list,
        }
    }

    fn left(&self) -> u64 {
        self.limit.saturating_sub(self.read)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8; 1];
        if self.left() < 1 {
            return Err(format!(
                "the {} runs past its {} bytes",
                self.what, self.limit
            ));
        }
        self.inner
            .read_exact(&mut b)
            .map_err(|e| format!("reading the {}: {e}", self.what))?;
        self.read += 1;
        Ok(b[0])
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.left() {
            return Err(format!(
                "a {} field of {n} bytes runs past its end ({} bytes left)",
                self.what,
                self.left()
            ));
        }
        // Read into a small buffer rather than `io::copy` to a sink: its 8 KiB
        // stack buffer is zero-filled on every call (`Read::read_buf`'s
        // default), and a page header's statistics are skipped for every page
        // (2,000 skips: 16.7 M instructions of a 1,256 M zstd read).
        let mut buf = [0u8; 256];
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = match self.inner.read(&mut buf[..want]) {
                Ok(0) => return Err(format!("the input ends inside the {}", self.what)),
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading the {}: {e}", self.what)),
            };
            left -= got as u64;
        }
        self.read += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(format!("a varint in the {} overflows 64 bits", self.what));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("a varint in the {} is too long", self.what))
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self, shape: Shape, id: i16) -> Result<i32, String> {
        let v = self.zigzag()?;
        i32::try_from(v).map_err(|_| {
            format!(
                "field {id} of a {shape:?} holds {v}, which does not fit an i32 (the parquet \
                 crate would truncate it to {})",
                v as i32
            )
        })
    }

    /// The id of the field whose header byte is `h` (`last`: the previous
    /// id), as the parquet crate computes it: i16, the long form truncated,
    /// a delta that overflows refused.
    fn field_id(&mut self, h: u8, last: i16) -> Result<i16, String> {
        let delta = i16::from(h >> 4);
        if delta == 0 {
            Ok(self.zigzag()? as i16) // long form
        } else {
            last.checked_add(delta)
                .ok_or_else(|| format!("a field id in the {} overflows i16", self.what))
        }
    }

    fn nested(&self, depth: usize) -> Result<(), String> {
        if depth > self.max_depth {
            return Err(format!(
                "the {} nests structs and lists more than {} deep",
                self.what, self.max_depth
            ));
        }
        Ok(())
    }

    /// Skips one value of compact type `t` (a field's value: a bool is in the
    /// field header and takes no byte).
    fn skip_value(&mut self, t: u8, depth: usize) -> Result<(), String> {
        match t {
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 => self.list(None, Shape::Unknown, 0, depth + 1, &mut NoVisit),
            // parquet-format metadata holds no set or map, and the parquet
            // crate skips their bool elements as zero bytes where the compact
            // protocol has one, so it and we would disagree on what follows.
            10 | 11 => Err(format!(
                "the {} holds a Thrift {} (parquet-format has none)",
                self.what,
                if t == 10 { "set" } else { "map" }
            )),
            12 => self.walk_struct(Shape::Unknown, depth + 1, &mut NoVisit),
            13 => self.skip(16),
            other => Err(format!("unknown Thrift type {other} in the {}", self.what)),
        }
    }

    /// Walks a list (the list header first), of `want` elements when the
    /// field is known. `shape` and `id` name the field holding it.
    fn list(
        &mut self,
        want: Option<Elem>,
        shape: Shape,
        id: i16,
        depth: usize,
        visit: &mut impl Visit,
    ) -> Result<(), String> {
        self.nested(depth)?;
        // Page headers hold no list; the parquet crate skips containers in a
        // way that disagrees with the compact protocol (fuzzing found a 1.6 KB
        // file of nested lists that kept it busy for minutes), so where none
        // belongs a list is refused.
        let Some(max_list) = self.max_list else {
            return Err(format!(
                "the {} holds a Thrift list (parquet-format {}s have none)",
                self.what, self.what
            ));
        };
        let h = self.byte()?;
        let (len, t) = if h == 0 {
            (0, 12) // an empty list, as some writers spell it
        } else if h >> 4 == 15 {
            (self.varint()?, h & 0x0f)
        } else {
            (u64::from(h >> 4), h & 0x0f)
        };
        if let Some(want) = want
            && len > 0
            && t != want.code()
        {
            return Err(format!(
                "field {id} of a {shape:?} is a list of Thrift type {t}, where parquet-format \
                 has type {}",
                want.code()
            ));
        }
        // Every element takes at least one byte.
        if len > self.left() || len > max_list {
            return Err(format!(
                "field {id} of a {shape:?} declares a list of {len} elements, with {} bytes \
                 of the {} left (at most {} elements)",
                self.left(),
                self.what,
                max_list
            ));
        }
        if len > 0 && !matches!(t, 3..=9 | 12 | 13) {
            // Bool elements (1, 2) are one byte each on the wire and none in
            // the parquet crate's skip; sets, maps and type 0 do not occur.
            return Err(format!(
                "field {id} of a {shape:?} is a list of Thrift type {t}, which parquet-format \
                 does not use"
            ));
        }
        visit.list(shape, id, len)?;
        for _ in 0..len {
            match want {
                Some(Elem::Struct(inner)) => self.walk_struct(inner, depth + 1, visit)?,
                _ => self.skip_value(t, depth)?,
            }
        }
        Ok(())
    }

    /// Walks a struct of `shape` up to and including its stop byte, checking
    /// the wire type of every field parquet-format defines for it.
    pub(crate) fn walk_struct(
        &mut self,
        shape: Shape,
        depth: usize,
        visit: &mut impl Visit,
    ) -> Result<(), String> {
        self.nested(depth)?;
        let mut id: i16 = 0;
        loop {
            let h = self.byte()?;
            // A stop, as the parquet crate reads it: type 0, whatever the
            // high nibble holds.
            if h & 0x0f == 0 {
                return visit.end(shape);
            }
            id = self.field_id(h, id)?;
            let t = h & 0x0f;
            match shape.field(id) {
                Some(want) => {
                    want.check(t, shape, id)?;
                    match want {
                        Want::Struct(inner) => self.walk_struct(inner, depth + 1, visit)?,
                        Want::List(elem) => self.list(Some(elem), shape, id, depth + 1, visit)?,
                        Want::I32 => {
                            let v = self.i32(shape, id)?;
                            visit.i32(shape, id, v)?;
                        }
                        // The value is the type nibble (checked 1 or 2): no byte follows.
                        Want::Bool => visit.bool(shape, id, t == 1)?,
                        _ => self.skip_value(t, depth)?,
                    }
                }
                None if t == 9 => self.list(None, shape, id, depth + 1, &mut NoVisit)?,
                None => self.skip_value(t, depth)?,
            }
        }
    }
}

/// Thrift compact-protocol encoding helpers for the tests of the walker's
/// callers (hand-built page headers and footers).
#[cfg(test)]
pub(crate) mod test_encoding {
    /// `v` as a ULEB128 varint.
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// `v` zigzag-encoded, as compact-protocol integers are.
    pub fn zz(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }
}
