//! The protobuf wire format, as much as FlightData needs: varints (at most
//! 10 bytes; overflow is an error), tags and wire types, read incrementally
//! so that a chunk boundary may fall anywhere. Not a protobuf library:
//! `data.rs` walks FlightData by hand (the control messages are prost's, in
//! the shell).

use crate::error::{Error, Result};

/// The protobuf wire types a field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    /// 0: a varint.
    Varint,
    /// 1: eight bytes.
    Fixed64,
    /// 2: a varint length, then that many bytes.
    LengthDelimited,
    /// 5: four bytes.
    Fixed32,
}

/// A field's number and wire type, from its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub field: u32,
    pub wire_type: WireType,
}

impl Tag {
    /// Reads a tag varint. Wire types 3 and 4 (groups, long deprecated) and
    /// the undefined 6 and 7 are errors naming the field, as is field 0 or a
    /// number past protobuf's 2^29 - 1.
    pub(crate) fn parse(value: u64) -> Result<Tag> {
        let field = value >> 3;
        let wire_type = match value & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::LengthDelimited,
            5 => WireType::Fixed32,
            other => {
                return Err(Error::malformed(format!(
                    "protobuf field {field} has wire type {other}, which FlightData cannot \
                     hold (only 0, 1, 2 and 5 are read)"
                )));
            }
        };
        match u32::try_from(field) {
            Ok(field @ 1..=0x1FFF_FFFF) => Ok(Tag { field, wire_type }),
            _ => Err(Error::malformed(format!(
                "protobuf field number {field} is outside 1..=536870911"
            ))),
        }
    }

    /// The tag's varint value.
    pub(crate) fn value(field: u32, wire_type: WireType) -> u64 {
        let t = match wire_type {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::LengthDelimited => 2,
            WireType::Fixed32 => 5,
        };
        (u64::from(field) << 3) | t
    }
}

/// Most bytes a varint of a `u64` takes.
pub(crate) const MAX_VARINT_LEN: u32 = 10;

/// A varint being read across chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VarintReader {
    value: u64,
    bytes: u32,
}

impl VarintReader {
    /// True while no byte of the varint has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Reads from `input` until the varint ends (a byte without its high
    /// bit) or the input does: `(consumed, Some(value))` once complete, and
    /// the reader is reset for the next one. An 11th byte, or a 10th byte
    /// carrying bits past 64, is an error.
    pub(crate) fn push(&mut self, input: &[u8]) -> Result<(usize, Option<u64>)> {
        for (i, &b) in input.iter().enumerate() {
            if self.bytes == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(Error::malformed(
                    "a protobuf varint overflows 64 bits (its 10th byte is above 1)",
                ));
            }
            self.value |= u64::from(b & 0x7F) << (7 * self.bytes);
            self.bytes += 1;
            if b & 0x80 == 0 {
                let value = self.value;
                *self = VarintReader::default();
                return Ok((i + 1, Some(value)));
            }
        }
        Ok((input.len(), None))
    }
}

/// Appends `value` as a varint.
pub(crate) fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes `value` takes as a varint.
pub(crate) fn varint_len(value: u64) -> usize {
    // One byte per started group of 7 bits, at least one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<(usize, Option<u64>)> {
        VarintReader::default().push(bytes)
    }

    #[test]
    fn varints_round_trip_in_any_chunking() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            8000,
            u32::MAX as u64,
            1 << 56,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(v, &mut b);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(read_all(&b).unwrap(), (b.len(), Some(v)));
            // One byte at a time.
            let mut r = VarintReader::default();
            let mut got = None;
            for (i, byte) in b.iter().enumerate() {
                let (n, value) = r.push(std::slice::from_ref(byte)).unwrap();
                assert_eq!(n, 1);
                assert_eq!(value.is_some(), i + 1 == b.len());
                got = got.or(value);
            }
            assert_eq!(got, Some(v));
        }
        // The known encodings: 300 is AC 02, -1 as int64 is ten bytes.
        assert_eq!(read_all(&[0xAC, 0x02, 0x99]).unwrap(), (2, Some(300)));
        let mut b = Vec::new();
        put_varint(-1i64 as u64, &mut b);
        assert_eq!(
            b,
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn overlong_varints_are_errors() {
        let eleven = [0x80u8; 10].iter().copied().chain([0]).collect::<Vec<_>>();
        assert!(
            read_all(&eleven)
                .unwrap_err()
                .message()
                .contains("overflows 64 bits")
        );
        // A 10th byte of 2 would be bit 64.
        let mut b = [0xFFu8; 10];
        b[9] = 0x02;
        assert!(read_all(&b).is_err());
        b[9] = 0x01;
        assert_eq!(read_all(&b).unwrap(), (10, Some(u64::MAX)));
        // Incomplete: consumed, no value.
        assert_eq!(read_all(&[0x80, 0x80]).unwrap(), (2, None));
    }

    #[test]
    fn tags_name_their_field() {
        assert_eq!(
            // The wire bytes C2 3E.
            Tag::parse(
                VarintReader::default()
                    .push(&[0xC2, 0x3E])
                    .unwrap()
                    .1
                    .unwrap()
            )
            .unwrap(),
            Tag {
                field: 1000,
                wire_type: WireType::LengthDelimited
            }
        );
        assert_eq!(Tag::value(1000, WireType::LengthDelimited), 8002);
        let e = Tag::parse((7 << 3) | 3).unwrap_err();
        assert!(e.message().contains("field 7 has wire type 3"), "{e}");
        assert!(Tag::parse(2).is_err()); // field 0
        assert!(Tag::parse(1 << 40).is_err());
    }
}
