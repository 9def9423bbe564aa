#!/usr/bin/env python3
"""The compressed pages of a Parquet file, for timing decompressors on exactly
the bytes a reader decompresses (issue 21: is `snap` the gap to pyarrow?).

Usage: parquet_pages.py FILE.parquet OUT.pages

Walks every column chunk's page headers (Thrift compact protocol, with the
walker of tests/python/parquet_oracle.py: type, sizes, a v2 page's level
lengths) and writes, for each page with a compressed stream, a little-endian
u32 compressed length, a u32 decompressed length, then the compressed bytes
(a v2 page's uncompressed levels left out). A harness then decompresses them all into one reused buffer
(benches/README.md, "Snappy: snap against C++ snappy").
"""

import os
import struct as st
import sys

import pyarrow.parquet as pq

# The Thrift compact-protocol walk of the Parquet oracle tests (one walker).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
from parquet_oracle import _thrift_struct  # noqa: E402


def pages(path):
    """(column, page type, compressed stream, its decompressed length) of every page."""
    md = pq.ParquetFile(path).metadata
    data = open(path, "rb").read()
    for rg in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(rg).column(c)
            p = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            end = p + col.total_compressed_size
            while p < end:
                h, q = _thrift_struct(data, p)
                kind, unc, comp = h[1], h[2], h[3]
                levels = h[8][5] + h[8][6] if kind == 3 else 0
                yield col.path_in_schema, kind, data[q + levels : q + comp], unc - levels
                p = q + comp


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    n = total = 0
    with open(sys.argv[2], "wb") as f:
        for _, _, comp, unc in pages(sys.argv[1]):
            if comp:
                f.write(st.pack("<II", len(comp), unc))
                f.write(comp)
                n += 1
                total += unc
    print(f"{n} pages, {total} bytes decompressed")


if __name__ == "__main__":
    main()
