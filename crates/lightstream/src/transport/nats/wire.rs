//! How a table stream travels in NATS messages (docs/nats.md, "Wire"):
//! sans-IO, no client or socket here, so every rule is tested without a server.
//!
//! One encapsulated IPC message per NATS message, its payload byte for byte as
//! on a WebSocket. Our headers (NATS headers are case-sensitive) say where it
//! belongs: [`STREAM`] (16 hex digits, random per IPC stream: new after a
//! publisher restart), [`SEQ`] (the message's number in its stream, schema 0),
//! and for a message larger than the server's `max_payload` minus its headers,
//! [`PART`] (`k/n`, 1-based) and [`SIZE`] (the whole message's bytes) on every
//! part. [`RESTATE`] marks the schema and dictionaries a publisher sends again
//! for late joiners, [`ABORT`] an empty message that ends a stream without its
//! end marker; in JetStream mode [`BASE`] gives every message after the schema
//! the stream sequence of that schema (where a resuming reader starts again).
//!
//! - [`LsHeaders`]: our headers, read from any header lookup (a NATS message
//!   without [`STREAM`] is foreign: `None`) and written as name/value pairs.
//! - [`plan_parts`]: where a message is cut so that every part, headers
//!   included, fits `max_payload` (what the client checks before it sends).
//! - [`Reassembler`]: parts back into a message, with the reader's
//!   [`DecodeLimits`]: the declared size is checked before anything is
//!   reserved, memory grows only as parts arrive, and parts out of order, of
//!   another message, too many or too few bytes are a [`WireError`] naming the
//!   stream, message and part.
//! - [`Sequencer`]: whether a message is the next of its stream, a new stream,
//!   a gap or an old one.
//!
//! What it is not: the publisher or subscriber (`sink.rs`, `stream.rs`), or a
//! decoder (the reader's one driver checks the reassembled IPC message).

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use lightstream_core::{DecodeLimits, ErrorKind};

/// The IPC stream a message belongs to: 16 hex digits.
pub(crate) const STREAM: &str = "Ls-Stream";
/// The message's number in its stream (the schema is 0); parts share it.
pub(crate) const SEQ: &str = "Ls-Seq";
/// `k/n`: part `k` of `n` (1-based); only on split messages.
pub(crate) const PART: &str = "Ls-Part";
/// The whole message's size in bytes, on every part of a split message.
pub(crate) const SIZE: &str = "Ls-Size";
/// On restated messages (schema and dictionaries sent again for joiners):
/// the state is that after message `n` of the stream.
pub(crate) const RESTATE: &str = "Ls-Restate";
/// JetStream: the stream sequence of the schema message of this message's
/// IPC stream (where a reader resuming after it starts again).
pub(crate) const BASE: &str = "Ls-Base";
/// On an empty message: the publisher ended the stream without its end
/// marker, for this reason.
pub(crate) const ABORT: &str = "Ls-Abort";
/// JetStream's de-duplication id: `<stream>.<seq>[.<part>]`.
pub(crate) const MSG_ID: &str = "Nats-Msg-Id";

/// The bytes of a NATS header block around its lines: `NATS/1.0\r\n` and
/// the closing `\r\n` (what async-nats counts against `max_payload`).
const HEADER_BLOCK_BYTES: usize = 10 + 2;

/// Our headers of one NATS message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LsHeaders {
    /// [`STREAM`].
    pub stream: u64,
    /// [`SEQ`].
    pub seq: u64,
    /// [`PART`] and [`SIZE`]: `(k, n, size)` of a split message.
    pub part: Option<(u32, u32, u64)>,
    /// [`RESTATE`].
    pub restate: Option<u64>,
    /// [`BASE`].
    pub base: Option<u64>,
    /// [`ABORT`]'s reason.
    pub abort: Option<String>,
}

impl LsHeaders {
    /// Our headers of a message whose header values `get` looks up; `None`
    /// for a message without [`STREAM`] (not ours), an error for one with our
    /// headers in a form we never write.
    pub(crate) fn parse<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<LsHeaders>, WireError> {
        let Some(stream) = get(STREAM) else {
            return Ok(None);
        };
        let bad = |name: &'static str, value: &str| {
            let mut shown: String = value.chars().take(40).collect();
            if shown.len() < value.len() {
                shown.push('…');
            }
            WireError::header(name, shown)
        };
        let number = |name: &'static str, value: &str| -> Result<u64, WireError> {
            if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(name, value));
            }
            value.parse().map_err(|_| bad(name, value))
        };
        if stream.len() != 16 {
            return Err(bad(STREAM, stream));
        }
        let stream_id = u64::from_str_radix(stream, 16).map_err(|_| bad(STREAM, stream))?;
        let seq = number(SEQ, get(SEQ).ok_or_else(|| bad(SEQ, ""))?)?;
        let part = match (get(PART), get(SIZE)) {
            (None, None) => None,
            (Some(p), Some(size)) => {
                let (k, n) = p.split_once('/').ok_or_else(|| bad(PART, p))?;
                let k = u32::try_from(number(PART, k)?).map_err(|_| bad(PART, p))?;
                let n = u32::try_from(number(PART, n)?).map_err(|_| bad(PART, p))?;
                if n < 2 || k == 0 || k > n {
                    return Err(bad(PART, p));
                }
                Some((k, n, number(SIZE, size)?))
            }
            (Some(p), None) => return Err(bad(SIZE, &format!("(missing, with {PART}: {p})"))),
            (None, Some(s)) => return Err(bad(PART, &format!("(missing, with {SIZE}: {s})"))),
        };
        let restate = get(RESTATE).map(|r| number(RESTATE, r)).transpose()?;
        let base = get(BASE).map(|b| number(BASE, b)).transpose()?;
        Ok(Some(LsHeaders {
            stream: stream_id,
            seq,
            part,
            restate,
            base,
            abort: get(ABORT).map(str::to_string),
        }))
    }

    /// The name/value pairs to send (without [`MSG_ID`]).
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (STREAM, stream_id(self.stream)),
            (SEQ, self.seq.to_string()),
        ];
        if let Some((k, n, size)) = self.part {
            out.push((PART, format!("{k}/{n}")));
            out.push((SIZE, size.to_string()));
        }
        if let Some(r) = self.restate {
            out.push((RESTATE, r.to_string()));
        }
        if let Some(b) = self.base {
            out.push((BASE, b.to_string()));
        }
        if let Some(a) = &self.abort {
            // A header value is one line: no CR or LF.
            out.push((ABORT, a.replace(['\r', '\n'], " ")));
        }
        out
    }
}

/// A stream id as [`STREAM`] carries it.
pub(crate) fn stream_id(id: u64) -> String {
    format!("{id:016x}")
}

/// The bytes `pairs` take in a NATS header block (as async-nats counts them
/// against `max_payload`).
pub(crate) fn header_wire_len<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    HEADER_BLOCK_BYTES
        + pairs
            .into_iter()
            .map(|(k, v)| k.len() + 2 + v.len() + 2)
            .sum::<usize>()
}

/// Where to cut a message of `len` bytes: one range when it fits
/// `max_payload` with `whole_headers` bytes of headers, else the parts,
/// each fitting with `part_headers(n)` bytes of headers (the headers of the
/// longest part `k/n` of `n`, which grow with `n`'s digits). An error when
/// not even a byte fits beside the headers.
pub(crate) fn plan_parts(
    len: usize,
    max_payload: usize,
    whole_headers: usize,
    part_headers: impl Fn(usize) -> usize,
) -> Result<Vec<Range<usize>>, String> {
    if whole_headers.saturating_add(len) <= max_payload {
        return Ok(std::iter::once(0..len).collect());
    }
    let mut n = 2usize;
    loop {
        let headers = part_headers(n);
        let room = max_payload
            .checked_sub(headers)
            .filter(|r| *r > 0)
            .ok_or_else(|| {
                format!(
                    "the server's max_payload ({max_payload} bytes) leaves no room beside a part's \
                 {headers} header bytes"
                )
            })?;
        let needed = len.div_ceil(room).max(2);
        if needed <= n {
            // Fewer parts have no longer headers: cut into `needed`.
            return Ok((0..needed)
                .map(|i| i * room..((i + 1) * room).min(len))
                .collect());
        }
        if u32::try_from(needed).is_err() {
            return Err(format!(
                "a message of {len} bytes would take {needed} parts of {room} bytes"
            ));
        }
        n = needed;
    }
}

/// What is wrong with a message or part, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// The stream and message it belongs to, when known.
    pub at: Option<(u64, u64)>,
    /// What is wrong.
    pub problem: WireProblem,
}

/// What is wrong with a message or part ([`WireError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireProblem {
    /// One of our headers in a form we never write (the value shortened).
    Header {
        /// The header.
        name: &'static str,
        /// Its value, at most 40 characters.
        value: String,
    },
    /// A split message declares more bytes than the reader takes.
    TooLarge {
        /// [`SIZE`].
        size: u64,
        /// The reader's limit.
        limit: u64,
    },
    /// A part that is not the next one of the message in assembly.
    OutOfOrder {
        /// What came: `(stream, seq, k)`.
        got: (u64, u64, u32),
        /// The part expected next (`None`: the first part of a message).
        expected: Option<u32>,
    },
    /// Another message began before the last part of this one.
    Interrupted {
        /// The part that had come last, of `n`.
        had: u32,
        /// Parts of the message.
        of: u32,
    },
    /// The parts hold more bytes than [`SIZE`] says, or other sizes.
    Overflow {
        /// [`SIZE`].
        size: u64,
        /// Bytes so far.
        got: u64,
    },
    /// The last part came with fewer bytes than [`SIZE`] says.
    Short {
        /// [`SIZE`].
        size: u64,
        /// Bytes that came.
        got: u64,
    },
}

impl WireError {
    fn header(name: &'static str, value: String) -> WireError {
        WireError {
            at: None,
            problem: WireProblem::Header { name, value },
        }
    }

    /// The codec's error kind it is: over a limit, cut short, or malformed.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self.problem {
            WireProblem::TooLarge { .. } => ErrorKind::LimitExceeded,
            WireProblem::Interrupted { .. } | WireProblem::Short { .. } => ErrorKind::Truncated,
            _ => ErrorKind::Malformed,
        }
    }

    /// As the codec's error (what [`crate::Error::Framing`] carries), at
    /// the message's number in its stream.
    pub(crate) fn into_core(self) -> lightstream_core::Error {
        let e = lightstream_core::Error::new(self.kind(), self.to_string());
        match self.at {
            Some((_, seq)) => e.at_message(seq),
            None => e,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            WireProblem::Header { name, value } => write!(
                f,
                "NATS header {name}: {value:?} is not what a publisher writes"
            )?,
            WireProblem::TooLarge { size, limit } => write!(
                f,
                "a split message of {size} bytes is over the reader's limit of {limit} \
                 (DecodeLimits::max_message_bytes)"
            )?,
            WireProblem::OutOfOrder {
                got: (stream, seq, k),
                expected: Some(e),
            } => write!(
                f,
                "part {k} of message {seq} of stream {} came when part {e} was next",
                stream_id(*stream)
            )?,
            WireProblem::OutOfOrder {
                got: (stream, seq, k),
                expected: None,
            } => write!(
                f,
                "part {k} of message {seq} of stream {} came without its first part",
                stream_id(*stream)
            )?,
            WireProblem::Interrupted { had, of } => write!(
                f,
                "another message came after part {had} of {of}: the message is cut short"
            )?,
            WireProblem::Overflow { size, got } => write!(
                f,
                "parts of a {size}-byte message hold {got} bytes or disagree on its size"
            )?,
            WireProblem::Short { size, got } => write!(
                f,
                "the parts of a {size}-byte message hold only {got} bytes"
            )?,
        }
        if let Some((stream, seq)) = self.at {
            write!(f, " (message {seq} of stream {})", stream_id(stream))?;
        }
        Ok(())
    }
}

/// A split message being put back together.
#[derive(Debug)]
struct Assembly {
    stream: u64,
    seq: u64,
    /// The last part that came, of `parts`.
    had: u32,
    parts: u32,
    size: u64,
    bytes: BytesMut,
}

/// Puts split messages back together (one at a time: one publisher per
/// subject sends its parts one after the other).
#[derive(Debug)]
pub(crate) struct Reassembler {
    max_message: u64,
    max_reserve: usize,
    current: Option<Assembly>,
}

impl Reassembler {
    /// A reassembler with the reader's limits: a message of at most
    /// `max_message_bytes`, at most `max_eager_reserve` reserved up front.
    pub(crate) fn new(limits: &DecodeLimits) -> Reassembler {
        Reassembler {
            max_message: limits.max_message_bytes() as u64,
            max_reserve: limits.max_eager_reserve,
            current: None,
        }
    }

    /// Bytes held for the message in assembly.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.current.as_ref().map_or(0, |a| a.bytes.len())
    }

    /// Takes one NATS message of ours: the whole IPC message when it is one
    /// or its last part, `None` while parts are missing.
    pub(crate) fn push(
        &mut self,
        h: &LsHeaders,
        payload: Bytes,
    ) -> Result<Option<Bytes>, WireError> {
        let at = Some((h.stream, h.seq));
        let err = |problem| WireError { at, problem };
        let Some((k, n, size)) = h.part else {
            if let Some(a) = self.current.take() {
                return Err(WireError {
                    at: Some((a.stream, a.seq)),
                    problem: WireProblem::Interrupted {
                        had: a.had,
                        of: a.parts,
                    },
                });
            }
            return Ok(Some(payload));
        };
        if k == 1 {
            if let Some(a) = self.current.take() {
                return Err(WireError {
                    at: Some((a.stream, a.seq)),
                    problem: WireProblem::Interrupted {
                        had: a.had,
                        of: a.parts,
                    },
                });
            }
            if size > self.max_message {
                return Err(err(WireProblem::TooLarge {
                    size,
                    limit: self.max_message,
                }));
            }
            // `size` is at most max_message_bytes, and the reservation at
            // most max_eager_reserve: a lying size costs no memory.
            let reserve =
                usize::try_from(size).map_or(self.max_reserve, |s| s.min(self.max_reserve));
            let mut bytes = BytesMut::with_capacity(reserve);
            if payload.len() as u64 > size {
                return Err(err(WireProblem::Overflow {
                    size,
                    got: payload.len() as u64,
                }));
            }
            bytes.extend_from_slice(&payload);
            self.current = Some(Assembly {
                stream: h.stream,
                seq: h.seq,
                had: 1,
                parts: n,
                size,
                bytes,
            });
            return Ok(None);
        }
        let Some(a) = self.current.as_mut() else {
            return Err(err(WireProblem::OutOfOrder {
                got: (h.stream, h.seq, k),
                expected: None,
            }));
        };
        if (a.stream, a.seq, a.parts) != (h.stream, h.seq, n) || k != a.had + 1 {
            let expected = Some(a.had + 1);
            let got = (h.stream, h.seq, k);
            let at = Some((a.stream, a.seq));
            self.current = None;
            return Err(WireError {
                at,
                problem: WireProblem::OutOfOrder { got, expected },
            });
        }
        let got = a.bytes.len() as u64 + payload.len() as u64;
        if size != a.size || got > a.size {
            let size = a.size;
            self.current = None;
            return Err(err(WireProblem::Overflow { size, got }));
        }
        a.bytes.extend_from_slice(&payload);
        a.had = k;
        if k < n {
            return Ok(None);
        }
        let Some(a) = self.current.take() else {
            return Ok(None);
        };
        if got != a.size {
            return Err(err(WireProblem::Short { size: a.size, got }));
        }
        Ok(Some(a.bytes.freeze()))
    }
}

/// Where a message stands in the sequence of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next message of the current stream.
    Next,
    /// The first message of another stream (`previous`: the one before,
    /// and whether its end marker had come).
    NewStream,
    /// Messages of the current stream are missing.
    Gap {
        /// The number that should have come.
        expected: u64,
        /// The one that came.
        got: u64,
    },
    /// A message of the current stream already seen (a redelivery).
    Old,
}

/// Follows the message numbers of the stream being read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sequencer {
    /// The stream being read and the number expected next.
    current: Option<(u64, u64)>,
}

impl Sequencer {
    /// The stream being read, if any.
    pub(crate) fn stream(&self) -> Option<u64> {
        self.current.map(|(s, _)| s)
    }

    /// Where message `seq` of `stream` stands; the sequencer moves on to it
    /// (after a gap, to the message after it; a new stream begins at `seq`).
    pub(crate) fn step(&mut self, stream: u64, seq: u64) -> Step {
        let step = match self.current {
            Some((s, next)) if s == stream => {
                if seq == next {
                    Step::Next
                } else if seq < next {
                    return Step::Old;
                } else {
                    Step::Gap {
                        expected: next,
                        got: seq,
                    }
                }
            }
            _ => Step::NewStream,
        };
        self.current = Some((stream, seq.saturating_add(1)));
        step
    }

    /// Starts following `stream` at message `next` (a reader that joined it
    /// at a restate point).
    pub(crate) fn join(&mut self, stream: u64, next: u64) {
        self.current = Some((stream, next));
    }

    /// Forgets the stream (its end marker came).
    pub(crate) fn end(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(stream: u64, seq: u64, part: Option<(u32, u32, u64)>) -> LsHeaders {
        LsHeaders {
            stream,
            seq,
            part,
            ..LsHeaders::default()
        }
    }

    fn lookup<'a>(pairs: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn headers_round_trip_and_foreign_messages_are_none() {
        let h = LsHeaders {
            stream: 0x00ab_cdef_0123_4567,
            seq: 42,
            part: Some((2, 3, 1 << 20)),
            restate: Some(7),
            base: Some(123),
            abort: Some("bad\r\nthing".into()),
        };
        let pairs = h.pairs();
        assert_eq!(pairs[0], (STREAM, "00abcdef01234567".to_string()));
        assert_eq!(pairs[2], (PART, "2/3".to_string()));
        let back = LsHeaders::parse(lookup(&pairs)).unwrap().unwrap();
        assert_eq!(back.abort.as_deref(), Some("bad  thing"));
        assert_eq!(
            back,
            LsHeaders {
                abort: back.abort.clone(),
                ..h
            }
        );
        assert_eq!(LsHeaders::parse(|_| None).unwrap(), None);
    }

    #[test]
    fn bad_headers_name_the_header() {
        let ok = LsHeaders {
            stream: 1,
            seq: 3,
            part: Some((1, 2, 10)),
            ..Default::default()
        }
        .pairs();
        let with = |name: &'static str, value: Option<&str>| {
            let mut p: Vec<(&'static str, String)> =
                ok.iter().filter(|(k, _)| *k != name).cloned().collect();
            if let Some(v) = value {
                p.push((name, v.to_string()));
            }
            LsHeaders::parse(lookup(&p)).unwrap_err().to_string()
        };
        assert!(with(STREAM, Some("xyz")).contains("Ls-Stream: \"xyz\""));
        assert!(with(STREAM, Some("000000000000000g")).contains("Ls-Stream"));
        assert!(with(SEQ, None).contains("Ls-Seq"));
        assert!(with(SEQ, Some("-1")).contains("Ls-Seq: \"-1\""));
        assert!(with(SEQ, Some("99999999999999999999")).contains("Ls-Seq"));
        assert!(with(PART, Some("0/2")).contains("Ls-Part: \"0/2\""));
        assert!(with(PART, Some("3/2")).contains("Ls-Part"));
        assert!(with(PART, Some("1/1")).contains("Ls-Part"));
        assert!(with(PART, Some("1-2")).contains("Ls-Part"));
        assert!(with(PART, Some("1/99999999999")).contains("Ls-Part"));
        assert!(with(PART, None).contains("Ls-Part: \"(missing, with Ls-Size: 10)\""));
        assert!(with(SIZE, None).contains("Ls-Size"));
        assert!(with(SIZE, Some("10G")).contains("Ls-Size: \"10G\""));
        assert!(with(BASE, Some("x")).contains("Ls-Base: \"x\""));
        let long = "9".repeat(100);
        assert!(with(SIZE, Some(&long)).contains('…'));
    }

    #[test]
    fn small_messages_are_one_part_and_large_ones_fit_max_payload() {
        assert_eq!(plan_parts(100, 1000, 60, |_| 90).unwrap(), vec![0..100]);
        assert_eq!(plan_parts(940, 1000, 60, |_| 90).unwrap(), vec![0..940]);
        // 941 + 60 > 1000: parts of 1000 - 90 bytes.
        assert_eq!(
            plan_parts(941, 1000, 60, |_| 90).unwrap(),
            vec![0..910, 910..941]
        );
        // Headers that grow with the number of parts' digits.
        let grow = |n: usize| 80 + 2 * n.to_string().len();
        let parts = plan_parts(100_000, 1000, 60, grow).unwrap();
        let n = parts.len();
        assert!(parts.iter().all(|r| r.len() + grow(n) <= 1000), "{parts:?}");
        assert_eq!(parts.first().unwrap().start, 0);
        assert_eq!(parts.last().unwrap().end, 100_000);
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
        let e = plan_parts(100, 50, 60, |_| 50).unwrap_err();
        assert!(e.contains("max_payload (50 bytes) leaves no room"), "{e}");
    }

    #[test]
    fn parts_come_back_whole() {
        let limits = DecodeLimits::default();
        let mut r = Reassembler::new(&limits);
        let whole = Bytes::from_static(b"0123456789");
        assert_eq!(
            r.push(&headers(1, 0, None), whole.clone()).unwrap(),
            Some(whole.clone())
        );
        let p = |k| Some((k, 3, 10));
        assert_eq!(
            r.push(&headers(1, 1, p(1)), whole.slice(0..4)).unwrap(),
            None
        );
        assert_eq!(r.held(), 4);
        assert_eq!(
            r.push(&headers(1, 1, p(2)), whole.slice(4..8)).unwrap(),
            None
        );
        assert_eq!(
            r.push(&headers(1, 1, p(3)), whole.slice(8..)).unwrap(),
            Some(whole)
        );
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn broken_parts_are_typed_errors() {
        let limits = DecodeLimits::default();
        let part = |k, n, size| Some((k, n, size));
        let b = |n: usize| Bytes::from(vec![7u8; n]);

        // A declared size over the limit: refused before any reservation.
        let mut r = Reassembler::new(&limits);
        let e = r
            .push(&headers(1, 4, part(1, 2, 10 << 30)), b(4))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded);
        assert_eq!(e.at, Some((1, 4)));
        assert_eq!(r.held(), 0);
        let core = e.clone().into_core();
        assert_eq!(core.location().message_index, Some(4));

        // Part 2 without part 1.
        let e = r.push(&headers(1, 4, part(2, 2, 8)), b(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(e.to_string().contains("without its first part"), "{e}");

        // Part 3 after part 1.
        r.push(&headers(1, 5, part(1, 3, 12)), b(4)).unwrap();
        let e = r.push(&headers(1, 5, part(3, 3, 12)), b(4)).unwrap_err();
        assert!(e.to_string().contains("part 3 of message 5"), "{e}");
        assert!(e.to_string().contains("part 2 was next"), "{e}");
        assert_eq!(r.held(), 0);

        // A part of another message.
        r.push(&headers(1, 6, part(1, 2, 8)), b(4)).unwrap();
        let e = r.push(&headers(1, 7, part(2, 2, 8)), b(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);

        // A whole message before the last part: the split one was cut short.
        r.push(&headers(1, 8, part(1, 2, 8)), b(4)).unwrap();
        let e = r.push(&headers(1, 9, None), b(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        assert_eq!(e.at, Some((1, 8)));

        // More bytes than declared, and fewer.
        let e = r.push(&headers(1, 10, part(1, 2, 3)), b(4)).unwrap_err();
        assert!(
            matches!(e.problem, WireProblem::Overflow { size: 3, got: 4 }),
            "{e:?}"
        );
        r.push(&headers(1, 11, part(1, 2, 8)), b(4)).unwrap();
        let e = r.push(&headers(1, 11, part(2, 2, 8)), b(5)).unwrap_err();
        assert!(
            matches!(e.problem, WireProblem::Overflow { size: 8, got: 9 }),
            "{e:?}"
        );
        r.push(&headers(1, 12, part(1, 2, 8)), b(4)).unwrap();
        let e = r.push(&headers(1, 12, part(2, 2, 8)), b(3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        assert!(
            matches!(e.problem, WireProblem::Short { size: 8, got: 7 }),
            "{e:?}"
        );
        // Parts disagreeing on the size.
        r.push(&headers(1, 13, part(1, 2, 8)), b(4)).unwrap();
        let e = r.push(&headers(1, 13, part(2, 2, 9)), b(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn the_sequencer_sees_next_new_streams_gaps_and_old_messages() {
        let mut s = Sequencer::default();
        assert_eq!(s.step(1, 0), Step::NewStream);
        assert_eq!(s.step(1, 1), Step::Next);
        assert_eq!(s.step(1, 1), Step::Old);
        assert_eq!(
            s.step(1, 4),
            Step::Gap {
                expected: 2,
                got: 4
            }
        );
        assert_eq!(s.step(1, 5), Step::Next);
        assert_eq!(s.step(2, 0), Step::NewStream);
        assert_eq!(s.stream(), Some(2));
        assert_eq!(s.step(2, 1), Step::Next);
        s.end();
        assert_eq!(s.stream(), None);
        s.join(3, 10);
        assert_eq!(s.step(3, 9), Step::Old);
        assert_eq!(s.step(3, 10), Step::Next);
    }

    proptest! {
        /// Any message cut by `plan_parts` comes back byte for byte, each part
        /// fitting `max_payload` with its real headers.
        #[test]
        fn any_message_cut_and_reassembled_is_the_same(
            len in 1usize..20_000,
            max_payload in 120usize..4096,
            stream in any::<u64>(),
            seq in any::<u64>(),
        ) {
            let message: Bytes = (0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>().into();
            let whole = LsHeaders { stream, seq, ..Default::default() };
            let wire = |h: &LsHeaders| {
                let pairs = h.pairs();
                header_wire_len(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            };
            let part_headers = |n: usize| wire(&LsHeaders {
                part: Some((n as u32, n as u32, len as u64)),
                ..whole.clone()
            });
            let parts = plan_parts(len, max_payload, wire(&whole), part_headers).unwrap();
            let n = parts.len();
            let mut r = Reassembler::new(&DecodeLimits::default());
            let mut out = None;
            for (i, range) in parts.iter().enumerate() {
                let h = if n == 1 {
                    whole.clone()
                } else {
                    LsHeaders { part: Some((i as u32 + 1, n as u32, len as u64)), ..whole.clone() }
                };
                prop_assert!(wire(&h) + range.len() <= max_payload);
                let pairs = h.pairs();
                let back = LsHeaders::parse(lookup(&pairs)).unwrap().unwrap();
                prop_assert_eq!(&back, &h);
                out = r.push(&back, message.slice(range.clone())).unwrap();
                prop_assert_eq!(out.is_some(), i + 1 == n);
            }
            prop_assert_eq!(out.unwrap(), message);
        }

        /// Parts in any order, dropped or repeated never panic, and never
        /// give back a message other than the one sent.
        #[test]
        fn shuffled_parts_give_errors_or_the_message(
            order in proptest::collection::vec(0usize..6, 1..12),
        ) {
            let message = Bytes::from((0..60u8).collect::<Vec<_>>());
            let parts: Vec<_> = (0..6).map(|i| message.slice(i * 10..(i + 1) * 10)).collect();
            let mut r = Reassembler::new(&DecodeLimits::default());
            for i in order {
                let h = headers(9, 1, Some((i as u32 + 1, 6, 60)));
                if let Ok(Some(out)) = r.push(&h, parts[i].clone()) {
                    prop_assert_eq!(out, message.clone());
                }
            }
        }
    }
}
