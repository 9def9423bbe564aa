#!/usr/bin/env node
// The browser side of issue 18 in headless Chromium, against our own servers:
// the packed npm package reads Arrow streams from `lightstream serve http://`
// (`openStream` = fetch + readStream, its token in `Authorization`, so the
// browser asks a CORS preflight first), `lightstream serve ws://` (`connect`
// with the subprotocol and the token) and `examples/axum.rs` (`/feed`, a hub
// subscription over WebSocket, and `/table.arrows`), every value compared with
// Apache Arrow JS's `RecordBatchReader.from(fetch(...))`; the servers' policy
// holds: a page on another origin is refused, a missing or wrong token is
// refused, the right one works, the axum app without `--allow-origin` refuses
// the test page (403 before the upgrade); a 404 is an HttpError the page can
// read. What a browser cannot see (the status of a refused WebSocket
// handshake, the subprotocol answered) is asked of the same servers from Node.
// Two answers our servers never give on purpose, a body cut mid-stream and a
// 200 that is not Arrow, come from a stand-in (web-server.mjs). Issue 20's
// gateway: a pyarrow.flight server (tests/python/flight_server.py) relayed by
// `lightstream relay grpc://… --ticket T` to ws:// and http://, read by the
// page, every value against Apache Arrow JS's read of pyarrow's own IPC
// stream of the same fixture.
//
//   node tests/browser/web.mjs      (README.md in this folder: env vars as e2e.mjs)
//
// The test page is served by the harness's static server (one origin), a
// second static server serves it on another port (a disallowed origin).
// Exits 0 when every check passed, 1 on a failed check, 2 on a setup error or
// timeout.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { fatal, nodeModules, runDriver } from './harness.mjs';
import { ARROW_STREAM, faultRoutes } from './web-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_TIMEOUT_MS ?? 120_000);
const BUILD_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_BUILD_TIMEOUT_MS ?? 900_000);
const SUBPROTOCOL = 'lightstream.arrow.v1';
const TOKEN_PREFIX = 'lightstream.token.';
// base64url, as a token file would hold it.
const TOKEN = 'dGhpcy1pcy10aGUtdG9rZW4_Zm9yLXRoZS10ZXN0';
const STREAMS = ['all_types', 'dictionaries', 'big'];
// examples/axum.rs: 5 one-row tables (seq, price) on /feed and /table.arrows.
const AXUM_TABLES = { rows: 5, columns: 2 };
// Issue 20: the pyarrow.flight fixtures relayed to the page (tickets of
// tests/python/flight_server.py: every type; dictionaries replaced; deltas).
const FLIGHT_TICKETS = ['all_types.none', 'dict_replacement.none', 'dict_delta.none'];

/** Starts tests/python/flight_server.py; resolves to its grpc:// URL (the port is its first stdout line). */
function startFlightServer(python, script) {
  return new Promise((resolve, reject) => {
    const child = session.spawnChild(python, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(fatal(`flight_server.py printed no port within 20 s: ${err}`)), 20_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(\d+)\r?\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`grpc://127.0.0.1:${m[1]}`);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(fatal(`flight_server.py exited (${code}) before printing its port: ${err}`));
    });
  });
}

let session = null;

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

/**
 * What a server answers a request from Node (`ws://` URLs: a WebSocket
 * upgrade offering `protocols`): { status, protocol, allowOrigin }. The
 * connection is dropped once the head is in.
 */
function probe(url, { origin, protocols = [], authorization } = {}) {
  const ws = url.startsWith('ws');
  const headers = {};
  if (origin) headers.origin = origin;
  if (authorization) headers.authorization = authorization;
  if (ws) {
    Object.assign(headers, {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': crypto.randomBytes(16).toString('base64'),
    });
    if (protocols.length) headers['sec-websocket-protocol'] = protocols.join(', ');
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url.replace(/^ws/, 'http'), { headers, timeout: 10_000 });
    const answer = (res, socket) => {
      resolve({
        status: res.statusCode,
        protocol: res.headers['sec-websocket-protocol'] ?? null,
        allowOrigin: res.headers['access-control-allow-origin'] ?? null,
      });
      socket.destroy();
    };
    req.on('upgrade', (res, socket) => answer(res, socket));
    req.on('response', (res) => answer(res, res.socket));
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function main(t) {
  session = t.session;
  const { log, record, guarded } = t;
  session.requirePageModules();
  const pkg = session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const axum = session.axumExample({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  t.startWatchdog();

  const { dir: fixtures, cases } = session.makeFixtures();
  const fixture = (name) => path.join(fixtures, cases[name].file);
  const streams = Object.fromEntries(STREAMS.map((name) => [name, { bytes: fs.readFileSync(fixture(name)) }]));
  // pyarrow's own IPC streams of the Flight fixtures: Apache Arrow JS's reference.
  const python = env.LIGHTSTREAM_PYTHON ?? 'python3';
  const flightServer = path.join(here, '..', 'python', 'flight_server.py');
  const flightDir = path.join(session.tmp, 'flight');
  session.run(python, [flightServer, '--write-streams', flightDir], { timeoutMs: 120_000 });
  const flightCases = JSON.parse(fs.readFileSync(path.join(flightDir, 'manifest.json'), 'utf8'));
  const tokenFile = path.join(session.tmp, 'tokens');
  fs.writeFileSync(tokenFile, `# the test's token\n${TOKEN}\n`);

  const page_ = (f) => path.join(here, f);
  const files = { '/e2e.html': page_('e2e.html'), '/e2e-page.js': page_('e2e-page.js'), '/lz4.js': page_('lz4.js') };
  for (const ticket of FLIGHT_TICKETS) files[`/flight/${ticket}.arrows`] = path.join(flightDir, `${ticket}.arrows`);
  const dirs = {
    '/lightstream/': [pkg.dir, null],
    '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
    '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
  };
  const faults = faultRoutes({ streams });
  const base = await session.startHttpServer(files, dirs, faults);
  const otherOrigin = await session.startHttpServer(files, dirs);

  // Our servers, all at once: serve http:// and ws:// of each fixture with
  // the page's origin allowed and a token required; the axum example with
  // and without --allow-origin.
  const policy = ['--allow-origin', base, '--token-file', tokenFile];
  const [httpServers, wsServers, axumAllowing, axumDefault] = await Promise.all([
    Promise.all(STREAMS.map((name) => session.startServe(bin, fixture(name), policy, 'http', '/t.arrows'))),
    Promise.all(STREAMS.map((name) => session.startServe(bin, fixture(name), policy, 'ws'))),
    session.startListening(axum, ['--serve', '--allow-origin', base], 'examples/axum.rs --allow-origin'),
    session.startListening(axum, ['--serve'], 'examples/axum.rs'),
  ]);
  const httpUrl = Object.fromEntries(STREAMS.map((name, i) => [name, httpServers[i].url]));
  const wsUrl = Object.fromEntries(STREAMS.map((name, i) => [name, wsServers[i].url]));
  const axumBase = axumAllowing.url.replace(/\/$/, '');
  const axumRefusing = axumDefault.url.replace(/\/$/, '');
  log(`package ${pkg.tarball}; page ${base}, another origin ${otherOrigin}; lightstream serve ${httpUrl.all_types} ${wsUrl.all_types} ...; axum ${axumBase} (allows the page), ${axumRefusing} (default)`);

  const browser = await session.launchChromium();
  const pageErrors = [];
  const openPage = async (url) => (await session.openTestPage(browser, url, { pageErrors })).ev;
  const ev = await openPage(`${base}/e2e.html`);
  const good = async (label, arg, want) =>
    guarded(label, async () => {
      const r = await ev('streamCase', { ...arg, label });
      record(label, streamProblems(r, want), `${r.tables} tables, ${r.valuesCompared} values`);
    });
  const refused = async (label, evaluate, arg, want) =>
    guarded(label, async () => {
      const r = await evaluate('refusalCase', arg);
      record(`refused: ${label}`, refusalProblems(r, want), r.error ? `${r.error.kind}: ${r.error.message.slice(0, 120)}` : '');
    });
  /** A probe from Node: the answer has `want`'s status (and fields). */
  const answers = async (label, url, ask, want) =>
    guarded(label, async () => {
      const got = await probe(url, ask);
      const p = Object.entries(want)
        .filter(([k, v]) => got[k] !== v)
        .map(([k, v]) => `${k} ${JSON.stringify(got[k])}, expected ${JSON.stringify(v)}`);
      record(`server: ${label}`, p);
    });

  // 1. The right token: every value against Apache Arrow JS (its reference
  // read is RecordBatchReader.from(fetch) of the serve http:// of the fixture).
  for (const name of STREAMS) {
    const refUrl = httpUrl[name];
    await good(`serve http:// ${name}: openStream(url, { token }) = Apache Arrow JS`, { via: 'http', url: httpUrl[name], refUrl, token: TOKEN }, cases[name]);
    await good(`serve ws:// ${name}: connect(url, { token }) = Apache Arrow JS`, { via: 'ws', url: wsUrl[name], refUrl, token: TOKEN }, cases[name]);
  }
  // openStream sends the token and asks for an Arrow stream (seen by the stand-in).
  await guarded('openStream sends Accept and Authorization', async () => {
    const n = faults.seen.length;
    await ev('refusalCase', { via: 'http', url: `${base}/cut/all_types.arrows`, token: TOKEN });
    const sent = faults.seen.slice(n);
    const p = [];
    if (sent.length !== 1) p.push(`${sent.length} requests, expected 1`);
    else {
      if (sent[0].accept !== ARROW_STREAM) p.push(`Accept: ${sent[0].accept}`);
      if (sent[0].authorization !== `Bearer ${TOKEN}`) p.push(`Authorization: ${sent[0].authorization}`);
    }
    record('openStream sends Accept and Authorization', p);
  });

  // 2. A missing or wrong token is refused, on both transports; the 401 of
  // the WebSocket handshake (the page only sees a failed connect) from Node.
  const all = { http: httpUrl.all_types, ws: wsUrl.all_types };
  const origin = base;
  await refused('serve http://, no token', ev, { via: 'http', url: all.http }, { kind: 'Http', httpError: true, status: 401 });
  await refused('serve http://, wrong token', ev, { via: 'http', url: all.http, token: 'wrong-token' }, { kind: 'Http', httpError: true, status: 401 });
  await refused('serve ws://, no token', ev, { via: 'ws', url: all.ws }, { kind: 'Connect', opened: false });
  await refused('serve ws://, wrong token', ev, { via: 'ws', url: all.ws, token: 'wrong-token' }, { kind: 'Connect', opened: false });
  await answers('serve ws://, no token: 401', all.ws, { origin, protocols: [SUBPROTOCOL] }, { status: 401 });
  await answers('serve ws://, wrong token: 401', all.ws, { origin, protocols: [SUBPROTOCOL, `${TOKEN_PREFIX}wrong-token`] }, { status: 401 });
  await answers('serve ws://, right token: 101 naming lightstream.arrow.v1 alone', all.ws, { origin, protocols: [SUBPROTOCOL, `${TOKEN_PREFIX}${TOKEN}`] }, { status: 101, protocol: SUBPROTOCOL });

  // 3. Answers that are not a whole Arrow stream: a wrong path of our server
  // (readable: it names the page's origin); the stand-in's text and cut body.
  const notFound = all.http.replace(/\/t\.arrows$/, '/nothing.arrows');
  await refused('serve http://, a 404 path', ev, { via: 'http', url: notFound, token: TOKEN }, { kind: 'Http', httpError: true, status: 404 });
  await refused('stand-in: not an Arrow stream (text/plain)', ev, { via: 'http', url: `${base}/page.txt` }, { kind: 'ContentType', httpError: true, status: 200 });
  await refused('stand-in: body cut mid-stream', ev, { via: 'http', url: `${base}/cut/big.arrows`, token: TOKEN }, { kind: 'Truncated', httpError: false, opened: true, maxTables: cases.big.batches - 1 });

  // 4. A page on another origin, with the right token: refused on both
  // transports (HTTP: the preflight's 403 carries no CORS header, so fetch
  // fails: kind Connect); the 403s from Node.
  const evOther = await openPage(`${otherOrigin}/e2e.html`);
  await refused(`serve ws://, a page on ${otherOrigin} (right token)`, evOther, { via: 'ws', url: all.ws, token: TOKEN }, { kind: 'Connect', opened: false });
  await refused(`serve http://, a page on ${otherOrigin} (right token)`, evOther, { via: 'http', url: all.http, token: TOKEN }, { kind: 'Connect', opened: false });
  const other = { origin: otherOrigin, protocols: [SUBPROTOCOL, `${TOKEN_PREFIX}${TOKEN}`] };
  await answers('serve ws://, another origin: 403', all.ws, other, { status: 403 });
  await answers('serve http://, another origin: 403 without CORS', all.http, { origin: otherOrigin, authorization: `Bearer ${TOKEN}` }, { status: 403, allowOrigin: null });

  // 5. examples/axum.rs: /feed (a hub subscription) and /table.arrows, values
  // against Apache Arrow JS's read of /table.arrows (the same 5 tables); the
  // app without --allow-origin refuses the page (403 before the upgrade).
  const table = `${axumBase}/table.arrows`;
  await good('axum /table.arrows: openStream(url) = Apache Arrow JS', { via: 'http', url: table, refUrl: table }, AXUM_TABLES);
  await good('axum /feed: connect(url) = Apache Arrow JS', { via: 'ws', url: `${axumBase.replace(/^http/, 'ws')}/feed`, refUrl: table }, AXUM_TABLES);
  // The default policy lets in pages of the server's own host on any port
  // (Origins::SameHost), so the refused page is one of another host: the
  // same test page under the name `localhost` (the servers are on 127.0.0.1).
  const refusingFeed = `${axumRefusing.replace(/^http/, 'ws')}/feed`;
  const otherHost = base.replace('//127.0.0.1:', '//localhost:');
  const evHost = await openPage(`${otherHost}/e2e.html`);
  await refused('axum without --allow-origin: /feed from another host', evHost, { via: 'ws', url: refusingFeed }, { kind: 'Connect', opened: false });
  await refused('axum without --allow-origin: /table.arrows from another host', evHost, { via: 'http', url: `${axumRefusing}/table.arrows` }, { kind: 'Connect', opened: false });
  await answers('axum without --allow-origin: /feed 403 to another host', refusingFeed, { origin: new URL(otherHost).origin, protocols: [SUBPROTOCOL] }, { status: 403 });
  await answers('axum without --allow-origin: /feed 101 to its own host, another port', refusingFeed, { origin, protocols: [SUBPROTOCOL] }, { status: 101, protocol: SUBPROTOCOL });
  await answers('axum --allow-origin: /feed 101', `${axumBase.replace(/^http/, 'ws')}/feed`, { origin, protocols: [SUBPROTOCOL] }, { status: 101, protocol: SUBPROTOCOL });

  // 6. Issue 20's gateway: pyarrow.flight server -> `relay grpc:// --ticket T`
  // -> ws:// (connect) and http:// (openStream), each relay waiting for its
  // one reader (--wait-for 1) so the page gets the whole stream; values
  // against Apache Arrow JS reading pyarrow's own IPC stream of the fixture.
  const flightUrl = await startFlightServer(python, flightServer);
  for (const ticket of FLIGHT_TICKETS) {
    const refUrl = `${base}/flight/${ticket}.arrows`;
    for (const [via, listen] of [['ws', 'ws://127.0.0.1:0/'], ['http', 'http://127.0.0.1:0/t.arrows']]) {
      const relay = await session.startListening(
        bin,
        ['relay', flightUrl, '--ticket', ticket, listen, '--wait-for', '1', '--allow-origin', base],
        `lightstream relay ${flightUrl} --ticket ${ticket} ${listen}`,
      );
      const call = via === 'ws' ? 'connect' : 'openStream';
      await good(`relay grpc:// ${ticket} -> ${via}://: ${call}(url) = Apache Arrow JS`, { via, url: relay.url, refUrl }, flightCases[ticket]);
    }
  }

  record('no uncaught errors in the pages', pageErrors);
}

await runDriver({ name: 'web', timeoutMs: TEST_TIMEOUT_MS, verbose: env.LIGHTSTREAM_E2E_VERBOSE === '1' }, main);
