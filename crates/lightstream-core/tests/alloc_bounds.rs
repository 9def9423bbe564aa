//! What a peer claims is not what the decoder allocates: a message header
//! that announces a huge (but within-limits) body makes the decoder reserve at
//! most `DecodeLimits::max_eager_reserve` until the bytes actually arrive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lightstream_core::framing::Decoded;
use lightstream_core::minarrow::{fa_i64, tbl};
use lightstream_core::{ErrorKind, IpcStreamDecoder, ReadOptions, WriteOptions, write_stream};

struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `LARGEST` is process-wide: the tests that read it take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_claimed_body_is_not_reserved_up_front() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = tbl!("t", fa_i64!("x", 1, 2, 3));
    let schema = lightstream_core::Schema::from_table(&table);
    let bytes = write_stream(&schema, &[table], &WriteOptions::default()).unwrap();
    // The schema message is the first 8 + n bytes; the record batch follows.
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let Decoded::Frame { consumed, .. } = dec.push(&bytes).unwrap() else {
        panic!("schema expected")
    };
    // Patch the record batch's bodyLength to ~1.9 GiB by appending a
    // message whose flatbuffer we take from the real one and whose body never comes.
    let batch = &bytes[consumed..bytes.len() - 8];
    let meta_len = i32::from_le_bytes(batch[4..8].try_into().unwrap()) as usize;
    let mut meta = batch[8..8 + meta_len].to_vec();
    let real_body = (batch.len() - 8 - meta_len) as i64;
    // bodyLength is an i64 field; find its bytes and rewrite them.
    let pos = meta
        .windows(8)
        .position(|w| w == real_body.to_le_bytes())
        .expect("bodyLength bytes in the metadata");
    let claimed: i64 = 1_900_000_000;
    meta[pos..pos + 8].copy_from_slice(&claimed.to_le_bytes());
    let mut hostile = batch[..8].to_vec();
    hostile.extend_from_slice(&meta);
    hostile.extend_from_slice(&[0u8; 100]);

    LARGEST.store(0, Ordering::Relaxed);
    assert!(matches!(dec.push(&hostile).unwrap(), Decoded::NeedMore));
    let largest = LARGEST.load(Ordering::Relaxed);
    let cap = ReadOptions::default().limits.max_eager_reserve;
    assert!(
        largest <= cap,
        "reserved {largest} bytes for a body that has not arrived"
    );
    let err = lightstream_core::framing::FrameDecoder::finish(&dec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated);
    assert!(err.message().contains("100 of 1900000000 bytes"), "{err}");
}

/// A TLV stream read through the one driver loop (as `lightstream::framed`
/// reads a socket): returns the driver's error and the largest allocation
/// made while it ran.
fn drive_tlv_to_its_error(bytes: &[u8], max_value: usize) -> (lightstream_core::Error, usize) {
    use lightstream_core::framing::FrameDecoder;
    use lightstream_core::framing::tlv::TlvDecoder;
    use lightstream_core::{DriveError, FrameDriver, ReadInput};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut driver = FrameDriver::with_decoder(TlvDecoder::new(max_value), 64 * 1024);
    let mut input = ReadInput { inner: bytes };
    LARGEST.store(0, Ordering::Relaxed);
    let e = loop {
        match driver.next_item(&mut input) {
            Ok(Some(_)) => {}
            Ok(None) => break driver.decoder().finish().unwrap_err(),
            Err(DriveError::Decode(e)) => break e,
            Err(DriveError::Input(e)) => panic!("{e}"),
        }
    };
    (e, LARGEST.load(Ordering::Relaxed))
}

#[test]
fn a_tlv_frame_declaring_4_gib_is_refused_before_anything_is_reserved() {
    let mut bytes = vec![1, 0xff, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&[0; 1000]);
    let (e, largest) = drive_tlv_to_its_error(&bytes, 64 << 20);
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(
        e.message().contains("TLV value length is 4294967295"),
        "{e}"
    );
    // The driver's 64 KiB scratch buffer is the largest allocation.
    assert!(largest <= 64 * 1024, "largest allocation {largest} bytes");
}

#[test]
fn a_truncated_tlv_frame_grows_memory_only_with_the_bytes_that_came() {
    // 64 MiB declared (within the limit), 1000 bytes sent, then the end.
    let mut bytes = vec![1];
    bytes.extend_from_slice(&(64u32 << 20).to_le_bytes());
    bytes.extend_from_slice(&[7; 1000]);
    let (e, largest) = drive_tlv_to_its_error(&bytes, 128 << 20);
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
    assert!(e.message().contains("1000 of 67108864 value bytes"), "{e}");
    assert!(largest <= 64 * 1024, "largest allocation {largest} bytes");
}
