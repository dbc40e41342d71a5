#!/usr/bin/python3
"""10,000 routers from etcd: memory and the cost of changing one of them.

Writes N routers, each with its own service (3 keys each: rule, service, server url), to a real
etcd (128 puts per transaction), starts the real turnpike binary with providers.etcd (default
throttle, 100 ms), waits until the last router serves, and reports:
  - load_s: gateway start -> all N routers serving (the initial list and decode);
  - rss_mb: the gateway's resident memory once they serve (target < 200 MB; Traefik reports
    about 4 GB for 11k);
  - rss_after_changes_mb right after the last change served, rss_settled_mb two seconds later;
  - the time from one router's rule being changed (one etcd put) to its new host serving, over
    M changes (median and p99; target < 50 ms). Each change is isolated: made 150 ms after the
    previous one served, more than the throttle.

Usage: bench/kv_scale_bench.py BUILD_DIR [--routers 10000] [--changes 20] [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import free_port, stop_all
from provider_latency_bench import (ISOLATION_GAP, REPO, EtcdWriter, start_gateway,
                                    start_upstream, wait_status)

sys.path.insert(0, str(REPO / "tests" / "integration"))


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# The gateway's debug lines for each stage of a change (docs/benchmarks.md, "Where a change's
# time goes"), as (label, pattern, unit); the first group is the duration.
STAGES = [
    ("provider: queued", r"\[etcd\].*queued (\d+) us", "us"),
    ("provider: tree built and handed over", r"\[etcd\].*handed over in (\d+) us", "us"),
    ("aggregator: compare", r"compared in (\d+) us", "us"),
    ("aggregator: publish -> rebuild", r"rebuilding from .* (\d+) us after", "us"),
    ("decode", r"configuration \d+: decode ([\d.]+) ms", "ms"),
    ("build (merge excluded)", r"merge [\d.]+ ms, build ([\d.]+) ms", "ms"),
    ("build: routers phase (walk)", r"build phases: tls [\d.]+ ms, routers ([\d.]+) ms", "ms"),
    ("build: route tables (walk)", r"route tables ([\d.]+) ms", "ms"),
    ("build: patched", r"patched the last snapshot for \d+ changed router\(s\) in (\d+) us", "us"),
    ("build: patch, snapshot copied", r"patch phases: .* snapshot copied (\d+) us", "us"),
    ("build: patch, route tables", r"patch phases: .* route tables patched (\d+) us", "us"),
    ("after the post: certificate resolvers", r"then certificate resolvers ([\d.]+) ms", "ms"),
    ("after the post: errors collected", r"errors collected ([\d.]+) ms", "ms"),
]


def stage_breakdown(log_text, changes):
    """Per stage: (min, median, max) in ms over the last `changes` occurrences in the log."""
    import re
    out = {}
    lines = log_text.splitlines()
    for label, pattern, unit in STAGES:
        vals = [float(m.group(1)) for line in lines for m in [re.search(pattern, line)] if m]
        vals = [v / 1000 if unit == "us" else v for v in vals[-changes:]]
        if vals:
            out[label] = [round(min(vals), 2), round(statistics.median(vals), 2),
                          round(max(vals), 2)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--routers", type=int, default=10000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    import kv_rig
    procs = []
    keep = os.environ.get("BENCH_KEEP_DIR")  # keeps the gateway's log there
    with tempfile.TemporaryDirectory(dir=keep) as d:
        etcd = kv_rig.Etcd(Path(d))
        try:
            up, up_port = start_upstream(a.build_dir)
            procs.append(up)
            w = EtcdWriter(etcd.endpoint)
            items = []
            for i in range(a.routers):
                items += [(f"traefik/http/routers/r{i}/rule", f"Host(`r{i}.bench`)"),
                          (f"traefik/http/routers/r{i}/service", f"s{i}"),
                          (f"traefik/http/services/s{i}/loadBalancer/servers/0/url",
                           f"http://127.0.0.1:{up_port}")]
            t = time.monotonic()
            w.put_many(items)
            write_s = time.monotonic() - t
            web = free_port()
            t = time.monotonic()
            gw = start_gateway(a.build_dir, d, {"etcd": {"endpoints": [etcd.endpoint]}},
                               {"web": web})
            procs.append(gw)
            wait_status(web, f"r{a.routers - 1}.bench", 200, bound=300)
            load_s = time.monotonic() - t
            wait_status(web, "r0.bench", 200)
            rss = rss_mb(gw.pid)
            samples = []
            for j in range(a.changes):
                time.sleep(ISOLATION_GAP)
                k = (j * 7919) % a.routers
                t0 = time.monotonic()
                w.put(f"traefik/http/routers/r{k}/rule", f"Host(`changed{j}.bench`)")
                wait_status(web, f"changed{j}.bench", 200)
                samples.append(time.monotonic() - t0)
            rss_after = rss_mb(gw.pid)
            # Once the gateway has returned the previous configurations' pages (it purges a
            # second after the last change; docs/architecture/life_of_a_request.md).
            time.sleep(2.0)
            rss_settled = rss_mb(gw.pid)
            if keep:
                import shutil
                shutil.copy(Path(d) / "turnpike.log", Path(keep) / "turnpike.log")
                # With BENCH_LOG_LEVEL=DEBUG: each stage's min / median / max over the changes.
                stages = stage_breakdown((Path(d) / "turnpike.log").read_text(), a.changes)
                for label, (lo, med, hi) in stages.items():
                    print(f"  {label:40s} {lo:8.2f} {med:8.2f} {hi:8.2f} ms", file=sys.stderr)
            s = sorted(samples)
            out = {"routers": a.routers, "keys": len(items), "etcd_write_s": round(write_s, 2),
                   "load_s": round(load_s, 2), "rss_mb": round(rss, 1),
                   "rss_after_changes_mb": round(rss_after, 1),
                   "rss_settled_mb": round(rss_settled, 1), "changes": len(s),
                   "isolated": True, "gap_ms": ISOLATION_GAP * 1000,
                   "change_median_ms": round(statistics.median(s) * 1000, 2),
                   "change_p99_ms": round(s[min(len(s) - 1, int(0.99 * len(s)))] * 1000, 2),
                   "change_max_ms": round(s[-1] * 1000, 2)}
            print(json.dumps(out))
            if a.json:
                Path(a.json).write_text(json.dumps(out, indent=2))
        finally:
            stop_all(procs)
            etcd.kill()


if __name__ == "__main__":
    main()
