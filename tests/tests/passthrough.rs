//! Forwarding without decoding, against pyarrow: the core's
//! `merge_dictionaries` gives a late joiner one dictionary batch per
//! dictionary (a pyarrow stream's first batch and its deltas, of Utf8 and
//! LargeUtf8 values, merged), and pyarrow reads the last record batch
//! through it with the right strings. The streams come from
//! `tests/python/passthrough.py` (lists, structs, maps, binary, views and
//! dictionaries with deltas and a replacement).

use std::collections::BTreeMap;
use std::path::Path;

use lightstream_core::framing::FrameDecoder;
use lightstream_core::{
    DecodeLimits, IpcMessage, IpcMessageDecoder, MessageKind, merge_dictionaries,
};

fn python(dir: &Path, args: &[&str]) -> String {
    lightstream_tests::harness::python_script(dir, "passthrough.py", args)
}

#[test]
fn a_late_joiner_gets_merged_dictionaries_pyarrow_reads() {
    let dir = lightstream_tests::test_dir!("passthrough", "merged");
    python(&dir, &["write", "in.arrows"]);
    let bytes = std::fs::read(dir.join("in.arrows")).expect("in.arrows");
    let limits = DecodeLimits::default();
    let messages = IpcMessageDecoder::new(limits)
        .decode_all(&bytes)
        .expect("pyarrow's stream");
    // Each dictionary's state: its last non-delta batch and the deltas since.
    let mut state: BTreeMap<i64, Vec<IpcMessage>> = BTreeMap::new();
    for m in &messages {
        if let MessageKind::DictionaryBatch { id, delta } = m.kind() {
            let batches = state.entry(id).or_default();
            if !delta {
                batches.clear();
            }
            batches.push(m.clone());
        }
    }
    // Utf8 values with a replacement, LargeUtf8 values grown by two deltas.
    let sizes: Vec<usize> = state.values().map(Vec::len).collect();
    assert_eq!(sizes, [1, 3], "{state:?}");
    let mut joiner = messages[0].bytes().to_vec();
    for batches in state.values() {
        let merged = merge_dictionaries(&messages[0], batches, &limits)
            .expect("merge")
            .expect("utf8 dictionaries merge");
        assert!(matches!(
            merged.kind(),
            MessageKind::DictionaryBatch { delta: false, .. }
        ));
        joiner.extend_from_slice(merged.bytes());
    }
    let last = messages
        .iter()
        .rev()
        .find(|m| matches!(m.kind(), MessageKind::RecordBatch { .. }))
        .expect("a record batch");
    joiner.extend_from_slice(last.bytes());
    joiner.extend_from_slice(IpcMessage::end_of_stream().bytes());
    std::fs::write(dir.join("joiner.arrows"), &joiner).expect("write");
    let report = python(&dir, &["merged", "in.arrows", "joiner.arrows"]);
    assert!(
        report.contains("\"tag\": [\"c\", \"c\", \"c\"]"),
        "{report}"
    );
}
