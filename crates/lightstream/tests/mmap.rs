//! Memory-mapped IPC files and streams: values, zero-copy borrowing of the
//! mapping (64-byte aligned files, and 8-byte aligned ones as pyarrow writes:
//! every buffer aligned for its type is borrowed), one copy of a buffer that
//! is not aligned for its type, the `align_64` and advice options,
//! projection, tables outliving the reader, and truncated or corrupted files
//! as errors.
#![cfg(feature = "mmap")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Arc;

use lightstream::mmap::{Advice, MmapFile, MmapOptions, MmapStream};
use lightstream_core::minarrow::{
    Array, ArrowType, Buffer, DecimalArray, Field, FieldArray, NumericArray, Table, TextArray,
    Vec64, fa_cat32, fa_f64, fa_i64, fa_str32, tbl,
};
use lightstream_core::{ReadOptions, Schema, WriteOptions, write_file, write_stream};

fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lightstream-mmap-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tables() -> Vec<Table> {
    (0..4i64)
        .map(|b| {
            tbl!(
                "t",
                fa_i64!("n", b * 100, b * 100 + 1, b * 100 + 2),
                fa_f64!("x", 0.5 * b as f64, 1.5, -2.0),
                fa_str32!("s", "alpha", "", "γάμμα"),
                fa_cat32!("d", "red", "green", "red")
            )
        })
        .collect()
}

fn write(name: &str, alignment: usize, stream: bool) -> PathBuf {
    let t = tables();
    let schema = Schema::from_table(&t[0]);
    let options = WriteOptions {
        alignment,
        ..WriteOptions::default()
    };
    let bytes = if stream {
        write_stream(&schema, &t, &options).unwrap()
    } else {
        write_file(&schema, &t, &options).unwrap()
    };
    let path = temp_path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn i64_column(t: &Table, i: usize) -> &[i64] {
    match &t.cols[i].array {
        Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice(),
        other => panic!("i64 expected, got {other:?}"),
    }
}

fn check(t: &Table, b: i64) {
    assert_eq!(t.n_rows, 3);
    let names: Vec<&str> = t.cols.iter().map(|c| c.field.name.as_str()).collect();
    assert_eq!(names, ["n", "x", "s", "d"]);
    assert_eq!(i64_column(t, 0), &[b * 100, b * 100 + 1, b * 100 + 2]);
    let Array::TextArray(TextArray::String32(s)) = &t.cols[2].array else {
        panic!("utf8 expected")
    };
    assert_eq!(s.get_str(2), Some("γάμμα"));
}

/// True when `slice` lies inside the mapped bytes.
fn inside(file: &MmapFile, slice: &[i64]) -> bool {
    let map = file.bytes().as_slice().as_ptr_range();
    let p = slice.as_ptr() as *const u8;
    map.contains(&p)
}

#[test]
fn aligned_files_are_read_in_place_and_tables_outlive_the_reader() {
    let path = write("aligned.arrow", 64, false);
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    assert_eq!(file.num_batches(), 4);
    assert_eq!(file.schema().fields.len(), 4);
    assert_eq!(file.len() as u64, std::fs::metadata(&path).unwrap().len());
    let mut kept = Vec::new();
    for (b, t) in file.batches().enumerate() {
        let t = t.unwrap();
        check(&t, b as i64);
        assert!(inside(&file, i64_column(&t, 0)), "batch {b} was copied");
        kept.push(t);
    }
    // Random access, any order.
    check(&file.read_batch(2).unwrap(), 2);
    drop(file);
    // The mapping lives on in the tables.
    for (b, t) in kept.iter().enumerate() {
        check(t, b as i64);
    }
}

/// True when all of `v` lies inside the mapped bytes.
fn inside_all<T>(file: &MmapFile, v: &[T]) -> bool {
    let map = file.bytes().as_slice().as_ptr_range();
    let r = v.as_ptr_range();
    let (start, end) = (r.start as *const u8, r.end as *const u8);
    v.is_empty() || (map.contains(&start) && end <= map.end)
}

#[test]
fn eight_byte_aligned_files_are_borrowed_in_place_with_equal_values() {
    let path = write("eight.arrow", 8, false);
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    let mut not_64 = 0;
    for b in 0..file.num_batches() {
        let t = file.read_batch(b).unwrap();
        check(&t, b as i64);
        let n = i64_column(&t, 0);
        assert!(inside(&file, n), "batch {b}: the i64 column was copied");
        not_64 += usize::from(!(n.as_ptr() as usize).is_multiple_of(64));
        let Array::NumericArray(NumericArray::Float64(x)) = &t.cols[1].array else {
            panic!("f64 expected")
        };
        assert!(inside_all(&file, x.data.as_slice()));
        let Array::TextArray(TextArray::String32(s)) = &t.cols[2].array else {
            panic!("utf8 expected")
        };
        assert!(inside_all(&file, s.data.as_slice()), "string bytes copied");
        assert!(inside_all(&file, s.offsets.as_slice()), "offsets copied");
    }
    // The point of the test: buffers that are 8- but not 64-byte aligned.
    assert!(
        not_64 > 0,
        "every buffer landed on a 64-byte boundary by chance"
    );
}

#[test]
fn align_64_copies_eight_byte_aligned_batches_into_aligned_memory() {
    let path = write("eight64.arrow", 8, false);
    let options = MmapOptions {
        align_64: true,
        ..MmapOptions::default()
    };
    let file = MmapFile::open_with(&path, ReadOptions::default(), options).unwrap();
    for b in 0..file.num_batches() {
        let t = file.read_batch(b).unwrap();
        check(&t, b as i64);
        let n = i64_column(&t, 0);
        assert_eq!(n.as_ptr() as usize % 64, 0, "batch {b} not 64-byte aligned");
    }
    // A 64-byte aligned file needs no copy with the option either.
    let path = write("aligned64.arrow", 64, false);
    let file = MmapFile::open_with(&path, ReadOptions::default(), options).unwrap();
    let t = file.read_batch(1).unwrap();
    check(&t, 1);
    assert!(inside(&file, i64_column(&t, 0)));
}

#[test]
fn advice_changes_nothing_that_is_read() {
    let path = write("advised.arrow", 8, false);
    for advice in [
        Advice::Sequential,
        Advice::WillNeed,
        Advice::Random,
        Advice::Normal,
    ] {
        let options = MmapOptions {
            advice: Some(advice),
            ..MmapOptions::default()
        };
        let file = MmapFile::open_with(&path, ReadOptions::default(), options).unwrap();
        for b in 0..file.num_batches() {
            file.advise_batch(b, Advice::WillNeed).unwrap();
            check(&file.read_batch(b).unwrap(), b as i64);
        }
        assert!(file.advise_batch(4, Advice::WillNeed).is_err());
    }
}

/// A `Decimal128` column written with 8-byte alignment: its `i128` values
/// need 16 (on x86-64 and aarch64), so a buffer at an odd multiple of 8 is
/// copied (into aligned memory, values intact) and one at a multiple of 16
/// borrowed.
#[test]
fn buffers_misaligned_for_their_type_are_copied_with_equal_values() {
    let mut copied = 0;
    for lead in 1..=4usize {
        // `lead` i64 values in front shift the decimal buffer by 8 each.
        let rows = lead;
        let values: Vec<i128> = (0..rows as i128).map(|i| i * 1_000_000_007 - 5).collect();
        let t = Table {
            cols: vec![
                FieldArray::new(
                    Field::new("n", ArrowType::Int64, false, None),
                    Array::from_int64(lightstream_core::minarrow::IntegerArray {
                        data: Buffer::from_vec64(Vec64::from_slice(&vec![7i64; rows])),
                        null_mask: None,
                    }),
                ),
                FieldArray::new(
                    Field::new("d", ArrowType::Decimal128(38, 2), false, None),
                    Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
                        data: Buffer::from_vec64(Vec64::from_slice(&values)),
                        null_mask: None,
                        precision: 38,
                        scale: 2,
                    }))),
                ),
            ],
            n_rows: rows,
            name: String::new(),
            metadata: Default::default(),
        };
        let schema = Schema::from_table(&t);
        let options = WriteOptions {
            alignment: 8,
            ..WriteOptions::default()
        };
        let bytes = write_file(&schema, &[t], &options).unwrap();
        let path = temp_path("decimal.arrow");
        std::fs::write(&path, bytes).unwrap();
        let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
        let t = file.read_batch(0).unwrap();
        let Array::NumericArray(NumericArray::Decimal128(d)) = &t.cols[1].array else {
            panic!("decimal128 expected")
        };
        let got = d.data.as_slice();
        assert_eq!(got, &values[..]);
        assert_eq!(got.as_ptr() as usize % std::mem::align_of::<i128>(), 0);
        let p = got.as_ptr() as *const u8;
        if !file.bytes().as_slice().as_ptr_range().contains(&p) {
            copied += 1;
            assert_eq!(p as usize % 64, 0, "a copy is 64-byte aligned");
        }
    }
    if std::mem::align_of::<i128>() > 8 {
        assert!(
            copied > 0,
            "no decimal buffer landed at an odd multiple of 8"
        );
    }
}

#[test]
fn corrupted_batch_metadata_is_an_error_at_read() {
    let path = write("meta.arrow", 64, false);
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    let (offset, _) = file.batch_range(1).unwrap();
    drop(file);
    let mut bytes = std::fs::read(&path).unwrap();
    // Scramble the flatbuffer of batch 1 (after its 8-byte prefix).
    for b in &mut bytes[offset + 8..offset + 72] {
        *b ^= 0x5A;
    }
    let p = temp_path("meta_bad.arrow");
    std::fs::write(&p, &bytes).unwrap();
    let file = MmapFile::open(&p, ReadOptions::default()).unwrap();
    check(&file.read_batch(0).unwrap(), 0);
    let e = file.read_batch(1).expect_err("scrambled metadata");
    assert!(e.to_string().contains("batch 1"), "{e}");
    check(&file.read_batch(2).unwrap(), 2);
}

#[test]
fn a_projection_reads_only_the_chosen_columns() {
    let path = write("projected.arrow", 64, false);
    let options = ReadOptions {
        projection: Some(vec![3, 0].into()),
        ..ReadOptions::default()
    };
    let file = MmapFile::open(&path, options).unwrap();
    let names: Vec<&str> = file
        .schema()
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["d", "n"]);
    let t = file.read_batch(1).unwrap();
    assert_eq!(t.cols.len(), 2);
    assert_eq!(i64_column(&t, 1), &[100, 101, 102]);
}

/// Columns chosen by name, batch by batch, whatever the file was opened with;
/// the pages of the columns left out are not needed.
#[test]
fn columns_are_chosen_by_name_per_batch() {
    let path = write("by-name.arrow", 8, false);
    let options = ReadOptions {
        projection: Some(vec![2].into()),
        ..ReadOptions::default()
    };
    let file = MmapFile::open(&path, options).unwrap();
    let wanted = file.column_indices(&["d", "n"]).unwrap();
    assert_eq!(wanted, [3, 0]);
    let t = file.read_batch_columns(2, &wanted).unwrap();
    let names: Vec<&str> = t.cols.iter().map(|c| c.field.name.as_str()).collect();
    assert_eq!(names, ["d", "n"]);
    assert_eq!(i64_column(&t, 1), &[200, 201, 202]);
    assert!(inside(&file, i64_column(&t, 1)));
    let Array::TextArray(TextArray::Categorical32(d)) = &t.cols[0].array else {
        panic!("dictionary expected")
    };
    assert_eq!(d.get_str(1), Some("green"));
    // The projection of the open is untouched.
    assert_eq!(file.read_batch(2).unwrap().cols[0].field.name, "s");

    let missing = file.column_indices(&["n", "price"]).unwrap_err();
    assert!(missing.to_string().contains("\"price\""), "{missing}");
    assert_eq!(
        missing.codec_kind(),
        Some(lightstream_core::ErrorKind::Schema)
    );
    assert!(file.read_batch_columns(0, &[7]).is_err());
    assert!(
        file.read_batch_columns(9, &[0])
            .unwrap_err()
            .to_string()
            .contains("batch 9")
    );
}

#[test]
fn truncated_corrupted_and_missing_files_are_errors() {
    let path = write("whole.arrow", 64, false);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 5, 17, bytes.len() / 2, bytes.len() - 1] {
        let p = temp_path("cut.arrow");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = MmapFile::open(&p, ReadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("a file cut at {cut} must not open"));
        assert!(e.to_string().contains("cut.arrow"), "{e}");
    }
    // A footer length pointing outside the file.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 10..n - 6].copy_from_slice(&(i32::MAX).to_le_bytes());
    let p = temp_path("footer.arrow");
    std::fs::write(&p, &bad).unwrap();
    let e = MmapFile::open(&p, ReadOptions::default())
        .err()
        .expect("bad footer");
    assert!(e.to_string().contains("footer"), "{e}");
    // Out-of-range batch.
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    let e = file.read_batch(4).expect_err("batch 4 of 4");
    assert!(e.to_string().contains("batch 4"), "{e}");
    // Missing file, a directory.
    let e = MmapFile::open(temp_path("missing.arrow"), ReadOptions::default())
        .err()
        .expect("missing");
    assert!(e.to_string().contains("missing.arrow"), "{e}");
    assert!(MmapFile::open(std::env::temp_dir(), ReadOptions::default()).is_err());
}

#[test]
fn mapped_streams_yield_every_table_and_report_truncation() {
    for alignment in [64, 8] {
        let path = write("s.arrows", alignment, true);
        let stream = MmapStream::open(&path, ReadOptions::default()).unwrap();
        assert_eq!(stream.schema().fields.len(), 4);
        let tables: Vec<Table> = stream.map(|t| t.unwrap()).collect();
        assert_eq!(tables.len(), 4);
        for (b, t) in tables.iter().enumerate() {
            check(t, b as i64);
        }
    }
    let path = write("full.arrows", 64, true);
    let bytes = std::fs::read(&path).unwrap();
    let p = temp_path("cut.arrows");
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let results: Vec<_> = MmapStream::open(&p, ReadOptions::default())
        .unwrap()
        .collect();
    let last = results.last().expect("an item");
    let e = last.as_ref().expect_err("the cut must surface as an error");
    assert!(e.to_string().contains("cut.arrows"), "{e}");
    // Empty and schema-less files.
    let p = temp_path("empty.arrows");
    std::fs::write(&p, b"").unwrap();
    assert!(MmapStream::open(&p, ReadOptions::default()).is_err());
}

/// pyarrow (reference C++ Arrow) writes the file: 8-byte aligned, read
/// through the map with the values pyarrow says it wrote.
#[test]
fn pyarrow_written_files_read_through_the_map() {
    let path = temp_path("pyarrow.arrow");
    let script = "import sys, pyarrow as pa\n\
                  t = pa.table({'n': pa.array(range(1000), pa.int64()), \
                  's': pa.array([None if i % 7 == 0 else f'v{i}' for i in range(1000)])})\n\
                  with pa.ipc.new_file(sys.argv[1], t.schema) as w:\n\
                  \x20   for b in t.to_batches(max_chunksize=300): w.write_batch(b)\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .status()
        .expect("python3 with pyarrow (scripts/setup.sh installs it)");
    assert!(
        status.success(),
        "pyarrow failed to write {}",
        path.display()
    );
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    assert_eq!(file.num_batches(), 4);
    for t in file.batches() {
        // pyarrow's 8-byte aligned buffers are used in place.
        assert!(inside(&file, i64_column(&t.unwrap(), 0)));
    }
    let mut next = 0i64;
    let mut nulls = 0;
    for t in file.batches() {
        let t = t.unwrap();
        for &v in i64_column(&t, 0) {
            assert_eq!(v, next);
            next += 1;
        }
        let Array::TextArray(TextArray::String32(s)) = &t.cols[1].array else {
            panic!("utf8 expected")
        };
        nulls += s
            .null_mask
            .as_ref()
            .map_or(0, |m| (0..t.n_rows).filter(|&i| !m.get(i)).count());
    }
    assert_eq!(next, 1000);
    assert_eq!(nulls, (0..1000).filter(|i| i % 7 == 0).count());
}

/// A stream pyarrow wrote (8-byte aligned), mapped: its buffers are borrowed from the
/// map, none copied; `ReadOptions::align_64` copies each body once into 64-byte
/// aligned memory instead. Values as pyarrow wrote them either way.
#[test]
fn mapped_pyarrow_streams_are_borrowed_unless_align_64() {
    let path = temp_path("pyarrow.arrows");
    let script = "import sys, pyarrow as pa\n\
                  t = pa.table({'n': pa.array(range(1000), pa.int64()), \
                  's': pa.array([None if i % 7 == 0 else f'v{i}' for i in range(1000)])})\n\
                  with pa.ipc.new_stream(sys.argv[1], t.schema) as w:\n\
                  \x20   for b in t.to_batches(max_chunksize=300): w.write_batch(b)\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .status()
        .expect("python3 with pyarrow (scripts/setup.sh installs it)");
    assert!(
        status.success(),
        "pyarrow failed to write {}",
        path.display()
    );
    let values = |tables: &[Table]| -> Vec<i64> {
        tables
            .iter()
            .flat_map(|t| i64_column(t, 0).to_vec())
            .collect()
    };
    let mut stream = MmapStream::open(&path, ReadOptions::default()).unwrap();
    let tables: Vec<Table> = stream.by_ref().map(|t| t.unwrap()).collect();
    assert_eq!(values(&tables), (0..1000).collect::<Vec<i64>>());
    // Per batch of r rows: 8 r value bytes, and for the strings a validity bitmap,
    // 4 (r + 1) offset bytes and the text: every byte borrowed.
    let text: u64 = (0..1000u64)
        .filter(|i| i % 7 != 0)
        .map(|i| format!("v{i}").len() as u64)
        .sum();
    let rows = [300u64, 300, 300, 100];
    let expected: u64 = rows
        .iter()
        .map(|r| 8 * r + r.div_ceil(8) + 4 * (r + 1))
        .sum::<u64>()
        + text;
    assert_eq!(
        (stream.bytes_borrowed(), stream.bytes_copied()),
        (expected, 0)
    );

    let align_64 = ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    };
    let mut stream = MmapStream::open(&path, align_64).unwrap();
    let tables: Vec<Table> = stream.by_ref().map(|t| t.unwrap()).collect();
    assert_eq!(values(&tables), (0..1000).collect::<Vec<i64>>());
    for t in &tables {
        assert_eq!(i64_column(t, 0).as_ptr() as usize % 64, 0);
    }
    assert_eq!(stream.bytes_borrowed(), 0);
    assert!(
        stream.bytes_copied() >= expected,
        "{}",
        stream.bytes_copied()
    );
}
