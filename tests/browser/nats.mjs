#!/usr/bin/env node
// Issue 22 in headless Chromium: a browser subscriber through a WebSocket relay
// on NATS. pyarrow's fixtures (make_fixtures.py: every type, and dictionaries
// that grow and are replaced) are published with `lightstream serve
// nats://127.0.0.1:P/browser.NAME -` on a nats-server of the test's own
// (JetStream, max_payload 64 KiB, so that batches cross NATS in parts);
// `lightstream relay nats://… ws://127.0.0.1:0/` fans the feed out; the page
// reads it with the packed npm package's `connect`, and every value must equal
// Apache Arrow JS's read of pyarrow's own stream (the page's streamCase, as in
// web.mjs).
//
// No timing assumption: `serve` gets the fixture's schema message first, the
// relay (--wait-for 1) joins the feed once the page is connected, and the rest
// of the fixture is written only once the relay's JetStream consumer exists
// (the server's /jsz): the page's stream is then the whole fixture.
//
//   node tests/browser/nats.mjs      (README.md in this folder: env vars as e2e.mjs;
//                                     LIGHTSTREAM_NATS_SERVER: the nats-server binary)
//
// Exits 0 when every check passed, 1 on a failed check, 2 on a setup error or
// timeout.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { fatal, nodeModules, runDriver } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_TIMEOUT_MS ?? 90_000);
const BUILD_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_BUILD_TIMEOUT_MS ?? 900_000);
const NATS_SERVER = env.LIGHTSTREAM_NATS_SERVER ?? 'nats-server';
const FIXTURES = ['all_types', 'dictionaries'];

let session = null;

/** Polls `check` every 50 ms until it returns a value, at most `ms`. */
async function until(what, ms, check) {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > deadline) throw fatal(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A JSON page of nats-server's monitoring port. */
function monitor(port, page) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: page, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${page}`)));
    req.on('error', reject);
  });
}

/** The consumers of JetStream stream `name`. */
async function consumers(port, name) {
  const jsz = await monitor(port, '/jsz?consumers=true');
  const streams = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
  return streams.filter((s) => s.name === name).flatMap((s) => (s.consumer_detail ?? []).map((c) => c.name));
}

/** nats-server on free loopback ports, JetStream in `dir`: { port, monitoring }. */
async function startNats(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nats.conf');
  fs.writeFileSync(conf, `max_payload: 65536\njetstream {\n  store_dir: ${JSON.stringify(path.join(dir, 'js'))}\n  max_file_store: 4G\n  max_memory_store: 64M\n}\n`);
  const child = session.spawnChild(NATS_SERVER, ['-a', '127.0.0.1', '-p', '-1', '-m', '-1', '--ports_file_dir', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const failed = new Promise((_, reject) => {
    child.on('error', (e) => reject(fatal(`cannot run ${NATS_SERVER} (bash scripts/setup.sh installs it): ${e.message}`)));
    child.on('exit', (code) => reject(fatal(`${NATS_SERVER} exited (${code}): ${stderr}`)));
  });
  const ports = path.join(dir, `nats-server_${child.pid}.ports`);
  const port = (json, key) => Number(json[key][0].split(':').pop());
  const found = until('nats-server ports file', 10_000, () => {
    try {
      const json = JSON.parse(fs.readFileSync(ports, 'utf8'));
      return { port: port(json, 'nats'), monitoring: port(json, 'monitoring') };
    } catch {
      return null;
    }
  });
  return Promise.race([found, failed]);
}

/** The end of the first encapsulated IPC message (the schema) of a stream. */
function schemaEnd(bytes) {
  if (bytes.readUInt32LE(0) !== 0xffffffff) throw fatal('a fixture without the IPC continuation marker');
  return 8 + bytes.readInt32LE(4);
}

async function main(t) {
  session = t.session;
  const { log, record } = t;
  session.requirePageModules();
  const pkg = session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  t.startWatchdog();
  const { dir: fixtures, cases } = session.makeFixtures();
  const files = { '/e2e.html': path.join(here, 'e2e.html'), '/e2e-page.js': path.join(here, 'e2e-page.js'), '/lz4.js': path.join(here, 'lz4.js') };
  for (const name of FIXTURES) files[`/fixtures/${name}.arrows`] = path.join(fixtures, cases[name].file);
  const base = await session.startHttpServer(files, {
    '/lightstream/': [pkg.dir, null],
    '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
    '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
  });
  const nats = await startNats(path.join(session.tmp, 'nats'));
  log(`package ${pkg.tarball}; page ${base}; nats-server 127.0.0.1:${nats.port}`);

  const browser = await session.launchChromium();
  const pageErrors = [];
  const { ev } = await session.openTestPage(browser, `${base}/e2e.html`, { pageErrors });

  for (const name of FIXTURES) {
    const label = `serve nats:// ${name} -> relay ws:// -> connect(url) = Apache Arrow JS`;
    const subject = `browser.${name}`;
    const url = `nats://127.0.0.1:${nats.port}/${subject}`;
    const stream = `LS_browser_${name}`;
    await t.guarded(label, async () => {
      const bytes = fs.readFileSync(path.join(fixtures, cases[name].file));
      const serve = session.spawnChild(bin, ['serve', url, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let serveErr = '';
      serve.stderr.on('data', (d) => (serveErr += d));
      const served = new Promise((resolve) => serve.on('exit', (code) => resolve(code)));
      // The schema: serve creates the stream and publishes it.
      serve.stdin.write(bytes.subarray(0, schemaEnd(bytes)));
      const relay = await session.startListening(bin, ['relay', url, 'ws://127.0.0.1:0/', '--wait-for', '1', '--allow-origin', base], `lightstream relay ${url}`);
      const before = await consumers(nats.monitoring, stream);
      const read = ev('streamCase', { via: 'ws', url: relay.url, refUrl: `${base}/fixtures/${name}.arrows`, label });
      // The page is connected and the relay joined: the rest of the feed.
      await until(`a consumer of ${stream} (the relay joined)`, 20_000, async () => (await consumers(nats.monitoring, stream)).some((c) => !before.includes(c)));
      serve.stdin.end(bytes.subarray(schemaEnd(bytes)));
      const r = await read;
      const code = await served;
      const p = [];
      if (code !== 0) p.push(`serve exited ${code}: ${serveErr}`);
      if (r.error) p.push(`failed: ${r.error.name} (${r.error.kind}): ${r.error.message}`);
      else {
        p.push(...r.mismatches, ...r.problems.map((x) => `lightstream API: ${x}`));
        if (r.rows !== cases[name].rows) p.push(`${r.rows} rows, the fixture has ${cases[name].rows}`);
        if (r.valuesCompared === 0) p.push('no values compared');
      }
      record(label, p, `${r.tables} tables, ${r.valuesCompared} values`);
      relay.child.kill('SIGTERM');
    });
  }

  record('no uncaught errors in the page', pageErrors);
}

await runDriver({ name: 'nats', timeoutMs: TEST_TIMEOUT_MS, verbose: env.LIGHTSTREAM_E2E_VERBOSE === '1' }, main);
