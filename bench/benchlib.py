"""Helpers shared by the Python benchmarks: ports, process CPU time, stopping process groups."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    """Until something listens on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening")


def spawn(cmd, cpu=None):
    """Starts cmd in its own process group (for stop_all), output discarded; pinned to `cpu`
    with taskset when given."""
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + list(cmd)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def cpu_ticks(*pids):
    """utime + stime of the processes, in clock ticks (TCK per second); gone processes count 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total


def stop_all(procs):
    """SIGTERM every process group (each Popen started with start_new_session), then wait;
    SIGKILL what is still there after 10 s."""
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def wait_http(port, headers=(), timeout=15.0):
    """Poll 127.0.0.1:port with a GET / (Host: x, plus `headers`) until it answers 200."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"port {port} does not answer 200")


def wrk_cpu(name, url, duration, ticks, extra=()):
    """One `wrk -t1 -c50` run pinned to CPU 0 against url; `ticks()` gives the measured
    processes' CPU ticks. Returns (req/s, CPU µs per request); exits on any non-2xx answer."""
    before = ticks()
    t0 = time.monotonic()
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c50", f"-d{duration}s", *extra, url],
                         capture_output=True, text=True).stdout
    elapsed = time.monotonic() - t0
    used = (ticks() - before) / TCK
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"{name}: {non2xx.group(1)} non-2xx responses")
    rps, us = reqs / elapsed, used * 1e6 / max(reqs, 1)
    print(f"{name:15} {rps:9.0f} req/s {us:6.1f} us/req", file=sys.stderr)
    return rps, us


def origin_conf(work, port):
    """nginx configuration of the benchmarks' origin: one worker on 127.0.0.1:port answering
    every request with 200 "ok\\n"."""
    return f"""worker_processes 1; daemon off; master_process off; pid {work}/origin.pid;
error_log {work}/origin.err crit; events {{ worker_connections 8192; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  server {{ listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type text/plain; return 200 "ok\\n"; }} }} }}
"""


def wait_ok(url, timeout=60.0):
    """Until url answers 200 (curl -k; under valgrind a proxy takes seconds to apply its
    configuration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", url],
                           capture_output=True, text=True)
        if r.stdout == "200":
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200")


def h2load_counts(out):
    """(done, succeeded) from h2load's summary, or None when it printed none."""
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def bench_cert(work):
    """A P-256 certificate for CN=bench in {work}/cert.pem and key.pem, and both in combo.pem
    (HAProxy's form)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench",
                    "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"],
                   check=True, capture_output=True)
    with open(f"{work}/combo.pem", "w") as f:
        f.write(open(f"{work}/cert.pem").read() + open(f"{work}/key.pem").read())


def start_origin(work, cpu=None):
    """Starts the benchmarks' nginx origin (origin_conf) on a free port, pinned to `cpu` when
    given; returns (process, port) once it listens."""
    port = free_port()
    with open(f"{work}/origin.conf", "w") as f:
        f.write(origin_conf(work, port))
    proc = spawn(["nginx", "-c", f"{work}/origin.conf", "-p", work], cpu=cpu)
    wait_port(port)
    return proc, port


def haproxy_cfg(work, origin, tls_port, plain_port=None):
    """HAProxy configuration in front of the origin: one thread, upstream connections reused,
    TLS on tls_port with {work}/combo.pem (certificate + key) and ALPN h2/http1.1, plain HTTP on
    plain_port when given."""
    plain = f"  bind 127.0.0.1:{plain_port}\n" if plain_port else ""
    return f"""global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  http-reuse always
frontend fe
{plain}  bind 127.0.0.1:{tls_port} ssl crt {work}/combo.pem alpn h2,http/1.1
  default_backend be
backend be
  server o 127.0.0.1:{origin}
"""


def nginx_cfg(work, origin, tls_port):
    """nginx configuration in front of the origin, as peers.sh runs it: one worker, upstream
    keep-alive, TLS (and HTTP/2) on tls_port with {work}/cert.pem and {work}/key.pem."""
    return f"""worker_processes 1; daemon off; master_process off; pid {work}/nginx.pid;
error_log {work}/nginx.err crit; events {{ worker_connections 8192; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 256;
    keepalive_requests 100000000; keepalive_timeout 300s; }}
  server {{ listen 127.0.0.1:{tls_port} ssl http2 backlog=4096;
    ssl_certificate {work}/cert.pem; ssl_certificate_key {work}/key.pem;
    location / {{ proxy_pass http://origin; proxy_http_version 1.1;
      proxy_set_header Connection ""; }} }} }}
"""


if __name__ == "__main__":
    # For shell scripts: benchlib.py origin WORK PORT | haproxy|nginx WORK ORIGIN TLS_PORT
    if sys.argv[1] == "origin":
        print(origin_conf(sys.argv[2], sys.argv[3]), end="")
    elif sys.argv[1] == "haproxy":
        print(haproxy_cfg(sys.argv[2], sys.argv[3], sys.argv[4]), end="")
    elif sys.argv[1] == "nginx":
        print(nginx_cfg(sys.argv[2], sys.argv[3], sys.argv[4]), end="")
