"""TLS termination on HTTP entrypoints, against real TLS peers (openssl s_client, curl, Python's
ssl): SNI certificate selection (exact, wildcard, default, generated default), TLS and plain
routers on one entrypoint, minimum/maximum versions, cipher suites, ALPN, the five client
authentication types, passTLSClientCert, 421 Misdirected Request, session resumption, WebSocket
over TLS and the handshake timeout. Other gateways (sniStrict, live certificate changes,
redirections) are in test_tls_config.py."""

import socket

import pytest

import tls_it
import turnpike_it as it
from tls_it import curl, s_client


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = tls_it.make_ca(d, "ca", "Turnpike Test Root")
    other_ca = tls_it.make_ca(d, "other-ca", "Untrusted Root")
    p = {
        "ca": ca,
        "a": tls_it.make_cert(d, "a", ca, "/CN=a.test", dns=["a.test"]),
        "b": tls_it.make_cert(d, "b", ca, "/CN=b.test", dns=["b.test"], key_type="rsa"),
        "w": tls_it.make_cert(d, "w", ca, "/CN=wildcard", dns=["*.w.test"]),
        "m": tls_it.make_cert(d, "m", ca, "/CN=mtls", dns=["*.mtls.test", "*.v.test"]),
        "client": tls_it.make_cert(
            d, "client", ca,
            "/DC=org/DC=example/C=FR/ST=Ile/L=Paris/O=Acme/OU=Dev/serialNumber=S-42/CN=client one",
            dns=["client.test"], emails=["me@example.com"], ips=["10.0.0.1"],
            uris=["spiffe://example/x"], client=True, serial=4242),
        "rogue": tls_it.make_cert(d, "rogue", other_ca, "/CN=rogue", client=True),
    }
    return p


def cert_entry(c):
    return {"certFile": str(c.crt), "keyFile": str(c.key)}


MTLS_TYPES = {
    "none": "NoClientCert",
    "req": "RequestClientCert",
    "any": "RequireAnyClientCert",
    "ifgiven": "VerifyClientCertIfGiven",
    "verify": "RequireAndVerifyClientCert",
}


@pytest.fixture(scope="module")
def gw(module_env, pki):
    tls_up = module_env.upstream("tls")
    plain_up = module_env.upstream("plain")
    ws_up = module_env.upstream("ws")
    routers = {
        "a": {"rule": "Host(`a.test`)", "service": "tls", "tls": {}},
        "a-plain": {"rule": "Host(`a.test`)", "service": "plain"},
        "b": {"rule": "Host(`b.test`)", "service": "tls", "tls": {}},
        "w": {"rule": "Host(`x.w.test`)", "service": "tls", "tls": {}},
        "ws": {"rule": "Host(`ws.w.test`)", "service": "ws", "tls": {}},
        "v13": {"rule": "Host(`v13.v.test`)", "service": "tls", "tls": {"options": "tls13"}},
        "v12": {"rule": "Host(`v12.v.test`)", "service": "tls", "tls": {"options": "tls12"}},
        "cs": {"rule": "Host(`cs.v.test`)", "service": "tls", "tls": {"options": "ciphers"}},
        "nt": {"rule": "Host(`nt.v.test`)", "service": "tls", "tls": {"options": "notickets"}},
        "alpn": {"rule": "Host(`alpn.v.test`)", "service": "tls", "tls": {"options": "h11only"}},
        "unknown": {"rule": "Host(`unknown.v.test`)", "service": "tls", "tls": {"options": "nope"}},
    }
    options = {
        "tls13": {"minVersion": "VersionTLS13"},
        "tls12": {"maxVersion": "VersionTLS12"},
        "ciphers": {"maxVersion": "VersionTLS12",
                    "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]},
        "notickets": {"disableSessionTickets": True},
        "h11only": {"alpnProtocols": ["http/1.1"]},
    }
    for short, kind in MTLS_TYPES.items():
        options[f"m-{short}"] = {"clientAuth": {"clientAuthType": kind}}
        if kind in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
            options[f"m-{short}"]["clientAuth"]["caFiles"] = [str(pki["ca"].crt)]
        routers[f"m-{short}"] = {"rule": f"Host(`{short}.mtls.test`)", "service": "tls",
                                 "middlewares": ["certs"], "tls": {"options": f"m-{short}"}}
    dynamic = {
        "http": {
            "routers": routers,
            "services": {"tls": it.service(tls_up), "plain": it.service(plain_up),
                         "ws": it.service(ws_up)},
            "middlewares": {"certs": {"passTLSClientCert": {"pem": True, "info": {
                "notAfter": True, "notBefore": True, "sans": True, "serialNumber": True,
                "subject": {"country": True, "province": True, "locality": True,
                            "organization": True, "organizationalUnit": True,
                            "commonName": True, "serialNumber": True, "domainComponent": True},
                "issuer": {"commonName": True}}}}},
        },
        "tls": {
            "certificates": [cert_entry(pki[n]) for n in ("a", "b", "w", "m")],
            "options": options,
        },
    }
    g = module_env.gateway(dynamic=dynamic, static_extra={"core": {"workers": 2}})
    tls_it.wait_https(g.port, "a.test", pki["ca"])
    return g


def test_sni_selects_the_certificate(gw, pki):
    cases = {
        "a.test": "a.test",
        "A.TEST": "a.test",         # SNI is case-insensitive
        "b.test": "b.test",
        "x.w.test": "wildcard",     # *.w.test
        "y.x.w.test": "TRAEFIK DEFAULT CERT",  # a wildcard covers one label only
        "w.test": "TRAEFIK DEFAULT CERT",
        "unknown.test": "TRAEFIK DEFAULT CERT",
        None: "TRAEFIK DEFAULT CERT",  # no SNI
    }
    for name, cn in cases.items():
        hs = s_client(gw.port, name)
        assert hs.ok, hs
        assert hs.subject_cn == cn, (name, hs)


def test_tls_and_plain_routers_share_the_entrypoint(gw, pki):
    r = curl(gw.port, "a.test", "/x", cacert=pki["ca"])
    assert r.rc == 0 and r.status == 200, r
    echo = r.json()
    assert echo["name"] == "tls"
    headers = {k.lower(): v for k, v in echo["headers"]}
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-port"] == str(gw.port)
    plain = it.request(gw.port, "/x", host="a.test")
    assert plain.status == 200 and plain.echo.name == "plain"
    assert plain.echo.header("X-Forwarded-Proto") == "http"
    # b.test has only a TLS router: plain HTTP gets Traefik's 404.
    assert it.request(gw.port, "/", host="b.test").status == 404


def test_rsa_and_ecdsa_certificates(gw, pki):
    hs = s_client(gw.port, "b.test", "-tls1_2")
    assert hs.ok and hs.subject_cn == "b.test" and "RSA" in hs.cipher, hs
    hs = s_client(gw.port, "a.test", "-tls1_2")
    assert hs.ok and "ECDSA" in hs.cipher, hs


def test_default_versions_are_tls12_and_tls13(gw):
    assert s_client(gw.port, "a.test", "-tls1_3").protocol == "TLSv1.3"
    assert s_client(gw.port, "a.test", "-tls1_2").protocol == "TLSv1.2"
    for old in ("-tls1_1", "-tls1"):
        hs = s_client(gw.port, "a.test", old, "-cipher", "DEFAULT@SECLEVEL=0")
        assert not hs.ok, hs


def test_min_and_max_version_options(gw):
    assert s_client(gw.port, "v13.v.test", "-tls1_3").ok
    assert not s_client(gw.port, "v13.v.test", "-tls1_2").ok
    assert s_client(gw.port, "v12.v.test", "-tls1_2").ok
    assert not s_client(gw.port, "v12.v.test", "-tls1_3").ok
    # Without SNI the default options apply: TLS 1.3 is offered.
    assert s_client(gw.port, None, "-tls1_3").ok


def test_cipher_suites_option(gw):
    hs = s_client(gw.port, "cs.v.test")
    assert hs.ok and hs.protocol == "TLSv1.2" and hs.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384", hs
    assert not s_client(gw.port, "cs.v.test", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256").ok
    # The default options offer only ECDHE with AEAD in TLS 1.2.
    for weak in ("ECDHE-ECDSA-AES128-SHA", "AES128-GCM-SHA256"):
        assert not s_client(gw.port, "a.test", "-tls1_2", "-cipher", weak).ok, weak


def test_unknown_tls_options_refuse_the_host(gw):
    assert not s_client(gw.port, "unknown.v.test").ok
    assert s_client(gw.port, "a.test").ok


def test_alpn(gw, pki):
    assert s_client(gw.port, "a.test", "-alpn", "http/1.1").alpn == "http/1.1"
    # The server's preference wins (Go's order): h2 when the client offers it.
    assert s_client(gw.port, "a.test", "-alpn", "http/1.1,h2").alpn == "h2"
    assert s_client(gw.port, "a.test", "-alpn", "h2").alpn == "h2"
    hs = s_client(gw.port, "a.test", "-alpn", "spdy/3")
    assert not hs.ok and "no application protocol" in hs.output, hs
    assert s_client(gw.port, "a.test").alpn is None  # no ALPN offered, none selected
    # acme-tls/1 without a challenge certificate: unrecognized name.
    hs = s_client(gw.port, "a.test", "-alpn", "acme-tls/1")
    assert not hs.ok and "unrecognized name" in hs.output, hs
    # alpnProtocols: [http/1.1] keeps an HTTP/2-capable client on HTTP/1.1.
    r = curl(gw.port, "alpn.v.test", "/", cacert=pki["ca"], args=["--http2"])
    assert r.rc == 0 and r.status == 200 and r.headers.startswith("HTTP/1.1"), r


def test_http2_over_tls(gw, pki):
    # ALPN h2: the same TLS routers, middlewares and services as HTTP/1.1 over TLS.
    r = curl(gw.port, "a.test", "/h2?x=1", cacert=pki["ca"], args=["--http2"])
    assert r.rc == 0 and r.status == 200 and r.headers.startswith("HTTP/2 200"), r
    echo = r.json()
    assert echo["name"] == "tls" and echo["path"] == "/h2?x=1"
    headers = {k.lower(): v for k, v in echo["headers"]}
    assert headers["x-forwarded-proto"] == "https"
    # A host no TLS router serves: Traefik's 404, as an HTTP/2 response.
    r = curl(gw.port, "a.test", "/", cacert=pki["ca"], args=["--http2", "-H", "Host: p.test"])
    assert r.status == 404 and r.headers.startswith("HTTP/2 404"), r
    # passTLSClientCert sees the client certificate on an HTTP/2 stream too.
    r = curl(gw.port, "verify.mtls.test", "/", cacert=pki["ca"], cert=pki["client"],
             args=["--http2"])
    assert r.status == 200 and r.headers.startswith("HTTP/2"), r
    headers = {k.lower(): v for k, v in r.json()["headers"]}
    assert headers["x-forwarded-tls-client-cert"].startswith(pki["client"].der_base64())
    # Domain fronting over HTTP/2 (the :authority maps to other TLS options): 421.
    r = curl(gw.port, "a.test", "/", cacert=pki["ca"],
             args=["--http2", "-H", "Host: verify.mtls.test"])
    assert r.status == 421 and r.headers.startswith("HTTP/2 421"), r


def test_http2_over_tls_under_load(gw, pki):
    # h2load: 4 TLS connections, 10 concurrent streams each, every request answered 200.
    import shutil
    import subprocess
    if not shutil.which("h2load"):
        pytest.skip("h2load (nghttp2-client) is not installed")
    out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10", "--connect-to",
                          f"127.0.0.1:{gw.port}", f"https://a.test:{gw.port}/load"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Application protocol: h2" in out, out
    assert "2000 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 2000 2xx" in out, out


# Client authentication: (type, client certificate) -> served?
MTLS_CASES = [
    ("none", None, True), ("none", "client", True),
    ("req", None, True), ("req", "client", True), ("req", "rogue", True),
    ("any", None, False), ("any", "client", True), ("any", "rogue", True),
    ("ifgiven", None, True), ("ifgiven", "client", True), ("ifgiven", "rogue", False),
    ("verify", None, False), ("verify", "client", True), ("verify", "rogue", False),
]


@pytest.mark.parametrize("kind,client,served", MTLS_CASES)
def test_client_auth_types(gw, pki, kind, client, served):
    for version in ("--tlsv1.3", "--tls-max"):
        args = [version] if version == "--tlsv1.3" else ["--tls-max", "1.2"]
        r = curl(gw.port, f"{kind}.mtls.test", "/", cacert=pki["ca"],
                 cert=pki[client] if client else None, args=args)
        if served:
            assert r.rc == 0 and r.status == 200, (version, r)
        else:
            assert r.rc != 0 and r.status == 0, (version, r)


def test_pass_tls_client_cert(gw, pki):
    client = pki["client"]
    r = curl(gw.port, "verify.mtls.test", "/", cacert=pki["ca"], cert=client)
    assert r.status == 200, r
    headers = {k.lower(): v for k, v in r.json()["headers"]}
    # curl (OpenSSL) sends its certificate and the chain it builds from --cacert: the header
    # lists every certificate the client sent, leaf first (Go's PeerCertificates).
    ca = pki["ca"]
    assert headers["x-forwarded-tls-client-cert"] == client.der_base64() + "," + ca.der_base64()
    info = (f'Subject="DC=org,DC=example,C=FR,ST=Ile,L=Paris,O=Acme,OU=Dev,SN=S-42,CN=client one";'
            f'Issuer="CN=Turnpike Test Root";SerialNumber="{client.serial_decimal()}";'
            f'NB="{client.epoch("-startdate")}";NA="{client.epoch("-enddate")}";'
            f'SAN="client.test,me@example.com,10.0.0.1,spiffe://example/x",'
            f'Subject="CN=Turnpike Test Root";Issuer="CN=Turnpike Test Root";'
            f'SerialNumber="{ca.serial_decimal()}";NB="{ca.epoch("-startdate")}";'
            f'NA="{ca.epoch("-enddate")}"')
    from urllib.parse import quote_plus
    assert headers["x-forwarded-tls-client-cert-info"] == quote_plus(info, safe="~")
    # Without a client certificate nothing is added; a client cannot forge the headers either.
    r = curl(gw.port, "none.mtls.test", "/", cacert=pki["ca"],
             args=["-H", "X-Forwarded-Tls-Client-Cert: forged"])
    headers = {k.lower(): v for k, v in r.json()["headers"]}
    assert "x-forwarded-tls-client-cert" not in headers
    assert "x-forwarded-tls-client-cert-info" not in headers


def test_misdirected_request_421(gw, pki):
    # SNI b.test (default options), Host a.test (default options): same options, served.
    r = curl(gw.port, "b.test", "/", cacert=pki["ca"], args=["-H", "Host: a.test"])
    assert r.status == 200 and r.json()["name"] == "tls", r
    # SNI a.test (default options), Host verify.mtls.test (client authentication required):
    # domain fronting around the client certificate check -> 421.
    r = curl(gw.port, "a.test", "/", cacert=pki["ca"], args=["-H", "Host: verify.mtls.test"])
    assert r.status == 421, r
    assert r.body == b"Misdirected Request\n"
    hs = s_client(gw.port, "x.w.test", request="/", host_header="v13.v.test")
    assert hs.response.startswith("HTTP/1.1 421 Misdirected Request"), hs


@pytest.mark.parametrize("host,args", [
    ("a.test", ["-tls1_3"]),                   # TLS 1.3 tickets (stateless)
    ("a.test", ["-tls1_2"]),                   # TLS 1.2 session tickets
    ("a.test", ["-tls1_2", "-no_ticket"]),     # TLS 1.2 session IDs: the shared session cache
    ("nt.v.test", ["-tls1_3"]),                # disableSessionTickets: stateful TLS 1.3 tickets
])
def test_session_resumption(gw, tmp_path, host, args):
    sess = tmp_path / "sess.pem"
    first = s_client(gw.port, host, *args, "-sess_out", str(sess), request="/")
    assert first.ok and not first.reused and "200 OK" in first.response, first
    # Several reconnections: with two workers some land on the other one.
    for _ in range(4):
        again = s_client(gw.port, host, *args, "-sess_in", str(sess), request="/")
        assert again.reused, again
        assert "200 OK" in again.response


def test_sessions_do_not_resume_across_tls_options(gw, tmp_path):
    sess = tmp_path / "sess.pem"
    assert s_client(gw.port, "v12.v.test", "-tls1_2", "-sess_out", str(sess), request="/").ok
    # Same session, SNI mapped to options with client authentication: a full handshake.
    other = s_client(gw.port, "none.mtls.test", "-tls1_2", "-sess_in", str(sess), request="/")
    assert other.ok and not other.reused, other


def test_websocket_over_tls(gw, pki):
    key = it.ws_key()
    with tls_it.TlsRawConn(gw.port, "ws.w.test", cafile=pki["ca"].crt) as c:
        c.send(it.ws_upgrade_request("/ws", "ws.w.test", key))
        r = c.read_response()
        assert r.status == 101
        assert r.header("Sec-WebSocket-Accept") == it.ws_accept(key)
        for payload in (b"hello", bytes(range(256)) * 300):
            c.send(it.ws_frame(payload, 0x2))
            assert it.ws_read_frame(c) == (0x2, True, payload)
        c.send(it.ws_frame(b"\x03\xe8", 0x8))
        assert it.ws_read_frame(c) == (0x8, True, b"\x03\xe8")


def test_keep_alive_pipelining_and_large_bodies_over_tls(gw, pki):
    with tls_it.TlsRawConn(gw.port, "a.test", cafile=pki["ca"].crt) as c:
        c.send(b"".join(f"GET /bytes/{n} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode()
                        for n in (10, 100000, 3)))
        for n in (10, 100000, 3):
            r = c.read_response()
            assert r.status == 200 and r.body == it.pattern_bytes(n)
        body = it.pattern_bytes(300000)
        c.send(b"POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)
        r = c.read_response()
        assert r.status == 200 and r.json()["body_sha256"] == it.sha256(body)


def test_garbage_after_tls_record_byte_is_a_failed_handshake(gw):
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"\x16GET / HTTP/1.1\r\n\r\n")
        s.settimeout(5)
        data = s.recv(100)
        assert not data.startswith(b"HTTP/"), data  # a TLS alert (or nothing), never HTTP
    assert s_client(gw.port, "a.test").ok


def test_clients_dropping_mid_handshake_do_not_disturb_the_worker(gw):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05\x01")
    assert s_client(gw.port, "a.test", request="/").response.startswith("HTTP/1.1 200")
