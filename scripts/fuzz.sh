#!/usr/bin/env bash
# Fuzzes every decoder with cargo-fuzz (libFuzzer): the targets of crates/fuzz.
#
#   bash scripts/fuzz.sh [--seconds N] [--jobs J] [--build-only] [TARGET...]
#
# Targets (default: all): ipc_stream ipc_file tlv ws_message csv csv_pieces
# (CSV cut into pieces by csv::cut_piece, each read by CsvDecoder::for_chunk,
# against one decoder) parquet decompress
# flight_data (a Flight gRPC body through FlightToIpc and the IPC driver),
# flight_schema (Flight's schema bytes), browser_decode (the browser build of
# the core: LZ4 and the pure-Rust ZSTD
# decoder, through the wasm crate's entry points; built alone with
# `--no-default-features --features browser`, see crates/fuzz/Cargo.toml).
# Each runs for N seconds (default 20, or LIGHTSTREAM_FUZZ_SECONDS) in a
# libFuzzer process of its own, J at a time (default: one per core). Long
# mode, to look for new bugs rather than regressions: `bash scripts/fuzz.sh
# --seconds 600` (the corpus grows between runs; it lives in the target
# directory and is never committed).
#
# Steps: installs cargo-fuzz if missing (scripts/setup.sh --with=cargo-fuzz),
# builds every target once (release, AddressSanitizer, debug assertions),
# writes the seed corpora under $CARGO_TARGET_DIR/fuzz-corpus/<target>/ (our
# own writers' output from the `seeds` binary, plus Arrow's IPC conformance
# files and past fuzzer finds from ../shared/arrow-testing, files up to 1 MiB,
# and pyarrow's Flight DoGet bodies from tests/data/flight),
# then runs each target with -max_total_time=N, -rss_limit_mb=2048,
# -malloc_limit_mb=1024 and -timeout=10. Prints each target's final coverage
# (cov, ft), corpus size and exec/s. Exits non-zero on the first target that
# crashes, leaks, runs out of memory or times out, naming the target and the
# input that did it (under $CARGO_TARGET_DIR/fuzz-artifacts/<target>/); rerun it
# with `cargo fuzz run --fuzz-dir crates/fuzz TARGET FILE`.
#
# Env: CARGO_TARGET_DIR (default ./target), LIGHTSTREAM_FUZZ_SECONDS,
# LIGHTSTREAM_ARROW_TESTING (default ../shared/arrow-testing).
set -euo pipefail

script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
repo=$(dirname "$(dirname "$script")")
cd "$repo"

all_targets="ipc_stream ipc_file tlv ws_message csv csv_pieces parquet decompress flight_data flight_schema browser_decode"
seconds="${LIGHTSTREAM_FUZZ_SECONDS:-20}"
build_only=0
jobs=$(nproc 2>/dev/null || echo 1)
targets=()

usage() {
  sed -n '2,/^set -euo/p' "$script" | sed -e '$d' -e 's/^# \{0,1\}//'
}
say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || die "--seconds needs a value"; seconds=$2; shift ;;
    --seconds=*) seconds=${1#--seconds=} ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; jobs=$2; shift ;;
    --jobs=*) jobs=${1#--jobs=} ;;
    --build-only) build_only=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *)
      case " $all_targets " in
        *" $1 "*) targets+=("$1") ;;
        *) die "unknown target '$1' (expected one of: $all_targets)" ;;
      esac
      ;;
  esac
  shift
done
case "$seconds" in ''|*[!0-9]*) die "--seconds needs a whole number, got '$seconds'" ;; esac
case "$jobs" in ''|*[!0-9]*|0) die "--jobs needs a whole number above 0, got '$jobs'" ;; esac
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$all_targets"

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac
if ! cargo fuzz --version >/dev/null 2>&1; then
  bash scripts/setup.sh --minimal --with=cargo-fuzz
fi

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
export CARGO_TARGET_DIR="$target_dir"
corpus_root="$target_dir/fuzz-corpus"
artifacts_root="$target_dir/fuzz-artifacts"
testing="${LIGHTSTREAM_ARROW_TESTING:-$repo/../shared/arrow-testing}"
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$triple/release"

# ------------------------------------------------------------------ build --
started=$(date +%s)
say "building the fuzz targets (cargo fuzz build, AddressSanitizer, debug assertions)"
cargo fuzz build --fuzz-dir crates/fuzz
case " ${targets[*]} " in
  *" browser_decode "*)
    cargo fuzz build --fuzz-dir crates/fuzz --no-default-features --features browser browser_decode ;;
esac
say "built in $(( $(date +%s) - started )) s"
[ "$build_only" -eq 0 ] || exit 0

# ------------------------------------------------------------------ seeds --
# Files up to 1 MiB from the conformance corpus (streams get their target's
# option byte from the seeds binary; files are used as they are).
small_files() { # DIR PATTERN
  [ -d "$1" ] || return 0
  find "$1" -type f -name "$2" -size -1025k | sort
}
streams=()
files=()
if [ -d "$testing/data" ]; then
  mapfile -t streams < <(
    small_files "$testing/data/arrow-ipc-stream/integration" '*.stream'
    find "$testing/data/arrow-ipc-stream" -maxdepth 1 -type f -size -1025k | sort
  )
  mapfile -t files < <(
    small_files "$testing/data/arrow-ipc-stream/integration" '*.arrow_file'
    find "$testing/data/arrow-ipc-file" -maxdepth 1 -type f -size -1025k 2>/dev/null | sort
  )
else
  say "warning: $testing/data is missing; seeding from our own files only"
fi
mkdir -p "$corpus_root"
mapfile -t flight < <(small_files "$repo/tests/data/flight" '*.grpc')
"$bin_dir/seeds" "$corpus_root" --streams "${streams[@]}" --files "${files[@]}" \
  --flight "${flight[@]}"

# -------------------------------------------------------------------- run --
# One libFuzzer process at a time (-jobs/-workers default to 1), niced: CI
# machines and shared development boxes have few cores.
# Runs one target for $seconds and reports it; its exit code is libFuzzer's.
run_target() { # TARGET
  local t=$1 corpus="$corpus_root/$1" artifacts="$artifacts_root/$1"
  local log="$artifacts_root/$1.log" rc=0 last cov ft corp execs rate crash
  mkdir -p "$corpus" "$artifacts"
  say "$t: $(find "$corpus" -type f | wc -l) inputs in the corpus, running for $seconds s"
  nice "$bin_dir/$t" "$corpus" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=1048576 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[^ ]*\).*/\1/p' <<<"$last")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  say "$t: cov ${cov:-?} ft ${ft:-?} corpus ${corp:-?} execs ${execs:-?} (${rate:-?}/s)"
  if [ "$rc" -ne 0 ]; then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    grep -E 'ERROR: |panicked at|SUMMARY: ' "$log" | head -n 5 >&2 || true
    say "$t FAILED (exit $rc): input ${crash:-unknown}; log $log" >&2
  fi
  return "$rc"
}

# The targets run $jobs at a time (one libFuzzer process each, one per core by
# default): the same seconds of fuzzing per target in half the wall time on
# CI's two cores. No new target starts once one has failed.
failed=()
declare -A running=()
reap() { # waits for one target to end and records a failure
  local pid= rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  [ -n "$pid" ] || die "lost track of the running targets (wait -n: $rc)"
  [ "$rc" -eq 0 ] || failed+=("${running[$pid]}")
  unset "running[$pid]"
}
for t in "${targets[@]}"; do
  [ ${#failed[@]} -eq 0 ] || break
  while [ ${#running[@]} -ge "$jobs" ]; do
    set +e; reap; set -e
  done
  run_target "$t" &
  running[$!]=$t
done
while [ ${#running[@]} -gt 0 ]; do
  set +e; reap; set -e
done

if [ ${#failed[@]} -gt 0 ]; then
  die "target ${failed[*]} failed; reproduce with: cargo fuzz run --fuzz-dir crates/fuzz ${failed[0]} <input>"
fi
say "all ${#targets[@]} targets ran ${seconds} s each without a failure"
