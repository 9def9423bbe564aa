// The package in Node.js (issue 19), values checked against Apache Arrow JS
// reading the same bytes in this process: `decode` of pyarrow-written files
// (stream, file, LZ4 and ZSTD bodies), `readStream` of a Node.js Readable and
// of a web ReadableStream, `connect` to `lightstream serve ws://127.0.0.1:0/`
// through the `ws` package (`options.WebSocket`) and through the global
// WebSocket (Node 22+, or Node 20 with --experimental-websocket: npm/test.sh
// runs this file a second time with that flag), the `Connect` error when there
// is none, and the packed package installed outside the repository.
// Needs python3 with pyarrow, and the CLI: $LIGHTSTREAM_BIN, else
// target/debug/lightstream (the connect tests are skipped, saying so, without one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const npmDir = path.resolve(here, '..');
const repo = path.resolve(npmDir, '..');
const require = createRequire(path.join(repo, 'package.json'));
const { tableFromIPC } = await import(require.resolve('apache-arrow'));
const { WebSocket: WsWebSocket } = require('ws');
const lightstream = await import('../index.js');

const bin = process.env.LIGHTSTREAM_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'debug', 'lightstream');
const haveBin = fs.existsSync(bin);
if (process.env.LIGHTSTREAM_BIN && !haveBin) throw new Error(`LIGHTSTREAM_BIN=${bin} does not exist`);

let tmp;
const fixture = (name) => path.join(tmp, name);
const children = [];

// A table pyarrow writes with the types a page meets most: 64-bit integers
// with nulls, doubles, strings (an empty one and nulls), booleans, a
// dictionary and millisecond timestamps; three batches, the last one empty.
const PYTHON = `
import sys, pyarrow as pa, pyarrow.ipc as ipc
out = sys.argv[1]
cities = pa.array(['Oslo', 'Lima', 'Pune'])
def batch(start, n):
    ids = [None if i % 7 == 3 else i * 1_000_000_007 - 5 for i in range(start, start + n)]
    return pa.record_batch({
        'id': pa.array(ids, pa.int64()),
        'x': pa.array([i / 8 - 3.5 for i in range(start, start + n)], pa.float64()),
        'name': pa.array([None if i % 5 == 2 else ('' if i % 5 == 4 else f'n{i}é') for i in range(start, start + n)], pa.utf8()),
        'ok': pa.array([i % 3 == 0 for i in range(start, start + n)], pa.bool_()),
        'city': pa.DictionaryArray.from_arrays(pa.array([i % 3 for i in range(start, start + n)], pa.int32()), cities),
        'at': pa.array([1_700_000_000_000 + i for i in range(start, start + n)], pa.timestamp('ms')),
    })
batches = [batch(0, 1000), batch(1000, 37), batch(1037, 0)]
for name, opts in [('t.arrows', None), ('t.lz4.arrows', 'lz4'), ('t.zstd.arrows', 'zstd')]:
    with ipc.new_stream(f'{out}/{name}', batches[0].schema, options=ipc.IpcWriteOptions(compression=opts)) as w:
        for b in batches: w.write_batch(b)
with ipc.new_file(f'{out}/t.arrow', batches[0].schema) as w:
    for b in batches: w.write_batch(b)
# Six batches of 1,000,000 int64 values (8 MB bodies, no nulls).
import pyarrow.compute as pc
base = pa.array(range(1_000_000), pa.int64())
big = [pa.record_batch({'v': pc.add(base, k * 1_000_000)}) for k in range(6)]
with ipc.new_stream(f'{out}/big.arrows', big[0].schema) as w:
    for b in big: w.write_batch(b)
`;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightstream-node-'));
  const r = spawnSync('python3', ['-c', PYTHON, tmp], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`pyarrow fixtures: ${r.stderr || r.error}`);
  await lightstream.init();
});

after(() => {
  for (const c of children) c.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Apache Arrow JS's rows of an uncompressed IPC stream or file, each value
 * as Lightstream's `Column.get` gives it: 64-bit integers and timestamps as
 * BigInt in the stored unit (Arrow JS gives timestamps as float milliseconds,
 * the stored unit here). */
function arrowRows(bytes) {
  const t = tableFromIPC(bytes);
  const rows = [];
  for (let i = 0; i < t.numRows; i++) {
    const row = {};
    for (const f of t.schema.fields) {
      const v = t.getChild(f.name).get(i);
      row[f.name] = v === null ? null : f.name === 'at' ? BigInt(v) : v;
    }
    rows.push(row);
  }
  return { rows, names: t.schema.fields.map((f) => f.name), batches: t.batches.length };
}

/** Lightstream's rows of its tables, through `Column.get`. */
function lightstreamRows(tables) {
  const rows = [];
  for (const t of tables) {
    const names = t.schema.map((f) => f.name);
    for (let i = 0; i < t.numRows; i++) rows.push(Object.fromEntries(names.map((n) => [n, t.column(n).get(i)])));
  }
  return rows;
}

const reference = () => arrowRows(fs.readFileSync(fixture('t.arrows')));

async function collect(stream) {
  const tables = [];
  for await (const t of stream) tables.push(t);
  return tables;
}

function checkTables(tables, label) {
  const want = reference();
  assert.equal(want.rows.length, 1037);
  assert.deepEqual(tables[0].schema.map((f) => `${f.name}: ${f.type}`),
    ['id: Int64', 'x: Float64', 'name: Utf8', 'ok: Boolean', 'city: Dictionary<Int32, Utf8>', 'at: Timestamp(Millisecond, None)'],
    label);
  assert.equal(tables.length, want.batches, `${label}: tables`);
  assert.deepEqual(lightstreamRows(tables), want.rows, label);
}

test('decode of pyarrow-written streams and files (plain, LZ4, ZSTD) gives Apache Arrow JS values', () => {
  for (const name of ['t.arrows', 't.arrow', 't.lz4.arrows', 't.zstd.arrows']) {
    checkTables(lightstream.decode(fs.readFileSync(fixture(name))), name);
  }
});

test('readStream takes a Node.js Readable and a web ReadableStream', async () => {
  for (const name of ['t.arrows', 't.zstd.arrows']) {
    // Small chunks: messages cross chunk boundaries.
    checkTables(await collect(lightstream.readStream(fs.createReadStream(fixture(name), { highWaterMark: 1000 }))), `${name} Readable`);
    checkTables(await collect(lightstream.readStream(Readable.toWeb(fs.createReadStream(fixture(name))))), `${name} toWeb`);
  }
  // An early close destroys the Node.js stream.
  const source = fs.createReadStream(fixture('t.arrows'), { highWaterMark: 64 });
  const stream = lightstream.readStream(source);
  const { value } = await stream.next();
  assert.equal(value.numRows, 1000);
  stream.close();
  await new Promise((resolve) => (source.destroyed ? resolve() : source.once('close', resolve)));
  assert.throws(() => lightstream.readStream(42), { name: 'TypeError', message: /ReadableStream or an async iterable/ });
});

/** `lightstream serve ws://127.0.0.1:0/ FILE`; resolves to its URL. */
function serve(file, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', 'ws://127.0.0.1:0/', file, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (ws:\/\/\S+)\r?\n/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`lightstream serve exited (${code}): ${err}`)));
  });
}

const noBin = haveBin ? false : `no lightstream binary at ${bin} (set LIGHTSTREAM_BIN)`;

test('connect through the ws package (options.WebSocket)', { skip: noBin }, async () => {
  const url = await serve(fixture('t.arrows'));
  checkTables(await collect(await lightstream.connect(url, { WebSocket: WsWebSocket })), 'ws');
  const zstd = await serve(fixture('t.arrows'), ['--compression', 'zstd']);
  checkTables(await collect(await lightstream.connect(zstd, { WebSocket: WsWebSocket })), 'ws, zstd');
  // Nothing listening: the ws package's error is a Connect error too.
  await assert.rejects(lightstream.connect('ws://127.0.0.1:9/', { WebSocket: WsWebSocket }),
    (e) => e.kind === 'Connect' && /ws:\/\/127\.0\.0\.1:9\//.test(e.message));
});

test('connect through the global WebSocket, or a Connect error naming options.WebSocket without one', { skip: noBin }, async () => {
  const url = await serve(fixture('t.lz4.arrows'));
  if (typeof globalThis.WebSocket === 'function') {
    checkTables(await collect(await lightstream.connect(url)), 'global WebSocket');
  } else {
    await assert.rejects(lightstream.connect(url),
      (e) => e.kind === 'Connect' && /no global WebSocket/.test(e.message) && /options\.WebSocket/.test(e.message));
  }
  await assert.rejects(lightstream.connect(url, { WebSocket: 'ws' }), /option WebSocket must be a WebSocket constructor/);
  await assert.rejects(lightstream.connect(url, { WebSocket: function NotASocket() {} }), /not a WebSocket/);
});

test('wasm connect with eagerParts: parts on arrival, so a consumer that lags holds one body of wasm memory', { skip: noBin }, async () => {
  const pkg = await import('../pkg/lightstream_wasm.js');
  const { memory } = await pkg.default(); // initialised by before(): its exports
  const body = 8_000_000;
  const url = await serve(fixture('big.arrows'));
  const before = memory.buffer.byteLength;
  const s = await pkg.connect(url, { WebSocket: WsWebSocket, eagerParts: true });
  // Take nothing until all six batches have arrived (their bodies alone are 6 x 8 MB).
  while (s.bytesRead < 6 * body) await new Promise((r) => setTimeout(r, 5));
  const grown = memory.buffer.byteLength - before;
  const parts = [];
  for (let r = await s.next(); !r.done; r = await s.next()) parts.push(r.value);
  assert.equal(parts.length, 6);
  assert.ok(!(parts[0] instanceof pkg.Table), 'next() yields parts, not wasm tables');
  // Each body was freed as its parts were made (they view the WebSocket
  // message): the next body reused its memory. Queued wasm tables would have
  // grown it by six bodies.
  assert.ok(grown < 2 * body, `wasm memory grew by ${grown} bytes`);
  const want = tableFromIPC(fs.readFileSync(fixture('big.arrows')));
  parts.forEach((p, i) => {
    const got = lightstream.Table.fromParts(p).column('v').toArray();
    const ref = want.batches[i].getChildAt(0).toArray();
    assert.equal(got.length, 1_000_000);
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength)
      .equals(Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength)), `batch ${i}`);
  });
});

test('the packed package installed outside the repository loads both modules from disk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightstream-install-'));
  try {
    const npm = (...args) => {
      const r = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const tarball = npm('pack', '--silent', '--pack-destination', dir, npmDir).trim().split('\n').pop();
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"app","private":true,"type":"module"}');
    npm('install', '--no-audit', '--no-fund', '--offline', path.join(dir, tarball));
    fs.copyFileSync(fixture('t.arrows'), path.join(dir, 't.arrows'));
    fs.writeFileSync(path.join(dir, 'app.mjs'), `
      import init, { decode } from 'lightstream-arrow';
      import initCsv, { decodeCsv } from 'lightstream-arrow/csv';
      import { readFileSync } from 'node:fs';
      await init();
      await initCsv();
      const tables = decode(readFileSync('t.arrows'));
      const [csv] = decodeCsv('a,b\\n1,x\\n2,y\\n');
      console.log(JSON.stringify([tables.map((t) => t.numRows), String(tables[0].column('id').get(0)), csv.column('b').get(1)]));
    `);
    const r = spawnSync(process.execPath, ['app.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [[1000, 37, 0], '-5', 'y']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
