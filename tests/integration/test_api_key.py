"""The apiKey middleware through the binary, with keys hashed by openssl passwd and htpasswd."""

import subprocess

import pytest

import turnpike_it as it
from turnpike_it import request

H = "apikey.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    apr1 = subprocess.run(["openssl", "passwd", "-apr1", "k-apr1"], capture_output=True,
                          text=True, check=True).stdout.strip()
    bcrypt = subprocess.run(["htpasswd", "-nbB", "-C", "5", "u", "k-bcrypt"], capture_output=True,
                            text=True, check=True).stdout.strip().split(":", 1)[1]
    dynamic = {"http": {
        "routers": {"api": {"rule": f"Host(`{H}`)", "service": "app", "middlewares": ["keys"]}},
        "services": {"app": it.service(app)},
        "middlewares": {"keys": {"apiKey": {
            "keySource": {"header": "X-Api-Key", "query": "key", "cookie": "key"},
            "secretValues": [apr1, bcrypt], "secretNonBase64Encoded": True}}},
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/"))
    g.app = app
    return g


def test_valid_keys_pass_and_are_not_forwarded(gw):
    r = request(gw.port, "/x", host=H, headers=[("X-Api-Key", "k-apr1")])
    assert r.status == 200 and not r.echo.has("X-Api-Key")
    r = request(gw.port, "/x?key=k-bcrypt&keep=1", host=H)
    assert r.status == 200 and r.echo.path == "/x?keep=1"
    r = request(gw.port, "/x", host=H, headers=[("Cookie", "a=b; key=k-bcrypt")])
    assert r.status == 200 and r.echo.header("Cookie") == "a=b"


def test_missing_or_wrong_keys_never_reach_the_upstream(gw):
    before = gw.app.stats()["app_requests"]
    for headers in ([], [("X-Api-Key", "wrong")], [("X-Api-Key", "")]):
        r = request(gw.port, "/x", host=H, headers=headers)
        assert r.status == 401 and r.body == b"Unauthorized"
    assert gw.app.stats()["app_requests"] == before
