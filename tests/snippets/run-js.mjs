#!/usr/bin/env node
// Runs every JavaScript block of README.md and npm/README.md (```js and the
// module script of ```html blocks) as the docs give it, against real servers:
// in headless Chromium (a fresh page per block) and in Node.js. Blocks that
// call `connect` need a global WebSocket, which Node.js has from version 22;
// on older Node they run in Chromium only (the log says so).
//
//   node tests/snippets/run-js.mjs        (LIGHTSTREAM_BIN, LIGHTSTREAM_NPM_TARBALL
//                                          as for tests/browser/e2e.mjs)
//
// What is served: `lightstream example` writes data.arrow (an IPC file),
// `convert` makes data.arrows and data.csv from it; a static HTTP server on
// 127.0.0.1 serves them (`fetch('/data.arrow')`), the unpacked npm package at
// /node_modules/lightstream-arrow/ (an import map maps `lightstream-arrow`
// there), and `lightstream serve ws://127.0.0.1:0/ data.arrow` answers the
// connect blocks. What is rewritten: the port of ws:// URLs, and lines of the
// form `expr;  // value` (a JS literal after the comment) become a check that
// expr equals value. Nothing else. Checked: no block throws, times out or
// logs an error; every such claim holds; and what a block prints or leaves in
// its top-level variables matches Apache Arrow JS's reading of the same file
// (CHECKS below). A block under `<!-- not run: reason -->` is skipped.
//
// Exit 0 when every block passed, 1 when one failed (the message names the
// doc's file and line), 2 on a setup error or timeout.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

import { tableFromIPC } from 'apache-arrow';
import { createSession, fatal, repo } from '../browser/harness.mjs';
import { readBlocks } from './blocks.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const DOCS = ['README.md', 'npm/README.md'];
const JS_LANGS = new Set(['js', 'javascript', 'mjs', 'html']);
const BLOCK_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_SNIPPETS_TIMEOUT_MS ?? 170_000);
const BUILD_TIMEOUT_MS = 900_000;
const NODE_HAS_WEBSOCKET = typeof globalThis.WebSocket === 'function';

// ------------------------------------------------------- what is checked --

/** What a block prints or leaves behind, per block: `file # heading # n` (n-th
 * JS block under that heading). Each returns a list of problems. An entry that
 * matches no block fails the run, so the table follows the docs. */
const CHECKS = {
  'README.md # In the browser (npm package `lightstream-arrow`) # 1': (r, x) => [
    ...schemaPrinted(r.logs[0]?.[0], x, (f) => String(f).split(': ')[0], 'a "name: Type" string per field'),
    ...streamCounters(r.vars?.stream, x),
  ],
  'npm/README.md # Usage # 1': (r, x) => {
    const p = [...schemaPrinted(r.logs[0]?.[0], x, (f) => f?.name, '{ name, type, nullable, metadata } per field')];
    const rows = r.logs.slice(1);
    const want = x.batches.map((b) => [b.numRows, b.price0, b.name0]);
    if (JSON.stringify(rows) !== JSON.stringify(want)) {
      p.push(`printed ${JSON.stringify(rows)} (numRows, price.get(0), names[0] per table); Apache Arrow JS reads ${JSON.stringify(want)}`);
    }
    return [...p, ...streamCounters(r.vars?.stream, x)];
  },
  'npm/README.md # Other sources of bytes # 1': (r, x) => {
    const tables = r.vars?.tables;
    const p = [];
    if (!Array.isArray(tables)) return [`tables is ${JSON.stringify(tables)}, not an array`];
    const got = tables.map((t) => t.numRows);
    const want = x.batches.map((b) => b.numRows);
    if (JSON.stringify(got) !== JSON.stringify(want)) p.push(`decode(data.arrow) gave tables of ${JSON.stringify(got)} rows; Apache Arrow JS reads ${JSON.stringify(want)}`);
    if (r.vars?.chunks?.length !== 1) p.push(`chunks is ${JSON.stringify(r.vars?.chunks)}`);
    return p;
  },
  'npm/README.md # CSV # 1': (r) => {
    const p = [];
    if (JSON.stringify(r.logs) !== '[[0]]') p.push(`printed ${JSON.stringify(r.logs)}; expected [[0]] (dec.skippedRows of a clean data.csv)`);
    if (r.checks.length !== 3) p.push(`${r.checks.length} "expr;  // value" claims checked, expected 3 (types, nullCount, get(1))`);
    return p;
  },
};

function schemaPrinted(printed, x, nameOf, what) {
  if (!Array.isArray(printed)) return [`printed ${JSON.stringify(printed)}; expected the schema: ${what}`];
  const names = printed.map(nameOf);
  if (JSON.stringify(names) !== JSON.stringify(x.fields)) {
    return [`printed a schema with fields ${JSON.stringify(names)}; Apache Arrow JS reads ${JSON.stringify(x.fields)}`];
  }
  return [];
}

function streamCounters(stream, x) {
  if (stream?.tablesRead !== x.batches.length || stream?.rowsRead !== x.rows) {
    return [`the stream read ${stream?.tablesRead} tables / ${stream?.rowsRead} rows; data.arrow has ${x.batches.length} / ${x.rows}`];
  }
  return [];
}

/** The served file as Apache Arrow JS reads it: what the blocks must show. */
function expected(site) {
  const t = tableFromIPC(fs.readFileSync(path.join(site, 'data.arrow')));
  return {
    fields: t.schema.fields.map((f) => f.name),
    rows: t.numRows,
    batches: t.batches.map((b) => ({
      numRows: b.numRows,
      price0: b.getChild('price').get(0),
      name0: b.getChild('name').get(0),
    })),
  };
}

// ------------------------------------------------ from block to ES module --

const DECLARATION = /^(?:const|let|var)\s+(?:\[([^\]]*)\]|\{([^}]*)\}|([A-Za-z_$][\w$]*))/;
const STATEMENT_KEYWORD = /^(?:const|let|var|for|if|else|while|do|switch|return|import|export|function|class|try|catch|finally|throw|\}|\/\/|\/\*)/;

/** `expr;  // value` where value is a JS literal: { indent, expr, want }. */
function valueClaim(line) {
  const m = /^(\s*)(.+?);\s*\/\/\s*(.+?)\s*$/.exec(line);
  if (!m || STATEMENT_KEYWORD.test(m[2])) return null;
  let value;
  try {
    value = vm.runInNewContext(`(${m[3]})`, Object.create(null), { timeout: 100 });
  } catch {
    return null; // prose, not a value
  }
  const literal = value === null || ['number', 'string', 'boolean'].includes(typeof value) || Array.isArray(value) || Object.prototype.toString.call(value) === '[object Object]';
  return literal ? { indent: m[1], expr: m[2], want: m[3] } : null;
}

/** Names declared at the block's top level (to report their values at the end). */
function topLevelNames(lines) {
  const indent = (l) => l.length - l.trimStart().length;
  const min = Math.min(...lines.filter((l) => l.trim()).map(indent));
  const names = [];
  for (const l of lines) {
    if (!l.trim() || indent(l) !== min) continue;
    const m = DECLARATION.exec(l.trim());
    if (!m) continue;
    const list = m[3] ? [m[3]] : (m[1] ?? m[2]).split(',').map((s) => s.split('=')[0].split(':').pop().trim());
    names.push(...list.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n)));
  }
  return names;
}

/** The block as an ES module whose line N is the doc's line firstLine + N - 1. */
function toModule(block, port) {
  let { lines, firstLine } = block;
  if (block.lang === 'html') {
    const open = lines.findIndex((l) => /<script type="module">\s*$/.test(l));
    const close = lines.findIndex((l, i) => i > open && /^\s*<\/script>\s*$/.test(l));
    if (open < 0 || close < 0) throw fatal(`${block.file}:${block.line}: an html block needs <script type="module"> and </script> on lines of their own`);
    firstLine += open + 1;
    lines = lines.slice(open + 1, close);
  }
  let claims = 0;
  const out = lines.map((l, i) => {
    const s = l.replace(/\b(wss?:\/\/(?:127\.0\.0\.1|localhost)):\d+/g, `$1:${port}`);
    const c = valueClaim(s);
    if (!c) return s;
    claims++;
    return `${c.indent}__snippet.check(${firstLine + i}, ${c.expr}, ${c.want});`;
  });
  const names = topLevelNames(lines);
  out.push(`__snippet.vars({ ${names.map((n) => `${n}: typeof ${n} === 'undefined' ? undefined : ${n}`).join(', ')} });`);
  return { source: `${out.join('\n')}\n`, firstLine, lines, claims };
}

// ------------------------------------------------------------ running --

/** Runs the module in a fresh page; resolves to the prelude's report. */
async function inChromium(browser, base, name) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && errors.push(`console error: ${m.text()}`));
  try {
    await page.goto(`${base}/driver.html`, { timeout: 20_000 });
    const r = await page.evaluate(
      async ({ url, timeoutMs }) => {
        let timer;
        const timeout = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          await Promise.race([import(url), timeout]);
          return { ok: true, ...globalThis.__snippet.report() };
        } catch (e) {
          return { ok: false, error: `${e?.name}: ${e?.message}`, stack: String(e?.stack ?? ''), ...globalThis.__snippet.report() };
        } finally {
          clearTimeout(timer);
        }
      },
      { url: `${base}/${name}`, timeoutMs: BLOCK_TIMEOUT_MS },
    );
    return { ...r, errors };
  } finally {
    await page.close();
  }
}

/** Runs the module with node-runner.mjs in its own process. */
function inNode(session, file, base) {
  return new Promise((resolve) => {
    const child = session.spawnChild(process.execPath, [path.join(here, 'node-runner.mjs'), file, base], {
      cwd: path.dirname(file),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('@@snippet-result '));
      if (!line) {
        resolve({ ok: false, error: `node exited (${code ?? signal}) without a result${signal ? ` (killed after ${BLOCK_TIMEOUT_MS} ms?)` : ''}: ${err.slice(-2000)}`, stack: '', logs: [], checks: [], errors: [] });
        return;
      }
      resolve({ ...JSON.parse(line.slice('@@snippet-result '.length)), errors: err.trim() ? [`stderr: ${err.trim().slice(-2000)}`] : [] });
    });
  });
}

/** Problems with one run of a block, each naming the doc's file and line. */
function problemsOf(block, mod, r, name, check, x) {
  const at = (n) => `${block.file}:${n}`;
  const p = [];
  if (!r.ok) {
    const m = new RegExp(`${name.replace('.', '\\.')}:(\\d+)`).exec(r.stack);
    const line = m ? mod.firstLine + Number(m[1]) - 1 : null;
    p.push(line ? `${at(line)}: ${r.error}\n      ${mod.lines[Number(m[1]) - 1]?.trim()}` : `${at(block.line)}: ${r.error}`);
  }
  for (const c of r.checks.filter((c) => !c.ok)) p.push(`${at(c.line)}: the doc says ${c.want}, the code gives ${c.got}`);
  p.push(...r.errors.map((e) => `${at(block.line)}: ${e}`));
  if (r.ok && check) p.push(...check(r, x).map((e) => `${at(block.line)}: ${e}`));
  return p;
}

async function main(session) {
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const site = path.join(session.tmp, 'site');
  fs.mkdirSync(path.join(site, 'node_modules'), { recursive: true });
  const pkg = session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  fs.renameSync(pkg.dir, path.join(site, 'node_modules', 'lightstream-arrow'));
  const cli = (...args) => session.run(bin, args, { cwd: site, timeoutMs: 60_000 });
  cli('example', 'data.arrow');
  cli('convert', 'data.arrow', 'data.arrows');
  cli('convert', 'data.arrow', 'data.csv');
  const x = expected(site);
  fs.copyFileSync(path.join(here, 'prelude.js'), path.join(site, 'prelude.js'));
  fs.writeFileSync(
    path.join(site, 'driver.html'),
    '<!doctype html><meta charset="utf-8"><title>snippets</title><link rel="icon" href="data:,">\n' +
      '<script type="importmap">{"imports":{"lightstream-arrow":"/node_modules/lightstream-arrow/index.js","lightstream-arrow/csv":"/node_modules/lightstream-arrow/csv.js"}}</script>\n' +
      '<script src="/prelude.js"></script>\n',
  );
  const base = await session.startHttpServer({}, { '/': [site, null] });
  const ws = await session.startServe(bin, path.join(site, 'data.arrow'));
  const port = new URL(ws.url).port;

  const blocks = DOCS.flatMap((f) => readBlocks(repo, f)).filter((b) => JS_LANGS.has(b.lang));
  const seen = new Map();
  const browser = await session.launchChromium();

  const failures = [];
  let ran = 0;
  let skipped = 0;
  const used = new Set();
  for (const [i, block] of blocks.entries()) {
    const n = (seen.get(`${block.file}#${block.heading}`) ?? 0) + 1;
    seen.set(`${block.file}#${block.heading}`, n);
    const key = `${block.file} # ${block.heading} # ${n}`;
    const label = `${block.file}:${block.line} (${block.lang}, "${block.heading}")`;
    if (block.notRun) {
      session.log(`skip ${label}: not run: ${block.notRun}`);
      skipped++;
      continue;
    }
    const check = CHECKS[key];
    if (check) used.add(key);
    const mod = toModule(block, port);
    const name = `block-${String(i + 1).padStart(2, '0')}.mjs`;
    fs.writeFileSync(path.join(site, name), mod.source);
    const needsWebSocket = /\bconnect\s*\(/.test(block.code);
    const where = [['Chromium', () => inChromium(browser, base, name)]];
    if (block.lang !== 'html' && (!needsWebSocket || NODE_HAS_WEBSOCKET)) {
      where.push([`Node.js ${process.version}`, () => inNode(session, path.join(site, name), base)]);
    } else {
      const why = block.lang === 'html' ? 'a page' : `connect needs a global WebSocket, which Node.js ${process.version} lacks (22 has it)`;
      session.log(`     ${label}: Chromium only (${why})`);
    }
    for (const [env_, go] of where) {
      const r = await go();
      ran++;
      const p = problemsOf(block, mod, r, name, check, x);
      const what = `${r.checks.length} claims${check ? ' + printed values' : ''} checked`;
      session.log(`${p.length ? 'FAIL' : 'ok  '} ${label} in ${env_}${p.length ? '' : ` (${what})`}`);
      for (const e of p) failures.push(`${label} in ${env_}:\n    ${e}`);
    }
  }
  for (const key of Object.keys(CHECKS)) {
    if (!used.has(key)) failures.push(`run-js.mjs CHECKS has "${key}", which names no JavaScript block any more: update it`);
  }
  session.log(`${ran} runs of ${blocks.length - skipped} blocks (${skipped} marked not run), ${failures.length} failures`);
  for (const f of failures) console.error(`snippets: FAIL ${f}`);
  return failures.length ? 1 : 0;
}

const session = createSession({ name: 'snippets', keep: env.LIGHTSTREAM_SNIPPETS_KEEP === '1' });
const watchdog = session.startWatchdog(TEST_TIMEOUT_MS);
let code = 2;
try {
  code = await main(session);
} catch (e) {
  if (!session.stopping) console.error(`snippets: ${e.fatal ? 'setup failed' : 'error'}: ${e.fatal ? e.message : e.stack}`);
}
clearTimeout(watchdog);
await session.cleanup();
process.exit(code);
