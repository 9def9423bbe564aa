//! Bounded runs and scratch space for the network tests (the faults, TLS and
//! transport tests of `lightstream`, `tests/tests` and the CLI's end-to-end tests).
//!
//! - [`run_bounded`]: a fresh multi-threaded tokio runtime whose work fails the test
//!   after a limit; [`within`]: the same bound around one step inside it.
//! - [`fresh_dir`] and the [`test_dir!`](crate::test_dir) macro: an empty directory per
//!   test under the calling test crate's `CARGO_TARGET_TMPDIR`, kept for inspection.
//! - [`int64_table`] / [`check_int64_table`]: a one-column int64 table whose values say
//!   which table of a stream it is, and the check of one that arrived.
//!
//! Limits here are generous upper bounds so that nothing hangs CI, never timing
//! thresholds a test passes or fails on.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lightstream_core::minarrow::{
    Array, ArrowType, Field, FieldArray, IntegerArray, NumericArray, Table, Vec64,
};

/// Runs `f` on a fresh multi-threaded runtime (2 workers), failing the test when it
/// has not finished within `limit`. Tasks still running afterwards (peers holding
/// connections) are cancelled, waiting at most 5 s for them.
pub fn run_bounded<F: Future<Output = ()>>(what: &str, limit: Duration, f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        if tokio::time::timeout(limit, f).await.is_err() {
            panic!("{what}: did not finish within {limit:?}");
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// `f`'s result, or a panic naming `what` when it takes longer than `secs` seconds.
pub async fn within<T>(what: &str, secs: u64, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

/// `dir`, emptied (created if missing).
pub fn fresh_dir(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create test directory {}: {e}", dir.display()));
    dir
}

/// A fresh, empty directory `<CARGO_TARGET_TMPDIR>/<group>/<name>` for one test
/// (a macro so that `CARGO_TARGET_TMPDIR` is the calling test crate's).
#[macro_export]
macro_rules! test_dir {
    ($group:expr, $name:expr) => {
        $crate::harness::fresh_dir(
            ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join($group)
                .join($name),
        )
    };
}

/// Table `i` of a stream: one non-nullable int64 column `n` of `rows` values
/// `i * 1_000_000 + row`.
pub fn int64_table(i: usize, rows: usize) -> Table {
    let base = (i * 1_000_000) as i64;
    let v: Vec64<i64> = (0..rows as i64).map(|r| base + r).collect();
    Table::new(
        "t".to_string(),
        Some(vec![FieldArray {
            field: Arc::new(Field {
                name: "n".to_string(),
                dtype: ArrowType::Int64,
                nullable: false,
                metadata: Default::default(),
            }),
            array: Array::from_int64(IntegerArray::from_vec64(v, None)),
            null_count: 0,
        }]),
    )
}

/// `t` is [`int64_table`]`(i, rows)`: its row count and its first and last values.
#[track_caller]
pub fn check_int64_table(t: &Table, i: usize, rows: usize) {
    assert_eq!(t.n_rows, rows, "table {i}");
    match &t.cols[0].array {
        Array::NumericArray(NumericArray::Int64(a)) => {
            let base = (i * 1_000_000) as i64;
            assert_eq!(a.data.as_slice().first(), Some(&base), "table {i}");
            assert_eq!(
                a.data.as_slice().last(),
                Some(&(base + rows as i64 - 1)),
                "table {i}"
            );
        }
        other => panic!("table {i}: unexpected column {other:?}"),
    }
}

/// Runs `python3 tests/python/<script> args...` in `dir` (python3 with
/// pyarrow is required) and returns its stdout; fails the test, with what
/// the script printed, when it exits non-zero.
pub fn python_script(dir: &std::path::Path, script: &str, args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 (with pyarrow) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} {args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
