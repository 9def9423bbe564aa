#!/usr/bin/env python3
"""pyarrow's side of the live feed tests (`lightstream serve URL -`, `relay`).

Usage:
  feed_peer.py produce TEE_FILE
      Writes an Arrow IPC stream to stdout (and the same bytes to TEE_FILE):
      the schema at once, then obeys one command per line on stdin:
        tables N   N more tables (flushed; "emitted K" on stderr after each)
        cut        half of the next table's messages, then exit (no end marker)
        next       end this stream and start one of another schema
        end        the end-of-stream marker, then exit
      Columns: seq (int64, counting rows), list<int64>, struct, map, and a
      dictionary column whose dictionary grows by deltas and is replaced
      every fourth table (IpcWriteOptions(emit_dictionary_deltas=True)).
  feed_peer.py subscribe HOST:PORT OUT [--slow]
      Connects over TCP and reads the stream with pyarrow, validating every
      batch in full; prints "schema" and then "batch FIRST_SEQ" per batch on
      stderr; writes what it read to OUT as a stream. --slow reads 1 KiB every
      10 ms. Prints "end N" (or "error MESSAGE", exit 3).
  feed_peer.py check FEED GOT MODE
      GOT must validate and equal FEED's batches from the one whose first seq
      is GOT's first: MODE `suffix` (contiguous to FEED's end), `prefix-of-
      suffix` (contiguous, may stop early) or `gaps` (in order, tables may be
      missing). Values compare decoded (dictionaries as their values). Prints
      JSON {"start": index in FEED, "count": n}; exit 1 on any difference.
"""

import json
import socket
import sys
import time

import pyarrow as pa
import pyarrow.ipc as ipc

ROWS = 50


class Tee:
    def __init__(self, *sinks):
        self.sinks = sinks
        self.closed = False

    def write(self, data):
        for s in self.sinks:
            s.write(data)
        return len(data)

    def flush(self):
        for s in self.sinks:
            s.flush()

    def close(self):
        self.flush()


def table(k, seq0, schema):
    """Table k: its dictionary grows with k, and is replaced every fourth."""
    generation = k // 4
    words = [f"g{generation}w{i}" for i in range(2 + k % 4)]
    city = pa.DictionaryArray.from_arrays(
        pa.array([(seq0 + j) % len(words) for j in range(ROWS)], pa.int32()),
        pa.array(words, pa.string()),
    )
    cols = [
        pa.array(range(seq0, seq0 + ROWS), pa.int64()),
        pa.array([[seq0, j] for j in range(ROWS)], pa.list_(pa.int64())),
        pa.array([{"a": j, "b": f"s{k}.{j}"} for j in range(ROWS)], schema.field("struct").type),
        pa.array([[("k", j)] for j in range(ROWS)], pa.map_(pa.string(), pa.int64())),
        city,
    ]
    return pa.record_batch(cols, schema=schema)


def schema_of(generation):
    fields = [
        ("seq", pa.int64()),
        ("list", pa.list_(pa.int64())),
        ("struct", pa.struct([("a", pa.int32()), ("b", pa.string())])),
        ("map", pa.map_(pa.string(), pa.int64())),
        ("city", pa.dictionary(pa.int32(), pa.string())),
    ]
    if generation > 0:
        fields.append(("extra", pa.int8()))
    return pa.schema(fields)


def produce(tee_path):
    out = sys.stdout.buffer
    tee = open(tee_path, "wb")
    sink = Tee(out, tee)
    options = ipc.IpcWriteOptions(emit_dictionary_deltas=True)
    generation = 0
    schema = schema_of(generation)
    writer = ipc.new_stream(sink, schema, options=options)
    sink.flush()
    k, seq = 0, 1
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "tables":
            for _ in range(int(cmd[1])):
                batch = table(k, seq, schema_of(0))
                if generation > 0:
                    batch = pa.record_batch(
                        list(batch.columns) + [pa.array([generation] * ROWS, pa.int8())], schema=schema
                    )
                writer.write_batch(batch)
                sink.flush()
                k, seq = k + 1, seq + ROWS
                print(f"emitted {k}", file=sys.stderr, flush=True)
        elif cmd[0] == "cut":
            # The next table's messages, cut in the middle of the last one.
            buf = pa.BufferOutputStream()
            w = ipc.new_stream(buf, schema, options=options)
            head = buf.getvalue().size
            w.write_batch(table(k, seq, schema))
            data = buf.getvalue().to_pybytes()[head:]
            half = data[: len(data) - 40]
            out.write(half)
            tee.write(half)
            out.flush()
            tee.close()
            return
        elif cmd[0] == "next":
            writer.close()
            generation += 1
            schema = schema_of(generation)
            writer = ipc.new_stream(sink, schema, options=options)
            sink.flush()
        elif cmd[0] == "end":
            writer.close()
            sink.flush()
            tee.close()
            return
    tee.close()


class SlowReader:
    """1 KiB every 10 ms."""

    def __init__(self, f):
        self.f = f
        self.closed = False

    def read(self, n=-1):
        time.sleep(0.01)
        return self.f.read(min(n, 1024) if n and n > 0 else 1024)

    def readable(self):
        return True


def subscribe(addr, out_path, slow):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=20)
    f = sock.makefile("rb")
    source = pa.PythonFile(SlowReader(f), mode="r") if slow else f
    n = 0
    try:
        reader = ipc.open_stream(source)
        print("schema", file=sys.stderr, flush=True)
        with ipc.new_stream(out_path, reader.schema) as w:
            for batch in reader:
                batch.validate(full=True)
                w.write_batch(batch)
                n += 1
                print(f"batch {batch.column(0)[0].as_py()}", file=sys.stderr, flush=True)
    except Exception as e:  # the server dropped us: what was read stays in OUT
        print(f"error {e}", file=sys.stderr, flush=True)
        sys.exit(3)
    print(f"end {n}", file=sys.stderr, flush=True)


def batches(path):
    with pa.OSFile(path, "rb") as f:
        reader = ipc.open_stream(f)
        out = []
        for b in reader:
            b.validate(full=True)
            out.append(b.to_pylist())
        return out


def check(feed_path, got_path, mode):
    feed = batches(feed_path)
    got = batches(got_path)
    problems = []
    start = None
    if got:
        firsts = [b[0]["seq"] for b in feed]
        if got[0][0]["seq"] not in firsts:
            problems.append(f"first seq {got[0][0]['seq']} is no table of the feed")
        else:
            start = firsts.index(got[0][0]["seq"])
            at = start
            for i, b in enumerate(got):
                if mode == "gaps":
                    while at < len(feed) and feed[at][0]["seq"] != b[0]["seq"]:
                        at += 1
                if at >= len(feed) or feed[at] != b:
                    problems.append(f"table {i} (seq {b[0]['seq']}) differs from the feed's")
                    break
                at += 1
            if mode == "suffix" and at != len(feed):
                problems.append(f"stops at feed table {at} of {len(feed)}")
    elif mode == "suffix":
        problems.append("no table")
    print(json.dumps({"start": start, "count": len(got), "feed": len(feed), "problems": problems}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2])
    elif cmd == "subscribe":
        subscribe(sys.argv[2], sys.argv[3], "--slow" in sys.argv[4:])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
