//! The IPC stream decoder through the core's driver, as every shell runs it:
//! slices offered in the chunking the input's first bytes choose, then the
//! whole payload as shared memory (buffers borrowed, and with `align_64`),
//! then `read_ipc` of the payload. Every table is read to its last value;
//! `finish` is called at the end. The same pieces through the message
//! driver (`IpcMessageDriver`, what a relay forwards): every message it
//! yields classifies again from its own bytes, and the messages joined are
//! read back as the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::framing::FrameDecoder;
use lightstream_core::{
    DecodeLimits, IpcMessage, IpcMessageDecoder, IpcMessageDriver, IpcStreamDriver, ReadOptions,
    SharedInput, SliceInput, StreamItem, aligned_copy, read_ipc,
};
use lightstream_fuzz::{Chunks, check_table};

fn take(item: StreamItem) {
    if let StreamItem::Table(t) = item {
        check_table(&t);
    }
}

/// Offers `pieces` in order, each as a slice input read to its end.
fn push_all(pieces: &[&[u8]]) {
    let mut driver = IpcStreamDriver::new(ReadOptions::default());
    for piece in pieces {
        let mut input = SliceInput::new(piece, 0);
        loop {
            match driver.next_item(&mut input) {
                Ok(Some(item)) => take(item),
                Ok(None) => break,
                Err(_) => {
                    // Poisoned: later calls must fail too, never panic.
                    let mut more = SliceInput::new(b"\xff\xff\xff\xff", 0);
                    assert!(driver.next_item(&mut more).is_err());
                    return;
                }
            }
        }
        assert!(input.is_used_up(), "the driver stopped inside a piece");
    }
    let _ = driver.decoder().finish();
    let _ = driver.decoder().fields();
}

/// One shared buffer holding the whole payload.
fn push_shared(payload: &[u8], align_64: bool) {
    let mut driver = IpcStreamDriver::new(ReadOptions {
        align_64,
        ..ReadOptions::default()
    });
    let mut input = SharedInput::new(aligned_copy(payload), 0);
    let mut items = 0usize;
    while let Ok(Some(item)) = driver.next_item(&mut input) {
        items += 1;
        assert!(items <= payload.len() + 1, "the driver makes no progress");
        take(item);
    }
    let _ = driver.decoder().finish();
}
/// Offers `pieces` to the message driver; what it yields must be whole,
/// valid messages that read back as themselves.
fn messages(pieces: &[&[u8]]) {
    let limits = DecodeLimits::default();
    let mut driver = IpcMessageDriver::new(limits);
    let mut got: Vec<IpcMessage> = Vec::new();
    for piece in pieces {
        let mut input = SliceInput::new(piece, 0);
        loop {
            match driver.next_item(&mut input) {
                Ok(Some(m)) => {
                    let again = IpcMessage::new(m.bytes().clone(), &limits)
                        .expect("a yielded message classifies again");
                    assert_eq!(again.kind(), m.kind());
                    got.push(m);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    if driver.decoder().finish().is_err() {
        return;
    }
    let joined: Vec<u8> = got.iter().flat_map(|m| m.bytes().to_vec()).collect();
    let back = IpcMessageDecoder::new(limits)
        .decode_all(&joined)
        .expect("forwarded messages read back");
    assert!(back == got, "forwarded messages changed");
}

fuzz_target!(|data: &[u8]| {
    let (mut chunks, payload) = Chunks::split(data);
    let pieces = chunks.pieces(payload);
    push_all(&pieces);
    messages(&pieces);
    push_shared(payload, false);
    push_shared(payload, true);
    if let Ok(read) = read_ipc(payload, ReadOptions::default()) {
        for t in &read.tables {
            check_table(t);
        }
    }
});
