// The `lightstream` npm package: a thin ES module over the wasm-bindgen
// output in ./pkg (built by build.sh from crates/lightstream-wasm). Every
// decode happens in WebAssembly; this file only loads the module once and
// makes the wasm TableStream an async iterable. CSV (decodeCsv, CsvDecoder)
// goes through the same wasm module and gives the same Table objects.
import wasmInit, * as wasm from './pkg/lightstream_wasm.js';

export { Table, Column, StreamDecoder, TableStream, CsvDecoder } from './pkg/lightstream_wasm.js';

let loading = null;

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
    loading = source.then((s) => wasmInit({ module_or_path: s })).then(() => undefined, (e) => {
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
  return wasm.connect(String(url), options ?? {});
}

/** Decodes a whole IPC stream or file (Uint8Array or ArrayBuffer). */
export function decode(bytes, options = {}) {
  return wasm.decode(bytes, options ?? {});
}

/** Decodes a whole CSV document (string, Uint8Array or ArrayBuffer) into tables. */
export function decodeCsv(input, options) {
  return wasm.decodeCsv(input, options);
}

/** Decodes an IPC stream from a ReadableStream of byte chunks. */
export function readStream(readable, options = {}) {
  return wasm.readStream(readable, options ?? {});
}
