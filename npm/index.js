// The `lightstream-arrow` npm package: a thin ES module over the wasm-bindgen
// output in ./pkg (built by build.sh from crates/lightstream-wasm). Every
// decode happens in WebAssembly; this file only loads the module once, makes
// the wasm TableStream an async iterable, and turns a call made before
// `init()` into an error that says so. CSV (decodeCsv, CsvDecoder) goes
// through the same wasm module and gives the same Table objects.
import wasmInit, * as wasm from './pkg/lightstream_wasm.js';

export { Table, Column, TableStream } from './pkg/lightstream_wasm.js';

let loading = null;
let ready = false;

/** Throws unless `init()` has finished: without the module every call would
 * fail inside the bindings with a message that names neither. */
function needInit(what) {
  if (!ready) throw needInitError(what);
}

function needInitError(what) {
  return new Error(`lightstream-arrow: ${what} was called before the WebAssembly module was loaded: ` +
    'call `await init()` once first');
}

/** Decodes an IPC stream from chunks you push; see index.d.ts. */
export class StreamDecoder extends wasm.StreamDecoder {
  constructor(...args) {
    needInit('new StreamDecoder()');
    super(...args);
  }
}

/** Decodes CSV text from chunks you push; see index.d.ts. */
export class CsvDecoder extends wasm.CsvDecoder {
  constructor(...args) {
    needInit('new CsvDecoder()');
    super(...args);
  }
}

// Node.js has no fetch for file: URLs: read the .wasm next to this module.
const isNode = typeof process !== 'undefined' && process.versions != null &&
  process.versions.node != null && typeof window === 'undefined';

async function defaultInput() {
  const url = new URL('./pkg/lightstream_wasm_bg.wasm', import.meta.url);
  if (isNode && url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return fs.readFile(url);
  }
  return url;
}

/** Loads the WebAssembly module once; see index.d.ts. */
export function init(input) {
  if (loading === null) {
    const source = input === undefined ? defaultInput() : Promise.resolve(input);
    loading = source.then((s) => wasmInit({ module_or_path: s })).then(() => {
      ready = true;
    }, (e) => {
      loading = null;
      throw e;
    });
  }
  return loading;
}
export default init;

wasm.TableStream.prototype[Symbol.asyncIterator] = function () {
  return this;
};

/** Opens a WebSocket to a Lightstream server; resolves once the schema arrived. */
export function connect(url, options = {}) {
  if (!ready) return Promise.reject(needInitError('connect()'));
  return wasm.connect(String(url), options ?? {});
}

/** Decodes a whole IPC stream or file (Uint8Array or ArrayBuffer). */
export function decode(bytes, options = {}) {
  needInit('decode()');
  return wasm.decode(bytes, options ?? {});
}

/** Decodes a whole CSV document (string, Uint8Array or ArrayBuffer) into tables. */
export function decodeCsv(input, options) {
  needInit('decodeCsv()');
  return wasm.decodeCsv(input, options);
}

/** Decodes an IPC stream from a ReadableStream of byte chunks. */
export function readStream(readable, options = {}) {
  needInit('readStream()');
  return wasm.readStream(readable, options ?? {});
}
