// Compiled by `tsc --noEmit --strict` (npm test): uses every name index.d.ts
// and csv.d.ts declare, the way the README does, so a declaration that stops matching
// its documented use fails the build. Never run.
import init, {
  init as initNamed, connect, decode, readStream, openStream, HttpError, ARROW_STREAM_TYPE,
  StreamDecoder, Table, Column,
  type ErrorKind, type LightstreamError, type OpenStreamOptions,
  type InitInput, type Field, type ConnectOptions, type DecodeOptions, type TableStream,
  type ArrayOptions, type NumericArray,
  transferList, collectTables, type Parts, type Conversions, type RowOptions,
} from '../index.js';
import initCsv, { init as initCsvNamed, decodeCsv, CsvDecoder, type CsvOptions } from '../csv.js';

export async function useEverything(url: string, bytes: Uint8Array, body: ReadableStream<Uint8Array>) {
  const input: InitInput = new URL('./pkg/lightstream_wasm_bg.wasm', import.meta.url);
  await init(input);
  await initNamed();
  await initCsv(input);
  await initCsvNamed();
  const options: ConnectOptions = { maxMessageBytes: 1 << 20, timeoutMs: 1000, maxBufferedBytes: 1 << 24, token: 'abc', keepIpc: true };
  const withCtor: ConnectOptions = { WebSocket };
  await connect(url, withCtor);
  async function* chunks() { yield new Uint8Array(8); yield new ArrayBuffer(8); }
  readStream(chunks()).close();
  const open: OpenStreamOptions = { token: 'abc', signal: new AbortController().signal, headers: { 'x-a': 'b' }, checkContentType: true, codecs: ['lz4'] };
  try {
    for await (const t of await openStream(new URL(url), open)) t.free();
  } catch (e) {
    if (e instanceof HttpError) {
      const why: [number, string, string | null, string, 'Http' | 'ContentType' | 'Truncated'] = [e.status, e.statusText, e.contentType, e.detail, e.kind];
      void why;
    }
    const kind: ErrorKind = (e as LightstreamError).kind;
    void [kind, ARROW_STREAM_TYPE satisfies string];
  }
  const stream: TableStream = await connect(url, options);
  const fields: Field[] | null = stream.schema;
  for await (const table of stream) {
    const t: Table = table;
    const c: Column = t.column(0);
    const view: NumericArray | (string | null)[] | (boolean | null)[] | (bigint | null)[] =
      c.toArray({ copy: true } satisfies ArrayOptions);
    const ipc: Uint8Array = t.toIPC();
    void [view, ipc, c.get(0), c.isValid(0), t.toRows(1), t.columns(), fields];
    t.free();
  }
  const limits: DecodeOptions = { maxMessageBytes: 1024 };
  const tables: Table[] = decode(bytes, limits).concat(decode(bytes.buffer as ArrayBuffer));
  for await (const t of readStream(body, limits)) t.free();
  const dec = new StreamDecoder(1 << 20);
  const compact = new StreamDecoder({ maxMessageBytes: 1 << 20, compactDictionaries: true });
  const pushed: Table[] = dec.push(bytes).concat(compact.push(bytes), decode(bytes, { compactDictionaries: true }));
  dec.finish();
  const csv: CsvOptions = { delimiter: ';', header: true, badRows: 'null' };
  const fromCsv: Table[] = decodeCsv('a;b\n1;2\n', csv);
  const csvDecoder = new CsvDecoder(csv);
  const more: Table[] = csvDecoder.push('a;b\n').concat(csvDecoder.finish(), csvDecoder.takeTables());
  return [tables, pushed, fromCsv, more, dec.schema, csvDecoder.skippedRows];
}

// Tables the page owns (issue 19): a static schema narrows column types.
type Trades = { id: 'Int32'; sym: 'Dictionary'; px: 'Float64'; qty: 'Int64'; ts: 'Timestamp'; ok: 'Boolean' };
export async function useOwnedTables(url: string, bytes: Uint8Array, body: ReadableStream<Uint8Array>) {
  const [t] = decode<Trades>(bytes, { useDate: true });
  const ids: Int32Array = t.column('id').toArray();
  const syms: (string | null)[] = t.column('sym').toArray();
  const qty: BigInt64Array = t.column('qty').toArray();
  const qtyNum: Float64Array = t.column('qty').toArray({ useBigInt: false });
  const when: (Date | null)[] = t.column('ts').toArray({ useDate: true });
  const whenMs: Float64Array = t.column('ts').toArray({ useDate: 'ms' });
  const first: Date | null = t.column('ts').get(0, { useDate: true });
  const px: number | null = t.column('px').get(0);
  const flags: (boolean | null)[] = t.column('ok').toArray({ copy: true });
  const keys = t.column('sym').keys();
  const row = t.at(0);
  const n: number | null | undefined = row?.qty;
  const rows: { id: number | null }[] = t.toRows({ limit: 2 });
  const big: (bigint | null)[] = t.toRows({ useBigInt: true }).map((r) => r.qty);
  const part: Table<Pick<Trades, 'id' | 'px'>> = t.slice(1, 3).select(['id', 'px']);
  const all: Table<Trades> = Table.concat(t, t).concat(t);
  for (const r of all) void r.sym;
  const parts: Parts[] = all.toParts();
  const again: Table = Table.fromParts(parts[0], { useBigInt: false });
  const moved: ArrayBuffer[] = transferList(parts);
  const stream: TableStream<Trades> = await connect<Trades>(url, { useBigInt: false });
  const collected: Table<Trades> = await stream.collect();
  const viaCollect: Table<Trades> = await collectTables(readStream<Trades>(body));
  stream[Symbol.dispose]();
  const conv: Conversions = { useDate: 'ms', useBigInt: false };
  const opts: RowOptions = { limit: 1, ...conv };
  const untyped: NumericArray | (string | null)[] | (boolean | null)[] | (bigint | null)[] | null[] | (Date | null)[] | (number | null)[] =
    again.column(0).toArray();
  return [ids, syms, qty, qtyNum, when, whenMs, first, px, flags, keys, n, rows, big, part, moved, collected, viaCollect, opts, untyped, t.numBatches, t.hasWireBytes];
}

// The Worker path, AbortSignal and reconnect (issue 19).
import {
  connect as connectW, openStream as openStreamW, readStream as readStreamW,
  type WorkerOptions, type ReconnectOptions, type ResumeEvent, type ReadStreamOptions,
} from '../index.js';

export async function useWorkerOptions(url: string, body: ReadableStream<Uint8Array>) {
  const controller = new AbortController();
  const where: WorkerOptions = { worker: true, workerUrl: new URL('./worker.js', import.meta.url), prefetch: 4 };
  const backoff: ReconnectOptions = { retries: 5, initialDelayMs: 250, maxDelayMs: 10_000 };
  const stream = await connectW(url, {
    ...where, signal: controller.signal, reconnect: backoff,
    onResume: (e: ResumeEvent) => void [e.reconnects, e.attempts, e.error.kind],
  });
  const n: number = stream.reconnects;
  await connectW(url, { reconnect: true });
  const read: ReadStreamOptions = { worker: true, signal: controller.signal, maxMessageBytes: 1 << 20 };
  void [n, readStreamW(body, read), await openStreamW(url, { ...where, signal: controller.signal })];
}
