//! TLV framing: a one-byte tag, a four-byte length, then the value.
//!
//! Byte layout of one frame:
//!
//! ```text
//! offset 0      1                5
//!        +------+----------------+---------------------+
//!        | tag  | length (u32 LE)| value (length bytes)|
//!        +------+----------------+---------------------+
//! ```
//!
//! The tag is the application's (0-255); the length counts value bytes only;
//! there is no padding. Values are delivered in 64-byte aligned buffers, so an
//! application that carries Arrow data inside TLV frames keeps the alignment
//! guarantees. The decoder refuses a length above its configured maximum before
//! allocating anything for it.
//!
//! ```
//! use lightstream_core::framing::tlv::{encode_tlv, TlvDecoder};
//! use lightstream_core::framing::FrameDecoder;
//! use lightstream_core::ErrorKind;
//!
//! let mut bytes = Vec::new();
//! encode_tlv(7, b"abc", &mut bytes)?;
//! assert_eq!(bytes, [7, 3, 0, 0, 0, b'a', b'b', b'c']);
//! let frames = TlvDecoder::new(16).decode_all(&bytes)?;
//! assert_eq!((frames[0].tag, frames[0].value.as_slice()), (7, &b"abc"[..]));
//!
//! // A length over the decoder's maximum is refused before anything is allocated.
//! let err = TlvDecoder::new(2).decode_all(&bytes).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::LimitExceeded);
//! // So is an input that stops inside a frame, at `finish`.
//! let err = TlvDecoder::new(16).decode_all(&bytes[..6]).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Truncated);
//! # Ok::<(), lightstream_core::Error>(())
//! ```

use minarrow::structs::shared_buffer::SharedBuffer;

use super::{Decoded, FrameDecoder, FrameEncoder};
use crate::buffers::AlignedBytes;
use crate::error::{Error, ErrorKind, Result};

/// Size of the tag + length header.
pub const TLV_HEADER_LEN: usize = 5;

/// One TLV frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvFrame {
    /// The application-defined tag.
    pub tag: u8,
    /// The value bytes, 64-byte aligned.
    pub value: SharedBuffer,
}

/// Push decoder of TLV frames.
pub struct TlvDecoder {
    max_value_len: usize,
    header: [u8; TLV_HEADER_LEN],
    header_len: usize,
    value: Option<(u8, usize, AlignedBytes)>,
    offset: u64,
    poisoned: bool,
}

impl TlvDecoder {
    /// A decoder that refuses values longer than `max_value_len` bytes.
    pub fn new(max_value_len: usize) -> Self {
        TlvDecoder {
            max_value_len,
            header: [0; TLV_HEADER_LEN],
            header_len: 0,
            value: None,
            offset: 0,
            poisoned: false,
        }
    }

    // `used <= input.len()` and every `take <= input.len() - used` (and
    // `header_len + take <= TLV_HEADER_LEN`): its slices are in bounds.
    #[allow(clippy::indexing_slicing)]
    fn decode_inner(&mut self, input: &[u8]) -> Result<Decoded<TlvFrame>> {
        let mut used = 0;
        loop {
            if let Some((tag, len, mut buf)) = self.value.take() {
                let take = (len - buf.len()).min(input.len() - used);
                buf.extend_from_slice(&input[used..used + take]);
                used += take;
                self.offset += take as u64;
                if buf.len() == len {
                    return Ok(Decoded::Frame {
                        frame: TlvFrame {
                            tag,
                            value: buf.freeze(),
                        },
                        consumed: used,
                    });
                }
                self.value = Some((tag, len, buf));
                return Ok(Decoded::NeedMore);
            }
            let take = (TLV_HEADER_LEN - self.header_len).min(input.len() - used);
            self.header[self.header_len..self.header_len + take]
                .copy_from_slice(&input[used..used + take]);
            self.header_len += take;
            used += take;
            self.offset += take as u64;
            if self.header_len < TLV_HEADER_LEN {
                return Ok(Decoded::NeedMore);
            }
            self.header_len = 0;
            let tag = self.header[0];
            let len = u32::from_le_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]) as u64;
            if len > self.max_value_len as u64 {
                return Err(
                    Error::limit("TLV value length", len, self.max_value_len as u64)
                        .at_offset(self.offset - TLV_HEADER_LEN as u64),
                );
            }
            let len = len as usize;
            // Reserve what is already here, not what the header claims.
            let reserve = len.min(input.len() - used).max(64);
            self.value = Some((tag, len, AlignedBytes::with_capacity(reserve)));
        }
    }
}

impl Default for TlvDecoder {
    /// Values up to 64 MiB.
    fn default() -> Self {
        TlvDecoder::new(64 << 20)
    }
}

impl FrameDecoder for TlvDecoder {
    type Frame = TlvFrame;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<TlvFrame>> {
        if self.poisoned {
            return Err(Error::malformed("TLV decoder used after an earlier error"));
        }
        let r = self.decode_inner(input);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn finish(&self) -> Result<()> {
        if let Some((_, len, buf)) = &self.value {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!("TLV frame ended after {} of {} value bytes", buf.len(), len),
            )
            .at_offset(self.offset));
        }
        if self.header_len > 0 {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "TLV frame ended after {} of {} header bytes",
                    self.header_len, TLV_HEADER_LEN
                ),
            )
            .at_offset(self.offset));
        }
        Ok(())
    }

    fn bytes_wanted(&self) -> usize {
        match &self.value {
            Some((_, len, buf)) => (len - buf.len()).max(1),
            None => TLV_HEADER_LEN - self.header_len,
        }
    }
}

/// Encoder of TLV frames, from `(tag, value)` or a [`TlvFrame`].
#[derive(Debug, Default, Clone, Copy)]
pub struct TlvEncoder;

impl FrameEncoder<(u8, &[u8])> for TlvEncoder {
    fn encode(&mut self, (tag, value): (u8, &[u8]), out: &mut Vec<u8>) -> Result<()> {
        encode_tlv(tag, value, out)
    }
}

impl FrameEncoder<&TlvFrame> for TlvEncoder {
    fn encode(&mut self, frame: &TlvFrame, out: &mut Vec<u8>) -> Result<()> {
        encode_tlv(frame.tag, frame.value.as_slice(), out)
    }
}

/// Appends one TLV frame to `out`. Fails if `value` is longer than `u32::MAX`.
pub fn encode_tlv(tag: u8, value: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let header = tlv_header(tag, value.len())?;
    out.reserve(TLV_HEADER_LEN + value.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(value);
    Ok(())
}

/// The header of a frame whose value is `value_len` bytes, for a shell that
/// writes the value from where it lies (a vectored write) instead of copying
/// it after the header. Fails if `value_len` is over `u32::MAX`.
pub fn tlv_header(tag: u8, value_len: usize) -> Result<[u8; TLV_HEADER_LEN]> {
    let len = u32::try_from(value_len)
        .map_err(|_| Error::limit("TLV value length", value_len as u64, u32::MAX as u64))?;
    let [a, b, c, d] = len.to_le_bytes();
    Ok([tag, a, b, c, d])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode_tlv(7, b"hello", &mut out).unwrap();
        encode_tlv(0, b"", &mut out).unwrap();
        encode_tlv(255, &[1u8; 300], &mut out).unwrap();
        out
    }

    #[test]
    fn layout_is_tag_then_le_length_then_value() {
        let mut out = Vec::new();
        encode_tlv(7, b"hi", &mut out).unwrap();
        assert_eq!(out, vec![7, 2, 0, 0, 0, b'h', b'i']);
    }

    #[test]
    fn any_chunking_gives_the_same_frames() {
        let bytes = sample();
        for chunk in [1, 2, 5, 7, 64, 4096] {
            let mut dec = TlvDecoder::default();
            let mut frames = Vec::new();
            for piece in bytes.chunks(chunk) {
                let mut rest = piece;
                while let Decoded::Frame { frame, consumed } = dec.decode(rest).unwrap() {
                    frames.push(frame);
                    rest = &rest[consumed..];
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            dec.finish().unwrap();
            assert_eq!(frames.len(), 3, "chunk {chunk}");
            assert_eq!(frames[0].tag, 7);
            assert_eq!(frames[0].value.as_slice(), b"hello");
            assert_eq!(frames[1].value.as_slice(), b"");
            assert_eq!(frames[2].tag, 255);
            assert_eq!(frames[2].value.as_slice(), &[1u8; 300][..]);
        }
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let mut dec = TlvDecoder::new(1024);
        let err = dec.decode(&[1, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.to_string().contains("TLV value length is 4294967295"));
        assert!(dec.decode(&[0]).is_err(), "poisoned after an error");
    }

    #[test]
    fn truncation_is_reported() {
        let bytes = sample();
        let mut dec = TlvDecoder::default();
        assert!(matches!(
            dec.decode(&bytes[..8]).unwrap(),
            Decoded::NeedMore
        ));
        let err = dec.finish().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Truncated);
        assert!(err.message().contains("3 of 5 value bytes"));
    }
}
