// The loops that build JavaScript arrays of strings, dictionary values and
// booleans from Arrow buffers (UTF-8 data + offsets, keys, bitmaps). They are
// the ONE copy of this logic: the page's tables (npm/table.js, over buffers
// the page owns) and the wasm crate's own Column (crates/lightstream-wasm,
// js.rs, over views of wasm memory that live for one call) both call them.
// wasm-bindgen copies this file into its output (pkg/snippets/) and
// npm/build.sh copies it to pkg/helpers.js for npm/table.js.

// ignoreBOM: a value starting with U+FEFF must keep it (the default strips
// it, which would shift every later string by one).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function valid(validity, row) {
  return ((validity[row >>> 3] >>> (row & 7)) & 1) === 1;
}

/** Whether bit `row` of an LSB-first validity bitmap is set (`null`: all valid). */
export function ls_valid(validity, row) {
  return validity === null || valid(validity, row);
}

// Bytes of one run of strings decoded at once: well under the longest string
// V8 can make (2^29 UTF-16 units), so one run is one decode.
const STRING_RUN_BYTES = 64 << 20;

// The builders fill preallocated arrays (measured in Chrome against push:
// strings ~15% and dictionaries ~2x faster).

/**
 * Stores `n` strings at out[at...]: string i is data[offsets[i]..offsets[i+1]]
 * (UTF-8), null where bit v0 + i of `validity` is clear. `ascii` says every
 * byte of the data is ASCII (then a run is one decode and byte offsets are
 * positions in the text); otherwise each run is regrouped into its ASCII
 * values and the others, decoded apart, so ASCII values stay compact
 * one-byte strings and the decode takes its fast path (see fillMixed).
 */
export function ls_fill_strings(out, at, data, offsets, validity, v0, n, ascii) {
  let row = 0;
  while (row < n) {
    const start = offsets[row];
    let end = row + 1;
    while (end < n && offsets[end + 1] - start <= STRING_RUN_BYTES) end++;
    if (ascii) fillAscii(out, at + row, data, offsets, validity, v0 + row, row, end - row);
    else fillMixed(out, at + row, data, offsets, validity, v0 + row, row, end - row);
    row = end;
  }
}

// One ASCII run: rows r0..r0+n of offsets.
function fillAscii(out, at, data, offsets, validity, v0, r0, n) {
  const base = offsets[r0];
  const text = utf8.decode(data.subarray(base, offsets[r0 + n]));
  if (validity === null) {
    for (let i = 0; i < n; i++) out[at + i] = text.slice(offsets[r0 + i] - base, offsets[r0 + i + 1] - base);
  } else {
    for (let i = 0; i < n; i++) {
      out[at + i] = valid(validity, v0 + i) ? text.slice(offsets[r0 + i] - base, offsets[r0 + i + 1] - base) : null;
    }
  }
}

// Code of a null row, and the flag of a row from the non-ASCII text.
const SPLIT_NULL = 0x40000000;
const SPLIT_WIDE = 0x80000000;

// One run that may mix ASCII and other values: the ASCII values' bytes and
// the others' bytes are gathered into two texts, each decoded once, and one
// code per row says which text and where the value ends in it (UTF-16 units:
// one per byte that does not continue a character, two per 4-byte one).
function fillMixed(out, at, data, offsets, validity, v0, r0, n) {
  const size = offsets[r0 + n] - offsets[r0];
  const ascii = new Uint8Array(size);
  const wide = new Uint8Array(size);
  const codes = new Uint32Array(n);
  let a = 0;
  let w = 0;
  let units = 0;
  for (let i = 0; i < n; i++) {
    if (validity !== null && !valid(validity, v0 + i)) {
      codes[i] = SPLIT_NULL;
      continue;
    }
    const s = offsets[r0 + i];
    const e = offsets[r0 + i + 1];
    let j = s;
    while (j < e && data[j] < 0x80) j++;
    if (j === e) {
      for (let k = s; k < e; k++) ascii[a++] = data[k];
      codes[i] = a;
    } else {
      for (let k = s; k < e; k++) {
        const b = data[k];
        wide[w++] = b;
        units += ((b & 0xc0) !== 0x80) + (b >= 0xf0);
      }
      codes[i] = (units | SPLIT_WIDE) >>> 0;
    }
  }
  const asciiText = utf8.decode(ascii.subarray(0, a));
  const wideText = utf8.decode(wide.subarray(0, w));
  let pa = 0;
  let pw = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    if (c & SPLIT_NULL) {
      out[at + i] = null;
    } else if (c & SPLIT_WIDE) {
      const end = c & 0x3fffffff;
      out[at + i] = wideText.slice(pw, end);
      pw = end;
    } else {
      out[at + i] = asciiText.slice(pa, c);
      pa = c;
    }
  }
}

/**
 * Stores `n` dictionary values at out[at...]: dict[keys[i]], or null for null
 * rows (bit v0 + i of `validity` clear) and for keys outside the dictionary
 * (the decoder has already refused those, so this only guards). `keys` may be
 * any integer typed array, BigInt64Array / BigUint64Array included.
 */
export function ls_take(out, at, dict, keys, validity, v0, n) {
  if (n > 0 && typeof keys[0] === 'bigint') {
    for (let i = 0; i < n; i++) {
      const v = validity !== null && !valid(validity, v0 + i) ? undefined : dict[Number(keys[i])];
      out[at + i] = v === undefined ? null : v;
    }
  } else if (validity === null) {
    for (let i = 0; i < n; i++) {
      const v = dict[keys[i]];
      out[at + i] = v === undefined ? null : v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = valid(validity, v0 + i) ? dict[keys[i]] : undefined;
      out[at + i] = v === undefined ? null : v;
    }
  }
}

/** Stores `n` booleans at out[at...] from bits b0... of an LSB-first bitmap,
 * null where bit v0 + i of `validity` is clear. */
export function ls_bools(out, at, bits, b0, validity, v0, n) {
  for (let i = 0; i < n; i++) {
    out[at + i] = validity !== null && !valid(validity, v0 + i) ? null : valid(bits, b0 + i);
  }
}
