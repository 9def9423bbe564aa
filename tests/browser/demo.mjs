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
// Exits 0 when every check passed, 1 on a failed check, 2 on a setup error or
// timeout; the servers are always stopped.
//
//   node tests/browser/demo.mjs
//
// Needs: the npm build (`bash npm/build.sh`, npm/pkg/), the CLI
// (LIGHTSTREAM_BIN, else target/release/lightstream, built when missing), and
// playwright-core and apache-arrow (`bash scripts/setup.sh --with=npm,browser`).

import { existsSync } from 'node:fs';
import path from 'node:path';

import { fatal, nodeModules, repo, runDriver } from './harness.mjs';

const here = path.join(repo, 'tests', 'browser');
const WAIT_MS = 30_000;
const WATCHDOG_MS = 120_000;
const BUILD_TIMEOUT_MS = 900_000;

/** `lightstream demo` (with `extra` arguments) on a free port; resolves to its URL. */
async function startDemo(session, bin, extra = []) {
  const demo = await session.startListening(
    bin,
    // Small tables often: the feed moves on while the pages read it.
    ['demo', '--listen', '127.0.0.1:0', '--web', path.join(repo, 'web'), '--npm', path.join(repo, 'npm'),
      '--batch-rows', '200', '--interval-ms', '50', ...extra],
    'lightstream demo',
    { cwd: repo },
  );
  return demo.url;
}

async function main(t) {
  const { session, log, record, guarded } = t;
  session.requirePageModules();
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const wasm = path.join(repo, 'npm/pkg/lightstream_wasm_bg.wasm');
  if (!existsSync(wasm)) throw fatal(`missing ${wasm}: run bash npm/build.sh`);
  t.startWatchdog();

  const url = await startDemo(session, bin);
  log(`server at ${url}`);
  const browser = await session.launchChromium();

  // 1. The demo page, twice; Disconnect / Reconnect.
  const problems = [];
  const page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
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

  await guarded('the demo page: rows arrive, schema and bytes shown', async () => {
    const response = await page.goto(url, { timeout: WAIT_MS });
    if (!response || response.status() !== 200) throw new Error(`GET ${url}: ${response?.status()}`);
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
    log(`schema: ${state.schema.join(', ')}; newest row: ${state.firstRow.join(' ')}`);
    const p = [];
    for (const expected of ['seq Int64 no', 'price Float64 no', 'venue Utf8 yes']) {
      if (!state.schema.includes(expected)) p.push(`schema lacks "${expected}": ${state.schema.join(', ')}`);
    }
    if (!(state.mb > 0)) p.push('no bytes counted');
    record('the demo page: rows arrive, schema and bytes shown', p, `${state.rows} rows in ${state.tables} tables, ${state.mb.toFixed(2)} MB`);
  });

  await guarded('the demo page: disconnect, then reconnect', async () => {
    await page.click('#toggle');
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'closed', null, {
      timeout: WAIT_MS,
    });
    await page.click('#toggle');
    await flowing();
    record('the demo page: disconnect, then reconnect', []);
  });

  await guarded('a second demo page on the same feed', async () => {
    const second = await browser.newPage();
    second.on('pageerror', (e) => problems.push(`second page error: ${e.message}`));
    await second.goto(url, { timeout: WAIT_MS });
    await second.waitForFunction(
      () => Number(document.getElementById('rows')?.dataset.value) > 0 &&
        document.getElementById('status')?.dataset.state === 'connected',
      null,
      { timeout: WAIT_MS, polling: 100 },
    );
    record('a second demo page on the same feed', []);
  });

  // 2. Two test pages opened at different times on the one feed.
  await severalPages(t, bin, browser, problems);

  record('no errors in the demo pages (page errors, console errors, failed requests, HTTP >= 400)', problems);
}

/** Check 2: two test pages opened at different times on the one feed. */
async function severalPages(t, bin, browser, problems) {
  const { session, log, record, guarded } = t;
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
  const feedUrl = await startDemo(session, bin, ['--allow-origin', new URL(base).origin]);
  const wsUrl = feedUrl.replace(/^http:/, 'ws:') + 'stream';
  // The test pages' uncaught errors count with the demo pages' (the last check).
  const open = async () => (await session.openTestPage(browser, `${base}/e2e.html`, { pageErrors: problems, timeoutMs: WAIT_MS })).ev;
  const read = (ev, label) => ev('feedCase', { url: wsUrl, label, messages: 50, tables: 25 });
  let a = null;
  let b = null;
  await guarded('two pages on one feed: each late joiner decodes what Apache Arrow JS does', async () => {
    const early = await open();
    const earlyRun = read(early, 'early page');
    // The late page opens while the early one reads (about 2.5 s of feed).
    await new Promise((r) => setTimeout(r, 1000));
    const late = await open();
    [a, b] = await Promise.all([earlyRun, read(late, 'late page')]);
    const p = [];
    for (const r of [a, b]) {
      const bad = [...r.mismatches, ...r.problems, ...r.wire.problems];
      p.push(...bad.slice(0, 10).map((x) => `${r.label}: ${x}`));
      if (r.valuesCompared === 0) p.push(`${r.label}: no value compared with apache-arrow`);
      if (r.wire.schema !== 1 || r.wire.recordBatches === 0) p.push(`${r.label}: wire ${JSON.stringify(r.wire)}`);
      log(`${r.label}: ${r.tables} tables, ${r.valuesCompared} values equal to apache-arrow's, first seq ${r.firstSeq} (connect(): ${r.liveFirstSeq}), dictionary batches ${r.wire.dictionaryBatches} (deltas ${r.wire.deltas})`);
    }
    record('two pages on one feed: each late joiner decodes what Apache Arrow JS does', p, `${a.valuesCompared} + ${b.valuesCompared} values`);
  });
  if (a === null || b === null) return;
  const seq = (v) => BigInt(String(v).slice(2)); // "i:<n>"
  record(
    'two pages on one feed: the later page starts past the earlier one',
    seq(b.firstSeq) > seq(a.firstSeq) ? [] : [`the late page starts at ${b.firstSeq}, not past the early page's ${a.firstSeq}`],
  );
  // The same values under the same sequence numbers, across pages and sessions.
  let common = 0;
  const p = [];
  const views = [a.bySeq, a.liveBySeq, b.bySeq, b.liveBySeq];
  const all = new Set(views.flatMap((v) => Object.keys(v)));
  for (const k of all) {
    const seen = views.map((v) => v[k]).filter((x) => x !== undefined);
    if (new Set(seen).size !== 1) p.push(`seq ${k}: the pages differ: ${seen.join(' / ')}`);
    if (a.bySeq[k] !== undefined && b.bySeq[k] !== undefined) common++;
  }
  if (common === 0) p.push('the two pages have no sequence number in common');
  record('two pages on one feed: the same values under the same sequence numbers', p, `${common} rows seen by both pages`);
}

await runDriver({ name: 'demo.mjs', timeoutMs: WATCHDOG_MS }, main);
