// The `lightstream-arrow` npm package: a thin ES module over the wasm-bindgen
// output in ./pkg (built by build.sh from crates/lightstream-wasm without its
// `csv` feature: the decode-only module). Every decode happens in WebAssembly;
// this file loads the module once (load.js), turns each decoded wasm table
// into a `Table` the page owns (wasm `exportParts` makes its buffers views of
// the received WebSocket message where they can be, else copies them out
// once, and frees it; npm/table.js wraps them), wraps the wasm streams as
// sources of a `TableStream` (npm/stream.js), and turns a call made before
// `init()` into an error that says so. CSV (decodeCsv, CsvDecoder) is the
// second entry point, `lightstream-arrow/csv` (csv.js), with a module of its
// own and the same Table objects. `openStream` is `fetch` (token as
// `Authorization: Bearer`, status and Content-Type checked) handing the body
// to the wasm `readStream`.
import wasmInit, * as wasm from './pkg/lightstream_wasm.js';
import { fetchArrowBody } from './http.js';
import { loader } from './load.js';
import { openResuming, wrapSource } from './resume.js';
import { Table, conversions, lsError } from './table.js';
import { TableStream } from './stream.js';
import { WorkerSource, workerAvailable } from './worker-client.js';

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

/** Whether a call decodes in a Worker: `options.worker` (default `false`);
 * `true` where no module Worker exists (Node.js) is an error. */
function useWorker(options, what) {
  const w = options.worker ?? false;
  if (typeof w !== 'boolean') throw lsError('Unsupported', `${what}: option worker must be true or false`);
  if (w && !workerAvailable()) {
    throw lsError('Unsupported', `${what}: { worker: true } needs a browser with module Workers (Node.js decodes on its own thread: leave it out)`);
  }
  return w;
}

/** Opens with `open()` (a source: the wasm stream, or a WorkerSource) and
 * wraps it with `signal` / `reconnect` (npm/resume.js) in a TableStream. */
async function openTableStream(open, options, what) {
  const defaults = conversions(options, what);
  const source = await openResuming(open, { signal: options.signal, reconnect: options.reconnect, onResume: options.onResume, what });
  return new TableStream(source, defaults);
}

/** Opens a WebSocket to a Lightstream server (offering the subprotocol
 * `lightstream.arrow.v1`, and `lightstream.token.<token>` with a token);
 * resolves once the schema arrived. Bad options reject too. */
export async function connect(url, options = {}) {
  if (!module.ready) throw needInitError('connect()');
  const o = options ?? {};
  const what = `connect(${url})`;
  const open = useWorker(o, 'connect()')
    ? () => WorkerSource.open({ kind: 'ws', url, options: o, module: module.compiled, what: 'connect()' })
    : async () => wasmSource(await wasm.connect(String(url), o));
  return openTableStream(open, o, what);
}

export { ARROW_STREAM_TYPE, HttpError } from './http.js';

/** Fetches an Arrow IPC stream over HTTP and reads it as it downloads; see index.d.ts. */
export async function openStream(url, options = {}) {
  needInit('openStream()');
  const o = options ?? {};
  if (o.reconnect !== undefined && o.reconnect !== false) {
    throw lsError('Unsupported', 'openStream(): reconnect is for connect() (an HTTP stream re-fetched would start again from its beginning)');
  }
  const open = useWorker(o, 'openStream()')
    ? () => WorkerSource.open({ kind: 'http', url, options: o, module: module.compiled, what: 'openStream()' })
    : async () => {
      const { body, decodeOptions } = await fetchArrowBody(url, o);
      return wasmSource(wasm.readStream(body, decodeOptions));
    };
  // The fetch takes the signal itself (it aborts the request and the body).
  return openTableStream(open, o, `openStream(${url})`);
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

/** Decodes an IPC stream from a ReadableStream (or a Node.js Readable) of
 * byte chunks. With `{ worker: true }` a ReadableStream is transferred to a
 * Worker. */
export function readStream(readable, options = {}) {
  needInit('readStream()');
  if (readable === null) {
    throw lsError('Truncated', 'readStream: no body to read (a fetch Response without one, e.g. of a HEAD request or a 204)');
  }
  const o = options ?? {};
  const defaults = conversions(o, 'readStream');
  if (o.reconnect !== undefined && o.reconnect !== false) {
    throw lsError('Unsupported', 'readStream(): reconnect is for connect()');
  }
  const bytes = byteStream(readable);
  let source = null;
  if (useWorker(o, 'readStream()')) {
    try {
      source = WorkerSource.start({ kind: 'readable', readable: bytes, options: o, module: module.compiled, what: 'readStream()' });
    } catch (e) {
      // A browser that cannot transfer a ReadableStream: decode it here.
      if (e?.cause?.name !== 'DataCloneError') throw e;
    }
  }
  source ??= wasmSource(wasm.readStream(bytes, o));
  if (o.signal === undefined || o.signal === null) return new TableStream(source, defaults);
  return new TableStream(wrapSource(source, null, { signal: o.signal, what: 'readStream()' }), defaults);
}
