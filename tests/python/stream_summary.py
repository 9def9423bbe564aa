#!/usr/bin/env python3
"""Reads one Arrow IPC stream file with pyarrow and prints what it holds, as JSON.

Usage: stream_summary.py FILE

Every batch is validated in full (`validate(full=True)`); dictionary columns are
decoded to their values. Prints {"schema": [names], "batches": [{"rows": N,
"first": {column: value}, "last": {column: value}}]} on stdout, values as
pyarrow's `as_py()` gives them (dictionary columns: the value, not the key).
Used by tests/tests/nats.rs to check that what a NATS subscriber hands on is a
valid, self-contained stream (a late joiner's too: schema and dictionaries first).
"""

import json
import sys

import pyarrow as pa
import pyarrow.ipc as ipc


def value(column, i):
    v = column[i].as_py()
    return v


def main():
    with open(sys.argv[1], "rb") as f:
        reader = ipc.open_stream(f)
        out = {"schema": reader.schema.names, "batches": []}
        for batch in reader:
            batch.validate(full=True)
            rows = batch.num_rows
            entry = {"rows": rows}
            if rows:
                entry["first"] = {n: value(batch.column(n), 0) for n in batch.schema.names}
                entry["last"] = {n: value(batch.column(n), rows - 1) for n in batch.schema.names}
            out["batches"].append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
