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
//! What it is not: an allocator. Other C libraries (musl) and other targets
//! need nothing here.

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
