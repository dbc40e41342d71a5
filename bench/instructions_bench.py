#!/usr/bin/env python3
"""User-space instructions per proxied request, side by side: Turnpike, nginx and HAProxy.

Each proxy runs under `valgrind --tool=callgrind` with one worker in front of the same nginx
origin (answers "ok\\n"). h2load sends a warm-up, the counters are zeroed, N requests are counted,
and the total is divided by N. Instruction counts do not depend on the machine's load, so this is
the steadiest comparison a shared machine allows (docs/benchmarks.md). For HTTP/2 over TLS the
share of the TLS handshakes (SSL_do_handshake, inclusive) is reported separately and subtracted.

    bench/instructions_bench.py --turnpike build-rel/turnpike [--requests 20000] [--only turnpike]
        [--protocols h1 h1tls h2]

CALLGRIND_ARGS adds valgrind options, e.g. CALLGRIND_ARGS=--cache-sim=yes for simulated cache
misses (read them with callgrind_annotate on the dumps kept with --keep).

Needs: valgrind, nginx-light, haproxy, nghttp2-client (h2load), openssl.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (bench_cert, free_port, h2load_counts, haproxy_cfg, start_origin,  # noqa: E402
                      stop_all, wait_ok, wait_port)


def h2load(url, n, h1):
    args = ["h2load", "-t1", "-c50", "-n", str(n)] + (["--h1"] if h1 else ["-m10"]) + [url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=1800).stdout
    counts = h2load_counts(out)
    if not counts or counts[1] != n:
        raise RuntimeError(f"h2load failed against {url}:\n{out}")


def totals(path):
    """(program total, SSL_do_handshake inclusive) instructions of a callgrind dump."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    total = handshake = 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
        elif line.rstrip().endswith("SSL_do_handshake [/usr/lib/x86_64-linux-gnu/libssl.so.3]") \
                or ":SSL_do_handshake " in line:
            handshake = max(handshake, value)
    return total, handshake


def measure(name, cmd, url, n, h1, work):
    tag = ("h1" if url.startswith("http:") else "h1tls") if h1 else "h2"
    out = os.path.join(work, f"cg.{name}.{tag}")
    extra = os.environ.get("CALLGRIND_ARGS", "").split()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + extra + cmd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        port = int(re.search(r":(\d+)/", url).group(1))
        wait_port(port, 60)
        wait_ok(url)
        h2load(url, 2000, h1)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True)
        h2load(url, n, h1)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True)
        time.sleep(1)
    finally:
        stop_all([proc])
    dumps = sorted(f for f in os.listdir(work) if f.startswith(os.path.basename(out) + "."))
    total, handshake = totals(os.path.join(work, dumps[0]))
    return total / n, handshake / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turnpike", required=True)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--only", nargs="*", default=["turnpike", "nginx", "haproxy"])
    ap.add_argument("--keep", help="copy the callgrind dumps into this directory "
                    "(for callgrind_annotate)")
    ap.add_argument("--protocols", nargs="*", default=["h1", "h1tls", "h2"],
                    choices=["h1", "h1tls", "h2"],
                    help="h1: HTTP/1.1 keep-alive; h1tls: HTTP/1.1 keep-alive over TLS "
                    "(as peers.sh's tls-ka); h2: HTTP/2 over TLS")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="instr-bench-")
    procs = []
    try:
        bench_cert(work)
        proc, origin = start_origin(work)
        procs.append(proc)
        p = {k: (free_port(), free_port()) for k in ("turnpike", "nginx", "haproxy")}
        with open(f"{work}/turnpike.yml", "w") as f:
            f.write(f"""entryPoints:
  web: {{address: "127.0.0.1:{p['turnpike'][0]}"}}
  websecure: {{address: "127.0.0.1:{p['turnpike'][1]}"}}
providers: {{file: {{filename: "{work}/dynamic.yml"}}}}
log: {{level: ERROR}}
""")
        with open(f"{work}/dynamic.yml", "w") as f:
            f.write(f"""http:
  routers:
    plain: {{rule: "PathPrefix(`/`)", entryPoints: [web], service: origin}}
    secure: {{rule: "PathPrefix(`/`)", entryPoints: [websecure], service: origin, tls: {{}}}}
  services:
    origin: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{origin}"}}]}}}}
tls:
  certificates: [{{certFile: "{work}/cert.pem", keyFile: "{work}/key.pem"}}]
""")
        with open(f"{work}/nginx.conf", "w") as f:
            f.write(f"""worker_processes 1; daemon off; master_process off; pid {work}/nginx.pid;
error_log {work}/nginx.err crit; events {{ worker_connections 8192; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 256; keepalive_requests 100000000;
                    keepalive_timeout 300s; }}
  server {{ listen 127.0.0.1:{p['nginx'][0]} backlog=4096;
    listen 127.0.0.1:{p['nginx'][1]} ssl http2 backlog=4096;
    ssl_certificate {work}/cert.pem; ssl_certificate_key {work}/key.pem;
    location / {{ proxy_pass http://origin; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }} }} }}
""")
        with open(f"{work}/haproxy.cfg", "w") as f:
            f.write(haproxy_cfg(work, origin, p['haproxy'][1], p['haproxy'][0]))
        cmds = {
            "turnpike": [a.turnpike, f"--configFile={work}/turnpike.yml", "--core.workers=1"],
            "nginx": ["nginx", "-c", f"{work}/nginx.conf", "-p", work],
            "haproxy": ["haproxy", "-db", "-f", f"{work}/haproxy.cfg"],
        }
        print(f"instructions per request ({a.requests} requests, h2load -c50; "
              "over TLS the handshakes are shown apart; HTTP/2: -m10)")
        print("| target | HTTP/1.1 keep-alive | HTTPS keep-alive | of which handshakes | "
              "HTTPS steady | HTTP/2 over TLS | of which handshakes | HTTP/2 steady |")
        print("|---|---|---|---|---|---|---|---|")
        for name in a.only:
            h1 = t1 = ths = h2 = hs = None
            if "h1" in a.protocols:
                h1, _ = measure(name, cmds[name], f"http://127.0.0.1:{p[name][0]}/", a.requests,
                                True, work)
            if "h1tls" in a.protocols:
                t1, ths = measure(name, cmds[name], f"https://127.0.0.1:{p[name][1]}/",
                                  a.requests, True, work)
            if "h2" in a.protocols:
                h2, hs = measure(name, cmds[name], f"https://127.0.0.1:{p[name][1]}/",
                                 a.requests, False, work)

            def k(v):
                return "-" if v is None else f"{v / 1000:.1f} k"
            print(f"| {name} | {k(h1)} | {k(t1)} | {k(ths)} | "
                  f"{k(None if t1 is None else t1 - ths)} | {k(h2)} | {k(hs)} | "
                  f"{k(None if h2 is None else h2 - hs)} |", flush=True)
    finally:
        stop_all(procs)
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            for f in os.listdir(work):
                if f.startswith("cg."):
                    shutil.copy(os.path.join(work, f), a.keep)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
