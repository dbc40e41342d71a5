#!/usr/bin/python3
"""Reload latency: time from a dynamic-file change to the new route serving.

Starts the real turnpike binary with the file provider watching a file that holds N routers
(default 10,000 Host routers), then repeatedly rewrites the file (atomic rename) adding one new
router and measures how long until a request for the new host is answered by the upstream
instead of 404. The provider throttle is set to 0 so the figure is the pipeline itself
(inotify -> parse -> decode -> build -> post to workers); Traefik's throttle (default 2 s) adds
on top when configured.

Usage: bench/reload_bench.py BUILD_DIR [--routers N] [--iterations K] [--json OUT]
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, host, path="/"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def write_dynamic(path, routers, extra, upstream):
    lines = ["http:", "  routers:"]
    for i in range(routers):
        lines += [f"    r{i}:", f"      rule: \"Host(`svc{i}.example.com`)\"", "      service: up"]
    for name in extra:
        lines += [f"    {name}:", f"      rule: \"Host(`{name}.example.com`)\"", "      service: up"]
    lines += ["  services:", "    up:", "      loadBalancer:", "        servers:",
              f"          - url: \"http://127.0.0.1:{upstream}\""]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--routers", type=int, default=10000)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    work = tempfile.mkdtemp(prefix="reload-bench.")
    up_port, gw_port = free_port(), free_port()
    procs = []
    try:
        up = subprocess.Popen([f"{build}/tests/test_upstream", "--listen", f"127.0.0.1:{up_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(up)
        dyn = os.path.join(work, "dynamic.yml")
        write_dynamic(dyn, args.routers, [], up_port)
        static = os.path.join(work, "static.yml")
        with open(static, "w") as f:
            f.write(f"""entryPoints:
  web:
    address: "127.0.0.1:{gw_port}"
providers:
  providersThrottleDuration: 0s
  file:
    filename: "{dyn}"
    watch: true
log:
  level: INFO
  filePath: "{work}/turnpike.log"
""")
        gw = subprocess.Popen([f"{build}/turnpike", f"--configFile={static}", "--core.workers=1"])
        procs.append(gw)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if get(gw_port, f"svc{args.routers - 1}.example.com") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            sys.exit("gateway did not serve the initial configuration")
        samples = []
        extra = []
        for k in range(args.iterations):
            name = f"new{k}"
            extra.append(name)
            t0 = time.perf_counter()
            write_dynamic(dyn, args.routers, extra, up_port)
            while get(gw_port, f"{name}.example.com") != 200:
                if time.perf_counter() - t0 > 30:
                    sys.exit(f"route {name} never served")
            samples.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.2)
        rss_kb = int([l for l in open(f"/proc/{gw.pid}/status") if l.startswith("VmRSS")][0].split()[1])
        result = {
            "routers": args.routers,
            "iterations": args.iterations,
            "median_ms": round(statistics.median(samples), 1),
            "p90_ms": round(sorted(samples)[int(0.9 * (len(samples) - 1))], 1),
            "max_ms": round(max(samples), 1),
            "samples_ms": [round(s, 1) for s in samples],
            "rss_kb": rss_kb,
        }
        print(json.dumps(result, indent=2))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
