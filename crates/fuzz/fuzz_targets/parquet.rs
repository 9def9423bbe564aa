//! The Parquet reader: `ParquetReader::from_bytes`, then every batch (small
//! batches for inputs of odd length), every value read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream::parquet::{ParquetReadOptions, ParquetReader};
use lightstream_core::bytes::Bytes;
use lightstream_fuzz::check_table;

/// libfuzzer-sys aborts on every panic, even a caught one. The reader turns
/// panics inside the parquet crate into errors by design (`guarded` in
/// crates/lightstream/src/parquet/reader.rs), so those pass silently; a panic
/// anywhere else (our code) still aborts here, and one of the crate's that
/// escapes the guard aborts when it reaches libfuzzer-sys.
fn let_the_reader_catch_parquet_crate_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .location()
            .is_some_and(|l| l.file().contains("/parquet-"))
        {
            return;
        }
        abort(info);
    }));
}

fn read(data: &[u8]) {
    // The file is the whole input (so seed files work as they are).
    let options = ParquetReadOptions {
        batch_size: if data.len() % 2 == 0 { 65_536 } else { 7 },
        ..ParquetReadOptions::default()
    };
    let Ok(reader) = ParquetReader::from_bytes(Bytes::copy_from_slice(data), "fuzz", options)
    else {
        return;
    };
    let _ = (
        reader.num_rows(),
        reader.num_row_groups(),
        reader.fields().len(),
    );
    for table in reader {
        match table {
            Ok(t) => {
                check_table(&t);
            }
            Err(_) => break,
        }
    }
}

fuzz_target!(init: let_the_reader_catch_parquet_crate_panics(), |data: &[u8]| read(data));
