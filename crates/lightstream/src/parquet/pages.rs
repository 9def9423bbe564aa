//! Page headers of a column chunk, read ahead of the parquet crate so that no
//! page may make it reserve more than [`ParquetReadOptions::max_page_bytes`].
//!
//! The crate (60.x) allocates a page's declared `uncompressed_page_size` (up
//! to 2 GiB, straight from the file) before it decompresses the page, so a
//! few hundred bytes of hostile file could make it reserve gigabytes. Before a
//! row group's column chunk is handed to the crate, [`check_chunk`] walks the
//! chunk's page headers (Thrift compact protocol, `PageHeader` of
//! parquet-format) and refuses any page, data or dictionary, that declares
//! more than the limit, or whose sizes are negative or run past the chunk.
//!
//! Only fields 1 to 3 of `PageHeader` are used (`type`, `uncompressed_page_size`,
//! `compressed_page_size`); everything else is skipped without allocating,
//! whatever its size.
//!
//! [`ParquetReadOptions::max_page_bytes`]: super::ParquetReadOptions::max_page_bytes

use std::io::Read;

use parquet::file::reader::ChunkReader;

/// Deepest nesting of Thrift structs accepted in a page header (parquet-format
/// nests two: PageHeader, DataPageHeader, Statistics; room is left for
/// fields added later).
const MAX_DEPTH: usize = 8;
/// Largest page header accepted (statistics included), in bytes.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// The structs of a page header, as parquet-format defines them. The
/// parquet crate reads a field it knows by its id whatever its wire type says,
/// so a known field with another type would be parsed differently there than
/// here (fuzzing found a 1.6 KB file whose page header's field 7, a binary
/// where a `DictionaryPageHeader` belongs, made the crate spin for minutes in
/// nested sets read out of the string): every known field's type is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    PageHeader,
    DataPageHeader,
    IndexPageHeader,
    DictionaryPageHeader,
    DataPageHeaderV2,
    Statistics,
    /// A struct in a field parquet-format does not define: skipped by type.
    Unknown,
}

/// The wire type a known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    I32,
    I64,
    Binary,
    Bool,
    Struct(Shape),
}

impl Shape {
    fn field(self, id: i64) -> Option<Want> {
        use Want::*;
        match (self, id) {
            (Shape::PageHeader, 1..=4) => Some(I32),
            (Shape::PageHeader, 5) => Some(Struct(Shape::DataPageHeader)),
            (Shape::PageHeader, 6) => Some(Struct(Shape::IndexPageHeader)),
            (Shape::PageHeader, 7) => Some(Struct(Shape::DictionaryPageHeader)),
            (Shape::PageHeader, 8) => Some(Struct(Shape::DataPageHeaderV2)),
            (Shape::DataPageHeader, 1..=4) => Some(I32),
            (Shape::DataPageHeader, 5) => Some(Struct(Shape::Statistics)),
            (Shape::DictionaryPageHeader, 1 | 2) => Some(I32),
            (Shape::DictionaryPageHeader, 3) => Some(Bool),
            (Shape::DataPageHeaderV2, 1..=6) => Some(I32),
            (Shape::DataPageHeaderV2, 7) => Some(Bool),
            (Shape::DataPageHeaderV2, 8) => Some(Struct(Shape::Statistics)),
            (Shape::Statistics, 1 | 2 | 5 | 6) => Some(Binary),
            (Shape::Statistics, 3 | 4) => Some(I64),
            (Shape::Statistics, 7 | 8) => Some(Bool),
            _ => None,
        }
    }
}

impl Want {
    /// Whether compact type `t` is this type.
    fn check(self, t: u8, shape: Shape, id: i64) -> Result<(), String> {
        let ok = match self {
            Want::I32 => t == 5,
            Want::I64 => t == 6,
            Want::Binary => t == 8,
            Want::Bool => matches!(t, 1 | 2),
            Want::Struct(_) => t == 12,
        };
        if ok {
            Ok(())
        } else {
            let want = match self {
                Want::I32 => "an i32".to_string(),
                Want::I64 => "an i64".to_string(),
                Want::Binary => "a binary".to_string(),
                Want::Bool => "a bool".to_string(),
                Want::Struct(s) => format!("a {s:?} struct"),
            };
            Err(format!(
                "field {id} of a {shape:?} has Thrift type {t}, where parquet-format has {want}"
            ))
        }
    }
}

/// The sizes a page header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSizes {
    /// parquet-format `PageType` (0 data, 1 index, 2 dictionary, 3 data v2).
    pub kind: i32,
    pub uncompressed: i32,
    pub compressed: i32,
    /// Bytes of the header itself.
    pub header_len: u64,
}

impl PageSizes {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            0 => "data page",
            1 => "index page",
            2 => "dictionary page",
            3 => "data page (v2)",
            _ => "page",
        }
    }
}

/// A reader that counts what it has read and refuses to read past `limit`.
struct Counted<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Counted<R> {
    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8; 1];
        self.bytes(&mut b)?;
        Ok(b[0])
    }

    fn bytes(&mut self, out: &mut [u8]) -> Result<(), String> {
        if self.read + out.len() as u64 > self.limit {
            return Err(format!(
                "page header runs past {} bytes (the end of the column chunk or the \
                 {MAX_HEADER_BYTES}-byte header limit)",
                self.limit
            ));
        }
        self.inner
            .read_exact(out)
            .map_err(|e| format!("reading a page header: {e}"))?;
        self.read += out.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if self.read + n > self.limit {
            return Err(format!(
                "a page header field of {n} bytes runs past the column chunk"
            ));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| format!("reading a page header: {e}"))?;
        if copied != n {
            return Err("the file ends inside a page header".into());
        }
        self.read += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("a varint in a page header overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint in a page header is too long".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let v = self.zigzag()?;
        i32::try_from(v).map_err(|_| format!("page header field {v} does not fit 32 bits"))
    }

    /// Skips one value of compact type `t`.
    fn skip_value(&mut self, t: u8, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("page header nests too deeply".into());
        }
        match t {
            1 | 2 => Ok(()), // bool in a field header
            3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            // parquet-format's PageHeader and the structs inside it (data,
            // index, dictionary and v2 page headers, Statistics) hold no list,
            // set or map; no writer puts one there. The parquet crate skips
            // containers in a way that disagrees with the compact protocol
            // (fuzzing found a 1.6 KB file of nested lists that keeps it busy
            // for minutes), so a page header with one is refused here.
            9..=11 => Err(format!(
                "a page header holds a Thrift {} (parquet-format page headers have none)",
                match t {
                    9 => "list",
                    10 => "set",
                    _ => "map",
                }
            )),
            12 => self.skip_struct(Shape::Unknown, depth + 1),
            13 => self.skip(16),
            other => Err(format!("unknown Thrift type {other} in a page header")),
        }
    }

    /// Skips a struct of `shape`, checking the wire type of every field that
    /// parquet-format defines for it.
    fn skip_struct(&mut self, shape: Shape, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("page header nests too deeply".into());
        }
        let mut id: i64 = 0;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            id = self.field_id(h, id)?;
            let t = h & 0x0f;
            match shape.field(id) {
                Some(want) => {
                    want.check(t, shape, id)?;
                    match want {
                        Want::Struct(inner) => self.skip_struct(inner, depth + 1)?,
                        _ => self.skip_value(t, depth)?,
                    }
                }
                None => self.skip_value(t, depth)?,
            }
        }
    }

    /// The id of the field whose header byte is `h` (`last`: the previous id).
    fn field_id(&mut self, h: u8, last: i64) -> Result<i64, String> {
        let delta = i64::from(h >> 4);
        if delta == 0 {
            self.zigzag() // long form
        } else {
            Ok(last + delta)
        }
    }

    /// Reads a `PageHeader`, keeping fields 1 to 3.
    fn page_header(&mut self) -> Result<PageSizes, String> {
        let (mut kind, mut uncompressed, mut compressed) = (None, None, None);
        let mut id: i64 = 0;
        loop {
            let h = self.byte()?;
            if h == 0 {
                break;
            }
            id = self.field_id(h, id)?;
            let t = h & 0x0f;
            let shape = Shape::PageHeader;
            match shape.field(id) {
                Some(want) => {
                    want.check(t, shape, id)?;
                    match (id, want) {
                        (1, _) => kind = Some(self.i32()?),
                        (2, _) => uncompressed = Some(self.i32()?),
                        (3, _) => compressed = Some(self.i32()?),
                        (_, Want::Struct(inner)) => self.skip_struct(inner, 2)?,
                        _ => self.skip_value(t, 1)?,
                    }
                }
                None => self.skip_value(t, 1)?,
            }
        }
        match (kind, uncompressed, compressed) {
            (Some(kind), Some(uncompressed), Some(compressed)) => Ok(PageSizes {
                kind,
                uncompressed,
                compressed,
                header_len: self.read,
            }),
            _ => Err("a page header lacks its type or sizes".into()),
        }
    }
}

/// Walks the page headers of the column chunk at `start..start + len` and
/// fails, naming the page, on any that declares more than `max_page_bytes`
/// (or negative sizes, or runs past the chunk).
pub(crate) fn check_chunk<R: ChunkReader>(
    reader: &R,
    start: u64,
    len: u64,
    max_page_bytes: usize,
) -> Result<(), String> {
    let end = start + len;
    let mut at = start;
    let mut page = 0usize;
    while at < end {
        let input = reader
            .get_read(at)
            .map_err(|e| format!("page {page} at byte {at}: {e}"))?;
        let mut r = Counted {
            inner: input,
            read: 0,
            limit: (end - at).min(MAX_HEADER_BYTES),
        };
        let h = r
            .page_header()
            .map_err(|e| format!("page {page} at byte {at}: {e}"))?;
        if h.uncompressed < 0 || h.compressed < 0 {
            return Err(format!(
                "{} {page} at byte {at} declares negative sizes ({} uncompressed, {} compressed)",
                h.kind_name(),
                h.uncompressed,
                h.compressed
            ));
        }
        if h.uncompressed as u64 > max_page_bytes as u64 {
            return Err(format!(
                "{} {page} at byte {at} declares {} uncompressed bytes, above the limit of {} \
                 (ParquetReadOptions::max_page_bytes)",
                h.kind_name(),
                h.uncompressed,
                max_page_bytes
            ));
        }
        let next = at + h.header_len + h.compressed as u64;
        if next > end {
            return Err(format!(
                "{} {page} at byte {at} ({} bytes of header, {} of data) runs past the end of \
                 its column chunk at byte {end}",
                h.kind_name(),
                h.header_len,
                h.compressed
            ));
        }
        at = next;
        page += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::bytes::Bytes;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
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

    fn zz(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

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
        let err = check_chunk(&bytes, 0, h.len() as u64, 100).unwrap_err();
        assert!(err.contains("holds a Thrift list"), "{err}");
        // Field 2 (uncompressed_page_size) as a binary.
        let h = vec![0x15, 0x00, 0x18, 0x01, b'x', 0x15, 0x08, 0x00];
        let bytes = Bytes::from(h.clone());
        let err = check_chunk(&bytes, 0, h.len() as u64, 100).unwrap_err();
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
        check_chunk(&bytes, 0, chunk.len() as u64, 100).unwrap();
        let err = check_chunk(&bytes, 0, chunk.len() as u64, 99).unwrap_err();
        assert!(err.contains("data page 1"), "{err}");
        assert!(err.contains("max_page_bytes"), "{err}");
        let err = check_chunk(&bytes, 0, chunk.len() as u64, 39).unwrap_err();
        assert!(err.contains("dictionary page 0"), "{err}");
        // A chunk cut inside the second page.
        let err = check_chunk(&bytes, 0, chunk.len() as u64 - 1, 100).unwrap_err();
        assert!(err.contains("page 1"), "{err}");
    }

    /// A Parquet file of one Zstd-compressed int32 column of `rows` rows whose
    /// pages claim `claim` uncompressed bytes (None: the truth). Written with
    /// the parquet crate's own column writer, through a page writer that
    /// rewrites each page's declared uncompressed size.
    fn file_with_claim(claim: Option<usize>, dictionary: bool) -> Vec<u8> {
        use parquet::basic::{Compression, ZstdLevel};
        use parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
        use parquet::column::writer::{ColumnWriter, get_column_writer};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter};
        use parquet::schema::parser::parse_message_type;
        use std::sync::{Arc, Mutex};

        struct Lying {
            sink: Arc<Mutex<Vec<u8>>>,
            claim: Option<usize>,
        }
        impl PageWriter for Lying {
            fn write_page(
                &mut self,
                page: CompressedPage,
            ) -> parquet::errors::Result<PageWriteSpec> {
                let page = match self.claim {
                    Some(n) => CompressedPage::new(page.compressed_page().clone(), n),
                    None => page,
                };
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

        let schema = Arc::new(parse_message_type("message m { required int32 v; }").unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_dictionary_enabled(dictionary)
                .build(),
        );
        let mut file = SerializedFileWriter::new(Vec::new(), schema, props.clone()).unwrap();
        let descr = file.schema_descr().column(0);
        let sink = Arc::new(Mutex::new(Vec::new()));
        let pages = Box::new(Lying {
            sink: sink.clone(),
            claim,
        });
        let ColumnWriter::Int32ColumnWriter(mut w) = get_column_writer(descr, props, pages) else {
            unreachable!()
        };
        let values: Vec<i32> = (0..1000).map(|i| i % 7).collect();
        w.write_batch(&values, None, None).unwrap();
        let close = w.close().unwrap();
        let bytes = Bytes::from(std::mem::take(&mut *sink.lock().unwrap()));
        let mut rg = file.next_row_group().unwrap();
        rg.append_column(&bytes, close).unwrap();
        rg.close().unwrap();
        file.into_inner().unwrap()
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
    fn refuses_negative_sizes_and_garbage() {
        let chunk = header(0, -5, 0);
        let bytes = Bytes::from(chunk.clone());
        assert!(check_chunk(&bytes, 0, chunk.len() as u64, 100).is_err());
        let junk = Bytes::from(vec![0x1f; 64]);
        assert!(check_chunk(&junk, 0, 64, 100).is_err());
        // A binary field claiming 4 GiB is skipped by length, not read into memory.
        let mut h = vec![0x18];
        varint(4 << 30, &mut h);
        let bytes = Bytes::from(h.clone());
        assert!(check_chunk(&bytes, 0, h.len() as u64, 100).is_err());
    }
}
