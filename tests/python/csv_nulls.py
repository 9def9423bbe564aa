"""pyarrow and Polars as oracles for how Lightstream's CSV keeps null strings and
empty strings apart (tests/tests/csv_interop.rs, issue 13).

    csv_nulls.py write LIB DIR     LIB (pyarrow | polars) writes DIR/two.csv (a string
                                   column `s` and an int64 column `n`) and DIR/one.csv
                                   (`s` alone, where a null row is an empty line), and
                                   DIR/want.json: {"two": {"s": [...], "n": [...]},
                                   "one": {"s": [...]}}, the values written (null: None)
    csv_nulls.py read LIB DIR      LIB reads DIR/ours-two.csv and DIR/ours-one.csv
                                   (column types given: `s` string, `n` int64) with the
                                   options that keep nulls and empty strings apart;
                                   writes DIR/read-by-LIB.json, shaped as want.json

Both libraries write a null as an empty unquoted field and an empty string as "".
Reading it back as written takes, in pyarrow, strings_can_be_null=True with
quoted_strings_can_be_null=False, and for a one-column file ignore_empty_lines=False
(by default it drops the empty lines, its own nulls among them); Polars' defaults
read it back as written.
"""

import json
import sys

# Nulls and empty strings in one column, with text that looks like a null token,
# needs quoting, or is blank; a null first and last.
STRINGS = [None, "a", "", None, "NA", "null", "NaN", "", " ", "x,y", 'q"', "l\nf", None]
INTS = [1, None, 3, 4, None, 6, 7, 8, 9, 10, 11, None, 13]


def polars():
    try:
        import polars as pl
    except ImportError as e:
        raise SystemExit(f"polars is required for this test: python3 -m pip install polars ({e})")
    return pl


def want():
    return {"two": {"s": STRINGS, "n": INTS}, "one": {"s": STRINGS}}


def write(lib, out_dir):
    tables = want()
    if lib == "pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        for name, cols in tables.items():
            t = pa.table({k: pa.array(v, pa.string() if k == "s" else pa.int64())
                          for k, v in cols.items()})
            pcsv.write_csv(t, f"{out_dir}/{name}.csv")
    elif lib == "polars":
        pl = polars()
        for name, cols in tables.items():
            df = pl.DataFrame({k: pl.Series(k, v, pl.String if k == "s" else pl.Int64)
                               for k, v in cols.items()})
            df.write_csv(f"{out_dir}/{name}.csv")
    else:
        raise SystemExit(f"unknown library {lib!r}")
    with open(f"{out_dir}/want.json", "w", encoding="utf-8") as f:
        json.dump(tables, f)


def read(lib, path):
    with open(path, encoding="utf-8") as f:
        names = f.readline().strip().replace('"', "").split(",")
    if lib == "pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        types = {n: pa.string() if n == "s" else pa.int64() for n in names}
        t = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types=types, strings_can_be_null=True,
                quoted_strings_can_be_null=False),
        )
        cols = {n: t.column(n).to_pylist() for n in t.column_names}
    elif lib == "polars":
        pl = polars()
        types = {n: pl.String if n == "s" else pl.Int64 for n in names}
        df = pl.read_csv(path, schema_overrides=types)
        cols = {n: df[n].to_list() for n in df.columns}
    else:
        raise SystemExit(f"unknown library {lib!r}")
    return cols


def main():
    cmd, lib = sys.argv[1], sys.argv[2]
    if cmd == "write":
        write(lib, sys.argv[3])
    elif cmd == "read":
        out_dir = sys.argv[3]
        got = {name: read(lib, f"{out_dir}/ours-{name}.csv") for name in ("two", "one")}
        with open(f"{out_dir}/read-by-{lib}.json", "w", encoding="utf-8") as f:
            json.dump(got, f)
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
