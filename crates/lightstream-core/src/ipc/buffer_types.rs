//! Element types of Arrow buffers that both the batch reader (`read.rs`) and
//! the writer (`write.rs`, `body.rs`, `unify.rs`) handle: string offsets
//! ([`OffsetInt`]), dictionary keys ([`KeyInt`], and [`RemappedKeys`], keys
//! the unifier rewrote for the body to send) and validity bit counts. No
//! reading or writing here, only what the two directions agree on.

use minarrow::Vec64;

/// Number of set bits among the first `len` bits of `bytes` (which holds them
/// all: the callers checked its size; bits past its end would count as unset).
pub(crate) fn count_set_bits(bytes: &[u8], len: usize) -> usize {
    let full = len / 8;
    let (words, tail) = bytes.get(..full).unwrap_or(bytes).as_chunks::<8>();
    let mut n: usize = words
        .iter()
        .map(|w| u64::from_le_bytes(*w).count_ones() as usize)
        .sum();
    n += tail.iter().map(|b| b.count_ones() as usize).sum::<usize>();
    let rem = len % 8;
    if let Some(last) = bytes.get(full).filter(|_| rem != 0) {
        n += (last & ((1u8 << rem) - 1)).count_ones() as usize;
    }
    n
}

/// Offset integers of Utf8 (`u32`, for i32 on the wire) and LargeUtf8 (`u64`).
pub(crate) trait OffsetInt: bytemuck::Pod + Ord + Copy + Default {
    /// The largest value the signed wire type allows.
    const MAX: u64;
    fn to_u64(self) -> u64;
    fn from_usize(v: usize) -> Option<Self>;
    /// `self - base`, for offsets known to be at least `base` (wraps otherwise).
    fn minus(self, base: Self) -> Self;
}

impl OffsetInt for u32 {
    const MAX: u64 = i32::MAX as u64;
    fn to_u64(self) -> u64 {
        self as u64
    }
    fn from_usize(v: usize) -> Option<Self> {
        u32::try_from(v)
            .ok()
            .filter(|&x| x as u64 <= <Self as OffsetInt>::MAX)
    }
    fn minus(self, base: Self) -> Self {
        self.wrapping_sub(base)
    }
}

impl OffsetInt for u64 {
    const MAX: u64 = i64::MAX as u64;
    fn to_u64(self) -> u64 {
        self
    }
    fn from_usize(v: usize) -> Option<Self> {
        Some(v as u64).filter(|&x| x <= <Self as OffsetInt>::MAX)
    }
    fn minus(self, base: Self) -> Self {
        self.wrapping_sub(base)
    }
}

/// Dictionary keys as minarrow's unsigned integers, checked against the dictionary.
pub(crate) trait KeyInt: bytemuck::Pod + Copy + Default + Ord + minarrow::Integer {
    fn to_u64(self) -> u64;
    fn from_u64(v: u64) -> Option<Self>;
}

macro_rules! key_int {
    ($($t:ty),*) => {$(
        impl KeyInt for $t {
            fn to_u64(self) -> u64 {
                self as u64
            }
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )*};
}

/// True when any key is `>= bound`. Branch-free in the keys' own width, so it
/// vectorises; a bound above the type's range admits every key.
pub(crate) fn any_key_at_or_above<K: KeyInt>(keys: &[K], bound: u64) -> bool {
    match K::from_u64(bound) {
        Some(b) => keys.iter().fold(false, |acc, &k| acc | (k >= b)),
        None => false,
    }
}
key_int!(u8, u16, u32, u64);

/// Keys rewritten to address a unified dictionary, in the column's own key width.
#[derive(Debug)]
pub(crate) enum RemappedKeys {
    U8(Vec64<u8>),
    U16(Vec64<u16>),
    U32(Vec64<u32>),
    U64(Vec64<u64>),
}

impl RemappedKeys {
    /// The keys as little-endian bytes, as the IPC body holds them.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RemappedKeys::U8(v) => v,
            RemappedKeys::U16(v) => bytemuck::cast_slice(v),
            RemappedKeys::U32(v) => bytemuck::cast_slice(v),
            RemappedKeys::U64(v) => bytemuck::cast_slice(v),
        }
    }
}
