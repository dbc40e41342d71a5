"""Middleware state across reloads, through the binary: rateLimit buckets and inFlightReq counts
survive a reload of the file provider that does not touch the middleware (design.md: objects
whose configuration did not change keep their state), and start fresh when its options change."""

import threading

import turnpike_it as it
from turnpike_it import request, wait_until

H = "state.test"


def config(app, slow, burst=2, extra=False):
    r = lambda prefix, svc, mws: {"rule": f"Host(`{H}`) && PathPrefix(`{prefix}`)",  # noqa: E731
                                  "service": svc, "middlewares": mws}
    routers = {
        "limited": r("/limited", "app", ["limit"]),
        "inflight": r("/inflight", "slow", ["inflight"]),
        "plain": r("/plain", "app", []),
    }
    if extra:
        routers["extra"] = {"rule": "Host(`extra.test`)", "service": "app"}
    return {"http": {
        "routers": routers,
        "services": {"app": it.service(app), "slow": it.service(slow)},
        "middlewares": {
            "limit": {"rateLimit": {"average": 1, "period": "1h", "burst": burst,
                                    "sourceCriterion": {"requestHeaderName": "X-Client"}}},
            "inflight": {"inFlightReq": {"amount": 1,
                                         "sourceCriterion": {"requestHeaderName": "X-Tenant"}}},
        },
    }}


def test_limits_survive_an_unrelated_reload_and_reset_when_changed(env):
    app, slow = env.upstream("app"), env.upstream("slow")
    gw = env.gateway(dynamic=config(app, slow), ready=(H, "/plain"))
    client = [("X-Client", "c1")]
    for _ in range(2):
        assert request(gw.port, "/limited/x", host=H, headers=client).status == 200
    assert request(gw.port, "/limited/x", host=H, headers=client).status == 429

    # One request of tenant t1 in flight at the slow upstream.
    before = slow.stats()["app_requests"]
    held = []
    t = threading.Thread(target=lambda: held.append(request(
        gw.port, "/inflight/delay/4000", host=H, headers=[("X-Tenant", "t1")], timeout=15).status))
    t.start()
    assert wait_until(lambda: slow.stats()["app_requests"] - before == 1)

    # Touch an unrelated router: a new snapshot, the middlewares' options unchanged.
    gw.write_dynamic(config(app, slow, extra=True))
    gw.wait_route("extra.test", "/")
    r = request(gw.port, "/limited/x", host=H, headers=client)
    assert r.status == 429, "the reload refilled the bucket"
    assert r.header("Retry-After") is not None
    r = request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t1")])
    assert r.status == 429, "the reload forgot the request in flight"
    assert request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t2")]).status == 200
    t.join()
    assert held == [200]
    # The request in flight on the old snapshot gave its place back to the shared count.
    assert request(gw.port, "/inflight/x", host=H, headers=[("X-Tenant", "t1")]).status == 200

    # Changed options: a new bucket (burst 3), so the client is served again.
    gw.write_dynamic(config(app, slow, burst=3, extra=True))
    assert wait_until(
        lambda: request(gw.port, "/limited/x", host=H, headers=client).status == 200)
