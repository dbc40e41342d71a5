"""Routing through the binary: rule matchers, priorities, 404, entrypoints and asDefault.

Each route leads to a different test_upstream (a, b, c); the upstream's echo says which one
answered, so every assertion is on what a user sees.
"""

import pytest

import turnpike_it as it
from turnpike_it import request


@pytest.fixture(scope="module")
def gw(module_env):
    a, b, c = (module_env.upstream(n) for n in ("a", "b", "c"))
    r = lambda rule, svc, **kw: {"rule": rule, "service": svc, **kw}  # noqa: E731
    dynamic = {
        "http": {
            "routers": {
                "host-a": r("Host(`a.test`)", "svc-a"),
                "prefix": r("Host(`p.test`) && PathPrefix(`/prefix`)", "svc-b"),
                "exact": r("Host(`p.test`) && Path(`/exact`)", "svc-c"),
                "method-any": r("Host(`m.test`)", "svc-a"),
                "method-post": r("Host(`m.test`) && Method(`POST`)", "svc-b"),
                "header-any": r("Host(`h.test`)", "svc-a"),
                "header-canary": r("Host(`h.test`) && Header(`X-Env`, `canary`)", "svc-b"),
                "query-any": r("Host(`q.test`)", "svc-a"),
                "query-v2": r("Host(`q.test`) && Query(`v`, `2`)", "svc-b"),
                "query-flag": r("Host(`q.test`) && Query(`mobile`)", "svc-c"),
                "regexp": r("HostRegexp(`^[a-z]+\\.regexp\\.test$`)", "svc-c"),
                "ip-any": r("Host(`ip.test`)", "svc-a"),
                "ip-two": r("Host(`ip.test`) && ClientIP(`127.0.0.2`)", "svc-b"),
                "ip-net": r("Host(`ip.test`) && ClientIP(`127.0.1.0/24`)", "svc-c"),
                "or-not": r("Host(`bool.test`) && (Path(`/x`) || Path(`/y`)) && !Method(`DELETE`)",
                            "svc-b"),
                # Priority: by default the longer rule wins ...
                "len-short": r("Host(`len.test`)", "svc-a"),
                "len-long": r("Host(`len.test`) && PathPrefix(`/api`)", "svc-b"),
                # ... and an explicit priority beats rule length.
                "prio-high": r("Host(`prio.test`)", "svc-c", priority=1000),
                "prio-long": r("Host(`prio.test`) && PathPrefix(`/long/path/here`)", "svc-b"),
                "prio-low": r("Host(`low.test`) && PathPrefix(`/`)", "svc-a", priority=1),
                "prio-low2": r("Host(`low.test`)", "svc-b", priority=2),
                # Entry points: explicit lists, and asDefault for routers without a list.
                "ep-web": r("Host(`ep.test`)", "svc-a", entryPoints=["web"]),
                "ep-admin": r("Host(`ep.test`)", "svc-b", entryPoints=["admin"]),
                "ep-both": r("Host(`both.test`)", "svc-c", entryPoints=["web", "admin"]),
                "ep-default": r("Host(`default.test`)", "svc-a"),
            },
            "services": {
                "svc-a": it.service(a),
                "svc-b": it.service(b),
                "svc-c": it.service(c),
            },
        }
    }
    return module_env.gateway(
        entrypoints={"web": {"asDefault": True}, "admin": {}},
        dynamic=dynamic, ready=("default.test", "/"))


def who(gw, host, path="/", port=None, **kw):
    r = request(port or gw.port, path, host=host, **kw)
    assert r.status == 200, (host, path, r.status, r.body[:200])
    return r.echo.name


def test_host_matches_case_insensitively_and_ignores_port(gw):
    assert who(gw, "a.test") == "a"
    assert who(gw, "A.TEST") == "a"
    assert who(gw, f"a.test:{gw.port}") == "a"
    assert who(gw, "a.test.") == "a"  # one trailing dot tolerated


def test_path_prefix_and_path(gw):
    assert who(gw, "p.test", "/prefix") == "b"
    assert who(gw, "p.test", "/prefix/deeper?q=1") == "b"
    assert who(gw, "p.test", "/prefixed-too") == "b"  # plain string prefix, as Traefik
    assert who(gw, "p.test", "/exact") == "c"
    assert request(gw.port, "/exact/", host="p.test").status == 404
    assert request(gw.port, "/other", host="p.test").status == 404


def test_upstream_receives_the_path_and_query_unchanged(gw):
    r = request(gw.port, "/prefix/a/b?x=1&y=%20z", host="p.test")
    assert r.status == 200
    assert r.echo.path == "/prefix/a/b?x=1&y=%20z"
    assert r.echo.method == "GET"


def test_method(gw):
    assert who(gw, "m.test", method="GET") == "a"
    assert who(gw, "m.test", method="POST", body=b"x") == "b"
    assert who(gw, "m.test", method="PUT", body=b"x") == "a"


def test_header(gw):
    assert who(gw, "h.test") == "a"
    assert who(gw, "h.test", headers=[("X-Env", "canary")]) == "b"
    assert who(gw, "h.test", headers=[("x-env", "canary")]) == "b"  # names case-insensitive
    assert who(gw, "h.test", headers=[("X-Env", "Canary")]) == "a"  # values case-sensitive


def test_query(gw):
    assert who(gw, "q.test", "/") == "a"
    assert who(gw, "q.test", "/?v=2") == "b"
    assert who(gw, "q.test", "/?a=1&v=2") == "b"
    assert who(gw, "q.test", "/?v=3") == "a"
    assert who(gw, "q.test", "/?mobile") == "c"


def test_host_regexp(gw):
    assert who(gw, "abc.regexp.test") == "c"
    assert who(gw, "ABC.regexp.test") == "c"  # matched on the lower-cased host
    assert request(gw.port, "/", host="a1.regexp.test").status == 404


def test_client_ip(gw):
    assert who(gw, "ip.test", source="127.0.0.2") == "b"
    assert who(gw, "ip.test", source="127.0.0.3") == "a"
    assert who(gw, "ip.test", source="127.0.1.7") == "c"
    # never taken from X-Forwarded-For
    assert who(gw, "ip.test", source="127.0.0.3", headers=[("X-Forwarded-For", "127.0.0.2")]) == "a"


def test_boolean_operators(gw):
    assert who(gw, "bool.test", "/x") == "b"
    assert who(gw, "bool.test", "/y") == "b"
    assert request(gw.port, "/z", host="bool.test").status == 404
    assert request(gw.port, "/x", method="DELETE", host="bool.test").status == 404


def test_longer_rule_wins_by_default(gw):
    assert who(gw, "len.test", "/") == "a"
    assert who(gw, "len.test", "/api/v1") == "b"


def test_explicit_priority_wins(gw):
    # prio-high (priority 1000) beats the longer rule
    assert who(gw, "prio.test", "/long/path/here") == "c"
    # priority 2 beats priority 1 although the latter's rule is longer
    assert who(gw, "low.test", "/") == "b"


def test_no_match_is_404_page_not_found(gw):
    r = request(gw.port, "/", host="nothing.test")
    assert r.status == 404
    assert r.body == b"404 page not found\n"


def test_router_entrypoints(gw):
    assert who(gw, "ep.test", port=gw.ports["web"]) == "a"
    assert who(gw, "ep.test", port=gw.ports["admin"]) == "b"
    assert who(gw, "both.test", port=gw.ports["web"]) == "c"
    assert who(gw, "both.test", port=gw.ports["admin"]) == "c"


def test_as_default_entrypoint(gw):
    # Routers without entryPoints attach only to the asDefault entry point (web).
    assert who(gw, "default.test", port=gw.ports["web"]) == "a"
    r = request(gw.ports["admin"], "/", host="default.test")
    assert r.status == 404
    assert r.body == b"404 page not found\n"
