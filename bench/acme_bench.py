#!/usr/bin/python3
"""ACME issuance speed: Turnpike's resolver vs lego (the client Traefik uses), against the same
pebble with PEBBLE_VA_NOSLEEP=1, HTTP-01, on loopback.

Measured:
  1. time to the first valid certificate for a new router on a running gateway (the account
     exists): from the atomic write of the dynamic file to the certificate in acme.json;
  2. 50 routers added at once: until all 50 certificates are stored;
  and for lego, with the same account:
  1'. one `lego run` per certificate (what the rig measured at ~5.6 s);
  2'. 50 `lego run` processes in parallel, answering HTTP-01 from one shared webroot.

Usage: bench/acme_bench.py [build_dir] [--runs N] [--parallel N]
Prints a Markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("TURNPIKE_BUILD_DIR", str(REPO / "build"))

import acme_rig as rig  # noqa: E402
import turnpike_it as it  # noqa: E402


def turnpike_runs(binary: Path, work: Path, pebble: rig.Pebble, runs: int, parallel: int):
    storage = work / "acme.json"
    gw = it.Gateway(binary, work / "gw", entrypoints={"web": {"address": f"127.0.0.1:{pebble.http_port}"}},
                    static_extra={"certificatesResolvers": {"le": pebble.resolver(
                        storage, httpChallenge={"entryPoint": "web"})}},
                    dynamic={}, throttle="10ms", log_level=os.environ.get("ACME_BENCH_LOG", "INFO"))
    services = {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}
    routers = {}

    def publish():
        gw.write_dynamic({"http": {"routers": routers, "services": services}})

    def add(names):
        for n in names:
            routers[n.replace(".", "-")] = {"rule": f"Host(`{n}`)", "service": "s",
                                            "tls": {"certResolver": "le"}}
        t0 = time.monotonic()
        publish()
        for n in names:
            rig.wait_certificate(storage, "le", n, timeout=300, gateway=gw)
        return time.monotonic() - t0

    gw.start()
    try:
        t_account = add(["warm.bench.test"])  # includes the RSA-4096 account key and registration
        singles = [add([f"one{i}-{int(time.time())}.bench.test"]) for i in range(runs)]
        many = add([f"par{i}-{int(time.time())}.bench.test" for i in range(parallel)])
    finally:
        gw.stop()
    return t_account, singles, many


def lego_runs(work: Path, pebble: rig.Pebble, runs: int, parallel: int):
    env = dict(os.environ, LEGO_CA_CERTIFICATES=str(pebble.minica))
    base = ["lego", "--server", pebble.directory, "--accept-tos", "--email", "t@example.com",
            "--path", str(work / "lego"), "--key-type", "ec256"]
    webroot = work / "webroot"
    webroot.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", pebble.http_port),
                                 partial(SimpleHTTPRequestHandler, directory=str(webroot)))
    server.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def run(name):
        t0 = time.monotonic()
        subprocess.run(base + ["--domains", name, "--http", "--http.webroot", str(webroot), "run"],
                       env=env, check=True, capture_output=True)
        return time.monotonic() - t0

    try:
        t_account = run("warm.lego.test")
        singles = [run(f"one{i}-{int(time.time())}.lego.test") for i in range(runs)]
        t0 = time.monotonic()
        threads = [threading.Thread(target=run, args=(f"par{i}-{int(time.time())}.lego.test",))
                   for i in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        many = time.monotonic() - t0
    finally:
        server.shutdown()
        server.server_close()
    return t_account, singles, many


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir", nargs="?", default=str(REPO / "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=50)
    ap.add_argument("--skip-lego", action="store_true")
    ap.add_argument("--workdir", help="keep logs and files here instead of a temporary folder")
    args = ap.parse_args()
    binary = Path(args.build_dir).resolve() / "turnpike"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        dns = rig.ChallTestSrv(work)
        pebble = rig.Pebble(work, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                            tls_port=it.free_port())
        try:
            tp = turnpike_runs(binary, work / "tp", pebble, args.runs, args.parallel)
            lg = None if args.skip_lego else lego_runs(work / "lg", pebble, args.runs, args.parallel)
        finally:
            pebble.stop()
            dns.stop()
    print(f"| client | first run (account + certificate) | one new certificate, median of {args.runs} "
          f"(min–max) | {args.parallel} certificates at once |")
    print("|---|---|---|---|")
    for name, result in (("Turnpike", tp), ("lego 4.9.1", lg)):
        if result is None:
            continue
        acc, singles, many = result
        print(f"| {name} | {acc:.2f} s | {statistics.median(singles):.2f} s "
              f"({min(singles):.2f}–{max(singles):.2f}) | {many:.2f} s |")


if __name__ == "__main__":
    main()
