"""Live reload through the file provider (test plan T-O1, T-O2): the dynamic file is replaced by
rename(2) while load runs. No request may fail, the routes must switch, and a broken file must
leave the last good configuration serving. The time from the rename to the first request served
by the new route is measured and printed (`reload latency ...`)."""

import re
import shutil
import signal
import statistics
import subprocess
import threading
import time

import pytest

import turnpike_it as it
from turnpike_it import Client

RELOADS = 20
SWITCH_BOUND_S = 2.0  # a new route must serve within this time after the rename


def route_set(target: str, ups: dict, extra_router: dict | None = None,
              extra_mw: dict | None = None) -> dict:
    routers = {
        "probe": {"rule": "Host(`reload.test`)", "service": f"svc-{target}"},
        f"only-{target}": {"rule": f"Host(`only-{target}.test`)", "service": f"svc-{target}"},
    }
    routers.update(extra_router or {})
    cfg = {"http": {
        "routers": routers,
        "services": {f"svc-{n}": it.service(u) for n, u in ups.items()},
    }}
    if extra_mw:
        cfg["http"]["middlewares"] = extra_mw
    return cfg


class Load:
    """Background load: wrk when installed (its socket-error and non-2xx counters), else a few
    python keep-alive clients. stop() returns (requests, failures, details)."""

    def __init__(self, port: int, host: str, tmpdir):
        self.port, self.host = port, host
        self.wrk = shutil.which("wrk")
        self.failures = []
        self.count = 0
        self._stop = threading.Event()
        if self.wrk:
            self.proc = subprocess.Popen(
                [self.wrk, "-t1", "-c8", "-d120s", "--timeout", "5s", "-H", f"Host: {host}",
                 f"http://127.0.0.1:{port}/"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        else:
            self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(4)]
            for t in self.threads:
                t.start()

    def _loop(self):
        c = Client(self.port, timeout=5)
        while not self._stop.is_set():
            try:
                r = c.get("/", host=self.host)
                self.count += 1
                if r.status != 200:
                    self.failures.append(f"status {r.status}")
            except Exception as e:  # noqa: BLE001 - every socket error is a failure here
                self.failures.append(repr(e))
                c.close()
                c = Client(self.port, timeout=5)
        c.close()

    def stop(self):
        if self.wrk:
            self.proc.send_signal(signal.SIGINT)
            out = self.proc.communicate(timeout=30)[0].decode()
            m = re.search(r"(\d+) requests in", out)
            self.count = int(m.group(1)) if m else 0
            if "Socket errors" in out:
                self.failures.append(re.search(r"Socket errors:.*", out).group(0))
            if "Non-2xx" in out:
                self.failures.append(re.search(r"Non-2xx.*", out).group(0))
            if not m:
                self.failures.append("wrk output not understood:\n" + out)
            self.output = out
        else:
            self._stop.set()
            for t in self.threads:
                t.join(10)
        return self.count, self.failures


def wait_for(poller: Client, want: str, t_write: float, bound: float, failures: list) -> float:
    """Poll reload.test until upstream `want` answers; return the latency from t_write."""
    while True:
        r = poller.get("/", host="reload.test")
        now = time.monotonic()
        if r.status != 200:
            failures.append(f"poller got {r.status}")
        elif r.echo.name == want:
            return now - t_write
        if now - t_write > bound:
            raise AssertionError(f"route did not switch to {want} within {bound}s")
        time.sleep(0.002)


@pytest.fixture
def setup(env):
    ups = {"a": env.upstream("a"), "b": env.upstream("b")}
    gw = env.gateway(dynamic=route_set("a", ups), throttle="100ms", ready=("reload.test", "/"))
    return gw, ups


def test_reload_under_load_switches_routes_without_errors(setup, tmp_path):
    gw, ups = setup
    load = Load(gw.port, "reload.test", tmp_path)
    poll_failures = []
    latencies = []
    try:
        time.sleep(0.5)  # load is running before the first reload
        with Client(gw.port) as poller:
            assert wait_for(poller, "a", time.monotonic(), 5, poll_failures) >= 0
            for i in range(RELOADS):
                target = "b" if i % 2 == 0 else "a"
                other = "a" if target == "b" else "b"
                t_write = gw.write_dynamic(route_set(target, ups))
                latencies.append(wait_for(poller, target, t_write, SWITCH_BOUND_S, poll_failures))
                # the whole route set switched, not only the probe route
                assert poller.get("/", host=f"only-{target}.test").status == 200
                assert poller.get("/", host=f"only-{other}.test").status == 404
                time.sleep(0.15)
        time.sleep(0.3)
    finally:
        count, failures = load.stop()
    med = statistics.median(latencies)
    it.MEASUREMENTS.append(
        f"reload latency (rename -> first request on the new route) over {len(latencies)} "
        f"reloads: min {min(latencies) * 1000:.0f} ms, median {med * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms (providersThrottleDuration 100ms); "
        f"load during the reloads: {count} requests, {len(failures)} failures")
    assert count > 0
    assert failures == [], failures
    assert poll_failures == [], poll_failures
    assert max(latencies) < SWITCH_BOUND_S


# kind -> (text, or None for the unknown-middleware case built in the test)
BROKEN_FILES = {
    "yaml-syntax-error": "http:\n  routers:\n    probe: {rule: \"Host(`reload.test`)\", service: [svc-b\n",
    "unknown-middleware-type": None,
    "top-level-list": "- http\n- routers\n",
    "http-not-a-map": "http: 5\n",
    "binary-garbage": "\x00\x01 not yaml: [}\n",
}


@pytest.mark.parametrize("kind", list(BROKEN_FILES))
def test_broken_file_keeps_last_good_configuration(setup, tmp_path, kind):
    gw, ups = setup
    text = BROKEN_FILES[kind]
    if text is None:
        cfg = route_set("b", ups)
        cfg["http"]["routers"]["probe"]["middlewares"] = ["bad-mw"]
        cfg["http"]["middlewares"] = {"bad-mw": {"noSuchMiddlewareType": {"foo": "bar"}}}
        text = it.to_yaml(cfg)
    load = Load(gw.port, "reload.test", tmp_path)
    poll_failures = []
    try:
        with Client(gw.port) as poller:
            log_before = len(gw.log())
            gw.write_dynamic(text)
            # For a while after the broken write every request is still served by set a.
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                r = poller.get("/", host="reload.test")
                if r.status != 200 or r.echo.name != "a":
                    poll_failures.append((r.status, r.body[:100]))
                time.sleep(0.01)
            assert poller.get("/", host="only-a.test").status == 200
            new_log = gw.log()[log_before:]
            # The provider is still alive: a good file is picked up again.
            t_write = gw.write_dynamic(route_set("b", ups))
            wait_for(poller, "b", t_write, SWITCH_BOUND_S, poll_failures)
    finally:
        count, failures = load.stop()
    assert poll_failures == [], poll_failures[:5]
    assert failures == [], failures
    assert gw.dynamic_path.name in new_log, f"the log does not name the broken file:\n{new_log}"
