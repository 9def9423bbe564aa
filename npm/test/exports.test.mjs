// The package under Node.js's test runner: `init()` with no argument loads the
// .wasm from disk, the values survive a round trip, the decode options work,
// and every name index.d.ts declares exists at run time (so the declarations
// cannot drift from the exports). Needs the built package (`npm run build`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const lightstream = await import('../index.js');
const csv = await import('../csv.js');

/** `export function|class NAME` of a .d.ts, with each class's members. */
function declared(declarations) {
  const names = new Map();
  for (const m of declarations.matchAll(/^export (function|class) (\w+)/gm)) {
    names.set(m[2], { kind: m[1], members: [] });
  }
  for (const m of declarations.matchAll(/^export class (\w+)[^{]*\{([\s\S]*?)^\}/gm)) {
    const members = [...m[2].matchAll(/^ {2}(?:readonly )?(\w+)\??[(:]/gm)].map((x) => x[1]);
    names.get(m[1]).members = members.filter((x) => x !== 'constructor');
  }
  return names;
}

test('every declared function and class exists, with every declared member', async () => {
  for (const [entry, dts, least] of [[lightstream, 'index.d.ts', 8], [csv, 'csv.d.ts', 3]]) {
    const names = declared(await readFile(new URL(`../${dts}`, import.meta.url), 'utf8'));
    assert.ok(names.size >= least, `only ${names.size} declarations found in ${dts}`);
    for (const [name, { kind, members }] of names) {
      assert.equal(typeof entry[name], 'function', `${kind} ${name} of ${dts} is not exported`);
      // An Error subclass sets its fields on the instance.
      const probe = entry[name].prototype instanceof Error ? new entry[name]('probe', {}) : null;
      for (const member of members) {
        assert.ok(member in entry[name].prototype || (probe !== null && member in probe),
          `${name}.${member} is declared in ${dts} but missing`);
      }
    }
    assert.equal(entry.default, entry.init);
  }
  // CSV lives only in its own entry point, and its code only in its own module.
  assert.equal(lightstream.decodeCsv, undefined);
  assert.equal(lightstream.CsvDecoder, undefined);
  const decodeOnly = await import('../pkg/lightstream_wasm.js');
  const withCsv = await import('../pkg-csv/lightstream_wasm.js');
  assert.equal(typeof decodeOnly.decode, 'function');
  assert.equal(decodeOnly.decodeCsv, undefined);
  assert.equal(decodeOnly.CsvDecoder, undefined);
  assert.equal(typeof withCsv.decodeCsv, 'function');
});

test('CSV tables are the same Table class as IPC tables', async () => {
  await lightstream.init();
  await csv.init();
  const [fromCsv] = csv.decodeCsv('a,b\n1,x\n');
  const dec = new csv.CsvDecoder();
  const [pushed] = [...dec.push('a\n2\n'), ...dec.finish()];
  const [fromIpc] = lightstream.decode(fromCsv.toIPC());
  for (const t of [fromCsv, pushed, fromIpc]) assert.ok(t instanceof lightstream.Table);
  assert.deepEqual(fromIpc.column('b').toArray(), ['x']);
  assert.equal(pushed.column('a').get(0), 2n);
});

test('init() without an argument loads the .wasm in Node.js', async () => {
  await lightstream.init();
  await lightstream.init(); // once: the second call is the same load
  await csv.init();
});

test('a CSV table round-trips through toIPC and decode', async () => {
  await lightstream.init();
  // An unquoted empty field is null, a quoted one the empty string (docs/csv.md).
  const [table] = csv.decodeCsv('id,name,score\n1,ada,1.5\n2,"",2.5\n3,,\n');
  assert.equal(table.numRows, 3);
  const bytes = table.toIPC();
  const [back] = lightstream.decode(bytes);
  assert.deepEqual(back.schema.map((f) => `${f.name}: ${f.type}`), ['id: Int64', 'name: Utf8', 'score: Float64']);
  assert.deepEqual(Array.from(back.column('id').toArray()), [1n, 2n, 3n]);
  assert.deepEqual(back.column('name').toArray(), ['ada', '', null]);
  assert.equal(back.column('score').get(0), 1.5);
  assert.equal(back.column('score').get(2), null);
  // The same bytes as a ReadableStream, cut into 7-byte chunks.
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
      controller.close();
    },
  });
  const rows = [];
  for await (const t of lightstream.readStream(stream)) rows.push(...t.toRows());
  assert.deepEqual(rows.map((r) => r.name), ['ada', '', null]);
  for (const t of [table, back]) t.free();
});

test('maxMessageBytes bounds decode and readStream', async () => {
  await lightstream.init();
  await csv.init();
  const [table] = csv.decodeCsv('n\n' + Array.from({ length: 1000 }, (_, i) => i).join('\n') + '\n');
  const bytes = table.toIPC();
  table.free();
  assert.equal(lightstream.decode(bytes, { maxMessageBytes: 1 << 20 })[0].numRows, 1000);
  assert.throws(() => lightstream.decode(bytes, { maxMessageBytes: 1024 }), /limit|exceed/i);
  assert.throws(() => lightstream.decode(bytes, { maxMessageBytes: 0.5 }), /maxMessageBytes/);
  const stream = new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } });
  await assert.rejects(async () => {
    for await (const t of lightstream.readStream(stream, { maxMessageBytes: 1024 })) t.free();
  }, /limit|exceed/i);
});

test('an IPC file given to readStream names the JavaScript call that reads it', async () => {
  await lightstream.init();
  await csv.init();
  const [table] = csv.decodeCsv('n\n1\n');
  const file = new Uint8Array([...new TextEncoder().encode('ARROW1\0\0'), ...table.toIPC()]);
  table.free();
  const stream = new ReadableStream({ start(c) { c.enqueue(file); c.close(); } });
  await assert.rejects(async () => {
    for await (const t of lightstream.readStream(stream)) t.free();
  }, (e) => /Arrow IPC file/.test(e.message) && /decode\(\)/.test(e.message) && !/IpcFileReader \//.test(e.message));
});

test('openStream checks the token, the status and the Content-Type before reading', async () => {
  await lightstream.init();
  await csv.init();
  const [table] = csv.decodeCsv('n\n1\n2\n');
  const bytes = table.toIPC();
  table.free();
  const seen = [];
  // A fetch of our own: what openStream asks for, and the answers it must refuse.
  const answer = (status, type, body) => async (url, init) => {
    seen.push({ url, headers: Object.fromEntries(new Headers(init.headers)) });
    return new Response(body, { status, headers: type ? { 'content-type': type } : {} });
  };
  const stream = await lightstream.openStream('http://x/t', {
    token: 'abc-_.DEF', fetch: answer(200, 'application/vnd.apache.arrow.stream', bytes),
  });
  const rows = [];
  for await (const t of stream) rows.push(...t.toRows().map((r) => r.n));
  assert.deepEqual(rows, [1, 2]); // toRows(): 64-bit integers as numbers (JSON-safe)
  assert.equal(seen[0].headers.authorization, 'Bearer abc-_.DEF');
  assert.equal(seen[0].headers.accept, 'application/vnd.apache.arrow.stream');
  const lz4 = await lightstream.openStream('http://x/t', { codecs: ['lz4', 'zstd'], fetch: answer(200, 'application/vnd.apache.arrow.stream', bytes) });
  lz4.close();
  assert.equal(seen[1].headers.accept, 'application/vnd.apache.arrow.stream; codecs="lz4, zstd"');
  await assert.rejects(lightstream.openStream('http://x/t', { codecs: ['gzip'] }), /codecs/);

  await assert.rejects(lightstream.openStream('http://x/t', { fetch: answer(401, 'text/plain', 'bad token\n') }),
    (e) => e instanceof lightstream.HttpError && e.kind === 'Http' && e.status === 401 && e.detail === 'bad token' &&
      /401/.test(e.message));
  await assert.rejects(lightstream.openStream('http://x/t', { fetch: answer(200, 'text/html', '<html>') }),
    (e) => e instanceof lightstream.HttpError && e.kind === 'ContentType' && e.contentType === 'text/html');
  // A media type with parameters (codecs=...) is the same media type.
  const withCodecs = await lightstream.openStream('http://x/t', {
    fetch: answer(200, 'Application/Vnd.Apache.Arrow.Stream; codecs=lz4', bytes),
  });
  for await (const t of withCodecs) t.free();
  await assert.rejects(lightstream.openStream('http://x/t', { token: 'has space', fetch: answer(200, null, bytes) }),
    (e) => e.kind === 'Token' && !/has space/.test(e.message));
  assert.equal(seen.length, 5, 'a bad token must fail before the request');
  await assert.rejects(lightstream.openStream('http://x/t', { fetch: async () => { throw new TypeError('fetch failed'); } }),
    (e) => e.kind === 'Connect' && /http:\/\/x\/t/.test(e.message));

  // A body cut before the end-of-stream marker rejects as truncated.
  const cut = await lightstream.openStream('http://x/t', {
    fetch: answer(200, 'application/vnd.apache.arrow.stream', bytes.slice(0, bytes.length - 8)),
  });
  await assert.rejects(async () => { for await (const t of cut) t.free(); }, (e) => e.kind === 'Truncated');
});

test('connect rejects a token that cannot be a subprotocol, without repeating it', async () => {
  await lightstream.init();
  await assert.rejects(lightstream.connect('ws://127.0.0.1:9/', { token: 'a b' }),
    (e) => e.kind === 'Token' && /character 2/.test(e.message) && !/a b/.test(e.message));
});
