#!/usr/bin/env bash
# Builds the npm package from crates/lightstream-wasm, two WebAssembly modules:
#   npm/pkg/      decode-only (IPC, WebSocket, fetch/readStream, LZ4, ZSTD;
#                 no `csv` feature): the root entry point, index.js
#   npm/pkg-csv/  the same with the `csv` feature: `lightstream-arrow/csv`, csv.js
# each `cargo build --profile wasm-release --target wasm32-unknown-unknown -p
# lightstream-wasm` then `wasm-bindgen --target web`; with --pack also npm pack
# -> npm/lightstream-arrow-<version>.tgz (or --pack-dest DIR).
# Needs the pinned toolchain and wasm-bindgen-cli of the same version as the
# crate (bash scripts/setup.sh --with=wasm-bindgen installs both).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
pack=false
dest="$here"
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) pack=true ;;
    --pack-dest)
      [ $# -ge 2 ] || { echo "npm/build.sh: --pack-dest needs a directory" >&2; exit 2; }
      pack=true; mkdir -p "$2"; dest=$(cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "npm/build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
wasm="$target_dir/wasm32-unknown-unknown/wasm-release/lightstream_wasm.wasm"
# The `name` section (function names for stack traces) is 160 KB of the
# 870 KB .wasm and 25 KB gzipped: left out of the package (issue 19).
# LIGHTSTREAM_WASM_NAMES=1 keeps it, for debugging a panic's stack trace in
# the browser.
names=(--remove-name-section)
[ "${LIGHTSTREAM_WASM_NAMES:-}" = 1 ] && names=()

# build_module OUT_DIR CARGO_FEATURE_ARGS...: one module into npm/OUT_DIR.
# The two builds share the target directory (the second relinks only).
build_module() {
  local out=$1
  shift
  cargo build --quiet --profile wasm-release --target wasm32-unknown-unknown -p lightstream-wasm "$@"
  [ -f "$wasm" ] || { echo "npm/build.sh: missing $wasm" >&2; exit 1; }
  rm -rf "${here:?}/$out"
  wasm-bindgen --target web "${names[@]}" --out-dir "$here/$out" "$wasm"
  rm -f "$here/$out/package.json" "$here/$out/.gitignore"
  local bg="$here/$out/lightstream_wasm_bg.wasm"
  echo "npm/build.sh: built $here/$out ($(wc -c <"$bg") bytes of wasm, $(gzip -9c "$bg" | wc -c) gzipped)"
}
build_module pkg --no-default-features
build_module pkg-csv
# The loops that build arrays of strings, dictionary values and booleans:
# both modules import them (pkg*/snippets/) and npm/table.js too.
cp "$repo/crates/lightstream-wasm/js/helpers.js" "$here/pkg/helpers.js"
cp "$repo/LICENSE" "$repo/THIRD_PARTY_LICENSES" "$here/"
# The notices of the Rust crates compiled into the .wasm (it ships their code).
python3 "$here/licenses.py" "$here/THIRD_PARTY_CRATES"

if $pack; then
  tarball=$(cd "$here" && npm pack --silent --pack-destination "$dest")
  echo "npm/build.sh: packed $dest/$tarball"
fi
