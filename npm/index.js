// The `lightstream-arrow` npm package: a thin ES module over the wasm-bindgen
// output in ./pkg (built by build.sh from crates/lightstream-wasm without its
// `csv` feature: the decode-only module). Every decode happens in WebAssembly;
// this file loads the module once (load.js), turns each decoded wasm table
// into a `Table` the page owns (wasm `exportParts` copies its buffers out once
// and frees it; npm/table.js wraps them), wraps the wasm streams as sources of
// a `TableStream` (npm/stream.js), and turns a call made before `init()` into
// an error that says so. CSV (decodeCsv, CsvDecoder) is the second entry
// point, `lightstream-arrow/csv` (csv.js), with a module of its own and the
// same Table objects. `openStream` is `fetch` (token as `Authorization:
// Bearer`, status and Content-Type checked) handing the body to the wasm
// `readStream`.
import wasmInit, * as wasm from './pkg/lightstream_wasm.js';
import { loader } from './load.js';
import { Table, conversions } from './table.js';
import { TableStream } from './stream.js';

export { Table, Column, transferList, collectTables } from './table.js';
export { TableStream } from './stream.js';

/** A page-owned Table of a wasm table (which is freed). */
function own(wasmTable, defaults) {
  return Table.fromParts(wasm.exportParts(wasmTable), defaults);
}

function ownAll(wasmTables, defaults) {
  return wasmTables.map((t) => own(t, defaults));
}

/** The wasm TableStream as a TableStream source: tables become parts. */
function wasmSource(ws) {
  return {
    async next() {
      const r = await ws.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: wasm.exportParts(r.value) };
    },
    close() { ws.close(); },
    get schema() { return ws.schema; },
    get skipped() { return ws.skipped ?? []; },
    get metadata() { return ws.metadata; },
    get tablesRead() { return ws.tablesRead; },
    get rowsRead() { return ws.rowsRead; },
    get bytesRead() { return ws.bytesRead; },
  };
}

const module = loader(wasmInit, new URL('./pkg/lightstream_wasm_bg.wasm', import.meta.url), 'lightstream-arrow');
const needInit = module.need;
const needInitError = module.error;

/** Decodes an IPC stream from chunks you push; see index.d.ts. */
export class StreamDecoder {
  #dec;
  #defaults;
  constructor(options) {
    needInit('new StreamDecoder()');
    this.#defaults = typeof options === 'object' ? conversions(options, 'StreamDecoder') : {};
    this.#dec = new wasm.StreamDecoder(options);
  }
  push(chunk) { return ownAll(this.#dec.push(chunk), this.#defaults); }
  finish() { this.#dec.finish(); }
  get schema() { return this.#dec.schema; }
  get skipped() { return this.#dec.skipped ?? []; }
  get metadata() { return this.#dec.metadata; }
  get ended() { return this.#dec.ended; }
  get bytesRead() { return this.#dec.bytesRead; }
  free() { this.#dec.free(); }
}

/** Loads the WebAssembly module once; see index.d.ts. */
export function init(input) {
  return module.init(input);
}
export default init;

/** Opens a WebSocket to a Lightstream server (offering the subprotocol
 * `lightstream.arrow.v1`, and `lightstream.token.<token>` with a token);
 * resolves once the schema arrived. Bad options reject too. */
export function connect(url, options = {}) {
  if (!module.ready) return Promise.reject(needInitError('connect()'));
  try {
    const defaults = conversions(options, 'connect');
    return wasm.connect(String(url), options ?? {}).then((ws) => new TableStream(wasmSource(ws), defaults));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The media type of an Arrow IPC stream (IANA). */
export const ARROW_STREAM_TYPE = 'application/vnd.apache.arrow.stream';

/** A response that is not a 2xx Arrow stream; see index.d.ts. */
export class HttpError extends Error {
  constructor(message, { kind, url, status, statusText, contentType, detail }) {
    super(message);
    this.name = 'HttpError';
    this.kind = kind;
    this.url = url;
    this.status = status;
    this.statusText = statusText;
    this.contentType = contentType;
    this.detail = detail;
  }
}

/** At most `max` bytes of a refused response's body, as text (the server's
 * one-line reason); the rest is cancelled, never read. */
async function bodySnippet(response, max = 1024) {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const parts = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      n += value.length;
    }
  } catch {
    // the reason is best effort
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(n, max));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, all.length - at);
    all.set(p.subarray(0, take), at);
    at += take;
  }
  return new TextDecoder().decode(all).trim();
}

/** The `Accept` of `openStream`: the Arrow media type, with the IPC body
 * codecs asked for in its `codecs` parameter (the Arrow-over-HTTP
 * convention of apache/arrow-experiments, http/), in order of preference. */
function acceptHeader(codecs) {
  if (codecs === undefined || codecs === null) return ARROW_STREAM_TYPE;
  const known = ['zstd', 'lz4'];
  if (!Array.isArray(codecs) || codecs.some((c) => !known.includes(c))) {
    const err = new Error(`openStream: option codecs must be an array of ${known.map((c) => `'${c}'`).join(' and ')}`);
    err.kind = 'Schema';
    throw err;
  }
  return codecs.length === 0 ? ARROW_STREAM_TYPE : `${ARROW_STREAM_TYPE}; codecs="${codecs.join(', ')}"`;
}

/** Fetches an Arrow IPC stream over HTTP and reads it as it downloads; see index.d.ts. */
export async function openStream(url, options = {}) {
  needInit('openStream()');
  const { token, signal, headers: extra, fetch: fetchFn, checkContentType = true, codecs, ...decodeOptions } = options ?? {};
  const headers = new Headers(extra);
  if (!headers.has('accept')) headers.set('accept', acceptHeader(codecs));
  if (token !== undefined && token !== null) headers.set('authorization', `Bearer ${wasm.checkToken(token)}`);
  const target = String(url);
  let response;
  try {
    response = await (fetchFn ?? globalThis.fetch)(target, { headers, signal });
  } catch (e) {
    const aborted = e?.name === 'AbortError';
    const err = new Error(`${aborted ? 'fetch of' : 'could not fetch'} ${target}${aborted ? ' was aborted' : ''}: ${e?.message ?? e}`);
    err.kind = aborted ? 'Aborted' : 'Connect';
    err.cause = e;
    throw err;
  }
  const contentType = response.headers.get('content-type');
  const info = { url: target, status: response.status, statusText: response.statusText, contentType };
  if (!response.ok) {
    const detail = await bodySnippet(response);
    throw new HttpError(`${target} answered ${response.status} ${response.statusText}${detail ? `: ${detail}` : ''}`,
      { ...info, kind: 'Http', detail });
  }
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (checkContentType && mediaType !== ARROW_STREAM_TYPE) {
    response.body?.cancel().catch(() => {});
    throw new HttpError(`${target} answered Content-Type ${contentType === null ? '(none)' : `"${contentType}"`}, not ${ARROW_STREAM_TYPE} ` +
      '(pass checkContentType: false to read it anyway)', { ...info, kind: 'ContentType', detail: '' });
  }
  if (!response.body) {
    throw new HttpError(`${target} answered ${response.status} without a body`, { ...info, kind: 'Truncated', detail: '' });
  }
  const defaults = conversions(decodeOptions, 'openStream');
  return new TableStream(wasmSource(wasm.readStream(response.body, decodeOptions)), defaults);
}

/** Decodes a whole IPC stream or file (Uint8Array or ArrayBuffer). */
export function decode(bytes, options = {}) {
  needInit('decode()');
  const defaults = conversions(options, 'decode');
  const decoded = wasm.decode(bytes, options ?? {});
  const tables = ownAll(decoded, defaults);
  // The columns `skipUnsupported` left out, on the array as wasm gives it.
  if (decoded.skipped !== undefined) tables.skipped = decoded.skipped;
  return tables;
}

/** A web ReadableStream of the chunks of `source`: the stream itself, or an
 * async iterable of Uint8Array / ArrayBuffer chunks such as a Node.js
 * Readable (`fs.createReadStream`), read one chunk per pull (so its
 * backpressure holds) and destroyed by `return()` on cancel. */
function byteStream(source) {
  if (source instanceof ReadableStream) return source;
  if (source == null || typeof source[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('readStream: expected a ReadableStream or an async iterable of byte chunks ' +
      `(e.g. a Node.js Readable), not ${source === null ? 'null' : typeof source}`);
  }
  let it = null;
  return new ReadableStream({
    async pull(controller) {
      it ??= source[Symbol.asyncIterator]();
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value instanceof ArrayBuffer ? new Uint8Array(value) : value);
    },
    async cancel(reason) {
      await it?.return?.(reason);
    },
  });
}

/** Decodes an IPC stream from a ReadableStream (or a Node.js Readable) of byte chunks. */
export function readStream(readable, options = {}) {
  needInit('readStream()');
  if (readable === null) {
    const err = new Error('readStream: no body to read (a fetch Response without one, e.g. of a HEAD request or a 204)');
    err.kind = 'Truncated';
    throw err;
  }
  const defaults = conversions(options, 'readStream');
  return new TableStream(wasmSource(wasm.readStream(byteStream(readable), options ?? {})), defaults);
}
