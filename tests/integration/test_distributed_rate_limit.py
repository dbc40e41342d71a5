"""Redis-backed rate limits through the binary: two gateway instances share one real
redis-server (kv_rig). rateLimit with Traefik's `redis` section and Traefik Hub's
distributedRateLimit draw from one bucket per source across both instances; with Redis stopped,
denyOnError decides (distributedRateLimit) or the request gets Traefik's 500 (rateLimit); with
Redis back, both recover by themselves."""


import pytest

import kv_rig
import turnpike_it as it
from turnpike_it import request, wait_until

H = "drl.test"


@pytest.fixture(scope="module")
def rig(module_env, tmp_path_factory):
    if not kv_rig.available("redis"):
        pytest.skip("redis-server is not installed")
    store = kv_rig.Redis(tmp_path_factory.mktemp("redis"))
    app = module_env.upstream("app")
    redis = {"endpoints": [store.endpoint]}
    r = lambda prefix, mws: {"rule": f"Host(`{H}`) && PathPrefix(`{prefix}`)",  # noqa: E731
                             "service": "app", "middlewares": mws}
    by_client = {"requestHeaderName": "X-Client"}
    dynamic = {"http": {
        "routers": {
            "hub": r("/hub", ["hub"]),
            "open": r("/open", ["open"]),
            "traefik": r("/traefik", ["traefik"]),
            "plain": r("/plain", []),
        },
        "services": {"app": it.service(app)},
        "middlewares": {
            "hub": {"distributedRateLimit": {
                "limit": 5, "period": "1h", "burst": 5, "denyOnError": True,
                "responseHeaders": True, "sourceCriterion": by_client,
                "store": {"redis": {**redis, "timeout": "500ms"}}}},
            "open": {"distributedRateLimit": {
                "limit": 1, "period": "1h", "sourceCriterion": by_client,
                "store": {"redis": {**redis, "timeout": "500ms"}}}},
            "traefik": {"rateLimit": {
                "average": 3, "period": "1h", "burst": 3, "sourceCriterion": by_client,
                "redis": {**redis, "readTimeout": "500ms", "writeTimeout": "500ms",
                          "dialTimeout": "500ms"}}},
        },
    }}
    gws = [module_env.gateway(dynamic=dynamic, ready=(H, "/plain")) for _ in range(2)]
    yield store, gws, app
    store.stop()


def spread(gws, path, client, n):
    """n requests alternating between the gateways; the responses in order."""
    return [request(gws[i % 2].port, path, host=H, headers=[("X-Client", client)])
            for i in range(n)]


def test_distributed_rate_limit_is_shared_by_both_instances(rig):
    store, gws, app = rig
    before = app.stats()["app_requests"]
    out = spread(gws, "/hub/x", "shared", 12)
    statuses = [r.status for r in out]
    assert statuses.count(200) == 5, statuses  # the limit, not 5 per instance
    assert statuses[:5] == [200] * 5
    assert app.stats()["app_requests"] - before == 5
    assert [r.header("X-RateLimit-Remaining") for r in out[:5]] == ["4", "3", "2", "1", "0"]
    refused = out[5]
    assert refused.status == 429 and refused.body == b"Too Many Requests"
    assert int(refused.header("Retry-After")) > 600  # 5 per hour: the next token is ~12 min away
    # The bucket is in Redis, under the middleware's name and the source.
    assert "turnpike:ratelimit:hub@file:shared" in store.keys("turnpike:ratelimit:")
    # Another source has its own bucket.
    assert request(gws[1].port, "/hub/x", host=H, headers=[("X-Client", "other")]).status == 200


def test_rate_limit_redis_section_is_shared_by_both_instances(rig):
    _, gws, _ = rig
    out = spread(gws, "/traefik/x", "t-shared", 8)
    statuses = [r.status for r in out]
    assert statuses == [200] * 3 + [429] * 5, statuses
    assert out[3].header("Retry-After") is not None
    assert out[3].header("X-Retry-In").endswith("s")


def test_redis_down_then_back(rig):
    store, gws, _ = rig
    store.stop()
    try:
        for gw in gws:
            # denyOnError: true refuses; the default lets requests through; rateLimit answers
            # Traefik's 500.
            r = request(gw.port, "/hub/x", host=H, headers=[("X-Client", "down")])
            assert r.status == 503
            for _ in range(3):  # above its limit of 1: nothing is counted while Redis is down
                r = request(gw.port, "/open/x", host=H, headers=[("X-Client", "down")])
                assert r.status == 200
            r = request(gw.port, "/traefik/x", host=H, headers=[("X-Client", "down")])
            assert r.status == 500
            assert r.body == b"Could not insert/update bucket"
    finally:
        store.start()
    # Back: the clients reconnect by themselves (test_restart_fails_no_request: without failing a
    # request), and limits apply again.
    for n, gw in enumerate(gws):
        gw.wait_route(H, "/hub/x", predicate=lambda r: r.status == 200)
        gw.wait_route(H, "/traefik/x", predicate=lambda r: r.status == 200)
        probe = [("X-Client", f"probe{n}")]  # fail-open: served until Redis counts it
        assert wait_until(lambda: request(gw.port, "/open/x", host=H, headers=probe).status == 429)
    statuses = [r.status for r in spread(gws, "/open/x", "after", 3)]
    assert statuses == [200, 429, 429], statuses
    statuses = [r.status for r in spread(gws, "/traefik/x", "after", 4)]
    assert statuses == [200] * 3 + [429], statuses


def test_restart_fails_no_request(rig):
    """Connections pooled before a Redis restart are all dead after it: the first request after
    the restart must not pay for them (it reconnects), with or without denyOnError."""
    store, gws, _ = rig
    from concurrent.futures import ThreadPoolExecutor
    gw = gws[0]
    # Fill the client's pool: concurrent requests leave several idle connections behind.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: request(gw.port, "/hub/x", host=H,
                                        headers=[("X-Client", f"warm{i}")]).status, range(32)))
    store.stop()
    store.start()
    for n in range(4):  # denyOnError: true would answer 503 on a stale connection
        r = request(gw.port, "/hub/x", host=H, headers=[("X-Client", f"restarted{n}")])
        assert r.status == 200, (n, r.status, r.body)
        r = request(gw.port, "/traefik/x", host=H, headers=[("X-Client", f"restarted{n}")])
        assert r.status == 200, (n, r.status, r.body)
