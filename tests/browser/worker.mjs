#!/usr/bin/env node
// Browser test of the Worker path, AbortSignal and reconnect (issue 19), in
// headless Debian Chromium with the packed npm tarball:
//   1. every e2e fixture over WebSocket with `{ worker: true }` (the e2e page,
//      e2e-page.js, through worker-shim.js), every value compared with Apache
//      Arrow JS's decode of the same bytes; openStream and readStream in the
//      Worker the same way; a ReadableStream read no further than the page's
//      window of `prefetch` tables (backpressure);
//   2. every fault mode of fault-server.mjs through the Worker: the same
//      failure (where, kind, message) as on the main thread, a timer on the
//      page ticking meanwhile, and a good connect afterwards;
//   3. AbortSignal (worker true and false): before connect, during connect
//      (the client closes its socket), during a pending next();
//   4. reconnect (worker true and false) against a live hub,
//      `python3 feed.py | lightstream serve ws://127.0.0.1:PORT/ -`, killed
//      and started again on the same port: the stream resumes (reconnects,
//      onResume) and its values go on; a hub that comes back with another
//      schema fails the stream with kind 'Schema'; an abort while it waits
//      between attempts ends it with kind 'Aborted'.
//
//   node tests/browser/worker.mjs    (env as for e2e.mjs: LIGHTSTREAM_NPM_TARBALL,
//                                     LIGHTSTREAM_BIN, LIGHTSTREAM_WORKER_VERBOSE=1)
//
// Exits 0 when every check passed, 1 on a failed check, 2 on a setup error or
// timeout. Children are always killed; every wait is bounded.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Message } from 'apache-arrow';

import { FAULT_EXPECTATIONS, FAULT_MODES, faultProblems, splitIpcStream, startFaultServer } from './fault-server.mjs';
import { fatal, nodeModules, runDriver } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_WORKER_TIMEOUT_MS ?? 170_000);
const BUILD_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_BUILD_TIMEOUT_MS ?? 900_000);
const python = env.LIGHTSTREAM_PYTHON ?? 'python3';

let session = null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ hub --

/** `python3 feed.py ARGS | lightstream serve ws://127.0.0.1:PORT/ -`:
 * resolves to { url, port, stop() } once the server listens. */
async function startHub(bin, { port = 0, feedArgs = [] } = {}) {
  const feed = session.spawnChild(python, [path.join(here, 'feed.py'), ...feedArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let srv = null;
  // The port of a hub just killed may take a moment to be free again.
  for (let attempt = 0; srv === null; attempt++) {
    try {
      srv = await session.startListening(bin, ['serve', `ws://127.0.0.1:${port}/`, '-'], 'lightstream serve (hub)', { stdin: feed.stdout });
    } catch (e) {
      if (attempt >= 20 || port === 0) {
        feed.kill('SIGKILL');
        throw e;
      }
      await sleep(100);
    }
  }
  const stop = async () => {
    for (const c of [srv.child, feed]) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await Promise.race([gone, sleep(5000)]);
      }
    }
  };
  return { url: srv.url, port: Number(new URL(srv.url).port), stop };
}

// --------------------------------------------------------------- checks --

function wsProblems(fixture, r) {
  const p = [];
  if (r.lsError) return [`lightstream failed: ${r.lsError.name}: ${r.lsError.message}`];
  p.push(...r.mismatches, ...r.problems.map((x) => `lightstream API: ${x}`));
  if (r.tables !== r.wire.recordBatches) p.push(`${r.tables} tables for ${r.wire.recordBatches} record batches`);
  if (r.rows !== fixture.rows) p.push(`${r.rows} rows, the fixture has ${fixture.rows}`);
  if (r.counters.bytesRead !== r.wire.bytes) p.push(`bytesRead ${r.counters.bytesRead}, WebSocket payload bytes ${r.wire.bytes}`);
  if (fixture.rows > 0 && r.valuesCompared === 0) p.push('no values compared');
  // toIPC() re-encoded, and with keepIpc the wire bytes moved from the Worker, read back equal.
  if (fixture.rows > 0 && r.ipcValuesCompared !== r.valuesCompared) p.push(`toIPC() compared ${r.ipcValuesCompared} values of ${r.valuesCompared}`);
  if (fixture.rows > 0 && r.referenceFrom === 'same bytes' && r.wireValuesCompared !== r.valuesCompared) {
    p.push(`keepIpc toIPC() compared ${r.wireValuesCompared} values of ${r.valuesCompared}`);
  }
  return p;
}

function abortProblems(r, closesBefore, closesAfter) {
  const p = [];
  const aborted = (what, x) => {
    if (x?.kind !== 'Aborted') p.push(`${what}: ${x?.resolved ? 'resolved' : `kind ${x?.kind} (${x?.message})`}, expected a rejection of kind Aborted`);
  };
  aborted('signal aborted before connect', r.preAborted);
  aborted('abort while connect waits for the schema', r.duringConnect);
  if (closesAfter <= closesBefore) p.push('after the abort during connect the server saw no close from the client');
  if (r.tablesBefore !== 2) p.push(`${r.tablesBefore} feed tables before the abort, expected 2`);
  r.pendingNext.forEach((x, i) => {
    if (!x.resolved) aborted(`pending next() #${i}`, x);
  });
  if (!r.pendingNext.some((x) => x.kind === 'Aborted')) p.push('no pending next() rejected with kind Aborted');
  if (r.afterAbort !== 'done') p.push(`next() after the abort: ${r.afterAbort}, expected done`);
  return p;
}

/** Consecutive seq values within each run of tables (before / after the resume). */
function seqProblems(tables, what) {
  const p = [];
  let prev = null;
  for (const seqs of tables) {
    for (const s of seqs) {
      if (prev !== null && s !== prev + 1) p.push(`${what}: seq ${s} after ${prev}`);
      prev = s;
    }
  }
  return p.slice(0, 5);
}

// ----------------------------------------------------------------- main --

async function main(t) {
  session = t.session;
  // A check of group `group` (values, fault, abort, reconnect, page).
  const record = (group, label, problems, note = '') => t.record(`${group} ${label}`, problems, note);
  session.requirePageModules();
  const pkg = session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  if (!fs.existsSync(path.join(pkg.dir, 'worker.js'))) throw fatal('the npm package has no worker.js');
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });

  t.startWatchdog();

  const made = session.makeFixtures();
  const fxDir = made.dir;
  const cases = Object.values(made.cases);

  const file = (f) => path.join(here, f);
  const base = await session.startHttpServer(
    Object.fromEntries(['worker.html', 'e2e-page.js', 'lz4.js', 'worker-shim.js', 'worker-page.js'].map((f) => [`/${f}`, file(f)])),
    {
      '/lightstream/': [pkg.dir, null],
      '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
      '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
      '/fixtures/': [fxDir, null],
    },
  );
  const servers = {};
  await Promise.all(cases.map(async (c) => {
    servers[c.name] = await session.startServe(bin, path.join(fxDir, c.file), ['--allow-origin', base]);
  }));
  const faultBytes = fs.readFileSync(path.join(fxDir, 'dictionaries.arrows'));
  const messages = splitIpcStream(faultBytes, (fb) => Number(Message.decode(fb).bodyLength));
  const kinds = messages.map((m) => (m.length === 8 ? 'eos' : Message.decode(m.subarray(8, 8 + m.readInt32LE(4)))));
  const batchIdx = kinds.flatMap((k, i) => (k !== 'eos' && k.isRecordBatch() ? [i] : []));
  const fault = await startFaultServer({ messages, cutAfter: batchIdx[1] + 1, log: session.debug });
  session.onCleanup(() => fault.close());
  let hub = await startHub(bin);
  session.onCleanup(() => hub.stop());

  const browser = await session.launchChromium();
  const pageErrors = [];
  const { page, ev } = await session.openTestPage(browser, `${base}/worker.html`, { pageErrors, readyGlobal: 'workerCases', timeoutMs: 60_000 });
  const evw = (fn, arg) => page.evaluate(([f, a]) => window.workerCases[f](a), [fn, arg]);
  const ticks = () => page.evaluate(() => window.workerProbe.ticks);
  const guarded = (group, label, fn) => t.guarded(`${group} ${label}`, fn);

  // 1. Values through the Worker, against Apache Arrow JS.
  for (const c of cases) {
    await guarded('values', `${c.name} over WebSocket`, async () => {
      const r = await ev('wsCase', { url: servers[c.name].url, label: c.name, ipc: true });
      // Wire views: the Worker moves each record batch's message to the
      // page, and the column buffers are views of it (none copied).
      const v = r.wireViews ?? { viewed: 0, copied: 0 };
      const p = wsProblems(c, r);
      if (c.rows > 0 && (v.viewed === 0 || v.copied !== 0)) p.push(`${v.viewed} column buffers are wire views and ${v.copied} copies: expected views only`);
      record('values', `${c.name} over WebSocket`, p, `${r.tables} tables, ${r.valuesCompared} values, +${r.ipcValuesCompared} via toIPC, +${r.wireValuesCompared} via keepIpc; ${v.viewed} wire views`);
    });
  }
  // A stream that ended leaves its Worker idle for the next one
  // (IDLE_WORKER_MS): the second stream starts no Worker, its values right.
  await guarded('values', 'a stream after one that ended reuses its Worker', async () => {
    const c = cases.find((x) => x.name === 'all_types');
    await ev('wsCase', { url: servers[c.name].url, label: c.name, ipc: false });
    const before = await page.evaluate(() => window.workerProbe.workers);
    const r = await ev('wsCase', { url: servers[c.name].url, label: `${c.name} again`, ipc: true });
    const started = (await page.evaluate(() => window.workerProbe.workers)) - before;
    const p = wsProblems(c, r);
    if (started !== 0) p.push(`${started} Workers started for the second stream, expected 0 (the idle one reused)`);
    record('values', 'a stream after one that ended reuses its Worker', p, `${r.tables} tables, ${r.valuesCompared} values`);
  });
  for (const name of ['all_types', 'dictionaries']) {
    const c = cases.find((x) => x.name === name);
    await guarded('values', `${name} with openStream`, async () => {
      const url = `${base}/fixtures/${c.file}`;
      const r = await ev('streamCase', { via: 'http', url, refUrl: url, label: `${name} openStream` });
      const p = r.error ? [`failed: ${r.error.kind}: ${r.error.message}`] : [...r.mismatches, ...r.problems];
      if (!r.error && r.valuesCompared === 0) p.push('no values compared');
      record('values', `${name} with openStream`, p, `${r.valuesCompared} values`);
    });
  }
  await guarded('values', 'dictionaries with readStream (a transferred ReadableStream, odd chunks)', async () => {
    const r = await ev('httpCase', { url: `${base}/fixtures/dictionaries.arrows`, label: 'dictionaries readStream', chunkSizes: [1, 7, 4096] });
    const p = [...r.mismatches, ...r.problems];
    for (const [mode, m] of Object.entries(r.modes)) if (!m.ok) p.push(`${mode}: ${m.error.kind}: ${m.error.message}`);
    record('values', 'dictionaries with readStream (a transferred ReadableStream, odd chunks)', p, `${r.valuesCompared} values`);
  });

  await guarded('values', 'backpressure: the Worker reads a ReadableStream only as the page takes tables', async () => {
    const r = await evw('backpressureCase', { batches: 50, prefetch: 2 });
    const p = [...r.problems];
    if (r.tables !== 50) p.push(`${r.tables} tables, expected 50`);
    // The first table, `prefetch` more, and what the streams' queues hold
    // on the way: a few tables' worth of chunks, far from all 50.
    const bound = Math.ceil((1 + 2 + 4) * r.chunksPerTable) + 4;
    if (r.pulledIdle > bound) p.push(`the Worker read ${r.pulledIdle} of ${r.totalChunks} chunks while the page took one table (bound ${bound})`);
    record('values', 'backpressure: the Worker reads a ReadableStream only as the page takes tables', p,
      `${r.pulledIdle} of ${r.totalChunks} chunks read while idle`);
  });

  // openStream's refusals from the Worker stay HttpErrors (status, kind).
  for (const [label, url, status, kind] of [
    ['a 404', `${base}/fixtures/no-such.arrows`, 404, 'Http'],
    ['a 200 text/html', `${base}/worker.html`, 200, 'ContentType'],
  ]) {
    await guarded('values', `openStream in the Worker: ${label} is an HttpError`, async () => {
      const r = await ev('refusalCase', { via: 'http', url });
      const e = r.error;
      const p = [];
      if (!e) p.push(`no error (${r.tables} tables)`);
      else if (!e.httpError || e.status !== status || e.kind !== kind) {
        p.push(`${e.name} (HttpError: ${e.httpError}), status ${e.status}, kind ${e.kind}; expected an HttpError, ${status}, ${kind}`);
      }
      record('values', `openStream in the Worker: ${label} is an HttpError`, p, e ? `${e.kind}: ${e.message.slice(0, 80)}` : '');
    });
  }

  await guarded('values', 'workerUrl: the script named explicitly, and one that is not there', async () => {
    const c = cases.find((x) => x.name === 'all_types');
    const r = await evw('workerUrlCase', {
      url: servers.all_types.url, goodWorkerUrl: `${base}/lightstream/worker.js`, badWorkerUrl: `${base}/lightstream/no-such-worker.js`,
    });
    const p = [];
    if (r.good?.rows !== c.rows) p.push(`with workerUrl: ${r.good?.rows !== undefined ? `${r.good.rows} rows, expected ${c.rows}` : `${r.good?.kind}: ${r.good?.message}`}`);
    if (r.bad?.resolved || typeof r.bad?.kind !== 'string') p.push(`a workerUrl with no script: ${r.bad?.resolved ? 'connect resolved' : `no kind (${r.bad?.message})`}`);
    record('values', 'workerUrl: the script named explicitly, and one that is not there', p, `bad: ${r.bad?.kind}: ${r.bad?.message}`);
  });

  // 2. Faults through the Worker, the page responsive meanwhile.
  const good = cases.find((c) => c.name === 'all_types');
  for (const mode of FAULT_MODES) {
    await guarded('fault', mode, async () => {
      const t0 = await ticks();
      const r = await ev('faultCase', { url: fault.url(mode) });
      const t1 = await ticks();
      const p = faultProblems(r, FAULT_EXPECTATIONS[mode]);
      if (t1 <= t0) p.push(`the page's timer did not tick during the case (${t0} -> ${t1})`);
      const g = await ev('goodConnect', { url: servers.all_types.url });
      if (g.tables !== good.batches || g.rows !== good.rows) p.push(`a good connect afterwards gave ${g.tables} tables / ${g.rows} rows`);
      const err = r.connectError ?? r.iterError;
      record('fault', mode, p, err ? `${err.kind}: ${err.message.slice(0, 80)}` : 'no error');
    });
  }

  // 3. AbortSignal.
  for (const worker of [true, false]) {
    await guarded('abort', `worker: ${worker}`, async () => {
      const before = fault.closes('silent');
      const r = await evw('abortCases', { silentUrl: fault.url('silent'), feedUrl: hub.url, worker });
      // The client's close reaches the server asynchronously.
      let after = fault.closes('silent');
      for (let i = 0; i < 50 && after <= before; i++) {
        await sleep(100);
        after = fault.closes('silent');
      }
      record('abort', `worker: ${worker}`, abortProblems(r, before, after));
    });
  }

  // 4. Reconnect: the hub killed and started again on the same port.
  const restartWhile = async (caseArgs, feedArgs, waitTables) => {
    const running = evw('reconnectCase', caseArgs);
    let progress = null;
    for (let i = 0; i < 200; i++) {
      progress = await page.evaluate(() => window.reconnectProgress);
      if (progress?.tables >= waitTables || progress?.done) break;
      await sleep(50);
    }
    const port = hub.port;
    await hub.stop();
    await sleep(300);
    hub = await startHub(bin, { port, feedArgs });
    return running;
  };
  let epoch = 0;
  for (const worker of [true, false]) {
    await guarded('reconnect', `worker: ${worker}`, async () => {
      epoch += 1;
      const start = epoch * 1_000_000;
      const r = await restartWhile({ url: hub.url, worker, wantAfter: 5 }, ['--start', String(start)], 3);
      const p = [...r.problems];
      if (r.error) p.push(`the stream failed: ${r.error.kind}: ${r.error.message}`);
      if (r.reconnects !== 1) p.push(`stream.reconnects is ${r.reconnects}, expected 1`);
      if (r.resumes.length !== 1) p.push(`onResume was called ${r.resumes.length} times, expected once`);
      else if (r.resumes[0].errorKind !== 'Truncated') p.push(`onResume's error has kind ${r.resumes[0].errorKind}, expected Truncated`);
      if (r.before.length < 3) p.push(`${r.before.length} tables before the hub went away, expected at least 3`);
      if (r.after.length !== 5) p.push(`${r.after.length} tables after the resume, expected 5`);
      const firstAfter = r.after[0]?.[0];
      if (!(firstAfter >= start)) p.push(`the first seq after the resume is ${firstAfter}, expected one of the new feed (>= ${start})`);
      p.push(...seqProblems(r.before, 'before the resume'), ...seqProblems(r.after, 'after the resume'));
      const rows = [...r.before, ...r.after].reduce((n, s) => n + s.length, 0);
      if (r.rowsRead !== rows) p.push(`rowsRead ${r.rowsRead}, rows seen ${rows}`);
      record('reconnect', `worker: ${worker}`, p, `${r.before.length} tables, resumed, ${r.after.length} tables from seq ${firstAfter}`);
    });
    await guarded('reconnect', `worker: ${worker}, another schema after the restart`, async () => {
      const r = await restartWhile({ url: hub.url, worker, wantAfter: 5 }, ['--schema', 'other'], 2);
      const p = [];
      if (r.error?.kind !== 'Schema') p.push(`the stream ended with ${r.error ? `kind ${r.error.kind}: ${r.error.message}` : 'no error'}, expected kind Schema`);
      if (r.after.length !== 0) p.push(`${r.after.length} tables of the other schema were handed out`);
      record('reconnect', `worker: ${worker}, another schema after the restart`, p, r.error?.message.slice(0, 100));
      // The next case needs the usual feed again.
      const port = hub.port;
      await hub.stop();
      hub = await startHub(bin, { port });
    });
  }

  // An abort while reconnect waits between attempts (the hub gone).
  for (const worker of [true, false]) {
    await guarded('reconnect', `worker: ${worker}, aborted while reconnecting`, async () => {
      const running = evw('abortReconnectCase', { url: hub.url, worker });
      for (let i = 0; i < 200; i++) {
        const progress = await page.evaluate(() => window.reconnectProgress);
        if (progress?.tables >= 2 || progress?.done) break;
        await sleep(50);
      }
      const port = hub.port;
      await hub.stop();
      await sleep(500);
      await page.evaluate(() => window.abortReconnect());
      const r = await running;
      hub = await startHub(bin, { port });
      const p = [];
      if (r.tables < 2) p.push(`${r.tables} tables before the hub went away`);
      if (r.error?.kind !== 'Aborted') p.push(`the stream ended with ${r.error ? `kind ${r.error.kind}: ${r.error.message}` : 'no error'}, expected kind Aborted`);
      if (r.resumes !== 0) p.push(`onResume called ${r.resumes} times with no hub to resume from`);
      if (r.after !== 'done') p.push(`next() after the abort: ${r.after}, expected done`);
      record('reconnect', `worker: ${worker}, aborted while reconnecting`, p, r.error?.message.slice(0, 80));
    });
  }

  const probe = await page.evaluate(() => window.workerProbe);
  record('page', 'the cases ran in Workers', probe.workers > 0 ? [] : ['the page started no Worker'], `${probe.workers} workers`);
  record('page', 'no uncaught errors in the page', pageErrors);
}

await runDriver({ name: 'worker', timeoutMs: TEST_TIMEOUT_MS, verbose: env.LIGHTSTREAM_WORKER_VERBOSE === '1' }, main);
