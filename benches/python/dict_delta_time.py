#!/usr/bin/env python3
"""pyarrow side of the dictionary-delta benchmark (benches/benches/dict_delta.rs).

    dict_delta_time.py FILE...

Each FILE is an IPC stream of N one-row batches, each preceded by a delta
dictionary batch (written by the Rust bench). Prints, one line per file, the
median seconds (3 samples below 20,000 batches, else 1) of reading it with
pa.ipc.open_stream and iterating its batches (each dropped as the next comes,
as the Rust decoders are timed; read_all would hold N dictionaries of up to N
values at once), checking the last batch's value.
"""

import sys
import time

import pyarrow as pa


def read(data):
    n = 0
    last = None
    with pa.ipc.open_stream(data) as reader:
        for batch in reader:
            last = batch
            n += 1
    col = last.column(0)
    assert col.indices[0].as_py() == n - 1, "key of the last batch"
    assert col[0].as_py() == f"value-{n - 1:07d}", "value of the last batch"
    return n


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = pa.py_buffer(f.read())
        n = None
        times = []
        samples = 3
        for _ in range(samples):
            start = time.perf_counter()
            n = read(data)
            times.append(time.perf_counter() - start)
            if n >= 20_000:
                break
        times.sort()
        print(f"{times[len(times) // 2]:.6f}", flush=True)


if __name__ == "__main__":
    main()
