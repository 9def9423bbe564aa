#!/usr/bin/env python3
"""Streams whose batches are dictionary-encoded one by one, and checks of the IPC files
made from them.

Usage:
  dict_per_batch.py write STREAM EXPECT   the stream, and the expected columns as JSON
  dict_per_batch.py overflow STREAM       a stream whose int8 dictionaries together
                                          hold 200 distinct values (more than int8
                                          keys can address)
  dict_per_batch.py check FILE EXPECT     open FILE as an IPC file (or stream, when it
                                          does not start with ARROW1), validate(full=True),
                                          compare types and values with EXPECT

`write` builds every batch the way pyarrow, pandas chunks and most producers do:
`pa.array(values).dictionary_encode()` per batch, so each batch carries its own
dictionary (the same value under different keys, values dropped and back, nulls, an
empty batch, a batch identical to the one before), and writes them with
`ipc.new_stream` (a replacement dictionary per batch). It also checks that pyarrow's
own file writer refuses those batches: what Lightstream must do better.

`check` prints `ok: N batches, M rows` or every difference and exits 1.
"""

import json
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

BATCHES = [
    # city (int32 keys), tag (int8 keys), note (large_string values, int16 keys)
    (["Paris", "Oslo", None, "Oslo"], ["a", "b", "a", "a"], ["x", None, "y", "x"]),
    (["Lima", "Paris", "Lima", "Quito"], ["b", "c", None, "c"], ["z", "z", "z", "z"]),
    (["Oslo", "Oslo", None, None], ["a", "a", "a", "a"], ["x", "x", "y", "w"]),
    ([], [], []),
    (["Zürich", "Paris"], ["d", "d"], ["é", None]),
    (["Zürich", "Paris"], ["d", "d"], ["é", None]),
    ([None, "Ōsaka", "Lima"], [None, "e", "a"], ["w", "v", "x"]),
]

SCHEMA = pa.schema(
    [
        pa.field("city", pa.dictionary(pa.int32(), pa.string())),
        pa.field("tag", pa.dictionary(pa.int8(), pa.string())),
        pa.field("note", pa.dictionary(pa.int16(), pa.large_string())),
        pa.field("row", pa.int64(), nullable=False),
    ]
)


def encoded(values, field):
    """`values` dictionary-encoded on their own, in the field's types."""
    arr = pa.array(values, field.type.value_type).dictionary_encode()
    return arr.cast(field.type)


def batches():
    out, row = [], 0
    for cols in BATCHES:
        n = len(cols[0])
        arrays = [encoded(v, f) for v, f in zip(cols, SCHEMA)]
        arrays.append(pa.array(range(row, row + n), pa.int64()))
        row += n
        out.append(pa.record_batch(arrays, schema=SCHEMA))
    return out


def write(stream_path, expect_path):
    bs = batches()
    # Per-batch dictionaries really differ (else the test would prove nothing).
    dicts = [b.column(0).dictionary.to_pylist() for b in bs]
    assert len({tuple(d) for d in dicts}) > 3, dicts
    with ipc.new_stream(stream_path, SCHEMA) as w:
        for b in bs:
            w.write_batch(b)
    # pyarrow cannot put these batches into a file.
    try:
        with ipc.new_file(pa.BufferOutputStream(), SCHEMA) as w:
            for b in bs:
                w.write_batch(b)
    except pa.ArrowInvalid:
        pass
    else:
        raise SystemExit("pyarrow wrote per-batch dictionaries into a file: the test is moot")
    table = pa.Table.from_batches(bs, SCHEMA)
    expect = {
        "types": [str(f.type) for f in SCHEMA],
        "columns": {name: table.column(name).to_pylist() for name in SCHEMA.names},
        "batches": len(bs),
    }
    with open(expect_path, "w", encoding="utf-8") as f:
        json.dump(expect, f, ensure_ascii=False)


def overflow(stream_path):
    field = pa.field("tag", pa.dictionary(pa.int8(), pa.string()))
    schema = pa.schema([field])
    with ipc.new_stream(stream_path, schema) as w:
        for start in (0, 100):
            values = [f"v{i}" for i in range(start, start + 100)]
            w.write_batch(pa.record_batch([encoded(values, field)], schema=schema))


def check(file_path, expect_path):
    with open(expect_path, encoding="utf-8") as f:
        expect = json.load(f)
    problems = []
    with open(file_path, "rb") as f:
        data = f.read()
    if data.startswith(b"ARROW1"):
        reader = ipc.open_file(pa.py_buffer(data))
        got_batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    else:
        reader = ipc.open_stream(pa.py_buffer(data))
        got_batches = list(reader)
    for i, b in enumerate(got_batches):
        try:
            b.validate(full=True)
        except pa.ArrowInvalid as e:
            problems.append(f"batch {i}: validate(full=True): {e}")
    if len(got_batches) != expect["batches"]:
        problems.append(f"{len(got_batches)} batches, expected {expect['batches']}")
    types = [str(f.type) for f in reader.schema]
    if types != expect["types"]:
        problems.append(f"types {types}, expected {expect['types']}")
    table = pa.Table.from_batches(got_batches, reader.schema)
    table.validate(full=True)
    for name, want in expect["columns"].items():
        got = table.column(name).to_pylist()
        if got != want:
            problems.append(f"column {name}: {got} != {want}")
    # One dictionary per field, grown by deltas: every batch's dictionary starts with
    # the one before.
    for c, name in enumerate(reader.schema.names):
        if not pa.types.is_dictionary(reader.schema.field(c).type):
            continue
        dicts = [b.column(c).dictionary.to_pylist() for b in got_batches]
        for i in range(1, len(dicts)):
            if dicts[i][: len(dicts[i - 1])] != dicts[i - 1]:
                problems.append(f"column {name}: dictionary of batch {i} does not extend the one before")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(got_batches)} batches, {table.num_rows} rows")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "write" and len(sys.argv) == 4:
        write(sys.argv[2], sys.argv[3])
    elif cmd == "overflow" and len(sys.argv) == 3:
        overflow(sys.argv[2])
    elif cmd == "check" and len(sys.argv) == 4:
        check(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
