#!/usr/bin/env node
// End-to-end browser test of Lightstream (issue 4): the native server
// (`lightstream serve ws://...`) streams fixtures of every supported type to a
// page in headless Debian Chromium that uses the packed npm tarball; every value
// must equal what Apache Arrow JS decodes from the same bytes. Misbehaving
// servers must make the iterator reject while the page keeps working.
//
//   node tests/browser/e2e.mjs          (README.md in this folder: what runs, env vars)
//
// Steps: pack (or take) the npm tarball and unpack it; write the fixtures with
// pyarrow (make_fixtures.py); serve the page, the package, apache-arrow and the
// fixtures over HTTP on 127.0.0.1; start one `lightstream serve` per fixture and
// compression (none, lz4, zstd), one over wss:// (TLS, self-signed) and the
// fault server (fault-server.mjs); drive
// the page (e2e.html + e2e-page.js) with playwright-core; print a summary.
// Exits 0 when every check passed, 1 on a failed check, 2 on a setup error or
// timeout. Child processes are always killed; every wait is bounded.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Message } from 'apache-arrow';

import { FAULT_EXPECTATIONS, FAULT_MODES, faultProblems, splitIpcStream, startFaultServer } from './fault-server.mjs';
import { fatal, nodeModules, runDriver } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;

const TEST_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_TIMEOUT_MS ?? 170_000);
const BUILD_TIMEOUT_MS = Number(env.LIGHTSTREAM_E2E_BUILD_TIMEOUT_MS ?? 900_000);
const COMPRESSIONS = ['none', 'lz4', 'zstd'];

let t = null; // the driver (runDriver): session, record, guarded

// ------------------------------------------------------------ artifacts --

function npmPackage() {
  const pkg = t.session.npmPackage({ buildTimeoutMs: BUILD_TIMEOUT_MS });
  const js = fs.readFileSync(path.join(pkg.dir, 'pkg', 'lightstream_wasm.js'), 'utf8');
  for (const fn of ['connect', 'decode', 'readStream']) {
    if (!new RegExp(`export function ${fn}\\b`).test(js)) {
      throw fatal(`the npm package's pkg/lightstream_wasm.js exports no ${fn}() (is lightstream-wasm's ${fn} implemented?)`);
    }
  }
  return pkg;
}

// --------------------------------------------------------------- checks --

/** Problems that differ only in table, column or row, as one line each (with
 * a count and the columns concerned). */
function collapse(problems) {
  const groups = new Map();
  for (const msg of problems) {
    const key = msg
      .replace(/^.*?\b(table|batch) \d+(: | \(toIPC\): )/, '$1 #$2')
      .replace(/column \d+ "[^"]*" \(.*?\)(:)? /, 'column # ')
      .replace(/row \d+:.*/s, 'row #');
    const column = /column \d+ "([^"]*)"/.exec(msg)?.[1];
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { first: msg, n: 0, columns: new Set() }));
    g.n++;
    if (column !== undefined) g.columns.add(column);
  }
  return [...groups.values()].map(({ first, n, columns }) => {
    if (n === 1) return first;
    const cols = [...columns];
    const names = cols.length > 1 ? `; columns ${cols.slice(0, 8).join(', ')}${cols.length > 8 ? ', ...' : ''}` : '';
    return `${first}  [${n - 1} more like it${names}]`;
  });
}

/** One check of group `group` (ws, http, api, fault, page: the summary counts
 * per group), its problems collapsed; `extra` counts values and tables. */
function record(group, label, rawProblems, extra = {}) {
  t.record(`${group} ${label}`, collapse(rawProblems), extra.note ?? '', {
    group,
    values: extra.values ?? 0,
    ipcValues: extra.ipcValues ?? 0,
    wireValues: extra.wireValues ?? 0,
    tables: extra.tables ?? 0,
  });
}

const ZSTD_UNSUPPORTED = (m) => /unsupported/i.test(m) && /zstd/i.test(m);

function checkWsResult(fixture, compression, r, label = `${fixture.name} --compression ${compression}`) {
  const p = [];
  const w = r.wire;
  const e = fixture.expect;
  p.push(...w.problems.map((x) => `wire: ${x}`));
  if (w.schema !== 1) p.push(`wire: ${w.schema} schema messages`);
  if (w.eos !== 1) p.push(`wire: ${w.eos} end-of-stream markers`);
  for (const k of ['recordBatches', 'dictionaryBatches', 'deltas', 'replacements']) {
    if (e[k] !== undefined && w[k] !== e[k]) p.push(`wire: ${w[k]} ${k}, expected ${e[k]} (the fixture no longer covers what it should)`);
  }
  const wantCodec = { none: 'none', lz4: 'LZ4_FRAME', zstd: 'ZSTD' }[compression];
  for (const [codec, n] of Object.entries(w.codecs)) {
    if (codec !== wantCodec) p.push(`wire: ${n} batches with codec ${codec}, expected ${wantCodec} for --compression ${compression}`);
  }
  if (!r.rawClose.wasClean) p.push(`the server did not close the WebSocket cleanly (code ${r.rawClose.code})`);
  if (r.rawClose.texts) p.push(`the server sent ${r.rawClose.texts} text messages`);
  let note = '';
  if (r.lsError) {
    if (compression === 'zstd' && r.lsError.isError && r.lsError.name === 'Error' && ZSTD_UNSUPPORTED(r.lsError.message)) {
      note = `ZSTD unsupported in this wasm build, rejected with: ${r.lsError.message}`;
    } else {
      p.push(`lightstream failed: ${r.lsError.name}: ${r.lsError.message}${r.lsError.at ? ` ${r.lsError.at}` : ''}`);
    }
  } else {
    p.push(...r.mismatches);
    p.push(...r.problems.map((x) => `lightstream API: ${x}`));
    if (r.tables !== w.recordBatches) p.push(`lightstream gave ${r.tables} tables for ${w.recordBatches} record batches`);
    if (r.rows !== fixture.rows) p.push(`lightstream gave ${r.rows} rows, the fixture has ${fixture.rows}`);
    const c = r.counters;
    if (c.tablesRead !== r.tables) p.push(`tablesRead ${c.tablesRead}, tables iterated ${r.tables}`);
    if (c.rowsRead !== r.rows) p.push(`rowsRead ${c.rowsRead}, rows iterated ${r.rows}`);
    if (c.bytesRead !== w.bytes) p.push(`bytesRead ${c.bytesRead}, WebSocket payload bytes ${w.bytes}`);
    if (r.fieldsCompared !== fixture.columns) p.push(`compared ${r.fieldsCompared} schema fields of ${fixture.columns}`);
    if (fixture.rows > 0 && r.valuesCompared === 0) p.push('no values compared');
    if (fixture.rows > 0 && r.ipcValuesCompared !== r.valuesCompared) p.push(`toIPC() round trip compared ${r.ipcValuesCompared} values of ${r.valuesCompared}`);
    // keepIpc: every table handed on as the bytes received, read back equal.
    if (fixture.rows > 0 && r.referenceFrom === 'same bytes' && r.wireValuesCompared !== r.valuesCompared) {
      p.push(`keepIpc toIPC() compared ${r.wireValuesCompared} values of ${r.valuesCompared}`);
    }
    // Wire views: an uncompressed stream of `serve` (64-byte aligned)
    // reaches the page as views of the received messages, no buffer copied.
    const v = r.wireViews ?? { viewed: 0, copied: 0 };
    if (compression === 'none' && fixture.rows > 0 && (v.viewed === 0 || v.copied !== 0)) {
      p.push(`${v.viewed} column buffers are wire views and ${v.copied} copies: expected views only`);
    }
    note = `${r.tables} tables, ${r.valuesCompared} values (+${r.ipcValuesCompared} via toIPC, +${r.wireValuesCompared} via keepIpc wire bytes in ${r.wireTables ?? 0} tables); buffers: ${v.viewed} wire views, ${v.copied} copies`;
    if (r.referenceFrom !== 'same bytes') note += `; reference: ${r.referenceFrom}`;
  }
  note += `; wire: ${w.messages} msgs, ${w.dictionaryBatches} dict (${w.deltas} delta, ${w.replacements} repl)`;
  record('ws', label, p, {
    values: r.lsError ? 0 : r.valuesCompared,
    ipcValues: r.lsError ? 0 : r.ipcValuesCompared,
    wireValues: r.lsError ? 0 : r.wireValuesCompared,
    tables: r.tables,
    note,
  });
}

function checkHttpResult(label, r, { expectZstd = false, isStream, wire }) {
  const p = [];
  if (wire) {
    // What pyarrow wrote: the decoders must have had deltas and replacements to apply.
    for (const [k, min] of Object.entries(wire)) {
      if (!(r.wire?.[k] >= min)) p.push(`the fixture bytes hold ${r.wire?.[k]} ${k}, expected at least ${min}`);
    }
  }
  const modes = Object.entries(r.modes);
  if (modes.length !== (isStream ? 6 : 3)) p.push(`ran ${modes.length} modes`);
  const notes = [];
  for (const [mode, m] of modes) {
    if (m.ok) {
      notes.push(`${mode}: ${m.values}`);
      continue;
    }
    if (expectZstd && m.error.isError && m.error.name === 'Error' && ZSTD_UNSUPPORTED(m.error.message)) {
      notes.push(`${mode}: ZSTD unsupported`);
      continue;
    }
    p.push(`${mode} failed: ${m.error.name}: ${m.error.message}${m.error.at ? ` ${m.error.at}` : ''}`);
  }
  p.push(...r.mismatches);
  p.push(...r.problems.map((x) => `lightstream API: ${x}`));
  if (r.wire) notes.push(`${r.wire.dictionaryBatches} dict (${r.wire.deltas} delta, ${r.wire.replacements} repl)`);
  if (r.conversionsCompared) notes.push(`${r.conversionsCompared} useDate/useBigInt values`);
  record('http', label, p, { values: r.valuesCompared, tables: r.tables, note: notes.join(', ') });
}

function checkFault(mode, r, expected) {
  const p = faultProblems(r, expected);
  const err = r.connectError ?? r.iterError;
  record('fault', mode, p, { note: err ? `${r.connectError ? 'connect' : 'next'}: ${err.message}` : 'no error' });
}

// ----------------------------------------------------------------- main --

async function main(driver) {
  t = driver;
  const { session, log } = t;
  const debug = session.debug;
  session.requirePageModules();
  const pkg = npmPackage();
  const bin = session.lightstreamBinary({ buildTimeoutMs: BUILD_TIMEOUT_MS });

  // From here on everything is bounded by the test deadline.
  t.startWatchdog();

  const made = session.makeFixtures();
  const fx = { dir: made.dir, cases: Object.values(made.cases) };
  log(`package ${pkg.tarball}, binary ${bin}, pyarrow ${made.pyarrow}, ${fx.cases.length} fixtures`);

  const page_ = (f) => path.join(here, f);
  const base = await session.startHttpServer(
    {
      '/': page_('e2e.html'),
      '/e2e.html': page_('e2e.html'),
      '/e2e-page.js': page_('e2e-page.js'),
      '/lz4.js': page_('lz4.js'),
    },
    {
      '/lightstream/': [pkg.dir, null],
      '/arrow/': [path.join(nodeModules, 'apache-arrow'), null],
      '/node_modules/': [nodeModules, ['flatbuffers', 'tslib', 'json-with-bigint']],
      '/fixtures/': [fx.dir, null],
    },
  );
  debug('http', base);

  // One server per fixture and compression, started together. The pages come
  // from another port of 127.0.0.1: another origin, which the servers must
  // allow (by default they let in only pages of their own origin).
  const allow = ['--allow-origin', base];
  const servers = {};
  await Promise.all(
    fx.cases.flatMap((c) =>
      COMPRESSIONS.map(async (comp) => {
        servers[`${c.name}/${comp}`] = await session.startServe(bin, path.join(fx.dir, c.file), ['--compression', comp, ...allow]);
      }),
    ),
  );
  // And one over TLS (wss://, a self-signed certificate for 127.0.0.1).
  const allTypes = fx.cases.find((c) => c.name === 'all_types');
  servers['all_types/wss'] = await session.startServe(bin, path.join(fx.dir, allTypes.file), ['--compression', 'lz4', ...allow], 'wss');
  log(`started ${Object.keys(servers).length} lightstream serve processes`);

  // The fault server replays a real pyarrow stream (with deltas and replacements).
  const faultBytes = fs.readFileSync(path.join(fx.dir, 'dictionaries.arrows'));
  const messages = splitIpcStream(faultBytes, (fb) => Number(Message.decode(fb).bodyLength));
  const kinds = messages.map((m) => (m.length === 8 ? 'eos' : Message.decode(m.subarray(8, 8 + m.readInt32LE(4)))));
  const batchIdx = kinds.flatMap((k, i) => (k !== 'eos' && k.isRecordBatch() ? [i] : []));
  const cutAfter = batchIdx[1] + 1; // schema, dictionaries and two record batches
  const fault = await startFaultServer({ messages, cutAfter, log: debug });
  session.onCleanup(() => fault.close());
  // pyarrow's own all_types stream (8-byte aligned buffers), replayed as
  // written: each buffer is aligned for its type, so the core keeps every
  // body as it came and its numbers are wire views too.
  const pyBytes = fs.readFileSync(path.join(fx.dir, allTypes.file));
  const pyFault = await startFaultServer({
    messages: splitIpcStream(pyBytes, (fb) => Number(Message.decode(fb).bodyLength)),
    cutAfter: 1,
    log: debug,
  });
  session.onCleanup(() => pyFault.close());

  // The wss:// check's server uses the self-signed certificate `serve` makes
  // without --cert/--key; this browser profile is throwaway and only ever
  // talks to 127.0.0.1.
  const browser = await session.launchChromium(['--ignore-certificate-errors']);
  const pageErrors = [];
  const consoleErrors = [];
  const { ev } = await session.openTestPage(browser, `${base}/e2e.html`, { pageErrors, consoleErrors });
  // A check whose page function threw (a bug of its own) fails, and the run goes on.
  const guarded = (group, label, fn) => t.guarded(`${group} ${label}`, fn);

  // 1. WebSocket: every fixture with every compression.
  for (const c of fx.cases) {
    for (const comp of COMPRESSIONS) {
      const url = servers[`${c.name}/${comp}`].url;
      const fallbackUrl = comp === 'zstd' ? servers[`${c.name}/none`].url : null;
      await guarded('ws', `${c.name} --compression ${comp}`, async () => {
        const r = await ev('wsCase', { url, label: `${c.name}/${comp}`, fallbackUrl });
        checkWsResult(c, comp, r);
      });
    }
  }

  // 1b. The same over TLS: Chromium's own TLS stack as the client of `serve wss://`.
  await guarded('ws', 'all_types over wss:// (TLS)', async () => {
    const url = servers['all_types/wss'].url;
    if (!url.startsWith('wss://')) throw new Error(`not a wss:// URL: ${url}`);
    const r = await ev('wsCase', { url, label: 'all_types/wss', fallbackUrl: null });
    checkWsResult(allTypes, 'lz4', r, `all_types over ${url} (TLS) --compression lz4`);
  });

  // 2. HTTP: decode(bytes) and readStream of the pyarrow-written bytes.
  const httpCases = [
    ...fx.cases.map((c) => ({
      file: c.file,
      label: c.name,
      wire: c.name === 'dictionaries' ? { deltas: 1, replacements: 1 } : null,
    })),
    { file: 'all_types.lz4.arrows', label: 'all_types (pyarrow LZ4_FRAME)' },
    { file: 'all_types.zstd.arrows', label: 'all_types (pyarrow ZSTD)', expectZstd: true, fallback: 'all_types.arrows' },
    { file: 'all_types.file.arrow', label: 'all_types (IPC file)', isStream: false },
    { file: 'dictionaries.arrows', label: 'dictionaries (readStream 1-byte chunks)', chunkSizes: [1] },
  ];
  for (const h of httpCases) {
    const isStream = h.isStream ?? true;
    await guarded('http', h.label, async () => {
      const r = await ev('httpCase', {
        url: `${base}/fixtures/${h.file}`,
        label: h.label,
        isStream,
        fallbackUrl: h.fallback ? `${base}/fixtures/${h.fallback}` : null,
        ...(h.chunkSizes ? { chunkSizes: h.chunkSizes } : {}),
      });
      checkHttpResult(h.label, r, { expectZstd: h.expectZstd, isStream, wire: h.wire });
    });
  }

  // 3. Stopping early.
  await guarded('api', 'break and close() mid-stream', async () => {
    const r = await ev('earlyStop', { url: servers['big/none'].url });
    const p = [];
    if (r.breakTables !== 1) p.push(`break after ${r.breakTables} tables`);
    if (r.afterBreak !== true) p.push('next() after break is not done');
    if (r.afterClose !== true) p.push('next() after close() is not done');
    record('api', 'break and close() mid-stream', p);
  });

  // 4. Faults, each followed by a good connect on the same page.
  const good = fx.cases.find((c) => c.name === 'all_types');
  const goodUrl = servers['all_types/none'].url;
  const checkGood = async (after) => {
    const p = [];
    try {
      const r = await ev('goodConnect', { url: goodUrl });
      if (r.tables !== good.batches || r.rows !== good.rows) p.push(`got ${r.tables} tables / ${r.rows} rows, expected ${good.batches} / ${good.rows}`);
    } catch (e) {
      p.push(`failed: ${e.message}`);
    }
    record('fault', `  then a good connect works (after ${after})`, p);
  };
  for (const mode of FAULT_MODES) {
    await guarded('fault', mode, async () => {
      const r = await ev('faultCase', { url: fault.url(mode) });
      checkFault(mode, r, FAULT_EXPECTATIONS[mode]);
    });
    await checkGood(mode);
  }
  {
    // The fault server's control case: its whole stream decodes.
    const dict = fx.cases.find((c) => c.name === 'dictionaries');
    const p = [];
    try {
      const r = await ev('goodConnect', { url: fault.url('good') });
      if (r.tables !== dict.batches || r.rows !== dict.rows) p.push(`got ${r.tables} tables / ${r.rows} rows, expected ${dict.batches} / ${dict.rows}`);
    } catch (e) {
      p.push(`failed: ${e.message}`);
    }
    record('fault', 'control: the fault server replaying the whole stream', p);
  }

  // pyarrow's 8-byte aligned stream as pyarrow wrote it: kept as it came in
  // wasm (every buffer is aligned for its type), so numbers, offsets and
  // string bytes are wire views (bitmaps are always copied), values as
  // Apache Arrow JS reads them.
  await guarded('ws', 'all_types as pyarrow wrote it (8-byte aligned): viewed in place', async () => {
    const r = await ev('wsCase', { url: pyFault.url('good'), label: 'all_types/pyarrow' });
    const p = [...r.mismatches, ...r.problems];
    if (r.lsError) p.push(`lightstream failed: ${r.lsError.message}`);
    if (r.rows !== allTypes.rows) p.push(`${r.rows} rows, the fixture has ${allTypes.rows}`);
    if (r.valuesCompared === 0) p.push('no values compared');
    const v = r.wireViews ?? { viewed: 0, copied: 0 };
    if (v.viewed === 0) p.push(`${v.viewed} buffers viewed, ${v.copied} copied: expected wire views`);
    record('ws', `all_types as pyarrow wrote it (8-byte aligned): ${r.valuesCompared} values, ${v.viewed} buffers viewed, ${v.copied} copied`, p);
  });

  record('page', 'no uncaught errors in the page', pageErrors);
  if (session.stopping) return;

  // Summary (runDriver prints the failed checks and the closing line after it).
  const results = t.results;
  const values = results.reduce((n, r) => n + (r.values ?? 0), 0);
  const ipcValues = results.reduce((n, r) => n + (r.ipcValues ?? 0), 0);
  const wireValues = results.reduce((n, r) => n + (r.wireValues ?? 0), 0);
  const tables = results.reduce((n, r) => n + (r.tables ?? 0), 0);
  const byGroup = {};
  for (const r of results) {
    // A check that threw (guarded) has no group of its own: its label's first word.
    const g = (byGroup[r.group ?? r.label.split(' ')[0]] ??= { passed: 0, failed: 0, values: 0 });
    r.ok ? g.passed++ : g.failed++;
    g.values += r.values ?? 0;
  }
  console.log('\nsummary:');
  for (const [g, s] of Object.entries(byGroup)) {
    console.log(`  ${g.padEnd(6)} ${s.passed} passed, ${s.failed} failed, ${s.values} values compared`);
  }
  console.log(`  ${values} Lightstream values compared with apache-arrow's, in ${tables} tables`);
  console.log(`  ${ipcValues} more through Table.toIPC() (apache-arrow's decode of Lightstream's re-encoding)`);
  console.log(`  ${wireValues} more through keepIpc tables' toIPC() (the bytes as received, handed on)`);
  console.log(`  ${consoleErrors.length} console errors in the page`);
}

await runDriver({ name: 'e2e', timeoutMs: TEST_TIMEOUT_MS, verbose: env.LIGHTSTREAM_E2E_VERBOSE === '1' }, main);
