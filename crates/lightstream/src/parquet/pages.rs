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
//! whatever its size. The walk itself is thrift.rs, shared with the footer
//! check (footer.rs).
//!
//! [`ParquetReadOptions::max_page_bytes`]: super::ParquetReadOptions::max_page_bytes

use parquet::file::reader::ChunkReader;

use super::thrift::{Shape, Visit, Walker};

/// Deepest nesting of Thrift structs accepted in a page header (parquet-format
/// nests three: PageHeader, DataPageHeader, Statistics; room is left for
/// fields added later).
const MAX_DEPTH: usize = 8;
/// Largest page header accepted (statistics included), in bytes.
const MAX_HEADER_BYTES: u64 = 16 << 20;

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

/// Fields 1 to 3 of a `PageHeader`, as the walk meets them.
#[derive(Default)]
struct Sizes {
    kind: Option<i32>,
    uncompressed: Option<i32>,
    compressed: Option<i32>,
}

impl Visit for Sizes {
    fn i32(&mut self, shape: Shape, id: i16, value: i32) -> Result<(), String> {
        match (shape, id) {
            (Shape::PageHeader, 1) => self.kind = Some(value),
            (Shape::PageHeader, 2) => self.uncompressed = Some(value),
            (Shape::PageHeader, 3) => self.compressed = Some(value),
            _ => {}
        }
        Ok(())
    }
}

/// Reads the `PageHeader` at the start of `input` (at most `limit` bytes),
/// keeping fields 1 to 3.
fn page_header(input: impl std::io::Read, limit: u64) -> Result<PageSizes, String> {
    let mut walker = Walker::new(input, limit, "page header", MAX_DEPTH, None);
    let mut sizes = Sizes::default();
    walker.walk_struct(Shape::PageHeader, 1, &mut sizes)?;
    match sizes {
        Sizes {
            kind: Some(kind),
            uncompressed: Some(uncompressed),
            compressed: Some(compressed),
        } => Ok(PageSizes {
            kind,
            uncompressed,
            compressed,
            header_len: walker.read,
        }),
        _ => Err("a page header lacks its type or sizes".into()),
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
        let h = page_header(input, (end - at).min(MAX_HEADER_BYTES))
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
