#!/usr/bin/env python3
"""A pyarrow peer for the stdio tests of the `lightstream` CLI (crates/lightstream-cli/tests/net.rs).

Usage:
  stdio_peer.py write ROWS   write an Arrow IPC stream of ROWS rows (5 batches) to stdout
                             with pyarrow; print its summary to stderr
  stdio_peer.py read         read an Arrow IPC stream from stdin with ipc.open_stream,
                             validate(full=True) every batch, print the summary
  stdio_peer.py summary PATH read the Arrow IPC file or stream at PATH the same way,
                             print the summary
  stdio_peer.py write-tlv ROWS  as `write`, each IPC message (end-of-stream marker
                             included) in a TLV frame of tag 1 (`--framing tlv`)
  stdio_peer.py read-tlv     read TLV frames from stdin: each must be tag 1 and hold
                             exactly one IPC message (pyarrow's MessageReader); then
                             read their concatenation as a stream, print the summary

The summary is one line: `rows=N schema=<sha256> data=<sha256>`. The schema digest
covers field names, types, nullability and field/schema metadata; the data digest
covers every value of every column in row order (dictionary columns by their
resolved values), so it does not depend on how the rows are split into batches.
The data is deterministic, with nulls, and uses only types Lightstream holds.
"""

import datetime
import hashlib
import struct
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

CITIES = ["Oslo", "Osaka", "Santiago", "Lagos", "Lima"]


def make_table(rows):
    ids = list(range(rows))
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("value", pa.float64(), metadata={"unit": "EUR"}),
            pa.field("name", pa.string()),
            pa.field("city", pa.dictionary(pa.int32(), pa.string())),
            pa.field("flag", pa.bool_()),
            pa.field("ts", pa.timestamp("ms", tz="UTC")),
            pa.field("day", pa.date32()),
            pa.field("small", pa.int32()),
        ],
        metadata={"generator": "stdio_peer.py"},
    )
    epoch = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    columns = [
        pa.array(ids, pa.int64()),
        pa.array([None if i % 7 == 3 else i * 0.25 - 100.0 for i in ids], pa.float64()),
        pa.array([None if i % 11 == 5 else "name-%d" % (i * 31 % 997) for i in ids]),
        pa.array([CITIES[i % len(CITIES)] for i in ids]).dictionary_encode(),
        pa.array([None if i % 13 == 0 else i % 3 == 0 for i in ids], pa.bool_()),
        pa.array(
            [epoch + datetime.timedelta(milliseconds=i * 1234567) for i in ids],
            pa.timestamp("ms", tz="UTC"),
        ),
        pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 400) for i in ids]),
        pa.array([None if i % 5 == 4 else (i * 7919) % 100000 - 50000 for i in ids], pa.int32()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def summary(schema, batches):
    s = hashlib.sha256()
    for field in schema:
        meta = sorted((field.metadata or {}).items())
        s.update(repr((field.name, str(field.type), field.nullable, meta)).encode())
    s.update(repr(sorted((schema.metadata or {}).items())).encode())
    rows = 0
    for batch in batches:
        batch.validate(full=True)
        rows += batch.num_rows
    table = pa.Table.from_batches(batches, schema=schema)
    d = hashlib.sha256()
    for column in table.columns:
        for value in column.to_pylist():
            d.update(repr(value).encode())
            d.update(b"\0")
    return "rows=%d schema=%s data=%s" % (rows, s.hexdigest(), d.hexdigest())


TLV_IPC_MESSAGE = 1
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def tlv(value):
    return struct.pack("<BI", TLV_IPC_MESSAGE, len(value)) + value


def read_tlv_frames(f):
    """The values of the TLV frames in `f`, checking each tag."""
    values = []
    while True:
        header = f.read(5)
        if not header:
            return values
        if len(header) < 5:
            raise ValueError("input ended inside a TLV header")
        tag, length = struct.unpack("<BI", header)
        if tag != TLV_IPC_MESSAGE:
            raise ValueError("TLV tag %d, expected %d" % (tag, TLV_IPC_MESSAGE))
        value = f.read(length)
        if len(value) < length:
            raise ValueError("input ended inside a TLV value")
        values.append(value)


def read_all(reader):
    return reader.schema, [reader.get_batch(i) for i in range(reader.num_record_batches)]


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        table = make_table(int(argv[2]))
        batches = table.to_batches(max_chunksize=max(1, (table.num_rows + 4) // 5))
        with ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        sys.stdout.buffer.flush()
        print(summary(table.schema, batches), file=sys.stderr)
    elif len(argv) == 2 and argv[1] == "read":
        reader = ipc.open_stream(sys.stdin.buffer)
        batches = list(reader)
        print(summary(reader.schema, batches))
    elif len(argv) == 3 and argv[1] == "write-tlv":
        table = make_table(int(argv[2]))
        batches = table.to_batches(max_chunksize=max(1, (table.num_rows + 4) // 5))
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        # pyarrow's own split of its stream into encapsulated messages.
        for message in ipc.MessageReader.open_stream(sink.getvalue()):
            sys.stdout.buffer.write(tlv(message.serialize().to_pybytes()))
        sys.stdout.buffer.write(tlv(END_OF_STREAM))
        sys.stdout.buffer.flush()
        print(summary(table.schema, batches), file=sys.stderr)
    elif len(argv) == 2 and argv[1] == "read-tlv":
        values = read_tlv_frames(sys.stdin.buffer)
        if not values or values[-1] != END_OF_STREAM:
            raise ValueError("the last TLV frame is not the end-of-stream marker")
        for value in values[:-1]:
            # Exactly one message per frame: it parses, and nothing is left.
            source = pa.BufferReader(value)
            ipc.read_message(source)
            if source.tell() != len(value):
                raise ValueError("a TLV frame holds more than one IPC message")
        reader = ipc.open_stream(pa.BufferReader(b"".join(values)))
        batches = list(reader)
        print(summary(reader.schema, batches))
    elif len(argv) == 3 and argv[1] == "summary":
        with open(argv[2], "rb") as f:
            data = f.read()
        if data[:6] == b"ARROW1":
            schema, batches = read_all(ipc.open_file(pa.BufferReader(data)))
        else:
            reader = ipc.open_stream(pa.BufferReader(data))
            schema, batches = reader.schema, list(reader)
        print(summary(schema, batches))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
