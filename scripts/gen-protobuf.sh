#!/usr/bin/env bash
# Regenerates crates/lightstream/src/flight/proto.rs (prost message structs) from
# crates/lightstream/proto/flight.proto with scripts/gen-protobuf/ (protox +
# prost-build, pure Rust, no protoc). The generated file is committed and never
# edited by hand; CI does not run this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo run --quiet --release --manifest-path scripts/gen-protobuf/Cargo.toml \
  --target-dir scripts/gen-protobuf/target -- "$root"
rustfmt --edition 2024 crates/lightstream/src/flight/proto.rs
