// The package as tests/browser/worker.mjs gives it to e2e-page.js: the same
// exports, with `connect`, `openStream` and `readStream` defaulting to
// `{ worker: true }`, so that every e2e case runs through the Worker path
// unchanged. It also counts the Workers the page starts and keeps a timer
// ticking, which the driver reads to see that the page stayed responsive.
import * as ls from 'lightstream-arrow/real';

export * from 'lightstream-arrow/real';
export default ls.default;

const withWorker = (options) => ({ worker: true, ...(options ?? {}) });
export const connect = (url, options) => ls.connect(url, withWorker(options));
export const openStream = (url, options) => ls.openStream(url, withWorker(options));
export const readStream = (readable, options) => ls.readStream(readable, withWorker(options));

window.workerProbe = { workers: 0, ticks: 0 };
const NativeWorker = window.Worker;
window.Worker = class extends NativeWorker {
  constructor(...args) {
    super(...args);
    window.workerProbe.workers += 1;
  }
};
setInterval(() => {
  window.workerProbe.ticks += 1;
}, 5);
