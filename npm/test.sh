#!/usr/bin/env bash
# `npm test`: checks the decode-only .wasm against its size budget, type-checks
# index.d.ts and csv.d.ts against a file that uses every declared name
# (TypeScript from the repository's node_modules, installed by
# scripts/setup.sh --with=npm), then runs the Node.js tests in test/ against the
# built package (`npm run build` first; the connect tests need the CLI:
# $LIGHTSTREAM_BIN, else target/debug/lightstream). The browser tests are
# `cargo test -p lightstream-wasm --target wasm32-unknown-unknown` and
# tests/browser/ (both run by scripts/test.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
tsc="$repo/node_modules/typescript/bin/tsc"
[ -f "$tsc" ] || bash "$repo/scripts/setup.sh" --with=npm
[ -f "$here/pkg/lightstream_wasm_bg.wasm" ] || {
  echo "npm/test.sh: the package is not built: run npm run build (bash npm/build.sh) first" >&2
  exit 1
}
# The size budget of the decode-only module (issue 19): what a page that
# imports the root entry point downloads, gzipped (-9) as a server would send it.
budget=200000
gz=$(gzip -9c "$here/pkg/lightstream_wasm_bg.wasm" | wc -c)
if [ "$gz" -gt "$budget" ]; then
  echo "npm/test.sh: npm/pkg/lightstream_wasm_bg.wasm is $gz bytes gzipped, over its budget of $budget" >&2
  exit 1
fi
echo "npm/test.sh: decode-only .wasm $gz bytes gzipped (budget $budget)"
node "$tsc" --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext \
  --lib es2022,esnext.disposable,dom,dom.iterable,dom.asynciterable --skipLibCheck false "$here/test/types.ts"
echo "npm/test.sh: index.d.ts and csv.d.ts type-check"
# The JavaScript examples of npm/README.md and README.md, under the same
# strict checks (catch variables may be used as the errors they are).
examples="${CARGO_TARGET_DIR:-$repo/target}/npm-examples"
node "$repo/tests/snippets/ts-examples.mjs" "$examples" >/dev/null
node "$tsc" --noEmit --strict --useUnknownInCatchVariables false --allowJs --checkJs --target es2022 \
  --module nodenext --moduleResolution nodenext \
  --lib es2022,esnext.disposable,dom,dom.iterable,dom.asynciterable "$examples"/*.mjs
echo "npm/test.sh: the README examples type-check"
node --test "$here/test/"
# Node.js 20 and 21 have a global WebSocket only with --experimental-websocket
# (the first run tested connect without one, and through the ws package).
if node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)'; then
  echo "npm/test.sh: this Node.js has a global WebSocket: the run above used it"
else
  node --experimental-websocket --test --test-name-pattern 'global WebSocket' "$here/test/node.test.mjs"
fi
