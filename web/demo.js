// The Lightstream demo page: connects to a WebSocket that streams Arrow tables
// (`lightstream demo` serves one at /stream, next to this page), decodes them
// with the `lightstream-arrow` npm package (WebAssembly) and shows the schema, the
// newest rows and the throughput, live.
//
// Rendering is throttled to animation frames: tables are counted as they
// arrive, but rows for the preview are taken (Column.get on the last rows of a
// table) only when a frame is due, so a fast stream never floods the DOM.
// Every table is freed as soon as it has been looked at.

const PREVIEW_ROWS = 50;
const RATE_WINDOW_MS = 1000;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const url = params.get('ws') || `ws://${location.host}/stream`;

let lightstream = null; // the npm package, once loaded
let stream = null; // the open TableStream
let closedByUser = false;
let connectedAt = 0;
let totals = { rows: 0, tables: 0, bytes: 0 };
let samples = []; // { t, rows, bytes } per table, for the rolling rates
let fields = []; // the schema's fields
let preview = []; // newest first: arrays of cell values
let previewCells = []; // the <td>s of the preview, row by row
let framePending = false;

// ------------------------------------------------------------------ status --

function setStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
  document.body.dataset.state = state;
}

function message(e) {
  return e instanceof Error ? e.message : String(e);
}

function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = false;
}

function clearError() {
  const el = $('error');
  el.textContent = '';
  el.hidden = true;
}

function setButton(label, enabled = true) {
  const b = $('toggle');
  b.textContent = label;
  b.disabled = !enabled;
}

// ------------------------------------------------------------------ schema --

function renderSchema(schema) {
  fields = schema ?? [];
  const body = $('schema').tBodies[0];
  body.replaceChildren();
  for (const f of fields) {
    const tr = body.insertRow();
    tr.insertCell().textContent = f.name;
    tr.insertCell().textContent = f.type;
    tr.insertCell().textContent = f.nullable ? 'yes' : 'no';
  }

  // The preview grid: one header cell per field, PREVIEW_ROWS rows made once
  // and then only refilled.
  const table = $('preview');
  const head = table.tHead.rows[0];
  head.replaceChildren();
  for (const f of fields) {
    const th = document.createElement('th');
    th.textContent = f.name;
    head.appendChild(th);
  }
  const rows = table.tBodies[0];
  rows.replaceChildren();
  previewCells = [];
  for (let r = 0; r < PREVIEW_ROWS; r++) {
    const tr = rows.insertRow();
    tr.hidden = true;
    previewCells.push(fields.map(() => tr.insertCell()));
  }
}

// ---------------------------------------------------------------- formatting --

const TIME_UNITS = { Second: 1e3, Millisecond: 1, Microsecond: 1e-3, Nanosecond: 1e-6 };

function isNumeric(type) {
  return /^(U?Int\d+|Float\d+|Decimal)/.test(type);
}

function format(value, type) {
  if (value === null || value === undefined) return null;
  if (type.startsWith('Timestamp(')) {
    const unit = type.slice('Timestamp('.length).split(/[,)]/)[0].trim();
    const ms = Number(value) * (TIME_UNITS[unit] ?? 1);
    const date = new Date(ms);
    return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace('T', ' ').replace('Z', '');
  }
  if (typeof value === 'number' && type.startsWith('Float')) {
    return Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(4);
  }
  return String(value);
}

// ----------------------------------------------------------------- tables --

/** Takes the newest rows of `table` for the preview (newest first). */
function takePreview(table) {
  const n = table.numRows;
  const k = Math.min(PREVIEW_ROWS, n);
  const columns = table.columns();
  try {
    const rows = [];
    for (let i = n - 1; i >= n - k; i--) {
      rows.push(columns.map((c, j) => format(c.get(i), fields[j]?.type ?? '')));
    }
    preview = rows.concat(preview).slice(0, PREVIEW_ROWS);
  } finally {
    for (const c of columns) c.free();
  }
}

function onTable(table) {
  totals.tables += 1;
  totals.rows += table.numRows;
  const bytes = Number(stream.bytesRead ?? totals.bytes);
  samples.push({ t: performance.now(), rows: table.numRows, bytes: bytes - totals.bytes });
  totals.bytes = bytes;
  if (!framePending) {
    takePreview(table);
    scheduleRender();
  }
}

// ----------------------------------------------------------------- render --

function scheduleRender() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(render);
}

function setStat(id, value, text) {
  const el = $(id);
  el.dataset.value = String(value);
  el.textContent = text;
}

function render() {
  framePending = false;
  const now = performance.now();
  while (samples.length > 0 && samples[0].t < now - RATE_WINDOW_MS) samples.shift();
  let rows = 0;
  let bytes = 0;
  for (const s of samples) {
    rows += s.rows;
    bytes += s.bytes;
  }
  // A connection younger than the window is measured over its own age.
  const span = stream ? Math.max(1, Math.min(RATE_WINDOW_MS, now - connectedAt)) : RATE_WINDOW_MS;
  const rowsPerSec = (rows * 1000) / span;
  const mbPerSec = (bytes * 1000) / span / 1e6;

  setStat('rows', totals.rows, totals.rows.toLocaleString('en-US'));
  setStat('tables', totals.tables, totals.tables.toLocaleString('en-US'));
  setStat('mb', totals.bytes / 1e6, (totals.bytes / 1e6).toFixed(2));
  setStat('mbps', mbPerSec, mbPerSec.toFixed(2));
  setStat('rowsps', Math.round(rowsPerSec), Math.round(rowsPerSec).toLocaleString('en-US'));

  for (let r = 0; r < previewCells.length; r++) {
    const cells = previewCells[r];
    const row = preview[r];
    const tr = cells[0]?.parentElement;
    if (!tr) continue;
    tr.hidden = row === undefined;
    if (row === undefined) continue;
    for (let j = 0; j < cells.length; j++) {
      const td = cells[j];
      const text = row[j];
      const type = fields[j]?.type ?? '';
      td.textContent = text === null ? 'null' : text;
      td.className = text === null ? 'null' : isNumeric(type) ? 'num' : '';
      if (fields[j]?.name === 'buy' && text !== null) td.className = text === 'true' ? 'buy' : 'sell';
    }
  }
}

// ------------------------------------------------------------- connection --

async function run() {
  clearError();
  closedByUser = false;
  totals = { rows: 0, tables: 0, bytes: 0 };
  samples = [];
  preview = [];
  setStatus('connecting', 'connecting');
  setButton('Disconnect', false);
  try {
    stream = await lightstream.connect(url);
  } catch (e) {
    stream = null;
    setStatus('error', 'not connected');
    showError(`Could not connect to ${url}: ${message(e)}`);
    setButton('Reconnect');
    return;
  }
  connectedAt = performance.now();
  renderSchema(stream.schema);
  setStatus('connected', 'connected');
  setButton('Disconnect');
  scheduleRender();
  try {
    for await (const table of stream) {
      try {
        onTable(table);
      } finally {
        table.free();
      }
    }
    setStatus('closed', closedByUser ? 'disconnected' : 'stream ended');
  } catch (e) {
    if (closedByUser) {
      setStatus('closed', 'disconnected');
    } else {
      setStatus('error', 'connection lost');
      showError(`The stream from ${url} failed: ${message(e)}`);
    }
  } finally {
    stream = null;
    setButton('Reconnect');
    scheduleRender();
  }
}

function toggle() {
  if (stream) {
    closedByUser = true;
    setButton('Disconnect', false);
    stream.close();
  } else {
    run();
  }
}

async function main() {
  $('url').textContent = url;
  $('toggle').addEventListener('click', toggle);
  // Rates decay to zero when the stream pauses.
  setInterval(scheduleRender, 250);
  try {
    lightstream = await import('/npm/index.js');
    await lightstream.init();
  } catch (e) {
    setStatus('error', 'not loaded');
    showError(
      `Could not load the lightstream package from /npm/ (${message(e)}).\n` +
        'Build it with `bash npm/build.sh` and reload.',
    );
    return;
  }
  if (typeof lightstream.connect !== 'function') {
    setStatus('error', 'not loaded');
    showError('This build of the lightstream package has no connect(): rebuild it with `bash npm/build.sh`.');
    return;
  }
  run();
}

main();
