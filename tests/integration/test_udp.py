"""UDP entrypoints through the binary: datagrams to an echo backend, one session (one upstream
socket) per client address, udp.timeout ending idle sessions, weighted load balancing per
session, and what happens without a router."""

import socket
import time

import pytest

from l4_peers import UdpBackend

TIMEOUT = "1s"


def client(source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(3)
    return s


def ask(sock, port, payload):
    sock.sendto(payload, ("127.0.0.1", port))
    data, peer = sock.recvfrom(65536)
    assert peer == ("127.0.0.1", port)  # the answer comes from the entrypoint's address
    return data


@pytest.fixture(scope="module")
def gw(module_env):
    a, b = module_env.group.add(UdpBackend("a")), module_env.group.add(UdpBackend("b"))
    g = module_env.gateway(
        entrypoints={"dns": {"_udp": True, "udp": {"timeout": TIMEOUT}},
                     "weighted": {"_udp": True},
                     "orphan": {"_udp": True},
                     "web": {}},
        dynamic={"udp": {
            "routers": {"dns": {"entryPoints": ["dns"], "service": "a"},
                        "w": {"entryPoints": ["weighted"], "service": "ab"}},
            "services": {"a": {"loadBalancer": {"servers": [{"address": a.address}]}},
                         "ab": {"loadBalancer": {"servers": [{"address": a.address, "weight": 3},
                                                             {"address": b.address}]}}},
        }},
        static_extra={"core": {"workers": 1}}, log_level="DEBUG")
    g.wait_log(r"configuration \d+ applied")
    g.a, g.b = a, b
    return g


def test_two_clients_each_get_their_own_session(gw):
    port = gw.udp_ports["dns"]
    c1, c2 = client("127.0.0.1"), client("127.0.0.2")
    before = len(gw.a.received)
    assert ask(c1, port, b"one") == b"a:one"
    assert ask(c2, port, b"two") == b"a:two"
    assert ask(c1, port, b"three") == b"a:three"
    assert ask(c2, port, b"x" * 60000) == b"a:" + b"x" * 60000  # large datagram, not truncated
    sources = [peer for peer, _ in gw.a.received[before:]]
    # one upstream socket per client session: c1's datagrams share a source port, c2's another
    assert sources[0] == sources[2]
    assert sources[1] == sources[3]
    assert sources[0] != sources[1]
    c1.close()
    c2.close()


def test_idle_session_times_out(gw):
    port = gw.udp_ports["dns"]
    c = client()
    mark = gw.log_size()
    assert ask(c, port, b"first") == b"a:first"
    first_source = gw.a.received[-1][0]
    assert ask(c, port, b"second") == b"a:second"
    assert gw.a.received[-1][0] == first_source
    me = c.getsockname()[1]
    # udp.timeout (1s) without a datagram ends the session...
    t0 = time.monotonic()
    gw.wait_log(r"dns: UDP session 127\.0\.0\.1 closed", timeout=5, after=mark)
    assert time.monotonic() - t0 < 3
    # ...and the next datagram opens a new one, on a new upstream socket.
    assert ask(c, port, b"third") == b"a:third"
    assert gw.a.received[-1][0] != first_source
    assert me == c.getsockname()[1]
    c.close()


def test_sessions_are_balanced_by_weight(gw):
    port = gw.udp_ports["weighted"]
    answers = []
    clients = [client() for _ in range(8)]
    for c in clients:
        answers.append(ask(c, port, b"hi").split(b":")[0])
    # 3:1 smooth weighted round robin over 8 new sessions (one worker)
    assert answers.count(b"a") == 6 and answers.count(b"b") == 2
    # a session sticks to its backend
    for c, first in zip(clients, answers):
        assert ask(c, port, b"again").split(b":")[0] == first
        c.close()


def test_no_router_drops_datagrams(gw):
    c = client()
    c.settimeout(0.5)
    c.sendto(b"anyone?", ("127.0.0.1", gw.udp_ports["orphan"]))
    with pytest.raises(socket.timeout):
        c.recvfrom(100)
    c.close()
