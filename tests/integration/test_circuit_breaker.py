"""The circuitBreaker middleware through the binary: it opens when a real upstream fails, answers
by itself while open (nothing reaches the upstream), and lets traffic back after
fallbackDuration, closing once recovery is over."""

import time

import pytest

import turnpike_it as it
from turnpike_it import request

H = "cb.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    dead = it.dead_url()
    def r(prefix, service, mws):
        return it.prefix_router(H, prefix, service, mws)
    dynamic = {"http": {
        "routers": {
            "codes": r("/codes", "app", ["codes"]),
            "net": r("/net", "dead", ["net"]),
            "thr": r("/thr", "app", ["thr"]),
        },
        "services": {"app": it.service(app), "dead": it.service(dead)},
        "middlewares": {
            "codes": {"circuitBreaker": {
                "expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5",
                "checkPeriod": "20ms", "fallbackDuration": "1500ms", "recoveryDuration": "1s"}},
            "net": {"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5",
                                       "checkPeriod": "20ms", "responseCode": 429}},
            "thr": {"circuitBreaker": {
                "expression": "RequestThreshold() > 20 && ResponseCodeRatio(500, 600, 0, 600) > 0.5",
                "checkPeriod": "5ms"}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/codes/ok"))
    g.app = app
    return g


def poll(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("condition never held")


def test_opens_fast_fails_and_recovers(gw):
    app_requests = lambda: gw.app.stats()["app_requests"]  # noqa: E731
    # Failing requests go through until a check (every 20 ms) sees the ratio and opens the
    # breaker; then healthy paths are refused too.
    assert request(gw.port, "/codes/status/500", host=H).status == 500
    poll(lambda: request(gw.port, "/codes/status/500", host=H).status == 503)
    assert request(gw.port, "/codes/ok", host=H).status == 503
    opened = time.monotonic()
    before = app_requests()
    for _ in range(10):
        r = request(gw.port, "/codes/ok", host=H)
        assert r.status == 503
        assert r.body == b"Service Unavailable"
    assert app_requests() == before  # fast-failed: nothing reached the upstream
    # After fallbackDuration requests get through again (recovering, then closed).
    poll(lambda: request(gw.port, "/codes/ok", host=H).status == 200)
    assert time.monotonic() - opened >= 1.4

    def closed():
        return all(request(gw.port, "/codes/ok", host=H).status == 200 for _ in range(20))
    poll(closed)


def test_network_errors_open_it_with_the_configured_code(gw):
    for _ in range(4):
        assert request(gw.port, "/net/x", host=H).status == 502
    r = poll(lambda: (lambda x: x if x.status == 429 else None)(request(gw.port, "/net/x", host=H)))
    assert r.body == b"Too Many Requests"


def test_request_threshold_ignores_a_tiny_sample(gw):
    # Every response fails, but ten requests are below the threshold: checks run (5 ms apart,
    # the requests are slower than that) and the breaker stays closed.
    for _ in range(10):
        assert request(gw.port, "/thr/status/500", host=H).status == 500
        time.sleep(0.01)
    # Past 20 requests in the window the same ratio opens it.
    for _ in range(11):
        assert request(gw.port, "/thr/status/500", host=H).status == 500
    poll(lambda: request(gw.port, "/thr/status/500", host=H).status == 503)
