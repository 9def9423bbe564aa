//! The 5-byte gRPC message prefix: a compression flag and a big-endian
//! length (gRPC over HTTP/2, "Length-Prefixed-Message"). Not HTTP/2, not
//! trailers: those belong to the shell.

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
