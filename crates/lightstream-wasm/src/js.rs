//! Imports of `js/helpers.js`: the loops that create JavaScript strings and
//! array elements run in JavaScript (one call per column), not once per
//! value across the wasm boundary. The same functions build the page's
//! arrays in npm/table.js, from buffers the page owns.

use js_sys::{Array, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/helpers.js")]
extern "C" {
    /// Stores `n` strings at `out[at..]`: string `i` is
    /// `data[offsets[i]..offsets[i + 1]]`, null where bit `v0 + i` of
    /// `validity` is clear; `ascii` says every byte of the data is ASCII.
    #[allow(clippy::too_many_arguments)]
    pub fn ls_fill_strings(
        out: &Array,
        at: u32,
        data: &Uint8Array,
        offsets: &Uint32Array,
        validity: &JsValue,
        v0: u32,
        n: u32,
        ascii: bool,
    );

    /// `dict[keys[i]]` for `n` rows at `out[at..]` (null where invalid).
    pub fn ls_take(
        out: &Array,
        at: u32,
        dict: &Array,
        keys: &JsValue,
        validity: &JsValue,
        v0: u32,
        n: u32,
    );

    /// Booleans from a bitmap at `out[at..]` (null where invalid).
    pub fn ls_bools(
        out: &Array,
        at: u32,
        bits: &Uint8Array,
        b0: u32,
        validity: &JsValue,
        v0: u32,
        n: u32,
    );
}
