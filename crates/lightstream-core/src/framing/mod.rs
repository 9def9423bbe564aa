//! Framing: finding message boundaries in a byte stream, and writing them.
//!
//! A [`FrameDecoder`] is pushed bytes in any chunking and answers "need more"
//! or hands back a complete frame with the number of bytes it took. It keeps
//! whatever partial state it needs, so a shell can feed it straight from a
//! socket, a file or a browser message without buffering ahead. A
//! [`FrameEncoder`] appends one frame's bytes to an output buffer.
//!
//! Two framings live here: [`tlv`] (tag, length, value) and [`ipc`] (Arrow's
//! encapsulated IPC messages); an application brings its own by
//! implementing the two traits. One loop drives every decoder from an input,
//! [`FrameDriver`] (the native shell's `lightstream::framed` runs it over a
//! socket). Turning IPC messages into tables is [`crate::ipc`]'s job, not
//! this module's.
//!
//! Code written against the traits works with any framing; here with TLV,
//! with a frame split across two pushes:
//!
//! ```
//! use lightstream_core::framing::tlv::{TlvDecoder, TlvEncoder};
//! use lightstream_core::framing::{Decoded, FrameDecoder, FrameEncoder};
//!
//! let mut bytes = Vec::new();
//! TlvEncoder.encode((1, &b"hello"[..]), &mut bytes)?;
//! TlvEncoder.encode((2, &b"world!"[..]), &mut bytes)?;
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

use minarrow::structs::shared_buffer::SharedBuffer;

use crate::error::{Error, Result};
pub use crate::ipc::FrameDriver;
use crate::ipc::SliceInput;
use ipc::BodySink;

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
///
/// Only [`FrameDecoder::decode`] and [`FrameDecoder::finish`] are required.
/// The other methods let a decoder say more to the [`FrameDriver`] that feeds
/// it (a frame that borrows shared input, memory to read a body straight
/// into, how many bytes it needs next); their defaults suit any decoder that
/// copies what it is offered.
///
/// A decoder fed from the network must check every length it reads against
/// a limit before it reserves memory for it, and reserve no more than the
/// bytes that have arrived (as [`tlv::TlvDecoder`] does): the length came
/// from the peer.
pub trait FrameDecoder {
    /// What one frame decodes to.
    type Frame;

    /// Offers `input`; see [`Decoded`]. After an error the decoder is poisoned
    /// and every later call returns an error.
    fn decode(&mut self, input: &[u8]) -> Result<Decoded<Self::Frame>>;

    /// The input has ended: `Ok` if it ended on a frame boundary, otherwise a
    /// [`crate::ErrorKind::Truncated`] error saying how far the last frame got.
    fn finish(&self) -> Result<()>;

    /// Like [`FrameDecoder::decode`], for input in shared memory that a frame
    /// may keep pointing into instead of copying it (the IPC decoders do).
    /// The default decodes the bytes as a slice.
    fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<Self::Frame>> {
        self.decode(input.as_slice())
    }

    /// While the rest of a frame can be read straight into its final,
    /// aligned memory: that memory (then [`FrameDecoder::take_body`]). `None`
    /// (the default): offer bytes with [`FrameDecoder::decode`].
    fn body_sink(&mut self) -> Option<BodySink<'_>> {
        None
    }

    /// After bytes were written through [`FrameDecoder::body_sink`]: the
    /// frame once it is complete, `Ok(None)` before. The default has none.
    fn take_body(&mut self) -> Result<Option<Self::Frame>> {
        Ok(None)
    }

    /// Bytes the decoder needs next (at least 1), a hint for inputs whose
    /// every read is a copy they size; `usize::MAX` (the default): no hint,
    /// offer what there is.
    fn bytes_wanted(&self) -> usize {
        usize::MAX
    }

    /// Decodes every frame in `input`, which must end on a frame boundary
    /// (through [`FrameDriver`], the one loop).
    fn decode_all(&mut self, input: &[u8]) -> Result<Vec<Self::Frame>> {
        let mut driver = FrameDriver::with_decoder(self, 0);
        let mut input = SliceInput::new(input, 0);
        let mut frames = Vec::new();
        while let Some(frame) = driver.next_item(&mut input).map_err(Error::from)? {
            frames.push(frame);
        }
        driver.decoder().finish()?;
        Ok(frames)
    }
}

/// A decoder borrowed is a decoder (so a [`FrameDriver`] can drive one it
/// does not own).
impl<D: FrameDecoder + ?Sized> FrameDecoder for &mut D {
    type Frame = D::Frame;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<D::Frame>> {
        (**self).decode(input)
    }

    fn finish(&self) -> Result<()> {
        (**self).finish()
    }

    fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<D::Frame>> {
        (**self).decode_shared(input)
    }

    fn body_sink(&mut self) -> Option<BodySink<'_>> {
        (**self).body_sink()
    }

    fn take_body(&mut self) -> Result<Option<D::Frame>> {
        (**self).take_body()
    }

    fn bytes_wanted(&self) -> usize {
        (**self).bytes_wanted()
    }
}

/// An encoder of `Item`s into frames of bytes.
///
/// Like tokio-util's `Encoder<Item>`, the item is a type parameter, so an
/// encoder can take borrowed items (`&[u8]`, `(u8, &[u8])`) and several
/// kinds of them.
pub trait FrameEncoder<Item> {
    /// Appends the bytes of one frame holding `item` to `out`.
    fn encode(&mut self, item: Item, out: &mut Vec<u8>) -> Result<()>;
}
