"""Graceful shutdown (test plan T-O4): SIGTERM with 50 requests in flight. Every one completes
with 200, new connections are refused, and the process exits within graceTimeOut + 1 s."""

import signal
import socket
import time

import pytest

import turnpike_it as it
from turnpike_it import RawConn

IN_FLIGHT = 50
DELAY_MS = 1500
GRACE_S = 5


@pytest.fixture(scope="module")
def drained(module_env):
    """Runs the scenario once: 50 requests in flight, SIGTERM, then collects what happened."""
    a = module_env.upstream("a")
    gw = module_env.gateway(
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

    # a new connection after SIGTERM: refused (or closed unanswered) once listeners are closed
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n")
            late = "closed unanswered" if s.recv(100) == b"" else "answered"
    except (ConnectionRefusedError, ConnectionResetError):
        late = "refused"

    responses = []
    for c in conns:
        try:
            responses.append(c.read_response())
        except (EOFError, OSError) as e:
            responses.append(e)
        c.close()
    rc = gw.proc.wait(timeout=GRACE_S + 5)
    return {"responses": responses, "late": late, "exit_after": time.monotonic() - t_term,
            "rc": rc}


def test_all_in_flight_requests_complete_with_200(drained):
    statuses = [r.status if isinstance(r, it.Resp) else repr(r) for r in drained["responses"]]
    assert statuses == [200] * IN_FLIGHT, statuses


def test_new_connections_are_refused_after_sigterm(drained):
    assert drained["late"] == "refused", drained["late"]


def test_exit_within_grace_plus_one_second(drained):
    assert drained["exit_after"] <= GRACE_S + 1, f"exited {drained['exit_after']:.2f}s after SIGTERM"
    assert drained["rc"] == 0


def test_drained_responses_carry_connection_close(drained):
    ok = [r for r in drained["responses"] if isinstance(r, it.Resp) and r.status == 200]
    assert ok, "no response completed"
    without = [r for r in ok if "close" not in (r.header("Connection") or "").lower()]
    assert not without, f"{len(without)} of {len(ok)} responses without Connection: close"


@pytest.mark.parametrize("how", ["grace-expiry", "second-sigterm"])
def test_grace_expiry_or_second_sigterm_forces_exit(env, how):
    """A request longer than the grace period does not keep the process alive (T-O4)."""
    grace = "1s" if how == "grace-expiry" else "20s"
    a = env.upstream("a")
    gw = env.gateway(
        entrypoints={"web": {"transport": {"lifeCycle": {"graceTimeOut": grace}}}},
        dynamic={"http": {"routers": {"all": {"rule": "PathPrefix(`/`)", "service": "a"}},
                          "services": {"a": it.service(a)}}},
        ready=("drain.test", "/"))
    c = RawConn(gw.port, timeout=10)
    c.send(b"GET /delay/8000 HTTP/1.1\r\nHost: drain.test\r\n\r\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    gw.signal(signal.SIGTERM)
    if how == "second-sigterm":
        time.sleep(0.5)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
    try:
        gw.proc.wait(timeout=5)
    finally:
        c.close()
    took = time.monotonic() - t0
    limit = 2.0 if how == "grace-expiry" else 1.0
    assert took <= limit, f"{how}: exited {took:.2f}s after the signal (limit {limit}s)"
