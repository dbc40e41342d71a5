"""The grpcWeb middleware through the binary: gRPC-Web (binary and text) over HTTP/1.1 from the
client, real gRPC over h2c to python3-grpcio (peers/grpc_peer.py)."""

import base64
import struct

import pytest

import turnpike_it as it
import upstream_it as ut
from turnpike_it import request

H = "grpcweb.test"


@pytest.fixture(scope="module")
def gw(module_env):
    peer = ut.grpc_peer(module_env, "grpc")
    dynamic = {"http": {
        "routers": {"web": {"rule": f"Host(`{H}`)", "service": "grpc", "middlewares": ["web"]}},
        "services": {"grpc": {"loadBalancer": {"servers": [{"url": peer.url("h2c")}]}}},
        "middlewares": {"web": {"grpcWeb": {"allowOrigins": ["https://app.example"]}}},
    }}
    return module_env.gateway(dynamic=dynamic, ready=(H, "/"))


def frame(msg: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(msg)) + msg


def parse(body: bytes):
    """(messages, trailers) of a gRPC-Web response body."""
    msgs, trailers = [], {}
    while body:
        flag, n = body[0], struct.unpack(">I", body[1:5])[0]
        payload, body = body[5:5 + n], body[5 + n:]
        if flag & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    k, _, v = line.partition(":")
                    trailers[k] = v.strip()
        else:
            msgs.append(payload)
    return msgs, trailers


def test_unary_call_in_grpc_web_binary(gw):
    r = request(gw.port, "/turnpike.test.Echo/Unary", method="POST", host=H,
                headers=[("Content-Type", "application/grpc-web+proto"), ("X-Grpc-Web", "1"),
                         ("Origin", "https://app.example"), ("x-test-one", "1")],
                body=frame(b"hello"))
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/grpc-web")
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    msgs, trailers = parse(r.body)
    assert msgs == [b"echo:hello"]
    assert trailers["grpc-status"] == "0"
    assert trailers["x-test-one"] == "1"  # trailing metadata reaches the browser in the body


def test_text_mode_and_errors(gw):
    r = request(gw.port, "/turnpike.test.Echo/Unary", method="POST", host=H,
                headers=[("Content-Type", "application/grpc-web-text")],
                body=base64.b64encode(frame(b"txt")))
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/grpc-web-text")
    # Padded chunks may follow each other: decode each 4-aligned padded run.
    raw, rest = b"", r.body
    while rest:
        end = rest.find(b"=")
        cut = len(rest) if end < 0 else (end + (2 if rest[end:end + 2] == b"==" else 1))
        cut += (-cut) % 4
        raw += base64.b64decode(rest[:cut])
        rest = rest[cut:]
    msgs, trailers = parse(raw)
    assert msgs == [b"echo:txt"] and trailers["grpc-status"] == "0"
    r = request(gw.port, "/turnpike.test.Echo/Fail", method="POST", host=H,
                headers=[("Content-Type", "application/grpc-web")], body=frame(b"x"))
    msgs, trailers = parse(r.body)
    assert trailers["grpc-status"] == "5"
    assert "no such thing: x" in trailers["grpc-message"]


def test_cors_preflight(gw):
    hdrs = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,x-grpc-web")]
    r = request(gw.port, "/turnpike.test.Echo/Unary", method="OPTIONS", host=H, headers=hdrs)
    assert r.status == 204
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    hdrs[0] = ("Origin", "https://evil.example")
    r = request(gw.port, "/turnpike.test.Echo/Unary", method="OPTIONS", host=H, headers=hdrs)
    assert r.status == 403
