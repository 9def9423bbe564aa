//! The WebSocket message path: one encapsulated IPC message per binary
//! WebSocket message. The input after its first byte is a sequence of
//! messages, each a 2-byte little-endian length and that many bytes (the last
//! one takes what is left). Each message is fed to one `IpcStreamDecoder`
//! whole and must leave it at a message boundary, as both shells require:
//!
//! - native (`lightstream::TableReader` over WebSocket): `push` of the whole
//!   message, offering the rest again after each item;
//! - browser (`lightstream-wasm`'s `Pusher::push_message`): prefixes and
//!   metadata through `push`, bodies written into `body_sink` and collected
//!   with `take_body`.
//!
//! The first byte picks the path (and, for the browser path, the size of the
//! pieces written into the body sink).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::bytes::BufMut;
use lightstream_core::framing::Decoded;
use lightstream_core::{IpcStreamDecoder, ReadOptions, Result, StreamItem};
use lightstream_fuzz::check_table;

fn take(item: StreamItem) {
    if let StreamItem::Table(t) = item {
        check_table(&t);
    }
}

/// The native shell: `push` the whole message.
fn native(dec: &mut IpcStreamDecoder, message: &[u8]) -> Result<()> {
    let mut rest = message;
    while !rest.is_empty() {
        match dec.push(rest)? {
            Decoded::Frame { frame, consumed } => {
                rest = &rest[consumed..];
                take(frame);
            }
            Decoded::NeedMore => rest = &[],
        }
    }
    Ok(())
}

/// The browser shell: bodies through the sink, the rest through `push`.
fn browser(dec: &mut IpcStreamDecoder, message: &[u8], step: usize) -> Result<()> {
    let mut rest = message;
    while !rest.is_empty() {
        if let Some(mut sink) = dec.body_sink() {
            let n = sink.remaining_mut().min(rest.len()).min(step);
            assert!(n > 0, "a body sink with no room");
            sink.put_slice(&rest[..n]);
            rest = &rest[n..];
            if let Some(item) = dec.take_body()? {
                take(item);
            }
            continue;
        }
        // Like `Pusher`: a bounded piece through a scratch copy, offering its
        // rest again after each item.
        let n = rest.len().min(step.max(8));
        let piece = rest[..n].to_vec();
        rest = &rest[n..];
        let mut used = 0;
        while used < n {
            match dec.push(&piece[used..])? {
                Decoded::Frame { frame, consumed } => {
                    used += consumed;
                    take(frame);
                }
                Decoded::NeedMore => break,
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut input)) = data.split_first() else {
        return;
    };
    let step = 1usize << (mode >> 4); // 1 .. 32 KiB pieces
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    while !input.is_empty() {
        let message = match input {
            [a, b, rest @ ..] => {
                let len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
                let (message, after) = rest.split_at(len);
                input = after;
                message
            }
            _ => std::mem::take(&mut input),
        };
        if message.is_empty() {
            continue; // both shells refuse an empty message before decoding
        }
        let r = if mode & 1 == 0 {
            native(&mut dec, message)
        } else {
            browser(&mut dec, message, step)
        };
        if r.is_err() || !dec.is_at_message_boundary() {
            return; // the shells stop the stream here
        }
    }
    let _ = dec.finish();
    let _ = dec.is_ended();
});
