// The Worker-only cases of tests/browser/worker.mjs (the e2e cases come from
// e2e-page.js through worker-shim.js): AbortSignal, reconnect, backpressure and workerUrl, the first two with
// `worker` true or false (the same behaviour on both paths). The feed they
// read is tests/browser/feed.py through `lightstream serve ws://... -`: int64
// `seq` counting up by one per row and utf8 `label` = "r<seq>".
import { connect, readStream } from 'lightstream-arrow';
import { Table as ArrowTable, tableFromArrays, tableToIPC } from 'apache-arrow';
import { errorInfo, withTimeout } from './e2e-page.js';

/** The rows of a feed table: [seq, label] pairs, checked against each other. */
function feedRows(table, problems) {
  const seq = Array.from(table.column('seq').toArray(), Number);
  const label = table.column('label').toArray();
  for (let i = 0; i < seq.length; i++) {
    if (label[i] !== `r${seq[i]}`) problems.push(`row ${i}: label ${label[i]} for seq ${seq[i]}`);
  }
  return seq;
}

/**
 * AbortSignal: (1) a signal aborted before connect, (2) an abort while
 * connect waits for a schema that never comes (`silentUrl`), (3) an abort
 * while next() waits for the feed's next table (`feedUrl`). Each must reject
 * with kind 'Aborted'; after (3) the stream is done.
 */
async function abortCases({ silentUrl, feedUrl, worker, timeoutMs = 10000 }) {
  const out = {};
  const pre = new AbortController();
  pre.abort();
  try {
    await withTimeout(connect(feedUrl, { worker, signal: pre.signal }), timeoutMs, 'pre-aborted connect');
    out.preAborted = { resolved: true };
  } catch (e) {
    out.preAborted = errorInfo(e);
  }
  const during = new AbortController();
  const p = connect(silentUrl, { worker, signal: during.signal, timeoutMs: 60000 });
  setTimeout(() => during.abort(), 200);
  try {
    await withTimeout(p, timeoutMs, 'connect aborted while waiting');
    out.duringConnect = { resolved: true };
  } catch (e) {
    out.duringConnect = errorInfo(e);
  }
  const mid = new AbortController();
  const stream = await withTimeout(connect(feedUrl, { worker, signal: mid.signal }), timeoutMs, 'connect to the feed');
  out.tablesBefore = 0;
  for (let i = 0; i < 2; i++) {
    const r = await withTimeout(stream.next(), timeoutMs, 'next() of the feed');
    if (!r.done) out.tablesBefore += 1;
  }
  // Several next() calls pending at once (the feed sends a table every 20 ms,
  // the abort comes first): every one rejects, or resolves with a table that
  // had already arrived.
  const pending = [stream.next(), stream.next(), stream.next()];
  mid.abort();
  const settled = await withTimeout(Promise.allSettled(pending), timeoutMs, 'next() after abort');
  out.pendingNext = settled.map((s) => (s.status === 'rejected' ? errorInfo(s.reason) : { resolved: true, done: s.value.done }));
  try {
    const again = await withTimeout(stream.next(), timeoutMs, 'next() after the abort');
    out.afterAbort = again.done ? 'done' : 'a table';
  } catch (e) {
    out.afterAbort = `rejected: ${e.message}`;
  }
  return out;
}

window.reconnectProgress = null;

/**
 * Reads the feed at `url` with `reconnect` until `wantAfter` tables arrived
 * after a resume (the driver kills and restarts the hub meanwhile;
 * `window.reconnectProgress` tells it how far the page is), or until the
 * stream fails. Returns the seq values before and after the resume.
 */
async function reconnectCase({ url, worker, wantAfter = 5, timeoutMs = 30000 }) {
  const out = { before: [], after: [], resumes: [], problems: [], error: null, reconnects: null };
  const progress = { tables: 0, resumes: 0, done: false };
  window.reconnectProgress = progress;
  const stream = await withTimeout(connect(url, {
    worker,
    reconnect: { retries: 50, initialDelayMs: 50, maxDelayMs: 400 },
    onResume: (e) => {
      progress.resumes += 1;
      out.resumes.push({ reconnects: e.reconnects, attempts: e.attempts, errorKind: e.error?.kind ?? null, atTable: progress.tables });
    },
  }), timeoutMs, `connect(${url})`);
  out.schema = stream.schema.map((f) => `${f.name}: ${f.type}`);
  let afterResume = 0;
  try {
    for (let k = 0; k < 5000 && afterResume < wantAfter; k++) {
      const r = await withTimeout(stream.next(), timeoutMs, 'next() of the feed');
      if (r.done) break;
      const seq = feedRows(r.value, out.problems);
      progress.tables += 1;
      if (progress.resumes === 0) out.before.push(seq);
      else {
        out.after.push(seq);
        afterResume += 1;
      }
    }
  } catch (e) {
    out.error = errorInfo(e);
  }
  out.reconnects = stream.reconnects;
  out.tablesRead = stream.tablesRead;
  out.rowsRead = stream.rowsRead;
  stream.close();
  progress.done = true;
  return out;
}

/**
 * Backpressure through the Worker: an IPC stream of `batches` tables (written
 * by Apache Arrow JS) in a ReadableStream that counts its pulls, read with
 * `readStream(rs, { worker: true, prefetch })`. After the first table the
 * page waits `idleMs` without asking for more: the Worker must stop reading
 * (a few chunks past `prefetch` tables, never the whole stream). Then every
 * table is read and its values compared with Arrow JS's.
 */
async function backpressureCase({ batches = 50, rows = 1000, prefetch = 2, idleMs = 300, worker = true, timeoutMs = 10000 }) {
  const parts = [];
  for (let b = 0; b < batches; b++) parts.push(tableFromArrays({ x: Int32Array.from({ length: rows }, (_, i) => b * rows + i) }).batches[0]);
  const bytes = tableToIPC(new ArrowTable(parts), 'stream');
  const chunk = 1024;
  const totalChunks = Math.ceil(bytes.length / chunk);
  let pulled = 0;
  let at = 0;
  const rs = new ReadableStream({
    pull(c) {
      if (at >= bytes.length) {
        c.close();
        return;
      }
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
      pulled += 1;
    },
  }, { highWaterMark: 0 });
  const stream = readStream(rs, { worker, prefetch });
  const first = await withTimeout(stream.next(), timeoutMs, 'first table');
  await new Promise((r) => setTimeout(r, idleMs));
  const pulledIdle = pulled;
  const problems = [];
  let tables = first.done ? 0 : 1;
  const check = (t, b) => {
    const x = t.column('x').toArray();
    for (let i = 0; i < rows; i += 97) if (x[i] !== b * rows + i) problems.push(`table ${b} row ${i}: ${x[i]}`);
  };
  if (!first.done) check(first.value, 0);
  for (;;) {
    const r = await withTimeout(stream.next(), timeoutMs, 'next table');
    if (r.done) break;
    check(r.value, tables);
    tables += 1;
  }
  return { pulledIdle, totalChunks, tables, problems: problems.slice(0, 5), chunksPerTable: totalChunks / batches };
}

/** `workerUrl`: the package's worker.js named explicitly reads the stream;
 * a URL with no script behind it rejects (a kind, not a hang). */
async function workerUrlCase({ url, goodWorkerUrl, badWorkerUrl, timeoutMs = 10000 }) {
  const out = { good: null, bad: null };
  try {
    const s = await withTimeout(connect(url, { worker: true, workerUrl: goodWorkerUrl }), timeoutMs, 'connect with workerUrl');
    let rows = 0;
    for await (const t of s) rows += t.numRows;
    out.good = { rows };
  } catch (e) {
    out.good = errorInfo(e);
  }
  try {
    await withTimeout(connect(url, { worker: true, workerUrl: badWorkerUrl }), timeoutMs, 'connect with a bad workerUrl');
    out.bad = { resolved: true };
  } catch (e) {
    out.bad = errorInfo(e);
  }
  return out;
}

/**
 * An abort while `reconnect` waits between attempts: reads 2 tables of the
 * feed, then waits in next(); the driver kills the hub (the attempts then
 * fail) and calls `window.abortReconnect()`. next() must reject with kind
 * 'Aborted', and the stream is then done.
 */
async function abortReconnectCase({ url, worker, timeoutMs = 20000 }) {
  const out = { tables: 0, error: null, after: null, resumes: 0 };
  const controller = new AbortController();
  window.abortReconnect = () => controller.abort();
  const progress = { tables: 0, resumes: 0, done: false };
  window.reconnectProgress = progress;
  const stream = await withTimeout(connect(url, {
    worker, signal: controller.signal,
    reconnect: { retries: 1000, initialDelayMs: 100, maxDelayMs: 200 },
    onResume: () => { out.resumes += 1; },
  }), timeoutMs, 'connect to the feed');
  try {
    for (let k = 0; k < 1000; k++) {
      const r = await withTimeout(stream.next(), timeoutMs, 'next() of the feed');
      if (r.done) break;
      out.tables += 1;
      progress.tables = out.tables;
      // Reads on until the hub is gone: then next() waits while reconnect
      // tries, until the abort.
    }
  } catch (e) {
    out.error = errorInfo(e);
  }
  try {
    const again = await withTimeout(stream.next(), 3000, 'next() after the abort');
    out.after = again.done ? 'done' : 'a table';
  } catch (e) {
    out.after = `rejected: ${e.message}`;
  }
  progress.done = true;
  return out;
}

window.workerCases = { abortCases, reconnectCase, backpressureCase, workerUrlCase, abortReconnectCase };
