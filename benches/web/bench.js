// Lightstream browser benchmarks (issue 4): the page side.
//
// What it is for: timing, in one page and on the same bytes, Lightstream's npm
// package (wasm) beside Apache Arrow JS and @uwdata/flechette:
//   - end to end over WebSocket (`bench.e2e`): connect, receive the stream a
//     native `lightstream serve` sends, and have every table usable in JS;
//   - column materialisation per record batch (`bench.materialise`): numeric,
//     string and dictionary `toArray()` on tables decoded from the same
//     IPC stream bytes (fetched once over HTTP);
//   - where a string `toArray()` spends its time (`bench.stringSplits`).
// What it is not: a correctness suite (tests/ has that). It only checks that
// the libraries agree on the values it times, so a broken path cannot look fast.
//
// benches/web/run.mjs loads this page in headless Chromium, calls the functions
// on `window.bench` (DevTools Runtime.evaluate) and computes the medians;
// everything here returns raw samples (milliseconds from performance.now()).

import init, * as ls from 'lightstream-arrow';
import * as arrow from 'apache-arrow';

const statusEl = document.getElementById('status');
const status = (s) => { if (statusEl) statusEl.textContent = s; };
const now = () => performance.now();

let flechette = null;
let flechetteError = null;
try {
  flechette = await import('@uwdata/flechette');
} catch (e) {
  flechetteError = String(e?.message ?? e);
}
// flechette's default turns int64 into JS numbers and throws for values beyond
// 2^53 (shape (a)'s i64 column is random 64-bit values): BigInt64Array instead,
// as Apache Arrow JS and Lightstream return.
const FLECHETTE_OPTIONS = { useBigInt: true };
// The wasm-bindgen module itself (the same module instance npm/index.js
// imports), to see whether this build has `connect` yet.
let wasmPkg = null;
try {
  wasmPkg = await import('lightstream-arrow/pkg/lightstream_wasm.js');
} catch {
  wasmPkg = null;
}

// Whether this build of the package has the Worker path (npm/worker.js).
let hasWorker = false;
try {
  hasWorker = typeof Worker === 'function' && (await fetch(import.meta.resolve('lightstream-arrow/worker.js'), { method: 'HEAD' })).ok;
} catch {
  hasWorker = false;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// A performance.now() split for the end-to-end runs: the time the main thread
// spends inside WebSocket `onmessage` handlers (Lightstream's copies each
// message into wasm memory and decodes it there; the plain-WebSocket runs only
// push the ArrayBuffer). Wraps the handler every page sets through the
// `onmessage` property (as wasm-bindgen's glue does): two performance.now()
// calls per message, a few dozen messages per run.
const handlerTime = { ms: 0, calls: 0 };
{
  const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  const wrapped = new WeakMap();
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true,
    enumerable: desc.enumerable,
    get() {
      const h = desc.get.call(this);
      return (h && wrapped.get(h)) ?? h;
    },
    set(fn) {
      if (typeof fn !== 'function') {
        desc.set.call(this, fn);
        return;
      }
      const timed = function onmessageTimed(e) {
        const t = performance.now();
        try {
          return fn.call(this, e);
        } finally {
          handlerTime.ms += performance.now() - t;
          handlerTime.calls += 1;
        }
      };
      wrapped.set(timed, fn);
      desc.set.call(this, timed);
    },
  });
}

/** Runs `run()` and adds the onmessage time it caused to its result. */
async function withHandlerTime(run) {
  const ms0 = handlerTime.ms;
  const calls0 = handlerTime.calls;
  const r = await run();
  r.handlerMs = handlerTime.ms - ms0;
  r.handlerCalls = handlerTime.calls - calls0;
  return r;
}

/** Between runs: collect garbage (the runner starts Chromium with
 * --js-flags=--expose-gc) and yield to the event loop, outside any timing. */
async function settle() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  await new Promise((r) => setTimeout(r, 20));
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `list` rotated left by `k`: over consecutive repetitions every entry takes every position. */
function rotate(list, k) {
  const n = list.length;
  return list.map((_, i) => list[(i + k) % n]);
}

/** The 8-byte end-of-stream marker FF FF FF FF 00 00 00 00. */
function isEndMarker(buf) {
  if (buf.byteLength !== 8) return false;
  const v = new Uint32Array(buf);
  return v[0] === 0xffffffff && v[1] === 0;
}

/**
 * Receives one Lightstream WebSocket stream with a plain browser WebSocket
 * (binaryType 'arraybuffer'), keeping every message. Resolves at the
 * end-of-stream marker (the server's Close follows it at once; waiting for
 * it would add the closing handshake to the Arrow JS times only) or at close.
 */
function receiveAll(url, timeoutMs, onData = null) {
  return new Promise((resolve, reject) => {
    const msgs = [];
    let bytes = 0;
    let finished = false;
    const ws = new WebSocket(url, ['lightstream.arrow.v1']); // as every Lightstream client offers it
    ws.binaryType = 'arraybuffer';
    const finish = (err, sawEnd) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      if (ws.readyState !== WebSocket.CLOSED) ws.close();
      if (err) reject(err);
      else resolve({ msgs, bytes, sawEnd });
    };
    const timer = setTimeout(
      () => finish(new Error(`${url}: no end-of-stream marker within ${timeoutMs} ms`)),
      timeoutMs,
    );
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') {
        finish(new Error(`${url}: unexpected text message`));
        return;
      }
      msgs.push(e.data);
      bytes += e.data.byteLength;
      if (onData) onData(e.data);
      if (isEndMarker(e.data)) finish(null, true);
    };
    ws.onclose = () => finish(null, false);
    ws.onerror = () => finish(new Error(`${url}: WebSocket error`));
  });
}

// ---------------------------------------------------------------------------
// End to end: connect -> every table usable in JS
// ---------------------------------------------------------------------------

/** The ceiling: a plain WebSocket receiving the same messages, no decoding. */
async function runRaw(url, o) {
  const t0 = now();
  const r = await receiveAll(url, o.timeoutMs);
  const t1 = now();
  if (!r.sawEnd) throw new Error('raw: stream closed before its end-of-stream marker');
  return { ms: t1 - t0, bytes: r.bytes, messages: r.msgs.length, rows: null, batches: null };
}

/** The ceiling plus one copy of every message, in onmessage, into memory that
 * is already committed (a reused buffer): what a wasm decoder must at least pay
 * to get the bytes into its memory. */
let copyTarget = new Uint8Array(0);
async function runRawCopy(url, o) {
  let copied = 0;
  const copy = (buf) => {
    if (copyTarget.byteLength < buf.byteLength) {
      copyTarget = new Uint8Array(buf.byteLength);
      copyTarget.fill(1); // commit its pages (happens in the unrecorded warm-up run)
    }
    copyTarget.set(new Uint8Array(buf));
    copied += buf.byteLength;
  };
  const t0 = now();
  const r = await receiveAll(url, o.timeoutMs, copy);
  const t1 = now();
  if (!r.sawEnd) throw new Error('raw_copy: stream closed before its end-of-stream marker');
  return { ms: t1 - t0, bytes: r.bytes, copied, messages: r.msgs.length, rows: null, batches: null };
}

/** The Worker path's ceiling: a Worker (raw-worker.js, reused across runs)
 * receives the WebSocket and moves every message to the page as it arrives,
 * no decoding; the page keeps them until the end-of-stream marker. */
let rawWorker = null;
function runRawWorker(url, o) {
  rawWorker ??= new Worker(new URL('./raw-worker.js', import.meta.url), { type: 'module' });
  const w = rawWorker;
  const t0 = now();
  return new Promise((resolve, reject) => {
    const msgs = [];
    let bytes = 0;
    const timer = setTimeout(() => reject(new Error(`${url}: no end-of-stream marker within ${o.timeoutMs} ms`)), o.timeoutMs);
    w.onmessage = (e) => {
      const m = e.data;
      if (m.data) {
        msgs.push(m.data);
        bytes += m.data.byteLength;
        return;
      }
      clearTimeout(timer);
      w.onmessage = null;
      if (m.error) reject(new Error(`raw_worker: ${m.error}`));
      else if (!m.sawEnd) reject(new Error('raw_worker: stream closed before its end-of-stream marker'));
      else resolve({ ms: now() - t0, bytes, messages: msgs.length, rows: null, batches: null });
    };
    w.postMessage({ url: new URL(url, location.href).href });
  });
}

/** Apache Arrow JS: collect the messages, then tableFromIPC over them. */
async function runArrow(url, o) {
  const t0 = now();
  const r = await receiveAll(url, o.timeoutMs);
  const t1 = now();
  if (!r.sawEnd) throw new Error('arrow: stream closed before its end-of-stream marker');
  const table = arrow.tableFromIPC(r.msgs.map((b) => new Uint8Array(b)));
  let rows = 0;
  let touch = 0;
  for (const b of table.batches) {
    rows += b.numRows;
    touch += b.getChildAt(0).length;
  }
  const t2 = now();
  return {
    ms: t2 - t0, recvMs: t1 - t0, decodeMs: t2 - t1,
    bytes: r.bytes, messages: r.msgs.length, rows, batches: table.batches.length, touch,
  };
}

/** flechette: collect the messages, then its tableFromIPC over them. */
async function runFlechette(url, o) {
  const t0 = now();
  const r = await receiveAll(url, o.timeoutMs);
  const t1 = now();
  if (!r.sawEnd) throw new Error('flechette: stream closed before its end-of-stream marker');
  const table = flechette.tableFromIPC(r.msgs.map((b) => new Uint8Array(b)), FLECHETTE_OPTIONS);
  const batches = table.getChildAt(0).data;
  let touch = 0;
  for (const b of batches) touch += b.length;
  const rows = table.numRows;
  const t2 = now();
  return {
    ms: t2 - t0, recvMs: t1 - t0, decodeMs: t2 - t1,
    bytes: r.bytes, messages: r.msgs.length, rows, batches: batches.length, touch,
  };
}

/**
 * Lightstream: `connect`, then `for await` every table; each table is touched
 * (numRows and its first column's length) and then freed at once (a streaming
 * consumer; `keep` keeps them all until the end instead, like the Arrow JS
 * runs, which hold every message). Splits: `schemaMs` (connect resolved),
 * `firstMs` (first table), `bodyMs` (time in the loop body; the rest is
 * waiting for the network and the decoder).
 */
async function runLightstream(url, o, keep, worker = false) {
  const t0 = now();
  const s = await ls.connect(url, { timeoutMs: o.timeoutMs, ...(worker ? { worker: true } : {}) });
  return consumeLightstream(s, t0, now(), keep);
}

/** Iterates a Lightstream TableStream `s` opened at `t0` (schema known at
 * `tSchema`), touching and freeing (or keeping) every table. */
async function consumeLightstream(s, t0, tSchema, keep) {
  let rows = 0;
  let batches = 0;
  let touch = 0;
  let firstMs = null;
  let bodyMs = 0;
  const kept = [];
  let t1;
  let bytes;
  try {
    for await (const t of s) {
      const b0 = now();
      if (firstMs === null) firstMs = b0 - t0;
      rows += t.numRows;
      const c = t.column(0);
      touch += c.length;
      c.free();
      batches += 1;
      if (keep) kept.push(t);
      else t.free();
      bodyMs += now() - b0;
    }
  } finally {
    t1 = now();
    bytes = s.bytesRead;
    s.close();
    for (const t of kept) t.free();
  }
  return { ms: t1 - t0, schemaMs: tSchema - t0, firstMs, bodyMs, bytes, rows, batches, touch };
}

/** Lightstream over HTTP: `openStream(url)` (fetch + readStream of the body,
 * read as tables are asked for), every table touched and freed. `schemaMs` is
 * when the response headers arrived. */
async function runFetchLightstream(url, o, worker = false) {
  const t0 = now();
  const s = await ls.openStream(url, { checkContentType: false, ...(worker ? { worker: true } : {}) });
  return consumeLightstream(s, t0, now(), false);
}

/** Apache Arrow JS over HTTP: `RecordBatchReader.from(fetch(url))`, every
 * batch touched as it is read (its streaming reader, no table built). */
async function runFetchArrow(url, o) {
  const t0 = now();
  const res = await fetch(url);
  const bytes = Number(res.headers.get('content-length')) || null;
  const reader = await arrow.RecordBatchReader.from(res);
  let rows = 0;
  let batches = 0;
  let touch = 0;
  for await (const b of reader) {
    rows += b.numRows;
    touch += b.getChildAt(0).length;
    batches += 1;
  }
  return { ms: now() - t0, bytes, rows, batches, touch };
}

const E2E = {
  raw: (url, o) => withHandlerTime(() => runRaw(url, o)),
  raw_copy: (url, o) => withHandlerTime(() => runRawCopy(url, o)),
  raw_worker: (url, o) => withHandlerTime(() => runRawWorker(url, o)),
  lightstream: (url, o) => withHandlerTime(() => runLightstream(url, o, false)),
  lightstream_keep: (url, o) => withHandlerTime(() => runLightstream(url, o, true)),
  // The same in a Worker (`{ worker: true }`): the WebSocket, the decode and
  // exportParts run there, the tables' buffers are moved to the page.
  lightstream_worker: (url, o) => withHandlerTime(() => runLightstream(url, o, false, true)),
  arrow: (url, o) => withHandlerTime(() => runArrow(url, o)),
  flechette: (url, o) => withHandlerTime(() => runFlechette(url, o)),
  // The same stream over HTTP (`o.httpUrl`) instead of the WebSocket `url`.
  fetch_lightstream: (url, o) => runFetchLightstream(o.httpUrl, o),
  fetch_arrow: (url, o) => runFetchArrow(o.httpUrl, o),
  fetch_lightstream_worker: (url, o) => runFetchLightstream(o.httpUrl, o, true),
};

function e2eAvailable(v, o) {
  if (v.startsWith('fetch_') && !o.httpUrl) return false;
  if (v === 'raw_worker') return typeof Worker === 'function';
  if (v.endsWith('_worker')) return hasWorker;
  if (v === 'fetch_lightstream') return typeof ls.openStream === 'function';
  if (v === 'flechette') return flechette !== null;
  if (v.startsWith('lightstream')) return hasConnect();
  return v in E2E;
}

function hasConnect() {
  return typeof wasmPkg?.connect === 'function' && typeof ls.connect === 'function';
}

/**
 * End to end over `url` (a `lightstream serve ws://...` of one shape): one
 * unrecorded warm-up run of each variant, then `reps` rounds, each variant
 * once per round, the order rotated every round. Returns every sample.
 */
async function e2e(url, opts) {
  const o = { reps: 7, timeoutMs: 120000, variants: Object.keys(E2E), ...opts };
  const variants = o.variants.filter((v) => e2eAvailable(v, o));
  const skipped = o.variants.filter((v) => !e2eAvailable(v, o));
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  const warmup = {};
  for (const v of variants) {
    status(`e2e ${url}: warm-up ${v}`);
    warmup[v] = await withTimeout(E2E[v](url, o), o.timeoutMs + 5000, `e2e ${v}`);
    await settle();
  }
  for (let r = 0; r < o.reps; r++) {
    const order = rotate(variants, r);
    for (const [pos, v] of order.entries()) {
      status(`e2e ${url}: round ${r + 1}/${o.reps}: ${v}`);
      const s = await withTimeout(E2E[v](url, o), o.timeoutMs + 5000, `e2e ${v}`);
      s.round = r;
      s.position = pos;
      samples[v].push(s);
      await settle();
    }
  }
  status('idle');
  return { variants, skipped, warmup, samples };
}

// ---------------------------------------------------------------------------
// The main thread while streaming (issue 19): is the page still responsive?
// ---------------------------------------------------------------------------

/**
 * An animation the page keeps running (a box moved every frame, as a page's
 * own animation would): `stop(t0, t1)` gives the requestAnimationFrame
 * callbacks between t0 and t1 and how many 60 Hz frames that window had. A
 * frame interval of `dt` ms spans round(dt / 16.7) frame slots, of which one
 * was drawn: the rest were dropped (the main thread was busy).
 */
function startAnimation() {
  let box = document.getElementById('anim');
  if (!box) {
    box = document.createElement('div');
    box.id = 'anim';
    box.style.cssText = 'position:absolute;left:0;top:0;width:20px;height:20px;background:#36c;will-change:transform';
    document.body.appendChild(box);
  }
  const stamps = [];
  let running = true;
  const frame = (ts) => {
    if (!running) return;
    stamps.push(ts);
    box.style.transform = `translateX(${(stamps.length * 4) % 400}px)`;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  return {
    stop(t0, t1) {
      running = false;
      const slot = 1000 / 60;
      const inWindow = stamps.filter((t) => t >= t0 && t <= t1);
      let dropped = 0;
      let longestGap = 0;
      let prev = t0;
      for (const t of [...inWindow, t1]) {
        const dt = t - prev;
        longestGap = Math.max(longestGap, dt);
        dropped += Math.max(0, Math.round(dt / slot) - 1);
        prev = t;
      }
      const frames = inWindow.length;
      return {
        frames,
        droppedFrames: dropped,
        // Frames drawn out of every 60 frame slots.
        framesPer60: frames + dropped > 0 ? (60 * frames) / (frames + dropped) : null,
        longestFrameGapMs: longestGap,
      };
    },
  };
}

/** Long Tasks API: main-thread tasks over 50 ms while it runs. */
function startLongTasks() {
  const entries = [];
  let obs = null;
  try {
    obs = new PerformanceObserver((list) => entries.push(...list.getEntries()));
    obs.observe({ type: 'longtask' });
  } catch {
    obs = null;
  }
  return {
    async stop(t0, t1) {
      // Entries are delivered after the task ends: give the observer a turn.
      await new Promise((r) => setTimeout(r, 50));
      if (obs) {
        entries.push(...obs.takeRecords());
        obs.disconnect();
      }
      const inWindow = entries.filter((e) => e.startTime < t1 && e.startTime + e.duration > t0);
      return {
        longTaskApi: obs !== null,
        longTasks: inWindow.length,
        longTaskMs: inWindow.reduce((a, e) => a + e.duration, 0),
        longestLongTaskMs: inWindow.reduce((a, e) => Math.max(a, e.duration), 0),
      };
    },
  };
}

/**
 * The main thread while streaming: for each variant (`idle` is a pause of
 * `idleMs` with nothing streaming, the baseline), `reps` rounds, the order
 * rotated every round; an animation runs throughout. Each run is bracketed by
 * `performance.mark('lsmt:<variant>:<round>:start' / ':end')`, so a trace the
 * runner records over the whole call (CDP Tracing) can sum the main thread's
 * tasks inside each run. Returns, per run, the time, the animation's frames
 * and the Long Tasks API's view.
 */
async function mainThread(url, opts) {
  const o = { reps: 3, timeoutMs: 120000, variants: ['idle', 'lightstream', 'arrow'], idleMs: 1000, ...opts };
  const runners = { idle: () => new Promise((r) => setTimeout(() => r({}), o.idleMs)), ...E2E };
  const variants = o.variants.filter((v) => v === 'idle' || e2eAvailable(v, o));
  const skipped = o.variants.filter((v) => !variants.includes(v));
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  // One unrecorded warm-up of each (the wasm and Arrow JS code paths compiled).
  for (const v of variants) {
    await withTimeout(runners[v](url, o), o.timeoutMs + 5000, `main thread ${v}`);
    await settle();
  }
  for (let r = 0; r < o.reps; r++) {
    for (const v of rotate(variants, r)) {
      status(`main thread ${url}: round ${r + 1}/${o.reps}: ${v}`);
      const anim = startAnimation();
      const lt = startLongTasks();
      // Two frames of the animation before the run starts.
      await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
      performance.mark(`lsmt:${v}:${r}:start`);
      const t0 = now();
      const res = await withTimeout(runners[v](url, o), o.timeoutMs + 5000, `main thread ${v}`);
      const t1 = now();
      performance.mark(`lsmt:${v}:${r}:end`);
      const frames = anim.stop(t0, t1);
      const long = await lt.stop(t0, t1);
      samples[v].push({
        round: r, ms: t1 - t0, bytes: res.bytes ?? null, rows: res.rows ?? null, ...frames, ...long,
      });
      await settle();
    }
  }
  status('idle');
  return { variants, skipped, samples };
}

// ---------------------------------------------------------------------------
// Column materialisation per record batch
// ---------------------------------------------------------------------------

const LIBS = ['lightstream', 'arrow', 'flechette'];

/** What a column is, from Arrow JS's schema. */
function columnKind(field) {
  if (arrow.DataType.isInt(field.type) || arrow.DataType.isFloat(field.type)) return 'numeric';
  if (arrow.DataType.isUtf8(field.type)) return 'string';
  if (arrow.DataType.isDictionary(field.type)) return 'dictionary';
  return null;
}

/** Per library, the per-batch column objects `toArray` is called on. */
function batchColumns(dec, lib, col) {
  switch (lib) {
    case 'lightstream': return dec.lightstream.map((t) => t.column(col));
    case 'arrow': return dec.arrow.batches.map((b) => b.getChildAt(col));
    // flechette's Column.toArray() on a one-batch column is exactly its
    // per-batch extraction (a view where it can, else a copy/conversion).
    case 'flechette': return dec.flechette.getChildAt(col).data.map((b) => new flechette.Column([b]));
    default: throw new Error(lib);
  }
}

/** Mean ms of one call of `fn` (called at least once, repeated until `minMs` passed). */
function timeRepeated(fn, minMs) {
  let n = 0;
  let sink = 0;
  const t0 = now();
  let t;
  do {
    sink += fn();
    n += 1;
    t = now();
  } while (t - t0 < minMs && n < 1000000);
  return [(t - t0) / n, sink, n];
}

/** Outside the timings: do the libraries return the same values for batch `b`? */
function agreement(cols, b, kind) {
  const arrays = {};
  for (const lib of Object.keys(cols)) arrays[lib] = cols[lib][b].toArray();
  const ref = arrays.arrow;
  const out = {};
  for (const [lib, arr] of Object.entries(arrays)) {
    if (lib === 'arrow') continue;
    let first = null;
    if (arr.length !== ref.length) {
      out[lib] = `length ${arr.length} != ${ref.length}`;
      continue;
    }
    for (let i = 0; i < ref.length; i++) {
      let x = arr[i];
      let y = ref[i];
      if (kind === 'numeric' && typeof y === 'bigint' && typeof x !== 'bigint') {
        // flechette's default turns int64 into (rounded) numbers
        y = Number(y);
        x = Number(x);
      }
      if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) {
        first = i;
        break;
      }
    }
    out[lib] = first === null ? 'equal' : `differs at ${first}: ${String(arr[first])} vs ${String(ref[first])}`;
  }
  out.arrowElement = typeof ref[0] === 'object' && ref[0] !== null ? 'object' : typeof ref[0];
  out.arrowArray = Object.prototype.toString.call(ref);
  out.lightstreamArray = arrays.lightstream ? Object.prototype.toString.call(arrays.lightstream) : null;
  return out;
}

/**
 * Fetches `dataUrl` (an IPC stream) once, decodes it with every library
 * (Lightstream `decode`, Arrow JS and flechette `tableFromIPC`), checks the
 * libraries agree, then times `toArray()` of every numeric, string and
 * dictionary column for every batch:
 *   - numeric: each call repeated for at least `minMs` (views are microseconds),
 *     `reps` rounds;
 *   - string / dictionary: one call per batch per round, `reps` rounds.
 * Libraries alternate order every round. Returns per-call milliseconds.
 */
async function materialise(dataUrl, opts) {
  const o = { reps: 5, numericReps: 3, minMs: 5, kinds: ['numeric', 'string', 'dictionary'], ...opts };
  status(`materialise ${dataUrl}: fetching`);
  let t0 = now();
  const resp = await fetch(dataUrl);
  if (!resp.ok) throw new Error(`${dataUrl}: HTTP ${resp.status}`);
  const bytes = new Uint8Array(await resp.arrayBuffer());
  const fetchMs = now() - t0;
  const dec = {};
  const decodeMs = {};
  t0 = now();
  dec.lightstream = ls.decode(bytes);
  decodeMs.lightstream = now() - t0;
  t0 = now();
  dec.arrow = arrow.tableFromIPC(bytes);
  decodeMs.arrow = now() - t0;
  if (flechette) {
    t0 = now();
    dec.flechette = flechette.tableFromIPC(bytes, FLECHETTE_OPTIONS);
    decodeMs.flechette = now() - t0;
  }
  const libs = LIBS.filter((l) => dec[l]);
  const nBatches = dec.arrow.batches.length;
  if (dec.lightstream.length !== nBatches) {
    throw new Error(`lightstream decoded ${dec.lightstream.length} batches, Arrow JS ${nBatches}`);
  }
  const out = {
    bytes: bytes.byteLength, fetchMs, batches: nBatches, rows: dec.arrow.numRows,
    rowsPerBatch: dec.arrow.batches.map((b) => b.numRows), decodeMs, libs, columns: [],
  };
  const fields = dec.arrow.schema.fields;
  for (let col = 0; col < fields.length; col++) {
    const kind = columnKind(fields[col]);
    if (!kind || !o.kinds.includes(kind)) continue;
    const cols = Object.fromEntries(libs.map((l) => [l, batchColumns(dec, l, col)]));
    const check = {
      first: agreement(cols, 0, kind),
      last: agreement(cols, nBatches - 1, kind),
    };
    await settle();
    const reps = kind === 'numeric' ? o.numericReps : o.reps;
    const perCall = Object.fromEntries(libs.map((l) => [l, []])); // [round][batch] ms
    const calls = Object.fromEntries(libs.map((l) => [l, []]));
    let sink = 0;
    for (let r = 0; r < reps; r++) {
      for (const lib of rotate(libs, r)) {
        status(`materialise ${dataUrl}: ${fields[col].name} (${kind}) round ${r + 1}/${reps}: ${lib}`);
        const times = [];
        for (let b = 0; b < nBatches; b++) {
          const c = cols[lib][b];
          if (kind === 'numeric') {
            const [ms, s, n] = timeRepeated(() => c.toArray().length, o.minMs);
            times.push(ms);
            calls[lib].push(n);
            sink += s;
          } else {
            const ta = now();
            const arr = c.toArray();
            const tb = now();
            times.push(tb - ta);
            sink += arr.length + (arr[arr.length >> 1]?.length ?? 0);
          }
        }
        perCall[lib].push(times);
        await settle();
      }
    }
    out.columns.push({
      index: col, name: fields[col].name, type: String(fields[col].type), kind, reps, perCall,
      callsPerSample: kind === 'numeric' ? calls : null, check, sink,
    });
    for (const c of cols.lightstream) c.free();
  }
  for (const t of dec.lightstream) t.free();
  status('idle');
  return out;
}

/**
 * Where the time of a string `toArray()` goes, in plain JS on the same batches
 * (Arrow JS's views of the UTF-8 data and offsets): `decode` is one
 * TextDecoder.decode of a batch's whole UTF-8 data (the bulk decode
 * Lightstream's toArray does per run of strings), `slice` cutting the decoded
 * text into the batch's strings with precomputed UTF-16 positions (null rows
 * become null), `perValue` one TextDecoder.decode per value (what Arrow JS's
 * Utf8 getter does); against `lightstream`, the whole `toArray()`. Medians
 * over batches and `reps` rounds, ms per batch.
 */
async function stringSplits(dataUrl, opts) {
  const o = { reps: 3, column: 0, ...opts };
  const bytes = new Uint8Array(await (await fetch(dataUrl)).arrayBuffer());
  const at = arrow.tableFromIPC(bytes);
  const lsTables = ls.decode(bytes);
  const td = new TextDecoder('utf-8', { ignoreBOM: true });
  const out = { decode: [], decodeAscii: [], decodeWide: [], slice: [], perValue: [], lightstream: [], arrow: [] };
  let sink = 0;
  const prepared = at.batches.map((b) => {
    const d = b.getChildAt(o.column).data[0];
    const off = d.valueOffsets;
    const n = d.length;
    const data = d.values.subarray(off[0], off[n]);
    // UTF-16 positions of every value in the decoded text (outside the timings).
    const pos = new Uint32Array(n + 1);
    let u = 0;
    for (let i = 0; i < n; i++) {
      pos[i] = u;
      for (let k = off[i]; k < off[i + 1]; k++) {
        const c = d.values[k];
        if ((c & 0xc0) !== 0x80) u += c >= 0xf0 ? 2 : 1;
      }
    }
    pos[n] = u;
    // The same values split into two texts: values without a multi-byte
    // character (nulls, being empty, included) and the others (V8 decodes pure
    // ASCII into one-byte strings on a fast path).
    const ascii = [];
    const wide = [];
    for (let i = 0; i < n; i++) {
      const v = d.values.subarray(off[i], off[i + 1]);
      (v.every((c) => c < 0x80) ? ascii : wide).push(v);
    }
    const join = (parts) => {
      const outBuf = new Uint8Array(parts.reduce((a, x) => a + x.byteLength, 0));
      let at = 0;
      for (const x of parts) { outBuf.set(x, at); at += x.byteLength; }
      return outBuf;
    };
    return {
      d, off, n, data, pos, validity: d.nullBitmap, vector: b.getChildAt(o.column),
      asciiData: join(ascii), wideData: join(wide), asciiValues: ascii.length, wideValues: wide.length,
    };
  });
  for (let r = 0; r < o.reps; r++) {
    for (const [bi, p] of prepared.entries()) {
      let t0 = now();
      const text = td.decode(p.data);
      let t1 = now();
      out.decode.push(t1 - t0);
      sink += text.length;
      t0 = now();
      sink += td.decode(p.asciiData).length;
      t1 = now();
      out.decodeAscii.push(t1 - t0);
      t0 = now();
      sink += td.decode(p.wideData).length;
      t1 = now();
      out.decodeWide.push(t1 - t0);
      t0 = now();
      const arr = new Array(p.n);
      const v = p.validity;
      for (let i = 0; i < p.n; i++) {
        arr[i] = v && v.length && ((v[i >>> 3] >>> (i & 7)) & 1) === 0 ? null : text.slice(p.pos[i], p.pos[i + 1]);
      }
      t1 = now();
      out.slice.push(t1 - t0);
      sink += arr.length;
      t0 = now();
      const arr2 = new Array(p.n);
      for (let i = 0; i < p.n; i++) {
        arr2[i] = v && v.length && ((v[i >>> 3] >>> (i & 7)) & 1) === 0 ? null : td.decode(p.d.values.subarray(p.off[i], p.off[i + 1]));
      }
      t1 = now();
      out.perValue.push(t1 - t0);
      sink += arr2.length;
      const c = lsTables[bi].column(o.column);
      t0 = now();
      const arr3 = c.toArray();
      t1 = now();
      c.free();
      out.lightstream.push(t1 - t0);
      sink += arr3.length;
      t0 = now();
      const arr4 = p.vector.toArray();
      t1 = now();
      out.arrow.push(t1 - t0);
      sink += arr4.length;
      await settle();
    }
  }
  for (const t of lsTables) t.free();
  const med = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };
  return {
    batches: prepared.length, rowsPerBatch: prepared[0]?.n, utf8BytesPerBatch: prepared[0]?.data.byteLength,
    asciiBytesPerBatch: prepared[0]?.asciiData.byteLength, wideBytesPerBatch: prepared[0]?.wideData.byteLength,
    asciiValuesPerBatch: prepared[0]?.asciiValues, wideValuesPerBatch: prepared[0]?.wideValues,
    medianMs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, med(v)])), samples: out, sink,
  };
}

function info() {
  return {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    gc: typeof globalThis.gc === 'function',
    connect: hasConnect(),
    worker: hasWorker,
    readStream: typeof wasmPkg?.readStream === 'function',
    flechette: flechette !== null,
    flechetteError,
    wasmExports: wasmPkg ? Object.keys(wasmPkg).sort() : null,
  };
}

try {
  await init();
  window.bench = { info, e2e, materialise, stringSplits, mainThread };
  window.benchReady = true;
  status('ready');
} catch (e) {
  window.benchError = String(e?.stack ?? e);
  status(`failed: ${window.benchError}`);
}
