//! Framing: finding message boundaries in a byte stream, and writing them.
//!
//! A [`FrameDecoder`] is pushed bytes in any chunking and answers "need more"
//! or hands back a complete frame with the number of bytes it took. It keeps
//! whatever partial state it needs, so a shell can feed it straight from a
//! socket, a file or a browser message without buffering ahead. A
//! [`FrameEncoder`] appends one frame's bytes to an output buffer.
//!
//! Two framings live here: [`tlv`] (tag, length, value) and [`ipc`] (Arrow's
//! encapsulated IPC messages). Turning IPC messages into tables is
//! [`crate::ipc`]'s job, not this module's.
//!
//! Code written against the traits works with any framing; here with TLV,
//! with a frame split across two pushes:
//!
//! ```
//! use lightstream_core::framing::tlv::{TlvDecoder, TlvEncoder};
//! use lightstream_core::framing::{Decoded, FrameDecoder, FrameEncoder};
//!
//! let mut bytes = Vec::new();
//! TlvEncoder.encode(&(1, b"hello"), &mut bytes)?;
//! TlvEncoder.encode(&(2, b"world!"), &mut bytes)?;
//!
//! let mut decoder = TlvDecoder::new(1 << 20);
//! let (first, rest) = bytes.split_at(8); // the first frame is 10 bytes
//! assert!(matches!(decoder.decode(first)?, Decoded::NeedMore));
//! let Decoded::Frame { frame, consumed } = decoder.decode(rest)? else { panic!("frame 1") };
//! assert_eq!((frame.tag, frame.value.as_slice()), (1, &b"hello"[..]));
//! let frames = decoder.decode_all(&rest[consumed..])?; // the rest, then `finish`
//! assert_eq!(frames[0].value.as_slice(), b"world!");
//! # Ok::<(), lightstream_core::Error>(())
//! ```

pub mod ipc;
pub mod tlv;

use crate::error::Result;

/// What a [`FrameDecoder`] made of the bytes it was offered.
#[derive(Debug)]
pub enum Decoded<F> {
    /// A frame is complete. `consumed` bytes of the input were used; offer the
    /// rest again (it belongs to the next frame).
    Frame {
        /// The completed frame.
        frame: F,
        /// How many bytes of the offered input this call consumed.
        consumed: usize,
    },
    /// Every offered byte was consumed and no frame is complete yet.
    NeedMore,
}

impl<F> Decoded<F> {
    /// The frame, if one completed.
    pub fn into_frame(self) -> Option<F> {
        match self {
            Decoded::Frame { frame, .. } => Some(frame),
            Decoded::NeedMore => None,
        }
    }

    /// Maps the frame, keeping the consumed count.
    pub fn map<G>(self, f: impl FnOnce(F) -> G) -> Decoded<G> {
        match self {
            Decoded::Frame { frame, consumed } => Decoded::Frame {
                frame: f(frame),
                consumed,
            },
            Decoded::NeedMore => Decoded::NeedMore,
        }
    }
}

/// A push decoder of frames from bytes.
pub trait FrameDecoder {
    /// What one frame decodes to.
    type Frame;

    /// Offers `input`; see [`Decoded`]. After an error the decoder is poisoned
    /// and every later call returns an error.
    fn decode(&mut self, input: &[u8]) -> Result<Decoded<Self::Frame>>;

    /// The input has ended: `Ok` if it ended on a frame boundary, otherwise a
    /// [`crate::ErrorKind::Truncated`] error saying how far the last frame got.
    fn finish(&self) -> Result<()>;

    /// Decodes every frame in `input`, which must end on a frame boundary.
    fn decode_all(&mut self, mut input: &[u8]) -> Result<Vec<Self::Frame>> {
        let mut frames = Vec::new();
        while !input.is_empty() {
            match self.decode(input)? {
                Decoded::Frame { frame, consumed } => {
                    frames.push(frame);
                    input = &input[consumed..];
                }
                Decoded::NeedMore => break,
            }
        }
        self.finish()?;
        Ok(frames)
    }
}

/// An encoder of frames into bytes.
pub trait FrameEncoder {
    /// What one frame is made from.
    type Frame: ?Sized;

    /// Appends the bytes of `frame` to `out`.
    fn encode(&mut self, frame: &Self::Frame, out: &mut Vec<u8>) -> Result<()>;
}
