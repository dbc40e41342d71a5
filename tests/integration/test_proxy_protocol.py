"""Inbound PROXY protocol (entryPoints.<name>.proxyProtocol) through the binary: v1 and v2 headers
from trusted peers set the client address the upstream sees (X-Forwarded-For, X-Real-Ip) and the
one ClientIP rules match; untrusted peers' headers are read and ignored (Traefik); a malformed or
missing-in-time header closes the connection; the address also reaches TCP backends."""

import socket
import struct

import pytest

import turnpike_it as it
from l4_peers import TcpBackend, closed_without_data
from turnpike_it import RawConn


def v1(src, dst="127.0.0.1", sport=40000, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=80, command=0x21, tlvs=b""):
    if ":" in src:
        fam, addrs = 0x21, socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(
            socket.AF_INET6, dst if ":" in dst else "::1")
    else:
        fam, addrs = 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
    body = addrs + struct.pack(">HH", sport, dport) + tlvs
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([command, fam]) + struct.pack(">H", len(body)) + body


def get(host="pp.test", path="/"):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


@pytest.fixture(scope="module")
def gw(module_env):
    up = module_env.upstream("up")
    rec = module_env.group.add(TcpBackend("rec"))
    g = module_env.gateway(
        entrypoints={
            "trusted": {"proxyProtocol": {"trustedIPs": ["127.0.0.1/32"]},
                        "transport": {"respondingTimeouts": {"readTimeout": "1s"}}},
            "untrusted": {"proxyProtocol": {"trustedIPs": ["10.0.0.0/8"]}},
            "insecure": {"proxyProtocol": {"insecure": True}},
            "tcp": {"proxyProtocol": {"trustedIPs": ["127.0.0.1"]}},
        },
        dynamic={
            "http": {
                "routers": {
                    "blocked": {"rule": "ClientIP(`198.51.100.0/24`)", "service": "up",
                                "middlewares": ["deny"], "priority": 100},
                    "all": {"rule": "PathPrefix(`/`)", "service": "up"},
                },
                "services": {"up": it.service(up)},
                "middlewares": {"deny": {"ipAllowList": {"sourceRange": ["192.0.2.1"]}}},
            },
            "tcp": {
                "routers": {"raw": {"entryPoints": ["tcp"], "rule": "HostSNI(`*`)",
                                    "service": "rec"}},
                "services": {"rec": {"loadBalancer": {"servers": [{"address": rec.address}],
                                                      "serversTransport": "pp"}}},
                "serversTransports": {"pp": {"proxyProtocol": {"version": 1}}},
            },
        },
        log_level="DEBUG")
    g.wait_log(r"configuration \d+ applied: \d+ route\(s\), 1 TCP route")
    g.wait_route("pp.test", "/", port=g.ports["untrusted"])
    g.rec = rec
    return g


def send(port, data, source=None):
    with RawConn(port, source=source) as c:
        c.send(data)
        return c.read_response()


@pytest.mark.parametrize("header", [v1("203.0.113.9"), v2("203.0.113.9")], ids=["v1", "v2"])
def test_trusted_header_sets_the_client_address(gw, header):
    r = send(gw.ports["trusted"], header + get())
    assert r.status == 200
    assert r.echo.header("X-Forwarded-For") == "203.0.113.9"
    assert r.echo.header("X-Real-Ip") == "203.0.113.9"


def test_trusted_ipv6_header(gw):
    r = send(gw.ports["trusted"], v1("2001:db8::7", "::1") + get())
    assert r.echo.header("X-Forwarded-For") == "2001:db8::7"
    r = send(gw.ports["trusted"], v2("2001:db8::8", "::1") + get())
    assert r.echo.header("X-Forwarded-For") == "2001:db8::8"


def test_client_ip_rule_and_middlewares_see_the_proxied_address(gw):
    r = send(gw.ports["trusted"], v1("198.51.100.7") + get())
    assert r.status == 403  # ClientIP matched the proxied address, ipAllowList refused it
    assert send(gw.ports["trusted"], v1("203.0.113.9") + get()).status == 200


def test_keep_alive_requests_keep_the_proxied_address(gw):
    with RawConn(gw.ports["trusted"]) as c:
        c.send(v2("203.0.113.10") + get(path="/1"))
        assert c.read_response().echo.header("X-Forwarded-For") == "203.0.113.10"
        c.send(get(path="/2"))
        assert c.read_response().echo.header("X-Forwarded-For") == "203.0.113.10"


@pytest.mark.parametrize("header", [v1("203.0.113.9"), v2("203.0.113.9")], ids=["v1", "v2"])
def test_untrusted_peer_header_is_ignored(gw, header):
    r = send(gw.ports["untrusted"], header + get())
    assert r.status == 200
    assert r.echo.header("X-Forwarded-For") == "127.0.0.1"
    assert r.echo.header("X-Real-Ip") == "127.0.0.1"


def test_insecure_trusts_everyone(gw):
    r = send(gw.ports["insecure"], v1("203.0.113.11") + get(), source="127.0.0.2")
    assert r.echo.header("X-Forwarded-For") == "203.0.113.11"


def test_no_header_is_served_with_the_socket_address(gw):
    r = send(gw.ports["trusted"], get(), source="127.0.0.3")
    assert r.status == 200
    assert r.echo.header("X-Forwarded-For") == "127.0.0.3"


def test_local_command_and_unknown_keep_the_socket_address(gw):
    r = send(gw.ports["trusted"], v2("203.0.113.9", command=0x20) + get())
    assert r.echo.header("X-Forwarded-For") == "127.0.0.1"
    r = send(gw.ports["trusted"], b"PROXY UNKNOWN\r\n" + get())
    assert r.echo.header("X-Forwarded-For") == "127.0.0.1"


@pytest.mark.parametrize("bad", [
    b"PROXY TCP4 999.1.1.1 127.0.0.1 1 80\r\n",
    b"PROXY TCP4 1.2.3.4 127.0.0.1 1 80 extra\r\n",
    b"PROXY UNKNOWN " + b"x" * 120,
    b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + bytes(12),
])
def test_malformed_header_closes_the_connection(gw, bad):
    with socket.create_connection(("127.0.0.1", gw.ports["trusted"]), timeout=5) as s:
        s.sendall(bad + get())
        assert closed_without_data(s)


def test_header_read_timeout(gw):
    """readTimeout (1s here) bounds the wait for a header that never completes."""
    with RawConn(gw.ports["trusted"]) as c:
        c.send(b"PROXY TCP4 203.0.113.9 ")
        assert c.closed_within(3.0)


def test_proxied_address_reaches_tcp_backends(gw):
    with socket.create_connection(("127.0.0.1", gw.ports["tcp"]), timeout=5) as s:
        s.sendall(v1("203.0.113.50", "192.0.2.80", 51000, 5432) + b"hello")
        got = b""
        while not got.endswith(b"hello"):  # the echo may come in pieces
            chunk = s.recv(100)
            assert chunk, got
            got += chunk
    expected = b"PROXY TCP4 203.0.113.50 192.0.2.80 51000 5432\r\nhello"
    assert expected in [bytes(c["data"]) for c in gw.rec.wait_connections(1)]
