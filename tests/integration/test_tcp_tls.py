"""TLS on TCP routers and towards TCP backends, through the binary with real peers:

- TCP routers that terminate TLS (a `tls` section without passthrough): the client sees the
  gateway's certificate (openssl s_client, Python's ssl), the echo backend sees plaintext; by
  HostSNI and with HostSNI(`*`) (no SNI at all too); the router's TLS options (minVersion, ALPN)
  are enforced; an HTTPS router for an exact SNI still wins; TLS-ALPN-01 never reaches a TCP
  router.
- `tls: true` servers: `openssl s_server` backends verified against a transport's rootCAs and
  serverName, refused when untrusted (the client connection closes and the log says why),
  accepted with insecureSkipVerify, with a client certificate for `s_server -Verify` (mTLS), and
  TLS on both sides of one connection.
"""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest

import tls_it
import turnpike_it as it
from l4_peers import SServer, TcpBackend, closed_without_data


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = tls_it.make_ca(d, "ca", "Turnpike Test Root")
    other = tls_it.make_ca(d, "other", "Untrusted Root")
    return {
        "dir": d,
        "ca": ca,
        "gateway": tls_it.make_cert(d, "gateway", ca, "/CN=gateway", dns=["t.test", "*.t.test"]),
        "fallback": tls_it.make_cert(d, "fallback", ca, "/CN=fallback", dns=["fallback.test"]),
        "web": tls_it.make_cert(d, "web", ca, "/CN=web", dns=["web.test"]),
        "backend": tls_it.make_cert(d, "backend", ca, "/CN=backend", dns=["backend.test"]),
        "rogue": tls_it.make_cert(d, "rogue", other, "/CN=rogue", dns=["backend.test"]),
        "client": tls_it.make_cert(d, "client", ca, "/CN=gateway client", client=True),
    }


def cert_entry(c):
    return {"certFile": str(c.crt), "keyFile": str(c.key)}


def gateway_tls(pki):
    """The gateway's certificates: gateway (t.test, *.t.test), web, and a default one."""
    return {"certificates": [cert_entry(pki["gateway"]), cert_entry(pki["web"])],
            "stores": {"default": {"defaultCertificate": cert_entry(pki["fallback"])}}}


def lb(*backends, tls=False, **extra):
    servers = [{"address": b.address, **({"tls": True} if tls else {})} for b in backends]
    return {"loadBalancer": {"servers": servers, **extra}}


def start(env, dynamic, tcp_routes, **kw):
    gw = env.gateway(entrypoints={"tcp": {}}, dynamic=dynamic, log_level="DEBUG", **kw)
    gw.wait_log(rf"configuration \d+ applied: \d+ route\(s\), {tcp_routes} TCP route\(s\)")
    return gw


def tls_client(port, sni, ca, alpn=None, version=None, timeout=5.0):
    """A verified TLS connection to the gateway (host name not checked: the CN is asserted)."""
    ctx = ssl.create_default_context(cafile=str(ca.crt))
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni)
    except Exception:
        raw.close()
        raise


def peer_cn(s: ssl.SSLSocket) -> str:
    return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(min(65536, n - len(out)))
        assert chunk, f"closed after {len(out)} of {n} bytes"
        out += chunk
    return out


def recv_all(s):
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return out
        if not chunk:
            return out
        out += chunk


# --------------------------------------------------------------------------------------------
# TLS termination on TCP routers


@pytest.fixture(scope="module")
def terminating(module_env, pki):
    env = module_env
    echo = env.group.add(TcpBackend("echo"))
    catch_all = env.group.add(TcpBackend("any", greeting=b"any:"))
    web = env.upstream("web")
    dynamic = {
        "tcp": {
            "routers": {
                "echo": {"rule": "HostSNI(`t.test`)", "service": "echo", "tls": {}},
                "modern": {"rule": "HostSNI(`modern.t.test`)", "service": "echo",
                           "tls": {"options": "tls13"}},
                "xmpp": {"rule": "HostSNI(`xmpp.t.test`)", "service": "echo",
                         "tls": {"options": "xmpp"}},
                "any": {"rule": "HostSNI(`*`)", "service": "any", "tls": {}},
            },
            "services": {"echo": lb(echo), "any": lb(catch_all)},
        },
        "http": {
            "routers": {"web": {"rule": "Host(`web.test`)", "service": "web", "tls": {}}},
            "services": {"web": it.service(web)},
        },
        "tls": {**gateway_tls(pki),
                "options": {"tls13": {"minVersion": "VersionTLS13"},
                            "xmpp": {"alpnProtocols": ["xmpp-client"]}}},
    }
    gw = start(env, dynamic, tcp_routes=4)
    return gw, echo, catch_all


def test_terminating_router_serves_the_gateway_certificate(terminating, pki):
    gw, echo, _ = terminating
    port = gw.ports["tcp"]
    before = len(echo.connections)
    with tls_client(port, "t.test", pki["ca"]) as s:
        assert peer_cn(s) == "gateway"
        payload = it.pattern_bytes(1 << 20)  # 1 MiB each way through both pipes
        s.sendall(payload)
        assert recv_exactly(s, len(payload)) == payload
    # The backend saw the decrypted bytes, not TLS records.
    assert echo.wait_data(before, len(payload)) == payload
    # The same with openssl s_client: full verification against the CA, host name included.
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                        "t.test", "-verify_hostname", "t.test", "-CAfile", str(pki["ca"].crt),
                        "-verify_return_error", "-brief"],
                       input=b"", capture_output=True, timeout=10)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    assert "Verification: OK" in out, out
    assert "CN = gateway" in out, out


def test_terminating_catch_all_router(terminating, pki):
    """HostSNI(`*`) with TLS: any server name, or none (the default certificate answers)."""
    gw, _, catch_all = terminating
    port = gw.ports["tcp"]
    with tls_client(port, "other.test", pki["ca"]) as s:
        assert peer_cn(s) == "fallback"
        assert recv_exactly(s, 4) == b"any:"
        s.sendall(b"hello")
        assert recv_exactly(s, 5) == b"hello"
    with tls_client(port, "x.t.test", pki["ca"]) as s:  # the store's wildcard certificate
        assert peer_cn(s) == "gateway"
        assert recv_exactly(s, 4) == b"any:"
    ctx = ssl.create_default_context(cafile=str(pki["ca"].crt))
    ctx.check_hostname = False
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)) as s:
        assert peer_cn(s) == "fallback"  # no SNI sent
        assert recv_exactly(s, 4) == b"any:"
    assert any(bytes(c["data"]) == b"hello" for c in catch_all.connections)


def test_https_router_for_an_exact_sni_still_wins(terminating, pki):
    gw, _, _ = terminating
    port = gw.ports["tcp"]
    r = tls_it.curl(port, "web.test", "/path", cacert=pki["ca"])
    assert (r.rc, r.status) == (0, 200), r.stderr
    assert r.json()["name"] == "web"


def test_router_tls_options_are_enforced(terminating, pki):
    gw, _, _ = terminating
    port = gw.ports["tcp"]
    # modern.t.test's router uses minVersion TLS 1.3: TLS 1.2 is refused...
    with pytest.raises(ssl.SSLError):
        tls_client(port, "modern.t.test", pki["ca"], version=ssl.TLSVersion.TLSv1_2)
    with tls_client(port, "modern.t.test", pki["ca"]) as s:
        assert s.version() == "TLSv1.3"
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
    # ...while t.test's router (default options) accepts it.
    with tls_client(port, "t.test", pki["ca"], version=ssl.TLSVersion.TLSv1_2) as s:
        assert s.version() == "TLSv1.2"
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
    h = tls_it.s_client(port, "modern.t.test", "-tls1_2", "-CAfile", str(pki["ca"].crt))
    assert not h.ok, h


def test_alpn_comes_from_the_router_options(terminating, pki):
    """The bytes are piped, so the options' alpnProtocols are served as configured, HTTP or
    not (Traefik's behaviour); the HTTP entrypoint restriction to h2/http/1.1 does not apply."""
    gw, _, _ = terminating
    port = gw.ports["tcp"]
    with tls_client(port, "xmpp.t.test", pki["ca"], alpn=["xmpp-client"]) as s:
        assert s.selected_alpn_protocol() == "xmpp-client"
        s.sendall(b"<stream/>")
        assert recv_exactly(s, 9) == b"<stream/>"
    # Default options: Traefik's list (h2, http/1.1); a client offering nothing gets no ALPN.
    with tls_client(port, "t.test", pki["ca"], alpn=["http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
    with tls_client(port, "t.test", pki["ca"]) as s:
        assert s.selected_alpn_protocol() is None


def test_tls_alpn_challenge_never_reaches_a_tcp_router(terminating, pki):
    gw, _, _ = terminating
    port = gw.ports["tcp"]
    mark = gw.log_size()
    # The gateway's handshake answers acme-tls/1 itself: no challenge certificate is pending
    # for t.test, so the handshake fails, and no TCP router sees the connection.
    with pytest.raises(ssl.SSLError):
        tls_client(port, "t.test", pki["ca"], alpn=["acme-tls/1"])
    gw.wait_log(r'TLS handshake from 127\.0\.0\.1 failed: no TLS-ALPN-01 challenge certificate '
                r'for "t\.test"', after=mark)
    assert "-> tcp router" not in gw.log()[mark:]
    with tls_client(port, "t.test", pki["ca"]) as s:  # a later connection is served again
        s.sendall(b"x")
        assert recv_exactly(s, 1) == b"x"


def test_unknown_options_close_the_router_connections(env, pki):
    echo = env.group.add(TcpBackend("echo", greeting=b"hi"))
    gw = start(env, {
        "tcp": {"routers": {"bad": {"rule": "HostSNI(`t.test`)", "service": "e",
                                    "tls": {"options": "nope"}},
                            "ok": {"rule": "HostSNI(`*`)", "service": "e", "tls": {}}},
                "services": {"e": lb(echo)}},
        "tls": gateway_tls(pki),
    }, tcp_routes=2)
    assert "tcp router bad@file: unknown TLS options: nope@file" in gw.log()
    port = gw.ports["tcp"]
    # Its SNI is not served by the catch-all (nor with other options): the handshake fails.
    with pytest.raises((ssl.SSLError, OSError)):
        tls_client(port, "t.test", pki["ca"])
    with tls_client(port, "other.test", pki["ca"]) as s:
        assert recv_exactly(s, 2) == b"hi"


# --------------------------------------------------------------------------------------------
# TLS to TCP backends


@pytest.fixture(scope="module")
def backends(module_env, pki):
    env = module_env
    d = pki["dir"]
    return {
        "good": env.group.add(SServer(d, pki["backend"].crt, pki["backend"].key)),
        "rogue": env.group.add(SServer(d, pki["rogue"].crt, pki["rogue"].key)),
        "mtls": env.group.add(SServer(d, pki["backend"].crt, pki["backend"].key,
                                      ["-Verify", "1", "-CAfile", str(pki["ca"].crt)])),
    }


@pytest.fixture(scope="module")
def to_backends(module_env, pki, backends):
    """One plain TCP entrypoint per case (HostSNI(`*`) without TLS on the client side), and a
    terminating router on `both`."""
    ca = str(pki["ca"].crt)
    cases = {
        # entrypoint: (backend, serversTransport or None)
        "trusted": ("good", "trusted"),
        "untrusted": ("rogue", "trusted"),
        "insecure": ("rogue", "insecure"),
        "wrongname": ("good", "wrongname"),
        "mtls": ("mtls", "mtls"),
        "nocert": ("mtls", "trusted"),
        "system": ("good", None),
    }
    routers, services = {}, {}
    for ep, (backend, transport) in cases.items():
        routers[ep] = {"entryPoints": [ep], "rule": "HostSNI(`*`)", "service": ep}
        extra = {"serversTransport": transport} if transport else {}
        services[ep] = lb(backends[backend], tls=True, **extra)
    routers["both"] = {"entryPoints": ["both"], "rule": "HostSNI(`t.test`)", "service": "trusted",
                       "tls": {}}
    transports = {
        "trusted": {"tls": {"rootCAs": [ca], "serverName": "backend.test"}},
        "insecure": {"tls": {"insecureSkipVerify": True}},
        "wrongname": {"tls": {"rootCAs": [ca], "serverName": "elsewhere.test"}},
        "mtls": {"tls": {"rootCAs": [ca], "serverName": "backend.test",
                         "certificates": [cert_entry(pki["client"])]}},
    }
    entrypoints = {ep: {} for ep in [*cases, "both"]}
    gw = module_env.gateway(entrypoints=entrypoints, log_level="DEBUG", dynamic={
        "tcp": {"routers": routers, "services": services, "serversTransports": transports},
        "tls": gateway_tls(pki),
    })
    gw.wait_log(r"configuration \d+ applied: \d+ route\(s\), 8 TCP route\(s\)")
    return gw


def http_get_plain(port):
    """A GET over plain TCP to the gateway; returns everything until the connection closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(s)


def test_tls_backend_verified_with_root_cas_and_server_name(to_backends):
    answer = http_get_plain(to_backends.ports["trusted"])
    assert answer.startswith(b"HTTP/1.0 200 ok"), answer[:200]
    # s_server's page describes the TLS session it had with the gateway.
    assert b"Protocol version: TLSv1.3" in answer or b"TLSv1.3" in answer, answer[:2000]


def test_untrusted_backend_certificate_closes_the_client_connection(to_backends):
    gw = to_backends
    mark = gw.log_size()
    with socket.create_connection(("127.0.0.1", gw.ports["untrusted"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert closed_without_data(s)
    gw.wait_log(r"service untrusted@file: TLS handshake with 127\.0\.0\.1:\d+: certificate verify "
                r"failed: (unable to get local issuer certificate|self-signed)", after=mark)
    # A name that is not in the backend's certificate fails as well.
    with socket.create_connection(("127.0.0.1", gw.ports["wrongname"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert closed_without_data(s)
    gw.wait_log(r"service wrongname@file: TLS handshake with .*: certificate verify failed: "
                r"hostname mismatch", after=mark)
    # Without a transport the system roots apply (verification on by default, as for HTTP).
    with socket.create_connection(("127.0.0.1", gw.ports["system"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert closed_without_data(s)
    gw.wait_log(r"service system@file: TLS handshake with .*: certificate verify failed",
                after=mark)


def test_insecure_skip_verify_accepts_any_backend_certificate(to_backends):
    answer = http_get_plain(to_backends.ports["insecure"])
    assert answer.startswith(b"HTTP/1.0 200 ok"), answer[:200]


def test_client_certificate_to_the_backend(to_backends):
    answer = http_get_plain(to_backends.ports["mtls"])
    assert answer.startswith(b"HTTP/1.0 200 ok"), answer[:200]
    assert b"Subject: CN=gateway client" in answer  # s_server -www shows the client certificate
    # Without a client certificate s_server refuses the session (in TLS 1.3 after the gateway's
    # side of the handshake is over, so the refusal ends the pipe): the client gets nothing.
    with socket.create_connection(("127.0.0.1", to_backends.ports["nocert"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert recv_all(s) == b""


def test_tls_on_both_sides(to_backends, pki):
    """Terminated at the gateway with its certificate, re-encrypted towards the backend."""
    with tls_client(to_backends.ports["both"], "t.test", pki["ca"]) as s:
        assert peer_cn(s) == "gateway"
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = recv_all(s)
    assert answer.startswith(b"HTTP/1.0 200 ok"), answer[:200]
