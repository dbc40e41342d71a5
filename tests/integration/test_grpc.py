"""gRPC proxied end to end to h2c:// and https:// (ALPN h2) upstreams: a real gRPC server
(peers/grpc_peer.py, python3-grpcio with generic handlers over raw bytes) behind the gateway.

Two kinds of clients:
- HTTP/1.1 clients speaking gRPC's framing by hand (length-prefixed messages, `te: trailers`),
  reading grpc-status from the chunked response's trailer section. This runs today and covers
  unary, server streaming, client streaming, a bidirectional ping-pong where each reply must
  arrive before the next message is sent, metadata both ways and an error status.
- A real grpcio client over HTTP/2 with prior knowledge to the gateway. The gateway's HTTP/2
  server answers it with h2c.
"""

import pytest

import turnpike_it as it
import upstream_it as ut

SERVICE = "/turnpike.test.Echo/"


@pytest.fixture(scope="module")
def gw(module_env, pki):
    env = module_env
    plain = ut.grpc_peer(env, "grpc")
    tls = ut.grpc_peer(env, "grpcs", "--tls", pki.path("server.pem"), pki.path("server.key"))
    dynamic = {"http": {
        "routers": {
            "grpc": {"rule": "Host(`grpc.test`)", "service": "grpc"},
            "grpcs": {"rule": "Host(`grpcs.test`)", "service": "grpcs"},
            # gRPC clients over TLS (ALPN h2) to the gateway, h2c to the server.
            "grpc-tls": {"rule": "Host(`upstream.test`)", "service": "grpc", "tls": {}},
        },
        "services": {
            "grpc": {"loadBalancer": {"servers": [{"url": plain.url("h2c")}]}},
            "grpcs": {"loadBalancer": {"servers": [{"url": tls.url("https")}],
                                       "serversTransport": "grpcs"}},
        },
        "serversTransports": {"grpcs": {"rootCAs": [pki.path("ca.pem")]}},
    }, "tls": {"certificates": [{"certFile": pki.path("server.pem"),
                                 "keyFile": pki.path("server.key")}]}}
    return env.gateway(dynamic=dynamic, static_extra={"core": {"workers": 1}},
                       ready=("grpc.test", "/"))


def grpc_head(method: str, host: str, extra: str = "", chunked: bool = False,
              length: int = 0) -> bytes:
    framing = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    return (f"POST {SERVICE}{method} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/grpc\r\nTE: trailers\r\n{extra}{framing}\r\n").encode()


def call(gw, method: str, body: bytes, host: str = "grpc.test", extra: str = ""):
    """One gRPC call over HTTP/1.1: (head, messages, status fields from trailers or head)."""
    with it.RawConn(gw.port, timeout=10) as c:
        c.send(grpc_head(method, host, extra, length=len(body)) + body)
        head = ut.read_head(c)
        assert head.status == 200, head
        body, trailers = ut.read_chunked_with_trailers(c)
    # A gRPC server's Trailers-Only error answer reaches the client as a head and trailers.
    assert head.header("grpc-status") is None
    return head, ut.grpc_messages(body), dict(trailers)


@pytest.mark.parametrize("host", ["grpc.test", "grpcs.test"])
def test_unary_with_metadata_both_ways(gw, host):
    head, messages, trailers = call(gw, "Unary", ut.grpc_frame(b"hi"), host,
                                    extra="X-Test-Color: blue\r\n")
    assert head.header("Content-Type") == "application/grpc"
    assert head.header("X-Peer-Protocol") == "grpc"  # initial metadata
    assert messages == [b"echo:hi"]
    assert trailers["grpc-status"] == "0"
    assert trailers["x-test-color"] == "blue"  # request metadata echoed as trailing metadata
    assert trailers["x-peer-trailer"] == "present"


def test_server_streaming(gw):
    _, messages, trailers = call(gw, "ServerStream", ut.grpc_frame(b"5"))
    assert messages == [b"part-%d" % i for i in range(5)]
    assert trailers["grpc-status"] == "0"


def test_client_streaming(gw):
    with it.RawConn(gw.port, timeout=10) as c:
        c.send(grpc_head("ClientStream", "grpc.test", chunked=True))
        for part in (b"a", b"bb", b"ccc"):
            c.send(ut.chunk(ut.grpc_frame(part)))
        c.send(b"0\r\n\r\n")
        assert ut.read_head(c).status == 200
        body, trailers = ut.read_chunked_with_trailers(c)
    assert ut.grpc_messages(body) == [b"a|bb|ccc"]
    assert dict(trailers)["grpc-status"] == "0"


def test_bidirectional_ping_pong(gw):
    # Each reply must come back while the request body is still open: both directions stream at
    # once through the gateway.
    with it.RawConn(gw.port, timeout=10) as c:
        c.send(grpc_head("Bidi", "grpc.test", chunked=True))
        c.send(ut.chunk(ut.grpc_frame(b"1")))
        assert ut.read_head(c).status == 200
        for i in (1, 2, 3):
            if i > 1:
                c.send(ut.chunk(ut.grpc_frame(b"%d" % i)))
            size = int(c.read_until(b"\r\n").strip(), 16)
            data = c.read_exact(size)
            c.read_exact(2)
            assert ut.grpc_messages(data) == [b"pong:%d" % i]
        c.send(b"0\r\n\r\n")
        rest, trailers = ut.read_chunked_with_trailers(c)
    assert rest == b""
    assert dict(trailers)["grpc-status"] == "0"


@pytest.mark.parametrize("host", ["grpc.test", "grpcs.test"])
def test_error_status(gw, host):
    _, messages, status = call(gw, "Fail", ut.grpc_frame(b"x"), host)
    assert messages == []
    assert status["grpc-status"] == "5"  # NOT_FOUND
    assert status["grpc-message"] == "no such thing: x"


def test_unknown_method_unimplemented(gw):
    _, _, status = call(gw, "Nope", ut.grpc_frame(b"x"))
    assert status["grpc-status"] == "12"  # UNIMPLEMENTED


# ---- a real gRPC client over HTTP/2 (needs the gateway's HTTP/2 server) ----------------------


@pytest.fixture
def channel(gw):
    import grpc
    ch = grpc.insecure_channel(f"127.0.0.1:{gw.port}",
                               options=[("grpc.default_authority", "grpc.test")])
    yield ch
    ch.close()


def test_grpc_client_unary(channel):
    rpc = channel.unary_unary(SERVICE + "Unary")
    reply, call_ = rpc.with_call(b"hello", metadata=[("x-test-k", "v")], timeout=10)
    assert reply == b"echo:hello"
    assert ("x-test-k", "v") in call_.trailing_metadata()
    assert ("x-peer-protocol", "grpc") in call_.initial_metadata()


def test_grpc_client_server_streaming(channel):
    rpc = channel.unary_stream(SERVICE + "ServerStream")
    assert list(rpc(b"4", timeout=10)) == [b"part-0", b"part-1", b"part-2", b"part-3"]


def test_grpc_client_client_streaming(channel):
    rpc = channel.stream_unary(SERVICE + "ClientStream")
    assert rpc(iter([b"x", b"y", b"z"]), timeout=10) == b"x|y|z"


def test_grpc_client_bidi(channel):
    rpc = channel.stream_stream(SERVICE + "Bidi")
    assert list(rpc(iter([b"1", b"2"]), timeout=10)) == [b"pong:1", b"pong:2"]


def test_grpc_client_error_status(channel):
    import grpc
    rpc = channel.unary_unary(SERVICE + "Fail")
    with pytest.raises(grpc.RpcError) as err:
        rpc(b"thing", timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing: thing"


@pytest.fixture
def tls_channel(gw, pki):
    import grpc
    with open(pki.path("ca.pem"), "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    ch = grpc.secure_channel(f"127.0.0.1:{gw.port}", creds,
                             options=[("grpc.ssl_target_name_override", "upstream.test")])
    yield ch
    ch.close()


def test_grpc_client_over_tls(tls_channel):
    import grpc
    rpc = tls_channel.unary_unary(SERVICE + "Unary")
    reply, call_ = rpc.with_call(b"secure", metadata=[("x-test-k", "tls")], timeout=10)
    assert reply == b"echo:secure"
    assert ("x-test-k", "tls") in call_.trailing_metadata()
    bidi = tls_channel.stream_stream(SERVICE + "Bidi")
    assert list(bidi(iter([b"a", b"b", b"c"]), timeout=10)) == [b"pong:a", b"pong:b", b"pong:c"]
    with pytest.raises(grpc.RpcError) as err:
        tls_channel.unary_unary(SERVICE + "Fail")(b"x", timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
