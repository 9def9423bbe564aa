// Tables the page owns: `Table` and `Column` over plain ArrayBuffers that
// wasm's `exportParts` (crates/lightstream-wasm/src/parts.rs) filled once,
// or that a Worker moved to the page. Nothing here points into wasm memory,
// so arrays never detach and `free()` is a no-op (the garbage collector
// releases them). Strings, dictionaries and booleans are materialised by
// the loops of pkg/helpers.js (crates/lightstream-wasm/js/helpers.js), the
// same ones the wasm crate uses.
//
// PARTS (internal format, also in ARCHITECTURE.md; structured-cloneable):
//   { fields: [{name, type, nullable, metadata}], metadata: {k: v}, numRows,
//     columns: [column], schema: Uint8Array, schemaColumns?: number[],
//     wire?: Uint8Array[] }
// Any typed array below may be a "wire view" (parts.rs): a view of the
// WebSocket message's ArrayBuffer (the table's record batch message) at the
// buffer's offset in it, shared by the table's columns and by `wire`'s last
// entry; `transferList` lists it once. Nothing here assumes a typed array
// owns its whole buffer.
// column, by `kind` (every one has `length`, `nullCount` and `validity`:
// an LSB-first Uint8Array bitmap, or null when no row is null):
//   'fixed'   values: typed array of `length` (Int8..Float64, BigInt64 for
//             64-bit integers, decimal64 and 64-bit temporal values; Int32 for
//             decimal32 and 32-bit temporal); `epoch`: 'd'|'s'|'ms'|'us'|'ns'
//             for Date32 / Date64 / Timestamp (what `useDate` converts)
//   'i128'    values: BigInt64Array of 2 * length (decimal128, low word first)
//   'bool'    bits: Uint8Array bitmap of the values
//   'utf8'    offsets: Uint32Array of length + 1 starting at 0, data:
//             Uint8Array (UTF-8), ascii: every byte is ASCII
//   'dict'    keys: typed array of the schema's index type (Int32Array for
//             Arrow's default, signed when the schema is), dictionary:
//             {offsets, data, ascii} like 'utf8'
//   'null'    (no buffers beyond validity)
//   'unsupported' (a type the browser build cannot read; reading it throws)
// `schema` is the schema as an IPC stream of no batches (what wasm
// `encodeParts` re-reads to encode; `schemaColumns`: the positions in it of
// the columns present, after `select`). `wire`, present for a table read
// with `keepIpc: true` straight off a WebSocket, is the messages it came in
// as: the schema, every dictionary batch so far and its record batch (the
// WebSocket messages' own bytes, shared between the tables of a stream but
// the last); `toIPC()` hands them on with an end marker, nothing re-encoded.
//
// A Table is a list of batches (record batches with the same schema); each
// Column is a list of chunks {p: column part, off, len}: slices and
// concatenation make new chunk lists, never copies of the data.
import { ls_fill_strings, ls_take, ls_bools, ls_valid } from './pkg/helpers.js';
import * as wasm from './pkg/lightstream_wasm.js';

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;
const hasDispose = typeof Symbol.dispose === 'symbol';

/** An `Error` with a `kind` (see `ErrorKind` in index.d.ts). */
export function lsError(kind, message, cause) {
  const e = new Error(message);
  e.kind = kind;
  if (cause !== undefined) e.cause = cause;
  return e;
}

// ---------------------------------------------------------------- options

/** Reads `useDate` / `useBigInt` out of an options object (others ignored):
 * throws (kind 'Schema') on a value of the wrong type. */
export function conversions(options, where = 'options') {
  const out = {};
  if (options === undefined || options === null) return out;
  if (typeof options !== 'object') throw lsError('Schema', `${where}: expected an options object`);
  const { useDate, useBigInt } = options;
  if (useDate !== undefined && useDate !== null) {
    if (useDate !== true && useDate !== false && useDate !== 'ms') {
      throw lsError('Schema', `${where}: useDate must be true (Date objects), 'ms' (epoch milliseconds as numbers) or false (raw values), not ${String(useDate)}`);
    }
    out.useDate = useDate;
  }
  if (useBigInt !== undefined && useBigInt !== null) {
    if (typeof useBigInt !== 'boolean') throw lsError('Schema', `${where}: useBigInt must be a boolean, not ${String(useBigInt)}`);
    out.useBigInt = useBigInt;
  }
  return out;
}

// The conversions of one call: the call's options over the table's defaults
// over `base` (what the method does without either).
function pick(defaults, options, base, where) {
  const call = typeof options === 'object' && options !== null ? conversions(options, where) : {};
  return {
    useDate: call.useDate ?? defaults.useDate ?? base.useDate ?? false,
    useBigInt: call.useBigInt ?? defaults.useBigInt ?? base.useBigInt ?? true,
  };
}

const GET_BASE = { useDate: false, useBigInt: true };
// Rows are for JSON and display: 64-bit integers as numbers by default.
const ROW_BASE = { useDate: false, useBigInt: false };

// ---------------------------------------------------------------- values

function bigToNumber(v, name, row) {
  if (v > MAX_SAFE || v < MIN_SAFE) {
    throw lsError('InvalidData', `column "${name}" row ${row}: ${v} does not fit a JavaScript number exactly ` +
      '(beyond ±(2^53 - 1)); read it with useBigInt: true');
  }
  return Number(v);
}

// Milliseconds since the epoch of a date / timestamp value in `unit`.
function epochMs(v, unit) {
  switch (unit) {
    case 'd': return Number(v) * 86400000;
    case 's': return Number(v) * 1000;
    case 'ms': return Number(v);
    case 'us': return typeof v === 'bigint' ? Number(v / 1000n) + Number(v % 1000n) / 1e3 : v / 1e3;
    default: return typeof v === 'bigint' ? Number(v / 1000000n) + Number(v % 1000000n) / 1e6 : v / 1e6;
  }
}

function i128(values, j) {
  return (BigInt.asIntN(64, values[2 * j + 1]) << 64n) | BigInt.asUintN(64, values[2 * j]);
}

// The most milliseconds a Date holds either side of the epoch.
const MAX_DATE_MS = 8.64e15;

// One value of a fixed-width column after the conversions `c`.
function convertFixed(p, v, c, name, row) {
  if (p.epoch !== undefined && c.useDate !== false) {
    const ms = epochMs(v, p.epoch);
    if (c.useDate === 'ms') return ms;
    if (!(Math.abs(ms) <= MAX_DATE_MS)) {
      throw lsError('InvalidData', `column "${name}" row ${row}: ${v} (${p.epoch}) is beyond the dates a JavaScript Date holds ` +
        "(±8.64e15 ms); read it with useDate: 'ms' or false");
    }
    // The millisecond the instant falls in (a Date would truncate toward 0).
    return new Date(Math.floor(ms));
  }
  if (typeof v === 'bigint' && !c.useBigInt) return bigToNumber(v, name, row);
  return v;
}

/** The dictionary values of a 'dict' part, decoded once and kept. */
function dictValues(p) {
  let values = p._values;
  if (values === undefined) {
    const d = p.dictionary;
    const n = d.offsets.length - 1;
    values = new Array(n);
    ls_fill_strings(values, 0, d.data, d.offsets, null, 0, n, d.ascii);
    Object.defineProperty(p, '_values', { value: values, enumerable: false });
  }
  return values;
}

function typeName(p) {
  return p.values.constructor;
}

// Bits off..off+len of an LSB-first bitmap, as a bitmap starting at bit 0: a
// view when `off` is a multiple of 8, else a shifted copy.
function bitsAt(bits, off, len) {
  const nbytes = (len + 7) >>> 3;
  if ((off & 7) === 0) return bits.subarray(off >>> 3, (off >>> 3) + nbytes);
  const out = new Uint8Array(nbytes);
  for (let i = 0; i < len; i++) if (ls_valid(bits, off + i)) out[i >>> 3] |= 1 << (i & 7);
  return out;
}

function countNulls(validity, off, len) {
  if (validity === null) return 0;
  let n = 0;
  for (let i = 0; i < len; i++) if (!ls_valid(validity, off + i)) n++;
  return n;
}

// ---------------------------------------------------------------- Column

// The typed array of a dictionary's keys by the index type in its name.
const KEY_ARRAYS = {
  Int8: Int8Array, Int16: Int16Array, Int32: Int32Array, Int64: BigInt64Array,
  UInt8: Uint8Array, UInt16: Uint16Array, UInt32: Uint32Array, UInt64: BigUint64Array,
};

/** One column of a table: one chunk per record batch, owned by the page. */
export class Column {
  #field;
  #chunks;
  #defaults;
  #starts; // row where each chunk starts, then the length

  /** @internal use `table.column()`. */
  constructor(field, chunks, defaults = {}) {
    this.#field = field;
    this.#chunks = chunks;
    this.#defaults = defaults;
    const starts = [0];
    for (const c of chunks) starts.push(starts[starts.length - 1] + c.len);
    this.#starts = starts;
  }

  get name() { return this.#field.name; }
  get type() { return this.#field.type; }
  get nullable() { return this.#field.nullable; }
  get metadata() { return this.#field.metadata; }
  get length() { return this.#starts[this.#starts.length - 1]; }
  /** Number of record batches (chunks) this column spans. */
  get numChunks() { return this.#chunks.length; }

  get nullCount() {
    let n = 0;
    for (const c of this.#chunks) {
      if (c.off === 0 && c.len === c.p.length) n += c.p.nullCount;
      else n += c.p.kind === 'null' ? c.len : countNulls(c.p.validity, c.off, c.len);
    }
    return n;
  }

  // The chunk holding row i and i's position in its part.
  #locate(i, what) {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw lsError('InvalidData', `${what}: row index ${i} is out of range for column "${this.name}" of length ${this.length}`);
    }
    const s = this.#starts;
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid] <= i) lo = mid; else hi = mid - 1;
    }
    const c = this.#chunks[lo];
    return [c, c.off + (i - s[lo])];
  }

  #unsupported() {
    return lsError('Unsupported', `column "${this.name}" of type ${this.type} is not supported by lightstream-arrow`);
  }

  /** Whether row `i` holds a value; throws when `i` is out of range. */
  isValid(i) {
    const [c, j] = this.#locate(i, 'isValid');
    return c.p.kind !== 'null' && ls_valid(c.p.validity, j);
  }

  /** The value at row `i` (`null` for a null); see index.d.ts for the
   * conversions `options` (`useDate`, `useBigInt`) choose. */
  get(i, options) {
    const [c, j] = this.#locate(i, 'get');
    const p = c.p;
    if (p.kind === 'unsupported') throw this.#unsupported();
    if (p.kind === 'null' || !ls_valid(p.validity, j)) return null;
    switch (p.kind) {
      case 'bool': return ls_valid(p.bits, j);
      case 'fixed': return convertFixed(p, p.values[j], pick(this.#defaults, options, GET_BASE, 'get'), this.name, i);
      case 'i128': {
        const v = i128(p.values, j);
        return pick(this.#defaults, options, GET_BASE, 'get').useBigInt ? v : bigToNumber(v, this.name, i);
      }
      case 'utf8': return utf8.decode(p.data.subarray(p.offsets[j], p.offsets[j + 1]));
      case 'dict': {
        const v = dictValues(p)[Number(p.keys[j])];
        return v === undefined ? null : v;
      }
      default: throw this.#unsupported();
    }
  }

  /**
   * Every value. Fixed-width numbers: a typed array the page owns (of a
   * one-batch column: the column's own array, no copy; a slice is a
   * subarray view; several batches are concatenated into a new one).
   * Booleans, strings, dictionaries, decimal128 and converted dates: an
   * Array with `null` for nulls. `options`: `{copy, useDate, useBigInt}`.
   */
  toArray(options) {
    const copy = options === true || (typeof options === 'object' && options !== null && options.copy === true);
    const c = pick(this.#defaults, typeof options === 'object' ? options : undefined, GET_BASE, 'toArray');
    const chunks = this.#chunks;
    const n = this.length;
    const first = chunks[0]?.p;
    if (first === undefined) return [];
    const kind = first.kind;
    if (kind === 'unsupported') throw this.#unsupported();
    if (kind === 'fixed') {
      const big = typeof first.values[0] === 'bigint' || first.values instanceof BigInt64Array || first.values instanceof BigUint64Array;
      const asDate = first.epoch !== undefined && c.useDate !== false;
      if (asDate && c.useDate === true) return this.#eachValue(c, n);
      if (asDate || (big && !c.useBigInt)) {
        const out = new Float64Array(n);
        let at = 0;
        for (const ch of chunks) {
          const v = ch.p.values;
          const validity = ch.p.validity;
          for (let k = 0; k < ch.len; k++) {
            const j = ch.off + k;
            if (validity !== null && !ls_valid(validity, j)) { out[at + k] = 0; continue; }
            out[at + k] = asDate ? epochMs(v[j], ch.p.epoch) : bigToNumber(v[j], this.name, at + k);
          }
          at += ch.len;
        }
        return out;
      }
      if (chunks.length === 1) {
        const ch = chunks[0];
        const view = ch.off === 0 && ch.len === ch.p.values.length ? ch.p.values : ch.p.values.subarray(ch.off, ch.off + ch.len);
        return copy ? view.slice() : view;
      }
      const out = new (typeName(first))(n);
      let at = 0;
      for (const ch of chunks) {
        out.set(ch.p.values.subarray(ch.off, ch.off + ch.len), at);
        at += ch.len;
      }
      return out;
    }
    const out = new Array(n);
    let at = 0;
    for (const ch of chunks) {
      const p = ch.p;
      switch (p.kind) {
        case 'utf8':
          ls_fill_strings(out, at, p.data, p.offsets.subarray(ch.off, ch.off + ch.len + 1), p.validity, ch.off, ch.len, p.ascii);
          break;
        case 'dict':
          ls_take(out, at, dictValues(p), p.keys.subarray(ch.off, ch.off + ch.len), p.validity, ch.off, ch.len);
          break;
        case 'bool':
          ls_bools(out, at, p.bits, ch.off, p.validity, ch.off, ch.len);
          break;
        case 'null':
          out.fill(null, at, at + ch.len);
          break;
        case 'i128':
          for (let k = 0; k < ch.len; k++) {
            const j = ch.off + k;
            out[at + k] = ls_valid(p.validity, j)
              ? (c.useBigInt ? i128(p.values, j) : bigToNumber(i128(p.values, j), this.name, at + k))
              : null;
          }
          break;
        default:
          throw this.#unsupported();
      }
      at += ch.len;
    }
    return out;
  }

  // An Array of every value through get's conversions (dates as Date).
  #eachValue(c, n) {
    const out = new Array(n);
    let at = 0;
    for (const ch of this.#chunks) {
      for (let k = 0; k < ch.len; k++) {
        const j = ch.off + k;
        out[at + k] = ls_valid(ch.p.validity, j) ? convertFixed(ch.p, ch.p.values[j], c, this.name, at + k) : null;
      }
      at += ch.len;
    }
    return out;
  }

  /** The validity bitmap (LSB first, bit i = row i), or `null` when no row
   * is null. Of a one-batch column it is the column's own bitmap; a slice
   * that starts off a byte boundary, or several batches, give a copy. */
  validity() {
    if (this.nullCount === 0) return null;
    if (this.#chunks.length === 1) {
      const ch = this.#chunks[0];
      if (ch.p.kind === 'null') return new Uint8Array((ch.len + 7) >>> 3);
      return bitsAt(ch.p.validity, ch.off, ch.len);
    }
    return this.#concatBits((p) => (p.kind === 'null' ? null : p.validity ?? undefined));
  }

  // Concatenated bitmaps of every chunk; `bitsOf` gives a chunk's bitmap,
  // undefined for "all set", null for "all clear".
  #concatBits(bitsOf) {
    const out = new Uint8Array((this.length + 7) >>> 3);
    let at = 0;
    for (const ch of this.#chunks) {
      const bits = bitsOf(ch.p);
      for (let k = 0; k < ch.len; k++) {
        const set = bits === undefined ? true : bits === null ? false : ls_valid(bits, ch.off + k);
        if (set) out[(at + k) >>> 3] |= 1 << ((at + k) & 7);
      }
      at += ch.len;
    }
    return out;
  }

  /** Boolean columns: the values bitmap (LSB first). */
  bitmap() {
    if (this.#chunks.some((ch) => ch.p.kind !== 'bool')) {
      throw lsError('Schema', `column "${this.name}" (${this.type}) is not boolean`);
    }
    if (this.#chunks.length === 1) {
      const ch = this.#chunks[0];
      return bitsAt(ch.p.bits, ch.off, ch.len);
    }
    return this.#concatBits((p) => p.bits);
  }

  #dictChunks() {
    const isDict = this.#chunks.length === 0 ? this.type.startsWith('Dictionary<') : this.#chunks.every((ch) => ch.p.kind === 'dict');
    if (!isDict) throw lsError('Schema', `column "${this.name}" (${this.type}) is not dictionary-encoded`);
    return this.#chunks;
  }

  /** Dictionary columns: the dictionary's values (of the first batch; each
   * batch of a multi-batch column may have its own, see `keys()`). */
  dictionary() {
    const chunks = this.#dictChunks();
    return chunks.length === 0 ? [] : dictValues(chunks[0].p).slice();
  }

  /** Dictionary columns: the keys, a typed array of the schema's index type
   * (Int32Array for Arrow's default Int32 keys). With several batches whose
   * dictionaries differ, keys index each batch's own dictionary. */
  keys(options) {
    const chunks = this.#dictChunks();
    const copy = options === true || (typeof options === 'object' && options !== null && options.copy === true);
    if (chunks.length === 0) return new (KEY_ARRAYS[/^Dictionary<(\w+),/.exec(this.type)?.[1]] ?? Int32Array)(0);
    if (chunks.length === 1) {
      const ch = chunks[0];
      const k = ch.off === 0 && ch.len === ch.p.keys.length ? ch.p.keys : ch.p.keys.subarray(ch.off, ch.off + ch.len);
      return copy ? k.slice() : k;
    }
    const out = new chunks[0].p.keys.constructor(this.length);
    let at = 0;
    for (const ch of chunks) {
      out.set(ch.p.keys.subarray(ch.off, ch.off + ch.len), at);
      at += ch.len;
    }
    return out;
  }

  /** The values, one by one (as `get`). */
  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** Nothing to release: the column's buffers belong to the page (kept for
   * code written against earlier versions). */
  free() {}
}

// ---------------------------------------------------------------- Table

function sameFields(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].name !== b[i].name || a[i].type !== b[i].type || a[i].nullable !== b[i].nullable) return false;
  }
  return true;
}

function describeFields(fields) {
  return fields.map((f) => `${f.name}: ${f.type}${f.nullable ? '' : ' not null'}`).join(', ');
}

/** A table of one or more record batches with one schema, owned by the page. */
export class Table {
  #fields;
  #metadata;
  #batches; // [{numRows, chunks: [{p, off, len}]}]
  #defaults;
  #ipc;
  #schemaIpc;
  #cols = [];

  /** @internal use `Table.fromParts`, `decode`, a stream, `concat`. */
  constructor(fields, metadata, batches, defaults = {}, ipc = undefined, schemaIpc = undefined) {
    this.#schemaIpc = schemaIpc;
    this.#fields = fields;
    this.#metadata = metadata;
    this.#batches = batches;
    this.#defaults = defaults;
    this.#ipc = ipc;
  }

  /** Wraps parts (from wasm `exportParts`, or moved from a Worker) without
   * copying. `options`: the table's default `useDate` / `useBigInt`. */
  static fromParts(parts, options) {
    if (parts === null || typeof parts !== 'object' || !Array.isArray(parts.fields) || !Array.isArray(parts.columns)) {
      throw lsError('Malformed', 'Table.fromParts: not the parts of a table');
    }
    const n = parts.numRows;
    const chunks = parts.columns.map((p) => ({ p, off: 0, len: n }));
    return new Table(parts.fields, parts.metadata ?? {}, [{ numRows: n, chunks }], conversions(options, 'Table.fromParts'),
      Array.isArray(parts.wire) ? parts.wire : undefined,
      parts.schema === undefined ? undefined : { ipc: parts.schema, columns: parts.schemaColumns ?? null });
  }

  /** An empty table (no batches) with these fields. */
  static empty(fields, metadata = {}, options, schemaIpc = undefined) {
    return new Table(fields, metadata, [], conversions(options, 'Table.empty'), undefined, schemaIpc);
  }

  /** The batches of every table, one after another, as one table (no copy).
   * Throws (kind 'Schema') unless all have the same fields. */
  static concat(...tables) {
    const list = tables.flat();
    if (list.length === 0) throw lsError('Schema', 'Table.concat: no tables');
    const [first] = list;
    const batches = [];
    for (const t of list) {
      if (!(t instanceof Table)) throw lsError('Schema', 'Table.concat: every argument must be a Table');
      if (!sameFields(first.#fields, t.#fields)) {
        throw lsError('Schema', `Table.concat: schemas differ: (${describeFields(first.#fields)}) and (${describeFields(t.#fields)})`);
      }
      batches.push(...t.#batches);
    }
    return new Table(first.#fields, first.#metadata, batches, first.#defaults, list.length === 1 ? first.#ipc : undefined,
      first.#schemaIpc);
  }

  /** This table's batches followed by those of `others` (see `Table.concat`). */
  concat(...others) {
    return Table.concat(this, ...others);
  }

  get numRows() {
    let n = 0;
    for (const b of this.#batches) n += b.numRows;
    return n;
  }
  get numColumns() { return this.#fields.length; }
  /** Number of record batches. */
  get numBatches() { return this.#batches.length; }
  /** The fields: `{name, type, nullable, metadata}` (a copy of the list). */
  get schema() { return this.#fields.map((f) => ({ ...f })); }
  get metadata() { return this.#metadata; }

  #index(key, what) {
    if (typeof key === 'number') {
      if (Number.isInteger(key) && key >= 0 && key < this.#fields.length) return key;
      throw lsError('Schema', `${what}: column index ${key} is out of range: the table has ${this.#fields.length} columns`);
    }
    if (typeof key === 'string') {
      const i = this.#fields.findIndex((f) => f.name === key);
      if (i >= 0) return i;
      throw lsError('Schema', `${what}: no column named "${key}"`);
    }
    throw lsError('Schema', `${what}: expected a column name (string) or index (number)`);
  }

  /** A column by position or name; throws (kind 'Schema') when there is none. */
  column(nameOrIndex) {
    const i = this.#index(nameOrIndex, 'column');
    this.#cols[i] ??= new Column(this.#fields[i], this.#batches.map((b) => b.chunks[i]), this.#defaults);
    return this.#cols[i];
  }

  columns() {
    return this.#fields.map((_, i) => this.column(i));
  }

  /** A table of these columns (names or positions), in this order. */
  select(names) {
    const list = Array.isArray(names) ? names : [names];
    const idx = list.map((k) => this.#index(k, 'select'));
    return new Table(idx.map((i) => this.#fields[i]), this.#metadata,
      this.#batches.map((b) => ({ numRows: b.numRows, chunks: idx.map((i) => b.chunks[i]) })), this.#defaults,
      undefined, this.#schemaIpc === undefined ? undefined
        : { ipc: this.#schemaIpc.ipc, columns: idx.map((i) => this.#schemaIpc.columns?.[i] ?? i) });
  }

  /** Rows begin..end (as `Array.prototype.slice`: negative counts from the
   * end, end defaults to numRows): views of the same buffers, no copy. */
  slice(begin = 0, end = undefined) {
    const n = this.numRows;
    const clamp = (x) => (x < 0 ? Math.max(n + x, 0) : Math.min(x, n));
    const b = clamp(Math.trunc(Number(begin) || 0));
    const e = end === undefined ? n : clamp(Math.trunc(Number(end) || 0));
    const batches = [];
    let at = 0;
    for (const batch of this.#batches) {
      const s = Math.max(b, at);
      const t = Math.min(e, at + batch.numRows);
      if (s < t) {
        batches.push({
          numRows: t - s,
          chunks: batch.chunks.map((c) => ({ p: c.p, off: c.off + (s - at), len: t - s })),
        });
      }
      at += batch.numRows;
    }
    // An empty slice keeps a batch of no rows, so its columns keep their kind.
    if (batches.length === 0 && this.#batches.length > 0) {
      const first = this.#batches[0];
      batches.push({ numRows: 0, chunks: first.chunks.map((c) => ({ p: c.p, off: c.off, len: 0 })) });
    }
    return new Table(this.#fields, this.#metadata, batches, this.#defaults, undefined, this.#schemaIpc);
  }

  /** Row `i` as a plain object keyed by column name (negative counts from
   * the end; `undefined` out of range). Values as `toRows` gives them. */
  at(i, options) {
    const n = this.numRows;
    const k = i < 0 ? n + i : i;
    if (!Number.isInteger(k) || k < 0 || k >= n) return undefined;
    const c = pick(this.#defaults, options, ROW_BASE, 'at');
    const row = {};
    for (let j = 0; j < this.#fields.length; j++) row[this.#fields[j].name] = this.column(j).get(k, c);
    return row;
  }

  /** The first `limit` rows (all by default) as plain objects keyed by
   * column name. `toRows(limit)` or `toRows({limit, useDate, useBigInt})`.
   * Without options 64-bit integers are numbers (so `JSON.stringify` takes
   * the rows): one beyond ±(2^53 - 1) throws (kind 'InvalidData') naming
   * column and row; pass `useBigInt: true` for BigInt. */
  toRows(options) {
    const opts = typeof options === 'number' ? { limit: options } : options ?? {};
    const n = opts.limit === undefined || opts.limit === null ? this.numRows : Math.max(0, Math.min(opts.limit, this.numRows));
    const c = pick(this.#defaults, opts, ROW_BASE, 'toRows');
    const t = n < this.numRows ? this.slice(0, n) : this;
    const rows = new Array(n);
    for (let i = 0; i < n; i++) rows[i] = {};
    t.columns().forEach((col) => {
      const name = col.name;
      // One toArray per column (the JS fill loops), then nulls where the
      // typed arrays hold unspecified numbers.
      const values = col.toArray(c);
      const validity = ArrayBuffer.isView(values) ? col.validity() : null;
      for (let i = 0; i < n; i++) {
        rows[i][name] = validity !== null && !ls_valid(validity, i) ? null : values[i];
      }
    });
    return rows;
  }

  /** Rows one by one, as `at(i)` gives them. */
  *[Symbol.iterator]() {
    const n = this.numRows;
    for (let i = 0; i < n; i++) yield this.at(i);
  }

  /** The tables of each batch (views, no copy). */
  batches() {
    return this.#batches.map((b) => new Table(this.#fields, this.#metadata, [b], this.#defaults,
      this.#batches.length === 1 ? this.#ipc : undefined, this.#schemaIpc));
  }

  /** Whether `toIPC()` hands on the bytes the table arrived as (a table read
   * with `keepIpc: true` straight off a WebSocket; not after slice, select
   * or concat of several). */
  get hasWireBytes() { return this.#ipc !== undefined; }

  /** The table as an Arrow IPC stream (for Apache Arrow JS `tableFromIPC`,
   * DuckDB-wasm `insertArrowFromIPCStream`, ...): the bytes it came in as
   * when it came straight off the wire (nothing re-encoded), else encoded
   * (by the wasm module, which must be loaded) with one record batch per
   * batch of the table. */
  toIPC() {
    if (this.#ipc !== undefined) return wireStream(this.#ipc);
    return wasm.encodeParts(this.toParts());
  }

  /** The table as parts, one per batch (`{fields, metadata, numRows,
   * columns}` each): sliced chunks are copied into buffers of their own. */
  toParts() {
    return this.#batches.map((b) => ({
      schema: this.#schemaIpc?.ipc,
      schemaColumns: this.#schemaIpc?.columns ?? null,
      fields: this.#fields,
      metadata: this.#metadata,
      numRows: b.numRows,
      columns: b.chunks.map(ownPart),
    }));
  }

  /** Nothing to release (kept for code written against earlier versions):
   * the table's buffers belong to the page and are garbage collected. */
  free() {}
}

// A column part of exactly this chunk's rows (the part itself when the
// chunk is all of it; else copies of the chunk's buffers).
function ownPart(c) {
  const p = c.p;
  if (c.off === 0 && c.len === p.length) return p;
  const { off, len } = c;
  const out = { kind: p.kind, length: len, nullCount: p.kind === 'null' ? len : countNulls(p.validity, off, len) };
  out.validity = p.validity === null || out.nullCount === 0 ? null : bitsAt(p.validity, off, len).slice();
  switch (p.kind) {
    case 'fixed':
      out.values = p.values.slice(off, off + len);
      if (p.epoch !== undefined) out.epoch = p.epoch;
      break;
    case 'i128': out.values = p.values.slice(2 * off, 2 * (off + len)); break;
    case 'bool': out.bits = bitsAt(p.bits, off, len).slice(); break;
    case 'utf8': {
      const base = p.offsets[off];
      out.offsets = p.offsets.slice(off, off + len + 1).map((o) => o - base);
      out.data = p.data.slice(base, p.offsets[off + len]);
      out.ascii = p.ascii;
      break;
    }
    case 'dict':
      out.keys = p.keys.slice(off, off + len);
      out.dictionary = p.dictionary;
      break;
    default: break;
  }
  return out;
}

// The end-of-stream marker: continuation token, zero metadata length.
const EOS = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

// The messages a table came in as, one after another, then the end marker:
// an IPC stream of the bytes as received.
function wireStream(messages) {
  let n = EOS.length;
  for (const m of messages) n += m.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const m of messages) {
    out.set(m instanceof Uint8Array ? m : new Uint8Array(m), at);
    at += m.byteLength;
  }
  out.set(EOS, at);
  return out;
}

if (hasDispose) {
  Table.prototype[Symbol.dispose] = Table.prototype.free;
  Column.prototype[Symbol.dispose] = Column.prototype.free;
}

/** The ArrayBuffers of parts (or a list of parts), for
 * `postMessage(parts, transferList(parts))`: each once. */
export function transferList(parts) {
  const seen = new Set();
  const visit = (x) => {
    if (x === null || typeof x !== 'object') return;
    if (ArrayBuffer.isView(x)) {
      if (!(typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer)) seen.add(x.buffer);
      return;
    }
    if (x instanceof ArrayBuffer) { seen.add(x); return; }
    if (Array.isArray(x)) { for (const y of x) visit(y); return; }
    for (const k of Object.keys(x)) {
      if (k === 'fields' || k === 'metadata') continue;
      // Of the wire messages only the record batch is this table's own: the
      // schema and dictionaries are shared with the stream's other tables
      // (moving them would detach theirs), so they are copied.
      if (k === 'wire' && Array.isArray(x[k])) visit(x[k][x[k].length - 1]);
      else visit(x[k]);
    }
  };
  visit(parts);
  return [...seen];
}

/** Every table of an async iterable of tables (a `TableStream`), as one
 * table of their batches. No tables: an empty table with the iterable's
 * `schema` when it has one. */
export async function collectTables(iterable, options) {
  const tables = [];
  for await (const t of iterable) tables.push(t);
  if (tables.length > 0) return Table.concat(tables);
  const fields = Array.isArray(iterable?.schema) ? iterable.schema : [];
  return Table.empty(fields, iterable?.metadata ?? {}, options);
}
