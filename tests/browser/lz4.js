// A small LZ4 *frame* decoder (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md)
// for the browser end-to-end test: Apache Arrow JS ships no codecs, so the
// test registers this one (`compressionRegistry.set(CompressionType.LZ4_FRAME,
// { decode: lz4FrameDecode })`) to decode the LZ4_FRAME-compressed bodies that
// `lightstream serve --compression lz4` sends. Checksums are skipped, not
// verified; dependent blocks work because every block is decoded into one
// contiguous output. Throws on malformed input.

const MAGIC = 0x184d2204;

class Output {
  constructor(hint) {
    this.buf = new Uint8Array(Math.max(64, hint));
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  bytes() {
    return this.buf.slice(0, this.len);
  }
}

function u32(src, at) {
  if (at + 4 > src.length) throw new Error(`lz4: input ends at ${src.length}, needed 4 bytes at ${at}`);
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
}

/** Decodes one LZ4 block (`src[start..end]`) onto `out`. */
function decodeBlock(src, start, end, out) {
  let i = start;
  for (;;) {
    if (i >= end) throw new Error('lz4: block ends before a sequence token');
    const token = src[i++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b;
      do {
        if (i >= end) throw new Error('lz4: literal length runs past the block');
        b = src[i++];
        lit += b;
      } while (b === 255);
    }
    if (i + lit > end) throw new Error('lz4: literals run past the block');
    out.reserve(lit);
    out.buf.set(src.subarray(i, i + lit), out.len);
    out.len += lit;
    i += lit;
    if (i === end) return; // the last sequence has literals only
    if (i + 2 > end) throw new Error('lz4: block ends inside a match offset');
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    if (offset === 0 || offset > out.len) throw new Error(`lz4: bad match offset ${offset}`);
    let mlen = token & 15;
    if (mlen === 15) {
      let b;
      do {
        if (i >= end) throw new Error('lz4: match length runs past the block');
        b = src[i++];
        mlen += b;
      } while (b === 255);
    }
    mlen += 4;
    out.reserve(mlen);
    const buf = out.buf;
    let from = out.len - offset;
    let to = out.len;
    if (offset >= mlen) {
      buf.copyWithin(to, from, from + mlen);
    } else {
      for (let k = 0; k < mlen; k++) buf[to++] = buf[from++]; // overlapping copy
    }
    out.len += mlen;
  }
}

/** Decodes a whole LZ4 frame (or several concatenated frames). */
export function lz4FrameDecode(input) {
  const src = input instanceof Uint8Array ? input : new Uint8Array(input);
  const out = new Output(src.length * 4);
  let i = 0;
  while (i < src.length) {
    const magic = u32(src, i);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // skippable frame
      i += 8 + u32(src, i + 4);
      continue;
    }
    if (magic !== MAGIC) throw new Error(`lz4: bad frame magic 0x${magic.toString(16)}`);
    i += 4;
    if (i + 2 > src.length) throw new Error('lz4: truncated frame descriptor');
    const flg = src[i];
    if (flg >>> 6 !== 1) throw new Error(`lz4: unsupported frame version ${flg >>> 6}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    i += 2; // FLG, BD
    if (contentSize) i += 8;
    if (dictId) i += 4;
    i += 1; // header checksum
    for (;;) {
      const word = u32(src, i);
      i += 4;
      if (word === 0) break; // EndMark
      const size = word & 0x7fffffff;
      if (i + size > src.length) throw new Error('lz4: block runs past the input');
      if (word & 0x80000000) {
        out.reserve(size);
        out.buf.set(src.subarray(i, i + size), out.len);
        out.len += size;
      } else {
        decodeBlock(src, i, i + size, out);
      }
      i += size;
      if (blockChecksum) i += 4;
    }
    if (contentChecksum) i += 4;
  }
  return out.bytes();
}
