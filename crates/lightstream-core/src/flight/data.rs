//! FlightData <-> IPC stream: [`FlightToIpc`], the receive-side translator
//! (a resumable state machine over any chunking of a gRPC body), and the
//! send-side pieces [`flight_data_head`] and [`split_encapsulated`].
//!
//! The translator's states, one FlightData at a time:
//!
//! | state        | reads                                   | then |
//! |--------------|-----------------------------------------|------|
//! | `Prefix`     | the 5-byte gRPC prefix (flag, length)   | `Tag` (a 0-byte message completes at once) |
//! | `Tag`        | a field's tag varint                    | `Length`, `SkipVarint` or `Skip` |
//! | `Length`     | a length-delimited field's length       | `Header`, `Body`, `EarlyBody`, `Side` or `Skip` |
//! | `Header`     | `data_header` into the output queue behind an 8-byte IPC prefix | `Tag` |
//! | `Body`       | `data_body` straight into `out`         | `Skip` (a tail past `bodyLength`) or `Tag` |
//! | `EarlyBody`  | `data_body` before its header, into a bounded buffer | `Tag` |
//! | `Side`       | `flight_descriptor` / `app_metadata`    | `Tag` |
//! | `SkipVarint`, `Skip` | unknown fields, passed over incrementally | `Tag` |
//!
//! At the end of a message's bytes: `Prefix` again. Every length is checked
//! against the bytes left in the message before anything is kept.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{BufMut, Bytes};

use super::grpc::{GRPC_PREFIX_LEN, read_grpc_prefix};
use super::wire::{Tag, VarintReader, WireType, put_varint, varint_len};
use crate::buffers::padded_len;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::ipc::{CONTINUATION_MARKER, END_OF_STREAM, parse_message};
use crate::ipc::{MessageKind, check_version, inspect_message};
use crate::limits::DecodeLimits;

/// FlightData's field numbers (Flight.proto).
const FIELD_DESCRIPTOR: u32 = 1;
const FIELD_HEADER: u32 = 2;
const FIELD_METADATA: u32 = 3;
const FIELD_BODY: u32 = 1000;

/// What a kept buffer reserves before its bytes arrive (it grows as they do).
const EAGER_RESERVE: usize = 64 * 1024;

/// An item of a FlightData message that is not IPC stream bytes, in the
/// order seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlightSide {
    /// `app_metadata` (field 3) of FlightData number `message` (0-based).
    AppMetadata {
        /// Index of the FlightData message it came in.
        message: u64,
        /// The bytes as sent.
        bytes: Bytes,
    },
    /// `flight_descriptor` (field 1) of FlightData number `message`: the
    /// encoded `FlightDescriptor` message (decode it with prost in the shell).
    Descriptor {
        /// Index of the FlightData message it came in.
        message: u64,
        /// The encoded `FlightDescriptor`.
        bytes: Bytes,
    },
}

/// A FlightData field, for what the translator does with it and for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Descriptor,
    Header,
    Metadata,
    Body,
    Other(u32),
}

impl Field {
    fn of(number: u32) -> Field {
        match number {
            FIELD_DESCRIPTOR => Field::Descriptor,
            FIELD_HEADER => Field::Header,
            FIELD_METADATA => Field::Metadata,
            FIELD_BODY => Field::Body,
            n => Field::Other(n),
        }
    }

    fn name(self) -> String {
        match self {
            Field::Descriptor => "FlightData.flight_descriptor (1)".into(),
            Field::Header => "FlightData.data_header (2)".into(),
            Field::Metadata => "FlightData.app_metadata (3)".into(),
            Field::Body => "FlightData.data_body (1000)".into(),
            Field::Other(n) => format!("FlightData field {n}"),
        }
    }
}

#[derive(Debug)]
enum State {
    /// `have` bytes of the 5-byte gRPC prefix are in `buf`.
    Prefix {
        buf: [u8; GRPC_PREFIX_LEN],
        have: usize,
    },
    Tag(VarintReader),
    Length(Field, VarintReader),
    SkipVarint(Field, VarintReader),
    Skip(Field, u64),
    Header(u64),
    /// `pass` body bytes still to pass on, then `tail` to skip.
    Body {
        pass: u64,
        tail: u64,
    },
    EarlyBody(u64),
    Side {
        field: Field,
        left: u64,
        buf: Vec<u8>,
    },
    /// After [`FlightToIpc::end`].
    Ended,
}

/// What the current FlightData message has shown so far.
#[derive(Debug, Default)]
struct Message {
    /// gRPC message length (protobuf bytes).
    len: u64,
    /// Its bytes not yet read.
    left: u64,
    seen_descriptor: bool,
    seen_metadata: bool,
    seen_header: bool,
    /// The `bodyLength` its (non-empty) header declares.
    body_len: Option<u64>,
    seen_body: bool,
    /// A body that came before its header (kept until the header comes).
    early_body: Vec<u8>,
}

/// A gRPC body of FlightData messages (any chunking) -> a plain Arrow IPC
/// stream, sans-IO.
///
/// For each FlightData with a `data_header`, the output gets an IPC
/// encapsulated message: the continuation marker, the header's length padded
/// to 8, the header, zero padding, then `bodyLength` bytes of `data_body`
/// passed straight from the input (a longer `data_body` has its tail
/// skipped; a shorter one, or none when `bodyLength > 0`, is an error). A
/// FlightData without a header (app_metadata alone) adds nothing to the
/// output. After [`FlightToIpc::end`] with an OK status, the output ends with
/// the end-of-stream marker, so it is exactly an IPC stream that
/// [`crate::IpcStreamDriver`] or [`crate::IpcStreamDecoder`] reads.
///
/// Bounded: a gRPC message longer than `max_flight_data` is refused at its
/// prefix; a field's length is checked against the bytes left in its message
/// before anything is kept; headers, side items and a body sent before its
/// header (legal, seen from no producer; [`FlightToIpc::body_bytes_buffered`])
/// grow as their bytes arrive. Side items not taken may hold at most
/// `max_flight_data` bytes. Errors carry the FlightData's index, the field
/// and the byte offset in the gRPC body; after one, every call returns it.
///
/// ```
/// use lightstream_core::flight::{FlightToIpc, flight_data_head, split_encapsulated};
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{read_ipc, IpcStreamEncoder, ReadOptions, Schema, WriteOptions};
///
/// // A Flight stream as a server sends it: one FlightData per IPC message.
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let mut encoder = IpcStreamEncoder::new(Schema::from_table(&table).into(), WriteOptions::default())?;
/// let mut grpc_body = Vec::new();
/// let mut messages = vec![encoder.schema_message()?.to_vec()];
/// messages.extend(encoder.encode_table(&table)?.iter().map(|m| m.to_vec()));
/// for message in &messages {
///     let (header, body) = split_encapsulated(message)?;
///     grpc_body.extend(flight_data_head(None, &message[header], b"", body.len())?);
///     grpc_body.extend(&message[body]);
/// }
/// // Received in chunks of 7 bytes: the IPC stream comes out.
/// let mut flight = FlightToIpc::new(1 << 20);
/// let mut ipc = Vec::new();
/// for mut chunk in grpc_body.chunks(7) {
///     while !chunk.is_empty() {
///         // A call stops before a body's first byte after writing its header.
///         let used = flight.translate(chunk, &mut ipc)?;
///         chunk = &chunk[used..];
///     }
/// }
/// flight.end(true)?;
/// flight.drain(&mut ipc);
/// assert_eq!(flight.messages(), 2);
/// assert_eq!(read_ipc(&ipc, ReadOptions::default())?.tables[0].cols, table.cols);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug)]
pub struct FlightToIpc {
    max_flight_data: u64,
    limits: DecodeLimits,
    state: State,
    message: Message,
    /// FlightData messages completed.
    messages: u64,
    /// gRPC body bytes consumed.
    offset: u64,
    /// Synthetic output not yet written: an IPC prefix and header (with an
    /// early body), the end-of-stream marker. `emit[emitted..]` is owed.
    emit: Vec<u8>,
    emitted: usize,
    side: VecDeque<FlightSide>,
    side_bytes: u64,
    body_bytes_buffered: u64,
    failed: Option<Error>,
}

impl FlightToIpc {
    /// A translator accepting gRPC messages of at most `max_flight_data`
    /// bytes (checked at each 5-byte prefix; nothing is allocated from it).
    /// Headers are verified with [`DecodeLimits::DEFAULT`] for their
    /// `bodyLength`; the IPC decoder checks them again with its own limits.
    pub fn new(max_flight_data: u64) -> Self {
        FlightToIpc {
            max_flight_data,
            limits: DecodeLimits::DEFAULT,
            state: State::Prefix {
                buf: [0; GRPC_PREFIX_LEN],
                have: 0,
            },
            message: Message::default(),
            messages: 0,
            offset: 0,
            emit: Vec::new(),
            emitted: 0,
            side: VecDeque::new(),
            side_bytes: 0,
            body_bytes_buffered: 0,
            failed: None,
        }
    }

    /// Translates from `input` into `out` (at most `out.remaining_mut()`
    /// bytes); returns the input bytes consumed. Input is consumed even when
    /// nothing is written (protobuf tags, metadata-only messages); it stops
    /// early when `out` is full, and before the first byte of a body when it
    /// wrote something before it in this call (the message's IPC prefix and
    /// header): an IPC reader that took those into its scratch buffer then
    /// offers the body's own aligned memory for the next call
    /// ([`crate::IpcStreamDecoder::body_sink`]), so that every body byte is
    /// copied once, straight into place. Call again with the rest.
    pub fn translate(&mut self, input: &[u8], out: &mut impl BufMut) -> Result<usize> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut used = 0;
        let r = self.run(input, &mut used, out);
        self.offset += used as u64;
        match r {
            Ok(()) => Ok(used),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The field the current state reads, if any.
    fn field(&self) -> Option<Field> {
        match &self.state {
            State::Length(f, _) | State::SkipVarint(f, _) | State::Skip(f, _) => Some(*f),
            State::Side { field, .. } => Some(*field),
            State::Header(_) => Some(Field::Header),
            State::Body { .. } | State::EarlyBody(_) => Some(Field::Body),
            _ => None,
        }
    }

    /// Locates `e` (message, field, offset) and keeps it for later calls.
    fn fail(&mut self, e: Error) -> Error {
        let mut e = e.at_message(self.messages).at_offset(self.offset);
        if let Some(f) = self.field() {
            e = e.at_field(f.name());
        }
        self.failed = Some(e.clone());
        e
    }

    // `*used` only grows by bytes of `rest`, so `*used <= input.len()`; each
    // `n` and `avail` is at most `rest.len()`, and `*have + n <= GRPC_PREFIX_LEN`.
    #[allow(clippy::indexing_slicing)]
    fn run(&mut self, input: &[u8], used: &mut usize, out: &mut impl BufMut) -> Result<()> {
        let room = out.remaining_mut();
        loop {
            if !self.flush(out) {
                return Ok(());
            }
            // A body about to start after bytes written in this call (its
            // IPC prefix and header): stop, so that a reader that took
            // those into a small buffer can offer the body's own memory.
            if let State::Body { pass, .. } = self.state
                && Some(pass) == self.message.body_len
                && out.remaining_mut() < room
            {
                return Ok(());
            }
            let rest = &input[*used..];
            // Bytes of the current message in `rest`.
            let avail = rest
                .len()
                .min(usize::try_from(self.message.left).unwrap_or(usize::MAX));
            let n = match &mut self.state {
                State::Ended => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    return Err(Error::malformed(format!(
                        "{} bytes of gRPC body after its end",
                        rest.len()
                    )));
                }
                State::Prefix { buf, have } => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    let n = rest.len().min(GRPC_PREFIX_LEN - *have);
                    buf[*have..*have + n].copy_from_slice(&rest[..n]);
                    *have += n;
                    if *have == GRPC_PREFIX_LEN {
                        let buf = *buf;
                        *used += n;
                        self.start_message(buf)?;
                        continue;
                    }
                    n
                }
                // A message completes at a field boundary (below), so a
                // state still inside a field here was cut off by the
                // message's end (a varint, a length, a field's bytes).
                _ if self.message.left == 0 => {
                    return Err(Error::malformed(format!(
                        "a FlightData message of {} bytes ends inside a field",
                        self.message.len
                    )));
                }
                _ => {
                    if avail == 0 {
                        return Ok(());
                    }
                    let field = self.field();
                    let n = self.step(&rest[..avail], out).map_err(|e| match field {
                        Some(f) => e.at_field(f.name()),
                        None => e,
                    })?;
                    if n == 0 {
                        // `out` is full.
                        return Ok(());
                    }
                    self.message.left -= n as u64;
                    n
                }
            };
            *used += n;
            if self.message.left == 0 && matches!(self.state, State::Tag(r) if r.is_empty()) {
                self.finish_message()?;
            }
        }
    }

    /// Writes owed synthetic bytes; true when none are left.
    fn flush(&mut self, out: &mut impl BufMut) -> bool {
        if matches!(self.state, State::Header(_)) {
            // `emit` holds a header being read: nothing is owed yet (it was
            // all written before the header started).
            return true;
        }
        if self.emitted < self.emit.len() {
            let n = out.remaining_mut().min(self.emit.len() - self.emitted);
            #[allow(clippy::indexing_slicing)] // emitted + n <= emit.len()
            out.put_slice(&self.emit[self.emitted..self.emitted + n]);
            self.emitted += n;
            if self.emitted < self.emit.len() {
                return false;
            }
        }
        self.emit.clear();
        self.emitted = 0;
        if self.emit.capacity() > EAGER_RESERVE {
            self.emit.shrink_to(EAGER_RESERVE);
        }
        true
    }

    /// Reads the 5-byte gRPC prefix of the next FlightData.
    fn start_message(&mut self, prefix: [u8; GRPC_PREFIX_LEN]) -> Result<()> {
        let len = read_grpc_prefix(&prefix, self.max_flight_data)? as u64;
        self.message = Message {
            len,
            left: len,
            ..Message::default()
        };
        self.state = State::Tag(VarintReader::default());
        if len == 0 {
            self.finish_message()?;
        }
        Ok(())
    }

    /// One step inside a message over `input` (bytes of this message only);
    /// returns the bytes consumed (0 only when `out` is full or `input` is
    /// empty).
    // Every `n` below is at most `input.len()` (a `min` with it).
    #[allow(clippy::indexing_slicing)]
    fn step(&mut self, input: &[u8], out: &mut impl BufMut) -> Result<usize> {
        let left = self.message.left;
        let state = std::mem::replace(&mut self.state, State::Ended);
        let (n, next) = match state {
            State::Tag(mut r) => {
                let (n, v) = r.push(input)?;
                match v {
                    None => (n, State::Tag(r)),
                    Some(v) => (n, self.field_after_tag(Tag::parse(v)?, left - n as u64)?),
                }
            }
            State::Length(field, mut r) => {
                let (n, v) = r.push(input)?;
                match v {
                    None => (n, State::Length(field, r)),
                    Some(len) => (n, self.field_after_length(field, len, left - n as u64)?),
                }
            }
            State::SkipVarint(field, mut r) => {
                let (n, v) = r.push(input)?;
                match v {
                    None => (n, State::SkipVarint(field, r)),
                    Some(_) => (n, State::Tag(VarintReader::default())),
                }
            }
            State::Skip(field, skip) => {
                let n = skip.min(input.len() as u64);
                let skip = skip - n;
                (
                    n as usize,
                    if skip == 0 {
                        State::Tag(VarintReader::default())
                    } else {
                        State::Skip(field, skip)
                    },
                )
            }
            State::Header(more) => {
                let n = (more.min(input.len() as u64)) as usize;
                self.emit.extend_from_slice(&input[..n]);
                let more = more - n as u64;
                if more == 0 {
                    self.header_complete()?;
                    (n, State::Tag(VarintReader::default()))
                } else {
                    (n, State::Header(more))
                }
            }
            State::Body { pass, tail } => {
                let n = pass.min(input.len() as u64).min(out.remaining_mut() as u64) as usize;
                out.put_slice(&input[..n]);
                let pass = pass - n as u64;
                let next = match (pass, tail) {
                    (0, 0) => State::Tag(VarintReader::default()),
                    (0, tail) => State::Skip(Field::Body, tail),
                    (pass, tail) => State::Body { pass, tail },
                };
                (n, next)
            }
            State::EarlyBody(more) => {
                let n = (more.min(input.len() as u64)) as usize;
                self.message.early_body.extend_from_slice(&input[..n]);
                let more = more - n as u64;
                (
                    n,
                    if more == 0 {
                        State::Tag(VarintReader::default())
                    } else {
                        State::EarlyBody(more)
                    },
                )
            }
            State::Side {
                field,
                left: more,
                mut buf,
            } => {
                let n = (more.min(input.len() as u64)) as usize;
                buf.extend_from_slice(&input[..n]);
                let more = more - n as u64;
                if more == 0 {
                    self.push_side(field, buf);
                    (n, State::Tag(VarintReader::default()))
                } else {
                    (
                        n,
                        State::Side {
                            field,
                            left: more,
                            buf,
                        },
                    )
                }
            }
            s @ (State::Prefix { .. } | State::Ended) => (0, s),
        };
        self.state = next;
        Ok(n)
    }

    /// Queues a whole side item of the current message.
    fn push_side(&mut self, field: Field, buf: Vec<u8>) {
        let (message, bytes) = (self.messages, Bytes::from(buf));
        self.side.push_back(match field {
            Field::Descriptor => FlightSide::Descriptor { message, bytes },
            _ => FlightSide::AppMetadata { message, bytes },
        });
    }

    /// The state for a field whose tag was just read (`left` message bytes after it).
    fn field_after_tag(&mut self, tag: Tag, left: u64) -> Result<State> {
        let field = Field::of(tag.field);
        let fixed = |n: u64| {
            if n > left {
                return Err(past_end(field, n, left));
            }
            Ok(State::Skip(field, n))
        };
        match (field, tag.wire_type) {
            (_, WireType::LengthDelimited) => Ok(State::Length(field, VarintReader::default())),
            (Field::Other(_), WireType::Varint) => {
                Ok(State::SkipVarint(field, VarintReader::default()))
            }
            (Field::Other(_), WireType::Fixed64) => fixed(8),
            (Field::Other(_), WireType::Fixed32) => fixed(4),
            (_, wire_type) => Err(Error::malformed(format!(
                "{} has wire type {wire_type:?}, not a length-delimited bytes field",
                field.name()
            ))
            .at_field(field.name())),
        }
    }

    /// The state for a length-delimited field of `len` bytes.
    fn field_after_length(&mut self, field: Field, len: u64, left: u64) -> Result<State> {
        if len > left {
            return Err(past_end(field, len, left));
        }
        let m = &mut self.message;
        let seen = match field {
            Field::Descriptor => std::mem::replace(&mut m.seen_descriptor, true),
            Field::Header => std::mem::replace(&mut m.seen_header, true),
            Field::Metadata => std::mem::replace(&mut m.seen_metadata, true),
            Field::Body => std::mem::replace(&mut m.seen_body, true),
            Field::Other(_) => false,
        };
        if seen {
            return Err(Error::malformed(format!(
                "{} appears twice in one FlightData",
                field.name()
            ))
            .at_field(field.name()));
        }
        // `len` fits in the message, whose length came from a u32.
        let reserve = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(EAGER_RESERVE);
        Ok(match field {
            Field::Descriptor | Field::Metadata => {
                let queued = self.side_bytes.saturating_add(len);
                if queued > self.max_flight_data {
                    return Err(Error::new(
                        ErrorKind::LimitExceeded,
                        format!(
                            "side items not taken (app_metadata, descriptors: take_side) would \
                             hold {queued} bytes, above the limit of {} bytes",
                            self.max_flight_data
                        ),
                    ));
                }
                self.side_bytes = queued;
                if len == 0 {
                    self.push_side(field, Vec::new());
                    return Ok(State::Tag(VarintReader::default()));
                }
                State::Side {
                    field,
                    left: len,
                    buf: Vec::with_capacity(reserve),
                }
            }
            // An empty header is an absent one (proto3), not an IPC
            // message of no metadata (which would read as end-of-stream).
            Field::Header if len == 0 => State::Tag(VarintReader::default()),
            Field::Header => {
                self.emit.reserve(8 + reserve);
                self.emit.extend_from_slice(&[0; 8]);
                State::Header(len)
            }
            Field::Body => match m.body_len {
                Some(body_len) if len < body_len => {
                    return Err(Error::malformed(format!(
                        "data_body holds {len} bytes, fewer than the {body_len} its data_header \
                         declares"
                    )));
                }
                Some(0) if len == 0 => State::Tag(VarintReader::default()),
                Some(0) => State::Skip(Field::Body, len),
                Some(body_len) => State::Body {
                    pass: body_len,
                    tail: len - body_len,
                },
                None if len == 0 => State::Tag(VarintReader::default()),
                None => {
                    self.body_bytes_buffered += len;
                    m.early_body.reserve(reserve);
                    State::EarlyBody(len)
                }
            },
            Field::Other(_) => {
                if len == 0 {
                    State::Tag(VarintReader::default())
                } else {
                    State::Skip(field, len)
                }
            }
        })
    }

    /// The whole `data_header` is in `emit[8..]`: read its `bodyLength`,
    /// write the IPC prefix and padding, and queue a body that came first.
    fn header_complete(&mut self) -> Result<()> {
        // `emit` is the 8 bytes of the prefix to come, then the header.
        let header = self.emit.get(8..).unwrap_or_default();
        let header_len = header.len();
        let body_len = {
            let message = parse_message(header, &self.limits)?;
            check_version(message.version())?;
            u64::try_from(message.bodyLength()).map_err(|_| {
                Error::malformed(format!(
                    "data_header declares a negative body length ({})",
                    message.bodyLength()
                ))
            })?
        };
        let padded = padded_len(header_len, 8)
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::LimitExceeded,
                    format!("a data_header of {header_len} bytes does not fit an IPC prefix"),
                )
            })?;
        if let Some(prefix) = self.emit.first_chunk_mut::<8>() {
            *prefix = bytemuck::cast([CONTINUATION_MARKER, padded.to_le_bytes()]);
        }
        self.emit.resize(8 + padded as usize, 0);
        if self.message.seen_body {
            let mut early = std::mem::take(&mut self.message.early_body);
            let have = early.len() as u64;
            if have < body_len {
                return Err(Error::malformed(format!(
                    "data_body holds {have} bytes, fewer than the {body_len} its data_header \
                     declares"
                )));
            }
            // `body_len <= have`, a length in memory.
            early.truncate(body_len as usize);
            self.emit.extend_from_slice(&early);
        }
        self.message.body_len = Some(body_len);
        Ok(())
    }

    /// The current message's bytes are all read.
    fn finish_message(&mut self) -> Result<()> {
        let m = &self.message;
        if !m.early_body.is_empty() {
            return Err(Error::malformed(format!(
                "a FlightData holds a data_body of {} bytes but no data_header",
                m.early_body.len()
            ))
            .at_field(Field::Body.name()));
        }
        if let Some(body_len) = m.body_len
            && body_len > 0
            && !m.seen_body
        {
            return Err(Error::malformed(format!(
                "data_header declares a body of {body_len} bytes, but the FlightData has no \
                 data_body"
            ))
            .at_field(Field::Body.name()));
        }
        self.message = Message::default();
        self.messages += 1;
        self.state = State::Prefix {
            buf: [0; GRPC_PREFIX_LEN],
            have: 0,
        };
        Ok(())
    }

    /// The gRPC body ended; `status_ok`: its trailers said `grpc-status: 0`.
    /// Ending inside a message is an error (`Truncated`) either way; when OK
    /// at a message boundary, the IPC end-of-stream marker is queued for the
    /// next [`FlightToIpc::drain`] or `translate`. A status that is not OK
    /// queues nothing: the shell reports the status.
    pub fn end(&mut self, status_ok: bool) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match &self.state {
            State::Ended => Ok(()),
            State::Prefix { have: 0, .. } => {
                self.state = State::Ended;
                if status_ok {
                    self.emit.extend_from_slice(&END_OF_STREAM);
                }
                Ok(())
            }
            State::Prefix { have, .. } => {
                let e = Error::new(
                    ErrorKind::Truncated,
                    format!("the gRPC body ended inside a gRPC message prefix ({have} of 5 bytes)"),
                );
                Err(self.fail(e))
            }
            _ => {
                let e = Error::new(
                    ErrorKind::Truncated,
                    format!(
                        "the gRPC body ended inside a FlightData message ({} of {} bytes)",
                        self.message.len - self.message.left,
                        self.message.len
                    ),
                );
                Err(self.fail(e))
            }
        }
    }

    /// Writes queued synthetic bytes (a header still owed, the end-of-stream
    /// marker) with no input; returns bytes written.
    pub fn drain(&mut self, out: &mut impl BufMut) -> usize {
        let before = self.emitted;
        let owed = self.emit.len() - before;
        if self.flush(out) {
            owed
        } else {
            self.emitted - before
        }
    }

    /// True when [`FlightToIpc::end`] was called and every byte written.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Ended) && self.emitted >= self.emit.len()
    }

    /// The next side item (app_metadata, descriptor), in order.
    pub fn take_side(&mut self) -> Option<FlightSide> {
        let item = self.side.pop_front()?;
        let (FlightSide::AppMetadata { bytes, .. } | FlightSide::Descriptor { bytes, .. }) = &item;
        self.side_bytes -= bytes.len() as u64;
        Some(item)
    }

    /// FlightData messages completed so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Body bytes that came before their `data_header` and were buffered
    /// (copied once more) until it came: 0 for every known producer.
    pub fn body_bytes_buffered(&self) -> u64 {
        self.body_bytes_buffered
    }
}

fn past_end(field: Field, len: u64, left: u64) -> Error {
    Error::malformed(format!(
        "{} declares {len} bytes, but its FlightData has {left} left",
        field.name()
    ))
    .at_field(field.name())
}

/// The head of one FlightData gRPC message: gRPC prefix, optional
/// descriptor (encoded bytes), `data_header` (the IPC `Message` flatbuffer,
/// no continuation/length prefix; empty: left out), optional `app_metadata`
/// (empty: left out), then the `data_body` tag and length (left out when
/// `body_len` is 0). The caller sends `body_len` bytes of body after it.
/// Fields go in field-number order, as prost writes them. Fails when the
/// message would not fit gRPC's 32-bit length.
pub fn flight_data_head(
    descriptor: Option<&[u8]>,
    data_header: &[u8],
    app_metadata: &[u8],
    body_len: usize,
) -> Result<Vec<u8>> {
    let field_len =
        |tag_len: usize, len: usize| (tag_len as u64) + varint_len(len as u64) as u64 + len as u64;
    let mut total = 0u64;
    if let Some(d) = descriptor {
        total += field_len(1, d.len());
    }
    if !data_header.is_empty() {
        total += field_len(1, data_header.len());
    }
    if !app_metadata.is_empty() {
        total += field_len(1, app_metadata.len());
    }
    if body_len > 0 {
        total += field_len(2, body_len);
    }
    let len = u32::try_from(total).map_err(|_| {
        Error::new(
            ErrorKind::LimitExceeded,
            format!("a FlightData of {total} bytes does not fit gRPC's 32-bit message length"),
        )
    })?;
    let mut out = Vec::with_capacity(GRPC_PREFIX_LEN + (total - body_len as u64) as usize);
    out.extend_from_slice(&super::grpc_prefix(len));
    let mut field = |number: u32, bytes: &[u8]| {
        put_varint(Tag::value(number, WireType::LengthDelimited), &mut out);
        put_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
    };
    if let Some(d) = descriptor {
        field(FIELD_DESCRIPTOR, d);
    }
    if !data_header.is_empty() {
        field(FIELD_HEADER, data_header);
    }
    if !app_metadata.is_empty() {
        field(FIELD_METADATA, app_metadata);
    }
    if body_len > 0 {
        put_varint(Tag::value(FIELD_BODY, WireType::LengthDelimited), &mut out);
        put_varint(body_len as u64, &mut out);
    }
    Ok(out)
}

/// Splits one whole encapsulated IPC message (continuation, length,
/// metadata, padding, body) into the ranges of its metadata (the
/// `data_header`, padding included) and its body (the `data_body`). The
/// prefix, metadata and every length are checked as [`inspect_message`]
/// checks them (without limits: these are the caller's own messages). The
/// end-of-stream marker gives two empty ranges (Flight sends none: skip it).
pub fn split_encapsulated(message: &[u8]) -> Result<(Range<usize>, Range<usize>)> {
    let limits = DecodeLimits {
        max_metadata_bytes: i32::MAX as usize,
        max_body_bytes: usize::MAX,
        ..DecodeLimits::DEFAULT
    };
    let info = inspect_message(message, &limits)?;
    if info.kind == MessageKind::EndOfStream {
        let end = info.head_len;
        return Ok((end..end, end..end));
    }
    let prefix = if message.starts_with(&CONTINUATION_MARKER) {
        8
    } else {
        4
    };
    Ok((prefix..info.head_len, info.head_len..message.len()))
}
