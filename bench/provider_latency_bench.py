#!/usr/bin/python3
"""Change-to-live latency per provider: the time from a change at the source to the new route
serving, polled by a client every millisecond, over N changes (p50/p99/max).

  rest    PUT /api/providers/rest with one more router            -> route serves
  http    the polled endpoint's body gains a router (pollInterval 10ms) -> route serves
  docker  POST /containers/<id>/start of a labelled busybox httpd (real dockerd, host network)
          -> route serves (includes the container's own start time); and kill -> route gone
  etcd    (when the KV providers are built) put traefik/http/routers/<r>/rule -> route serves

Each provider runs against the real turnpike binary and real peers on loopback; the throttle is
the default (100 ms), so the figure is what a user gets. Only the sizes change with the flags.

Usage: bench/provider_latency_bench.py BUILD_DIR [--providers rest,http,docker]
       [--changes 100] [--json OUT]
"""
import argparse
import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
              "providers": providers, "log": {"level": "ERROR"}}
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


def summary(name, samples):
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    out = {"provider": name, "changes": len(s), "p50_ms": round(p(0.5), 2),
           "p99_ms": round(p(0.99), 2), "max_ms": round(s[-1] * 1000, 2),
           "mean_ms": round(statistics.mean(s) * 1000, 2)}
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
            t0 = time.monotonic()
            c.request("PUT", "/api/providers/rest", body=body)
            c.getresponse().read()
            c.close()
            wait_status(web, f"r{i - 1}.bench", 200)
            samples.append(time.monotonic() - t0)
        return summary("rest", samples)


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
                t0 = time.monotonic()
                state["body"] = json.dumps(routers_cfg(i, up_port)).encode()
                wait_status(web, f"r{i - 1}.bench", 200)
                samples.append(time.monotonic() - t0)
            return summary("http (pollInterval 10ms)", samples)
    finally:
        srv.shutdown()


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
            start, gone = [], []
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
                t0 = time.monotonic()
                eng.api("POST", f"/containers/{name}/start")
                wait_status(web, f"{name}.bench", 200, bound=30)
                start.append(time.monotonic() - t0)
                t0 = time.monotonic()
                eng.api("POST", f"/containers/{name}/kill")
                wait_status(web, f"{name}.bench", 404, bound=30)
                gone.append(time.monotonic() - t0)
                eng.remove(name)
            return [summary("docker start (includes container start)", start),
                    summary("docker kill -> route gone", gone)]
        finally:
            eng.close()


BENCHES = {"rest": bench_rest, "http": bench_http, "docker": bench_docker}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--providers", default="rest,http,docker")
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
