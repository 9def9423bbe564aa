#!/usr/bin/env python3
"""pyarrow as the oracle for Lightstream's Parquet reader and writer.

Usage:
  parquet_oracle.py write OUT_DIR    pyarrow writes Parquet files for Lightstream to read
  parquet_oracle.py verify DIR       pyarrow reads Parquet files Lightstream wrote
  parquet_oracle.py threads OUT_DIR  pyarrow writes the files of the decode-threads test

write: the ALL_TYPES table of pyarrow_write.py (same generator, same seed), minus the
columns Parquet cannot hold (negative decimal scale), with timestamp[s] values kept
within what Parquet's milliseconds can hold, is written with pyarrow's default
settings, with use_dictionary=False, with compression zstd / snappy / none and with a
small row_group_size; and a small table of timestamps as legacy INT96. Next to each file, `<case>.json` holds what pyarrow itself reads
back (format: ipc_expect.py), one batch per non-empty row group, cast to the written
schema: pyarrow restores timestamp[s], date64, time32[s] and dictionaries of large_string
as timestamp[ms], date32, time32[ms] and dictionaries of string; the cast is checked to
be exact. `manifest.json` lists the cases.

verify: DIR/manifest.json lists {"name", "data", "expect", "compression",
"row_groups", "dictionary"}. For every case: the ARROW:schema key must decode to the
expected schema exactly; pq.read_table must give the expected types (except the
coercions pyarrow applies to its own files too, listed in PYARROW_COERCES) and, after a
cast to the expected schema, the expected values; the footer must show the expected
codec on every column chunk, the expected number of row groups, and a dictionary page
on string columns exactly when dictionary encoding was asked for. A case with
"chunk_rows" (its tables' size) also gets its integer chunks' statistics checked
against pyarrow's min / max / null count, and pyarrow writes its values again with
the case's options ("row_group_rows", "dictionary_page_bytes"): every INT32, INT64,
FLOAT and DOUBLE chunk must have the pages pyarrow's has. Prints every
difference and exits 1 if there is any.
"""

import base64
import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402
import pyarrow_write  # noqa: E402

# Parquet has no negative decimal scale (pyarrow refuses to write one too).
LEFT_OUT = {"dec128_neg_scale"}

# What pyarrow's own read of a Parquet file gives for these written types.
PYARROW_COERCES = {
    "timestamp[s]": "timestamp[ms]",
    "timestamp[s, tz=UTC]": "timestamp[ms, tz=UTC]",
    "date64[ms]": "date32[day]",
    "time32[s]": "time32[ms]",
    "dictionary<values=large_string, indices=int32, ordered=0>": "dictionary<values=string, indices=int32, ordered=0>",
}


def parquet_table():
    schema, batches = pyarrow_write.all_types_batches()
    keep = [i for i, f in enumerate(schema) if f.name not in LEFT_OUT]
    schema = pa.schema([schema.field(i) for i in keep], metadata=schema.metadata)
    out = []
    for b in batches:
        cols = []
        for i in keep:
            col = b.column(i)
            t = col.type
            if pa.types.is_timestamp(t) and t.unit == "s":
                # Seconds are stored as milliseconds: stay within +-2^63 ms.
                vals = [None if v is None else v // 10_000 for v in col.cast(pa.int64()).to_pylist()]
                col = pa.array(vals, pa.int64()).view(t)
            cols.append(col)
        out.append(pa.record_batch(cols, schema=schema))
    return pa.Table.from_batches(out, schema=schema)


def per_row_group(table, path):
    """The table as one batch per non-empty row group of the file at `path`."""
    md = pq.ParquetFile(path).metadata
    batches, offset = [], 0
    for i in range(md.num_row_groups):
        n = md.row_group(i).num_rows
        if n:
            batches.append(table.slice(offset, n).combine_chunks().to_batches()[0])
        offset += n
    return batches


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    table = parquet_table()
    cases = [
        ("default", {}),
        ("no_dictionary", {"use_dictionary": False}),
        ("zstd", {"compression": "zstd"}),
        ("snappy", {"compression": "snappy"}),
        ("none", {"compression": "none"}),
        ("small_row_groups", {"row_group_size": 37}),
    ]
    manifest = []
    for name, opts in cases:
        path = os.path.join(out_dir, name + ".parquet")
        pq.write_table(table, path, **opts)
        back = pq.read_table(path)
        restored = back.cast(table.schema)
        doc = ipc_expect.expect_json("parquet", table.schema, per_row_group(restored, path), False)
        # The cast is exact: pyarrow's read equals what was written (NaN-aware).
        written = ipc_expect.expect_json("parquet", table.schema, table.to_batches(), False)
        diffs = ipc_expect.diff_docs(merged(written), merged(doc), name, False)
        if diffs:
            raise SystemExit(f"{name}: pyarrow does not read back its own file:\n" + "\n".join(diffs[:20]))
        ipc_expect.write_json(os.path.join(out_dir, name + ".json"), doc)
        manifest.append(
            {
                "name": name,
                "data": name + ".parquet",
                "expect": name + ".json",
                "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
                "pyarrow_types": {f.name: str(f.type) for f in back.schema},
            }
        )
    # Legacy INT96 timestamps (Impala / Spark): nanoseconds in 12 bytes.
    ts = pa.table(
        {
            "ts_ns": pa.array([0, -1, 1_700_000_000_123_456_789, None, -(10**18)], pa.timestamp("ns")),
            "ts_us_utc": pa.array([None, 1, -86_400_000_001, 10**15, 7], pa.timestamp("us", tz="UTC")),
        }
    )
    path = os.path.join(out_dir, "int96.parquet")
    pq.write_table(ts, path, use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(path).schema.column(0).physical_type == "INT96"
    back = pq.read_table(path).cast(ts.schema)
    if not back.equals(ts):
        raise SystemExit("int96: pyarrow does not read back its own file")
    doc = ipc_expect.expect_json("parquet", ts.schema, per_row_group(back, path), False)
    ipc_expect.write_json(os.path.join(out_dir, "int96.json"), doc)
    manifest.append({"name": "int96", "data": "int96.parquet", "expect": "int96.json", "row_groups": 1})
    manifest.extend(write_pages_cases(out_dir))
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"pyarrow": pa.__version__, "cases": manifest}, f, indent=1)
    print(f"wrote {len(manifest)} Parquet files to {out_dir}")


def pages_table(rows):
    """Columns for the page decoders: dictionaries of every index width (1, 2,
    255, 256, 257 and 65,537 entries), empty and non-ASCII strings, 0%, about
    10% and 100% nulls, categorical targets, PLAIN fixed-width and boolean values."""
    def null(i):
        return (i * 2654435761) % 10 == 0

    def text(k):
        return "" if k == 0 else f"v{k}-\u00f8\u6f22\U0001d11e"

    def strings(n, nulls):
        return [None if nulls and null(i) else text((i * 7919) % n) for i in range(rows)]

    cols = {
        "s_d1": pa.array(strings(1, False), pa.string()),
        "s_d2": pa.array(strings(2, True), pa.string()),
        "s_d255": pa.array(strings(255, True), pa.string()),
        "s_d256": pa.array(strings(256, False), pa.string()),
        "s_d257": pa.array(strings(257, True), pa.string()),
        "s_d65537": pa.array(strings(65_537, False), pa.string()),
        "s_null": pa.array([None] * rows, pa.string()),
        "s_large": pa.array(strings(300, True), pa.large_string()),
        "cat32": pa.array(strings(40, True), pa.string()).dictionary_encode(),
        "cat8": pa.array(strings(100, False), pa.string())
        .dictionary_encode()
        .cast(pa.dictionary(pa.int8(), pa.string())),
        "i32": pa.array([None if null(i) else (i * 31) % 1000 - 500 for i in range(rows)], pa.int32()),
        "i64": pa.array([i * 1_000_003 - 2**40 for i in range(rows)], pa.int64()),
        "u16": pa.array([None if null(i) else (i * 13) % 65_536 for i in range(rows)], pa.uint16()),
        "f32": pa.array([float(i % 77) / 4 for i in range(rows)], pa.float32()),
        "f64": pa.array([None if null(i) else i / 3 for i in range(rows)], pa.float64()),
        "b": pa.array([None if null(i) else i % 3 == 0 for i in range(rows)], pa.bool_()),
        "ts": pa.array([None if null(i) else i * 1_000_001 for i in range(rows)], pa.timestamp("us")),
    }
    return pa.table(cols)


def write_pages_cases(out_dir):
    """Files whose pages the page decoders read: v1 and v2 data pages, every
    codec, a dictionary that overflows into PLAIN pages, no dictionary; read
    whole and in batches that cut pages and row groups (`<name>.b<size>.json`)."""
    # The big table only where 65,537 entries need it (and its neighbours).
    big = pages_table(66_000).select(["s_d65537", "s_d257", "cat32", "i32", "b"])
    small = pages_table(5_000)
    cases = [
        ("pages_v2_snappy", big, {"data_page_version": "2.0", "compression": "snappy", "row_group_size": 40_000}, [65_536]),
        ("pages_v1_none", small, {"data_page_version": "1.0", "compression": "none"}, [7, 1000]),
        ("pages_v2_zstd", small, {"data_page_version": "2.0", "compression": "zstd"}, [1000]),
        ("pages_fallback", small, {"data_page_version": "1.0", "compression": "snappy", "dictionary_pagesize_limit": 1024}, [7]),
        ("pages_plain", small, {"data_page_version": "2.0", "use_dictionary": False}, [1000]),
    ]
    manifest = []
    for name, table, opts, batch_sizes in cases:
        path = os.path.join(out_dir, name + ".parquet")
        if table is small:
            opts = dict(opts, row_group_size=3_000, data_page_size=4_096)
        pq.write_table(table, path, **opts)
        back = pq.read_table(path).cast(table.schema)
        if not back.equals(table):
            raise SystemExit(f"{name}: pyarrow does not read back its own file")
        groups = per_row_group(back, path)
        ipc_expect.write_json(os.path.join(out_dir, name + ".json"), ipc_expect.expect_json("parquet", table.schema, groups, False))
        for size in batch_sizes:
            cut = [g.slice(o, size) for g in groups for o in range(0, g.num_rows, size)]
            doc = ipc_expect.expect_json("parquet", table.schema, cut, False)
            ipc_expect.write_json(os.path.join(out_dir, f"{name}.b{size}.json"), doc)
        manifest.append(
            {
                "name": name,
                "data": name + ".parquet",
                "expect": name + ".json",
                "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
                "batch_sizes": batch_sizes,
            }
        )
    return manifest


def threads(out_dir):
    """Files for Lightstream's decode threads (tests/tests/parquet_interop.rs):
    `threads_all_types.parquet` (the ALL_TYPES table in row groups of 37 rows:
    dictionary and plain columns, nulls) and `threads_pages.parquet` (4 row
    groups of 5,000 rows, several uncompressed v1 pages per chunk), each with
    what pyarrow reads back (`<name>.json`, one batch per row group), and
    `threads.json`: each file's row groups, and for threads_pages the byte
    range of every column chunk (the test corrupts pages inside them)."""
    os.makedirs(out_dir, exist_ok=True)
    pages = pages_table(20_000).select(["s_d257", "i32", "cat32", "f64", "b", "s_large"])
    files = [
        ("threads_all_types", parquet_table(), {"row_group_size": 37}),
        (
            "threads_pages",
            pages,
            {"row_group_size": 5_000, "data_page_size": 4_096, "compression": "none", "data_page_version": "1.0"},
        ),
    ]
    out = {}
    for name, table, opts in files:
        path = os.path.join(out_dir, name + ".parquet")
        pq.write_table(table, path, **opts)
        back = pq.read_table(path).cast(table.schema)
        doc = ipc_expect.expect_json("parquet", table.schema, per_row_group(back, path), False)
        ipc_expect.write_json(os.path.join(out_dir, name + ".json"), doc)
        md = pq.ParquetFile(path).metadata
        chunks = []
        for r in range(md.num_row_groups):
            row = []
            for c in range(md.num_columns):
                col = md.row_group(r).column(c)
                start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
                row.append({"name": col.path_in_schema, "start": start, "data_page": col.data_page_offset, "end": start + col.total_compressed_size})
            chunks.append(row)
        out[name] = {"data": name + ".parquet", "expect": name + ".json", "row_groups": md.num_row_groups, "chunks": chunks}
    with open(os.path.join(out_dir, "threads.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {len(out)} Parquet files to {out_dir}")


def merged(doc):
    """The document with all its batches as one."""
    batches = doc["batches"]
    if not batches:
        return dict(doc, batches=[])
    cols = []
    for c in range(len(batches[0]["columns"])):
        cols.append({"values": [v for b in batches for v in b["columns"][c]["values"]]})
    return dict(doc, batches=[{"num_rows": sum(b["num_rows"] for b in batches), "columns": cols}])


def _uvarint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return x, i


def _thrift_value(b, i, t):
    """One Thrift compact-protocol value of type `t` at b[i:]: (value, next offset)."""
    if t in (1, 2):
        return t == 1, i
    if t == 3:
        return b[i], i + 1
    if t in (4, 5, 6):
        v, i = _uvarint(b, i)
        return (v >> 1) ^ -(v & 1), i
    if t == 7:
        return b[i : i + 8], i + 8
    if t == 8:
        n, i = _uvarint(b, i)
        return bytes(b[i : i + n]), i + n
    if t in (9, 10):
        n, et = b[i] >> 4, b[i] & 0x0F
        i += 1
        if n == 15:
            n, i = _uvarint(b, i)
        out = []
        for _ in range(n):
            v, i = _thrift_value(b, i, et)
            out.append(v)
        return out, i
    if t == 12:
        return _thrift_struct(b, i)
    raise ValueError(f"thrift type {t}")


def _thrift_struct(b, i):
    fields, last = {}, 0
    while True:
        h = b[i]
        i += 1
        if h == 0:
            return fields, i
        t, delta = h & 0x0F, h >> 4
        if delta:
            fid = last + delta
        else:
            v, i = _uvarint(b, i)
            fid = (v >> 1) ^ -(v & 1)
        last = fid
        fields[fid], i = _thrift_value(b, i, t)


def chunk_pages(data, col):
    """(page type, value count, encoding) of every page of a column chunk of the
    file `data`, read from the page headers (DATA_PAGE 0, DICTIONARY_PAGE 2,
    DATA_PAGE_V2 3)."""
    i = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    end = i + col.total_compressed_size
    pages = []
    while i < end:
        h, j = _thrift_struct(data, i)
        header = {0: 5, 2: 7, 3: 8}.get(h[1])
        sub = h.get(header, {}) if header else {}
        pages.append((h[1], sub.get(1), sub.get(2)))
        i = j + h[3]
    return pages


FIXED_WIDTH = ("INT32", "INT64", "FLOAT", "DOUBLE")


def layout_problems(label, dir_, path, case):
    """pyarrow writes our file's values again, in tables of `chunk_rows` rows as
    ours were, with the case's options: every fixed-width column chunk must have
    the pages pyarrow gives it (the same dictionary attempt, fallback page, page
    row counts and encodings)."""
    rows = case["chunk_rows"]
    table = pq.read_table(path)
    table = pa.Table.from_batches(table.combine_chunks().to_batches(max_chunksize=rows), schema=table.schema)
    theirs = os.path.join(dir_, label + ".pyarrow.parquet")
    codec = {"uncompressed": "none"}.get(case["compression"], case["compression"])
    pq.write_table(
        table,
        theirs,
        compression=codec,
        use_dictionary=case["dictionary"],
        dictionary_pagesize_limit=case["dictionary_page_bytes"],
        row_group_size=case["row_group_rows"],
    )
    ours_md, theirs_md = pq.ParquetFile(path).metadata, pq.ParquetFile(theirs).metadata
    with open(path, "rb") as f:
        ours_data = f.read()
    with open(theirs, "rb") as f:
        theirs_data = f.read()
    problems = []
    for r in range(ours_md.num_row_groups):
        for c in range(ours_md.num_columns):
            col, want = ours_md.row_group(r).column(c), theirs_md.row_group(r).column(c)
            if col.physical_type not in FIXED_WIDTH:
                continue
            got_pages, want_pages = chunk_pages(ours_data, col), chunk_pages(theirs_data, want)
            if got_pages != want_pages:
                problems.append(
                    f"{label}: row group {r} column {col.path_in_schema}: pages {got_pages[:8]}..., "
                    f"pyarrow writes {want_pages[:8]}..."
                )
    return problems


def fixed_chunk_problems(label, pf, r, col):
    """An integer column chunk's null count and min / max against pyarrow's own
    of the row group's values. (Floats: the parquet crate's file writer declares
    IEEE_754_TOTAL_ORDER for them, whose statistics pyarrow 26 does not read.)"""
    where = f"{label}: row group {r} column {col.path_in_schema}"
    values = pf.read_row_group(r, columns=[col.path_in_schema]).column(0)
    st = col.statistics
    if st is None or st.null_count != values.null_count:
        return [f"{where}: null count {st and st.null_count}, pyarrow counts {values.null_count}"]
    if col.physical_type not in ("INT32", "INT64"):
        return []
    mm = pc.min_max(values)
    want = (mm["min"].as_py(), mm["max"].as_py())
    got = (st.min, st.max) if st.has_min_max else (None, None)
    if got != want:
        return [f"{where}: min/max {got!r}, pyarrow computes {want!r}"]
    return []


def string_chunk_problems(label, pf, r, c, col, case):
    """A string column chunk's statistics against pyarrow's own min / max / null
    count of the row group's values, and its dictionary page within
    `case["max_dictionary_page_bytes"]` (header included) when the case sets it."""
    where = f"{label}: row group {r} column {col.path_in_schema}"
    problems = []
    values = pf.read_row_group(r, columns=[col.path_in_schema]).column(0)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    st = col.statistics
    if st is None or st.null_count != values.null_count:
        problems.append(f"{where}: null count {st and st.null_count}, pyarrow counts {values.null_count}")
    mm = pc.min_max(values)
    want = (mm["min"].as_py(), mm["max"].as_py())
    got = (st.min, st.max) if st is not None and st.has_min_max else (None, None)
    if got != want:
        problems.append(f"{where}: min/max {got!r}, pyarrow computes {want!r}")
    limit = case.get("max_dictionary_page_bytes")
    if limit is not None and col.has_dictionary_page:
        size = col.data_page_offset - col.dictionary_page_offset
        if size > limit:
            problems.append(f"{where}: a dictionary page of {size} bytes, more than {limit}")
    return problems


def verify(dir_):
    with open(os.path.join(dir_, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    problems = []
    for case in manifest["cases"]:
        label = case["name"]
        path = os.path.join(dir_, case["data"])
        with open(os.path.join(dir_, case["expect"]), encoding="utf-8") as f:
            expected = json.load(f)
        pf = pq.ParquetFile(path)
        md = pf.metadata
        kv = md.metadata or {}
        if b"ARROW:schema" not in kv:
            problems.append(f"{label}: no ARROW:schema key")
            continue
        arrow_schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(kv[b"ARROW:schema"])))
        if ipc_expect.schema_json(arrow_schema) != expected["schema"]:
            problems.append(
                f"{label}: ARROW:schema {ipc_expect.schema_json(arrow_schema)!r} != expected {expected['schema']!r}"
            )
        table = pq.read_table(path)
        for f, ef in zip(table.schema, expected["schema"]["fields"]):
            got, want = str(f.type), ef["type"]
            if got != want and PYARROW_COERCES.get(want) != got:
                problems.append(f"{label}: column {f.name}: pyarrow reads {got}, expected {want}")
        table = table.cast(arrow_schema)
        actual = ipc_expect.expect_json("parquet", table.schema, table.combine_chunks().to_batches(), False)
        if table.num_rows == 0:
            actual["batches"] = []
        problems += ipc_expect.diff_docs(merged(expected), merged(actual), label, False)
        if md.num_row_groups != case["row_groups"]:
            problems.append(f"{label}: {md.num_row_groups} row groups, expected {case['row_groups']}")
        want_codec = case["compression"].upper()
        for r in range(md.num_row_groups):
            rg = md.row_group(r)
            for c in range(rg.num_columns):
                col = rg.column(c)
                if col.compression != want_codec:
                    problems.append(f"{label}: row group {r} column {col.path_in_schema}: codec {col.compression}")
                if col.physical_type == "BYTE_ARRAY" and col.num_values > 0:
                    if col.has_dictionary_page != case["dictionary"]:
                        problems.append(
                            f"{label}: row group {r} column {col.path_in_schema}: dictionary page "
                            f"{col.has_dictionary_page}, expected {case['dictionary']}"
                        )
                    problems += string_chunk_problems(label, pf, r, c, col, case)
                if col.physical_type in FIXED_WIDTH and case.get("chunk_rows"):
                    problems += fixed_chunk_problems(label, pf, r, col)
        if case.get("chunk_rows"):
            problems += layout_problems(label, dir_, path, case)
        print(f"{label}: {md.num_row_groups} row groups, {table.num_rows} rows, {want_codec}")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"verified {len(manifest['cases'])} files")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "verify", "threads"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "threads":
        threads(sys.argv[2])
    else:
        verify(sys.argv[2])


if __name__ == "__main__":
    main()
