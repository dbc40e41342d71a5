"""The traffic-shaping and response middlewares through the binary: contentType, inFlightReq and
rateLimit. Assertions are on what the client receives and what the upstream receives."""

import threading
import time

import pytest

import turnpike_it as it
from turnpike_it import request

H = "traffic.test"


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    slow = module_env.upstream("slow")  # its own stats: requests that reached it
    r = lambda prefix, mws: {"rule": f"Host(`{H}`) && PathPrefix(`{prefix}`)",  # noqa: E731
                             "service": "a", "middlewares": mws}
    dynamic = {"http": {
        "routers": {
            "sniff": r("/sniff", ["sniff"]),
            "nosniff": r("/nosniff", ["nosniff"]),
            "plain": r("/plain", []),
            "inflight": {"rule": f"Host(`{H}`) && PathPrefix(`/inflight`)", "service": "slow",
                         "middlewares": ["inflight"]},
        },
        "services": {"a": it.service(a), "slow": it.service(slow)},
        "middlewares": {
            "sniff": {"contentType": {}},
            "nosniff": {"contentType": {"autoDetect": False}},
            "inflight": {"inFlightReq": {"amount": 2,
                                         "sourceCriterion": {"requestHeaderName": "X-Tenant"}}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/plain"))
    g.slow = slow
    return g


def test_content_type_detected_only_with_the_middleware(gw):
    # /bytes/N is the binary pattern (byte i = i % 251); the upstream's Content-Type is removed.
    for prefix, expected in (("/sniff", "application/octet-stream"), ("/nosniff", None),
                             ("/plain", None)):
        r = request(gw.port, f"{prefix}/bytes/600?h=Content-Type:", host=H)
        assert r.status == 200, prefix
        assert r.header("Content-Type") == expected, prefix
        assert len(r.body) == 600
    # The upstream's own type is never replaced.
    r = request(gw.port, "/sniff/bytes/10", host=H)
    assert r.header("Content-Type") == "application/octet-stream"
    # The JSON echo without a type sniffs as text.
    r = request(gw.port, "/sniff/x?h=Content-Type:", host=H)
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.echo.path.startswith("/sniff/x")


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_in_flight_req_limits_concurrent_requests_per_source(gw):
    before = gw.slow.stats()["app_requests"]
    results = []

    def slow_request():
        results.append(request(gw.port, "/inflight/delay/2500", host=H,
                               headers=[("X-Tenant", "t1")]).status)

    threads = [threading.Thread(target=slow_request) for _ in range(2)]
    for t in threads:
        t.start()
    # Both are at the upstream: the third from the same tenant is refused at once, and never
    # reaches it; another tenant still gets through.
    assert wait_until(lambda: gw.slow.stats()["app_requests"] - before == 2)
    r = request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t1")])
    assert r.status == 429
    assert r.body == b"Too Many Requests"
    r = request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t2")])
    assert r.status == 200
    assert gw.slow.stats()["app_requests"] - before == 3
    for t in threads:
        t.join()
    assert results == [200, 200]
    # Finished requests gave their places back.
    assert request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t1")]).status == 200

