// `openStream`'s HTTP side: the request it makes (Accept with the codecs
// asked for, the token as `Authorization: Bearer`), the checks of the answer
// (status, Content-Type, a body) and `HttpError`. Shared by the page
// (npm/index.js) and the Worker (npm/worker.js), which fetches there.
import { checkToken } from './pkg/lightstream_wasm.js';

/** The media type of an Arrow IPC stream (IANA). */
export const ARROW_STREAM_TYPE = 'application/vnd.apache.arrow.stream';

/** A response that is not a 2xx Arrow stream; see index.d.ts. */
export class HttpError extends Error {
  constructor(message, { kind, url, status, statusText, contentType, detail }) {
    super(message);
    this.name = 'HttpError';
    this.kind = kind;
    this.url = url;
    this.status = status;
    this.statusText = statusText;
    this.contentType = contentType;
    this.detail = detail;
  }
}

/** At most `max` bytes of a refused response's body, as text (the server's
 * one-line reason); the rest is cancelled, never read. */
async function bodySnippet(response, max = 1024) {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const parts = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      n += value.length;
    }
  } catch {
    // the reason is best effort
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(n, max));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, all.length - at);
    all.set(p.subarray(0, take), at);
    at += take;
  }
  return new TextDecoder().decode(all).trim();
}

/** The `Accept` of `openStream`: the Arrow media type, with the IPC body
 * codecs asked for in its `codecs` parameter (the Arrow-over-HTTP
 * convention of apache/arrow-experiments, http/), in order of preference. */
function acceptHeader(codecs) {
  if (codecs === undefined || codecs === null) return ARROW_STREAM_TYPE;
  const known = ['zstd', 'lz4'];
  if (!Array.isArray(codecs) || codecs.some((c) => !known.includes(c))) {
    const err = new Error(`openStream: option codecs must be an array of ${known.map((c) => `'${c}'`).join(' and ')}`);
    err.kind = 'Schema';
    throw err;
  }
  return codecs.length === 0 ? ARROW_STREAM_TYPE : `${ARROW_STREAM_TYPE}; codecs="${codecs.join(', ')}"`;
}

/** The fetch of `openStream`: the request (Accept, token), then the status
 * and `Content-Type` checked; resolves with the body to decode and the
 * options that are the decoder's. The page's `openStream` and the Worker's
 * (npm/worker.js) both use it. */
export async function fetchArrowBody(url, options = {}) {
  const { token, signal, headers: extra, fetch: fetchFn, checkContentType = true, codecs, worker, workerUrl, prefetch, ...decodeOptions } = options ?? {};
  const headers = new Headers(extra);
  if (!headers.has('accept')) headers.set('accept', acceptHeader(codecs));
  if (token !== undefined && token !== null) headers.set('authorization', `Bearer ${checkToken(token)}`);
  const target = String(url);
  let response;
  try {
    response = await (fetchFn ?? globalThis.fetch)(target, { headers, signal });
  } catch (e) {
    const aborted = e?.name === 'AbortError';
    const err = new Error(`${aborted ? 'fetch of' : 'could not fetch'} ${target}${aborted ? ' was aborted' : ''}: ${e?.message ?? e}`);
    err.kind = aborted ? 'Aborted' : 'Connect';
    err.cause = e;
    throw err;
  }
  const contentType = response.headers.get('content-type');
  const info = { url: target, status: response.status, statusText: response.statusText, contentType };
  if (!response.ok) {
    const detail = await bodySnippet(response);
    throw new HttpError(`${target} answered ${response.status} ${response.statusText}${detail ? `: ${detail}` : ''}`,
      { ...info, kind: 'Http', detail });
  }
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (checkContentType && mediaType !== ARROW_STREAM_TYPE) {
    response.body?.cancel().catch(() => {});
    throw new HttpError(`${target} answered Content-Type ${contentType === null ? '(none)' : `"${contentType}"`}, not ${ARROW_STREAM_TYPE} ` +
      '(pass checkContentType: false to read it anyway)', { ...info, kind: 'ContentType', detail: '' });
  }
  if (!response.body) {
    throw new HttpError(`${target} answered ${response.status} without a body`, { ...info, kind: 'Truncated', detail: '' });
  }
  return { body: response.body, decodeOptions };
}
