#!/usr/bin/env python3
"""pyarrow reading an Arrow IPC stream over HTTP: the pyarrow line of
benches/benches/http.rs. Reads URL `reps` times with urllib +
`pa.ipc.open_stream(resp).read_all()` and prints the seconds of each read
(from the request to the table), one a line. Usage: http_read.py URL REPS."""

import sys
import time
import urllib.request

import pyarrow as pa


def main():
    url, reps = sys.argv[1], int(sys.argv[2])
    for _ in range(reps):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as resp:
            table = pa.ipc.open_stream(resp).read_all()
        secs = time.perf_counter() - start
        assert table.num_rows > 0
        print(f"{secs:.6f}", flush=True)


if __name__ == "__main__":
    main()
