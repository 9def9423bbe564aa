#!/usr/bin/env python3
"""pyarrow's side of the Parquet benchmark (benches/benches/parquet.rs).

Usage: parquet_time.py DIR [REPEATS]

DIR holds Lightstream's files `lightstream_{snappy,zstd}.parquet` (written by the
Rust bench). For each codec this script:
  - times pq.read_table on Lightstream's file (use_threads False and True:
    pyarrow's default, pa.cpu_count() threads; the bench's own reads run with 1
    and 2 decode threads), and pq.ParquetFile(...).read(use_threads=False):
    read_table goes through the dataset scanner, which decodes row groups on
    pyarrow's I/O thread pool even with use_threads=False (on a file of two row
    groups its CPU time is 1.7-1.9x its wall time), while ParquetFile.read
    decodes on the calling thread only: pyarrow's one-core read,
  - writes `pyarrow_<codec>.parquet` from that table with the same settings
    (compression, dictionary encoding on, 1,048,576-row row groups) and times
    pq.write_table (pyarrow's writer encodes columns on one thread),
  - times the same three reads of its own file.
Best of REPEATS (default 5) for each, as wall time (perf_counter) and, under
"cpu", as the process's CPU time (process_time, all threads; best of the same
runs); prints one JSON document (seconds and rows/s) and writes it to
DIR/pyarrow_times.json.
"""

import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1024 * 1024


def best(f, repeats):
    """Best wall time, best CPU time (all threads) and the last result."""
    walls, cpus = [], []
    out = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = f()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


def reads(case, cpu, who, path, rows, repeats):
    """Times the three reads of `path` into `case` (wall) and `cpu`."""
    runs = [(f"threads_{t}", lambda t=t: pq.read_table(path, use_threads=t)) for t in (False, True)]
    runs.append(("one_core", lambda: pq.ParquetFile(path).read(use_threads=False)))
    for name, f in runs:
        s, c, t = best(f, repeats)
        assert t.num_rows == rows
        case[f"read_{who}_file_{name}"] = s
        cpu[f"read_{who}_file_{name}"] = c


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
        case, cpu = {"rows": rows}, {}
        reads(case, cpu, "lightstream", ours, rows, repeats)
        s, c, _ = best(
            lambda: pq.write_table(table, theirs, compression=codec, use_dictionary=True, row_group_size=ROW_GROUP),
            repeats,
        )
        case["write"], cpu["write"] = s, c
        reads(case, cpu, "pyarrow", theirs, rows, repeats)
        case["cpu"] = cpu
        case["file_bytes"] = {"lightstream": os.path.getsize(ours), "pyarrow": os.path.getsize(theirs)}
        case["rows_per_s"] = {k: rows / v for k, v in case.items() if isinstance(v, float)}
        results["cases"][codec] = case
    text = json.dumps(results, indent=1)
    with open(os.path.join(d, "pyarrow_times.json"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
