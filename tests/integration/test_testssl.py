"""testssl (Debian's testssl.sh 3.0.8) against the default TLS configuration (test plan T-T1):
only TLS 1.2 and 1.3 offered, and no finding of severity MEDIUM or worse.

The scan covers protocols, cipher categories, forward secrecy, server preferences, server
defaults (certificate), HTTP headers and the vulnerability checks; the client simulation is left
out (it only lists what simulated browsers negotiate). It takes about 4 minutes on a loaded
2-core machine, hence the `slow` mark (deselect with -m 'not slow').

The certificate is a test CA's (given to testssl with --add-ca) with a CRL distribution point,
so that the certificate checks judge the gateway and not a self-signed test artefact; the
router adds HSTS and the usual security headers with the headers middleware, as a production
configuration would."""

import json
import shutil
import subprocess

import pytest

import tls_it
import turnpike_it as it

pytestmark = pytest.mark.slow

SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}


@pytest.mark.skipif(shutil.which("testssl") is None, reason="testssl is not installed")
def test_testssl_default_configuration(env, tmp_path):
    ca = tls_it.make_ca(tmp_path, "ca", "Scan Root")
    cert = tls_it.make_cert(tmp_path, "srv", ca, "/CN=scan.test", dns=["scan.test"])
    up = env.upstream("up")
    gw = env.gateway(dynamic={
        "http": {
            "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "tls": {},
                              "middlewares": ["security"]}},
            "middlewares": {"security": {"headers": {
                "stsSeconds": 31536000, "contentTypeNosniff": True, "frameDeny": True}}},
            "services": {"s": it.service(up)},
        },
        "tls": {"certificates": [{"certFile": str(cert.crt), "keyFile": str(cert.key)}]},
    })
    tls_it.wait_https(gw.port, "scan.test", ca)
    out = tmp_path / "testssl.json"
    cmd = ["testssl", "--quiet", "--color", "0", "--nodns", "none", "--add-ca", str(ca.crt),
           "--ip", "127.0.0.1", "--protocols", "--std", "--fs", "--server-preference",
           "--server-defaults", "--headers", "--vulnerable", "--jsonfile", str(out),
           f"scan.test:{gw.port}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    assert out.exists(), p.stdout[-3000:] + p.stderr[-2000:]
    findings = json.loads(out.read_text())
    by_id = {f["id"]: f for f in findings}
    offered = {pid for pid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")
               if by_id[pid]["finding"].startswith("offered")}
    assert offered == {"TLS1_2", "TLS1_3"}, {k: by_id[k]["finding"] for k in by_id if k.startswith(("SSL", "TLS"))}
    severe = [(f["id"], f["severity"], f["finding"]) for f in findings if f["severity"] in SEVERE]
    assert severe == [], severe
    it.MEASUREMENTS.append(f"testssl: {len(findings)} findings, none MEDIUM or worse")
