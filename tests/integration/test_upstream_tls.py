"""https:// upstreams over HTTP/1.1 and the TLS fields of serversTransports: verification
against rootCAs (files and inline PEM) or the system store, insecureSkipVerify, serverName (SNI
and verification name), client certificates (mTLS), min/max version, cipherSuites, peerCertURI,
session resumption, WebSocket through a TLS upstream, and a broken transport disabling only the
services that use it.

Upstreams: peers/upstream_peer.py over TLS offering only http/1.1 in ALPN (it reports the TLS
version, cipher, SNI, client certificate and resumption it saw), and `openssl s_server -www`.
"""

import os
import subprocess
import time

import pytest

import turnpike_it as it
import upstream_it as ut
from turnpike_it import Client, request


@pytest.fixture(scope="module")
def gw(module_env, pki):
    env = module_env
    cert = (pki.path("server.pem"), pki.path("server.key"))
    h1 = ("--alpn", "http/1.1")
    peers = {
        "plain": ut.upstream_peer(env, "plain", "--tls", *cert, *h1),
        "mtls": ut.upstream_peer(env, "mtls", "--tls", *cert, "--client-ca",
                                 pki.path("client-ca.pem"), *h1),
        "tls13": ut.upstream_peer(env, "tls13", "--tls", *cert, "--min-tls", "1.3", *h1),
        "tls12": ut.upstream_peer(env, "tls12", "--tls", *cert, "--max-tls", "1.2", *h1),
        "rogue": ut.upstream_peer(env, "rogue", "--tls", pki.path("rogue.pem"),
                                  pki.path("rogue.key"), *h1),
        "other": ut.upstream_peer(env, "other", "--tls", pki.path("other.pem"),
                                  pki.path("other.key"), *h1),
    }
    ca = pki.path("ca.pem")
    ca_inline = open(ca).read()
    url = lambda p: peers[p].url("https")  # noqa: E731
    localhost = lambda p: f"https://localhost:{peers[p].port}"  # noqa: E731
    routes = {
        # name: (server url, transport or None for default@internal)
        "trusted": (url("plain"), "trusted"),
        "inline": (url("plain"), "inline"),
        "sni": (localhost("plain"), "trusted"),
        "system": (url("plain"), None),
        "rogue": (url("rogue"), "trusted"),
        "insecure": (url("rogue"), "insecure"),
        "named": (url("other"), "named"),
        "wrongname": (url("plain"), "wrongname"),
        "unnamed": (url("other"), "trusted"),
        "mtls": (url("mtls"), "mtls"),
        "nocert": (url("mtls"), "trusted"),
        "max12": (url("tls13"), "max12"),
        "min13": (url("tls12"), "min13"),
        "min13ok": (url("plain"), "min13"),
        "cipher": (url("tls12"), "cipher"),
        "uri": (url("plain"), "uri"),
        "uribad": (url("plain"), "uribad"),
        "uriinsecure": (url("rogue"), "uriinsecure"),
        "resume": (url("plain"), "noreuse"),
        "broken": (url("plain"), "broken"),
    }
    services = {}
    routers = {}
    for name, (server, transport) in routes.items():
        lb = {"servers": [{"url": server}]}
        if transport:
            lb["serversTransport"] = transport
        services[name] = {"loadBalancer": lb}
        routers[name] = {"rule": f"Host(`{name}.test`)", "service": name}
    roots = {"rootCAs": [ca]}
    dynamic = {"http": {
        "routers": routers,
        "services": services,
        "serversTransports": {
            "trusted": roots,
            "inline": {"rootCAs": [ca_inline]},
            "insecure": {"insecureSkipVerify": True},
            "named": {**roots, "serverName": "other.test"},
            "wrongname": {**roots, "serverName": "nope.test"},
            "mtls": {**roots, "certificates": [{"certFile": pki.path("client.pem"),
                                                "keyFile": pki.path("client.key")}]},
            "max12": {**roots, "maxVersion": "VersionTLS12"},
            "min13": {**roots, "minVersion": "VersionTLS13"},
            "cipher": {**roots, "maxVersion": "VersionTLS12",
                       "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]},
            "uri": {**roots, "peerCertURI": "spiffe://turnpike.test/upstream"},
            "uribad": {**roots, "peerCertURI": "spiffe://turnpike.test/someone-else"},
            "uriinsecure": {**roots, "insecureSkipVerify": True,
                            "peerCertURI": "spiffe://turnpike.test/upstream"},
            "noreuse": {**roots, "maxIdleConnsPerHost": -1},
            "broken": {"rootCAs": ["/nonexistent/ca.pem"]},
        },
    }}
    g = env.gateway(dynamic=dynamic, static_extra={"core": {"workers": 1}},
                    ready=("trusted.test", "/"))
    g.peers = peers
    g.pki = pki
    return g


def tls_of(resp):
    assert resp.status == 200, resp
    return resp.json()["tls"]


def test_https_upstream_with_root_cas(gw):
    r = request(gw.port, "/hello", host="trusted.test")
    echo = r.json()
    assert echo["protocol"] == "HTTP/1.1"
    assert echo["path"] == "/hello"
    assert echo["tls"]["alpn"] == "http/1.1"
    assert echo["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_root_cas_inline_pem(gw):
    assert tls_of(request(gw.port, "/", host="inline.test"))["version"]


def test_system_store_rejects_private_ca_with_502_and_logs_why(gw):
    r = request(gw.port, "/", host="system.test")
    assert r.status == 502
    assert "certificate verify failed" in gw.log()


def test_untrusted_root_502(gw):
    assert request(gw.port, "/", host="rogue.test").status == 502


def test_insecure_skip_verify_accepts_any_certificate(gw):
    assert tls_of(request(gw.port, "/", host="insecure.test"))["version"]


def test_sni_is_the_url_host_not_the_passed_host_header(gw):
    # passHostHeader (default): the upstream gets Host sni.test, but SNI and verification use the
    # server URL's host (Traefik/Go: the URL host).
    r = request(gw.port, "/", host="sni.test")
    echo = r.json()
    assert echo["authority"] == "sni.test"
    assert echo["tls"]["sni"] == "localhost"


def test_ip_literal_url_sends_no_sni_and_verifies_the_ip(gw):
    assert tls_of(request(gw.port, "/", host="trusted.test"))["sni"] is None


def test_server_name_sets_sni_and_verification_name(gw):
    assert tls_of(request(gw.port, "/", host="named.test"))["sni"] == "other.test"
    # The same certificate through a transport without serverName: 127.0.0.1 is not in it.
    assert request(gw.port, "/", host="unnamed.test").status == 502


def test_server_name_not_in_certificate_502(gw):
    assert request(gw.port, "/", host="wrongname.test").status == 502


def test_client_certificate_for_mtls(gw):
    assert tls_of(request(gw.port, "/", host="mtls.test"))["client_subject"] == {
        "commonName": "turnpike-client"}


def test_mtls_upstream_refuses_gateway_without_certificate(gw):
    assert request(gw.port, "/", host="nocert.test").status == 502


def test_max_version_refused_by_tls13_only_upstream(gw):
    assert request(gw.port, "/", host="max12.test").status == 502


def test_min_version_refused_by_tls12_only_upstream(gw):
    assert request(gw.port, "/", host="min13.test").status == 502
    assert tls_of(request(gw.port, "/", host="min13ok.test"))["version"] == "TLSv1.3"


def test_cipher_suites(gw):
    t = tls_of(request(gw.port, "/", host="cipher.test"))
    assert t["version"] == "TLSv1.2"
    assert t["cipher"] == "ECDHE-ECDSA-AES256-GCM-SHA384"


def test_peer_cert_uri(gw):
    assert request(gw.port, "/", host="uri.test").status == 200
    assert request(gw.port, "/", host="uribad.test").status == 502
    assert "peerCertURI" in gw.log()


def test_peer_cert_uri_verifies_the_chain_even_with_insecure_skip_verify(gw):
    # Traefik checks the chain against rootCAs for peerCertURI whatever insecureSkipVerify says.
    assert request(gw.port, "/", host="uriinsecure.test").status == 502


def test_session_resumption_on_new_connections(gw):
    # maxIdleConnsPerHost -1: nothing is pooled, so every request makes a new TLS connection.
    first = tls_of(request(gw.port, "/", host="resume.test"))
    assert first["resumed"] is False
    later = [tls_of(request(gw.port, "/", host="resume.test"))["resumed"] for _ in range(3)]
    assert later == [True, True, True]


def test_keep_alive_reuses_the_tls_connection(gw):
    with Client(gw.port) as c:
        ids = {c.get("/", host="trusted.test").json()["conn_id"] for _ in range(5)}
    assert len(ids) == 1


def test_large_bodies_both_ways_over_tls(gw):
    body = os.urandom(3 * 1024 * 1024 + 17)
    r = request(gw.port, "/echo-body", method="POST", host="trusted.test", body=body)
    assert r.status == 200 and r.body == body
    r = request(gw.port, "/bytes/5000000", host="trusted.test")
    assert r.status == 200 and r.body == it.pattern_bytes(5000000)


def test_request_trailers_reach_http11_upstream(gw):
    with it.RawConn(gw.port) as c:
        c.send(b"POST /post HTTP/1.1\r\nHost: trusted.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
               ut.chunk(b"payload") + b"0\r\nX-Digest: sha-256=abc\r\n\r\n")
        echo = c.read_response().json()
    assert echo["protocol"] == "HTTP/1.1" and echo["body_length"] == 7
    assert ["x-digest", "sha-256=abc"] in [[k.lower(), v] for k, v in echo["trailers"]]


def test_trailers_from_https_upstream_reach_http1_client(gw):
    with it.RawConn(gw.port) as c:
        c.send(b"GET /trailers HTTP/1.1\r\nHost: trusted.test\r\nTE: trailers\r\n\r\n")
        head = ut.read_head(c)
        assert head.status == 200
        assert "chunked" in head.header("Transfer-Encoding").lower()
        body, trailers = ut.read_chunked_with_trailers(c)
    assert body == b"ok"
    assert ("x-trailer-one", "1") in trailers and ("x-trailer-two", "2") in trailers


def test_websocket_through_tls_upstream(gw):
    ut.websocket_roundtrip(gw.port, "trusted.test", b"hello over tls")


def test_broken_transport_disables_only_its_services(gw):
    assert request(gw.port, "/", host="broken.test").status == 404
    log = gw.log()
    assert "http.serversTransports.broken@file.rootCAs[0]" in log
    assert "/nonexistent/ca.pem" in log
    assert request(gw.port, "/", host="trusted.test").status == 200


def test_validate_reports_broken_transport(gw):
    r = subprocess.run([str(gw.binary), "--validate", f"--configFile={gw.static_path}"],
                       capture_output=True, text=True, cwd=gw.workdir, timeout=30)
    assert r.returncode == 1
    assert "rootCAs[0]: open /nonexistent/ca.pem" in r.stdout + r.stderr


@pytest.fixture
def s_server(env, pki):
    port = it.free_port()
    log = open(env.workdir / "s_server.log", "ab")
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pki.path("server.pem"),
         "-key", pki.path("server.key"), "-www", "-naccept", "20"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    class Proc:
        def stop(self):
            it.stop_process(proc)
            log.close()
    env.group.add(Proc())
    it.wait_port(port, proc=proc)
    # wait_port's probe connection counts against -naccept and leaves a failed handshake.
    return port


def test_openssl_s_server_upstream_and_resumption(env, pki, s_server):
    # s_server -www answers HTTP/1.0 and closes: each request is a new TLS connection, and the
    # status page says whether the session was new or reused.
    g = env.gateway(dynamic={"http": {
        "routers": {"s": {"rule": "Host(`s.test`)", "service": "s"}},
        "services": {"s": {"loadBalancer": {
            "servers": [{"url": f"https://127.0.0.1:{s_server}"}], "serversTransport": "t"}}},
        "serversTransports": {"t": {"rootCAs": [pki.path("ca.pem")]}},
    }}, static_extra={"core": {"workers": 1}})
    first = g.wait_route("s.test", "/", predicate=lambda r: r.status == 200)
    assert b"Ciphers supported in s_server binary" in first.body
    assert b"New, TLSv1.3" in first.body
    second = request(g.port, "/", host="s.test")
    assert second.status == 200
    assert b"Reused, TLSv1.3" in second.body


def test_system_store_is_read_from_the_certificate_directory(env, pki, monkeypatch):
    # The default transport trusts the system roots, looked up in the hashed certificate
    # directory; SSL_CERT_DIR points it at one holding the test CA (as update-ca-certificates
    # would have installed it).
    certs = env.workdir / "certs"
    certs.mkdir()
    (certs / "turnpike-test-ca.pem").write_bytes(open(pki.path("ca.pem"), "rb").read())
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    peer = ut.upstream_peer(env, "sys", "--tls", pki.path("server.pem"), pki.path("server.key"),
                            "--alpn", "http/1.1")
    monkeypatch.setenv("SSL_CERT_DIR", str(certs))
    g = env.gateway(dynamic={"http": {
        "routers": {"s": {"rule": "Host(`s.test`)", "service": "s"}},
        "services": {"s": {"loadBalancer": {"servers": [{"url": peer.url("https")}]}}},
    }}, static_extra={"core": {"workers": 1}})
    r = g.wait_route("s.test", "/", predicate=lambda r: r.status != 404)
    assert r.status == 200, g.log_tail()
