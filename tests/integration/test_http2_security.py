"""HTTP/2 attacks and malformed requests through the binary (security.md section 2.4 rows
41-48, section 5; test plan T-P1 for the H2 rows and T-D4..T-D7), with raw frames from
python3-h2's hpack and hyperframe.

Every malformed request gets RST_STREAM PROTOCOL_ERROR (or its local status) and zero bytes
reach the recording upstream; the connection itself stays usable. Every flood ends the abusive
connection with GOAWAY ENHANCE_YOUR_CALM and a close, while a normal client on other connections
keeps being served throughout."""

from __future__ import annotations

import time

import pytest
from hyperframe.frame import (ContinuationFrame, HeadersFrame, PriorityFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

import turnpike_it as it
from h2_it import (ENHANCE_YOUR_CALM, PROTOCOL_ERROR, Background, H2Client, RawH2,
                   decode_headers)

import hpack

MAX_STREAMS = 100


@pytest.fixture(scope="module")
def gw(module_env):
    a = module_env.upstream("a")
    rec = module_env.upstream("rec", record=True)
    slow = module_env.upstream("slow")
    gw = module_env.gateway(
        entrypoints={"web": {"http2": {"maxConcurrentStreams": MAX_STREAMS},
                             "http": {"maxHeaderBytes": 16384}}},
        dynamic={"http": {
            "routers": {
                "main": {"rule": "Host(`h2.test`)", "service": "a"},
                "rec": {"rule": "Host(`rec.test`)", "service": "rec"},
                "slow": {"rule": "Host(`slow.test`)", "service": "slow"},
            },
            "services": {"a": it.service(a), "rec": it.service(rec), "slow": it.service(slow)},
        }},
        ready=("h2.test", "/"))
    gw.rec, gw.slow = rec, slow
    return gw


def calm_and_closed(c: RawH2, timeout: float = 10.0):
    g = c.goaway(timeout=timeout)
    assert g is not None, "no GOAWAY"
    assert g.error_code == ENHANCE_YOUR_CALM, g.error_code
    assert c.wait_closed(timeout=timeout), "connection not closed after GOAWAY"
    return g


def assert_served(bg: Background):
    assert bg.ok > 0, "the normal client was never served"
    assert bg.failures == [], bg.failures[:5]


# ---------------------------------------------------------------------------------------------
# Malformed requests (rows 41-48)

def fields(path="/m", authority="rec.test", extra=(), method="GET"):
    return [(":method", method), (":scheme", "http"), (":authority", authority),
            (":path", path)] + list(extra)


MALFORMED = {
    "41 uppercase name": fields(extra=[("X-Upper", "a")]),
    "41 CRLF in value": fields(extra=[("test1", "a\r\nx: y")]),
    "41 LF in value": fields(extra=[("test1", "a\nb")]),
    "41 NUL in value": fields(extra=[("test1", "a\x00b")]),
    "41 CR in name": fields(extra=[("te\rst", "a")]),
    "42 leading whitespace": fields(extra=[("test1", " a")]),
    "42 trailing whitespace": fields(extra=[("test1", "a\t")]),
    "43 transfer-encoding": fields(extra=[("transfer-encoding", "chunked")]),
    "43 connection": fields(extra=[("connection", "keep-alive")]),
    "43 keep-alive": fields(extra=[("keep-alive", "timeout=5")]),
    "43 upgrade": fields(extra=[("upgrade", "websocket")]),
    "43 proxy-connection": fields(extra=[("proxy-connection", "x")]),
    "43 te gzip": fields(extra=[("te", "gzip")]),
    "45 pseudo after regular": [(":method", "GET"), (":scheme", "http"), ("x", "y"),
                                (":authority", "rec.test"), (":path", "/m")],
    "45 duplicate :path": fields(extra=[(":path", "/other")]),
    "45 unknown pseudo": fields(extra=[(":foo", "bar")]),
    "45 :status in request": fields(extra=[(":status", "200")]),
    "45 missing :scheme": [(":method", "GET"), (":authority", "rec.test"), (":path", "/m")],
    "45 missing :path": [(":method", "GET"), (":scheme", "http"), (":authority", "rec.test")],
    "45 missing :method": [(":scheme", "http"), (":authority", "rec.test"), (":path", "/m")],
    "45 empty :path": fields(path=""),
    "45 :path not origin-form": fields(path="m"),
    "45 asterisk :path with GET": fields(path="*"),
    "46 host differs from :authority": fields(extra=[("host", "h2.test")]),
    "47 CONNECT with :path": [(":method", "CONNECT"), (":authority", "rec.test:443"),
                              (":path", "/")],
    "47 :protocol without ENABLE_CONNECT_PROTOCOL": [
        (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
        (":authority", "rec.test"), (":path", "/chat")],
    "48 empty field name": fields(extra=[("", "x")]),
}


def valid_request_still_served(c: RawH2, sid: int):
    """The connection survives a stream error: a valid request on it gets 200."""
    c.send(c.headers(sid, fields(path="/after", authority="h2.test")))
    f = c.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == sid)
    assert f is not None, "valid request after the malformed one was not answered"
    assert dict(decode_headers(f, c.decoder))[":status"] == "200"


@pytest.fixture
def raw(gw):
    c = RawH2(gw.port)
    c.decoder = hpack.Decoder()
    yield c
    c.close()


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_request_is_reset_and_never_forwarded(gw, raw, name):
    before = gw.rec.recorded_size()
    raw.send(raw.headers(1, MALFORMED[name]))
    rst = raw.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 1)
    assert rst is not None, f"{name}: no RST_STREAM"
    assert rst.error_code == PROTOCOL_ERROR, rst.error_code
    assert not [f for f in raw.stream_frames(1) if isinstance(f, HeadersFrame)]
    valid_request_still_served(raw, 3)
    assert gw.rec.recorded_size() == before, "bytes reached the upstream"


@pytest.mark.parametrize("declared,sent", [(0, b"abc"), (5, b"abc"), (2, b"abc")])
def test_content_length_mismatch_is_reset(gw, raw, declared, sent):
    """Row 44: DATA that does not match content-length."""
    before = gw.rec.recorded_size()
    raw.send(raw.headers(1, fields(method="POST", extra=[("content-length", str(declared))]),
                         end_stream=False) + raw.data(1, sent, end_stream=True))
    rst = raw.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 1)
    assert rst is not None and rst.error_code == PROTOCOL_ERROR
    valid_request_still_served(raw, 3)
    assert gw.rec.recorded_size() == before, "bytes reached the upstream"


@pytest.mark.parametrize("name,extra,path,status", [
    ("CONNECT is not proxied", None, None, 405),
    ("encoded slash", [], "/admin%2Fsecret", 400),
    ("dot segments above the root", [], "/../etc/passwd", 400),
    ("unsupported expectation", [("expect", "nonsense")], "/m", 417),
])
def test_rejected_request_gets_its_status(gw, raw, name, extra, path, status):
    before = gw.rec.recorded_size()
    if extra is None:
        block = [(":method", "CONNECT"), (":authority", "rec.test:443")]
    else:
        block = fields(path=path, extra=extra)
    raw.send(raw.headers(1, block))
    f = raw.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    assert f is not None
    assert dict(decode_headers(f, raw.decoder))[":status"] == str(status)
    assert gw.rec.recorded_size() == before


def test_header_list_over_max_header_bytes_is_431(gw, raw):
    before = gw.rec.recorded_size()
    raw.send(raw.headers(1, fields(extra=[(f"x-big-{i}", "v" * 1000) for i in range(20)])))
    f = raw.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    assert f is not None
    assert dict(decode_headers(f, raw.decoder))[":status"] == "431"
    valid_request_still_served(raw, 3)
    assert gw.rec.recorded_size() == before


def test_request_trailers_do_not_smuggle_fields(gw):
    """Row 20 for HTTP/2: a trailer section never changes the request's routing or framing. A
    `host` trailer is dropped; a `content-length` trailer that contradicts the body makes the
    message malformed."""
    with RawH2(gw.port) as c:
        c.decoder = hpack.Decoder()
        post = fields(path="/t", authority="h2.test", method="POST")
        c.send(c.headers(1, post, end_stream=False) + c.data(1, b"hello")
               + c.headers(1, [("host", "evil.test"), ("x-t", "1")]))
        f = c.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        assert f is not None
        assert dict(decode_headers(f, c.decoder))[":status"] == "200"
        body = c.wait_for(lambda f: f.stream_id == 1 and "END_STREAM" in f.flags)
        assert body is not None
        echo = it.Echo(__import__("json").loads(b"".join(
            bytes(x.data) for x in c.stream_frames(1) if x.__class__.__name__ == "DataFrame")))
        assert echo.header("Host") == "h2.test"
        assert echo.body_length == 5
        c.send(c.headers(3, post, end_stream=False) + c.data(3, b"hello")
               + c.headers(3, [("content-length", "0")]))
        rst = c.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 3)
        assert rst is not None and rst.error_code == PROTOCOL_ERROR


def test_trailers_without_end_stream_are_reset(gw, raw):
    """Row 45 (RFC 9113 8.1): a header block after the request's that does not end the stream
    is malformed; nothing reaches the upstream and the connection goes on."""
    before = gw.rec.recorded_size()
    raw.send(raw.headers(1, fields(method="POST"), end_stream=False) + raw.data(1, b"hello")
             + raw.headers(1, [("x-t", "1")], end_stream=False))
    rst = raw.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 1)
    assert rst is not None and rst.error_code == PROTOCOL_ERROR
    valid_request_still_served(raw, 3)
    assert gw.rec.recorded_size() == before, "bytes reached the upstream"


@pytest.mark.parametrize("request_cl,trailer_cl,served", [
    (None, "5", True),   # a length given in the trailers that matches the body
    (None, "4", False),  # ... that does not
    ("5", "5", False),   # a second content-length, even an equal one
])
def test_content_length_in_trailers(gw, raw, request_cl, trailer_cl, served):
    """Row 44: a content-length trailer is dropped, but it still has to describe the body."""
    extra = [("content-length", request_cl)] if request_cl else []
    raw.send(raw.headers(1, fields(path="/t", authority="h2.test", method="POST", extra=extra),
                         end_stream=False) + raw.data(1, b"hello")
             + raw.headers(1, [("content-length", trailer_cl)]))
    if served:
        f = raw.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        assert f is not None
        assert dict(decode_headers(f, raw.decoder))[":status"] == "200"
    else:
        rst = raw.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 1)
        assert rst is not None and rst.error_code == PROTOCOL_ERROR
        valid_request_still_served(raw, 3)


# ---------------------------------------------------------------------------------------------
# Floods (T-D4 .. T-D7)

def test_rapid_reset(gw):
    """T-D4: HEADERS + RST_STREAM as fast as possible: GOAWAY ENHANCE_YOUR_CALM well before 1000
    streams; the upstream never sees more than maxConcurrentStreams of the attacker's requests."""
    base = gw.slow.stats()["requests"]
    with Background(gw.port) as bg, RawH2(gw.port) as c:
        batch = b""
        sid = 1
        for i in range(20000):
            batch += c.headers(sid, fields(path=f"/delay/3000?i={i}", authority="slow.test"))
            batch += c.rst(sid)
            sid += 2
            if len(batch) > 8192:
                if not c.send(batch):
                    break
                batch = b""
        g = calm_and_closed(c)
        assert g.last_stream_id < 2000, g.last_stream_id  # fewer than 1000 streams processed
    assert_served(bg)
    reached = gw.slow.stats()["requests"] - base - 1
    assert reached <= MAX_STREAMS, reached


def test_continuation_flood(gw):
    """T-D5: one HEADERS without END_HEADERS, then endless CONTINUATION frames."""
    with Background(gw.port) as bg, RawH2(gw.port) as c:
        h = HeadersFrame(1)
        h.data = c.block(fields(authority="h2.test"))
        h.flags.add("END_STREAM")
        c.send(h.serialize())
        sent = 0
        for _ in range(100_000):
            cf = ContinuationFrame(1)
            cf.data = c.block([("x-pad", "a" * 1000)])
            if not c.send(cf.serialize()):
                break
            sent += 1
        calm_and_closed(c)
    assert_served(bg)


def test_hpack_bomb(gw):
    """T-D6: a 4 KiB field stored in the HPACK dynamic table, then 10,000 one-byte references to
    it in one header block (40 MB decoded from 10 KB)."""
    with Background(gw.port) as bg, RawH2(gw.port) as c:
        h = HeadersFrame(1)
        h.data = c.block(fields(authority="h2.test") + [("x-big", "a" * 4000)])
        h.flags.add("END_STREAM")
        h.flags.add("END_HEADERS")
        pseudo = c.encoder.encode([(k, v, True) for k, v in fields(authority="h2.test")])
        bomb = pseudo + bytes([0x80 | 62]) * 10_000  # index 62: the newest dynamic entry
        h3 = HeadersFrame(3)
        h3.data = bomb[:16000]
        h3.flags.add("END_STREAM")
        cont = ContinuationFrame(3)
        cont.data = bomb[16000:]
        cont.flags.add("END_HEADERS")
        c.send(h.serialize() + h3.serialize() + cont.serialize())
        calm_and_closed(c)
    assert_served(bg)


def control_frames():
    w = WindowUpdateFrame(0)
    w.window_increment = 1
    return {
        "PING": RawH2.ping(),
        "SETTINGS": SettingsFrame(0).serialize(),
        "PRIORITY": PriorityFrame(1).serialize(),
        "WINDOW_UPDATE": w.serialize(),
        "empty DATA": RawH2.data(1, b""),
    }


@pytest.mark.parametrize("kind", list(control_frames()))
def test_control_frame_flood(gw, kind):
    """T-D7: 100,000 control frames (or empty DATA frames on an open stream) while never
    reading: GOAWAY ENHANCE_YOUR_CALM and a close."""
    frame = control_frames()[kind]
    with Background(gw.port) as bg, RawH2(gw.port) as c:
        if kind == "empty DATA":
            c.send(c.headers(1, fields(path="/delay/5000", authority="h2.test", method="POST",
                                       extra=[("content-length", "10")]), end_stream=False))
        for _ in range(100):
            if not c.send(frame * 1000):
                break
        calm_and_closed(c)
    assert_served(bg)


def test_streams_beyond_the_limit_are_refused(gw):
    """maxConcurrentStreams is announced and enforced: stream MAX_STREAMS+1 is refused
    (REFUSED_STREAM) while the others are open and get answered. A client that has acknowledged
    the limit and still exceeds it is ended (GOAWAY PROTOCOL_ERROR, nghttp2's rule)."""
    with H2Client(gw.port) as c:
        assert c.request("/", authority="h2.test").status == 200
        assert c.conn.remote_settings.max_concurrent_streams == MAX_STREAMS
    many = lambda c: b"".join(  # noqa: E731
        c.headers(1 + 2 * i, fields(path="/delay/1000", authority="h2.test"))
        for i in range(MAX_STREAMS + 1))
    with RawH2(gw.port) as c:
        c.send(many(c))  # before acknowledging our SETTINGS
        last = 1 + 2 * MAX_STREAMS
        rst = c.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == last)
        assert rst is not None and rst.error_code == 0x7  # REFUSED_STREAM
        answered = set()
        deadline = time.monotonic() + 10
        while len(answered) < MAX_STREAMS and time.monotonic() < deadline:
            c.read(timeout=deadline - time.monotonic())
            answered = {f.stream_id for f in c.frames if isinstance(f, HeadersFrame)}
        assert len(answered) == MAX_STREAMS
    with RawH2(gw.port) as c:
        c.send(c.settings_ack() + many(c))
        g = c.goaway()
        assert g is not None and g.error_code == PROTOCOL_ERROR
        assert c.wait_closed()


def test_hpack_amplification_across_streams(env):
    """Each request within the limits (95 one-byte references to a 4 KiB field: 380 KiB
    decoded from ~100 bytes), but many of them held open: the header data the connection holds
    is capped (4 MiB by default), then GOAWAY ENHANCE_YOUR_CALM."""
    a = env.upstream("a")
    gw = env.gateway(dynamic={"http": {"routers": {"main": {"rule": "Host(`h2.test`)", "service": "a"}},
                                       "services": {"a": it.service(a)}}},
                     ready=("h2.test", "/"))
    with Background(gw.port) as bg, RawH2(gw.port) as c:
        first = HeadersFrame(1)
        first.data = c.block(fields(path="/delay/100", authority="h2.test") + [("x-big", "a" * 4000)])
        first.flags.add("END_HEADERS")  # no END_STREAM: the request stays open
        c.send(first.serialize())
        pseudo = lambda: c.encoder.encode(  # noqa: E731 - never indexed, so index 62 stays x-big
            [(k, v, True) for k, v in fields(path="/delay/100", authority="h2.test")])
        batch = b""
        for i in range(1, 40):
            h = HeadersFrame(1 + 2 * i)
            h.data = pseudo() + bytes([0x80 | 62]) * 95  # 99 fields: under the limit of 100
            h.flags.add("END_HEADERS")
            batch += h.serialize()
        c.send(batch)
        g = calm_and_closed(c)
        assert g.last_stream_id < 1 + 2 * 39
    assert_served(bg)
