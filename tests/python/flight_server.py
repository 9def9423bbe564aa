#!/usr/bin/env python3
"""A pyarrow.flight server serving fixture tables, for Lightstream's Flight tests.

Usage: flight_server.py [--tls CERT KEY] [--expect-dir DIR] [--host HOST]
       flight_server.py --write-streams DIR

Listens on grpc://HOST:0 (grpc+tls:// with `--tls`; HOST defaults to 127.0.0.1) and
prints the port on the first line of stdout, then one JSON line per DoPut it stored.
With `--expect-dir`, it first writes `<ticket>.json` there for every fixture
(format: ipc_expect.py, plus "app_metadata": hex strings per batch where a fixture
sends them). `--write-streams DIR` writes every uncompressed fixture as pyarrow's own
IPC stream, `<ticket>.arrows` (the same batches and write options as its DoGet; a
reference for readers that take IPC streams, Apache Arrow JS in the browser test),
and `manifest.json` ({ticket: {"rows", "columns"}}), and exits.

Tickets (UTF-8; the flight's descriptor is the path [ticket]):
  all_types.none|zstd|lz4   every type Lightstream supports, with nulls, 4 batches
                            (one empty), pyarrow_write.py's tables
  dict_replacement.none|zstd|lz4   dictionaries replaced between batches
  dict_delta.none|zstd|lz4  dictionaries that grow: delta dictionary batches
                            (IpcWriteOptions(emit_dictionary_deltas=True))
  dict_delta_then_replace.none     deltas then a replacement
  empty                     the all-types schema and no batches
  app_metadata              3 batches, each with app_metadata b"meta-<i>"
  strings                   the Flight bench's shape (b), small: utf8 and int64 with
                            10% nulls, 2 batches of 20,000 rows (pyarrow pads to 8,
                            so buffers after the 2,500-byte bitmaps lie off 64)
  big                       one batch of 2,000,000 rows (int64 id = row, float64
                            x = row * 0.5): one ~32 MB FlightData, pyarrow does
                            not split (no expectation file: check id[i] == i)
  slow                      a batch of 1,000 int64 rows every 0.2 s, 300 of them
                            (about a minute: a test kills the server mid-stream)
  <a DoPut path joined by "/">   what DoPut stored there
Anything else: KeyError, which pyarrow sends as gRPC NOT_FOUND.

DoExchange: an echo; each batch the client sends is written back as it arrives,
with the client's schema.

DoPut: reads the whole stream, runs `validate(full=True)` on every batch, stores the
table under the descriptor's path joined by "/" (or the cmd, decoded), and prints
{"put": NAME, "rows": N, "batches": B, "valid": true|"<error>"} on stdout; the
PutResult app_metadata is the same JSON. Action "dump" with body NAME returns the
expectation JSON (ipc_expect.py format) of what DoPut stored there, or of a fixture.
"""

import argparse
import json
import os
import sys
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402
import pyarrow_write  # noqa: E402

BIG_ROWS = 2_000_000
SLOW_BATCHES = 300
SLOW_ROWS = 1000
SLOW_PAUSE = 0.2


class Fixture:
    """One ticket: a schema, its batches (with optional app_metadata), write options."""

    def __init__(self, schema, batches, compression=None, deltas=False, app_metadata=None):
        self.schema = schema
        self.batches = batches
        self.options = ipc.IpcWriteOptions(compression=compression, emit_dictionary_deltas=deltas)
        self.app_metadata = app_metadata

    def stream(self):
        if self.app_metadata is None:
            reader = pa.RecordBatchReader.from_batches(self.schema, self.batches)
            return fl.RecordBatchStream(reader, options=self.options)
        pairs = list(zip(self.batches, (pa.py_buffer(m) for m in self.app_metadata)))
        return fl.GeneratorStream(self.schema, iter(pairs), options=self.options)

    def num_rows(self):
        return sum(b.num_rows for b in self.batches)

    def expect(self):
        doc = ipc_expect.expect_json("stream", self.schema, self.batches)
        if self.app_metadata is not None:
            doc["app_metadata"] = [m.hex() for m in self.app_metadata]
        return doc


def strings_batches():
    """Shape (b) of the Flight bench, small: utf8 and int64, 10% nulls."""
    schema = pa.schema([pa.field("s", pa.string()), pa.field("n", pa.int64())])
    out = []
    for b in range(2):
        rows = range(20_000)
        out.append(
            pa.record_batch(
                [
                    pa.array([None if i % 10 == 3 else f"row {b}-{i}" for i in rows], pa.string()),
                    pa.array([None if i % 10 == 7 else i * 3 + b for i in rows], pa.int64()),
                ],
                schema=schema,
            )
        )
    return schema, out


def big_table():
    ids = pa.array(range(BIG_ROWS), pa.int64())
    xs = pc.multiply(pc.cast(ids, pa.float64()), 0.5)
    schema = pa.schema([pa.field("id", pa.int64(), False), pa.field("x", pa.float64(), False)])
    return schema, pa.record_batch([ids, xs], schema=schema)


def slow_schema():
    return pa.schema([pa.field("n", pa.int64(), False)])


def slow_stream():
    schema = slow_schema()

    def batches():
        for i in range(SLOW_BATCHES):
            start = i * SLOW_ROWS
            yield pa.record_batch([pa.array(range(start, start + SLOW_ROWS), pa.int64())], schema=schema)
            time.sleep(SLOW_PAUSE)

    return fl.GeneratorStream(schema, batches())


def fixtures():
    out = {}
    schema, batches = pyarrow_write.all_types_batches()
    rep_schema, rep = pyarrow_write.replacement_batches()
    delta_schema, delta = pyarrow_write.delta_batches(then_replace=False)
    dr_schema, delta_replace = pyarrow_write.delta_batches(then_replace=True)
    for comp in pyarrow_write.COMPRESSIONS:
        name = comp or "none"
        out[f"all_types.{name}"] = Fixture(schema, batches, comp)
        out[f"dict_replacement.{name}"] = Fixture(rep_schema, rep, comp)
        out[f"dict_delta.{name}"] = Fixture(delta_schema, delta, comp, deltas=True)
    out["dict_delta_then_replace.none"] = Fixture(dr_schema, delta_replace, None, deltas=True)
    out["empty"] = Fixture(schema, [])
    out["strings"] = Fixture(*strings_batches())
    _, small = pyarrow_write.big_batches()
    meta_schema = small[0].schema
    meta_batches = [small[0].slice(0, 5), small[0].slice(5, 0), small[1].slice(7, 11)]
    out["app_metadata"] = Fixture(
        meta_schema, meta_batches, app_metadata=[b"meta-0", b"", "meta-2 ✓".encode("utf-8")]
    )
    return out


def descriptor_name(descriptor):
    if descriptor.descriptor_type == fl.DescriptorType.PATH:
        return "/".join(p.decode("utf-8") if isinstance(p, bytes) else p for p in descriptor.path)
    return descriptor.command.decode("utf-8")


class FixtureServer(fl.FlightServerBase):
    def __init__(self, location, **kwargs):
        super().__init__(location, **kwargs)
        self.location = location
        self.fixtures = fixtures()
        self.big = None  # built on first use (2M rows)
        self.stored = {}  # name -> Fixture of the batches as received
        self.lock = threading.Lock()

    # ------------------------------------------------------------ helpers

    def big_fixture(self):
        with self.lock:
            if self.big is None:
                schema, batch = big_table()
                self.big = Fixture(schema, [batch])
            return self.big

    def lookup(self, name):
        """(schema, num_rows or -1, Fixture or None) for a ticket name; KeyError if unknown."""
        if name in self.fixtures:
            f = self.fixtures[name]
            return f.schema, f.num_rows(), f
        if name == "big":
            return pa.schema([pa.field("id", pa.int64(), False), pa.field("x", pa.float64(), False)]), BIG_ROWS, None
        if name == "slow":
            return slow_schema(), SLOW_BATCHES * SLOW_ROWS, None
        with self.lock:
            if name in self.stored:
                f = self.stored[name]
                return f.schema, f.num_rows(), f
        raise KeyError(f"no such ticket: {name!r}")

    def info(self, name):
        schema, rows, _ = self.lookup(name)
        descriptor = fl.FlightDescriptor.for_path(name)
        endpoint = fl.FlightEndpoint(name.encode("utf-8"), [])
        return fl.FlightInfo(schema, descriptor, [endpoint], rows, -1)

    def names(self):
        with self.lock:
            stored = list(self.stored)
        return list(self.fixtures) + ["big", "slow"] + stored

    # ------------------------------------------------------------ RPCs

    def list_flights(self, context, criteria):
        for name in self.names():
            yield self.info(name)

    def get_flight_info(self, context, descriptor):
        return self.info(descriptor_name(descriptor))

    def get_schema(self, context, descriptor):
        schema, _, _ = self.lookup(descriptor_name(descriptor))
        return fl.SchemaResult(schema)

    def do_get(self, context, ticket):
        name = ticket.ticket.decode("utf-8", errors="replace")
        if name in self.fixtures:
            return self.fixtures[name].stream()
        if name == "big":
            return self.big_fixture().stream()
        if name == "slow":
            return slow_stream()
        with self.lock:
            stored = self.stored.get(name)
        if stored is None:
            raise KeyError(f"no such ticket: {ticket.ticket!r}")
        return stored.stream()

    def do_put(self, context, descriptor, reader, writer):
        name = descriptor_name(descriptor)
        batches = []
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            if chunk.data is not None:
                batches.append(chunk.data)
        valid = True
        try:
            for b in batches:
                b.validate(full=True)
        except Exception as e:  # reported, not raised: the test reads it
            valid = str(e)
        stored = Fixture(reader.schema, batches)
        with self.lock:
            self.stored[name] = stored
        report = {"put": name, "rows": stored.num_rows(), "batches": len(batches), "valid": valid}
        line = json.dumps(report, ensure_ascii=False)
        print(line, flush=True)
        writer.write(pa.py_buffer(line.encode("utf-8")))

    def do_exchange(self, context, descriptor, reader, writer):
        """Echo: each batch the client sends goes back as it arrives (its
        app_metadata too), with the client's schema."""
        started = False
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            if not started:
                writer.begin(reader.schema)
                started = True
            if chunk.data is None:
                continue
            if chunk.app_metadata is None:
                writer.write_batch(chunk.data)
            else:
                writer.write_with_metadata(chunk.data, chunk.app_metadata)
        if not started:
            writer.begin(reader.schema)

    def list_actions(self, context):
        return [("dump", "the expectation JSON of a stored table or a fixture")]

    def do_action(self, context, action):
        if action.type != "dump":
            raise KeyError(f"no such action: {action.type!r}")
        name = action.body.to_pybytes().decode("utf-8")
        with self.lock:
            fixture = self.stored.get(name) or self.fixtures.get(name)
        if fixture is None:
            raise KeyError(f"nothing stored at {name!r}")
        doc = fixture.expect()
        yield fl.Result(json.dumps(doc, ensure_ascii=False).encode("utf-8"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--expect-dir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--write-streams", metavar="DIR")
    args = parser.parse_args()
    if args.write_streams:
        os.makedirs(args.write_streams, exist_ok=True)
        manifest = {}
        for name, f in fixtures().items():
            if f.options.compression is not None:
                continue
            with ipc.new_stream(os.path.join(args.write_streams, name + ".arrows"), f.schema, options=f.options) as w:
                for b in f.batches:
                    w.write_batch(b)
            manifest[name] = {"rows": f.num_rows(), "columns": len(f.schema)}
        with open(os.path.join(args.write_streams, "manifest.json"), "w") as m:
            json.dump(manifest, m)
        return
    kwargs = {}
    if args.tls:
        with open(args.tls[0], "rb") as c, open(args.tls[1], "rb") as k:
            kwargs["tls_certificates"] = [(c.read(), k.read())]
        location = f"grpc+tls://{args.host}:0"
    else:
        location = f"grpc://{args.host}:0"
    server = FixtureServer(location, **kwargs)
    if args.expect_dir:
        os.makedirs(args.expect_dir, exist_ok=True)
        for name, f in server.fixtures.items():
            ipc_expect.write_json(os.path.join(args.expect_dir, name + ".json"), f.expect())
    print(server.port, flush=True)
    server.serve()


if __name__ == "__main__":
    main()
