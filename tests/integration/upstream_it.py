"""Helpers for the upstream-protocol tests (test_upstream_tls.py, test_upstream_h2.py,
test_grpc.py): a small PKI made with the openssl CLI, the python peers of ./peers (HTTP/2 and
HTTP/1.1 over TLS or cleartext, gRPC), nghttpd, and client-side helpers for chunked responses
with trailers and gRPC message framing over HTTP/1.1.

Every process is registered with the test's ProcessGroup (conftest.Env.group) and stopped by its
own PID.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import turnpike_it as it

PEERS = Path(__file__).resolve().parent / "peers"
PYTHON = "/usr/bin/python3"  # Debian's, with python3-h2, -h11 and -grpcio


# --------------------------------------------------------------------------------------------
# PKI


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """Certificates under `dir`:
    ca.pem                 trusted root for the upstream servers (rootCAs)
    server.pem/.key        signed by ca: DNS localhost, upstream.test, IP 127.0.0.1,
                           URI spiffe://turnpike.test/upstream
    other.pem/.key         signed by ca: DNS other.test only
    rogue-ca.pem, rogue.pem/.key   a different root and a localhost certificate it signed
    client-ca.pem          root of the client certificates the upstream accepts (mTLS)
    client.pem/.key        signed by client-ca, CN turnpike-client
    """

    def __init__(self, dir: Path):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca("ca", "Turnpike test upstream CA")
        self._ca("rogue-ca", "Some other CA")
        self._ca("client-ca", "Turnpike test client CA")
        self._leaf("server", "ca", "localhost",
                   "DNS:localhost,DNS:upstream.test,IP:127.0.0.1,"
                   "URI:spiffe://turnpike.test/upstream", "serverAuth")
        self._leaf("other", "ca", "other.test", "DNS:other.test", "serverAuth")
        self._leaf("rogue", "rogue-ca", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth")
        self._leaf("client", "client-ca", "turnpike-client", "DNS:turnpike-client", "clientAuth")

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def _ca(self, name: str, cn: str) -> None:
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-days", "30", "-subj", f"/CN={cn}", "-keyout", f"{name}.key", "-out",
                 f"{name}.pem", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def _leaf(self, name: str, ca: str, cn: str, san: str, usage: str) -> None:
        (self.dir / f"{name}.ext").write_text(
            f"subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=critical,CA:FALSE\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                 f"/CN={cn}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                 "-CAcreateserial", "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                 cwd=self.dir)


# --------------------------------------------------------------------------------------------
# Peers


class Peer:
    """A python peer from ./peers: `script` with `args`, printing `listening <port>`."""

    def __init__(self, script: str, args: list[str], workdir: Path, name: str):
        self.name = name
        self.tls = "--tls" in args
        self.log_path = Path(workdir) / f"peer-{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PYTHON, str(PEERS / script), *args], stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError(f"{script} {name} did not start: {line!r} (see {self.log_path})")
        self.port = int(line.split()[1])

    def url(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        """The upstream_peer's counters, asked directly over HTTP/1.1."""
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=5)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/_stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self) -> None:
        it.stop_process(self.proc)
        self._log.close()


def upstream_peer(env, name: str, *args: str) -> Peer:
    return env.group.add(Peer("upstream_peer.py", ["--name", name, *args], env.workdir, name))


def grpc_peer(env, name: str, *args: str) -> Peer:
    return env.group.add(Peer("grpc_peer.py", list(args), env.workdir, name))


class Nghttpd:
    """nghttpd (nghttp2-server) serving `docroot`: h2c with `tls=None`, else TLS (ALPN h2) with
    tls=(key, cert). --echo-upload answers a POST/PUT with its body."""

    def __init__(self, docroot: Path, workdir: Path, tls: tuple[str, str] | None = None):
        self.port = it.free_port()
        args = ["nghttpd", "-a", "127.0.0.1", "-d", str(docroot), "--echo-upload"]
        if tls is None:
            args += ["--no-tls", str(self.port)]
        else:
            args += [str(self.port), tls[0], tls[1]]
        self.log_path = Path(workdir) / f"nghttpd-{self.port}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        it.wait_port(self.port, proc=self.proc)

    def stop(self) -> None:
        it.stop_process(self.proc)
        self._log.close()


def nghttpd(env, docroot: Path, tls=None) -> Nghttpd:
    return env.group.add(Nghttpd(docroot, env.workdir, tls))


# --------------------------------------------------------------------------------------------
# Client side


def read_chunked_with_trailers(conn: it.RawConn, timeout: float | None = None):
    """After a response head with Transfer-Encoding: chunked: (body, trailers as [(k, v)])."""
    body = b""
    while True:
        size_line = conn.read_until(b"\r\n", timeout)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        body += conn.read_exact(size, timeout)
        conn.read_exact(2, timeout)
    trailers = []
    while True:
        line = conn.read_until(b"\r\n", timeout)
        if line == b"\r\n":
            return body, trailers
        k, _, v = line[:-2].partition(b":")
        trailers.append((k.decode().lower(), v.strip().decode()))


def read_head(conn: it.RawConn, timeout: float | None = None) -> it.Resp:
    """A response head only (the body stays on the connection)."""
    head = conn.read_until(b"\r\n\r\n", timeout)
    lines = head[:-4].split(b"\r\n")
    version, status, *reason = lines[0].decode().split(" ", 2)
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers.append((k.decode(), v.strip().decode()))
    return it.Resp(int(status), reason[0] if reason else "", headers, b"", version)


def websocket_roundtrip(port: int, host: str, payload: bytes) -> it.Resp:
    """Upgrades /ws on the gateway and sends one frame; the peers echo raw bytes, so the same
    (masked) frame must come back. Returns the 101 head."""
    key = it.ws_key()
    with it.RawConn(port) as c:
        c.send(it.ws_upgrade_request("/ws", host, key))
        head = read_head(c)
        assert head.status == 101, head
        assert head.header("Sec-WebSocket-Accept") == it.ws_accept(key)
        frame = it.ws_frame(payload)
        c.send(frame)
        assert c.read_exact(len(frame)) == frame
    return head


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def grpc_messages(data: bytes) -> list[bytes]:
    out = []
    while data:
        assert data[0] == 0, "compressed gRPC message"
        n = struct.unpack(">I", data[1:5])[0]
        out.append(data[5:5 + n])
        data = data[5 + n:]
    return out


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)
