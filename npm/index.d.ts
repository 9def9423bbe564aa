// Types of the `lightstream-arrow` npm package: Arrow IPC streams decoded in
// WebAssembly into tables the page owns (plain ArrayBuffers that never
// detach); CSV is the entry point `lightstream-arrow/csv` (csv.d.ts). See
// README.md for usage.

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

/** Options of `decode`, `readStream`, `connect` and `StreamDecoder`
 * (with `Conversions`: the tables' defaults). */
export interface DecodeOptions extends Conversions {
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
  /** Read only these columns (by name), in this order; the others' buffers
   * are not read and their dictionaries not decoded. A name the stream does
   * not have is an error of kind `Schema`. */
  columns?: string[];
  /** Leave out, instead of failing on, the columns of types this package
   * cannot decode (lists, structs, maps, unions, binary, views, run-end
   * encoded, Float16, ...); `skipped` names them. Without it (and without
   * `columns` leaving them out) such a column is an error of kind
   * `Unsupported` naming it. Default `false`. */
  skipUnsupported?: boolean;
}

/** A column left out by `skipUnsupported`: its name and Arrow type (as
 * errors name it, e.g. `List<Int32>`). */
export interface SkippedField {
  name: string;
  type: string;
}

/** Where a stream decodes (`connect`, `openStream`, `readStream`). */
export interface WorkerOptions {
  /** Decode in a dedicated module Worker that owns the connection (the
   * WebSocket, the fetch, or the ReadableStream, which is transferred): the
   * page only receives finished tables, their buffers moved to it (no copy).
   * Default `false`. `true` where there is no module Worker (Node.js) rejects
   * with `kind: 'Unsupported'`. */
  worker?: boolean;
  /** The Worker script (default `new URL('./worker.js', import.meta.url)`,
   * the package's own `worker.js`): for a bundler that moves it. */
  workerUrl?: string | URL;
  /** Tables the Worker may decode and move ahead of the page (default 4):
   * it reads an HTTP body or a ReadableStream no further while the page
   * lags (a WebSocket cannot pause: there `maxBufferedBytes` applies). */
  prefetch?: number;
}

/** `reconnect` of `connect`: retry after an unexpected close. */
export interface ReconnectOptions {
  /** Attempts in a row before the stream fails (default 5). */
  retries?: number;
  /** The first delay (default 250 ms); each attempt doubles it ... */
  initialDelayMs?: number;
  /** ... up to this (default 10000 ms); each delay is then drawn at random
   * from its upper half (jitter). */
  maxDelayMs?: number;
}

/** What `onResume` is told after a reconnect. */
export interface ResumeEvent {
  /** Reconnects of this stream so far (as `stream.reconnects`). */
  reconnects: number;
  /** Attempts this reconnect took. */
  attempts: number;
  /** The error that ended the previous connection (`Truncated`, `Connect`, `Timeout`). */
  error: LightstreamError;
}

export interface ConnectOptions extends DecodeOptions, WorkerOptions {
  /** Aborting rejects a pending `connect` or `next()` with
   * `kind: 'Aborted'` and closes the WebSocket. */
  signal?: AbortSignal;
  /** Re-open after the connection closes before the end-of-stream marker
   * (kinds `Truncated`, `Connect`, `Timeout`), with exponential backoff and
   * jitter; `true` for the defaults. A hub (`lightstream serve ws://... -`)
   * sends the new connection the schema and dictionaries again: the schema
   * must be the same as before (else `next()` rejects with `kind: 'Schema'`),
   * and the stream goes on with the hub's live tables (those sent while it
   * was away are not recovered). Off by default. */
  reconnect?: boolean | ReconnectOptions;
  /** Called after each reconnect, before the new connection's first table. */
  onResume?: (event: ResumeEvent) => void;
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
  /** Keep, with each table, the WebSocket messages it came in as (the
   * schema, every dictionary batch so far, its record batch: the messages'
   * own bytes, not copies) so that `toIPC()` hands them on unchanged instead
   * of re-encoding. For an uncompressed stream of a Lightstream server this
   * costs nothing more (the columns already are views of the batch's
   * message); for a compressed or 8-byte aligned one each table also keeps
   * its batch's wire bytes, about its size again. Default `false`. */
  keepIpc?: boolean;
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
export interface OpenStreamOptions extends DecodeOptions, WorkerOptions {
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
  /** The `fetch` to use (default `globalThis.fetch`; not with `worker: true`,
   * where the Worker fetches: that rejects with `kind: 'Unsupported'`). */
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
export function openStream<S extends SchemaType = SchemaType>(url: string | URL, options?: OpenStreamOptions): Promise<TableStream<S>>;

/** What a `TableStream` reads: an object giving parts (see npm/stream.js). */
export interface TableSource {
  next(): Promise<{ done: true; value?: undefined } | { done: false; value: Parts }>;
  close(): void;
  readonly schema?: Field[] | null;
  readonly metadata?: Record<string, string>;
  readonly tablesRead?: number;
  readonly rowsRead?: number;
  readonly bytesRead?: number;
}

/**
 * A stream of tables: `for await (const table of stream)`. Errors (a closed
 * connection before the end-of-stream marker, a malformed message, a
 * WebSocket error) reject `next()` with an `Error` naming what went wrong;
 * the stream is then finished. Tables already received stay valid.
 */
export class TableStream<S extends SchemaType = SchemaType> implements AsyncIterableIterator<Table<S>> {
  /** A stream over `source`; `options` are the tables' default conversions. */
  constructor(source: TableSource, options?: Conversions);
  /** The schema's fields (known once `connect` resolved; `null` for a
   * `readStream` until its schema message has been read). */
  readonly schema: Field[] | null;
  /** The columns `skipUnsupported` left out (empty until the schema is known). */
  readonly skipped: SkippedField[];
  /** The schema's custom metadata (empty until known). */
  readonly metadata: Record<string, string>;
  /** Tables handed out so far. */
  readonly tablesRead: number;
  /** Rows handed out so far. */
  readonly rowsRead: number;
  /** Bytes of IPC messages received so far (WebSocket payloads or chunks). */
  readonly bytesRead: number;
  /** Times `connect`'s `reconnect` re-opened the stream (0 without it). */
  readonly reconnects: number;
  /** The next table, or `{ done: true }` after the end-of-stream marker. */
  next(): Promise<IteratorResult<Table<S>, undefined>>;
  /** Closes the stream (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<Table<S>, undefined>>;
  /** Closes the connection (WebSocket close code 1000) or cancels the
   * readable; a pending `next()` resolves `{ done: true }`. Idempotent. */
  close(): void;
  /** Reads to the end: every table as one multi-batch table. */
  collect(): Promise<Table<S>>;
  [Symbol.asyncIterator](): TableStream<S>;
  /** Closes the stream (`using stream = await connect(...)`). */
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
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
export function connect<S extends SchemaType = SchemaType>(url: string, options?: ConnectOptions): Promise<TableStream<S> & { readonly schema: Field[] }>;

/** Decodes a whole Arrow IPC stream or IPC file (detected by its magic).
 * The bytes are copied once into aligned wasm memory. Throws an `Error` on
 * malformed, truncated or unsupported input. The array's `skipped` names the
 * columns `skipUnsupported` left out. */
export function decode<S extends SchemaType = SchemaType>(
  bytes: Uint8Array | ArrayBuffer,
  options?: DecodeOptions,
): Table<S>[] & { skipped: SkippedField[] };

/** Options of `readStream`. */
export interface ReadStreamOptions extends DecodeOptions, WorkerOptions {
  /** Aborting cancels the readable and rejects a pending `next()` with `kind: 'Aborted'`. */
  signal?: AbortSignal;
}

/** Decodes an IPC stream arriving as a `ReadableStream` of byte chunks of any
 * size (e.g. `(await fetch(url)).body`; a `null` body throws an `Error` with
 * `kind: 'Truncated'`), or as an async iterable of them (a Node.js `Readable`
 * such as `fs.createReadStream(path)`: one chunk is read per chunk the decoder
 * asks for, and cancelling destroys the stream). With `worker: true` the
 * stream is transferred to the Worker (a browser that cannot transfer streams
 * decodes it on the page instead). */
export function readStream<S extends SchemaType = SchemaType>(
  readable: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | ArrayBuffer> | null,
  options?: ReadStreamOptions,
): TableStream<S>;

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
  /** The columns `skipUnsupported` left out (empty until the schema is known). */
  readonly skipped: SkippedField[];
  readonly metadata: Record<string, string>;
  /** True once the end-of-stream marker has been read. */
  readonly ended: boolean;
  readonly bytesRead: number;
  free(): void;
}

/** Conversions of 64-bit integers and dates, chosen per stream (the
 * options of `decode`, `readStream`, `connect`, `openStream`,
 * `StreamDecoder`: the tables' defaults) or per call (`get`, `toArray`,
 * `at`, `toRows`, which win). The names follow flechette's. */
export interface Conversions {
  /** Date32, Date64 and Timestamp values: `false` (default) the stored
   * number in the type's unit (days, ms, s/ms/us/ns; BigInt for 64-bit);
   * `true` a `Date` (of the millisecond the instant falls in; beyond the
   * ±8.64e15 ms a Date holds, an `Error` with `kind: 'InvalidData'`);
   * `'ms'` epoch milliseconds as a number (fractional below a millisecond).
   * Time, Duration and other types are unchanged. */
  useDate?: boolean | 'ms';
  /** 64-bit integers (Int64, UInt64, Decimal64/128's unscaled integer, and
   * 64-bit temporal values when `useDate` is false): `true` (default for
   * `get`/`toArray`) BigInt; `false` (default for `at`/`toRows`/iteration)
   * a number, and a value beyond ±(2^53 - 1) throws an `Error` with
   * `kind: 'InvalidData'` naming the column and row (never a rounded number). */
  useBigInt?: boolean;
}


/** Options of `Column.toArray` and `Column.keys`. */
export interface ArrayOptions extends Conversions {
  /** Return a copy instead of the column's own typed array (or a view of it). */
  copy?: boolean;
}

/** Options of `Table.toRows`. */
export interface RowOptions extends Conversions {
  /** At most this many rows (from the first). */
  limit?: number;
}

/** Arrow types by the tag a static schema names them with (`Table<S>`):
 * what `get` returns for a valid value and what `toArray()` returns
 * without conversions. */
export interface TypeMap {
  Null: { value: null; array: null[] };
  Boolean: { value: boolean; array: (boolean | null)[] };
  Int8: { value: number; array: Int8Array };
  Int16: { value: number; array: Int16Array };
  Int32: { value: number; array: Int32Array };
  Int64: { value: bigint; array: BigInt64Array };
  UInt8: { value: number; array: Uint8Array };
  UInt16: { value: number; array: Uint16Array };
  UInt32: { value: number; array: Uint32Array };
  UInt64: { value: bigint; array: BigUint64Array };
  Float32: { value: number; array: Float32Array };
  Float64: { value: number; array: Float64Array };
  Decimal32: { value: number; array: Int32Array };
  Decimal64: { value: bigint; array: BigInt64Array };
  Decimal128: { value: bigint; array: (bigint | null)[] };
  Date32: { value: number; array: Int32Array };
  Date64: { value: bigint; array: BigInt64Array };
  Timestamp: { value: bigint; array: BigInt64Array };
  Time32: { value: number; array: Int32Array };
  Time64: { value: bigint; array: BigInt64Array };
  Duration: { value: bigint; array: BigInt64Array };
  Utf8: { value: string; array: (string | null)[] };
  LargeUtf8: { value: string; array: (string | null)[] };
  Dictionary: { value: string; array: (string | null)[] };
}

/** A type tag of `TypeMap` (`Timestamp` stands for every
 * `Timestamp(unit, tz)`, `Dictionary` for every `Dictionary<K, Utf8>`). */
export type TypeTag = keyof TypeMap;

/** A static schema: column name to type tag, e.g.
 * `{ id: 'Int32', name: 'Utf8', ts: 'Timestamp' }`, given as
 * `decode<S>(...)` / `connect<S>(...)` / `Table<S>`. */
export type SchemaType = Record<string, TypeTag>;

type DateTag = 'Date32' | 'Date64' | 'Timestamp';
type BigTag = 'Int64' | 'UInt64' | 'Decimal64' | 'Date64' | 'Timestamp' | 'Time64' | 'Duration';

/** What `get` returns for a valid value of type `T` under conversions `O`
 * (`any` for a column of a table without a static schema, as Apache Arrow
 * JS types an untyped table). */
export type ValueOf<T extends TypeTag, O = {}> = [TypeTag] extends [T] ? any : ValueOfTag<T, O>;
type ValueOfTag<T extends TypeTag, O> =
  T extends DateTag
    ? O extends { useDate: true } ? Date : O extends { useDate: 'ms' } ? number
    : T extends BigTag ? (O extends { useBigInt: false } ? number : TypeMap[T]['value']) : TypeMap[T]['value']
  : T extends BigTag | 'Decimal128' ? (O extends { useBigInt: false } ? number : TypeMap[T]['value'])
  : TypeMap[T]['value'];

/** What `toArray(options)` returns for a column of type `T` (without a
 * static schema: `NumericArray | any[]`). */
export type ArrayOf<T extends TypeTag, O = {}> = [TypeTag] extends [T] ? NumericArray | any[] : ArrayOfTag<T, O>;
type ArrayOfTag<T extends TypeTag, O> =
  T extends DateTag
    ? O extends { useDate: true } ? (Date | null)[] : O extends { useDate: 'ms' } ? Float64Array
    : T extends BigTag ? (O extends { useBigInt: false } ? Float64Array : TypeMap[T]['array']) : TypeMap[T]['array']
  : T extends 'Decimal128' ? (O extends { useBigInt: false } ? (number | null)[] : TypeMap[T]['array'])
  : T extends BigTag ? (O extends { useBigInt: false } ? Float64Array : TypeMap[T]['array'])
  : TypeMap[T]['array'];

/** A row of a table with static schema `S` (as `at`, `toRows` and iteration
 * give it: 64-bit integers as numbers unless `useBigInt: true`). */
export type Row<S extends SchemaType, O = { useBigInt: false }> = { [K in keyof S]: ValueOf<S[K], O> | null };

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

/** What the structured-cloneable parts of one record batch look like
 * (internal; see npm/table.js). A Worker posts them with
 * `postMessage(parts, transferList(parts))`. */
export interface Parts {
  fields: Field[];
  metadata: Record<string, string>;
  numRows: number;
  columns: object[];
  schema?: Uint8Array;
  ipc?: Uint8Array;
}

/**
 * A table of one or more record batches with one schema. Its buffers are
 * plain ArrayBuffers the page owns: arrays taken from it never detach and
 * stay valid as long as you keep them; `free()` is a no-op kept for older
 * code (memory is garbage collected). `S` is an optional static schema
 * (`SchemaType`) that types `column(name)`, `get` and `toArray`.
 */
export class Table<S extends SchemaType = SchemaType> {
  /** Wraps parts (from a Worker, `toParts()`, wasm `exportParts`) without copying. */
  static fromParts<S extends SchemaType = SchemaType>(parts: Parts, options?: Conversions): Table<S>;
  /** The batches of every table as one table (no copy); throws `kind:
   * 'Schema'` unless the fields (names, types, nullability) are the same. */
  static concat<S extends SchemaType = SchemaType>(...tables: (Table<S> | Table<S>[])[]): Table<S>;
  /** An empty table (no batches) with these fields. */
  static empty<S extends SchemaType = SchemaType>(fields: Field[], metadata?: Record<string, string>, options?: Conversions): Table<S>;
  readonly numRows: number;
  readonly numColumns: number;
  /** Number of record batches. */
  readonly numBatches: number;
  readonly schema: Field[];
  readonly metadata: Record<string, string>;
  /** Whether `toIPC()` hands on the bytes the table arrived as (no re-encoding). */
  readonly hasWireBytes: boolean;
  /** A column by name or position; throws (`kind: 'Schema'`) when there is none. */
  column<K extends keyof S & string>(name: K): Column<S[K]>;
  column(nameOrIndex: string | number): Column;
  columns(): Column[];
  /** This table's batches followed by those of `others` (no copy). */
  concat(...others: (Table<S> | Table<S>[])[]): Table<S>;
  /** Rows `begin..end` as `Array.prototype.slice` counts them: views of the
   * same buffers (a validity bitmap at a bit offset is copied when asked for). */
  slice(begin?: number, end?: number): Table<S>;
  /** These columns (names or positions), in this order; no copy. */
  select<K extends keyof S & string>(names: K[]): Table<Pick<S, K>>;
  select(names: (string | number)[]): Table;
  /** Row `i` (negative counts from the end) as a plain object, or
   * `undefined` out of range. */
  at<O extends Conversions = {}>(i: number, options?: O): Row<S, O extends { useBigInt: true } ? O : O & { useBigInt: false }> | undefined;
  /** The first `limit` rows (all by default) as plain objects that
   * `JSON.stringify` takes (64-bit integers as numbers: one beyond
   * ±(2^53 - 1) throws `kind: 'InvalidData'` unless `useBigInt: true`). */
  toRows<O extends RowOptions = {}>(options?: O | number): Row<S, O extends { useBigInt: true } ? O : O & { useBigInt: false }>[];
  /** Rows one by one, as `at(i)` gives them. */
  [Symbol.iterator](): IterableIterator<Row<S>>;
  /** The tables of each batch (views, no copy). */
  batches(): Table<S>[];
  /** The table as an Arrow IPC stream for Apache Arrow JS `tableFromIPC`,
   * DuckDB-wasm `insertArrowFromIPCStream`, ...: the bytes it arrived as
   * when it came straight off a WebSocket with `keepIpc: true` (nothing
   * re-encoded), else encoded by the wasm module (one record batch per batch). */
  toIPC(): Uint8Array;
  /** The table as parts, one per batch (slices copied into buffers of their own). */
  toParts(): Parts[];
  /** A no-op (the page owns the memory). */
  free(): void;
  [Symbol.dispose](): void;
}

/** One column of a table: one chunk per record batch, owned by the page.
 * `T` is its type tag when the table's schema is known statically. */
export class Column<T extends TypeTag = TypeTag> {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  readonly metadata: Record<string, string>;
  readonly length: number;
  readonly nullCount: number;
  /** Number of record batches (chunks) the column spans. */
  readonly numChunks: number;
  /** Throws when `i` is out of range. */
  isValid(i: number): boolean;
  /** The value at `i` (`null` for a null): number, bigint (64-bit integers,
   * 64-bit temporal values, decimal64/128's unscaled integer), boolean,
   * string, or `Date` / milliseconds with `useDate`. Throws when `i` is out
   * of range. */
  get<O extends Conversions = {}>(i: number, options?: O): ValueOf<T, O> | null;
  /**
   * Every value. Fixed-width numbers and temporal values: a typed array the
   * page owns (of a one-batch column the column's own array, no copy; of a
   * slice a subarray view; several batches are concatenated into a new one);
   * null slots hold unspecified numbers (see `validity()`). Booleans,
   * strings, dictionaries, decimal128 and `useDate: true`: an Array with
   * `null` for nulls.
   */
  toArray<O extends ArrayOptions = {}>(options?: O): ArrayOf<T, O>;
  /** The validity bitmap (LSB first, bit i = row i), or `null` when no value is null. */
  validity(): Uint8Array | null;
  /** Boolean columns: the values bitmap (LSB first). */
  bitmap(): Uint8Array;
  /** Dictionary columns: the dictionary's values (of the first batch). */
  dictionary(): string[];
  /** Dictionary columns: the keys, typed as the schema's index type
   * (Int32Array for Arrow's default; signed when the schema says signed). */
  keys(options?: ArrayOptions): Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;
  [Symbol.iterator](): IterableIterator<ValueOf<T> | null>;
  /** A no-op (the page owns the memory). */
  free(): void;
  [Symbol.dispose](): void;
}

/** The `ArrayBuffer`s of parts, to transfer them: `postMessage(parts, transferList(parts))`. */
export function transferList(parts: Parts | Parts[]): ArrayBuffer[];

/** Every table of an async iterable (a `TableStream`) as one table of their
 * batches; with no tables, an empty table of the iterable's `schema`. */
export function collectTables<S extends SchemaType = SchemaType>(
  iterable: AsyncIterable<Table<S>> & { schema?: Field[] | null; metadata?: Record<string, string> },
  options?: Conversions,
): Promise<Table<S>>;
