#!/usr/bin/env python3
"""A live feed for the browser reconnect test (tests/browser/worker.mjs): an
Arrow IPC stream written by pyarrow to stdout, one record batch of `--rows`
rows every `--interval-ms`, `--count` batches at most (so it always ends), for
`lightstream serve ws://... -` to relay. Rows: `seq` (int64, from `--start`,
one more per row) and `label` (utf8, "r<seq>"); `--schema other` names the
second column `value` (float64, seq / 2) instead: a different schema.

    python3 feed.py --start 1000000 | lightstream serve ws://127.0.0.1:0/ -
"""

import argparse
import sys
import time

import pyarrow as pa


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--count", type=int, default=15000)
    ap.add_argument("--schema", choices=["same", "other"], default="same")
    a = ap.parse_args()
    if a.schema == "same":
        schema = pa.schema([("seq", pa.int64()), ("label", pa.utf8())])
    else:
        schema = pa.schema([("seq", pa.int64()), ("value", pa.float64())])
    out = sys.stdout.buffer
    try:
        with pa.ipc.new_stream(out, schema) as writer:
            out.flush()
            seq = a.start
            for _ in range(a.count):
                seqs = list(range(seq, seq + a.rows))
                seq += a.rows
                second = [f"r{s}" for s in seqs] if a.schema == "same" else [s / 2 for s in seqs]
                writer.write_batch(pa.record_batch([pa.array(seqs, pa.int64()), pa.array(second)], schema=schema))
                out.flush()
                time.sleep(a.interval_ms / 1000)
    except (BrokenPipeError, OSError):
        # the relay went away (the test killed it): done
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
