// A tiny, deliberately misbehaving WebSocket server for the browser end-to-end
// test (RFC 6455 over node's `net`: handshake with Sec-WebSocket-Accept =
// base64(sha1(key + GUID)), unmasked server frames, client frames ignored).
// The path of the URL picks the misbehaviour; `messages` are the IPC messages
// of a real stream (schema, dictionaries, record batches, end-of-stream).
//
//   /garbage              one binary message of junk bytes, then silence
//   /hostile-length       a message claiming 2 GiB of metadata, then silence
//   /close-before-schema  a Close frame right after the handshake
//   /schema-then-garbage  the schema, then a junk binary message, then silence
//   /text                 the schema, then a text message, then silence
//   /cut                  the first `cutAfter` messages, then the TCP connection
//                         ends (FIN) without a Close frame or end-of-stream marker
//   /cut-reset            the same, ending with a TCP reset
//   /cut-close            the same, ending with a Close frame (1000)
//   /cut-inside           the same, then the first half of the next IPC message
//                         as one whole WebSocket message, then a Close frame
//   /good                 the whole stream and a Close frame (the control case)
//   /silent               the handshake, then nothing (a connect that waits for
//                         its schema: the abort checks of worker.mjs)
//   /no-subprotocol       the whole stream, but the 101 names no subprotocol
//                         though the client offered lightstream.arrow.v1 (a
//                         server older than the subprotocol: the browser must
//                         fail the handshake)
//
// Every other mode answers `Sec-WebSocket-Protocol: lightstream.arrow.v1` when
// the client offered it, as the Lightstream servers do.
//
// Every connection is destroyed after `lingerMs` at the latest. `closes(mode)`
// counts the connections of a mode whose client ended them (a Close frame or
// the end of its TCP stream): a client that closes its socket shows there.

/** What each mode must do to a client (e2e.mjs and worker.mjs check it):
 * where it fails (`connect` or the iteration), how many tables come first,
 * the error's `kind` and a pattern of its message. */
const ENDED = /end-of-stream|early|closed|truncat|ended/i;
export const FAULT_EXPECTATIONS = {
  garbage: { where: 'connect' },
  'hostile-length': { where: 'connect' },
  'close-before-schema': { where: 'connect' },
  'schema-then-garbage': { where: 'next', tables: 0 },
  text: { where: 'next', tables: 0, kind: 'Protocol' },
  cut: { where: 'next', tables: 2, message: ENDED, kind: 'Truncated' },
  'cut-reset': { where: 'next', tables: 2, message: ENDED, kind: 'Truncated' },
  'cut-close': { where: 'next', tables: 2, message: ENDED, kind: 'Truncated' },
  'cut-inside': { where: 'next', tables: 2 },
  // Chromium fails a handshake that offered subprotocols and got none back.
  'no-subprotocol': { where: 'connect', message: /could not connect/, kind: 'Connect' },
};

import crypto from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const FAULT_MODES = [
  'garbage',
  'hostile-length',
  'close-before-schema',
  'schema-then-garbage',
  'text',
  'cut',
  'cut-reset',
  'cut-close',
  'cut-inside',
  'no-subprotocol',
];

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/** A binary message in one unmasked server frame. */
export const binary = (b) => frame(0x2, b);
const text = (s) => frame(0x1, Buffer.from(s, 'utf8'));
/** A Close frame (with a status code when given). */
export const close = (code) => {
  if (code === undefined) return frame(0x8, Buffer.alloc(0));
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return frame(0x8, b);
};

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455, section 4.2.2). */
export function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

function junk(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 151 + 7) & 0xff;
  b.write('this is not an Arrow IPC message', 0);
  return b;
}

/**
 * Starts the server on 127.0.0.1 (a free port). Returns { port, url(mode), close() }.
 */
export async function startFaultServer({ messages, cutAfter, lingerMs = 4000, log = () => {} }) {
  if (!(cutAfter >= 1 && cutAfter < messages.length - 1)) throw new Error(`bad cutAfter ${cutAfter}`);
  const sockets = new Set();
  const closedByClient = new Map();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const linger = setTimeout(() => socket.destroy(), lingerMs);
    socket.on('close', () => clearTimeout(linger));
    let head = Buffer.alloc(0);
    let upgraded = false;
    let mode = null;
    let counted = false;
    const clientClosed = () => {
      if (mode === null || counted) return;
      counted = true;
      closedByClient.set(mode, (closedByClient.get(mode) ?? 0) + 1);
    };
    socket.on('end', clientClosed);
    socket.on('data', (chunk) => {
      if (upgraded) {
        // Client frames are otherwise ignored; a Close frame (opcode 8, the
        // first byte of a frame here) means the client closed.
        if ((chunk[0] & 0x0f) === 0x8) clientClosed();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16384) socket.destroy();
        return;
      }
      upgraded = true;
      const request = head.subarray(0, end).toString('latin1');
      const path = /^GET (\S+) HTTP\/1\.1/.exec(request)?.[1] ?? '/';
      const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(request)?.[1];
      if (!key) {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const accept = acceptKey(key);
      mode = path.replace(/^\/+/, '').replace(/[?#].*$/, '');
      const offered = /^sec-websocket-protocol:(.*)$/gim;
      const protocols = [...request.matchAll(offered)].flatMap((m) => m[1].split(',').map((p) => p.trim()));
      const answer = protocols.includes('lightstream.arrow.v1') && mode !== 'no-subprotocol'
        ? 'Sec-WebSocket-Protocol: lightstream.arrow.v1\r\n' : '';
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n${answer}\r\n`,
      );
      log(`fault server: ${mode}`);
      play(socket, mode);
    });
  });

  function play(socket, mode) {
    const first = messages.slice(0, cutAfter);
    switch (mode) {
      case 'garbage':
        socket.write(binary(junk(100)));
        break;
      case 'hostile-length': {
        const b = Buffer.alloc(24, 0x41);
        b.writeUInt32LE(0xffffffff, 0);
        b.writeInt32LE(0x7ffffff8, 4);
        socket.write(binary(b));
        break;
      }
      case 'close-before-schema':
        socket.write(close(1000));
        socket.end();
        break;
      case 'schema-then-garbage':
        socket.write(binary(messages[0]));
        socket.write(binary(junk(64)));
        break;
      case 'text':
        socket.write(binary(messages[0]));
        socket.write(text('hello, this is text'));
        break;
      case 'cut':
      case 'cut-reset':
      case 'cut-close':
      case 'cut-inside':
        for (const m of first) socket.write(binary(m));
        if (mode === 'cut-inside') {
          const next = messages[cutAfter];
          socket.write(binary(next.subarray(0, Math.max(1, next.length >> 1))));
          socket.write(close(1000));
          socket.end();
        } else if (mode === 'cut-close') {
          socket.write(close(1000));
          socket.end();
        } else if (mode === 'cut-reset') {
          // Let the bytes leave before the reset (a reset discards unsent data).
          setTimeout(() => socket.resetAndDestroy(), 300);
        } else {
          socket.end(); // FIN, no Close frame
        }
        break;
      case 'silent':
        break;
      case 'good':
      case 'no-subprotocol':
        for (const m of messages) socket.write(binary(m));
        socket.write(close());
        socket.end();
        break;
      default:
        socket.write(close(1008));
        socket.end();
    }
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: (mode) => `ws://127.0.0.1:${port}/${mode}`,
    closes: (mode) => closedByClient.get(mode) ?? 0,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** What is wrong with a client's run against fault mode (the page's
 * `faultCase` result `r`, `expected` from FAULT_EXPECTATIONS); empty if nothing. */
export function faultProblems(r, expected) {
  const p = [];
  const err = r.connectError ?? r.iterError;
  if (expected.where === 'connect') {
    if (r.connected) p.push(`connect() resolved (then ${r.iterError ? `next() rejected: ${r.iterError.message}` : `${r.tables} tables, done=${r.done}`}); expected it to reject`);
  } else {
    if (!r.connected) p.push(`connect() rejected (${r.connectError?.message}); expected it to resolve and next() to reject`);
    else if (!r.iterError) p.push(`iteration did not reject (${r.tables} tables, done=${r.done})`);
    if (expected.tables !== undefined && r.tables !== expected.tables) p.push(`${r.tables} tables before the error, expected ${expected.tables}`);
    if (r.iterError && r.afterError !== 'done') p.push(`next() after the error: ${r.afterError} (expected done: the stream is finished)`);
  }
  if (err) {
    // JsError from the core arrives as a plain Error; a TypeError or the like is a bug of the glue.
    if (!err.isError || err.name !== 'Error') p.push(`rejected with a ${err.name}, not a plain Error${err.at ? ` (${err.at})` : ''}`);
    if (!err.message || !err.message.trim()) p.push('the error message is empty');
    if (expected.message && !expected.message.test(err.message)) p.push(`message "${err.message}" does not match ${expected.message}`);
    if (typeof err.kind !== 'string' || !err.kind) p.push(`the error has no kind (${err.kind})`);
    if (expected.kind && err.kind !== expected.kind) p.push(`kind ${err.kind}, expected ${expected.kind}`);
  }
  return p;
}

/** Splits an IPC stream into its encapsulated messages (with the 0xFFFFFFFF
 * continuation marker); `bodyLength(flatbuffer)` reads a Message's body length. */
export function splitIpcStream(bytes, bodyLength) {
  const out = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.readUInt32LE(at) !== 0xffffffff) throw new Error(`no continuation marker at ${at}`);
    const metaLen = bytes.readInt32LE(at + 4);
    if (metaLen === 0) {
      out.push(bytes.subarray(at, at + 8));
      at += 8;
      break;
    }
    const body = bodyLength(bytes.subarray(at + 8, at + 8 + metaLen));
    const end = at + 8 + metaLen + body;
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}
