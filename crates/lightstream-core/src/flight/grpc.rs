//! The 5-byte gRPC message prefix: a compression flag and a big-endian
//! length (gRPC over HTTP/2, "Length-Prefixed-Message"). Not HTTP/2, not
//! trailers: those belong to the shell.

use crate::error::{Error, ErrorKind, Result};

/// Bytes in a gRPC message prefix.
pub const GRPC_PREFIX_LEN: usize = 5;

/// The 5-byte gRPC message prefix of an uncompressed message of `len` bytes
/// (flag 0, then `len` big-endian).
///
/// ```
/// use lightstream_core::flight::grpc_prefix;
/// assert_eq!(grpc_prefix(0x0102), [0, 0, 0, 0x01, 0x02]);
/// ```
pub fn grpc_prefix(len: u32) -> [u8; GRPC_PREFIX_LEN] {
    let [a, b, c, d] = len.to_be_bytes();
    [0, a, b, c, d]
}

/// Reads a gRPC message prefix: the length of the message that follows.
/// Flag 1 (a message compressed with a `grpc-encoding`, which Lightstream
/// never advertises) is an `Unsupported` error, any other flag but 0
/// `Malformed`, a length above `max` `LimitExceeded`: checked before
/// anything is allocated for the message.
///
/// ```
/// use lightstream_core::flight::{grpc_prefix, read_grpc_prefix};
/// use lightstream_core::ErrorKind;
///
/// assert_eq!(read_grpc_prefix(&grpc_prefix(300), 1 << 20)?, 300);
/// assert_eq!(read_grpc_prefix(&grpc_prefix(300), 299).unwrap_err().kind(), ErrorKind::LimitExceeded);
/// assert_eq!(read_grpc_prefix(&[1, 0, 0, 0, 3], 1 << 20).unwrap_err().kind(), ErrorKind::Unsupported);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn read_grpc_prefix(prefix: &[u8; GRPC_PREFIX_LEN], max: u64) -> Result<usize> {
    match prefix[0] {
        0 => {}
        1 => {
            return Err(Error::unsupported(
                "compressed gRPC messages are not supported (the gRPC message flag is 1: \
                 the peer compressed it with a grpc-encoding; Lightstream advertises none)",
            ));
        }
        flag => {
            return Err(Error::malformed(format!(
                "the gRPC message flag is {flag} (0 or 1 expected)"
            )));
        }
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
    if u64::from(len) > max {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("a gRPC message of {len} bytes is above the limit of {max} bytes"),
        ));
    }
    // A u32 fits every target this crate builds for (32 and 64 bits).
    Ok(len as usize)
}
