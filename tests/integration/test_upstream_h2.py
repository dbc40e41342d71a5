"""HTTP/2 to upstreams: h2c:// servers (prior knowledge), https:// servers whose ALPN chooses h2
(and the fallback to HTTP/1.1 when it does not), disableHTTP2, multiplexing on few connections
within the server's MAX_CONCURRENT_STREAMS, large bodies both ways under flow control, trailers,
REFUSED_STREAM and GOAWAY retries, responseHeaderTimeout, idleConnTimeout, the readIdleTimeout
PING health check, and nghttpd (nghttp2-server) as a real HTTP/2 server.

Clients talk HTTP/1.1 to the gateway (the HTTP/2 server side lives on another branch); the
upstream side is what is under test. Upstreams: peers/upstream_peer.py (python3-h2 / h11),
which reports the protocol, connection and stream it served each request on, and nghttpd.
"""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import time

import pytest

import turnpike_it as it
import upstream_it as ut
from h2_it import CANCEL, H2Client
from turnpike_it import Client, request



@pytest.fixture(scope="module")
def docroot(tmp_path_factory):
    d = tmp_path_factory.mktemp("htdocs")
    (d / "small.txt").write_bytes(b"hello from nghttpd\n")
    (d / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 3))
    return d


@pytest.fixture(scope="module")
def gw(module_env, pki, docroot):
    env = module_env
    cert = (pki.path("server.pem"), pki.path("server.key"))
    p = {
        "h2c": ut.upstream_peer(env, "h2c"),
        "tls": ut.upstream_peer(env, "tls", "--tls", *cert),
        "h1only": ut.upstream_peer(env, "h1only", "--tls", *cert, "--alpn", "http/1.1"),
        "mux": ut.upstream_peer(env, "mux"),
        "limited": ut.upstream_peer(env, "limited", "--max-streams", "2"),
        "retry": ut.upstream_peer(env, "retry"),
        "idle": ut.upstream_peer(env, "idle"),
        "ping": ut.upstream_peer(env, "ping"),
    }
    nghttpd_h2c = ut.nghttpd(env, docroot)
    nghttpd_tls = ut.nghttpd(env, docroot, tls=(pki.path("server.key"), pki.path("server.pem")))
    dead = f"h2c://127.0.0.1:{it.free_port()}"
    http11 = env.upstream("http11")  # test_upstream: HTTP/1.1 only
    routes = {
        "h2c": (p["h2c"].url("h2c"), None, {}),
        "nopass": (p["h2c"].url("h2c"), None, {"passHostHeader": False}),
        "alpn": (p["tls"].url("https"), "trusted", {}),
        "noh2": (p["tls"].url("https"), "noh2", {}),
        "fallback": (p["h1only"].url("https"), "trusted", {}),
        "mux": (p["mux"].url("h2c"), None, {}),
        "limited": (p["limited"].url("h2c"), None, {}),
        "retry": (p["retry"].url("h2c"), None, {}),
        "slow": (p["h2c"].url("h2c"), "short", {}),
        "idle": (p["idle"].url("h2c"), "idle", {}),
        "ping": (p["ping"].url("h2c"), "ping", {}),
        "down": (dead, None, {}),
        "noth2": (f"h2c://127.0.0.1:{http11.port}", None, {}),
        "nghttpd": (f"h2c://127.0.0.1:{nghttpd_h2c.port}", None, {}),
        "nghttpds": (f"https://127.0.0.1:{nghttpd_tls.port}", "trusted", {}),
    }
    services, routers = {}, {}
    for name, (url, transport, extra) in routes.items():
        lb = {"servers": [{"url": url}], **extra}
        if transport:
            lb["serversTransport"] = transport
        services[name] = {"loadBalancer": lb}
        routers[name] = {"rule": f"Host(`{name}.test`)", "service": name}
    roots = {"rootCAs": [pki.path("ca.pem")]}
    dynamic = {"http": {"routers": routers, "services": services, "serversTransports": {
        "trusted": roots,
        "noh2": {**roots, "disableHTTP2": True},
        "short": {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}},
        "idle": {"forwardingTimeouts": {"idleConnTimeout": "1s"}},
        "ping": {"forwardingTimeouts": {"readIdleTimeout": "1s", "pingTimeout": "1s"}},
    }}}
    g = env.gateway(dynamic=dynamic, static_extra={"core": {"workers": 1}},
                    ready=("h2c.test", "/"), log_level="DEBUG")
    g.peers = p
    return g


def get(gw, host, path="/", **kw):
    return request(gw.port, path, host=host, **kw)


def parallel(n, fn):
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: fn(i), range(n)))


def test_h2c_prior_knowledge(gw):
    echo = get(gw, "h2c.test", "/hello?x=1").json()
    assert echo["protocol"] == "HTTP/2"
    headers = dict(echo["headers"])
    assert headers[":scheme"] == "http"
    assert headers[":authority"] == "h2c.test"  # passHostHeader
    assert headers[":path"] == "/hello?x=1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == "h2c.test"
    assert "host" not in headers and "connection" not in headers


def test_pass_host_header_false_sends_server_authority(gw):
    echo = get(gw, "nopass.test").json()
    assert echo["authority"] == f"127.0.0.1:{gw.peers['h2c'].port}"


def test_h2_via_alpn_on_https(gw):
    echo = get(gw, "alpn.test").json()
    assert echo["protocol"] == "HTTP/2"
    assert echo["tls"]["alpn"] == "h2"
    assert dict(echo["headers"])[":scheme"] == "https"


def test_disable_http2_offers_only_http11(gw):
    echo = get(gw, "noh2.test").json()
    assert echo["protocol"] == "HTTP/1.1"
    assert echo["tls"]["alpn"] == "http/1.1"


def test_alpn_fallback_to_http11_and_pooling(gw):
    with Client(gw.port) as c:
        echoes = [c.get("/", host="fallback.test").json() for _ in range(4)]
    assert {e["protocol"] for e in echoes} == {"HTTP/1.1"}
    assert len({e["conn_id"] for e in echoes}) == 1  # the HTTP/1.1 connection is pooled


def test_response_field_names_canonical_for_http1_clients(gw):
    with it.RawConn(gw.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: h2c.test\r\n\r\n")
        r = c.read_response()
    names = [k for k, _ in r.headers]
    assert "Content-Type" in names and "X-Upstream-Name" in names
    assert r.header("Content-Length") == str(len(r.body))


def test_head_request(gw):
    r = get(gw, "h2c.test", "/bytes/1234", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Length") == "1234"


def test_large_bodies_both_ways(gw):
    body = os.urandom(10 * 1024 * 1024 + 5)
    r = get(gw, "h2c.test", "/echo-body", method="POST", body=body)
    assert r.status == 200
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(body).hexdigest()
    r = get(gw, "alpn.test", "/bytes/10000000")
    assert r.status == 200 and r.body == it.pattern_bytes(10000000)


def test_chunked_request_body_and_trailers_reach_h2_upstream(gw):
    with it.RawConn(gw.port) as c:
        c.send(b"POST /post HTTP/1.1\r\nHost: h2c.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
               ut.chunk(b"hello ") + ut.chunk(b"world") +
               b"0\r\nX-Checksum: abc\r\n\r\n")
        r = c.read_response()
    echo = r.json()
    assert echo["body_length"] == 11
    assert echo["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert ["x-checksum", "abc"] in echo["trailers"]


def test_response_trailers_reach_http1_client(gw):
    for host in ("h2c.test", "alpn.test"):
        with it.RawConn(gw.port) as c:
            c.send(f"GET /trailers HTTP/1.1\r\nHost: {host}\r\nTE: trailers\r\n\r\n".encode())
            head = ut.read_head(c)
            assert head.status == 200
            body, trailers = ut.read_chunked_with_trailers(c)
        assert body == b"ok"
        assert ("x-trailer-one", "1") in trailers and ("x-trailer-two", "2") in trailers


def test_concurrent_requests_multiplexed_on_one_connection(gw):
    before = gw.peers["mux"].stats()["connections"]
    results = parallel(30, lambda i: get(gw, "mux.test", f"/delay/400/{i}"))
    assert all(r.status == 200 for r in results)
    stats = gw.peers["mux"].stats()
    # One connection from the gateway (at most), plus the one asking for these stats.
    assert stats["connections"] - before <= 2
    assert stats["max_streams_per_conn"] >= 10  # they really were in flight together
    assert len({r.json()["conn_id"] for r in results}) == 1


def test_max_concurrent_streams_opens_more_connections(gw):
    results = parallel(10, lambda i: get(gw, "limited.test", f"/delay/400/{i}"))
    assert [r.status for r in results] == [200] * 10, [r.body[:200] for r in results]
    stats = gw.peers["limited"].stats()
    assert stats["max_streams_per_conn"] <= 2
    assert stats["connections"] >= 5


def test_refused_stream_is_retried(gw):
    r = get(gw, "retry.test", "/refuse-once")
    assert r.status == 200 and r.json()["path"] == "/refuse-once"
    assert gw.peers["retry"].stats()["refused"] == 1


def test_request_above_goaway_last_stream_goes_to_a_new_connection(gw):
    first = get(gw, "retry.test", "/").json()["conn_id"]
    r = get(gw, "retry.test", "/goaway-refuse-once")
    assert r.status == 200
    assert r.json()["conn_id"] != first
    assert gw.peers["retry"].stats()["goaways"] == 1


def test_goaway_connection_takes_no_new_streams(gw):
    first = get(gw, "h2c.test", "/goaway")
    assert first.status == 200
    second = get(gw, "h2c.test", "/")
    assert second.status == 200
    assert second.json()["conn_id"] != first.json()["conn_id"]


def test_upstream_answers_before_the_request_body_ends(gw):
    # The upstream answers and resets the stream while the client is still sending: the client
    # gets the answer, the rest of its body is drained, and its connection serves the next
    # request.
    with it.RawConn(gw.port) as c:
        c.send(b"POST /early HTTP/1.1\r\nHost: h2c.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
               ut.chunk(b"first part"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"early"
        c.send(ut.chunk(b"late part") + b"0\r\n\r\n")
        c.send(b"GET /next HTTP/1.1\r\nHost: h2c.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/next"


def test_response_header_timeout_504(gw):
    t0 = time.monotonic()
    r = get(gw, "slow.test", "/delay/3000")
    assert r.status == 504
    assert time.monotonic() - t0 < 2.0
    assert get(gw, "slow.test", "/").status == 200  # the connection is still usable


def test_upstream_down_502(gw):
    assert get(gw, "down.test").status == 502


def test_h2c_to_an_http11_only_server_502(gw):
    t0 = time.monotonic()
    assert get(gw, "noth2.test").status == 502
    assert time.monotonic() - t0 < 2
    assert get(gw, "noth2.test").status == 502


def test_idle_connection_closed_after_idle_conn_timeout(gw):
    assert get(gw, "idle.test").status == 200
    deadline = time.monotonic() + 6
    while gw.peers["idle"].stats()["open"] > 1:  # the stats connection itself is open
        assert time.monotonic() < deadline, "idle HTTP/2 connection not closed"
        time.sleep(0.1)


def test_ping_health_check_replaces_a_dead_connection(gw):
    frozen = get(gw, "ping.test", "/freeze").json()["conn_id"]
    # The connection no longer answers anything, PING included: readIdleTimeout (1s) then
    # pingTimeout (1s) close it, and the request goes to a new connection (it was not answered,
    # so it is retried) instead of hanging.
    t0 = time.monotonic()
    r = get(gw, "ping.test", "/", timeout=15)
    assert r.status == 200
    assert r.json()["conn_id"] != frozen
    assert time.monotonic() - t0 < 6


def test_websocket_to_h2c_server_uses_http11(gw):
    ut.websocket_roundtrip(gw.port, "h2c.test", b"ping")


def test_nghttpd_h2c(gw, docroot):
    assert get(gw, "nghttpd.test", "/small.txt").body == b"hello from nghttpd\n"
    r = get(gw, "nghttpd.test", "/big.bin")
    assert r.status == 200 and r.body == (docroot / "big.bin").read_bytes()
    upload = os.urandom(4 * 1024 * 1024)
    r = get(gw, "nghttpd.test", "/small.txt", method="POST", body=upload)
    assert r.status == 200 and r.body == upload  # --echo-upload


def test_nghttpd_tls_alpn(gw, docroot):
    r = get(gw, "nghttpds.test", "/small.txt")
    assert r.status == 200 and r.body == b"hello from nghttpd\n"
    results = parallel(8, lambda i: get(gw, "nghttpds.test", "/big.bin"))
    assert all(r.body == (docroot / "big.bin").read_bytes() for r in results)


def test_graceful_shutdown_finishes_streams_on_shared_connections(env):
    import signal
    peer = ut.upstream_peer(env, "drain")
    g = env.gateway(dynamic={"http": {
        "routers": {"d": {"rule": "Host(`d.test`)", "service": "d"}},
        "services": {"d": {"loadBalancer": {"servers": [{"url": peer.url("h2c")}]}}},
    }}, static_extra={"core": {"workers": 1}}, ready=("d.test", "/"), log_level="DEBUG")
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(get, g, "d.test", f"/delay/1000/{i}") for i in range(5)]
        deadline = time.monotonic() + 10
        while peer.stats()["max_streams_per_conn"] < 5:  # all in flight on one connection
            assert time.monotonic() < deadline
            time.sleep(0.02)
        g.signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    assert [r.status for r in results] == [200] * 5
    assert len({r.json()["conn_id"] for r in results}) == 1
    assert g.proc.wait(timeout=10) == 0


def test_http2_client_to_http2_upstream_bodies_both_ways(gw, tmp_path):
    body = os.urandom(6 * 1024 * 1024 + 1)
    src = tmp_path / "body.bin"
    src.write_bytes(body)
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "--data-binary", f"@{src}", "-H",
         "Host: h2c.test", f"http://127.0.0.1:{gw.port}/echo-body"],
        capture_output=True, timeout=60, check=True).stdout
    assert out == body


def test_http2_client_gets_upstream_trailers(gw):
    out = subprocess.run(
        ["nghttp", "-v", "-H", ":authority: h2c.test", f"http://127.0.0.1:{gw.port}/trailers"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    # The trailers arrive in a HEADERS frame after the body, which ends the stream.
    assert "x-trailer-one: 1" in out and "x-trailer-two: 2" in out
    assert out.index("x-trailer-one") > out.index("recv DATA frame")


def test_http2_client_resets_then_reuses_the_connection(gw):
    """HTTP/2 on both sides: streams the client resets while their upstream stream waits are
    cancelled, and the same client connection's later uploads are answered in full (a handler
    that served a cancelled stream does not carry the cancellation over)."""
    with H2Client(gw.port) as c:
        slow = [c.start("/delay/3000", authority="h2c.test") for _ in range(6)]
        time.sleep(0.5)
        for sid in slow:
            c.conn.reset_stream(sid, error_code=CANCEL)
        c.flush()
        body = os.urandom(300_000)
        for _ in range(3):
            sids = [c.start("/echo", method="POST", authority="h2c.test", body=body)
                    for _ in range(6)]
            for sid in sids:
                r = c.wait(sid)
                assert r.status == 200
                e = json.loads(bytes(r.body))
                assert e["protocol"] == "HTTP/2"
                assert (e["body_length"], e["body_sha256"]) == (
                    len(body), hashlib.sha256(body).hexdigest())
