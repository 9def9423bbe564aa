// Writes the JavaScript examples of npm/README.md and README.md (```js
// blocks, and the module script of ```html blocks; `not run` ones too, with
// the names they take from their context declared) as .mjs files for
// `tsc --strict --checkJs` (npm/test.sh): an example that stops matching
// index.d.ts fails the build. `lightstream-arrow` is mapped to this package.
//   node tests/snippets/ts-examples.mjs OUT_DIR   (prints the files written)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBlocks } from './blocks.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const out = path.resolve(process.argv[2] ?? path.join(repo, 'target', 'npm-examples'));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const rel = (f) => {
  const r = path.relative(out, path.join(repo, 'npm', f)).split(path.sep).join('/');
  return r.startsWith('.') ? r : `./${r}`;
};
const pkg = rel('index.js');
const csvPkg = rel('csv.js');
// The `ws` package (Node.js examples) ships no types: its WebSocket is the
// browser API's as far as `connect` is concerned.
fs.writeFileSync(path.join(out, 'ambient.d.ts'),
  "declare module 'ws' { export const WebSocket: typeof globalThis.WebSocket; }\n");
// What a `not run` block may take from the page around it (declared only for
// a block that uses the name without declaring it).
const context = {
  conn: '/** @type {any} */ const conn = null; // a DuckDB-wasm connection',
  bytes: '/** @type {Uint8Array} */ const bytes = new Uint8Array(0); // an IPC stream',
  url: "const url = 'ws://127.0.0.1:9000/';",
};
let n = 0;
for (const file of ['npm/README.md', 'README.md']) {
  for (const b of readBlocks(repo, file)) {
    let lines = b.lines;
    if (b.lang === 'html') {
      const open = lines.findIndex((l) => /<script type="module">\s*$/.test(l));
      const close = lines.findIndex((l, i) => i > open && /^\s*<\/script>\s*$/.test(l));
      if (open < 0 || close < 0) continue;
      lines = lines.slice(open + 1, close);
    } else if (b.lang !== 'js') {
      continue;
    }
    let src = lines.join('\n')
      .replace(/(['"])(?:\.\/node_modules\/)?lightstream-arrow\/csv(?:\.js)?\1/g, `'${csvPkg}'`)
      .replace(/(['"])(?:\.\/node_modules\/)?lightstream-arrow(?:\/index\.js)?\1/g, `'${pkg}'`);
    if (!/^\s*import\b/m.test(src)) src = `import { init, connect, decode, readStream, openStream, Table } from '${pkg}';\n${src}`;
    const given = Object.entries(context)
      .filter(([k]) => new RegExp(`\\b${k}\\b`).test(src) && !new RegExp(`(const|let|var)\\s+${k}\\b`).test(src))
      .map(([, v]) => v);
    const name = `${path.basename(file, '.md')}-${b.firstLine}.mjs`;
    fs.writeFileSync(path.join(out, name), `// @ts-check\n/// <reference path="./ambient.d.ts" />\n// ${file}:${b.firstLine}\n${given.join('\n')}\n${src}\nexport {};\n`);
    console.log(path.join(out, name));
    n++;
  }
}
if (n === 0) throw new Error('no JavaScript examples found');
