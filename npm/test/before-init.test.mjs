// Calls made before `init()` finished: each throws (or rejects with) an error
// that names init(), not a TypeError from inside the bindings. Its own file, so
// that Node's test runner gives it a fresh module (no other test ran init()).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const lightstream = await import('../index.js');
const csv = await import('../csv.js');
const namesInit = { message: /called before the WebAssembly module was loaded: call `await init\(\)`/ };

test('every entry point says init() is missing', async () => {
  assert.throws(() => lightstream.decode(new Uint8Array(8)), { message: /^lightstream-arrow: decode\(\)/ });
  assert.throws(() => csv.decodeCsv('a\n1\n'), { message: /^lightstream-arrow\/csv: decodeCsv\(\).*`await init\(\)` of lightstream-arrow\/csv/ });
  assert.throws(() => lightstream.readStream(new ReadableStream()), namesInit);
  assert.throws(() => new lightstream.StreamDecoder(), { message: /new StreamDecoder\(\)/ });
  assert.throws(() => new csv.CsvDecoder(), { message: /new CsvDecoder\(\)/ });
  await assert.rejects(lightstream.connect('ws://127.0.0.1:9/'), namesInit);
  await assert.rejects(lightstream.openStream('http://127.0.0.1:9/'), namesInit);
});

test('after init() the same calls work', async () => {
  await lightstream.init();
  // The root module's init() does not load the CSV module.
  assert.throws(() => csv.decodeCsv('a\n1\n'), namesInit);
  await csv.init();
  const dec = new lightstream.StreamDecoder();
  assert.ok(dec instanceof lightstream.StreamDecoder);
  assert.deepEqual(dec.push(new Uint8Array(0)), []);
  const [table] = csv.decodeCsv('a\n1\n2\n');
  assert.equal(table.numRows, 2);
  const dec2 = new csv.CsvDecoder();
  const tables = [...dec2.push('a\n7\n'), ...dec2.finish()];
  assert.deepEqual(tables.map((t) => t.column('a').get(0)), [7n]);
  table.free();
});
