"""TLS configuration on gateways of their own: sniStrict, a configured default certificate,
certificates changing live with the dynamic configuration (existing connections continue),
broken certificates, the entrypoint `http.tls` default and `http.redirections.entryPoint` to an
HTTPS entrypoint, and the TLS handshake timeout."""

import json
import subprocess
import time

import pytest

import tls_it
import turnpike_it as it
from tls_it import curl, s_client


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = tls_it.make_ca(d, "ca", "Config Test Root")
    return {
        "dir": d,
        "ca": ca,
        "a": tls_it.make_cert(d, "a", ca, "/CN=a.test", dns=["a.test"]),
        "a2": tls_it.make_cert(d, "a2", ca, "/CN=a.test v2", dns=["a.test"]),
        "default": tls_it.make_cert(d, "default", ca, "/CN=my default", dns=["default.test"]),
    }


def certs(*cs):
    return [{"certFile": str(c.crt), "keyFile": str(c.key)} for c in cs]


def dynamic(up, tls, routers=None):
    return {"http": {"routers": routers or {"a": {"rule": "Host(`a.test`)", "service": "s", "tls": {}}},
                     "services": {"s": it.service(up)}},
            "tls": tls}


def test_sni_strict_refuses_unknown_names(env, pki):
    up = env.upstream("up")
    gw = env.gateway(dynamic=dynamic(up, {"certificates": certs(pki["a"]),
                                          "options": {"default": {"sniStrict": True}}}))
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    assert s_client(gw.port, "a.test").subject_cn == "a.test"
    hs = s_client(gw.port, "b.test")
    assert not hs.ok and "unrecognized name" in hs.output, hs
    hs = s_client(gw.port, None)
    assert not hs.ok and "unrecognized name" in hs.output, hs


def test_configured_default_certificate_and_inline_pem(env, pki):
    up = env.upstream("up")
    a = pki["a"]
    inline = [{"certFile": a.crt.read_text(), "keyFile": a.key.read_text()}]  # PEM in the file
    gw = env.gateway(dynamic=dynamic(up, {
        "certificates": inline,
        "stores": {"default": {"defaultCertificate": certs(pki["default"])[0]}}}))
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    assert s_client(gw.port, "a.test").subject_cn == "a.test"
    assert s_client(gw.port, "other.test").subject_cn == "my default"
    assert s_client(gw.port, None).subject_cn == "my default"


def test_generated_default_certificate_without_any_configuration(env):
    up = env.upstream("up")
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "tls": {}}},
                                       "services": {"s": it.service(up)}}})
    hs = s_client(gw.port, "whatever.test", request="/")
    assert hs.ok and hs.subject_cn == "TRAEFIK DEFAULT CERT", hs
    assert ".traefik.default" in hs.san()  # a random name nobody can ask for
    deadline = time.monotonic() + 10
    while "200 OK" not in hs.response and time.monotonic() < deadline:
        time.sleep(0.05)
        hs = s_client(gw.port, "whatever.test", request="/")
    assert "200 OK" in hs.response, hs


def test_certificates_change_live_and_open_connections_continue(env, pki):
    up = env.upstream("up")
    gw = env.gateway(dynamic=dynamic(up, {"certificates": certs(pki["a"])}))
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    old_serial = s_client(gw.port, "a.test").serial
    assert old_serial
    # A keep-alive connection opened before the change.
    with tls_it.TlsRawConn(gw.port, "a.test", cafile=pki["ca"].crt) as c:
        c.send(b"GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert c.read_response().status == 200
        gw.write_dynamic(dynamic(up, {"certificates": certs(pki["a2"])}))
        deadline = time.monotonic() + 10
        hs = s_client(gw.port, "a.test")
        while hs.subject_cn != "a.test v2" and time.monotonic() < deadline:
            time.sleep(0.05)
            hs = s_client(gw.port, "a.test")
        assert hs.subject_cn == "a.test v2" and hs.serial != old_serial, hs
        # The old connection still works, on the certificate it was established with.
        c.send(b"GET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert c.read_response().status == 200
        assert c.sock.getpeercert()["subject"] == ((("commonName", "a.test"),),)


def test_broken_certificate_is_reported_and_others_serve(env, pki, tmp_path):
    up = env.upstream("up")
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    gw = env.gateway(dynamic=dynamic(up, {"certificates": certs(pki["a"]) + [
        {"certFile": str(bad), "keyFile": str(pki["a"].key)},
        {"certFile": "/nonexistent/x.pem", "keyFile": "/nonexistent/x.key"}]}))
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    log = gw.log()
    assert "tls.certificates[1]: no PEM certificate found" in log
    assert 'tls.certificates[2].certFile: cannot read file "/nonexistent/x.pem"' in log


def test_entrypoint_tls_default_and_redirection_to_https(env, pki):
    up = env.upstream("up")
    web_port, secure_port = it.free_port(), it.free_port()
    env.gateway(
        entrypoints={
            "web": {"address": f"127.0.0.1:{web_port}",
                    "http": {"redirections": {"entryPoint": {"to": "websecure"}}}},
            "websecure": {"address": f"127.0.0.1:{secure_port}", "http": {"tls": {}}},
        },
        dynamic=dynamic(up, {"certificates": certs(pki["a"])},
                        routers={"a": {"rule": "Host(`a.test`)", "service": "s"}}))
    # The router has no tls section: websecure's http.tls makes it a TLS router there.
    tls_it.wait_https(secure_port, "a.test", pki["ca"])
    r = curl(web_port, "a.test", "/p?q=1", scheme="http")
    assert r.status == 301, r
    assert f"Location: https://a.test:{secure_port}/p?q=1" in r.headers, r.headers
    r = curl(web_port, "a.test", "/p", scheme="http", args=["-X", "POST"])
    assert r.status == 308, r
    followed = curl(web_port, "a.test", "/p", cacert=pki["ca"], scheme="http",
                    args=["-L", "--resolve", f"a.test:{secure_port}:127.0.0.1"])
    assert followed.status == 200 and followed.json()["path"] == "/p", followed
    # Plain HTTP on websecure finds no router (they are all TLS there): 404.
    assert it.request(secure_port, "/", host="a.test").status == 404


def test_tls_handshake_timeout(env, pki):
    up = env.upstream("up")
    gw = env.gateway(
        entrypoints={"web": {"transport": {"respondingTimeouts": {"readTimeout": "1s"}}}},
        dynamic=dynamic(up, {"certificates": certs(pki["a"])}))
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    with it.RawConn(gw.port) as c:
        c.send(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then silence
        started = time.monotonic()
        assert c.closed_within(4)
        assert time.monotonic() - started >= 0.5
    assert s_client(gw.port, "a.test").ok


def test_access_log_records_tls_version_and_cipher(env, pki, tmp_path):
    up = env.upstream("up")
    log_file = tmp_path / "access.json"
    gw = env.gateway(dynamic=dynamic(up, {"certificates": certs(pki["a"])}),
                     static_extra={"accessLog": {"filePath": str(log_file), "format": "json"}})
    tls_it.wait_https(gw.port, "a.test", pki["ca"])
    assert curl(gw.port, "a.test", "/logged", cacert=pki["ca"], args=["--tlsv1.3"]).status == 200
    deadline = time.monotonic() + 5
    entry = None
    while entry is None and time.monotonic() < deadline:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        entries = [json.loads(line) for line in lines]
        entry = next((e for e in entries if e["RequestPath"] == "/logged"), None)
        time.sleep(0.05)
    assert entry is not None
    assert entry["RequestScheme"] == "https"
    assert entry["TLSVersion"] == "1.3"
    assert entry["TLSCipher"] == "TLS_AES_128_GCM_SHA256"


def test_validate_reports_tls_problems(turnpike_bin, tmp_path):
    """--validate loads certificates and compiles TLS options with the run-time code."""
    dyn = tmp_path / "dynamic.yml"
    dyn.write_text(it.to_yaml({
        "http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s",
                                   "tls": {"options": "weak"}}},
                 "services": {"s": it.service("http://127.0.0.1:1")}},
        "tls": {"certificates": [{"certFile": "/nonexistent/a.pem", "keyFile": "/nonexistent/a.key"}],
                "options": {"weak": {"cipherSuites": ["TLS_NOPE"]}}},
    }))
    static = tmp_path / "static.yml"
    static.write_text(it.to_yaml({"entryPoints": {"web": {"address": f"127.0.0.1:{it.free_port()}"}},
                                  "providers": {"file": {"filename": str(dyn)}}}))
    p = subprocess.run([str(turnpike_bin), "--validate", f"--configFile={static}"],
                       capture_output=True, text=True, timeout=20, cwd=tmp_path)
    assert p.returncode == 1
    assert 'tls.options.weak@file.cipherSuites: unknown cipher suite "TLS_NOPE"' in p.stderr
    assert 'tls.certificates[0].certFile: cannot read file "/nonexistent/a.pem"' in p.stderr
    assert "router r@file: TLS options \"weak@file\" are broken" in p.stderr
