"""ACME certificate resolvers against real peers: pebble (the CA), pebble-challtestsrv (DNS for
pebble, TXT records for DNS-01) and bind9 (RFC 2136 with TSIG). No mock of the CA: what is
checked is what pebble issued, what the gateway stored, and pebble's own log of orders.

Serving the certificates over HTTPS (each challenge type, DNS-01 apex + wildcard with bind9,
renewal swapped live, failures) is in test_acme_serving.py.

HTTP-01 works like this here: pebble resolves every name to 127.0.0.1 through challtestsrv and
connects to `pebble.http_port`, where the gateway's `web` entrypoint listens.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import socket
import stat
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import acme_rig as rig
import turnpike_it as it
from acme_rig import (acme_gateway, assert_issued_by_pebble, bind_and_pebble, certs_report,  # noqa: F401
                      dns, pebble, tls_router, wait_error)

pytestmark = pytest.mark.skipif(
    not all(Path(p).exists() for p in ("/usr/bin/pebble", "/usr/bin/pebble-challtestsrv")),
    reason="pebble is not installed (scripts/install-deps.sh test)")


# --------------------------------------------------------------------------------------------
# HTTP-01


def test_http01_obtains_and_stores_in_traefik_format(env, pebble, tmp_path):
    storage = tmp_path / "acme.json"
    before = pebble.orders()
    # An HTTP->HTTPS redirection on the challenge entrypoint: the challenge route answers first.
    eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}",
                   "http": {"redirections": {"entryPoint": {"to": "websecure"}}}},
           "websecure": {}}
    gw = acme_gateway(env, pebble, storage, {"app": tls_router("app.example.test")}, entrypoints=eps)
    entry = rig.wait_certificate(storage, "le", "app.example.test", gateway=gw)
    assert_issued_by_pebble(entry, pebble, ["app.example.test"], tmp_path)
    assert pebble.orders() - before == 1
    assert stat.S_IMODE(storage.stat().st_mode) == 0o600
    data = rig.read_store(storage)["le"]
    # Traefik's shape: capitalised Account members, base64 PKCS#1 RSA account key, Store.
    assert data["Account"]["Email"] == "ops@example.com"
    assert data["Account"]["Registration"]["uri"].startswith(pebble.directory.rsplit("/", 1)[0])
    der = base64.b64decode(data["Account"]["PrivateKey"])
    rsa = subprocess.run(["openssl", "rsa", "-inform", "DER", "-noout", "-text"], input=der,
                         capture_output=True)
    assert rsa.returncode == 0 and b"4096 bit" in rsa.stdout
    assert entry["Store"] == "default"
    assert "BEGIN EC PRIVATE KEY" in rig.key_pem(entry)  # keyType EC256, lego's PEM
    # The challenge route answers only published tokens; other paths still redirect.
    r = it.request(pebble.http_port, "/.well-known/acme-challenge/unknown", host="app.example.test")
    assert r.status == 404
    r = it.request(pebble.http_port, "/", host="app.example.test")
    assert r.status in (301, 308) and r.header("Location").startswith("https://app.example.test")
    report = certs_report(gw)
    assert "app.example.test" in report and "valid" in report
    assert not [ln for ln in gw.log().splitlines() if "acme-http@internal" in ln and " E " in ln]


def test_ca_errors_are_logged_with_detail_and_router(env, tmp_path, dns):
    p = rig.Pebble(tmp_path, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                   tls_port=it.free_port(), blocklist=["blocked.test"], name="pebble-block")
    try:
        gw = acme_gateway(env, p, tmp_path / "acme.json", {"bad": tls_router("x.blocked.test")})
        line = wait_error(gw, 30)
        assert "router bad@file" in line
        assert "rejectedIdentifier" in line and "blocked.test" in line  # the CA's own detail
        assert "next attempt not before" in line
    finally:
        p.stop()


# --------------------------------------------------------------------------------------------
# DNS-01


def test_dns01_rfc2136_unsigned_update_is_refused(env, tmp_path):
    """Without the TSIG key bind refuses the update; the error reaches the log with the rcode."""
    with bind_and_pebble(tmp_path, "pebble-bind2") as (bind, p):
        env_vars = {"RFC2136_NAMESERVER": f"127.0.0.1:{bind.port}"}
        extra = {"dnsChallenge": {"provider": "rfc2136", "resolvers": [f"127.0.0.1:{bind.port}"],
                                  "propagation": {"disableANSChecks": True}}}
        gw = acme_gateway(env, p, tmp_path / "acme.json", {"w": tls_router("u.acme.test")},
                          resolver_extra=extra, gw_env=env_vars, entrypoints={"web": {}})
        line = wait_error(gw)
        assert "REFUSED" in line and "router w@file" in line


def _exec_hook(tmp_path: Path, dns) -> Path:
    hook = tmp_path / "challtestsrv-dns.sh"
    hook.write_text(f"""#!/bin/sh
case "$1" in
  present) curl -sf -X POST -d "{{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}}" {dns.mgmt_url}/set-txt ;;
  cleanup) curl -sf -X POST -d "{{\\"host\\":\\"$2\\"}}" {dns.mgmt_url}/clear-txt ;;
esac
""")
    hook.chmod(0o755)
    return hook


def test_dns01_exec_provider(env, pebble, dns, tmp_path):
    storage = tmp_path / "acme.json"
    hook = _exec_hook(tmp_path, dns)
    extra = {"dnsChallenge": {"provider": "exec", "resolvers": [f"127.0.0.1:{dns.dns_port}"],
                              "propagation": {"disableANSChecks": True}}}
    routers = {"w": {"rule": "Host(`exec.example.test`)", "service": "s",
                     "tls": {"certResolver": "le", "domains": [{"main": "exec.example.test",
                                                                "sans": ["*.exec.example.test"]}]}}}
    gw = acme_gateway(env, pebble, storage, routers, resolver_extra=extra,
                      gw_env={"EXEC_PATH": str(hook)}, entrypoints={"web": {}})
    entry = rig.wait_certificate(storage, "le", "exec.example.test", timeout=60, gateway=gw)
    assert_issued_by_pebble(entry, pebble, ["exec.example.test", "*.exec.example.test"], tmp_path)


def test_dns01_httpreq_provider(env, pebble, dns, tmp_path):
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((self.path, body, self.headers.get("Authorization")))
            if self.path == "/present":
                data = json.dumps({"host": body["fqdn"], "value": body["value"]}).encode()
                urllib.request.urlopen(urllib.request.Request(f"{dns.mgmt_url}/set-txt", data=data))
            else:
                data = json.dumps({"host": body["fqdn"]}).encode()
                urllib.request.urlopen(urllib.request.Request(f"{dns.mgmt_url}/clear-txt", data=data))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        storage = tmp_path / "acme.json"
        extra = {"dnsChallenge": {"provider": "httpreq", "resolvers": [f"127.0.0.1:{dns.dns_port}"],
                                  "propagation": {"disableANSChecks": True}}}
        gw_env = {"HTTPREQ_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
                  "HTTPREQ_USERNAME": "u", "HTTPREQ_PASSWORD": "p"}
        gw = acme_gateway(env, pebble, storage, {"w": tls_router("httpreq.example.test")},
                          resolver_extra=extra, gw_env=gw_env, entrypoints={"web": {}})
        entry = rig.wait_certificate(storage, "le", "httpreq.example.test", timeout=60, gateway=gw)
        assert_issued_by_pebble(entry, pebble, ["httpreq.example.test"], tmp_path)
        rig.wait_for(lambda: any(c[0] == "/cleanup" for c in calls), 10, "cleanup call")
        present = next(c for c in calls if c[0] == "/present")
        assert present[1]["fqdn"] == "_acme-challenge.httpreq.example.test."
        assert present[2] == "Basic " + base64.b64encode(b"u:p").decode()
    finally:
        server.shutdown()


def test_wildcard_without_dns_challenge_is_refused(env, pebble, tmp_path):
    routers = {"w": {"rule": "Host(`a.example.test`)", "service": "s",
                     "tls": {"certResolver": "le", "domains": [{"main": "*.example.test"}]}}}
    before = pebble.orders()
    gw = acme_gateway(env, pebble, tmp_path / "acme.json", routers)
    rig.wait_for(lambda: "needs dnsChallenge" in gw.log(), 10, "wildcard error")
    assert pebble.orders() == before


# --------------------------------------------------------------------------------------------
# Account options and protocol robustness


def test_external_account_binding(env, tmp_path, dns):
    mac = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    p = rig.Pebble(tmp_path, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                   tls_port=it.free_port(), eab_keys={"kid-1": mac}, name="pebble-eab")
    try:
        # Without EAB the CA refuses the account, and the log says why.
        gw = acme_gateway(env, p, tmp_path / "none.json", {"a": tls_router("eab0.example.test")})
        rig.wait_for(lambda: "external account binding" in gw.log(), 30, "EAB refusal")
        gw.stop()
        storage = tmp_path / "acme.json"
        gw = acme_gateway(env, p, storage, {"a": tls_router("eab.example.test")},
                          resolver_extra={"eab": {"kid": "kid-1", "hmacEncoded": mac}})
        entry = rig.wait_certificate(storage, "le", "eab.example.test", gateway=gw)
        assert_issued_by_pebble(entry, p, ["eab.example.test"], tmp_path)
    finally:
        p.stop()


def test_bad_nonce_is_retried(env, tmp_path, dns):
    p = rig.Pebble(tmp_path, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                   tls_port=it.free_port(), env={"PEBBLE_WFE_NONCEREJECT": "50"}, name="pebble-nonce")
    try:
        storage = tmp_path / "acme.json"
        gw = acme_gateway(env, p, storage, {"a": tls_router("nonce.example.test")})
        entry = rig.wait_certificate(storage, "le", "nonce.example.test", gateway=gw)
        assert_issued_by_pebble(entry, p, ["nonce.example.test"], tmp_path)
        assert "Configured to reject 50% of good nonces" in p.log()
        assert "unable to obtain" not in gw.log()
    finally:
        p.stop()


# --------------------------------------------------------------------------------------------
# Storage, restarts and rate-limit safety


def _self_signed(tmp_path: Path, name: str, days: int = 90) -> tuple[str, str]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", str(days), "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName=DNS:{name}", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    return (tmp_path / "c.pem").read_text(), (tmp_path / "k.pem").read_text()


def test_traefik_acme_json_is_reused_without_a_new_order(env, pebble, tmp_path):
    cert, key = _self_signed(tmp_path, "reuse.example.test")
    account_key = subprocess.run(["openssl", "genrsa", "-traditional", "2048"], capture_output=True,
                                 check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-outform", "DER"], input=account_key,
                         capture_output=True, check=True).stdout
    storage = tmp_path / "acme.json"
    # Exactly what Traefik 3 writes (MarshalIndent, lego v4 KeyType), plus a resolver we ignore.
    storage.write_text(json.dumps({
        "le": {
            "Account": {"Email": "ops@example.com",
                        "Registration": {"body": {"status": "valid", "contact": ["mailto:ops@example.com"]},
                                         "uri": pebble.directory.replace("/dir", "/my-account/1")},
                        "PrivateKey": base64.b64encode(der).decode(), "KeyType": "4096"},
            "Certificates": [{"domain": {"main": "reuse.example.test"},
                              "certificate": base64.b64encode(cert.encode()).decode(),
                              "key": base64.b64encode(key.encode()).decode(), "Store": "default"}]},
        "other": {"Account": None, "Certificates": None}}, indent=2))
    storage.chmod(0o600)
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, {"r": tls_router("reuse.example.test")})
    rig.wait_for(lambda: "configuration 1 applied" in gw.log(), 10, "configuration applied")
    rig.wait_for(lambda: "1 stored certificate(s)" in gw.log(), 10, "stored certificate loaded")
    time.sleep(1.0)  # an order would start within milliseconds of the configuration
    assert pebble.orders() == before
    assert "ordering" not in gw.log()
    assert "reuse.example.test" in certs_report(gw)
    assert rig.read_store(storage)["le"]["Certificates"][0]["certificate"] == \
        base64.b64encode(cert.encode()).decode()


def test_storage_permissions_are_enforced_with_an_opt_out(env, pebble, tmp_path):
    storage = tmp_path / "acme.json"
    storage.write_text("{}")
    storage.chmod(0o644)
    gw = acme_gateway(env, pebble, storage, {"r": tls_router("perm.example.test")})
    rig.wait_for(lambda: "too open" in gw.log(), 10, "permission error")
    assert f"permissions 644 for {storage} are too open, please use 600" in gw.log()
    assert "the resolver is disabled" in gw.log()
    gw.stop()
    assert stat.S_IMODE(storage.stat().st_mode) == 0o644  # never changed behind the user's back
    gw = acme_gateway(env, pebble, storage, {"r": tls_router("perm.example.test")},
                      resolver_extra={"insecureStoragePermissions": True})
    rig.wait_certificate(storage, "le", "perm.example.test", gateway=gw)
    assert stat.S_IMODE(storage.stat().st_mode) == 0o644


def test_twenty_restarts_make_no_new_order(env, pebble, tmp_path):
    storage = tmp_path / "acme.json"
    routers = {"r": tls_router("restart.example.test")}
    gw = acme_gateway(env, pebble, storage, routers)
    rig.wait_certificate(storage, "le", "restart.example.test", gateway=gw)
    gw.stop()
    after_first = pebble.orders()
    for i in range(20):
        gw = acme_gateway(env, pebble, storage, routers)
        rig.wait_for(lambda: "configuration 1 applied" in gw.log(), 10, "configuration applied")
        if i % 2:
            gw.kill()  # a crash loop, not only clean restarts
        else:
            gw.stop()
    time.sleep(0.3)
    assert pebble.orders() == after_first


def test_kill9_during_issuance_keeps_storage_valid(env, pebble, tmp_path):
    storage = tmp_path / "acme.json"
    # A first certificate (and the account) exist; each crash must leave them intact.
    gw = acme_gateway(env, pebble, storage, {"a": tls_router("keep.example.test")})
    kept = rig.wait_certificate(storage, "le", "keep.example.test", gateway=gw)
    gw.stop()
    routers = {"a": tls_router("keep.example.test"), "b": tls_router("crash.example.test")}
    before = pebble.orders()
    rnd = random.Random(4)
    # A kill in the middle of a write leaves its temporary file behind (the rename never
    # happened); the next start must remove it.
    leftovers: list = []
    logs: list[str] = []
    for i in range(10):
        if i:
            logs.append(gw.log())
        gw = acme_gateway(env, pebble, storage, routers)
        rig.wait_for(lambda: "configuration 1 applied" in gw.log(), 10, "configuration applied")
        assert not [p for p in leftovers if p.exists()], leftovers
        time.sleep(rnd.uniform(0.0, 0.25))
        gw.kill()
        data = rig.read_store(storage)  # always parses
        assert stat.S_IMODE(storage.stat().st_mode) == 0o600
        certs = {c["domain"]["main"]: c for c in data["le"]["Certificates"]}
        assert certs["keep.example.test"]["certificate"] == kept["certificate"]
        leftovers = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    gw = acme_gateway(env, pebble, storage, routers)
    rig.wait_for(lambda: "configuration 1 applied" in gw.log(), 10, "configuration applied")
    assert not [p for p in leftovers if p.exists()], leftovers
    rig.wait_certificate(storage, "le", "crash.example.test", timeout=120, gateway=gw)
    # Orders resumed from storage or found again through the account's order list: at most one
    # order beyond the one that a run without crashes would have made, plus one for each stored
    # order that a kill made invalid (killed while the CA was validating: its HTTP-01 request
    # found no gateway), which the next run must report and replace.
    logs.append(gw.log())
    invalidated = sum(len(re.findall(r"stored order \S+ for crash\.example\.test cannot be "
                                     r"resumed \(invalid\)", log)) for log in logs)
    assert pebble.orders() - before <= 2 + invalidated, (pebble.orders() - before, invalidated)


def test_failed_validation_backs_off_across_restarts(env, pebble, tmp_path):
    storage = tmp_path / "acme.json"
    # The challenge entrypoint is not where pebble connects: validation fails.
    eps = {"web": {}}
    routers = {"r": tls_router("fail.example.test")}
    before = pebble.orders()
    gw = acme_gateway(env, pebble, storage, routers, entrypoints=eps)
    line = wait_error(gw, 30)
    assert "http-01 challenge for fail.example.test failed" in line and "connection" in line.lower()
    assert pebble.orders() - before == 1
    gw.stop()
    for _ in range(5):
        gw = acme_gateway(env, pebble, storage, routers, entrypoints=eps)
        rig.wait_for(lambda: "not ordering a certificate for fail.example.test" in gw.log(), 10,
                     "backoff message")
        gw.kill()
    assert pebble.orders() - before == 1
    entry = rig.read_store(storage)["le"]["Turnpike"]["ledger"]["fail.example.test"]
    assert entry["failures"] == 1 and entry["nextAttempt"]
    assert "backing off until" in certs_report(gw)


# --------------------------------------------------------------------------------------------
# CA connection and chain options


def test_ca_server_name_and_ca_certificates(env, pebble, tmp_path):
    # pebble's directory certificate names localhost, pebble and 127.0.0.1: caServerName makes
    # "pebble" the name to check instead of the URL's host.
    storage = tmp_path / "acme.json"
    gw = acme_gateway(env, pebble, storage, {"r": tls_router("sni.example.test")},
                      resolver_extra={"caServerName": "pebble"})
    rig.wait_certificate(storage, "le", "sni.example.test", gateway=gw)
    gw.stop()
    gw = acme_gateway(env, pebble, tmp_path / "wrong.json", {"r": tls_router("sni2.example.test")},
                      resolver_extra={"caServerName": "not-pebble.example"})
    line = wait_error(gw, 30)
    assert "sni2.example.test" in line and "certificate" in line.lower()
    gw.stop()
    # Without caCertificates the system roots do not know pebble's minica.
    resolver = pebble.resolver(tmp_path / "noca.json", httpChallenge={"entryPoint": "web"})
    del resolver["acme"]["caCertificates"]
    gw = env.gateway(start=False, entrypoints={"web": {"address": f"127.0.0.1:{pebble.http_port}"}},
                     dynamic={"http": {"routers": {"r": tls_router("noca.example.test")},
                                       "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}}},
                     static_extra={"certificatesResolvers": {"le": resolver}})
    gw.start(env={"LEGO_CA_CERTIFICATES": ""})
    line = wait_error(gw, 30)
    assert "directory" in line and "certificate" in line.lower()


def test_preferred_chain_picks_the_alternate(env, tmp_path, dns):
    p = rig.Pebble(tmp_path, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                   tls_port=it.free_port(), env={"PEBBLE_ALTERNATE_ROOTS": "1"}, name="pebble-alt")
    try:
        import re as _re
        import ssl as _ssl
        import urllib.request as _ur
        ctx = _ssl.create_default_context(cafile=str(p.minica))
        with _ur.urlopen(f"https://127.0.0.1:{p.mgmt_port}/roots/1", context=ctx) as r:
            alt_root = r.read().decode()
        alt_cn = _re.search(r"CN ?= ?(.*)", subprocess.run(
            ["openssl", "x509", "-noout", "-subject"], input=alt_root, text=True,
            capture_output=True, check=True).stdout).group(1).strip()
        storage = tmp_path / "acme.json"
        gw = acme_gateway(env, p, storage, {"r": tls_router("chain.example.test")},
                          resolver_extra={"preferredChain": alt_cn})
        entry = rig.wait_certificate(storage, "le", "chain.example.test", gateway=gw)
        chain = rig.cert_pem(entry)
        out = rig.verify_chain(chain, alt_root, tmp_path)
        assert out.strip().endswith("OK"), out  # chains up to the alternate root
        default_root = p.root_pem()
        assert not rig.verify_chain(chain, default_root, tmp_path).strip().endswith("OK")
    finally:
        p.stop()


# --------------------------------------------------------------------------------------------
# ACME Renewal Information (RFC 9773)


def test_renewal_information_window_triggers_renewal(env, pebble, tmp_path):
    """pebble 2.4 has no renewalInfo, so a small HTTPS front adds it to pebble's directory and
    answers renewal-info requests; everything else goes to pebble itself (the directory's URLs
    point there). The first certificate's window lies in the past: it is renewed at once; the
    renewed one gets a window far ahead and is left alone."""
    import ssl as _ssl
    import urllib.request as _ur

    seen = []
    front_port = it.free_port()
    first_id = {}

    class Front(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/dir":
                ctx = _ssl.create_default_context(cafile=str(pebble.minica))
                with _ur.urlopen(pebble.directory, context=ctx) as r:
                    d = json.loads(r.read())
                d["renewalInfo"] = f"https://127.0.0.1:{front_port}/renewal-info"
                body = json.dumps(d).encode()
            elif self.path.startswith("/renewal-info/"):
                cert_id = self.path.rsplit("/", 1)[1]
                seen.append(cert_id)
                first_id.setdefault("id", cert_id)
                now = time.time()
                start, end = (now - 120, now - 60) if cert_id == first_id["id"] else (now + 86400, now + 2 * 86400)
                fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
                body = json.dumps({"suggestedWindow": {"start": fmt(start), "end": fmt(end)}}).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", front_port), Front)
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pebble.dir / "cert.pem", pebble.dir / "key.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        storage = tmp_path / "acme.json"
        resolver = pebble.resolver(storage, httpChallenge={"entryPoint": "web"})
        resolver["acme"]["caServer"] = f"https://127.0.0.1:{front_port}/dir"
        gw = env.gateway(start=False, entrypoints={"web": {"address": f"127.0.0.1:{pebble.http_port}"}},
                         dynamic={"http": {"routers": {"r": tls_router("ari.example.test")},
                                           "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}}},
                         static_extra={"certificatesResolvers": {"le": resolver}})
        gw.start()
        first = rig.wait_certificate(storage, "le", "ari.example.test", gateway=gw)
        s1 = rig.serial(rig.cert_pem(first))
        second = rig.wait_renewed(storage, "le", "ari.example.test", s1, 30)
        assert "(ACME renewal information)" in gw.log()
        # The certificate ID is base64url(AKI) "." base64url(serial): the serial part is the first
        # certificate's serial number.
        serial_hex = s1.split("=")[1].lower()
        serial_bytes = bytes.fromhex(serial_hex.rjust(len(serial_hex) + len(serial_hex) % 2, "0"))
        if serial_bytes[0] & 0x80:
            serial_bytes = b"\x00" + serial_bytes
        assert seen[0].split(".")[1] == base64.urlsafe_b64encode(serial_bytes).decode().rstrip("=")
        # The renewed certificate's window is a day ahead: no third certificate.
        rig.wait_for(lambda: len(seen) >= 2, 10, "renewal info for the new certificate")
        time.sleep(1.0)
        assert rig.serial(rig.cert_pem(rig.wait_certificate(storage, "le", "ari.example.test"))) == \
            rig.serial(rig.cert_pem(second))
    finally:
        server.shutdown()


def test_unresponsive_ca_times_out(env, pebble, tmp_path):
    """A CA that accepts connections and never answers: clientResponseHeaderTimeout ends the
    attempt, and the gateway keeps serving."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        resolver_extra = {"clientResponseHeaderTimeout": "1s"}
        gw = acme_gateway(env, pebble, tmp_path / "acme.json", {"r": tls_router("slow.example.test")},
                          resolver_extra=resolver_extra, start=False)
        # Point the resolver at the silent listener.
        text = gw.static_path.read_text().replace(pebble.directory,
                                                  f"https://127.0.0.1:{silent.getsockname()[1]}/dir")
        assert text != gw.static_path.read_text()
        gw.static_path.write_text(text)
        t0 = time.monotonic()
        gw.start()
        line = wait_error(gw, 20)
        assert "no response headers within the timeout" in line
        # The default (30 s) would take longer; the first attempt also waits for the RSA-4096
        # account key, which takes seconds on a loaded 2-core machine.
        assert time.monotonic() - t0 < 20
        assert it.request(pebble.http_port, "/.well-known/acme-challenge/x").status == 404
    finally:
        silent.close()
