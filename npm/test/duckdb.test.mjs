// toIPC() hand-offs to DuckDB-wasm (issue 19): `insertArrowFromIPCStream` of
// the bytes a table was received as (keepIpc: the wire messages handed on)
// and of a derived table's re-encoding, queried back and compared with
// Apache Arrow JS's reading of the same source. DuckDB-wasm's Node.js
// blocking build (@duckdb/duckdb-wasm, pinned in scripts/setup.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import * as ls from '../index.js';

const require = createRequire(import.meta.url);
let duckdb = null;
try {
  duckdb = require('@duckdb/duckdb-wasm/dist/duckdb-node-blocking.cjs');
} catch {
  // not installed: bash scripts/setup.sh --with=npm
}

async function openDuckDB() {
  const dist = path.dirname(require.resolve('@duckdb/duckdb-wasm/dist/duckdb-node-blocking.cjs'));
  const bundles = {
    mvp: { mainModule: path.join(dist, 'duckdb-mvp.wasm'), mainWorker: path.join(dist, 'duckdb-node-mvp.worker.cjs') },
    eh: { mainModule: path.join(dist, 'duckdb-eh.wasm'), mainWorker: path.join(dist, 'duckdb-node-eh.worker.cjs') },
  };
  const db = await duckdb.createDuckDB(bundles, new duckdb.VoidLogger(), duckdb.NODE_RUNTIME);
  await db.instantiate();
  return db.connect();
}

/** A stream of two batches with a dictionary, as a server would send it. */
function source() {
  const dict = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const batch = (k) => new arrow.Table({
    id: arrow.makeVector(Int32Array.from({ length: 5 }, (_, i) => k * 10 + i)),
    name: arrow.vectorFromArray(['a', null, 'ç', `x${k}`, ''], new arrow.Utf8()),
    sym: arrow.vectorFromArray(['p', 'q', 'p', null, 'q'], dict),
    big: arrow.makeVector(BigInt64Array.from({ length: 5 }, (_, i) => BigInt(k) * 1_000_000_000_000n + BigInt(i))),
  });
  const t = new arrow.Table([...batch(0).batches, ...batch(1).batches]);
  return { ref: t, bytes: arrow.tableToIPC(t, 'stream') };
}

/** The encapsulated messages of an IPC stream (without the end marker). */
function messages(bytes) {
  const out = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    const metaLen = dv.getInt32(at + 4, true);
    if (metaLen === 0) break;
    const msg = arrow.Message.decode(bytes.subarray(at + 8, at + 8 + metaLen));
    const end = at + 8 + metaLen + Number(msg.bodyLength);
    out.push({ bytes: bytes.slice(at, end), batch: msg.isRecordBatch() });
    at = end;
  }
  return out;
}

/** Rows of `SELECT * FROM name ORDER BY id` in plain form. */
function rowsOf(conn, name) {
  return conn.query(`SELECT id, name, sym::VARCHAR AS sym, big FROM ${name} ORDER BY id`).toArray()
    .map((r) => ({ id: r.id, name: r.name, sym: r.sym, big: BigInt(r.big) }));
}

function refRows(ref, from = 0, to = ref.numRows) {
  const out = [];
  for (let i = from; i < to; i++) {
    out.push({ id: ref.getChild('id').get(i), name: ref.getChild('name').get(i), sym: ref.getChild('sym').get(i), big: ref.getChild('big').get(i) });
  }
  return out;
}

test('DuckDB-wasm reads toIPC() of wire bytes handed on and of a re-encoded slice', { skip: duckdb === null && 'needs @duckdb/duckdb-wasm (scripts/setup.sh --with=npm)' }, async () => {
  await ls.init();
  const conn = await openDuckDB();
  const { ref, bytes } = source();
  // A table as connect(url, { keepIpc: true }) gives it: its parts with the
  // schema, dictionary and its record batch messages as received.
  const msgs = messages(bytes);
  const tables = ls.decode(bytes);
  const firstBatch = msgs.findIndex((m) => m.batch);
  const wire = [...msgs.slice(0, firstBatch).map((m) => m.bytes), msgs[firstBatch].bytes];
  const parts = { ...tables[0].toParts()[0], wire };
  const fromWire = ls.Table.fromParts(parts);
  assert.equal(fromWire.hasWireBytes, true);
  const handed = fromWire.toIPC();
  assert.deepEqual(handed.subarray(0, handed.length - 8), Uint8Array.from(wire.flatMap((m) => [...m])), 'the bytes as received');
  conn.insertArrowFromIPCStream(handed, { name: 'wire' });
  assert.deepEqual(rowsOf(conn, 'wire'), refRows(ref, 0, 5));
  // Apache Arrow JS reads the same bytes to the same values.
  assert.deepEqual([...arrow.tableFromIPC(handed).getChild('name')], refRows(ref, 0, 5).map((r) => r.name));

  // A derived table (two batches concatenated, sliced across them): re-encoded.
  const derived = ls.Table.concat(tables).slice(3, 8);
  assert.equal(derived.hasWireBytes, false);
  conn.insertArrowFromIPCStream(derived.toIPC(), { name: 'derived' });
  assert.deepEqual(rowsOf(conn, 'derived'), refRows(ref, 3, 8));
  conn.close();
});
