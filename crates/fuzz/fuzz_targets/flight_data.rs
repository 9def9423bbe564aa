//! A Flight DoGet/DoPut body (gRPC prefixes + FlightData protobuf) through
//! the core's `FlightToIpc`, in the chunking the input's first bytes choose
//! (`Chunks`), into an output that takes a few bytes per call, then the IPC
//! stream it wrote through the decoder driver (read as the browser's input
//! reads, at most a few bytes at a time). Checked: no panic; every call
//! makes progress; after an error every call fails; the output never
//! outgrows the input by more than 8 bytes per FlightData plus the
//! end-of-stream marker (nothing allocated from a claimed length); side
//! items name a message already seen; every table reads to its last value.
//! Then the same IPC messages given apart, as FlightData a program holds in
//! memory (`FlightDataDecoder`), each body at an address the input's length
//! chooses (aligned or not): no panic, tables read whole, poisoned after an
//! error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::bytes::{BufMut, Bytes};
use lightstream_core::flight::{FlightDataDecoder, FlightSide, FlightToIpc};
use lightstream_core::framing::FrameDecoder;
use lightstream_core::framing::ipc::{IpcFrame, IpcFrameDecoder};
use lightstream_core::{DecodeLimits, IpcStreamDriver, ReadOptions, StreamItem, aligned_copy};
use lightstream_fuzz::{Chunks, Copying, check_table};

fuzz_target!(|data: &[u8]| {
    let (mut chunks, payload) = Chunks::split(data);
    // Output room per call, and the gRPC status, from the input's length.
    let room = 1 + data.len() % 67;
    let status_ok = data.len() % 5 != 0;
    let mut flight = FlightToIpc::new(1 << 20);
    let mut ipc = Vec::new();
    let mut ok = true;
    'pieces: for piece in chunks.pieces(payload) {
        let mut at = 0;
        while at < piece.len() {
            let before = ipc.len();
            match flight.translate(&piece[at..], &mut (&mut ipc).limit(room)) {
                Ok(n) => {
                    assert!(n > 0 || ipc.len() > before, "translate made no progress");
                    at += n;
                }
                Err(_) => {
                    assert!(flight.translate(b"\0", &mut Vec::new()).is_err());
                    assert!(flight.end(true).is_err());
                    ok = false;
                    break 'pieces;
                }
            }
            while let Some(side) = flight.take_side() {
                let (FlightSide::AppMetadata { message, .. }
                | FlightSide::Descriptor { message, .. }) = side;
                assert!(message <= flight.messages());
            }
        }
    }
    if ok && flight.end(status_ok).is_ok() {
        while flight.drain(&mut (&mut ipc).limit(room)) > 0 {}
        assert!(flight.is_finished());
    }
    let bound = payload.len() as u64 + 8 * (flight.messages() + 2);
    assert!(
        ipc.len() as u64 <= bound,
        "{} bytes out of {}",
        ipc.len(),
        payload.len()
    );
    assert!(flight.body_bytes_buffered() <= payload.len() as u64);

    let mut driver = IpcStreamDriver::new(ReadOptions::default());
    let mut input = Copying {
        bytes: &ipc,
        step: room,
    };
    while let Ok(Some(item)) = driver.next_item(&mut input) {
        match item {
            StreamItem::Table(t) => {
                check_table(&t);
            }
            StreamItem::Schema(_) => {}
            StreamItem::End => break,
        }
    }
    let _ = driver.decoder().finish();

    // The messages as the wire has them (no buffer moved), given apart.
    let mut frames = IpcFrameDecoder::new(DecodeLimits::default());
    frames.set_keep_layout(true);
    if let Ok(frames) = frames.decode_all(&ipc) {
        let shift = data.len() % 9;
        let mut apart = FlightDataDecoder::new(ReadOptions::default());
        for frame in frames {
            let IpcFrame::Message(m) = frame else { break };
            let mut padded = vec![0; shift];
            padded.extend_from_slice(m.body.as_slice());
            let body = Bytes::from_owner(aligned_copy(&padded)).slice(shift..);
            match apart.push(&m.metadata, body) {
                Ok(Some(StreamItem::Table(t))) => {
                    check_table(&t);
                }
                Ok(_) => {}
                Err(_) => {
                    assert!(apart.push(&m.metadata, Bytes::new()).is_err());
                    break;
                }
            }
        }
    }
});
