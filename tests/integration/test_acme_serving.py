"""Certificates from the ACME resolvers as a user sees them: served over HTTPS by the gateway and
verified against pebble's own root (fetched from its management endpoint), for each challenge
type; stored certificates served at start; renewals swapped live; failures that never take a
working certificate away.

Peers: pebble (the CA), pebble-challtestsrv (pebble's DNS: every name is 127.0.0.1), bind9
(RFC 2136), openssl s_client and curl as clients, test_upstream behind the routers.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import time
from pathlib import Path

import pytest

import acme_rig as rig
import tls_it
import turnpike_it as it
from acme_rig import (acme_gateway, assert_issued_by_pebble, bind_and_pebble, dns, pebble,  # noqa: F401
                      tls_router, wait_error)

pytestmark = pytest.mark.skipif(
    not all(Path(p).exists() for p in ("/usr/bin/pebble", "/usr/bin/pebble-challtestsrv")),
    reason="pebble is not installed (scripts/install-deps.sh test)")


def https_get(port: int, host: str, root: Path) -> tls_it.CurlResult:
    """curl https://host/ against the gateway, trusting only pebble's root."""
    return tls_it.curl(port, host, "/", cacert=tls_it.Cert(root, root))


def assert_serves_pebble_certificate(gw_port: int, name: str, root: Path, stored: dict,
                                     upstream: str | None = None):
    hs = rig.wait_served(gw_port, name, root)
    assert hs.serial == rig.serial_hex(rig.cert_pem(stored)), hs
    if upstream:
        r = https_get(gw_port, name, root)
        assert r.rc == 0 and r.status == 200, r
        assert json.loads(r.body)["name"] == upstream


# --------------------------------------------------------------------------------------------
# One test per challenge type: obtained from pebble and served


def test_http01_behind_a_redirection_is_served_over_https(env, pebble, tmp_path):
    up = env.upstream("app")
    storage = tmp_path / "acme.json"
    eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}",
                   "http": {"redirections": {"entryPoint": {"to": "websecure"}}}},
           "websecure": {}}
    gw = acme_gateway(env, pebble, storage, {"app": tls_router("app.example.test")},
                      entrypoints=eps, service_url=up.url)
    root = rig.pebble_root(pebble, tmp_path)
    websecure = gw.ports["websecure"]
    entry = rig.wait_certificate(storage, "le", "app.example.test", gateway=gw)
    assert_serves_pebble_certificate(websecure, "app.example.test", root, entry, upstream="app")
    # Plain HTTP still redirects to the HTTPS entrypoint, which now verifies.
    r = it.request(pebble.http_port, "/x", host="app.example.test")
    assert r.status in (301, 308)
    assert r.header("Location") == f"https://app.example.test:{websecure}/x"
    # HTTP/2 over the same certificate.
    h2 = tls_it.curl(websecure, "app.example.test", cacert=tls_it.Cert(root, root),
                     args=["--http2"])
    assert h2.rc == 0 and h2.status == 200 and h2.headers.startswith("HTTP/2"), h2


def test_tls_alpn01_is_answered_in_the_handshake_on_every_tls_entrypoint(env, pebble, tmp_path):
    """pebble validates on `alpn`, an entrypoint no router uses: the acme-tls/1 handshake is
    answered there anyway. The router and the served certificate are on `websecure`; nothing
    listens where pebble would validate HTTP-01, so only TLS-ALPN-01 can succeed."""
    up = env.upstream("alpn")
    storage = tmp_path / "acme.json"
    eps = {"web": {}, "websecure": {}, "alpn": {"address": f"127.0.0.1:{pebble.tls_port}"}}
    router = tls_router("alpn.example.test")
    router["entryPoints"] = ["websecure"]
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, {"r": router}, entrypoints=eps,
                      resolver_extra={"tlsChallenge": {}}, service_url=up.url)
    root = rig.pebble_root(pebble, tmp_path)
    entry = rig.wait_certificate(storage, "le", "alpn.example.test", gateway=gw)
    assert pebble.orders() - before == 1
    assert_issued_by_pebble(entry, pebble, ["alpn.example.test"], tmp_path)
    assert_serves_pebble_certificate(gw.ports["websecure"], "alpn.example.test", root, entry,
                                     upstream="alpn")
    # The challenge certificate is gone once the order is done: acme-tls/1 for the name is refused
    # (unrecognized_name), while ordinary handshakes are served.
    probe = tls_it.s_client(pebble.tls_port, "alpn.example.test", "-alpn", "acme-tls/1")
    assert not probe.ok and "unrecognized name" in probe.output, probe


def test_dns01_rfc2136_apex_and_wildcard_are_served(env, tmp_path):
    with bind_and_pebble(tmp_path, "pebble-bind") as (bind, p):
        up = env.upstream("wild")
        storage = tmp_path / "acme.json"
        routers = {"wild": {"rule": "Host(`www.acme.test`) || Host(`acme.test`)", "service": "s",
                            "tls": {"certResolver": "le",
                                    "domains": [{"main": "acme.test", "sans": ["*.acme.test"]}]}}}
        extra = {"dnsChallenge": {"provider": "rfc2136", "resolvers": [f"127.0.0.1:{bind.port}"],
                                  "propagation": {"disableANSChecks": True}}}
        gw = acme_gateway(env, p, storage, routers, resolver_extra=extra, gw_env=bind.env(),
                          entrypoints={"web": {}, "websecure": {}}, service_url=up.url)
        root = rig.pebble_root(p, tmp_path)
        t0 = time.monotonic()
        entry = rig.wait_certificate(storage, "le", "acme.test", timeout=60, gateway=gw)
        it.MEASUREMENTS.append(f"ACME DNS-01 rfc2136 apex+wildcard: {time.monotonic() - t0:.2f} s")
        assert entry["domain"]["sans"] == ["*.acme.test"]
        assert_issued_by_pebble(entry, p, ["acme.test", "*.acme.test"], tmp_path)
        port = gw.ports["websecure"]
        for name in ("acme.test", "www.acme.test"):
            assert_serves_pebble_certificate(port, name, root, entry, upstream="wild")
        # Any name under the wildcard gets it too (no router: 404 over a verified connection).
        hs = rig.wait_served(port, "other.acme.test", root)
        assert hs.serial == rig.serial_hex(rig.cert_pem(entry))
        assert "DNS:*.acme.test" in hs.san()
        # The name above the wildcard's level does not match it: the default certificate.
        deep = tls_it.s_client(port, "a.b.acme.test")
        assert deep.ok and deep.subject_cn == "TRAEFIK DEFAULT CERT", deep
        # bind saw TSIG-signed updates adding and then removing the records.
        rig.wait_for(lambda: bind.log().count("updating zone 'acme.test/IN'") >= 4, 10,
                     "add and delete in named's log")
        log = bind.log()
        assert "/key acme-key: updating zone" in log
        assert "adding an RR at '_acme-challenge.acme.test' TXT" in log
        assert "deleting an RR at _acme-challenge.acme.test TXT" in log


# --------------------------------------------------------------------------------------------
# Stored certificates, user certificates, failures


def _traefik_store(path: Path, certs: list[tuple[str, str, str]]):
    """A Traefik acme.json with resolver `le` holding (main, cert PEM, key PEM) entries and no
    account yet (Traefik writes `"Account": null` before registering)."""
    path.write_text(json.dumps({"le": {"Account": None, "Certificates": [
        {"domain": {"main": main}, "certificate": base64.b64encode(c.encode()).decode(),
         "key": base64.b64encode(k.encode()).decode(), "Store": "default"}
        for main, c, k in certs]}}, indent=2))
    path.chmod(0o600)


def _backdated_cert(name: str, days_before: int, days_after: int) -> tuple[str, str]:
    """A self-signed certificate for `name` valid from `days_before` days ago until `days_after`
    days from now (openssl 3.0's command line cannot backdate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=days_before))
            .not_valid_after(now + datetime.timedelta(days=days_after))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_stored_certificate_is_served_at_start_without_an_order(env, pebble, tmp_path):
    cert, key = _backdated_cert("stored.example.test", 1, 80)
    storage = tmp_path / "acme.json"
    _traefik_store(storage, [("stored.example.test", cert, key)])
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, {"r": tls_router("stored.example.test")},
                      entrypoints={"web": {"address": f"127.0.0.1:{pebble.http_port}"},
                                   "websecure": {}})
    # The very first handshake (the gateway has just opened its ports) gets it.
    hs = tls_it.s_client(gw.ports["websecure"], "stored.example.test")
    assert hs.ok and hs.serial == rig.serial_hex(cert), hs
    gw.wait_log(r"configuration 1 applied")
    assert pebble.orders() == before
    assert "ordering" not in gw.log()


def test_user_certificate_covers_the_name_no_order(env, pebble, tmp_path):
    """A certificate from tls.certificates covers user.example.test: the resolver orders only for
    the other router's name, and the user's certificate stays the one served."""
    user = tls_it.self_signed(tmp_path, "user", "user.example.test", dns=["user.example.test"])
    storage = tmp_path / "acme.json"
    routers = {"u": tls_router("user.example.test"), "o": tls_router("other.example.test")}
    eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}"}, "websecure": {}}
    gw = acme_gateway(env, pebble, storage, routers, entrypoints=eps,
                      tls={"certificates": [{"certFile": str(user.crt), "keyFile": str(user.key)}]})
    # Both routers are evaluated in the same pass: once other's certificate exists, user.example.test
    # would have been ordered too if the user certificate did not count.
    rig.wait_certificate(storage, "le", "other.example.test", gateway=gw)
    assert [c["domain"]["main"] for c in rig.stored_certs(storage, "le")] == ["other.example.test"]
    assert "certificate for user.example.test" not in gw.log()
    hs = tls_it.s_client(gw.ports["websecure"], "user.example.test")
    assert hs.serial == user.field("-serial"), hs


def test_failed_orders_keep_working_certificates_and_default_for_the_rest(env, pebble, tmp_path):
    """Validation cannot succeed (the challenge entrypoint is not where pebble connects). The
    stored certificate is due for renewal: the renewal fails and it is still served; a name that
    has no certificate gets the default one."""
    cert, key = _backdated_cert("kept.example.test", 60, 3)  # 3 days left: renewal due
    storage = tmp_path / "acme.json"
    _traefik_store(storage, [("kept.example.test", cert, key)])
    routers = {"k": tls_router("kept.example.test"), "n": tls_router("new.example.test")}
    gw = acme_gateway(env, pebble, storage, routers, entrypoints={"web": {}, "websecure": {}})
    port = gw.ports["websecure"]
    rig.wait_for(lambda: all(f"unable to obtain a certificate for {n}" in gw.log()
                             for n in ("kept.example.test", "new.example.test")),
                 30, "both orders failed")
    assert "renewing the certificate for kept.example.test" in gw.log()
    hs = tls_it.s_client(port, "kept.example.test")
    assert hs.ok and hs.serial == rig.serial_hex(cert), hs
    default = tls_it.s_client(port, "new.example.test")
    assert default.ok and default.subject_cn == "TRAEFIK DEFAULT CERT", default
    stored = rig.stored_certs(storage, "le")
    assert [c["domain"]["main"] for c in stored] == ["kept.example.test"]
    assert rig.cert_pem(stored[0]) == cert


# --------------------------------------------------------------------------------------------
# Renewal: swapped live


def test_renewal_swaps_the_served_certificate_with_a_connection_open(env, tmp_path, dns):
    p = rig.Pebble(tmp_path, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                   tls_port=it.free_port(), validity_seconds=12, name="pebble-short")
    try:
        up = env.upstream("renew")
        storage = tmp_path / "acme.json"
        eps = {"web": {"address": f"127.0.0.1:{p.http_port}"}, "websecure": {}}
        gw = acme_gateway(env, p, storage, {"r": tls_router("renew.example.test")},
                          entrypoints=eps, service_url=up.url)
        root = rig.pebble_root(p, tmp_path)
        port = gw.ports["websecure"]
        first = rig.wait_certificate(storage, "le", "renew.example.test", gateway=gw)
        s1 = rig.serial_hex(rig.cert_pem(first))
        rig.wait_served(port, "renew.example.test", root, predicate=lambda h: h.serial == s1)
        # A keep-alive HTTPS connection established on the first certificate (verified by Python's
        # ssl against pebble's root).
        conn = tls_it.TlsRawConn(port, "renew.example.test", cafile=root, timeout=10)
        request = b"GET / HTTP/1.1\r\nHost: renew.example.test\r\n\r\n"
        conn.send(request)
        assert conn.read_response().status == 200
        der = conn.sock.getpeercert(binary_form=True)
        assert rig.serial_hex(ssl.DER_cert_to_PEM_cert(der)) == s1

        second = rig.wait_renewed(storage, "le", "renew.example.test", rig.serial(rig.cert_pem(first)), 30)
        s2 = rig.serial_hex(rig.cert_pem(second))
        # New handshakes get the renewed certificate, verified against pebble's root...
        hs = rig.wait_served(port, "renew.example.test", root,
                             predicate=lambda h: rig.verified(h) and h.serial != s1, timeout=10)
        assert hs.serial in (s2, rig.serial_hex(rig.cert_pem(
            rig.wait_certificate(storage, "le", "renew.example.test"))))
        # ... and the connection opened before the swap still serves requests.
        conn.send(request)
        assert conn.read_response().status == 200
        assert rig.serial_hex(ssl.DER_cert_to_PEM_cert(conn.sock.getpeercert(binary_form=True))) == s1
        conn.close()
        assert_issued_by_pebble(second, p, ["renew.example.test"], tmp_path)
        assert "renewing the certificate for renew.example.test" in gw.log()
        assert len(rig.stored_certs(storage, "le")) == 1  # replaced, not added
    finally:
        p.stop()


# --------------------------------------------------------------------------------------------
# Where else certificates are requested: the default store's generated certificate, TCP routers


def test_default_generated_cert_becomes_the_default_certificate(env, pebble, tmp_path):
    """tls.stores.default.defaultGeneratedCert: the resolver obtains the certificate (no router
    asks for its names) and it replaces the self-signed default: a client without SNI, or with a
    name no certificate matches, gets it."""
    storage = tmp_path / "acme.json"
    tls = {"stores": {"default": {"defaultGeneratedCert": {
        "resolver": "le", "domain": {"main": "default.example.test",
                                     "sans": ["fallback.example.test"]}}}}}
    eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}"}, "websecure": {}}
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, {}, entrypoints=eps, tls=tls)
    port = gw.ports["websecure"]
    root = rig.pebble_root(pebble, tmp_path)
    # Before the order completes (or if it could not), the generated one is served.
    entry = rig.wait_certificate(storage, "le", "default.example.test", gateway=gw)
    assert entry["domain"].get("sans") == ["fallback.example.test"]
    assert_issued_by_pebble(entry, pebble, ["default.example.test", "fallback.example.test"],
                            tmp_path)
    want = rig.serial_hex(rig.cert_pem(entry))
    no_sni = rig.wait_for(lambda: (lambda h: h if h.serial == want else None)(
        tls_it.s_client(port, None, "-CAfile", str(root), "-verify_return_error")),
        10, "the obtained certificate served without SNI")
    assert rig.verified(no_sni), no_sni
    assert no_sni.subject_cn == "default.example.test"
    unknown = tls_it.s_client(port, "nothing-matches.test")
    assert unknown.ok and unknown.serial == want, unknown
    assert pebble.orders() - before == 1
    # Restart: the stored certificate is the default again once the dynamic configuration that
    # names it is applied (before, the generated one answers), with no new order.
    gw.stop()
    gw.start()
    gw.wait_log(r"configuration 1 applied")
    hs = rig.wait_for(lambda: (lambda h: h if h.serial == want else None)(
        tls_it.s_client(gw.ports["websecure"], None)), 10, "the stored default certificate")
    assert hs.ok, hs
    assert pebble.orders() - before == 1


def test_default_generated_cert_naming_an_unknown_resolver_is_reported(env, pebble, tmp_path):
    tls = {"stores": {"default": {"defaultGeneratedCert": {
        "resolver": "nope", "domain": {"main": "x.example.test"}}}}}
    gw = acme_gateway(env, pebble, tmp_path / "acme.json", {}, tls=tls,
                      entrypoints={"web": {"address": f"127.0.0.1:{pebble.http_port}"},
                                   "websecure": {}})
    gw.wait_log(r'tls.stores.default.defaultGeneratedCert: resolver "nope" does not exist')
    hs = tls_it.s_client(gw.ports["websecure"], None)
    assert hs.ok and hs.subject_cn == "TRAEFIK DEFAULT CERT", hs


def test_tcp_router_cert_resolver_serves_the_obtained_certificate(env, pebble, tmp_path):
    """A TCP router terminating TLS with tls.certResolver: names from HostSNI() for one router
    and from tls.domains for another; the TLS client gets pebble's certificate and the echo
    backend sees the plaintext. A passthrough router asks for nothing."""
    from l4_peers import TcpBackend
    echo = env.group.add(TcpBackend("echo"))
    storage = tmp_path / "acme.json"
    tcp = {"routers": {
        "sni": {"entryPoints": ["tcps"], "rule": "HostSNI(`tcp.example.test`)", "service": "echo",
                "tls": {"certResolver": "le"}},
        "doms": {"entryPoints": ["tcps"], "rule": "HostSNI(`a.tcp.example.test`)",
                 "service": "echo",
                 "tls": {"certResolver": "le", "domains": [{"main": "a.tcp.example.test",
                                                            "sans": ["b.tcp.example.test"]}]}},
        "pass": {"entryPoints": ["tcps"], "rule": "HostSNI(`pass.example.test`)",
                 "service": "echo", "tls": {"certResolver": "le", "passthrough": True}}},
        "services": {"echo": {"loadBalancer": {"servers": [{"address": echo.address}]}}}}
    eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}"}, "tcps": {}}
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, {}, entrypoints=eps, tcp=tcp)
    root = rig.pebble_root(pebble, tmp_path)
    port = gw.ports["tcps"]
    sni = rig.wait_certificate(storage, "le", "tcp.example.test", gateway=gw)
    doms = rig.wait_certificate(storage, "le", "a.tcp.example.test", gateway=gw)
    assert doms["domain"].get("sans") == ["b.tcp.example.test"]
    assert_issued_by_pebble(sni, pebble, ["tcp.example.test"], tmp_path)
    hs = rig.wait_served(port, "tcp.example.test", root,
                         predicate=lambda h: rig.verified(h) and
                         h.serial == rig.serial_hex(rig.cert_pem(sni)))
    assert hs.subject_cn == "tcp.example.test"
    # Verified by Python's ssl (host name checked), through the TCP router to the echo backend.
    ctx = ssl.create_default_context(cafile=str(root))
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="a.tcp.example.test") as s:
            assert rig.serial_hex(ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True))) == \
                rig.serial_hex(rig.cert_pem(doms))
            s.sendall(b"ping over tls")
            got = b""
            while len(got) < len(b"ping over tls"):
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
            assert got == b"ping over tls"
    assert pebble.orders() - before == 2
    assert all(c["domain"]["main"] != "pass.example.test" for c in rig.stored_certs(storage, "le"))
