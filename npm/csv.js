// `lightstream-arrow/csv`: CSV text into the package's tables. Its own
// WebAssembly module (pkg-csv/, crates/lightstream-wasm with the `csv`
// feature, built by build.sh), loaded by this entry point's `init()`, so a
// page that reads no CSV never downloads the CSV code: the root entry point's
// decode-only module has none of it.
import wasmInit, * as wasm from './pkg-csv/lightstream_wasm.js';
import { loader } from './load.js';

const module = loader(wasmInit, new URL('./pkg-csv/lightstream_wasm_bg.wasm', import.meta.url), 'lightstream-arrow/csv');

/** Loads the CSV module once; see csv.d.ts. */
export function init(input) {
  return module.init(input);
}
export default init;

/** Decodes CSV text from chunks you push; see csv.d.ts. */
export class CsvDecoder extends wasm.CsvDecoder {
  constructor(...args) {
    module.need('new CsvDecoder()');
    super(...args);
  }
}

/** Decodes a whole CSV document (string, Uint8Array or ArrayBuffer) into tables. */
export function decodeCsv(input, options) {
  module.need('decodeCsv()');
  return wasm.decodeCsv(input, options);
}
