//! Tables arriving over time: a WebSocket ([`connect`]; the browser's, or in
//! Node.js the global one or one passed as `options.WebSocket`) or a
//! `ReadableStream` of byte chunks ([`read_stream`]), both as a
//! [`TableStream`] whose `next()` JavaScript awaits (the npm package makes it
//! an async iterable).
//!
//! WebSocket: `binaryType = "arraybuffer"`; each binary message is one IPC
//! message (docs/websocket-protocol.md) and is copied once into 64-byte
//! aligned wasm memory by [`ChunkDecoder::push_message`] as it arrives. The
//! table of a one-table message keeps the message's `ArrayBuffer` with the
//! span its body was copied to ([`WireView`]), so that `exportParts` can
//! hand out views of the message instead of second copies. The browser
//! WebSocket API cannot pause a sender, so messages are decoded as they come
//! and the tables queue until JavaScript takes them (with `eagerParts`, as
//! their `exportParts` result, made on arrival: the body's wasm memory is then
//! freed at once and the next message reuses it); `maxBufferedBytes`
//! bounds that queue (exceeding it fails the stream rather than growing
//! memory without bound). After the end-of-stream marker the socket stays
//! open until the server's Close frame arrives, which the browser answers:
//! the clean close of the protocol.
//!
//! `ReadableStream`: chunks are read only when `next()` needs a table, so a
//! slow consumer holds back the producer (the stream's own backpressure).
//!
//! `connect` offers the subprotocol [`SUBPROTOCOL`] and, with a token, a
//! second one [`TOKEN_PREFIX`]`<token>` (a browser cannot set WebSocket
//! headers); the server must answer [`SUBPROTOCOL`]. Every error `next()` or
//! `connect` rejects with is an `Error` whose `kind` says what failed (see
//! [`Failure`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use js_sys::{ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use lightstream_core::minarrow::Table as MTable;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{
    BinaryType, CloseEvent, Event, MessageEvent, ReadableStreamDefaultReader, WebSocket,
};

use crate::decoder::{ChunkDecoder, option_f64, options_read, skipped_to_js};
use crate::table::{Table, WireView, fields_to_js, metadata_to_js};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Default of `maxBufferedBytes`: decoded bytes waiting for JavaScript.
const DEFAULT_MAX_BUFFERED: f64 = 512.0 * 1024.0 * 1024.0;
/// Default of `timeoutMs`: how long `connect` waits for the schema.
const DEFAULT_TIMEOUT_MS: f64 = 30_000.0;

/// The WebSocket subprotocol of docs/websocket-protocol.md, offered by
/// `connect` and required in the server's answer.
pub const SUBPROTOCOL: &str = "lightstream.arrow.v1";
/// A bearer token travels as the subprotocol `lightstream.token.<token>`
/// (the server never echoes it).
pub const TOKEN_PREFIX: &str = "lightstream.token.";

/// Checks a bearer token before it goes on the wire: non-empty, at most 4 KiB,
/// and only the characters a subprotocol name (an RFC 9110 `token`) may hold,
/// so that the same token works in `Sec-WebSocket-Protocol` and in
/// `Authorization: Bearer` (base64url, hex and JWTs qualify). The message
/// names the first bad position, never the token.
pub fn check_token(token: &str) -> Result<(), String> {
    const MAX: usize = 4096;
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    if token.len() > MAX {
        return Err(format!(
            "the token is {} bytes long, more than {MAX}",
            token.len()
        ));
    }
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    match token.chars().position(|c| !is_tchar(c)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "character {} of the token is not allowed: a token may hold only \
             letters, digits and !#$%&'*+-.^_`|~ (base64url qualifies)",
            i + 1
        )),
    }
}

/// `checkToken(token)`: the token itself when [`check_token`] accepts it,
/// else an `Error` with `kind: "Token"` (the npm package's `openStream` checks
/// its `token` option with it, so both transports accept the same tokens).
#[wasm_bindgen(js_name = checkToken)]
pub fn check_token_js(token: JsValue) -> Result<String, JsValue> {
    let Some(t) = token.as_string() else {
        return Err(Failure::new("Token", "option token must be a string").to_js());
    };
    check_token(&t).map_err(|e| Failure::new("Token", format!("option token: {e}")).to_js())?;
    Ok(t)
}

/// What went wrong with a stream: the message and a `kind` JavaScript can
/// branch on: the core's [`lightstream_core::ErrorKind`] name for a decoding
/// error (`Malformed`, `Truncated`, `LimitExceeded`, ...), `Truncated` too
/// when the source ended or failed before the end-of-stream marker,
/// `Connect`, `Protocol` (a text message, a wrong subprotocol), `Timeout`,
/// `Aborted` (the `ReadableStream` was aborted, or `connect`'s `signal`), `Token`, `LimitExceeded`
/// (`maxBufferedBytes`).
pub struct Failure {
    message: String,
    kind: &'static str,
}

impl Failure {
    fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            kind,
        }
    }

    /// A core error, its kind kept.
    fn core(e: &lightstream_core::Error) -> Failure {
        use lightstream_core::ErrorKind as K;
        let kind = match e.kind() {
            K::Malformed => "Malformed",
            K::Unsupported => "Unsupported",
            K::LimitExceeded => "LimitExceeded",
            K::InvalidData => "InvalidData",
            K::Truncated => "Truncated",
            K::Compression => "Compression",
            K::Schema => "Schema",
            _ => "Io",
        };
        Failure::new(kind, e.to_string())
    }

    /// A JS `Error` with this message and a `kind` property.
    fn to_js(&self) -> JsValue {
        let err = js_sys::Error::new(&self.message);
        let _ = Reflect::set(&err, &"kind".into(), &self.kind.into());
        err.into()
    }
}

type Handler<T> = Closure<dyn FnMut(T)>;

/// The event handlers of a WebSocket source (dropped with the stream).
struct WsHandlers {
    _message: Handler<MessageEvent>,
    _close: Handler<CloseEvent>,
    _error: Handler<Event>,
    _open: Handler<Event>,
    _timeout: Option<(Closure<dyn FnMut()>, JsValue)>,
    /// `options.signal` and its `abort` listener (removed on drop).
    abort: Option<(JsValue, Closure<dyn FnMut()>)>,
}

/// `options.signal` when it is set: an `AbortSignal` (anything with
/// `aborted` and `addEventListener`; read through `Reflect`, so the crate
/// needs no web-sys feature for it).
fn option_signal(options: &JsValue) -> Result<Option<JsValue>, JsValue> {
    if !options.is_object() {
        return Ok(None);
    }
    let signal = Reflect::get(options, &"signal".into())?;
    if signal.is_undefined() || signal.is_null() {
        return Ok(None);
    }
    let listens = signal.is_object()
        && Reflect::get(&signal, &"addEventListener".into()).is_ok_and(|f| f.is_function());
    if !listens {
        return Err(Failure::new("Unsupported", "option signal must be an AbortSignal").to_js());
    }
    Ok(Some(signal))
}

fn signal_aborted(signal: &JsValue) -> bool {
    Reflect::get(signal, &"aborted".into()).is_ok_and(|a| a.is_truthy())
}

/// Calls `signal.addEventListener` / `removeEventListener` (`method`) for
/// `abort` with `listener`.
fn signal_listen(signal: &JsValue, method: &str, listener: &Closure<dyn FnMut()>) {
    if let Ok(f) = Reflect::get(signal, &method.into())
        && let Some(f) = f.dyn_ref::<Function>()
    {
        let _ = f.call2(signal, &"abort".into(), listener.as_ref());
    }
}

impl Drop for WsHandlers {
    fn drop(&mut self) {
        if let Some((signal, listener)) = self.abort.take() {
            signal_listen(&signal, "removeEventListener", &listener);
        }
    }
}

/// Where a [`TableStream`]'s bytes come from: a browser WebSocket or the
/// reader of a `ReadableStream`.
enum JsSource {
    WebSocket {
        ws: WebSocket,
        url: String,
        handlers: Option<WsHandlers>,
        error_seen: bool,
    },
    Readable {
        reader: ReadableStreamDefaultReader,
        reading: bool,
    },
}

/// A decoded table waiting for JavaScript, and its share of the bytes
/// counted against `maxBufferedBytes`.
struct Queued {
    item: Item,
    rows: usize,
    bytes: usize,
}

/// What waits in the queue: a wasm table (with its `keepIpc` messages and
/// the message its buffers may be viewed in), or, with `eagerParts`, its
/// `exportParts` result, made as the message arrived so that the body's wasm
/// memory is freed at once and the next message's body reuses its (already
/// touched) pages.
enum Item {
    Table(MTable, Option<JsValue>, Option<WireView>),
    Parts(JsValue),
}

/// The state of one [`TableStream`], shared with its event handlers and
/// pending `next()` calls.
struct StreamState {
    source: JsSource,
    decoder: ChunkDecoder,
    queue: VecDeque<Queued>,
    /// With `keepIpc`: the messages each table's `toIPC()` hands on.
    wire: Option<WireKeep>,
    queued_bytes: usize,
    max_buffered: usize,
    /// `eagerParts`: tables are queued as their `exportParts` result.
    eager_parts: bool,
    /// A terminal error, reported once by `next()`.
    error: Option<Failure>,
    /// The stream is over (end marker consumed, closed, or failed).
    finished: bool,
    closed_by_user: bool,
    waiters: Vec<Function>,
    tables_read: u64,
    rows_read: u64,
}

impl StreamState {
    fn new(source: JsSource, decoder: ChunkDecoder, max_buffered: usize) -> StreamState {
        StreamState {
            source,
            decoder,
            queue: VecDeque::new(),
            wire: None,
            queued_bytes: 0,
            max_buffered,
            eager_parts: false,
            error: None,
            finished: false,
            closed_by_user: false,
            waiters: Vec::new(),
            tables_read: 0,
            rows_read: 0,
        }
    }

    /// Wakes every pending `next()` / `connect` so it looks at the state again.
    fn wake(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.call0(&JsValue::UNDEFINED);
        }
    }

    fn fail(&mut self, failure: Failure) {
        if self.error.is_none() && !self.finished {
            self.error = Some(failure);
        }
        self.finished = true;
        self.stop_source(1002, "lightstream: stream failed");
        self.wake();
    }

    fn stop_source(&mut self, code: u16, reason: &str) {
        match &mut self.source {
            JsSource::WebSocket { ws, handlers, .. } => {
                if ws.ready_state() <= WebSocket::OPEN {
                    let _ = ws.close_with_code_and_reason(code, reason);
                }
                if let Some(h) = handlers.as_mut()
                    && let Some((_, id)) = h._timeout.take()
                {
                    clear_timeout(&id);
                }
            }
            JsSource::Readable { reader, .. } => {
                // On a stream that already failed (a body cut by the network)
                // `cancel()` rejects with that failure, which `next()` has
                // reported: await it here, or the page sees an uncaught
                // rejection.
                let cancelled = JsFuture::from(reader.cancel());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = cancelled.await;
                });
            }
        }
    }

    /// Decoded tables of one WebSocket message (or chunk) join the queue.
    fn accept(
        &mut self,
        tables: Vec<(MTable, Option<WireView>)>,
        message_bytes: usize,
        wire: Option<JsValue>,
    ) {
        let n = tables.len().max(1);
        for (table, view) in tables {
            let bytes = message_bytes / n;
            let rows = table.n_rows;
            let item = match self.decoder.schema() {
                Some(schema) if self.eager_parts => {
                    let t = Table::new(schema.clone(), table)
                        .with_wire(wire.clone())
                        .with_view(view);
                    match crate::parts::table_parts(t) {
                        Ok(parts) => Item::Parts(parts),
                        Err((kind, message)) => return self.fail(Failure::new(kind, message)),
                    }
                }
                _ => Item::Table(table, wire.clone(), view),
            };
            self.queued_bytes += bytes;
            self.queue.push_back(Queued { item, rows, bytes });
        }
        if self.queued_bytes > self.max_buffered {
            let msg = format!(
                "{} bytes of tables are waiting to be read, more than maxBufferedBytes ({}): \
                 the consumer is too slow for this stream",
                self.queued_bytes, self.max_buffered
            );
            self.fail(Failure::new("LimitExceeded", msg));
        }
    }

    /// The next table for JavaScript: a wasm `Table`, or its parts.
    fn pop(&mut self) -> Option<JsValue> {
        let Queued { item, rows, bytes } = self.queue.pop_front()?;
        self.queued_bytes -= bytes;
        self.tables_read += 1;
        self.rows_read += rows as u64;
        match item {
            Item::Parts(parts) => Some(parts),
            Item::Table(table, wire, view) => {
                let schema = self.decoder.schema()?.clone();
                Some(
                    Table::new(schema, table)
                        .with_wire(wire)
                        .with_view(view)
                        .into(),
                )
            }
        }
    }
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if let JsSource::WebSocket { ws, handlers, .. } = &mut self.source {
            // The handlers die with this struct: unhook them first so the
            // browser never calls a dropped closure.
            ws.set_onmessage(None);
            ws.set_onclose(None);
            ws.set_onerror(None);
            ws.set_onopen(None);
            if let Some(h) = handlers.as_mut()
                && let Some((_, id)) = h._timeout.take()
            {
                clear_timeout(&id);
            }
            if ws.ready_state() <= WebSocket::OPEN {
                let _ = ws.close_with_code(1000);
            }
        }
    }
}

/// The IPC messages of a WebSocket stream kept for `toIPC()` (`keepIpc`):
/// the schema message and every dictionary message so far, as the
/// `Uint8Array`s of the WebSocket messages that brought them (no copy: one
/// IPC message per WebSocket message, docs/websocket-protocol.md). A batch's
/// table gets `[schema, ...dictionaries, batch]`; the end marker is added
/// by `toIPC()`.
#[derive(Default)]
struct WireKeep {
    schema: Option<JsValue>,
    dictionaries: Vec<JsValue>,
    /// A message held several IPC messages: what follows cannot be split.
    broken: bool,
}

impl WireKeep {
    /// Files one WebSocket message by what decoding it did: the schema
    /// arrived, one table came out (a record batch: its wire), nothing came
    /// out before the end (a dictionary batch).
    fn message(
        &mut self,
        bytes: &Uint8Array,
        had_schema: bool,
        tables: usize,
        ended: bool,
    ) -> Option<JsValue> {
        if self.broken {
            return None;
        }
        if !had_schema {
            self.schema = Some(bytes.clone().into());
            // A schema and more in one message cannot be split apart here.
            self.broken = tables > 0;
            return None;
        }
        match (tables, ended) {
            (0, false) => {
                self.dictionaries.push(bytes.clone().into());
                None
            }
            (1, _) => {
                let all = js_sys::Array::new();
                all.push(self.schema.as_ref()?);
                for d in &self.dictionaries {
                    all.push(d);
                }
                all.push(bytes);
                Some(all.into())
            }
            (0, true) => None,
            _ => {
                self.broken = true;
                None
            }
        }
    }
}

/// A stream of tables (WebSocket or `ReadableStream`): await `next()` until
/// `done`, or use `for await` through the npm package.
#[wasm_bindgen]
pub struct TableStream {
    inner: Rc<RefCell<StreamState>>,
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let obj = Object::new();
    let _ = Reflect::set(&obj, &"value".into(), &value);
    let _ = Reflect::set(&obj, &"done".into(), &JsValue::from_bool(done));
    obj.into()
}

/// What a waiting `next()` should do after looking at the state.
enum Step {
    Ready(JsValue),
    Failed(Failure),
    Wait(Promise),
    Read(ReadableStreamDefaultReader),
}

fn next_step(inner: &Rc<RefCell<StreamState>>) -> Step {
    let mut st = inner.borrow_mut();
    if let Some(t) = st.pop() {
        return Step::Ready(iter_result(t, false));
    }
    if let Some(e) = st.error.take() {
        return Step::Failed(e);
    }
    if st.finished || st.decoder.is_ended() {
        st.finished = true;
        return Step::Ready(iter_result(JsValue::UNDEFINED, true));
    }
    match &mut st.source {
        JsSource::Readable { reader, reading } if !*reading => {
            *reading = true;
            Step::Read(reader.clone())
        }
        _ => {
            let mut resolve = None;
            let p = Promise::new(&mut |res, _rej| resolve = Some(res));
            if let Some(r) = resolve {
                st.waiters.push(r);
            }
            Step::Wait(p)
        }
    }
}

/// Reads one chunk of a `ReadableStream` source into the decoder.
async fn read_chunk(inner: &Rc<RefCell<StreamState>>, reader: ReadableStreamDefaultReader) {
    let result = JsFuture::from(reader.read()).await;
    let mut st = inner.borrow_mut();
    if let JsSource::Readable { reading, .. } = &mut st.source {
        *reading = false;
    }
    if st.finished {
        st.wake();
        return;
    }
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            // A body cut by the network (a server that died or aborted the
            // response) errors the stream: bytes are missing.
            let aborted = e
                .dyn_ref::<js_sys::Error>()
                .is_some_and(|e| e.name() == "AbortError");
            let kind = if aborted { "Aborted" } else { "Truncated" };
            let bytes = st.decoder.bytes();
            st.fail(Failure::new(
                kind,
                format!(
                    "the ReadableStream failed after {bytes} bytes, before the end-of-stream \
                     marker: {}",
                    describe(&e)
                ),
            ));
            return;
        }
    };
    let done = Reflect::get(&result, &"done".into())
        .map(|d| d.is_truthy())
        .unwrap_or(true);
    if done {
        match st.decoder.finish() {
            Ok(()) => st.finished = true,
            Err(e) => st.fail(Failure::core(&e)),
        }
        st.wake();
        return;
    }
    let value = Reflect::get(&result, &"value".into()).unwrap_or(JsValue::UNDEFINED);
    let Some(chunk) = value.dyn_ref::<Uint8Array>() else {
        st.fail(Failure::new(
            "Protocol",
            "readStream: the ReadableStream gave a chunk that is not a Uint8Array",
        ));
        return;
    };
    let mut out = Vec::new();
    match st.decoder.push(chunk, &mut out) {
        Ok(()) => {
            let len = chunk.length() as usize;
            // Chunks need not align with messages: their tables are copied.
            st.accept(out.into_iter().map(|t| (t, None)).collect(), len, None);
        }
        Err(e) => st.fail(Failure::core(&e)),
    }
    st.wake();
}

fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// The next table: `{ value: Table, done: false }`, or `{ done: true }`.
async fn next_item(inner: Rc<RefCell<StreamState>>) -> Result<JsValue, JsValue> {
    loop {
        match next_step(&inner) {
            Step::Ready(v) => return Ok(v),
            Step::Failed(e) => return Err(e.to_js()),
            Step::Wait(p) => {
                JsFuture::from(p).await?;
            }
            Step::Read(reader) => read_chunk(&inner, reader).await,
        }
    }
}

#[wasm_bindgen]
impl TableStream {
    /// `Promise<{value: Table, done: false} | {value: undefined, done: true}>`.
    pub fn next(&self) -> Promise {
        future_to_promise(next_item(self.inner.clone()))
    }

    /// Closes the stream (what `break` out of `for await` calls).
    #[wasm_bindgen(js_name = "return")]
    pub fn return_(&self) -> Promise {
        self.close();
        Promise::resolve(&iter_result(JsValue::UNDEFINED, true))
    }

    /// Closes the WebSocket (code 1000) or cancels the ReadableStream; a
    /// pending `next()` then resolves `{done: true}`. Idempotent.
    pub fn close(&self) {
        let mut st = self.inner.borrow_mut();
        if !st.finished {
            st.closed_by_user = true;
            st.finished = true;
        }
        st.queue.clear();
        st.queued_bytes = 0;
        st.stop_source(1000, "");
        st.wake();
    }

    /// The columns left out by `skipUnsupported`, `[{name, type}]` (empty
    /// until the schema message arrived, and when nothing was skipped).
    #[wasm_bindgen(getter)]
    pub fn skipped(&self) -> Result<js_sys::Array, JsError> {
        skipped_to_js(self.inner.borrow().decoder.skipped())
    }

    /// The schema's fields (`null` until the schema message arrived).
    #[wasm_bindgen(getter)]
    pub fn schema(&self) -> Result<JsValue, JsError> {
        match self.inner.borrow().decoder.schema() {
            Some(s) => Ok(fields_to_js(s)?.into()),
            None => Ok(JsValue::NULL),
        }
    }

    /// The schema's custom metadata.
    #[wasm_bindgen(getter)]
    pub fn metadata(&self) -> Result<Object, JsError> {
        match self.inner.borrow().decoder.schema() {
            Some(s) => metadata_to_js(&s.metadata),
            None => Ok(Object::new()),
        }
    }

    /// Tables handed out so far.
    #[wasm_bindgen(getter, js_name = tablesRead)]
    pub fn tables_read(&self) -> f64 {
        self.inner.borrow().tables_read as f64
    }

    /// Rows handed out so far.
    #[wasm_bindgen(getter, js_name = rowsRead)]
    pub fn rows_read(&self) -> f64 {
        self.inner.borrow().rows_read as f64
    }

    /// Bytes received so far.
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.inner.borrow().decoder.bytes() as f64
    }
}

/// Reads a number option (`undefined` / `null` when absent).
fn buffered_limit(options: &JsValue) -> Result<usize, JsError> {
    let v = option_f64(options, "maxBufferedBytes")?.unwrap_or(DEFAULT_MAX_BUFFERED);
    if !(v.is_finite() && v >= 1.0) {
        return Err(JsError::new(&format!(
            "maxBufferedBytes must be a positive number, not {v}"
        )));
    }
    Ok(v as usize)
}

fn on_message(weak: &Weak<RefCell<StreamState>>, ev: MessageEvent) {
    let Some(inner) = weak.upgrade() else { return };
    let mut st = inner.borrow_mut();
    if st.finished {
        return;
    }
    let data = ev.data();
    let Some(buf) = data.dyn_ref::<ArrayBuffer>() else {
        let what = if data.is_string() {
            "a text message"
        } else {
            "a non-binary message"
        };
        st.fail(Failure::new(
            "Protocol",
            format!("the server sent {what}; Lightstream streams are binary WebSocket messages"),
        ));
        return;
    };
    let bytes = Uint8Array::new(buf);
    let len = bytes.length() as usize;
    let mut out = Vec::new();
    let had_schema = st.decoder.schema().is_some();
    let result = st.decoder.push_message(&bytes, &mut out);
    match result {
        Ok(()) => {
            let ended = st.decoder.is_ended();
            let wire = st
                .wire
                .as_mut()
                .and_then(|w| w.message(&bytes, had_schema, out.len(), ended));
            // Wire views (`exportParts` makes the table's in-place buffers
            // views of this ArrayBuffer instead of copies). Sound because the
            // core decoded and validated the copy of the body in wasm memory,
            // which is byte for byte `buf` at the span's offsets, and nothing
            // else holds `buf` to change it: it is this event's `data`, seen
            // only by this handler (and kept, unchanged, by `keepIpc`). Only
            // for a message of one table, so that a Worker moving it to the
            // page never detaches it under another table still queued.
            let one = out.len() == 1;
            let tables = out
                .into_iter()
                .map(|(t, span)| {
                    let view = span.filter(|_| one).map(|span| WireView {
                        buffer: buf.clone(),
                        span,
                    });
                    (t, view)
                })
                .collect();
            st.accept(tables, len, wire);
            st.wake();
        }
        Err(e) => st.fail(Failure::core(&e)),
    }
}

fn on_close(weak: &Weak<RefCell<StreamState>>, ev: CloseEvent) {
    let Some(inner) = weak.upgrade() else { return };
    let mut guard = inner.borrow_mut();
    let st = &mut *guard;
    let JsSource::WebSocket {
        handlers,
        url,
        error_seen,
        ..
    } = &mut st.source
    else {
        return;
    };
    if let Some(h) = handlers.as_mut()
        && let Some((_, id)) = h._timeout.take()
    {
        clear_timeout(&id);
    }
    if !st.finished && !st.decoder.is_ended() {
        let (code, reason) = (ev.code(), ev.reason());
        let bytes = st.decoder.bytes();
        st.error = Some(if *error_seen && bytes == 0 {
            Failure::new(
                "Connect",
                format!(
                    "could not connect to {url} (WebSocket error, close code {code}; \
                     the server may have refused the request, e.g. its Origin or token, \
                     or not answered the subprotocol {SUBPROTOCOL})"
                ),
            )
        } else {
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(", reason \"{reason}\"")
            };
            Failure::new(
                "Truncated",
                format!(
                    "the connection to {url} closed before the end-of-stream marker \
                     (close code {code}{reason}, after {bytes} bytes)"
                ),
            )
        });
    }
    st.finished = true;
    st.wake();
}

/// The subprotocols `connect` offers: [`SUBPROTOCOL`], then the token's.
fn subprotocols(options: &JsValue) -> Result<js_sys::Array, JsValue> {
    let protocols = js_sys::Array::of1(&SUBPROTOCOL.into());
    let token = match Reflect::get(options, &"token".into()) {
        Ok(t) if !(t.is_undefined() || t.is_null()) => t,
        _ => return Ok(protocols),
    };
    let token = check_token_js(token)?;
    protocols.push(&format!("{TOKEN_PREFIX}{token}").into());
    Ok(protocols)
}

/// Checks the subprotocol the server chose once the WebSocket is open.
/// Browsers already fail a handshake whose answer names a subprotocol that was
/// not offered, or (Chromium) none at all; this catches the rest.
fn on_open(weak: &Weak<RefCell<StreamState>>) {
    let Some(inner) = weak.upgrade() else { return };
    let mut st = inner.borrow_mut();
    let JsSource::WebSocket { ws, url, .. } = &st.source else {
        return;
    };
    let chosen = ws.protocol();
    if chosen != SUBPROTOCOL {
        let msg = format!(
            "{url} answered the subprotocol \"{chosen}\", not {SUBPROTOCOL}: \
             it is not a Lightstream server of this protocol version"
        );
        st.fail(Failure::new("Protocol", msg));
    }
}

/// The constructor `connect` opens its WebSocket with: `options.WebSocket`
/// (an implementation of the browser's WebSocket API, such as the `ws`
/// package's in Node.js) or else the global `WebSocket`; neither is a
/// `Connect` failure that says where to get one.
fn websocket_constructor(options: &JsValue) -> Result<Function, JsValue> {
    let given = if options.is_object() {
        Reflect::get(options, &"WebSocket".into())?
    } else {
        JsValue::UNDEFINED
    };
    if !(given.is_undefined() || given.is_null()) {
        return given.dyn_into::<Function>().map_err(|v| {
            JsError::new(&format!(
                "option WebSocket must be a WebSocket constructor (a function), not {}",
                describe(&v)
            ))
            .into()
        });
    }
    Reflect::get(&js_sys::global(), &"WebSocket".into())?
        .dyn_into::<Function>()
        .map_err(|_| {
            Failure::new(
                "Connect",
                "this JavaScript environment has no global WebSocket (Node.js has one \
                 from version 22, or 20 and 21 with --experimental-websocket): pass an \
                 implementation as options.WebSocket, e.g. the `ws` package's",
            )
            .to_js()
        })
}

/// `connect(url, options?)`: opens a WebSocket offering [`SUBPROTOCOL`] (and
/// `options.token` as [`TOKEN_PREFIX`]`<token>`) and resolves to a
/// [`TableStream`] once the schema message has arrived. `options`:
/// `maxMessageBytes`, `compactDictionaries` (see
/// [`crate::decoder::options_read`]), `timeoutMs`, `maxBufferedBytes`,
/// `eagerParts` (`next()` yields each table's `exportParts` result, made as its
/// message arrived: what the npm package's Worker posts), `token`,
/// `signal` (an `AbortSignal`: aborting rejects a pending `connect` or
/// `next()` with kind `Aborted` and closes the socket), `WebSocket` (see
/// `websocket_constructor`).
#[wasm_bindgen]
pub fn connect(url: String, options: JsValue) -> Result<Promise, JsValue> {
    let timeout = option_f64(&options, "timeoutMs")?.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(timeout.is_finite() && timeout >= 0.0) {
        return Err(JsError::new(&format!(
            "timeoutMs must be a non-negative number, not {timeout}"
        ))
        .into());
    }
    let read_options = options_read(&options)?;
    let max_buffered = buffered_limit(&options)?;
    let signal = option_signal(&options)?;
    if let Some(sig) = &signal
        && signal_aborted(sig)
    {
        return Err(Failure::new("Aborted", format!("connect({url}) was aborted")).to_js());
    }
    let keep_ipc = crate::decoder::option_bool(&options, "keepIpc")?.unwrap_or(false);
    let eager_parts = crate::decoder::option_bool(&options, "eagerParts")?.unwrap_or(false);
    let protocols = if options.is_object() {
        subprotocols(&options)?
    } else {
        js_sys::Array::of1(&SUBPROTOCOL.into())
    };
    let ws = Reflect::construct(
        &websocket_constructor(&options)?,
        &js_sys::Array::of2(&url.as_str().into(), &protocols),
    )
    .map_err(|e| {
        Failure::new(
            "Connect",
            format!("cannot connect to {url}: {}", describe(&e)),
        )
        .to_js()
    })?;
    if !Reflect::get(&ws, &"readyState".into()).is_ok_and(|v| v.as_f64().is_some()) {
        return Err(JsError::new(
            "option WebSocket made an object without a numeric readyState: \
             it is not a WebSocket of the browser's API",
        )
        .into());
    }
    let ws: WebSocket = ws.unchecked_into();
    ws.set_binary_type(BinaryType::Arraybuffer);
    let inner = Rc::new(RefCell::new(StreamState::new(
        JsSource::WebSocket {
            ws: ws.clone(),
            url: url.clone(),
            handlers: None,
            error_seen: false,
        },
        ChunkDecoder::new(read_options),
        max_buffered,
    )));
    if keep_ipc {
        inner.borrow_mut().wire = Some(WireKeep::default());
    }
    inner.borrow_mut().eager_parts = eager_parts;

    let weak = Rc::downgrade(&inner);
    let message: Handler<MessageEvent> = Closure::new({
        let weak = weak.clone();
        move |ev: MessageEvent| on_message(&weak, ev)
    });
    let close: Handler<CloseEvent> = Closure::new({
        let weak = weak.clone();
        move |ev: CloseEvent| on_close(&weak, ev)
    });
    let error: Handler<Event> = Closure::new({
        let weak = weak.clone();
        move |_ev: Event| {
            if let Some(inner) = weak.upgrade()
                && let JsSource::WebSocket { error_seen, .. } = &mut inner.borrow_mut().source
            {
                // The browser gives no detail; the close event that always
                // follows reports the failure.
                *error_seen = true;
            }
        }
    });
    let open: Handler<Event> = Closure::new({
        let weak = weak.clone();
        move |_ev: Event| on_open(&weak)
    });
    let timer: Closure<dyn FnMut()> = Closure::new({
        let weak = weak.clone();
        let url = url.clone();
        move || {
            if let Some(inner) = weak.upgrade() {
                let mut st = inner.borrow_mut();
                if st.decoder.schema().is_none() && !st.finished {
                    st.fail(Failure::new(
                        "Timeout",
                        format!("no schema from {url} within {timeout} ms (timeoutMs)"),
                    ));
                }
            }
        }
    });
    ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(error.as_ref().unchecked_ref()));
    ws.set_onopen(Some(open.as_ref().unchecked_ref()));
    let timer_id = set_timeout(timer.as_ref().unchecked_ref(), timeout);
    // An abort fails the stream (a pending `connect` or `next()` rejects with
    // kind `Aborted`) and closes the socket with code 1000.
    let abort = signal.map(|sig| {
        let listener: Closure<dyn FnMut()> = Closure::new({
            let weak = weak.clone();
            let url = url.clone();
            move || {
                if let Some(inner) = weak.upgrade() {
                    let mut st = inner.borrow_mut();
                    if !st.finished {
                        st.error = Some(Failure::new(
                            "Aborted",
                            format!("the stream from {url} was aborted"),
                        ));
                        st.finished = true;
                        st.queue.clear();
                        st.queued_bytes = 0;
                        st.stop_source(1000, "");
                        st.wake();
                    }
                }
            }
        });
        signal_listen(&sig, "addEventListener", &listener);
        (sig, listener)
    });
    if let JsSource::WebSocket { handlers, .. } = &mut inner.borrow_mut().source {
        *handlers = Some(WsHandlers {
            _message: message,
            _close: close,
            _error: error,
            _open: open,
            _timeout: Some((timer, timer_id)),
            abort,
        });
    }

    Ok(future_to_promise(async move {
        loop {
            let wait = {
                let mut st = inner.borrow_mut();
                if st.decoder.schema().is_some() {
                    if let JsSource::WebSocket { handlers, .. } = &mut st.source
                        && let Some(h) = handlers.as_mut()
                        && let Some((_, id)) = h._timeout.take()
                    {
                        clear_timeout(&id);
                    }
                    break;
                }
                if let Some(e) = st.error.take() {
                    return Err(e.to_js());
                }
                if st.finished {
                    return Err(Failure::new(
                        "Truncated",
                        "the connection was closed before the schema arrived",
                    )
                    .to_js());
                }
                let mut resolve = None;
                let p = Promise::new(&mut |res, _| resolve = Some(res));
                if let Some(r) = resolve {
                    st.waiters.push(r);
                }
                p
            };
            JsFuture::from(wait).await?;
        }
        Ok(TableStream { inner }.into())
    }))
}

/// `readStream(readable, options?)`: the tables of an IPC stream arriving as
/// a `ReadableStream` of `Uint8Array` chunks (any sizes). `options` as for
/// `connect`: `maxMessageBytes`, `compactDictionaries`.
#[wasm_bindgen(js_name = readStream)]
pub fn read_stream(
    readable: web_sys::ReadableStream,
    options: JsValue,
) -> Result<TableStream, JsError> {
    let read_options = options_read(&options)?;
    let reader: ReadableStreamDefaultReader = readable
        .get_reader()
        .dyn_into()
        .map_err(|_| JsError::new("readStream: could not get a default reader of the stream"))?;
    Ok(TableStream {
        inner: Rc::new(RefCell::new(StreamState::new(
            JsSource::Readable {
                reader,
                reading: false,
            },
            ChunkDecoder::new(read_options),
            usize::MAX,
        ))),
    })
}

#[cfg(test)]
mod tests {
    use super::check_token;

    #[test]
    fn tokens_are_subprotocol_token_characters() {
        for good in ["a", "abc-DEF_123", "eyJ0.eyJ1.c2ln", "x!#$%&'*+-.^_`|~"] {
            assert_eq!(check_token(good), Ok(()), "{good:?}");
        }
        let long = "a".repeat(4097);
        for (bad, says) in [
            ("", "empty"),
            ("a b", "character 2"),
            ("a,b", "character 2"),
            ("tok=", "character 4"),
            ("é", "character 1"),
            ("a\r\nb", "character 2"),
            (long.as_str(), "4097 bytes"),
        ] {
            let e = check_token(bad).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
