"""Real etcd 3.4, redis-server and ZooKeeper on loopback for the distributed ACME and KV provider
tests (testrig.md section 4): kernel-chosen ports, stopped by their own PID, restartable on the
same port and data (etcd keeps its data directory; Redis runs with an append-only file so a
restart keeps keys; ZooKeeper keeps its dataDir). Writes go through the stores' own clients
(etcdctl, redis-cli, kazoo for ZooKeeper)."""

from __future__ import annotations

import os
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
        self.user: str | None = None  # "name:password" once enable_auth() ran
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
        auth = [f"--user={self.user}"] if self.user else []
        return subprocess.run(["etcdctl", f"--endpoints={self.endpoint}", *auth, *args],
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
        r = self._ctl("put", "--", key, value)
        assert r.returncode == 0, r.stderr

    def erase(self, key: str):
        r = self._ctl("del", "--", key)
        assert r.returncode == 0, r.stderr

    def enable_auth(self, user: str, password: str):
        """A root user (etcd requires one), `user` with read access to everything, then
        `auth enable`: anonymous requests are refused from now on."""
        for args in (["user", "add", "root:rootpw"], ["user", "add", f"{user}:{password}"],
                     ["role", "add", "reader"],
                     ["role", "grant-permission", "reader", "--prefix=true", "read", "traefik/"],
                     ["user", "grant-role", user, "reader"], ["auth", "enable"]):
            r = self._ctl(*args)
            assert r.returncode == 0, (args, r.stderr)
        self.user = "root:rootpw"


class Redis(Store):
    name = "redis"

    def __init__(self, workdir: Path, extra_args: list[str] | None = None,
                 password: str | None = None):
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = it.free_port()
        self.password = password  # requirepass, for redis-cli
        self.extra_args = (extra_args or []) + (["--requirepass", password] if password else [])
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.daemon = Daemon("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
            str(self.dir), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no", *self.extra_args], self.dir)
        wait_for(lambda: self._cli("ping").stdout.strip() == "PONG", 20, "redis ready",
                 interval=0.05, proc=self.daemon.proc)

    def _cli(self, *args) -> subprocess.CompletedProcess:
        env = dict(os.environ, REDISCLI_AUTH=self.password) if self.password else None
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True, timeout=10, env=env)

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
        r = self._cli("set", key, value)
        assert r.returncode == 0 and "OK" in r.stdout, (r.stdout, r.stderr)

    def erase(self, key: str):
        r = self._cli("del", key)
        assert r.returncode == 0, r.stderr

    def command(self, *args) -> str:
        r = self._cli(*args)
        assert r.returncode == 0 and "ERR" not in r.stdout, (r.stdout, r.stderr)
        return r.stdout


ZK_SERVER_JARS = Path("/usr/share/java")


class ZooKeeper(Store):
    """Debian's zookeeperd: the server run directly with java (zkServer.sh would use the
    system-wide /etc/zookeeper), its own zoo.cfg, dataDir and kernel-chosen client port. Keys are
    written with kazoo, the Python client."""
    name = "zookeeper"

    def __init__(self, workdir: Path):
        self.dir = workdir / "zookeeper"
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.port = it.free_port()
        (self.dir / "zoo.cfg").write_text(
            f"tickTime=500\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=20000\n"
            "4lw.commands.whitelist=ruok\n")
        (self.dir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n")
        self._zk = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        # Debian's classpath (/etc/zookeeper/conf/environment): the jar's manifest names the rest.
        cp = f"{self.dir}:{ZK_SERVER_JARS / 'zookeeper.jar'}"
        self.daemon = Daemon("zookeeper", [
            "java", "-Xmx256m", f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            "-Dzookeeper.jmx.log4j.disable=true", "-cp", cp,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.dir / "zoo.cfg")],
            self.dir)
        wait_for(self._ruok, 60, "zookeeper ready", interval=0.1, proc=self.daemon.proc)

    def _ruok(self) -> bool:
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def client(self):
        from kazoo.client import KazooClient
        if self._zk is None:
            self._zk = KazooClient(hosts=self.endpoint, timeout=10)
            self._zk.start(timeout=20)
        return self._zk

    def put(self, key: str, value: str):
        zk = self.client()
        path = "/" + key
        if zk.exists(path):
            zk.set(path, value.encode())
        else:
            zk.create(path, value.encode(), makepath=True)

    def erase(self, key: str):
        self.client().delete("/" + key)

    def get(self, key: str) -> str | None:
        zk = self.client()
        return zk.get("/" + key)[0].decode() if zk.exists("/" + key) else None

    def stop(self):
        self.close_client()
        self.daemon.stop()

    def kill(self):
        self.close_client()
        super().kill()

    def close_client(self):
        if self._zk is not None:
            try:
                self._zk.stop()
                self._zk.close()
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
            self._zk = None


def available(backend: str) -> bool:
    if backend == "zookeeper":
        try:
            import kazoo  # noqa: F401
        except ImportError:
            return False
        return shutil.which("java") is not None and (ZK_SERVER_JARS / "zookeeper.jar").exists()
    return shutil.which("etcd" if backend == "etcd" else "redis-server") is not None


def start_store(backend: str, workdir: Path) -> Store:
    return {"etcd": Etcd, "redis": Redis, "zookeeper": ZooKeeper}[backend](workdir)
