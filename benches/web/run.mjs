#!/usr/bin/env node
// Lightstream browser benchmarks (issue 4): the runner.
//
// What it does, in order (every wait bounded, loopback only):
//   1. makes sure its inputs exist: the `lightstream` CLI (target/release),
//      the npm package's wasm build (npm/pkg), and the three bench shapes as
//      pyarrow-written IPC streams (benches/python/gen_and_time.py generate,
//      the same generator the native benches check against; 8 batches of
//      1,000,000 rows by default, plus 8 batches of 1,000 rows of shape (a)
//      for the O(1) check of numeric toArray);
//   2. serves the repository's npm/, node_modules/ and benches/web/ and the
//      data directory over HTTP on 127.0.0.1 (an ephemeral port);
//   3. opens benches/web/bench.html in headless Chromium (/usr/bin/chromium;
//      see "Driver" below) and, per shape, starts
//      `lightstream serve ws://127.0.0.1:0/ <shape file>`, runs the page's
//      end-to-end timings against it, stops it, then runs the page's
//      per-batch toArray timings on the same shape's bytes;
//   4. prints a Markdown report and writes the raw samples and medians to
//      <data>/browser.json and the report to <data>/browser.md.
//
// Usage: node benches/web/run.mjs [--shapes a,b,c] [--reps 11] [--mat-reps 5]
//          [--batches 8] [--rows 1000000] [--npm-dir npm] [--skip e2e,main,materialise,splits] [--main-reps 5]
//          [--variants raw,raw_copy,raw_worker,lightstream,lightstream_keep,lightstream_worker,arrow,flechette,
//                      fetch_lightstream,fetch_lightstream_worker,fetch_arrow]
//          [--main-variants idle,lightstream,lightstream_worker,arrow]
//          [--wait-load 0.5 --wait-max 2400] [--out FILE] [--driver cdp|playwright] [--profile]
// --profile: the main-thread phase's trace also records V8's sampling profiler
// (`disabled-by-default-v8.cpu_profiler`), and the report lists where the
// page's Worker threads spent their time in the `lightstream_worker` runs: self
// time per function (wasm functions are named only in a build with
// LIGHTSTREAM_WASM_NAMES=1 bash npm/build.sh). The profiler slows every case.
// Driver: by default this script talks to Chromium itself over the DevTools
// protocol on a pipe (--remote-debugging-pipe), enabling only the Runtime
// domain. `--driver playwright` uses playwright-core instead, which enables the
// Network domain on every page: Chromium then copies every WebSocket frame,
// base64-encoded, to the driver (Network.webSocketFrameReceived), which cut
// WebSocket receive to about a tenth in the trial runs (see benches/README.md).
// Environment: LIGHTSTREAM_BENCH_DATA (default <repo>/target/bench-data; the
// shapes go to its browser/ subdirectory), LIGHTSTREAM_BIN (the CLI; default
// target/release/lightstream, built when missing).

import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(ROOT, 'package.json'));

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const o = {
    shapes: ['a', 'b', 'c'],
    reps: 11,
    matReps: 5,
    numericReps: 3,
    mainReps: 5,
    mainVariants: ['idle', 'lightstream', 'lightstream_worker', 'arrow'],
    batches: 8,
    rows: 1_000_000,
    smallRows: 1000,
    npmDir: path.join(ROOT, 'npm'),
    skip: new Set(),
    waitLoad: null,
    waitMax: 2400,
    out: null,
    chromium: '/usr/bin/chromium',
    variants: ['raw', 'raw_copy', 'raw_worker', 'lightstream', 'lightstream_keep', 'lightstream_worker', 'arrow', 'flechette', 'fetch_lightstream', 'fetch_lightstream_worker', 'fetch_arrow'],
    driver: 'cdp',
    profile: false,
  };
  const val = (i) => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--shapes': o.shapes = val(i).split(',').map((s) => s.trim()).filter(Boolean); i++; break;
      case '--reps': o.reps = posInt(val(i), a); i++; break;
      case '--mat-reps': o.matReps = posInt(val(i), a); i++; break;
      case '--numeric-reps': o.numericReps = posInt(val(i), a); i++; break;
      case '--main-reps': o.mainReps = posInt(val(i), a); i++; break;
      case '--main-variants': o.mainVariants = val(i).split(',').map((x) => x.trim()).filter(Boolean); i++; break;
      case '--batches': o.batches = posInt(val(i), a); i++; break;
      case '--rows': o.rows = posInt(val(i), a); i++; break;
      case '--npm-dir': o.npmDir = path.resolve(val(i)); i++; break;
      case '--skip': for (const s of val(i).split(',')) o.skip.add(s.trim()); i++; break;
      case '--wait-load': o.waitLoad = Number(val(i)); i++; break;
      case '--wait-max': o.waitMax = posInt(val(i), a); i++; break;
      case '--out': o.out = path.resolve(val(i)); i++; break;
      case '--chromium': o.chromium = val(i); i++; break;
      case '--driver': o.driver = val(i); i++; break;
      case '--variants': o.variants = val(i).split(',').map((x) => x.trim()).filter(Boolean); i++; break;
      case '--profile': o.profile = true; break;
      case '-h': case '--help': usage(null); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  for (const s of o.shapes) if (!['a', 'b', 'c'].includes(s)) usage(`unknown shape ${s}`);
  for (const s of o.skip) if (!['e2e', 'main', 'materialise', 'splits'].includes(s)) usage('--skip takes e2e, main, materialise, splits');
  if (!['cdp', 'playwright'].includes(o.driver)) usage('--driver takes cdp or playwright');
  return o;
}

function posInt(v, name) {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) usage(`${name} must be a positive integer, not ${v}`);
  return n;
}

function usage(msg) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  const text = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')))
    .map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
  if (msg) {
    process.stderr.write(`run.mjs: ${msg}\n`);
    process.exit(2);
  }
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

const log = (...a) => process.stderr.write(`[browser-bench] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

function bounded(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Child processes (every one we start is tracked and killed on the way out)
// ---------------------------------------------------------------------------

const children = new Set();
const tempDirs = new Set();

function run(cmd, args, { timeoutMs, cwd = ROOT, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    log(`$ ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(child);
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${cmd} did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); children.delete(child); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  try {
    await bounded(exited, 5000, 'server exit');
  } catch {
    child.kill('SIGKILL');
    await bounded(exited, 5000, 'server exit after SIGKILL').catch(() => {});
  }
  children.delete(child);
}

function killAllChildren() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

/** `lightstream serve ws://127.0.0.1:0/ FILE`; resolves with the URL it prints. */
function startServer(bin, file) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', 'ws://127.0.0.1:0/', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let err = '';
    const timer = setTimeout(() => {
      stopChild(child);
      reject(new Error(`lightstream serve printed no 'listening on' line within 60 s: ${err.trim()}`));
    }, 60000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], stderr: () => err });
      }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`lightstream serve exited (${code}) before listening: ${err.trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------
// Static HTTP server
// ---------------------------------------------------------------------------

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.arrows': 'application/vnd.apache.arrow.stream',
  '.arrow': 'application/vnd.apache.arrow.file',
  '.d.ts': 'text/plain',
};

function startHttp(mounts) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = null;
    for (const [prefix, dir] of mounts) {
      if (url.pathname.startsWith(prefix)) {
        const rel = decodeURIComponent(url.pathname.slice(prefix.length));
        const full = path.resolve(dir, rel);
        if (full === dir || full.startsWith(dir + path.sep)) file = full;
        break;
      }
    }
    let st = null;
    try { st = file && statSync(file); } catch { st = null; }
    if (!st || !st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-store',
      // Cross-origin isolation: performance.now() then has 5 µs resolution
      // instead of 100 µs (the numeric toArray timings are microseconds).
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    if (req.method === 'HEAD') { res.end(); return; }
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

async function ensureInputs(o, dataDir, smallDir) {
  const bin = process.env.LIGHTSTREAM_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'lightstream');
  if (!existsSync(bin)) {
    await run('cargo', ['build', '--release', '-p', 'lightstream-cli'], { timeoutMs: 30 * 60 * 1000 });
  }
  const wasm = path.join(o.npmDir, 'pkg', 'lightstream_wasm_bg.wasm');
  if (!existsSync(wasm)) {
    if (o.npmDir !== path.join(ROOT, 'npm')) throw new Error(`${wasm} is missing`);
    await run('bash', ['npm/build.sh'], { timeoutMs: 30 * 60 * 1000 });
  }
  for (const f of ['index.js', 'pkg/lightstream_wasm.js']) {
    if (!existsSync(path.join(o.npmDir, f))) throw new Error(`${path.join(o.npmDir, f)} is missing`);
  }
  if (o.driver === 'playwright') require.resolve('playwright-core');
  if (!existsSync(o.chromium)) throw new Error(`${o.chromium} is missing (apt-get install -y chromium)`);
  const gen = path.join(ROOT, 'benches', 'python', 'gen_and_time.py');
  await run('python3', [gen, 'generate', '--shapes', o.shapes.join(','), '--batches', String(o.batches),
    '--rows', String(o.rows), '--data-dir', dataDir], { timeoutMs: 15 * 60 * 1000 });
  if (o.shapes.includes('a')) {
    await run('python3', [gen, 'generate', '--shapes', 'a', '--batches', String(o.batches),
      '--rows', String(o.smallRows), '--data-dir', smallDir], { timeoutMs: 5 * 60 * 1000 });
  }
  return { bin, wasm };
}

function gitState() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'crates', 'npm'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return { head, dirty: dirty.length > 0 };
  } catch {
    return null;
  }
}

function wasmSize(wasm) {
  const raw = statSync(wasm).size;
  let gz;
  try {
    gz = execFileSync('gzip', ['-9c', wasm], { maxBuffer: 64 << 20 }).length;
  } catch {
    gz = null;
  }
  return { raw, gzip9: gz };
}

async function waitForLoad(limit, maxS) {
  const deadline = Date.now() + maxS * 1000;
  for (;;) {
    const l = os.loadavg()[0];
    if (l < limit) {
      log(`1-min load ${l.toFixed(2)} < ${limit}: measuring`);
      return { waitedFor: limit, reached: true, load: l };
    }
    if (Date.now() >= deadline) {
      log(`1-min load still ${l.toFixed(2)} after ${maxS} s: measuring anyway`);
      return { waitedFor: limit, reached: false, load: l };
    }
    log(`1-min load ${l.toFixed(2)} >= ${limit}: waiting 60 s`);
    await sleep(60000);
  }
}

// ---------------------------------------------------------------------------
// Browser drivers: { version, goto(url), evaluate(fn, arg), close() }
// ---------------------------------------------------------------------------

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // gc() between runs, outside the timings (bench.js settle()).
  '--js-flags=--expose-gc'];

/** What the main-thread phase traces: every task (`toplevel`: RunTask), the
 * thread names (`__metadata`) and the page's performance.mark()s. */
const TRACE_CATEGORIES = ['toplevel', '__metadata', 'blink.user_timing'];
/** `--profile` adds V8's sampling profiler (ProfileChunk events). */
const PROFILE_CATEGORY = 'disabled-by-default-v8.cpu_profiler';

/**
 * With `--profile`: the V8 CPU profile samples of the page's dedicated
 * Worker threads inside the runs of `variant` (its `lsmt:` marks), as self
 * time per function: `[{ fn, ms, share }]`, largest first, and the total.
 */
function traceWorkerProfile(events, variant) {
  const windows = [];
  const marks = new Map();
  let pid = null;
  for (const e of events) {
    if (typeof e.name === 'string' && e.name.startsWith(`lsmt:${variant}:`) && e.cat?.includes('blink.user_timing')) {
      marks.set(e.name, e.ts);
      pid = e.pid;
    }
  }
  for (const [name, ts] of marks) {
    const m = /^(.+):start$/.exec(name);
    if (m && marks.has(`${m[1]}:end`)) windows.push([ts, marks.get(`${m[1]}:end`)]);
  }
  if (pid === null) return null;
  const workers = new Set();
  for (const e of events) {
    if (e.pid === pid && e.ph === 'M' && e.name === 'thread_name' && /DedicatedWorker/.test(e.args?.name ?? '')) workers.add(e.tid);
  }
  // One profile per thread: `Profile` (start time), then `ProfileChunk`s of
  // new nodes, samples (node ids) and time deltas (µs).
  const profiles = new Map();
  for (const e of events) {
    if (e.pid !== pid || !workers.has(e.tid)) continue;
    if (e.name === 'Profile') profiles.set(e.id, { t: e.args?.data?.startTime ?? e.ts, nodes: new Map() });
  }
  const self = new Map();
  let total = 0;
  for (const e of events) {
    if (e.name !== 'ProfileChunk' || !profiles.has(e.id)) continue;
    const p = profiles.get(e.id);
    const data = e.args?.data ?? {};
    for (const n of data.cpuProfile?.nodes ?? []) {
      const cf = n.callFrame ?? {};
      const where = cf.url ? ` (${cf.url.split('/').pop()})` : '';
      p.nodes.set(n.id, `${cf.functionName || '(anonymous)'}${where}`);
    }
    const samples = data.cpuProfile?.samples ?? [];
    const deltas = data.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const dt = deltas[i] ?? 0;
      p.t += dt;
      if (!windows.some(([a, b]) => p.t >= a && p.t <= b)) continue;
      const fn = p.nodes.get(samples[i]) ?? `node ${samples[i]}`;
      if (fn.startsWith('(idle)')) continue;
      self.set(fn, (self.get(fn) ?? 0) + dt);
      total += dt;
    }
  }
  const top = [...self].sort((x, y) => y[1] - x[1]).slice(0, 15)
    .map(([fn, us]) => ({ fn, ms: us / 1000, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, runs: windows.length, top };
}

/**
 * From a trace of `bench.mainThread`: per run (a `lsmt:<variant>:<round>:start`
 * / `:end` pair of marks), the main thread's busy time (the union of its
 * `RunTask` intervals, clipped to the run) and its longest task, and the same
 * for the page's dedicated Worker threads. The page's renderer is the process
 * whose trace holds the marks; its main thread is `CrRendererMain`.
 */
function traceBusy(events) {
  const marks = new Map();
  let pid = null;
  for (const e of events) {
    if (typeof e.name === 'string' && e.name.startsWith('lsmt:') && e.cat?.includes('blink.user_timing')) {
      marks.set(e.name, e.ts);
      pid = e.pid;
    }
  }
  if (pid === null) return null;
  const threadName = new Map();
  for (const e of events) {
    if (e.pid === pid && e.ph === 'M' && e.name === 'thread_name') threadName.set(e.tid, e.args?.name ?? '');
  }
  const tasks = { main: [], worker: [] };
  for (const e of events) {
    if (e.pid !== pid || e.ph !== 'X' || typeof e.dur !== 'number') continue;
    if (e.name !== 'ThreadControllerImpl::RunTask' && e.name !== 'RunTask') continue;
    const t = threadName.get(e.tid) ?? '';
    if (t === 'CrRendererMain') tasks.main.push([e.ts, e.ts + e.dur]);
    else if (/DedicatedWorker/.test(t)) tasks.worker.push([e.ts, e.ts + e.dur]);
  }
  const clip = (list, a, b) => {
    const inside = list.filter(([s, t]) => t > a && s < b).map(([s, t]) => [Math.max(s, a), Math.min(t, b)]).sort((x, y) => x[0] - y[0]);
    let busy = 0;
    let longest = 0;
    let cur = null;
    for (const iv of inside) {
      if (cur && iv[0] <= cur[1]) cur[1] = Math.max(cur[1], iv[1]);
      else {
        if (cur) { busy += cur[1] - cur[0]; longest = Math.max(longest, cur[1] - cur[0]); }
        cur = [...iv];
      }
    }
    if (cur) { busy += cur[1] - cur[0]; longest = Math.max(longest, cur[1] - cur[0]); }
    return { busyMs: busy / 1000, longestTaskMs: longest / 1000 };
  };
  const out = {};
  for (const [name, ts] of marks) {
    const m = /^lsmt:(.+):(\d+):start$/.exec(name);
    if (!m) continue;
    const end = marks.get(`lsmt:${m[1]}:${m[2]}:end`);
    if (end === undefined) continue;
    const main = clip(tasks.main, ts, end);
    const worker = clip(tasks.worker, ts, end);
    out[`${m[1]}:${m[2]}`] = { mainBusyMs: main.busyMs, mainLongestTaskMs: main.longestTaskMs, workerBusyMs: worker.busyMs };
  }
  return out;
}

/** Chromium driven over the DevTools protocol on a pipe (fd 3: commands in,
 * fd 4: replies and events out, NUL-terminated JSON), with only the Runtime
 * domain enabled on the page: no network instrumentation. */
class CdpDriver {
  static async launch(exe) {
    const profile = mkdtempSync(path.join(os.tmpdir(), 'lightstream-browser-bench-'));
    tempDirs.add(profile);
    const child = spawn(exe, [...CHROMIUM_ARGS, '--headless', '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    children.add(child);
    const d = new CdpDriver(child, profile);
    const v = await bounded(d.send('Browser.getVersion'), 60000, 'starting chromium');
    d.version = v.product;
    const { targetId } = await bounded(d.send('Target.createTarget', { url: 'about:blank' }), 30000, 'opening a page');
    const { sessionId } = await bounded(d.send('Target.attachToTarget', { targetId, flatten: true }), 30000, 'attaching');
    d.session = sessionId;
    await bounded(d.send('Runtime.enable', {}, sessionId), 30000, 'Runtime.enable');
    return d;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.nextId = 0;
    this.pending = new Map();
    this.stderr = '';
    let buf = '';
    child.stdio[4].setEncoding('utf8');
    child.stdio[4].on('data', (chunk) => {
      buf += chunk;
      for (let i = buf.indexOf('\0'); i >= 0; i = buf.indexOf('\0')) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        this.onMessage(msg);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    child.on('exit', (code, signal) => {
      children.delete(child);
      for (const [, p] of this.pending) p.reject(new Error(`chromium exited (${code ?? signal}): ${this.stderr.trim().slice(-800)}`));
      this.pending.clear();
    });
    child.stdio[3].on('error', () => {});
  }

  onMessage(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
      return;
    }
    if (msg.method === 'Runtime.exceptionThrown') {
      const e = msg.params.exceptionDetails;
      log(`page error: ${e.exception?.description ?? e.text}`);
    } else if (msg.method === 'Runtime.consoleAPICalled' && ['error', 'warning'].includes(msg.params.type)) {
      log(`console ${msg.params.type}: ${msg.params.args.map((a) => a.value ?? a.description ?? '').join(' ')}`);
    } else if (msg.method === 'Tracing.dataCollected') {
      if (this.traceEvents) for (const e of msg.params.value) this.traceEvents.push(e);
    } else if (msg.method === 'Tracing.tracingComplete') {
      this.traceDone?.();
    } else if (msg.method === 'Inspector.targetCrashed' || msg.method === 'Target.targetCrashed') {
      log('page crashed');
      for (const [, p] of this.pending) p.reject(new Error('the page crashed'));
      this.pending.clear();
    }
  }

  send(method, params = {}, sessionId = undefined) {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error('chromium is not running'));
        return;
      }
      const id = ++this.nextId;
      this.pending.set(id, { resolve, reject, method });
      this.child.stdio[3].write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  /** Starts a browser-wide trace of every task (the `toplevel` category:
   * one `RunTask` event per task a thread runs) and the page's
   * `performance.mark`s (`blink.user_timing`). */
  async startTrace(categories = TRACE_CATEGORIES) {
    this.traceEvents = [];
    await this.send('Tracing.start', {
      traceConfig: { includedCategories: categories, recordMode: 'recordAsMuchAsPossible' },
      transferMode: 'ReportEvents',
    });
  }

  /** Stops the trace; resolves with its events. */
  async stopTrace() {
    const done = new Promise((r) => { this.traceDone = r; });
    await this.send('Tracing.end');
    await bounded(done, 60000, 'trace data');
    const events = this.traceEvents;
    this.traceEvents = null;
    return events;
  }

  async goto(url) {
    const r = await this.send('Page.navigate', { url }, this.session);
    if (r.errorText) throw new Error(`${url}: ${r.errorText}`);
  }

  /** `fn(arg)` in the page (`fn` must not close over anything); awaits a
   * returned promise and returns the value as JSON. */
  async evaluate(fn, arg) {
    const r = await this.send('Runtime.evaluate', {
      expression: `(${fn.toString()})(${JSON.stringify(arg ?? null)})`,
      awaitPromise: true, returnByValue: true,
    }, this.session);
    if (r.exceptionDetails) {
      const e = r.exceptionDetails;
      throw new Error(`in the page: ${e.exception?.description ?? e.text}`);
    }
    return r.result.value;
  }

  async close() {
    const exited = new Promise((r) => (this.child.exitCode !== null ? r() : this.child.once('exit', r)));
    this.send('Browser.close').catch(() => {});
    try {
      await bounded(exited, 10000, 'chromium exit');
    } catch {
      this.child.kill('SIGKILL');
      await bounded(exited, 5000, 'chromium exit after SIGKILL').catch(() => {});
    }
    rmSync(this.profile, { recursive: true, force: true });
    tempDirs.delete(this.profile);
  }
}

/** The same through playwright-core (instruments the network: see the header). */
class PlaywrightDriver {
  static async launch(exe) {
    const { chromium } = require('playwright-core');
    const d = new PlaywrightDriver();
    d.browser = await bounded(chromium.launch({ executablePath: exe, headless: true, args: CHROMIUM_ARGS }), 60000, 'launching chromium');
    d.version = `Chrome/${d.browser.version()}`;
    const page = await d.browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('response', (r) => { if (r.status() >= 400) log(`HTTP ${r.status()} for ${r.url()}`); });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`console ${m.type()}: ${m.text()}`); });
    d.page = page;
    return d;
  }

  async startTrace(categories = TRACE_CATEGORIES) {
    this.cdp = await this.page.context().newCDPSession(this.page);
    this.traceEvents = [];
    this.cdp.on('Tracing.dataCollected', (p) => { for (const e of p.value) this.traceEvents.push(e); });
    await this.cdp.send('Tracing.start', {
      traceConfig: { includedCategories: categories, recordMode: 'recordAsMuchAsPossible' },
      transferMode: 'ReportEvents',
    });
  }

  async stopTrace() {
    const done = new Promise((r) => this.cdp.once('Tracing.tracingComplete', r));
    await this.cdp.send('Tracing.end');
    await bounded(done, 60000, 'trace data');
    await this.cdp.detach().catch(() => {});
    return this.traceEvents;
  }

  async goto(url) { await this.page.goto(url); }

  async evaluate(fn, arg) { return this.page.evaluate(fn, arg); }

  async close() { await this.browser.close(); }
}

// ---------------------------------------------------------------------------
// Statistics and report
// ---------------------------------------------------------------------------

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const SHAPES = {
  a: 'i64, f64, i32, f32; no nulls',
  b: 'utf8 (5-30 chars, ASCII/mixed) + i64; 10% nulls each',
  c: 'dictionary<int32, utf8> (100 values) + f64 + bool',
};
const NAMES = {
  raw: 'plain WebSocket, receive only (ceiling)',
  raw_copy: 'plain WebSocket + one copy of each message into a reused buffer',
  raw_worker: 'plain WebSocket in a Worker, each message moved to the page (the Worker path\'s ceiling)',
  lightstream: 'Lightstream `connect()`, tables freed as they arrive',
  lightstream_keep: 'Lightstream `connect()`, all tables kept',
  lightstream_worker: 'Lightstream `connect(url, { worker: true })`: decoded in a Worker, tables moved to the page',
  arrow: 'Apache Arrow JS: collect messages, `tableFromIPC`',
  flechette: 'flechette: collect messages, `tableFromIPC`',
  fetch_lightstream: 'HTTP: Lightstream `openStream()` (fetch + readStream), tables freed as they arrive',
  fetch_arrow: 'HTTP: Apache Arrow JS `RecordBatchReader.from(fetch())`, batches as they arrive',
  fetch_lightstream_worker: 'HTTP: Lightstream `openStream(url, { worker: true })`, tables moved from a Worker',
};
const LIB_NAMES = { lightstream: 'Lightstream', arrow: 'Apache Arrow JS', flechette: 'flechette' };

function summariseE2E(res, expectRows) {
  const out = {};
  for (const v of res.variants) {
    const s = res.samples[v];
    const ms = median(s.map((x) => x.ms));
    const bytes = s[0]?.bytes ?? null;
    const bad = s.filter((x) => x.rows !== null && x.rows !== expectRows);
    const row = {
      runs: s.length, medianMs: ms, minMs: Math.min(...s.map((x) => x.ms)), maxMs: Math.max(...s.map((x) => x.ms)),
      bytes, mbps: bytes && ms ? bytes / 1e3 / ms : null, rowsOk: bad.length === 0,
      rows: s[0]?.rows ?? null, batches: s[0]?.batches ?? null,
    };
    for (const k of ['recvMs', 'decodeMs', 'schemaMs', 'firstMs', 'bodyMs', 'handlerMs']) {
      if (s.some((x) => typeof x[k] === 'number')) row[k] = median(s.map((x) => x[k]));
    }
    if (bad.length) row.rowsSeen = bad.map((x) => x.rows);
    out[v] = row;
  }
  return out;
}

/** Medians per variant of the main-thread runs, the trace's busy time joined in. */
function summariseMain(res, expectRows) {
  const out = {};
  for (const v of res.variants) {
    const s = res.samples[v].map((x) => ({ ...x, ...(res.trace?.[`${v}:${x.round}`] ?? {}) }));
    res.samples[v] = s;
    const row = { runs: s.length, medianMs: median(s.map((x) => x.ms)), bytes: s[0]?.bytes ?? null };
    row.mbps = row.bytes && row.medianMs ? row.bytes / 1e3 / row.medianMs : null;
    row.rowsOk = s.every((x) => x.rows === null || x.rows === expectRows);
    for (const k of ['mainBusyMs', 'mainLongestTaskMs', 'workerBusyMs', 'framesPer60', 'longestFrameGapMs', 'longTasks', 'longTaskMs', 'longestLongTaskMs']) {
      row[k] = median(s.map((x) => x[k]));
    }
    // The worst run too: "no task over 50 ms" must hold in every run.
    row.maxLongestTaskMs = Math.max(...s.map((x) => x.mainLongestTaskMs ?? 0));
    row.minFramesPer60 = Math.min(...s.map((x) => x.framesPer60 ?? 60));
    out[v] = row;
  }
  return out;
}

function summariseColumn(c) {
  const libs = {};
  for (const [lib, rounds] of Object.entries(c.perCall)) {
    const all = rounds.flat();
    libs[lib] = {
      perBatchMs: median(all),
      totalMs: median(rounds.map((r) => r.reduce((a, b) => a + b, 0))),
      minTotalMs: Math.min(...rounds.map((r) => r.reduce((a, b) => a + b, 0))),
    };
  }
  return { name: c.name, type: c.type, kind: c.kind, reps: c.reps, libs, check: c.check };
}

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const fmtMs = (ms) => (ms === null || ms === undefined ? 'n/a' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtUs = (ms) => (ms === null || ms === undefined ? 'n/a' : (ms * 1000 >= 100 ? (ms * 1000).toFixed(0) : (ms * 1000).toFixed(1)));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : 'n/a');

function report(result) {
  const L = [];
  const { meta } = result;
  L.push(`### Browser results (${meta.finished} UTC)`);
  L.push('');
  L.push(`${meta.batches} batches x ${meta.rows.toLocaleString('en-US')} rows per shape; ${meta.chromium}; `
    + `${meta.cpus} CPUs; load average ${meta.loadStart.join(' ')} at start, ${meta.loadEnd.join(' ')} at end`
    + `${meta.loadWait ? ` (waited for 1-min load < ${meta.loadWait.waitedFor}: ${meta.loadWait.reached ? 'reached' : 'not reached'})` : ''}.`);
  if (meta.loadByStep) L.push(`1-min load by step: ${meta.loadByStep.map((x) => `${x.step} (${x.at}) ${x.load[0]}`).join(', ')}.`);
  L.push(`npm package: ${meta.npmDir}; \`connect\` ${meta.page.connect ? 'present' : '**missing** (end-to-end Lightstream runs skipped)'}; `
    + `flechette ${meta.page.flechette ? 'loaded' : `not loaded (${meta.page.flechetteError})`}.`);
  if (meta.git) L.push(`Source: commit ${meta.git.head}${meta.git.dirty ? ' with uncommitted changes under crates/ or npm/' : ''}.`);
  if (meta.rebuiltDuringRun) L.push('**Warning: npm/pkg was rebuilt during this run** (the page kept the build it loaded at the start; the load figures above show whether the build overlapped the timings).');
  L.push(`.wasm: ${meta.wasm.raw.toLocaleString('en-US')} bytes, ${meta.wasm.gzip9?.toLocaleString('en-US') ?? 'n/a'} gzipped (\`gzip -9\`).`);
  L.push('');

  if (result.e2e && Object.keys(result.e2e).length) {
    L.push(`#### End to end over WebSocket (127.0.0.1): connect to every table usable; median of ${meta.reps} runs`);
    L.push('');
    L.push('MB/s of WebSocket payload (10^6 bytes per second; the IPC messages, Lightstream-written, 64-byte aligned). '
      + 'Ratios are throughput over Apache Arrow JS (above 1: faster than Arrow JS). '
      + 'The HTTP rows fetch the pyarrow-written file of the same tables from the static server (8-byte aligned buffers, '
      + 'which Lightstream moves to 64-byte boundaries as it copies them) and compare with Apache Arrow JS over HTTP.');
    L.push('');
    L.push('| shape | case | median ms (min-max) | MB/s | / Arrow JS | / raw receive | split (medians) |');
    L.push('|---|---|---|---|---|---|---|');
    for (const [shape, e] of Object.entries(result.e2e)) {
      const s = e.summary;
      const arrowMbps = s.arrow?.mbps;
      const rawMbps = s.raw?.mbps;
      for (const v of ['raw', 'raw_copy', 'raw_worker', 'lightstream', 'lightstream_keep', 'lightstream_worker', 'arrow', 'flechette', 'fetch_lightstream', 'fetch_lightstream_worker', 'fetch_arrow']) {
        const r = s[v];
        if (!r) continue;
        let split = '';
        if (r.recvMs !== undefined) split = `receive ${fmtMs(r.recvMs)} + decode ${fmtMs(r.decodeMs)} ms`;
        if (r.schemaMs !== undefined) split = `schema at ${fmtMs(r.schemaMs)}, first table at ${fmtMs(r.firstMs)}, loop body ${fmtMs(r.bodyMs)} ms`;
        if (r.handlerMs !== undefined) split += `${split ? '; ' : ''}in onmessage ${fmtMs(r.handlerMs)} ms`;
        if (!r.rowsOk) split += ` **rows ${r.rowsSeen}**`;
        const bold = ['lightstream', 'lightstream_worker', 'fetch_lightstream', 'fetch_lightstream_worker'].includes(v) ? '**' : '';
        // The HTTP rows compare with Arrow JS over HTTP.
        const reference = v.startsWith('fetch_') ? s.fetch_arrow?.mbps : arrowMbps;
        L.push(`| (${shape}) ${(r.bytes / 1e6).toFixed(0)} MB | ${NAMES[v]} | ${fmtMs(r.medianMs)} (${fmtMs(r.minMs)}-${fmtMs(r.maxMs)}) | ${bold}${fmt(r.mbps, 0)}${bold} | `
          + `${v === 'arrow' || v === 'fetch_arrow' ? '' : `${bold}${ratio(r.mbps, reference)}${bold}`} | ${v === 'raw' ? '' : ratio(r.mbps, rawMbps)} | ${split} |`);
      }
      if (e.skipped?.length) L.push(`| (${shape}) | skipped: ${e.skipped.join(', ')} | | | | | |`);
    }
    L.push('');
  }

  if (result.main && Object.keys(result.main).length) {
    L.push(`#### The main thread while streaming over WebSocket (an animation running; median of ${meta.mainReps} runs)`);
    L.push('');
    L.push('Busy: the sum of the page main thread\'s tasks during the run (CDP trace, `RunTask` on `CrRendererMain`), '
      + 'including the animation\'s own frames (see *idle*). Longest task: median (worst run). Frames: animation frames drawn '
      + 'out of every 60 frame slots (requestAnimationFrame timestamps), median (worst run). Long tasks: the Long Tasks API '
      + '(tasks over 50 ms), count per run. Ratios are to Apache Arrow JS reading the same WebSocket on the main thread.');
    L.push('');
    L.push('| shape | case | median ms | MB/s | main-thread busy ms | busy / Arrow JS | longest task ms (worst) | frames per 60 (worst) | long tasks | worker busy ms |');
    L.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const [shape, e] of Object.entries(result.main)) {
      const s = e.summary;
      for (const [v, r] of Object.entries(s)) {
        const name = v === 'idle' ? 'idle (animation only, nothing streaming)' : NAMES[v] ?? v;
        L.push(`| (${shape}) | ${name} | ${fmtMs(r.medianMs)} | ${v === 'idle' ? '' : fmt(r.mbps, 0)} | ${fmtMs(r.mainBusyMs)} | `
          + `${v === 'idle' || v === 'arrow' ? '' : ratio(r.mainBusyMs, s.arrow?.mainBusyMs)} | ${fmtMs(r.mainLongestTaskMs)} (${fmtMs(r.maxLongestTaskMs)}) | `
          + `${fmt(r.framesPer60, 1)} (${fmt(r.minFramesPer60, 1)}) | ${fmt(r.longTasks, 0)} | ${r.workerBusyMs ? fmtMs(r.workerBusyMs) : ''} |`);
      }
    }
    L.push('');
  }

  if (result.materialise && Object.keys(result.materialise).length) {
    L.push('#### Column materialisation per batch: `toArray()` on tables decoded from the same bytes');
    L.push('');
    L.push('Strings and dictionaries: total ms for all batches (median of rounds). Numbers: µs per batch and column '
      + '(median over batches and rounds). Ratios are Apache Arrow JS (or flechette) time / Lightstream time (above 1: Lightstream faster).');
    L.push('');
    L.push('| shape | column | Lightstream | Apache Arrow JS | flechette | Arrow JS / Lightstream | flechette / Lightstream | values agree |');
    L.push('|---|---|---|---|---|---|---|---|');
    for (const [shape, m] of Object.entries(result.materialise)) {
      for (const c of m.summary.columns) {
        const g = (lib) => c.libs[lib];
        const val = (lib) => (g(lib) ? (c.kind === 'numeric' ? `${fmtUs(g(lib).perBatchMs)} µs` : `${fmtMs(g(lib).totalMs)} ms`) : 'n/a');
        const key = c.kind === 'numeric' ? 'perBatchMs' : 'totalMs';
        const agree = ['first', 'last'].map((w) => Object.entries(c.check[w]).filter(([k]) => k === 'lightstream' || k === 'flechette')
          .map(([k, v]) => (v === 'equal' ? null : `${k} ${w} batch: ${v}`)).filter(Boolean)).flat();
        L.push(`| (${shape}) | ${c.name}: ${c.type} (${c.kind}) | ${val('lightstream')} | ${val('arrow')} | ${val('flechette')} | `
          + `**${ratio(g('arrow')?.[key], g('lightstream')?.[key])}** | ${ratio(g('flechette')?.[key], g('lightstream')?.[key])} | `
          + `${agree.length ? agree.join('; ') : 'yes'} |`);
      }
    }
    L.push('');
    const small = result.materialise.a?.small;
    if (small) {
      L.push(`#### Numeric \`toArray()\` per batch: ${meta.smallRows.toLocaleString('en-US')}-row vs ${meta.rows.toLocaleString('en-US')}-row batches (shape a; µs per call)`);
      L.push('');
      L.push('| column | Lightstream 1k | Lightstream 1M | Arrow JS 1k | Arrow JS 1M | flechette 1k | flechette 1M |');
      L.push('|---|---|---|---|---|---|---|');
      const big = result.materialise.a.summary.columns;
      for (const c of small.summary.columns) {
        const b = big.find((x) => x.name === c.name);
        const cell = (x, lib) => (x?.libs[lib] ? fmtUs(x.libs[lib].perBatchMs) : 'n/a');
        L.push(`| ${c.name}: ${c.type} | ${cell(c, 'lightstream')} | ${cell(b, 'lightstream')} | ${cell(c, 'arrow')} | ${cell(b, 'arrow')} | `
          + `${cell(c, 'flechette')} | ${cell(b, 'flechette')} |`);
      }
      L.push('');
    }
  }

  const sp = result.stringSplits;
  if (sp) {
    const m = sp.medianMs;
    L.push(`#### Where a string \`toArray()\` spends its time (shape b, ms per ${sp.rowsPerBatch.toLocaleString('en-US')}-row batch, ${(sp.utf8BytesPerBatch / 1e6).toFixed(1)} MB of UTF-8; medians)`);
    L.push('');
    L.push('| step | ms per batch |');
    L.push('|---|---|');
    L.push(`| JS: one \`TextDecoder.decode\` of the batch's whole UTF-8 data | ${fmtMs(m.decode)} |`);
    L.push(`| ... of which: the values without a multi-byte character (nulls included) alone (${(sp.asciiBytesPerBatch / 1e6).toFixed(1)} MB, ${sp.asciiValuesPerBatch.toLocaleString('en-US')} values) | ${fmtMs(m.decodeAscii)} |`);
    L.push(`| ... of which: the values with a multi-byte character alone (${(sp.wideBytesPerBatch / 1e6).toFixed(1)} MB, ${sp.wideValuesPerBatch.toLocaleString('en-US')} values) | ${fmtMs(m.decodeWide)} |`);
    L.push(`| JS: cutting the decoded text into the batch's strings (\`slice\` at precomputed UTF-16 positions, nulls) | ${fmtMs(m.slice)} |`);
    L.push(`| JS: the two above together (a lower bound for a decode-once \`toArray\`) | ${fmtMs(m.decode + m.slice)} |`);
    L.push(`| Lightstream \`toArray()\` (whole) | ${fmtMs(m.lightstream)} |`);
    L.push(`| JS: one \`TextDecoder.decode\` per value | ${fmtMs(m.perValue)} |`);
    L.push(`| Apache Arrow JS \`toArray()\` (whole) | ${fmtMs(m.arrow)} |`);
    L.push('');
  }
  L.push('#### Targets');
  L.push('');
  L.push('| target | measured | verdict |');
  L.push('|---|---|---|');
  for (const t of result.targets) L.push(`| ${t.target} | ${t.measured} | ${t.verdict} |`);
  L.push('');
  return L.join('\n');
}

function targets(result) {
  const T = [];
  const verdict = (ok) => (ok === null ? 'not measured' : ok ? '**met**' : '**not met**');
  for (const [shape, e] of Object.entries(result.e2e ?? {})) {
    const a = e.summary.arrow;
    for (const v of ['lightstream', 'lightstream_worker']) {
      const l = e.summary[v];
      if (!l && v !== 'lightstream') continue;
      T.push({
        target: `(${shape}) ${v === 'lightstream' ? '' : `${v}: `}end-to-end WebSocket throughput >= Apache Arrow JS`,
        measured: l && a ? `${fmt(l.mbps, 0)} vs ${fmt(a.mbps, 0)} MB/s = ${ratio(l.mbps, a.mbps)}` : 'n/a',
        verdict: verdict(l && a ? l.mbps >= a.mbps : null),
        ok: l && a ? l.mbps >= a.mbps : null,
      });
    }
  }
  for (const [shape, e] of Object.entries(result.main ?? {})) {
    const a = e.summary.arrow;
    for (const [v, r] of Object.entries(e.summary)) {
      if (v === 'idle' || v === 'arrow' || !v.startsWith('lightstream')) continue;
      const busyOk = a && r.mainBusyMs !== null && a.mainBusyMs !== null ? r.mainBusyMs <= a.mainBusyMs : null;
      T.push({ target: `(${shape}) ${v}: main-thread busy time <= Apache Arrow JS`, measured: `${fmtMs(r.mainBusyMs)} vs ${fmtMs(a?.mainBusyMs)} ms = ${ratio(r.mainBusyMs, a?.mainBusyMs)}`, verdict: verdict(busyOk), ok: busyOk });
      if (shape === 'b') {
        const ok = Number.isFinite(r.maxLongestTaskMs) ? r.maxLongestTaskMs <= 50 : null;
        T.push({ target: `(b) ${v}: no main-thread task over 50 ms`, measured: `longest ${fmtMs(r.maxLongestTaskMs)} ms (worst run)`, verdict: verdict(ok), ok });
      }
      const fok = Number.isFinite(r.minFramesPer60) ? r.minFramesPer60 >= 55 : null;
      T.push({ target: `(${shape}) ${v}: animation keeps >= 55 of 60 frames`, measured: `${fmt(r.framesPer60, 1)} (worst ${fmt(r.minFramesPer60, 1)})`, verdict: verdict(fok), ok: fok });
    }
  }
  const small = result.materialise?.a?.small;
  const big = result.materialise?.a?.summary;
  if (small && big) {
    const parts = [];
    let ok = true;
    for (const c of small.summary.columns) {
      const b = big.columns.find((x) => x.name === c.name);
      const s = c.libs.lightstream?.perBatchMs;
      const g = b?.libs.lightstream?.perBatchMs;
      if (!s || !g) { ok = null; continue; }
      parts.push(`${c.name} ${fmtUs(s)} -> ${fmtUs(g)} µs`);
      // Rows grow 1000x: a copy would take about 1000x as long (hundreds of µs
      // for 4-8 MB), a view stays flat. Allow 10x for timer and GC noise at µs scale.
      if (g > 10 * s) ok = false;
    }
    T.push({
      target: 'numeric `toArray()` O(1) per batch (a view)',
      measured: `1k-row -> 1M-row batches: ${parts.join(', ')}`,
      verdict: verdict(ok),
      ok,
    });
  }
  for (const [kind, want, label] of [['string', 5, 'string `toArray()` >= 5x Apache Arrow JS'], ['dictionary', 4, 'dictionary `toArray()` (strings) >= 4x Apache Arrow JS']]) {
    for (const [shape, m] of Object.entries(result.materialise ?? {})) {
      for (const c of m.summary.columns.filter((x) => x.kind === kind)) {
        const l = c.libs.lightstream?.totalMs;
        const a = c.libs.arrow?.totalMs;
        const ok = l && a ? a / l >= want : null;
        T.push({ target: `(${shape}) ${label}`, measured: l && a ? `${fmtMs(a)} / ${fmtMs(l)} ms = ${ratio(a, l)}` : 'n/a', verdict: verdict(ok), ok });
      }
    }
  }
  const gz = result.meta.wasm.gzip9;
  T.push({ target: '.wasm gzipped < 250 KB', measured: gz ? `${gz.toLocaleString('en-US')} bytes` : 'n/a', verdict: verdict(gz ? gz < 250_000 : null), ok: gz ? gz < 250_000 : null });
  return T;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const base = path.resolve(process.env.LIGHTSTREAM_BENCH_DATA ?? path.join(ROOT, 'target', 'bench-data'));
  const dataDir = path.join(base, 'browser');
  const smallDir = path.join(dataDir, 'small');
  mkdirSync(smallDir, { recursive: true });
  const outJson = o.out ?? path.join(base, 'browser.json');
  const outMd = outJson.replace(/\.json$/, '') + '.md';

  const { bin, wasm } = await ensureInputs(o, dataDir, smallDir);
  const httpServer = await startHttp([
    ['/benches/web/', path.join(ROOT, 'benches', 'web')],
    ['/npm/', o.npmDir],
    ['/node_modules/', path.join(ROOT, 'node_modules')],
    ['/data/', dataDir],
  ]);
  const httpBase = `http://127.0.0.1:${httpServer.address().port}`;
  log(`serving ${httpBase}/ (npm package from ${o.npmDir})`);

  let browser = null;
  const result = { meta: {}, e2e: {}, materialise: {} };
  try {
    browser = await (o.driver === 'cdp' ? CdpDriver : PlaywrightDriver).launch(o.chromium);
    const page = browser;
    // A fresh page (JS heap and wasm memory) for every phase, so that what an
    // earlier phase left behind (garbage, grown memory) does not weigh on the next.
    const freshPage = async () => {
      await bounded(page.goto(`${httpBase}/benches/web/bench.html`), 60000, 'loading bench.html');
      let state = null;
      for (let i = 0; i < 300 && state === null; i++) {
        try {
          state = await bounded(page.evaluate(() => (window.benchReady === true ? 'ready' : window.benchError ?? null)), 10000, 'page start');
        } catch {
          state = null; // still navigating
        }
        if (state === null) await sleep(200);
      }
      if (state !== 'ready') throw new Error(`bench.html did not start: ${state ?? 'not ready within 60 s'}`);
    };
    await freshPage();
    const info = await page.evaluate(() => window.bench.info());
    log(`page: connect ${info.connect}, flechette ${info.flechette}, crossOriginIsolated ${info.crossOriginIsolated}, gc ${info.gc}, driver ${o.driver}`);

    const loadWait = o.waitLoad !== null ? await waitForLoad(o.waitLoad, o.waitMax) : null;
    result.meta = {
      started: new Date().toISOString().slice(0, 16).replace('T', ' '),
      loadStart: loadavg(), loadWait, batches: o.batches, rows: o.rows, smallRows: o.smallRows,
      reps: o.reps, matReps: o.matReps, numericReps: o.numericReps, mainReps: o.mainReps,
      chromium: browser.version.replace('Chrome/', 'Chromium '), driver: o.driver, node: process.version, cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30),
      npmDir: path.relative(ROOT, o.npmDir) || o.npmDir, wasm: wasmSize(wasm), page: info,
      wasmMtime: statSync(wasm).mtimeMs, git: gitState(),
    };

    for (const shape of o.shapes) {
      const file = path.join(dataDir, `shape_${shape}.pyarrow.arrows`);
      const expectRows = o.batches * o.rows;
      result.meta.loadByStep ??= [];
      result.meta.loadByStep.push({ step: `shape ${shape} start`, at: new Date().toISOString().slice(11, 19), load: loadavg() });
      if (!o.skip.has('e2e')) {
        const srv = await startServer(bin, file);
        await freshPage();
        log(`shape ${shape}: end to end against ${srv.url}`);
        try {
          const res = await bounded(page.evaluate(([url, opts]) => window.bench.e2e(url, opts), [srv.url, { reps: o.reps, timeoutMs: 120000, variants: o.variants, httpUrl: `/data/shape_${shape}.pyarrow.arrows` }]),
            40 * 60 * 1000, `e2e shape ${shape}`);
          result.e2e[shape] = { url: srv.url, skipped: res.skipped, summary: summariseE2E(res, expectRows), samples: res.samples, warmup: res.warmup };
          for (const [v, s] of Object.entries(result.e2e[shape].summary)) {
            log(`  ${v}: ${fmtMs(s.medianMs)} ms, ${fmt(s.mbps, 0)} MB/s${s.rowsOk ? '' : ` ROWS ${s.rowsSeen}`}`);
          }
        } finally {
          await stopChild(srv.child);
        }
      }
      if (!o.skip.has('main')) {
        const srv = await startServer(bin, file);
        await freshPage();
        log(`shape ${shape}: the main thread while streaming, against ${srv.url}`);
        try {
          await page.startTrace(o.profile ? [...TRACE_CATEGORIES, PROFILE_CATEGORY] : undefined);
          let res;
          try {
            res = await bounded(page.evaluate(([url, opts]) => window.bench.mainThread(url, opts),
              [srv.url, { reps: o.mainReps, timeoutMs: 120000, variants: o.mainVariants }]), 30 * 60 * 1000, `main thread shape ${shape}`);
          } finally {
            res ??= null;
            const events = await page.stopTrace().catch((e) => { log(`trace: ${e.message}`); return []; });
            if (res) res.trace = traceBusy(events);
            if (res && o.profile) res.profile = traceWorkerProfile(events, 'lightstream_worker');
          }
          result.main ??= {};
          result.main[shape] = { summary: summariseMain(res, expectRows), skipped: res.skipped, samples: res.samples, trace: res.trace, profile: res.profile };
          if (res.profile) {
            log(`  Worker profile (lightstream_worker, ${res.profile.runs} runs, ${fmtMs(res.profile.totalMs)} ms sampled):`);
            for (const f of res.profile.top) log(`    ${fmtMs(f.ms)} ms ${(100 * f.share).toFixed(1)}% ${f.fn}`);
          }
          for (const [v, m] of Object.entries(result.main[shape].summary)) {
            log(`  ${v}: ${fmtMs(m.medianMs)} ms, main thread busy ${fmtMs(m.mainBusyMs)} ms, longest task ${fmtMs(m.mainLongestTaskMs)} ms, `
              + `frames ${fmt(m.framesPer60, 1)}/60, long tasks ${fmt(m.longTasks, 0)}`);
          }
        } finally {
          await stopChild(srv.child);
        }
      }
      if (!o.skip.has('materialise')) {
        await freshPage();
        log(`shape ${shape}: materialisation`);
        const opts = { reps: o.matReps, numericReps: o.numericReps };
        const res = await bounded(page.evaluate(([url, opts]) => window.bench.materialise(url, opts),
          [`/data/shape_${shape}.pyarrow.arrows`, opts]), 60 * 60 * 1000, `materialise shape ${shape}`);
        result.materialise[shape] = { summary: { columns: res.columns.map(summariseColumn) }, raw: res };
        for (const c of result.materialise[shape].summary.columns) {
          log(`  ${c.name} (${c.kind}): ${Object.entries(c.libs).map(([l, v]) => `${l} ${c.kind === 'numeric' ? `${fmtUs(v.perBatchMs)} µs/batch` : `${fmtMs(v.totalMs)} ms`}`).join(', ')}`);
        }
        if (shape === 'b' && !o.skip.has('splits')) {
          await freshPage();
          log('shape b: where a string toArray() spends its time');
          result.stringSplits = await bounded(page.evaluate(([url, opts]) => window.bench.stringSplits(url, opts),
            ['/data/shape_b.pyarrow.arrows', { reps: 2 }]), 20 * 60 * 1000, 'string splits');
          delete result.stringSplits.samples;
          log(`  ${JSON.stringify(result.stringSplits.medianMs)}`);
        }
        if (shape === 'a') {
          await freshPage();
          const resSmall = await bounded(page.evaluate(([url, opts]) => window.bench.materialise(url, opts),
            ['/data/small/shape_a.pyarrow.arrows', { ...opts, kinds: ['numeric'] }]), 10 * 60 * 1000, 'materialise small shape a');
          result.materialise.a.small = { summary: { columns: resSmall.columns.map(summariseColumn) }, raw: resSmall };
        }
      }
    }
    result.meta.loadByStep.push({ step: 'end', at: new Date().toISOString().slice(11, 19), load: loadavg() });
    result.meta.loadEnd = loadavg();
    if (statSync(wasm).mtimeMs !== result.meta.wasmMtime) {
      result.meta.rebuiltDuringRun = true;
      log(`WARNING: ${wasm} was rebuilt during the run (the page kept the build it loaded at the start)`);
    }
    result.meta.finished = new Date().toISOString().slice(0, 16).replace('T', ' ');
  } finally {
    if (browser) await bounded(browser.close(), 20000, 'closing chromium').catch((e) => log(String(e)));
    httpServer.closeAllConnections?.();
    httpServer.close();
    killAllChildren();
  }
  result.targets = targets(result);
  const md = report(result);
  mkdirSync(path.dirname(outJson), { recursive: true });
  writeFileSync(outJson, `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(outMd, `${md}\n`);
  process.stdout.write(`${md}\n`);
  log(`wrote ${outJson} and ${outMd}`);
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().catch((e) => {
  killAllChildren();
  process.stderr.write(`run.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
});
