#!/usr/bin/env python3
"""Writes a corpus of Arrow IPC streams and files with pyarrow, for Lightstream to read.

Usage: pyarrow_write.py OUT_DIR

For every case it writes `<case>.arrows` (stream) or `<case>.arrow` (file) and the
expected values next to it as `<case>.json` (format: see ipc_expect.py), and a
`manifest.json` listing every case. The data is deterministic (fixed seed).

Covered: every type Lightstream supports, with nulls (and batches without a
validity buffer), custom schema and field metadata, a non-nullable field, an
all-null column, an empty batch, sliced arrays (non-zero offsets), several
batches, dictionary replacement and delta dictionaries, dictionary values that are
null, uncompressed / ZSTD / LZ4_FRAME bodies, an empty stream, a larger two-batch
table, footer metadata in files, metadata version 4, the pre-0.15 framing without
continuation markers, per-batch custom metadata, and columns of types Lightstream
does not hold (the manifest entry then carries `projection`, the columns to read,
and `unsupported_fields`).
"""

import decimal
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402

COMPRESSIONS = [None, "zstd", "lz4"]  # pyarrow's "lz4" is LZ4_FRAME

BATCH_SIZES = [9, 0, 37, 130]
NULL_RATES = [0.0, 0.0, 0.2, 0.5]  # first batches: no validity buffer at all

DICT_WORDS = ["paris", "tokyo", "", "lima", "zürich", "東京", "quito", "oslo"]


def int_range(t):
    bits = t.bit_width
    if pa.types.is_signed_integer(t):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def random_string(rng):
    alphabet = "abcXYZ 09_é✓𝄞\u00a0\"\\\n"
    n = rng.choice([0, 1, 3, 8, 20])
    return "".join(rng.choice(alphabet) for _ in range(n))


def with_nulls(rng, values, rate, force_null):
    out = [None if rate and rng.random() < rate else v for v in values]
    # Every nullable column gets at least one null in every batch that has nulls at all.
    if force_null and rate and out:
        out[len(out) // 2] = None
    return out


def make_column(rng, name, t, n, rate, dictionaries, force_null=False):
    """One pyarrow array of type t with n rows and null rate `rate`; with
    `force_null`, every array that may hold nulls holds at least one."""
    nz = lambda vals: with_nulls(rng, vals, rate, force_null)  # noqa: E731
    if pa.types.is_null(t):
        return pa.nulls(n)
    if pa.types.is_boolean(t):
        return pa.array(nz([rng.random() < 0.5 for _ in range(n)]), t)
    if pa.types.is_integer(t):
        lo, hi = int_range(t)
        extremes = [lo, hi, 0, 1, lo + 1, hi - 1, -1 if lo < 0 else 2]
        vals = [extremes[i] if i < len(extremes) else rng.randint(lo, hi) for i in range(n)]
        return pa.array(nz(vals), t)
    if pa.types.is_floating(t):
        specials = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1.5, 5e-324, 1e300, 0.1]
        vals = [specials[i] if i < len(specials) else rng.uniform(-1e6, 1e6) for i in range(n)]
        return pa.array(nz(vals), t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.array(nz([random_string(rng) for _ in range(n)]), t)
    if pa.types.is_dictionary(t):
        dictionary = dictionaries[name]
        idx = [rng.randrange(len(dictionary)) for _ in range(n)]
        return pa.DictionaryArray.from_arrays(pa.array(nz(idx), t.index_type), dictionary)
    if pa.types.is_date32(t):
        vals = [rng.randint(-100000, 100000) for _ in range(n)]
        return pa.array(nz(vals), pa.int32()).view(t)
    if pa.types.is_date64(t):
        vals = [rng.randint(-100000, 100000) * 86_400_000 for _ in range(n)]
        return pa.array(nz(vals), pa.int64()).view(t)
    if pa.types.is_time32(t):
        top = 86_400 if t.unit == "s" else 86_400_000
        return pa.array(nz([rng.randrange(top) for _ in range(n)]), pa.int32()).view(t)
    if pa.types.is_time64(t):
        top = 86_400_000_000 if t.unit == "us" else 86_400_000_000_000
        return pa.array(nz([rng.randrange(top) for _ in range(n)]), pa.int64()).view(t)
    if pa.types.is_timestamp(t):
        # Beyond 2^53 on purpose: values JS numbers could not hold exactly.
        extremes = [-(1 << 62), (1 << 62) + 12345, 0, -1, 9_007_199_254_740_993]
        vals = [extremes[i] if i < len(extremes) else rng.randint(-(10**17), 10**17) for i in range(n)]
        return pa.array(nz(vals), pa.int64()).view(t)
    if pa.types.is_duration(t):
        lo, hi = -(1 << 63), (1 << 63) - 1
        extremes = [lo, hi, 0, -1]
        vals = [extremes[i] if i < len(extremes) else rng.randint(lo, hi) for i in range(n)]
        return pa.array(nz(vals), pa.int64()).view(t)
    if pa.types.is_decimal(t):
        top = 10**t.precision - 1
        extremes = [top, -top, 0, 1, -1]
        vals = [extremes[i] if i < len(extremes) else rng.randint(-top, top) for i in range(n)]
        with decimal.localcontext() as ctx:
            ctx.prec = 100
            decs = [decimal.Decimal(v).scaleb(-t.scale) for v in vals]
        return pa.array(nz(decs), t)
    raise TypeError(f"no generator for {t}")


# name, type, nullable, field metadata
ALL_TYPES = [
    ("bool", pa.bool_(), True, None),
    ("int8", pa.int8(), True, None),
    ("int16", pa.int16(), True, None),
    ("int32", pa.int32(), True, {"unit": "metres", "note": "ünïcödé ✓"}),
    ("int32_required", pa.int32(), False, None),
    ("int64", pa.int64(), True, None),
    ("uint8", pa.uint8(), True, None),
    ("uint16", pa.uint16(), True, None),
    ("uint32", pa.uint32(), True, None),
    ("uint64", pa.uint64(), True, None),
    ("float32", pa.float32(), True, None),
    ("float64", pa.float64(), True, {"empty": ""}),
    ("utf8", pa.string(), True, None),
    ("utf8_all_null", pa.string(), True, None),
    ("large_utf8", pa.large_string(), True, None),
    ("dict_i8", pa.dictionary(pa.int8(), pa.string()), True, {"kind": "city"}),
    ("dict_i16", pa.dictionary(pa.int16(), pa.string()), True, None),
    ("dict_i32", pa.dictionary(pa.int32(), pa.string()), True, None),
    ("dict_i64", pa.dictionary(pa.int64(), pa.string()), True, None),
    ("dict_u8", pa.dictionary(pa.uint8(), pa.string()), True, None),
    ("dict_u16", pa.dictionary(pa.uint16(), pa.string()), True, None),
    ("dict_u32", pa.dictionary(pa.uint32(), pa.string()), True, None),
    ("dict_u64", pa.dictionary(pa.uint64(), pa.string()), True, None),
    ("dict_i32_large", pa.dictionary(pa.int32(), pa.large_string()), True, None),
    ("date32", pa.date32(), True, None),
    ("date64", pa.date64(), True, None),
    ("time32_s", pa.time32("s"), True, None),
    ("time32_ms", pa.time32("ms"), True, None),
    ("time64_us", pa.time64("us"), True, None),
    ("time64_ns", pa.time64("ns"), True, None),
    ("ts_s", pa.timestamp("s"), True, None),
    ("ts_ms", pa.timestamp("ms"), True, None),
    ("ts_us", pa.timestamp("us"), True, None),
    ("ts_ns", pa.timestamp("ns"), True, None),
    ("ts_s_utc", pa.timestamp("s", tz="UTC"), True, None),
    ("ts_ms_ny", pa.timestamp("ms", tz="America/New_York"), True, None),
    ("ts_us_offset", pa.timestamp("us", tz="+05:30"), True, None),
    ("ts_ns_paris", pa.timestamp("ns", tz="Europe/Paris"), True, None),
    ("dur_s", pa.duration("s"), True, None),
    ("dur_ms", pa.duration("ms"), True, None),
    ("dur_us", pa.duration("us"), True, None),
    ("dur_ns", pa.duration("ns"), True, None),
    ("dec32", pa.decimal32(9, 2), True, None),
    ("dec64", pa.decimal64(18, 4), True, None),
    ("dec128", pa.decimal128(38, 10), True, None),
    ("dec128_small", pa.decimal128(5, 0), True, None),
    ("dec128_neg_scale", pa.decimal128(10, -2), True, None),
    ("null", pa.null(), True, None),
]

SCHEMA_METADATA = {"producer": "pyarrow_write.py", "unicode": "héllo ✓ 東京", "empty": ""}


def all_types_schema():
    fields = [pa.field(n, t, nullable=nl, metadata=md) for n, t, nl, md in ALL_TYPES]
    return pa.schema(fields, metadata=SCHEMA_METADATA)


def all_types_batches(seed=42):
    rng = random.Random(seed)
    schema = all_types_schema()
    # One dictionary object per column for all batches: files allow no replacement.
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
            elif not nullable:
                cols.append(make_column(rng, name, t, n, 0.0, dictionaries))
            else:
                cols.append(make_column(rng, name, t, n, rate, dictionaries))
        batches.append(pa.record_batch(cols, schema=schema))
    return schema, batches


def sliced_batches(schema, batches):
    table = pa.Table.from_batches(batches, schema=schema)
    sliced = table.slice(3, table.num_rows - 3 - 11)
    out = [b for b in sliced.to_batches()]
    assert any(c.offset != 0 for b in out for c in b.columns), "slice produced no offsets"
    return out


def dict_schema():
    return pa.schema(
        [
            pa.field("city", pa.dictionary(pa.int32(), pa.string())),
            pa.field("tag", pa.dictionary(pa.int16(), pa.large_string()), metadata={"k": "v"}),
            pa.field("n", pa.int64()),
        ],
        metadata={"case": "dictionaries"},
    )


def dict_batch(schema, city_dict, city_idx, tag_dict, tag_idx):
    n = len(city_idx)
    assert len(tag_idx) == n
    return pa.record_batch(
        [
            pa.DictionaryArray.from_arrays(pa.array(city_idx, pa.int32()), city_dict),
            pa.DictionaryArray.from_arrays(pa.array(tag_idx, pa.int16()), tag_dict),
            pa.array([i * 1000 - 7 if i % 4 else None for i in range(n)], pa.int64()),
        ],
        schema=schema,
    )


def replacement_batches():
    """Dictionaries that change in ways that are not deltas: replacement."""
    s = dict_schema()
    c1 = pa.array(["paris", "tokyo", "lima"])
    c2 = pa.array(["oslo", "cairo"])
    c3 = pa.array(["paris", "tokyo", "lima", "quito"])  # not an extension of c2
    t1 = pa.array(["x", "y"], pa.large_string())
    t2 = pa.array(["z"], pa.large_string())
    return s, [
        dict_batch(s, c1, [0, 1, 2, None, 1], t1, [1, 0, None, 1, 1]),
        dict_batch(s, c2, [1, 1, 0], t1, [0, 0, 1]),
        dict_batch(s, c3, [3, None, 0, 2, 1, 3], t2, [0, 0, None, 0, 0, 0]),
        dict_batch(s, c3, [2, 2], t2, [0, None]),
    ]


def delta_batches(then_replace):
    """Dictionaries that only grow: pyarrow emits deltas with emit_dictionary_deltas."""
    s = dict_schema()
    c1 = pa.array(["a", "b"])
    c2 = pa.array(["a", "b", "c", "d"])
    c3 = pa.array(["a", "b", "c", "d", "e"])
    t1 = pa.array(["x"], pa.large_string())
    t2 = pa.array(["x", "y"], pa.large_string())
    t3 = pa.array(["x", "y", "zé"], pa.large_string())
    batches = [
        dict_batch(s, c1, [0, 1, None, 1], t1, [0, 0, 0, None]),
        dict_batch(s, c2, [3, 2, 1, 0, None], t2, [1, 0, 1, None, 1]),
        dict_batch(s, c2, [2, 3], t3, [2, 2]),
        dict_batch(s, c3, [4, 0, 4], t3, [0, 1, 2]),
    ]
    if then_replace:
        batches.append(dict_batch(s, pa.array(["new", "other"]), [1, 0, None], t3, [2, None, 0]))
    return s, batches


def big_batches():
    rng = random.Random(7)
    s = pa.schema([pa.field("id", pa.int64(), False), pa.field("text", pa.string()), pa.field("x", pa.float64())])
    out = []
    for n in (5000, 3001):
        out.append(
            pa.record_batch(
                [
                    pa.array(range(n), pa.int64()),
                    pa.array([None if i % 13 == 0 else random_string(rng) * 3 for i in range(n)]),
                    pa.array([rng.random() if i % 7 else None for i in range(n)], pa.float64()),
                ],
                schema=s,
            )
        )
    return s, out


def write(
    out_dir,
    manifest,
    case,
    fmt,
    schema,
    batches,
    compression,
    deltas,
    check_dictionaries=True,
    options=None,
    projection=None,
    extra=None,
):
    """Writes one case; `projection` (column indices) limits the expectation to the
    columns Lightstream is asked to read (the others are types it does not hold)."""
    comp = compression or "none"
    name = f"{case}.{comp}.{fmt}"
    data_file = name + (".arrows" if fmt == "stream" else ".arrow")
    opts = dict(compression=compression, emit_dictionary_deltas=deltas)
    opts.update(options or {})
    write_options = ipc.IpcWriteOptions(**opts)
    footer = {"written_by": "pyarrow_write.py", "case": name, "unicode": "✓"}
    path = os.path.join(out_dir, data_file)
    with pa.OSFile(path, "wb") as sink:
        if fmt == "stream":
            writer = ipc.new_stream(sink, schema, options=write_options)
        else:
            writer = ipc.new_file(sink, schema, options=write_options, metadata=footer)
        with writer:
            for b in batches:
                writer.write_batch(b)
    expect_schema, expect_batches = schema, batches
    if projection is not None:
        expect_schema = pa.schema([schema.field(i) for i in projection], metadata=schema.metadata)
        expect_batches = [pa.record_batch([b.column(i) for i in projection], schema=expect_schema) for b in batches]
    doc = ipc_expect.expect_json(fmt, expect_schema, expect_batches, check_dictionaries)
    if fmt == "file":
        doc["footer_metadata"] = footer
    # Sanity: pyarrow itself must read back what the expectation says.
    with pa.memory_map(path) as src:
        reader = ipc.open_stream(src) if fmt == "stream" else ipc.open_file(src)
        if fmt == "stream":
            back = list(reader)
        else:
            back = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        for b in back:
            b.validate(full=True)
        if projection is None:
            diffs = ipc_expect.diff_docs(doc, ipc_expect.expect_json(fmt, reader.schema, back), name)
            if diffs:
                raise SystemExit("pyarrow does not read back its own file:\n" + "\n".join(diffs))
    ipc_expect.write_json(os.path.join(out_dir, name + ".json"), doc)
    entry = {"name": name, "format": fmt, "data": data_file, "expect": name + ".json", "compression": comp}
    if projection is not None:
        entry["projection"] = list(projection)
    entry.update(extra or {})
    manifest.append(entry)


def dict_null_values_batches():
    """Dictionary values that are themselves null: the row is logically null."""
    values = pa.array(["a", None, "c"])
    schema = pa.schema([pa.field("d", pa.dictionary(pa.int32(), pa.string()))])
    batch = pa.record_batch(
        [pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 1], pa.int32()), values)], schema=schema
    )
    return schema, [batch]


def unsupported_batches():
    """Columns Lightstream does not hold (list, float16) between supported ones."""
    schema = pa.schema(
        [
            pa.field("i", pa.int32()),
            pa.field("l", pa.list_(pa.int32())),
            pa.field("s", pa.string()),
            pa.field("h", pa.float16()),
        ],
        metadata={"case": "unsupported"},
    )
    batch = pa.record_batch(
        [
            pa.array([1, None, 3], pa.int32()),
            pa.array([[1], [2, 3], None], pa.list_(pa.int32())),
            pa.array(["a", "b", None]),
            pa.array([1.0, 2.0, None], pa.float16()),
        ],
        schema=schema,
    )
    return schema, [batch, batch.slice(1)]


def batch_metadata_stream(out_dir, manifest, schema, batches):
    """Per-message custom metadata on record batches (readers ignore it)."""
    name = "batch_metadata.none.stream"
    path = os.path.join(out_dir, name + ".arrows")
    with pa.OSFile(path, "wb") as sink:
        with ipc.new_stream(sink, schema) as writer:
            for i, b in enumerate(batches):
                writer.write_batch(b, custom_metadata={"batch": str(i)})
    ipc_expect.write_json(os.path.join(out_dir, name + ".json"), ipc_expect.expect_json("stream", schema, batches))
    manifest.append(
        {"name": name, "format": "stream", "data": name + ".arrows", "expect": name + ".json", "compression": "none"}
    )


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: pyarrow_write.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    schema, batches = all_types_batches()
    sliced = sliced_batches(schema, batches)
    rep_schema, rep = replacement_batches()
    delta_schema, delta = delta_batches(then_replace=False)
    dr_schema, delta_replace = delta_batches(then_replace=True)
    big_schema, big = big_batches()
    dnv_schema, dnv = dict_null_values_batches()
    un_schema, un = unsupported_batches()
    for comp in COMPRESSIONS:
        for fmt in ("stream", "file"):
            write(out_dir, manifest, "all_types", fmt, schema, batches, comp, False)
            write(out_dir, manifest, "sliced", fmt, schema, sliced, comp, False)
            write(out_dir, manifest, "empty", fmt, schema, [], comp, False)
            write(out_dir, manifest, "big", fmt, big_schema, big, comp, False)
            # pyarrow's file reader applies every delta before the first batch, so per-batch
            # dictionaries of a file are not comparable; resolved values are.
            write(out_dir, manifest, "dict_delta", fmt, delta_schema, delta, comp, True, fmt == "stream")
            write(
                out_dir, manifest, "dict_null_values", fmt, dnv_schema, dnv, comp, False, check_dictionaries=False
            )
            write(
                out_dir,
                manifest,
                "unsupported_projected",
                fmt,
                un_schema,
                un,
                comp,
                False,
                projection=[0, 2],
                extra={"unsupported_fields": ["l", "h"]},
            )
        write(out_dir, manifest, "dict_replacement", "stream", rep_schema, rep, comp, False)
        write(out_dir, manifest, "dict_delta_then_replace", "stream", dr_schema, delta_replace, comp, True)
    # Older producers: metadata version 4, and the pre-0.15 framing without the
    # 0xFFFFFFFF continuation marker.
    for fmt in ("stream", "file"):
        write(out_dir, manifest, "v4", fmt, schema, batches, None, False, options={"metadata_version": ipc.MetadataVersion.V4})
        write(
            out_dir,
            manifest,
            "legacy_framing",
            fmt,
            delta_schema,
            delta,
            None,
            True,
            fmt == "stream",
            options={"use_legacy_format": True},
        )
    batch_metadata_stream(out_dir, manifest, rep_schema, rep)
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"pyarrow": pa.__version__, "cases": manifest}, f, indent=1)
    print(f"wrote {len(manifest)} cases to {out_dir}")


if __name__ == "__main__":
    main()
