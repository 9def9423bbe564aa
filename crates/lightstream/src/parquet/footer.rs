//! The footer (`FileMetaData`), walked before the parquet crate parses it, so
//! that nothing it declares can make the crate reserve memory the file does
//! not back.
//!
//! The crate (60.x) builds the schema tree with `Vec::with_capacity` of a
//! schema element's declared `num_children` (an i32 straight from the file,
//! unchecked) and recursively, one call per level: a 679-byte file declaring
//! 879 million children made it reserve 7 GB (fuzzing found it), and a chain
//! of nested groups would overflow the stack. [`check`] walks the footer with
//! the Thrift walker of page headers (thrift.rs) and refuses:
//!
//! - a schema element whose `num_children` is negative or more than the
//!   elements that follow it in the schema list, or a schema nested more than
//!   [`MAX_SCHEMA_DEPTH`] groups deep;
//! - any list longer than the bytes left (every element takes at least one
//!   byte) or than [`MAX_LIST`] elements; any string or binary longer than the
//!   bytes left;
//! - structs and lists nested more than [`MAX_DEPTH`] deep, sets and maps,
//!   and known fields of the wrong wire type (the crate would parse them
//!   differently than this walk did).
//!
//! What it is not: a parser. The crate parses the same bytes afterwards; this
//! keeps nothing but the schema shape, in memory bounded by the depth limit.

use parquet::file::reader::ChunkReader;

use super::thrift::{Shape, Visit, Walker};

/// Deepest nesting of Thrift structs and lists accepted in a footer.
/// parquet-format nests eight (FileMetaData, the row group list, RowGroup,
/// the column list, ColumnChunk, ColumnMetaData, GeospatialStatistics,
/// BoundingBox); room is left for fields added later.
pub(crate) const MAX_DEPTH: usize = 12;
/// Longest list accepted in a footer (schema elements, row groups, column
/// chunks per row group, key-value pairs, ...), in elements.
pub(crate) const MAX_LIST: u64 = 1 << 20;
/// Deepest nesting of groups accepted in a schema (the parquet crate builds
/// the schema tree recursively).
pub(crate) const MAX_SCHEMA_DEPTH: usize = 64;

/// The shape of the schema list, as the walk meets its elements.
#[derive(Default)]
struct SchemaShape {
    /// Elements in the schema list.
    len: u64,
    /// Index of the element being walked.
    index: u64,
    /// `num_children` of the element being walked.
    num_children: Option<i32>,
    /// Children still to come of every open group, outermost first.
    open: Vec<u64>,
}

impl Visit for SchemaShape {
    fn list(&mut self, shape: Shape, id: i16, len: u64) -> Result<(), String> {
        if (shape, id) == (Shape::FileMetaData, 2) {
            *self = SchemaShape {
                len,
                ..SchemaShape::default()
            };
        }
        Ok(())
    }

    fn i32(&mut self, shape: Shape, id: i16, value: i32) -> Result<(), String> {
        if (shape, id) == (Shape::SchemaElement, 5) {
            self.num_children = Some(value);
        }
        Ok(())
    }

    fn end(&mut self, shape: Shape) -> Result<(), String> {
        if shape != Shape::SchemaElement {
            return Ok(());
        }
        let i = self.index;
        let children = self.num_children.take().unwrap_or(0);
        let after = self.len.saturating_sub(i + 1);
        if children < 0 || children as u64 > after {
            return Err(format!(
                "schema element {i} declares {children} children, but {after} elements of the \
                 {}-element schema follow it",
                self.len
            ));
        }
        if let Some(parent) = self.open.last_mut() {
            *parent = parent.saturating_sub(1);
        }
        if children > 0 {
            self.open.push(children as u64);
            if self.open.len() > MAX_SCHEMA_DEPTH {
                return Err(format!(
                    "schema element {i} nests groups more than {MAX_SCHEMA_DEPTH} deep"
                ));
            }
        }
        while self.open.last() == Some(&0) {
            self.open.pop();
        }
        self.index += 1;
        Ok(())
    }
}

/// Walks the footer at `start..start + len` of `reader` (the `FileMetaData`
/// alone, without its length and magic) and fails, saying what was wrong, on
/// anything that could make the parquet crate reserve more than the footer
/// backs.
pub(crate) fn check<R: ChunkReader>(reader: &R, start: u64, len: u64) -> Result<(), String> {
    // The crate reads the footer into one buffer too; walking a slice keeps
    // this walk cheap next to the crate's parse.
    let bytes = reader
        .get_bytes(start, len as usize)
        .map_err(|e| e.to_string())?;
    let mut walker = Walker::new(&bytes[..], len, "footer", MAX_DEPTH, Some(MAX_LIST));
    walker.walk_struct(Shape::FileMetaData, 1, &mut SchemaShape::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::bytes::Bytes;

    use crate::parquet::thrift::test_encoding::{varint, zz};

    /// A list header of `n` elements of compact type `t`.
    fn list(n: u64, t: u8, out: &mut Vec<u8>) {
        if n < 15 {
            out.push((n as u8) << 4 | t);
        } else {
            out.push(0xf0 | t);
            varint(n, out);
        }
    }

    /// A SchemaElement named `name`: a required group of `num_children`
    /// when given, or else an optional INT32 (a leaf).
    fn element(name: &str, num_children: Option<i32>, out: &mut Vec<u8>) {
        match num_children {
            None => {
                out.push(0x15); // field 1: type, i32
                varint(zz(1), out); // INT32
                out.push(0x25); // field 3: repetition_type
                varint(zz(1), out); // OPTIONAL
                out.push(0x18); // field 4: name, binary
            }
            Some(_) => {
                out.push(0x35); // field 3: repetition_type
                varint(zz(0), out); // REQUIRED
                out.push(0x18); // field 4: name, binary
            }
        }
        varint(name.len() as u64, out);
        out.extend_from_slice(name.as_bytes());
        if let Some(n) = num_children {
            out.push(0x15); // field 5: num_children, i32
            varint(zz(n.into()), out);
        }
        out.push(0);
    }

    /// A FileMetaData: version, the schema list of `schema` elements
    /// (already encoded), num_rows 0 and no row groups.
    fn footer(count: u64, schema: &[u8]) -> Vec<u8> {
        let mut f = vec![0x15, 0x02]; // field 1: version 1
        f.push(0x19); // field 2: list
        list(count, 12, &mut f);
        f.extend_from_slice(schema);
        f.push(0x16); // field 3: num_rows, i64
        varint(0, &mut f);
        f.push(0x19); // field 4: row groups, an empty list
        list(0, 12, &mut f);
        f.push(0);
        f
    }

    fn walk(f: &[u8]) -> Result<(), String> {
        check(&Bytes::from(f.to_vec()), 0, f.len() as u64)
    }

    /// The parquet crate's own verdict on a footer (its file reader on
    /// `PAR1 <footer> <len> PAR1`).
    fn crate_reads(f: &[u8]) -> Result<usize, String> {
        use parquet::file::reader::FileReader;
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(f);
        file.extend_from_slice(&(f.len() as u32).to_le_bytes());
        file.extend_from_slice(b"PAR1");
        parquet::file::serialized_reader::SerializedFileReader::new(Bytes::from(file))
            .map(|r| r.metadata().file_metadata().schema_descr().num_columns())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_honest_schema_passes_and_the_crate_agrees() {
        // root { a, g { b, c } }
        let mut s = Vec::new();
        element("root", Some(2), &mut s);
        element("a", None, &mut s);
        element("g", Some(2), &mut s);
        element("b", None, &mut s);
        element("c", None, &mut s);
        let f = footer(5, &s);
        walk(&f).unwrap();
        assert_eq!(crate_reads(&f).unwrap(), 3);
    }

    #[test]
    fn num_children_past_the_remaining_elements_is_refused() {
        // root declares 3 children, but only 2 elements follow.
        let mut s = Vec::new();
        element("root", Some(3), &mut s);
        element("a", None, &mut s);
        element("b", None, &mut s);
        let err = walk(&footer(3, &s)).unwrap_err();
        assert_eq!(
            err,
            "schema element 0 declares 3 children, but 2 elements of the 3-element schema \
             follow it"
        );
        // 879 million (the fuzzed file's kind) and a negative count.
        for n in [879_284_643, -1] {
            let mut s = Vec::new();
            element("root", Some(1), &mut s);
            element("g", Some(n), &mut s);
            element("a", None, &mut s);
            let err = walk(&footer(3, &s)).unwrap_err();
            assert!(
                err.starts_with(&format!("schema element 1 declares {n} children")),
                "{err}"
            );
        }
        // The honest count passes.
        let mut s = Vec::new();
        element("root", Some(2), &mut s);
        element("a", None, &mut s);
        element("b", None, &mut s);
        walk(&footer(3, &s)).unwrap();
    }

    #[test]
    fn a_schema_nested_too_deep_is_refused() {
        let chain = |depth: usize| {
            let mut s = Vec::new();
            for i in 0..depth {
                element(&format!("g{i}"), Some(1), &mut s);
            }
            element("leaf", None, &mut s);
            footer(depth as u64 + 1, &s)
        };
        // The root plus 63 groups: 64 open at the leaf.
        walk(&chain(MAX_SCHEMA_DEPTH)).unwrap();
        let err = walk(&chain(MAX_SCHEMA_DEPTH + 1)).unwrap_err();
        assert_eq!(err, "schema element 64 nests groups more than 64 deep");
    }

    #[test]
    fn a_list_longer_than_the_bytes_left_or_the_limit_is_refused() {
        // The schema list declares 2^31 elements.
        let mut s = Vec::new();
        element("root", None, &mut s);
        let err = walk(&footer(1 << 31, &s)).unwrap_err();
        assert!(
            err.starts_with("field 2 of a FileMetaData declares a list of 2147483648 elements"),
            "{err}"
        );
        // A field parquet-format does not define (10) holding a list of n
        // one-byte i32s: MAX_LIST passes, one more is refused.
        let unknown_list = |n: u64| {
            let mut s = Vec::new();
            element("root", None, &mut s);
            let mut f = footer(1, &s);
            f.pop(); // the stop byte
            f.push(0x69); // delta 6 after field 4: field 10, a list
            list(n, 5, &mut f);
            f.extend(std::iter::repeat_n(0u8, n as usize));
            f.push(0);
            f
        };
        walk(&unknown_list(MAX_LIST)).unwrap();
        let err = walk(&unknown_list(MAX_LIST + 1)).unwrap_err();
        assert!(
            err.starts_with("field 10 of a FileMetaData declares a list of 1048577 elements")
                && err.ends_with("(at most 1048576 elements)"),
            "{err}"
        );
    }

    #[test]
    fn strings_past_the_end_wrong_types_and_containers_are_refused() {
        // A name declaring 4 GiB.
        let mut s = vec![0x48];
        varint(4 << 30, &mut s);
        let err = walk(&footer(1, &s)).unwrap_err();
        assert!(
            err.contains("of 4294967296 bytes runs past its end"),
            "{err}"
        );
        // num_children (field 5) as a binary: the crate would read a varint.
        let mut s = Vec::new();
        element("root", None, &mut s);
        s.pop();
        s.extend_from_slice(&[0x18, 0x01, b'x', 0x00]);
        let err = walk(&footer(1, &s)).unwrap_err();
        assert_eq!(
            err,
            "field 5 of a SchemaElement has Thrift type 8, where parquet-format has an i32"
        );
        // A set in an unknown field.
        let f = [0x15, 0x02, 0xfa, 0x25, 0x00];
        assert!(walk(&f).unwrap_err().contains("holds a Thrift set"));
        // A list of bools, which the crate skips as zero bytes each.
        let f = [0xf9, 0x31, 0x01, 0x01, 0x01, 0x00];
        assert!(walk(&f).unwrap_err().contains("list of Thrift type 1"));
        // Structs nested past MAX_DEPTH in an unknown field.
        let mut f = vec![0xfc];
        f.extend(std::iter::repeat_n(0x1c, MAX_DEPTH));
        f.extend(std::iter::repeat_n(0, MAX_DEPTH + 2));
        assert!(walk(&f).unwrap_err().contains("more than 12 deep"));
        // A long-form field id the crate truncates to 5 (65541 as i16)
        // is checked as field 5.
        let mut s = Vec::new();
        element("root", None, &mut s);
        s.pop();
        s.push(0x08); // long form, binary
        varint(zz(65541), &mut s);
        s.extend_from_slice(&[0x01, b'x', 0x00]);
        let err = walk(&footer(1, &s)).unwrap_err();
        assert!(err.starts_with("field 5 of a SchemaElement"), "{err}");
    }
}
