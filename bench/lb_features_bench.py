#!/usr/bin/python3
"""Throughput cost of health checks and sticky sessions, as a ratio to the bare load balancer.

One Turnpike process (one worker, pinned to CPU 1) serves three routers on three ports, each to
the same two nginx origin servers (CPU 0):

  bare     loadBalancer with two servers
  health   the same plus an active healthCheck (interval 1s) on both servers
  sticky   the same plus healthCheck and sticky.cookie; the client sends the cookie it got

wrk (CPU 0, keep-alive, -c50) runs against each router in turn, REPS interleaved repetitions;
the gateway's CPU time per request comes from /proc. Reports medians and ratios to `bare`.

Usage: bench/lb_features_bench.py TURNPIKE_BINARY [--duration S] [--reps N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import cpu_ticks, free_port, spawn, stop_all, wait_http, wrk_cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turnpike")
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    work = tempfile.mkdtemp(prefix="lbbench.")
    os.chmod(work, 0o755)
    origins = [free_port(), free_port()]
    servers = "".join(f"  server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"ok\\n\"; }} }}\n"
                      for p in origins)
    open(f"{work}/nginx.conf", "w").write(
        f"worker_processes 1;\ndaemon off;\npid {work}/nginx.pid;\nerror_log {work}/err.log error;\n"
        f"events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 100000000;\n{servers}}}\n")
    ports = {"bare": free_port(), "health": free_port(), "sticky": free_port()}
    eps = "".join(f"  {n}:\n    address: \"127.0.0.1:{p}\"\n" for n, p in ports.items())
    open(f"{work}/turnpike.yml", "w").write(
        f"entryPoints:\n{eps}providers:\n  file:\n    filename: \"{work}/dynamic.yml\"\nlog:\n  level: ERROR\n")
    srv = "".join(f"          - url: \"http://127.0.0.1:{p}\"\n" for p in origins)
    hc = "        healthCheck:\n          path: /\n          interval: 1s\n"
    dyn = "http:\n  routers:\n"
    for n in ports:
        dyn += f"    {n}:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints: [\"{n}\"]\n      service: {n}\n"
    dyn += "  services:\n"
    dyn += f"    bare:\n      loadBalancer:\n        servers:\n{srv}"
    dyn += f"    health:\n      loadBalancer:\n        servers:\n{srv}{hc}"
    dyn += f"    sticky:\n      loadBalancer:\n        servers:\n{srv}{hc}        sticky:\n          cookie: {{}}\n"
    open(f"{work}/dynamic.yml", "w").write(dyn)
    procs = []
    try:
        procs.append(spawn(["nginx", "-c", f"{work}/nginx.conf", "-p", work], cpu=0))
        gw = spawn([os.path.abspath(args.turnpike), f"--configFile={work}/turnpike.yml",
                    "--core.workers=1"], cpu=1)
        procs.append(gw)
        for p in ports.values():
            wait_http(p)
        # The sticky cookie the gateway hands out, sent back on every request.
        out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null",
                              f"http://127.0.0.1:{ports['sticky']}/"], capture_output=True, text=True).stdout
        m = re.search(r"(?im)^set-cookie:\s*([^;\r\n]+)", out)
        if not m:
            sys.exit("the sticky service set no cookie:\n" + out)
        cookie = m.group(1)
        results = {n: {"rps": [], "us": []} for n in ports}
        for rep in range(args.reps):
            for n, p in ports.items():
                extra = ["-H", f"Cookie: {cookie}"] if n == "sticky" else []
                rps, us = wrk_cpu(f"rep{rep + 1} {n}", f"http://127.0.0.1:{p}/", args.duration,
                                  lambda: cpu_ticks(gw.pid), extra)
                results[n]["rps"].append(rps)
                results[n]["us"].append(us)
        base_rps = statistics.median(results["bare"]["rps"])
        base_us = statistics.median(results["bare"]["us"])
        print("| load balancer | req/s | ratio to bare | gateway CPU µs/req | CPU ratio |")
        print("|---|---|---|---|---|")
        for n, r in results.items():
            rps, us = statistics.median(r["rps"]), statistics.median(r["us"])
            print(f"| {n} | {rps:,.0f} | {rps / base_rps:.2f} | {us:.1f} | {us / base_us:.2f} |")
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
