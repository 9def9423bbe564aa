// The page side of the Worker path (issue 19): `WorkerSource` starts a
// dedicated module Worker (npm/worker.js, or `options.workerUrl`), hands it
// the compiled wasm module and what to read, and is the "source" a
// `TableStream` wraps: `next()` resolves with the parts of the next table
// (moved from the worker, never copied), `close()`, `schema`, `metadata` and
// the counters. The page grants the worker a window of `prefetch` tables
// (default 4): one more each time it takes one, so a page that lags stops the
// worker from reading an HTTP body or a ReadableStream. Errors cross the
// boundary as data and become the same `Error` (same `kind`) or `HttpError`
// the main-thread path throws. The protocol is described in npm/worker.js.
import { HttpError } from './http.js';
import { lsError } from './table.js';

/** Tables the worker may decode and move ahead of the page. */
export const DEFAULT_PREFETCH = 4;

/** How long `close()` waits for the worker to close its source (a WebSocket
 * close handshake) before it terminates the worker anyway. */
const CLOSE_GRACE_MS = 2000;

/** How long a worker whose stream ended waits for the next stream before it
 * is terminated. The next `{ worker: true }` stream within that time reuses
 * it: no Worker start and module instantiation (40-60 ms in Chromium), and
 * the wasm memory the last stream touched (a body copied into fresh pages
 * costs several times one copied into touched pages). */
export const IDLE_WORKER_MS = 10_000;

/** The one worker kept after its stream ended: `{ worker, key, timer }`. */
let idle = null;

/** The idle worker started from `key` (its script and module), or null. */
function takeIdle(key) {
  if (idle === null || idle.key.url !== key.url || idle.key.module !== key.module) return null;
  const { worker, timer } = idle;
  clearTimeout(timer);
  idle = null;
  return worker;
}

/** Keeps `worker` for the next stream (the one kept before is terminated). */
function park(worker, key) {
  if (idle !== null) {
    clearTimeout(idle.timer);
    idle.worker.terminate();
  }
  const timer = setTimeout(() => {
    if (idle?.worker === worker) idle = null;
    worker.terminate();
  }, IDLE_WORKER_MS);
  idle = { worker, key, timer };
}

let lastSid = 0;

const isNode = typeof process !== 'undefined' && process.versions != null &&
  process.versions.node != null && typeof window === 'undefined';

/** Whether this environment runs the Worker path: a browser (or a browser
 * worker) with module Workers. Node.js always decodes on its own thread. */
export function workerAvailable() {
  return typeof Worker === 'function' && !isNode;
}

/** The worker's error data as the error the main-thread path throws. */
function revive(data) {
  if (data?.name === 'HttpError') {
    return new HttpError(data.message, data);
  }
  return lsError(data?.kind ?? 'Io', data?.message ?? 'the Lightstream worker failed');
}

/** The option values a Worker can receive (functions and signals stay on the page). */
function workerOptions(options, what) {
  const { worker, workerUrl, prefetch, signal, reconnect, onResume, fetch, headers, ...rest } = options ?? {};
  if (fetch !== undefined) {
    throw lsError('Unsupported', `${what}: the fetch option needs { worker: false } (a function cannot move to a Worker)`);
  }
  if (headers !== undefined) rest.headers = [...new Headers(headers)];
  return rest;
}

function checkPrefetch(prefetch) {
  if (prefetch === undefined || prefetch === null) return DEFAULT_PREFETCH;
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw lsError('Unsupported', `option prefetch must be a positive integer, not ${prefetch}`);
  }
  return prefetch;
}

export class WorkerSource {
  /**
   * Starts a worker and opens `kind` ('ws': `url` over WebSocket; 'http':
   * `url` with fetch; 'readable': the ReadableStream `readable`, moved to the
   * worker) there; resolves once the worker says it is open (for a
   * WebSocket: the schema arrived), rejects with the worker's error.
   * `module` is the compiled wasm module (no second download or compile).
   */
  static open(args) {
    let source;
    try {
      source = WorkerSource.start(args);
    } catch (e) {
      return Promise.reject(e);
    }
    return source.opened.then(() => source);
  }

  /** The same, at once: the source's `next()` waits for the worker to open. */
  static start({ kind, url, readable, options, module, what }) {
    let worker;
    let source;
    try {
      const prefetch = checkPrefetch(options?.prefetch);
      const data = workerOptions(options, what);
      const workerUrl = options?.workerUrl ?? new URL('./worker.js', import.meta.url);
      const key = { url: String(workerUrl), module };
      worker = takeIdle(key) ?? new Worker(workerUrl, { type: 'module', name: 'lightstream' });
      lastSid += 1;
      source = new WorkerSource(worker, prefetch, options?.signal, lastSid, key);
      const transfer = kind === 'readable' ? [readable] : [];
      worker.postMessage({ type: 'open', sid: lastSid, kind, url: url === undefined ? undefined : String(url), readable, options: data, module, credits: prefetch }, transfer);
    } catch (e) {
      worker?.terminate();
      throw e?.kind ? e : lsError('Unsupported', `${what}: could not start the Lightstream worker: ${e?.message ?? e}`, e);
    }
    return source;
  }

  constructor(worker, prefetch, signal, sid = 0, key = null) {
    this.worker = worker;
    this.sid = sid;
    this.key = key;
    this.stopped = false;
    // An abort closes the worker's source at once, also while it connects
    // (npm/resume.js reports the abort to the caller).
    this.signal = signal ?? null;
    this.onAbort = () => this.close();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.prefetch = prefetch;
    this.queue = [];
    this.waiters = [];
    this.error = null;
    this.ended = false;
    this.closed = false;
    this.schema = null;
    this.metadata = {};
    this.tablesRead = 0;
    this.rowsRead = 0;
    this.bytesRead = 0;
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpen = resolve;
      this.rejectOpen = reject;
    });
    this.opened.catch(() => {}); // a started source reports it from next()
    worker.onmessage = (e) => {
      if (e.data?.sid === this.sid) this.onMessage(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(lsError('Io', `the Lightstream worker failed: ${e.message || 'its script did not load (workerUrl?)'}`));
    };
    worker.onmessageerror = () => this.fail(lsError('Io', 'a message from the Lightstream worker could not be read'));
  }

  onMessage(m) {
    switch (m?.type) {
      case 'open':
        this.setSchema(m);
        this.resolveOpen();
        break;
      case 'table':
        this.setSchema(m);
        this.bytesRead = m.bytesRead;
        if (!this.closed) this.queue.push(m.parts);
        break;
      case 'end':
        this.bytesRead = m.bytesRead;
        this.ended = true;
        this.stop(true);
        break;
      case 'error':
        this.fail(revive(m.error));
        return;
      case 'closed':
        this.stop();
        break;
      default:
        break;
    }
    this.wake();
  }

  setSchema(m) {
    if (m.schema !== undefined && m.schema !== null) {
      this.schema = m.schema;
      this.metadata = m.metadata ?? {};
    }
  }

  fail(err) {
    if (this.ended || this.closed) return;
    this.error = err;
    this.ended = true;
    this.stop();
    this.rejectOpen(err);
    this.wake();
  }

  /** Ends the worker (its sockets with it), or after a clean end (`reuse`)
   * keeps it for the next stream. Once. */
  stop(reuse = false) {
    if (this.stopped) return;
    this.stopped = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (reuse && this.key !== null) {
      this.worker.onmessage = null;
      this.worker.onerror = null;
      this.worker.onmessageerror = null;
      park(this.worker, this.key);
    } else {
      this.worker.terminate();
    }
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** `{ done: false, value: parts }`, or `{ done: true }` at the end or after
   * `close()`; rejects once with the stream's error. */
  async next() {
    // (a failed open is reported below, once, as the stream's error)
    await this.opened.catch(() => {});
    for (;;) {
      if (this.queue.length > 0) {
        const parts = this.queue.shift();
        this.tablesRead += 1;
        this.rowsRead += parts?.numRows ?? 0;
        if (!this.ended) this.worker.postMessage({ type: 'credit', n: 1 });
        return { done: false, value: parts };
      }
      if (this.error) {
        const e = this.error;
        this.error = null;
        throw e;
      }
      if (this.ended || this.closed) return { done: true, value: undefined };
      await new Promise((r) => this.waiters.push(r));
    }
  }

  /** Closes the source in the worker (a WebSocket closes with code 1000),
   * then ends the worker. Tables not taken yet are dropped. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    if (!this.ended) {
      this.worker.postMessage({ type: 'close' });
      setTimeout(() => this.stop(), CLOSE_GRACE_MS);
    } else {
      this.stop();
    }
    this.rejectOpen(lsError('Aborted', 'the stream was closed before it opened'));
    this.wake();
  }
}
