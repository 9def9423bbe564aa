#!/usr/bin/env bash
# Lightstream's test command (the one the README and .ci/run use). Installs
# whatever is missing (scripts/setup.sh), then runs every check in order and
# stops at the first failure, naming the step that failed:
#   format, lint, all tests (unit, conformance, interop, transports, CLI), the
#   runnable examples of every transport, the wasm32 build
#   with and without default features, the browser crate's tests in headless
#   Chrome and its release .wasm size, and compiling the benches.
# Exits non-zero on any failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# CI builds from scratch: incremental artifacts only cost time and disk.
export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

started=$SECONDS

# step NAME COMMAND...: runs one check; on failure names it and exits.
step() {
  local name=$1 t0=$SECONDS rc=0
  shift
  printf '\n==> %s\n    $ %s\n' "$name" "$*"
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '\nlightstream: FAILED at step "%s" (exit %d): %s\n' "$name" "$rc" "$*" >&2
    exit "$rc"
  fi
  printf '    ok (%ds)\n' "$((SECONDS - t0))"
}

# wasm-bindgen: the test runner of crates/lightstream-wasm; browser: chromium
# + chromedriver for those tests (headless).
step "setup (install what is missing)" bash scripts/setup.sh --with=wasm-bindgen,browser

# setup.sh may have just installed rustup; make it visible to this shell.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

step "format" cargo fmt --all --check
step "lint (clippy)" cargo clippy --workspace --all-targets -- -D warnings
# The native shell's transports are features: each must build (clippy-clean)
# on its own, and so must the crate with none of them.
for features in tcp uds stdio websocket quic ""; do
  step "lightstream with only [${features:-no transport}]" \
    cargo clippy -q -p lightstream --no-default-features ${features:+--features "$features"} -- -D warnings
done
step "tests (unit, conformance, interop, transports, CLI)" cargo test --workspace
# Every transport's example must run and check what it received.
for example in tcp uds stdio websocket quic; do
  step "example: $example" cargo run --quiet -p lightstream --example "$example"
done
step "wasm32 build (default features)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown
step "wasm32 build (no default features)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown --no-default-features
# The browser crate's wasm-bindgen tests, in headless Chrome (.cargo/config.toml
# makes wasm-bindgen-test-runner the wasm32 runner; webdriver.json holds the
# Chrome flags).
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
step "wasm tests in headless Chrome (lightstream-wasm)" \
  cargo test -p lightstream-wasm --target wasm32-unknown-unknown

# wasm_release_size: builds the browser crate's release .wasm and prints its
# size raw and gzipped, and after wasm-bindgen (which drops the debug info
# that `[profile.release] debug = 1` puts in the raw file): what a page loads.
wasm_release_size() {
  cargo build -p lightstream-wasm --target wasm32-unknown-unknown --release || return
  local wasm=target/wasm32-unknown-unknown/release/lightstream_wasm.wasm
  local out=target/wasm-bindgen-size
  [ -f "$wasm" ] || { echo "missing $wasm" >&2; return 1; }
  printf '    %s: %d bytes, %d gzipped\n' "$wasm" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
  wasm-bindgen --target web --out-dir "$out" "$wasm" || return
  printf '    after wasm-bindgen (%s/lightstream_wasm_bg.wasm): %d bytes, %d gzipped\n' \
    "$out" "$(wc -c <"$out/lightstream_wasm_bg.wasm")" "$(gzip -9c "$out/lightstream_wasm_bg.wasm" | wc -c)"
}
step "wasm release build + size (lightstream-wasm)" wasm_release_size
# `--bench '*'` compiles every [[bench]] target of the workspace and nothing
# else: without it cargo also rebuilds each library's unit tests (and all their
# dev-dependencies) in release mode, which doubles this step's time.
step "benches compile" cargo bench --workspace --bench '*' --no-run

printf '\nlightstream: all checks passed (%dm%02ds)\n' \
  "$(((SECONDS - started) / 60))" "$(((SECONDS - started) % 60))"
