//! Body decompression (LZ4_FRAME and ZSTD), one wire buffer at a time, through
//! the core's `fuzz_decompress_buffer` (the path every compressed record batch
//! buffer takes). The first byte picks the codec and a budget; the rest is the
//! wire buffer (8-byte length prefix, then the codec's bytes). A buffer must
//! never inflate to other than its declared length, nor beyond the budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::ErrorKind;
use lightstream_core::ipc::{Compression, fuzz_decompress_buffer};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, wire)) = data.split_first() else {
        return;
    };
    let codec = if mode & 1 == 0 {
        Compression::Lz4Frame
    } else {
        Compression::Zstd
    };
    // Budgets from 64 bytes to 64 MiB; reserve at most 64 KiB up front.
    let budget = 64usize << ((mode >> 1) % 21);
    let eager = 64 << 10;
    match fuzz_decompress_buffer(codec, wire, budget, eager) {
        Ok(out) => {
            if wire.len() >= 8 {
                let declared = i64::from_le_bytes(wire[..8].try_into().unwrap());
                if declared == -1 {
                    assert_eq!(out.as_slice(), &wire[8..], "raw buffer passed through");
                } else {
                    assert_eq!(
                        out.len() as i64,
                        declared,
                        "inflated to the declared length"
                    );
                    assert!(out.len() <= budget, "inflated beyond the budget");
                    assert!(
                        out.is_empty() || out.as_slice().as_ptr() as usize % 64 == 0,
                        "output not aligned"
                    );
                }
            } else {
                assert!(wire.is_empty() && out.is_empty());
            }
        }
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Compression | ErrorKind::LimitExceeded | ErrorKind::Malformed
                ),
                "unexpected error kind {e}"
            );
        }
    }
});
