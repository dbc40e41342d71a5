"""Forwarded headers and hop-by-hop stripping (security.md section 4, test plan T-H1).

The client socket is bound to 127.0.0.2 (untrusted) or 127.0.0.3 (listed in
forwardedHeaders.trustedIPs) to vary the peer address the gateway sees.
"""

import socket

import pytest

import turnpike_it as it
from turnpike_it import RawConn, request

UNTRUSTED = "127.0.0.2"
TRUSTED = "127.0.0.3"

GATEWAY_OWNED = ["X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto",
                 "X-Forwarded-Server", "X-Real-Ip"]


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    dynamic = {"http": {
        "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "a"}},
        "services": {"a": it.service(a)},
    }}
    return module_env.gateway(
        entrypoints={"web": {"forwardedHeaders": {"trustedIPs": [f"{TRUSTED}/32"]}}},
        dynamic=dynamic, ready=("fw.test", "/"))


def echo(gw, source, headers=(), host="fw.test", path="/"):
    r = request(gw.port, path, host=host, headers=headers, source=source)
    assert r.status == 200, r.body[:300]
    return r.echo


def assert_set_by_gateway(e, peer, host="fw.test", port="80"):
    """X-Real-Ip, X-Forwarded-Host/Port/Proto/Server, each exactly once, with the gateway's own
    values (X-Forwarded-For has tests of its own below)."""
    assert e.header_all("X-Real-Ip") == [peer]
    assert e.header_all("X-Forwarded-Host") == [host]
    assert e.header_all("X-Forwarded-Port") == [port]
    assert e.header_all("X-Forwarded-Proto") == ["http"]
    assert e.header_all("X-Forwarded-Server") == [socket.gethostname()]


def test_gateway_sets_forwarded_headers(gw):
    e = echo(gw, UNTRUSTED)
    assert_set_by_gateway(e, UNTRUSTED)
    assert e.client == "127.0.0.1"  # the upstream connection comes from the gateway


def test_forwarded_port_and_host_follow_the_host_header(gw):
    e = echo(gw, UNTRUSTED, host="fw.test:8123")
    assert e.header_all("X-Forwarded-Port") == ["8123"]
    assert e.header_all("X-Forwarded-Host") == ["fw.test:8123"]


SPOOFED = [
    ("X-Forwarded-For", "1.2.3.4"),
    ("X-Real-Ip", "1.2.3.4"),
    ("X-Forwarded-Host", "evil.test"),
    ("X-Forwarded-Port", "4443"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Server", "evil"),
    ("X-Forwarded-Prefix", "/evil"),
    ("X-Forwarded-Uri", "/evil"),
    ("X-Forwarded-Method", "DELETE"),
    ("Forwarded", "for=1.2.3.4;proto=https"),
]


def test_untrusted_client_cannot_spoof_forwarded_headers(gw):
    e = echo(gw, UNTRUSTED, headers=SPOOFED)
    assert_set_by_gateway(e, UNTRUSTED)
    for name in ("X-Forwarded-Prefix", "X-Forwarded-Uri", "X-Forwarded-Method", "Forwarded"):
        assert not e.has(name), (name, e.header_all(name))
    assert "1.2.3.4" not in repr(e.headers) and "evil" not in repr(e.headers)


def test_untrusted_client_cannot_spoof_with_underscores_or_case(gw):
    e = echo(gw, UNTRUSTED, headers=[("x-forwarded-for", "1.2.3.4"),
                                      ("X_Forwarded_For", "1.2.3.4"),
                                      ("X_Real_Ip", "1.2.3.4")])
    assert e.header_all("X-Real-Ip") == [UNTRUSTED]
    assert "1.2.3.4" not in repr(e.headers)


def test_trusted_client_forwarded_headers_are_kept(gw):
    e = echo(gw, TRUSTED, headers=[("X-Forwarded-For", "1.2.3.4"),
                                    ("X-Forwarded-Host", "orig.test"),
                                    ("X-Forwarded-Proto", "https"),
                                    ("X-Forwarded-Port", "443"),
                                    ("X-Real-Ip", "1.2.3.4")])
    assert e.header_all("X-Forwarded-Host") == ["orig.test"]
    assert e.header_all("X-Forwarded-Proto") == ["https"]
    assert e.header_all("X-Forwarded-Port") == ["443"]
    assert e.header_all("X-Real-Ip") == ["1.2.3.4"]


def test_trusted_client_without_forwarded_headers_gets_them_set(gw):
    e = echo(gw, TRUSTED)
    assert_set_by_gateway(e, TRUSTED)



@pytest.mark.parametrize("source,sent,want", [
    (UNTRUSTED, None, UNTRUSTED),                      # set to the peer
    (UNTRUSTED, "1.2.3.4", UNTRUSTED),                 # spoofed value replaced
    (UNTRUSTED, "1.2.3.4, 5.6.7.8", UNTRUSTED),
    (TRUSTED, None, TRUSTED),
    (TRUSTED, "1.2.3.4", f"1.2.3.4, {TRUSTED}"),       # appended for a trusted peer
    (TRUSTED, "1.2.3.4, 5.6.7.8", f"1.2.3.4, 5.6.7.8, {TRUSTED}"),
], ids=["untrusted-none", "untrusted-spoofed", "untrusted-list", "trusted-none",
        "trusted-append", "trusted-append-list"])
def test_x_forwarded_for(gw, source, sent, want):
    e = echo(gw, source, headers=[("X-Forwarded-For", sent)] if sent else [])
    assert e.header_all("X-Forwarded-For") == [want]


def test_connection_cannot_remove_x_forwarded_for(gw):
    e = echo(gw, UNTRUSTED, headers=[("Connection", "close, X-Forwarded-For")])
    assert e.header_all("X-Forwarded-For") == [UNTRUSTED]

HOP_BY_HOP = [
    ("Connection", "keep-alive, X-Custom-Hop, x-other-hop"),
    ("Keep-Alive", "timeout=5, max=100"),
    ("TE", "deflate"),
    ("Upgrade", "foo/2"),
    ("Proxy-Connection", "keep-alive"),
    ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
    ("X-Custom-Hop", "1"),
    ("X-Other-Hop", "2"),
    ("X-End-To-End", "kept"),
]


@pytest.mark.parametrize("source", [UNTRUSTED, TRUSTED])
def test_hop_by_hop_fields_do_not_reach_the_upstream(gw, source):
    e = echo(gw, source, headers=HOP_BY_HOP)
    for name in ("Keep-Alive", "TE", "Upgrade", "Proxy-Connection", "Proxy-Authorization",
                 "X-Custom-Hop", "X-Other-Hop"):
        assert not e.has(name), (name, e.header_all(name))
    # Connection itself may only carry the gateway's own connection management
    for v in e.header_all("Connection"):
        assert "hop" not in v.lower(), v
    assert e.header_all("X-End-To-End") == ["kept"]


def test_connection_cannot_remove_gateway_headers(gw):
    nominate = ", ".join(["close"] + GATEWAY_OWNED)
    e = echo(gw, UNTRUSTED, headers=[("Connection", nominate), ("X-Forwarded-Host", "evil.test")])
    assert_set_by_gateway(e, UNTRUSTED)


def test_connection_x_forwarded_host_from_trusted_client(gw):
    # security.md row 40: `Connection: close, X-Forwarded-Host` cannot delete gateway headers.
    e = echo(gw, TRUSTED, headers=[("Connection", "close, X-Forwarded-Host")])
    assert e.header_all("X-Forwarded-Host") == ["fw.test"]
    assert e.header_all("X-Real-Ip") == [TRUSTED]


def test_hop_by_hop_fields_of_the_response_are_removed(gw):
    path = ("/?h=Connection:X-Resp-Hop&h=X-Resp-Hop:1&h=Keep-Alive:timeout%3D5"
            "&h=Proxy-Connection:keep-alive&h=X-Resp-End:kept")
    with RawConn(gw.port) as c:
        c.send(f"GET {path} HTTP/1.1\r\nHost: fw.test\r\n\r\n".encode())
        r = c.read_response()
    assert r.status == 200
    assert r.header("X-Resp-End") == "kept"
    for name in ("X-Resp-Hop", "Keep-Alive", "Proxy-Connection"):
        assert r.header(name) is None, (name, r.headers)
