#!/usr/bin/env python3
"""pyarrow over a loopback TCP socket: the pyarrow line of the transport
benchmark (benches/benches/transport.rs).

This process generates shape (a) (i64, f64, i32, f32; the same values as the
Rust generator, via gen_and_time.py) and writes it with
`pa.ipc.new_stream(sock.makefile("wb"), schema)` + `write_batch`; a reader
subprocess (its own interpreter, so no GIL is shared) reads it with
`pa.ipc.open_stream(sock.makefile("rb"))`, iterating the batches, looking at
nothing but `num_rows`, and answers with the row count when the stream ends.

One repetition: accept a fresh connection (untimed), then time from the first
write until the reader's answer arrives. One untimed warm-up repetition, then
--reps timed ones. Prints JSON (GiB/s of Arrow buffer bytes: best of the reps,
and the median) and writes it to <data-dir>/pyarrow_tcp.json.

Environment: LIGHTSTREAM_BENCH_BATCHES (default 16), LIGHTSTREAM_BENCH_ROWS
(default 1,000,000), LIGHTSTREAM_BENCH_DATA (default <repo>/target/bench-data).
"""

import argparse
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TIMEOUT_S = 120  # no single accept, read or write may take longer
ACK = struct.Struct("<QQ")  # batches, rows


def reader(port, reps):
    """The reading side: `reps` connections, each one whole stream."""
    import pyarrow as pa

    for _ in range(reps):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            batches = rows = 0
            with sock.makefile("rb") as f:
                for batch in pa.ipc.open_stream(f):
                    batches += 1
                    rows += batch.num_rows
            sock.sendall(ACK.pack(batches, rows))


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise RuntimeError("the reader closed the connection without answering")
        out += chunk
    return out


def transfer(listener, schema, batches):
    """One timed repetition; returns (seconds, (batches, rows) the reader saw)."""
    import pyarrow as pa

    conn, _ = listener.accept()
    with conn:
        conn.settimeout(TIMEOUT_S)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        with conn.makefile("wb") as f:
            with pa.ipc.new_stream(f, schema) as w:
                for b in batches:
                    w.write_batch(b)
        conn.shutdown(socket.SHUT_WR)
        seen = ACK.unpack(recv_exact(conn, ACK.size))
        return time.perf_counter() - start, seen


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=int(os.environ.get("LIGHTSTREAM_BENCH_BATCHES", "16")))
    p.add_argument("--rows", type=int, default=int(os.environ.get("LIGHTSTREAM_BENCH_ROWS", "1000000")))
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (plus one warm-up)")
    p.add_argument("--data-dir", default=os.environ.get("LIGHTSTREAM_BENCH_DATA", str(REPO / "target" / "bench-data")))
    p.add_argument("--out", default=None, help="JSON output (default <data-dir>/pyarrow_tcp.json)")
    p.add_argument("--reader-port", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.reader_port is not None:
        reader(args.reader_port, args.reps + 1)
        return
    assert args.batches > 0 and args.rows > 0 and args.reps > 0

    import pyarrow as pa

    sys.path.insert(0, str(HERE))
    from gen_and_time import SCHEMAS, Generator

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(TIMEOUT_S)
    port = listener.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, __file__, "--reader-port", str(port), "--reps", str(args.reps)]
    )
    try:
        batches = Generator().batches("a", args.batches, args.rows)
        schema = SCHEMAS["a"]
        nbytes = sum(b.nbytes for b in batches)
        assert nbytes == 24 * args.rows * args.batches, nbytes
        want = (args.batches, args.batches * args.rows)
        times = []
        for rep in range(args.reps + 1):
            seconds, seen = transfer(listener, schema, batches)
            if tuple(seen) != want:
                raise RuntimeError(f"the reader saw {seen} (batches, rows), not {want}")
            if rep > 0:  # rep 0 warms up
                times.append(seconds)
            print(f"pyarrow tcp rep {rep}: {nbytes / seconds / 2**30:.2f} GiB/s", file=sys.stderr)
        child.wait(timeout=TIMEOUT_S)
        if child.returncode != 0:
            raise RuntimeError(f"the reader process failed ({child.returncode})")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        listener.close()

    best, median = min(times), statistics.median(times)
    result = {
        "what": "pyarrow new_stream(sock.makefile('wb')) -> open_stream(sock.makefile('rb')), 127.0.0.1 TCP, "
        "reader in a subprocess",
        "shape": "a",
        "batches": args.batches,
        "rows_per_batch": args.rows,
        "buffer_bytes": nbytes,
        "reps": args.reps,
        "seconds": times,
        "gib_per_s_best": nbytes / best / 2**30,
        "gib_per_s_median": nbytes / median / 2**30,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "loadavg_end": list(os.getloadavg()),
    }
    text = json.dumps(result, indent=2)
    out = Path(args.out) if args.out else Path(args.data_dir) / "pyarrow_tcp.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
