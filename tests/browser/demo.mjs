// Browser test of the demo: starts `lightstream demo` on a free port of
// 127.0.0.1 and opens pages in headless Chromium (Playwright, /usr/bin/chromium).
//
// 1. The demo page, twice: each loads the wasm package, connects, shows the
//    schema and counts rows; Disconnect / Reconnect work; nothing is logged
//    as an error.
// 2. Several pages on ONE feed: two test pages (e2e.html: the npm package and
//    Apache Arrow JS) opened at different times each read the feed as a late
//    joiner (`feedCase` in e2e-page.js): the same bytes decoded by Lightstream
//    and by Apache Arrow JS must agree value by value (dictionary included:
//    the late page gets it whole on joining), the later page's first
//    sequence number must be past the earlier one's, and both pages (and
//    their connect() sessions) must hold the same values under the same
//    sequence numbers.
// Exits non-zero on failure; the servers are always stopped.
//
//   node tests/browser/demo.mjs
//
// Needs: the npm build (`bash npm/build.sh`, npm/pkg/), the release CLI
// (`cargo build --release -p lightstream-cli`; or LIGHTSTREAM_BIN=path), and
// playwright-core and apache-arrow (`bash scripts/setup.sh --with=npm,browser`).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, createSession, nodeModules } from './harness.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const bin = process.env.LIGHTSTREAM_BIN ?? path.join(targetDir, 'release', 'lightstream');
const WAIT_MS = 30_000;
const WATCHDOG_MS = 120_000;

const log = (...args) => console.log('demo.mjs:', ...args);

let server = null;
const serverStderr = [];

/** Every demo started, stopped at the end. */
const servers = [];

/** Starts the demo (with `extra` arguments) and resolves with its URL (from
 * `listening on ...`). */
function startServer(extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      // Small tables often: the feed moves on while the pages read it.
      ['demo', '--listen', '127.0.0.1:0', '--web', path.join(repo, 'web'), '--npm', path.join(repo, 'npm'),
        '--batch-rows', '200', '--interval-ms', '50', ...extra],
      { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    server = child;
    servers.push(child);
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${WAIT_MS} ms`)), WAIT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited early (code ${code}, signal ${signal}): ${serverStderr.join(' | ')}`));
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      serverStderr.push(line);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

/** Stops every demo (SIGTERM, then SIGKILL after 5 s); resolves once they exited. */
function stopServer() {
  return Promise.all(
    servers
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map(
        (child) =>
          new Promise((resolve) => {
            const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
  );
}

async function main() {
  for (const [file, hint] of [
    [bin, 'cargo build --release -p lightstream-cli (or set LIGHTSTREAM_BIN)'],
    [path.join(repo, 'npm/pkg/lightstream_wasm_bg.wasm'), 'bash npm/build.sh'],
  ]) {
    if (!existsSync(file)) throw new Error(`missing ${file}: run ${hint}`);
  }
  const url = await startServer();
  log(`server at ${url}`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });

    const response = await page.goto(url, { timeout: WAIT_MS });
    if (!response || response.status() !== 200) throw new Error(`GET ${url}: ${response?.status()}`);

    const flowing = () =>
      page.waitForFunction(
        () =>
          Number(document.getElementById('rows')?.dataset.value) > 0 &&
          Number(document.getElementById('tables')?.dataset.value) > 0 &&
          document.getElementById('status')?.dataset.state === 'connected' &&
          document.getElementById('schema')?.textContent.includes('price') &&
          document.querySelectorAll('#preview tbody tr:not([hidden])').length > 0,
        null,
        { timeout: WAIT_MS, polling: 100 },
      );
    try {
      await flowing();
    } catch (e) {
      const error = await page.locator('#error').textContent().catch(() => '');
      throw new Error(`rows did not arrive: ${e.message}; page says: ${error}; ${problems.join('; ')}`);
    }
    const state = await page.evaluate(() => ({
      rows: Number(document.getElementById('rows').dataset.value),
      tables: Number(document.getElementById('tables').dataset.value),
      mb: Number(document.getElementById('mb').dataset.value),
      schema: [...document.querySelectorAll('#schema tbody tr')].map((tr) =>
        [...tr.cells].map((td) => td.textContent).join(' '),
      ),
      firstRow: [...(document.querySelector('#preview tbody tr')?.cells ?? [])].map((td) => td.textContent),
    }));
    log(`received ${state.rows} rows in ${state.tables} tables (${state.mb.toFixed(2)} MB)`);
    log(`schema: ${state.schema.join(', ')}`);
    log(`newest row: ${state.firstRow.join(' ')}`);
    for (const expected of ['seq Int64 no', 'price Float64 no', 'venue Utf8 yes']) {
      if (!state.schema.includes(expected)) throw new Error(`schema lacks "${expected}": ${state.schema.join(', ')}`);
    }
    if (!(state.mb > 0)) throw new Error('no bytes counted');

    // Disconnect, then reconnect: the stream starts again.
    await page.click('#toggle');
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'closed', null, {
      timeout: WAIT_MS,
    });
    await page.click('#toggle');
    await flowing();
    log('disconnect and reconnect: ok');

    // A second demo page on the same feed.
    const second = await browser.newPage();
    second.on('pageerror', (e) => problems.push(`second page error: ${e.message}`));
    await second.goto(url, { timeout: WAIT_MS });
    await second.waitForFunction(
      () => Number(document.getElementById('rows')?.dataset.value) > 0 &&
        document.getElementById('status')?.dataset.state === 'connected',
      null,
      { timeout: WAIT_MS, polling: 100 },
    );
    log('a second demo page on the same feed: ok');

    await severalPages(browser, problems);

    if (problems.length > 0) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

/** Check 2: two test pages opened at different times on the one feed. */
async function severalPages(browser, problems) {
  for (const dep of ['apache-arrow', 'flatbuffers', 'tslib', 'json-with-bigint']) {
    if (!existsSync(path.join(nodeModules, dep))) throw new Error(`node_modules/${dep} is missing: run bash scripts/setup.sh --with=npm`);
  }
  const session = createSession({ name: 'demo.mjs' });
  try {
    const here = path.join(repo, 'tests', 'browser');
    const base = await session.startHttpServer(
      {
        '/e2e.html': path.join(here, 'e2e.html'),
        '/e2e-page.js': path.join(here, 'e2e-page.js'),
        '/lz4.js': path.join(here, 'lz4.js'),
      },
      {
        // The npm package as built (npm/index.js and npm/pkg/), as the demo serves it.
        '/lightstream/': [path.join(repo, 'npm'), null],
        '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
        '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
      },
    );
    // The test pages come from another origin than the demo's own, so this
    // demo allows it (--allow-origin; without it the upgrade gets 403).
    const feedUrl = await startServer(['--allow-origin', new URL(base).origin]);
    const wsUrl = feedUrl.replace(/^http:/, 'ws:') + 'stream';
    const open = async (label) => {
      const page = await browser.newPage();
      page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
      await page.goto(`${base}/e2e.html`, { timeout: WAIT_MS });
      await page.waitForFunction(() => window.e2eReady === true || window.e2eInitError !== undefined, null, {
        timeout: WAIT_MS,
      });
      const initError = await page.evaluate(() => window.e2eInitError ?? null);
      if (initError) throw new Error(`${label}: the page failed to load the package: ${initError}`);
      return page;
    };
    const read = (page, label) => page.evaluate((arg) => window.e2e.feedCase(arg), { url: wsUrl, label, messages: 50, tables: 25 });
    const early = await open('early page');
    const earlyRun = read(early, 'early page');
    // The late page opens while the early one reads (about 2.5 s of feed).
    await new Promise((r) => setTimeout(r, 1000));
    const late = await open('late page');
    const [a, b] = await Promise.all([earlyRun, read(late, 'late page')]);
    for (const r of [a, b]) {
      const bad = [...r.mismatches, ...r.problems, ...r.wire.problems];
      if (bad.length > 0) throw new Error(`${r.label}: ${bad.slice(0, 10).join('\n')}`);
      if (r.valuesCompared === 0) throw new Error(`${r.label}: no value compared with apache-arrow`);
      if (r.wire.schema !== 1 || r.wire.recordBatches === 0) throw new Error(`${r.label}: wire ${JSON.stringify(r.wire)}`);
      log(`${r.label}: ${r.tables} tables, ${r.valuesCompared} values equal to apache-arrow's, first seq ${r.firstSeq} (connect(): ${r.liveFirstSeq}), dictionary batches ${r.wire.dictionaryBatches} (deltas ${r.wire.deltas})`);
    }
    const seq = (v) => BigInt(String(v).slice(2)); // "i:<n>"
    if (!(seq(b.firstSeq) > seq(a.firstSeq))) throw new Error(`the late page starts at ${b.firstSeq}, not past the early page's ${a.firstSeq}`);
    // The same values under the same sequence numbers, across pages and sessions.
    let common = 0;
    const views = [a.bySeq, a.liveBySeq, b.bySeq, b.liveBySeq];
    const all = new Set(views.flatMap((v) => Object.keys(v)));
    for (const k of all) {
      const seen = views.map((v) => v[k]).filter((x) => x !== undefined);
      if (new Set(seen).size !== 1) throw new Error(`seq ${k}: the pages differ: ${seen.join(' / ')}`);
      if (a.bySeq[k] !== undefined && b.bySeq[k] !== undefined) common++;
    }
    if (common === 0) throw new Error('the two pages have no sequence number in common');
    log(`several pages on one feed: ${common} rows seen by both pages, identical`);
  } finally {
    await session.cleanup();
  }
}

const watchdog = setTimeout(() => {
  console.error(`demo.mjs: FAILED: no result within ${WATCHDOG_MS} ms`);
  for (const child of servers) child.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);

try {
  await main();
  log('ok');
} catch (e) {
  console.error(`demo.mjs: FAILED: ${e?.stack ?? e}`);
  if (serverStderr.length > 0) console.error(`demo.mjs: server stderr:\n${serverStderr.join('\n')}`);
  process.exitCode = 1;
} finally {
  await stopServer();
  clearTimeout(watchdog);
}
