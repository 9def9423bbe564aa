//! How this process asks glibc's allocator to hand large buffers back to the
//! operating system.
//!
//! What it is for: `convert`, `cat`, `recv` and `listen` allocate one buffer
//! per message body (megabytes each) and free it a moment later, while the
//! Parquet writer keeps its pages (smaller, long-lived) in between. glibc
//! serves allocations above `M_MMAP_THRESHOLD` with `mmap` and returns them on
//! `free`, but it raises that threshold (up to 32 MiB) each time such a block
//! is freed. After the first body, later bodies therefore come from the heap,
//! where the pages kept between them stop the freed space from being returned
//! or reused for the next, larger request: a 763 MB stream converted to Parquet
//! grew to 526 MB of anonymous memory. A fixed threshold keeps every body in
//! its own mapping, returned on `free`, and the peak at about one row group
//! plus a few batches. 256 KiB rather than 1 MiB: CSV and Parquet input come
//! in 65,536-row batches, whose 512 KiB columns fragment the heap the same way
//! (168 MB of CSV to Parquet: 60 MB with 1 MiB, 36 MB with 256 KiB).
//!
//! The fixed threshold costs page faults: every body is a fresh mapping.
//! [`RecycleLargeBlocks`], the command's global allocator, keeps the last
//! few freed large blocks (about one batch) for the next allocations of the
//! same layouts, which is what a reader asks for next.
//!
//! What it is not: a general allocator; everything else is the system's.
//! Other C libraries (musl) and other targets need no threshold.
//!
//! Why not mimalloc (pyarrow's pool): measured for issue 21 (benches/README.md,
//! "Allocator (issue 21)"), it converts 12-56% faster by keeping freed memory,
//! and so holds 1.2 to 11 times this policy's peak anonymous memory; the
//! settings that return memory at once also bring back the page faults.

/// Blocks of at least this many bytes get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 256 << 10;

/// Fixes glibc's mmap threshold (which also turns off its dynamic raising).
/// Call once, before the first large allocation.
pub fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called once at
    // start-up, before other threads exist, with a documented parameter and a
    // value in its range. Its result (1 on success, 0 if refused) only means
    // the default policy stays, which is safe.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// The global allocator of the `lightstream` command: the system allocator,
/// plus a few recycled large blocks.
///
/// With the fixed threshold every message body is a fresh mapping whose
/// pages fault in on first touch and go back on `free`: bounded memory, but a
/// stream of 32 MB batches converted to Parquet took 50% longer (229,000 more
/// page faults for 192 MB). A reader allocates the next body right after the
/// previous table was written and dropped, and bodies of one stream are
/// mostly of one size, so keeping the last freed large block for an
/// allocation of exactly the same layout gives the faulted pages back to the
/// next body. A decoded batch (Parquet, CSV) is several such blocks, one or
/// two per column (65,536 rows: 256 KiB to 512 KiB each), all of the same
/// layouts again in the next batch, so up to [`SLOTS`] blocks are kept, the
/// most recently freed, as long as they hold at most [`KEPT_BYTES`] together;
/// a single block may be larger (up to [`MAX_CACHED`]), and is then kept
/// alone. So the bound stays about one batch.
///
/// Measured (issue 21, pyarrow's 2,000,000-row bench files to a stream, one
/// thread, against one kept block of at least 1 MiB): page faults 28.1k ->
/// 13.3k (snappy) and 27.8k -> 12.9k (zstd), peak RssAnon 10.9-11.0 ->
/// 10.3-10.8 MiB and 11.4-11.9 -> 10.9-11.4 MiB. Keeping 4 MiB raised the
/// snappy peak to 12.2 MiB (blocks of a size no later allocation asks for
/// stayed kept), 2 MiB left 21k faults; giving back the stale block nearest
/// in size on a miss and recycling for `alloc_zeroed` too (page buffers are
/// `calloc`ed) brought the peak under the old one.
pub struct RecycleLargeBlocks;

/// Blocks this large or larger are recycled: those glibc would unmap on
/// `free` (its threshold is fixed at this size above).
const MIN_RECYCLED: usize = 256 << 10;
/// The largest block kept.
const MAX_CACHED: usize = 256 << 20;
/// At most this many blocks are kept.
const SLOTS: usize = 8;
/// Blocks kept together hold at most this many bytes, unless one block
/// alone is larger.
const KEPT_BYTES: usize = 3 << 20;

/// A kept block: its address, size and alignment.
#[derive(Clone, Copy)]
struct Block {
    at: usize,
    size: usize,
    align: usize,
}

/// The kept blocks, oldest first, and the bytes they hold.
struct Kept {
    blocks: [Block; SLOTS],
    len: usize,
    bytes: usize,
}

const NO_BLOCK: Block = Block {
    at: 0,
    size: 0,
    align: 0,
};

static KEPT: std::sync::Mutex<Kept> = std::sync::Mutex::new(Kept {
    blocks: [NO_BLOCK; SLOTS],
    len: 0,
    bytes: 0,
});

impl Kept {
    /// Takes out the block of exactly `size` and `align`, if one is kept.
    fn take(&mut self, size: usize, align: usize) -> Option<usize> {
        let i = (0..self.len)
            .rev()
            .find(|&i| self.blocks[i].size == size && self.blocks[i].align == align)?;
        let block = self.remove(i);
        Some(block.at)
    }

    /// On a miss: takes out the kept block nearest in size to `size` (same
    /// alignment, between half and twice the size), to be given back to the
    /// system. It is most likely the previous batch's version of a buffer
    /// whose size changed (a string column's data), which no later
    /// allocation would match: kept, it would only add to the peak.
    fn take_nearest(&mut self, size: usize, align: usize) -> Option<Block> {
        let i = (0..self.len)
            .filter(|&i| {
                let b = self.blocks[i];
                b.align == align && b.size / 2 <= size && size / 2 <= b.size
            })
            .min_by_key(|&i| self.blocks[i].size.abs_diff(size))?;
        Some(self.remove(i))
    }

    fn remove(&mut self, i: usize) -> Block {
        let block = self.blocks[i];
        self.blocks.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.bytes -= block.size;
        block
    }

    /// Keeps `block` as the newest, returning the oldest ones that no longer
    /// fit (at most `SLOTS`, to be given back to the system).
    fn keep(&mut self, block: Block) -> ([Block; SLOTS], usize) {
        let mut evicted = [NO_BLOCK; SLOTS];
        let mut n = 0;
        while self.len > 0
            && (self.len == SLOTS || self.bytes + block.size > KEPT_BYTES.max(block.size))
        {
            evicted[n] = self.remove(0);
            n += 1;
        }
        self.blocks[self.len] = block;
        self.len += 1;
        self.bytes += block.size;
        (evicted, n)
    }
}

/// A kept block of exactly `layout`, taken out; on a miss, the kept block
/// nearest in size is given back to the system (see `Kept::take_nearest`).
fn recycled(layout: std::alloc::Layout) -> Option<*mut u8> {
    use std::alloc::GlobalAlloc;
    if layout.size() < MIN_RECYCLED {
        return None;
    }
    let mut kept = KEPT.try_lock().ok()?;
    let stale = match kept.take(layout.size(), layout.align()) {
        Some(at) => return Some(at as *mut u8),
        None => kept.take_nearest(layout.size(), layout.align())?,
    };
    drop(kept);
    // SAFETY: `stale` was allocated by `System` with this layout and is no
    // longer kept or handed out (it was just taken out).
    unsafe {
        std::alloc::System.dealloc(
            stale.at as *mut u8,
            std::alloc::Layout::from_size_align_unchecked(stale.size, stale.align),
        )
    };
    None
}

/// The last block that `realloc` grew to a recyclable size (0: none). A
/// block that grew is a `Vec` filled a piece at a time (a CSV reader's
/// inference rows, a string column), not a body allocated at its size, and
/// nothing asks for its layout again: kept, it stayed resident until the
/// process ended (1.1 MiB of inference rows through a whole CSV file, a
/// quarter of `convert`'s peak), so it goes back to the system when freed.
static GROWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every block handed out comes from `System` with the layout the
// caller asked for: either directly, or a block `System` allocated earlier
// for exactly the same size and alignment, freed by its owner and not handed
// out since (it is taken out of `KEPT` under the lock). Blocks given back to
// `System` are given back with the layout they were allocated with.
unsafe impl std::alloc::GlobalAlloc for RecycleLargeBlocks {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if let Some(at) = recycled(layout) {
            return at;
        }
        // SAFETY: the caller's contract for `alloc` (a non-zero size) is passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        let grown = layout.size() >= MIN_RECYCLED
            && GROWN
                .compare_exchange(ptr as usize, 0, Relaxed, Relaxed)
                .is_ok();
        if !grown
            && (MIN_RECYCLED..=MAX_CACHED).contains(&layout.size())
            && let Ok(mut kept) = KEPT.try_lock()
        {
            let (evicted, n) = kept.keep(Block {
                at: ptr as usize,
                size: layout.size(),
                align: layout.align(),
            });
            drop(kept);
            for old in &evicted[..n] {
                // SAFETY: `old` was allocated by `System` with this layout
                // and is no longer kept or handed out (it was just evicted).
                unsafe {
                    std::alloc::System.dealloc(
                        old.at as *mut u8,
                        std::alloc::Layout::from_size_align_unchecked(old.size, old.align),
                    )
                };
            }
            return;
        }
        // SAFETY: `ptr` was allocated by `System` (directly or recycled) with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    /// A kept block is zeroed here: writing zeros into pages already
    /// faulted in costs far less than faulting in the fresh zero pages of a
    /// new mapping (and a block freed by a `calloc` user, a page buffer,
    /// would otherwise stay kept for nothing).
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if let Some(at) = recycled(layout) {
            // SAFETY: `at` is a block of `layout.size()` bytes handed to
            // this caller alone (see `recycled`).
            unsafe { at.write_bytes(0, layout.size()) };
            return at;
        }
        // SAFETY: as for `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a `System` block of `layout` (recycled blocks are
        // `System` blocks of the same layout); growing in place (mremap) is
        // the system's to do.
        let grown = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if new_size >= MIN_RECYCLED && !grown.is_null() {
            GROWN.store(grown as usize, std::sync::atomic::Ordering::Relaxed);
        }
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary runs on the same global allocator (main.rs).
    #[test]
    fn a_freed_large_block_serves_the_next_allocation_of_its_layout() {
        let size = 3 << 20;
        let first: Vec<u64> = Vec::with_capacity(size / 8);
        let at = first.as_ptr() as usize;
        drop(first);
        let second: Vec<u64> = Vec::with_capacity(size / 8);
        assert_eq!(second.as_ptr() as usize, at, "the block was recycled");
        // Another layout does not get it.
        let third: Vec<u64> = Vec::with_capacity(size / 8 + 1);
        assert_ne!(third.as_ptr() as usize, at);
    }

    /// A block that reached its size by growing (a `Vec` pushed to past
    /// the recycled size) goes back to the system, not into the cache.
    #[test]
    fn a_grown_block_is_not_kept() {
        let mut grown: Vec<u8> = Vec::with_capacity(64);
        grown.extend(std::iter::repeat_n(7u8, 3 << 20));
        let at = grown.as_ptr() as usize;
        drop(grown);
        let kept = super::KEPT
            .lock()
            .map(|k| k.blocks[..k.len].iter().any(|b| b.at == at))
            .unwrap_or_default();
        assert!(!kept, "the grown block was kept");
    }

    fn block(at: usize, size: usize) -> Block {
        Block {
            at,
            size,
            align: 64,
        }
    }

    /// The bookkeeping alone (other tests allocate on the global allocator
    /// at the same time, so the global one's contents are not asserted).
    #[test]
    fn the_blocks_of_a_batch_are_kept_for_the_next_one_within_the_bound() {
        let mut kept = Kept {
            blocks: [NO_BLOCK; SLOTS],
            len: 0,
            bytes: 0,
        };
        // A batch's columns: 512 KiB, 512 KiB, 256 KiB, 256 KiB + 4.
        let batch = [512 << 10, 512 << 10, 256 << 10, (256 << 10) + 4];
        for (i, &size) in batch.iter().enumerate() {
            assert_eq!(kept.keep(block(i + 1, size)).1, 0);
        }
        assert_eq!((kept.len, kept.bytes), (4, batch.iter().sum()));
        // The next batch gets every one back, by exact layout.
        assert_eq!(kept.take(256 << 10, 64), Some(3));
        assert_eq!(kept.take(256 << 10, 8), None);
        assert_eq!(kept.take((256 << 10) + 4, 64), Some(4));
        assert_eq!(kept.take(512 << 10, 64), Some(2));
        assert_eq!(kept.take(512 << 10, 64), Some(1));
        assert_eq!(kept.take(512 << 10, 64), None);
        assert_eq!((kept.len, kept.bytes), (0, 0));
        // Past KEPT_BYTES the oldest go; past SLOTS too.
        for i in 0..9 {
            let (evicted, n) = kept.keep(block(100 + i, 1 << 20));
            let gone: Vec<usize> = evicted[..n].iter().map(|b| b.at).collect();
            assert_eq!(gone, if i >= 3 { vec![100 + i - 3] } else { vec![] });
        }
        assert_eq!(kept.bytes, KEPT_BYTES);
        for i in 0..SLOTS + 2 {
            kept.keep(block(200 + i, MIN_RECYCLED));
        }
        assert_eq!(kept.len, SLOTS);
        assert_eq!(kept.blocks[0].at, 202);
        // One block larger than KEPT_BYTES is kept alone; the next small one
        // replaces it.
        let (evicted, n) = kept.keep(block(300, 32 << 20));
        assert_eq!(n, SLOTS);
        assert_eq!(evicted[n - 1].at, 209);
        assert_eq!((kept.len, kept.bytes), (1, 32 << 20));
        let (evicted, n) = kept.keep(block(301, 1 << 20));
        assert_eq!((n, evicted[0].at), (1, 300));
        assert_eq!((kept.len, kept.bytes), (1, 1 << 20));
    }
}
