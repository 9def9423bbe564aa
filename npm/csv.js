// `lightstream-arrow/csv`: CSV text into the package's tables. Its own
// WebAssembly module (pkg-csv/, crates/lightstream-wasm with the `csv`
// feature, built by build.sh), loaded by this entry point's `init()`, so a
// page that reads no CSV never downloads the CSV code: the root entry point's
// decode-only module has none of it. The tables are the root's `Table` class
// (npm/table.js): wasm `exportParts` copies each one out of this module's
// memory once and frees it.
import wasmInit, * as wasm from './pkg-csv/lightstream_wasm.js';
import { loader } from './load.js';
import { Table } from './table.js';

const module = loader(wasmInit, new URL('./pkg-csv/lightstream_wasm_bg.wasm', import.meta.url), 'lightstream-arrow/csv');

/** Page-owned Tables of this module's wasm tables (which are freed). */
function ownAll(wasmTables) {
  return wasmTables.map((t) => Table.fromParts(wasm.exportParts(t)));
}

/** Loads the CSV module once; see csv.d.ts. */
export function init(input) {
  return module.init(input);
}
export default init;

/** Decodes CSV text from chunks you push; see csv.d.ts. */
export class CsvDecoder {
  #dec;
  constructor(options) {
    module.need('new CsvDecoder()');
    this.#dec = new wasm.CsvDecoder(options);
  }
  push(chunk) { return ownAll(this.#dec.push(chunk)); }
  finish() { return ownAll(this.#dec.finish()); }
  takeTables() { return ownAll(this.#dec.takeTables()); }
  get schema() { return this.#dec.schema; }
  get skippedRows() { return this.#dec.skippedRows; }
  get nulledCells() { return this.#dec.nulledCells; }
  get finished() { return this.#dec.finished; }
  free() { this.#dec.free(); }
}

/** Decodes a whole CSV document (string, Uint8Array or ArrayBuffer) into tables. */
export function decodeCsv(input, options) {
  module.need('decodeCsv()');
  return ownAll(wasm.decodeCsv(input, options));
}
