"""Bodies and connections: 10 MB both ways (Content-Length and chunked), keep-alive with upstream
connection reuse, pipelining, HEAD, and `Expect: 100-continue`."""

import os
import socket
import time

import pytest

import turnpike_it as it
from turnpike_it import Client, RawConn, pattern_bytes, request, sha256

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    dynamic = {"http": {
        "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "a"}},
        "services": {"a": it.service(a)},
    }}
    g = module_env.gateway(dynamic=dynamic, ready=("body.test", "/"))
    g.upstream = a
    return g


@pytest.fixture(scope="module")
def big():
    return os.urandom(TEN_MB)


def test_10mb_request_body_content_length(gw, big):
    r = request(gw.port, "/upload", method="POST", host="body.test", body=big, timeout=60)
    assert r.status == 200
    assert r.echo.body_length == TEN_MB
    assert r.echo.body_sha256 == sha256(big)


def test_10mb_request_body_chunked(gw, big):
    chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))
    r = request(gw.port, "/upload", method="POST", host="body.test", body=chunks, timeout=60)
    assert r.status == 200
    assert r.echo.body_length == TEN_MB
    assert r.echo.body_sha256 == sha256(big)
    # re-framed, never both framings upstream
    assert not (r.echo.has("Content-Length") and r.echo.has("Transfer-Encoding"))


@pytest.mark.parametrize("kind", ["bytes", "chunked"])
def test_10mb_response_body(gw, kind):
    r = request(gw.port, f"/{kind}/{TEN_MB}", host="body.test", timeout=60)
    assert r.status == 200
    assert len(r.body) == TEN_MB
    assert sha256(r.body) == sha256(pattern_bytes(TEN_MB)) == r.header("X-Body-Sha256")


def test_small_chunked_response_with_many_chunks(gw):
    r = request(gw.port, "/chunked/100000?chunk=7", host="body.test")
    assert r.status == 200
    assert r.body == pattern_bytes(100000)


def test_keep_alive_reuses_one_upstream_connection(gw):
    before = gw.upstream.stats()["connections"]
    conn_ids = set()
    with Client(gw.port) as c:
        for i in range(50):
            r = c.get(f"/ka/{i}", host="body.test")
            assert r.status == 200
            assert r.echo.path == f"/ka/{i}"
            conn_ids.add(r.echo.conn_id)
    assert len(conn_ids) == 1, f"50 sequential requests used upstream connections {conn_ids}"
    # _stats opens one connection of its own
    assert gw.upstream.stats()["connections"] - before <= 2


def test_keep_alive_with_bodies_on_one_client_connection(gw):
    with Client(gw.port) as c:
        for i in range(20):
            body = os.urandom(1000 + i * 997)
            r = c.request("/post", "POST", host="body.test", body=body)
            assert r.status == 200
            assert r.echo.body_sha256 == sha256(body)
            r = c.get(f"/bytes/{5000 + i}", host="body.test")
            assert r.body == pattern_bytes(5000 + i)


def test_pipelined_requests_are_answered_in_order(gw):
    reqs = b"".join(f"GET /pipe/{i} HTTP/1.1\r\nHost: body.test\r\n\r\n".encode() for i in range(5))
    reqs += (b"POST /pipe/post HTTP/1.1\r\nHost: body.test\r\nContent-Length: 5\r\n\r\nhello"
             b"GET /pipe/last HTTP/1.1\r\nHost: body.test\r\n\r\n")
    with RawConn(gw.port) as c:
        c.send(reqs)
        paths = []
        for _ in range(7):
            r = c.read_response()
            assert r.status == 200
            paths.append(r.echo.path)
    assert paths == [f"/pipe/{i}" for i in range(5)] + ["/pipe/post", "/pipe/last"]


def test_head_response_has_no_body_and_keeps_the_connection(gw):
    with RawConn(gw.port) as c:
        c.send(b"HEAD /bytes/100 HTTP/1.1\r\nHost: body.test\r\n\r\n"
               b"GET /after-head HTTP/1.1\r\nHost: body.test\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200
        assert r.header("Content-Length") == "100"
        r2 = c.read_response()
        assert r2.status == 200 and r2.echo.path == "/after-head"


def test_expect_100_continue(gw):
    with RawConn(gw.port) as c:
        c.send(b"POST /expect HTTP/1.1\r\nHost: body.test\r\nContent-Length: 11\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response(timeout=2)
        assert interim.status == 100
        c.send(b"hello world")
        r = c.read_response()
    assert r.status == 200
    assert r.echo.body_length == 11
    assert r.echo.body_sha256 == sha256(b"hello world")


def test_http10_request_gets_a_complete_response_then_close(gw):
    with RawConn(gw.port) as c:
        c.send(b"GET /v10 HTTP/1.0\r\nHost: body.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.echo.path == "/v10"
        assert c.closed_within(2)


def test_slow_reader_gets_the_whole_body_then_the_next_response(gw):
    # A client that reads slowly through a small receive buffer: the gateway's writes to it are
    # partial or would block (the non-blocking first try, then the asynchronous rest), and the
    # body must still arrive complete and in order, with the keep-alive connection usable after.
    n = 3 * 1024 * 1024
    with RawConn(gw.port, timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(f"GET /bytes/{n} HTTP/1.1\r\nHost: body.test\r\n\r\n".encode())
        head = c.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert f"content-length: {n}".encode() in head.lower()
        body = bytearray(c.buf)
        c.buf = b""
        for _ in range(40):  # the first pieces slowly, so the gateway's socket buffer fills up
            time.sleep(0.01)
            body += c.sock.recv(2048)
        while len(body) < n:
            d = c.sock.recv(262144)
            assert d, f"closed after {len(body)} of {n} body bytes"
            body += d
        assert len(body) == n
        assert bytes(body) == pattern_bytes(n)
        for size in (70000, 3):
            c.send(f"GET /bytes/{size} HTTP/1.1\r\nHost: body.test\r\n\r\n".encode())
            r = c.read_response()
            assert r.status == 200
            assert r.body == pattern_bytes(size)


def test_many_small_keep_alive_responses_arrive_whole(gw):
    # Small responses go out as head and body in one write: each must be complete and framed
    # (HEAD and 204-like answers included) on one connection.
    with RawConn(gw.port) as c:
        for i in range(200):
            size = i % 7
            c.send(f"GET /bytes/{size} HTTP/1.1\r\nHost: body.test\r\n\r\n".encode())
            r = c.read_response()
            assert r.status == 200
            assert r.header("Content-Length") == str(size)
            assert r.body == pattern_bytes(size)
        c.send(b"HEAD /bytes/5 HTTP/1.1\r\nHost: body.test\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200 and r.header("Content-Length") == "5" and r.body == b""
        c.send(b"GET /bytes/2 HTTP/1.1\r\nHost: body.test\r\n\r\n")
        assert c.read_response().body == pattern_bytes(2)
