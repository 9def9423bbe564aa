//! The IPC file reader: `IpcFileReader::new`, every batch by `read_batch` and
//! `read_batch_with_head` (with and without `set_align_64`), one past the end,
//! `read_file`, and `read_ipc` (each body copied from the slice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::{IpcFileReader, ReadOptions, aligned_copy, read_file, read_ipc};
use lightstream_fuzz::check_table;

fn read_batches(reader: &IpcFileReader, data: &[u8]) {
    let n = reader.num_batches();
    for i in 0..n {
        if let Ok(t) = reader.read_batch(i) {
            check_table(&t);
        }
        // The head of the block, as a shell that reads it separately passes it.
        if let Some((start, len)) = reader.batch_range(i) {
            let end = start.saturating_add(len.min(4096)).min(data.len());
            if let Some(head) = data.get(start..end)
                && let Ok(t) = reader.read_batch_with_head(i, head)
            {
                check_table(&t);
            }
        }
    }
    assert!(reader.read_batch(n).is_err(), "a batch past the end");
}

fuzz_target!(|data: &[u8]| {
    let bytes = aligned_copy(data);
    if let Ok(mut reader) = IpcFileReader::new(bytes.clone(), ReadOptions::default()) {
        let _ = reader.metadata();
        let _ = reader.fields();
        read_batches(&reader, data);
        reader.set_align_64(true);
        read_batches(&reader, data);
    }
    if let Ok((_, tables)) = read_file(bytes, ReadOptions::default()) {
        for t in &tables {
            check_table(t);
        }
    }
    if let Ok(read) = read_ipc(data, ReadOptions::default()) {
        for t in &read.tables {
            check_table(t);
        }
    }
});
