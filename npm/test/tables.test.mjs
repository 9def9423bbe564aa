// Tables the page owns (issue 19): multi-batch tables (concat, collect,
// slice, select, at, rows), the useDate / useBigInt conversions, typed
// dictionary keys, parts moved between threads, Symbol.dispose and toIPC of
// derived tables. Every value is checked against Apache Arrow JS reading the
// same bytes in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as arrow from 'apache-arrow';
import * as ls from '../index.js';

await ls.init();

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Three record batches of every kind of column the conversions touch. */
function threeBatches() {
  const dictType = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int8());
  const batch = (k) => {
    const n = 4 + k;
    const ids = Int32Array.from({ length: n }, (_, i) => k * 100 + i);
    const names = Array.from({ length: n }, (_, i) => (i % 3 === 1 ? null : (i % 2 ? `ü-${k}-${i}` : `a${k}${i}`)));
    const kinds = Array.from({ length: n }, (_, i) => (i === 2 ? null : ['x', 'y', 'z'][(i + k) % 3]));
    const flags = Array.from({ length: n }, (_, i) => (i === 3 ? null : (i + k) % 2 === 0));
    const big = BigInt64Array.from({ length: n }, (_, i) => BigInt(k * 1000 + i) - 2n);
    const ts = BigInt64Array.from({ length: n }, (_, i) => 1_700_000_000_123_456n + BigInt(k * 86_400_000_000 + i));
    const days = Int32Array.from({ length: n }, (_, i) => 19_000 + k + i);
    return new arrow.Table({
      id: arrow.makeVector(ids),
      name: arrow.vectorFromArray(names, new arrow.Utf8()),
      kind: arrow.vectorFromArray(kinds, dictType),
      flag: arrow.vectorFromArray(flags, new arrow.Bool()),
      big: arrow.makeVector(big),
      ts: arrow.makeData({ type: new arrow.TimestampMicrosecond(), length: n, data: ts }),
      day: arrow.makeData({ type: new arrow.DateDay(), length: n, data: days }),
    });
  };
  const t = new arrow.Table([batch(0), batch(1), batch(2)].flatMap((b) => b.batches));
  return { ref: t, bytes: arrow.tableToIPC(t, 'stream') };
}

/** Apache Arrow JS's value of column `name` at row `i`, in Lightstream's default form. */
function refValue(ref, name, i) {
  const v = ref.getChild(name).get(i);
  if (v === null || v === undefined) return null;
  if (name === 'ts') {
    // Arrow JS gives float milliseconds; read the stored microseconds instead.
    let at = i;
    for (const d of ref.getChild(name).data) {
      if (at < d.length) return d.values[at];
      at -= d.length;
    }
  }
  if (name === 'day') return Math.round(v / 86_400_000);
  return v;
}

test('a multi-batch table: concat, slice, select, at and rows agree with Apache Arrow JS', () => {
  const { ref, bytes } = threeBatches();
  const tables = ls.decode(bytes);
  assert.equal(tables.length, 3);
  const all = ls.Table.concat(tables);
  assert.equal(all.numBatches, 3);
  assert.equal(all.numRows, ref.numRows);
  assert.deepEqual(tables[0].concat(tables[1], tables[2]).numRows, ref.numRows);
  const names = ref.schema.fields.map((f) => f.name);
  for (const name of names) {
    const col = all.column(name);
    assert.equal(col.numChunks, 3);
    assert.equal(col.length, ref.numRows);
    assert.equal(col.nullCount, ref.getChild(name).nullCount, name);
    const arr = col.toArray();
    for (let i = 0; i < ref.numRows; i++) {
      const want = refValue(ref, name, i);
      assert.deepEqual(col.get(i), want, `${name}[${i}]`);
      if (want !== null) assert.deepEqual(arr[i], want, `${name} toArray()[${i}]`);
      else if (!ArrayBuffer.isView(arr)) assert.equal(arr[i], null);
      assert.equal(col.isValid(i), want !== null);
    }
  }
  // slice across batch boundaries (4, 5 and 6 rows): rows 2..13
  const part = all.slice(2, 13);
  assert.equal(part.numRows, 11);
  assert.equal(part.numBatches, 3);
  for (const name of names) {
    for (let i = 0; i < 11; i++) assert.deepEqual(part.column(name).get(i), refValue(ref, name, i + 2), `slice ${name}[${i}]`);
  }
  assert.deepEqual([...part.column('name').toArray()], Array.from({ length: 11 }, (_, i) => ref.getChild('name').get(i + 2)));
  assert.equal(all.slice(-3).numRows, 3);
  assert.equal(all.slice(20, 5).numRows, 0);
  // validity of a slice off a byte boundary: the bits of rows 2..13
  const v = part.column('name').validity();
  for (let i = 0; i < 11; i++) assert.equal(((v[i >> 3] >> (i & 7)) & 1) === 1, ref.getChild('name').get(i + 2) !== null);
  // select
  const sel = all.select(['day', 'id']);
  assert.deepEqual(sel.schema.map((f) => f.name), ['day', 'id']);
  assert.throws(() => all.select(['nope']), { kind: 'Schema' });
  // at / rows / iteration
  const row = all.at(5);
  assert.equal(row.id, ref.getChild('id').get(5));
  assert.equal(row.big, Number(ref.getChild('big').get(5)));
  assert.deepEqual(all.at(-1), all.at(all.numRows - 1));
  assert.equal(all.at(all.numRows), undefined);
  const rows = [...all];
  assert.equal(rows.length, ref.numRows);
  assert.deepEqual(rows[7], all.toRows()[7]);
  assert.deepEqual(all.toRows(3).length, 3);
  // a schema that differs
  const [other] = ls.decode(arrow.tableToIPC(arrow.tableFromArrays({ id: Int32Array.of(1) }), 'stream'));
  assert.throws(() => all.concat(other), { kind: 'Schema', message: /schemas differ/ });
});

test('numeric toArray of one batch is the owned array; a slice is a view of it', () => {
  const { bytes } = threeBatches();
  const [t] = ls.decode(bytes);
  const a = t.column('id').toArray();
  assert.equal(t.column('id').toArray(), a, 'the same array, no copy');
  const s = t.slice(1, 3).column('id').toArray();
  assert.equal(s.buffer, a.buffer);
  assert.deepEqual([...s], [1, 2]);
  assert.notEqual(t.column('id').toArray({ copy: true }).buffer, a.buffer);
  // free() is a no-op: the arrays stay
  t.free();
  assert.equal(a[3], 3);
});

test('useDate and useBigInt, per call and per decode, as Apache Arrow JS reads the values', () => {
  const { ref, bytes } = threeBatches();
  const all = ls.Table.concat(ls.decode(bytes));
  const ts = all.column('ts');
  const day = all.column('day');
  for (let i = 0; i < all.numRows; i++) {
    // Arrow JS: timestamps and dates as epoch milliseconds (numbers)
    const ms = ref.getChild('ts').get(i);
    assert.ok(Math.abs(ts.get(i, { useDate: 'ms' }) - ms) < 1e-3, `ts ${i}`);
    assert.equal(ts.get(i, { useDate: true }).getTime(), Math.floor(ms));
    assert.equal(day.get(i, { useDate: 'ms' }), ref.getChild('day').get(i));
    assert.ok(day.get(i, { useDate: true }) instanceof Date);
    assert.equal(all.column('big').get(i, { useBigInt: false }), Number(ref.getChild('big').get(i)));
  }
  assert.ok(ts.toArray({ useDate: 'ms' }) instanceof Float64Array);
  assert.ok(ts.toArray({ useDate: true })[0] instanceof Date);
  assert.deepEqual(all.column('big').toArray({ useBigInt: false }).constructor, Float64Array);
  // the same as table defaults, from decode options
  const conv = ls.Table.concat(ls.decode(bytes, { useDate: true, useBigInt: false }));
  assert.ok(conv.column('ts').get(0) instanceof Date);
  assert.equal(typeof conv.column('big').get(0), 'number');
  assert.equal(typeof conv.column('big').get(0, { useBigInt: true }), 'bigint', 'a call overrides the table');
  assert.throws(() => all.column('big').get(0, { useBigInt: 'yes' }), { kind: 'Schema' });
  assert.throws(() => ls.decode(bytes, { useDate: 'seconds' }), { kind: 'Schema' });
  // rows: JSON.stringify takes them as they are
  const json = JSON.parse(JSON.stringify(all.toRows()));
  assert.equal(json[1].big, Number(ref.getChild('big').get(1)));
  assert.equal(json[1].ts, Number(refValue(ref, 'ts', 1)));
  const dated = all.toRows({ useDate: true, limit: 2 });
  assert.equal(JSON.stringify(dated[0].ts), JSON.stringify(new Date(Math.floor(ref.getChild('ts').get(0)))));
});

test('a 64-bit value beyond 2^53 - 1 is an InvalidData error naming column and row, unless useBigInt', () => {
  const t0 = arrow.tableFromArrays({ v: BigInt64Array.of(1n, MAX, MAX + 1n, -MAX - 5n) });
  const [t] = ls.decode(arrow.tableToIPC(t0, 'stream'));
  const col = t.column('v');
  assert.equal(col.get(1, { useBigInt: false }), Number.MAX_SAFE_INTEGER);
  assert.throws(() => col.get(2, { useBigInt: false }), { kind: 'InvalidData', message: /column "v" row 2: 9007199254740992/ });
  assert.throws(() => col.toArray({ useBigInt: false }), { kind: 'InvalidData', message: /column "v" row 2/ });
  assert.throws(() => t.toRows(), { kind: 'InvalidData', message: /useBigInt: true/ });
  assert.deepEqual(t.toRows({ useBigInt: true }).map((r) => r.v), [1n, MAX, MAX + 1n, -MAX - 5n]);
  assert.equal(col.get(2), MAX + 1n, 'BigInt by default');
});

test('dictionary keys() have the schema index type', () => {
  const cases = [
    [new arrow.Int8(), Int8Array],
    [new arrow.Int16(), Int16Array],
    [new arrow.Int32(), Int32Array],
    [new arrow.Int64(), BigInt64Array],
    [new arrow.Uint8(), Uint8Array],
    [new arrow.Uint32(), Uint32Array],
  ];
  for (const [index, ctor] of cases) {
    const type = new arrow.Dictionary(new arrow.Utf8(), index);
    const big = ctor === BigInt64Array;
    const keys0 = big ? BigInt64Array.of(0n, 1n, 0n, 0n) : new ctor([0, 1, 0, 0]);
    const data = arrow.makeData({
      type, length: 4, nullCount: 1, nullBitmap: Uint8Array.of(0b1011), data: keys0,
      dictionary: arrow.vectorFromArray(['b', 'a'], new arrow.Utf8()),
    });
    const ref = new arrow.Table({ d: arrow.makeVector(data) });
    const [t] = ls.decode(arrow.tableToIPC(ref, 'stream'));
    const col = t.column('d');
    const keys = col.keys();
    assert.ok(keys instanceof ctor, `${index}: ${keys.constructor.name}`);
    const refKeys = arrow.tableFromIPC(arrow.tableToIPC(ref, 'stream')).getChild('d').data[0].values;
    for (const i of [0, 1, 3]) assert.equal(Number(keys[i]), Number(refKeys[i]));
    assert.deepEqual(col.toArray(), ['b', 'a', null, 'b']);
    assert.deepEqual(col.dictionary(), ['b', 'a']);
  }
});

test('parts move between threads (structuredClone with transferList) and wrap again without copying', () => {
  const { bytes } = threeBatches();
  const dec = new ls.StreamDecoder();
  const [t] = dec.push(bytes);
  const parts = t.toParts()[0];
  const list = ls.transferList(parts);
  assert.ok(list.length >= 7 && list.every((b) => b instanceof ArrayBuffer));
  const moved = structuredClone(parts, { transfer: list });
  assert.equal(parts.columns[0].values.length, 0, 'the sender\'s arrays are detached by the transfer');
  const back = ls.Table.fromParts(moved);
  assert.deepEqual([...back.column('id').toArray()], [0, 1, 2, 3]);
  assert.deepEqual(back.column('name').toArray(), ['a00', null, 'a02', 'ü-0-3']);
  assert.throws(() => ls.Table.fromParts({}), { kind: 'Malformed' });
});

test('toIPC of concatenated, sliced and selected tables reads back in Apache Arrow JS', () => {
  const { ref, bytes } = threeBatches();
  const all = ls.Table.concat(ls.decode(bytes));
  const back = arrow.tableFromIPC(all.toIPC());
  assert.equal(back.batches.length, 3);
  for (const name of ['id', 'name', 'kind', 'flag', 'big', 'day']) {
    assert.deepEqual(back.getChild(name).toArray(), ref.getChild(name).toArray(), name);
  }
  const part = arrow.tableFromIPC(all.slice(3, 11).select(['name', 'big', 'kind']).toIPC());
  assert.deepEqual(part.schema.fields.map((f) => f.name), ['name', 'big', 'kind']);
  assert.deepEqual([...part.getChild('name')], [...ref.getChild('name')].slice(3, 11));
  assert.deepEqual([...part.getChild('big')], [...ref.getChild('big')].slice(3, 11));
  assert.deepEqual([...part.getChild('kind')], [...ref.getChild('kind')].slice(3, 11));
});

test('a stream collects into one table; Symbol.dispose closes it', async () => {
  const { ref, bytes } = threeBatches();
  const chunks = [bytes.slice(0, 100), bytes.slice(100, 1000), bytes.slice(1000)];
  const body = () => new ReadableStream({ pull(c) { const x = chunks.shift(); x ? c.enqueue(x) : c.close(); } });
  const t = await ls.readStream(body()).collect();
  assert.equal(t.numRows, ref.numRows);
  assert.equal(t.numBatches, 3);
  assert.deepEqual(t.column('name').toArray(), [...ref.getChild('name')]);
  const empty = await ls.collectTables([], { });
  assert.equal(empty.numRows, 0);
  if (typeof Symbol.dispose === 'symbol') {
    chunks.push(bytes.slice(0, 100), bytes.slice(100, 1000), bytes.slice(1000));
    const s = ls.readStream(body());
    s[Symbol.dispose]();
    assert.deepEqual(await s.next(), { done: true, value: undefined });
    assert.equal(typeof t[Symbol.dispose], 'function');
  }
});

test('encoding forged parts is a typed error, never a panic', () => {
  const { bytes } = threeBatches();
  const [t] = ls.decode(bytes);
  const good = t.toParts()[0];
  const col = (name) => good.fields.findIndex((f) => f.name === name);
  const forge = (name, change) => {
    const columns = good.columns.map((c, i) => (i === col(name) ? { ...c, ...change } : c));
    return ls.Table.fromParts({ ...good, columns });
  };
  const bad = [
    ['name', { offsets: Uint32Array.of(0, 5, 2, 9, 9) }, /out of order or past the data/],
    ['name', { offsets: Uint32Array.of(0, 1, 2, 3, 99999) }, /out of order or past the data/],
    ['name', { data: new Uint8Array(16).fill(0xff) }, /invalid UTF-8/],
    ['kind', { keys: Int8Array.of(0, 1, 0, 120) }, /dictionary key out of range at row 3/],
    ['id', { values: Int32Array.of(1, 2) }, /holds 8 bytes, not 4 values/],
    ['flag', { validity: new Uint8Array(0) }, /bitmap "validity" is shorter than 4 bits/],
  ];
  for (const [name, change, message] of bad) {
    assert.throws(() => forge(name, change).toIPC(), { kind: 'InvalidData', message }, `${name}: ${JSON.stringify(Object.keys(change))}`);
  }
  assert.throws(() => ls.Table.fromParts({ ...good, schema: Uint8Array.of(1, 2, 3) }).toIPC(), { kind: 'Schema' });
  // and the unforged parts encode
  assert.equal(arrow.tableFromIPC(ls.Table.fromParts(good).toIPC()).numRows, 4);
});

test('dates before the epoch fall in their millisecond; dates no Date holds are an error; an empty slice keeps its columns', () => {
  const ts = BigInt64Array.of(-1n, -1_500n, 9_000_000_000_000_000_000n);
  const ref = new arrow.Table({ t: arrow.makeData({ type: new arrow.TimestampMicrosecond(), length: 3, data: ts }) });
  const [t] = ls.decode(arrow.tableToIPC(ref, 'stream'));
  const col = t.column('t');
  assert.equal(col.get(0, { useDate: true }).toISOString(), '1969-12-31T23:59:59.999Z');
  assert.equal(col.get(1, { useDate: 'ms' }), -1.5);
  assert.equal(col.get(1, { useDate: true }).getTime(), -2);
  assert.equal(col.get(2, { useDate: 'ms' }), 9e15);
  assert.throws(() => col.get(2, { useDate: true }), { kind: 'InvalidData', message: /column "t" row 2: .* beyond the dates a JavaScript Date holds/ });
  const { bytes } = threeBatches();
  const none = ls.Table.concat(ls.decode(bytes)).slice(5, 5);
  assert.equal(none.numRows, 0);
  assert.deepEqual(none.column('kind').dictionary(), ls.decode(bytes)[0].column('kind').dictionary());
  assert.ok(none.column('kind').keys() instanceof Int8Array);
  assert.deepEqual(none.column('name').toArray(), []);
  const empty = ls.Table.empty(none.schema);
  assert.ok(empty.column('kind').keys() instanceof Int8Array);
  assert.deepEqual(empty.column('kind').dictionary(), []);
});
