#!/usr/bin/env python3
"""Captures raw pyarrow.flight DoGet response bodies for the core's Flight tests.

Usage: flight_capture.py [OUT_DIR]   (default: tests/data/flight next to this script's
                                      parent)

Starts flight_server.py, and for each ticket in CAPTURED posts one gRPC-framed Ticket
to /arrow.flight.protocol.FlightService/DoGet with `curl --http2-prior-knowledge`
(curl built with nghttp2; grpcio is not needed), and writes:
  <ticket>.grpc     the HTTP/2 response body as received: 5-byte gRPC prefixes and
                    FlightData protobuf messages (the trailers are not part of it)
  <ticket>.json     the expected values (ipc_expect.py format, "app_metadata" hex per
                    batch where the fixture sends them)
  nope.headers      the response head and trailers of an unknown ticket (NOT_FOUND)
Every capture is checked before it is kept: this script's own small FlightData
reader turns it into an Arrow IPC stream that pyarrow must read back to the same
values, and the delta/replacement counts must be what the fixture promises.
Rerun it after changing the fixtures; the output is deterministic except for
pyarrow's version-dependent padding.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.ipc as ipc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ipc_expect  # noqa: E402

CAPTURED = [
    "all_types.none",
    "all_types.zstd",
    "all_types.lz4",
    "dict_replacement.none",
    "dict_delta.none",
    "dict_delta.zstd",
    "dict_delta_then_replace.none",
    "empty",
    "app_metadata",
]
MAX_CAPTURE = 200 * 1024
DO_GET = "/arrow.flight.protocol.FlightService/DoGet"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, pos):
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def grpc_ticket(ticket):
    """One gRPC message: a Ticket { bytes ticket = 1; }."""
    msg = b"\x0a" + varint(len(ticket)) + ticket
    return b"\x00" + struct.pack(">I", len(msg)) + msg


def flight_data(body):
    """Each gRPC message of `body` as a dict of its FlightData fields."""
    pos, out = 0, []
    while pos < len(body):
        flag, length = body[pos], struct.unpack(">I", body[pos + 1 : pos + 5])[0]
        assert flag == 0, "compressed gRPC message"
        msg, pos = body[pos + 5 : pos + 5 + length], pos + 5 + length
        assert len(msg) == length, "truncated gRPC message"
        fields, p = {}, 0
        while p < len(msg):
            tag, p = read_varint(msg, p)
            assert tag & 7 == 2, f"unexpected wire type in tag {tag}"
            n, p = read_varint(msg, p)
            fields[tag >> 3] = msg[p : p + n]
            p += n
        out.append(fields)
    return out


def to_ipc_stream(messages):
    """FlightData messages -> an IPC stream (header padded to 8, body, EOS)."""
    out = bytearray()
    for m in messages:
        header = m.get(2, b"")
        if not header:
            continue  # metadata-only message
        pad = (-len(header)) % 8
        out += b"\xff\xff\xff\xff" + struct.pack("<i", len(header) + pad) + header + b"\x00" * pad
        out += m.get(1000, b"")
    out += b"\xff\xff\xff\xff\x00\x00\x00\x00"
    return bytes(out)


def check(ticket, body, expect):
    messages = flight_data(body)
    reader = ipc.open_stream(pa.BufferReader(to_ipc_stream(messages)))
    batches = list(reader)
    for b in batches:
        b.validate(full=True)
    got = ipc_expect.expect_json("stream", reader.schema, batches)
    diffs = ipc_expect.diff_docs(expect, got, ticket)
    if diffs:
        raise SystemExit("capture does not read back:\n" + "\n".join(diffs))
    meta = [m.get(3, b"").hex() for m in messages if m.get(1000) is not None or m.get(2)]
    stats = reader.stats
    if ticket.startswith("dict_delta") and stats.num_dictionary_deltas == 0:
        raise SystemExit(f"{ticket}: no delta dictionary batch in the capture")
    if ticket.startswith("dict_replacement") and stats.num_replaced_dictionaries == 0:
        raise SystemExit(f"{ticket}: no replaced dictionary in the capture")
    if "app_metadata" in expect:
        # app_metadata rides on the record batch messages (not the schema/dictionaries).
        got_meta = [m.get(3, b"").hex() for m in messages if m.get(2) and m.get(3) is not None]
        if [x for x in got_meta if x] != [x for x in expect["app_metadata"] if x]:
            raise SystemExit(f"{ticket}: app_metadata {got_meta}, expected {expect['app_metadata']}")
    return len(messages), len(meta)


def curl(port, ticket, out, headers=None):
    with tempfile.NamedTemporaryFile(suffix=".grpc") as req:
        req.write(grpc_ticket(ticket))
        req.flush()
        cmd = [
            "curl", "--silent", "--show-error", "--http2-prior-knowledge", "--max-time", "20",
            "-X", "POST", "-H", "content-type: application/grpc", "-H", "te: trailers",
            "--data-binary", "@" + req.name, "-o", out,
        ]
        if headers:
            cmd += ["-D", headers]
        subprocess.run(cmd + [f"http://127.0.0.1:{port}{DO_GET}"], check=True)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "flight")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as expect_dir:
        server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "flight_server.py"), "--expect-dir", expect_dir],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            port = int(server.stdout.readline())
            for ticket in CAPTURED:
                path = os.path.join(out_dir, ticket + ".grpc")
                curl(port, ticket.encode("utf-8"), path)
                with open(path, "rb") as f:
                    body = f.read()
                if len(body) > MAX_CAPTURE:
                    raise SystemExit(f"{ticket}: capture of {len(body)} bytes is over {MAX_CAPTURE}")
                with open(os.path.join(expect_dir, ticket + ".json"), encoding="utf-8") as f:
                    expect = json.load(f)
                n, _ = check(ticket, body, expect)
                ipc_expect.write_json(os.path.join(out_dir, ticket + ".json"), expect)
                print(f"{ticket}: {len(body)} bytes, {n} FlightData")
            nope = os.path.join(out_dir, "nope.grpc")
            curl(port, b"nope", nope, headers=os.path.join(out_dir, "nope.headers"))
            os.remove(nope)  # trailers-only: the body is empty
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
