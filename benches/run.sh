#!/usr/bin/env bash
# Runs every benchmark of issue 2 in one go and prints the results table:
#   1. pyarrow writes its 8-aligned streams (benches/python/gen_and_time.py generate),
#   2. criterion: decode and encode benches (cargo bench -p lightstream-benches),
#      which also write Lightstream's and arrow-rs's streams to the data dir,
#   3. pyarrow times its decode of all three producers' bytes and its encode,
#   4. benches/python/report.py assembles the tables and checks the targets
#      (also written to <data dir>/report.md).
# Extra arguments go to criterion, e.g. `benches/run.sh decode_b` to filter.
# Environment: LIGHTSTREAM_BENCH_BATCHES (default 16), LIGHTSTREAM_BENCH_DATA
# (default target/bench-data), CRITERION_HOME (default target/criterion).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export LIGHTSTREAM_BENCH_DATA="${LIGHTSTREAM_BENCH_DATA:-$ROOT/target/bench-data}"
export CRITERION_HOME="${CRITERION_HOME:-$ROOT/target/criterion}"
LIGHTSTREAM_BENCH_RUN_START="$(date +%s)"
export LIGHTSTREAM_BENCH_RUN_START
mkdir -p "$LIGHTSTREAM_BENCH_DATA"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Compile first so the build does not overlap the timings.
cargo bench -p lightstream-benches --no-run
load_start="$(load)"
echo "load average at start: $load_start" >&2
python3 benches/python/gen_and_time.py generate
# glibc malloc keeps freed memory (no mmap, no trim) so that every iteration of
# a copying path does not pay the kernel for fresh pages again, and so that the
# results do not depend on benchmark order (glibc's dynamic mmap threshold).
# pyarrow's allocator (mimalloc) caches memory the same way. Run `cargo bench`
# directly to see glibc's defaults (see benches/README.md).
tunables="${LIGHTSTREAM_BENCH_GLIBC_TUNABLES-glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736}"
GLIBC_TUNABLES="$tunables" cargo bench -p lightstream-benches -- "$@"
python3 benches/python/gen_and_time.py time >/dev/null
load_end="$(load)"
python3 benches/python/report.py --load-start "$load_start" --load-end "$load_end" --tunables "$tunables"
