"""pyarrow's CSV throughput on the file benches/benches/csv.rs generates (issue 5).

    python3 benches/python/csv_time.py [PATH]

PATH defaults to $LIGHTSTREAM_BENCH_DATA/csv-bench-1000000.csv (or
target/bench-data/...). Times pyarrow.csv.read_csv with inference and with
explicit column types, each with use_threads=False (1 thread) and True (its
default, all cores: the counterpart of the Rust bench's threads_2 on a 2-core
machine), and write_csv of the table read; prints the best of 5 runs in MB/s of
CSV text. Run the Rust bench first so that the file exists.
"""

import os
import sys
import time

import pyarrow as pa
import pyarrow.csv as pcsv


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.environ.get("LIGHTSTREAM_BENCH_DATA", os.path.join(root, "target", "bench-data"))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(data, "csv-bench-1000000.csv")
    size = os.path.getsize(path)
    mb = size / 1e6
    print(f"pyarrow {pa.__version__}, {path} ({mb:.1f} MB), {pa.cpu_count()} threads "
          f"by default, load average {os.getloadavg()}")
    types = {"id": pa.int64(), "price": pa.float64(), "flag": pa.bool_(),
             "ts": pa.timestamp("s"), "name": pa.string()}
    table = None
    for threads in (False, True):
        ropts = pcsv.ReadOptions(use_threads=threads)
        for label, copts in (("inferred", None), ("given schema", pcsv.ConvertOptions(column_types=types))):
            def run():
                nonlocal table
                table = pcsv.read_csv(path, read_options=ropts, convert_options=copts)
            secs = best_of(5, run)
            n = pa.cpu_count() if threads else 1
            print(f"read  {label:<13} use_threads={threads!s:<5} (threads_{n}): "
                  f"{secs * 1e3:8.1f} ms  {mb / secs:8.1f} MB/s")
    assert table.num_rows > 0 and str(table.schema.field("ts").type) == "timestamp[s]"
    sink_path = path + ".pyarrow-out"
    secs = best_of(5, lambda: pcsv.write_csv(table, pa.BufferOutputStream()))
    print(f"write (to memory)                  : {secs * 1e3:8.1f} ms  {mb / secs:8.1f} MB/s of input size")
    if os.path.exists(sink_path):
        os.remove(sink_path)


if __name__ == "__main__":
    main()
