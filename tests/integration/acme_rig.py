"""Real ACME and DNS peers for the certificate resolver tests (../../docs/acme.md): Debian's
pebble (the ACME test CA), pebble-challtestsrv (a DNS server that answers every name with
127.0.0.1 and serves TXT records set over HTTP) and bind9 (an authoritative zone with TSIG
dynamic updates). Everything listens on 127.0.0.1 with kernel-chosen ports and is stopped by its
own PID.

Commands follow the verified runbook (testrig.md sections 1-3).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import tls_it
import turnpike_it as it


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP (DNS servers listen on both)."""
    for _ in range(50):
        port = it.free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05, proc=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError(f"{what} not true after {timeout}s (last: {last!r})")


class Daemon:
    """A background process with its log in `workdir`."""

    def __init__(self, name: str, cmd: list[str], workdir: Path, env: dict | None = None):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=workdir, env=full_env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class ChallTestSrv(Daemon):
    """pebble-challtestsrv: DNS on `dns_port` answering A 127.0.0.1 for any name, TXT records set
    through its management API (set-txt / clear-txt)."""

    def __init__(self, workdir: Path):
        self.dns_port = free_udp_tcp_port()
        self.mgmt_port = it.free_port()
        super().__init__("challtestsrv", [
            "pebble-challtestsrv", "-management", f"127.0.0.1:{self.mgmt_port}",
            "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "", "-https01", "",
            "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], workdir)
        it.wait_port(self.mgmt_port, proc=self.proc)

    @property
    def mgmt_url(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}"


class Pebble(Daemon):
    """pebble with its own minica-signed TLS certificate for the directory. `http_port` and
    `tls_port` are where its VA connects to validate HTTP-01 and TLS-ALPN-01 (the gateway's
    entrypoints); `dns_server` resolves names and TXT records for it."""

    def __init__(self, workdir: Path, dns_server: str, http_port: int, tls_port: int,
                 env: dict | None = None, eab_keys: dict | None = None,
                 validity_seconds: int | None = None, blocklist: list[str] | None = None,
                 name: str = "pebble"):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self._gen_certs()
        self.port = it.free_port()
        self.mgmt_port = it.free_port()
        self.http_port, self.tls_port = http_port, tls_port
        cfg = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(self.dir / "cert.pem"),
            "privateKey": str(self.dir / "key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(eab_keys),
        }
        if eab_keys:
            cfg["externalAccountMACKeys"] = eab_keys
        if validity_seconds:
            cfg["certificateValidityPeriod"] = validity_seconds
        if blocklist:
            cfg["domainBlocklist"] = blocklist
        (self.dir / "pebble-config.json").write_text(json.dumps({"pebble": cfg}))
        penv = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
        penv.update(env or {})
        super().__init__(name, ["pebble", "-config", str(self.dir / "pebble-config.json"),
                                "-dnsserver", dns_server], self.dir, penv)
        wait_for(self._ready, 30, "pebble directory", proc=self.proc)

    def _gen_certs(self):
        d = self.dir
        if (d / "cert.pem").exists():
            return
        def run(*args):
            subprocess.run(args, cwd=d, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
            "/CN=pebble test minica", "-keyout", "minica.key.pem", "-out", "minica.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "key.pem", "-out", "csr.pem")
        (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,DNS:pebble,IP:127.0.0.1,IP:::1\n"
                                   "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
        run("openssl", "x509", "-req", "-in", "csr.pem", "-CA", "minica.pem", "-CAkey",
            "minica.key.pem", "-CAcreateserial", "-days", "3650", "-extfile", "ext.cnf",
            "-out", "cert.pem")

    def _ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.minica))

    def _ready(self) -> bool:
        with urllib.request.urlopen(self.directory, context=self._ctx(), timeout=2) as r:
            return r.status == 200

    @property
    def minica(self) -> Path:
        return self.dir / "minica.pem"

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def root_pem(self) -> str:
        """The issuing root (regenerated at every pebble start)."""
        url = f"https://127.0.0.1:{self.mgmt_port}/roots/0"
        with urllib.request.urlopen(url, context=self._ctx(), timeout=5) as r:
            return r.read().decode()

    def orders(self) -> int:
        """Orders created so far (pebble logs one line per new order)."""
        return len(re.findall(r'Added order "', self.log()))

    def resolver(self, storage: Path, **extra) -> dict:
        """A certificatesResolvers.<name>.acme section for this CA."""
        cfg = {"email": "ops@example.com", "caServer": self.directory,
               "caCertificates": [str(self.minica)], "storage": str(storage), "keyType": "EC256"}
        cfg.update(extra)
        return {"acme": cfg}


class Bind(Daemon):
    """named serving zone acme.test (apex and wildcard A 127.0.0.1) on a kernel-chosen port,
    accepting TXT updates signed with the TSIG key acme-key (hmac-sha256)."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "bind"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_tcp_port()
        key = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "acme-key"], check=True,
                             capture_output=True, text=True).stdout
        (self.dir / "tsig.key").write_text(key)
        self.secret = re.search(r'secret "([^"]+)"', key).group(1)
        d = self.dir
        (d / "named.conf").write_text(f'''include "{d}/tsig.key";
options {{
  directory "{d}";  pid-file "{d}/named.pid";
  listen-on port {self.port} {{ 127.0.0.1; }};  listen-on-v6 {{ none; }};
  recursion no;  allow-query {{ any; }};  dnssec-validation no;  notify no;
}};
controls {{ }};
zone "acme.test" {{
  type primary;  file "{d}/db.acme.test";  journal "{d}/db.acme.test.jnl";
  update-policy {{ grant acme-key zonesub TXT; }};
}};
''')
        (d / "db.acme.test").write_text("""$TTL 60
@   IN SOA ns1.acme.test. hostmaster.acme.test. ( 1 60 60 3600 60 )
    IN NS  ns1.acme.test.
ns1 IN A   127.0.0.1
@   IN A   127.0.0.1
*   IN A   127.0.0.1
""")
        named = shutil.which("named") or "/usr/sbin/named"
        super().__init__("named", [named, "-g", "-c", str(d / "named.conf")], d)
        wait_for(lambda: "running" in self.log(), 20, "named", proc=self.proc)

    def env(self) -> dict:
        """lego's RFC2136_* variables for this server."""
        return {"RFC2136_NAMESERVER": f"127.0.0.1:{self.port}", "RFC2136_TSIG_KEY": "acme-key",
                "RFC2136_TSIG_ALGORITHM": "hmac-sha256.", "RFC2136_TSIG_SECRET": self.secret,
                "RFC2136_POLLING_INTERVAL": "1", "RFC2136_PROPAGATION_TIMEOUT": "30",
                "RFC2136_TTL": "10"}


# --------------------------------------------------------------------------------------------
# Fixtures and gateways (imported by the test modules: pytest finds fixtures in their namespace)


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = ChallTestSrv(tmp_path_factory.mktemp("challtestsrv"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory, dns):
    p = Pebble(tmp_path_factory.mktemp("pebble"), f"127.0.0.1:{dns.dns_port}",
                   http_port=it.free_port(), tls_port=it.free_port())
    yield p
    p.stop()


def acme_gateway(env, pebble, storage: Path, routers: dict, resolver_extra: dict | None = None,
                 start: bool = True, entrypoints: dict | None = None, gw_env: dict | None = None,
                 resolver_name: str = "le", service_url: str = "http://127.0.0.1:9",
                 tls: dict | None = None, tcp: dict | None = None, **kw):
    """A gateway whose `web` entrypoint is where pebble validates HTTP-01. Routers use service
    `s` (`service_url`); `tls` and `tcp` are the dynamic configuration's sections."""
    eps = entrypoints or {"web": {"address": f"127.0.0.1:{pebble.http_port}"}}
    extra = dict(resolver_extra or {})
    if not any(k in extra for k in ("dnsChallenge", "tlsChallenge")):
        extra["httpChallenge"] = {"entryPoint": "web"}
    resolver = pebble.resolver(storage, **extra)
    dynamic = {"http": {"routers": routers,
                        "services": {"s": {"loadBalancer": {"servers": [{"url": service_url}]}}}}}
    if tls:
        dynamic["tls"] = tls
    if tcp:
        dynamic["tcp"] = tcp
    gw = env.gateway(start=False, entrypoints=eps, dynamic=dynamic,
                     static_extra={"certificatesResolvers": {resolver_name: resolver}}, **kw)
    if start:
        gw.start(env=gw_env)
    return gw


def tls_router(host: str, resolver: str = "le", **tls) -> dict:
    return {"rule": f"Host(`{host}`)", "service": "s", "tls": {"certResolver": resolver, **tls}}


def wait_error(gw, timeout: float = 30) -> str:
    """The first "unable to obtain" line of the gateway's log."""
    return wait_for(lambda: next((ln for ln in gw.log().splitlines()
                                      if "unable to obtain" in ln), None), timeout, "ACME error log")


@contextlib.contextmanager
def bind_and_pebble(tmp_path: Path, name: str):
    """bind9 with zone acme.test, and a pebble that resolves names and TXT records through it."""
    bind = Bind(tmp_path)
    try:
        p = Pebble(tmp_path, f"127.0.0.1:{bind.port}", http_port=it.free_port(),
                       tls_port=it.free_port(), name=name)
        try:
            yield bind, p
        finally:
            p.stop()
    finally:
        bind.stop()


def certs_report(gw) -> str:
    r = subprocess.run([str(gw.binary), "certs", f"--configFile={gw.static_path}"],
                       capture_output=True, text=True, cwd=gw.workdir, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def assert_issued_by_pebble(entry: dict, pebble, names: list[str], tmp_path: Path):
    chain = cert_pem(entry)
    text = openssl_text(chain)
    for n in names:
        assert f"DNS:{n}" in text, text
    out = verify_chain(chain, pebble.root_pem(), tmp_path)
    assert out.strip().endswith("OK"), out
    assert key_matches(chain, key_pem(entry))


# --------------------------------------------------------------------------------------------
# Reading what the gateway stored


def read_store(path: Path) -> dict:
    text = Path(path).read_text()
    return json.loads(text) if text.strip() else {}


def stored_certs(path: Path, resolver: str) -> list[dict]:
    try:
        data = read_store(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return (data.get(resolver) or {}).get("Certificates") or []


def wait_certificate(path: Path, resolver: str, main: str, timeout: float = 30.0,
                     gateway=None) -> dict:
    def found():
        if gateway is not None and gateway.proc.poll() is not None:
            raise RuntimeError(f"turnpike exited:\n{gateway.log_tail()}")
        for c in stored_certs(path, resolver):
            if c["domain"]["main"] == main:
                return c
        return None
    return wait_for(found, timeout, f"certificate for {main} in {path}", interval=0.02)


def wait_renewed(path: Path, resolver: str, main: str, old_serial: str, timeout: float) -> dict:
    """The stored certificate for `main` once its serial differs from `old_serial`."""
    def renewed():
        c = wait_certificate(path, resolver, main)
        return c if serial(cert_pem(c)) != old_serial else None
    return wait_for(renewed, timeout, f"renewed certificate for {main}", interval=0.1)


def cert_pem(entry: dict) -> str:
    return base64.b64decode(entry["certificate"]).decode()


def key_pem(entry: dict) -> str:
    return base64.b64decode(entry["key"]).decode()


def openssl_text(pem: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, text=True,
                          check=True, capture_output=True).stdout


def serial(pem: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, text=True,
                          check=True, capture_output=True).stdout.strip()


def verify_chain(chain_pem: str, root_pem: str, workdir: Path) -> str:
    """`openssl verify` of the chain's leaf against pebble's root, intermediates untrusted."""
    (workdir / "root.pem").write_text(root_pem)
    (workdir / "chain.pem").write_text(chain_pem)
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain_pem, re.S)
    (workdir / "leaf.pem").write_text(blocks[0])
    r = subprocess.run(["openssl", "verify", "-CAfile", str(workdir / "root.pem"), "-untrusted",
                        str(workdir / "chain.pem"), str(workdir / "leaf.pem")],
                       capture_output=True, text=True)
    return r.stdout + r.stderr


def key_matches(chain_pem: str, key: str) -> bool:
    a = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=chain_pem, text=True,
                       capture_output=True, check=True).stdout
    b = subprocess.run(["openssl", "pkey", "-pubout"], input=key, text=True, capture_output=True,
                       check=True).stdout
    return a == b


# --------------------------------------------------------------------------------------------
# What the gateway serves


def pebble_root(pebble, workdir: Path) -> Path:
    """pebble's issuing root (regenerated at each pebble start) in a file, for -CAfile/--cacert."""
    path = Path(workdir) / f"{pebble.dir.name}-root.pem"
    path.write_text(pebble.root_pem())
    return path


def handshake(port: int, name: str, root: Path, *args: str, **kw) -> tls_it.Handshake:
    """openssl s_client with SNI `name`, verifying the served chain against `root`."""
    return tls_it.s_client(port, name, "-CAfile", str(root), "-verify_return_error", *args, **kw)


def verified(hs: tls_it.Handshake) -> bool:
    return hs.ok and "Verify return code: 0 (ok)" in hs.output


def wait_served(port: int, name: str, root: Path, timeout: float = 30.0,
                predicate=None) -> tls_it.Handshake:
    """Polls until a handshake for `name` presents a certificate that chains to `root` (or that
    satisfies `predicate`)."""
    check = predicate or verified
    return wait_for(lambda: (lambda hs: hs if check(hs) else None)(handshake(port, name, root)),
                    timeout, f"certificate served for {name}", interval=0.05)


def serial_hex(pem: str) -> str:
    """The serial number as s_client's Handshake.serial reports it (upper-case hex)."""
    return serial(pem).split("=", 1)[1]
