"""The retry middleware through the binary: failed attempts are repeated only when that is safe,
counted at a real upstream (test_upstream's /drop reads the whole request, then closes without
answering: the request reached the application)."""

import pytest

import turnpike_it as it
from turnpike_it import request

H = "retry.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    # Only requests that drop their connection go to this one, so the gateway never holds an idle
    # pooled connection to it (a request on a pooled connection that closes without an answer is
    # re-sent once on a fresh one when it had no body: that would blur the counts).
    dropper = module_env.upstream("dropper")
    dead = it.dead_url()  # nothing listens there: connection refused
    def r(prefix, service, mws):
        return it.prefix_router(H, prefix, service, mws)
    dynamic = {"http": {
        "routers": {
            "retried": r("/retried", "drops", ["retry3"]),
            "statuses": r("/statuses", "app", ["retry-5xx"]),
            "half-dead": r("/half-dead", "half-dead", ["retry3"]),
            "half-dead-bare": r("/bare", "half-dead", []),
        },
        "services": {
            "app": it.service(app),
            "drops": it.service(dropper),
            # The load balancer's own retries are off, so only the middleware retries.
            "half-dead": it.service(dead, app, retry={"attempts": 0}),
        },
        "middlewares": {
            "retry3": {"retry": {"attempts": 3, "initialInterval": "10ms"}},
            "retry-5xx": {"retry": {"attempts": 3, "initialInterval": "10ms", "status": ["503"]}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/statuses/ok"),
                           # one worker: round robin alternates exactly between the two servers
                           static_extra={"core": {"workers": 1}})
    g.app, g.dropper = app, dropper
    return g


def counts(upstream):
    s = upstream.stats()
    return s["app_requests"], s["posts"]


def test_post_whose_body_reached_the_upstream_is_never_sent_twice(gw):
    apps, posts = counts(gw.dropper)
    r = request(gw.port, "/retried/drop", method="POST", host=H, body=b"x" * 5000)
    assert r.status == 502
    assert counts(gw.dropper) == (apps + 1, posts + 1)


def test_idempotent_requests_are_repeated_with_their_body(gw):
    apps, posts = counts(gw.dropper)
    r = request(gw.port, "/retried/drop", host=H)
    assert r.status == 502
    assert counts(gw.dropper) == (apps + 3, posts)
    # PUT with a body: the upstream reads all 5000 bytes each time (it only drops the connection
    # after a complete request), so the body was replayed in full.
    r = request(gw.port, "/retried/drop", method="PUT", host=H, body=b"y" * 5000)
    assert r.status == 502
    assert counts(gw.dropper) == (apps + 6, posts)


def test_listed_statuses_are_retried_for_idempotent_methods_only(gw):
    apps, posts = counts(gw.app)
    r = request(gw.port, "/statuses/status/503", host=H)
    assert r.status == 503  # the last attempt's answer
    assert counts(gw.app)[0] == apps + 3
    r = request(gw.port, "/statuses/status/503", method="POST", host=H, body=b"z")
    assert r.status == 503
    assert counts(gw.app) == (apps + 4, posts + 1)
    r = request(gw.port, "/statuses/status/500", host=H)
    assert r.status == 500
    assert counts(gw.app)[0] == apps + 5


def test_refused_connections_are_retried_for_any_method(gw):
    # Round robin over a dead and a live server: without the middleware every other request
    # fails; with it every request (POST included: nothing reached the dead server) succeeds,
    # and the upstream sees each request exactly once.
    bare = [request(gw.port, "/bare/x", host=H).status for _ in range(6)]
    assert bare.count(502) == 3 and bare.count(200) == 3
    apps, posts = counts(gw.app)
    for i in range(6):
        r = request(gw.port, "/half-dead/x", method="POST", host=H, body=b"p%d" % i)
        assert r.status == 200, r.body
        assert r.echo.method == "POST"
    assert counts(gw.app) == (apps + 6, posts + 6)
