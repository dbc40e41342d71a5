#!/usr/bin/env python3
"""CPU per request of several proxies measured at the same time, sharing one core.

Sequential runs on this shared 2-core machine move by ±30 % from one run to the next (the same
proxy's CPU per HTTP/2 request between 22 and 36 µs), more than the differences being measured.
Here every proxy is pinned to CPU 1 and loaded at once, each by its own h2load on CPU 0, for the
same few seconds: whatever the host does to that core (frequency, other tenants, cache
pressure) it does to all of them. The CPU time of each (all threads, nanoseconds from
/proc/PID/task/*/schedstat) divided by the requests it answered is its cost per request; the
report gives each proxy's ratio to the first, per round and as a median.

    bench/cpu_share_bench.py --turnpike A [--turnpike B ...] [--peer haproxy|nginx]
        [--mode h2|h1tls|h1] [--rounds 7] [--seconds 4]

Each proxy's load is the same h2load command (-t1 -c50 and, for HTTP/2, -m10), so each gets
the requests its speed earns; a proxy that needs less CPU per request answers more of them.
Needs nginx-light, haproxy, nghttp2-client (h2load), openssl.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (bench_cert, free_port, h2load_counts, haproxy_cfg, nginx_cfg,  # noqa: E402
                      spawn, start_origin, stop_all, wait_ok)


def cpu_ns(pid):
    """On-CPU time of every thread of pid, in nanoseconds."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def h2load_cmd(mode, url, seconds=None, n=None):
    cmd = ["taskset", "-c", "0", "h2load", "-t1", "-c50"]
    cmd += ["--h1"] if mode in ("h1", "h1tls") else ["-m10"]
    cmd += ["-D", str(seconds)] if seconds else ["-n", str(n)]
    return cmd + [url]


def done(out):
    counts = h2load_counts(out)
    if not counts or counts[0] != counts[1]:
        raise RuntimeError(f"h2load reported failures:\n{out}")
    return counts[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turnpike", action="append", required=True)
    ap.add_argument("--peer", choices=["haproxy", "nginx", "none"], default="haproxy")
    ap.add_argument("--mode", choices=["h2", "h1tls", "h1"], default="h2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=4)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cpu-share-")
    procs = []
    try:
        bench_cert(work)
        proc, origin = start_origin(work, cpu=0)
        procs.append(proc)
        scheme = "http" if a.mode == "h1" else "https"
        targets = []  # (name, Popen, url)
        if a.peer != "none":
            port = free_port()
            if a.peer == "haproxy":
                with open(f"{work}/haproxy.cfg", "w") as f:
                    f.write(haproxy_cfg(work, origin, free_port(), port) if a.mode == "h1"
                            else haproxy_cfg(work, origin, port))
                p = spawn(["haproxy", "-db", "-f", f"{work}/haproxy.cfg"], cpu=1)
            else:
                conf = nginx_cfg(work, origin, port)
                if a.mode == "h1":
                    conf = conf.replace(" ssl http2", "")
                with open(f"{work}/nginx.conf", "w") as f:
                    f.write(conf)
                p = spawn(["nginx", "-c", f"{work}/nginx.conf", "-p", work], cpu=1)
            procs.append(p)
            targets.append((a.peer, p, f"{scheme}://127.0.0.1:{port}/"))
        with open(f"{work}/dynamic.yml", "w") as f:
            f.write(f"""http:
  routers:
    r: {{rule: "PathPrefix(`/`)", service: origin{", tls: {}" if scheme == "https" else ""}}}
  services:
    origin: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{origin}"}}]}}}}
tls:
  certificates: [{{certFile: "{work}/cert.pem", keyFile: "{work}/key.pem"}}]
""")
        for i, binary in enumerate(a.turnpike):
            port = free_port()
            with open(f"{work}/tp{i}.yml", "w") as f:
                f.write(f"""entryPoints:
  ep: {{address: "127.0.0.1:{port}"}}
providers: {{file: {{filename: "{work}/dynamic.yml"}}}}
log: {{level: ERROR}}
""")
            p = spawn([binary, f"--configFile={work}/tp{i}.yml", "--core.workers=1"], cpu=1)
            procs.append(p)
            targets.append((f"turnpike{i}" if len(a.turnpike) > 1 else "turnpike", p,
                            f"{scheme}://127.0.0.1:{port}/"))
        for name, p, url in targets:
            wait_ok(url, 30)
            # taskset -a: every thread, including those started after spawn's taskset.
            subprocess.run(["taskset", "-a", "-p", "-c", "1", str(p.pid)], capture_output=True)
            done(subprocess.run(h2load_cmd(a.mode, url, n=20000), capture_output=True,
                                text=True).stdout)  # warm-up
        names = [t[0] for t in targets]
        print(f"mode {a.mode}, {a.rounds} rounds of {a.seconds} s, all on CPU 1 at once; "
              f"µs of CPU per request (ratio to {names[0]})")
        per = {n: [] for n in names}
        for r in range(a.rounds):
            before = {n: cpu_ns(p.pid) for n, p, _ in targets}
            loads = [(n, subprocess.Popen(h2load_cmd(a.mode, url, seconds=a.seconds),
                                          stdout=subprocess.PIPE, text=True))
                     for n, _, url in targets]
            counts = {n: done(lp.communicate()[0]) for n, lp in loads}
            after = {n: cpu_ns(p.pid) for n, p, _ in targets}
            us = {n: (after[n] - before[n]) / 1000 / counts[n] for n in names}
            for n in names:
                per[n].append(us[n])
            print(f"round {r + 1}: " + "  ".join(
                f"{n} {us[n]:.1f} ({us[n] / us[names[0]]:.3f}, {counts[n] / a.seconds:.0f}/s)"
                for n in names), flush=True)
        print("median: " + "  ".join(
            f"{n} {statistics.median(per[n]):.1f} µs "
            f"(ratio {statistics.median([x / y for x, y in zip(per[n], per[names[0]])]):.3f})"
            for n in names))
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
