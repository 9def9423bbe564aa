// The server side of tests/browser/web.mjs when no Lightstream web server is
// given: routes added to the harness's static server (so the test page and
// the streams share one origin, as in an axum app serving its own page), with
// the policy docs/web-server.md gives `lightstream::http::Access` by default:
// a request WITH an `Origin` must come from `http://<Host>`, one without is
// allowed; a bearer token (`Authorization: Bearer` on HTTP, the subprotocol
// `lightstream.token.<token>` on WebSocket, compared in constant time); the
// subprotocol `lightstream.arrow.v1` required on WebSocket and answered alone.
//
//   GET /streams/NAME.arrows  the stream NAME (Content-Type application/vnd.apache.arrow.stream),
//                             written in 64 KiB chunks as the socket drains
//   GET /cut/NAME.arrows      its first half, then the connection is destroyed (the
//                             way hyper aborts a body that failed: no terminating chunk)
//   GET /page.txt             200 text/plain (not an Arrow stream)
//   WS  /feed/NAME            the stream's IPC messages, one binary message each, then Close
//
// Refusals: 403 (Origin), 401 with `WWW-Authenticate: Bearer` (missing or
// wrong token), 400 (WebSocket without the subprotocol). `seen` records what
// each request offered, for the driver's checks of what the browser sent.

import crypto from 'node:crypto';

import { acceptKey, binary, close } from './fault-server.mjs';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';
export const SUBPROTOCOL = 'lightstream.arrow.v1';
export const TOKEN_PREFIX = 'lightstream.token.';

/** `handle` and `upgrade` for the harness's `startHttpServer`. */
export function arrowRoutes({ streams, token, log = () => {} }) {
  const seen = [];
  const tokenOk = (t) => {
    if (typeof t !== 'string') return false;
    const a = crypto.createHash('sha256').update(t).digest();
    const b = crypto.createHash('sha256').update(token).digest();
    return crypto.timingSafeEqual(a, b);
  };
  const originOk = (req) => req.headers.origin === undefined || req.headers.origin === `http://${req.headers.host}`;

  function refuse(req, status, reason) {
    const headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    log(`web server: ${req.url} refused ${status} (${reason})`);
    return { status, reason, headers };
  }

  /** The policy for one request: null when granted, else the refusal. */
  function check(req, offeredToken) {
    if (!originOk(req)) return refuse(req, 403, `origin ${req.headers.origin} not allowed`);
    if (offeredToken === undefined) return refuse(req, 401, 'a bearer token is required');
    if (!tokenOk(offeredToken)) return refuse(req, 401, 'the bearer token is not valid');
    return null;
  }

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
    const m = /^\/(streams|cut)\/(\w+)\.arrows$/.exec(path);
    if (!m) return false;
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    seen.push({ path, origin: req.headers.origin ?? null, authorization: req.headers.authorization ?? null, accept: req.headers.accept ?? null });
    const refused = check(req, bearer);
    if (refused) {
      res.writeHead(refused.status, refused.headers);
      res.end(`${refused.reason}\n`);
      return true;
    }
    const bytes = streams[m[2]]?.bytes;
    if (!bytes) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`no stream ${m[2]}\n`);
      return true;
    }
    res.writeHead(200, { 'content-type': ARROW_STREAM, 'cache-control': 'no-store' });
    if (m[1] === 'cut') {
      writeBody(res, bytes.subarray(0, bytes.length >> 1)).then(() => setTimeout(() => res.destroy(), 100));
    } else {
      writeBody(res, bytes).then(() => res.end());
    }
    return true;
  }

  function upgrade(req, socket) {
    socket.on('error', () => {});
    const path = new URL(req.url, 'http://x').pathname;
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    seen.push({ path, origin: req.headers.origin ?? null, protocols: offered });
    const answer = (status, reason, headers = {}) => {
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(`HTTP/1.1 ${status} ${reason}\r\n${lines}content-length: ${reason.length + 1}\r\nconnection: close\r\n\r\n${reason}\n`);
    };
    const messages = streams[/^\/feed\/(\w+)$/.exec(path)?.[1]]?.messages;
    if (!messages) return answer(404, 'Not Found');
    const tokens = offered.filter((p) => p.startsWith(TOKEN_PREFIX)).map((p) => p.slice(TOKEN_PREFIX.length));
    const refused = check(req, tokens[0]);
    if (refused) return answer(refused.status, refused.reason, refused.headers);
    if (!offered.includes(SUBPROTOCOL)) return answer(400, `the subprotocol ${SUBPROTOCOL} is required`);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'])}\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`,
    );
    for (const m of messages) socket.write(binary(m));
    socket.write(close(1000));
    socket.end();
  }

  return { handle, upgrade, seen };
}
