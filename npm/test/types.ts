// Compiled by `tsc --noEmit --strict` (npm test): uses every name index.d.ts
// and csv.d.ts declare, the way the README does, so a declaration that stops matching
// its documented use fails the build. Never run.
import init, {
  init as initNamed, connect, decode, readStream, openStream, HttpError, ARROW_STREAM_TYPE,
  StreamDecoder, Table, Column,
  type ErrorKind, type LightstreamError, type OpenStreamOptions,
  type InitInput, type Field, type ConnectOptions, type DecodeOptions, type TableStream,
  type ArrayOptions, type NumericArray,
} from '../index.js';
import initCsv, { init as initCsvNamed, decodeCsv, CsvDecoder, type CsvOptions } from '../csv.js';

export async function useEverything(url: string, bytes: Uint8Array, body: ReadableStream<Uint8Array>) {
  const input: InitInput = new URL('./pkg/lightstream_wasm_bg.wasm', import.meta.url);
  await init(input);
  await initNamed();
  await initCsv(input);
  await initCsvNamed();
  const options: ConnectOptions = { maxMessageBytes: 1 << 20, timeoutMs: 1000, maxBufferedBytes: 1 << 24, token: 'abc' };
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
