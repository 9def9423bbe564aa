// The package under Node.js's test runner: `init()` with no argument loads the
// .wasm from disk, the values survive a round trip, the decode options work,
// and every name index.d.ts declares exists at run time (so the declarations
// cannot drift from the exports). Needs the built package (`npm run build`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const lightstream = await import('../index.js');
const declarations = await readFile(new URL('../index.d.ts', import.meta.url), 'utf8');

/** `export function|class NAME` of index.d.ts, with each class's members. */
function declared() {
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

test('every declared function and class exists, with every declared member', () => {
  const names = declared();
  assert.ok(names.size >= 8, `only ${names.size} declarations found`);
  for (const [name, { kind, members }] of names) {
    assert.equal(typeof lightstream[name], 'function', `${kind} ${name} is not exported`);
    for (const member of members) {
      assert.ok(member in lightstream[name].prototype, `${name}.${member} is declared but missing`);
    }
  }
  assert.equal(lightstream.default, lightstream.init);
});

test('init() without an argument loads the .wasm in Node.js', async () => {
  await lightstream.init();
  await lightstream.init(); // once: the second call is the same load
});

test('a CSV table round-trips through toIPC and decode', async () => {
  await lightstream.init();
  // An unquoted empty field is null, a quoted one the empty string (docs/csv.md).
  const [table] = lightstream.decodeCsv('id,name,score\n1,ada,1.5\n2,"",2.5\n3,,\n');
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
  const [table] = lightstream.decodeCsv('n\n' + Array.from({ length: 1000 }, (_, i) => i).join('\n') + '\n');
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
  const [table] = lightstream.decodeCsv('n\n1\n');
  const file = new Uint8Array([...new TextEncoder().encode('ARROW1\0\0'), ...table.toIPC()]);
  table.free();
  const stream = new ReadableStream({ start(c) { c.enqueue(file); c.close(); } });
  await assert.rejects(async () => {
    for await (const t of lightstream.readStream(stream)) t.free();
  }, (e) => /Arrow IPC file/.test(e.message) && /decode\(\)/.test(e.message) && !/IpcFileReader \//.test(e.message));
});
