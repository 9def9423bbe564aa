#!/usr/bin/env bash
# Lightstream's test command (the one the README and .ci/run use). Installs
# whatever is missing (scripts/setup.sh), then runs every check in order and
# stops at the first failure, naming the step that failed:
#   format, lint, all tests (unit, conformance, interop, transports, CLI), the
#   runnable examples of every transport, the wasm32 build
#   with and without default features, and compiling the benches.
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

step "setup (install what is missing)" bash scripts/setup.sh

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
# `--bench '*'` compiles every [[bench]] target of the workspace and nothing
# else: without it cargo also rebuilds each library's unit tests (and all their
# dev-dependencies) in release mode, which doubles this step's time.
step "benches compile" cargo bench --workspace --bench '*' --no-run

printf '\nlightstream: all checks passed (%dm%02ds)\n' \
  "$(((SECONDS - started) / 60))" "$(((SECONDS - started) % 60))"
