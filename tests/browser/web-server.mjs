// The answers of tests/browser/web.mjs that our servers never give on
// purpose, added to the harness's static server (the test page's own
// origin): `lightstream serve http://` and `examples/axum.rs` always answer
// an Arrow stream or a refusal, and end every stream whole unless their
// source fails, which a test cannot ask of them. `seen` records the headers
// of each request, for the driver's check of what `openStream` sends.
//
//   GET /cut/NAME.arrows  200 Arrow, the stream NAME's first half, then the
//                         connection is destroyed (the way hyper aborts a body
//                         that failed: no terminating chunk)
//   GET /page.txt         200 text/plain (not an Arrow stream)

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

/** `handle` for the harness's `startHttpServer`. */
export function faultRoutes({ streams }) {
  const seen = [];

  async function writeBody(res, body) {
    for (let at = 0; at < body.length; at += 65536) {
      if (!res.write(body.subarray(at, at + 65536))) await new Promise((r) => res.once('drain', r));
      if (res.destroyed) return;
    }
  }

  function handle(req, res) {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/page.txt') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('not an arrow stream\n');
      return true;
    }
    const m = /^\/cut\/(\w+)\.arrows$/.exec(path);
    if (!m) return false;
    seen.push({ path, authorization: req.headers.authorization ?? null, accept: req.headers.accept ?? null });
    const bytes = streams[m[1]]?.bytes;
    if (!bytes) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`no stream ${m[1]}\n`);
      return true;
    }
    res.writeHead(200, { 'content-type': ARROW_STREAM, 'cache-control': 'no-store' });
    writeBody(res, bytes.subarray(0, bytes.length >> 1)).then(() => setTimeout(() => res.destroy(), 100));
    return true;
  }

  return { handle, seen };
}
