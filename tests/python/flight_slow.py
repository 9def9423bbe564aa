#!/usr/bin/env python3
"""Slow pyarrow.flight peers for Lightstream's Flight memory tests: a peer that takes
one batch, then sleeps, so the other side must hold back (backpressure) instead of
queueing the stream in memory.

Usage: flight_slow.py CMD ARGS...

  generate OUT ROWS BATCH_ROWS
        writes an IPC file OUT (pyarrow) of ROWS rows of (i64, f64, i32, f32) in
        batches of BATCH_ROWS rows (24 bytes a row, the same batch repeated);
        prints {"bytes": file size}
  get URL TICKET PAUSE BATCHES
        DoGet TICKET from URL, reading one batch and then sleeping PAUSE seconds,
        BATCHES batches in all (then it hangs up); prints {"batches": n, "rows": n,
        "bytes": Arrow buffer bytes read}
  serve-put PAUSE
        a FlightServerBase on 127.0.0.1 (port chosen by the system, printed as
        {"port": n} on the first line) whose DoPut reads one batch and sleeps PAUSE
        seconds until the stream ends, then prints {"batches": n, "rows": n,
        "bytes": n} and exits
"""

import json
import sys
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.ipc as ipc


def say(doc):
    print(json.dumps(doc), flush=True)


def generate(out, rows, batch_rows):
    schema = pa.schema([("i64", pa.int64()), ("f64", pa.float64()), ("i32", pa.int32()), ("f32", pa.float32())])
    # One batch, written again and again: the values do not matter here.
    batch = pa.record_batch(
        [
            pa.array(range(batch_rows), pa.int64()),
            pa.array(range(batch_rows), pa.float64()),
            pa.array([i % 1000 for i in range(batch_rows)], pa.int32()),
            pa.array([float(i % 7) for i in range(batch_rows)], pa.float32()),
        ],
        schema=schema,
    )
    with ipc.new_file(out, schema) as w:
        done = 0
        while done < rows:
            n = min(batch_rows, rows - done)
            w.write_batch(batch.slice(0, n))
            done += n
    with open(out, "rb") as f:
        f.seek(0, 2)
        say({"bytes": f.tell()})


def get(url, ticket, pause, batches):
    client = fl.connect(url)
    reader = client.do_get(fl.Ticket(ticket.encode("utf-8")))
    n = rows = nbytes = 0
    for chunk in reader:
        n += 1
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
        if n == batches:
            break
        time.sleep(pause)
    reader.cancel()
    client.close()
    say({"batches": n, "rows": rows, "bytes": nbytes})


class SlowPut(fl.FlightServerBase):
    def __init__(self, pause):
        super().__init__("grpc://127.0.0.1:0")
        self.pause = pause
        self.got = None

    def do_put(self, context, descriptor, reader, writer):
        n = rows = nbytes = 0
        for chunk in reader:
            n += 1
            rows += chunk.data.num_rows
            nbytes += chunk.data.nbytes
            time.sleep(self.pause)
        self.got = {"batches": n, "rows": rows, "bytes": nbytes}


def serve_put(pause):
    server = SlowPut(pause)
    say({"port": server.port})
    while server.got is None:
        time.sleep(0.05)
    say(server.got)
    server.shutdown()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "generate":
        generate(args[0], int(args[1]), int(args[2]))
    elif cmd == "get":
        get(args[0], args[1], float(args[2]), int(args[3]))
    elif cmd == "serve-put":
        serve_put(float(args[0]))
    else:
        sys.exit(f"flight_slow.py: unknown command {cmd!r}")


if __name__ == "__main__":
    main()
