#!/usr/bin/env python3
"""pyarrow's side of the live feed tests (`lightstream serve URL -`, `relay`).

Usage:
  feed_peer.py produce TEE_FILE [--rows R] [--period P]
      Writes Arrow IPC streams to stdout (and the same bytes to TEE_FILE):
      the schema at once, then obeys one command per line on stdin:
        tables N [MS]  N more tables (flushed; "emitted K" on stderr after
                   each), MS milliseconds apart
        cut        half of the next table's messages, then exit (no end marker)
        next       end this stream (its end marker) and start one of another
                   schema (an `extra` int8 column more)
        restart    end this stream and start one of the same schema (a
                   producer that restarted)
        end        the end-of-stream marker, then exit
      Columns: seq (int64, counting rows over every stream), list<int64>,
      struct, map, large_string, and a dictionary column whose dictionary grows by deltas
      and is replaced every P-th table (4)
      (IpcWriteOptions(emit_dictionary_deltas=True)). R rows a table (50).
  feed_peer.py subscribe SOURCE OUT [--paced] [--gate] [--rcvbuf BYTES]
      SOURCE: HOST:PORT (a TCP connection), unix:PATH (a Unix socket),
      http://HOST:PORT/PATH (a GET, the stream as the response body, read by
      Python's own HTTP client) or `-` (standard input, e.g. what
      `lightstream recv ws://... -` writes). Reads the stream with pyarrow,
      validating every batch in full, and writes what it read to OUT as a
      stream. On stderr: "schema", then "batch FIRST_SEQ BYTES T" per batch
      (BYTES: stream bytes read so far; T: time.monotonic(), one clock for
      every process of the machine), then "end N" (exit 0) once the stream's
      end-of-stream marker was read, or "error MESSAGE" (exit 3) when the
      read failed or the stream stopped without its marker (pyarrow alone
      takes a stream cut at a message boundary for a whole one).
        --paced    reads 1 KiB every 10 ms
        --gate     after the schema, reads nothing until a line (or the end)
                   arrives on stdin: a subscriber that does not read
        --rcvbuf   SO_RCVBUF, set before connecting, so that the kernel does
                   not absorb megabytes for a subscriber that does not read
  feed_peer.py check FEED GOT MODE
      GOT must validate and equal FEED's batches from the one whose first seq
      is GOT's first: MODE `suffix` (contiguous to FEED's end), `prefix-of-
      suffix` (contiguous, may stop early) or `gaps` (in order, tables may be
      missing). FEED may hold several streams back to back: their tables are
      one sequence. Values compare decoded (dictionaries as their values).
      Prints JSON {"start": index in FEED, "count": n, "indices": [index in
      FEED of each table]}; exit 1 on any difference.
"""

import json
import socket
import sys
import time

import pyarrow as pa
import pyarrow.ipc as ipc


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


def table(k, seq0, rows, period):
    """Table k: its dictionary grows with k, and is replaced every `period`."""
    schema = schema_of(0)
    generation = k // period
    words = [f"g{generation}w{i}" for i in range(2 + k % period)]
    city = pa.DictionaryArray.from_arrays(
        pa.array([(seq0 + j) % len(words) for j in range(rows)], pa.int32()),
        pa.array(words, pa.string()),
    )
    cols = [
        pa.array(range(seq0, seq0 + rows), pa.int64()),
        pa.array([[seq0, j] for j in range(rows)], pa.list_(pa.int64())),
        pa.array([{"a": j, "b": f"s{k}.{j}"} for j in range(rows)], schema.field("struct").type),
        pa.array([[("k", j)] for j in range(rows)], pa.map_(pa.string(), pa.int64())),
        pa.array([f"text {seq0 + j}" for j in range(rows)], pa.large_string()),
        city,
    ]
    return pa.record_batch(cols, schema=schema)


def schema_of(generation):
    fields = [
        ("seq", pa.int64()),
        ("list", pa.list_(pa.int64())),
        ("struct", pa.struct([("a", pa.int32()), ("b", pa.string())])),
        ("map", pa.map_(pa.string(), pa.int64())),
        ("text", pa.large_string()),
        ("city", pa.dictionary(pa.int32(), pa.string())),
    ]
    if generation > 0:
        fields.append(("extra", pa.int8()))
    return pa.schema(fields)


def produce(tee_path, rows, period):
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
            pause = int(cmd[2]) / 1000 if len(cmd) > 2 else 0
            for _ in range(int(cmd[1])):
                time.sleep(pause)
                batch = table(k, seq, rows, period)
                if generation > 0:
                    extra = pa.array([generation] * rows, pa.int8())
                    batch = pa.record_batch(list(batch.columns) + [extra], schema=schema)
                writer.write_batch(batch)
                sink.flush()
                k, seq = k + 1, seq + rows
                print(f"emitted {k}", file=sys.stderr, flush=True)
        elif cmd[0] == "cut":
            # The next table's messages, cut in the middle of the last one.
            buf = pa.BufferOutputStream()
            w = ipc.new_stream(buf, schema, options=options)
            head = buf.getvalue().size
            w.write_batch(table(k, seq, rows, period))
            data = buf.getvalue().to_pybytes()[head:]
            half = data[: len(data) - 40]
            out.write(half)
            tee.write(half)
            out.flush()
            tee.close()
            return
        elif cmd[0] in ("next", "restart"):
            writer.close()
            if cmd[0] == "next":
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


class Tap:
    """What pyarrow reads from: whole reads (pyarrow takes a short read for
    the end of the input), counted, remembering whether the input ended.
    Paced, it takes at most 1 KiB from the input every 10 ms (however small
    pyarrow's reads are); else nothing beyond what pyarrow asked for."""

    def __init__(self, recv, paced):
        self.recv = recv
        self.paced = paced
        self.closed = False
        self.count = 0
        self.ended = False
        self.buf = bytearray()
        self.next_at = time.monotonic()

    def read(self, n=-1):
        while (n < 0 or len(self.buf) < n) and not self.ended:
            if self.paced:
                wait = self.next_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.next_at = max(self.next_at, time.monotonic() - 0.01) + 0.01
                want = 1024
            else:
                want = (1 << 16) if n < 0 else n - len(self.buf)
            chunk = self.recv(want)
            if not chunk:
                self.ended = True
            self.buf += chunk
        take = len(self.buf) if n < 0 else min(n, len(self.buf))
        out = bytes(self.buf[:take])
        del self.buf[:take]
        self.count += len(out)
        return out

    def readable(self):
        return True


def subscribe(source, out_path, paced, gate, rcvbuf):
    if source == "-":
        recv = sys.stdin.buffer.read
    elif source.startswith("http://"):
        import urllib.request

        recv = urllib.request.urlopen(source, timeout=20).read
    else:
        if source.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = source[len("unix:") :]
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            host, port = source.rsplit(":", 1)
            address = (host, int(port))
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(20)
        sock.connect(address)
        # Straight from the socket: nothing read ahead of what pyarrow asks.
        recv = sock.recv if (paced or gate) else sock.makefile("rb").read
    tap = Tap(recv, paced)
    n = 0
    try:
        reader = ipc.open_stream(pa.PythonFile(tap, mode="r"))
        print("schema", file=sys.stderr, flush=True)
        if gate:
            sys.stdin.readline()
        with ipc.new_stream(out_path, reader.schema) as w:
            for batch in reader:
                batch.validate(full=True)
                w.write_batch(batch)
                n += 1
                first = batch.column(0)[0].as_py()
                print(f"batch {first} {tap.count} {time.monotonic():.6f}", file=sys.stderr, flush=True)
        if tap.ended:
            raise EOFError(f"the stream stopped after {n} batches without its end-of-stream marker")
    except Exception as e:  # the server dropped us: what was read stays in OUT
        print(f"error {e}", file=sys.stderr, flush=True)
        sys.exit(3)
    print(f"end {n}", file=sys.stderr, flush=True)


def batches(path):
    """Every batch of every stream in `path`, in order."""
    out = []
    with pa.OSFile(path, "rb") as f:
        size = f.size()
        while True:
            for b in ipc.open_stream(f):
                b.validate(full=True)
                out.append(b.to_pylist())
            if f.tell() >= size:
                return out


def check(feed_path, got_path, mode):
    feed = batches(feed_path)
    got = batches(got_path)
    problems = []
    start = None
    indices = []
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
                indices.append(at)
                at += 1
            if mode == "suffix" and at != len(feed):
                problems.append(f"stops at feed table {at} of {len(feed)}")
    elif mode == "suffix":
        problems.append("no table")
    result = {"start": start, "count": len(got), "feed": len(feed), "indices": indices}
    print(json.dumps({**result, "problems": problems}))
    sys.exit(1 if problems else 0)


def option(name, default):
    args = sys.argv
    return int(args[args.index(name) + 1]) if name in args else default


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], option("--rows", 50), option("--period", 4))
    elif cmd == "subscribe":
        flags = sys.argv[4:]
        subscribe(sys.argv[2], sys.argv[3], "--paced" in flags, "--gate" in flags, option("--rcvbuf", 0))
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
