"""TCP routers through the binary: TLS passthrough by SNI to real `openssl s_server` backends,
plain TCP with HostSNI(`*`) (half-close, server-first protocols), a TCP router and an HTTP router
on the same entrypoint, ClientIP and ipAllowList, inFlightConn, weighted TCP services, the PROXY
protocol towards backends, broken routers disabling themselves, graceful shutdown."""

import signal
import socket
import time

import pytest

import turnpike_it as it
from l4_peers import (PostgresTlsBackend, SServer, TcpBackend, closed_without_data, make_pki,
                      tcp_exchange, tls_peer)


def tcp_gateway(env, dynamic, tcp_routes, entrypoints=None, **kw):
    """A gateway whose configuration is applied with `tcp_routes` TCP routes."""
    gw = env.gateway(entrypoints=entrypoints or {"tcp": {}}, dynamic=dynamic, log_level="DEBUG",
                     **kw)
    gw.wait_log(rf"configuration \d+ applied: \d+ route\(s\), {tcp_routes} TCP route\(s\)")
    return gw


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    certs = make_pki(d, {"backend-a": ["a.test"], "backend-b": ["b.test", "*.wild.test"],
                         "backend-pg": ["pg.test"]})
    certs["ca"] = d / "ca.pem"
    return certs


@pytest.fixture(scope="module")
def sservers(module_env, pki):
    a = module_env.group.add(SServer(module_env.workdir, *pki["backend-a"]))
    b = module_env.group.add(SServer(module_env.workdir, *pki["backend-b"]))
    return a, b


def lb(*backends, **extra):
    return {"loadBalancer": {"servers": [{"address": b.address} for b in backends], **extra}}


def test_tls_passthrough_selects_backend_by_sni(env, pki, sservers):
    a, b = sservers
    gw = tcp_gateway(env, {"tcp": {
        "routers": {
            "a": {"rule": "HostSNI(`a.test`)", "service": "a", "tls": {"passthrough": True}},
            "b": {"rule": "HostSNI(`b.test`) || HostSNI(`*.wild.test`)", "service": "b",
                  "tls": {"passthrough": True}},
        },
        "services": {"a": lb(a), "b": lb(b)},
    }}, tcp_routes=2)
    port = gw.ports["tcp"]
    # The client sees each backend's own certificate: the gateway never terminated TLS.
    cn, answer = tls_peer(port, "a.test", pki["ca"])
    assert (cn, answer[:12]) == ("backend-a", b"HTTP/1.0 200")
    assert tls_peer(port, "b.test", pki["ca"])[0] == "backend-b"
    assert tls_peer(port, "B.Test", pki["ca"])[0] == "backend-b"  # SNI is case-insensitive
    assert tls_peer(port, "x.wild.test", pki["ca"])[0] == "backend-b"
    assert tls_peer(port, "a.test", pki["ca"], alpn=["h2", "http/1.1"])[0] == "backend-a"
    # No TCP router for this SNI, no HTTP router: the connection ends without a backend.
    with pytest.raises((ssl_error(), OSError)):
        tls_peer(port, "c.test", pki["ca"])
    with pytest.raises((ssl_error(), OSError)):
        tls_peer(port, "deep.x.wild.test", pki["ca"])


def ssl_error():
    import ssl
    return ssl.SSLError


def test_plain_tcp_catch_all_echo_with_half_close(env):
    echo = env.group.add(TcpBackend("echo"))
    gw = tcp_gateway(env, {"tcp": {"routers": {"all": {"rule": "HostSNI(`*`)", "service": "e"}},
                                   "services": {"e": lb(echo)}}}, tcp_routes=1)
    payload = bytes(range(256)) * 4096  # 1 MiB
    # The client shuts its sending side first: it still gets every byte back, then EOF.
    assert tcp_exchange(gw.ports["tcp"], payload) == payload
    assert echo.connections[0]["peer"][0] == "127.0.0.1"


def test_server_first_protocol(env):
    """Only non-TLS routers on the entrypoint: routed at accept, before the client sends."""
    smtp = env.group.add(TcpBackend("smtp", greeting=b"220 smtp.test ESMTP\r\n"))
    gw = tcp_gateway(env, {"tcp": {"routers": {"smtp": {"rule": "HostSNI(`*`)", "service": "s"}},
                                   "services": {"s": lb(smtp)}}}, tcp_routes=1)
    with socket.create_connection(("127.0.0.1", gw.ports["tcp"]), timeout=5) as s:
        assert s.recv(100) == b"220 smtp.test ESMTP\r\n"
        s.sendall(b"QUIT\r\n")
        assert s.recv(100) == b"QUIT\r\n"


def test_tcp_router_and_http_router_on_one_entrypoint(env, pki, sservers):
    a, _ = sservers
    up = env.upstream("web")
    gw = tcp_gateway(env, {
        "tcp": {"routers": {"a": {"rule": "HostSNI(`a.test`)", "service": "a",
                                  "tls": {"passthrough": True}}},
                "services": {"a": lb(a)}},
        "http": {"routers": {"web": {"rule": "Host(`web.test`)", "service": "web"}},
                 "services": {"web": it.service(up)}},
    }, tcp_routes=1)
    port = gw.ports["tcp"]
    assert tls_peer(port, "a.test", pki["ca"])[0] == "backend-a"
    r = it.request(port, "/hello", host="web.test")
    assert r.status == 200
    assert r.echo.name == "web"
    with it.Client(port) as c:  # keep-alive HTTP is untouched by the peek
        assert [c.get("/", host="web.test").status for _ in range(3)] == [200, 200, 200]
    assert it.request(port, "/", host="other.test").status == 404


def test_client_ip_and_ip_allow_list(env):
    lan, other, guarded = (env.group.add(TcpBackend(n, greeting=n.encode() + b"\n"))
                           for n in ("lan", "other", "guarded"))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {
            "lan": {"rule": "HostSNI(`*`) && ClientIP(`127.0.0.2`)", "service": "lan",
                    "entryPoints": ["tcp"]},
            "other": {"rule": "HostSNI(`*`)", "service": "other", "entryPoints": ["tcp"]},
            "guarded": {"entryPoints": ["guarded"], "rule": "HostSNI(`*`)", "service": "g",
                        "middlewares": ["only-local"]},
        },
        "services": {"lan": lb(lan), "other": lb(other), "g": lb(guarded)},
        "middlewares": {"only-local": {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}}},
    }}, tcp_routes=3, entrypoints={"tcp": {}, "guarded": {}})

    def greeting(port, source):
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=(source, 0)) as s:
            return s.recv(100)

    assert greeting(gw.ports["tcp"], "127.0.0.2") == b"lan\n"
    assert greeting(gw.ports["tcp"], "127.0.0.1") == b"other\n"
    assert greeting(gw.ports["guarded"], "127.0.0.1") == b"guarded\n"
    before = len(guarded.connections)
    with socket.create_connection(("127.0.0.1", gw.ports["guarded"]), timeout=5,
                                  source_address=("127.0.0.3", 0)) as s:
        assert closed_without_data(s)
    assert len(guarded.connections) == before  # the refused client never reached the backend


def test_in_flight_conn(env):
    echo = env.group.add(TcpBackend("echo"))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {"all": {"rule": "HostSNI(`*`)", "service": "e", "middlewares": ["two"]}},
        "services": {"e": lb(echo)},
        "middlewares": {"two": {"inFlightConn": {"amount": 2}}},
    }}, tcp_routes=1, static_extra={"core": {"workers": 2}})
    port = gw.ports["tcp"]
    held = []
    for i in range(2):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"ping%d" % i)
        assert s.recv(10) == b"ping%d" % i
        held.append(s)
    # The count is per client IP across workers: a third connection from 127.0.0.1 is refused
    # whichever worker accepts it, a connection from another address is not.
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert closed_without_data(s)
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=("127.0.0.2", 0)) as s:
        s.sendall(b"other")
        assert s.recv(10) == b"other"
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:  # the gateway notices the close, then a slot is free again
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"again")
            try:
                if s.recv(10) == b"again":
                    break
            except ConnectionResetError:
                pass
        assert time.monotonic() < deadline, "the released slot never became free"
        time.sleep(0.05)
    for s in held:
        s.close()


def test_weighted_tcp_services(env):
    a, b, c = (env.group.add(TcpBackend(n, greeting=n.encode())) for n in ("a", "b", "c"))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {"w": {"rule": "HostSNI(`*`)", "service": "split", "entryPoints": ["tcp"]},
                    "lb": {"rule": "HostSNI(`*`)", "service": "ab", "entryPoints": ["lb"]}},
        "services": {
            "split": {"weighted": {"services": [{"name": "only-a", "weight": 3},
                                               {"name": "only-c", "weight": 1}]}},
            "only-a": lb(a), "only-c": lb(c),
            "ab": {"loadBalancer": {"servers": [{"address": a.address, "weight": 1},
                                                {"address": b.address, "weight": 2}]}},
        },
    }}, tcp_routes=2, entrypoints={"tcp": {}, "lb": {}}, static_extra={"core": {"workers": 1}})

    def names(port, n):
        out = {}
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                name = s.recv(10).decode()
            out[name] = out.get(name, 0) + 1
        return out

    assert names(gw.ports["tcp"], 8) == {"a": 6, "c": 2}
    assert names(gw.ports["lb"], 9) == {"a": 3, "b": 6}


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_protocol_to_backend(env, version):
    rec = env.group.add(TcpBackend("rec"))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {"all": {"rule": "HostSNI(`*`)", "service": "r"}},
        "services": {"r": lb(rec, serversTransport="pp")},
        "serversTransports": {"pp": {"proxyProtocol": {"version": version}}},
    }}, tcp_routes=1)
    port = gw.ports["tcp"]
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=("127.0.0.2", 0)) as s:
        client_port = s.getsockname()[1]
        s.sendall(b"payload")
        got = b""
        while not got.endswith(b"payload"):  # header and payload may be echoed separately
            chunk = s.recv(100)
            assert chunk, got
            got += chunk
    if version == 1:
        header = f"PROXY TCP4 127.0.0.2 127.0.0.1 {client_port} {port}\r\n".encode()
    else:
        header = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("127.0.0.2") +
                  socket.inet_aton("127.0.0.1") + client_port.to_bytes(2, "big") +
                  port.to_bytes(2, "big"))
    # (The backend's other connection is the test harness's readiness probe from 127.0.0.1.)
    deadline = time.monotonic() + 5
    while not any(c["data"].startswith(header[:12]) and c["data"].endswith(b"payload")
                  for c in rec.connections if c["peer"] and c["done"]):
        assert time.monotonic() < deadline, [bytes(c["data"]) for c in rec.connections]
        time.sleep(0.01)
    assert header + b"payload" in [bytes(c["data"]) for c in rec.connections]
    # The backend echoed header and payload; the client sees both.
    assert got == header + b"payload"


def test_broken_routers_disable_themselves(env):
    echo = env.group.add(TcpBackend("echo", greeting=b"ok"))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {
            "good": {"rule": "HostSNI(`*`)", "service": "e"},
            "sni-without-tls": {"rule": "HostSNI(`a.test`)", "service": "e"},
            "bad-rule": {"rule": "HostSNI(`a.test`", "service": "e", "tls": {"passthrough": True}},
            "no-service": {"rule": "HostSNI(`*`)", "service": "missing"},
            "acme": {"rule": "ALPN(`acme-tls/1`)", "service": "e", "tls": {"passthrough": True}},
            "bad-mw": {"rule": "HostSNI(`*`)", "service": "e", "middlewares": ["zero"]},
        },
        "services": {"e": lb(echo)},
        "middlewares": {"zero": {"inFlightConn": {"amount": 0}}},
    }}, tcp_routes=1)
    log = gw.log()
    assert "tcp router sni-without-tls@file: rule \"HostSNI(`a.test`)\": HostSNI needs TLS" in log
    assert "tcp router bad-rule@file: rule" in log
    assert 'tcp router no-service@file: service "missing@file": the service "missing@file" does not exist' in log
    assert '"acme-tls/1" is not allowed' in log
    assert "tcp.middlewares.zero@file.inFlightConn.amount: must be > 0" in log
    with socket.create_connection(("127.0.0.1", gw.ports["tcp"]), timeout=5) as s:
        assert s.recv(2) == b"ok"


def test_graceful_shutdown_keeps_tcp_connections(env):
    echo = env.group.add(TcpBackend("echo"))
    gw = tcp_gateway(env, {"tcp": {"routers": {"all": {"rule": "HostSNI(`*`)", "service": "e"}},
                                   "services": {"e": lb(echo)}}}, tcp_routes=1,
                     entrypoints={"tcp": {"transport": {"lifeCycle": {"graceTimeOut": "10s"}}}})
    s = socket.create_connection(("127.0.0.1", gw.ports["tcp"]), timeout=5)
    s.sendall(b"before")
    assert s.recv(10) == b"before"
    gw.signal(signal.SIGTERM)
    gw.wait_log("shutting down")
    # The established connection keeps working while the gateway drains...
    s.sendall(b"during")
    assert s.recv(10) == b"during"
    assert gw.proc.poll() is None
    # ...and the gateway exits as soon as it is closed, well before graceTimeOut.
    t0 = time.monotonic()
    s.close()
    gw.proc.wait(timeout=5)
    assert time.monotonic() - t0 < 3


def test_postgres_starttls_passthrough(env, pki):
    """`psql`-style STARTTLS (here `openssl s_client -starttls postgres`): the gateway answers the
    SSLRequest, routes the ClientHello by SNI, and replays the SSLRequest to the backend."""
    import subprocess
    pg = env.group.add(PostgresTlsBackend("pg", *pki["backend-pg"]))
    gw = tcp_gateway(env, {"tcp": {
        "routers": {"pg": {"rule": "HostSNI(`pg.test`)", "service": "pg",
                           "tls": {"passthrough": True}}},
        "services": {"pg": lb(pg)},
    }}, tcp_routes=1)
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "postgres", "-connect",
         f"127.0.0.1:{gw.ports['tcp']}", "-servername", "pg.test", "-CAfile", str(pki["ca"]),
         "-verify_return_error", "-ign_eof"],
        input=b"select 1\n\\q\n", capture_output=True, timeout=10)
    text = out.stdout.decode(errors="replace")
    assert "CN = backend-pg" in text, text + out.stderr.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in text
    assert "pg:select 1" in text
    assert pg.starttls == [True]


def test_reload_keeps_established_connections(env):
    a = env.group.add(TcpBackend("a", greeting=b"a"))
    b = env.group.add(TcpBackend("b", greeting=b"b"))
    route = lambda svc: {"tcp": {"routers": {"all": {"rule": "HostSNI(`*`)", "service": svc}},  # noqa: E731
                                 "services": {"a": lb(a), "b": lb(b)}}}
    gw = tcp_gateway(env, route("a"), tcp_routes=1)
    port = gw.ports["tcp"]
    old = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert old.recv(1) == b"a"
    mark = gw.log_size()
    gw.write_dynamic(route("b"))
    gw.wait_log(r"configuration \d+ applied: \d+ route\(s\), 1 TCP route", after=mark)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as new:
        assert new.recv(1) == b"b"
    # The connection routed before the change still talks to its back end.
    old.sendall(b"still here")
    assert old.recv(100) == b"still here"
    old.close()


def test_validate_reports_tcp_and_udp_errors(env, tmp_path):
    import subprocess
    gw = env.gateway(start=False, entrypoints={"tcp": {}, "dns": {"_udp": True}}, dynamic={
        "tcp": {"routers": {"r": {"rule": "HostSNI(`a.test`)", "service": "s"}},
                "services": {"s": {"loadBalancer": {"servers": [{"address": "127.0.0.1:1"}]}}}},
        "udp": {"routers": {"u": {"service": "missing"}}},
    })
    out = subprocess.run([str(gw.binary), "--validate", f"--configFile={gw.static_path}"],
                         capture_output=True, timeout=10)
    err = out.stderr.decode()
    assert out.returncode == 1
    assert "tcp router r@file: rule \"HostSNI(`a.test`)\": HostSNI needs TLS" in err
    assert 'udp router u@file: service "missing@file": the service "missing@file" does not exist' in err


def test_shutdown_closes_connections_still_waiting_for_a_client_hello(env, pki, sservers):
    a, _ = sservers
    gw = tcp_gateway(env, {"tcp": {
        "routers": {"a": {"rule": "HostSNI(`a.test`)", "service": "a",
                          "tls": {"passthrough": True}}},
        "services": {"a": lb(a)},
    }}, tcp_routes=1, entrypoints={"tcp": {"transport": {"lifeCycle": {"graceTimeOut": "10s"}}}})
    silent = socket.create_connection(("127.0.0.1", gw.ports["tcp"]), timeout=5)
    # The gateway is serving (the silent connection is waiting in the TCP stage for its hello;
    # had it not been accepted yet, closing the listener would reset it, which passes too).
    assert it.request(gw.ports["tcp"], "/", host="x.test").status == 404
    t0 = time.monotonic()
    gw.signal(signal.SIGTERM)
    gw.proc.wait(timeout=5)
    assert time.monotonic() - t0 < 3  # not graceTimeOut: nothing was in flight
    assert closed_without_data(silent)
    silent.close()
