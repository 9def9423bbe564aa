//! Dictionary deltas cost what they add (issue 14, item 3), counted in bytes
//! allocated rather than timed: the decoder appends a delta to its dictionary
//! in place, and the stream encoder remembers a delta by its new values, so
//! neither copies the whole dictionary again per delta.
//!
//! A decoded batch owns its dictionary values (minarrow 0.19's
//! `CategoricalArray` holds a `Vec64<String>`): by default the whole
//! dictionary, copied per batch (the test subtracts exactly those bytes);
//! with `ReadOptions::compact_dictionaries`, a batch with fewer rows than
//! dictionary values gets only the values its rows use, and the decoder's
//! allocations are linear outright. An encoded table is still compared with
//! the dictionary last sent (it is the encoder's input).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lightstream_core::minarrow::{Array, CategoricalArray, FieldArray, Table, TextArray, Vec64};
use lightstream_core::{
    IpcStreamEncoder, ReadOptions, Schema, WriteOptions, aligned_copy, read_stream,
};

struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only adds up sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is global: tests that allocate run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn value(i: usize) -> String {
    format!("value-{i:06}")
}

/// `n` one-row tables; table `i` holds the dictionary `value(0..=i)` and key `i`,
/// so each one grows the dictionary by one value: a delta per batch.
fn growing_tables(n: usize) -> Vec<Table> {
    let all: Vec<String> = (0..n).map(value).collect();
    (0..n)
        .map(|i| {
            let dict = Vec64::from(all[..=i].to_vec());
            let array = CategoricalArray::<u32>::new(Vec64::from_slice(&[i as u32]), dict, None);
            let column = FieldArray::from_arr("city", Array::from_categorical32(array));
            Table::new("t", Some(vec![column]))
        })
        .collect()
}

/// Bytes allocated while encoding `tables` with deltas, and the stream.
fn encode(tables: &[Table]) -> (usize, Vec<u8>) {
    let schema = Arc::new(Schema::from_table(&tables[0]));
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut enc = IpcStreamEncoder::new(schema, WriteOptions::default()).unwrap();
    let mut bytes = enc.schema_message().unwrap().to_vec();
    for t in tables {
        for m in enc.encode_table(t).unwrap() {
            bytes.extend_from_slice(&m.to_vec());
        }
    }
    bytes.extend_from_slice(&enc.end_of_stream().to_vec());
    (ALLOCATED.load(Ordering::Relaxed) - before, bytes)
}

fn compact() -> ReadOptions {
    ReadOptions {
        compact_dictionaries: true,
        ..ReadOptions::default()
    }
}

/// Bytes a decoded table's dictionary owns (what minarrow requires it to hold).
fn owned_dictionary_bytes(t: &Table) -> usize {
    match &t.cols[0].array {
        Array::TextArray(TextArray::Categorical32(c)) => {
            c.unique_values.capacity() * std::mem::size_of::<String>()
                + c.unique_values.iter().map(String::capacity).sum::<usize>()
        }
        other => panic!("expected a categorical, got {other:?}"),
    }
}

/// With the default options: bytes the decoder allocated beyond what its
/// tables' (whole) dictionaries own, checking each table.
fn decode_overhead(bytes: &[u8], n: usize) -> usize {
    let input = aligned_copy(bytes);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (_, tables) = read_stream(input, ReadOptions::default()).unwrap();
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    assert_eq!(tables.len(), n);
    for (i, t) in tables.iter().enumerate() {
        let Array::TextArray(TextArray::Categorical32(c)) = &t.cols[0].array else {
            panic!("table {i}: not a categorical")
        };
        assert_eq!(c.data.as_slice(), [i as u32], "table {i}: keys");
        assert_eq!(c.unique_values.len(), i + 1, "table {i}: dictionary length");
        assert_eq!(c.unique_values[i], value(i), "table {i}: newest value");
        assert_eq!(c.unique_values[0], value(0), "table {i}: first value");
    }
    let owned: usize = tables.iter().map(owned_dictionary_bytes).sum();
    allocated.saturating_sub(owned)
}

/// With `compact_dictionaries`: bytes the decoder allocated to decode
/// `bytes` (tables and all), checking each table's value.
fn decode_allocated(bytes: &[u8], n: usize) -> usize {
    let input = aligned_copy(bytes);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (_, tables) = read_stream(input, compact()).unwrap();
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    assert_eq!(tables.len(), n);
    for (i, t) in tables.iter().enumerate() {
        let Array::TextArray(TextArray::Categorical32(c)) = &t.cols[0].array else {
            panic!("table {i}: not a categorical")
        };
        let key = c.data.as_slice()[0] as usize;
        assert_eq!(c.unique_values[key], value(i), "table {i}: value");
        // One row: only the value it uses is materialised.
        assert_eq!(c.unique_values.len(), 1, "table {i}: dictionary length");
    }
    allocated
}

#[test]
fn deltas_cost_what_they_add_in_the_encoder_and_the_decoder() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (small_n, large_n) = (400, 1600);
    let (small, large) = (growing_tables(small_n), growing_tables(large_n));
    let (enc_small, bytes_small) = encode(&small);
    let (enc_large, bytes_large) = encode(&large);
    // One delta dictionary batch per table after the first: the stream itself
    // is linear in n, so a linear encoder allocates about 4x for 4x the tables;
    // one that copies the dictionary per delta allocates about 16x.
    assert!(
        bytes_large.len() < 5 * bytes_small.len(),
        "stream sizes {} and {}",
        bytes_small.len(),
        bytes_large.len()
    );
    assert!(
        enc_large < 6 * enc_small,
        "encoder allocated {enc_small} bytes for {small_n} deltas and {enc_large} for {large_n}: \
         not linear"
    );
    let dec_small = decode_overhead(&bytes_small, small_n);
    let dec_large = decode_overhead(&bytes_large, large_n);
    assert!(
        dec_large < 6 * dec_small,
        "decoder allocated {dec_small} bytes beyond its tables' dictionaries for {small_n} deltas \
         and {dec_large} for {large_n}: not linear"
    );
    let dec_small = decode_allocated(&bytes_small, small_n);
    let dec_large = decode_allocated(&bytes_large, large_n);
    assert!(
        dec_large < 6 * dec_small,
        "decoder allocated {dec_small} bytes for {small_n} deltas and {dec_large} for {large_n}: \
         not linear"
    );
    assert!(
        dec_large < 8 * bytes_large.len(),
        "decoder allocated {dec_large} bytes for a stream of {}",
        bytes_large.len()
    );
}

#[test]
fn deltas_after_a_replacement_extend_the_replacement() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Grown (delta), replaced, grown again, unchanged: each table reads back
    // with exactly its own dictionary and keys.
    let dicts: [&[&str]; 5] = [
        &["a"],
        &["a", "b"],
        &["c", "a"],
        &["c", "a", "d", "e"],
        &["c", "a", "d", "e"],
    ];
    let tables: Vec<Table> = dicts
        .iter()
        .map(|d| {
            let values = Vec64::from(d.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            let keys: Vec<u32> = (0..d.len() as u32).rev().collect();
            let array = CategoricalArray::<u32>::new(Vec64::from_slice(&keys), values, None);
            let column = FieldArray::from_arr("tag", Array::from_categorical32(array));
            Table::new("t", Some(vec![column]))
        })
        .collect();
    let (_, bytes) = encode(&tables);
    let (_, back) = read_stream(aligned_copy(&bytes), Default::default()).unwrap();
    assert_eq!(back.len(), tables.len());
    for (i, (want, got)) in tables.iter().zip(&back).enumerate() {
        let (
            Array::TextArray(TextArray::Categorical32(w)),
            Array::TextArray(TextArray::Categorical32(g)),
        ) = (&want.cols[0].array, &got.cols[0].array)
        else {
            panic!("table {i}: not categoricals")
        };
        assert_eq!(
            g.unique_values.as_slice(),
            w.unique_values.as_slice(),
            "table {i}: dictionary"
        );
        assert_eq!(g.data.as_slice(), w.data.as_slice(), "table {i}: keys");
    }
}

#[test]
fn compact_dictionaries_give_a_batch_with_fewer_rows_than_values_the_values_it_uses() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let values: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    let keys = [4u32, 1, 4, 2];
    // Row 1 is null: its key (1) is not a value the batch uses.
    let mask = lightstream_core::minarrow::Bitmask::from_bools(&[true, false, true, true]);
    let array = CategoricalArray::<u32>::new(
        Vec64::from_slice(&keys),
        Vec64::from(values.clone()),
        Some(mask),
    );
    let column = FieldArray::from_arr("tag", Array::from_categorical32(array));
    let whole = CategoricalArray::<u32>::new(
        Vec64::from_slice(&[0, 1, 2, 3, 4]),
        Vec64::from(values),
        None,
    );
    let tables = vec![
        Table::new("t", Some(vec![column])),
        Table::new(
            "t",
            Some(vec![FieldArray::from_arr(
                "tag",
                Array::from_categorical32(whole),
            )]),
        ),
    ];
    let (_, bytes) = encode(&tables);
    let (_, whole) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    let (_, back) = read_stream(aligned_copy(&bytes), compact()).unwrap();
    let cat = |t: &Table| match &t.cols[0].array {
        Array::TextArray(TextArray::Categorical32(c)) => c.clone(),
        other => panic!("not a categorical: {other:?}"),
    };
    let small = cat(&back[0]);
    assert_eq!(small.unique_values.as_slice(), ["c", "e"]);
    assert_eq!(small.data.as_slice(), [1, 0, 1, 0]);
    let m = small.null_mask.as_ref().expect("the null row");
    assert_eq!(
        (0..4).map(|i| m.get(i)).collect::<Vec<_>>(),
        [true, false, true, true]
    );
    // As many rows as values: the whole dictionary and the keys as sent.
    let full = cat(&back[1]);
    assert_eq!(full.unique_values.as_slice(), ["a", "b", "c", "d", "e"]);
    assert_eq!(full.data.as_slice(), [0, 1, 2, 3, 4]);
    // By default, every batch holds the whole dictionary and its keys as sent.
    let small = cat(&whole[0]);
    assert_eq!(small.unique_values.as_slice(), ["a", "b", "c", "d", "e"]);
    assert_eq!(small.data.as_slice()[0], 4);
    assert_eq!(small.data.as_slice()[2..], [4, 2]);
}
