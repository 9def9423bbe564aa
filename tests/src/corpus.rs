//! Where Apache Arrow's `arrow-testing` corpus is, and what is in it.
//!
//! The corpus lives beside the repository (`../shared/arrow-testing`, as CI clones it) or
//! wherever `LIGHTSTREAM_ARROW_TESTING` points; the producers it lacks (older Arrow
//! versions, [`LEGACY_PRODUCERS`]) are vendored under `tests/data/arrow-testing-legacy`. When it cannot be found every function here
//! panics with a message naming the paths it tried: conformance tests must fail, not skip.
//! Not a reader of the files' contents: see [`crate::integration_json`] for the JSON.

use std::path::{Path, PathBuf};

use crate::integration_json::{IntegrationFile, read_integration_json};

/// Environment variable that overrides the corpus location.
pub const ENV_VAR: &str = "LIGHTSTREAM_ARROW_TESTING";

/// The integration producers the conformance suite checks, in the order it reports them.
pub const INTEGRATION_PRODUCERS: [&str; 4] = [
    "cpp-21.0.0",
    "2.0.0-compression",
    "4.0.0-shareddict",
    "1.0.0-bigendian",
];

/// Integration producers too old for the shared corpus, vendored in this repository under
/// [`legacy_arrow_testing_dir`] (see its README): Arrow C++ 0.14.1 (legacy 4-byte message
/// prefixes, V4 metadata, some footers without a version), 0.17.1 and 1.0.0 little-endian.
pub const LEGACY_PRODUCERS: [&str; 3] = ["0.14.1", "0.17.1", "1.0.0-littleendian"];

/// The vendored part of `arrow-testing` (`tests/data/arrow-testing-legacy`, laid out as the
/// corpus is: `data/arrow-ipc-stream/integration/<producer>/`).
///
/// # Panics
/// When it is missing from the checkout.
pub fn legacy_arrow_testing_dir() -> PathBuf {
    check_corpus_dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/arrow-testing-legacy"),
        "vendored in this repository",
    )
}

/// The root of the corpus (the directory holding `data/`).
///
/// # Panics
/// When the corpus is not there, with a message saying where it was looked for.
pub fn arrow_testing_dir() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(v) if !v.is_empty() => check_corpus_dir(PathBuf::from(v), &format!("from ${ENV_VAR}")),
        _ => check_corpus_dir(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/arrow-testing"),
            &format!(
                "the default: ../shared/arrow-testing beside the repository; set ${ENV_VAR} to override"
            ),
        ),
    }
}

/// `dir` if it holds the corpus.
///
/// # Panics
/// When it does not, with a message naming `dir` and [`ENV_VAR`].
pub fn arrow_testing_dir_at(dir: &Path) -> PathBuf {
    check_corpus_dir(dir.to_path_buf(), "given explicitly")
}

fn check_corpus_dir(dir: PathBuf, origin: &str) -> PathBuf {
    let integration = dir.join("data/arrow-ipc-stream/integration");
    assert!(
        integration.is_dir(),
        "Apache Arrow's conformance corpus (arrow-testing) was not found at {} ({origin}): \
         {} is not a directory. Put the corpus there or point ${ENV_VAR} at it. \
         The conformance tests fail rather than skip without it.",
        dir.display(),
        integration.display(),
    );
    dir
}

/// Reads a whole corpus file, panicking with its path on failure.
pub fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One gold case: the same data as an IPC stream, an IPC file and integration JSON.
#[derive(Debug, Clone)]
pub struct IntegrationCase {
    /// Producer directory, e.g. `cpp-21.0.0`.
    pub producer: String,
    /// Case name without extension, e.g. `generated_primitive`.
    pub name: String,
    /// Directory holding the three files.
    pub dir: PathBuf,
}

impl IntegrationCase {
    /// `producer/name`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.producer, self.name)
    }

    pub fn stream_path(&self) -> PathBuf {
        self.dir.join(format!("{}.stream", self.name))
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join(format!("{}.arrow_file", self.name))
    }

    pub fn json_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json.gz", self.name))
    }

    /// The producer wrote big-endian data.
    pub fn is_big_endian(&self) -> bool {
        self.producer.contains("bigendian")
    }

    pub fn stream_bytes(&self) -> Vec<u8> {
        read_bytes(&self.stream_path())
    }

    pub fn file_bytes(&self) -> Vec<u8> {
        read_bytes(&self.file_path())
    }

    /// The expected values.
    pub fn load_json(&self) -> IntegrationFile {
        read_integration_json(&self.json_path())
    }
}

/// The gold cases of one producer, sorted by name.
///
/// # Panics
/// When the producer directory is missing, empty, or a case lacks one of its three files.
pub fn producer_cases(producer: &str) -> Vec<IntegrationCase> {
    let root = if LEGACY_PRODUCERS.contains(&producer) {
        legacy_arrow_testing_dir()
    } else {
        arrow_testing_dir()
    };
    let dir = root
        .join("data/arrow-ipc-stream/integration")
        .join(producer);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "integration producer directory {} is missing from the corpus: {e}",
            dir.display()
        )
    });
    let mut cases = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(name) = file_name.strip_suffix(".json.gz") {
            let case = IntegrationCase {
                producer: producer.to_string(),
                name: name.to_string(),
                dir: dir.clone(),
            };
            for p in [case.stream_path(), case.file_path()] {
                assert!(
                    p.is_file(),
                    "gold case {} lacks {}",
                    case.label(),
                    p.display()
                );
            }
            cases.push(case);
        }
    }
    assert!(
        !cases.is_empty(),
        "no gold cases (*.json.gz) in {}",
        dir.display()
    );
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Every gold case of every producer in [`INTEGRATION_PRODUCERS`] and [`LEGACY_PRODUCERS`].
pub fn integration_cases() -> Vec<IntegrationCase> {
    INTEGRATION_PRODUCERS
        .iter()
        .chain(&LEGACY_PRODUCERS)
        .flat_map(|p| producer_cases(p))
        .collect()
}

/// One named gold case.
///
/// # Panics
/// When it is not in the corpus.
pub fn integration_case(producer: &str, name: &str) -> IntegrationCase {
    producer_cases(producer)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("gold case {producer}/{name} is not in the corpus"))
}

/// Every file directly under `data/arrow-ipc-stream/` and `data/arrow-ipc-file/` (not
/// `integration/`): inputs that crashed or misled Arrow C++ in the past.
///
/// # Panics
/// When either directory is missing or holds no files.
pub fn fuzz_inputs() -> Vec<PathBuf> {
    let root = arrow_testing_dir().join("data");
    let mut out = Vec::new();
    for sub in ["arrow-ipc-stream", "arrow-ipc-file"] {
        let dir = root.join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fuzz corpus directory {} is missing: {e}", dir.display()))
            .map(|e| {
                e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                    .path()
            })
            .filter(|p| p.is_file())
            .collect();
        assert!(
            files.len() > 1,
            "fuzz corpus directory {} holds no inputs",
            dir.display()
        );
        files.sort();
        out.extend(files);
    }
    out
}
