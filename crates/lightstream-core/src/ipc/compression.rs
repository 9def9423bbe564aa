//! Arrow IPC body compression: LZ4_FRAME and ZSTD, one buffer at a time.
//!
//! Each compressed buffer on the wire is an 8-byte little-endian signed
//! uncompressed length followed by the codec's bytes; a length of -1 means the
//! bytes that follow are stored raw. Declared lengths are checked against
//! [`DecodeLimits`] before anything is allocated, and a buffer that inflates to
//! more or fewer bytes than declared is an error (no compression bombs).

use minarrow::structs::shared_buffer::SharedBuffer;

use crate::buffers::AlignedBytes;
use crate::error::{Error, ErrorKind, Result};
use crate::fbs;

/// Body compression codec for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Buffers are written as they are.
    #[default]
    None,
    /// LZ4 frame format (needs the `lz4` feature).
    Lz4Frame,
    /// Zstandard (needs the `zstd` feature).
    Zstd,
}

impl Compression {
    pub(crate) fn from_fb(codec: fbs::CompressionType) -> Result<Compression> {
        match codec {
            fbs::CompressionType::LZ4_FRAME => Ok(Compression::Lz4Frame),
            fbs::CompressionType::ZSTD => Ok(Compression::Zstd),
            other => Err(Error::malformed(format!(
                "unknown body compression codec {}",
                other.0
            ))),
        }
    }

    pub(crate) fn to_fb(self) -> Option<fbs::CompressionType> {
        match self {
            Compression::None => None,
            Compression::Lz4Frame => Some(fbs::CompressionType::LZ4_FRAME),
            Compression::Zstd => Some(fbs::CompressionType::ZSTD),
        }
    }

    /// Fails unless this build can decompress the codec.
    pub(crate) fn check_decodable(self) -> Result<()> {
        match self {
            Compression::Zstd if cfg!(feature = "zstd-decode") => Ok(()),
            other => other.check_available(),
        }
    }

    /// Fails unless this build can use the codec both ways.
    pub(crate) fn check_available(self) -> Result<()> {
        match self {
            Compression::None => Ok(()),
            Compression::Lz4Frame if cfg!(feature = "lz4") => Ok(()),
            Compression::Zstd if cfg!(feature = "zstd") => Ok(()),
            Compression::Lz4Frame => Err(Error::unsupported(
                "LZ4_FRAME body compression needs lightstream-core's `lz4` feature",
            )),
            Compression::Zstd => Err(Error::unsupported(
                "ZSTD body compression needs lightstream-core's `zstd` feature",
            )),
        }
    }
}

#[cfg_attr(
    not(any(feature = "lz4", feature = "zstd", feature = "zstd-decode")),
    allow(dead_code)
)]
fn codec_error(codec: Compression, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Compression, format!("{codec:?}: {e}"))
}

/// Decompresses one wire buffer. `budget` is what the message may still
/// decompress to; it is reduced by what this buffer takes. At most `eager`
/// bytes are reserved before output actually appears, so a lying length prefix
/// cannot make the decoder allocate what it claims.
pub(crate) fn decompress_buffer(
    codec: Compression,
    wire: &SharedBuffer,
    budget: &mut usize,
    eager: usize,
) -> Result<SharedBuffer> {
    let bytes = wire.as_slice();
    if bytes.is_empty() {
        return Ok(SharedBuffer::new());
    }
    let Some((declared, compressed)) = bytes.split_first_chunk::<8>() else {
        return Err(Error::malformed(format!(
            "compressed buffer of {} bytes is shorter than its 8-byte length prefix",
            bytes.len()
        )));
    };
    let declared = i64::from_le_bytes(*declared);
    if declared == -1 {
        return Ok(wire.slice(8..));
    }
    if declared < 0 {
        return Err(Error::malformed(format!(
            "compressed buffer declares a negative length ({declared})"
        )));
    }
    if declared as u64 > *budget as u64 {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "{codec:?} buffer declares {declared} decompressed bytes, more than the {} \
                 left of the message's max_decompressed_bytes (see DecodeLimits)",
                *budget
            ),
        ));
    }
    let declared = declared as usize;
    *budget -= declared;
    let out = decompress_into(codec, compressed, declared, eager)?;
    Ok(out.freeze())
}

/// Fuzzing entry point, not part of the API: decompresses one wire buffer
/// (8-byte length prefix, then the codec's bytes) exactly as a record batch
/// body's buffer is decompressed, with `max_decompressed` as the message's
/// remaining budget and `eager` as [`crate::DecodeLimits::max_eager_reserve`].
/// Exists so that `crates/fuzz` can reach the codecs with arbitrary bytes
/// without building a whole message around them; may change at any time.
#[doc(hidden)]
pub fn fuzz_decompress_buffer(
    codec: Compression,
    wire: &[u8],
    max_decompressed: usize,
    eager: usize,
) -> Result<SharedBuffer> {
    let mut budget = max_decompressed;
    let out = decompress_buffer(
        codec,
        &crate::buffers::aligned_copy(wire),
        &mut budget,
        eager,
    )?;
    debug_assert!(budget <= max_decompressed);
    Ok(out)
}

/// Reads exactly `len` bytes out of `reader`, growing the output only as
/// bytes arrive, and fails if the reader yields fewer or more.
#[cfg_attr(
    not(any(feature = "lz4", feature = "zstd", feature = "zstd-decode")),
    allow(dead_code)
)]
fn read_exactly(
    codec: Compression,
    mut reader: impl std::io::Read,
    len: usize,
    eager: usize,
) -> Result<AlignedBytes> {
    let mut out = AlignedBytes::with_capacity(len.min(eager));
    while out.len() < len {
        let filled = out.len();
        let step = (len - filled).min(filled.max(64 << 10));
        out.extend_zeros(step);
        let mut at = filled;
        while at < filled + step {
            // `out` was just extended to `filled + step` bytes, and `at` is below that.
            #[allow(clippy::indexing_slicing)]
            let n = match reader.read(&mut out.as_mut_slice()[at..filled + step]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(codec_error(codec, e)),
            };
            if n == 0 {
                return Err(codec_error(
                    codec,
                    format!("buffer inflates to {at} bytes, {len} declared"),
                ));
            }
            at += n;
        }
    }
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => return Ok(out),
            Ok(_) => {
                return Err(codec_error(
                    codec,
                    format!("buffer inflates to more than the {len} bytes declared"),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(codec_error(codec, e)),
        }
    }
}

#[cfg_attr(
    not(any(feature = "lz4", feature = "zstd", feature = "zstd-decode")),
    allow(unused_variables)
)]
fn decompress_into(
    codec: Compression,
    input: &[u8],
    len: usize,
    eager: usize,
) -> Result<AlignedBytes> {
    match codec {
        Compression::None => Err(Error::malformed("buffer compressed with no codec")),
        #[cfg(feature = "lz4")]
        Compression::Lz4Frame => {
            read_exactly(codec, lz4_flex::frame::FrameDecoder::new(input), len, eager)
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_error(codec, e))?;
            read_exactly(codec, dec, len, eager)
        }
        #[cfg(all(feature = "zstd-decode", not(feature = "zstd")))]
        Compression::Zstd => {
            let dec = ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|e| codec_error(codec, e))?;
            read_exactly(codec, dec, len, eager)
        }
        #[allow(unreachable_patterns)]
        other => {
            other.check_decodable()?;
            Err(Error::malformed("unreachable codec"))
        }
    }
}

/// Compresses one buffer into its wire form (length prefix included). Stores
/// it raw (length -1) when compression would not make it smaller.
pub(crate) fn compress_buffer(codec: Compression, input: &[u8]) -> Result<Vec<u8>> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(input.len() / 2 + 16);
    out.extend_from_slice(&(input.len() as i64).to_le_bytes());
    match codec {
        Compression::None => return Err(Error::schema("compress_buffer with no codec")),
        #[cfg(feature = "lz4")]
        Compression::Lz4Frame => {
            use std::io::Write;
            let mut enc = lz4_flex::frame::FrameEncoder::new(out);
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            out = enc.finish().map_err(|e| codec_error(codec, e))?;
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let compressed = zstd::bulk::compress(input, 1).map_err(|e| codec_error(codec, e))?;
            out.extend_from_slice(&compressed);
        }
        #[allow(unreachable_patterns)]
        other => {
            other.check_available()?;
        }
    }
    if out.len() >= input.len() + 8 {
        out.clear();
        out.extend_from_slice(&(-1i64).to_le_bytes());
        out.extend_from_slice(input);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::aligned_copy;

    #[cfg_attr(not(any(feature = "lz4", feature = "zstd")), allow(dead_code))]
    fn roundtrip(codec: Compression) {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let wire = compress_buffer(codec, &data).unwrap();
        assert!(
            wire.len() < data.len(),
            "{codec:?} should shrink repetitive data"
        );
        let mut budget = usize::MAX;
        let back = decompress_buffer(codec, &aligned_copy(&wire), &mut budget, 1 << 20).unwrap();
        assert_eq!(back.as_slice(), &data[..]);
        assert_eq!(budget, usize::MAX - data.len());
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_roundtrip() {
        roundtrip(Compression::Lz4Frame);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_roundtrip() {
        roundtrip(Compression::Zstd);
    }

    /// A frame the reference C library wrote (pyarrow's ZSTD codec), read by
    /// whichever ZSTD decoder this build has (C `zstd` or pure-Rust ruzstd).
    #[cfg(any(feature = "zstd", feature = "zstd-decode"))]
    #[test]
    fn zstd_frame_from_the_reference_library_decodes() {
        let frame = [
            0x28, 0xb5, 0x2f, 0xfd, 0x60, 0xfc, 0x07, 0xfd, 0x00, 0x00, 0xb8, 0x6c, 0x69, 0x67,
            0x68, 0x74, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x20, 0x7a, 0x73, 0x74, 0x64, 0x20,
            0x66, 0x72, 0x61, 0x6d, 0x65, 0x20, 0x01, 0x00, 0xc5, 0xa1, 0xfe, 0x6c, 0x02,
        ];
        let expected = b"lightstream zstd frame ".repeat(100);
        let mut wire = (expected.len() as i64).to_le_bytes().to_vec();
        wire.extend_from_slice(&frame);
        let mut budget = usize::MAX;
        let out = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap();
        assert_eq!(out.as_slice(), &expected[..]);
        // A cut frame is an error, not a short buffer.
        let mut budget = usize::MAX;
        let cut = aligned_copy(&wire[..wire.len() - 4]);
        assert!(decompress_buffer(Compression::Zstd, &cut, &mut budget, 1 << 20).is_err());
        // A frame that expands beyond the budget is refused.
        let mut budget = 100;
        assert!(
            decompress_buffer(
                Compression::Zstd,
                &aligned_copy(&wire),
                &mut budget,
                1 << 20
            )
            .is_err()
        );
    }

    #[test]
    fn raw_marker_is_passed_through() {
        let mut wire = (-1i64).to_le_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let mut budget = 0;
        let out = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap();
        assert_eq!(out.as_slice(), b"abc");
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn a_lying_prefix_within_budget_reserves_only_what_arrives() {
        let data = vec![3u8; 5000];
        let mut wire = compress_buffer(Compression::Zstd, &data).unwrap();
        wire[..8].copy_from_slice(&(4_000_000_000i64).to_le_bytes());
        let mut budget = usize::MAX;
        let err = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Compression);
        assert!(err.message().contains("inflates to 5000 bytes"), "{err}");
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn bomb_is_refused_before_allocating() {
        let mut wire = (1i64 << 40).to_le_bytes().to_vec();
        wire.extend_from_slice(&[0u8; 16]);
        let mut budget = 1 << 20;
        let err = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn lying_length_is_an_error() {
        let data = vec![7u8; 1000];
        let mut wire = compress_buffer(Compression::Zstd, &data).unwrap();
        wire[..8].copy_from_slice(&999i64.to_le_bytes());
        let mut budget = usize::MAX;
        let err = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Compression);
        wire[..8].copy_from_slice(&1001i64.to_le_bytes());
        let err = decompress_buffer(
            Compression::Zstd,
            &aligned_copy(&wire),
            &mut budget,
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Compression);
    }
}
