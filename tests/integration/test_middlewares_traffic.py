"""The traffic-shaping and response middlewares through the binary: contentType, inFlightReq and
rateLimit. Assertions are on what the client receives and what the upstream receives."""

import threading
import time

import pytest

import turnpike_it as it
from turnpike_it import request, wait_until

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
            "limited": r("/limited", ["limited"]),
            "paced": r("/paced", ["paced"]),
        },
        "services": {"a": it.service(a), "slow": it.service(slow)},
        "middlewares": {
            "sniff": {"contentType": {}},
            "nosniff": {"contentType": {"autoDetect": False}},
            "limited": {"rateLimit": {"average": 2, "period": "10s", "burst": 2,
                                      "sourceCriterion": {"requestHeaderName": "X-Client"}}},
            "paced": {"rateLimit": {"average": 1, "sourceCriterion": {"requestHeaderName": "X-Client"}}},
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


def test_rate_limit_refuses_over_the_burst_with_retry_after(gw):
    hdr = [("X-Client", "burst-test")]
    before = gw.slow.stats()["app_requests"]  # unrelated upstream: untouched
    for _ in range(2):
        assert request(gw.port, "/limited/x", host=H, headers=hdr).status == 200
    r = request(gw.port, "/limited/x", host=H, headers=hdr)
    assert r.status == 429
    assert r.body == b"Too Many Requests"
    # 2 per 10s: the next token is ~5s away (the wait is far above maxDelay, 500ms).
    assert r.header("Retry-After") in ("4", "5")
    assert r.header("X-Retry-In").endswith("s")
    # Another client has its own bucket.
    assert request(gw.port, "/limited/x", host=H, headers=[("X-Client", "other")]).status == 200
    assert gw.slow.stats()["app_requests"] == before


def test_rate_limit_delays_a_request_whose_wait_is_short(gw):
    # 1 per second, burst 1, maxDelay 500ms. The second request, sent 600ms after the first,
    # would wait at most 400ms for its token: it is delayed, not refused, and is served no
    # earlier than one second after the first token was taken.
    hdr = [("X-Client", "pace-test")]
    t0 = time.monotonic()
    assert request(gw.port, "/paced/x", host=H, headers=hdr).status == 200
    time.sleep(0.6)  # time must pass for the token to come closer: nothing to poll
    r = request(gw.port, "/paced/x", host=H, headers=hdr)
    done = time.monotonic()
    assert r.status == 200
    assert done - t0 >= 0.95
    assert r.echo.path == "/paced/x"
