// Types of `lightstream-arrow/csv`: CSV text decoded in WebAssembly into the
// package's tables. This entry point has its own WebAssembly module (the CSV
// code is not in the root entry point's), loaded by its own `init()`.
import type { Field, InitInput, Table } from './index.js';

/**
 * Loads and instantiates the CSV module (once; later calls return the same
 * promise). Call it before `decodeCsv` or `new CsvDecoder`; the root entry
 * point's `init()` does not load it, nor does this one load the root's.
 * Without an argument the .wasm of this entry point
 * (`pkg-csv/lightstream_wasm_bg.wasm`, exported as
 * `lightstream-arrow/lightstream_wasm_csv_bg.wasm`) is fetched in a browser
 * and read from disk in Node.js.
 */
export function init(input?: InitInput | Promise<InitInput>): Promise<void>;
export default init;

/**
 * Options of `decodeCsv` and `CsvDecoder` (all optional; defaults as pyarrow's
 * `read_csv`). A wrong type or an unknown key throws an `Error` naming it.
 */
export interface CsvOptions {
  /** Field delimiter, one ASCII character. Default `","`. */
  delimiter?: string;
  /** Quote character, one ASCII character. Default `'"'`; `""` inside a
   * quoted field is one quote; delimiters and line breaks inside quotes are data. */
  quote?: string;
  /** The first record holds the column names. Default `true`; without a
   * header the columns are named `f0`, `f1`, ... */
  header?: boolean;
  /** Cells equal to one of these are null (byte for byte). Default pyarrow's
   * list: `""`, `"NA"`, `"N/A"`, `"NULL"`, `"null"`, `"NaN"`, `"nan"`, `"#N/A"`, ... */
  nullValues?: string[];
  /** Cells that read as `true` in a boolean column. Default `1`, `True`, `TRUE`, `true`. */
  trueValues?: string[];
  /** Cells that read as `false` in a boolean column. Default `0`, `False`, `FALSE`, `false`. */
  falseValues?: string[];
  /** Whether string columns honour `nullValues`. Default `false`: `NA` in a
   * string column is the text `NA`. With `stringNulls: 'unquoted'` only
   * unquoted cells can match. */
  stringsCanBeNull?: boolean;
  /** How a null differs from an empty string in a string column. Default
   * `'unquoted'`: an empty unquoted cell is null, a quoted cell is text (`""`
   * is the empty string), and in a one-column file an empty line is a null row
   * (as pyarrow, Polars and Lightstream write them). `'quoting-ignored'`: the
   * earlier reading and pyarrow's `read_csv` defaults: every empty string cell
   * is `""` (with `stringsCanBeNull`, every null token is null, quoted or not)
   * and blank lines are skipped. */
  stringNulls?: 'unquoted' | 'quoting-ignored';
  /** Most rows per table (a positive whole number). Default 65536. */
  batchSize?: number;
  /** Rows used to infer the column types (a positive whole number). Default
   * 10000. A later cell that does not fit its column's type is a bad row. */
  inferRows?: number;
  /** A bad row (wrong number of fields, a cell that does not parse as its
   * column's type, invalid UTF-8): `'error'` (default) throws an `Error`
   * naming line and column; `'null'` makes the bad cells (and the missing
   * cells of a short row) null, counted by `nulledCells`, though a row with
   * too many fields still throws; `'skip'` drops the row, counted by
   * `skippedRows`. */
  badRows?: 'error' | 'null' | 'skip';
}

/**
 * Decodes a whole CSV document into tables of at most `batchSize` rows. A
 * string is read as UTF-8 text; bytes may start with a UTF-8 BOM. Column types
 * are inferred as pyarrow does (Int64, Boolean, Date32, Time32(Second),
 * Timestamp(Second | Nanosecond, None or "UTC"), Float64, else Utf8). Throws an
 * `Error` whose message names the line and column of a bad row, a quoted
 * field left open, bad options or a wrong argument type. Empty input gives `[]`.
 */
export function decodeCsv(input: string | Uint8Array | ArrayBuffer, options?: CsvOptions): Table[];

/**
 * Push decoder for CSV arriving in pieces: `push` chunks of any size (a chunk
 * may end anywhere, even inside a UTF-8 character or a quoted field; the
 * tables do not depend on the chunking) and get back the tables they
 * completed; `finish()` returns the last ones.
 */
export class CsvDecoder {
  /** Throws on bad options. */
  constructor(options?: CsvOptions);
  /** Tables completed by this chunk (often none). Throws on a bad row (see
   * `CsvOptions.badRows`); the decoder is then spent: later calls throw the
   * same error, and `takeTables()` gives the tables of the rows before it. */
  push(chunk: string | Uint8Array | ArrayBuffer): Table[];
  /** The input has ended: the last tables. Throws on a quoted field left open
   * or a bad last row. Later calls return `[]`. */
  finish(): Table[];
  /** Tables completed but not handed out: after `push` or `finish` threw,
   * every table of the rows before the error. */
  takeTables(): Table[];
  /** The columns, once their types are known (after `inferRows` rows or at
   * `finish`), else `null`. */
  readonly schema: Field[] | null;
  /** Rows dropped by `badRows: 'skip'` so far. */
  readonly skippedRows: number;
  /** Cells made null by `badRows: 'null'` so far. */
  readonly nulledCells: number;
  /** True once `finish()` has been called. */
  readonly finished: boolean;
  free(): void;
}
