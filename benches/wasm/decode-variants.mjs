#!/usr/bin/env node
// Times `decode()` of the browser bench's shapes in Node.js with several
// builds of the npm package's .wasm loaded side by side in one process (runs
// interleaved, the order rotated each round, so load drift hits every build
// alike); prints the minimum and the median per build and input. Used to
// choose the wasm-release opt-level (benches/README.md "Size of the .wasm").
//
// Usage: node benches/wasm/decode-variants.mjs ROUNDS DIR... where each DIR
// holds a wasm-bindgen output in DIR/pkg (e.g. npm, or a copy built with
// CARGO_PROFILE_WASM_RELEASE_OPT_LEVEL=z); inputs are
// $LIGHTSTREAM_BENCH_DATA/browser/shape_{a,b,c}.pyarrow.arrows (written by
// `node benches/web/run.mjs`) and shape_b.{lz4,zstd}.arrows next to them
// (`--compress` writes those with pyarrow first).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const data = path.join(process.env.LIGHTSTREAM_BENCH_DATA ?? path.join(root, 'target', 'bench-data'), 'browser');
const args = process.argv.slice(2);
const compress = args[0] === '--compress' ? args.shift() : null;
const [rounds, ...dirs] = args;
if (!(Number(rounds) > 0) || dirs.length === 0) {
  console.error('usage: node benches/wasm/decode-variants.mjs [--compress] ROUNDS DIR...');
  process.exit(2);
}
const b = path.join(data, 'shape_b.pyarrow.arrows');
if (compress) {
  execFileSync('python3', ['-c', `
import sys, pyarrow.ipc as ipc
t = ipc.open_stream(sys.argv[1]).read_all()
for c in ['lz4', 'zstd']:
    with ipc.new_stream(sys.argv[2] + '/shape_b.' + c + '.arrows', t.schema, options=ipc.IpcWriteOptions(compression=c)) as w:
        for batch in t.to_batches(): w.write_batch(batch)
`, b, data], { stdio: 'inherit' });
}
const files = {
  a: path.join(data, 'shape_a.pyarrow.arrows'),
  b,
  c: path.join(data, 'shape_c.pyarrow.arrows'),
  'b.lz4': path.join(data, 'shape_b.lz4.arrows'),
  'b.zstd': path.join(data, 'shape_b.zstd.arrows'),
};
const builds = [];
for (const dir of dirs.map((d) => path.resolve(d))) {
  // The query makes each build's bindings a module of its own.
  const w = await import(`${path.join(dir, 'pkg', 'lightstream_wasm.js')}?${builds.length}`);
  await w.default({ module_or_path: readFileSync(path.join(dir, 'pkg', 'lightstream_wasm_bg.wasm')) });
  builds.push([dir, w]);
}
const ms = new Map(builds.map(([dir]) => [dir, {}]));
for (const [name, file] of Object.entries(files)) {
  if (!existsSync(file)) {
    console.error(`skipping ${name}: ${file} is missing`);
    continue;
  }
  const bytes = new Uint8Array(readFileSync(file));
  for (let i = 0; i < Number(rounds); i++) {
    for (let j = 0; j < builds.length; j++) {
      const [dir, w] = builds[(i + j) % builds.length];
      const t0 = performance.now();
      const tables = w.decode(bytes, {});
      const t = performance.now() - t0;
      for (const table of tables) table.free();
      (ms.get(dir)[name] ??= []).push(t);
    }
  }
}
for (const [dir, byInput] of ms) {
  const cells = Object.entries(byInput).map(([name, a]) => {
    a.sort((x, y) => x - y);
    return `${name} ${a[0].toFixed(1)} / ${a[a.length >> 1].toFixed(1)} ms`;
  });
  console.log(`${dir}: ${cells.join(', ')} (min / median of ${rounds})`);
}
