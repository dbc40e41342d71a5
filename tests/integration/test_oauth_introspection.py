"""The oAuthIntrospection middleware through the binary, against a real introspection server
(peers/auth_server.py's RFC 7662 endpoint), which records each request so caching is visible."""

import json
import urllib.parse
import urllib.request

import pytest

import turnpike_it as it
from turnpike_it import request
from upstream_it import Peer

H = "introspect.test"


def recorded(auth):
    with urllib.request.urlopen(f"http://127.0.0.1:{auth.port}/_requests", timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    auth = module_env.group.add(Peer("auth_server.py", [], module_env.workdir, "introspect"))
    url = f"http://127.0.0.1:{auth.port}/introspect"
    def r(prefix, mws):
        return it.prefix_router(H, prefix, "app", mws)
    dynamic = {"http": {
        "routers": {"read": r("/read", ["read"]), "admin": r("/admin", ["admin"])},
        "services": {"app": it.service(app)},
        "middlewares": {
            "read": {"oAuthIntrospection": {
                "clientConfig": {"url": url, "tokenTypeHint": "access_token",
                                 "headers": {"Authorization": "Basic Y2xpZW50OnNlY3JldA=="}},
                "claims": "SplitContains(`scope`, ` `, `read`)",
                "forwardHeaders": {"X-User": "sub"}, "usernameClaim": "sub"}},
            "admin": {"oAuthIntrospection": {
                "clientConfig": {"url": url},
                "tokenSource": {"query": "token"},
                "claims": "SplitContains(`scope`, ` `, `admin`)"}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/read/x"))
    g.auth = auth
    recorded(auth)
    return g


def test_active_token_passes_with_claims_forwarded_and_is_cached(gw):
    hdr = [("Authorization", "Bearer active-token"), ("X-User", "forged")]
    r = request(gw.port, "/read/x", host=H, headers=hdr)
    assert r.status == 200
    assert r.echo.header_all("X-User") == ["alice"]
    (intro,) = recorded(gw.auth)
    assert intro["method"] == "POST" and intro["path"] == "/introspect"
    form = urllib.parse.parse_qs(intro["body"])
    assert form == {"token": ["active-token"], "token_type_hint": ["access_token"]}
    headers = {k.lower(): v for k, v in intro["headers"]}
    assert headers["authorization"] == "Basic Y2xpZW50OnNlY3JldA=="
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    for _ in range(5):
        assert request(gw.port, "/read/x", host=H, headers=hdr).status == 200
    assert recorded(gw.auth) == []  # answered from the cache


def test_inactive_or_missing_token_is_401_and_claims_are_403(gw):
    r = request(gw.port, "/read/x", host=H, headers=[("Authorization", "Bearer revoked")])
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    assert request(gw.port, "/read/x", host=H).status == 401
    # Query token source, and a scope the token lacks.
    assert request(gw.port, "/admin/x?token=active-token", host=H).status == 403
    assert request(gw.port, "/admin/x?token=other", host=H).status == 401
    recorded(gw.auth)
