// The Worker path's ceiling for the browser bench (`raw_worker`): a module
// Worker that receives one WebSocket stream as the Lightstream Worker does
// (binaryType 'arraybuffer') and moves every message, as it arrives, to the
// page (postMessage with the message's ArrayBuffer in the transfer list), with
// no decoding and no copy. Reused across runs, as `connect`'s Worker is.
//   page -> worker  { url }
//   worker -> page  { data } per message (moved), then { end: true, sawEnd }
//                   or { error }
self.onmessage = (e) => {
  const ws = new WebSocket(e.data.url, ['lightstream.arrow.v1']);
  ws.binaryType = 'arraybuffer';
  let done = false;
  const finish = (m) => {
    if (done) return;
    done = true;
    ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
    self.postMessage(m);
  };
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') return finish({ error: 'unexpected text message' });
    const end = m.data.byteLength === 8 && new Uint32Array(m.data)[0] === 0xffffffff;
    self.postMessage({ data: m.data }, [m.data]);
    if (end) finish({ end: true, sawEnd: true });
  };
  ws.onclose = () => finish({ end: true, sawEnd: false });
  ws.onerror = () => finish({ error: 'WebSocket error' });
};
