"""The buffering middleware through the binary: request limits (413 before the upstream sees
anything), chunked uploads delivered with a length, whole responses with a length, response
limits, and retryExpression against a real failing upstream."""

import pytest

import turnpike_it as it
from turnpike_it import pattern_bytes, request, sha256

H = "buffering.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    dead = it.dead_url()
    def r(prefix, service, mws):
        return it.prefix_router(H, prefix, service, mws)
    dynamic = {"http": {
        "routers": {
            "limited": r("/limited", "app", ["limits"]),
            "spooled": r("/spooled", "app", ["spool"]),
            "retried": r("/retried", "half-dead", ["retry-expr"]),
            "bare": r("/bare", "half-dead", []),
        },
        "services": {
            "app": it.service(app),
            "half-dead": it.service(dead, app, retry={"attempts": 0}),
        },
        "middlewares": {
            "limits": {"buffering": {"maxRequestBodyBytes": 4000, "maxResponseBodyBytes": 50000}},
            "spool": {"buffering": {"memRequestBodyBytes": 1000, "memResponseBodyBytes": 1000}},
            "retry-expr": {"buffering": {"retryExpression": "IsNetworkError() && Attempts() < 2"}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/limited/ok"),
                           # one worker: round robin alternates exactly between the two servers
                           static_extra={"core": {"workers": 1}})
    g.app = app
    return g


def test_request_over_the_limit_is_413_and_never_reaches_the_upstream(gw):
    before = gw.app.stats()["app_requests"]
    r = request(gw.port, "/limited/x", method="POST", host=H, body=b"a" * 4001)
    assert r.status == 413
    assert r.body == b"Request Entity Too Large"
    # Chunked: refused once the body passes the limit.
    r = request(gw.port, "/limited/x", method="POST", host=H, body=iter([b"b" * 3000, b"b" * 3000]))
    assert r.status == 413
    assert gw.app.stats()["app_requests"] == before
    r = request(gw.port, "/limited/x", method="POST", host=H, body=b"a" * 4000)
    assert r.status == 200
    assert r.echo.body_length == 4000


def test_chunked_upload_reaches_the_upstream_with_a_content_length(gw):
    data = pattern_bytes(300000)
    r = request(gw.port, "/spooled/x", method="POST", host=H,
                body=iter([data[i:i + 7000] for i in range(0, len(data), 7000)]))
    assert r.status == 200
    assert r.echo.body_length == len(data)
    assert r.echo.body_sha256 == sha256(data)
    assert r.echo.header("Content-Length") == str(len(data))
    assert not r.echo.has("Transfer-Encoding")


def test_streamed_response_is_sent_whole_with_its_length(gw):
    r = request(gw.port, "/spooled/chunked/200000?chunk=3000", host=H)
    assert r.status == 200
    assert r.header("Content-Length") == "200000"
    assert r.header("Transfer-Encoding") is None
    assert r.body == pattern_bytes(200000)


def test_response_over_the_limit_becomes_500(gw):
    r = request(gw.port, "/limited/bytes/50001", host=H)
    assert r.status == 500
    assert r.body == b"Internal Server Error"
    r = request(gw.port, "/limited/bytes/50000", host=H)
    assert r.status == 200 and len(r.body) == 50000


def test_retry_expression_repeats_network_failures(gw):
    # Round robin over a dead and a live server, the balancer's own retries off: without the
    # middleware every other request fails; with it the failed attempt is repeated once.
    bare = [request(gw.port, "/bare/x", host=H).status for _ in range(4)]
    assert sorted(bare) == [200, 200, 502, 502]
    before = gw.app.stats()["posts"]
    for i in range(4):
        r = request(gw.port, "/retried/x", method="POST", host=H, body=b"body%d" % i)
        assert r.status == 200
        assert r.echo.body_length == 5
    assert gw.app.stats()["posts"] == before + 4
