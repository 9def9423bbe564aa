//! Compression bombs: small LZ4_FRAME and ZSTD bodies that claim (in their
//! 8-byte length prefix) or really expand to gigabytes must be refused, by
//! `DecodeLimits::max_decompressed_bytes` when the prefix is over the limit and
//! by the prefix itself when the codec produces more than it declared, without
//! the heap ever growing toward the claimed or real size.
//!
//! The bombs are built in the test: ZSTD frames of RLE blocks (4 bytes per
//! 128 KiB of output, so 4 GiB is a 128 KiB frame), and LZ4 frames repeating
//! one 4 MiB block of zeros (16 KiB each). A counting global allocator
//! measures the heap growth of each decode (the C zstd library's own window,
//! allocated with `malloc`, is not counted; it is bounded by the frame's
//! window size, 128 KiB here).

#![cfg(all(feature = "lz4", any(feature = "zstd", feature = "zstd-decode")))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lightstream_core::ipc::fuzz_decompress_buffer;
use lightstream_core::{Compression, DecodeLimits, ErrorKind};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged and only keeps counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let grow = new_size - layout.size();
            let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measured decode at a time (the test harness runs tests on threads).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f`, returning its result, the heap growth at its peak and the time taken.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let r = f();
    let took = started.elapsed();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base), took)
}

const GIB: u64 = 1 << 30;

/// A ZSTD frame of RLE blocks of zeros inflating to `total` bytes (a multiple
/// of 128 KiB), with a 128 KiB window and, when `declare` is set, the total
/// as its frame content size.
fn zstd_rle_bomb(total: u64, declare: bool) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    assert_eq!(total % BLOCK, 0);
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: content size field of 8 bytes (or none), not
    // single-segment (so a window descriptor follows), no checksum, no dict id.
    f.push(if declare { 0xc0 } else { 0x00 });
    // Window descriptor: exponent 7, mantissa 0 -> 2^(10+7) = 128 KiB.
    f.push(7 << 3);
    if declare {
        f.extend_from_slice(&total.to_le_bytes());
    }
    let blocks = total / BLOCK;
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        // Block header: last flag, type 1 (RLE), size = bytes regenerated.
        let header = ((BLOCK as u32) << 3) | (1 << 1) | last;
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.push(0); // the repeated byte
    }
    f
}

/// An LZ4 frame of `blocks` independent 4 MiB blocks of zeros.
fn lz4_bomb(blocks: usize) -> Vec<u8> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;
    let info = FrameInfo::new()
        .block_size(BlockSize::Max4MB)
        .block_mode(BlockMode::Independent);
    let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(&vec![0u8; 4 << 20]).unwrap();
    let one = enc.finish().unwrap();
    // magic (4) + FLG + BD + header checksum, then one block, then the end mark.
    let (header, rest) = one.split_at(7);
    let block = &rest[..rest.len() - 4];
    assert_eq!(
        &rest[rest.len() - 4..],
        &[0, 0, 0, 0],
        "one block and the end mark"
    );
    let mut f = header.to_vec();
    for _ in 0..blocks {
        f.extend_from_slice(block);
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f
}

/// A wire buffer: the 8-byte length prefix, then the frame.
fn wire(declared: u64, frame: &[u8]) -> Vec<u8> {
    let mut w = declared.to_le_bytes().to_vec();
    w.extend_from_slice(frame);
    w
}

fn assert_limit_error(codec: Compression, frame: &[u8]) {
    let w = wire(4 * GIB, frame);
    let limit = DecodeLimits::DEFAULT.max_decompressed_bytes;
    let (r, peak, took) = measured(|| {
        fuzz_decompress_buffer(codec, &w, limit, DecodeLimits::DEFAULT.max_eager_reserve)
    });
    let err = r.expect_err("a 4 GiB claim must be refused");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(err.message().contains("max_decompressed_bytes"), "{err}");
    assert!(err.message().contains(&(4 * GIB).to_string()), "{err}");
    // Only the aligned copy of the input itself.
    assert!(
        peak < w.len() + (1 << 20),
        "{codec:?}: heap grew by {peak} bytes"
    );
    assert!(took < Duration::from_secs(5), "{codec:?}: took {took:?}");
}

fn assert_stops_at_prefix(codec: Compression, frame: &[u8]) {
    let declared = 1u64 << 20;
    let w = wire(declared, frame);
    let (r, peak, took) = measured(|| {
        fuzz_decompress_buffer(
            codec,
            &w,
            DecodeLimits::DEFAULT.max_decompressed_bytes,
            DecodeLimits::DEFAULT.max_eager_reserve,
        )
    });
    let err = r.expect_err("a frame inflating past its prefix must be refused");
    assert_eq!(err.kind(), ErrorKind::Compression, "{err}");
    assert!(
        err.message()
            .contains("inflates to more than the 1048576 bytes declared"),
        "{err}"
    );
    // The input copy, the declared 1 MiB and the codec's block buffers (LZ4: 2 x 4 MiB).
    let bound = w.len() + (1 << 20) + (10 << 20);
    assert!(peak < bound, "{codec:?}: heap grew by {peak} bytes");
    assert!(took < Duration::from_secs(5), "{codec:?}: took {took:?}");
}

#[test]
fn zstd_bomb_claiming_4_gib_is_refused_by_max_decompressed_bytes() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let frame = zstd_rle_bomb(4 * GIB, true);
    assert!(frame.len() < 200 << 10, "{} bytes", frame.len());
    assert_limit_error(Compression::Zstd, &frame);
    assert_limit_error(Compression::Zstd, &zstd_rle_bomb(4 * GIB, false));
}

#[test]
fn zstd_bomb_expanding_to_4_gib_stops_at_its_small_prefix() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The frame says 4 GiB in its own header, or nothing: the prefix rules.
    assert_stops_at_prefix(Compression::Zstd, &zstd_rle_bomb(4 * GIB, true));
    assert_stops_at_prefix(Compression::Zstd, &zstd_rle_bomb(4 * GIB, false));
}

#[test]
fn lz4_bomb_claiming_4_gib_is_refused_by_max_decompressed_bytes() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let frame = lz4_bomb(1024);
    assert!(frame.len() < 20 << 20, "{} bytes", frame.len());
    assert_limit_error(Compression::Lz4Frame, &frame);
}

#[test]
fn lz4_bomb_expanding_to_4_gib_stops_at_its_small_prefix() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_stops_at_prefix(Compression::Lz4Frame, &lz4_bomb(1024));
}

/// The bomb inside a whole IPC stream (writing ZSTD needs the C library).
#[cfg(feature = "zstd")]
mod stream {
    use super::*;
    use lightstream_core::minarrow::{Array, FieldArray, IntegerArray, Table};
    use lightstream_core::{
        ReadOptions, Schema, WriteOptions, aligned_copy, read_stream, write_stream,
    };

    /// A whole IPC stream whose record batch body holds a ZSTD bomb: one Int64
    /// column of incompressible values, which the writer stores raw (length -1),
    /// then its buffer is overwritten in place with a bomb and a skippable frame
    /// filling the rest, so every offset and length in the metadata stays valid.
    fn stream_with_bomb(declared: u64) -> Vec<u8> {
        let frame = zstd_rle_bomb(4 * GIB, false);
        let rows = frame.len() / 8 + 4;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let values: Vec<i64> = (0..rows)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as i64
            })
            .collect();
        let first = values[0].to_le_bytes();
        let table = Table::new(
            "bomb",
            Some(vec![FieldArray::from_arr(
                "v",
                Array::from_int64(IntegerArray::from_slice(&values)),
            )]),
        );
        let options = WriteOptions {
            compression: Compression::Zstd,
            ..WriteOptions::default()
        };
        let mut bytes = write_stream(&Schema::from_table(&table), &[table], &options).unwrap();
        // The raw values buffer: the -1 marker, then the values.
        let mut marker = (-1i64).to_le_bytes().to_vec();
        marker.extend_from_slice(&first);
        let at = bytes
            .windows(16)
            .position(|w| w == marker)
            .expect("the raw values buffer");
        let region = 8 + rows * 8;
        let mut buf = declared.to_le_bytes().to_vec();
        buf.extend_from_slice(&frame);
        let pad = region - buf.len() - 8;
        buf.extend_from_slice(&0x184d_2a50u32.to_le_bytes()); // skippable frame
        buf.extend_from_slice(&(pad as u32).to_le_bytes());
        buf.resize(region, 0);
        bytes[at..at + region].copy_from_slice(&buf);
        bytes
    }

    #[test]
    fn ipc_stream_with_a_zstd_bomb_body_is_refused_with_bounded_memory() {
        let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // Prefix over the limit: refused by max_decompressed_bytes (STRICT: 64 MiB).
        let bytes = aligned_copy(&stream_with_bomb(4 * GIB));
        let strict = ReadOptions {
            limits: DecodeLimits::STRICT,
            ..ReadOptions::default()
        };
        let (r, peak, took) = measured(|| read_stream(bytes.clone(), strict.clone()));
        let err = r.expect_err("a 4 GiB claim in a record batch body");
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert!(err.message().contains("max_decompressed_bytes"), "{err}");
        assert!(peak < 4 << 20, "heap grew by {peak} bytes");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        // Prefix within the limit, frame inflating to 4 GiB: stops at the prefix.
        let bytes = aligned_copy(&stream_with_bomb(1 << 20));
        let (r, peak, took) = measured(|| read_stream(bytes.clone(), strict.clone()));
        let err = r.expect_err("a body inflating past its prefix");
        assert_eq!(err.kind(), ErrorKind::Compression, "{err}");
        assert!(peak < 8 << 20, "heap grew by {peak} bytes");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}
