// AbortSignal and reconnect for a stream's source (issue 19), the same for
// the main-thread path and the Worker path: `ResumingSource` wraps the source
// a `TableStream` reads (anything with `next()`, `close()`, `schema`,
// `metadata` and the counters) and a function that opens a new one.
//   - `signal`: aborting rejects a pending `next()` (and `openResuming`, the
//     connect) with `kind: 'Aborted'` and closes the source (its WebSocket).
//   - `reconnect: { retries, initialDelayMs, maxDelayMs }` (or `true` for the
//     defaults): when the source fails as if cut (`Truncated`: closed before
//     the end-of-stream marker; `Connect`; `Timeout`), it is re-opened after
//     an exponential backoff with jitter, up to `retries` attempts in a row.
//     A hub (`lightstream serve ws://... -`) sends a late joiner the schema
//     and the dictionaries again, then its live tables: the new schema must
//     equal the first one (else the stream fails with `kind: 'Schema'`).
//     Tables sent while the page was away are not recovered. Each resume
//     counts in `reconnects` and calls `onResume({ reconnects, attempts,
//     error })` before the first table of the new connection is handed out.
import { lsError } from './table.js';

/** Failures after which a re-open may help: the connection went away. */
const RESUMABLE = new Set(['Truncated', 'Connect', 'Timeout']);

export const RECONNECT_DEFAULTS = Object.freeze({ retries: 5, initialDelayMs: 250, maxDelayMs: 10_000 });

/** The `reconnect` option checked: `null` when off. */
export function reconnectOptions(value) {
  if (value === undefined || value === null || value === false) return null;
  const o = value === true ? {} : value;
  if (typeof o !== 'object') throw lsError('Unsupported', `option reconnect must be true or { retries, initialDelayMs, maxDelayMs }, not ${String(value)}`);
  const out = { ...RECONNECT_DEFAULTS };
  for (const k of Object.keys(o)) {
    if (!(k in RECONNECT_DEFAULTS)) throw lsError('Unsupported', `option reconnect has no field ${k} (it takes retries, initialDelayMs, maxDelayMs)`);
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k === 'retries' && !Number.isInteger(v))) {
      throw lsError('Unsupported', `option reconnect.${k} must be a non-negative ${k === 'retries' ? 'integer' : 'number'}, not ${String(v)}`);
    }
    out[k] = v;
  }
  if (out.maxDelayMs < out.initialDelayMs) out.maxDelayMs = out.initialDelayMs;
  return out;
}

/** The delay before attempt `n` (0-based): `initialDelayMs * 2^n`, capped at
 * `maxDelayMs`, then a random point in its upper half ("equal jitter"), so
 * that many pages dropped together do not come back together. */
export function backoffDelay(o, n) {
  const d = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(n, 30));
  return d / 2 + Math.random() * (d / 2);
}

export function abortError(signal, what) {
  const reason = signal?.reason;
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return lsError('Aborted', `${what} was aborted${detail}`, reason);
}

/** `promise`, or a rejection with `kind: 'Aborted'` as soon as `signal` aborts. */
export function raceAbort(promise, signal, what) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal, what));
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => reject(abortError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

function sleep(ms, signal, what) {
  let timer;
  return raceAbort(new Promise((r) => { timer = setTimeout(r, ms); }), signal, what).finally(() => clearTimeout(timer));
}

/** The schema and metadata as one comparable string. */
function schemaKey(source) {
  return JSON.stringify([source.schema, source.metadata]);
}

/**
 * Opens a source with `open()` and wraps it: resolves to a `ResumingSource`,
 * or rejects (kind `Aborted` when `signal` aborted first; a source that opens
 * after that is closed at once). The first open is not retried: a server that
 * is not there at all is an error to report, not to wait out.
 */
export async function openResuming(open, options) {
  const { signal, what } = options;
  checkOptions(options);
  const pending = open();
  let source;
  try {
    source = await raceAbort(pending, signal, what);
  } catch (e) {
    if (signal?.aborted) pending.then((s) => s.close(), () => {});
    throw e;
  }
  return new ResumingSource(source, open, options);
}

function checkOptions({ signal, reconnect, onResume, what }) {
  reconnectOptions(reconnect);
  if (onResume !== undefined && typeof onResume !== 'function') throw lsError('Unsupported', 'option onResume must be a function');
  if (signal !== undefined && signal !== null && typeof signal.addEventListener !== 'function') {
    throw lsError('Unsupported', 'option signal must be an AbortSignal');
  }
  if (signal?.aborted) throw abortError(signal, what);
}

/** `source` (already open, or opening: its `next()` waits) wrapped at once;
 * for `readStream`, which returns its stream synchronously. */
export function wrapSource(source, open, options) {
  checkOptions(options);
  return new ResumingSource(source, open, options);
}

export class ResumingSource {
  constructor(source, open, { signal, reconnect, onResume, what }) {
    this.source = source;
    this.open = open;
    this.signal = signal ?? null;
    this.policy = reconnectOptions(reconnect);
    this.onResume = onResume;
    this.what = what;
    this.key = source.schema === null ? null : schemaKey(source);
    this.reconnects = 0;
    this.closed = false;
    this.done = false;
    this.tablesBefore = 0;
    this.rowsBefore = 0;
    this.bytesBefore = 0;
    this.onAbort = () => this.close();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get schema() { return this.source.schema; }
  get metadata() { return this.source.metadata; }
  get tablesRead() { return this.tablesBefore + this.source.tablesRead; }
  get rowsRead() { return this.rowsBefore + this.source.rowsRead; }
  get bytesRead() { return this.bytesBefore + this.source.bytesRead; }

  async next() {
    for (;;) {
      if (this.signal?.aborted && !this.done) {
        this.close();
        this.done = true;
        throw abortError(this.signal, this.what);
      }
      if (this.closed) return { done: true, value: undefined };
      let r;
      try {
        r = await raceAbort(this.source.next(), this.signal, this.what);
      } catch (e) {
        if (e?.kind === 'Aborted' && this.signal?.aborted) {
          this.close();
          this.done = true;
          throw e;
        }
        if (this.closed || !this.policy || !RESUMABLE.has(e?.kind)) throw e;
        try {
          await this.resume(e);
        } catch (e2) {
          // An abort during the backoff or a re-open ends the stream as above.
          if (e2?.kind === 'Aborted' && this.signal?.aborted) {
            this.close();
            this.done = true;
          }
          throw e2;
        }
        continue;
      }
      if (r.done) this.detach();
      else if (this.key === null && this.source.schema !== null) this.key = schemaKey(this.source);
      return r;
    }
  }

  /** Re-opens after `error`, with backoff; throws when every attempt failed
   * (the last attempt's error, `cause` the first), on a different schema
   * (`Schema`) or on abort. */
  async resume(error) {
    const old = this.source;
    old.close();
    this.tablesBefore += old.tablesRead;
    this.rowsBefore += old.rowsRead;
    this.bytesBefore += old.bytesRead;
    let last = error;
    for (let n = 0; n < this.policy.retries; n++) {
      await sleep(backoffDelay(this.policy, n), this.signal, this.what);
      if (this.closed) break;
      let s;
      try {
        s = await raceAbort(this.open(), this.signal, this.what);
      } catch (e) {
        if (e?.kind === 'Aborted' || !RESUMABLE.has(e?.kind)) throw e;
        last = e;
        continue;
      }
      if (this.closed) {
        s.close();
        break;
      }
      if (this.key !== null && schemaKey(s) !== this.key) {
        s.close();
        this.source = s;
        throw lsError('Schema', `${this.what}: the stream came back after a reconnect with a different schema: ` +
          `${JSON.stringify(s.schema)} instead of ${JSON.stringify(JSON.parse(this.key)[0])}`);
      }
      this.source = s;
      this.reconnects += 1;
      if (this.onResume) {
        try {
          this.onResume({ reconnects: this.reconnects, attempts: n + 1, error });
        } catch {
          // a listener's failure is not the stream's
        }
      }
      return;
    }
    this.source = { ...EMPTY, schema: old.schema, metadata: old.metadata };
    if (this.closed) return;
    throw lsError(last?.kind ?? error.kind, `${last?.message ?? error.message} (gave up after ${this.policy.retries} reconnect attempts)`, error);
  }

  detach() {
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.source.close();
  }
}

/** What a ResumingSource holds after it gave up. */
const EMPTY = Object.freeze({
  schema: null, metadata: {}, tablesRead: 0, rowsRead: 0, bytesRead: 0,
  next: async () => ({ done: true, value: undefined }), close() {},
});
