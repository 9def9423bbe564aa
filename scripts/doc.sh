#!/usr/bin/env bash
# The API docs as docs.rs builds them (every feature, `--cfg docsrs` for the
# "Available on crate feature X only" badges), with every rustdoc warning an
# error: broken, ambiguous or private intra-doc links, bad code block
# attributes. rustdoc does not warn about one more failure, so the generated
# HTML is searched for it: a link that resolved but rendered as literal
# brackets because rustdoc did not know where the target crate's docs live.
# For crates.io dependencies ([`minarrow::Table`]) .cargo/config.toml turns on
# cargo's rustdoc-map (docs.rs URLs, as docs.rs does); for our own crates the
# docs must already be in target/doc when a crate that links to them is
# documented (rustdoc looks for the directory when it starts), hence one
# `cargo doc` per crate, dependencies first.
#
# The examples in the docs are not run here: they are doc tests (`cargo test`).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

export RUSTDOCFLAGS="-D warnings --cfg docsrs"
cargo doc --no-deps -p lightstream-core --all-features
cargo doc --no-deps -p lightstream --all-features
# The browser crate has no features of its own.
cargo doc --no-deps -p lightstream-wasm

doc=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/doc

# Feature badges: a feature-gated module must say which feature it needs.
badge='Available on <strong>crate feature <code>parquet</code></strong> only'
if ! grep -q "$badge" "$doc/lightstream/parquet/index.html"; then
  echo "doc.sh: no feature badge on lightstream::parquet (doc_cfg under cfg(docsrs) in lib.rs?)" >&2
  exit 1
fi

literal=$(grep -rhoE '\[<code>[^<]*</code>\]' "$doc/lightstream" "$doc/lightstream_core" \
  "$doc/lightstream_wasm" | sort | uniq -c || true)
if [ -n "$literal" ]; then
  echo "doc.sh: links rendered as literal brackets (give the item's full path, or" >&2
  echo "check that its crate is a dependency of the crate that links to it):" >&2
  echo "$literal" >&2
  exit 1
fi
echo "doc.sh: lightstream, lightstream-core and lightstream-wasm documented; no broken links"
