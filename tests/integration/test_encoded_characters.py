"""The encodedCharacters middleware through the binary: encoded path syntax is refused with 400
before the upstream sees it, unless allowed."""

import pytest

import turnpike_it as it
from turnpike_it import request

H = "enc.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    def r(prefix, mws):
        return it.prefix_router(H, prefix, "app", mws)
    dynamic = {"http": {
        "routers": {"strict": r("/strict", ["strict"]), "slash": r("/slash", ["slash"]),
                    "open": r("/open", [])},
        "services": {"app": it.service(app)},
        "middlewares": {"strict": {"encodedCharacters": {}},
                        "slash": {"encodedCharacters": {"allowEncodedSlash": True}}},
    }}
    # The entrypoint lets every encoded character through (Traefik's default; Turnpike's own
    # default refuses them all at the entrypoint), so the middleware decides per router.
    allow = {k: True for k in ("allowEncodedSlash", "allowEncodedBackSlash",
                               "allowEncodedNullCharacter", "allowEncodedSemicolon",
                               "allowEncodedPercent", "allowEncodedQuestionMark",
                               "allowEncodedHash")}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/strict/x"),
                           entrypoints={"web": {"http": {"encodedCharacters": allow}}})
    g.app = app
    return g


def test_encoded_path_syntax_is_refused(gw):
    before = gw.app.stats()["app_requests"]
    for enc in ("%2F", "%2f", "%5C", "%3B", "%25", "%3F", "%23"):
        r = request(gw.port, f"/strict/a{enc}b", host=H)
        assert r.status == 400, enc
        assert r.body == b"Bad Request"
    assert gw.app.stats()["app_requests"] == before
    r = request(gw.port, "/strict/a%20b?q=%2F", host=H)
    assert r.status == 200
    # Without the middleware the entrypoint lets them through.
    assert request(gw.port, "/open/a%2Fb", host=H).status == 200


def test_allowed_sequences_pass_and_reach_the_upstream_encoded(gw):
    r = request(gw.port, "/slash/a%2Fb", host=H)
    assert r.status == 200
    assert r.echo.path == "/slash/a%2Fb"
    assert request(gw.port, "/slash/a%3Bb", host=H).status == 400
