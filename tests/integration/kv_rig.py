"""Real etcd 3.4, redis-server and ZooKeeper on loopback for the distributed ACME and KV provider
tests (testrig.md section 4): kernel-chosen ports, stopped by their own PID, restartable on the
same port and data (etcd keeps its data directory; Redis runs with an append-only file so a
restart keeps keys; ZooKeeper keeps its dataDir). Writes go through the stores' own clients
(etcdctl, redis-cli, kazoo for ZooKeeper).

Secured variants: `tls=True` serves TLS only, with certificates from an openssl-made CA and
client certificates required (etcd --client-cert-auth, redis --tls-auth-clients yes);
enable_auth() turns on etcd's authentication (root user, and optionally a read-only user) or a
Redis ACL user with the default user disabled; Redis(password=...) sets requirepass. The rig's
own commands (etcdctl, redis-cli) use the same credentials."""

from __future__ import annotations

import os
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

    def enable_auth(self, password: str, reader: tuple[str, str] | None = None):
        """etcd authentication on, with `root` (etcd requires it) and, when `reader` is given as
        (user, password), a user that may only read under traefik/. Anonymous requests are
        refused from then on; the rig's own commands run as root."""
        cmds = [["user", "add", f"root:{password}", "--interactive=false"],
                ["user", "grant-role", "root", "root"]]
        if reader:
            cmds += [["user", "add", f"{reader[0]}:{reader[1]}", "--interactive=false"],
                     ["role", "add", "reader"],
                     ["role", "grant-permission", "reader", "--prefix=true", "read", "traefik/"],
                     ["user", "grant-role", reader[0], "reader"]]
        for cmd in cmds + [["auth", "enable"]]:
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
        r = self._ctl("put", "--", key, value)
        assert r.returncode == 0, r.stderr

    def erase(self, key: str):
        r = self._ctl("del", "--", key)
        assert r.returncode == 0, r.stderr


class Redis(Store):
    name = "redis"

    def __init__(self, workdir: Path, tls: bool = False, extra_args: list[str] | None = None,
                 password: str | None = None):
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = it.free_port()
        if tls:
            self.pki = Pki(self.dir / "pki", "redis")
        self.password = password  # requirepass, for redis-cli
        self.extra_args = (extra_args or []) + (["--requirepass", password] if password else [])
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
            "--daemonize", "no", *self.extra_args], self.dir)
        wait_for(lambda: self._cli("ping").stdout.strip() == "PONG", 20, "redis ready",
                 interval=0.05, proc=self.daemon.proc)

    def _cli(self, *args) -> subprocess.CompletedProcess:
        opts = []
        if self.pki:
            opts += ["--tls", "--cacert", str(self.pki.ca.crt), "--cert", str(self.pki.client.crt),
                     "--key", str(self.pki.client.key)]
        if self.auth:
            opts += ["--user", self.auth[0], "--pass", self.auth[1], "--no-auth-warning"]
        env = dict(os.environ, REDISCLI_AUTH=self.password) if self.password else None
        return subprocess.run(["redis-cli", "-p", str(self.port), *opts, *args],
                              capture_output=True, text=True, timeout=10, env=env)

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


def start_store(backend: str, workdir: Path, tls: bool = False) -> Store:
    if backend == "zookeeper":
        return ZooKeeper(workdir)
    return Etcd(workdir, tls) if backend == "etcd" else Redis(workdir, tls)
