#!/usr/bin/python3
"""New TLS handshakes per second and server CPU per handshake: Turnpike vs nginx (and HAProxy).

Each server terminates TLS on 127.0.0.1 with the same ECDSA P-256 certificate, one worker
process/thread pinned to CPU 1; `openssl s_time` runs on CPU 0 and opens connection after
connection for DURATION seconds, in three modes:

  full-tls13   -new -tls1_3    every connection a full TLS 1.3 handshake (ECDHE + ECDSA sign)
  full-tls12   -new -tls1_2    every connection a full TLS 1.2 handshake
  resumed-tls12 -reuse -tls1_2 the first connection full, the rest resume its session
                               (session ID or ticket: whatever the server offers)

s_time is one sequential client, so handshakes/s is bounded by the client's own work (it verifies
nothing but still does ECDHE); the server's CPU time per handshake (utime+stime from /proc, over
the run) is the figure that compares the servers. Targets run interleaved, REPS times; medians.

Usage: bench/tls_handshake_bench.py TURNPIKE_BINARY [--duration S] [--reps N] [--no-haproxy]
       [--json OUT]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import TCK, cpu_ticks, free_port, stop_all, wait_port

MODES = {
    "full-tls13": ["-new", "-tls1_3"],
    "full-tls12": ["-new", "-tls1_2"],
    "resumed-tls12": ["-reuse", "-tls1_2"],
}


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def make_cert(work):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test", "-keyout", f"{work}/key.pem",
                    "-out", f"{work}/cert.pem"], check=True, capture_output=True)
    with open(f"{work}/both.pem", "w") as out:
        for name in ("cert.pem", "key.pem"):
            out.write(open(f"{work}/{name}").read())


def start(cmd, work, name):
    log = open(f"{work}/{name}.log", "w")
    return subprocess.Popen(["taskset", "-c", "1"] + cmd, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_nginx(work, port):
    conf = f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {work}/cert.pem;
    ssl_certificate_key {work}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""
    open(f"{work}/nginx.conf", "w").write(conf)
    p = start(["nginx", "-c", f"{work}/nginx.conf", "-p", work], work, "nginx")
    wait_port(port)
    time.sleep(0.3)
    return p, lambda: [p.pid] + children(p.pid)


def start_haproxy(work, port):
    conf = f"""global
  nbthread 1
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:{port} ssl crt {work}/both.pem
  http-request return status 200 content-type text/plain string "ok"
"""
    open(f"{work}/haproxy.cfg", "w").write(conf)
    p = start(["haproxy", "-f", f"{work}/haproxy.cfg"], work, "haproxy")
    wait_port(port)
    return p, lambda: [p.pid]


def start_turnpike(binary, work, port):
    open(f"{work}/turnpike.yml", "w").write(f"""entryPoints:
  websecure:
    address: "127.0.0.1:{port}"
providers:
  file:
    filename: "{work}/dynamic.yml"
log:
  level: ERROR
""")
    open(f"{work}/dynamic.yml", "w").write(f"""http:
  routers:
    secure:
      rule: "PathPrefix(`/`)"
      service: unused
      tls: {{}}
  services:
    unused:  # s_time sends no request: the handshake is all that is measured
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:9"
tls:
  certificates:
    - certFile: "{work}/cert.pem"
      keyFile: "{work}/key.pem"
  stores:
    default:
      defaultCertificate:
        certFile: "{work}/cert.pem"
        keyFile: "{work}/key.pem"
""")
    p = start([binary, f"--configFile={work}/turnpike.yml", "--core.workers=1"], work, "turnpike")
    wait_port(port)
    time.sleep(0.3)
    return p, lambda: [p.pid]


def s_time(port, mode, duration):
    cmd = ["taskset", "-c", "0", "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
           "-time", str(duration)] + MODES[mode]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    # "1234 connections in 5.01s; 246.31 connections/user sec, bytes read 0"
    # "1234 connections in 6 real seconds, 0 bytes read per connection"
    m = re.findall(r"(\d+) connections in (\d+) real seconds", out)
    if not m:
        raise RuntimeError(f"s_time output not understood:\n{out}")
    conns, secs = map(int, m[-1])
    return conns, secs, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turnpike")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-haproxy", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    for tool in ("nginx", "openssl", "taskset") + (() if args.no_haproxy else ("haproxy",)):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    work = tempfile.mkdtemp(prefix="tlsbench.")
    os.chmod(work, 0o755)
    make_cert(work)
    ports = {"nginx": free_port(), "turnpike": free_port()}
    if not args.no_haproxy:
        ports["haproxy"] = free_port()
    procs = {}
    try:
        procs["nginx"] = start_nginx(work, ports["nginx"])
        if "haproxy" in ports:
            procs["haproxy"] = start_haproxy(work, ports["haproxy"])
        procs["turnpike"] = start_turnpike(os.path.abspath(args.turnpike), work,
                                           ports["turnpike"])
        results = {}
        for rep in range(args.reps):
            for mode in MODES:
                for name in ports:
                    pids = procs[name][1]()
                    before = cpu_ticks(*pids)
                    conns, secs, _ = s_time(ports[name], mode, args.duration)
                    used = (cpu_ticks(*pids) - before) / TCK
                    r = results.setdefault(mode, {}).setdefault(name, {"hs": [], "us": []})
                    r["hs"].append(conns / max(secs, 1))
                    r["us"].append(used * 1e6 / max(conns, 1))
                    print(f"rep{rep + 1} {mode:14} {name:9} {conns / max(secs, 1):8.0f} hs/s "
                          f"{used * 1e6 / max(conns, 1):7.1f} server CPU us/hs", file=sys.stderr)
        summary = {}
        print("| mode | server | handshakes/s | ratio to nginx | server CPU µs/handshake |")
        print("|---|---|---|---|---|")
        for mode, per in results.items():
            base = statistics.median(per["nginx"]["hs"])
            for name, r in per.items():
                hs = statistics.median(r["hs"])
                us = statistics.median(r["us"])
                summary.setdefault(mode, {})[name] = {"hs_per_s": hs, "cpu_us": us}
                print(f"| {mode} | {name} | {hs:,.0f} | {hs / base:.2f} | {us:.1f} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f, indent=2)
    finally:
        stop_all([p for p, _ in procs.values()])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
