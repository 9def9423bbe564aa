// What the browser tests share (e2e.mjs, worker.mjs, web.mjs, nats.mjs, demo.mjs and
// tests/snippets/run-js.mjs): a session that owns every child process and server it
// starts and always stops them (also on a failure, a timeout or Ctrl-C), the packed
// npm tarball unpacked, the CLI binary and the axum example, a static HTTP server on
// 127.0.0.1, `lightstream serve` (or any server that prints `listening on <url>`)
// started on a free port, headless Chromium and the test page (e2e.html) opened in
// it; and `runDriver`, the one run of a driver: its watchdog, its checks recorded
// and counted, the closing `N passed, M failed` line and the exit code. It holds
// no test logic: each driver decides what to check.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const nodeModules = path.join(repo, 'node_modules');

/** Headless Chromium's flags for every test (127.0.0.1 only, nothing in the background). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const CHROMIUM = process.env.LIGHTSTREAM_CHROMIUM ?? '/usr/bin/chromium';

/** MIME types of the static server (`.wasm` must be application/wasm). */
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.arrows': 'application/vnd.apache.arrow.stream',
};

/** An error that means "the test could not be set up" (exit 2), not "a check failed". */
export function fatal(msg) {
  const e = new Error(msg);
  e.fatal = true;
  return e;
}

/**
 * One test run: `name` prefixes log lines and the temporary folder, `keep`
 * leaves that folder behind, `verbose` turns `debug` on. Signals clean up and
 * exit 130; `session.stopping` is then true (a timeout may set it too).
 */
export function createSession({ name, keep = false, verbose = false }) {
  const children = new Set();
  const closers = [];
  let cleaning = null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `lightstream-${name}-`));

  const session = {
    tmp,
    stopping: false,
    log: (...a) => console.log(`${name}:`, ...a),
    debug: (...a) => verbose && console.log(`${name}: [debug]`, ...a),
    /** Runs `close` (async) at cleanup, before the children are killed. */
    onCleanup: (close) => closers.push(close),
    cleanup: () => (cleaning ??= doCleanup()),
    run,
    spawnChild,
    npmPackage,
    lightstreamBinary,
    startHttpServer,
    startServe,
    startListening,
    axumExample,
    requirePageModules,
    startWatchdog,
    makeFixtures,
    launchChromium,
    openTestPage,
  };

  function killChildren(signal) {
    for (const c of children) {
      try {
        c.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  async function doCleanup() {
    for (const close of closers.splice(0).reverse()) {
      try {
        await Promise.race([close(), new Promise((r) => setTimeout(r, 5000))]);
      } catch {
        // best effort
      }
    }
    killChildren('SIGTERM');
    const deadline = Date.now() + 3000;
    while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    killChildren('SIGKILL');
    if (!keep) {
      try {
        fs.rmSync(tmp, { recursive: true, force: true });
      } catch (e) {
        console.error(`${name}: cannot remove ${tmp}: ${e.message}`);
      }
    }
  }

  process.on('exit', () => killChildren('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      session.stopping = true;
      console.error(`${name}: ${sig}, cleaning up`);
      session.cleanup().finally(() => process.exit(130));
    });
  }

  /** Spawns a child that cleanup kills (it leaves the set when it exits). */
  function spawnChild(cmd, args, options) {
    const child = spawn(cmd, args, options);
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }

  /** Runs a command to completion with a time bound; throws with its output on failure. */
  function run(cmd, args, { timeoutMs, cwd = repo, env } = {}) {
    session.debug('run', cmd, args.join(' '));
    const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`;
      throw fatal(`${cmd} ${args.join(' ')} failed: ${why}\n${(r.stdout ?? '').slice(-3000)}${(r.stderr ?? '').slice(-3000)}`);
    }
    return r.stdout;
  }

  /**
   * The npm package, unpacked into `into` (default: <tmp>/unpacked):
   * LIGHTSTREAM_NPM_TARBALL, else one packed now with npm/build.sh. Returns
   * { tarball, dir } (dir: the package's root, with package.json).
   */
  function npmPackage({ buildTimeoutMs, into = path.join(tmp, 'unpacked') }) {
    let tarball = process.env.LIGHTSTREAM_NPM_TARBALL;
    if (tarball) {
      tarball = path.resolve(tarball);
      if (!fs.existsSync(tarball)) throw fatal(`LIGHTSTREAM_NPM_TARBALL=${tarball} does not exist`);
    } else {
      const dest = path.join(tmp, 'pack');
      session.log('packing the npm package (bash npm/build.sh --pack-dest ...)');
      run('bash', [path.join(repo, 'npm', 'build.sh'), '--pack-dest', dest], { timeoutMs: buildTimeoutMs });
      const found = fs.readdirSync(dest).filter((f) => f.endsWith('.tgz'));
      if (found.length !== 1) throw fatal(`npm/build.sh left ${found.length} tarballs in ${dest}`);
      tarball = path.join(dest, found[0]);
    }
    fs.mkdirSync(into, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', into], { timeoutMs: 60_000 });
    const pkg = path.join(into, 'package');
    for (const f of ['package.json', 'index.js', 'index.d.ts', 'pkg/lightstream_wasm_bg.wasm', 'pkg/lightstream_wasm.js']) {
      if (!fs.existsSync(path.join(pkg, f))) throw fatal(`the npm tarball ${tarball} has no ${f}`);
    }
    return { tarball, dir: pkg };
  }

  /** Fails (setup) unless node_modules holds what the test page imports and playwright-core. */
  function requirePageModules() {
    for (const dep of ['playwright-core', 'apache-arrow', 'flatbuffers', 'tslib', 'json-with-bigint']) {
      if (!fs.existsSync(path.join(nodeModules, dep))) throw fatal(`node_modules/${dep} is missing: run bash scripts/setup.sh --with=npm`);
    }
  }

  /**
   * After `ms`, marks the session stopping, says so, cleans up and exits 2
   * (`onTimeout` first: the driver records that it timed out). Returns the
   * timer, for clearTimeout once the test is done.
   */
  function startWatchdog(ms, onTimeout = () => {}) {
    return setTimeout(() => {
      onTimeout();
      session.stopping = true;
      console.error(`${name}: FAIL: the test did not finish within ${ms} ms`);
      session.cleanup().finally(() => process.exit(2));
    }, ms);
  }

  /**
   * tests/browser/make_fixtures.py's fixtures written into <tmp>/fixtures
   * (LIGHTSTREAM_PYTHON, default python3): { dir, cases, pyarrow } where cases
   * maps each fixture's name to its manifest entry (file, rows, batches, ...),
   * in the manifest's order, and pyarrow is the version that wrote them.
   */
  function makeFixtures() {
    const dir = path.join(tmp, 'fixtures');
    const script = path.join(repo, 'tests', 'browser', 'make_fixtures.py');
    run(process.env.LIGHTSTREAM_PYTHON ?? 'python3', [script, dir], { timeoutMs: 120_000 });
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    return { dir, cases: Object.fromEntries(manifest.cases.map((c) => [c.name, c])), pyarrow: manifest.pyarrow };
  }

  /** LIGHTSTREAM_BIN, else target/release/lightstream (built when missing). */
  function lightstreamBinary({ buildTimeoutMs }) {
    const bin = process.env.LIGHTSTREAM_BIN ? path.resolve(process.env.LIGHTSTREAM_BIN) : path.join(repo, 'target', 'release', 'lightstream');
    if (!fs.existsSync(bin)) {
      if (process.env.LIGHTSTREAM_BIN) throw fatal(`LIGHTSTREAM_BIN=${bin} does not exist`);
      session.log('building the CLI (cargo build --release -p lightstream-cli)');
      run('cargo', ['build', '--release', '-p', 'lightstream-cli'], { timeoutMs: buildTimeoutMs });
    }
    return bin;
  }

  /**
   * `examples/axum.rs` built: LIGHTSTREAM_AXUM_EXAMPLE, else
   * <target>/debug/examples/axum (scripts/test.sh builds it once; built here
   * with `cargo build -p lightstream --features axum --example axum` when missing).
   */
  function axumExample({ buildTimeoutMs }) {
    const given = process.env.LIGHTSTREAM_AXUM_EXAMPLE;
    const target = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
    const bin = given ? path.resolve(given) : path.join(target, 'debug', 'examples', 'axum');
    if (!fs.existsSync(bin)) {
      if (given) throw fatal(`LIGHTSTREAM_AXUM_EXAMPLE=${bin} does not exist`);
      session.log('building the axum example (cargo build -p lightstream --features axum --example axum)');
      run('cargo', ['build', '-p', 'lightstream', '--features', 'axum', '--example', 'axum'], { timeoutMs: buildTimeoutMs });
    }
    return bin;
  }

  /**
   * A static file server on 127.0.0.1; resolves to its base URL. `files` maps
   * exact paths to files; `dirs` maps path prefixes (ending in /) to
   * [directory, allowed first path segments or null for any]. `routes`
   * (optional): `handle(req, res)` answers a request first when it returns
   * true; `upgrade(req, socket, head)` takes WebSocket upgrades.
   */
  async function startHttpServer(files, dirs, routes = {}) {
    const resolveFile = (p) => {
      if (Object.hasOwn(files, p)) return files[p];
      for (const [prefix, [root, allowed]] of Object.entries(dirs)) {
        if (!p.startsWith(prefix)) continue;
        const rel = p.slice(prefix.length);
        const candidate = path.resolve(root, rel);
        if (!candidate.startsWith(root + path.sep)) return null;
        if (allowed && !allowed.includes(rel.split('/')[0])) return null;
        return candidate;
      }
      return null;
    };
    const server = http.createServer((req, res) => {
      if (routes.handle?.(req, res)) return;
      let file = null;
      try {
        file = resolveFile(decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname));
      } catch {
        file = null;
      }
      if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        session.debug('404', req.url);
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`not found: ${req.url}`);
        return;
      }
      const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      fs.createReadStream(file).pipe(res);
    });
    if (routes.upgrade) server.on('upgrade', routes.upgrade);
    else server.on('upgrade', (req, socket) => socket.destroy());
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    closers.push(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    return `http://127.0.0.1:${server.address().port}`;
  }

  /**
   * `lightstream serve <scheme>://127.0.0.1:0<urlPath> FILE [args...]`; resolves
   * to { url, child, stderr() } once it printed `listening on <url>` (20 s bound).
   */
  function startServe(bin, file, args = [], scheme = 'ws', urlPath = '/') {
    return startListening(bin, ['serve', `${scheme}://127.0.0.1:0${urlPath}`, file, ...args], `lightstream serve ${path.basename(file)}`);
  }

  /**
   * Runs `cmd args` (a server: `lightstream serve`, `examples/axum.rs`) until
   * it printed a whole line `listening on <url>` on stderr (20 s bound);
   * resolves to { url, child, stderr() }. `label` names it in errors;
   * `stdin` is its standard input (a stream with a file descriptor, such as
   * another child's stdout: a live feed), else none; `cwd` its folder.
   */
  function startListening(cmd, args, label = path.basename(cmd), { stdin = 'ignore', cwd } = {}) {
    return new Promise((resolve, reject) => {
      const child = spawnChild(cmd, args, { cwd, stdio: [stdin, 'ignore', 'pipe'] });
      let stderr = '';
      let settled = false;
      const settle = (f, v) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          f(v);
        }
      };
      const timer = setTimeout(() => {
        settle(reject, fatal(`${label} printed no URL within 20 s: ${stderr}`));
      }, 20_000);
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d) => {
        stderr += d;
        const m = /listening on ((?:ws|wss|http|https):\/\/\S+)\r?\n/.exec(stderr); // a whole line: the URL may still be on its way
        if (m) settle(resolve, { url: m[1], child, stderr: () => stderr });
      });
      child.on('error', (e) => settle(reject, fatal(`cannot start ${cmd}: ${e.message}`)));
      child.on('exit', (code, signal) => {
        settle(reject, fatal(`${label} exited (${code ?? signal}) before listening: ${stderr}`));
      });
    });
  }

  /**
   * Headless Chromium (playwright-core) with CHROMIUM_ARGS and `extraArgs`,
   * closed at cleanup. Playwright's own signal handlers are off: the
   * session's clean up first, then exit.
   */
  async function launchChromium(extraArgs = []) {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      timeout: 30_000,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    closers.push(() => browser.close());
    return browser;
  }

  /**
   * A new page of `browser` at `url`, a test page that sets `window.e2eReady`
   * (e2e.html, worker.html) or `window.e2eInitError`, and also `window[readyGlobal]`
   * when given; a page that does not load within 20 s or fails to load the
   * package is a setup error. Uncaught errors go to `pageErrors`, console
   * errors to `consoleErrors` (every console line to `debug`). Resolves to
   * { page, ev }: `ev(name, arg)` awaits `window.e2e[name](arg)` in the page.
   */
  async function openTestPage(browser, url, { pageErrors = [], consoleErrors = [], readyGlobal = null, timeoutMs = 30_000 } = {}) {
    const page = await browser.newPage();
    page.setDefaultTimeout(timeoutMs);
    page.on('pageerror', (e) => pageErrors.push(`${url}: ${e?.stack ?? e}`));
    page.on('crash', () => pageErrors.push(`${url}: the page crashed`));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location()?.url ?? ''}`.trim());
      session.debug('console', m.type(), m.text());
    });
    await page.goto(url, { timeout: 30_000 });
    try {
      await page.waitForFunction(
        (g) => (window.e2eReady === true && (g === null || window[g] !== undefined)) || window.e2eInitError !== undefined,
        readyGlobal,
        { timeout: 20_000 },
      );
    } catch (e) {
      throw fatal(`the page ${url} did not load within 20 s: ${e.message}\n${pageErrors.join('\n')}\n${consoleErrors.join('\n')}`);
    }
    const initError = await page.evaluate(() => window.e2eInitError ?? null);
    if (initError) throw fatal(`the page ${url} failed to load the package: ${initError}`);
    const ev = (name, arg) => page.evaluate(([f, a]) => window.e2e[f](a), [name, arg]);
    return { page, ev };
  }

  return session;
}

/**
 * The one run of a browser test driver: a session named `name` (kept with
 * LIGHTSTREAM_E2E_KEEP=1, `verbose` for its debug lines), then `main(t)`, then
 * the closing line `N passed, M failed` and the exit code: 0 when every check
 * passed (and there was at least one), 1 when one failed, 2 on a setup error
 * (a `fatal`, or anything else `main` throws) or when the watchdog fired.
 * The session is always cleaned up (its servers and browsers stopped) before
 * the process exits. `t` holds:
 *   session             the session (createSession)
 *   log(...)            a line prefixed with the driver's name
 *   startWatchdog()     bounds the rest of the run by `timeoutMs` (start it
 *                       after the builds, which have bounds of their own)
 *   record(label, problems, note?, extra?)
 *                       one check: passed when `problems` is empty; prints
 *                       `ok  ` or `FAIL` with the label and note, and the
 *                       first 20 problems; `extra` is kept in `t.results`
 *   guarded(label, fn)  runs `fn`; if it throws, that is a failed check
 *   results             every check recorded: { label, ok, problems, note, ...extra }
 * Checks recorded once the session is stopping (a timeout, Ctrl-C) are
 * dropped: a browser being torn down says nothing about the code.
 */
export async function runDriver({ name, timeoutMs, verbose = false }, main) {
  const session = createSession({ name, keep: process.env.LIGHTSTREAM_E2E_KEEP === '1', verbose });
  const results = [];
  let watchdog = null;
  let timedOut = false;
  const t = {
    session,
    results,
    log: session.log,
    startWatchdog() {
      clearTimeout(watchdog);
      watchdog = session.startWatchdog(timeoutMs, () => (timedOut = true));
    },
    record(label, problems, note = '', extra = {}) {
      if (session.stopping) return;
      const ok = problems.length === 0;
      results.push({ ...extra, label, ok, problems, note });
      session.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${note ? ` (${note})` : ''}`);
      for (const p of problems.slice(0, 20)) session.log(`       ${p}`);
      if (problems.length > 20) session.log(`       ... and ${problems.length - 20} more`);
    },
    async guarded(label, fn) {
      try {
        await fn();
      } catch (e) {
        if (e?.fatal) throw e;
        t.record(label, [`threw: ${String(e?.message ?? e).split('\n').slice(0, 4).join(' | ')}`]);
      }
    },
  };
  let code = 2;
  try {
    await main(t);
    clearTimeout(watchdog);
    if (!session.stopping) {
      const failed = results.filter((r) => !r.ok);
      if (failed.length) {
        console.log('\nfailed:');
        for (const r of failed) console.log(`  ${r.label}`);
      }
      if (results.length === 0) console.error(`${name}: FAIL: no check ran`);
      console.log(`\n${results.length - failed.length} passed, ${failed.length} failed`);
      code = failed.length || results.length === 0 ? 1 : 0;
    }
  } catch (e) {
    if (!session.stopping) console.error(`${name}: ${e?.fatal ? 'setup failed' : 'error'}: ${e?.fatal ? e.message : (e?.stack ?? e)}`);
  }
  clearTimeout(watchdog);
  await session.cleanup();
  process.exit(timedOut ? 2 : code);
}
