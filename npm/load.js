// Loading one of the package's WebAssembly modules, once: the decode-only
// module of the root entry point (index.js, pkg/) and the CSV module of
// `lightstream-arrow/csv` (csv.js, pkg-csv/) each get their own loader, so a
// page downloads a module only when it imports its entry point and calls its
// `init()`. In Node.js (no fetch of file: URLs) the .wasm is read from the
// package on disk.

const isNode = typeof process !== 'undefined' && process.versions != null &&
  process.versions.node != null && typeof window === 'undefined';

async function readWasm(url) {
  if (isNode && url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return fs.readFile(url);
  }
  return url;
}

/** `init`'s input (a URL or path, a Request, a Response or a promise of one,
 * bytes, or a compiled module) as a compiled WebAssembly.Module: kept, so
 * that every Worker instantiates it without a second download and compile (a
 * WebAssembly.Module moves to a Worker). */
async function compile(input) {
  let s = input;
  if (s instanceof WebAssembly.Module) return s;
  if (typeof s === 'string' || s instanceof URL || (typeof Request === 'function' && s instanceof Request)) s = fetch(s);
  s = await s;
  if (s instanceof WebAssembly.Module) return s;
  if (typeof Response === 'function' && s instanceof Response) {
    if (!s.ok) throw new Error(`failed to fetch the .wasm: ${s.status} ${s.statusText} fetching '${s.url}'`);
    const wasmType = (s.headers.get('content-type') ?? '').split(';')[0].trim() === 'application/wasm';
    return wasmType && typeof WebAssembly.compileStreaming === 'function'
      ? WebAssembly.compileStreaming(s)
      : WebAssembly.compile(await s.arrayBuffer());
  }
  return WebAssembly.compile(s);
}

/**
 * A loader of one wasm-bindgen module: `init(input?)` loads it once (the
 * `.wasm` at `defaultUrl` unless `input` says otherwise; a failed load can be
 * retried), `need(what)` throws unless it has loaded (a call before `init()`
 * would otherwise fail inside the bindings with a message that names neither),
 * `error(what)` is that error, for functions that reject instead of throwing.
 */
export function loader(wasmInit, defaultUrl, entry) {
  let loading = null;
  let ready = false;
  let compiled = null;
  const error = (what) => new Error(`${entry}: ${what} was called before the WebAssembly module was loaded: ` +
    `call \`await init()\`${entry === 'lightstream-arrow' ? '' : ` of ${entry}`} once first`);
  return {
    init(input) {
      if (loading === null) {
        const source = input === undefined ? readWasm(defaultUrl) : Promise.resolve(input);
        loading = source.then(compile).then((m) => {
          compiled = m;
          return wasmInit({ module_or_path: m });
        }).then(() => {
          ready = true;
        }, (e) => {
          loading = null;
          throw e;
        });
      }
      return loading;
    },
    need(what) {
      if (!ready) throw error(what);
    },
    error,
    get ready() {
      return ready;
    },
    /** The compiled module once loaded (what a Worker is handed). */
    get compiled() {
      return compiled;
    },
  };
}
