#!/usr/bin/env python3
"""pyarrow's side of the Parquet benchmark (benches/benches/parquet.rs).

Usage: parquet_time.py DIR [REPEATS]

DIR holds Lightstream's files `lightstream_{snappy,zstd}.parquet` (written by the
Rust bench). For each codec this script:
  - times pq.read_table on Lightstream's file (use_threads False: one thread,
    and True: pyarrow's default, pa.cpu_count() threads; the bench's own reads
    run with 1 and 2 decode threads),
  - writes `pyarrow_<codec>.parquet` from that table with the same settings
    (compression, dictionary encoding on, 1,048,576-row row groups) and times
    pq.write_table (pyarrow's writer encodes columns on one thread),
  - times pq.read_table on its own file (use_threads False and True).
Best of REPEATS (default 5) for each; prints one JSON document (seconds and
rows/s) and writes it to DIR/pyarrow_times.json.
"""

import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1024 * 1024


def best(f, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    d = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) == 3 else 5
    results = {"pyarrow": pa.__version__, "cpu_count": os.cpu_count(), "pyarrow_threads": pa.cpu_count(), "cases": {}}
    for codec in ("snappy", "zstd"):
        ours = os.path.join(d, f"lightstream_{codec}.parquet")
        theirs = os.path.join(d, f"pyarrow_{codec}.parquet")
        table = pq.read_table(ours)
        rows = table.num_rows
        case = {"rows": rows}
        for threads in (False, True):
            s, t = best(lambda: pq.read_table(ours, use_threads=threads), repeats)
            assert t.num_rows == rows
            case[f"read_lightstream_file_threads_{threads}"] = s
        s, _ = best(
            lambda: pq.write_table(table, theirs, compression=codec, use_dictionary=True, row_group_size=ROW_GROUP),
            repeats,
        )
        case["write"] = s
        for threads in (False, True):
            s, t = best(lambda: pq.read_table(theirs, use_threads=threads), repeats)
            assert t.num_rows == rows
            case[f"read_pyarrow_file_threads_{threads}"] = s
        case["file_bytes"] = {"lightstream": os.path.getsize(ours), "pyarrow": os.path.getsize(theirs)}
        case["rows_per_s"] = {k: rows / v for k, v in case.items() if isinstance(v, float)}
        results["cases"][codec] = case
    text = json.dumps(results, indent=1)
    with open(os.path.join(d, "pyarrow_times.json"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
