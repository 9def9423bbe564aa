#!/usr/bin/env bash
# Lightstream's test command (the one the README and .ci/run use). Installs
# whatever is missing (scripts/setup.sh), then runs every check in order and
# stops at the first failure, naming the step that failed:
#   format, lint, the API docs (rustdoc), all tests (unit, conformance, interop,
#   transports, CLI, doc examples), the
#   runnable examples of every transport, the README's quick starts built in a
#   new project outside the repository, the wasm32 build
#   with and without default features, the browser crate's tests in headless
#   Chrome, the npm package (built, packed, its .wasm size), every documented
#   shell and JavaScript snippet run as written, the browser end to end tests
#   and the demo in headless Chromium, and a short run of every fuzz target.
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

# wasm-bindgen: the test runner of crates/lightstream-wasm and npm/build.sh;
# browser: chromium + chromedriver (headless); npm: node, playwright-core and
# apache-arrow for the end-to-end pages; cargo-fuzz: scripts/fuzz.sh.
step "setup (install what is missing)" bash scripts/setup.sh --with=wasm-bindgen,browser,npm,cargo-fuzz,wasm-pack

# setup.sh may have just installed rustup; make it visible to this shell.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

step "format" cargo fmt --all --check
# crates/fuzz is its own workspace, which `cargo fmt --all` does not reach.
step "format (fuzz crate)" cargo fmt --manifest-path crates/fuzz/Cargo.toml --check
step "lint (clippy)" cargo clippy --workspace --all-targets -- -D warnings
# The native shell's transports and file formats are features: each must build (clippy-clean)
# on its own, and so must the crate with none of them.
for features in tcp uds stdio websocket http "websocket http" quic tls "websocket tls" mmap csv parquet flight "flight tls" nats "nats tls" ""; do
  step "lightstream with only [${features:-no transport}]" \
    cargo clippy -q -p lightstream --no-default-features ${features:+--features "$features"} -- -D warnings
done
# The API docs as docs.rs builds them: every rustdoc warning an error, no link
# rendered as literal brackets, feature badges (scripts/doc.sh). Their
# examples run with the doc tests of the next step.
step "API docs (rustdoc, links, feature badges)" bash scripts/doc.sh
step "tests (unit, conformance, interop, transports, CLI)" cargo test --workspace
# Every transport's example must run and check what it received. `cargo test
# --workspace` above built every example (with the workspace's features, which
# include each example's required features) into target/debug/examples: run
# those binaries rather than `cargo run -p lightstream --features ...`, whose
# different feature set rebuilt the library and tokio (about a minute of CI).
examples_dir="${CARGO_TARGET_DIR:-$repo/target}/debug/examples"
for example in tcp uds stdio websocket quic framed hub axum flight; do
  step "example: $example" "$examples_dir/$example"
done
# examples/nats.rs needs a NATS server, as its users do: one of its own here
# (Debian's nats-server, which setup.sh installs for the NATS tests), on a free
# loopback port with JetStream in a temporary folder, gone after the step.
nats_example() {
  local dir pid ports url rc=0 _
  dir=$(mktemp -d)
  nats-server -a 127.0.0.1 -p -1 -js -sd "$dir/js" --ports_file_dir "$dir" >"$dir/log" 2>&1 &
  pid=$!
  ports="$dir/nats-server_$pid.ports"
  for _ in $(seq 100); do
    [ -s "$ports" ] && break
    sleep 0.1
  done
  url=$(grep -so 'nats://[0-9.]*:[0-9]*' "$ports" | head -n 1)
  if [ -n "$url" ]; then
    timeout 60 "$examples_dir/nats" "$url" || rc=$?
  else
    echo "nats-server did not start: $(cat "$dir/log")" >&2
    rc=1
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$dir"
  return "$rc"
}
step "example: nats (against a nats-server of its own)" nats_example
# The README's Rust quick starts in a new project outside the workspace
# (dependency lines and rust-toolchain.toml as the README gives them; versions
# resolved afresh; no warning from our crates).
step "README quick starts in a project outside the repository" bash scripts/outside.sh
step "wasm32 build (default features)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown
step "wasm32 build (no default features)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown --no-default-features
step "wasm32 build (csv alone)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown --no-default-features --features csv
# The Flight data plane is sans-IO like the rest of the core (feature `flight`).
step "wasm32 build (flight)" \
  cargo build -p lightstream-core --target wasm32-unknown-unknown --no-default-features --features flight
# The browser crate's wasm-bindgen tests, in headless Chrome, run the way wasm
# developers run them: wasm-pack test (it drives `cargo test --target
# wasm32-unknown-unknown` with wasm-bindgen-test-runner, which
# .cargo/config.toml also names, so plain cargo test runs the same tests;
# webdriver.json holds the Chrome flags). --mode no-install and --chromedriver:
# nothing is downloaded.
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
step "wasm tests in headless Chrome (wasm-pack test, lightstream-wasm)" \
  wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install crates/lightstream-wasm
# The workspace clippy above sees the browser crate's tests only natively,
# where they are cfg'd out: lint them for wasm32 too.
step "lint (clippy, lightstream-wasm on wasm32)" \
  cargo clippy -p lightstream-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
# The npm package's decode-only module is the crate without its `csv` feature.
step "lint (clippy, lightstream-wasm on wasm32 without csv)" \
  cargo clippy -q -p lightstream-wasm --target wasm32-unknown-unknown --no-default-features --all-targets -- -D warnings

# The browser build's ZSTD decoder (pure Rust) is only compiled when the C
# zstd feature is off, which a workspace build never does: check it alone.
step "lightstream-core with lz4 + zstd-decode (the browser's codecs)" \
  cargo clippy -q -p lightstream-core --no-default-features --features lz4,zstd-decode --all-targets -- -D warnings
step "compression tests with zstd-decode" \
  cargo test -q -p lightstream-core --no-default-features --features lz4,zstd-decode --lib compression
# The npm package: release .wasm (LTO profile wasm-release), wasm-bindgen,
# npm pack; build.sh prints the .wasm size raw and gzipped.
step "npm package (build + pack)" bash npm/build.sh --pack-dest target/npm
tarball=$(ls -t target/npm/lightstream-arrow-*.tgz | head -n 1)
# `npm test` of the package: the decode-only .wasm within 200,000 bytes
# gzipped, index.d.ts and csv.d.ts type-checked against a file that uses every
# declared name, and the Node.js tests (init from disk, also from the packed
# package installed outside the repository; decode and readStream of
# pyarrow-written files and connect to `lightstream serve` through the ws
# package and the global WebSocket, against Apache Arrow JS; every declared
# export present at run time).
# The Node.js tests and the pages use the debug CLI that `cargo test --workspace` built.
export LIGHTSTREAM_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/lightstream"
step "npm test (size budget, types, Node.js)" bash npm/test.sh
# Every documented snippet as the docs give it (tests/snippets; a block under
# `<!-- not run: reason -->` is skipped): the shell blocks of README.md,
# npm/README.md and docs/ in one walk-through with this CLI on PATH (servers in
# the background, outputs checked with `lightstream cat`), and that every doc
# with Rust blocks is a doctest of crates/lightstream (run by cargo test above);
# the JavaScript blocks of README.md and npm/README.md against `lightstream
# serve` and a static server, in headless Chromium and in Node.js.
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "doc snippets: shell walk-through, Rust blocks included" bash tests/snippets/walkthrough.sh
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "doc snippets: JavaScript in Chromium and Node.js" node tests/snippets/run-js.mjs
# The native server to the packed npm package in headless Chromium, every
# value checked against Apache Arrow JS; faults; the demo page.
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "browser end to end (serve ws:// -> npm package, vs apache-arrow)" node tests/browser/e2e.mjs
# Issue 19: the same fixtures and faults through { worker: true } (values vs
# Apache Arrow JS, the page's timer ticking), AbortSignal, and reconnect to a
# `serve ws:// -` hub killed and started again.
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "browser Worker path, abort, reconnect" node tests/browser/worker.mjs
# Issue 18's browser side: the package reads our web servers' streams (serve
# http:// with openStream, serve ws:// with connect, its subprotocol and a
# token, examples/axum.rs's /feed and /table.arrows), values against Apache
# Arrow JS; another origin, a missing or wrong token, a 404, a cut body; and
# issue 20's gateway: a pyarrow.flight server relayed by `relay grpc://` to
# ws:// and http://, values against Apache Arrow JS on pyarrow's own stream.
# web.mjs runs the axum example that `cargo test --workspace` built
# (target/debug/examples/axum, run above).
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "browser and our web servers (openStream, connect, tokens, Origin, axum)" node tests/browser/web.mjs
# Issue 22's browser side: pyarrow's fixtures published by `serve nats://… -`
# on a nats-server of the step's own, relayed by `relay nats://… ws://` to the
# page, every value against Apache Arrow JS on pyarrow's own stream.
LIGHTSTREAM_NPM_TARBALL="$tarball" \
  step "browser through a WebSocket relay on NATS (serve nats:// -> relay ws://)" node tests/browser/nats.mjs
step "demo page in headless Chromium" node tests/browser/demo.mjs
step "demo script (--check)" bash scripts/demo.sh --check
# Every fuzz target (crates/fuzz, cargo-fuzz with libFuzzer) for a short bounded
# run on seeds built from ../shared/arrow-testing and our own writers: a crash,
# hang, leak or OOM fails the step and names the input. The long run is
# `bash scripts/fuzz.sh --seconds 600` (docs/reliability-and-security.md).
# In the workspace's target directory (not crates/fuzz/target): the fuzz crate's
# lock holds the workspace's versions, so the dependencies the workspace lint
# above already checked with the same features are not checked again.
fuzz_lint_target="${CARGO_TARGET_DIR:-$repo/target}"
step "lint (clippy, fuzz crate)" env CARGO_TARGET_DIR="$fuzz_lint_target" \
  cargo clippy --manifest-path crates/fuzz/Cargo.toml --all-targets -- -D warnings
step "lint (clippy, fuzz crate, browser build)" env CARGO_TARGET_DIR="$fuzz_lint_target" \
  cargo clippy --manifest-path crates/fuzz/Cargo.toml --no-default-features --features browser --all-targets -- -D warnings
step "fuzz every decoder (short run)" bash scripts/fuzz.sh --seconds "${LIGHTSTREAM_FUZZ_SECONDS:-10}"
# The benches are type-checked by the workspace clippy above (--all-targets
# includes every [[bench]]); building them optimised is `benches/run.sh`'s job.

printf '\nlightstream: all checks passed (%dm%02ds)\n' \
  "$(((SECONDS - started) / 60))" "$(((SECONDS - started) % 60))"
