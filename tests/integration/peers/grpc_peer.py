#!/usr/bin/python3
"""A gRPC server for the gRPC proxying tests (python3-grpcio, generic handlers over raw bytes, so
no protoc is needed).

    grpc_peer.py [--tls CERT KEY]

Prints `listening <port>` (127.0.0.1, kernel-chosen port); cleartext HTTP/2 (h2c) by default,
TLS (ALPN h2) with --tls. Service `turnpike.test.Echo`:
  Unary(msg)           -> b"echo:" + msg; echoes the request metadata x-test-* as trailing
                          metadata and sets initial metadata x-peer-protocol: grpc
  ServerStream(msg)    -> int(msg) messages b"part-0", b"part-1", ...
  ClientStream(msgs)   -> b"|".join(msgs)
  Bidi(msgs)           -> b"pong:" + msg for each msg, as it arrives
  Fail(msg)            -> status NOT_FOUND, details "no such thing: " + msg
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc


def unary(request, context):
    context.send_initial_metadata((("x-peer-protocol", "grpc"),))
    echoed = tuple((k, v) for k, v in context.invocation_metadata() if k.startswith("x-test-"))
    context.set_trailing_metadata(echoed + (("x-peer-trailer", "present"),))
    return b"echo:" + request


def server_stream(request, context):
    for i in range(int(request)):
        yield b"part-%d" % i


def client_stream(request_iterator, context):
    return b"|".join(request_iterator)


def bidi(request_iterator, context):
    for msg in request_iterator:
        yield b"pong:" + msg


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = p.parse_args()
    handler = grpc.method_handlers_generic_handler("turnpike.test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    if args.tls:
        with open(args.tls[0], "rb") as c, open(args.tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening {port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
