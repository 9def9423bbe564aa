#!/usr/bin/env python3
"""pyarrow.flight's side of the Flight benchmark (benches/benches/flight.rs,
issue 20): a DoGet server and a DoGet client, each in its own interpreter.

    flight_time.py serve [--shapes a,b] [--port 0]
        a FlightServerBase on 127.0.0.1 serving each shape's pyarrow-written
        stream (<data-dir>/shape_<s>.pyarrow.arrows, made by
        gen_and_time.py generate) under the ticket "<s>"; the batches are read
        into memory before the port is printed on the first line of stdout;
        serves until stdin closes.
    flight_time.py get URL TICKET [--reps 5]
        one untimed DoGet, then --reps timed ones, each read batch by batch
        (looking at nothing but num_rows, as the Rust clients do); prints JSON:
        seconds of every rep, Arrow buffer bytes and rows per stream.

Environment: LIGHTSTREAM_BENCH_DATA (default <repo>/target/bench-data).
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as fl

REPO = Path(__file__).resolve().parents[2]


def data_dir():
    return Path(os.environ.get("LIGHTSTREAM_BENCH_DATA", REPO / "target" / "bench-data"))


class Server(fl.FlightServerBase):
    def __init__(self, location, tables):
        super().__init__(location)
        self.tables = tables

    def do_get(self, context, ticket):
        name = ticket.ticket.decode()
        if name not in self.tables:
            raise KeyError(f"no such ticket: {name}")
        # One FlightData per batch, as pyarrow's own services send them.
        return fl.RecordBatchStream(self.tables[name])


def serve(args):
    tables = {}
    for shape in args.shapes.split(","):
        path = data_dir() / f"shape_{shape}.pyarrow.arrows"
        if not path.exists():
            sys.exit(f"{path} is missing: run benches/python/gen_and_time.py generate first")
        # The file's bytes in memory (the server serves from memory, like
        # ours), its batches as written: one FlightData each.
        with pa.ipc.open_stream(pa.py_buffer(path.read_bytes())) as r:
            tables[shape] = r.read_all()
    server = Server(f"grpc://127.0.0.1:{args.port}", tables)
    print(server.port, flush=True)
    threading.Thread(target=server.serve, daemon=True).start()
    sys.stdin.read()  # the parent closes stdin to stop us
    server.shutdown()


def get(args):
    client = fl.connect(args.url)
    ticket = fl.Ticket(args.ticket.encode())

    def once():
        rows = nbytes = 0
        reader = client.do_get(ticket)
        for chunk in reader:
            rows += chunk.data.num_rows
            nbytes += chunk.data.nbytes
        return rows, nbytes

    rows, nbytes = once()
    seconds = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        once()
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": seconds, "rows": rows, "bytes": nbytes}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--shapes", default="a,b")
    s.add_argument("--port", type=int, default=0)
    g = sub.add_parser("get")
    g.add_argument("url")
    g.add_argument("ticket")
    g.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    serve(args) if args.mode == "serve" else get(args)


if __name__ == "__main__":
    main()
