//! pyarrow.flight DoGet bodies, captured off the wire (`tests/data/flight/*.grpc`, the
//! raw gRPC response bodies of `tests/python/flight_server.py`'s tickets, written by
//! `tests/python/flight_capture.py`), through the core's `FlightToIpc` in odd chunkings
//! and into an output that fills up, then read as an IPC stream: every value equals
//! pyarrow's own (`<ticket>.json`), app_metadata included; every types, nulls,
//! dictionary replacements and deltas, LZ4 and ZSTD bodies, an empty stream. A body cut
//! anywhere inside a FlightData is a `Truncated` error, never a shorter stream.

use std::path::{Path, PathBuf};

use lightstream_core::bytes::BufMut;
use lightstream_core::flight::{FlightSide, FlightToIpc};
use lightstream_core::{ErrorKind, ReadOptions};
use lightstream_tests::drive::decode_pushing;
use lightstream_tests::interop::{diff_against_doc, read_json};

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/flight");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "grpc"))
        .collect();
    out.sort();
    assert!(out.len() >= 9, "captures missing in {}", dir.display());
    out
}

/// `body` through a translator in chunks cycling through `sizes`, into an output
/// that takes at most `room` bytes per call (the rest is drained by later calls).
fn translate(
    body: &[u8],
    sizes: &[usize],
    room: usize,
) -> lightstream_core::Result<(Vec<u8>, FlightToIpc)> {
    let mut f = FlightToIpc::new(64 << 20);
    let mut out = Vec::new();
    let (mut at, mut k) = (0, 0);
    while at < body.len() {
        let end = (at + sizes[k % sizes.len()]).min(body.len());
        k += 1;
        while at < end {
            at += f.translate(&body[at..end], &mut (&mut out).limit(room))?;
        }
    }
    f.end(true)?;
    while f.drain(&mut (&mut out).limit(room)) > 0 {}
    assert!(f.is_finished());
    Ok((out, f))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn pyarrow_doget_bodies_read_back_in_any_chunking() {
    let mut problems = Vec::new();
    for path in captures() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        let doc = read_json(&path.with_extension("json"));
        let mut first: Option<Vec<u8>> = None;
        for (sizes, room) in [
            (&[usize::MAX][..], usize::MAX),
            (&[1][..], 3),
            (&[7, 1, 250, 4096][..], 61),
            (&[5, 13][..], 1 << 16),
        ] {
            let label = format!("{name} chunks {sizes:?} room {room}");
            let (ipc, mut f) = match translate(&body, sizes, room) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{label}: {e}"));
                    continue;
                }
            };
            // Every chunking gives the same stream, byte for byte.
            match &first {
                None => first = Some(ipc.clone()),
                Some(f) => assert_eq!(&ipc, f, "{label}"),
            }
            match decode_pushing(&ipc, 4093, ReadOptions::default()) {
                Ok(d) => {
                    let (schema, tables) = d.into_pair();
                    problems.extend(diff_against_doc(&label, &doc, &schema, &tables));
                }
                Err(e) => problems.push(format!("{label}: {e}")),
            }
            // app_metadata per batch (pyarrow sends the field only when non-empty);
            // these fixtures have no dictionaries, so batch i is FlightData i + 1.
            let side: Vec<FlightSide> = std::iter::from_fn(|| f.take_side()).collect();
            let expected: Vec<FlightSide> = doc["app_metadata"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .enumerate()
                        .filter(|(_, m)| !m.as_str().unwrap().is_empty())
                        .map(|(i, m)| FlightSide::AppMetadata {
                            message: i as u64 + 1,
                            bytes: unhex(m.as_str().unwrap()).into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(side, expected, "{label}");
            assert_eq!(
                f.body_bytes_buffered(),
                0,
                "{label}: pyarrow sends header before body"
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_capture_cut_inside_a_flight_data_is_truncated() {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/flight/dict_delta.none.grpc"),
    )
    .unwrap();
    // The gRPC message boundaries, from the 5-byte prefixes.
    let mut bounds = vec![0];
    while *bounds.last().unwrap() < body.len() {
        let at = *bounds.last().unwrap();
        let len = u32::from_be_bytes(body[at + 1..at + 5].try_into().unwrap()) as usize;
        bounds.push(at + 5 + len);
    }
    assert_eq!(*bounds.last().unwrap(), body.len());
    for cut in 1..body.len() {
        let mut f = FlightToIpc::new(1 << 20);
        // A call stops before each body: translate every byte up to the cut.
        let mut at = 0;
        while at < cut {
            at += f.translate(&body[at..cut], &mut Vec::new()).unwrap();
        }
        let r = f.end(true);
        if bounds.contains(&cut) {
            assert!(r.is_ok(), "cut at boundary {cut}");
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Truncated, "cut {cut}: {e}");
            let index = bounds.iter().filter(|&&b| b <= cut).count() as u64 - 1;
            assert_eq!(e.location().message_index, Some(index), "cut {cut}");
        }
    }
}
