#!/usr/bin/python3
"""Distributed ACME (distributedAcme) with three gateway instances sharing etcd or Redis, against
pebble (PEBBLE_VA_NOSLEEP=1), HTTP-01, on loopback.

Measured per backend:
  1. time from a new router appearing on all three instances (the dynamic files written together)
     to all three serving a valid certificate for it (openssl s_client verifying against pebble's
     root, the serial the store holds); median/min/max over --runs routers, one at a time;
  2. --parallel routers added at once: until all three instances serve all of them;
  3. orders per name set (pebble's log), including a restart of all three instances (which must
     order nothing).

Pebble validates HTTP-01 on instance 1's `web` entrypoint, whichever instance holds the lock.

Usage: bench/dacme_bench.py [build_dir] [--runs N] [--parallel N] [--backends etcd,redis]
Prints a Markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("TURNPIKE_BUILD_DIR", str(REPO / "build"))

import acme_rig as rig  # noqa: E402
import kv_rig  # noqa: E402
import turnpike_it as it  # noqa: E402

PREFIX = "bench-acme"


def run_backend(binary: Path, work: Path, backend: str, runs: int, parallel: int):
    store = kv_rig.start_store(backend, work)
    dns = rig.ChallTestSrv(work)
    pebble = rig.Pebble(work, f"127.0.0.1:{dns.dns_port}", http_port=it.free_port(),
                        tls_port=it.free_port())
    cfg = {"email": "ops@example.com", "caServer": pebble.directory,
           "caCertificates": [str(pebble.minica)], "keyType": "EC256",
           "httpChallenge": {"entryPoint": "web"}, "storage": store.storage(PREFIX)}
    gws = []
    for i in range(3):
        eps = {"web": {"address": f"127.0.0.1:{pebble.http_port}"} if i == 0 else {},
               "websecure": {}}
        gws.append(it.Gateway(binary, work / f"gw{i}", entrypoints=eps, dynamic={}, throttle="10ms",
                              static_extra={"certificatesResolvers": {"le": {"distributedAcme": cfg}}},
                              log_level=os.environ.get("DACME_BENCH_LOG", "INFO")))
    services = {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}
    routers: dict = {}
    root = None

    def publish():
        for gw in gws:
            gw.write_dynamic({"http": {"routers": routers, "services": services}})

    def serial_in_store(name):
        value = store.get(f"{PREFIX}/le/certificates/{name}")
        return rig.serial_hex(rig.cert_pem(json.loads(value))) if value else None

    def all_serve(name):
        serial = serial_in_store(name)
        if not serial:
            return False
        for gw in gws:
            hs = rig.handshake(gw.ports["websecure"], name, root)
            if not (rig.verified(hs) and hs.serial == serial):
                return False
        return True

    def add(names):
        for n in names:
            routers[n.replace(".", "-")] = rig.tls_router(n)
        t0 = time.monotonic()
        publish()
        pending = list(names)
        deadline = t0 + 300
        while pending:
            pending = [n for n in pending if not all_serve(n)]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not served by all three: {pending}")
            if pending:
                time.sleep(0.02)
        return time.monotonic() - t0

    try:
        for gw in gws:
            gw.start()
        root = rig.pebble_root(pebble, work)
        o0 = pebble.orders()
        t_account = add(["warm.bench.test"])
        stamp = int(time.time())
        singles = [add([f"one{i}-{stamp}.bench.test"]) for i in range(runs)]
        many = add([f"par{i}-{stamp}.bench.test" for i in range(parallel)])
        names = 1 + runs + parallel
        orders = pebble.orders() - o0
        for gw in gws:
            gw.stop()
        for gw in gws:
            gw.start()
        # Every name served again by every instance, from the store.
        for key in list(routers):
            n = routers[key]["rule"].split("`")[1]
            rig.wait_for(lambda: all_serve(n), 60, f"{n} after restart")
        restart_orders = pebble.orders() - o0 - orders
    finally:
        for gw in gws:
            gw.stop()
        pebble.stop()
        dns.stop()
        store.kill()
    return t_account, singles, many, orders / names, restart_orders


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir", nargs="?", default=str(REPO / "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--backends", default="etcd,redis")
    ap.add_argument("--workdir", help="keep logs and files here instead of a temporary folder")
    args = ap.parse_args()
    binary = Path(args.build_dir).resolve() / "turnpike"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.workdir or tmp)
        for backend in args.backends.split(","):
            work = base / backend
            work.mkdir(parents=True, exist_ok=True)
            results[backend] = run_backend(binary, work, backend, args.runs, args.parallel)
    print(f"| store | first (account + certificate) | new router -> 3 instances serve, median of "
          f"{args.runs} (min–max) | {args.parallel} routers at once | orders per name set | "
          f"orders after restarting all 3 |")
    print("|---|---|---|---|---|---|")
    for backend, (acc, singles, many, per_set, restart) in results.items():
        print(f"| {backend} | {acc:.2f} s | {statistics.median(singles):.2f} s "
              f"({min(singles):.2f}–{max(singles):.2f}) | {many:.2f} s | {per_set:.2f} | {restart} |")


if __name__ == "__main__":
    main()
