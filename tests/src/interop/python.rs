//! Scratch space and the pyarrow side of the interop tests: [`TempDir`] (a unique
//! directory under `std::env::temp_dir()`, removed on drop), [`run_python`] (a script
//! from `tests/python` with `python3` from `PATH`; a missing `python3` or `pyarrow` is a
//! test failure that says how to install it, never a skip) and the JSON files the
//! scripts write.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

// ------------------------------------------------------------------ scratch space

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
/// Set `LIGHTSTREAM_KEEP_TEMP=1` to keep it for inspection.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "lightstream-{prefix}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LIGHTSTREAM_KEEP_TEMP").is_some() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------ python

/// `tests/python`, where the interop scripts live.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The pyarrow version, or a panic saying how to install python3 / pyarrow.
pub fn require_pyarrow() -> String {
    let out = Command::new("python3")
        .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is required on PATH for the pyarrow interop tests ({e}); \
                 install python3, then `python3 -m pip install pyarrow`"
            )
        });
    if !out.status.success() {
        panic!(
            "pyarrow is required for the pyarrow interop tests: run `python3 -m pip install pyarrow`\n\
             python3 said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `tests/python/<script>` with `args`; returns its stdout, panics with its
/// stdout and stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&OsStr]) -> String {
    require_pyarrow();
    let path = python_dir().join(script);
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        panic!(
            "python3 {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// `OsStr` of a path, for [`run_python`] arguments.
pub fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}
