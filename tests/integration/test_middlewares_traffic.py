"""The traffic-shaping and response middlewares through the binary: contentType, inFlightReq and
rateLimit. Assertions are on what the client receives and what the upstream receives."""

import pytest

import turnpike_it as it
from turnpike_it import request

H = "traffic.test"


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    r = lambda prefix, mws: {"rule": f"Host(`{H}`) && PathPrefix(`{prefix}`)",  # noqa: E731
                             "service": "a", "middlewares": mws}
    dynamic = {"http": {
        "routers": {
            "sniff": r("/sniff", ["sniff"]),
            "nosniff": r("/nosniff", ["nosniff"]),
            "plain": r("/plain", []),
        },
        "services": {"a": it.service(a)},
        "middlewares": {
            "sniff": {"contentType": {}},
            "nosniff": {"contentType": {"autoDetect": False}},
        },
    }}
    return module_env.gateway(dynamic=dynamic, ready=(H, "/plain"))


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

