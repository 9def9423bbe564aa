//! The WebSocket message path: one encapsulated IPC message per binary
//! WebSocket message. The input after its first byte is a sequence of
//! messages, each a 2-byte little-endian length and that many bytes (the last
//! one takes what is left). Each message goes through the core's one rule,
//! `IpcStreamDriver::next_in_message`, as every shell's does:
//!
//! - native (`lightstream::TableReader` over WebSocket): the message as a
//!   `SliceInput`, decoded where it lies;
//! - browser (`lightstream-wasm`'s `ChunkDecoder::push_message`): the message copied
//!   out in pieces where the driver asks (bodies into the body sink, the rest
//!   into its scratch buffer), as `ChunkInput` does from a JavaScript array.
//!
//! The first byte picks the input (and, for the copying input, the most it
//! copies per read).
#![no_main]

use std::convert::Infallible;

use libfuzzer_sys::fuzz_target;
use lightstream_core::{
    ByteInput, IpcStreamDriver, MessageError, ReadOptions, SliceInput, StreamItem,
};
use lightstream_fuzz::{Copying, check_table};

/// Every item of one transport message; `Err` stops the stream, as the shells do.
fn message<I: ByteInput<Error = Infallible>>(
    driver: &mut IpcStreamDriver,
    input: &mut I,
) -> Result<(), MessageError> {
    while let Some(item) = driver.next_in_message(input)? {
        if let StreamItem::Table(t) = item {
            check_table(&t);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut input)) = data.split_first() else {
        return;
    };
    let step = 1usize << (mode >> 4); // 1 .. 32 KiB pieces
    let mut driver = IpcStreamDriver::new(ReadOptions::default());
    while !input.is_empty() {
        let bytes = match input {
            [a, b, rest @ ..] => {
                let len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
                let (bytes, after) = rest.split_at(len);
                input = after;
                bytes
            }
            _ => std::mem::take(&mut input),
        };
        let r = if mode & 1 == 0 {
            message(&mut driver, &mut SliceInput::new(bytes, 0))
        } else {
            message(&mut driver, &mut Copying { bytes, step })
        };
        if r.is_err() {
            return; // the shells stop the stream here
        }
        assert!(driver.decoder().is_at_message_boundary());
    }
    let _ = driver.decoder().finish();
    let _ = driver.decoder().is_ended();
});
