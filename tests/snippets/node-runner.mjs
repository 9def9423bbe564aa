// Runs one documentation snippet (an ES module written by run-js.mjs) in
// Node.js and prints what prelude.js recorded as one `@@snippet-result {json}`
// line. Node.js has no page origin, so a relative fetch URL
// (`fetch('/data.arrow')`) resolves against the test's HTTP server, as it would
// against the page's origin in a browser; nothing else differs from the page.
//
//   node tests/snippets/node-runner.mjs SNIPPET.mjs BASE_URL

import path from 'node:path';
import { pathToFileURL } from 'node:url';

import './prelude.js';

const [file, base] = process.argv.slice(2);
const fetchAbsolute = globalThis.fetch;
globalThis.fetch = (input, init) => fetchAbsolute(typeof input === 'string' ? new URL(input, base) : input, init);

let result;
try {
  await import(pathToFileURL(path.resolve(file)).href);
  result = { ok: true };
} catch (e) {
  result = { ok: false, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}`, stack: String(e?.stack ?? '') };
}
process.stdout.write(`\n@@snippet-result ${JSON.stringify({ ...result, ...globalThis.__snippet.report() })}\n`);
process.exit(0);
