"""WebSocket through the gateway, and the upgrade-smuggling defences of security.md section 4
(test plan T-H2): no tunnel unless the upstream answers 101, and `Upgrade: h2c` is never
forwarded."""

import os

import pytest

import turnpike_it as it
from turnpike_it import RawConn, ws_accept, ws_frame, ws_key, ws_read_frame, ws_upgrade_request


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("ws", record=True)
    dynamic = {"http": {
        "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "ws"}},
        "services": {"ws": it.service(a)},
    }}
    g = module_env.gateway(dynamic=dynamic, ready=("ws.test", "/"))
    g.upstream = a
    return g


def test_websocket_upgrade_and_echo(gw):
    key = ws_key()
    with RawConn(gw.port) as c:
        c.send(ws_upgrade_request("/ws", "ws.test", key))
        r = c.read_response()
        assert r.status == 101
        assert r.header("Upgrade").lower() == "websocket"
        assert "upgrade" in r.header("Connection").lower()
        assert r.header("Sec-WebSocket-Accept") == ws_accept(key)
        for payload in (b"hello", os.urandom(200), os.urandom(70000), b""):
            opcode = 0x1 if payload == b"hello" else 0x2
            c.send(ws_frame(payload, opcode))
            op, fin, got = ws_read_frame(c)
            assert (op, fin, got) == (opcode, True, payload)
        c.send(ws_frame(b"ping!", 0x9))
        assert ws_read_frame(c) == (0xA, True, b"ping!")
        c.send(ws_frame(b"\x03\xe8", 0x8))
        assert ws_read_frame(c) == (0x8, True, b"\x03\xe8")
        assert c.closed_within(3)


def test_websocket_many_small_frames_in_one_write(gw):
    key = ws_key()
    with RawConn(gw.port) as c:
        c.send(ws_upgrade_request("/ws", "ws.test", key))
        assert c.read_response().status == 101
        msgs = [f"m{i}".encode() for i in range(100)]
        c.send(b"".join(ws_frame(m) for m in msgs))
        for m in msgs:
            assert ws_read_frame(c) == (0x1, True, m)


def test_upgrade_headers_reach_the_upstream_for_websocket(gw):
    before = gw.upstream.recorded_size()
    key = ws_key()
    with RawConn(gw.port) as c:
        c.send(ws_upgrade_request("/ws", "ws.test", key))
        assert c.read_response().status == 101
    head = gw.upstream.recorded()[before:].split(b"\r\n\r\n")[0].lower()
    assert b"\r\nupgrade: websocket" in head
    assert b"sec-websocket-key: " + key.lower().encode() in head
    assert b"\r\nx-forwarded-proto: ws\r\n" in head + b"\r\n"  # Traefik's value for WebSocket
    assert head.count(b"\r\nconnection:") == 1, head  # re-serialised, not duplicated


@pytest.mark.parametrize("path", ["/ws-refuse", "/status/200"])
def test_failed_upgrade_is_not_tunnelled(gw, path):
    """The upstream answers 400 (or 200) to the upgrade: the gateway keeps HTTP framing, so a
    second request pipelined behind the upgrade is parsed and answered as HTTP."""
    key = ws_key()
    with RawConn(gw.port) as c:
        c.send(ws_upgrade_request(path, "ws.test", key) +
               b"GET /after-upgrade HTTP/1.1\r\nHost: ws.test\r\n\r\n")
        r = c.read_response()
        assert r.status == (400 if path == "/ws-refuse" else 200)
        assert r.header("Sec-WebSocket-Accept") is None
        r2 = c.read_response()
        assert r2.status == 200
        e = r2.echo
        assert e.path == "/after-upgrade"
        # It went through the gateway's HTTP path (not a raw tunnel): gateway headers are there.
        assert e.header_all("X-Real-Ip") == ["127.0.0.1"]
        assert e.header_all("X-Forwarded-Proto") == ["http"]


def test_upgrade_h2c_never_reaches_the_upstream(gw):
    before = gw.upstream.recorded_size()
    with RawConn(gw.port) as c:
        c.send(b"GET /upgrade-check HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert not r.echo.has("Upgrade")
    assert not r.echo.has("HTTP2-Settings")
    rec = gw.upstream.recorded()[before:].lower()
    assert b"h2c" not in rec
    assert b"http2-settings" not in rec
