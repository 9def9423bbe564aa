#!/usr/bin/env bash
# Lightstream demo: builds the `lightstream` CLI in release mode and walks
# through it on a generated example table, in a temporary directory. Needs no
# server and no input files; installs the Rust toolchain first if it is missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/setup.sh --minimal
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

echo "demo: building the lightstream CLI (release)"
cargo build --release --quiet -p lightstream-cli
bin="${CARGO_TARGET_DIR:-$repo/target}/release/lightstream"
[ -x "$bin" ] || { echo "demo: error: $bin was not built" >&2; exit 1; }

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
