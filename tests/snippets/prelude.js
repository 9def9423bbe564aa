// Loaded before a documentation snippet runs, in headless Chromium (a classic
// script of the driver page) and in Node.js (imported by node-runner.mjs). It
// records what the snippet shows, as plain JSON values for run-js.mjs to check:
// what it logs (console.log still prints), the claims run-js.mjs rewrote from
// `expr;  // value` lines, and its top-level variables once it has finished.
// Typed arrays, BigInts and the package's objects become small plain summaries.
(() => {
  const CLASS_FIELDS = ['numRows', 'numColumns', 'tablesRead', 'rowsRead', 'bytesRead', 'skippedRows', 'nulledCells'];

  /** A JSON-safe summary of any value a snippet may hold. */
  function snap(v, depth = 0) {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (v === undefined) return { undefined: true };
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'function') return { function: v.name };
    if (depth > 4) return { deep: true };
    if (ArrayBuffer.isView(v)) {
      return { typedArray: v.constructor.name, length: v.length, head: Array.from(v.slice(0, 4), (x) => snap(x)) };
    }
    if (Array.isArray(v)) return v.slice(0, 100).map((x) => snap(x, depth + 1));
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, snap(x, depth + 1)]));
    }
    const out = { class: v.constructor?.name ?? 'object' };
    for (const f of CLASS_FIELDS) {
      try {
        if (f in v) out[f] = snap(v[f], depth + 1);
      } catch (e) {
        out[f] = { threw: String(e?.message ?? e) };
      }
    }
    return out;
  }

  const state = { logs: [], checks: [], vars: null };
  const log = console.log.bind(console);
  console.log = (...args) => {
    state.logs.push(args.map((a) => snap(a)));
    log(...args);
  };

  globalThis.__snippet = {
    snap,
    reset() {
      state.logs = [];
      state.checks = [];
      state.vars = null;
    },
    /** `expr;  // want` in the docs: line is the doc's line number. */
    check(line, got, want) {
      const g = JSON.stringify(snap(got));
      const w = JSON.stringify(snap(want));
      state.checks.push({ line, ok: g === w, got: g, want: w });
    },
    vars(v) {
      state.vars = snap(v);
    },
    report() {
      return { logs: state.logs, checks: state.checks, vars: state.vars };
    },
  };
})();
