"""The digestAuth middleware through the binary, with curl --digest as the client."""

import subprocess

import pytest

import turnpike_it as it
from turnpike_it import request

H = "digest.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    users = module_env.workdir / "htdigest"
    users.write_text("# user:realm:md5\ntest:traefik:a2688e031edb4be6a3797f3882655c05\n")
    dynamic = {"http": {
        "routers": {"r": {"rule": f"Host(`{H}`)", "service": "app", "middlewares": ["digest"]}},
        "services": {"app": it.service(app)},
        "middlewares": {"digest": {"digestAuth": {"usersFile": str(users), "headerField": "X-User",
                                                  "removeHeader": True}}},
    }}
    return module_env.gateway(dynamic=dynamic, ready=(H, "/"))


def curl(gw, user):
    return subprocess.run(["curl", "-s", "--digest", "-u", user, "-H", f"Host: {H}",
                           "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{gw.port}/p?q=1"],
                          capture_output=True, text=True, timeout=20).stdout


def test_curl_digest_authenticates(gw):
    out = curl(gw, "test:test")
    body, status = out.rsplit("\n", 1)
    assert status == "200"
    assert '"X-User","test"' in body.replace(" ", "")
    assert '"Authorization"' not in body  # removeHeader


def test_wrong_password_and_no_credentials(gw):
    assert curl(gw, "test:nope").rsplit("\n", 1)[1] == "401"
    r = request(gw.port, "/", host=H)
    assert r.status == 401
    assert r.header("WWW-Authenticate").startswith('Digest realm="traefik", nonce="')


def test_replayed_authorization_is_refused(gw):
    """A captured request replayed as is (same nonce and nonce count) is refused with
    stale=true; curl's own request, once, was served."""
    out = subprocess.run(["curl", "-sv", "--digest", "-u", "test:test", "-H", f"Host: {H}",
                          "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://127.0.0.1:{gw.port}/p?q=1"],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "200"
    sent = [line[len("> Authorization: "):].strip() for line in out.stderr.splitlines()
            if line.startswith("> Authorization: Digest")]
    assert len(sent) == 1 and "nc=00000001" in sent[0], out.stderr
    r = request(gw.port, "/p?q=1", host=H, headers=[("Authorization", sent[0])])
    assert r.status == 401
    assert "stale=true" in r.header("WWW-Authenticate")
