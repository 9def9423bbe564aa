// Browser smoke test of the demo: starts `lightstream demo` on a free port of
// 127.0.0.1, opens its page in headless Chromium (Playwright, /usr/bin/chromium),
// and checks that the page loads the wasm package, connects, shows the schema
// and counts rows, that Disconnect / Reconnect work, and that nothing was
// logged as an error. Exits non-zero on failure; the server is always stopped.
//
//   node tests/browser/demo.mjs
//
// Needs: the npm build (`bash npm/build.sh`, npm/pkg/), the release CLI
// (`cargo build --release -p lightstream-cli`; or LIGHTSTREAM_BIN=path), and
// playwright-core (`bash scripts/setup.sh --with=npm,browser`).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS } from './harness.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const bin = process.env.LIGHTSTREAM_BIN ?? path.join(targetDir, 'release', 'lightstream');
const WAIT_MS = 30_000;
const WATCHDOG_MS = 120_000;

const log = (...args) => console.log('demo.mjs:', ...args);

let server = null;
const serverStderr = [];

/** Starts the demo and resolves with its URL (from `listening on ...`). */
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(
      bin,
      ['demo', '--listen', '127.0.0.1:0', '--web', path.join(repo, 'web'), '--npm', path.join(repo, 'npm')],
      { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${WAIT_MS} ms`)), WAIT_MS);
    server.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    server.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited early (code ${code}, signal ${signal}): ${serverStderr.join(' | ')}`));
    });
    createInterface({ input: server.stderr }).on('line', (line) => {
      serverStderr.push(line);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

/** Stops the demo (SIGTERM, then SIGKILL after 5 s); resolves once it exited. */
function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  const child = server;
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
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

    if (problems.length > 0) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

const watchdog = setTimeout(() => {
  console.error(`demo.mjs: FAILED: no result within ${WATCHDOG_MS} ms`);
  if (server) server.kill('SIGKILL');
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
