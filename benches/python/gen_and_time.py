#!/usr/bin/env python3
"""pyarrow side of the Lightstream benchmarks (issue 2).

Builds the issue's three table shapes with pyarrow -- the same values as the
Rust generator in benches/src/lib.rs, computed from the same splitmix64
formulas with pyarrow.compute (no numpy needed) -- writes them as IPC streams
with pyarrow's default 8-byte alignment, and times pyarrow's own decode and
encode of the same shapes.

    gen_and_time.py generate [--shapes a,b,c] [--force]
        writes <data-dir>/shape_{a,b,c}.pyarrow.arrows (skipped when an
        up-to-date file exists, unless --force)
    gen_and_time.py time
        times pyarrow decode of every shape_*.arrows stream in <data-dir>
        (its own, and those the Rust bench wrote: lightstream, arrow-rs) and
        pyarrow encode; prints median milliseconds as JSON and writes them to
        <data-dir>/pyarrow_times.json
    gen_and_time.py all        (the default) both of the above

Environment: LIGHTSTREAM_BENCH_BATCHES (default 16), LIGHTSTREAM_BENCH_ROWS
(default 1,000,000), LIGHTSTREAM_BENCH_DATA (default <repo>/target/bench-data).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[2]
M64 = (1 << 64) - 1
U64 = pa.uint64()

# Keep in step with benches/src/lib.rs.
POOL_CHARS = 4096
ASCII_TOKENS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567"
WIDE_TOKENS = ["é", "ж", "€", "𝄞"]
DICTIONARY_VALUES = 100
PINNED_MIX_1_0 = 9_370_218_965_779_684_112
PRODUCERS = ("pyarrow", "lightstream", "arrow-rs")


def mix_int(seed, i):
    """splitmix64 finaliser over a Weyl sequence, on Python ints."""
    z = (i * 0x9E3779B97F4A7C15 + seed * 0xD1B54A32D192ED03) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def u64(v):
    return pa.scalar(v & M64, U64)


def mix(seed, idx):
    """mix_int over a uint64 array (pyarrow's integer arithmetic wraps)."""
    z = pc.add(pc.multiply(idx, u64(0x9E3779B97F4A7C15)), u64(seed * 0xD1B54A32D192ED03))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, u64(30))), u64(0xBF58476D1CE4E5B9))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, u64(27))), u64(0x94D049BB133111EB))
    return pc.bit_wise_xor(z, pc.shift_right(z, u64(31)))


def below(h, m):
    """h mapped onto 0..m (multiply-shift on the high 32 bits)."""
    return pc.shift_right(pc.multiply(pc.shift_right(h, u64(32)), u64(m)), u64(32))


def unit_f64(h):
    scale = 2000.0 / 9_007_199_254_740_992.0
    return pc.subtract(pc.multiply(pc.cast(pc.shift_right(h, u64(11)), pa.float64()), scale), 1000.0)


def unit_f32(h):
    f = pc.cast(pc.shift_right(h, u64(40)), pa.float32())
    return pc.multiply(f, pa.scalar(1.0 / 16_777_216.0, pa.float32()))


def reinterpret(arr, typ, validity=None):
    """The bits of a fixed-width array (offset 0) as another type of the same width."""
    assert arr.offset == 0
    bitmap = None if validity is None else validity.buffers()[1]
    return pa.Array.from_buffers(typ, len(arr), [bitmap, arr.buffers()[1]])


def arange(base, n):
    ones = pc.fill_null(pa.nulls(n, U64), u64(1))
    return pc.add(pc.cumulative_sum(ones), u64(base - 1))


def string_pool():
    tokens, starts, pos = [], [], 0
    for k in range(POOL_CHARS):
        alphabet = 60 if k < POOL_CHARS // 2 else 64
        t = ((mix_int(6, k) >> 32) * alphabet) >> 32
        tok = ASCII_TOKENS[t] if t < 60 else WIDE_TOKENS[t - 60]
        b = tok.encode("utf-8")
        starts.append(pos)
        tokens.append(b)
        pos += len(b)
    starts.append(pos)
    return pa.array(list(b"".join(tokens)), pa.uint8()), pa.array(starts, U64)


SCHEMAS = {
    "a": pa.schema(
        [
            pa.field("i64", pa.int64(), nullable=False),
            pa.field("f64", pa.float64(), nullable=False),
            pa.field("i32", pa.int32(), nullable=False),
            pa.field("f32", pa.float32(), nullable=False),
        ]
    ),
    "b": pa.schema([pa.field("utf8", pa.utf8()), pa.field("i64", pa.int64())]),
    "c": pa.schema(
        [
            pa.field("dict", pa.dictionary(pa.int32(), pa.utf8()), nullable=False),
            pa.field("f64", pa.float64(), nullable=False),
            pa.field("bool", pa.bool_(), nullable=False),
        ]
    ),
}


class Generator:
    def __init__(self):
        self.pool_bytes, self.pool_starts = string_pool()
        self.dictionary = pa.array([f"value-{k:03}" for k in range(DICTIONARY_VALUES)], pa.utf8())

    def batch(self, shape, index, rows):
        idx = arange(index * rows, rows)
        if shape == "a":
            cols = [
                reinterpret(mix(1, idx), pa.int64()),
                unit_f64(mix(2, idx)),
                reinterpret(pc.cast(pc.bit_wise_and(mix(3, idx), u64(0xFFFFFFFF)), pa.uint32()), pa.int32()),
                unit_f32(mix(4, idx)),
            ]
        elif shape == "b":
            valid = pc.not_equal(below(mix(8, idx), 10), u64(0))
            start = below(mix(5, idx), POOL_CHARS - 30)
            chars = pc.add(below(mix(7, idx), 26), u64(5))
            bstart = pc.take(self.pool_starts, start)
            bend = pc.take(self.pool_starts, pc.add(start, chars))
            blen = pc.if_else(valid, pc.subtract(bend, bstart), u64(0))
            ends = pc.cumulative_sum(blen)
            offsets = pa.concat_arrays([pa.array([0], U64), ends])
            total = offsets[-1].as_py()
            lists = pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), pa.nulls(total, pa.uint8()))
            parent = pc.list_parent_indices(lists)
            within = pc.subtract(arange(0, total), pc.take(offsets, parent))
            data = pc.take(self.pool_bytes, pc.add(pc.take(bstart, parent), within))
            offsets32 = pc.cast(offsets, pa.int32())
            strings = pa.Array.from_buffers(
                pa.utf8(), rows, [valid.buffers()[1], offsets32.buffers()[1], data.buffers()[1]]
            )
            ivalid = pc.not_equal(below(mix(9, idx), 10), u64(0))
            ints = pc.if_else(ivalid, mix(10, idx), u64(0))
            cols = [strings, reinterpret(ints, pa.int64(), ivalid)]
        else:
            keys = pc.cast(below(mix(11, idx), DICTIONARY_VALUES), pa.int32())
            cols = [
                pa.DictionaryArray.from_arrays(keys, self.dictionary),
                unit_f64(mix(12, idx)),
                pc.equal(pc.shift_right(mix(13, idx), u64(63)), u64(1)),
            ]
        batch = pa.RecordBatch.from_arrays(cols, schema=SCHEMAS[shape])
        for c in batch.columns:
            c.null_count  # computed now, not inside a timed encode
        return batch

    def batches(self, shape, n, rows):
        return [self.batch(shape, i, rows) for i in range(n)]


def stream_path(data_dir, shape, producer):
    return Path(data_dir) / f"shape_{shape}.{producer}.arrows"


def write_stream(schema, batches, sink):
    with pa.ipc.new_stream(sink, schema) as w:
        for b in batches:
            w.write_batch(b)


def generate(args, gen, shape, batches=None):
    path = stream_path(args.data_dir, shape, "pyarrow")
    sidecar = path.with_suffix(".json")
    want = {"batches": args.batches, "rows": args.rows}
    if not args.force and path.exists() and sidecar.exists():
        try:
            if json.loads(sidecar.read_text()) == want:
                print(f"{path} is up to date", file=sys.stderr)
                return batches
        except ValueError:
            pass
    t0 = time.perf_counter()
    if batches is None:
        batches = gen.batches(shape, args.batches, args.rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as f:
        write_stream(SCHEMAS[shape], batches, f)
    sidecar.write_text(json.dumps(want))
    print(f"wrote {path} ({path.stat().st_size} bytes) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return batches


def load_batches(args, shape):
    """The batches of this shape's pyarrow stream, if it is there with the
    wanted size (faster than generating them again)."""
    path = stream_path(args.data_dir, shape, "pyarrow")
    if not path.exists():
        return None
    table = pa.ipc.open_stream(pa.py_buffer(path.read_bytes())).read_all()
    batches = table.to_batches()
    if table.num_rows != args.batches * args.rows or len(batches) != args.batches:
        return None
    return batches


def median_ms(fn, samples, min_sample_s=0.02):
    """Median wall time of fn in ms: one warm-up call, then `samples` samples,
    each repeating fn enough times to last at least min_sample_s."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    inner = max(1, min(10_000, int(min_sample_s / max(once, 1e-9))))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times) * 1e3


def time_shape(args, shape, batches):
    want_rows = args.batches * args.rows
    out = {"decode": {}, "encode": {}, "bytes": {}}
    for producer in PRODUCERS:
        path = stream_path(args.data_dir, shape, producer)
        if not path.exists():
            print(f"note: {path} missing; pyarrow decode of it not timed", file=sys.stderr)
            continue
        data = path.read_bytes()
        buf = pa.py_buffer(data)

        def read_all():
            return pa.ipc.open_stream(buf).read_all()

        def iter_batches():
            return list(pa.ipc.open_stream(buf))

        def read_all_validate_full():
            t = pa.ipc.open_stream(buf).read_all()
            t.validate(full=True)
            return t

        rows = read_all().num_rows
        if rows != want_rows:
            print(f"note: {path} holds {rows} rows, this run wants {want_rows}; skipped", file=sys.stderr)
            continue
        out["bytes"][producer] = len(data)
        out["decode"][producer] = {
            "read_all": median_ms(read_all, args.samples),
            "iter_batches": median_ms(iter_batches, args.samples),
            "read_all_validate_full": median_ms(read_all_validate_full, args.samples),
        }
        del data, buf

    schema = SCHEMAS[shape]

    def encode():
        sink = pa.BufferOutputStream()
        write_stream(schema, batches, sink)
        return sink.getvalue()

    encoded = encode()
    assert pa.ipc.open_stream(encoded).read_all().num_rows == want_rows
    out["bytes"]["pyarrow_encode"] = encoded.size
    del encoded
    out["encode"]["new_stream_write_batch"] = median_ms(encode, args.samples)
    return out


def main():
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", choices=["generate", "time", "all"], default="all")
    p.add_argument("--shapes", default=env.get("LIGHTSTREAM_BENCH_SHAPES", "a,b,c"))
    p.add_argument("--force", action="store_true", help="regenerate pyarrow streams even if up to date")
    p.add_argument("--batches", type=int, default=int(env.get("LIGHTSTREAM_BENCH_BATCHES", 16)))
    p.add_argument("--rows", type=int, default=int(env.get("LIGHTSTREAM_BENCH_ROWS", 1_000_000)))
    p.add_argument(
        "--data-dir", default=env.get("LIGHTSTREAM_BENCH_DATA", str(REPO / "target" / "bench-data"))
    )
    p.add_argument("--samples", type=int, default=7, help="timed samples per measurement (median)")
    p.add_argument("--out", help="JSON output file (default <data-dir>/pyarrow_times.json)")
    args = p.parse_args()
    assert mix_int(1, 0) == PINNED_MIX_1_0, "generator differs from benches/src/lib.rs"
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for s in shapes:
        if s not in SCHEMAS:
            p.error(f"unknown shape {s!r}")

    gen = Generator()
    result = {
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "batches": args.batches,
        "rows_per_batch": args.rows,
        "samples": args.samples,
        "loadavg_start": list(os.getloadavg()),
        "shapes": {},
    }
    for shape in shapes:
        batches = None
        if args.mode in ("generate", "all"):
            batches = generate(args, gen, shape)
        if args.mode in ("time", "all"):
            if batches is None:
                batches = load_batches(args, shape) or gen.batches(shape, args.batches, args.rows)
            result["shapes"][shape] = time_shape(args, shape, batches)
            print(f"timed shape {shape}: {json.dumps(result['shapes'][shape])}", file=sys.stderr)
        del batches
    if args.mode in ("time", "all"):
        result["loadavg_end"] = list(os.getloadavg())
        text = json.dumps(result, indent=2)
        out = Path(args.out) if args.out else Path(args.data_dir) / "pyarrow_times.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(text)


if __name__ == "__main__":
    main()
