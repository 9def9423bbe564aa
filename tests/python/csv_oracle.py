"""pyarrow as the oracle for Lightstream's CSV reader and writer (tests/tests/csv_interop.rs).

    csv_oracle.py write OUT.csv OUT.json        pyarrow.csv.write_csv of a table of many
                                                types (quotes, delimiters, newlines,
                                                non-ASCII, nulls), then the expectation
                                                document (ipc_expect.py) of what
                                                pyarrow.csv.read_csv reads back from it
    csv_oracle.py read IN.csv TYPES.json OUT.json
                                                read_csv with explicit column types (TYPES:
                                                {"name": "pyarrow type name", ...}, in
                                                column order); writes the document
    csv_oracle.py infer IN.csv OUT.json         read_csv with inference; writes the document

Each document holds one batch (the table combined into one chunk). Types pyarrow's CSV
reader cannot produce directly are read as their storage and cast: duration from
int64, dictionary<string> from string.

Every read uses LOSSLESS: pyarrow's own writer writes a null string as an empty
unquoted field and an empty string as "", and only these options read that back as
written (the defaults read both as ""; strings_can_be_null alone reads both as null).
Lightstream reads that way by default (docs/csv.md, "Nulls and empty strings").
"""

import json
import re
import sys
import datetime as dt

import pyarrow as pa
import pyarrow.csv as pcsv

from ipc_expect import expect_json, write_json

# Null strings and empty strings kept apart (see the module docstring).
LOSSLESS = dict(strings_can_be_null=True, quoted_strings_can_be_null=False)


def parse_type(name):
    """A pyarrow DataType from its str() form."""
    m = re.fullmatch(r"timestamp\[(\w+)(?:, tz=(.+))?\]", name)
    if m:
        return pa.timestamp(m.group(1), m.group(2))
    m = re.fullmatch(r"duration\[(\w+)\]", name)
    if m:
        return pa.duration(m.group(1))
    m = re.fullmatch(r"time(32|64)\[(\w+)\]", name)
    if m:
        return (pa.time32 if m.group(1) == "32" else pa.time64)(m.group(2))
    m = re.fullmatch(r"decimal(32|64|128)\((\d+), (-?\d+)\)", name)
    if m:
        ctor = {"32": pa.decimal32, "64": pa.decimal64, "128": pa.decimal128}[m.group(1)]
        return ctor(int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"dictionary<values=(\w+), indices=(\w+), ordered=(\d)>", name)
    if m:
        return pa.dictionary(pa.type_for_alias(m.group(2)), pa.type_for_alias(m.group(1)), m.group(3) == "1")
    if name == "date32[day]":
        return pa.date32()
    if name == "date64[ms]":
        return pa.date64()
    return pa.type_for_alias(name)


def document(table):
    table = table.combine_chunks()
    return expect_json("csv", table.schema, table.to_batches(max_chunksize=None) or [], check_dictionaries=False)


def sample_table():
    strings = ['plain', 'comma, inside', 'quote " inside', 'line\nbreak', 'crlf\r\nbreak',
               'Łódź 日本 🎉', '', None, '  padded  ', 'semi;colon']
    n = len(strings)
    return pa.table({
        "i": pa.array([0, -1, 9223372036854775807, -9223372036854775808, 42, None, 7, 8, 9, 10]),
        "f": pa.array([1.5, -2.25e-10, 1e300, -1e-300, float("inf"), float("-inf"), None,
                       float("nan"), 0.1, -0.0]),
        "b": pa.array([True, False, None, True, False, True, True, False, None, True]),
        "d": pa.array([dt.date(2020, 2, 29), dt.date(1969, 12, 31), None, dt.date(1, 1, 1),
                       dt.date(9999, 12, 31), dt.date(1970, 1, 1), None, dt.date(2000, 1, 1),
                       dt.date(2024, 6, 30), dt.date(1900, 3, 1)]),
        "ts": pa.array([0, -1, 1_700_000_000, None, 86_399, 253402300799, -62135596800, 1, 2, 3],
                       pa.timestamp("s")),
        "tsn": pa.array([0, -1, 1_700_000_000_123_456_789, None, 1, 999_999_999, 5, 6, 7, 8],
                        pa.timestamp("ns", "UTC")),
        "t": pa.array([0, 1, 86_399, None, 3600, 45296, 59, 60, 61, 7200], pa.time32("s")),
        "s": pa.array(strings),
    }), n


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        table, _ = sample_table()
        pcsv.write_csv(table, sys.argv[2])
        read = pcsv.read_csv(sys.argv[2], convert_options=pcsv.ConvertOptions(**LOSSLESS))
        # pyarrow's reading is what its writer meant for the strings.
        assert read.column("s").to_pylist() == table.column("s").to_pylist()
        write_json(sys.argv[3], document(read))
    elif cmd == "read":
        with open(sys.argv[3], encoding="utf-8") as f:
            types = json.load(f)
        direct, casts = {}, {}
        for name, tname in types.items():
            t = parse_type(tname)
            if pa.types.is_duration(t):
                direct[name], casts[name] = pa.int64(), t
            elif pa.types.is_dictionary(t):
                direct[name], casts[name] = pa.string(), t
            else:
                direct[name] = t
        opts = pcsv.ConvertOptions(column_types=direct, **LOSSLESS)
        table = pcsv.read_csv(sys.argv[2], convert_options=opts)
        for name, t in casts.items():
            i = table.schema.get_field_index(name)
            col = table.column(i)
            if pa.types.is_dictionary(t):
                col = col.dictionary_encode().cast(t)
            else:
                col = col.cast(t)
            table = table.set_column(i, name, col)
        write_json(sys.argv[4], document(table))
    elif cmd == "infer":
        opts = pcsv.ConvertOptions(**LOSSLESS)
        write_json(sys.argv[3], document(pcsv.read_csv(sys.argv[2], convert_options=opts)))
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
