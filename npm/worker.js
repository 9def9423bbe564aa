// The Worker side of `connect` / `openStream` / `readStream` with
// `{ worker: true }` (issue 19): a dedicated module Worker that loads the
// wasm module, owns the WebSocket (or the fetch, or the transferred
// ReadableStream), decodes there, turns each table into "parts" with
// `exportParts` (its column buffers views of the WebSocket message's own
// ArrayBuffer where they can be, else copied once out of wasm memory into
// fresh ArrayBuffers) and posts them to the page with `transferList(parts)`,
// a zero-copy move (the message, listed once, moves with them). The page side is npm/worker-client.js; the messages:
//
//   page -> worker  { type: 'open', sid, kind: 'ws' | 'http' | 'readable', url?,
//                     readable?, options, module?, credits }   (again after
//                     'end': the page reuses a worker whose stream ended)
//                   { type: 'credit', n }   the page may take n more tables
//                   { type: 'close' }       close the source, then 'closed'
//   worker -> page  (each also with the `sid` of the 'open' it answers)
//                   { type: 'open', schema, metadata }   (ws: the schema
//                     arrived; http: the answer was accepted; readable: at once)
//                   { type: 'table', parts, schema?, metadata?, bytesRead }
//                   { type: 'end', bytesRead }
//                   { type: 'error', error: { name, message, kind, ... } }
//                   { type: 'closed' }
//
// Backpressure: the worker takes a table from the decoder only while it has
// credit, so an HTTP body or a ReadableStream is read no faster than the page
// takes tables. A WebSocket cannot pause its sender: its messages are decoded
// as they arrive and wait in the worker, bounded by `maxBufferedBytes`, as on
// the main thread; they wait as parts (`eagerParts`), made on arrival, so the
// wasm memory of each body is freed at once and reused by the next message.
import init from './index.js';
import { fetchArrowBody } from './http.js';
import * as wasm from './pkg/lightstream_wasm.js';
import { transferList } from './table.js';

let stream = null;
let credits = 0;
let pumping = false;
let closed = false;
let schemaSent = false;
// Aborts what `open` started (the WebSocket's connect, the fetch) on close.
let abort = new AbortController();
// The stream this worker serves now: after an 'end' the page may hand the
// same worker its next stream ('open' again, with a new `sid`); every message
// carries the `sid` of its stream, so a late one of the last is ignored.
let sid = 0;

const post = (m, transfer) => self.postMessage({ ...m, sid }, transfer ?? []);

/** An error as plain data: message, `kind` and, for an HttpError, its fields. */
function errorData(e) {
  const out = { name: e?.name ?? 'Error', message: String(e?.message ?? e) };
  for (const k of ['kind', 'url', 'status', 'statusText', 'contentType', 'detail']) {
    if (e != null && e[k] !== undefined) out[k] = e[k];
  }
  return out;
}

/** The parts of what the decoder handed out (a wasm Table; parts as they are). */
function toParts(value) {
  return value instanceof wasm.Table ? wasm.exportParts(value) : value;
}

function schemaMessage() {
  return { schema: stream.schema, metadata: stream.metadata };
}

async function open(m) {
  // A worker the page reuses: the last stream ended (its WebSocket finishes
  // its close handshake on its own); start afresh.
  stream = null;
  credits = 0;
  pumping = false;
  closed = false;
  schemaSent = false;
  abort = new AbortController();
  sid = m.sid ?? 0;
  credits += m.credits ?? 0;
  try {
    await init(m.module);
    const options = m.options ?? {};
    if (m.kind === 'ws') {
      // eagerParts: each table becomes parts as its message arrives, so its
      // body's wasm memory is reused by the next message (warm pages).
      stream = await wasm.connect(String(m.url), { ...options, signal: abort.signal, eagerParts: true });
    } else if (m.kind === 'http') {
      const { body, decodeOptions } = await fetchArrowBody(m.url, { ...options, signal: abort.signal });
      stream = wasm.readStream(body, decodeOptions);
    } else {
      stream = wasm.readStream(m.readable, options);
    }
  } catch (e) {
    if (!closed) post({ type: 'error', error: errorData(e) });
    return;
  }
  if (closed) {
    stream.close();
    post({ type: 'closed' });
    return;
  }
  schemaSent = stream.schema !== null;
  post({ type: 'open', ...schemaMessage() });
  pump();
}

/** Takes tables from the decoder while the page has credit. */
async function pump() {
  if (pumping) return;
  pumping = true;
  // A pump of the last stream still waiting when the next one opens stops
  // there (and leaves `pumping` to the new one's).
  const s = stream;
  try {
    while (credits > 0 && !closed) {
      let r;
      try {
        r = await s.next();
      } catch (e) {
        if (!closed && s === stream) post({ type: 'error', error: errorData(e) });
        return;
      }
      if (closed || s !== stream) return;
      if (r.done) {
        post({ type: 'end', bytesRead: stream.bytesRead });
        return;
      }
      const parts = toParts(r.value);
      const m = { type: 'table', parts, bytesRead: stream.bytesRead };
      if (!schemaSent) {
        Object.assign(m, schemaMessage());
        schemaSent = true;
      }
      credits -= 1;
      post(m, transferList(parts));
    }
  } finally {
    if (s === stream) pumping = false;
  }
}

function close() {
  if (closed) return;
  closed = true;
  abort.abort();
  stream?.close();
  post({ type: 'closed' });
}

self.onmessage = (e) => {
  const m = e.data;
  switch (m?.type) {
    case 'open':
      open(m);
      break;
    case 'credit':
      credits += m.n;
      if (stream) pump();
      break;
    case 'close':
      close();
      break;
    default:
      break;
  }
};

// The wasm module's own traps and anything unexpected: the page hears of
// them as an error of the stream, never as silence.
self.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  post({ type: 'error', error: errorData(e.reason) });
});
