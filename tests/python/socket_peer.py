#!/usr/bin/env python3
"""pyarrow as the peer of Lightstream over a TCP or Unix domain socket.

Usage:
  socket_peer.py send ADDR IN_STREAM OUT_JSON [COMPRESSION]
      Reads the Arrow IPC stream file IN_STREAM, connects to ADDR and writes its
      batches there with pyarrow's own stream writer (pyarrow's encoding: 8-byte
      alignment, its own dictionary messages; COMPRESSION is none, zstd or lz4).
      Writes the expected values of what it sent to OUT_JSON (see ipc_expect.py).
  socket_peer.py recv ADDR OUT_JSON
      Connects to ADDR, reads one IPC stream with pyarrow, runs
      validate(full=True) on every batch, and writes the values it read to
      OUT_JSON.

ADDR is tcp:HOST:PORT, unix:PATH, or tls:HOST:PORT@CA_PEM: TCP with TLS,
through Python's own ssl module (OpenSSL), trusting only the certificates in
CA_PEM and checking the server's certificate against HOST. Every socket
operation has a 30 s timeout.
"""

import json
import os
import socket
import ssl
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipc_expect  # noqa: E402


def connect(addr):
    kind, _, rest = addr.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
    elif kind == "tls":
        hostport, _, ca = rest.rpartition("@")
        host, _, port = hostport.rpartition(":")
        host = host.strip("[]")
        context = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection((host, int(port)), timeout=30)
        sock = context.wrap_socket(raw, server_hostname=host)
    elif kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(rest)
    else:
        raise SystemExit(
            f"bad address {addr!r}: expected tcp:HOST:PORT, unix:PATH or tls:HOST:PORT@CA_PEM"
        )
    return sock


def send(addr, in_path, out_json, compression):
    with open(in_path, "rb") as f:
        reader = ipc.open_stream(f)
        schema = reader.schema
        batches = list(reader)
    options = ipc.IpcWriteOptions(compression=None if compression == "none" else compression)
    sock = connect(addr)
    with sock.makefile("wb") as out:
        with ipc.new_stream(out, schema, options=options) as writer:
            for b in batches:
                writer.write_batch(b)
    if isinstance(sock, ssl.SSLSocket):
        # TLS has no half-close: the end-of-stream marker ends the stream, and
        # the server sends nothing back, so closing loses nothing.
        sock.close()
    else:
        sock.shutdown(socket.SHUT_WR)
        sock.close()
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(ipc_expect.expect_json("stream", schema, batches), f)
    print(f"sent {len(batches)} batches, {sum(b.num_rows for b in batches)} rows")


def recv(addr, out_json):
    sock = connect(addr)
    with sock.makefile("rb") as source:
        reader = ipc.open_stream(source)
        schema = reader.schema
        batches = list(reader)
    sock.close()
    for i, b in enumerate(batches):
        try:
            b.validate(full=True)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            raise SystemExit(f"batch {i} fails validate(full=True): {e}")
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(ipc_expect.expect_json("stream", schema, batches), f)
    print(f"received {len(batches)} batches, {sum(b.num_rows for b in batches)} rows")


def main():
    args = sys.argv[1:]
    if len(args) in (4, 5) and args[0] == "send":
        send(args[1], args[2], args[3], args[4] if len(args) == 5 else "none")
    elif len(args) == 3 and args[0] == "recv":
        recv(args[1], args[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
