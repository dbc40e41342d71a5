"""Services through the binary: load balancing (round robin, weights), the weighted service,
passHostHeader, and the gateway's own answers when an upstream is down (502), too slow (504)
or absent (503)."""

import collections
import time

import pytest

import turnpike_it as it
from turnpike_it import Client, free_port, request


@pytest.fixture(scope="module")
def gw(module_env):
    a, b, c = (module_env.upstream(n) for n in ("a", "b", "c"))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = lambda rule, svc: {"rule": rule, "service": svc}  # noqa: E731
    dynamic = {
        "http": {
            "routers": {
                "rr": r("Host(`rr.test`)", "rr"),
                "wrr": r("Host(`wrr.test`)", "wrr"),
                "weighted": r("Host(`weighted.test`)", "weighted"),
                "pass": r("Host(`pass.test`)", "pass"),
                "nopass": r("Host(`nopass.test`)", "nopass"),
                "down": r("Host(`down.test`)", "down"),
                "slow": r("Host(`slow.test`)", "slow"),
                "empty": r("Host(`empty.test`)", "empty"),
            },
            "services": {
                "rr": it.service(a, b, c),
                "wrr": it.service((a, 3), (b, 1)),
                "weighted": {"weighted": {"services": [{"name": "only-a", "weight": 3},
                                                       {"name": "only-c", "weight": 1}]}},
                "only-a": it.service(a),
                "only-c": it.service(c),
                "pass": it.service(a),
                "nopass": it.service(a, passHostHeader=False),
                "down": it.service(dead),
                "slow": it.service(a, serversTransport="short"),
                "empty": {"loadBalancer": {"servers": []}},
            },
            "serversTransports": {
                "short": {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}},
            },
        }
    }
    g = module_env.gateway(dynamic=dynamic, ready=("rr.test", "/"))
    g.upstreams = {"a": a, "b": b, "c": c}
    return g


def counts(gw, host, n):
    """Names of the upstreams that answered n requests sent on one keep-alive connection."""
    got = collections.Counter()
    with Client(gw.port) as cl:
        for _ in range(n):
            r = cl.get("/", host=host)
            assert r.status == 200
            got[r.echo.name] += 1
    return got


def test_round_robin_over_three_servers(gw):
    assert counts(gw, "rr.test", 30) == {"a": 10, "b": 10, "c": 10}


def test_round_robin_weights(gw):
    assert counts(gw, "wrr.test", 40) == {"a": 30, "b": 10}


def test_weighted_service(gw):
    assert counts(gw, "weighted.test", 40) == {"a": 30, "c": 10}


def test_pass_host_header_default_true(gw):
    r = request(gw.port, "/", host="pass.test")
    assert r.status == 200
    assert r.echo.header_all("Host") == ["pass.test"]


def test_pass_host_header_false_sends_server_host(gw):
    r = request(gw.port, "/", host="nopass.test")
    assert r.status == 200
    a = gw.upstreams["a"]
    assert r.echo.header_all("Host") == [f"127.0.0.1:{a.port}"]
    # the original host still travels in X-Forwarded-Host
    assert r.echo.header("X-Forwarded-Host") == "nopass.test"


def test_upstream_down_is_502(gw):
    r = request(gw.port, "/", host="down.test")
    assert r.status == 502
    # the gateway stays usable
    assert request(gw.port, "/", host="pass.test").status == 200


def test_response_header_timeout_is_504(gw):
    t0 = time.monotonic()
    r = request(gw.port, "/delay/2000", host="slow.test")
    took = time.monotonic() - t0
    assert r.status == 504
    assert took < 1.5, f"504 after {took:.2f}s, responseHeaderTimeout is 300ms"
    # a fast answer on the same service is unaffected
    assert request(gw.port, "/delay/50", host="slow.test").status == 200


def test_service_without_servers_is_503(gw):
    r = request(gw.port, "/", host="empty.test")
    assert r.status == 503


def test_upstream_status_and_headers_pass_through(gw):
    r = request(gw.port, "/status/418?h=X-Up:yes", host="pass.test")
    assert r.status == 418
    assert r.header("X-Up") == "yes"
    assert r.echo.path == "/status/418?h=X-Up:yes"


def test_upstream_closing_its_connection_is_not_reused(gw):
    """The upstream answers `Connection: close` and closes: the next requests must not be sent
    on that dead pooled connection."""
    with Client(gw.port) as c:
        for _ in range(5):
            assert c.get("/close", host="pass.test").status == 200
            assert c.get("/after-close", host="pass.test").status == 200


def test_restarted_upstream_stale_pooled_connections(env):
    """The upstream process restarts on the same port: idle pooled connections to the old one
    are dead; idempotent requests must still succeed (no 502 for a stale connection)."""
    a = env.upstream("old")
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`re.test`)", "service": "s"}},
                                       "services": {"s": it.service(a)}}},
                     ready=("re.test", "/"))
    with Client(gw.port) as c:
        for _ in range(5):
            assert c.get("/", host="re.test").echo.name == "old"
        a.stop()
        env.upstream("new", port=a.port)
        names = [c.get("/", host="re.test") for _ in range(5)]
    assert [(r.status, r.echo.name if r.status == 200 else None) for r in names] == [(200, "new")] * 5
