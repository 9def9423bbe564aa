#!/usr/bin/env python3
"""pyarrow's side of the passthrough tests (streams forwarded without decoding).

Usage:
  passthrough.py write OUT_STREAM
      Writes an Arrow IPC stream of types Lightstream cannot decode (list,
      struct, map, binary, large_string, string_view when pyarrow writes
      views to IPC) and dictionary columns (utf8 and large_utf8 values) whose
      dictionaries grow by deltas and are replaced, over several batches.
  passthrough.py check EXPECTED_STREAM GOT_STREAM
      Reads both with pyarrow: same schema, batches equal one by one (each
      validated in full), and the same dictionary deltas and replacements.
      Prints one JSON line and exits 1 on any difference.
  passthrough.py merged SCHEMA_AND_MERGED_STREAM WANT_JSON
      Reads a stream (schema, one merged dictionary batch, record batches) and
      checks the decoded columns against WANT_JSON (a list of lists of values
      per batch, first column).
"""

import json
import sys

import pyarrow as pa
import pyarrow.ipc as ipc


def batches():
    """Three batches: the dictionary of `city` grows by a delta, then is
    replaced; `tag` (large_utf8 values) only grows."""
    cities = [["paris", "oslo"], ["paris", "oslo", "lima"], ["rome", "kyiv"]]
    tags = [["a"], ["a", "b"], ["a", "b", "c"]]
    out = []
    for i in range(3):
        n = 3
        city = pa.DictionaryArray.from_arrays(
            pa.array([j % len(cities[i]) for j in range(n)], pa.int32()),
            pa.array(cities[i], pa.string()),
        )
        tag = pa.DictionaryArray.from_arrays(
            pa.array([len(tags[i]) - 1] * n, pa.int8()),
            pa.array(tags[i], pa.large_string()),
        )
        cols = {
            "list": pa.array([[i, j] for j in range(n)], pa.list_(pa.int64())),
            "struct": pa.array(
                [{"a": j, "b": f"s{i}{j}"} for j in range(n)],
                pa.struct([("a", pa.int32()), ("b", pa.string())]),
            ),
            "map": pa.array(
                [[("k", j), ("v", i)] for j in range(n)], pa.map_(pa.string(), pa.int64())
            ),
            "binary": pa.array([bytes([i, j, 0xFF]) for j in range(n)], pa.binary()),
            "large_string": pa.array([f"L{i}{j}" for j in range(n)], pa.large_string()),
            "city": city,
            "tag": tag,
        }
        try:
            cols["view"] = pa.array([f"view {i} {j}" * (j + 1) for j in range(n)], pa.string_view())
        except (AttributeError, pa.ArrowNotImplementedError):
            pass
        out.append(pa.record_batch(list(cols.values()), names=list(cols.keys())))
    return out


def write(path):
    bs = batches()
    options = ipc.IpcWriteOptions(emit_dictionary_deltas=True)
    with open(path, "wb") as f:
        try:
            w = ipc.new_stream(f, bs[0].schema, options=options)
            for b in bs:
                w.write_batch(b)
            w.close()
        except pa.ArrowNotImplementedError:
            # This pyarrow cannot write views to IPC: the same without them.
            f.seek(0)
            f.truncate()
            bs = [b.drop_columns(["view"]) if "view" in b.schema.names else b for b in bs]
            w = ipc.new_stream(f, bs[0].schema, options=options)
            for b in bs:
                w.write_batch(b)
            w.close()
    print(json.dumps({"columns": bs[0].schema.names}))


def read(path):
    with open(path, "rb") as f:
        r = ipc.open_stream(f)
        got = []
        for b in r:
            b.validate(full=True)
            got.append(b)
        return r.schema, got, r.stats


def check(expected, got):
    s1, b1, st1 = read(expected)
    s2, b2, st2 = read(got)
    problems = []
    if not s1.equals(s2, check_metadata=True):
        problems.append(f"schema {s2} != {s1}")
    if len(b1) != len(b2):
        problems.append(f"{len(b2)} batches != {len(b1)}")
    for i, (x, y) in enumerate(zip(b1, b2)):
        if not x.equals(y):
            problems.append(f"batch {i} differs")
    stats = {
        "batches": len(b2),
        "dictionary_deltas": st2.num_dictionary_deltas,
        "replaced_dictionaries": st2.num_replaced_dictionaries,
        "columns": s2.names,
    }
    if (st1.num_dictionary_deltas, st1.num_replaced_dictionaries) != (
        st2.num_dictionary_deltas,
        st2.num_replaced_dictionaries,
    ):
        problems.append(f"dictionary messages differ: {st1} vs {st2}")
    print(json.dumps({"problems": problems, **stats}))
    sys.exit(1 if problems else 0)


def merged(path, want_json):
    want = json.loads(want_json)
    _, bs, st = read(path)
    got = [b.column(0).to_pylist() for b in bs]
    ok = got == want and st.num_dictionary_deltas == 0
    print(json.dumps({"got": got, "deltas": st.num_dictionary_deltas}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":
        write(sys.argv[2])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3])
    elif cmd == "merged":
        merged(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
