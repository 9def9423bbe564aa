//! The browser's decode path, in the browser build of the core (LZ4 and the
//! pure-Rust ZSTD decoder, ruzstd; no C ZSTD, which no other target leaves
//! out), through the entry points `lightstream-wasm` calls:
//!
//! - `decode()`: the whole payload, stream or file, copied into aligned
//!   memory and read with `read_ipc_shared`;
//! - `StreamDecoder.push` / `readStream`: the payload in chunks through
//!   `IpcStreamDriver::next_in_memory` over a copying input (the wasm crate's
//!   `ChunkInput`), with the wasm crate's 256 KiB scratch buffer;
//! - `connect()`: the payload's IPC messages (when it frames as some), one
//!   per WebSocket message, through `IpcStreamDriver::next_in_message`.
//!
//! Input: an option byte, a projection byte, then the payload. Option bits:
//! 0 `skip_unsupported` (`skipUnsupported`), 1 a projection (`columns`: the
//! columns whose indices are the projection byte's two nibbles, mod 8, as a
//! name list resolves), 2 `compact_dictionaries`; bits 4..7 the push chunk
//! size, 1 << n bytes. Every table is read to its last value; the skipped
//! fields must be unsupported ones and absent from the schema.
#![no_main]

#[cfg(feature = "native")]
compile_error!(
    "browser_decode fuzzes the browser build: build it alone with \
     --no-default-features --features browser (with C ZSTD on, ruzstd is not used)"
);

use libfuzzer_sys::fuzz_target;
use lightstream_core::framing::FrameDecoder;
use lightstream_core::{
    FieldInfo, IpcMessageDecoder, IpcStreamDriver, Projection, ReadOptions, Schema, StreamItem,
    aligned_copy, read_ipc_shared,
};
use lightstream_fuzz::{Copying, check_table};

/// `lightstream-wasm`'s scratch buffer (decoder.rs `SCRATCH_STEP`).
const SCRATCH: usize = 256 * 1024;

fn options(flags: u8, columns: u8) -> ReadOptions {
    ReadOptions {
        skip_unsupported: flags & 1 != 0,
        projection: (flags & 2 != 0).then(|| {
            Projection::Indices(vec![
                usize::from(columns & 7),
                usize::from(columns >> 4 & 7),
            ])
        }),
        compact_dictionaries: flags & 4 != 0,
        ..ReadOptions::default()
    }
}

/// What was skipped is unsupported and not in the schema.
fn check_skipped(schema: &Schema, skipped: &[FieldInfo], flags: u8) {
    if flags & 1 == 0 {
        assert!(skipped.is_empty(), "skipped without skip_unsupported");
    }
    for f in skipped {
        assert!(!f.supported, "skipped a supported field {:?}", f.name);
    }
    assert!(schema.fields.len() <= 2 || flags & 2 == 0);
}

fn take(item: StreamItem) {
    if let StreamItem::Table(t) = item {
        check_table(&t);
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, columns, payload @ ..] = data else {
        return;
    };
    let (flags, options) = (*flags, options(*flags, *columns));

    // decode()
    if let Ok(read) = read_ipc_shared(aligned_copy(payload), options.clone()) {
        check_skipped(&read.schema, &read.skipped, flags);
        for t in &read.tables {
            check_table(t);
        }
    }

    // StreamDecoder.push / readStream: chunks of 1 << n bytes.
    let step = 1usize << (flags >> 4);
    let mut driver = IpcStreamDriver::with_scratch(options.clone(), SCRATCH);
    'chunks: for chunk in payload.chunks(step) {
        let mut input = Copying {
            bytes: chunk,
            step: usize::MAX,
        };
        loop {
            match driver.next_in_memory(&mut input) {
                Ok(Some(item)) => take(item),
                Ok(None) => break,
                Err(_) => break 'chunks, // the stream fails here
            }
        }
    }
    if let Some(schema) = driver.decoder().schema() {
        check_skipped(schema, driver.decoder().skipped(), flags);
    }
    let _ = driver.decoder().finish();

    // connect(): one IPC message per WebSocket message.
    let Ok(messages) = IpcMessageDecoder::new(options.limits).decode_all(payload) else {
        return;
    };
    let mut driver = IpcStreamDriver::with_scratch(options, SCRATCH);
    for m in &messages {
        let mut input = Copying {
            bytes: m.bytes(),
            step: usize::MAX,
        };
        loop {
            match driver.next_in_message(&mut input) {
                Ok(Some(item)) => take(item),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
