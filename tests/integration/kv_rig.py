"""Real etcd 3.4 and redis-server on loopback for the distributed ACME tests (testrig.md
section 4): kernel-chosen ports, stopped by their own PID, restartable on the same port and data
(etcd keeps its data directory; Redis runs with an append-only file so a restart keeps keys)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import turnpike_it as it
from acme_rig import Daemon, wait_for


class Store:
    name = ""

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

    def __init__(self, workdir: Path):
        self.dir = workdir / "etcd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.peer_port = it.free_port(), it.free_port()
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        client = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.daemon = Daemon("etcd", [
            "etcd", "--name", "rig", "--data-dir", str(self.dir / "data"), "--logger", "zap",
            "--log-level", "warn", "--listen-client-urls", client, "--advertise-client-urls",
            client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"rig={peer}"], self.dir)
        wait_for(lambda: self._ctl("endpoint", "health").returncode == 0, 20, "etcd healthy",
                 interval=0.1, proc=self.daemon.proc)

    def _ctl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["etcdctl", f"--endpoints={self.endpoint}", *args],
                              capture_output=True, text=True, timeout=10,
                              env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})

    def storage(self, prefix: str, **extra) -> dict:
        return {"etcd": {"endpoints": [self.endpoint], "prefix": prefix, **extra}}

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

    def __init__(self, workdir: Path):
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = it.free_port()
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.daemon = Daemon("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
            str(self.dir), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no"], self.dir)
        wait_for(lambda: self._cli("ping").stdout.strip() == "PONG", 20, "redis ready",
                 interval=0.05, proc=self.daemon.proc)

    def _cli(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True, timeout=10)

    def storage(self, prefix: str, **extra) -> dict:
        return {"redis": {"endpoints": [self.endpoint], "prefix": prefix, **extra}}

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


def start_store(backend: str, workdir: Path) -> Store:
    return Etcd(workdir) if backend == "etcd" else Redis(workdir)
