#!/usr/bin/env python3
"""Writes the Arrow IPC fixtures of the browser end-to-end test (tests/browser/e2e.mjs).

Usage: make_fixtures.py OUT_DIR

Every fixture is an IPC stream (`<name>.arrows`) written by pyarrow; e2e.mjs
serves each one with `lightstream serve` (which decodes it and re-encodes it
with its own writer, choosing dictionary deltas and replacements from the
table contents) and over plain HTTP (for `decode` / `readStream` of the
pyarrow bytes themselves). `manifest.json` lists the fixtures with what the
wire must show when lightstream re-sends them (`expect`), so the test notices
when a fixture stops exercising deltas or replacements.

Fixtures:
  all_types         every type lightstream-core supports, 5 batches (the first
                    one without validity buffers), every nullable column with
                    nulls, one non-nullable column, an all-null utf8 column, a
                    Null-typed column, schema and field metadata
  dictionaries      dictionary columns (int8/int16/int32/uint16 keys, utf8 and
                    large_utf8 values) whose dictionaries grow (-> deltas) and
                    change (-> replacements) from batch to batch
  dict_null_values  a dictionary whose values contain a null
  zero_rows         zero-row batches before, between and after non-empty ones
  empty_stream      a schema and no batches at all
  big               two batches of 60,000 rows (multi-frame WebSocket messages)
Extra files for the HTTP decode checks: all_types as an IPC file
(all_types.file.arrow) and pyarrow-compressed streams
(all_types.lz4.arrows, all_types.zstd.arrows).

The data is deterministic (fixed seeds).
"""

import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

# The type list and value generator are the interop tests' (tests/python).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from pyarrow_write import ALL_TYPES, make_column, random_string  # noqa: E402

DICT_WORDS = ["paris", "tokyo", "", "lima", "zürich", "東京", "quito", "oslo", "𝄞 clef"]



BATCH_SIZES = [9, 37, 130, 1, 64]
NULL_RATES = [0.0, 0.2, 0.5, 0.0, 0.1]  # the first batch has no validity buffers at all


def all_types():
    rng = random.Random(42)
    schema = pa.schema(
        [pa.field(n, t, nullable=nl, metadata=md) for n, t, nl, md in ALL_TYPES],
        metadata={"producer": "make_fixtures.py", "unicode": "héllo ✓ 東京", "empty": ""},
    )
    # One dictionary per column for all batches: lightstream sends each once.
    dictionaries = {}
    for name, t, _, _ in ALL_TYPES:
        if pa.types.is_dictionary(t):
            words = DICT_WORDS[: rng.randint(3, len(DICT_WORDS))]
            dictionaries[name] = pa.array(words, t.value_type)
    batches = []
    for n, rate in zip(BATCH_SIZES, NULL_RATES):
        cols = []
        for name, t, nullable, _ in ALL_TYPES:
            if name == "utf8_all_null":
                cols.append(pa.nulls(n, t))
            else:
                cols.append(
                    make_column(rng, name, t, n, rate if nullable else 0.0, dictionaries, True)
                )
        batches.append(pa.record_batch(cols, schema=schema))
    # Every nullable column holds a null somewhere.
    for i, (name, _, nullable, _) in enumerate(ALL_TYPES):
        if nullable:
            assert sum(b.column(i).null_count for b in batches) > 0, name
    return schema, batches


def dictionaries():
    """Dictionaries that grow (the re-encoding writer sends deltas) and change
    (it sends replacements)."""
    schema = pa.schema(
        [
            pa.field("city", pa.dictionary(pa.int32(), pa.string())),
            pa.field("tag", pa.dictionary(pa.int16(), pa.large_string()), metadata={"k": "v"}),
            pa.field("small", pa.dictionary(pa.int8(), pa.string())),
            pa.field("wide", pa.dictionary(pa.uint16(), pa.string())),
            pa.field("n", pa.int64()),
        ],
        metadata={"case": "dictionaries"},
    )
    U = pa.string()
    L = pa.large_string()
    wide1 = [f"w{i}" for i in range(300)]
    wide2 = wide1 + [f"w{i}" for i in range(300, 700)]  # grows past 256 values
    wide3 = [f"v{i}" for i in range(500)]  # replaced
    # (city, tag, small, wide) dictionaries per batch:
    #   city:  [a b] -> grow -> same -> replace -> grow after replacement -> same
    #   tag:   [x] -> grow -> grow -> same -> replace -> grow
    #   small: [s0] -> same -> replace -> replace -> grow -> same
    #   wide:  300 -> same -> grow to 700 -> same -> replace -> same
    plan = [
        (["a", "b"], ["x"], ["s0"], wide1),
        (["a", "b", "c", "d"], ["x", "y"], ["s0"], wide1),
        (["a", "b", "c", "d"], ["x", "y", "zé"], ["t0", "t1"], wide2),
        (["oslo", "cairo"], ["x", "y", "zé"], ["u0"], wide2),
        (["oslo", "cairo", "lima"], ["q"], ["u0", "u1", "u2"], wide3),
        (["oslo", "cairo", "lima"], ["q", "r"], ["u0", "u1", "u2"], wide3),
    ]
    rng = random.Random(7)
    batches = []
    for bi, (city, tag, small, wide) in enumerate(plan):
        n = 6 + 5 * bi

        def keys(d, kt):
            vals = [rng.randrange(len(d)) for _ in range(n)]
            vals[-1] = len(d) - 1  # the newest value is used
            vals[1] = None
            return pa.array(vals, kt)

        batches.append(
            pa.record_batch(
                [
                    pa.DictionaryArray.from_arrays(keys(city, pa.int32()), pa.array(city, U)),
                    pa.DictionaryArray.from_arrays(keys(tag, pa.int16()), pa.array(tag, L)),
                    pa.DictionaryArray.from_arrays(keys(small, pa.int8()), pa.array(small, U)),
                    pa.DictionaryArray.from_arrays(keys(wide, pa.uint16()), pa.array(wide, U)),
                    pa.array([None if i % 4 == 0 else i * 1000 - 7 for i in range(n)], pa.int64()),
                ],
                schema=schema,
            )
        )
    return schema, batches


def dict_null_values():
    values = pa.array(["a", None, "c"])
    schema = pa.schema([pa.field("d", pa.dictionary(pa.int32(), pa.string())), pa.field("i", pa.int32())])
    batch = pa.record_batch(
        [
            pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 1], pa.int32()), values),
            pa.array([1, 2, 3, None, 5], pa.int32()),
        ],
        schema=schema,
    )
    return schema, [batch]


def zero_rows():
    schema = pa.schema(
        [
            pa.field("i", pa.int32()),
            pa.field("s", pa.string()),
            pa.field("d", pa.dictionary(pa.int32(), pa.string())),
            pa.field("ts", pa.timestamp("us", tz="UTC")),
        ]
    )

    def batch(n, words):
        return pa.record_batch(
            [
                pa.array([None if i == 1 else i for i in range(n)], pa.int32()),
                pa.array([None if i == 0 else f"r{i}" for i in range(n)]),
                pa.DictionaryArray.from_arrays(
                    pa.array([i % max(len(words), 1) if i != 2 else None for i in range(n)], pa.int32()),
                    pa.array(words, pa.string()),
                ),
                pa.array([i * 1_000_000 if i != 2 else None for i in range(n)], pa.int64()).view(
                    pa.timestamp("us", tz="UTC")
                ),
            ],
            schema=schema,
        )

    return schema, [batch(0, ["a"]), batch(3, ["a", "b"]), batch(0, ["a", "b"]), batch(4, ["a", "b", "c"]), batch(0, ["z"])]


def empty_stream():
    schema = pa.schema(
        [pa.field("i", pa.int64(), False), pa.field("s", pa.large_string()), pa.field("d", pa.dictionary(pa.int8(), pa.string()))],
        metadata={"case": "empty"},
    )
    return schema, []


def big():
    rng = random.Random(11)
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), False),
            pa.field("x", pa.float64()),
            pa.field("text", pa.string()),
            pa.field("cat", pa.dictionary(pa.int16(), pa.string())),
            pa.field("ts", pa.timestamp("ns")),
        ]
    )
    cats = pa.array([f"cat-{i}" for i in range(50)])
    out = []
    start = 0
    for n in (60_000, 40_001):
        out.append(
            pa.record_batch(
                [
                    pa.array(range(start, start + n), pa.int64()),
                    pa.array([rng.random() if i % 7 else None for i in range(n)], pa.float64()),
                    pa.array([None if i % 13 == 0 else random_string(rng) for i in range(n)]),
                    pa.DictionaryArray.from_arrays(
                        pa.array([None if i % 11 == 0 else rng.randrange(50) for i in range(n)], pa.int16()), cats
                    ),
                    pa.array([rng.randint(-(10**18), 10**18) if i % 5 else None for i in range(n)], pa.int64()).view(
                        pa.timestamp("ns")
                    ),
                ],
                schema=schema,
            )
        )
        start += n
    return schema, out


def write_stream(path, schema, batches, compression=None, deltas=True):
    options = ipc.IpcWriteOptions(compression=compression, emit_dictionary_deltas=deltas)
    with pa.OSFile(path, "wb") as sink:
        with ipc.new_stream(sink, schema, options=options) as writer:
            for b in batches:
                writer.write_batch(b)
    # pyarrow must read back what it wrote.
    with pa.memory_map(path) as src:
        back = list(ipc.open_stream(src))
    assert len(back) == len(batches), path
    for got, want in zip(back, batches):
        got.validate(full=True)
        assert got.num_rows == want.num_rows and got.schema.equals(want.schema), path


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: make_fixtures.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = []

    def case(name, schema, batches, expect):
        write_stream(os.path.join(out, name + ".arrows"), schema, batches)
        cases.append(
            {
                "name": name,
                "file": name + ".arrows",
                "batches": len(batches),
                "rows": sum(b.num_rows for b in batches),
                "columns": len(schema),
                "expect": {**expect, "recordBatches": len(batches)},
            }
        )

    s, b = all_types()
    case("all_types", s, b, {"dictionaryBatches": 9, "deltas": 0, "replacements": 0})
    # Extra encodings of all_types for the HTTP decode checks.
    write_stream(os.path.join(out, "all_types.lz4.arrows"), s, b, compression="lz4")
    write_stream(os.path.join(out, "all_types.zstd.arrows"), s, b, compression="zstd")
    with pa.OSFile(os.path.join(out, "all_types.file.arrow"), "wb") as sink:
        with ipc.new_file(sink, s) as writer:
            for batch in b:
                writer.write_batch(batch)

    s, b = dictionaries()
    # First dictionaries 4; city: 2 deltas, 1 replacement; tag: 3 deltas, 1 replacement;
    # small: 1 delta, 2 replacements; wide: 1 delta, 1 replacement.
    case("dictionaries", s, b, {"dictionaryBatches": 16, "deltas": 7, "replacements": 5})
    s, b = dict_null_values()
    case("dict_null_values", s, b, {"dictionaryBatches": 1, "deltas": 0, "replacements": 0})
    s, b = zero_rows()
    # ["a"] (0 rows), delta "b", same (0 rows), delta "c", replacement ["z"] (0 rows).
    case("zero_rows", s, b, {"dictionaryBatches": 4, "deltas": 2, "replacements": 1})
    s, b = empty_stream()
    case("empty_stream", s, b, {"dictionaryBatches": 0, "deltas": 0, "replacements": 0})
    s, b = big()
    case("big", s, b, {"dictionaryBatches": 1, "deltas": 0, "replacements": 0})

    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"pyarrow": pa.__version__, "cases": cases}, f, indent=1)
    print(f"make_fixtures.py: wrote {len(cases)} fixtures to {out}")


if __name__ == "__main__":
    main()
