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
//! [`RecycleOneLargeBlock`], the command's global allocator, keeps the last
//! freed large block for the next allocation of the same layout, which is
//! what a reader asks for next.
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
/// plus one recycled large block.
///
/// With the fixed threshold every message body is a fresh mapping whose
/// pages fault in on first touch and go back on `free`: bounded memory, but a
/// stream of 32 MB batches converted to Parquet took 50% longer (229,000 more
/// page faults for 192 MB). A reader allocates the next body right after the
/// previous table was written and dropped, and bodies of one stream are
/// mostly of one size, so keeping the last freed large block for an
/// allocation of exactly the same layout gives the faulted pages back to the
/// next body. At most one block (at most `MAX_CACHED` bytes) is kept, so the
/// bound stays one batch.
pub struct RecycleOneLargeBlock;

/// Blocks this large or larger are recycled.
const MIN_RECYCLED: usize = 1 << 20;
/// The largest block kept.
const MAX_CACHED: usize = 256 << 20;

/// The kept block: its address and layout (address 0: none).
static CACHED: std::sync::Mutex<(usize, usize, usize)> = std::sync::Mutex::new((0, 0, 0));

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
// out since (it is taken out of `CACHED` under the lock). Blocks given back to
// `System` are given back with the layout they were allocated with.
unsafe impl std::alloc::GlobalAlloc for RecycleOneLargeBlock {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() >= MIN_RECYCLED
            && let Ok(mut cached) = CACHED.try_lock()
            && cached.0 != 0
            && cached.1 == layout.size()
            && cached.2 == layout.align()
        {
            let ptr = cached.0 as *mut u8;
            *cached = (0, 0, 0);
            return ptr;
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
            && let Ok(mut cached) = CACHED.try_lock()
        {
            let previous =
                std::mem::replace(&mut *cached, (ptr as usize, layout.size(), layout.align()));
            drop(cached);
            if previous.0 != 0 {
                // SAFETY: `previous` was allocated by `System` with this layout
                // and is no longer handed out (it was just replaced).
                unsafe {
                    std::alloc::System.dealloc(
                        previous.0 as *mut u8,
                        std::alloc::Layout::from_size_align_unchecked(previous.1, previous.2),
                    )
                };
            }
            return;
        }
        // SAFETY: `ptr` was allocated by `System` (directly or recycled) with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as for `alloc`; zeroed memory is never recycled.
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
        let cached = super::CACHED.lock().map(|c| c.0).unwrap_or_default();
        assert_ne!(cached, at, "the grown block was kept");
    }
}
