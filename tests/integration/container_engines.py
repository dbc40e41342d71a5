"""Real container engines for the docker provider tests: dockerd and `podman system service`,
each with its own data directories under the test's tmp dir, vfs storage, and a busybox image
imported from a local rootfs (no registry is reachable). Containers are created and controlled
through the Docker Engine API over the engine's unix socket, the same API the gateway reads.
Commands follow ../../../shared/testrig.md section 5 (runc runtime, host network, ulimits)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from turnpike_it import stop_process

BUSYBOX = "/bin/busybox"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def make_rootfs_tar(workdir: Path) -> Path:
    tar = workdir / "rootfs.tar"
    if tar.exists():
        return tar
    root = workdir / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "www").mkdir(exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "httpd", "sleep", "echo", "cat", "ls", "mkdir"):
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (root / "www" / "index.html").write_text("hello-from-container\n")
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


class Engine:
    """One running engine. `kind` is "docker" or "podman"."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.dir = workdir / kind
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = str(self.dir / f"{kind}.sock")
        self.log_path = self.dir / "engine.log"
        self.proc = None
        self.image = "rig-busybox:1" if kind == "docker" else "localhost/rig-busybox:1"
        # podman refuses a runroot longer than 50 characters (pytest's tmp paths are longer).
        self.runroot = tempfile.mkdtemp(prefix="podrun-", dir="/tmp")
        tar = make_rootfs_tar(workdir)
        self.start()
        if kind == "docker":
            self.cli("import", str(tar), self.image)
        else:
            self.podman("import", str(tar), self.image)

    # podman's global flags: its own storage, runc (crun fails on this cgroup v1 host), a file
    # events log (no journald) and cgroupfs (no systemd).
    def podman_args(self) -> list[str]:
        return ["podman", "--root", str(self.dir / "root"), "--runroot", self.runroot,
                "--storage-driver", "vfs", "--runtime", "runc", "--events-backend", "file",
                "--cgroup-manager", "cgroupfs", "--tmpdir", str(self.dir / "tmp")]

    def podman(self, *args):
        return subprocess.run(self.podman_args() + list(args), check=True,
                              capture_output=True, text=True).stdout

    def cli(self, *args):
        return subprocess.run([shutil.which("docker") or "docker", "-H", f"unix://{self.sock}",
                               *args], check=True, capture_output=True, text=True).stdout

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        log = open(self.log_path, "ab")
        if self.kind == "docker":
            cmd = ["dockerd", "--data-root", str(self.dir / "data"),
                   "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "docker.pid"),
                   "-H", f"unix://{self.sock}", "--storage-driver", "vfs", "--iptables=false",
                   "--bridge=none", "--live-restore"]
        else:
            cmd = self.podman_args() + ["system", "service", "--time=0", f"unix://{self.sock}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.api("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.05)

    def stop_daemon(self):
        """Stops the engine (by its PID); with dockerd --live-restore and podman, containers
        keep running."""
        if self.proc and self.proc.poll() is None:
            stop_process(self.proc, timeout=20)

    def api(self, method: str, path: str, body=None, timeout: float = 60):
        c = UnixHTTPConnection(self.sock, timeout=timeout)
        try:
            data = json.dumps(body) if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, raw
        finally:
            c.close()

    def run(self, name: str, port: int, labels: dict, text: str | None = None) -> str:
        """Creates and starts a busybox httpd on 127.0.0.1:port (host network) answering `text`
        (default: the container's name)."""
        script = (f"mkdir -p /w && echo {text or name} > /w/index.html && "
                  f"exec httpd -f -p 127.0.0.1:{port} -h /w")
        body = {"Image": self.image, "Cmd": ["/bin/sh", "-c", script], "Labels": labels,
                "HostConfig": {"NetworkMode": "host", "Ulimits": [
                    {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                    {"Name": "nproc", "Soft": 1024, "Hard": 1024}]}}
        st, res = self.api("POST", f"/containers/create?name={name}", body)
        assert st == 201, (st, res)
        st, res = self.api("POST", f"/containers/{name}/start")
        assert st in (204, 304), (st, res)
        return res

    def kill(self, name: str):
        st, res = self.api("POST", f"/containers/{name}/kill")
        assert st in (204, 409), (st, res)

    def remove(self, name: str):
        self.api("DELETE", f"/containers/{name}?force=1")

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                st, res = self.api("GET", "/containers/json?all=1", timeout=10)
                for c in res or []:
                    self.api("DELETE", f"/containers/{c['Id']}?force=1", timeout=20)
            except OSError:
                pass
        self.stop_daemon()
        shutil.rmtree(self.runroot, ignore_errors=True)
        # dockerd leaves its "default" network namespace and its data root mounted (bind mounts
        # of the same file system, which os.path.ismount does not see); unmount everything
        # under the engine's directory, deepest first, so that the directory can be removed.
        for m in sorted(mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


def mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


def available(kind: str) -> str | None:
    """None when the engine can run here, else why not."""
    if not os.path.exists(BUSYBOX):
        return "busybox-static is not installed"
    need = ["dockerd", "runc"] if kind == "docker" else ["podman", "runc"]
    for b in need:
        if not shutil.which(b):
            return f"{b} is not installed (scripts/install-deps.sh test)"
    if os.geteuid() != 0:
        return "the engines need root"
    return None
