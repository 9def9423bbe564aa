#!/usr/bin/env python3
"""Reads Arrow IPC streams and files written by Lightstream with pyarrow and checks them.

Usage: pyarrow_verify.py DIR

DIR holds `manifest.json` ({"cases": [{"name", "format": "stream"|"file", "data",
"expect", "alignment", "compression"}, ...]}) and, per case, the data file and the
expected values (format: see ipc_expect.py).

For every case: open with ipc.open_stream / ipc.open_file, `validate(full=True)` every
batch, compare schema (names, types, nullability, field and schema metadata) and every
value with the expectation. For files, the stream embedded after the 8-byte magic is
read too. For uncompressed cases the bytes are placed in 64-byte aligned memory and
read zero-copy; every buffer pyarrow hands out must then lie inside that memory at an
offset that is a multiple of the case's alignment (this checks message and buffer
padding of the writer). Prints every difference and exits 1 if there is any.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402


def aligned_copy(data):
    buf = pa.allocate_buffer(len(data))
    if len(data):
        memoryview(buf).cast("B")[:] = data
    if buf.address % 64:
        raise SystemExit("pyarrow did not allocate 64-byte aligned memory")
    return buf


def read_batches(fmt, source):
    if fmt == "stream":
        reader = ipc.open_stream(source)
        return reader.schema, list(reader)
    reader = ipc.open_file(source)
    return reader.schema, [reader.get_batch(i) for i in range(reader.num_record_batches)]


def array_buffers(arr):
    """Every buffer of a (possibly dictionary) array: (label, buffer, must_be_zero_copy).

    Dictionary buffers may be new memory: after a delta pyarrow concatenates the
    dictionary. Every other buffer of an uncompressed message must be a slice of the input.
    """
    out = [(f"buffer {k}", b, True) for k, b in enumerate(arr.buffers())]
    if pa.types.is_dictionary(arr.type):
        out += [(f"dictionary buffer {k}", b, False) for k, b in enumerate(arr.dictionary.buffers())]
    return out


def check_alignment(label, base, batches, alignment, names):
    problems = []
    for bi, batch in enumerate(batches):
        for ci, col in enumerate(batch.columns):
            for what, b, must_be_zero_copy in array_buffers(col):
                if b is None or b.size == 0:
                    continue
                off = b.address - base.address
                if not 0 <= off < base.size:
                    if must_be_zero_copy:
                        problems.append(
                            f"{label}: batch {bi} column {names[ci]} {what} is not a zero-copy "
                            f"slice of the input (pyarrow copied it)"
                        )
                elif off % alignment:
                    problems.append(
                        f"{label}: batch {bi} column {names[ci]} {what} starts at byte {off}, "
                        f"not a multiple of {alignment}"
                    )
    return problems


def verify_case(directory, case):
    label = case["name"]
    fmt = case["format"]
    with open(os.path.join(directory, case["data"]), "rb") as f:
        data = f.read()
    with open(os.path.join(directory, case["expect"]), encoding="utf-8") as f:
        expected = json.load(f)
    problems = []

    base = aligned_copy(data)
    sources = [(label, fmt, base)]
    if fmt == "file":
        if data[:6] != b"ARROW1" or data[-6:] != b"ARROW1":
            problems.append(f"{label}: file does not start and end with ARROW1")
        # The file body after magic + padding is a complete IPC stream.
        sources.append((label + " (embedded stream)", "stream", base.slice(8)))

    for src_label, src_fmt, src in sources:
        try:
            schema, batches = read_batches(src_fmt, pa.BufferReader(src))
        except Exception as e:  # noqa: BLE001 - report any pyarrow failure as a diff
            problems.append(f"{src_label}: pyarrow cannot read it: {type(e).__name__}: {e}")
            continue
        for i, b in enumerate(batches):
            try:
                b.validate(full=True)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{src_label}: batch {i} fails validate(full=True): {e}")
        actual = ipc_expect.expect_json(src_fmt, schema, batches)
        problems += ipc_expect.diff_docs(expected, actual, src_label)
        if case.get("compression", "none") == "none" and src is base:
            names = [f.name for f in schema]
            problems += check_alignment(src_label, base, batches, case["alignment"], names)
    return problems


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: pyarrow_verify.py DIR")
    directory = sys.argv[1]
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    cases = manifest["cases"]
    if not cases:
        raise SystemExit("manifest lists no cases")
    problems = []
    for case in cases:
        problems += verify_case(directory, case)
    if problems:
        print(f"pyarrow {pa.__version__}: {len(problems)} problem(s) in {len(cases)} case(s):")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print(f"pyarrow {pa.__version__}: {len(cases)} case(s) verified")


if __name__ == "__main__":
    main()
