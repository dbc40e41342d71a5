"""Real etcd 3.4 and redis-server on loopback for the distributed ACME tests (testrig.md
section 4): kernel-chosen ports, stopped by their own PID, restartable on the same port and data
(etcd keeps its data directory; Redis runs with an append-only file so a restart keeps keys).

Secured variants: `tls=True` serves TLS only, with certificates from an openssl-made CA and
client certificates required (etcd --client-cert-auth, redis --tls-auth-clients yes);
enable_auth() turns on etcd's authentication (root user) or a Redis ACL user with the default
user disabled. The rig's own commands (etcdctl, redis-cli) use the same credentials."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import tls_it
import turnpike_it as it
from acme_rig import Daemon, wait_for


class Pki:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""

    def __init__(self, dir: Path, name: str = "store"):
        self.dir = dir
        self.ca = tls_it.make_ca(dir, "ca", f"{name} CA")
        # clientAuth too: etcd's JSON gateway connects to its own gRPC port with the server
        # certificate, which --client-cert-auth then checks as a client's.
        self.server = tls_it.make_cert(dir, "server", self.ca, f"/CN={name}", dns=["localhost"],
                                       ips=["127.0.0.1"], crl=False,
                                       usage="serverAuth,clientAuth")
        self.client = tls_it.make_cert(dir, "client", self.ca, "/CN=turnpike", client=True,
                                       crl=False)

    def storage_tls(self) -> dict:
        return {"ca": str(self.ca.crt), "cert": str(self.client.crt),
                "key": str(self.client.key)}


class Store:
    name = ""
    pki: Pki | None = None
    auth: tuple[str, str] | None = None  # (username, password) once enable_auth() ran

    def _secure(self, extra: dict) -> dict:
        """The storage options for the rig's own credentials, under `extra`'s overrides."""
        out = {}
        if self.pki:
            out["tls"] = self.pki.storage_tls()
        if self.auth:
            out["username"], out["password"] = self.auth
        out.update(extra)
        return out

    def storage(self, prefix: str, **extra) -> dict:
        raise NotImplementedError

    def get(self, key: str) -> str | None:
        raise NotImplementedError

    def keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def start(self):
        raise NotImplementedError

    def stop(self):
        self.daemon.stop()

    def kill(self):
        if self.daemon.proc.poll() is None:
            self.daemon.proc.kill()
            self.daemon.proc.wait()


class Etcd(Store):
    name = "etcd"

    def __init__(self, workdir: Path, tls: bool = False):
        self.dir = workdir / "etcd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.peer_port = it.free_port(), it.free_port()
        if tls:
            self.pki = Pki(self.dir / "pki", "etcd")
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        client = f"{'https' if self.pki else 'http'}://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls = []
        if self.pki:
            tls = ["--cert-file", str(self.pki.server.crt), "--key-file", str(self.pki.server.key),
                   "--trusted-ca-file", str(self.pki.ca.crt), "--client-cert-auth"]
        self.daemon = Daemon("etcd", [
            "etcd", "--name", "rig", "--data-dir", str(self.dir / "data"), "--logger", "zap",
            "--log-level", "warn", "--listen-client-urls", client, "--advertise-client-urls",
            client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"rig={peer}", *tls], self.dir)
        wait_for(lambda: self._ctl("endpoint", "health").returncode == 0, 20, "etcd healthy",
                 interval=0.1, proc=self.daemon.proc)

    def _ctl(self, *args) -> subprocess.CompletedProcess:
        opts = []
        if self.pki:
            opts += [f"--cacert={self.pki.ca.crt}", f"--cert={self.pki.client.crt}",
                     f"--key={self.pki.client.key}"]
        if self.auth:
            opts.append(f"--user={self.auth[0]}:{self.auth[1]}")
        return subprocess.run(["etcdctl", f"--endpoints={self.endpoint}", *opts, *args],
                              capture_output=True, text=True, timeout=10,
                              env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})

    def enable_auth(self, password: str):
        """etcd authentication on, with `root` as the only user."""
        for cmd in (["user", "add", f"root:{password}", "--interactive=false"],
                    ["user", "grant-role", "root", "root"], ["auth", "enable"]):
            r = self._ctl(*cmd)
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        self.auth = ("root", password)

    def storage(self, prefix: str, **extra) -> dict:
        return {"etcd": {"endpoints": [self.endpoint], "prefix": prefix, **self._secure(extra)}}

    def get(self, key: str) -> str | None:
        r = self._ctl("get", key, "--print-value-only")
        return r.stdout.rstrip("\n") if r.returncode == 0 and r.stdout else None

    def keys(self, prefix: str) -> list[str]:
        r = self._ctl("get", prefix, "--prefix", "--keys-only")
        return [k for k in r.stdout.splitlines() if k]

    def put(self, key: str, value: str):
        assert self._ctl("put", key, value).returncode == 0


class Redis(Store):
    name = "redis"

    def __init__(self, workdir: Path, tls: bool = False):
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = it.free_port()
        if tls:
            self.pki = Pki(self.dir / "pki", "redis")
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        ports = ["--port", str(self.port)]
        if self.pki:
            ports = ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", str(self.pki.server.crt),
                     "--tls-key-file", str(self.pki.server.key),
                     "--tls-ca-cert-file", str(self.pki.ca.crt), "--tls-auth-clients", "yes"]
        self.daemon = Daemon("redis", [
            "redis-server", *ports, "--bind", "127.0.0.1", "--dir",
            str(self.dir), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no"], self.dir)
        wait_for(lambda: self._cli("ping").stdout.strip() == "PONG", 20, "redis ready",
                 interval=0.05, proc=self.daemon.proc)

    def _cli(self, *args) -> subprocess.CompletedProcess:
        opts = []
        if self.pki:
            opts += ["--tls", "--cacert", str(self.pki.ca.crt), "--cert", str(self.pki.client.crt),
                     "--key", str(self.pki.client.key)]
        if self.auth:
            opts += ["--user", self.auth[0], "--pass", self.auth[1], "--no-auth-warning"]
        return subprocess.run(["redis-cli", "-p", str(self.port), *opts, *args],
                              capture_output=True, text=True, timeout=10)

    def enable_auth(self, password: str, user: str = "turnpike",
                    rules: tuple[str, ...] = ("~*", "&*", "+@all")):
        """An ACL user `user` with `password` and `rules`; the default user disabled (so a
        connection without that user's AUTH can do nothing). Not kept across a restart."""
        r = self._cli("ACL", "SETUSER", user, "on", f">{password}", *rules)
        assert r.stdout.strip() == "OK", r
        r = self._cli("ACL", "SETUSER", "default", "off")  # as the default user, who may
        assert r.stdout.strip() == "OK", r
        self.auth = (user, password)

    def storage(self, prefix: str, **extra) -> dict:
        return {"redis": {"endpoints": [self.endpoint], "prefix": prefix, **self._secure(extra)}}

    def get(self, key: str) -> str | None:
        r = self._cli("--raw", "get", key)
        out = r.stdout.rstrip("\n")
        return out if r.returncode == 0 and out else None

    def keys(self, prefix: str) -> list[str]:
        r = self._cli("--scan", "--pattern", prefix + "*")
        return sorted(k for k in r.stdout.splitlines() if k)

    def put(self, key: str, value: str):
        assert self._cli("set", key, value).returncode == 0


def available(backend: str) -> bool:
    return shutil.which("etcd" if backend == "etcd" else "redis-server") is not None


def start_store(backend: str, workdir: Path, tls: bool = False) -> Store:
    return Etcd(workdir, tls) if backend == "etcd" else Redis(workdir, tls)
