"""HTTP/2 (h2c with prior knowledge) through the binary, with real peers: curl
--http2-prior-knowledge, nghttp, h2load and python3-h2 clients; test_upstream (HTTP/1.1) behind.
Routing, middlewares, bodies both ways, concurrent streams, flow control, interim responses,
timeouts, keep-alive limits, graceful shutdown and the access log."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import turnpike_it as it
from h2_it import CANCEL, INTERNAL_ERROR, NO_ERROR, H2Client, RawH2

H2LOAD = shutil.which("h2load")
NGHTTP = shutil.which("nghttp")
CURL = shutil.which("curl")


def curl_h2(port: int, path: str, host: str = "h2.test", args=(), data: bytes | None = None):
    """curl --http2-prior-knowledge; returns (status line, headers dict, body)."""
    if not CURL:
        pytest.skip("curl not installed")
    cmd = [CURL, "-s", "-S", "--http2-prior-knowledge", "-D", "-", "-H", f"Host: {host}",
           *args, f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0].strip(), headers, body


@pytest.fixture(scope="module")
def gw(module_env, tmp_path_factory):
    a = module_env.upstream("a")
    log = tmp_path_factory.mktemp("h2log") / "access.log"
    r = lambda rule, svc="a", mws=(): {"rule": rule, "service": svc, "middlewares": list(mws)}  # noqa: E731
    gw = module_env.gateway(
        static_extra={"accessLog": {"filePath": str(log)}},
        dynamic={"http": {
            "routers": {
                "main": r("Host(`h2.test`)"),
                "strip": r("Host(`mw.test`) && PathPrefix(`/strip`)", mws=["strip", "hdrs"]),
                "deny": r("Host(`mw.test`) && PathPrefix(`/deny`)", mws=["deny"]),
                "down": r("Host(`down.test`)", svc="down"),
            },
            "services": {"a": it.service(a), "down": it.service(f"http://127.0.0.1:{it.free_port()}")},
            "middlewares": {
                "strip": {"stripPrefix": {"prefixes": ["/strip"]}},
                "hdrs": {"headers": {"customResponseHeaders": {"X-Mw": "yes"},
                                     "customRequestHeaders": {"X-From-Mw": "1"}}},
                "deny": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}},
            },
        }},
        ready=("h2.test", "/"))
    gw.upstream_a = a
    gw.access_log = log
    return gw


def test_curl_prior_knowledge_routes_and_forwards_http11(gw):
    status, headers, body = curl_h2(gw.port, "/hello?x=1", args=["-H", "X-Test: a"])
    assert status == "HTTP/2 200"
    assert headers["x-upstream-name"] == "a"
    e = it.Echo(json.loads(body))
    assert e.js["version"] == "HTTP/1.1"  # the upstream side stays HTTP/1.1
    assert e.path == "/hello?x=1"
    assert e.header("Host") == "h2.test"
    assert e.header("x-test") == "a"
    assert e.header("X-Forwarded-Proto") == "http"
    assert e.header("X-Forwarded-Host") == "h2.test"
    assert e.header("X-Real-Ip") == "127.0.0.1"
    assert not any(k.startswith(":") for k, _ in e.headers)


def test_nghttp_get(gw):
    if not NGHTTP:
        pytest.skip("nghttp not installed")
    out = subprocess.run([NGHTTP, "-nv", "-H", ":authority: h2.test",
                          f"http://127.0.0.1:{gw.port}/via-nghttp"],
                         capture_output=True, text=True, timeout=30).stdout
    assert re.search(r"recv \(stream_id=\d+\) :status: 200", out), out
    assert "x-upstream-name: a" in out
    # our SETTINGS: the configured stream limit and the 64 KiB stream window
    assert "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):250" in out
    assert "SETTINGS_INITIAL_WINDOW_SIZE(0x04):65536" in out


def test_no_router_is_404(gw):
    status, headers, body = curl_h2(gw.port, "/", host="nowhere.test")
    assert status == "HTTP/2 404"
    assert body == b"404 page not found\n"
    assert headers["x-content-type-options"] == "nosniff"


def test_middlewares_apply_to_http2(gw):
    status, headers, body = curl_h2(gw.port, "/strip/rest", host="mw.test")
    assert status == "HTTP/2 200"
    assert headers["x-mw"] == "yes"
    e = it.Echo(json.loads(body))
    assert e.path == "/rest"
    assert e.header("X-From-Mw") == "1"
    assert e.header("X-Forwarded-Prefix") == "/strip"
    status, _, _ = curl_h2(gw.port, "/deny", host="mw.test")
    assert status == "HTTP/2 403"


def test_upstream_down_is_502(gw):
    status, _, _ = curl_h2(gw.port, "/", host="down.test")
    assert status == "HTTP/2 502"


def test_large_upload_with_content_length(gw):
    data = it.pattern_bytes(10_000_000)
    status, _, body = curl_h2(gw.port, "/upload", args=["--data-binary", "@-"], data=data)
    assert status == "HTTP/2 200"
    e = it.Echo(json.loads(body))
    assert e.body_length == len(data)
    assert e.body_sha256 == it.sha256(data)
    assert e.header("Content-Length") == str(len(data))


def test_large_upload_of_unknown_length_is_rechunked(gw):
    data = it.pattern_bytes(3_000_000)
    status, _, body = curl_h2(gw.port, "/upload", args=["-T", "-"], data=data)
    assert status == "HTTP/2 200"
    e = it.Echo(json.loads(body))
    assert e.body_sha256 == it.sha256(data)
    assert e.header("Transfer-Encoding") == "chunked"
    assert not e.has("Content-Length")


@pytest.mark.parametrize("path", ["/bytes/10000000", "/chunked/5000000"])
def test_large_download(gw, path):
    n = int(path.rsplit("/", 1)[1])
    status, headers, body = curl_h2(gw.port, path)
    assert status == "HTTP/2 200"
    assert len(body) == n
    assert hashlib.sha256(body).hexdigest() == it.sha256(it.pattern_bytes(n))
    if path.startswith("/bytes"):
        assert headers["content-length"] == str(n)
    assert "transfer-encoding" not in headers


def test_many_concurrent_streams_on_one_connection(gw):
    """100 streams at once on one connection, each waiting 500 ms upstream: served together,
    not one after another (which would take 50 s)."""
    if not H2LOAD:
        pytest.skip("h2load not installed")
    t0 = time.monotonic()
    out = subprocess.run([H2LOAD, "-n", "200", "-c", "1", "-m", "100", "-H", ":authority: h2.test",
                          f"http://127.0.0.1:{gw.port}/delay/500"],
                         capture_output=True, text=True, timeout=60).stdout
    took = time.monotonic() - t0
    assert "200 succeeded" in out and "200 2xx" in out, out
    assert took < 15, f"took {took:.1f}s"


def test_many_small_requests_h2load(gw):
    if not H2LOAD:
        pytest.skip("h2load not installed")
    out = subprocess.run([H2LOAD, "-n", "5000", "-c", "4", "-m", "10", "-H", ":authority: h2.test",
                          f"http://127.0.0.1:{gw.port}/small"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "5000 succeeded" in out and "5000 2xx" in out, out


def test_responses_interleave_and_match_their_streams(gw):
    with H2Client(gw.port) as c:
        sids = {c.start(f"/bytes/{n}"): n for n in (1, 100_000, 17, 300_000, 0)}
        for sid, n in sids.items():
            r = c.wait(sid)
            assert r.status == 200
            assert bytes(r.body) == it.pattern_bytes(n)


def test_streams_after_client_resets_are_served_on_the_same_connection(gw):
    """A connection's handlers serve stream after stream: the ones whose streams the client
    reset while their upstream request was pending serve the later uploads in full."""
    with H2Client(gw.port) as c:
        slow = [c.start("/delay/3000") for _ in range(8)]
        time.sleep(0.5)  # the requests are with the upstream
        for sid in slow:
            c.conn.reset_stream(sid, error_code=CANCEL)
        c.flush()
        data = it.pattern_bytes(200_000)
        for _ in range(3):
            sids = [c.start("/upload", method="POST", body=data) for _ in range(8)]
            for sid in sids:
                r = c.wait(sid)
                assert r.status == 200
                e = it.Echo(json.loads(bytes(r.body)))
                assert (e.body_length, e.body_sha256) == (len(data), it.sha256(data))
        assert all(c.responses[sid].status is None for sid in slow)


def test_slow_reader_does_not_block_other_streams(gw):
    """A stream whose client stops reading (its window stays closed) holds up nothing else on
    the connection."""
    with H2Client(gw.port, stream_window=65535, auto_ack=False) as c:
        big = c.start("/bytes/10000000")
        # read until the big stream's window is used up
        deadline = time.monotonic() + 10
        while len(c.responses[big].body) < 65535 and time.monotonic() < deadline:
            c.pump()
        try:
            c.pump(timeout=0.3)  # nothing more may come for it
        except socket.timeout:
            pass
        assert len(c.responses[big].body) == 65535  # exactly one window, nothing more
        c.auto_ack = True  # ack the others; the big stream's credit is never returned
        small = c.start("/small")
        r = c.wait(small, timeout=5)
        assert r.status == 200
        assert not c.responses[big].ended


def test_head_and_bodyless_statuses(gw):
    with H2Client(gw.port) as c:
        r = c.request("/bytes/100", method="HEAD")
        assert r.status == 200 and r.body == b"" and r.header("content-length") == "100"
        r = c.request("/status/204")
        assert r.status == 204 and r.body == b""
        assert r.header("content-length") is None


def test_expect_100_continue(gw):
    with H2Client(gw.port) as c:
        sid = c.start("/upload", method="POST",
                      headers=[("expect", "100-continue"), ("content-length", "5")],
                      end_stream=False)
        # the 100 comes when the proxy wants the body, before any byte of it was sent
        deadline = time.monotonic() + 5
        while not c.responses[sid].interim and c.responses[sid].status is None:
            assert time.monotonic() < deadline, "no 100 Continue"
            c.pump()
        assert c.responses[sid].interim == [100]
        c.send_body(sid, b"hello")
        r = c.wait(sid)
        assert r.status == 200
        e = it.Echo(json.loads(bytes(r.body)))
        assert e.body_length == 5
        assert not e.has("Expect")


def test_http1_still_served_on_the_same_entrypoint(gw):
    r = it.request(gw.port, "/h1", host="h2.test")
    assert r.status == 200 and r.version == "HTTP/1.1"


def test_access_log_records_http2(gw):
    curl_h2(gw.port, "/log-check-h2")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = gw.access_log.read_text() if gw.access_log.exists() else ""
        if "/log-check-h2" in text:
            break
        time.sleep(0.05)
    line = next(line for line in text.splitlines() if "/log-check-h2" in line)
    assert '"GET /log-check-h2 HTTP/2.0" 200' in line
    assert '"main@file"' in line


# ---------------------------------------------------------------------------------------------
# Timeouts, keep-alive limits and graceful shutdown: one gateway per test.


def simple_dynamic(a):
    return {"http": {"routers": {"main": {"rule": "Host(`h2.test`)", "service": "a"}},
                     "services": {"a": it.service(a)}}}


def test_idle_connection_gets_goaway(env):
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"respondingTimeouts": {"idleTimeout": "1s"}}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with H2Client(gw.port) as c:
        assert c.request("/one").status == 200
        t0 = time.monotonic()
        assert c.wait_closed(timeout=5)
        took = time.monotonic() - t0
        assert c.goaway is not None and c.goaway.error_code == NO_ERROR
        assert c.goaway.last_stream_id == 1
        assert 0.5 < took < 3.5, took


def test_keep_alive_max_requests_sends_goaway(env):
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"keepAliveMaxRequests": 3}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with H2Client(gw.port) as c:
        for i in range(3):
            assert c.request(f"/r{i}").status == 200
        assert c.wait_closed(timeout=5)
        assert c.goaway is not None and c.goaway.error_code == NO_ERROR
        assert c.goaway.last_stream_id == 5


def test_read_timeout_is_per_stream(env):
    """A request body that never comes: that stream gets 408 after readTimeout; the other
    streams of the connection are served meanwhile."""
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"respondingTimeouts": {"readTimeout": "1s"}}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with H2Client(gw.port) as c:
        t0 = time.monotonic()
        stuck = c.start("/upload", method="POST", headers=[("content-length", "10")],
                        end_stream=False)
        assert c.request("/other").status == 200
        assert c.responses[stuck].status is None  # served while the stuck stream waits
        r = c.wait(stuck, timeout=5)
        took = time.monotonic() - t0
        assert r.status == 408, (r.status, r.reset)
        assert 0.8 < took < 4.0, took
        assert c.request("/after").status == 200  # the connection is still fine


def test_unfinished_header_block_ends_the_connection(env):
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"respondingTimeouts": {"readTimeout": "1s"}}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with RawH2(gw.port) as c:
        t0 = time.monotonic()
        c.send(c.headers(1, c.get_fields("/"), end_headers=False))  # no CONTINUATION follows
        g = c.goaway(timeout=5)
        assert g is not None and g.error_code != NO_ERROR
        assert c.wait_closed(timeout=5)
        assert time.monotonic() - t0 < 4


def test_graceful_shutdown_lets_open_stream_finish(env):
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"lifeCycle": {"graceTimeOut": "5s"}}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with H2Client(gw.port) as c:
        base = a.stats()["requests"]
        sid = c.start("/delay/1500")
        deadline = time.monotonic() + 5
        while a.stats()["requests"] - base < 2:  # our request plus this stats call
            assert time.monotonic() < deadline, "request did not reach the upstream"
            time.sleep(0.02)
        t_term = time.monotonic()
        gw.signal(signal.SIGTERM)
        r = c.wait(sid, timeout=8)
        assert r.status == 200 and r.ended and r.reset is None
        assert c.goaway is not None and c.goaway.error_code == NO_ERROR
        assert c.goaway.last_stream_id >= sid
        assert c.wait_closed(timeout=5)
    # new connections are refused once the listeners are closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", gw.port), timeout=1).close()
    rc = gw.proc.wait(timeout=7)
    assert rc == 0
    assert time.monotonic() - t_term < 6


def test_response_trailers_from_a_chunked_upstream(gw):
    """Trailer fields of an HTTP/1.1 chunked response reach an HTTP/2 client as a trailer
    HEADERS frame (what gRPC's grpc-status needs); framing fields among them are dropped."""
    with H2Client(gw.port) as c:
        r = c.request("/chunked/1000?t=grpc-status:0&t=X-Checksum:abc&t=Content-Length:5")
        assert r.status == 200
        assert bytes(r.body) == it.pattern_bytes(1000)
        assert r.trailers == [("grpc-status", "0"), ("x-checksum", "abc")]
        r = c.request("/chunked/10")  # no trailers: the body simply ends
        assert r.status == 200 and r.trailers == [] and len(r.body) == 10


def test_write_timeout_resets_the_stream(env):
    a = env.upstream("a")
    gw = env.gateway(entrypoints={"web": {"transport": {"respondingTimeouts": {"writeTimeout": "1s"}}}},
                     dynamic=simple_dynamic(a), ready=("h2.test", "/"))
    with H2Client(gw.port) as c:
        t0 = time.monotonic()
        slow = c.start("/delay/4000")
        r = c.wait(slow, timeout=6)
        took = time.monotonic() - t0
        assert r.reset == CANCEL and r.status is None, (r.reset, r.status)
        assert took < 3.5, took
        assert c.request("/fine").status == 200  # the connection goes on


def test_truncated_upstream_response_resets_the_stream(env):
    """An upstream that closes mid-body: the client sees the stream fail (RST_STREAM
    INTERNAL_ERROR), never a clean end of a short body."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    gw = env.gateway(dynamic={"http": {
        "routers": {"main": {"rule": "Host(`h2.test`)", "service": "cut"}},
        "services": {"cut": it.service(f"http://127.0.0.1:{port}")}}})
    try:
        with H2Client(gw.port) as c:
            deadline = time.monotonic() + 10
            while True:  # the route may need a moment to load
                r = c.request("/cut")
                if r.status != 404 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert r.status == 200
            assert r.reset == INTERNAL_ERROR and not r.ended
            assert bytes(r.body) == b"x" * 10
    finally:
        listener.close()
