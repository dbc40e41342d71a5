"""Graceful shutdown (test plan T-O4): SIGTERM with 50 requests in flight. Every one completes
with 200, new connections are refused, and the process exits within graceTimeOut + 1 s."""

import signal
import socket
import time

import turnpike_it as it
from turnpike_it import RawConn

IN_FLIGHT = 50
DELAY_MS = 1500
GRACE_S = 5


def test_sigterm_drains_in_flight_requests(env):
    a = env.upstream("a")
    gw = env.gateway(
        entrypoints={"web": {"transport": {"lifeCycle": {"graceTimeOut": f"{GRACE_S}s"}}}},
        dynamic={"http": {"routers": {"all": {"rule": "PathPrefix(`/`)", "service": "a"}},
                          "services": {"a": it.service(a)}}},
        ready=("drain.test", "/"))
    base = a.stats()["requests"]
    conns = []
    for i in range(IN_FLIGHT):
        c = RawConn(gw.port, timeout=GRACE_S + 5)
        c.send(f"GET /delay/{DELAY_MS}?i={i} HTTP/1.1\r\nHost: drain.test\r\n\r\n".encode())
        conns.append(c)
    # wait until every request has reached the upstream (each _stats call counts as one)
    deadline = time.monotonic() + 5
    calls = 0
    while True:
        calls += 1
        if a.stats()["requests"] - base - calls >= IN_FLIGHT:
            break
        assert time.monotonic() < deadline, "requests did not reach the upstream"
        time.sleep(0.02)

    t_term = time.monotonic()
    gw.signal(signal.SIGTERM)
    time.sleep(0.3)

    # new connections are refused once the listeners are closed
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n")
            refused = s.recv(100) == b""
    except (ConnectionRefusedError, ConnectionResetError):
        refused = True

    statuses, closes = [], []
    for c in conns:
        try:
            r = c.read_response()
            statuses.append(r.status)
            closes.append("close" in (r.header("Connection") or "").lower())
        except (EOFError, OSError) as e:
            statuses.append(repr(e))
        c.close()

    rc = gw.proc.wait(timeout=GRACE_S + 5)
    exit_after = time.monotonic() - t_term

    assert statuses == [200] * IN_FLIGHT, statuses
    assert refused, "a new connection was accepted and served after SIGTERM"
    assert exit_after <= GRACE_S + 1, f"exited {exit_after:.2f}s after SIGTERM"
    assert rc == 0
    # H1 responses finished during the drain carry Connection: close (T-O4)
    assert all(closes), f"{closes.count(False)} responses without Connection: close"


def test_second_sigterm_or_grace_expiry_forces_exit(env):
    a = env.upstream("a")
    gw = env.gateway(
        entrypoints={"web": {"transport": {"lifeCycle": {"graceTimeOut": "1s"}}}},
        dynamic={"http": {"routers": {"all": {"rule": "PathPrefix(`/`)", "service": "a"}},
                          "services": {"a": it.service(a)}}},
        ready=("drain.test", "/"))
    c = RawConn(gw.port, timeout=10)
    c.send(b"GET /delay/8000 HTTP/1.1\r\nHost: drain.test\r\n\r\n")
    time.sleep(0.3)
    t_term = time.monotonic()
    gw.signal(signal.SIGTERM)
    gw.proc.wait(timeout=5)
    took = time.monotonic() - t_term
    c.close()
    assert took <= 1 + 1, f"grace 1s but exited after {took:.2f}s"
