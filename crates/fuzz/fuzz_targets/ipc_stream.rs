//! The IPC stream push decoder: `push` in the chunking the input's first bytes
//! choose, then `push_shared` over the whole payload (buffers borrowed, and
//! with `align_64`), then `read_ipc` of the payload. Every table is read to
//! its last value; `finish` is called at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::framing::Decoded;
use lightstream_core::{IpcStreamDecoder, ReadOptions, StreamItem, aligned_copy, read_ipc};
use lightstream_fuzz::{Chunks, check_table};

fn take(item: StreamItem) {
    if let StreamItem::Table(t) = item {
        check_table(&t);
    }
}

/// Pushes `pieces` in order, offering the rest of a piece again after each frame.
fn push_all(pieces: &[&[u8]]) {
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() {
            match dec.push(rest) {
                Ok(Decoded::Frame { frame, consumed }) => {
                    assert!(consumed <= rest.len(), "consumed more than offered");
                    rest = &rest[consumed..];
                    take(frame);
                }
                Ok(Decoded::NeedMore) => rest = &[],
                Err(_) => {
                    // Poisoned: later calls must fail too, never panic.
                    assert!(dec.push(b"\xff\xff\xff\xff").is_err());
                    return;
                }
            }
        }
    }
    let _ = dec.finish();
    let _ = dec.fields();
}

/// `push_shared` over one buffer holding the whole payload.
fn push_shared(payload: &[u8], align_64: bool) {
    let shared = aligned_copy(payload);
    let mut dec = IpcStreamDecoder::new(ReadOptions {
        align_64,
        ..ReadOptions::default()
    });
    let mut at = 0;
    let mut stalls = 0;
    while at < payload.len() {
        match dec.push_shared(&shared.slice(at..)) {
            Ok(Decoded::Frame { frame, consumed }) => {
                if consumed == 0 {
                    stalls += 1;
                    assert!(stalls < 100_000, "push_shared makes no progress");
                }
                at += consumed;
                take(frame);
            }
            Ok(Decoded::NeedMore) => break,
            Err(_) => return,
        }
    }
    let _ = dec.finish();
}

fuzz_target!(|data: &[u8]| {
    let (mut chunks, payload) = Chunks::split(data);
    let pieces = chunks.pieces(payload);
    push_all(&pieces);
    push_shared(payload, false);
    push_shared(payload, true);
    if let Ok(read) = read_ipc(payload, ReadOptions::default()) {
        for t in &read.tables {
            check_table(t);
        }
    }
});
