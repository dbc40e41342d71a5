"""Middlewares through the binary: stripPrefix, addPrefix, replacePath, headers, basicAuth,
ipAllowList, redirectScheme and chain. Assertions are on what the client receives and what the
upstream receives."""

import base64
import shutil
import subprocess

import pytest

import turnpike_it as it
from turnpike_it import request

USER, PASSWORD = "alice", "s3cret-pass"


def htpasswd_bcrypt(user: str, password: str) -> str:
    exe = shutil.which("htpasswd")
    if not exe:
        pytest.skip("htpasswd (apache2-utils) not installed")
    out = subprocess.run([exe, "-nbB", user, password], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def basic(user, password):
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    r = lambda rule, mws: {"rule": rule, "service": "a", "middlewares": mws}  # noqa: E731
    dynamic = {"http": {
        "routers": {
            "strip": r("Host(`mw.test`) && PathPrefix(`/strip`)", ["strip"]),
            "add": r("Host(`mw.test`) && PathPrefix(`/add`)", ["add"]),
            "replace": r("Host(`mw.test`) && Path(`/replace`)", ["replace"]),
            "headers": r("Host(`mw.test`) && PathPrefix(`/headers`)", ["hdrs"]),
            "auth": r("Host(`mw.test`) && PathPrefix(`/auth`)", ["auth"]),
            "allow": r("Host(`mw.test`) && PathPrefix(`/allow`)", ["allow"]),
            "redirect": r("Host(`redir.test`)", ["to-https"]),
            "redirect-temp": r("Host(`redir-temp.test`)", ["to-https-temp"]),
            "chain": r("Host(`mw.test`) && PathPrefix(`/chain`)", ["the-chain"]),
        },
        "services": {"a": it.service(a)},
        "middlewares": {
            "strip": {"stripPrefix": {"prefixes": ["/strip"]}},
            "add": {"addPrefix": {"prefix": "/api"}},
            "replace": {"replacePath": {"path": "/replaced"}},
            "hdrs": {"headers": {
                "customRequestHeaders": {"X-Script-Name": "test", "X-Drop-Me": ""},
                "customResponseHeaders": {"X-Custom-Response": "yes", "X-Upstream-Name": ""},
            }},
            "auth": {"basicAuth": {"users": [htpasswd_bcrypt(USER, PASSWORD)]}},
            "allow": {"ipAllowList": {"sourceRange": ["127.0.0.2/32", "127.0.1.0/24"]}},
            "to-https": {"redirectScheme": {"scheme": "https", "permanent": True}},
            "to-https-temp": {"redirectScheme": {"scheme": "https"}},
            "chain-add": {"addPrefix": {"prefix": "/c"}},
            "chain-hdr": {"headers": {"customRequestHeaders": {"X-Chain": "1"}}},
            "the-chain": {"chain": {"middlewares": ["chain-add", "chain-hdr"]}},
        },
    }}
    return module_env.gateway(dynamic=dynamic, ready=("mw.test", "/strip/"))


def test_strip_prefix(gw):
    r = request(gw.port, "/strip/foo/bar?x=1", host="mw.test")
    assert r.status == 200
    assert r.echo.path == "/foo/bar?x=1"
    assert r.echo.header_all("X-Forwarded-Prefix") == ["/strip"]
    r = request(gw.port, "/strip", host="mw.test")
    assert r.status == 200
    assert r.echo.path == "/"


def test_add_prefix(gw):
    r = request(gw.port, "/add/x?y=2", host="mw.test")
    assert r.status == 200
    assert r.echo.path == "/api/add/x?y=2"


def test_replace_path(gw):
    r = request(gw.port, "/replace?q=1", host="mw.test")
    assert r.status == 200
    assert r.echo.path == "/replaced?q=1"
    assert r.echo.header_all("X-Replaced-Path") == ["/replace"]


def test_custom_request_and_response_headers(gw):
    r = request(gw.port, "/headers", host="mw.test", headers=[("X-Drop-Me", "please")])
    assert r.status == 200
    assert r.echo.header_all("X-Script-Name") == ["test"]
    assert not r.echo.has("X-Drop-Me")  # an empty value removes the header
    assert r.header("X-Custom-Response") == "yes"
    assert r.header("X-Upstream-Name") is None  # removed from the response


def test_basic_auth(gw):
    r = request(gw.port, "/auth", host="mw.test")
    assert r.status == 401
    assert (r.header("WWW-Authenticate") or "").startswith("Basic realm=")
    r = request(gw.port, "/auth", host="mw.test", headers=[basic(USER, "wrong")])
    assert r.status == 401
    r = request(gw.port, "/auth", host="mw.test", headers=[basic("mallory", PASSWORD)])
    assert r.status == 401
    r = request(gw.port, "/auth/x", host="mw.test", headers=[basic(USER, PASSWORD)])
    assert r.status == 200
    assert r.echo.path == "/auth/x"


def test_basic_auth_rejection_never_reaches_the_upstream(gw):
    r = request(gw.port, "/auth", host="mw.test")
    assert r.status == 401
    assert b'"name"' not in r.body  # the body is the gateway's, not an upstream echo


def test_ip_allow_list(gw):
    assert request(gw.port, "/allow", host="mw.test", source="127.0.0.3").status == 403
    assert request(gw.port, "/allow", host="mw.test", source="127.0.0.1").status == 403
    assert request(gw.port, "/allow", host="mw.test", source="127.0.0.2").status == 200
    assert request(gw.port, "/allow", host="mw.test", source="127.0.1.9").status == 200
    # X-Forwarded-For from an untrusted peer does not help
    r = request(gw.port, "/allow", host="mw.test", source="127.0.0.3",
                headers=[("X-Forwarded-For", "127.0.0.2")])
    assert r.status == 403


def test_redirect_scheme_permanent(gw):
    r = request(gw.port, "/some/path?x=1", host="redir.test")
    assert r.status == 301
    assert r.header("Location") == "https://redir.test/some/path?x=1"


def test_redirect_scheme_temporary(gw):
    r = request(gw.port, "/p", host="redir-temp.test")
    assert r.status == 302
    assert r.header("Location") == "https://redir-temp.test/p"


def test_chain_applies_middlewares_in_order(gw):
    r = request(gw.port, "/chain/x", host="mw.test")
    assert r.status == 200
    assert r.echo.path == "/c/chain/x"
    assert r.echo.header_all("X-Chain") == ["1"]
