#!/usr/bin/env python3
"""Training run for a profile-guided build (scripts/build-pgo.sh): drives a Turnpike built with
-fprofile-generate through a mix of ordinary gateway traffic, then stops it so that it writes its
profile (.gcda files next to its object files).

The mix is a gateway's everyday work, not one benchmark's: several routers chosen by Host and
path, a middleware chain (headers, stripPrefix, rate limit), a weighted service over two origins,
plain HTTP/1.1 (keep-alive and new connections), HTTPS (keep-alive, full and resumed
handshakes), HTTP/2 over TLS with several streams per connection, request bodies, and a
configuration change while traffic flows.

    bench/pgo_train.py BUILD_DIR/turnpike [--seconds 4]

Needs: nginx-light, nghttp2-client (h2load), wrk, curl, openssl.
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
from benchlib import free_port, h2load_counts, start_origin, stop_all, wait_ok, wait_port  # noqa: E402


def dynamic(work, origins, variant):
    servers = "".join(f'{{url: "http://127.0.0.1:{p}"}}, ' for p in origins)
    return f"""http:
  routers:
    api:
      rule: "Host(`api.example.test`) && PathPrefix(`/v1`)"
      entryPoints: [web, websecure]
      middlewares: [strip, hdrs]
      service: weighted
      tls: {{}}
    api-plain:
      rule: "Host(`api.example.test`) && PathPrefix(`/v1`)"
      entryPoints: [web]
      middlewares: [strip, hdrs]
      service: weighted
    site:
      rule: "Host(`www.example.test`) || PathPrefix(`/`)"
      entryPoints: [web, websecure]
      service: origin
      tls: {{}}
    site-plain:
      rule: "Host(`www.example.test`) || PathPrefix(`/`)"
      entryPoints: [web]
      service: origin
    limited:
      rule: "PathPrefix(`/limited`)"
      entryPoints: [web]
      middlewares: [limit]
      service: origin
    regexp:
      rule: "PathRegexp(`^/items/[0-9]+$`) && Method(`GET`)"
      entryPoints: [web]
      service: origin
  middlewares:
    strip: {{stripPrefix: {{prefixes: ["/v1"]}}}}
    hdrs:
      headers:
        customRequestHeaders: {{X-Train: "{variant}"}}
        customResponseHeaders: {{X-Served-By: "turnpike"}}
    limit: {{rateLimit: {{average: 100000, burst: 100000}}}}
  services:
    origin: {{loadBalancer: {{servers: [{servers}]}}}}
    a: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{origins[0]}"}}]}}}}
    b: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{origins[1]}"}}]}}}}
    weighted: {{weighted: {{services: [{{name: a, weight: 3}}, {{name: b, weight: 1}}]}}}}
tls:
  certificates: [{{certFile: "{work}/cert.pem", keyFile: "{work}/key.pem"}}]
"""


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    for line in r.stdout.splitlines():  # what the load generators saw, for the build log
        if re.match(r"\s*(status codes:|Non-2xx|Requests/sec:|requests:)", line):
            print(f"{cmd[0]} {cmd[-1]}: {line.strip()}", flush=True)
    # Training on errors would teach the compiler the wrong paths: every request must succeed.
    counts = h2load_counts(r.stdout)
    if (counts and counts[0] != counts[1]) or "Non-2xx" in r.stdout:
        sys.exit(f"{' '.join(cmd)}: requests failed:\n{r.stdout}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turnpike")
    ap.add_argument("--seconds", type=int, default=4)
    a = ap.parse_args()
    s = str(a.seconds)
    work = tempfile.mkdtemp(prefix="pgo-train-")
    procs = []
    try:
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", "/CN=www.example.test", "-addext",
             "subjectAltName=DNS:www.example.test,DNS:api.example.test",
             "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"])
        origins = []
        for i in range(2):
            os.makedirs(f"{work}/o{i}")
            proc, port = start_origin(f"{work}/o{i}")
            procs.append(proc)
            origins.append(port)
        web, websecure = free_port(), free_port()
        with open(f"{work}/turnpike.yml", "w") as f:
            f.write(f"""entryPoints:
  web: {{address: "127.0.0.1:{web}"}}
  websecure: {{address: "127.0.0.1:{websecure}"}}
providers: {{file: {{filename: "{work}/dynamic.yml", watch: true}}}}
log: {{level: ERROR}}
""")
        with open(f"{work}/dynamic.yml", "w") as f:
            f.write(dynamic(work, origins, "one"))
        gw = subprocess.Popen([a.turnpike, f"--configFile={work}/turnpike.yml"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        wait_port(websecure, 30)
        plain, tls = f"http://127.0.0.1:{web}", f"https://127.0.0.1:{websecure}"
        wait_ok(plain + "/", 30)

        api = ["-H", "Host: api.example.test"]
        # Plain HTTP/1.1: keep-alive through the middleware chain and the weighted service, the
        # catch-all, regexp and rate-limited routes, and new connections.
        run(["wrk", "-t1", "-c50", f"-d{s}s", *api, plain + "/v1/users?id=7"])
        run(["wrk", "-t1", "-c50", f"-d{s}s", plain + "/index.html"])
        run(["h2load", "--h1", "-c20", "-n20000", plain + "/items/42", plain + "/limited/x"])
        run(["h2load", "--h1", "-c10", "-n4000", "-H", "Connection: close", plain + "/"])
        run(["h2load", "--h1", "-c10", "-n4000", "-d", "/etc/services", plain + "/items/1"])
        # HTTPS keep-alive, then full handshakes (TLS 1.3 and 1.2) and resumed ones.
        run(["wrk", "-t1", "-c50", f"-d{s}s", *api, tls + "/v1/users"])
        run(["wrk", "-t1", "-c50", f"-d{s}s", tls + "/"])
        run(["h2load", "--h1", "-c10", "-n3000", "-H", "Connection: close", tls + "/"])
        for version in ("-tls1_3", "-tls1_2"):
            run(["openssl", "s_time", "-connect", f"127.0.0.1:{websecure}", version, "-new",
                 "-time", str(max(1, a.seconds // 2))])
            run(["openssl", "s_time", "-connect", f"127.0.0.1:{websecure}", version, "-reuse",
                 "-time", str(max(1, a.seconds // 2))])
        # HTTP/2 over TLS, several streams per connection, with and without request bodies.
        run(["h2load", "-c50", "-m10", "-D", s, "-H", ":authority: api.example.test",
             tls + "/v1/users"])
        run(["h2load", "-c50", "-m10", "-D", s, tls + "/"])
        run(["h2load", "-c10", "-m10", "-n20000", "-d", "/etc/services", tls + "/items/1"])
        # A configuration change under load.
        load = subprocess.Popen(["wrk", "-t1", "-c20", f"-d{s}s", plain + "/"],
                                stdout=subprocess.DEVNULL)
        for i in range(10):
            time.sleep(a.seconds / 12)
            with open(f"{work}/dynamic.yml", "w") as f:
                f.write(dynamic(work, origins, f"v{i}"))
        load.wait()
        stop_all([gw])
        if gw.returncode not in (0, -15):
            sys.exit(f"the gateway exited with {gw.returncode}; no profile written")
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
