//! Imports of `js/helpers.js`: the loops that create JavaScript strings and
//! array elements run in JavaScript (one call per column or per run of
//! strings), not once per value across the wasm boundary.

use js_sys::{Array, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/helpers.js")]
extern "C" {
    /// Stores the strings of one run at `out[row0..]`.
    pub fn ls_fill_strings(
        out: &Array,
        bytes: &Uint8Array,
        pos: &Uint32Array,
        validity: &JsValue,
        row0: u32,
    );

    /// Stores at `out[row0..]` a run regrouped by `SplitRun` (ASCII text,
    /// other text, codes).
    pub fn ls_fill_strings_split(
        out: &Array,
        row0: u32,
        ascii: &Uint8Array,
        wide: &Uint8Array,
        codes: &Uint32Array,
    );

    /// `dict[keys[i]]` for `n` rows (null where invalid).
    pub fn ls_take(dict: &Array, keys: &JsValue, validity: &JsValue, n: u32) -> Array;

    /// Booleans from a bitmap (null where invalid).
    pub fn ls_bools(bits: &Uint8Array, validity: &JsValue, n: u32) -> Array;
}
