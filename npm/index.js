// The `lightstream` npm package: a thin ES module over the wasm-bindgen
// output in ./pkg (built by build.sh from crates/lightstream-wasm). Every
// decode happens in WebAssembly; this file only loads the module once and
// makes the wasm TableStream an async iterable. CSV (decodeCsv, CsvDecoder)
// goes through the same wasm module and gives the same Table objects.
import wasmInit, * as wasm from './pkg/lightstream_wasm.js';

export { Table, Column, StreamDecoder, TableStream, CsvDecoder } from './pkg/lightstream_wasm.js';

let loading = null;

/** Loads the WebAssembly module once; see index.d.ts. */
export function init(input) {
  if (loading === null) {
    const options = input === undefined ? undefined : { module_or_path: input };
    loading = wasmInit(options).then(() => undefined, (e) => {
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
export function decode(bytes) {
  return wasm.decode(bytes);
}

/** Decodes a whole CSV document (string, Uint8Array or ArrayBuffer) into tables. */
export function decodeCsv(input, options) {
  return wasm.decodeCsv(input, options);
}

/** Decodes an IPC stream from a ReadableStream of byte chunks. */
export function readStream(readable) {
  return wasm.readStream(readable);
}
