//! The protobuf wire format, as much as FlightData needs: varints (at most
//! 10 bytes; overflow is an error), tags and wire types, read incrementally
//! so a chunk boundary may fall anywhere. Not a protobuf library: messages
//! are walked by hand in `data.rs`.

use crate::error::{Error, Result};

/// Protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    LengthDelimited,
    Fixed32,
}

/// A varint being read across chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VarintReader {
    value: u64,
    bytes: u32,
}

/// Appends `value` as a varint.
pub(crate) fn put_varint(value: u64, out: &mut Vec<u8>) {
    let _ = (value, out);
    todo!()
}

/// Bytes `value` takes as a varint.
pub(crate) fn varint_len(value: u64) -> usize {
    let _ = value;
    todo!()
}

impl VarintReader {
    /// Feeds bytes; returns `(consumed, Some(value))` once complete.
    pub(crate) fn push(&mut self, input: &[u8]) -> Result<(usize, Option<u64>)> {
        let _ = input;
        Err(Error::malformed("todo"))
    }
}
