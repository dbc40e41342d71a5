#!/usr/bin/python3
"""Instructions per request of the middleware chain (headers + rateLimit + jwt + compress, the
configuration of middleware_chain_bench.py) and of the bare route, under callgrind.

Turnpike runs under `valgrind --tool=callgrind` with one worker in front of an nginx origin that
serves a 4 KiB text body. For each route, h2load sends a warm-up over one HTTP/1.1 connection, the
counters are zeroed, N requests on one connection are counted, and the total is divided by N.
Instruction counts do not depend on the machine's load (no wall-clock timing here).

    bench/chain_instructions.py TURNPIKE_BINARY [--requests 3000] [--top 25]

--top prints the functions with the most inclusive instructions of the chain route, per request.
Needs: valgrind, nginx, nghttp2-client (h2load).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, spawn, stop_all, wait_port  # noqa: E402
from instructions_bench import totals, wait_ok  # noqa: E402
from middleware_chain_bench import dynamic_yaml, token  # noqa: E402


def h2load(url, n, headers):
    args = ["h2load", "--h1", "-t1", "-c1", "-n", str(n)]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=1800).stdout
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not m or m.group(2) != str(n):
        raise RuntimeError(f"h2load failed against {url}:\n{out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turnpike")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--top", type=int, default=0)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="chain-instr-")
    os.chmod(work, 0o755)
    procs = []
    try:
        open(f"{work}/body.txt", "w").write(("the quick brown fox jumps over the lazy dog " * 100)[:4096])
        origin = free_port()
        open(f"{work}/origin.conf", "w").write(
            f"worker_processes 1; daemon off; master_process off; pid {work}/origin.pid;\n"
            f"error_log {work}/origin.err crit; events {{ worker_connections 1024; }}\n"
            f"http {{ access_log off; keepalive_requests 100000000; default_type text/plain;\n"
            f"  server {{ listen 127.0.0.1:{origin}; root {work};\n"
            f"    location / {{ try_files /body.txt =404; }} }} }}\n")
        procs.append(spawn(["nginx", "-c", f"{work}/origin.conf", "-p", work]))
        wait_port(origin)
        bare, chain = free_port(), free_port()
        open(f"{work}/turnpike.yml", "w").write(
            f"entryPoints:\n  bare: {{address: \"127.0.0.1:{bare}\"}}\n"
            f"  chain: {{address: \"127.0.0.1:{chain}\"}}\n"
            f"providers: {{file: {{filename: \"{work}/dynamic.yml\"}}}}\nlog: {{level: ERROR}}\n")
        open(f"{work}/dynamic.yml", "w").write(dynamic_yaml(origin))
        results = {}
        for name, port, headers in (
                ("bare", bare, []),
                ("chain", chain, [f"Authorization: Bearer {token()}", "Accept-Encoding: gzip"])):
            out = os.path.join(work, f"cg.{name}")
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 os.path.abspath(a.turnpike), f"--configFile={work}/turnpike.yml",
                 "--core.workers=1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                url = f"http://127.0.0.1:{port}/"
                wait_port(port, 60)
                wait_ok(url if name == "bare" else f"http://127.0.0.1:{bare}/")
                h2load(url, 500, headers)
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True)
                h2load(url, a.requests, headers)
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True)
                time.sleep(1)
            finally:
                stop_all([proc])
            dump = sorted(f for f in os.listdir(work) if f.startswith(f"cg.{name}."))[0]
            results[name] = totals(os.path.join(work, dump))[0] / a.requests
            if a.top and name == "chain":
                ann = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                                      os.path.join(work, dump)], capture_output=True,
                                     text=True).stdout.splitlines()
                shown = 0
                for line in ann:
                    m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+(.*)", line) or \
                        re.match(r"\s*([\d,]+)\s+(.*)", line)
                    if not m or "PROGRAM TOTALS" in line:
                        continue
                    print(f"{int(m.group(1).replace(',', '')) / a.requests:12.0f}  {m.group(2)[:150]}")
                    shown += 1
                    if shown >= a.top:
                        break
        print(f"bare : {results['bare']:.0f} instructions/request")
        print(f"chain: {results['chain']:.0f} instructions/request "
              f"(x{results['chain'] / results['bare']:.2f})")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
