"""Services that survive failure, through the real binary with real upstream processes killed,
failing and recovering under load: passive and active health checks, retries to another server,
sticky sessions, mirroring, failover, highestRandomWeight, health propagation to parents, and
streaming responses flushed at once.

The balancing strategies' shares over 10,000 picks are checked as a unit test of the picker
(tests/unit/service/balancer_test.cc), not with 10,000 HTTP requests."""

import hashlib
import re
import signal
import socket
import threading
import time

import pytest

import turnpike_it as it
from turnpike_it import Client, RawConn, free_port, request


def names_of(gw, host, n, path="/", headers=()):
    """X-Upstream-Name of n requests on one keep-alive connection (all must be 200)."""
    out = []
    with Client(gw.port) as cl:
        for _ in range(n):
            r = cl.get(path, host=host, headers=headers)
            assert r.status == 200, (r.status, r.body[:200])
            out.append(r.header("X-Upstream-Name"))
    return out


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} not reached after {timeout}s")


class Load:
    """`clients` threads, each with its own keep-alive connection, sending requests until stop();
    records (time, method, status or exception) per request. A failed connection is replaced."""

    def __init__(self, port, host, clients=8, path="/delay/30", post_every=0):
        self.port, self.host, self.path, self.post_every = port, host, path, post_every
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.next_id = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self):
        cl = Client(self.port, timeout=10)
        n = 0
        while not self.stopping.is_set():
            n += 1
            with self.lock:
                self.next_id += 1
                rid = self.next_id
            post = self.post_every and n % self.post_every == 0
            method = "POST" if post else "GET"
            body = f"post-body-{rid:08d}".encode() if post else None
            try:
                r = cl.request(self.path, method, host=self.host, body=body,
                               headers=[("X-Req-Id", str(rid))])
                outcome = r.status
            except Exception as e:  # noqa: BLE001 - a broken connection is an outcome
                outcome = repr(e)
                cl.close()
                cl = Client(self.port, timeout=10)
            with self.lock:
                self.results.append((time.monotonic(), method, outcome))
        cl.close()

    def count(self):
        with self.lock:
            return len(self.results)

    def failures(self, method=None):
        with self.lock:
            return [r for r in self.results if r[2] != 200 and (method is None or r[1] == method)]


def three_upstreams(env, record=False):
    return [env.upstream(n, record=record) for n in ("a", "b", "c")]


def kill(upstream):
    upstream.proc.send_signal(signal.SIGKILL)
    upstream.proc.wait()


# ---- one of three servers killed under load ---------------------------------------------------


CLIENTS = 8


def test_killed_server_with_passive_health_check_fails_at_most_the_in_flight(env):
    a, b, c = three_upstreams(env)
    svc = it.service(a, b, c, passiveHealthCheck={"maxFailedAttempts": 1, "failureWindow": "60s"},
                     retry={"attempts": 0})
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`kill.test`)", "service": "s"}},
                                       "services": {"s": svc}}}, ready=("kill.test", "/"))
    with Load(gw.port, "kill.test", clients=CLIENTS) as load:
        wait_until(lambda: load.count() > 200, what="warm-up load")
        kill(b)
        killed_at = time.monotonic()
        wait_until(lambda: load.count() > 800, timeout=30, what="load after the kill")
    failures = load.failures()
    # At most the requests in flight on b (<= one per client) plus the one failed attempt per
    # worker that ejects it (2 workers).
    assert len(failures) <= CLIENTS + 2, failures
    # ...and all of them right after the kill: then b is out of rotation.
    assert all(t - killed_at < 1.0 for t, _, _ in failures), failures
    late = [r for r in load.results if r[0] > killed_at + 1.0]
    assert len(late) > 100 and all(r[2] == 200 for r in late)


def test_killed_server_with_retry_fails_no_get_and_sends_no_post_twice(env):
    a, b, c = three_upstreams(env, record=True)
    svc = it.service(a, b, c, passiveHealthCheck={"maxFailedAttempts": 1, "failureWindow": "60s"})
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`retry.test`)", "service": "s"}},
                                       "services": {"s": svc}}}, ready=("retry.test", "/"))
    with Load(gw.port, "retry.test", clients=CLIENTS, post_every=3) as load:
        wait_until(lambda: load.count() > 200, what="warm-up load")
        kill(b)
        wait_until(lambda: load.count() > 800, timeout=30, what="load after the kill")
    # Idempotent requests are retried on another server: not one fails.
    assert load.failures("GET") == []
    # A POST whose body may have reached b is not retried: at most the ones in flight fail.
    assert len(load.failures("POST")) <= CLIENTS
    # Every POST body reached the upstreams at most once (b's recording survives its death).
    recorded = b"".join(u.recorded() for u in (a, b, c))
    ids = re.findall(rb"post-body-(\d{8})", recorded)
    assert ids, "no POST reached the upstreams"
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1][:10]


def test_without_health_checks_or_retry_a_dead_server_keeps_failing(env):
    # The control for the two tests above: without them every third request fails.
    a, b, c = three_upstreams(env)
    svc = it.service(a, b, c, retry={"attempts": 0})
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`bare.test`)", "service": "s"}},
                                       "services": {"s": svc}}}, ready=("bare.test", "/"))
    kill(b)
    statuses = []
    with Client(gw.port) as cl:
        for _ in range(30):
            statuses.append(cl.get("/", host="bare.test").status)
    assert statuses.count(502) == 10


# ---- active health checks ----------------------------------------------------------------------


def test_active_health_check_removes_a_failing_server_and_returns_it(env):
    a, b = env.upstream("a"), env.upstream("b")
    interval = 0.3
    svc = it.service(a, b, healthCheck={"path": "/_health", "interval": "300ms", "timeout": "1s"})
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`hc.test`)", "service": "s"}},
                                       "services": {"s": svc}}}, ready=("hc.test", "/"))
    assert set(names_of(gw, "hc.test", 6)) == {"a", "b"}
    log_at = gw.log_size()
    assert request(b.port, "/_set_health/503").status == 200
    failing_since = time.monotonic()
    gw.wait_log(r"server http://127\.0\.0\.1:\d+ is unhealthy: status 503", after=log_at,
                timeout=5)
    detected = time.monotonic() - failing_since
    # One failed check suffices (Traefik's rule): within one interval, plus scheduling slack.
    assert detected <= interval + 0.5, detected
    before = b.stats()["app_requests"]
    assert set(names_of(gw, "hc.test", 50)) == {"a"}
    assert b.stats()["app_requests"] == before  # zero requests routed to b while down
    log_at = gw.log_size()
    assert request(b.port, "/_set_health/200").status == 200
    recovering_since = time.monotonic()
    gw.wait_log(r"is healthy again", after=log_at, timeout=5)
    assert time.monotonic() - recovering_since <= interval + 0.5
    assert set(names_of(gw, "hc.test", 6)) == {"a", "b"}


def test_active_health_check_marks_a_killed_server_down_before_requests_fail(env):
    a, b = env.upstream("a"), env.upstream("b")
    svc = it.service(a, b, healthCheck={"path": "/_health", "interval": "200ms", "timeout": "500ms"},
                     retry={"attempts": 0})
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`hck.test`)", "service": "s"}},
                                       "services": {"s": svc}}}, ready=("hck.test", "/"))
    log_at = gw.log_size()
    kill(b)
    gw.wait_log(r"is unhealthy", after=log_at, timeout=5)
    assert set(names_of(gw, "hck.test", 20)) == {"a"}


def test_health_check_options_are_validated_per_service(env):
    a = env.upstream("a")
    gw = env.gateway(dynamic={"http": {
        "routers": {"bad": {"rule": "Host(`bad.test`)", "service": "bad"},
                    "good": {"rule": "Host(`good.test`)", "service": "good"}},
        "services": {"bad": it.service(a, healthCheck={"interval": "1s"}),
                     "good": it.service(a)}}}, ready=("good.test", "/"))
    gw.wait_log(r"healthCheck\.path: is required")
    assert request(gw.port, "/", host="bad.test").status == 404
    assert request(gw.port, "/", host="good.test").status == 200


# ---- sticky sessions ---------------------------------------------------------------------------


def sticky_value(key):
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def test_sticky_sessions_hold_across_requests_and_reloads_and_move_off_unhealthy(env):
    ups = three_upstreams(env)
    svc = it.service(*ups, sticky={"cookie": {"name": "srv", "httpOnly": True, "sameSite": "lax",
                                              "maxAge": 60}},
                     healthCheck={"path": "/_health", "interval": "200ms", "timeout": "1s"})
    dyn = {"http": {"routers": {"r": {"rule": "Host(`sticky.test`)", "service": "s"}},
                    "services": {"s": svc}}}
    gw = env.gateway(dynamic=dyn, ready=("sticky.test", "/"))
    first = request(gw.port, "/", host="sticky.test")
    name = first.header("X-Upstream-Name")
    url = {u.name: u.url for u in ups}[name]
    assert first.header("Set-Cookie") == f"srv={sticky_value(url)}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
    cookie = ("Cookie", f"other=1; srv={sticky_value(url)}")
    for _ in range(15):
        r = request(gw.port, "/", host="sticky.test", headers=[cookie])
        assert r.header("X-Upstream-Name") == name
        assert r.header("Set-Cookie") is None
    # A reload (another router added) keeps the session.
    dyn["http"]["routers"]["other"] = {"rule": "Host(`other.test`)", "service": "s"}
    gw.write_dynamic(dyn)
    gw.wait_route("other.test", "/")
    assert names_of(gw, "sticky.test", 10, headers=[cookie]) == [name] * 10
    # The sticky server fails its health check: the client is moved and re-pinned.
    pinned = {u.name: u for u in ups}[name]
    log_at = gw.log_size()
    request(pinned.port, "/_set_health/500")
    gw.wait_log(r"is unhealthy", after=log_at, timeout=5)
    r = request(gw.port, "/", host="sticky.test", headers=[cookie])
    assert r.status == 200 and r.header("X-Upstream-Name") != name
    new_url = {u.name: u.url for u in ups}[r.header("X-Upstream-Name")]
    assert r.header("Set-Cookie").startswith(f"srv={sticky_value(new_url)};")


def test_sticky_on_weighted_with_default_cookie_name(env):
    a, b = env.upstream("a"), env.upstream("b")
    dyn = {"http": {"routers": {"r": {"rule": "Host(`wsticky.test`)", "service": "w"}},
                    "services": {"w": {"weighted": {"services": [{"name": "sa", "weight": 1},
                                                                 {"name": "sb", "weight": 1}],
                                                    "sticky": {"cookie": {}}}},
                                 "sa": it.service(a), "sb": it.service(b)}}}
    gw = env.gateway(dynamic=dyn, ready=("wsticky.test", "/"))
    r = request(gw.port, "/", host="wsticky.test")
    cookie_name = "_" + hashlib.sha1(b"_TRAEFIK_BACKEND_w@file").hexdigest()[:5]
    child = "sa@file" if r.header("X-Upstream-Name") == "a" else "sb@file"
    assert r.header("Set-Cookie") == f"{cookie_name}={sticky_value(child)}; Path=/"
    hdr = [("Cookie", f"{cookie_name}={sticky_value(child)}")]
    assert set(names_of(gw, "wsticky.test", 10, headers=hdr)) == {r.header("X-Upstream-Name")}
    # Without the cookie the weighted service alternates as usual.
    assert set(names_of(gw, "wsticky.test", 4)) == {"a", "b"}


# ---- mirroring ---------------------------------------------------------------------------------


def test_mirroring_sends_the_configured_share_with_bodies(env):
    main, m25, m100 = env.upstream("main"), env.upstream("m25"), env.upstream("m100", record=True)
    dyn = {"http": {"routers": {"r": {"rule": "Host(`mirror.test`)", "service": "mir"}},
                    "services": {"mir": {"mirroring": {"service": "main-svc",
                                                       "mirrors": [{"name": "m25-svc", "percent": 25},
                                                                   {"name": "m100-svc", "percent": 100}]}},
                                 "main-svc": it.service(main), "m25-svc": it.service(m25),
                                 "m100-svc": it.service(m100)}}}
    gw = env.gateway(dynamic=dyn, ready=("mirror.test", "/"))
    base = {u.name: u.stats()["app_requests"] for u in (main, m25, m100)}
    with Client(gw.port) as cl:
        for i in range(100):
            body = f"mirrored-body-{i:03d}".encode()
            r = cl.request("/", "POST", host="mirror.test", body=body)
            assert r.status == 200 and r.header("X-Upstream-Name") == "main"
            assert r.echo.body_sha256 == hashlib.sha256(body).hexdigest()
    # Two workers each count their own share: 25 % of each worker's requests, rounded down.
    wait_until(lambda: m100.stats()["app_requests"] - base["m100"] == 100, what="100 % mirror")
    got25 = m25.stats()["app_requests"] - base["m25"]
    assert 24 <= got25 <= 25, got25
    assert main.stats()["app_requests"] - base["main"] == 100
    recorded = m100.recorded()
    assert all(f"mirrored-body-{i:03d}".encode() in recorded for i in range(100))


def test_a_stalled_or_dead_mirror_never_slows_or_fails_the_main_request(env):
    main = env.upstream("main")
    # A listening socket that never accepts: connections open, requests are never answered.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(1024)
    dead = f"http://127.0.0.1:{free_port()}"
    dyn = {"http": {"routers": {"r": {"rule": "Host(`mslow.test`)", "service": "mir"}},
                    "services": {"mir": {"mirroring": {"service": "main-svc",
                                                       "mirrors": [{"name": "stalled", "percent": 100},
                                                                   {"name": "dead", "percent": 100}]}},
                                 "main-svc": it.service(main),
                                 "stalled": it.service(f"http://127.0.0.1:{stalled.getsockname()[1]}"),
                                 "dead": it.service(dead)}}}
    try:
        gw = env.gateway(dynamic=dyn, ready=("mslow.test", "/"))
        with Client(gw.port) as cl:
            for _ in range(30):
                started = time.monotonic()
                r = cl.request("/", "POST", host="mslow.test", body=b"x" * 1000)
                assert r.status == 200 and r.header("X-Upstream-Name") == "main"
                assert time.monotonic() - started < 1.0
    finally:
        stalled.close()


# ---- failover ----------------------------------------------------------------------------------


def test_failover_switches_on_health_and_back(env):
    a, b = env.upstream("a"), env.upstream("b")
    dyn = {"http": {"routers": {"r": {"rule": "Host(`fo.test`)", "service": "fo"}},
                    "services": {"fo": {"failover": {"service": "main", "fallback": "spare"}},
                                 "main": it.service(a, healthCheck={"path": "/_health",
                                                                    "interval": "200ms",
                                                                    "timeout": "1s"}),
                                 "spare": it.service(b)}}}
    gw = env.gateway(dynamic=dyn, ready=("fo.test", "/"))
    assert set(names_of(gw, "fo.test", 5)) == {"a"}
    request(a.port, "/_set_health/500")
    wait_until(lambda: request(gw.port, "/", host="fo.test").header("X-Upstream-Name") == "b",
               timeout=5, what="failover to the fallback")
    assert set(names_of(gw, "fo.test", 10)) == {"b"}
    request(a.port, "/_set_health/200")
    wait_until(lambda: request(gw.port, "/", host="fo.test").header("X-Upstream-Name") == "a",
               timeout=5, what="switch back to the main service")
    assert set(names_of(gw, "fo.test", 10)) == {"a"}


def test_failover_on_status_replays_the_body_to_the_fallback(env):
    a, b = env.upstream("a"), env.upstream("b")
    dead = f"http://127.0.0.1:{free_port()}"
    dyn = {"http": {"routers": {"r": {"rule": "Host(`fos.test`)", "service": "fo"},
                                "d": {"rule": "Host(`fod.test`)", "service": "fo-dead"}},
                    "services": {"fo": {"failover": {"service": "main", "fallback": "spare",
                                                     "errors": {"status": ["500-504"]}}},
                                 "fo-dead": {"failover": {"service": "dead", "fallback": "spare",
                                                          "errors": {"status": ["502"]}}},
                                 "main": it.service(a), "spare": it.service(b),
                                 "dead": it.service(dead, retry={"attempts": 0})}}}
    gw = env.gateway(dynamic=dyn, ready=("fos.test", "/"))
    request(a.port, "/_set_health/503")  # a answers 503 on /_health, b answers 200
    body = b"replayed " * 5000
    with Client(gw.port) as cl:
        r = cl.request("/_health", "POST", host="fos.test", body=body)
        assert r.status == 200 and r.header("X-Upstream-Name") == "b"
        assert r.echo.body_sha256 == hashlib.sha256(body).hexdigest()
        # A status not listed passes through from the main service.
        r = cl.request("/status/404", "GET", host="fos.test")
        assert r.status == 404 and r.header("X-Upstream-Name") == "a"
        # The gateway's own 502 (main unreachable) fails over too, body and all.
        r = cl.request("/", "POST", host="fod.test", body=iter([body[:10000], body[10000:]]))
        assert r.status == 200 and r.header("X-Upstream-Name") == "b"
        assert r.echo.body_sha256 == hashlib.sha256(body).hexdigest()


# ---- highestRandomWeight, strategies, health propagation --------------------------------------


def test_strategies_and_highest_random_weight_through_the_binary(env):
    ups = three_upstreams(env)
    services = {f"lb-{s}": it.service(*ups, strategy=s) for s in ("wrr", "p2c", "hrw", "leasttime")}
    services["hrw-svc"] = {"highestRandomWeight": {"services": [{"name": "one-a", "weight": 1},
                                                                 {"name": "one-b", "weight": 1}]}}
    services["one-a"] = it.service(ups[0])
    services["one-b"] = it.service(ups[1])
    routers = {name: {"rule": f"Host(`{name}.test`)", "service": name} for name in services}
    gw = env.gateway(dynamic={"http": {"routers": routers, "services": services}},
                     ready=("lb-wrr.test", "/"))
    seq = names_of(gw, "lb-wrr.test", 6)  # round robin (the readiness probe took one turn)
    assert sorted(seq[:3]) == ["a", "b", "c"] and seq[3:] == seq[:3]
    assert set(names_of(gw, "lb-p2c.test", 60)) == {"a", "b", "c"}
    assert len(set(names_of(gw, "lb-leasttime.test", 30))) >= 1
    # Rendezvous hashing on the client IP: one client address always lands on one server...
    for host in ("lb-hrw.test", "hrw-svc.test"):
        assert len(set(names_of(gw, host, 10))) == 1
    # ...and different client addresses spread (127.0.0.0/8 is all loopback).
    seen = {request(gw.port, "/", host="lb-hrw.test", source=f"127.0.0.{i}").header("X-Upstream-Name")
            for i in range(2, 40)}
    assert len(seen) == 3


def test_health_propagates_to_parents_that_declare_health_check(env):
    a, b = env.upstream("a"), env.upstream("b")
    hc = {"path": "/_health", "interval": "200ms", "timeout": "1s"}
    children = [{"name": "ca", "weight": 1}, {"name": "cb", "weight": 1}]
    dyn = {"http": {"routers": {"p": {"rule": "Host(`prop.test`)", "service": "parent"},
                                "n": {"rule": "Host(`noprop.test`)", "service": "plain"}},
                    "services": {"parent": {"weighted": {"services": children, "healthCheck": {}}},
                                 "plain": {"weighted": {"services": children}},
                                 "ca": it.service(a, healthCheck=hc), "cb": it.service(b, healthCheck=hc)}}}
    gw = env.gateway(dynamic=dyn, ready=("prop.test", "/"))
    log_at = gw.log_size()
    request(a.port, "/_set_health/500")
    gw.wait_log(r"is unhealthy", after=log_at, timeout=5)
    # The parent that asks skips the child with no healthy server...
    assert set(names_of(gw, "prop.test", 10)) == {"b"}
    # ...the one that does not still sends it half the requests, which answer 503.
    with Client(gw.port) as cl:
        statuses = sorted(cl.get("/", host="noprop.test").status for _ in range(10))
    assert statuses == [200] * 5 + [503] * 5


# ---- streaming ---------------------------------------------------------------------------------


def test_server_sent_events_are_flushed_at_once(env):
    a = env.upstream("a")
    gw = env.gateway(dynamic={"http": {"routers": {"r": {"rule": "Host(`sse.test`)", "service": "s"}},
                                       "services": {"s": it.service(a, responseForwarding={"flushInterval": "100ms"})}}},
                     ready=("sse.test", "/"))
    with RawConn(gw.port) as c:
        started = time.monotonic()
        c.send(b"GET /sse/3/800 HTTP/1.1\r\nHost: sse.test\r\n\r\n")
        head = c.read_until(b"\r\n\r\n", timeout=5)
        assert time.monotonic() - started < 0.6, "the head waited for the first event"
        assert b"text/event-stream" in head
        first = c.read_until(b"event 0\n\n", timeout=5)
        at_first = time.monotonic() - started
        assert 0.7 <= at_first < 1.5, at_first  # each event arrives when the upstream sends it
        c.read_until(b"event 1\n\n", timeout=5)
        assert time.monotonic() - started >= 1.5


# ---- gRPC health checks ------------------------------------------------------------------------


def test_grpc_health_check_follows_the_serving_status(env):
    import grpc
    import upstream_it as ut
    peer = ut.grpc_peer(env, "grpc")
    a = env.upstream("a")
    hc = {"mode": "grpc", "path": "/", "interval": "200ms", "timeout": "1s"}
    dyn = {"http": {"routers": {"r": {"rule": "Host(`ghc.test`)", "service": "fo"}},
                    "services": {"fo": {"failover": {"service": "grpc", "fallback": "plain"}},
                                 "grpc": it.service(peer.url("h2c"), healthCheck=hc),
                                 "plain": it.service(a)}}}
    gw = env.gateway(dynamic=dyn, ready=("ghc.test", "/"))
    # While the peer is SERVING, the gRPC service answers (a plain GET reaches the gRPC server,
    # which has no X-Upstream-Name).
    assert request(gw.port, "/", host="ghc.test").header("X-Upstream-Name") is None
    log_at = gw.log_size()
    with grpc.insecure_channel(f"127.0.0.1:{peer.port}") as ch:
        set_health = ch.unary_unary("/turnpike.test.Echo/SetHealth")
        assert set_health(b"2", timeout=5) == b"ok"
        gw.wait_log(r"is unhealthy: gRPC health status is not SERVING", after=log_at, timeout=5)
        assert request(gw.port, "/", host="ghc.test").header("X-Upstream-Name") == "a"
        log_at = gw.log_size()
        assert set_health(b"1", timeout=5) == b"ok"
        gw.wait_log(r"is healthy again", after=log_at, timeout=5)
    assert request(gw.port, "/", host="ghc.test").header("X-Upstream-Name") is None
