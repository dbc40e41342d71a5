#!/usr/bin/python3
"""Change-to-live latency per provider: the time from a change at the source to the new route
serving, polled by a client every millisecond, over N changes (p50/p99/max).

  rest    PUT /api/providers/rest with one more router            -> route serves
  http    the polled endpoint's body gains a router (pollInterval 10ms) -> route serves
  docker  POST /containers/<id>/start of a labelled busybox httpd (real dockerd, host network)
          -> route serves (includes the container's own start time), also timed from the
          start API's answer (the gateway's share); and kill -> route gone
  etcd    put traefik/http/routers/r/rule = Host(`r<i>.bench`) (v3 JSON gateway, keep-alive)
          -> the new host serves
  redis   SET of the same key (one RESP command on an open connection) -> the new host serves
  zookeeper  set of the same znode (kazoo, connected session) -> the new host serves
  kubernetes  the fake API server (tests/fakes) replaces an Ingress with host r<i>.bench; the
          provider's watch stream gets the MODIFIED event -> the new host serves

Each provider runs against the real turnpike binary and real peers on loopback; the throttle is
the default (100 ms), so the figure is what a user gets. Only the sizes change with the flags.
Each change is ISOLATED: the next one is made 150 ms after the previous one served (more than the
100 ms throttle), so no change waits for the throttle window of the one before; the output says
so ("isolated": true). Back-to-back changes coalesce by design and would measure the throttle.

Usage: bench/provider_latency_bench.py BUILD_DIR
       [--providers rest,http,docker,etcd,redis,zookeeper,kubernetes] [--changes 100] [--json OUT]
"""
import argparse
import base64
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from benchlib import free_port, stop_all

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def status(port, host, timeout=2):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def wait_status(port, host, want, bound=10.0):
    t0 = time.monotonic()
    while True:
        try:
            if status(port, host) == want:
                return
        except OSError:
            pass
        if time.monotonic() - t0 > bound:
            raise RuntimeError(f"{host} never answered {want}")
        time.sleep(0.001)


def start_gateway(build_dir, workdir, providers, entrypoints):
    static = {"entryPoints": {n: {"address": f"127.0.0.1:{p}"} for n, p in entrypoints.items()},
              "providers": providers,
              "log": {"level": os.environ.get("BENCH_LOG_LEVEL", "ERROR")}}
    cfg = Path(workdir) / "turnpike.yml"
    cfg.write_text(json.dumps(static))  # JSON is YAML
    log = open(Path(workdir) / "turnpike.log", "ab")
    p = subprocess.Popen([str(Path(build_dir) / "turnpike"), f"--configFile={cfg}"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for port in entrypoints.values():
        t0 = time.monotonic()
        while True:
            try:
                status(port, "x")
                break
            except OSError:
                if time.monotonic() - t0 > 10:
                    raise RuntimeError("turnpike did not start")
                time.sleep(0.02)
    return p


def start_upstream(build_dir):
    p = subprocess.Popen([str(Path(build_dir) / "tests" / "test_upstream"), "--listen",
                          "127.0.0.1:0", "--name", "u"], stdout=subprocess.PIPE,
                         start_new_session=True)
    port = int(p.stdout.readline().decode().split()[1])
    return p, port


def routers_cfg(n, upstream):
    return {"http": {"routers": {f"r{i}": {"rule": f"Host(`r{i}.bench`)", "service": "u"}
                                 for i in range(n)},
                     "services": {"u": {"loadBalancer": {"servers": [
                         {"url": f"http://127.0.0.1:{upstream}"}]}}}}}


ISOLATION_GAP = 0.15  # s between a change serving and the next change: > the 100 ms throttle


def summary(name, samples, **extra):
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    out = {"provider": name, "changes": len(s), "p50_ms": round(p(0.5), 2),
           "p99_ms": round(p(0.99), 2), "max_ms": round(s[-1] * 1000, 2),
           "mean_ms": round(statistics.mean(s) * 1000, 2), **extra}
    print(json.dumps(out))
    return out


def bench_rest(build_dir, n, procs):
    up, up_port = start_upstream(build_dir)
    procs.append(up)
    web, api = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        gw = start_gateway(build_dir, d, {"rest": {"insecure": True}},
                           {"web": web, "traefik": api})
        procs.append(gw)
        samples = []
        for i in range(1, n + 1):
            body = json.dumps(routers_cfg(i, up_port))
            c = http.client.HTTPConnection("127.0.0.1", api, timeout=5)
            time.sleep(ISOLATION_GAP)
            t0 = time.monotonic()
            c.request("PUT", "/api/providers/rest", body=body)
            c.getresponse().read()
            c.close()
            wait_status(web, f"r{i - 1}.bench", 200)
            samples.append(time.monotonic() - t0)
        return summary("rest", samples, isolated=True, gap_ms=ISOLATION_GAP * 1000)


def bench_http(build_dir, n, procs):
    up, up_port = start_upstream(build_dir)
    procs.append(up)
    state = {"body": b"{}"}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            b = state["body"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    web = free_port()
    try:
        with tempfile.TemporaryDirectory() as d:
            gw = start_gateway(build_dir, d, {"http": {
                "endpoint": f"http://127.0.0.1:{srv.server_address[1]}/",
                "pollInterval": "10ms"}}, {"web": web})
            procs.append(gw)
            samples = []
            for i in range(1, n + 1):
                body = json.dumps(routers_cfg(i, up_port)).encode()
                time.sleep(ISOLATION_GAP)
                t0 = time.monotonic()
                state["body"] = body
                wait_status(web, f"r{i - 1}.bench", 200)
                samples.append(time.monotonic() - t0)
            return summary("http (pollInterval 10ms)", samples, isolated=True,
                           gap_ms=ISOLATION_GAP * 1000)
    finally:
        srv.shutdown()


def die_listener(eng):
    """{container name: when dockerd's `die` event for it arrived}, filled by a thread reading
    the engine's /events stream (the same stream the gateway's docker provider follows)."""
    import container_engines as ce
    died = {}
    c = ce.UnixHTTPConnection(str(eng.sock), timeout=None)
    filters = json.dumps({"type": ["container"], "event": ["die"]})
    c.request("GET", "/events?filters=" + urllib.parse.quote(filters))
    r = c.getresponse()

    def read():
        pending = b""
        while True:
            try:
                chunk = r.read1(65536)
            except (OSError, http.client.HTTPException):
                return  # the engine stopped
            if not chunk:
                return
            now = time.monotonic()
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                name = ev.get("Actor", {}).get("Attributes", {}).get("name")
                if name:
                    died[name] = now
    threading.Thread(target=read, daemon=True).start()
    return died


def bench_docker(build_dir, n, procs):
    import container_engines as ce
    why = ce.available("docker")
    if why:
        print(json.dumps({"provider": "docker", "skipped": why}))
        return None
    web = free_port()
    # dockerd leaves its network namespace mount under the exec root: cleanup may fail.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
        eng = ce.Engine("docker", Path(d))
        try:
            gw = start_gateway(build_dir, d, {"docker": {"endpoint": f"unix://{eng.sock}",
                                                         "exposedByDefault": False}},
                               {"web": web})
            procs.append(gw)
            start, after_api, gone, after_die = [], [], [], []
            died = die_listener(eng)
            for i in range(n):
                port = free_port()
                name = f"b{i}"
                body = {"Image": eng.image,
                        "Cmd": ["/bin/httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
                        "Labels": {"traefik.enable": "true",
                                   f"traefik.http.routers.{name}.rule": f"Host(`{name}.bench`)",
                                   f"traefik.http.services.{name}.loadbalancer.server.port":
                                       str(port)},
                        "HostConfig": {"NetworkMode": "host"}}
                st, _ = eng.api("POST", f"/containers/create?name={name}", body)
                assert st == 201
                time.sleep(ISOLATION_GAP)
                t0 = time.monotonic()
                eng.api("POST", f"/containers/{name}/start")
                t_api = time.monotonic()  # dockerd answers once the container runs
                wait_status(web, f"{name}.bench", 200, bound=30)
                start.append(time.monotonic() - t0)
                after_api.append(time.monotonic() - t_api)
                time.sleep(ISOLATION_GAP)
                t0 = time.monotonic()
                # dockerd answers a kill once the container is gone (well after its die event),
                # so the kill runs beside the poll, not before it.
                killer = threading.Thread(target=eng.api,
                                          args=("POST", f"/containers/{name}/kill"))
                killer.start()
                wait_status(web, f"{name}.bench", 404, bound=30)
                t_gone = time.monotonic()
                gone.append(t_gone - t0)
                killer.join()
                if name in died:  # dockerd's die event reached a client (as it reaches the gateway)
                    after_die.append(t_gone - died[name])
                eng.remove(name)
            iso = {"isolated": True, "gap_ms": ISOLATION_GAP * 1000}
            return [summary("docker start (includes container start)", start, **iso),
                    summary("docker start API answered -> route serving", after_api, **iso),
                    summary("docker kill -> route gone", gone, **iso),
                    summary("docker die event -> route gone", after_die, **iso)]
        finally:
            eng.close()


# Fast writers: one request on an open connection, so the figure is the gateway's, not a client
# process's start-up (etcdctl, redis-cli and zkCli take 20 ms to 1 s to start).
class EtcdWriter:
    def __init__(self, endpoint):
        host, port = endpoint.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def _post(self, path, body):
        self.conn.request("POST", path, body=json.dumps(body))
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"etcd {path}: {r.status} {data[:200]!r}")
        return json.loads(data)

    @staticmethod
    def b64(s):
        return base64.b64encode(s.encode()).decode()

    def put(self, key, value):
        self._post("/v3/kv/put", {"key": self.b64(key), "value": self.b64(value)})

    def put_many(self, items, batch=128):
        """Many keys, 128 per transaction (etcd's default --max-txn-ops)."""
        for i in range(0, len(items), batch):
            ops = [{"request_put": {"key": self.b64(k), "value": self.b64(v)}}
                   for k, v in items[i:i + batch]]
            self._post("/v3/kv/txn", {"success": ops})


class RedisWriter:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def put(self, key, value):
        parts = [b"SET", key.encode(), value.encode()]
        cmd = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p)
                                                  for p in parts)
        self.sock.sendall(cmd)
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line != b"+OK":
            raise RuntimeError(f"redis SET: {line!r}")


class ZooKeeperWriter:
    def __init__(self, store):
        self.zk = store.client()

    def put(self, key, value):
        path = "/" + key
        if self.zk.exists(path):
            self.zk.set(path, value.encode())
        else:
            self.zk.create(path, value.encode(), makepath=True)




def isolated_changes(web, n, change):
    """n changes, each `change(i)` making host r<i>.bench serve, ISOLATION_GAP apart; returns
    the seconds from each change to its host serving."""
    samples = []
    for i in range(n):
        time.sleep(ISOLATION_GAP)
        t0 = time.monotonic()
        change(i)
        wait_status(web, f"r{i}.bench", 200)
        samples.append(time.monotonic() - t0)
    return samples


def bench_kv(backend, build_dir, n, procs):
    import kv_rig
    if not kv_rig.available(backend):
        print(json.dumps({"provider": backend, "skipped": "not installed"}))
        return None
    up, up_port = start_upstream(build_dir)
    procs.append(up)
    web = free_port()
    with tempfile.TemporaryDirectory() as d:
        store = kv_rig.start_store(backend, Path(d))
        try:
            writer = {"etcd": lambda: EtcdWriter(store.endpoint),
                      "redis": lambda: RedisWriter(store.port),
                      "zookeeper": lambda: ZooKeeperWriter(store)}[backend]()
            writer.put("traefik/http/services/u/loadBalancer/servers/0/url",
                       f"http://127.0.0.1:{up_port}")
            writer.put("traefik/http/routers/r/service", "u")
            writer.put("traefik/http/routers/r/rule", "Host(`start.bench`)")
            option = "zooKeeper" if backend == "zookeeper" else backend
            gw = start_gateway(build_dir, d, {option: {"endpoints": [store.endpoint]}},
                               {"web": web})
            procs.append(gw)
            wait_status(web, "start.bench", 200, bound=30)
            samples = isolated_changes(
                web, n, lambda i: writer.put("traefik/http/routers/r/rule", f"Host(`r{i}.bench`)"))
            verb = {"etcd": "put", "redis": "SET", "zookeeper": "set"}[backend]
            return summary(f"{backend} {verb} -> route serving", samples, isolated=True,
                           gap_ms=ISOLATION_GAP * 1000)
        finally:
            if backend == "zookeeper":
                store.close_client()
            store.kill()


def bench_kubernetes(build_dir, n, procs):
    sys.path.insert(0, str(REPO / "tests" / "fakes"))
    from fake_kube_apiserver import FakeKube
    up, up_port = start_upstream(build_dir)
    procs.append(up)
    kube = FakeKube(bookmark_interval=0.2).start()

    def ingress(host):
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "app", "namespace": "default"},
                "spec": {"rules": [{"host": host, "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "u", "port": {"number": 80}}}}]}}]}}

    try:
        kube.apply({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "u", "namespace": "default"},
                    "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        kube.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "u-abc", "namespace": "default",
                                 "labels": {"kubernetes.io/service-name": "u"}},
                    "addressType": "IPv4",
                    "ports": [{"name": "http", "port": up_port, "protocol": "TCP"}],
                    "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]})
        kube.apply(ingress("start.bench"))
        web = free_port()
        with tempfile.TemporaryDirectory() as d:
            gw = start_gateway(build_dir, d, {"kubernetesIngress": {"endpoint": kube.url}},
                               {"web": web})
            procs.append(gw)
            wait_status(web, "start.bench", 200, bound=30)
            samples = isolated_changes(web, n, lambda i: kube.apply(ingress(f"r{i}.bench")))
            return summary("kubernetes watch event -> route serving", samples, isolated=True,
                           gap_ms=ISOLATION_GAP * 1000)
    finally:
        kube.stop()


BENCHES = {"rest": bench_rest, "http": bench_http, "docker": bench_docker,
           "etcd": lambda b, n, p: bench_kv("etcd", b, n, p),
           "redis": lambda b, n, p: bench_kv("redis", b, n, p),
           "zookeeper": lambda b, n, p: bench_kv("zookeeper", b, n, p),
           "kubernetes": bench_kubernetes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--providers",
                    default="rest,http,docker,etcd,redis,zookeeper,kubernetes")
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--json")
    a = ap.parse_args()
    results = []
    for name in a.providers.split(","):
        procs = []
        try:
            results.append(BENCHES[name](a.build_dir, a.changes, procs))
        finally:
            stop_all(procs)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
