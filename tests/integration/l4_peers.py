"""Layer-4 peers for the TCP/UDP integration tests: real sockets on loopback.

- TcpBackend: a TCP server in a thread of the test process; greets (optional, for server-first
  protocols), records every byte and the peer of each connection, echoes until EOF, then
  half-closes.
- UdpBackend: a UDP echo server that prefixes its name and records who sent what.
- SServer: a real `openssl s_server -www` process with its own certificate (TLS passthrough).
- make_pki: a CA and leaf certificates made with the openssl CLI.

Everything binds 127.0.0.1 with kernel-chosen ports and is stopped by the fixture that made it.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import turnpike_it as it


class TcpBackend:
    def __init__(self, name: str, greeting: bytes | None = None, echo: bool = True):
        self.name = name
        self.greeting = greeting
        self.echo = echo
        self.connections: list[dict] = []  # {"peer": (ip, port), "data": bytearray, "done": bool}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stopped:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            record = {"peer": peer, "data": bytearray(), "done": False}
            with self._lock:
                self.connections.append(record)
            threading.Thread(target=self._serve, args=(conn, record), daemon=True).start()

    def _serve(self, conn: socket.socket, record: dict):
        try:
            if self.greeting:
                conn.sendall(self.greeting)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                with self._lock:
                    record["data"] += data
                if self.echo:
                    conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            record["done"] = True
            conn.close()

    def wait_connections(self, n: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.connections) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {len(self.connections)} connection(s), wanted {n}")
            time.sleep(0.01)
        return self.connections

    def wait_data(self, index: int, size: int, timeout: float = 5.0) -> bytes:
        conn = self.wait_connections(index + 1, timeout)[index]
        deadline = time.monotonic() + timeout
        while len(conn["data"]) < size:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: got {bytes(conn['data'])!r}")
            time.sleep(0.01)
        return bytes(conn["data"])

    def stop(self):
        self._stopped = True
        self._sock.close()


class UdpBackend:
    """Answers every datagram with b"<name>:" + datagram, from its one socket."""

    def __init__(self, name: str):
        self.name = name
        self.received: list[tuple[tuple[str, int], bytes]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                data, peer = self._sock.recvfrom(65536)
            except OSError:
                return
            self.received.append((peer, data))
            try:
                self._sock.sendto(self.name.encode() + b":" + data, peer)
            except OSError:
                pass

    def sources(self) -> list[tuple[str, int]]:
        return [peer for peer, _ in self.received]

    def stop(self):
        self._sock.close()


def make_pki(workdir: Path, names: dict[str, list[str]]) -> dict[str, tuple[Path, Path]]:
    """A CA (workdir/ca.pem) and one leaf certificate per entry: {label: [dns names]} ->
    {label: (cert, key)}. The leaf's CN is the label."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=workdir)  # noqa: E731
    if not (workdir / "ca.pem").exists():
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=turnpike test CA", "-keyout", "ca.key",
            "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    out = {}
    for label, dns in names.items():
        san = ",".join(f"DNS:{d}" for d in dns)
        (workdir / f"{label}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={label}", "-keyout", f"{label}.key", "-out", f"{label}.csr")
        run("openssl", "x509", "-req", "-in", f"{label}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{label}.ext", "-out", f"{label}.pem")
        out[label] = (workdir / f"{label}.pem", workdir / f"{label}.key")
    return out


class SServer:
    """`openssl s_server -www` on a kernel-chosen port, serving one certificate."""

    def __init__(self, workdir: Path, cert: Path, key: Path, extra: list[str] | None = None):
        self.port = it.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = Path(workdir) / f"s_server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", str(cert),
             "-key", str(key), "-www"] + (extra or []),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        it.wait_port(self.port, proc=self.proc)

    def stop(self):
        it.stop_process(self.proc)
        self._log.close()


def tls_peer(port: int, sni: str, ca: Path, alpn: list[str] | None = None,
             source: str | None = None, timeout: float = 5.0) -> tuple[str, bytes]:
    """Connects with TLS (SNI `sni`, verifying against `ca` but not the host name), sends an
    HTTP GET and returns (the server certificate's CN, the start of the answer)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    with ctx.wrap_socket(raw, server_hostname=sni) as s:
        cert = s.getpeercert()
        cn = dict(x[0] for x in cert["subject"])["commonName"]
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = s.recv(64)
    return cn, answer


def tcp_exchange(port: int, payload: bytes, source: str | None = None,
                 timeout: float = 5.0) -> bytes:
    """Sends `payload`, half-closes, and returns everything received until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def closed_without_data(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True when the peer closes the connection (EOF or reset) without sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class PostgresTlsBackend:
    """A stand-in Postgres server for STARTTLS: answers the SSLRequest with 'S', then speaks TLS
    with its certificate and answers each line with b"<name>:" + line, until a line "\\q".
    Records whether each connection started with an SSLRequest."""

    SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"

    def __init__(self, name: str, cert: Path, key: Path):
        self.name = name
        self.starttls: list[bool] = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(cert), str(key))
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            first = b""
            while len(first) < 8:
                chunk = conn.recv(8 - len(first))
                if not chunk:
                    return
                first += chunk
            self.starttls.append(first == self.SSL_REQUEST)
            if first != self.SSL_REQUEST:
                return
            conn.sendall(b"S")
            with self._ctx.wrap_socket(conn, server_side=True) as tls:
                buf = b""
                while True:
                    data = tls.recv(4096)
                    if not data:
                        return
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if line == b"\\q":
                            return
                        tls.sendall(self.name.encode() + b":" + line + b"\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self):
        self._sock.close()
