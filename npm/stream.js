// `TableStream`: the async-iterable stream of tables every streaming API of
// the package returns (connect, readStream, openStream). It wraps a
// "source": any object with
//   next(): Promise<{done: true} | {done: false, value: parts}>
//   close(): void
//   schema (fields or null), metadata, tablesRead, rowsRead, bytesRead,
//   skipped (optional: the columns skipUnsupported left out)
// (the wasm stream wrapped by index.js, or a Worker-backed one) and turns
// each parts object into a page-owned `Table` (npm/table.js).
import { Table, collectTables, conversions } from './table.js';

const hasDispose = typeof Symbol.dispose === 'symbol';
const hasAsyncDispose = typeof Symbol.asyncDispose === 'symbol';

export class TableStream {
  #source;
  #defaults;

  /** `source` as above; `options`: the tables' default `useDate` / `useBigInt`. */
  constructor(source, options) {
    this.#source = source;
    this.#defaults = conversions(options, 'TableStream');
  }

  /** The source this stream reads (for wrappers such as a reconnecting one). */
  get source() { return this.#source; }
  /** The default conversions of this stream's tables. */
  get conversions() { return { ...this.#defaults }; }

  get schema() { return this.#source.schema ?? null; }
  /** The columns `skipUnsupported` left out (`[{name, type}]`). */
  get skipped() { return this.#source.skipped ?? []; }
  get metadata() { return this.#source.metadata ?? {}; }
  get tablesRead() { return this.#source.tablesRead ?? 0; }
  get rowsRead() { return this.#source.rowsRead ?? 0; }
  get bytesRead() { return this.#source.bytesRead ?? 0; }

  /** The next table, or `{done: true}` after the end-of-stream marker. */
  async next() {
    const r = await this.#source.next();
    if (r.done) return { done: true, value: undefined };
    return { done: false, value: Table.fromParts(r.value, this.#defaults) };
  }

  /** Closes the stream (what `break` in `for await` calls). */
  return() {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Closes the connection or cancels the readable; idempotent. */
  close() {
    this.#source.close();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Reads the stream to its end: one table of every batch (see `collectTables`). */
  collect() {
    return collectTables(this, this.#defaults);
  }
}

if (hasDispose) TableStream.prototype[Symbol.dispose] = TableStream.prototype.close;
if (hasAsyncDispose) {
  TableStream.prototype[Symbol.asyncDispose] = function () {
    this.close();
    return Promise.resolve();
  };
}
