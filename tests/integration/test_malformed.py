"""Malformed and ambiguous HTTP/1 input (security.md section 2.4 rows 1-40, test plan T-P1),
the path table of section 3.3, and the head limits of T-P4.

Every request is sent as raw bytes on a fresh connection. The catch-all route leads to a
test_upstream in --record mode, so "zero bytes reach the upstream" is checked on the bytes it
actually received. For reject rows the gateway must answer the status shown with
`Connection: close`, close the connection within 1 s, and send nothing upstream. Normalise rows
must reach the upstream in canonical form.
"""

import time

import pytest

import turnpike_it as it
from turnpike_it import RawConn

HOST = b"Host: mal.test\r\n"


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST /mal " + version + b"\r\n" + HOST + headers + b"\r\n" + body


def get(headers: bytes = b"", target: bytes = b"/mal", version: bytes = b"HTTP/1.1",
        host: bytes = HOST) -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + host + headers + b"\r\n"


def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


# (row, id, raw request, accepted statuses)
REJECT = [
    (1, "cl-then-te", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), {400}),
    (1, "te-then-cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), {400}),
    (2, "two-cl-differ", post(b"Content-Length: 1\r\nContent-Length: 0\r\n", b"x"), {400}),
    (2, "cl-list-differ", post(b"Content-Length: 1, 0\r\n", b"x"), {400}),
    (4, "cl-empty", post(b"Content-Length:\r\n", b"hello"), {400}),
    (4, "cl-empty-space", post(b"Content-Length: \r\n", b"hello"), {400}),
    (5, "cl-plus", post(b"Content-Length: +5\r\n", b"hello"), {400}),
    (5, "cl-minus", post(b"Content-Length: -1\r\n", b"hello"), {400}),
    (5, "cl-hex", post(b"Content-Length: 0x10\r\n", b"hello"), {400}),
    (5, "cl-underscore", post(b"Content-Length: 1_0\r\n", b"hello"), {400}),
    (5, "cl-two-numbers", post(b"Content-Length: 5 5\r\n", b"hello"), {400}),
    (5, "cl-arabic-digit", post(b"Content-Length: \xd9\xa5\r\n", b"hello"), {400}),
    (6, "cl-overflow", post(b"Content-Length: 99999999999999999999\r\n", b"hello"), {400, 413}),
    (7, "te-chunked-not-last", post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), {400}),
    (8, "te-gzip-only", post(b"Transfer-Encoding: gzip\r\n", b"hello"), {501}),
    (9, "te-xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), {501}),
    (9, "te-chunked-false", post(b"Transfer-Encoding: chunked-false\r\n", b"0\r\n\r\n"), {501}),
    (10, "te-leading-comma", post(b"Transfer-Encoding: ,chunked\r\n", b"0\r\n\r\n"), {400}),
    (11, "te-two-fields", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                               b"0\r\n\r\n"), {400}),
    (13, "te-space-before-colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), {400}),
    (13, "cl-space-before-colon", post(b"Content-Length : 5\r\n", b"hello"), {400}),
    (14, "name-leading-vt", post(b"\x0bTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), {400}),
    (14, "name-trailing-nel", post(b"Transfer-Encoding\x85: chunked\r\n", b"0\r\n\r\n"), {400}),
    (15, "http10-te", post(b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"HTTP/1.0"), {400}),
    (16, "chunk-size-0x", chunked(b"0x2e\r\n" + b"a" * 46 + b"\r\n0\r\n\r\n"), {400}),
    (16, "chunk-size-underscore", chunked(b"0_2e\r\n" + b"a" * 46 + b"\r\n0\r\n\r\n"), {400}),
    (16, "chunk-size-plus", chunked(b"+1\r\na\r\n0\r\n\r\n"), {400}),
    (16, "chunk-size-letter", chunked(b"Z\r\na\r\n0\r\n\r\n"), {400}),
    (16, "chunk-size-empty", chunked(b"\r\na\r\n0\r\n\r\n"), {400}),
    (16, "chunk-size-17-digits", chunked(b"00000000000000001\r\na\r\n0\r\n\r\n"), {400}),
    (17, "chunk-ext-bare-cr", chunked(b"2\r\r;a\r\nab\r\n0\r\n\r\n"), {400}),
    (18, "chunk-ext-too-long", chunked(b"1;" + b"a" * 5000 + b"\r\nx\r\n0\r\n\r\n"), {400}),
    (19, "chunk-data-no-crlf", chunked(b"1\r\nZX0\r\n\r\n"), {400}),
    (19, "last-chunk-bare-lf", chunked(b"0\n\r\n"), {400}),
    (21, "bare-lf", b"GET /mal HTTP/1.1\nHost: mal.test\n\n", {400}),
    (21, "bare-lf-in-fields", b"GET /mal HTTP/1.1\r\nHost: mal.test\nX-A: b\r\n\r\n", {400}),
    (22, "bare-cr", get(b"Visible: :/\rSmuggled: :)\r\n"), {400}),
    (23, "obs-fold", get(b"X-A: a\r\n b\r\n"), {400}),
    (24, "ws-led-first-field", b"GET /mal HTTP/1.1\r\n\tContent-Length: 1\r\n" + HOST + b"\r\nx", {400}),
    (24, "sp-led-first-field", b"GET /mal HTTP/1.1\r\n X-A: 1\r\n" + HOST + b"\r\n", {400}),
    (25, "value-nul", get(b"X-A: a\x00b\r\n"), {400}),
    (25, "value-soh", get(b"X-A: a\x01b\r\n"), {400}),
    (25, "value-bs", get(b"X-A: a\x08b\r\n"), {400}),
    (25, "value-vt", get(b"X-A: a\x0bb\r\n"), {400}),
    (25, "value-us", get(b"X-A: a\x1fb\r\n"), {400}),
    (25, "value-del", get(b"X-A: a\x7fb\r\n"), {400}),
    (26, "empty-name", get(b": x\r\n"), {400}),
    (28, "no-host", b"GET /mal HTTP/1.1\r\n\r\n", {400}),
    (29, "two-hosts", get(b"Host: other.test\r\n"), {400}),
    (29, "host-space", get(host=b"Host: a b\r\n"), {400}),
    (29, "host-userinfo", get(host=b"Host: u@a\r\n"), {400}),
    (29, "host-bad-port", get(host=b"Host: a:99999\r\n"), {400}),
    (31, "target-ftp", get(target=b"ftp://a/"), {400}),
    (31, "target-userinfo", get(target=b"http://u:p@a/"), {400}),
    (31, "target-no-slash", get(target=b"foo"), {400}),
    (31, "target-bang", get(target=b"!"), {400}),
    (31, "target-star-get", get(target=b"*"), {400}),
    (32, "connect", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", {405}),
    (33, "target-fragment", get(target=b"/#frag"), {400}),
    (33, "target-backslash", get(target=b"/a\\b"), {400}),
    (33, "target-nul", get(target=b"/a\x00b"), {400}),
    (34, "request-line-16k", get(target=b"/" + b"a" * 16384), {414}),
    (35, "101-fields", get(b"".join(b"X-F%d: v\r\n" % i for i in range(100))), {431}),
    (35, "field-over-16k", get(b"X-Big: " + b"v" * (16 * 1024) + b"\r\n"), {431}),
    (35, "head-over-1mib", get(b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 16000) for i in range(70))), {431}),
    (36, "version-1.32", get(version=b"HTTP/1.32"), {400}),
    (36, "version-9.9", get(version=b"HTTP/9.9"), {505}),
    (36, "version-2.0", get(version=b"HTTP/2.0"), {505}),
    (36, "version-1.1x", get(version=b"HTTP/1.1x"), {400}),
    (36, "version-lowercase", get(version=b"http/1.1"), {400}),
    (37, "double-sp", b"GET  /mal HTTP/1.1\r\n" + HOST + b"\r\n", {400}),
    (37, "tab-separator", b"GET\t/mal HTTP/1.1\r\n" + HOST + b"\r\n", {400}),
    (37, "lf-in-request-line", b"GET /mal\nHTTP/1.1\r\n" + HOST + b"\r\n", {400}),
    (38, "method-not-token", b'G=":<>(e) /mal HTTP/1.1\r\n' + HOST + b"\r\n", {400}),
]


@pytest.fixture(scope="module")
def gw(module_env):
    rec = module_env.upstream("rec", record=True)
    a = module_env.upstream("a")
    b = module_env.upstream("b")
    dynamic = {"http": {
        "routers": {
            "all": {"rule": "PathPrefix(`/`)", "service": "rec"},
            "abs-a": {"rule": "Host(`a.example`)", "service": "a"},
            "abs-b": {"rule": "Host(`b.example`)", "service": "b"},
            "public": {"rule": "Host(`route.test`) && PathPrefix(`/public`)", "service": "b"},
            "admin": {"rule": "Host(`route.test`) && PathPrefix(`/admin`)", "service": "a"},
        },
        "services": {"rec": it.service(rec), "a": it.service(a), "b": it.service(b)},
    }}
    g = module_env.gateway(
        entrypoints={
            "web": {},
            "strict": {"http": {"maxHeaderBytes": 65536, "underscoreHeadersStrategy": "reject"}},
            "del": {"http": {"underscoreHeadersStrategy": "delete"}},
        },
        dynamic=dynamic, ready=("mal.test", "/"))
    g.rec = rec
    return g


def send_reject(gw, raw: bytes, port=None):
    """Send raw bytes; return (response, closed_within_1s, bytes that reached the upstream)."""
    before = gw.rec.recorded_size()
    with RawConn(port or gw.port, timeout=3) as c:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway may stop reading once a limit is exceeded; read its answer
        r = c.read_response()
        closed = c.closed_within(1.0)
    time.sleep(0.05)  # anything forwarded would have arrived by now
    leaked = gw.rec.recorded()[before:]
    return r, closed, leaked


@pytest.fixture(scope="module")
def reject_results(gw):
    """Each reject row is sent once; the two tests below read the outcome."""
    cache = {}

    def get(key, raw):
        if key not in cache:
            cache[key] = send_reject(gw, raw)
        return cache[key]
    return get


REJECT_PARAMS = [pytest.param(row, name, raw, st, id=f"row{row}-{name}")
                 for row, name, raw, st in REJECT]


@pytest.mark.parametrize("row,name,raw,statuses", REJECT_PARAMS)
def test_reject_row_answer_and_close(reject_results, row, name, raw, statuses):
    r, closed, _ = reject_results(name, raw)
    assert r.status in statuses, f"row {row}: got {r.status} {r.reason}, want {statuses}"
    assert "close" in (r.header("Connection") or "").lower(), f"row {row}: headers {r.headers}"
    assert closed, f"row {row}: connection still open 1 s after the {r.status}"


@pytest.mark.parametrize("row,name,raw,statuses", REJECT_PARAMS)
def test_reject_row_sends_nothing_upstream(reject_results, row, name, raw, statuses):
    _, _, leaked = reject_results(name, raw)
    assert leaked == b"", f"row {row}: {len(leaked)} bytes reached the upstream: {leaked[:200]!r}"


# ---- normalise rows: accepted, forwarded in canonical form ----------------------------------

def exchange(gw, raw: bytes, port=None):
    """Send one request; return (response, bytes the recording upstream received for it)."""
    before = gw.rec.recorded_size()
    with RawConn(port or gw.port, timeout=5) as c:
        c.send(raw)
        r = c.read_response()
    time.sleep(0.02)
    return r, gw.rec.recorded()[before:]


@pytest.mark.parametrize("cl", [b"Content-Length: 5, 5\r\n", b"Content-Length: 5\r\nContent-Length: 5\r\n"],
                         ids=["list", "two-fields"])
def test_row3_identical_content_lengths_become_one(gw, cl):
    r, rec = exchange(gw, post(cl, b"hello"))
    assert r.status == 200
    e = r.echo
    assert e.body_length == 5 and e.body_sha256 == it.sha256(b"hello")
    assert e.header_all("Content-Length") == ["5"]
    assert rec.lower().count(b"content-length") == 1


def test_row12_transfer_encoding_case_is_normalised(gw):
    r, rec = exchange(gw, post(b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"))
    assert r.status == 200
    e = r.echo
    assert e.body_length == 5 and e.body_sha256 == it.sha256(b"hello")
    for v in e.header_all("Transfer-Encoding"):
        assert v == "chunked"
    assert b"CHUNKED" not in rec


def test_row20_trailer_fields_are_not_merged(gw):
    raw = post(b"Transfer-Encoding: chunked\r\n",
               b"5\r\nhello\r\n0\r\nContent-Length: 999\r\nHost: evil.test\r\n"
               b"Transfer-Encoding: gzip\r\n\r\n")
    r, rec = exchange(gw, raw)
    assert r.status == 200
    e = r.echo
    assert e.body_length == 5
    assert e.header_all("Host") == ["mal.test"]
    assert "999" not in repr(e.headers)
    for bad in (b"999", b"evil.test", b"gzip"):
        assert bad not in rec, (bad, rec)


def test_row27_underscore_variant_of_gateway_header_is_dropped(gw):
    r, rec = exchange(gw, get(b"X_Forwarded_For: 1.2.3.4\r\nX_Real_Ip: 1.2.3.4\r\n"))
    assert r.status == 200
    assert b"1.2.3.4" not in rec
    assert not r.echo.has("X_Forwarded_For") and not r.echo.has("X_Real_Ip")
    assert r.echo.header_all("X-Real-Ip") == ["127.0.0.1"]


def test_row27_underscore_strategy_reject(gw):
    r, closed, leaked = send_reject(gw, get(b"X_Custom: 1\r\n"), port=gw.ports["strict"])
    assert r.status == 400
    assert leaked == b""


def test_row27_underscore_strategy_delete(gw):
    r, rec = exchange(gw, get(b"X_Custom: 1\r\nX-Kept: 2\r\n"), port=gw.ports["del"])
    assert r.status == 200
    assert not r.echo.has("X_Custom")
    assert r.echo.header_all("X-Kept") == ["2"]


def test_row30_absolute_form_routes_on_the_target_authority(gw):
    with RawConn(gw.port) as c:
        c.send(b"GET http://a.example/x?q=1 HTTP/1.1\r\nHost: b.example\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    e = r.echo
    assert e.name == "a"
    assert e.path == "/x?q=1"
    assert e.header_all("Host") == ["a.example"]


def test_row38_unknown_token_method_is_forwarded(gw):
    r, rec = exchange(gw, b"PURGE /mal HTTP/1.1\r\n" + HOST + b"\r\n")
    assert r.status == 200
    assert r.echo.method == "PURGE"


def test_row39_h2c_upgrade_is_stripped(gw):
    r, rec = exchange(gw, get(b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                              b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"))
    assert r.status == 200
    assert not r.echo.has("Upgrade") and not r.echo.has("HTTP2-Settings")
    assert b"h2c" not in rec.lower() and b"http2-settings" not in rec.lower()


def test_row40_connection_cannot_nominate_gateway_headers(gw):
    r, rec = exchange(gw, get(b"Connection: close, X-Forwarded-Host\r\n"))
    assert r.status == 200
    assert r.echo.header_all("X-Forwarded-Host") == ["mal.test"]
    assert r.echo.header_all("X-Real-Ip") == ["127.0.0.1"]


# ---- path table (security.md section 3.3) ----------------------------------------------------

PATH_FORWARD = [
    ("/a/./b/../c", "/a/c"),
    ("/a/%2e%2e/admin", "/admin"),
    ("/a/%2E%2E/admin", "/admin"),
    ("/a;jsessionid=x/../admin", "/admin"),
    ("/%7euser", "/~user"),
    ("/a//b///c", "/a/b/c"),
    ("/a%41b", "/aAb"),
    ("/a%3ab", "/a%3Ab"),
    ("/a/./b?x=%2F&y=../z", "/a/b?x=%2F&y=../z"),
    ("/a;b", "/a;b"),
]

PATH_REJECT = [
    "/../etc",
    "/a/../../etc",
    "/admin%2Fsecret",
    "/admin%2fsecret",
    "/a%5c..%5cadmin",
    "/a%00.js",
    "/a%3B",
    "/a%252e%252e/",
    "/a%2x",
    "/a%",
    "/a%3Fb",
    "/a%23b",
]


@pytest.mark.parametrize("raw_path,upstream_path", PATH_FORWARD)
def test_path_is_normalised_before_forwarding(gw, raw_path, upstream_path):
    r, _ = exchange(gw, get(target=raw_path.encode()))
    assert r.status == 200
    assert r.echo.path == upstream_path


@pytest.mark.parametrize("raw_path", PATH_REJECT)
def test_suspicious_path_is_rejected(gw, raw_path):
    before = gw.rec.recorded_size()
    with RawConn(gw.port, timeout=3) as c:
        c.send(get(target=raw_path.encode()))
        r = c.read_response()
    time.sleep(0.05)
    assert r.status == 400
    assert gw.rec.recorded_size() == before, "a rejected path reached the upstream"


@pytest.mark.parametrize("raw_path", ["/public/../admin", "/public/%2e%2e/admin",
                                      "/public/./../admin/"])
def test_dot_segments_cannot_cross_routers(gw, raw_path):
    with RawConn(gw.port) as c:
        c.send(b"GET " + raw_path.encode() + b" HTTP/1.1\r\nHost: route.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.echo.name == "a"  # the /admin router, never the /public one
    assert r.echo.path.startswith("/admin")


def test_absolute_form_path_is_normalised(gw):
    with RawConn(gw.port) as c:
        c.send(b"GET http://route.test/public/../admin/x HTTP/1.1\r\nHost: route.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.echo.name == "a"
    assert r.echo.path == "/admin/x"


# ---- limits (T-P4) ---------------------------------------------------------------------------

def test_8000_byte_request_line_is_accepted(gw):
    target = b"/" + b"a" * (8000 - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == 8000
    r, _ = exchange(gw, line + b"\r\n" + HOST + b"\r\n")
    assert r.status == 200
    assert r.echo.path == target.decode()


def test_request_line_of_16k_plus_one_is_414(gw):
    target = b"/" + b"a" * (16 * 1024 + 1 - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == 16 * 1024 + 1
    r, closed, leaked = send_reject(gw, line + b"\r\n" + HOST + b"\r\n")
    assert r.status == 414
    assert leaked == b""


def test_100_fields_accepted_101_rejected(gw):
    hundred = b"".join(b"X-F%d: v\r\n" % i for i in range(99))  # + Host = 100 fields
    r, _ = exchange(gw, get(hundred))
    assert r.status == 200
    assert len(r.echo.headers) >= 100
    r, closed, leaked = send_reject(gw, get(hundred + b"X-F99: v\r\n"))
    assert r.status == 431
    assert leaked == b""


def test_max_header_bytes_setting(gw):
    port = gw.ports["strict"]
    # Head of exactly 65536 bytes passes; one more byte is 431.
    def head_of(size):
        start, end, fields, i = b"GET /mal HTTP/1.1\r\n" + HOST, b"\r\n", b"", 0
        while True:
            name = b"X-P%d: " % i
            room = size - len(start) - len(fields) - len(end) - len(name) - 2
            fields += name + b"p" * min(room, 9000) + b"\r\n"
            if room <= 9000:
                return start + fields + end
            i += 1
    ok = head_of(65536)
    assert len(ok) == 65536
    r, _ = exchange(gw, ok, port=port)
    assert r.status == 200
    big = head_of(65537)
    assert len(big) == 65537
    r, closed, leaked = send_reject(gw, big, port=port)
    assert r.status == 431
    assert leaked == b""
