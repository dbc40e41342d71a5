"""The forwardAuth middleware through the binary, against a real auth server process
(peers/auth_server.py) and a real upstream."""

import json
import urllib.request

import pytest

import turnpike_it as it
from turnpike_it import request
from upstream_it import Peer

H = "fwd.test"


def auth_requests(auth):
    with urllib.request.urlopen(f"http://127.0.0.1:{auth.port}/_requests", timeout=5) as r:
        return json.loads(r.read())


def header(req, name):
    for k, v in req["headers"]:
        if k.lower() == name.lower():
            return v
    return None


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    auth = module_env.group.add(Peer("auth_server.py", [], module_env.workdir, "auth"))
    address = f"http://127.0.0.1:{auth.port}/verify?x=1"
    def r(prefix, mws):
        return it.prefix_router(H, prefix, "app", mws)
    dynamic = {"http": {
        "routers": {
            "plain": r("/plain", ["plain"]),
            "full": r("/full", ["full"]),
            "body": r("/body", ["body"]),
            "trust": r("/trust", ["trust"]),
            "down": r("/down", ["down"]),
        },
        "services": {"app": it.service(app)},
        "middlewares": {
            "plain": {"forwardAuth": {"address": address}},
            "full": {"forwardAuth": {
                "address": address,
                "authResponseHeaders": ["X-Auth-User"],
                "authResponseHeadersRegex": "^X-Auth-R",
                "authRequestHeaders": ["Authorization", "X-Keep"],
                "addAuthCookiesToResponse": ["auth_session"],
                "preserveLocationHeader": True,
                "headerField": "X-Auth-User"}},
            "body": {"forwardAuth": {"address": address, "forwardBody": True, "maxBodySize": 20,
                                     "preserveRequestMethod": True}},
            "trust": {"forwardAuth": {"address": address, "trustForwardHeader": True}},
            "down": {"forwardAuth": {"address": f"http://127.0.0.1:{it.free_port()}/verify"}},
        },
    }}
    # The entrypoint keeps the client's X-Forwarded-* so that trustForwardHeader has something to
    # trust (without it the entrypoint replaces them, as Traefik's does).
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/plain/x"),
                           entrypoints={"web": {"forwardedHeaders": {"insecure": True}}})
    g.auth, g.app = auth, app
    auth_requests(auth)  # drop the readiness probes
    return g


def test_granted_request_reaches_the_upstream_and_auth_sees_x_forwarded(gw):
    r = request(gw.port, "/plain/some/path?q=2", method="PUT", host=H, body=b"payload",
                headers=[("Authorization", "Bearer good"), ("X-Forwarded-Method", "FAKE")])
    assert r.status == 200
    assert r.echo.path == "/plain/some/path?q=2"
    assert r.echo.body_length == 7
    # Without authResponseHeaders nothing of the auth answer is copied.
    assert not r.echo.has("X-Auth-User")
    (a,) = auth_requests(gw.auth)
    assert a["method"] == "GET"
    assert a["path"] == "/verify?x=1"
    assert a["body"] == ""
    assert header(a, "Host") == f"127.0.0.1:{gw.auth.port}"
    assert header(a, "Authorization") == "Bearer good"
    assert header(a, "X-Forwarded-Method") == "PUT"  # the client's value is not trusted
    assert header(a, "X-Forwarded-Proto") == "http"
    assert header(a, "X-Forwarded-Host") == H
    assert header(a, "X-Forwarded-Uri") == "/plain/some/path?q=2"
    assert header(a, "X-Forwarded-For") == "127.0.0.1"


def test_refused_request_gets_the_auth_answer_and_never_reaches_the_upstream(gw):
    before = gw.app.stats()["app_requests"]
    r = request(gw.port, "/plain/x", host=H, headers=[("Authorization", "Bearer bad")])
    assert r.status == 401
    assert r.body == b"denied by auth server"
    assert r.header("WWW-Authenticate") == 'Bearer realm="test"'
    # A relative Location is resolved against the auth address unless preserved.
    r = request(gw.port, "/plain/x", host=H, headers=[("Authorization", "Bearer redirect")])
    assert r.status == 302
    assert r.header("Location") == f"http://127.0.0.1:{gw.auth.port}/login?next=1"
    r = request(gw.port, "/full/x", host=H, headers=[("Authorization", "Bearer redirect")])
    assert r.header("Location") == "/login?next=1"
    assert gw.app.stats()["app_requests"] == before
    auth_requests(gw.auth)


def test_response_headers_request_headers_and_cookies(gw):
    r = request(gw.port, "/full/x", host=H,
                headers=[("Authorization", "Bearer good"), ("X-Keep", "k"), ("X-Drop", "d"),
                         ("X-Auth-Role", "forged"), ("X-Auth-User", "forged")])
    assert r.status == 200
    assert r.echo.header_all("X-Auth-User") == ["alice"]
    assert r.echo.header_all("X-Auth-Role") == ["admin"]  # by the regex, the forged one removed
    assert not r.echo.has("X-Auth-Extra")
    cookies = [v for k, v in r.headers if k.lower() == "set-cookie"]
    assert cookies == ["auth_session=s1; Path=/"]
    (a,) = auth_requests(gw.auth)
    assert header(a, "X-Keep") == "k"
    assert header(a, "X-Drop") is None


def test_forward_body_and_max_body_size(gw):
    r = request(gw.port, "/body/x", method="POST", host=H, body=b"secret-body",
                headers=[("Authorization", "Bearer body")])
    assert r.status == 200
    assert r.echo.body_length == 11  # the upstream still gets the body
    (a,) = auth_requests(gw.auth)
    assert a["method"] == "POST" and a["body"] == "secret-body"
    r = request(gw.port, "/body/x", method="POST", host=H, body=b"wrong-body",
                headers=[("Authorization", "Bearer body")])
    assert r.status == 401
    r = request(gw.port, "/body/x", method="POST", host=H, body=b"x" * 21,
                headers=[("Authorization", "Bearer body")])
    assert r.status == 401
    auth_requests(gw.auth)


def test_trust_forward_header_keeps_the_clients_values(gw):
    r = request(gw.port, "/trust/x", host=H,
                headers=[("Authorization", "Bearer good"), ("X-Forwarded-Uri", "/original"),
                         ("X-Forwarded-For", "203.0.113.9")])
    assert r.status == 200
    (a,) = auth_requests(gw.auth)
    assert header(a, "X-Forwarded-Uri") == "/original"
    assert header(a, "X-Forwarded-For").startswith("203.0.113.9")


def test_unreachable_auth_server_is_500(gw):
    r = request(gw.port, "/down/x", host=H, headers=[("Authorization", "Bearer good")])
    assert r.status == 500
