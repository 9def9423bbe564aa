//! 64-byte aligned memory and zero-copy slicing into minarrow buffers.
//!
//! Received bytes live in `SharedBuffer`s (reference counted, immutable). A
//! column buffer becomes a minarrow `Buffer` that points into the received
//! bytes (no copy) whenever minarrow can legally hold it there: its start is
//! aligned for the element type (`align_of::<T>()`; 8 bytes for bitmaps,
//! whose words minarrow reads as `u64`). Only a buffer that is not (a corrupt
//! or unusual producer; `i128` decimals at an 8-byte boundary) is copied once
//! into a fresh 64-byte aligned `Vec64`. Nothing here parses wire data;
//! callers have already checked lengths and bounds.
//!
//! minarrow's own rule, read from its source (0.19): `Buffer`'s shared
//! storage turns its bytes into a `&[T]` with `slice::from_raw_parts`, which
//! needs `align_of::<T>()`; `Buffer::from_shared` copies anything not 64-byte
//! aligned as a policy (with a warning), but `Buffer::from_shared_column`
//! borrows without that policy. minarrow's SIMD kernels check for 64-byte
//! alignment (`is_simd_aligned`) and take a scalar path otherwise; its
//! bitmask kernels read mask bytes as aligned `u64` words.
//!
//! A `Tally` counts, as a batch is decoded, the bytes of buffers borrowed
//! from the caller's memory and those copied, for the readers' counters.
//!
//! What that means for a reader: a table read from bytes already in a
//! [`SharedBuffer`] points into them.
//!
//! ```
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::{aligned_copy, read_stream, write_stream, ReadOptions, Schema};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
//! let shared = aligned_copy(&bytes); // or a memory map, a receive buffer
//! let (_, tables) = read_stream(shared.clone(), ReadOptions::default())?;
//! let ids = tables[0].cols[0].array.num().i64();
//! let received = shared.as_slice().as_ptr_range();
//! assert!(received.contains(&ids.data.as_slice().as_ptr().cast())); // no copy
//! # Ok::<(), lightstream_core::Error>(())
//! ```
use std::cell::Cell;
use std::ops::Range;

use minarrow::structs::shared_buffer::SharedBuffer;
use minarrow::{Buffer, Vec64};

/// The alignment Lightstream writes and prefers: 64 bytes (a cache line, an
/// AVX-512 register). Readers accept 8-byte aligned producers too.
pub const ALIGNMENT: usize = 64;

/// `len` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn padded_len(len: usize, align: usize) -> Option<usize> {
    debug_assert!(align.is_power_of_two());
    len.checked_add(align - 1).map(|n| n & !(align - 1))
}

/// Copies `bytes` into a new 64-byte aligned buffer.
///
/// The one copy a shell makes when its bytes arrive somewhere it does not
/// control (a JavaScript `ArrayBuffer`, a plain `Vec<u8>`).
///
/// ```
/// use lightstream_core::{aligned_copy, ALIGNMENT};
///
/// let buf = aligned_copy(&[1, 2, 3]);
/// assert_eq!(buf.as_slice(), [1, 2, 3]);
/// assert_eq!(buf.as_slice().as_ptr() as usize % ALIGNMENT, 0);
/// ```
pub fn aligned_copy(bytes: &[u8]) -> SharedBuffer {
    let mut v: Vec64<u8> = Vec64::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    SharedBuffer::from_vec64(v)
}

/// Where a received body's buffers must start for it to stay where it
/// lands instead of being relocated to 64-byte boundaries: 8 bytes, the
/// Arrow format's own alignment (pyarrow pads to it) and enough for every
/// element type minarrow holds to be borrowed in place (`i128` values at an
/// odd multiple of 8 are then copied one buffer at a time, see
/// [`typed_buffer`]). [`crate::ReadOptions::align_64`] asks for
/// [`ALIGNMENT`] instead.
pub(crate) const IN_PLACE_ALIGNMENT: usize = 8;

/// Alignment minarrow needs to hold a bitmap's bytes in place: its bitmask
/// kernels read them as `u64` words through aligned pointers.
pub(crate) const BITMAP_ALIGNMENT: usize = std::mem::align_of::<u64>();

/// Bytes of column buffers, counted while batches are decoded: those the
/// tables hold in place in the caller's memory (`input`), and those copied.
///
/// Only buffers that lie in `input` count as borrowed: a body the decoder
/// copied, or a decompressed buffer, is the decoder's own memory.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Address range of the caller's memory; empty when there is none.
    input: Range<usize>,
    borrowed: Cell<u64>,
    copied: Cell<u64>,
}

impl Tally {
    /// A tally of buffers borrowed from `input`.
    pub(crate) fn over(input: &[u8]) -> Tally {
        let start = input.as_ptr() as usize;
        Tally {
            input: start..start + input.len(),
            ..Tally::default()
        }
    }

    /// Bytes of buffers held in place in the caller's memory.
    pub(crate) fn borrowed(&self) -> u64 {
        self.borrowed.get()
    }

    /// Bytes of buffers copied.
    pub(crate) fn copied(&self) -> u64 {
        self.copied.get()
    }

    fn in_input(&self, bytes: &[u8]) -> bool {
        let start = bytes.as_ptr() as usize;
        self.input.start <= start && start + bytes.len() <= self.input.end
    }

    fn borrow(&self, bytes: &[u8]) {
        if self.in_input(bytes) {
            self.borrowed.set(self.borrowed.get() + bytes.len() as u64);
        }
    }

    /// `n` bytes were copied.
    pub(crate) fn copy(&self, n: usize) {
        self.copied.set(self.copied.get() + n as u64);
    }

    /// A buffer taken earlier (`old`) is not used after all (replaced by a
    /// mask the decoder made): it is no longer borrowed.
    pub(crate) fn unused(&self, old: &[u8]) {
        if self.in_input(old) {
            self.borrowed
                .set(self.borrowed.get().saturating_sub(old.len() as u64));
        }
    }

    /// A buffer taken earlier (`old`) was replaced by a copy of `n` bytes
    /// (values repaired under nulls): it is no longer borrowed.
    pub(crate) fn replace(&self, old: &[u8], n: usize) {
        self.unused(old);
        self.copy(n);
    }
}

/// A minarrow buffer of `T` over `bytes`, which holds exactly `n * size_of::<T>()`
/// bytes. Zero-copy when `bytes` starts aligned for `T` (any Arrow producer's
/// 8-byte aligned buffers, except `i128` ones); one copy otherwise.
pub(crate) fn typed_buffer<T: bytemuck::Pod>(bytes: SharedBuffer, tally: &Tally) -> Buffer<T> {
    borrow_or_copy::<T>(bytes, std::mem::align_of::<T>(), tally)
}

/// The bytes of a bitmap (validity or boolean values) as a minarrow buffer:
/// zero-copy when they start on an 8-byte boundary, one copy otherwise.
pub(crate) fn bitmap_buffer(bytes: SharedBuffer, tally: &Tally) -> Buffer<u8> {
    borrow_or_copy::<u8>(bytes, BITMAP_ALIGNMENT, tally)
}

/// Borrows `bytes` as `T`s when they start on an `align` boundary (at least
/// `align_of::<T>()`), copies them into an aligned `Vec64` otherwise.
fn borrow_or_copy<T: bytemuck::Pod>(bytes: SharedBuffer, align: usize, tally: &Tally) -> Buffer<T> {
    let size = std::mem::size_of::<T>();
    debug_assert!(size > 0 && bytes.len().is_multiple_of(size));
    debug_assert!(align >= std::mem::align_of::<T>() && align.is_power_of_two());
    if bytes.is_empty() {
        return Buffer::from_vec64(Vec64::new());
    }
    if (bytes.as_slice().as_ptr() as usize).is_multiple_of(align) {
        // Aligned for `T` and a whole number of elements: minarrow's shared
        // storage reads it in place (`from_shared` would copy anything short
        // of 64-byte alignment; `from_shared_column` keeps the view).
        tally.borrow(bytes.as_slice());
        let n = bytes.len() / size;
        return Buffer::from_shared_column(bytes, 0, n);
    }
    tally.copy(bytes.len());
    Buffer::from_vec64(copy_to_vec64::<T>(bytes.as_slice()))
}

/// Copies `bytes` (a whole number of `T`s, any alignment) into an aligned `Vec64<T>`.
pub(crate) fn copy_to_vec64<T: bytemuck::Pod>(bytes: &[u8]) -> Vec64<T> {
    let size = std::mem::size_of::<T>();
    let n = bytes.len() / size;
    let mut v: Vec64<T> = Vec64::with_capacity(n);
    // SAFETY: the capacity is `n` elements, so `n * size` bytes are writable at
    // `as_mut_ptr()`; source and destination are distinct allocations; `T` is
    // Pod, so any bytes form a valid `T`, and `set_len(n)` covers exactly the
    // elements just written.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr() as *mut u8, n * size);
        v.set_len(n);
    }
    v
}

/// Growable 64-byte aligned byte buffer used to assemble message bodies.
#[derive(Default)]
pub(crate) struct AlignedBytes {
    inner: Vec64<u8>,
}

impl AlignedBytes {
    pub(crate) fn with_capacity(n: usize) -> Self {
        AlignedBytes {
            inner: Vec64::with_capacity(n),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Before appending up to `additional` bytes: if they would not fit, makes
    /// room for `total` bytes at once, so a body that outgrows its first
    /// reservation is reallocated (and copied) at most once. Nothing is
    /// reserved beyond the first reservation until bytes actually overflow it.
    pub(crate) fn grow_for(&mut self, additional: usize, total: usize) {
        let (cap, len) = (self.inner.capacity(), self.inner.len());
        if cap - len < additional && total > len {
            self.inner.reserve_exact((total - len).max(additional));
        }
    }

    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.inner.extend_from_slice(bytes);
    }

    pub(crate) fn extend_zeros(&mut self, n: usize) {
        let len = self.inner.len();
        self.inner.resize(len + n, 0);
    }

    #[cfg_attr(
        not(any(feature = "lz4", feature = "zstd", feature = "zstd-decode")),
        allow(dead_code)
    )]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.inner
    }

    /// The capacity not yet written to; bytes written there become part of
    /// the buffer through [`AlignedBytes::assume_written`].
    pub(crate) fn spare_mut(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        self.inner.spare_capacity_mut()
    }

    /// Extends the length over `n` bytes of spare capacity.
    ///
    /// # Safety
    /// The first `n` bytes of [`AlignedBytes::spare_mut`] must have been initialized.
    pub(crate) unsafe fn assume_written(&mut self, n: usize) {
        assert!(
            n <= self.inner.capacity() - self.inner.len(),
            "more bytes than spare capacity"
        );
        let len = self.inner.len();
        // SAFETY: `len + n` is within the capacity (checked above) and the
        // caller guarantees those `n` bytes were initialized.
        unsafe { self.inner.set_len(len + n) };
    }

    pub(crate) fn freeze(self) -> SharedBuffer {
        SharedBuffer::from_vec64(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_len_rounds_up() {
        assert_eq!(padded_len(0, 64), Some(0));
        assert_eq!(padded_len(1, 64), Some(64));
        assert_eq!(padded_len(64, 64), Some(64));
        assert_eq!(padded_len(65, 8), Some(72));
        assert_eq!(padded_len(usize::MAX, 8), None);
    }

    #[test]
    fn slices_aligned_for_their_type_are_borrowed_and_others_copied() {
        let shared = aligned_copy(&(0u8..=255).collect::<Vec<u8>>());
        let at = |b: &SharedBuffer| b.as_slice().as_ptr();
        let tally = Tally::over(shared.as_slice());

        // 64-byte aligned: borrowed.
        let aligned = shared.slice(64..128);
        let b: Buffer<u64> = typed_buffer(aligned.clone(), &tally);
        assert_eq!(b.as_slice().as_ptr() as *const u8, at(&aligned));
        assert!(b.is_shared());

        // 8-byte aligned (pyarrow): borrowed too, values read in place.
        let eight = shared.slice(8..24);
        let c: Buffer<u64> = typed_buffer(eight.clone(), &tally);
        assert!(c.is_shared());
        assert_eq!(c.as_slice().as_ptr() as *const u8, at(&eight));
        assert_eq!(
            c.as_slice(),
            &[
                u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
                u64::from_le_bytes([16, 17, 18, 19, 20, 21, 22, 23])
            ]
        );
        // 4-byte aligned is enough for u32, not for u64.
        let four = shared.slice(4..12);
        let d: Buffer<u32> = typed_buffer(four.clone(), &tally);
        assert!(d.is_shared());
        let e: Buffer<u64> = typed_buffer(four.clone(), &tally);
        assert!(!e.is_shared());
        assert_eq!(
            e.as_slice(),
            &[u64::from_le_bytes([4, 5, 6, 7, 8, 9, 10, 11])]
        );
        assert_eq!(e.as_slice().as_ptr() as usize % 64, 0);

        // Not even aligned for the element type: copied, never misread.
        let odd = shared.slice(3..11);
        let f: Buffer<u32> = typed_buffer(odd, &tally);
        assert!(!f.is_shared());
        assert_eq!(
            f.as_slice(),
            &[
                u32::from_le_bytes([3, 4, 5, 6]),
                u32::from_le_bytes([7, 8, 9, 10])
            ]
        );

        // i128 needs its own alignment (16 on most targets): 8 is not enough there.
        let wide = shared.slice(8..24);
        let g: Buffer<i128> = typed_buffer(wide.clone(), &tally);
        assert_eq!(
            g.is_shared(),
            (at(&wide) as usize).is_multiple_of(std::mem::align_of::<i128>())
        );
        assert_eq!(
            g.as_slice()[0].to_le_bytes().to_vec(),
            (8u8..24).collect::<Vec<u8>>()
        );

        // Bitmaps: minarrow reads them as u64 words, so 8-byte aligned is borrowed
        // and a bitmap at an odd byte is copied.
        let m = bitmap_buffer(shared.slice(8..16), &tally);
        assert!(m.is_shared());
        let n = bitmap_buffer(shared.slice(1..9), &tally);
        assert!(!n.is_shared());
        assert_eq!(n.as_slice(), &(1u8..9).collect::<Vec<u8>>()[..]);

        // Borrowed: 64 + 16 + 8 (u32 at 4) + 8 (bitmap at 8); copied: 8 (u64 at 4)
        // + 8 (u32 at 3) + 8 (bitmap at 1); the i128 at 8 one or the other.
        let wide_len = 16;
        let (kept, moved) = if g.is_shared() {
            (wide_len, 0)
        } else {
            (0, wide_len)
        };
        assert_eq!(tally.borrowed(), 64 + 16 + 8 + 8 + kept);
        assert_eq!(tally.copied(), 8 + 8 + 8 + moved);
        // Nothing counts as borrowed from memory that is not the caller's.
        let other = aligned_copy(&[0u8; 64]);
        let none = Tally::over(&[]);
        let _: Buffer<u64> = typed_buffer(other.slice(0..64), &none);
        assert_eq!((none.borrowed(), none.copied()), (0, 0));
    }
}
