// The fenced code blocks of the documentation, read at test time so that the
// checks (run-js.mjs, walkthrough.sh) run exactly what the docs say. One
// reader for both: run-js.mjs imports it, walkthrough.sh calls it as a command.
// It knows markdown fences and the `<!-- not run: reason -->` marker, nothing
// about running code.
//
//   node tests/snippets/blocks.mjs --lang sh,bash FILE... --out DIR
//     writes DIR/N.code (the block) and DIR/N.meta (file, first line of code,
//     lang, why not run, the fence's info string) for every block of those
//     languages; prints how many.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NOT_RUN = /^<!--\s*not run:\s*(.*?)\s*-->$/;

/**
 * Every fenced block of `file` (a path relative to `root`): { file, line (of
 * the opening fence, 1-based), firstLine (of the code), lang, info, code,
 * lines, heading (the nearest heading above), notRun (the marker's reason or
 * null) }. A `not run` marker must be the last non-blank line before a fence
 * and give a reason; a marker anywhere else is an error, so none goes stale.
 */
export function readBlocks(root, file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const lines = text.split('\n');
  const blocks = [];
  let heading = '';
  let pending = null; // { reason, line } of a marker waiting for its fence
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^ {0,3}(`{3,})\s*([^`]*)$/.exec(line);
    if (fence) {
      const info = fence[2].trim();
      const end = lines.findIndex((l, j) => j > i && l.trim().startsWith(fence[1]) && l.trim().replace(/`/g, '') === '');
      if (end < 0) throw new Error(`${file}:${i + 1}: a code fence that is never closed`);
      const code = lines.slice(i + 1, end);
      blocks.push({
        file,
        line: i + 1,
        firstLine: i + 2,
        lang: info.split(/[\s,]/)[0].toLowerCase(),
        info,
        code: code.join('\n'),
        lines: code,
        heading,
        notRun: pending?.reason ?? null,
      });
      pending = null;
      i = end;
      continue;
    }
    const marker = NOT_RUN.exec(line.trim());
    if (marker) {
      if (!marker[1]) throw new Error(`${file}:${i + 1}: a "not run" marker must say why`);
      if (pending) throw new Error(`${file}:${pending.line}: a "not run" marker with no code block after it`);
      pending = { reason: marker[1], line: i + 1 };
      continue;
    }
    if (/^#{1,6}\s/.test(line)) heading = line.replace(/^#+\s*/, '').trim();
    if (pending && line.trim() !== '') {
      throw new Error(`${file}:${pending.line}: a "not run" marker must come right before its code block`);
    }
  }
  if (pending) throw new Error(`${file}:${pending.line}: a "not run" marker with no code block after it`);
  return blocks;
}

// As a command (for walkthrough.sh).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const langs = new Set(args[args.indexOf('--lang') + 1].split(','));
  const out = args[args.indexOf('--out') + 1];
  const files = args.filter((a, i) => !a.startsWith('--') && !['--lang', '--out'].includes(args[i - 1]));
  fs.mkdirSync(out, { recursive: true });
  let n = 0;
  try {
    for (const file of files) {
      for (const b of readBlocks(process.cwd(), file)) {
        if (!langs.has(b.lang)) continue;
        n++;
        const id = String(n).padStart(2, '0');
        fs.writeFileSync(path.join(out, `${id}.code`), `${b.code}\n`);
        fs.writeFileSync(path.join(out, `${id}.meta`), `${b.file}\n${b.firstLine}\n${b.lang}\n${b.notRun ?? ''}\n${b.info}\n`);
      }
    }
  } catch (e) {
    console.error(`blocks.mjs: ${e.message}`);
    process.exit(1);
  }
  console.log(n);
}
