#!/usr/bin/env python3
"""Assembles the issue-2 benchmark report from criterion's estimates and the
pyarrow timings (benches/python/gen_and_time.py), and checks the issue's
targets. Prints markdown and writes it to <data-dir>/report.md.

Times are medians in milliseconds. Ratios are "other / lightstream": above 1
means Lightstream is faster.
"""

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    ("lightstream64", "Lightstream writer (64-aligned)", "lightstream"),
    ("pyarrow8", "pyarrow writer (8-aligned)", "pyarrow"),
    ("arrowrs64", "arrow-rs writer (64-aligned)", "arrow-rs"),
]
SHAPES = {
    "a": "i64, f64, i32, f32; no nulls",
    "b": "utf8 (5-30 chars, ASCII/mixed) + i64; 10% nulls each",
    "c": "dictionary<int32, utf8> (100 values) + f64 + bool",
}
# Thresholds used to turn the wording into yes/no (stated in the report).
ROWS_INDEPENDENCE = 1.5  # t(N x 1M rows) / t(N x 1k rows) at most this: time follows batches
IN_PLACE_FACTOR = 2.0  # read_stream of 8-aligned input at most this x of 64-aligned input: read in place


class Criterion:
    def __init__(self, home, since):
        self.home = Path(home)
        self.since = since
        self.stale = False

    def ms(self, group, function, param):
        path = self.home / group / function / param / "new" / "estimates.json"
        if not path.exists():
            return None
        if self.since and path.stat().st_mtime < self.since:
            self.stale = True
        est = json.loads(path.read_text())
        return est["median"]["point_estimate"] / 1e6

    def gibs(self, group, function, param):
        """Median throughput in GiB/s of a bench with `Throughput::Bytes`."""
        ms = self.ms(group, function, param)
        path = self.home / group / function / param / "new" / "benchmark.json"
        if ms is None or not path.exists():
            return None
        nbytes = (json.loads(path.read_text()).get("throughput") or {}).get("Bytes")
        if not nbytes or not ms:
            return None
        return nbytes / (ms / 1e3) / 2**30


def fmt_gibs(v):
    return "n/a" if v is None else f"{v:.2f} GiB/s"


def fmt_ms(v):
    if v is None:
        return "n/a"
    if v < 0.1:
        return f"{v * 1000:.1f} µs"
    if v < 10:
        return f"{v:.2f} ms"
    return f"{v:.1f} ms"


def ratio(other, ours):
    if other is None or ours is None or ours == 0:
        return None
    return other / ours


def fmt_x(r):
    return "n/a" if r is None else f"{r:.2f}x"


def gbps(nbytes, ms):
    if nbytes is None or ms is None or ms == 0:
        return "n/a"
    return f"{nbytes / (ms / 1e3) / 1e9:.1f} GB/s"


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")


def machine(args, py):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""

    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 2**20:.0f}"
    except (OSError, IndexError, ValueError):
        pass
    return [
        f"- CPU: {cpu or platform.processor()} ({os.cpu_count()} logical cores); memory: {mem} GiB",
        f"- rustc: {sh('rustc --version')}; pyarrow {py.get('pyarrow', '?')} (Python {py.get('python', '?')})",
        f"- load average (1/5/15 min) at start: {args.load_start or '?'}; at end: {args.load_end or '?'}; "
        f"during the pyarrow timings: {py.get('loadavg_start', '?')} -> {py.get('loadavg_end', '?')}",
        f"- {py.get('batches', '?')} batches x {py.get('rows_per_batch', '?')} rows per stream",
        f"- Rust benches ran with GLIBC_TUNABLES={args.tunables!r}" if args.tunables is not None
        else "- Rust benches: GLIBC_TUNABLES unknown (report run outside benches/run.sh)",
    ]


# The transport bench (benches/benches/transport.rs), in report order:
# (transport, case, label, ceiling: the raw copy it is compared with).
TRANSPORT_ROWS = [
    ("tcp", "raw_copy", "TCP: raw tokio byte copy (ceiling)", None),
    ("tcp", "lightstream", "TCP: lightstream", ("tcp", "raw_copy")),
    ("tcp", "arrow_rs", "TCP: arrow-rs `StreamWriter` -> `StreamReader` (std, 2 threads)", ("tcp", "raw_copy")),
    ("tcp", "pyarrow", "TCP: pyarrow `new_stream` -> `open_stream` (socket files; median of N)", ("tcp", "raw_copy")),
    ("uds", "raw_copy", "Unix socket: raw tokio byte copy (ceiling)", None),
    ("uds", "lightstream", "Unix socket: lightstream", ("uds", "raw_copy")),
    ("pipe", "raw_copy", "OS pipe (stdio stand-in): raw tokio byte copy (ceiling)", None),
    ("pipe", "lightstream", "OS pipe (stdio stand-in): lightstream", ("pipe", "raw_copy")),
    ("websocket", "lightstream", "WebSocket: lightstream (ceiling: the TCP raw copy)", ("tcp", "raw_copy")),
    ("quic", "raw_copy", "QUIC: raw quinn stream copy (ceiling)", None),
    ("quic", "lightstream", "QUIC: lightstream", ("quic", "raw_copy")),
]
RAW_FRACTION = 0.8  # TCP and UDS at least this fraction of the raw copy
ARROW_RS_FACTOR = 2.5  # TCP and UDS at least this many times arrow-rs


def transport_report(args, cr, w):
    """The transport section: GiB/s of Arrow buffer bytes, ratios, targets."""
    py_path = Path(args.data_dir) / "pyarrow_tcp.json"
    pyt = json.loads(py_path.read_text()) if py_path.exists() else {}
    gibs = {}
    for transport, case, _, _ in TRANSPORT_ROWS:
        if case == "pyarrow":
            gibs[(transport, case)] = pyt.get("gib_per_s_median")
        else:
            gibs[(transport, case)] = cr.gibs("transport_a", transport, case)
    py_v, ar_v = gibs[("tcp", "pyarrow")], gibs[("tcp", "arrow_rs")]

    def x(a, b):
        r = ratio(a, b)
        return fmt_x(r)

    w("## Transports: loopback throughput of shape (a)")
    w("")
    w(f"{pyt.get('batches', '?')} batches x {pyt.get('rows_per_batch', '?')} rows per transfer (pyarrow run). "
      "GiB/s of Arrow buffer bytes; medians on both sides: criterion's, and pyarrow's of "
      f"{pyt.get('reps', '?')} runs (its best: {fmt_gibs(pyt.get('gib_per_s_best'))}). "
      "Ratios are *this / other* in throughput (above 1: this case is faster).")
    w("")
    w("| case | GiB/s | / raw copy of the same transport | / pyarrow TCP | / arrow-rs TCP |")
    w("|---|---|---|---|---|")
    for transport, case, label, ceiling in TRANSPORT_ROWS:
        v = gibs[(transport, case)]
        raw = "" if ceiling is None else x(v, gibs[ceiling])
        w(f"| {label} | {fmt_gibs(v)} | {raw} | {x(v, py_v)} | {x(v, ar_v)} |")
    w("")
    w("### Transport targets")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    for transport, name in (("tcp", "TCP"), ("uds", "UDS")):
        v, raw = gibs[(transport, "lightstream")], gibs[(transport, "raw_copy")]
        r = ratio(v, raw)
        w(f"| {name} at least {RAW_FRACTION:.0%} of the raw copy | {fmt_gibs(v)} / {fmt_gibs(raw)} = {fmt_x(r)} | "
          f"{verdict(None if r is None else r >= RAW_FRACTION)} |")
        r = ratio(v, py_v)
        w(f"| {name} faster than pyarrow (over TCP) | {fmt_gibs(v)} / {fmt_gibs(py_v)} = {fmt_x(r)} | "
          f"{verdict(None if r is None else r > 1.0)} |")
        r = ratio(v, ar_v)
        w(f"| {name} at least {ARROW_RS_FACTOR}x arrow-rs (over TCP) | {fmt_gibs(v)} / {fmt_gibs(ar_v)} = {fmt_x(r)} | "
          f"{verdict(None if r is None else r >= ARROW_RS_FACTOR)} |")
    w("")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=os.environ.get("LIGHTSTREAM_BENCH_DATA", str(REPO / "target" / "bench-data")))
    p.add_argument("--criterion", default=os.environ.get("CRITERION_HOME", str(REPO / "target" / "criterion")))
    p.add_argument("--since", type=float, default=float(os.environ.get("LIGHTSTREAM_BENCH_RUN_START", "0") or 0))
    p.add_argument("--load-start", default="")
    p.add_argument("--load-end", default="")
    p.add_argument("--tunables", default=None, help="GLIBC_TUNABLES the Rust benches ran with")
    p.add_argument("--sections", default="codec,transport",
                   help="comma-separated: codec (decode/encode benches), transport (transport bench + pyarrow TCP)")
    args = p.parse_args()
    sections = {x.strip() for x in args.sections.split(",") if x.strip()}

    data = Path(args.data_dir)
    py_path = data / "pyarrow_times.json"
    py = json.loads(py_path.read_text()) if py_path.exists() else {}
    cr = Criterion(args.criterion, args.since)
    out = []
    w = out.append
    w(f"# Lightstream benchmarks (issue 2), {time.strftime('%Y-%m-%d %H:%M %Z')}")
    w("")
    w("Median times. Ratios are *other / lightstream* (above 1: Lightstream faster).")
    w("")
    for line in machine(args, py):
        w(line)
    w("")
    if "codec" in sections:
        targets = []

        for shape, desc in SHAPES.items():
            pys = py.get("shapes", {}).get(shape, {})
            g = f"decode_{shape}"
            t = {}
            for label, _, producer in SOURCES:
                pyd = pys.get("decode", {}).get(producer, {})
                t[label] = {
                    "ls": cr.ms(g, "lightstream_read_stream", label),
                    "ls64": cr.ms(g, "lightstream_read_stream_align_64", label),
                    "push": cr.ms(g, "lightstream_push_64k", label),
                    "dec": cr.ms(g, "arrow_rs_stream_decoder", label),
                    "rdr": cr.ms(g, "arrow_rs_stream_reader", label),
                    "py": pyd.get("read_all"),
                    "py_iter": pyd.get("iter_batches"),
                    "py_full": pyd.get("read_all_validate_full"),
                    "copy": cr.ms(f"memcpy_{shape}", "aligned_copy", label),
                    "copy_touched": cr.ms(f"memcpy_{shape}", "copy_into_touched", label),
                    "copy_pieces": cr.ms(f"memcpy_{shape}", "copy_in_column_pieces", label),
                    "bytes": pys.get("bytes", {}).get(producer),
                }
            w(f"## Shape ({shape}): {desc}")
            w("")
            w("### Decode")
            w("")
            w("| decoder | " + " | ".join(f"{name} input" for _, name, _ in SOURCES) + " |")
            w("|---|" + "---|" * len(SOURCES))
            w("| stream size | " + " | ".join(
                "n/a" if t[l]["bytes"] is None else f"{t[l]['bytes'] / 1e6:.1f} MB" for l, _, _ in SOURCES) + " |")
            rows = [
                ("lightstream `read_stream` (in place, 64-aligned memory)", "ls"),
                ("lightstream `read_stream` with `ReadOptions::align_64` (copies what is not 64-aligned)", "ls64"),
                ("lightstream `IpcStreamDecoder::push`, 64 KiB chunks (copying)", "push"),
                ("arrow-rs `StreamDecoder` over a `Buffer` (zero-copy, validating)", "dec"),
                ("arrow-rs `StreamReader` over a `&[u8]` cursor", "rdr"),
                ("pyarrow `open_stream(py_buffer).read_all()`", "py"),
                ("pyarrow iterate batches only", "py_iter"),
                ("pyarrow `read_all()` + `validate(full=True)`", "py_full"),
                ("memcpy baseline: `aligned_copy` of the stream (fresh allocation)", "copy"),
                ("memcpy baseline: one copy into an already-touched buffer", "copy_touched"),
                ("memcpy baseline: the same in column-buffer-sized pieces", "copy_pieces"),
            ]
            for name, key in rows:
                w(f"| {name} | " + " | ".join(fmt_ms(t[l][key]) for l, _, _ in SOURCES) + " |")
            w("| **ratio** arrow-rs `StreamDecoder` / lightstream `read_stream` | "
              + " | ".join(fmt_x(ratio(t[l]["dec"], t[l]["ls"])) for l, _, _ in SOURCES) + " |")
            w("| **ratio** arrow-rs `StreamReader` / lightstream `read_stream` | "
              + " | ".join(fmt_x(ratio(t[l]["rdr"], t[l]["ls"])) for l, _, _ in SOURCES) + " |")
            w("| **ratio** arrow-rs `StreamReader` / lightstream `push` | "
              + " | ".join(fmt_x(ratio(t[l]["rdr"], t[l]["push"])) for l, _, _ in SOURCES) + " |")
            w("| **ratio** pyarrow `read_all` / lightstream `read_stream` | "
              + " | ".join(fmt_x(ratio(t[l]["py"], t[l]["ls"])) for l, _, _ in SOURCES) + " |")
            w("| **ratio** pyarrow `read_all`+full validation / lightstream `read_stream` | "
              + " | ".join(fmt_x(ratio(t[l]["py_full"], t[l]["ls"])) for l, _, _ in SOURCES) + " |")
            w("")

            ge = f"encode_{shape}"
            ls_enc = cr.ms(ge, "lightstream_encoder", "vec")
            ar_enc = cr.ms(ge, "arrow_rs_stream_writer", "vec")
            py_enc = pys.get("encode", {}).get("new_stream_write_batch")
            ls_enc_r = cr.ms(ge, "lightstream_encoder", "reused_vec")
            ar_enc_r = cr.ms(ge, "arrow_rs_stream_writer", "reused_vec")
            nbytes = t["lightstream64"]["bytes"]
            w("### Encode (all batches into one in-memory buffer)")
            w("")
            w("| encoder | time | throughput | ratio other / lightstream |")
            w("|---|---|---|---|")
            w(f"| lightstream `write_stream` (encoder messages into one exactly-sized `Vec`) | {fmt_ms(ls_enc)} | {gbps(nbytes, ls_enc)} | 1.00x |")
            w(f"| arrow-rs `StreamWriter` into a `Vec` | {fmt_ms(ar_enc)} | {gbps(nbytes, ar_enc)} | {fmt_x(ratio(ar_enc, ls_enc))} |")
            w(f"| lightstream, into one reused `Vec` | {fmt_ms(ls_enc_r)} | {gbps(nbytes, ls_enc_r)} | {fmt_x(ratio(ls_enc_r, ls_enc))} |")
            w(f"| arrow-rs `StreamWriter`, into one reused `Vec` | {fmt_ms(ar_enc_r)} | {gbps(nbytes, ar_enc_r)} | {fmt_x(ratio(ar_enc_r, ls_enc))} |")
            w(f"| pyarrow `new_stream` + `write_batch` into a `BufferOutputStream` | {fmt_ms(py_enc)} | "
              f"{gbps(pys.get('bytes', {}).get('pyarrow_encode'), py_enc)} | {fmt_x(ratio(py_enc, ls_enc))} |")
            w("")

            # Targets for this shape.
            L, P = t["lightstream64"], t["pyarrow8"]
            if shape == "a":
                r = ratio(L["ls"], L["dec"])
                targets.append(("(a) 64-aligned numeric decode within 2x of arrow-rs `StreamDecoder`",
                                f"lightstream {fmt_ms(L['ls'])} vs `StreamDecoder` {fmt_ms(L['dec'])}: "
                                f"lightstream takes {fmt_x(r)} its time", None if r is None else r <= 2.0))
                n = py.get("batches") or 16
                rows = py.get("rows_per_batch") or 1000000
                big = cr.ms("decode_scaling_a", "lightstream_read_stream", f"{n}x{rows}")
                small = cr.ms("decode_scaling_a", "lightstream_read_stream", f"{n}x1000")
                one = cr.ms("decode_scaling_a", "lightstream_read_stream", f"1x{rows}")
                rr = ratio(big, small)
                targets.append(("(a) 64-aligned numeric decode in time proportional to batches",
                                f"{n} x {rows} rows {fmt_ms(big)}, {n} x 1000 rows {fmt_ms(small)} "
                                f"(1000x the rows costs {fmt_x(rr)}); 1 x {rows} rows {fmt_ms(one)} "
                                f"({fmt_x(ratio(big, one))} for {n}x the batches). Met when 1000x rows "
                                f"costs under {ROWS_INDEPENDENCE}x", None if rr is None else rr < ROWS_INDEPENDENCE))
            if shape == "b":
                r = ratio(L["dec"], L["ls"])
                targets.append(("(b) strings with full validation at least 1.5x faster than arrow-rs `StreamDecoder`",
                                f"`StreamDecoder` {fmt_ms(L['dec'])} / lightstream {fmt_ms(L['ls'])} = {fmt_x(r)}",
                                None if r is None else r >= 1.5))
            if shape == "c":
                r = ratio(L["dec"], L["ls"])
                targets.append(("(c) dictionaries at least as fast as arrow-rs `StreamDecoder`",
                                f"`StreamDecoder` {fmt_ms(L['dec'])} / lightstream {fmt_ms(L['ls'])} = {fmt_x(r)}",
                                None if r is None else r >= 1.0))
            r = ratio(P["ls"], L["ls"])
            targets.append((f"({shape}) 8-aligned input read in place, as 64-aligned input is",
                            f"`read_stream` on pyarrow bytes {fmt_ms(P['ls'])}, on 64-aligned bytes {fmt_ms(L['ls'])}: "
                            f"{fmt_x(r)} (arrow-rs `StreamDecoder` on pyarrow bytes {fmt_ms(P['dec'])}); "
                            f"met at <= {IN_PLACE_FACTOR}x. push path (one copy): {fmt_ms(P['push'])}",
                            None if r is None else r <= IN_PLACE_FACTOR))
            r = ratio(P["rdr"], P["ls"])
            targets.append((f"({shape}) 8-aligned input at least 2x faster than arrow-rs `StreamReader`",
                            f"`StreamReader` {fmt_ms(P['rdr'])} / lightstream `read_stream` {fmt_ms(P['ls'])} = {fmt_x(r)} "
                            f"(push path: {fmt_x(ratio(P['rdr'], P['push']))})",
                            None if r is None else r >= 2.0))
            r = ratio(py_enc, ls_enc)
            targets.append((f"({shape}) encode at least as fast as pyarrow",
                            f"pyarrow {fmt_ms(py_enc)} / lightstream {fmt_ms(ls_enc)} = {fmt_x(r)} "
                            f"(arrow-rs `StreamWriter`: {fmt_ms(ar_enc)})",
                            None if r is None else r >= 1.0))

        w("## Scaling: zero-copy decode of shape (a) by batches and rows")
        w("")
        w("| stream | lightstream `read_stream` | arrow-rs `StreamDecoder` |")
        w("|---|---|---|")
        scaling_dir = Path(args.criterion) / "decode_scaling_a" / "lightstream_read_stream"
        ids = sorted((d.name for d in scaling_dir.iterdir() if d.is_dir() and d.name != "report"),
                     key=lambda s: tuple(int(x) for x in s.split("x"))) if scaling_dir.exists() else []
        for i in ids:
            w(f"| {i.replace('x', ' batches x ')} rows | {fmt_ms(cr.ms('decode_scaling_a', 'lightstream_read_stream', i))} | "
              f"{fmt_ms(cr.ms('decode_scaling_a', 'arrow_rs_stream_decoder', i))} |")
        w("")
        w("## Targets")
        w("")
        w("| target | measured | verdict |")
        w("|---|---|---|")
        for name, measured, ok in targets:
            w(f"| {name} | {measured} | {verdict(ok)} |")
        w("")
    if "transport" in sections:
        transport_report(args, cr, w)

    if cr.stale:
        w("Note: some criterion estimates predate this run (a filtered run?); they are from an earlier run.")
        w("")
    text = "\n".join(out)
    print(text)
    data.mkdir(parents=True, exist_ok=True)
    (data / "report.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
