"""Streams and files mixing columns Lightstream cannot hold with ones it can.

Usage: unsupported_oracle.py OUT_DIR

pyarrow writes, for each of stream/file and no/LZ4/ZSTD compression, one IPC
stream or file whose schema interleaves supported columns (int64, string,
dictionary<int32, string>, timestamp) with every nested, binary and view type
pyarrow writes (list, large_list, list_view, fixed_size_list, struct, map,
binary, large_binary, fixed_size_binary, binary_view, string_view, dictionary
of binary, a list of dictionary strings, sparse and dense unions, run-end
encoded, float16), over three batches (one a slice, so offsets do not start
at zero) with nulls. Next to each it writes the expectation documents
(ipc_expect.py) of
  - `<name>.supported.json`: the supported columns in schema order, which
    ReadOptions::skip_unsupported must give;
  - `<name>.projected.json`: the columns ["s", "i"] in that order, which a
    projection by name must give;
and `manifest.json`: {"cases": [{"name", "format", "compression",
"skipped": [names of the unsupported columns, in schema order]}]}.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402

N = 7


def columns(seed):
    """(field, array) pairs, supported ones marked with True."""
    r = range(seed, seed + N)
    null_every = lambda k: [None if (i % k) == 0 else i for i in r]  # noqa: E731
    strs = [None if i % 4 == 0 else f"s{i}é" for i in r]
    words = ["alpha", "beta", "gamma"]
    cols = [
        (pa.field("i", pa.int64()), pa.array(null_every(3), pa.int64()), True),
        (
            pa.field("l", pa.list_(pa.int32())),
            pa.array([None if i % 5 == 0 else list(range(i % 3)) for i in r], pa.list_(pa.int32())),
            False,
        ),
        (pa.field("s", pa.string()), pa.array(strs, pa.string()), True),
        (
            pa.field("ll", pa.large_list(pa.string())),
            pa.array([[f"x{i}"] * (i % 3) for i in r], pa.large_list(pa.string())),
            False,
        ),
        (
            pa.field("lv", pa.list_view(pa.int16())),
            pa.array([[i, i + 1] if i % 2 else None for i in r], pa.list_view(pa.int16())),
            False,
        ),
        (
            pa.field("fl", pa.list_(pa.float64(), 2)),
            pa.array([[i * 0.5, None] for i in r], pa.list_(pa.float64(), 2)),
            False,
        ),
        (
            pa.field("st", pa.struct([("a", pa.int32()), ("b", pa.string())])),
            pa.array(
                [None if i % 3 == 1 else {"a": i, "b": f"b{i}"} for i in r],
                pa.struct([("a", pa.int32()), ("b", pa.string())]),
            ),
            False,
        ),
        (
            pa.field("d", pa.dictionary(pa.int32(), pa.string())),
            # The same dictionary in every batch: IPC files allow no replacement.
            pa.DictionaryArray.from_arrays(
                pa.array([None if i % 5 == 2 else i % 3 for i in r], pa.int32()), pa.array(words)
            ),
            True,
        ),
        (
            pa.field("m", pa.map_(pa.string(), pa.int32())),
            pa.array([[(f"k{i}", i)] if i % 2 else [] for i in r], pa.map_(pa.string(), pa.int32())),
            False,
        ),
        (
            pa.field("bin", pa.binary()),
            pa.array([None if i % 4 == 1 else bytes([i % 256]) * (i % 5) for i in r], pa.binary()),
            False,
        ),
        (
            pa.field("lbin", pa.large_binary()),
            pa.array([b"\xff\x00" * (i % 3) for i in r], pa.large_binary()),
            False,
        ),
        (
            pa.field("fsb", pa.binary(3)),
            pa.array([bytes([i % 256, 1, 2]) for i in r], pa.binary(3)),
            False,
        ),
        (
            pa.field("ts", pa.timestamp("us", tz="UTC")),
            pa.array([None if i % 6 == 0 else i * 1_000_003 for i in r], pa.timestamp("us", tz="UTC")),
            True,
        ),
        (
            pa.field("bv", pa.binary_view()),
            # Long values (> 12 bytes) live in the variadic data buffers.
            pa.array([None if i % 3 == 2 else b"v" * (i % 20) for i in r], pa.binary_view()),
            False,
        ),
        (
            pa.field("sv", pa.string_view()),
            pa.array([f"a fairly long view string {i}" if i % 2 else "short" for i in r], pa.string_view()),
            False,
        ),
        (
            pa.field("dbin", pa.dictionary(pa.int32(), pa.binary())),
            pa.DictionaryArray.from_arrays(
                pa.array([None if i % 4 == 3 else i % 3 for i in r], pa.int32()),
                pa.array([b"p", b"q", b"r"]),
            ),
            False,
        ),
        (
            pa.field("ldict", pa.list_(pa.dictionary(pa.int16(), pa.string()))),
            pa.ListArray.from_arrays(
                pa.array([0, 1, 1, 3, 3, 4, 6, 7], pa.int32()),
                pa.DictionaryArray.from_arrays(
                    pa.array([0, 1, 0, 2, 1, 0, 2], pa.int16()), pa.array(["u", "v", "w"])
                ),
            ),
            False,
        ),
        (
            pa.field("su", pa.sparse_union([pa.field("x", pa.int32()), pa.field("y", pa.string())])),
            pa.UnionArray.from_sparse(
                pa.array([i % 2 for i in r], pa.int8()),
                [pa.array(list(r), pa.int32()), pa.array([f"y{i}" for i in r])],
                ["x", "y"],
            ),
            False,
        ),
        (
            pa.field("du", pa.dense_union([pa.field("x", pa.int32()), pa.field("y", pa.string())])),
            pa.UnionArray.from_dense(
                pa.array([0, 1, 0, 1, 0, 1, 0], pa.int8()),
                pa.array([0, 0, 1, 1, 2, 2, 3], pa.int32()),
                [pa.array([1, 2, 3, 4], pa.int32()), pa.array(["a", "b", "c"])],
                ["x", "y"],
            ),
            False,
        ),
        (
            pa.field("ree", pa.run_end_encoded(pa.int32(), pa.string())),
            pa.RunEndEncodedArray.from_arrays(
                pa.array([2, 5, 7], pa.int32()), pa.array(["r1", None, "r3"])
            ),
            False,
        ),
        (
            pa.field("h", pa.float16()),
            pa.array([None, 1.5, 2.0, 3.0, None, 4.5, 5.0], pa.float16()),
            False,
        ),
    ]
    return cols


def batches():
    out = []
    for seed in (1, 20):
        cols = columns(seed)
        schema = pa.schema([c[0] for c in cols], metadata={"case": "unsupported-mix"})
        out.append(pa.record_batch([c[1] for c in cols], schema=schema))
    # A slice: offsets and bitmaps that do not start at zero.
    out.append(out[1].slice(2, 4))
    supported = [c[0].name for c in columns(1) if c[2]]
    skipped = [c[0].name for c in columns(1) if not c[2]]
    return out[0].schema, out, supported, skipped


def main():
    out_dir = sys.argv[1]
    schema, bs, supported, skipped = batches()
    cases = []
    for fmt in ("stream", "file"):
        for codec in (None, "lz4", "zstd"):
            name = f"mix.{codec or 'none'}.{fmt}"
            opts = ipc.IpcWriteOptions(compression=codec)
            path = os.path.join(out_dir, name)
            with pa.OSFile(path, "wb") as sink:
                new = ipc.new_stream if fmt == "stream" else ipc.new_file
                with new(sink, schema, options=opts) as w:
                    for b in bs:
                        w.write_batch(b)
            # Read back with pyarrow: what the expectations are made of.
            with pa.memory_map(path) as src:
                reader = ipc.open_stream(src) if fmt == "stream" else ipc.open_file(src)
                read = (
                    list(reader)
                    if fmt == "stream"
                    else [reader.get_batch(i) for i in range(reader.num_record_batches)]
                )
            keep = [b.select(supported) for b in read]
            ipc_expect.write_json(
                path + ".supported.json",
                ipc_expect.expect_json(fmt, keep[0].schema, keep),
            )
            proj = [b.select(["s", "i"]) for b in read]
            ipc_expect.write_json(
                path + ".projected.json",
                ipc_expect.expect_json(fmt, proj[0].schema, proj),
            )
            cases.append(
                {"name": name, "format": fmt, "compression": codec or "none", "skipped": skipped}
            )
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
