//! The TLV frame decoder over the chunking the input's first bytes choose,
//! checked against a straightforward parse of the same bytes: the same frames
//! (tag and value), a limit error exactly where a value is too long, and
//! `finish` succeeding exactly when the input ends on a frame boundary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::ErrorKind;
use lightstream_core::framing::tlv::TlvDecoder;
use lightstream_core::framing::{Decoded, FrameDecoder};
use lightstream_fuzz::Chunks;

/// Most bytes of a value in this target (small, so limit errors are reachable).
const MAX_VALUE: usize = 4096;

enum Expect<'a> {
    Frames(Vec<(u8, &'a [u8])>, bool),
    TooLong(Vec<(u8, &'a [u8])>),
}

/// The frames of `payload`, read the obvious way.
fn reference(mut payload: &[u8]) -> Expect<'_> {
    let mut frames = Vec::new();
    loop {
        if payload.is_empty() {
            return Expect::Frames(frames, true);
        }
        if payload.len() < 5 {
            return Expect::Frames(frames, false);
        }
        let len = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]) as usize;
        if len > MAX_VALUE {
            return Expect::TooLong(frames);
        }
        if payload.len() < 5 + len {
            return Expect::Frames(frames, false);
        }
        frames.push((payload[0], &payload[5..5 + len]));
        payload = &payload[5 + len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let (mut chunks, payload) = Chunks::split(data);
    let mut dec = TlvDecoder::new(MAX_VALUE);
    let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut error = None;
    'outer: for piece in chunks.pieces(payload) {
        let mut rest = piece;
        while !rest.is_empty() {
            match dec.decode(rest) {
                Ok(Decoded::Frame { frame, consumed }) => {
                    assert!(
                        consumed > 0 && consumed <= rest.len(),
                        "bad consumed {consumed}"
                    );
                    assert_eq!(
                        frame.value.as_slice().as_ptr() as usize % 64,
                        0,
                        "value not 64-byte aligned"
                    );
                    got.push((frame.tag, frame.value.as_slice().to_vec()));
                    rest = &rest[consumed..];
                }
                Ok(Decoded::NeedMore) => rest = &[],
                Err(e) => {
                    error = Some(e);
                    break 'outer;
                }
            }
        }
    }
    let same = |want: &[(u8, &[u8])]| {
        assert_eq!(got.len(), want.len(), "frame count");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.0, w.0, "tag");
            assert_eq!(&g.1[..], w.1, "value");
        }
    };
    match reference(payload) {
        Expect::TooLong(frames) => {
            let e = error.expect("a too-long value must be refused");
            assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
            same(&frames);
            assert!(dec.decode(b"x").is_err(), "usable after an error");
        }
        Expect::Frames(frames, whole) => {
            assert!(error.is_none(), "unexpected error {error:?}");
            same(&frames);
            assert_eq!(dec.finish().is_ok(), whole, "finish at a boundary");
        }
    }
});
