#!/usr/bin/env bash
# Lightstream demo: builds the `lightstream` CLI (release) and the wasm npm
# package, then runs `lightstream demo`, which serves a page that streams a
# live, generated Arrow table from a WebSocket into the browser and decodes it
# there in WebAssembly. Open the URL it prints; Ctrl-C stops it. Installs what
# is missing first (the pinned Rust toolchain, C compilers, wasm-bindgen-cli).
#
#   bash scripts/demo.sh           build, then serve on 127.0.0.1:$LIGHTSTREAM_DEMO_PORT
#                                  (default 8080; a free port if that one is busy)
#   bash scripts/demo.sh --check   build, start the server on a free port, fetch the
#                                  page, the package and the .wasm, stop (for CI;
#                                  with LIGHTSTREAM_BIN set, that CLI is used as is)
#   bash scripts/demo.sh --tour    the command-line tour: generate, inspect, print and
#                                  convert a table in a temporary directory
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

mode=serve
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --tour) mode=tour ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: unknown argument '$1' (expected --check, --tour or nothing)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "demo: one argument at most" >&2; exit 2; }

if [ "$mode" = tour ]; then
  bash scripts/setup.sh --minimal
else
  bash scripts/setup.sh --minimal --with=wasm-bindgen
fi
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

if [ "$mode" = check ] && [ -n "${LIGHTSTREAM_BIN:-}" ] && [ -x "${LIGHTSTREAM_BIN}" ]; then
  # scripts/test.sh has built the CLI already (debug): --check only needs it
  # to serve, so it does not build a second, release one.
  bin=$LIGHTSTREAM_BIN
  echo "demo: using the CLI at $bin (LIGHTSTREAM_BIN)"
else
  echo "demo: building the lightstream CLI (release)"
  cargo build --release --quiet -p lightstream-cli
  bin="${CARGO_TARGET_DIR:-$repo/target}/release/lightstream"
  [ -x "$bin" ] || { echo "demo: error: $bin was not built" >&2; exit 1; }
fi

# ------------------------------------------------------------------- tour --
if [ "$mode" = tour ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  echo "demo: working in $work"

  # run WHAT ARGS...: says what the step does, shows the command, runs it.
  run() {
    printf '\n# %s\n$ lightstream %s\n' "$1" "${*:2}"
    "$bin" "${@:2}"
  }

  run "Write a generated example table (columns of several Arrow types) as an Arrow IPC file" \
    example demo.arrow
  run "Show its schema (the input kind, file or stream, is detected from the bytes)" \
    schema demo.arrow
  run "Print the first 10 rows" \
    cat demo.arrow --limit 10
  run "Convert it to a ZSTD-compressed IPC stream (.arrows means stream)" \
    convert demo.arrow demo.arrows --compression zstd
  run "Read the compressed stream back: first 5 rows" \
    cat demo.arrows --limit 5

  printf '\n# Sizes on disk\n'
  ls -l demo.arrow demo.arrows
  printf '\ndemo: done (temporary files are removed on exit)\n'
  exit 0
fi

echo "demo: building the npm package (wasm) into npm/pkg/"
bash npm/build.sh

# ------------------------------------------------------------------ check --
if [ "$mode" = check ]; then
  command -v curl >/dev/null 2>&1 || { echo "demo: error: --check needs curl" >&2; exit 1; }
  log=$(mktemp)
  server=""
  cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
      kill -TERM "$server" 2>/dev/null || true
      wait "$server" 2>/dev/null || true
    fi
    rm -f "$log"
  }
  trap cleanup EXIT
  "$bin" demo --listen 127.0.0.1:0 --web "$repo/web" --npm "$repo/npm" 2>"$log" &
  server=$!
  url=""
  for _ in $(seq 300); do # at most 30 s
    url=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$log")
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "demo: error: the server did not start:" >&2; cat "$log" >&2; exit 1; }
  echo "demo: server at $url"

  # fetch PATH TYPE: GET must answer 200 with that Content-Type.
  fetch() {
    local got
    got=$(curl -sS -o /dev/null --max-time 10 -w '%{http_code} %{content_type}' "${url%/}$1") || {
      echo "demo: error: GET $1 failed" >&2; exit 1; }
    if [ "$got" != "200 $2" ]; then
      echo "demo: error: GET $1 gave '$got', expected '200 $2'" >&2
      exit 1
    fi
    echo "demo: GET $1: $got"
  }
  fetch / "text/html; charset=utf-8"
  fetch /web/demo.js "text/javascript; charset=utf-8"
  fetch /npm/index.js "text/javascript; charset=utf-8"
  fetch /npm/pkg/lightstream_wasm.js "text/javascript; charset=utf-8"
  fetch /npm/pkg/lightstream_wasm_bg.wasm "application/wasm"
  echo "demo: check passed"
  exit 0
fi

# ------------------------------------------------------------------ serve --
port=${LIGHTSTREAM_DEMO_PORT:-8080}
case "$port" in ''|*[!0-9]*) echo "demo: error: LIGHTSTREAM_DEMO_PORT must be a port number" >&2; exit 2 ;; esac
# Something already answers on that port: let the system pick a free one.
if [ "$port" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "demo: port $port is busy; using a free port instead"
  port=0
fi
echo "demo: open the URL below in a browser (Ctrl-C stops the server)"
exec "$bin" demo --listen "127.0.0.1:$port" --web "$repo/web" --npm "$repo/npm"
