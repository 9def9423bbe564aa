#!/usr/bin/env node
// The browser side of issue 18 in headless Chromium: the packed npm package
// reads Arrow streams from a web server, over HTTP (`openStream` = fetch +
// readStream) and over WebSocket (`connect` with the subprotocol and a token),
// every value compared with Apache Arrow JS's `RecordBatchReader.from(fetch(...))`
// of the same stream; the server's policy holds: a page on another origin is
// refused, a missing or wrong token is refused, the right one works; a body cut
// mid-stream rejects as truncated; a non-2xx or non-Arrow answer is an HttpError.
//
//   node tests/browser/web.mjs      (README.md in this folder: env vars as e2e.mjs)
//
// The server: web-server.mjs's routes on the page's own origin (the policy
// `lightstream::http::Access` has by default, docs/web-server.md). It stands in
// for `lightstream serve http://` and `examples/axum.rs` until those serve the
// test page; the checks are written against what the page sees, so they hold
// for either. A second static server on another port serves the same page: a
// page on a disallowed origin. Exits 0 when every check passed, 1 on a failed
// check, 2 on a setup error or timeout.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Message } from 'apache-arrow';
import { chromium } from 'playwright-core';

import { splitIpcStream } from './fault-server.mjs';
import { CHROMIUM, CHROMIUM_ARGS, createSession, fatal, nodeModules } from './harness.mjs';
import { ARROW_STREAM, SUBPROTOCOL, TOKEN_PREFIX, arrowRoutes } from './web-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_TIMEOUT_MS ?? 120_000);
const BUILD_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_BUILD_TIMEOUT_MS ?? 900_000);
// base64url, as a token file would hold it.
const TOKEN = 'dGhpcy1pcy10aGUtdG9rZW4_Zm9yLXRoZS10ZXN0';
const STREAMS = ['all_types', 'dictionaries', 'big'];

let session = null;
let timedOut = false;
const results = [];
const log = (...a) => console.log('web:', ...a);

function record(label, problems, note = '') {
  if (session?.stopping) return;
  results.push({ label, ok: problems.length === 0, problems });
  log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${label}${note ? ` (${note})` : ''}`);
  for (const p of problems.slice(0, 20)) log(`       ${p}`);
}

/** A streamCase result: no error, values compared, none differ. */
function streamProblems(r, fixture) {
  const p = [];
  if (r.error) return [`failed: ${r.error.name} (${r.error.kind}): ${r.error.message}`];
  p.push(...r.mismatches, ...r.problems.map((x) => `lightstream API: ${x}`));
  if (r.rows !== fixture.rows) p.push(`${r.rows} rows, the fixture has ${fixture.rows}`);
  if (r.fieldsCompared !== fixture.columns) p.push(`compared ${r.fieldsCompared} schema fields of ${fixture.columns}`);
  if (fixture.rows > 0 && r.valuesCompared === 0) p.push('no values compared');
  return p;
}

/** A refusalCase result: refused the way `want` says. */
function refusalProblems(r, want) {
  const e = r.error;
  if (!e) return [`not refused: opened, ${r.tables} tables, done=${r.done}`];
  const p = [];
  if (!e.isError) p.push(`rejected with a ${e.name}, not an Error`);
  if (want.kind && e.kind !== want.kind) p.push(`kind ${e.kind}, expected ${want.kind} (${e.message})`);
  if (want.httpError !== undefined && e.httpError !== want.httpError) p.push(`HttpError: ${e.httpError}, expected ${want.httpError}`);
  if (want.status !== undefined && e.status !== want.status) p.push(`status ${e.status}, expected ${want.status}`);
  if (want.opened !== undefined && r.opened !== want.opened) p.push(`opened: ${r.opened}, expected ${want.opened}`);
  if (want.maxTables !== undefined && r.tables > want.maxTables) p.push(`${r.tables} tables before the error, more than ${want.maxTables}`);
  if (e.message.includes(TOKEN)) p.push('the error message repeats the token');
  return p;
}

async function openPage(browser, url, pageErrors) {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => pageErrors.push(`${url}: ${e?.name}: ${e?.message} ${e?.stack ?? ''}`.trim()));
  page.on('console', (m) => session.debug('console', m.type(), m.text()));
  await page.goto(url, { timeout: 30_000 });
  await page.waitForFunction(() => window.e2eReady === true || window.e2eInitError !== undefined, null, { timeout: 20_000 });
  const initError = await page.evaluate(() => window.e2eInitError ?? null);
  if (initError) throw fatal(`the page at ${url} failed to load the package: ${initError}`);
  return (fn, arg) => page.evaluate(([f, a]) => window.e2e[f](a), [fn, arg]);
}

async function main() {
  session = createSession({ name: 'web', keep: env.LIGHTSTREAM_E2E_KEEP === '1', verbose: env.LIGHTSTREAM_E2E_VERBOSE === '1' });
  for (const dep of ['playwright-core', 'apache-arrow', 'flatbuffers', 'tslib', 'json-with-bigint']) {
    if (!fs.existsSync(path.join(nodeModules, dep))) throw fatal(`node_modules/${dep} is missing: run bash scripts/setup.sh --with=npm`);
  }
  const pkg = session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const watchdog = setTimeout(() => {
    timedOut = true;
    session.stopping = true;
    console.error(`web: FAIL: the test did not finish within ${TEST_TIMEOUT_MS} ms`);
    session.cleanup().finally(() => process.exit(2));
  }, TEST_TIMEOUT_MS);

  const fixtures = path.join(session.tmp, 'fixtures');
  session.run(env.LIGHTSTREAM_PYTHON ?? 'python3', [path.join(here, 'make_fixtures.py'), fixtures], { timeoutMs: 120_000 });
  const manifest = JSON.parse(fs.readFileSync(path.join(fixtures, 'manifest.json'), 'utf8'));
  const cases = Object.fromEntries(manifest.cases.map((c) => [c.name, c]));
  const streams = {};
  for (const name of STREAMS) {
    const bytes = fs.readFileSync(path.join(fixtures, cases[name].file));
    streams[name] = { bytes, messages: splitIpcStream(bytes, (fb) => Number(Message.decode(fb).bodyLength)) };
  }

  const page_ = (f) => path.join(here, f);
  const files = { '/e2e.html': page_('e2e.html'), '/e2e-page.js': page_('e2e-page.js'), '/lz4.js': page_('lz4.js') };
  const dirs = {
    '/lightstream/': [pkg.dir, null],
    '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
    '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
  };
  const routes = arrowRoutes({ streams, token: TOKEN, log: session.debug });
  const base = await session.startHttpServer(files, dirs, routes);
  const otherOrigin = await session.startHttpServer(files, dirs);
  const wsBase = base.replace(/^http/, 'ws');
  log(`package ${pkg.tarball}; server ${base} (stand-in, web-server.mjs); a disallowed origin ${otherOrigin}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  session.onCleanup(() => browser.close());
  const pageErrors = [];
  const ev = await openPage(browser, `${base}/e2e.html`, pageErrors);
  const guarded = async (label, fn) => {
    try {
      await fn();
    } catch (e) {
      record(label, [`threw: ${String(e.message).split('\n').slice(0, 4).join(' | ')}`]);
    }
  };
  const seenSince = (n) => routes.seen.slice(n);

  // 1. The right token: every value against Apache Arrow JS, over HTTP and WebSocket.
  for (const name of STREAMS) {
    await guarded(`http ${name}: openStream(url, { token }) = Apache Arrow JS`, async () => {
      const n = routes.seen.length;
      const r = await ev('streamCase', { via: 'http', url: `${base}/streams/${name}.arrows`, refUrl: `${base}/streams/${name}.arrows`, token: TOKEN, label: name });
      const p = streamProblems(r, cases[name]);
      const sent = seenSince(n).find((s) => s.accept !== `${ARROW_STREAM}` || s.authorization !== `Bearer ${TOKEN}`);
      // The reference fetch of Apache Arrow JS sends its own Accept; look at openStream's request.
      const ours = seenSince(n).filter((s) => s.accept === ARROW_STREAM);
      if (ours.length !== 1) p.push(`openStream sent ${ours.length} requests with Accept: ${ARROW_STREAM} (saw ${JSON.stringify(sent)})`);
      else if (ours[0].authorization !== `Bearer ${TOKEN}`) p.push(`openStream sent Authorization ${ours[0].authorization}`);
      record(`http ${name}: openStream(url, { token }) = Apache Arrow JS`, p, `${r.tables} tables, ${r.valuesCompared} values`);
    });
    await guarded(`ws ${name}: connect(url, { token }) = Apache Arrow JS`, async () => {
      const n = routes.seen.length;
      const r = await ev('streamCase', { via: 'ws', url: `${wsBase}/feed/${name}`, refUrl: `${base}/streams/${name}.arrows`, token: TOKEN, label: name });
      const p = streamProblems(r, cases[name]);
      const upgrades = seenSince(n).filter((s) => s.protocols);
      const want = [SUBPROTOCOL, `${TOKEN_PREFIX}${TOKEN}`];
      if (upgrades.length !== 1 || JSON.stringify(upgrades[0].protocols) !== JSON.stringify(want)) {
        p.push(`the browser offered ${JSON.stringify(upgrades.map((u) => u.protocols))}, expected ${JSON.stringify(want)}`);
      }
      record(`ws ${name}: connect(url, { token }) = Apache Arrow JS`, p, `${r.tables} tables, ${r.valuesCompared} values`);
    });
  }

  // 2. A missing or wrong token is refused, on both transports.
  const refusals = [
    ['http, no token', { via: 'http', url: `${base}/streams/all_types.arrows` }, { kind: 'Http', httpError: true, status: 401 }],
    ['http, wrong token', { via: 'http', url: `${base}/streams/all_types.arrows`, token: 'wrong-token' }, { kind: 'Http', httpError: true, status: 401 }],
    ['ws, no token', { via: 'ws', url: `${wsBase}/feed/all_types` }, { kind: 'Connect' }],
    ['ws, wrong token', { via: 'ws', url: `${wsBase}/feed/all_types`, token: 'wrong-token' }, { kind: 'Connect' }],
    // 3. Answers that are not a whole Arrow stream.
    ['http, 404', { via: 'http', url: `${base}/streams/nothing.arrows`, token: TOKEN }, { kind: 'Http', httpError: true, status: 404 }],
    ['http, not an Arrow stream (text/plain)', { via: 'http', url: `${base}/page.txt` }, { kind: 'ContentType', httpError: true, status: 200 }],
    ['http, body cut mid-stream', { via: 'http', url: `${base}/cut/big.arrows`, token: TOKEN }, { kind: 'Truncated', httpError: false, opened: true, maxTables: cases.big.batches - 1 }],
  ];
  for (const [label, arg, want] of refusals) {
    await guarded(label, async () => {
      const r = await ev('refusalCase', arg);
      record(`refused: ${label}`, refusalProblems(r, want), r.error ? `${r.error.kind}: ${r.error.message.slice(0, 120)}` : '');
    });
  }

  // 4. A page on another origin, with the right token: refused on both transports.
  const evOther = await openPage(browser, `${otherOrigin}/e2e.html`, pageErrors);
  for (const via of ['ws', 'http']) {
    const label = `refused: a page on ${otherOrigin} (${via}, right token)`;
    await guarded(label, async () => {
      const n = routes.seen.length;
      const url = via === 'ws' ? `${wsBase}/feed/all_types` : `${base}/streams/all_types.arrows`;
      const r = await evOther('refusalCase', { via, url, token: TOKEN });
      // HTTP: the browser's CORS check refuses the cross-origin read first (a
      // TypeError from fetch: kind Connect) after the server's 403 to its preflight.
      const p = refusalProblems(r, { kind: 'Connect', opened: false });
      const saw = seenSince(n);
      if (!saw.some((s) => s.origin === otherOrigin)) p.push(`the server never saw Origin ${otherOrigin} (${JSON.stringify(saw)})`);
      record(label, p, r.error ? `${r.error.kind}: ${r.error.message.slice(0, 120)}` : '');
    });
  }

  record('no uncaught errors in the pages', pageErrors);
  clearTimeout(watchdog);
  if (session.stopping) return 2;
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\n${results.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

let code = 2;
try {
  code = await main();
} catch (e) {
  if (!session?.stopping) console.error(`web: ${e.fatal ? 'setup failed' : 'error'}: ${e.fatal ? e.message : e.stack}`);
  code = 2;
}
await session?.cleanup();
process.exit(timedOut ? 2 : code);
