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
  const error = (what) => new Error(`${entry}: ${what} was called before the WebAssembly module was loaded: ` +
    `call \`await init()\`${entry === 'lightstream-arrow' ? '' : ` of ${entry}`} once first`);
  return {
    init(input) {
      if (loading === null) {
        const source = input === undefined ? readWasm(defaultUrl) : Promise.resolve(input);
        loading = source.then((s) => wasmInit({ module_or_path: s })).then(() => {
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
  };
}
