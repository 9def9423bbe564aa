//! Dictionary deltas cost what they add (issue 14, item 3), counted in bytes
//! allocated rather than timed: the decoder appends a delta to its dictionary
//! in place, and the stream encoder remembers a delta by its new values, so
//! neither copies the whole dictionary again per delta.
//!
//! What is still copied: each decoded record batch's categorical holds its
//! own `Vec64<String>` of the whole dictionary (minarrow 0.19 owns it by
//! value), and an encoded table is compared with the dictionary last sent.
//! The decoder's test subtracts exactly those owned bytes and checks that what
//! remains grows linearly with the number of deltas.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lightstream_core::minarrow::{Array, CategoricalArray, FieldArray, Table, Vec64};
use lightstream_core::{IpcStreamEncoder, Schema, WriteOptions, aligned_copy, read_stream};

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

/// Bytes a decoded table's dictionary owns (what minarrow requires it to hold).
fn owned_dictionary_bytes(t: &Table) -> usize {
    match &t.cols[0].array {
        Array::TextArray(lightstream_core::minarrow::TextArray::Categorical32(c)) => {
            c.unique_values.capacity() * std::mem::size_of::<String>()
                + c.unique_values.iter().map(String::capacity).sum::<usize>()
        }
        other => panic!("expected a categorical, got {other:?}"),
    }
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

/// Bytes the decoder allocated beyond what its tables' dictionaries own.
fn decode_overhead(bytes: &[u8], n: usize) -> usize {
    let input = aligned_copy(bytes);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (_, tables) = read_stream(input, Default::default()).unwrap();
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    assert_eq!(tables.len(), n);
    for (i, t) in tables.iter().enumerate() {
        let Array::TextArray(lightstream_core::minarrow::TextArray::Categorical32(c)) =
            &t.cols[0].array
        else {
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

#[test]
fn deltas_cost_what_they_add_in_the_encoder_and_the_decoder() {
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
}
