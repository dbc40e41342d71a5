#!/usr/bin/python3
"""Cost per request of a realistic middleware chain against the bare route, in Turnpike and, for
the parts it has, in nginx.

The chain is headers (a custom response header) + rateLimit (a limit far above the load, so every
request pays the bucket but none waits) + jwt (HS256, the token sent by wrk) + compress (gzip,
wrk sends Accept-Encoding: gzip) in front of an nginx origin (CPU 0) that serves a 4 KiB text
body. nginx as the peer proxy runs the same route bare and with add_header + limit_req + gzip
(nginx has no JWT verification outside NGINX Plus, so its chain lacks that step). Each proxy is
pinned to CPU 1 with one worker; wrk (keep-alive, -c50) runs on CPU 0, REPS interleaved
repetitions. Reports req/s and the proxy's CPU time per request (from /proc), and ratios to the
bare route.

Usage: bench/middleware_chain_bench.py TURNPIKE_BINARY [--duration S] [--reps N] [--no-nginx]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import cpu_ticks, free_port, spawn, stop_all, wait_http, wrk_cpu

SECRET = b"bench-secret"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token() -> str:
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64u(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400}).encode())
    sig = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64u(sig)}"


def dynamic_yaml(origin: int) -> str:
    """The bare route (entrypoint `bare`) and the chain (entrypoint `chain`) to the origin."""
    return f"""http:
  routers:
    bare:
      rule: "PathPrefix(`/`)"
      entryPoints: [bare]
      service: origin
    chain:
      rule: "PathPrefix(`/`)"
      entryPoints: [chain]
      service: origin
      middlewares: [hdr, limit, auth, gzip]
  middlewares:
    hdr:
      headers:
        customResponseHeaders:
          X-Chain: "on"
    limit:
      rateLimit:
        average: 100000000
        burst: 100000000
    auth:
      jwt:
        signingSecret: "{SECRET.decode()}"
    gzip:
      compress:
        encodings: [gzip]
  services:
    origin:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:{origin}"
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turnpike")
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-nginx", action="store_true", help="skip the nginx peer")
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    work = tempfile.mkdtemp(prefix="mwbench.")
    os.chmod(work, 0o755)
    body = ("the quick brown fox jumps over the lazy dog " * 100)[:4096]
    open(f"{work}/body.txt", "w").write(body)
    origin = free_port()
    ports = {"turnpike-bare": free_port(), "turnpike-chain": free_port()}
    if not args.no_nginx:
        ports.update({"nginx-bare": free_port(), "nginx-chain": free_port()})
    nginx_proxy = ""
    if not args.no_nginx:
        nginx_proxy = (
            "  limit_req_zone $binary_remote_addr zone=bench:1m rate=1000000r/s;\n"
            "  upstream origin { server 127.0.0.1:%d; keepalive 64; }\n"
            "  server { listen 127.0.0.1:%d; location / { proxy_pass http://origin; "
            "proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n"
            "  server { listen 127.0.0.1:%d; gzip on; gzip_types text/plain; gzip_min_length 1024; "
            "gzip_proxied any; location / { limit_req zone=bench burst=1000000 nodelay; "
            "add_header X-Chain on; proxy_pass http://origin; proxy_http_version 1.1; "
            "proxy_set_header Connection \"\"; } }\n"
        ) % (origin, ports["nginx-bare"], ports["nginx-chain"])
    open(f"{work}/origin.conf", "w").write(
        f"worker_processes 1;\ndaemon off;\npid {work}/origin.pid;\nerror_log {work}/oerr.log error;\n"
        f"events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 100000000;\n"
        f"  default_type text/plain;\n"
        f"  server {{ listen 127.0.0.1:{origin}; root {work}; location / {{ try_files /body.txt =404; }} }}\n}}\n")
    open(f"{work}/proxy.conf", "w").write(
        f"worker_processes 1;\ndaemon off;\npid {work}/proxy.pid;\nerror_log {work}/perr.log error;\n"
        f"events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 100000000;\n"
        f"{nginx_proxy}}}\n")
    open(f"{work}/turnpike.yml", "w").write(
        "entryPoints:\n"
        f"  bare:\n    address: \"127.0.0.1:{ports['turnpike-bare']}\"\n"
        f"  chain:\n    address: \"127.0.0.1:{ports['turnpike-chain']}\"\n"
        f"providers:\n  file:\n    filename: \"{work}/dynamic.yml\"\nlog:\n  level: ERROR\n")
    open(f"{work}/dynamic.yml", "w").write(dynamic_yaml(origin))
    hdrs = {"turnpike-chain": [("Authorization", f"Bearer {token()}"), ("Accept-Encoding", "gzip")],
            "nginx-chain": [("Accept-Encoding", "gzip")]}
    procs = []
    try:
        procs.append(spawn(["nginx", "-c", f"{work}/origin.conf", "-p", work], cpu=0))
        gw = spawn([os.path.abspath(args.turnpike), f"--configFile={work}/turnpike.yml",
                    "--core.workers=1"], cpu=1)
        procs.append(gw)
        pid = {"turnpike-bare": gw.pid, "turnpike-chain": gw.pid}
        if not args.no_nginx:
            nx = spawn(["nginx", "-c", f"{work}/proxy.conf", "-p", work], cpu=1)
            procs.append(nx)
            # The worker process does the work: count the whole group (master + worker).
            pid.update({"nginx-bare": nx.pid, "nginx-chain": nx.pid})
        for name, p in ports.items():
            wait_http(p, hdrs.get(name, ()))
        # The chain really runs: gzip'd, with the header, and 401 without the token.
        out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-H", "Accept-Encoding: gzip",
                              "-H", f"Authorization: Bearer {token()}",
                              f"http://127.0.0.1:{ports['turnpike-chain']}/"],
                             capture_output=True, text=True).stdout
        if "content-encoding: gzip" not in out.lower() or "x-chain: on" not in out.lower():
            sys.exit("the Turnpike chain did not compress or add its header:\n" + out)

        def group_ticks(name):
            if name.startswith("nginx"):
                children = subprocess.run(["pgrep", "-P", str(pid[name])], capture_output=True,
                                          text=True).stdout.split()
                return cpu_ticks(pid[name], *map(int, children))
            return cpu_ticks(pid[name])

        results = {n: {"rps": [], "us": []} for n in ports}
        for rep in range(args.reps):
            for n, p in ports.items():
                extra = [a for k, v in hdrs.get(n, ()) for a in ("-H", f"{k}: {v}")]
                rps, us = wrk_cpu(f"rep{rep + 1} {n}", f"http://127.0.0.1:{p}/", args.duration,
                                  lambda: group_ticks(n), extra)
                results[n]["rps"].append(rps)
                results[n]["us"].append(us)
        print("| route | req/s | ratio to its bare route | proxy CPU µs/req | CPU ratio |")
        print("|---|---|---|---|---|")
        for n, r in results.items():
            base = results[n.split("-")[0] + "-bare"]
            rps, us = statistics.median(r["rps"]), statistics.median(r["us"])
            brps, bus = statistics.median(base["rps"]), statistics.median(base["us"])
            print(f"| {n} | {rps:,.0f} | {rps / brps:.2f} | {us:.1f} | {us / bus if bus else 0:.2f} |")
        if not args.no_nginx:
            print("\nnginx's chain: add_header + limit_req + gzip (no JWT step: not in nginx OSS).")
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
