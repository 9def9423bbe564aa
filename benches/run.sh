#!/usr/bin/env bash
# Runs every benchmark of issue 2 in one go and prints the results table:
#   1. pyarrow writes its 8-aligned streams (benches/python/gen_and_time.py generate),
#   2. criterion: decode, encode and transport benches (cargo bench -p
#      lightstream-benches), which also write Lightstream's and arrow-rs's
#      streams to the data dir,
#   3. pyarrow times its decode of all three producers' bytes and its encode,
#      and its IPC stream over a loopback TCP socket (benches/python/tcp_throughput.py),
#   4. benches/python/report.py assembles the tables and checks the targets
#      (also written to <data dir>/report.md).
#   5. only with the file targets `mmap`, `csv`, `parquet` (issue 5; not in the
#      default list: the mmap files take 5 GB): their criterion benches and
#      pyarrow's side (benches/python/{mmap,csv,parquet}_time.py), printed as
#      they run (summarised by hand in benches/README.md, "Files").
#   6. only with the `fanout` target (issue 17; not in the default list: it
#      opens 1,000 loopback connections and takes a few minutes): one feed to
#      1..1,000 subscribers, hub vs one writer per client vs raw broadcast
#      (benches/benches/fanout.rs; table in <data dir>/fanout.md, summarised
#      by hand in benches/README.md, "Fan-out").
#   7. only with the `nats` and `nats_fanout` targets (issue 22; not in the
#      default list: they need Debian's nats-server): one feed over tcp:// and
#      through nats-server (core, JetStream on file and in memory), and 1
#      publisher -> nats-server -> 3 relays (the release CLI, built first) ->
#      300 WebSocket subscribers each, CPU per component (benches/benches/
#      nats.rs, nats_fanout.rs; table in <data dir>/nats_fanout.md, summarised
#      by hand in benches/README.md, "NATS (issue 22)").
#   8. only with the `browser` target (not in the default list): builds the
#      CLI and the npm package, then benches/web/run.mjs times Lightstream's
#      wasm package beside Apache Arrow JS (and flechette) in headless Chromium
#      (issue 4; report in <data dir>/browser.md, samples in browser.json).
# Extra arguments go to criterion, e.g. `benches/run.sh decode_b` to filter.
# Environment: LIGHTSTREAM_BENCH_BATCHES (default 16), LIGHTSTREAM_BENCH_DATA
# (default target/bench-data), CRITERION_HOME (default target/criterion),
# LIGHTSTREAM_BENCH_TARGETS (default decode,encode,transport: which criterion
# bench targets to run, with their pyarrow counterparts; e.g. `transport`;
# `browser` adds the browser benchmarks: LIGHTSTREAM_BENCH_TARGETS=browser
# runs them alone), LIGHTSTREAM_BROWSER_ARGS (arguments for run.mjs, e.g.
# "--wait-load 0.5 --reps 11"; see `node benches/web/run.mjs --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export LIGHTSTREAM_BENCH_DATA="${LIGHTSTREAM_BENCH_DATA:-$ROOT/target/bench-data}"
export CRITERION_HOME="${CRITERION_HOME:-$ROOT/target/criterion}"
LIGHTSTREAM_BENCH_RUN_START="$(date +%s)"
export LIGHTSTREAM_BENCH_RUN_START
mkdir -p "$LIGHTSTREAM_BENCH_DATA"
load() { cut -d' ' -f1-3 /proc/loadavg; }
targets="${LIGHTSTREAM_BENCH_TARGETS:-decode,encode,transport}"
has() { [[ ",$targets," == *",$1,"* ]]; }
bench_args=()
browser=false
for t in ${targets//,/ }; do
  case "$t" in
    decode | encode | transport | mmap | csv | parquet | fanout | nats | nats_fanout) bench_args+=(--bench "$t") ;;
    # Not a criterion bench: never passed to cargo bench (see the end).
    browser) browser=true ;;
    *) echo "LIGHTSTREAM_BENCH_TARGETS: unknown bench target $t (decode, encode, transport, mmap, csv, parquet, fanout, nats, nats_fanout, browser)" >&2; exit 2 ;;
  esac
done
[[ ${#bench_args[@]} -gt 0 ]] || $browser || { echo "LIGHTSTREAM_BENCH_TARGETS names no bench target" >&2; exit 2; }
codec=false
if has decode || has encode; then codec=true; fi
sections="$(if $codec; then printf codec,; fi)$(if has transport; then printf transport; fi)"

if [[ ${#bench_args[@]} -gt 0 ]]; then
  # Compile first so the build does not overlap the timings (nats_fanout runs
  # the release CLI).
  if has nats_fanout; then cargo build --release -p lightstream-cli; fi
  cargo bench -p lightstream-benches "${bench_args[@]}" --no-run
  load_start="$(load)"
  echo "load average at start: $load_start" >&2
  if $codec; then python3 benches/python/gen_and_time.py generate; fi
  if has mmap; then python3 benches/python/mmap_time.py generate; fi
  # glibc malloc keeps freed memory (no mmap, no trim) so that every iteration of
  # a copying path does not pay the kernel for fresh pages again, and so that the
  # results do not depend on benchmark order (glibc's dynamic mmap threshold).
  # pyarrow's allocator (mimalloc) caches memory the same way. Run `cargo bench`
  # directly to see glibc's defaults (see benches/README.md).
  tunables="${LIGHTSTREAM_BENCH_GLIBC_TUNABLES-glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736}"
  GLIBC_TUNABLES="$tunables" cargo bench -p lightstream-benches "${bench_args[@]}" -- "$@"
  if $codec; then python3 benches/python/gen_and_time.py time >/dev/null; fi
  if has transport; then python3 benches/python/tcp_throughput.py --reps 15 >/dev/null; fi
  # The file benches print their own results (parquet.rs runs parquet_time.py).
  if has mmap; then python3 benches/python/mmap_time.py time; fi
  if has csv; then python3 benches/python/csv_time.py; fi
  load_end="$(load)"
  echo "load average at end: $load_end" >&2
  if [[ -n "$sections" ]]; then
    python3 benches/python/report.py --load-start "$load_start" --load-end "$load_end" --tunables "$tunables" \
      --sections "$sections"
  fi
fi

if $browser; then
  # Build the server and the npm package first so the builds do not overlap the
  # timings; run.mjs generates its own (smaller) shape files, starts
  # `lightstream serve` per shape and drives headless Chromium.
  cargo build --release -p lightstream-cli
  bash npm/build.sh
  read -r -a browser_args <<<"${LIGHTSTREAM_BROWSER_ARGS:-}"
  node benches/web/run.mjs "${browser_args[@]}"
fi
