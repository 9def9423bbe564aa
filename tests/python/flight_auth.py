#!/usr/bin/env python3
"""pyarrow.flight peers for Lightstream's Flight authentication and endpoint tests.

Usage:
  flight_auth.py server [--token T] [--basic USER:PASSWORD]
  flight_auth.py client URL TICKET [--token T] [--basic USER:PASSWORD]

server: two FlightServerBase on grpc://127.0.0.1:0, A and B; prints A's port on
the first line of stdout and B's on the second. With --token, both refuse every
call whose `authorization` header is not `Bearer T` (FlightUnauthenticatedError,
gRPC UNAUTHENTICATED), checked by a ServerMiddleware; with --basic, a Handshake
with `authorization: Basic base64(USER:PASSWORD)` is answered with the header
`authorization: Bearer T` (pyarrow's own `authenticate_basic_token` flow).
Tickets (both servers): "part1" (ids 0-2), "part2" (ids 3-4), "other" (another
schema). GetFlightInfo on A of path descriptors:
  ["split"]     part1 (no location: A itself), part2 at B (grpc+tcp://127.0.0.1:B)
  ["reuse"]     part1 at arrow-flight-reuse-connection://?, part2 at a closed port
                then at B (the first reachable location is used)
  ["mismatch"]  part1 (A), other at B: schemas that do not agree
  ["refused"]   part1 (A), then a ticket B does not know (NOT_FOUND)
  ["elsewhere"] part1 (A), part2 at B named by another host name
                (grpc+tcp://localhost:B): a client keeps its token from it unless
                told to send it
Each part's table: id int64, tag dictionary<int32, utf8> (its own dictionary per
part, so a reader of parts in a row meets a dictionary replacement).

client: pyarrow's client DoGet of TICKET from URL, with `authorization: Bearer
T` (--token) or after `authenticate_basic_token` (--basic); prints
{"rows": n, "ids": [...], "tags": [...]} (empty lists for absent columns) or exits
1 with {"error": class, "message": text}.
"""

import argparse
import base64
import json
import sys

import pyarrow as pa
import pyarrow.flight as fl

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), False),
    pa.field("tag", pa.dictionary(pa.int32(), pa.utf8())),
])
OTHER = pa.schema([pa.field("x", pa.float64())])


def part(ids, tags):
    tag = pa.array(tags, pa.utf8()).dictionary_encode()
    return pa.table([pa.array(ids, pa.int64()), tag], schema=SCHEMA)


TABLES = {
    b"part1": part([0, 1, 2], ["a", "b", "a"]),
    b"part2": part([3, 4], ["z", None]),
    b"other": pa.table([pa.array([0.5])], schema=OTHER),
}


class NoopAuthHandler(fl.ServerAuthHandler):
    """Lets Handshake succeed: the middleware does the checking."""

    def authenticate(self, outgoing, incoming):
        pass

    def is_valid(self, token):
        return ""


class GrantedMiddleware(fl.ServerMiddleware):
    def __init__(self, token):
        self.token = token

    def sending_headers(self):
        return {"authorization": f"Bearer {self.token}"}


class BearerFactory(fl.ServerMiddlewareFactory):
    def __init__(self, token, basic):
        self.token = token
        self.basic = basic

    def start_call(self, info, headers):
        values = headers.get("authorization", [])
        if not values:
            raise fl.FlightUnauthenticatedError("no authorization header")
        scheme, _, credentials = values[0].partition(" ")
        if scheme.lower() == "basic" and self.basic is not None:
            if base64.b64decode(credentials).decode() == self.basic:
                return GrantedMiddleware(self.token)
            raise fl.FlightUnauthenticatedError("bad user name or password")
        if scheme.lower() == "bearer" and credentials == self.token:
            return None
        raise fl.FlightUnauthenticatedError("bad token")


class Server(fl.FlightServerBase):
    def __init__(self, token, basic):
        kwargs = {}
        if token is not None:
            kwargs["middleware"] = {"auth": BearerFactory(token, basic)}
            kwargs["auth_handler"] = NoopAuthHandler()
        super().__init__("grpc://127.0.0.1:0", **kwargs)
        self.other_port = None

    def do_get(self, context, ticket):
        table = TABLES.get(ticket.ticket)
        if table is None:
            raise KeyError(f"no such ticket: {ticket.ticket!r}")
        return fl.RecordBatchStream(table)

    def get_flight_info(self, context, descriptor):
        b = fl.Location.for_grpc_tcp("127.0.0.1", self.other_port)
        name = descriptor.path[0].decode() if descriptor.path else ""
        if name == "split":
            endpoints = [fl.FlightEndpoint(b"part1", []), fl.FlightEndpoint(b"part2", [b])]
        elif name == "reuse":
            reuse = "arrow-flight-reuse-connection://?"
            closed = fl.Location.for_grpc_tcp("127.0.0.1", 1)
            endpoints = [fl.FlightEndpoint(b"part1", [reuse]), fl.FlightEndpoint(b"part2", [closed, b])]
        elif name == "mismatch":
            endpoints = [fl.FlightEndpoint(b"part1", []), fl.FlightEndpoint(b"other", [b])]
        elif name == "elsewhere":
            there = fl.Location.for_grpc_tcp("localhost", self.other_port)
            endpoints = [fl.FlightEndpoint(b"part1", []), fl.FlightEndpoint(b"part2", [there])]
        elif name == "refused":
            endpoints = [fl.FlightEndpoint(b"part1", []), fl.FlightEndpoint(b"nope", [b])]
        else:
            raise KeyError(f"no such flight: {name!r}")
        return fl.FlightInfo(SCHEMA, descriptor, endpoints, -1, -1)


def serve(args):
    a = Server(args.token, args.basic)
    b = Server(args.token, args.basic)
    a.other_port = b.port
    b.other_port = b.port
    print(a.port, flush=True)
    print(b.port, flush=True)
    a.serve()


def client(args):
    c = fl.connect(args.url)
    headers = []
    try:
        if args.basic is not None:
            user, _, password = args.basic.partition(":")
            headers.append(c.authenticate_basic_token(user, password))
        if args.token is not None:
            headers.append((b"authorization", f"Bearer {args.token}".encode()))
        options = fl.FlightCallOptions(headers=headers)
        table = c.do_get(fl.Ticket(args.ticket.encode()), options).read_all()
        table.validate(full=True)
    except fl.FlightError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e).splitlines()[0]}))
        sys.exit(1)
    print(json.dumps({
        "rows": table.num_rows,
        "ids": table.column("id").to_pylist() if "id" in table.column_names else [],
        "tags": table.column("tag").to_pylist() if "tag" in table.column_names else [],
    }))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--token")
    s.add_argument("--basic")
    c = sub.add_parser("client")
    c.add_argument("url")
    c.add_argument("ticket")
    c.add_argument("--token")
    c.add_argument("--basic")
    args = p.parse_args()
    serve(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    main()
