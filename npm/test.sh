#!/usr/bin/env bash
# `npm test`: type-checks index.d.ts against a file that uses every declared
# name (TypeScript from the repository's node_modules, installed by
# scripts/setup.sh --with=npm), then runs the Node.js tests in test/ against the
# built package (`npm run build` first). The browser tests are
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
node "$tsc" --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext \
  --lib es2022,esnext.disposable,dom,dom.iterable,dom.asynciterable --skipLibCheck false "$here/test/types.ts"
echo "npm/test.sh: index.d.ts type-checks"
# The JavaScript examples of npm/README.md and README.md, under the same
# strict checks (catch variables may be used as the errors they are).
examples="${CARGO_TARGET_DIR:-$repo/target}/npm-examples"
node "$repo/tests/snippets/ts-examples.mjs" "$examples" >/dev/null
node "$tsc" --noEmit --strict --useUnknownInCatchVariables false --allowJs --checkJs --target es2022 \
  --module nodenext --moduleResolution nodenext \
  --lib es2022,esnext.disposable,dom,dom.iterable,dom.asynciterable "$examples"/*.mjs
echo "npm/test.sh: the README examples type-check"
node --test "$here/test/"
