// The page side of the browser end-to-end test (driven by tests/browser/e2e.mjs
// through Playwright's page.evaluate). It imports the packed `lightstream-arrow` npm
// package and Apache Arrow JS (`apache-arrow`, resolved by the import map in
// e2e.html) and compares, value by value, what Lightstream decodes with what
// Apache Arrow JS decodes from the very same bytes.
//
// Normal form of a value (both sides are reduced to it, then compared with ===):
//   null                       a null slot (for dictionaries also a key that points
//                              at a null dictionary value: the row is logically null)
//   true / false               Boolean
//   "i:<decimal integer>"      Int8..Int64, UInt8..UInt64; Date32 (days since the
//                              epoch), Date64 (milliseconds); Time32/Time64,
//                              Timestamp (any timezone) and Duration: the stored
//                              count in the type's unit; Decimal32/64/128: the
//                              unscaled integer (the scale lives in the type name)
//   "f:<String(x)>"            Float32/Float64, "-0" for negative zero (NaN and
//                              ±Infinity spelled as String spells them)
//   "s:<text>"                 Utf8, LargeUtf8 and dictionary values
// Lightstream's values come from Column.get(i) (cross-checked against isValid,
// toArray() taken first and as a copy, validity(), nullCount, toRows() and its
// JSON, and dictionary()/keys()). Apache Arrow JS's come from Vector.get(i) for booleans,
// integers, floats and strings; for dictionaries from its decoded dictionary
// vector at its decoded key (Vector.get throws for 64-bit keys in Arrow JS 21);
// and from the decoded value buffer (`data.values`) for temporal and decimal
// types, because its get() converts those lossily (timestamps to float
// milliseconds, decimals through a helper that misreads negative 64-bit ones).

import init, { connect, decode, readStream, openStream, HttpError, Table } from 'lightstream-arrow';
import {
  CompressionType,
  DateUnit,
  Message,
  RecordBatchReader,
  Type,
  compressionRegistry,
} from 'apache-arrow';
import { lz4FrameDecode } from './lz4.js';

// Apache Arrow JS has no built-in codecs: give it LZ4_FRAME (no ZSTD here).
compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: lz4FrameDecode });

// Reports kept: at most this many per column, and MAX_MISMATCHES per table.
const MAX_PER_COLUMN = 3;
const MAX_MISMATCHES = 100;
const UNITS = ['Second', 'Millisecond', 'Microsecond', 'Nanosecond'];

// ------------------------------------------------------------------ helpers --

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      // Named apart so a hang is never mistaken for Lightstream's own Error.
      const e = new Error(`the test page gave up after ${ms} ms: ${what}`);
      e.name = 'TestTimeout';
      reject(e);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function errorInfo(e) {
  return {
    isError: e instanceof Error,
    name: e?.name ?? typeof e,
    message: e instanceof Error ? e.message : String(e),
    kind: e?.kind, // what the package's errors are about (ErrorKind in index.d.ts)
    // Where a bug of the test page (not an error of Lightstream's) was thrown.
    at: e instanceof Error && !(e.name === 'Error') ? String(e.stack).split('\n').slice(1, 3).join(' ').trim() : undefined,
  };
}

function concat(chunks) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function sameValue(a, b) {
  return Object.is(a, b);
}

/** A ReadableStream of `bytes` cut into chunks whose sizes cycle through `sizes`. */
function chunkedStream(bytes, sizes) {
  let at = 0;
  let k = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      const n = sizes[k++ % sizes.length];
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

// -------------------------------------------------------------- type names --

/** Apache Arrow JS's type, spelled the way Lightstream spells Arrow types. */
function arrowTypeName(t) {
  switch (t.typeId) {
    case Type.Null:
      return 'Null';
    case Type.Bool:
      return 'Boolean';
    case Type.Int:
      return `${t.isSigned ? 'Int' : 'UInt'}${t.bitWidth}`;
    case Type.Float:
      return ['Float16', 'Float32', 'Float64'][t.precision];
    case Type.Utf8:
      return 'Utf8';
    case Type.LargeUtf8:
      return 'LargeUtf8';
    case Type.Date:
      return t.unit === DateUnit.DAY ? 'Date32' : 'Date64';
    case Type.Time:
      return `Time${t.bitWidth}(${UNITS[t.unit]})`;
    case Type.Timestamp:
      return `Timestamp(${UNITS[t.unit]}, ${t.timezone ? `"${t.timezone}"` : 'None'})`;
    case Type.Duration:
      return `Duration(${UNITS[t.unit]})`;
    case Type.Decimal:
      return `Decimal${t.bitWidth}(${t.precision}, ${t.scale})`;
    case Type.Dictionary:
      return `Dictionary<${arrowTypeName(t.indices)}, ${arrowTypeName(t.dictionary)}>`;
    default:
      return `unsupported:${String(t)}`;
  }
}

/** What a Lightstream type name's values normalise to. */
function kindOf(typeName) {
  if (typeName === 'Null') return 'null';
  if (typeName === 'Boolean') return 'bool';
  if (typeName === 'Float32' || typeName === 'Float64') return 'float';
  if (typeName === 'Utf8' || typeName === 'LargeUtf8' || typeName.startsWith('Dictionary<')) return 'str';
  return 'int';
}

/** The JS type Column.get(i) returns for a non-null value (index.d.ts). */
function expectedJsType(typeName) {
  const kind = kindOf(typeName);
  if (kind === 'bool') return 'boolean';
  if (kind === 'str') return 'string';
  if (kind === 'float') return 'number';
  if (/^(Int64|UInt64|Date64|Time64|Timestamp|Duration|Decimal64|Decimal128)/.test(typeName)) return 'bigint';
  return 'number';
}

function normalise(kind, v) {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'bool':
      return v;
    case 'float':
      return `f:${Object.is(v, -0) ? '-0' : String(v)}`;
    case 'str':
      return `s:${v}`;
    default:
      return `i:${String(v)}`;
  }
}

// --------------------------------------------------------- lightstream side --

/** A Lightstream table in normal form, with every internal-consistency problem found. */
function lightstreamTable(table, where) {
  const problems = [];
  const problem = (msg) => {
    if (problems.length < MAX_MISMATCHES) problems.push(`${where}: ${msg}`);
  };
  const n = table.numRows;
  const columns = [];
  const schema = table.schema;
  if (table.numColumns !== schema.length) problem(`numColumns ${table.numColumns} != schema length ${schema.length}`);
  let undefinedValidity = false;
  const viewEarly = table.columns().map((c) => c.toArray());
  const rows = table.toRows({ useBigInt: true });
  if (rows.length !== n) problem(`toRows() gave ${rows.length} rows, numRows is ${n}`);
  const firstRows = table.toRows({ limit: 2, useBigInt: true });
  if (firstRows.length !== Math.min(2, n)) problem(`toRows(2) gave ${firstRows.length} rows`);
  // toRows() without options: 64-bit values as numbers, so JSON.stringify takes
  // them; one beyond ±(2^53 - 1) is an InvalidData error, never a rounded number.
  let jsonRows = null;
  try {
    jsonRows = JSON.parse(JSON.stringify(table.toRows()));
  } catch (e) {
    const big = rows.some((r) => Object.values(r).some((v) => typeof v === 'bigint' &&
      (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER))));
    if (e.kind !== 'InvalidData' || !big) problem(`toRows() failed: ${e.kind} ${e.message}`);
  }
  if (jsonRows !== null) {
    for (let i = 0; i < n; i++) {
      for (const [k, v] of Object.entries(rows[i])) {
        const want = typeof v === 'bigint' ? Number(v) : v;
        if (!(Object.is(jsonRows[i][k], want) || (typeof want === 'number' && !Number.isFinite(want) && jsonRows[i][k] === null))) {
          problem(`row ${i} "${k}": JSON of toRows() has ${jsonRows[i][k]}, get() ${String(v)}`);
          break;
        }
      }
    }
  }
  for (let j = 0; j < table.numColumns; j++) {
    const col = table.column(j);
    const byName = table.column(schema[j].name);
    let reported = 0;
    const cp = (msg) => {
      if (reported++ < MAX_PER_COLUMN) problem(`column ${j} "${col.name}" (${col.type}): ${msg}`);
    };
    if (col.name !== schema[j].name || col.type !== schema[j].type || col.nullable !== schema[j].nullable) {
      cp(`column() says ${JSON.stringify([col.name, col.type, col.nullable])}, schema ${JSON.stringify(schema[j])}`);
    }
    if (byName.type !== col.type) cp(`column(name) has type ${byName.type}`);
    if (col.length !== n) cp(`length ${col.length} != numRows ${n}`);
    const kind = kindOf(col.type);
    const jsType = expectedJsType(col.type);
    const copy = col.toArray({ copy: true });
    let validity = col.validity();
    if (validity === undefined) {
      if (!undefinedValidity) problem('validity() returned undefined (index.d.ts: a Uint8Array, or null when no value is null)');
      undefinedValidity = true;
      validity = null;
    }
    const isDict = col.type.startsWith('Dictionary<');
    const dict = isDict ? col.dictionary() : null;
    const keys = isDict ? col.keys({ copy: true }) : null;
    // The page owns the arrays: toArray() taken before every other call (and a
    // free(), now a no-op) still holds every value (nothing detaches).
    const view = viewEarly[j];
    col.free();
    const viewLength = view.length;
    const viewIsTyped = ArrayBuffer.isView(view);
    const viewValues = viewIsTyped ? Array.from(view) : view;
    if (copy.length !== n) cp(`toArray({copy:true}).length ${copy.length} != ${n}`);
    if (viewLength !== n) cp(`toArray().length ${viewLength} != ${n}`);
    const typed = ArrayBuffer.isView(copy);
    if (typed !== viewIsTyped) cp('toArray() and toArray({copy:true}) differ in kind');
    if (kind !== 'int' && kind !== 'float' && typed) cp(`toArray() is a typed array for a ${kind} column`);
    const values = new Array(n);
    let nulls = 0;
    for (let i = 0; i < n; i++) {
      const valid = col.isValid(i);
      const v = col.get(i);
      if (validity !== null && ((validity[i >> 3] >> (i & 7)) & 1) !== (valid ? 1 : 0)) {
        cp(`row ${i}: validity() bit disagrees with isValid() = ${valid}`);
      }
      if (!sameValue(rows[i]?.[col.name], v) && !(v === null && rows[i]?.[col.name] === null)) {
        cp(`row ${i}: toRows() has ${String(rows[i]?.[col.name])}, get() ${String(v)}`);
      }
      if (!valid) {
        nulls++;
        if (v !== null) cp(`row ${i}: isValid() is false but get() is ${String(v)}`);
        if (!typed && copy[i] !== null) cp(`row ${i}: toArray() has ${String(copy[i])} for a null`);
        values[i] = null;
        continue;
      }
      if (v === null) {
        cp(`row ${i}: isValid() is true but get() is null`);
        values[i] = null;
        continue;
      }
      if (typeof v !== jsType) cp(`row ${i}: get() is a ${typeof v}, expected ${jsType}`);
      if (kind === 'int' && typeof v === 'number' && !Number.isInteger(v)) cp(`row ${i}: ${v} is not an integer`);
      if (!sameValue(copy[i], v)) cp(`row ${i}: toArray({copy:true})[i] = ${String(copy[i])}, get() = ${String(v)}`);
      if (!sameValue(viewValues[i], v)) cp(`row ${i}: toArray()[i] = ${String(viewValues[i])}, get() = ${String(v)}`);
      if (isDict && dict[Number(keys[i])] !== v) {
        cp(`row ${i}: dictionary()[keys()[i]] = ${dict[Number(keys[i])]}, get() = ${v}`);
      }
      values[i] = normalise(kind, v);
    }
    if (nulls !== col.nullCount) cp(`nullCount ${col.nullCount}, but ${nulls} rows are not valid`);
    if (reported > MAX_PER_COLUMN) problem(`column ${j} "${col.name}" (${col.type}): ${reported} problems in this column`);
    if (nulls > 0 && validity === null) cp('validity() is null although rows are null');
    columns.push({ name: col.name, type: col.type, nullable: col.nullable, values });
    col.free();
    byName.free();
  }
  return { numRows: n, columns, problems };
}

// ------------------------------------------------------- Apache Arrow side --

function decimalAt(values, i, stride) {
  let x = 0n;
  for (let k = stride - 1; k >= 0; k--) x = (x << 32n) | BigInt(values[i * stride + k]);
  const bits = BigInt(32 * stride);
  if (x >> (bits - 1n)) x -= 1n << bits;
  return x;
}

/** An Apache Arrow JS record batch in normal form. */
function arrowBatch(batch) {
  const n = batch.numRows;
  const columns = batch.schema.fields.map((field, j) => {
    const vec = batch.getChildAt(j);
    const t = field.type;
    const typeName = arrowTypeName(t);
    const values = new Array(n);
    if (vec.data.length !== 1) throw new Error(`column ${field.name}: ${vec.data.length} chunks in one batch`);
    const data = vec.data[0];
    for (let i = 0; i < n; i++) {
      if (t.typeId === Type.Null || !vec.isValid(i)) {
        values[i] = null;
        continue;
      }
      switch (t.typeId) {
        case Type.Bool:
          values[i] = vec.get(i);
          break;
        case Type.Int:
          values[i] = `i:${String(vec.get(i))}`;
          break;
        case Type.Float:
          values[i] = normalise('float', vec.get(i));
          break;
        case Type.Utf8:
        case Type.LargeUtf8:
          values[i] = normalise('str', vec.get(i));
          break;
        case Type.Dictionary:
          // The dictionary vector at the key, as Vector.get does, except that
          // 64-bit keys are made numbers first: Arrow JS 21's get() throws
          // "Cannot mix BigInt and other types" for Int64/UInt64 keys.
          values[i] = normalise('str', data.dictionary.get(Number(data.values[i])));
          break;
        case Type.Date:
        case Type.Time:
        case Type.Timestamp:
        case Type.Duration:
          values[i] = `i:${String(data.values[i])}`;
          break;
        case Type.Decimal:
          values[i] = `i:${decimalAt(data.values, i, t.bitWidth / 32)}`;
          break;
        default:
          throw new Error(`column ${field.name}: no normal form for ${String(t)}`);
      }
    }
    return { name: field.name, type: typeName, nullable: field.nullable, values };
  });
  return { numRows: n, columns };
}

/** Apache Arrow JS's decode of an IPC stream or file: schema and every record batch. */
function arrowDecode(bytes) {
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  // Read the schema first: the reader forgets it once iterated to the end.
  const schema = reader.schema;
  if (!schema) throw new Error('apache-arrow read no schema');
  const batches = [];
  for (const b of reader) {
    // The reader invents one empty batch for a stream without record batches.
    if (b.constructor.name === '_InternalEmptyPlaceholderRecordBatch') continue;
    batches.push(b);
  }
  return { schema, batches };
}

/** Custom metadata (a Map or a plain object) as a plain object with sorted keys:
 * metadata is a map, its order is not part of it. */
function metadataObject(m) {
  const entries = m instanceof Map ? [...m] : Object.entries(m ?? {});
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

// ------------------------------------------------------------- comparison --

function compareSchema(label, lsFields, lsMetadata, arrowSchema, out) {
  const af = arrowSchema.fields;
  if (lsFields === null) {
    out.mismatches.push(`${label}: lightstream has no schema`);
    return;
  }
  if (lsFields.length !== af.length) {
    out.mismatches.push(`${label}: schema has ${lsFields.length} fields, apache-arrow ${af.length}`);
    return;
  }
  for (let j = 0; j < af.length; j++) {
    const want = {
      name: af[j].name,
      type: arrowTypeName(af[j].type),
      nullable: af[j].nullable,
      metadata: metadataObject(af[j].metadata),
    };
    const got = {
      name: lsFields[j].name,
      type: lsFields[j].type,
      nullable: lsFields[j].nullable,
      metadata: metadataObject(lsFields[j].metadata),
    };
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      out.mismatches.push(`${label}: field ${j}: lightstream ${JSON.stringify(got)}, apache-arrow ${JSON.stringify(want)}`);
    }
    out.fieldsCompared++;
  }
  const wantMeta = JSON.stringify(metadataObject(arrowSchema.metadata));
  if (JSON.stringify(metadataObject(lsMetadata)) !== wantMeta) {
    out.mismatches.push(`${label}: schema metadata: lightstream ${JSON.stringify(lsMetadata)}, apache-arrow ${wantMeta}`);
  }
}

/** Compares two tables in normal form; counts compared values into out. */
function compareTables(label, got, want, out, counter = 'valuesCompared') {
  const push = (msg) => {
    if (out.mismatches.length < MAX_MISMATCHES) out.mismatches.push(`${label}: ${msg}`);
  };
  if (got.numRows !== want.numRows) return push(`numRows ${got.numRows}, apache-arrow ${want.numRows}`);
  if (got.columns.length !== want.columns.length) {
    return push(`${got.columns.length} columns, apache-arrow ${want.columns.length}`);
  }
  for (let j = 0; j < want.columns.length; j++) {
    const g = got.columns[j];
    const w = want.columns[j];
    if (g.name !== w.name || g.type !== w.type || g.nullable !== w.nullable) {
      push(`column ${j}: lightstream ${JSON.stringify([g.name, g.type, g.nullable])}, apache-arrow ${JSON.stringify([w.name, w.type, w.nullable])}`);
    }
    let reported = 0;
    for (let i = 0; i < want.numRows; i++) {
      out[counter]++;
      if (g.values[i] !== w.values[i] && reported++ < MAX_PER_COLUMN) {
        push(`column ${j} "${w.name}" (${w.type}) row ${i}: lightstream ${JSON.stringify(g.values[i])}, apache-arrow ${JSON.stringify(w.values[i])}`);
      }
    }
    if (reported > MAX_PER_COLUMN) push(`column ${j} "${w.name}" (${w.type}): ${reported} rows differ`);
  }
}

function newResult(fields) {
  return {
    ...fields,
    valuesCompared: 0, // Lightstream's values against Apache Arrow JS's
    ipcValuesCompared: 0, // Apache Arrow JS's decode of Table.toIPC() against its decode of the wire
    wireValuesCompared: 0, // the same for keepIpc tables, whose toIPC() is the received bytes
    fieldsCompared: 0,
    tables: 0,
    rows: 0,
    mismatches: [],
    problems: [],
  };
}

/**
 * Decodes `tables` (Lightstream tables, freed here) against the reference
 * `ref` ({schema, batches}) into `out`; also round-trips every table through
 * toIPC() into Apache Arrow JS.
 */
function compareAll(label, lsTables, ref, out) {
  if (lsTables.length !== ref.batches.length) {
    out.mismatches.push(`${label}: lightstream gave ${lsTables.length} tables, apache-arrow ${ref.batches.length} batches`);
  }
  const n = Math.min(lsTables.length, ref.batches.length);
  for (let b = 0; b < n; b++) {
    const want = arrowBatch(ref.batches[b]);
    compareTables(`${label} batch ${b}`, lsTables[b].norm, want, out);
    if (lsTables[b].viaIpc) compareTables(`${label} batch ${b} (toIPC)`, lsTables[b].viaIpc, want, out, 'ipcValuesCompared');
  }
}

/**
 * Counts the column buffers of `table` (values, dictionary keys, string
 * bytes and offsets, not LargeUtf8's 64-bit ones, which are rebased into a
 * Uint32Array by design) that are views of a received WebSocket message (the
 * wire views of `exportParts`: a typed array over a larger ArrayBuffer) and
 * those that are copies (an ArrayBuffer of their own), into `out.wireViews`;
 * `sizes` gets, per table, the byteLength of every distinct ArrayBuffer
 * viewed (one: the table's record batch message).
 */
function countWireViews(table, out) {
  const v = (out.wireViews ??= { viewed: 0, copied: 0, sizes: [] });
  const buffers = new Set();
  for (const parts of table.toParts()) {
    for (const [j, c] of parts.columns.entries()) {
      // Large strings' 64-bit offsets become Uint32Array copies by design.
      const large = /large/i.test(String(parts.fields[j]?.type));
      for (const a of [c.values, c.keys, large ? null : c.offsets, c.data]) {
        if (!ArrayBuffer.isView(a) || a.byteLength === 0) continue;
        if (a.byteOffset === 0 && a.buffer.byteLength === a.byteLength) {
          v.copied++;
        } else {
          v.viewed++;
          buffers.add(a.buffer);
        }
      }
    }
  }
  v.sizes.push([...buffers].map((b) => b.byteLength));
}

/** The byte lengths of the record batch messages among `msgs`, in order. */
function batchMessageSizes(msgs) {
  return msgs.filter((m) => {
    const metaLen = new DataView(m.buffer, m.byteOffset, m.byteLength).getInt32(4, true);
    return metaLen > 0 && Message.decode(m.subarray(8, 8 + metaLen)).isRecordBatch();
  }).map((m) => m.byteLength);
}

/** Takes a Lightstream table into normal form (and its toIPC() round trip), then frees it. */
function takeTable(table, where, out, { ipc }) {
  countWireViews(table, out);
  const norm = lightstreamTable(table, where);
  out.problems.push(...norm.problems);
  let viaIpc = null;
  if (ipc) {
    try {
      const back = arrowDecode(table.toIPC());
      if (back.batches.length !== 1) out.problems.push(`${where}: toIPC() decodes to ${back.batches.length} batches`);
      else viaIpc = arrowBatch(back.batches[0]);
    } catch (e) {
      out.problems.push(`${where}: toIPC() is not readable by apache-arrow: ${e.message}`);
    }
  }
  out.tables++;
  out.rows += norm.numRows;
  table.free();
  return { norm, viaIpc };
}

// ------------------------------------------------------------- WebSocket --

/** Every message of one WebSocket session, raw, until the server closes it. */
function collectRaw(url, ms) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['lightstream.arrow.v1']); // as every Lightstream client offers it
    ws.binaryType = 'arraybuffer';
    const msgs = [];
    let texts = 0;
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`raw WebSocket to ${url}: not closed within ${ms} ms`));
    }, ms);
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') texts++;
      else msgs.push(new Uint8Array(e.data));
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      resolve({ msgs, texts, code: e.code, wasClean: e.wasClean });
    };
  });
}

/** What went over the wire: one IPC message per WebSocket message, counted by kind. */
function analyseWire(msgs) {
  const w = {
    messages: msgs.length,
    bytes: 0,
    schema: 0,
    dictionaryBatches: 0,
    deltas: 0,
    replacements: 0,
    recordBatches: 0,
    eos: 0,
    codecs: {},
    problems: [],
  };
  const seen = new Set();
  const codec = (c) => {
    const name = c == null ? 'none' : CompressionType[c.type] ?? `codec ${c.type}`;
    w.codecs[name] = (w.codecs[name] ?? 0) + 1;
  };
  msgs.forEach((m, k) => {
    w.bytes += m.length;
    if (m.length < 8) return w.problems.push(`message ${k}: only ${m.length} bytes`);
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (dv.getUint32(0, true) !== 0xffffffff) return w.problems.push(`message ${k}: no continuation marker`);
    const metaLen = dv.getInt32(4, true);
    if (metaLen === 0) {
      w.eos++;
      if (k !== msgs.length - 1) w.problems.push(`message ${k}: end-of-stream marker before the last message`);
      if (m.length !== 8) w.problems.push(`message ${k}: end-of-stream message of ${m.length} bytes`);
      return;
    }
    if ((8 + metaLen) % 8 !== 0) w.problems.push(`message ${k}: metadata ends unaligned`);
    const msg = Message.decode(m.subarray(8, 8 + metaLen));
    const body = Number(msg.bodyLength);
    if (8 + metaLen + body !== m.length) {
      w.problems.push(`message ${k}: ${m.length} bytes hold ${8 + metaLen + body} bytes of IPC message`);
    }
    if (msg.isSchema()) {
      w.schema++;
      if (k !== 0) w.problems.push(`message ${k}: a schema that is not the first message`);
    } else if (msg.isDictionaryBatch()) {
      const h = msg.header();
      w.dictionaryBatches++;
      if (h.isDelta) w.deltas++;
      else if (seen.has(h.id)) w.replacements++;
      seen.add(h.id);
      codec(h.data.compression);
    } else if (msg.isRecordBatch()) {
      w.recordBatches++;
      codec(msg.header().compression);
    } else {
      w.problems.push(`message ${k}: unexpected header type ${msg.headerType}`);
    }
  });
  return w;
}

/** The encapsulated messages of an IPC stream (for analyseWire). */
function splitStream(bytes) {
  const out = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    const metaLen = dv.getInt32(at + 4, true);
    if (dv.getUint32(at, true) !== 0xffffffff || metaLen < 0) break;
    if (metaLen === 0) {
      out.push(bytes.subarray(at, at + 8));
      break;
    }
    const body = Number(Message.decode(bytes.subarray(at + 8, at + 8 + metaLen)).bodyLength);
    out.push(bytes.subarray(at, at + 8 + metaLen + body));
    at += 8 + metaLen + body;
  }
  return out;
}

/**
 * One WebSocket case: the raw messages (Apache Arrow JS's input) from one
 * session, then Lightstream's connect() on a second session of the same server.
 */
async function wsCase({ url, label, timeoutMs = 20000, fallbackUrl = null, ipc = true }) {
  const out = newResult({ label, url });
  const raw = await collectRaw(url, timeoutMs);
  out.wire = analyseWire(raw.msgs);
  out.rawClose = { code: raw.code, wasClean: raw.wasClean, texts: raw.texts };
  let ref;
  try {
    ref = arrowDecode(concat(raw.msgs));
    out.referenceFrom = 'same bytes';
  } catch (e) {
    out.referenceError = e.message;
    if (fallbackUrl) {
      const fb = await collectRaw(fallbackUrl, timeoutMs);
      ref = arrowDecode(concat(fb.msgs));
      out.referenceFrom = `apache-arrow's decode of ${fallbackUrl} (same tables, uncompressed)`;
    }
  }
  const lsTables = [];
  let stream = null;
  try {
    stream = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, `connect(${url})`);
    out.schema = stream.schema;
    out.metadata = stream.metadata;
    for (;;) {
      const r = await withTimeout(stream.next(), timeoutMs, `next() on ${url}`);
      if (r.done) break;
      lsTables.push(takeTable(r.value, `${label} table ${lsTables.length}`, out, { ipc }));
    }
    out.counters = { tablesRead: stream.tablesRead, rowsRead: stream.rowsRead, bytesRead: stream.bytesRead };
  } catch (e) {
    out.lsError = errorInfo(e);
    try {
      stream?.close();
    } catch (e2) {
      out.problems.push(`close() after an error threw: ${e2.message}`);
    }
    return out;
  }
  if (!ref) {
    out.mismatches.push(`${label}: no apache-arrow reference (${out.referenceError})`);
    return out;
  }
  // A table's wire views are of the message its record batch came in.
  const sizes = batchMessageSizes(raw.msgs);
  out.wireViews?.sizes.forEach((s, b) => {
    if (s.length > 1 || (s.length === 1 && s[0] !== sizes[b])) {
      out.problems.push(`${label} table ${b}: views of ArrayBuffers of ${s.join(', ')} bytes, not of its ${sizes[b]}-byte record batch message`);
    }
  });
  compareSchema(label, out.schema, out.metadata, ref.schema, out);
  compareAll(label, lsTables, ref, out);
  if (ipc && out.referenceFrom === 'same bytes') await keepIpcCase(url, label, raw.msgs, ref, out, timeoutMs);
  return out;
}

/** The IPC stream each table of a batch is handed on as with `keepIpc`: the
 * messages as received (schema, every dictionary batch before it, its record
 * batch) and the end marker. */
function expectedWire(msgs) {
  const out = [];
  const before = [];
  for (const m of msgs) {
    const metaLen = new DataView(m.buffer, m.byteOffset, m.byteLength).getInt32(4, true);
    if (metaLen === 0) break;
    const msg = Message.decode(m.subarray(8, 8 + metaLen));
    if (msg.isRecordBatch()) out.push(concat([...before, m, Uint8Array.of(255, 255, 255, 255, 0, 0, 0, 0)]));
    else before.push(m);
  }
  return out;
}

/** `connect(url, { keepIpc: true })`: every table's toIPC() is the bytes it
 * came in as, byte for byte (nothing re-encoded), and Apache Arrow JS reads
 * the same values from it as from the whole stream. */
async function keepIpcCase(url, label, msgs, ref, out, timeoutMs) {
  const want = expectedWire(msgs);
  const stream = await withTimeout(connect(url, { timeoutMs, keepIpc: true }), timeoutMs + 2000, `connect(${url}, keepIpc)`);
  let b = 0;
  for (;;) {
    const r = await withTimeout(stream.next(), timeoutMs, `next() on ${url} (keepIpc)`);
    if (r.done) break;
    const where = `${label} table ${b} (keepIpc)`;
    const t = r.value;
    if (!t.hasWireBytes) out.problems.push(`${where}: hasWireBytes is false`);
    const bytes = t.toIPC();
    const w = want[b];
    if (w === undefined || w.length !== bytes.length || w.some((x, i) => x !== bytes[i])) {
      out.problems.push(`${where}: toIPC() (${bytes.length} bytes) is not the ${w?.length} bytes received`);
    } else {
      out.wireTables = (out.wireTables ?? 0) + 1;
    }
    const back = arrowDecode(bytes);
    if (back.batches.length !== 1 || b >= ref.batches.length) out.problems.push(`${where}: toIPC() decodes to ${back.batches.length} batches`);
    else compareTables(where, arrowBatch(back.batches[0]), arrowBatch(ref.batches[b]), out, 'wireValuesCompared');
    if (t.slice(0).hasWireBytes) out.problems.push(`${where}: a slice claims the wire bytes`);
    b++;
  }
  if (b !== want.length) out.problems.push(`${label} (keepIpc): ${b} tables, ${want.length} record batches received`);
}

// ------------------------------------------------------------ live feed --

/** The first `messages` messages of a WebSocket session that does not end, then close. */
function collectFirst(url, messages, ms) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['lightstream.arrow.v1']); // as every Lightstream client offers it
    ws.binaryType = 'arraybuffer';
    const msgs = [];
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`raw WebSocket to ${url}: ${msgs.length} of ${messages} messages within ${ms} ms`));
    }, ms);
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') msgs.push(new Uint8Array(e.data));
      if (msgs.length === messages) {
        clearTimeout(timer);
        ws.close();
        resolve(msgs);
      }
    };
    ws.onclose = () => {
      clearTimeout(timer);
      if (msgs.length < messages) reject(new Error(`raw WebSocket to ${url}: closed after ${msgs.length} messages`));
    };
  });
}

/** Normal-form rows of tables (as takeTable leaves them) by the Int64 `seq` in column 0. */
function rowsBySeq(tables, into) {
  for (const { norm } of tables) {
    for (let i = 0; i < norm.numRows; i++) {
      into[norm.columns[0].values[i]] = JSON.stringify(norm.columns.map((c) => c.values[i]));
    }
  }
  return into;
}

/**
 * One page's view of a live feed that never ends (`lightstream demo`): the
 * first `messages` messages of a raw session (a late joiner's stream: schema,
 * dictionaries as they stand, replay window, live tables) decoded by
 * Lightstream's decode() and by Apache Arrow JS and compared value by value,
 * and `tables` tables of a connect() session of the npm package. Returns the
 * comparison, the first sequence number of each session and every row by
 * sequence number (normal form), for the driver to compare across pages.
 */
async function feedCase({ url, label, messages = 40, tables = 20, timeoutMs = 20000 }) {
  const out = newResult({ label, url });
  const [msgs, live] = await Promise.all([
    collectFirst(url, messages, timeoutMs),
    (async () => {
      const got = [];
      const stream = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, `connect(${url})`);
      try {
        while (got.length < tables) {
          const r = await withTimeout(stream.next(), timeoutMs, `next() on ${url}`);
          if (r.done) throw new Error(`the feed ended after ${got.length} tables`);
          got.push(takeTable(r.value, `${label} live table ${got.length}`, out, { ipc: false }));
        }
      } finally {
        stream.close();
      }
      return got;
    })(),
  ]);
  out.wire = analyseWire(msgs);
  // Whole messages were taken: with the end-of-stream marker they are a stream.
  const bytes = concat([...msgs, new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0])]);
  const ref = arrowDecode(bytes);
  const decoded = decode(bytes);
  if (decoded.length === 0) out.mismatches.push(`${label}: no table in the first ${messages} messages`);
  else compareSchema(label, decoded[0].schema, decoded[0].metadata, ref.schema, out);
  const lsTables = decoded.map((t, k) => takeTable(t, `${label} table ${k}`, out, { ipc: true }));
  compareAll(label, lsTables, ref, out);
  out.firstSeq = lsTables[0]?.norm.columns[0].values[0] ?? null;
  out.liveFirstSeq = live[0]?.norm.columns[0].values[0] ?? null;
  out.bySeq = rowsBySeq(lsTables, {});
  out.liveBySeq = rowsBySeq(live, {});
  return out;
}

// ------------------------------------------------------------------- HTTP --

/**
 * decode(bytes) of a fixture fetched over HTTP, and (for streams) readStream of
 * the fetch body and of the same bytes cut into odd-sized chunks, each against
 * Apache Arrow JS's decode of those bytes.
 */
async function httpCase({ url, label, isStream = true, fallbackUrl = null, chunkSizes = [1, 3, 7, 64, 1000, 4096, 13] }) {
  const out = newResult({ label, url, modes: {} });
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  out.bytes = bytes.length;
  if (isStream) out.wire = analyseWire(splitStream(bytes));
  let ref;
  try {
    ref = arrowDecode(bytes);
    out.referenceFrom = 'same bytes';
  } catch (e) {
    out.referenceError = e.message;
    if (fallbackUrl) {
      ref = arrowDecode(new Uint8Array(await (await fetch(fallbackUrl)).arrayBuffer()));
      out.referenceFrom = `apache-arrow's decode of ${fallbackUrl}`;
    }
  }
  const run = async (mode, produce) => {
    const before = out.valuesCompared;
    const lsTables = [];
    try {
      const res = await produce((t) => lsTables.push(takeTable(t, `${label} ${mode} table ${lsTables.length}`, out, { ipc: false })));
      if (!ref) throw new Error(`no apache-arrow reference (${out.referenceError})`);
      if (res?.schema !== undefined) compareSchema(`${label} ${mode}`, res.schema, res.metadata, ref.schema, out);
      compareAll(`${label} ${mode}`, lsTables, ref, out);
      out.modes[mode] = { ok: true, tables: lsTables.length, values: out.valuesCompared - before };
    } catch (e) {
      out.modes[mode] = { ok: false, error: errorInfo(e) };
    }
  };
  await run('decode', async (take) => {
    const tables = decode(bytes);
    if (!Array.isArray(tables)) throw new Error('decode() did not return an array');
    const schema = tables[0]?.schema;
    const metadata = tables[0]?.metadata;
    for (const t of tables) take(t);
    return schema === undefined ? {} : { schema, metadata };
  });
  // decode() of an ArrayBuffer, not only of a Uint8Array.
  await run('decode(ArrayBuffer)', async (take) => {
    for (const t of decode(bytes.slice().buffer)) take(t);
  });
  // Every batch as one table, cut back into the batches by slice() (views
  // that start anywhere in the buffers, bitmaps at any bit), each compared
  // value by value; with the conversions checked against Apache Arrow JS.
  await run('Table.concat + slice', async (take) => {
    const tables = decode(bytes);
    if (tables.length === 0) return {};
    const all = Table.concat(tables);
    if (all.numBatches !== tables.length) throw new Error(`concat: ${all.numBatches} batches of ${tables.length}`);
    if (ref) conversions(label, all, ref, out);
    // Each batch as two chunks, its first row and the rest (a view one row
    // in: every buffer read at an offset, every bitmap off a byte boundary);
    // then slice() takes the batches back out of the whole.
    const split = Table.concat(tables.flatMap((t) => [t.slice(0, 1), t.slice(1)]));
    let from = 0;
    for (const t of tables) {
      take(split.slice(from, from + t.numRows));
      from += t.numRows;
    }
    return { schema: all.schema, metadata: all.metadata };
  });
  if (isStream) {
    const iterate = async (stream, take) => {
      for (;;) {
        const r = await withTimeout(stream.next(), 20000, `readStream next() of ${url}`);
        if (r.done) break;
        take(r.value);
      }
      return { schema: stream.schema, metadata: stream.metadata };
    };
    await run('readStream(fetch body)', async (take) => {
      const body = (await fetch(url)).body;
      return iterate(readStream(body), take);
    });
    await run(`readStream(chunks of ${chunkSizes.join('/')} bytes)`, async (take) =>
      iterate(readStream(chunkedStream(bytes, chunkSizes)), take));
    await run('readStream().collect()', async (take) => {
      const stream = readStream(chunkedStream(bytes, [4096]));
      const all = await stream.collect();
      for (const b of all.batches()) take(b);
      return { schema: stream.schema, metadata: stream.metadata };
    });
  }
  return out;
}

/** useDate / useBigInt against Apache Arrow JS's get() on every row of `all`
 * (its dates and timestamps are epoch milliseconds, its 64-bit integers
 * BigInt), and toRows() through JSON. */
function conversions(label, all, ref, out) {
  const problems = [];
  const refCols = ref.schema.fields.map((_, j) => ref.batches.map((b) => b.getChildAt(j)));
  all.columns().forEach((col, j) => {
    const date = /^(Date32|Date64|Timestamp)/.test(col.type);
    const big = /^(Int64|UInt64)$/.test(col.type);
    if (!date && !big) return;
    let i = 0;
    let reported = 0;
    const bad = (msg) => {
      if (reported++ < MAX_PER_COLUMN) problems.push(`column "${col.name}" (${col.type}) ${msg}`);
    };
    for (const vec of refCols[j]) {
      for (let k = 0; k < vec.length; k++, i++) {
        if (!vec.isValid(k)) continue;
        out.conversionsCompared = (out.conversionsCompared ?? 0) + 1;
        if (big) {
          // Apache Arrow JS: a BigInt; a number where it is exact, else InvalidData
          const want = vec.get(k);
          const beyond = want > BigInt(Number.MAX_SAFE_INTEGER) || want < -BigInt(Number.MAX_SAFE_INTEGER);
          try {
            const got = col.get(i, { useBigInt: false });
            if (beyond || got !== Number(want)) bad(`row ${i}: useBigInt: false gave ${got}, apache-arrow ${want}`);
          } catch (e) {
            if (!(beyond && e.kind === 'InvalidData' && e.message.includes(`row ${i}`))) bad(`row ${i}: ${e.kind} ${e.message}`);
          }
          continue;
        }
        // Dates: epoch milliseconds from Apache Arrow JS's stored value and
        // its type's unit (its get() refuses values beyond 2^53 ms).
        const t = vec.type;
        const raw = Number(vec.data[0].values[k]);
        const want = t.typeId === Type.Date ? (t.unit === DateUnit.DAY ? raw * 86400000 : raw) : raw * [1000, 1, 1e-3, 1e-6][t.unit];
        const got = col.get(i, { useDate: 'ms' });
        if (!(Math.abs(got - want) <= Math.max(1e-3, Math.abs(want) * 1e-12))) bad(`row ${i}: useDate 'ms' gave ${got}, apache-arrow's value is ${want} ms`);
        try {
          const d = col.get(i, { useDate: true });
          if (!(d instanceof Date) || d.getTime() !== Math.floor(got) || Math.abs(want) > 8.64e15) bad(`row ${i}: useDate: true gave ${d}`);
        } catch (e) {
          if (!(Math.abs(want) > 8.64e15 && e.kind === 'InvalidData')) bad(`row ${i}: useDate: true threw ${e.kind} ${e.message}`);
        }
      }
    }
  });
  out.problems.push(...problems.map((p) => `${label} conversions: ${p}`));
}

// ----------------------------------------------------------------- faults --

/** Reads `stream` to its end (at most 1000 tables), counting and freeing the
 * tables in `out.tables` and setting `out.done`; throws what `next()` throws. */
async function drain(stream, out, timeoutMs, url) {
  for (let k = 0; k < 1000; k++) {
    const r = await withTimeout(stream.next(), timeoutMs, `next() on ${url}`);
    if (r.done) {
      out.done = true;
      return;
    }
    out.tables++;
    r.value.free();
  }
}

/** Connects to a misbehaving server and reports where (and how) it failed. */
async function faultCase({ url, timeoutMs = 8000 }) {
  const out = { url, connected: false, tables: 0, connectError: null, iterError: null, done: false };
  let stream;
  try {
    stream = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, `connect(${url})`);
    out.connected = true;
    out.schemaFields = stream.schema?.length ?? null;
  } catch (e) {
    out.connectError = errorInfo(e);
    return out;
  }
  try {
    await drain(stream, out, timeoutMs, url);
  } catch (e) {
    out.iterError = errorInfo(e);
    // After the error the stream is finished: next() resolves done (or rejects again), never hangs.
    try {
      const again = await withTimeout(stream.next(), 3000, 'next() after the error');
      out.afterError = again.done ? 'done' : 'a table';
    } catch (e2) {
      out.afterError = `rejected: ${e2.message}`;
    }
  }
  stream.close();
  return out;
}

/** A plain good run: the page still works. */
async function goodConnect({ url, timeoutMs = 15000 }) {
  const stream = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, `connect(${url})`);
  let tables = 0;
  let rows = 0;
  for (;;) {
    const r = await withTimeout(stream.next(), timeoutMs, `next() on ${url}`);
    if (r.done) break;
    tables++;
    rows += r.value.numRows;
    r.value.column(0).get(0);
    r.value.free();
  }
  return { tables, rows, fields: stream.schema.length };
}

/** Stops early: `break` in for-await (return()) and close() leave the stream done. */
async function earlyStop({ url, timeoutMs = 15000 }) {
  const out = {};
  const s1 = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, 'connect');
  let seen = 0;
  for await (const t of s1) {
    seen++;
    t.free();
    break;
  }
  out.breakTables = seen;
  out.afterBreak = (await withTimeout(s1.next(), 3000, 'next() after break')).done;
  const s2 = await withTimeout(connect(url, { timeoutMs }), timeoutMs + 2000, 'connect');
  const first = await withTimeout(s2.next(), timeoutMs, 'first next()');
  first.value?.free();
  s2.close();
  s2.close(); // idempotent
  out.afterClose = (await withTimeout(s2.next(), 3000, 'next() after close()')).done;
  return out;
}

// --------------------------------------------- web servers (tests/browser/web.mjs) --

/** Apache Arrow JS's decode of what `RecordBatchReader.from(fetch(...))` reads
 * from `url` (with `headers`), the reference of the cases below. */
async function arrowFromFetch(url, headers = {}) {
  const reader = await RecordBatchReader.from(fetch(url, { headers }));
  await reader.open();
  const schema = reader.schema;
  const batches = [];
  for await (const b of reader) {
    if (b.constructor.name === '_InternalEmptyPlaceholderRecordBatch') continue;
    batches.push(b);
  }
  return { schema, batches };
}

/**
 * One stream read by the package from `url`: `openStream(url, { token })`
 * (`via: 'http'`) or `connect(url, { token })` (`via: 'ws'`), every value
 * compared with Apache Arrow JS's read of `refUrl` (fetched with the token as
 * a bearer header). Returns the comparison, or the error the package gave.
 */
async function streamCase({ via, url, refUrl, token, label, timeoutMs = 20000 }) {
  const out = newResult({ label, url, error: null });
  const ref = await arrowFromFetch(refUrl, token ? { authorization: `Bearer ${token}` } : {});
  const lsTables = [];
  try {
    const options = token === undefined ? {} : { token };
    const stream = await withTimeout(via === 'ws' ? connect(url, options) : openStream(url, options), timeoutMs, `open ${url}`);
    for (;;) {
      const r = await withTimeout(stream.next(), timeoutMs, `next() of ${url}`);
      if (r.done) break;
      lsTables.push(takeTable(r.value, `${label} table ${lsTables.length}`, out, { ipc: false }));
    }
    compareSchema(label, stream.schema, stream.metadata, ref.schema, out);
    compareAll(label, lsTables, ref, out);
  } catch (e) {
    out.error = errorInfo(e);
  }
  return out;
}

/** Opens `url` (`via` as above) and reports how it failed: the error's class,
 * kind, HTTP status and message, and the tables read before it. */
async function refusalCase({ via, url, token, timeoutMs = 15000 }) {
  const out = { url, opened: false, tables: 0, done: false, error: null };
  let stream;
  try {
    const options = token === undefined ? {} : { token };
    stream = await withTimeout(via === 'ws' ? connect(url, options) : openStream(url, options), timeoutMs, `open ${url}`);
    out.opened = true;
    await drain(stream, out, timeoutMs, url);
  } catch (e) {
    out.error = { ...errorInfo(e), httpError: e instanceof HttpError, status: e?.status ?? null, detail: e?.detail ?? null };
  }
  stream?.close();
  return out;
}

// ------------------------------------------------------------------- boot --

window.e2e = { wsCase, httpCase, faultCase, goodConnect, earlyStop, feedCase, streamCase, refusalCase };
init().then(
  () => {
    window.e2eReady = true;
  },
  (e) => {
    window.e2eInitError = String(e?.stack ?? e);
  },
);
