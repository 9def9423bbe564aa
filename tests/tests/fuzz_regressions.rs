//! Fuzz regressions: inputs that crashed or misled Arrow C++ in the past
//! (`data/arrow-ipc-stream/*`, `data/arrow-ipc-file/*`, not `integration/`), plus
//! deterministic truncations and byte corruptions of small gold streams.
//!
//! Every reader (`read_stream`, `IpcFileReader` + `read_batch`, `read_file`, push in
//! chunks, `push_shared`) must return `Ok` or `Err` on each input: never panic (checked with
//! `catch_unwind`), never run longer than a time limit (each input runs on its own thread
//! with a deadline), and never allocate unboundedly (a counting global allocator refuses
//! any single allocation above 256 MiB or live heap above 1 GiB). A refused request from
//! code that cannot handle it (`Vec::with_capacity` and the like) aborts the test binary;
//! the allocator first prints the input being decoded, so the failure names its cause.
//! Requests refused gracefully (`try_reserve`) still fail the test afterwards.
//!
//! Each input family has its own `#[test]`; inputs are decoded one at a time under a lock,
//! so the allocation counters describe one decode.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use lightstream_core::{IpcFileReader, aligned_copy, read_file, read_stream};
use lightstream_tests::compare::diff_tables;
use lightstream_tests::corpus::{fuzz_inputs, integration_case};
use lightstream_tests::drive::{decode_push_shared, decode_pushing, read_options};

/// Chunk sizes for push decoding of the historical inputs.
const ALL_CHUNKS: &[usize] = &[1, 7, 64, 4096];
/// Chunk sizes for the many generated inputs (keeps the suite fast).
const FEW_CHUNKS: &[usize] = &[7, 4096];

/// Largest single allocation a decode may make.
const MAX_SINGLE_ALLOCATION: usize = 256 << 20;
/// Largest live heap a decode may reach (whole process; the harness itself uses a few MiB).
const MAX_LIVE_BYTES: usize = 1 << 30;
/// Longest one input may take through every reader.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Counts live bytes; refuses and records requests over the limits.
struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Size of the first request over a limit since the last reset (0: none).
static OVER_LIMIT: AtomicUsize = AtomicUsize::new(0);
/// The input being decoded, for the message printed before an abort.
static CURRENT_INPUT: Mutex<String> = Mutex::new(String::new());

impl CountingAllocator {
    /// Accounts for `grow` more live bytes in a block of `size`; false when refused.
    fn admit(size: usize, grow: usize) -> bool {
        LARGEST.fetch_max(size, Ordering::Relaxed);
        let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
        if size > MAX_SINGLE_ALLOCATION || live > MAX_LIVE_BYTES {
            let _ = OVER_LIMIT.compare_exchange(0, size, Ordering::Relaxed, Ordering::Relaxed);
            LIVE.fetch_sub(grow, Ordering::Relaxed);
            Self::announce_refusal(size);
            return false;
        }
        PEAK.fetch_max(live, Ordering::Relaxed);
        true
    }

    /// Names the input on stderr before the allocation failure aborts the process.
    /// Writes preformatted bytes only (no allocation); skips if the name is locked.
    fn announce_refusal(size: usize) {
        use std::io::Write;
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = size;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\nfuzz_regressions: refused an allocation of ");
        let _ = err.write_all(&digits[i..]);
        let _ = err.write_all(b" bytes while decoding ");
        if let Ok(name) = CURRENT_INPUT.try_lock() {
            let _ = err.write_all(name.as_bytes());
        }
        let _ = err.write_all(b"\n");
    }
}

// SAFETY: every method forwards to `System` with the caller's layout and only adds
// atomic bookkeeping; a refused request returns null, which `GlobalAlloc` permits.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size(), layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size(), layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old {
            if !Self::admit(new_size, new_size - old) {
                return std::ptr::null_mut();
            }
            // SAFETY: forwarded unchanged.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if p.is_null() {
                LIVE.fetch_sub(new_size - old, Ordering::Relaxed);
            }
            p
        } else {
            // SAFETY: forwarded unchanged.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
            }
            p
        }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One decode at a time, so the counters describe it.
static SERIAL: Mutex<()> = Mutex::new(());

/// What one reader said about one input.
type Verdicts = Vec<(String, String)>;

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

fn verdict<T>(r: &lightstream_core::Result<T>, ok: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => format!("ok {}", ok(v)),
        Err(e) => format!("{:?}", e.kind()),
    }
}

/// Runs every reader over `bytes`, each under `catch_unwind`. Returns one verdict per
/// reader, or the first panic.
fn all_readers(bytes: &[u8], chunks: &[usize]) -> Result<Verdicts, String> {
    let mut out: Verdicts = Vec::new();
    let shared = aligned_copy(bytes);
    let mut run = |name: &str, f: &mut dyn FnMut() -> String| -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => {
                out.push((name.to_string(), v));
                Ok(())
            }
            Err(p) => Err(format!("{name} panicked: {}", panic_text(&*p))),
        }
    };
    run("read_stream", &mut || {
        verdict(
            &read_stream(shared.clone(), read_options(None)),
            |(_, t)| format!("{} tables", t.len()),
        )
    })?;
    run("IpcFileReader", &mut || {
        match IpcFileReader::new(shared.clone(), read_options(None)) {
            Err(e) => format!("{:?}", e.kind()),
            Ok(r) => {
                let n = r.num_batches();
                let mut ok = 0;
                let mut first_err = None;
                for i in 0..n {
                    match r.read_batch(i) {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            first_err.get_or_insert(e.kind());
                        }
                    }
                }
                // An index past the end is an error, not a panic.
                let past = r.read_batch(n).is_err();
                format!("ok {ok}/{n} batches, first error {first_err:?}, past-the-end error {past}")
            }
        }
    })?;
    run("read_file", &mut || {
        verdict(&read_file(shared.clone(), read_options(None)), |(_, t)| {
            format!("{} tables", t.len())
        })
    })?;
    for &chunk in chunks {
        run(&format!("push/{chunk}"), &mut || {
            verdict(&decode_pushing(bytes, chunk, read_options(None)), |d| {
                format!("{} tables", d.tables.len())
            })
        })?;
    }
    run("push_shared", &mut || {
        verdict(&decode_push_shared(&shared, read_options(None)), |d| {
            format!("{} tables", d.tables.len())
        })
    })?;
    Ok(out)
}

/// Runs [`all_readers`] on a thread with a deadline and the allocation limits.
/// Returns a failure description, or `None` when the input was handled properly.
fn check_input(label: &str, bytes: Vec<u8>, chunks: &'static [usize], log: bool) -> Option<String> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    label.clone_into(&mut CURRENT_INPUT.lock().unwrap_or_else(|e| e.into_inner()));
    OVER_LIMIT.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let len = bytes.len();
    std::thread::Builder::new()
        .name(format!("decode {label}"))
        .spawn(move || {
            let _ = tx.send(all_readers(&bytes, chunks));
        })
        .expect("spawn a decode thread");
    let result = match rx.recv_timeout(TIME_LIMIT) {
        Ok(r) => r,
        Err(_) => {
            return Some(format!(
                "{label} ({len} bytes): still decoding after {TIME_LIMIT:?} (hang or runaway loop)"
            ));
        }
    };
    let elapsed = started.elapsed();
    let over = OVER_LIMIT.load(Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let largest = LARGEST.load(Ordering::Relaxed);
    let mut problems = Vec::new();
    match &result {
        Err(p) => problems.push(p.clone()),
        Ok(v) if log => println!(
            "{label} ({len} bytes, {elapsed:.2?}, peak +{} KiB, largest {} KiB): {}",
            peak >> 10,
            largest >> 10,
            v.iter()
                .map(|(r, v)| format!("{r}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Ok(_) => {}
    }
    if over != 0 {
        problems.push(format!(
            "an allocation of {over} bytes broke a limit (largest single allocation {largest} \
             bytes, limit {MAX_SINGLE_ALLOCATION}; peak live growth {peak} bytes, limit \
             {MAX_LIVE_BYTES})"
        ));
    }
    if peak > MAX_LIVE_BYTES {
        problems.push(format!("peak heap grew by {peak} bytes"));
    }
    (!problems.is_empty()).then(|| format!("{label} ({len} bytes): {}", problems.join("; ")))
}

fn report(what: &str, failures: Vec<String>, checked: usize) {
    println!(
        "{what}: {checked} inputs checked, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} {what} input(s) were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every historical fuzzer find in the corpus.
#[test]
fn corpus_fuzz_inputs_never_panic_hang_or_overallocate() {
    let inputs = fuzz_inputs();
    assert!(
        inputs.len() >= 100,
        "only {} fuzz inputs found",
        inputs.len()
    );
    let mut failures = Vec::new();
    for path in &inputs {
        let label = label_of(path);
        if let Some(f) = check_input(
            &label,
            std::fs::read(path).expect("read input"),
            ALL_CHUNKS,
            true,
        ) {
            failures.push(f);
        }
    }
    report("fuzz corpus", failures, inputs.len());
}

fn label_of(path: &Path) -> String {
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}/{name}")
}

/// Small gold streams and files cut at many lengths: never a panic, hang or runaway
/// allocation, and a cut stream that still decodes yields only tables of the whole stream.
#[test]
fn truncated_gold_inputs_never_panic() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (producer, name) in [
        ("cpp-21.0.0", "generated_primitive"),
        ("cpp-21.0.0", "generated_dictionary"),
        ("2.0.0-compression", "generated_zstd"),
        ("2.0.0-compression", "generated_lz4"),
        ("4.0.0-shareddict", "generated_shared_dict"),
    ] {
        let case = integration_case(producer, name);
        let stream = case.stream_bytes();
        let whole = read_stream(aligned_copy(&stream), read_options(None));
        for (kind, bytes) in [("stream", &stream), ("file", &case.file_bytes())] {
            let n = bytes.len();
            let lengths: Vec<usize> = (0..n)
                .filter(|&l| l < 400 || l + 400 > n || l % 53 == 0)
                .collect();
            for l in lengths {
                checked += 1;
                let label = format!("{}/{name}.{kind} cut to {l} of {n} bytes", case.producer);
                if let Some(f) = check_input(&label, bytes[..l].to_vec(), FEW_CHUNKS, false) {
                    failures.push(f);
                    continue;
                }
                if kind != "stream" {
                    continue;
                }
                // Safe to call here: check_input just ran the same read without a panic.
                if let (Ok((_, cut)), Ok((_, all))) = (
                    read_stream(aligned_copy(&bytes[..l]), read_options(None)),
                    &whole,
                ) {
                    if cut.len() > all.len() {
                        failures.push(format!(
                            "{label}: {} tables from a stream of {}",
                            cut.len(),
                            all.len()
                        ));
                    }
                    for (i, (a, e)) in cut.iter().zip(all).enumerate() {
                        if let Err(d) = diff_tables(a, e) {
                            failures.push(format!(
                                "{label}: table {i} differs from the whole stream's: {d}"
                            ));
                        }
                    }
                }
            }
        }
    }
    report("truncation", failures, checked);
}

/// Small gold streams and files with single bytes overwritten: never a panic, hang or
/// runaway allocation. Every byte of the first 512 (metadata, lengths, offsets) is hit,
/// then a stride through the rest, with 0x00 and 0xff (and 0x80 with
/// `LIGHTSTREAM_SLOW_TESTS=1`; the fuzz targets cover the rest).
#[test]
fn corrupted_gold_inputs_never_panic() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let values: &[u8] = if std::env::var_os("LIGHTSTREAM_SLOW_TESTS").is_some_and(|v| v == "1") {
        &[0x00, 0xff, 0x80]
    } else {
        &[0x00, 0xff]
    };
    for (producer, name) in [
        ("cpp-21.0.0", "generated_primitive"),
        ("cpp-21.0.0", "generated_dictionary_unsigned"),
        ("cpp-21.0.0", "generated_datetime"),
        ("2.0.0-compression", "generated_zstd"),
        ("2.0.0-compression", "generated_lz4"),
    ] {
        let case = integration_case(producer, name);
        for (kind, bytes) in [("stream", case.stream_bytes()), ("file", case.file_bytes())] {
            let n = bytes.len();
            let positions = (0..n).filter(|&p| p < 512 || p + 256 > n || p % 41 == 0);
            for pos in positions {
                for &value in values {
                    if bytes[pos] == value {
                        continue;
                    }
                    let mut mutated = bytes.clone();
                    mutated[pos] = value;
                    checked += 1;
                    let label = format!(
                        "{}/{name}.{kind} with byte {pos} set to {value:#04x}",
                        case.producer
                    );
                    if let Some(f) = check_input(&label, mutated, FEW_CHUNKS, false) {
                        failures.push(f);
                    }
                }
            }
        }
    }
    report("corruption", failures, checked);
}

/// Regression: a compressed buffer's 8-byte uncompressed-length prefix is attacker
/// controlled. Setting one byte of it to 0xff (declaring ~4 GiB, under the default
/// `max_decompressed_bytes`) made the decoder reserve and zero ~4 GiB for a 1 KiB body
/// (`AlignedBytes::with_capacity` in `decompress_into`) before the codec found the data
/// too short. The bytes below are the first buffer's prefix of each gold stream's first
/// record batch body (zstd body at 416, LZ4 body at 408).
#[test]
fn compressed_length_prefix_cannot_reserve_gigabytes() {
    let mut failures = Vec::new();
    for (name, pos) in [("generated_zstd", 419usize), ("generated_lz4", 411)] {
        let case = integration_case("2.0.0-compression", name);
        let mut bytes = case.stream_bytes();
        assert_eq!(
            &bytes[pos - 3..pos + 5],
            &[0xf0, 0, 0, 0, 0, 0, 0, 0],
            "{name}: the length prefix moved; update the offset"
        );
        bytes[pos] = 0xff;
        let label = format!("2.0.0-compression/{name}.stream with byte {pos} set to 0xff");
        if let Some(f) = check_input(&label, bytes.clone(), ALL_CHUNKS, true) {
            failures.push(f);
        }
        let err = read_stream(aligned_copy(&bytes), read_options(None))
            .expect_err("a buffer that cannot inflate to its declared length must not decode");
        println!("{label}: {err}");
    }
    report("length-prefix", failures, 2);
}
