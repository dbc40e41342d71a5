"""Helpers shared by the provider integration tests: background load on routes that must not
notice a change, and polling for a route to appear, change or disappear."""

from __future__ import annotations

import threading
import time

from turnpike_it import Client, request


def settle(port: int, host: str, timeout: float = 10.0) -> None:
    """Wait until `host` answers 200 on four new connections in a row. The test that saw its
    route served once may have reached only one worker: each worker takes a configuration on
    its own, the first one at startup too, and a new connection may land on any of them."""
    deadline = time.monotonic() + timeout
    good = 0
    while good < 4:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host} not served steadily within {timeout}s")
        try:
            good = good + 1 if request(port, "/", host=host, timeout=2).status == 200 else 0
        except OSError:
            good = 0
        if good == 0:
            time.sleep(0.02)


class Load:
    """Keep-alive clients hammering `hosts` (round robin) on `port` until stop(). Any status
    other than 200 or any socket error is a failure. stop() returns (requests, failures)."""

    def __init__(self, port: int, hosts: list[str], threads: int = 4):
        self.port, self.hosts = port, hosts
        for host in hosts:
            settle(port, host)
        self.failures: list[str] = []
        self.count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def _loop(self, i: int):
        c = Client(self.port, timeout=5)
        n = i
        while not self._stop.is_set():
            host = self.hosts[n % len(self.hosts)]
            n += 1
            try:
                r = c.get("/", host=host)
                with self._lock:
                    self.count += 1
                    if r.status != 200:
                        self.failures.append(f"{host}: status {r.status} {r.body[:80]!r}")
            except Exception as e:  # noqa: BLE001 - every socket error is a failure here
                with self._lock:
                    self.failures.append(f"{host}: {e!r}")
                c.close()
                c = Client(self.port, timeout=5)
        c.close()

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(10)
        return self.count, self.failures


def wait_until(predicate, timeout: float = 10.0, what: str = "condition", interval=0.005):
    """Polls predicate() until it returns a truthy value; returns (value, seconds waited)."""
    start = time.monotonic()
    last = None
    while True:
        try:
            last = predicate()
        except OSError as e:
            last = e
        else:
            if last:
                return last, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached after {timeout}s (last: {last!r})")
        time.sleep(interval)


def status_of(port: int, host: str, path: str = "/") -> int:
    with Client(port, timeout=5) as c:
        return c.get(path, host=host).status


def served_by(port: int, host: str) -> str | None:
    """Name of the test upstream answering `host`, or None (404, 5xx, not an echo)."""
    with Client(port, timeout=5) as c:
        r = c.get("/", host=host)
        if r.status != 200:
            return None
        try:
            return r.echo.name
        except Exception:  # noqa: BLE001 - a non-echo body (a container's httpd)
            return r.body.decode(errors="replace").strip()
