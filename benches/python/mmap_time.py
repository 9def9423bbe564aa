#!/usr/bin/env python3
"""pyarrow side of the memory-map benchmark (issue 5, "Memory-mapped Arrow").

The table: LIGHTSTREAM_BENCH_MMAP_ROWS rows (default 100,000,000) of shape (a)
(i64, f64, i32, f32, no nulls; the same values as benches/src/lib.rs, built by
gen_and_time.py's Generator) in batches of 1,000,000 rows (fewer when the
total is smaller).

    mmap_time.py generate [--force]
        writes <data-dir>/mmap/mmap_a_<rows>.pyarrow.arrow with pa.ipc.new_file,
        batch by batch (pyarrow's default 8-byte alignment); skipped when the
        file is there with the right batches, rows and size (its sidecar .json)
    mmap_time.py time [--samples N]
        times, on every mmap_a_<rows>.*.arrow file there (pyarrow's and the one
        Lightstream's bench wrote), median of N samples, page cache warm:
          open_tables: pa.memory_map + pa.ipc.open_file + get every batch
          sum_f64: the same, then pyarrow.compute.sum of the f64 column of
                   each batch, added up in Python
        prints JSON (milliseconds) and writes <data-dir>/mmap/pyarrow_mmap_times.json

Environment: LIGHTSTREAM_BENCH_MMAP_ROWS, LIGHTSTREAM_BENCH_DATA (default
<repo>/target/bench-data). numpy is not needed.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_and_time as g  # noqa: E402  (the shared generator)

BATCH_ROWS = 1_000_000
PRODUCERS = ("lightstream", "pyarrow")


def layout(total):
    """(batches, rows per batch) for `total` rows; as benches/benches/mmap.rs."""
    per = min(BATCH_ROWS, total)
    if total <= 0 or total % per:
        sys.exit(f"LIGHTSTREAM_BENCH_MMAP_ROWS={total} must be positive and below or a multiple of {BATCH_ROWS}")
    return total // per, per


def file_path(data_dir, rows, producer):
    return Path(data_dir) / "mmap" / f"mmap_a_{rows}.{producer}.arrow"


def generate(args):
    batches, per = layout(args.rows)
    path = file_path(args.data_dir, args.rows, "pyarrow")
    sidecar = path.with_suffix(".json")
    if not args.force and path.exists() and sidecar.exists():
        try:
            want = json.loads(sidecar.read_text())
            if want == {"batches": batches, "rows_per_batch": per, "size": path.stat().st_size}:
                print(f"{path} is up to date", file=sys.stderr)
                return
        except ValueError:
            pass
    gen = g.Generator()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    with pa.OSFile(str(tmp), "wb") as f, pa.ipc.new_file(f, g.SCHEMAS["a"]) as w:
        for i in range(batches):
            w.write_batch(gen.batch("a", i, per))
    os.replace(tmp, path)
    sidecar.write_text(json.dumps({"batches": batches, "rows_per_batch": per, "size": path.stat().st_size}))
    print(f"wrote {path} ({path.stat().st_size} bytes) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def median_ms(fn, samples):
    fn()  # warm-up (and page cache)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def open_tables(path):
    with pa.memory_map(str(path)) as src:
        r = pa.ipc.open_file(src)
        return [r.get_batch(i) for i in range(r.num_record_batches)]


def sum_f64(path):
    with pa.memory_map(str(path)) as src:
        r = pa.ipc.open_file(src)
        total = 0.0
        for i in range(r.num_record_batches):
            total += pc.sum(r.get_batch(i).column(1)).as_py()
        return total


def time_files(args):
    batches, per = layout(args.rows)
    out = {
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "rows": args.rows,
        "batches": batches,
        "samples": args.samples,
        "loadavg_start": list(os.getloadavg()),
        "files": {},
    }
    for producer in PRODUCERS:
        path = file_path(args.data_dir, args.rows, producer)
        if not path.exists():
            print(f"note: {path} missing; not timed", file=sys.stderr)
            continue
        tables = open_tables(path)
        assert len(tables) == batches and sum(t.num_rows for t in tables) == args.rows, path
        del tables
        med_open, min_open = median_ms(lambda: open_tables(path), args.samples)
        med_sum, min_sum = median_ms(lambda: sum_f64(path), args.samples)
        out["files"][producer] = {
            "bytes": path.stat().st_size,
            "open_tables_ms": med_open,
            "open_tables_min_ms": min_open,
            "sum_f64_ms": med_sum,
            "sum_f64_min_ms": min_sum,
            "sum": sum_f64(path),
        }
        print(f"{producer}: {json.dumps(out['files'][producer])}", file=sys.stderr)
    out["loadavg_end"] = list(os.getloadavg())
    dest = Path(args.data_dir) / "mmap" / "pyarrow_mmap_times.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def main():
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["generate", "time"])
    p.add_argument("--force", action="store_true", help="write the pyarrow file even if up to date")
    p.add_argument("--rows", type=int, default=int(env.get("LIGHTSTREAM_BENCH_MMAP_ROWS", 100_000_000)))
    p.add_argument(
        "--data-dir", default=env.get("LIGHTSTREAM_BENCH_DATA", str(g.REPO / "target" / "bench-data"))
    )
    p.add_argument("--samples", type=int, default=15, help="timed samples per case (median)")
    args = p.parse_args()
    assert g.mix_int(1, 0) == g.PINNED_MIX_1_0, "generator differs from benches/src/lib.rs"
    if args.mode == "generate":
        generate(args)
    else:
        time_files(args)


if __name__ == "__main__":
    main()
