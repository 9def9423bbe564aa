// Types of the `lightstream-arrow` npm package: Arrow IPC streams decoded in
// WebAssembly (CSV is the entry point `lightstream-arrow/csv`, csv.d.ts) into tables whose numeric columns are zero-copy
// typed-array views of wasm memory. See README.md for usage.

/** What `init` accepts: the .wasm's URL, its bytes, a Response or a compiled module. */
export type InitInput =
  | RequestInfo
  | URL
  | Response
  | BufferSource
  | WebAssembly.Module;

/**
 * Loads and instantiates the WebAssembly module (once; later calls return the
 * same promise). Call it before anything else. Without an argument the .wasm
 * next to this module (`pkg/lightstream_wasm_bg.wasm`) is fetched in a
 * browser and read from disk in Node.js.
 */
export function init(input?: InitInput | Promise<InitInput>): Promise<void>;
export default init;

/** One field of a schema. `type` is Arrow's name of the type, e.g.
 * `Int64`, `Utf8`, `Timestamp(Millisecond, "UTC")`, `Dictionary<Int32, Utf8>`. */
export interface Field {
  name: string;
  type: string;
  nullable: boolean;
  metadata: Record<string, string>;
}

/** Options of `decode`, `readStream`, `connect` and `StreamDecoder`. */
export interface DecodeOptions {
  /** Caps one IPC message's metadata and, separately, its body, in bytes
   * (a larger message fails with an `Error`). Default: no metadata cap
   * beyond the core's 64 MiB, and bodies up to 1 GiB. */
  maxMessageBytes?: number;
  /** Give each table only the dictionary values its rows use (in dictionary
   * order, its keys rewritten to match), instead of the whole dictionary as
   * it stands. Values read are the same; `column.dictionary()` is smaller.
   * Turn it on for many small batches over a growing dictionary (a live feed
   * whose batches each add a delta): otherwise every table copies the whole
   * dictionary, N batches costing N times its size. Default `false`. */
  compactDictionaries?: boolean;
}

export interface ConnectOptions extends DecodeOptions {
  /** A bearer token for a server that asks for one. Browsers cannot set
   * WebSocket headers, so it travels as a second subprotocol,
   * `lightstream.token.<token>`, after `lightstream.arrow.v1` (the server
   * answers with `lightstream.arrow.v1` only). Only letters, digits and
   * ``!#$%&'*+-.^_`|~`` (base64url without `=` padding qualifies); anything
   * else rejects with `kind: 'Token'` before connecting. */
  token?: string;
  /** `connect` rejects when the schema has not arrived within this many
   * milliseconds of the call. Default 30000. */
  timeoutMs?: number;
  /** The browser's WebSocket cannot pause a sender, so decoded tables wait
   * until `next()` takes them. When more than this many bytes wait, the
   * stream fails with an Error instead of growing. Default 512 MiB. */
  maxBufferedBytes?: number;
  /** The WebSocket constructor to connect with (an implementation of the
   * browser's WebSocket API), e.g. `WebSocket` of the `ws` package in Node.js
   * 20 and 21, which have no global one unless run with
   * `--experimental-websocket`. Default: the global `WebSocket`; with
   * neither, `connect` rejects with `kind: 'Connect'`. */
  WebSocket?: new (url: string, protocols: string[]) => unknown;
}

/** What an error of this package is about (its `kind` property): the core
 * decoder's kinds (`Malformed`, `Unsupported`, `LimitExceeded`, `InvalidData`,
 * `Truncated`, `Compression`, `Schema`), and `Truncated` too for a
 * connection closed or a body cut before the end-of-stream marker; `Connect`
 * (no connection: refused, unreachable, or the server refused the handshake,
 * e.g. a wrong Origin or token), `Protocol` (a text message, a wrong
 * subprotocol), `Timeout`, `Aborted` (your `AbortSignal`), `Token` (a token
 * that cannot be sent), `Http` (a non-2xx answer), `ContentType` (a 2xx that
 * is not an Arrow stream). */
export type ErrorKind =
  | 'Malformed' | 'Unsupported' | 'LimitExceeded' | 'InvalidData' | 'Truncated'
  | 'Compression' | 'Schema' | 'Io'
  | 'Connect' | 'Protocol' | 'Timeout' | 'Aborted' | 'Token' | 'Http' | 'ContentType';

/** An `Error` of `connect`, `openStream` and a `TableStream`'s `next()`. */
export interface LightstreamError extends Error {
  kind: ErrorKind;
}

/** `openStream`'s error for an answer that is not a 2xx Arrow stream. */
export class HttpError extends Error {
  readonly name: 'HttpError';
  /** `Http`: a non-2xx status; `ContentType`: a 2xx that is not an Arrow
   * stream; `Truncated`: a 2xx without a body. */
  readonly kind: 'Http' | 'ContentType' | 'Truncated';
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  /** The answer's `Content-Type` (`null` when it had none). */
  readonly contentType: string | null;
  /** The start (at most 1 KiB) of a refusal's body: the server's reason. */
  readonly detail: string;
}

/** `application/vnd.apache.arrow.stream`, the IANA media type of an Arrow IPC stream. */
export const ARROW_STREAM_TYPE: 'application/vnd.apache.arrow.stream';

/** Options of `openStream`. */
export interface OpenStreamOptions extends DecodeOptions {
  /** Sent as `Authorization: Bearer <token>`; the same characters as
   * `ConnectOptions.token` (anything else rejects with `kind: 'Token'`). */
  token?: string;
  /** Aborts the request and the body (the stream then rejects with `kind: 'Aborted'`). */
  signal?: AbortSignal;
  /** Ask the server to compress the IPC bodies with one of these codecs
   * (in order of preference): `Accept: application/vnd.apache.arrow.stream;
   * codecs="zstd, lz4"`, the Arrow-over-HTTP convention. Both decode here.
   * Default: none asked for (`Accept: application/vnd.apache.arrow.stream`);
   * on a fast network uncompressed is fastest. */
  codecs?: ('zstd' | 'lz4')[];
  /** More request headers (an `Accept` of yours replaces the one above). */
  headers?: HeadersInit;
  /** Refuse a 2xx answer whose media type is not
   * `application/vnd.apache.arrow.stream` (default `true`). */
  checkContentType?: boolean;
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
}

/**
 * Fetches `url` and reads the Arrow IPC stream of its body as it downloads
 * (`readStream(response.body)`, so a slow reader holds the server back).
 * Rejects with an `HttpError` for a non-2xx status (with the start of the
 * server's reason) or a wrong `Content-Type`, and with a `LightstreamError`
 * (`Connect`, `Aborted`, `Token`) when there is no answer. A body cut before
 * the end-of-stream marker (a server that failed mid-stream) makes `next()`
 * reject with `kind: 'Truncated'`, never a short table list that looks
 * complete.
 */
export function openStream(url: string | URL, options?: OpenStreamOptions): Promise<TableStream>;

/**
 * A stream of tables: `for await (const table of stream)`. Errors (a closed
 * connection before the end-of-stream marker, a malformed message, a
 * WebSocket error) reject `next()` with an `Error` naming what went wrong;
 * the stream is then finished. Tables already received stay valid.
 */
export interface TableStream extends AsyncIterableIterator<Table> {
  /** The schema's fields (known once `connect` resolved; `null` for a
   * `readStream` until its schema message has been read). */
  readonly schema: Field[] | null;
  /** The schema's custom metadata (empty until known). */
  readonly metadata: Record<string, string>;
  /** Tables handed out so far. */
  readonly tablesRead: number;
  /** Rows handed out so far. */
  readonly rowsRead: number;
  /** Bytes of IPC messages received so far (WebSocket payloads or chunks). */
  readonly bytesRead: number;
  /** The next table, or `{ done: true }` after the end-of-stream marker. */
  next(): Promise<IteratorResult<Table, undefined>>;
  /** Closes the stream (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<Table, undefined>>;
  /** Closes the connection (WebSocket close code 1000) or cancels the
   * readable; a pending `next()` resolves `{ done: true }`. Idempotent. */
  close(): void;
}

/**
 * Opens a WebSocket to a Lightstream server (`lightstream serve ws://...`,
 * or any peer following docs/websocket-protocol.md) and resolves once the
 * schema message has arrived. It offers the subprotocol `lightstream.arrow.v1`
 * (and `lightstream.token.<token>` with `options.token`) and requires the
 * server to answer `lightstream.arrow.v1`. Each binary message is copied once
 * into 64-byte aligned wasm memory and decoded there. Rejects with a
 * `LightstreamError` when the connection fails or is refused, the options are
 * bad, or the first message is not a valid schema.
 */
export function connect(url: string, options?: ConnectOptions): Promise<TableStream>;

/** Decodes a whole Arrow IPC stream or IPC file (detected by its magic).
 * The bytes are copied once into aligned wasm memory. Throws an `Error` on
 * malformed, truncated or unsupported input. */
export function decode(bytes: Uint8Array | ArrayBuffer, options?: DecodeOptions): Table[];

/** Decodes an IPC stream arriving as a `ReadableStream` of byte chunks of any
 * size (e.g. `(await fetch(url)).body`), or as an async iterable of them (a
 * Node.js `Readable` such as `fs.createReadStream(path)`: one chunk is read
 * per chunk the decoder asks for, and cancelling destroys the stream). */
export function readStream(
  readable: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | ArrayBuffer>,
  options?: DecodeOptions,
): TableStream;

/**
 * Push decoder for callers that receive the bytes themselves: `push` chunks of
 * any size and get back the tables they completed.
 */
export class StreamDecoder {
  /** `options`, or (as before) the `maxMessageBytes` number alone. */
  constructor(options?: DecodeOptions | number);
  /** Tables completed by this chunk (often none). Throws on malformed input;
   * the decoder is then unusable. */
  push(chunk: Uint8Array | ArrayBuffer): Table[];
  /** Throws unless the input so far ended cleanly (after the schema, on a
   * message boundary). */
  finish(): void;
  readonly schema: Field[] | null;
  readonly metadata: Record<string, string>;
  /** True once the end-of-stream marker has been read. */
  readonly ended: boolean;
  readonly bytesRead: number;
  free(): void;
}

/** Options of `Column.toArray` and `Column.keys`. */
export interface ArrayOptions {
  /** Return a detached copy instead of a view of wasm memory. */
  copy?: boolean;
}

/** A decoded table (record batch). Call `free()` when done: the wasm memory
 * of its columns is released and views taken from it become invalid. */
export class Table {
  readonly numRows: number;
  readonly numColumns: number;
  readonly schema: Field[];
  readonly metadata: Record<string, string>;
  /** A column by name or position; throws when there is none. */
  column(nameOrIndex: string | number): Column;
  columns(): Column[];
  /** The first `limit` rows (all by default) as plain objects. */
  toRows(limit?: number): Record<string, unknown>[];
  /** The table as an Arrow IPC stream (for `tableFromIPC` of Apache Arrow JS,
   * DuckDB-wasm, ...). */
  toIPC(): Uint8Array;
  free(): void;
}

/** Typed arrays `Column.toArray` returns for fixed-width columns. */
export type NumericArray =
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** One column of a table (shares the table's memory). */
export class Column {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  readonly length: number;
  readonly nullCount: number;
  /** Throws when `i` is out of range. */
  isValid(i: number): boolean;
  /** The value at `i` (`null` for a null): number, bigint (64-bit integers,
   * 64-bit temporal values, decimal128's unscaled integer), boolean or string. */
  get(i: number): number | bigint | boolean | string | null;
  /**
   * Every value. Fixed-width numbers and temporal values: a typed array that
   * is a zero-copy VIEW of wasm memory, valid until the table is freed or
   * wasm memory grows (any later decode may grow it), so read it at once or
   * pass `{ copy: true }`; null slots hold unspecified numbers (see
   * `validity()`). Booleans: `(boolean | null)[]`. Strings and dictionaries:
   * `(string | null)[]`, decoded in one pass.
   */
  toArray(options?: ArrayOptions): NumericArray | (string | null)[] | (boolean | null)[] | (bigint | null)[];
  /** The validity bitmap (copy, LSB first), or `null` when no value is null. */
  validity(): Uint8Array | null;
  /** Boolean columns: the values bitmap (copy, LSB first). */
  bitmap(): Uint8Array;
  /** Dictionary columns: the dictionary's values. */
  dictionary(): string[];
  /** Dictionary columns: the keys (a view like `toArray`, or a copy). */
  keys(options?: ArrayOptions): Uint8Array | Uint16Array | Uint32Array | BigUint64Array;
  free(): void;
}
