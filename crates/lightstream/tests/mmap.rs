//! Memory-mapped IPC files and streams: values, zero-copy borrowing of the
//! mapping (64-byte aligned files) and one copy otherwise (8-byte aligned,
//! as pyarrow writes), projection, tables outliving the reader, and
//! truncated or corrupted files as errors.
#![cfg(feature = "mmap")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use lightstream::mmap::{MmapFile, MmapStream};
use lightstream_core::minarrow::{
    Array, NumericArray, Table, TextArray, fa_cat32, fa_f64, fa_i64, fa_str32, tbl,
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

#[test]
fn eight_byte_aligned_files_are_copied_once_with_equal_values() {
    let path = write("eight.arrow", 8, false);
    let file = MmapFile::open(&path, ReadOptions::default()).unwrap();
    let copied = (0..file.num_batches())
        .map(|b| {
            let t = file.read_batch(b).unwrap();
            check(&t, b as i64);
            !inside(&file, i64_column(&t, 0))
        })
        .filter(|&c| c)
        .count();
    // Some 8-aligned buffers land on 64-byte boundaries by chance; most not.
    assert!(copied > 0);
}

#[test]
fn a_projection_reads_only_the_chosen_columns() {
    let path = write("projected.arrow", 64, false);
    let options = ReadOptions {
        projection: Some(vec![3, 0]),
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
