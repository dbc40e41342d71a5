"""TLS helpers for the integration suite: a small PKI made with the `openssl` command line, and
thin wrappers around the real TLS peers the tests drive (`openssl s_client`, `curl`, Python's
ssl module for raw byte-level exchanges such as WebSocket frames).

Everything runs on loopback; the gateway is addressed as 127.0.0.1 and names are given by SNI
(`-servername`, curl `--resolve`)."""

from __future__ import annotations

import base64
import calendar
import re
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import turnpike_it as it


# --------------------------------------------------------------------------------------------
# PKI


@dataclass
class Cert:
    crt: Path
    key: Path
    subject: str = ""

    def pem(self) -> str:
        return self.crt.read_text()

    def der_base64(self) -> str:
        der = subprocess.run(["openssl", "x509", "-in", str(self.crt), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        return base64.b64encode(der).decode()

    def field(self, flag: str) -> str:
        """`openssl x509 -noout <flag>` value, e.g. -serial -> 'serial=0A1B'."""
        out = subprocess.run(["openssl", "x509", "-in", str(self.crt), "-noout", flag],
                             check=True, capture_output=True, text=True).stdout.strip()
        return out.split("=", 1)[1]

    def epoch(self, flag: str) -> int:
        """-startdate / -enddate as Unix seconds."""
        return calendar.timegm(time.strptime(self.field(flag), "%b %d %H:%M:%S %Y %Z"))

    def serial_decimal(self) -> str:
        return str(int(self.field("-serial"), 16))


def _run(args, cwd: Path) -> None:
    subprocess.run(args, check=True, cwd=cwd, capture_output=True)


def make_ca(dir: Path, name: str, cn: str) -> Cert:
    dir.mkdir(parents=True, exist_ok=True)
    crt, key = dir / f"{name}.crt", dir / f"{name}.key"
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-days", "90", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt),
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir)
    return Cert(crt, key, f"CN={cn}")


def make_cert(dir: Path, name: str, ca: Cert, subject: str, dns=(), ips=(), emails=(), uris=(),
              client: bool = False, key_type: str = "ec", serial: int | None = None,
              crl: bool = True, usage: str | None = None) -> Cert:
    """A certificate signed by `ca`. `subject` is openssl's form ("/C=FR/O=Acme/CN=x");
    `usage` replaces the extended key usage `client` picks ("serverAuth,clientAuth")."""
    crt, key, csr, ext = (dir / f"{name}.crt", dir / f"{name}.key", dir / f"{name}.csr",
                          dir / f"{name}.ext")
    newkey = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec"
              else ["-newkey", "rsa:2048"])
    _run(["openssl", "req", *newkey, "-nodes", "-subj", subject, "-keyout", str(key),
          "-out", str(csr)], dir)
    sans = ([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips] + [f"email:{e}" for e in emails]
            + [f"URI:{u}" for u in uris])
    lines = ["basicConstraints=critical,CA:FALSE",
             "keyUsage=critical,digitalSignature" + ("" if key_type == "ec" else ",keyEncipherment"),
             "extendedKeyUsage=" + (usage or ("clientAuth" if client else "serverAuth"))]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    if crl:
        # testssl rates a certificate without any revocation information HIGH; the URL is never
        # fetched.
        lines.append("crlDistributionPoints=URI:http://127.0.0.1:9/test.crl")
    ext.write_text("\n".join(lines) + "\n")
    args = ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.crt), "-CAkey", str(ca.key),
            "-days", "200", "-extfile", str(ext), "-out", str(crt)]
    args += ["-set_serial", str(serial)] if serial is not None else ["-CAcreateserial"]
    _run(args, dir)
    return Cert(crt, key, subject)


def self_signed(dir: Path, name: str, cn: str, dns=()) -> Cert:
    crt, key = dir / f"{name}.crt", dir / f"{name}.key"
    args = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "30", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt)]
    if dns:
        args += ["-addext", "subjectAltName=" + ",".join(f"DNS:{d}" for d in dns)]
    _run(args, dir)
    return Cert(crt, key, f"CN={cn}")


# --------------------------------------------------------------------------------------------
# openssl s_client


@dataclass
class Handshake:
    ok: bool
    output: str
    subject_cn: str | None
    protocol: str | None
    cipher: str | None
    alpn: str | None
    reused: bool
    serial: str | None
    response: str
    pem: str | None = None

    def san(self) -> str:
        """The server certificate's subjectAltName as openssl prints it."""
        return subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"],
                              input=self.pem or "", capture_output=True, text=True).stdout

    def __repr__(self):
        return f"Handshake(ok={self.ok}, cn={self.subject_cn!r}, proto={self.protocol}, tail={self.output[-400:]!r})"


def s_client(port: int, servername: str | None = None, *args: str, request: str | None = None,
             host_header: str | None = None, timeout: float = 15.0) -> Handshake:
    """One connection with openssl s_client. With `request` (a path) a GET with Connection: close
    is sent and the response read until the gateway closes (so TLS 1.3 tickets arrive before
    -sess_out writes the session)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    cmd += list(args)
    data = b""
    if request is not None:
        host = host_header or servername or "localhost"
        data = f"GET {request} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        cmd.append("-ign_eof")
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    m = re.search(r"^subject=(.*)$", out, re.M)
    cn = None
    if m:
        cnm = re.search(r"CN\s*=\s*([^,/]+)", m.group(1))
        cn = cnm.group(1).strip() if cnm else None
    # "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256": printed even before a TLS 1.3 session
    # (ticket) arrived, unlike the SSL-Session block.
    summary = re.search(r"^(?:New|Reused), (TLSv[\d.]+), Cipher is (\S+)", out, re.M)
    alpn = re.search(r"^ALPN protocol: (\S+)", out, re.M)
    serial = None
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    if pem:
        serial = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0),
                                capture_output=True, text=True).stdout.strip().split("=")[-1]
    ok = bool(re.search(r"^(New|Reused), TLS", out, re.M)) and "Cipher is (NONE)" not in out
    response = out[out.find("HTTP/1.1"):] if "HTTP/1.1 " in out else ""
    return Handshake(ok, out, cn, summary.group(1) if summary else None,
                     summary.group(2) if summary else None, alpn.group(1) if alpn else None,
                     bool(re.search(r"^Reused, TLS", out, re.M)), serial, response,
                     pem.group(0) if pem else None)


# --------------------------------------------------------------------------------------------
# curl


@dataclass
class CurlResult:
    rc: int
    status: int
    headers: str
    body: bytes
    stderr: str

    def json(self):
        import json
        return json.loads(self.body)


def curl(port: int, host: str, path: str = "/", cacert: Cert | None = None,
         cert: Cert | None = None, args=(), scheme: str = "https",
         timeout: float = 15.0) -> CurlResult:
    cmd = ["curl", "-sS", "--max-time", str(int(timeout)), "-D", "-", "-o", "-",
           "--resolve", f"{host}:{port}:127.0.0.1", f"{scheme}://{host}:{port}{path}"]
    if cacert:
        cmd += ["--cacert", str(cacert.crt)]
    if cert:
        cmd += ["--cert", str(cert.crt), "--key", str(cert.key)]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
    out = p.stdout
    status, headers, body = 0, "", b""
    # 1xx heads and followed redirects (-L) come first; the last head is the response's.
    while out.startswith(b"HTTP/"):
        head, _, rest = out.partition(b"\r\n\r\n")
        headers = head.decode(errors="replace")
        status = int(headers.split()[1])
        out = rest
    body = out
    return CurlResult(p.returncode, status, headers, body, p.stderr.decode(errors="replace"))


def wait_https(port: int, host: str, cacert: Cert, path: str = "/", timeout: float = 15.0,
               predicate=None, cert: Cert | None = None) -> CurlResult:
    """Poll until https://host/path answers something other than 404 (or `predicate`)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = curl(port, host, path, cacert=cacert, cert=cert, timeout=5)
        if (predicate(last) if predicate else (last.rc == 0 and last.status not in (0, 404))):
            return last
        time.sleep(0.05)
    raise TimeoutError(f"https://{host}{path} not ready: {last}")


# --------------------------------------------------------------------------------------------
# Raw bytes over TLS (Python's ssl module)


class TlsRawConn(it.RawConn):
    """RawConn over TLS: exact bytes on a TLS connection (WebSocket frames, pipelining)."""

    closed_errors = (ConnectionResetError, BrokenPipeError, ssl.SSLError)

    def __init__(self, port: int, servername: str, cafile: Path | None = None,
                 timeout: float = 5.0, alpn=None, context: ssl.SSLContext | None = None):
        ctx = context or ssl.create_default_context(cafile=str(cafile) if cafile else None)
        if cafile is None and context is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=servername)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False
        self.timeout = timeout
